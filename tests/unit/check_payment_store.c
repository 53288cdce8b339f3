/* Unit tests of the payment store (services/payment/payment_store.c) on a
 * fresh temp database per test: one live payment per order (the partial
 * unique index), conditional transitions, COMPLETED and its outbox row in
 * one transaction, deliveries, listing and the settler's query. */
#include <check.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "../../services/payment/payment_store.h"

Suite *payment_store_suite(void);

static char tmpdir[64];
static char dbpath[128];
static db *d;

static void setup(void)
{
    snprintf(tmpdir, sizeof tmpdir, "/tmp/payment-store-XXXXXX");
    ck_assert_ptr_nonnull(mkdtemp(tmpdir));
    snprintf(dbpath, sizeof dbpath, "%s/payment.db", tmpdir);
    ck_assert_int_eq(db_open(dbpath, payment_store_migrations, payment_store_n_migrations, &d), 0);
}

static void teardown(void)
{
    char path[160];
    db_close(d);
    d = NULL;
    const char *suffixes[] = {"", "-wal", "-shm"};
    for (size_t i = 0; i < 3; i++) {
        snprintf(path, sizeof path, "%s%s", dbpath, suffixes[i]);
        unlink(path);
    }
    rmdir(tmpdir);
}

static int64_t new_pending(int64_t order_id, int64_t user_id)
{
    int64_t id = 0;
    ck_assert_int_eq(payment_store_insert_pending(d, order_id, user_id, 1000, &id), SHOP_OK);
    ck_assert_int_gt(id, 0);
    return id;
}

static payment_row get(int64_t id)
{
    payment_row p;
    ck_assert_int_eq(payment_store_get(d, id, &p), SHOP_OK);
    return p;
}

START_TEST(test_insert_and_get)
{
    int64_t id = new_pending(12, 3);
    payment_row p = get(id);
    ck_assert_int_eq(p.id, id);
    ck_assert_int_eq(p.order_id, 12);
    ck_assert_int_eq(p.user_id, 3);
    ck_assert_int_eq(p.amount, 0);
    ck_assert(!p.amount_known); /* until the saga has read the order */
    ck_assert_int_eq(p.status, PAYMENT_PENDING);
    ck_assert_int_eq(p.created_at, 1000);
    ck_assert(!p.has_delivery);
    ck_assert_int_eq(payment_store_get(d, id + 1, &p), SHOP_ENOTFOUND);
}
END_TEST

START_TEST(test_one_live_payment_per_order)
{
    int64_t first = new_pending(7, 1);
    int64_t other = 0;
    /* A second PENDING one for the same order is refused... */
    ck_assert_int_eq(payment_store_insert_pending(d, 7, 1, 1000, &other), SHOP_ECONFLICT);
    ck_assert_int_eq(payment_store_insert_pending(d, 7, 2, 1000, &other), SHOP_ECONFLICT);
    /* ...but another order is fine. */
    new_pending(8, 1);
    /* After FAILED, the order may be paid again. */
    ck_assert_int_eq(payment_store_transition(d, first, PAYMENT_PENDING, PAYMENT_FAILED, 1001),
                     SHOP_OK);
    int64_t second = new_pending(7, 1);
    ck_assert_int_gt(second, first);
    /* Once COMPLETED, a third one is refused again. */
    ck_assert_int_eq(payment_store_complete(d, second, 7, "{}", 1002, 1002000), SHOP_OK);
    ck_assert_int_eq(payment_store_insert_pending(d, 7, 1, 1003, &other), SHOP_ECONFLICT);
    /* REFUNDED frees the order too. */
    int64_t third = new_pending(9, 1);
    ck_assert_int_eq(payment_store_transition(d, third, PAYMENT_PENDING, PAYMENT_REFUNDED, 1004),
                     SHOP_OK);
    new_pending(9, 1);
}
END_TEST

START_TEST(test_ids_never_reused)
{
    /* Ids name the debit refs ("pay-<id>"): a deleted one is never given again. */
    int64_t a = new_pending(1, 1);
    ck_assert_int_eq(payment_store_delete_pending(d, a), SHOP_OK);
    int64_t b = new_pending(1, 1);
    ck_assert_int_gt(b, a);
    ck_assert_int_eq(payment_store_get(d, a, &(payment_row){0}), SHOP_ENOTFOUND);
}
END_TEST

START_TEST(test_conditional_transitions)
{
    int64_t id = new_pending(5, 2);
    ck_assert_int_eq(payment_store_set_amount(d, id, 95000, 1001), SHOP_OK);
    ck_assert_int_eq(get(id).amount, 95000);
    ck_assert(get(id).amount_known);
    /* A known amount of 0 (a fully discounted order) is told apart from unknown. */
    int64_t free_one = new_pending(50, 2);
    ck_assert_int_eq(payment_store_set_amount(d, free_one, 0, 1001), SHOP_OK);
    ck_assert(get(free_one).amount_known);
    ck_assert_int_eq(get(free_one).amount, 0);
    /* Only from the expected state. */
    ck_assert_int_eq(payment_store_transition(d, id, PAYMENT_COMPLETED, PAYMENT_FAILED, 1002),
                     SHOP_ECONFLICT);
    ck_assert_int_eq(payment_store_transition(d, id, PAYMENT_PENDING, PAYMENT_FAILED, 1002),
                     SHOP_OK);
    payment_row p = get(id);
    ck_assert_int_eq(p.status, PAYMENT_FAILED);
    ck_assert_int_eq(p.updated_at, 1002);
    /* The loser of a race changes nothing. */
    ck_assert_int_eq(payment_store_transition(d, id, PAYMENT_PENDING, PAYMENT_REFUNDED, 1003),
                     SHOP_ECONFLICT);
    ck_assert_int_eq(payment_store_complete(d, id, 5, "{}", 1003, 1003000), SHOP_ECONFLICT);
    ck_assert_int_eq(payment_store_set_amount(d, id, 1, 1003), SHOP_ECONFLICT);
    ck_assert_int_eq(payment_store_delete_pending(d, id), SHOP_ECONFLICT);
    p = get(id);
    ck_assert_int_eq(p.status, PAYMENT_FAILED);
    ck_assert_int_eq(p.amount, 95000);
    ck_assert(!p.has_delivery);
    /* Final states never move, and COMPLETED only through complete(). */
    ck_assert_int_eq(payment_store_transition(d, id, PAYMENT_FAILED, PAYMENT_PENDING, 1004),
                     SHOP_ECONFLICT);
    int64_t other = new_pending(6, 2);
    ck_assert_int_eq(payment_store_transition(d, other, PAYMENT_PENDING, PAYMENT_COMPLETED, 1004),
                     SHOP_ECONFLICT);
    ck_assert_int_eq(get(other).status, PAYMENT_PENDING);
    ck_assert_int_eq(payment_store_transition(d, 999, PAYMENT_PENDING, PAYMENT_FAILED, 1004),
                     SHOP_ECONFLICT);
}
END_TEST

START_TEST(test_complete_writes_outbox_atomically)
{
    int64_t id = new_pending(12, 1);
    ck_assert_int_eq(payment_store_set_amount(d, id, 95000, 1001), SHOP_OK);
    ck_assert_int_eq(payment_store_complete(d, id, 12, "{\"orderId\":12}", 1002, 1002000), SHOP_OK);
    payment_row p = get(id);
    ck_assert_int_eq(p.status, PAYMENT_COMPLETED);
    ck_assert(p.has_delivery);
    ck_assert(!p.delivered);
    ck_assert_int_eq(p.attempts, 0);
    ck_assert_int_eq(p.delivered_at, 0);
    payment_outbox_msg msg = {0};
    bool due = false;
    int64_t next = 0;
    ck_assert_int_eq(payment_store_outbox_next(d, 1002000, &msg, &due, &next), SHOP_OK);
    ck_assert(due);
    ck_assert_int_eq(msg.payment_id, id);
    ck_assert_int_eq(msg.order_id, 12);
    ck_assert_str_eq(msg.payload, "{\"orderId\":12}");
    ck_assert_int_eq(msg.attempts, 0);
    payment_outbox_msg_release(&msg);
    /* A second complete (another actor) changes nothing and writes no row. */
    ck_assert_int_eq(payment_store_complete(d, id, 12, "{\"other\":1}", 1003, 1003000),
                     SHOP_ECONFLICT);
    ck_assert_int_eq(payment_store_outbox_next(d, 1003000, &msg, &due, &next), SHOP_OK);
    ck_assert(due);
    ck_assert_str_eq(msg.payload, "{\"orderId\":12}");
    payment_outbox_msg_release(&msg);
}
END_TEST

START_TEST(test_complete_rolls_back_status_when_outbox_fails)
{
    /* An outbox row for this payment id already exists (put there by hand):
     * the insert fails, and so must the status change with it. */
    int64_t id = new_pending(12, 1);
    db_conn *c = db_begin_write(d);
    ck_assert_ptr_nonnull(c);
    char sql[200];
    snprintf(sql, sizeof sql,
             "INSERT INTO outbox(payment_id, order_id, payload, status, attempts, "
             "next_attempt_ms) VALUES (%lld, 12, 'x', 'DELIVERED', 1, 0)",
             (long long)id);
    ck_assert_int_eq(db_exec(c, sql), 0);
    ck_assert_int_eq(db_commit(d, c), 0);
    ck_assert_int_eq(payment_store_complete(d, id, 12, "{}", 1002, 1002000), SHOP_EDB);
    ck_assert_int_eq(get(id).status, PAYMENT_PENDING);
}
END_TEST

START_TEST(test_outbox_retry_and_delivery)
{
    int64_t a = new_pending(1, 1);
    int64_t b = new_pending(2, 1);
    ck_assert_int_eq(payment_store_complete(d, a, 1, "A", 1, 1000), SHOP_OK);
    ck_assert_int_eq(payment_store_complete(d, b, 2, "B", 1, 1500), SHOP_OK);
    payment_outbox_msg msg = {0};
    bool due = false;
    int64_t next = 0;
    /* Before anything is due: when the first falls due. */
    ck_assert_int_eq(payment_store_outbox_next(d, 900, &msg, &due, &next), SHOP_OK);
    ck_assert(!due);
    ck_assert_int_eq(next, 1000);
    /* A fails once: retried at 1200, so B (due 1500) comes after it. */
    ck_assert_int_eq(payment_store_outbox_next(d, 1000, &msg, &due, &next), SHOP_OK);
    ck_assert(due);
    ck_assert_int_eq(msg.payment_id, a);
    payment_outbox_msg_release(&msg);
    ck_assert_int_eq(payment_store_outbox_retry(d, a, 1, 1200), SHOP_OK);
    ck_assert_int_eq(get(a).attempts, 1);
    ck_assert_int_eq(payment_store_outbox_next(d, 1100, &msg, &due, &next), SHOP_OK);
    ck_assert(!due);
    ck_assert_int_eq(next, 1200);
    ck_assert_int_eq(payment_store_outbox_next(d, 1600, &msg, &due, &next), SHOP_OK);
    ck_assert(due);
    ck_assert_int_eq(msg.payment_id, a);
    payment_outbox_msg_release(&msg);
    ck_assert_int_eq(payment_store_outbox_delivered(d, a, 2, 77), SHOP_OK);
    payment_row p = get(a);
    ck_assert(p.delivered);
    ck_assert_int_eq(p.attempts, 2);
    ck_assert_int_eq(p.delivered_at, 77);
    /* A delivered row is never offered again, nor changed by late writes. */
    ck_assert_int_eq(payment_store_outbox_retry(d, a, 9, 5000), SHOP_OK);
    ck_assert_int_eq(payment_store_outbox_delivered(d, a, 9, 99), SHOP_OK);
    p = get(a);
    ck_assert_int_eq(p.attempts, 2);
    ck_assert_int_eq(p.delivered_at, 77);
    ck_assert_int_eq(payment_store_outbox_next(d, 1600, &msg, &due, &next), SHOP_OK);
    ck_assert(due);
    ck_assert_int_eq(msg.payment_id, b);
    ck_assert_str_eq(msg.payload, "B");
    payment_outbox_msg_release(&msg);
    ck_assert_int_eq(payment_store_outbox_delivered(d, b, 1, 78), SHOP_OK);
    ck_assert_int_eq(payment_store_outbox_next(d, 99999, &msg, &due, &next), SHOP_OK);
    ck_assert(!due);
    ck_assert_int_eq(next, -1);
}
END_TEST

START_TEST(test_list_and_stale)
{
    int64_t ids[6];
    for (int i = 0; i < 6; i++) {
        ck_assert_int_eq(payment_store_insert_pending(d, 100 + i, i % 2 + 1, 1000 + i, &ids[i]),
                         SHOP_OK);
    }
    ck_assert_int_eq(payment_store_transition(d, ids[1], PAYMENT_PENDING, PAYMENT_FAILED, 2000),
                     SHOP_OK);
    ck_assert_int_eq(payment_store_complete(d, ids[2], 102, "{}", 2000, 2000000), SHOP_OK);
    payment_row rows[10];
    size_t n = 0;
    ck_assert_int_eq(payment_store_list(d, PAYMENT_STATUS_INVALID, 0, 0, rows, 10, &n), SHOP_OK);
    ck_assert_uint_eq(n, 6);
    for (size_t i = 0; i < n; i++)
        ck_assert_int_eq(rows[i].id, ids[i]);
    ck_assert(rows[2].has_delivery);
    ck_assert(!rows[0].has_delivery);
    /* Keyset paging. */
    ck_assert_int_eq(payment_store_list(d, PAYMENT_STATUS_INVALID, 0, ids[3], rows, 10, &n),
                     SHOP_OK);
    ck_assert_uint_eq(n, 2);
    ck_assert_int_eq(rows[0].id, ids[4]);
    ck_assert_int_eq(payment_store_list(d, PAYMENT_STATUS_INVALID, 0, 0, rows, 2, &n), SHOP_OK);
    ck_assert_uint_eq(n, 2);
    /* Filters. */
    ck_assert_int_eq(payment_store_list(d, PAYMENT_PENDING, 0, 0, rows, 10, &n), SHOP_OK);
    ck_assert_uint_eq(n, 4);
    ck_assert_int_eq(payment_store_list(d, PAYMENT_PENDING, 1, 0, rows, 10, &n), SHOP_OK);
    ck_assert_uint_eq(n, 2); /* ids 0, 4 are user 1 and PENDING; 2 is COMPLETED */
    ck_assert_int_eq(payment_store_list(d, PAYMENT_COMPLETED, 1, 0, rows, 10, &n), SHOP_OK);
    ck_assert_uint_eq(n, 1);
    ck_assert_int_eq(rows[0].id, ids[2]);
    ck_assert_int_eq(payment_store_list(d, PAYMENT_STATUS_INVALID, 2, 0, rows, 10, &n), SHOP_OK);
    ck_assert_uint_eq(n, 3);
    /* Stale PENDING payments: created before the cut-off, oldest first. */
    ck_assert_int_eq(payment_store_stale_pending(d, 1004, rows, 10, &n), SHOP_OK);
    ck_assert_uint_eq(n, 2);
    ck_assert_int_eq(rows[0].id, ids[0]);
    ck_assert_int_eq(rows[1].id, ids[3]);
    ck_assert_int_eq(payment_store_stale_pending(d, 1000, rows, 10, &n), SHOP_OK);
    ck_assert_uint_eq(n, 0);
    ck_assert_int_eq(payment_store_stale_pending(d, 99999, rows, 1, &n), SHOP_OK);
    ck_assert_uint_eq(n, 1);
}
END_TEST

/* Many threads insert a live payment for one order at once: one wins. */
#define RACERS 16
static int64_t race_ids[RACERS];
static shop_err race_results[RACERS];

static void *race_insert(void *arg)
{
    int i = (int)(intptr_t)arg;
    race_results[i] = payment_store_insert_pending(d, 42, 1, 1000, &race_ids[i]);
    return NULL;
}

START_TEST(test_insert_race)
{
    pthread_t t[RACERS];
    for (int i = 0; i < RACERS; i++)
        ck_assert_int_eq(pthread_create(&t[i], NULL, race_insert, (void *)(intptr_t)i), 0);
    for (int i = 0; i < RACERS; i++)
        pthread_join(t[i], NULL);
    int ok = 0, conflict = 0;
    for (int i = 0; i < RACERS; i++) {
        ok += race_results[i] == SHOP_OK;
        conflict += race_results[i] == SHOP_ECONFLICT;
    }
    ck_assert_int_eq(ok, 1);
    ck_assert_int_eq(conflict, RACERS - 1);
    payment_row rows[RACERS + 1];
    size_t n = 0;
    ck_assert_int_eq(payment_store_list(d, PAYMENT_STATUS_INVALID, 0, 0, rows, RACERS + 1, &n),
                     SHOP_OK);
    ck_assert_uint_eq(n, 1);
}
END_TEST

Suite *payment_store_suite(void)
{
    Suite *s = suite_create("payment_store");
    TCase *tc = tcase_create("core");
    tcase_add_checked_fixture(tc, setup, teardown);
    tcase_set_timeout(tc, 20);
    tcase_add_test(tc, test_insert_and_get);
    tcase_add_test(tc, test_one_live_payment_per_order);
    tcase_add_test(tc, test_ids_never_reused);
    tcase_add_test(tc, test_conditional_transitions);
    tcase_add_test(tc, test_complete_writes_outbox_atomically);
    tcase_add_test(tc, test_complete_rolls_back_status_when_outbox_fails);
    tcase_add_test(tc, test_outbox_retry_and_delivery);
    tcase_add_test(tc, test_list_and_stale);
    tcase_add_test(tc, test_insert_race);
    suite_add_tcase(s, tc);
    return s;
}
