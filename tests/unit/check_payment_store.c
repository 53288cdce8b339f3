/* Unit tests of the payment store (services/payment/payment_store.c) on a
 * fresh temp database per test: one live payment per order (the partial
 * unique index), conditional transitions, COMPLETED and its outbox row in
 * one transaction, deliveries, listing and the settler's query, the
 * Idempotency-Keys bound to payments, the cancel a short-balance failure
 * owes (its key answered only once the cancel is confirmed) and the saga
 * log. */
#include <check.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "../../services/payment/payment_store.h"

Suite *payment_store_suite(void);

static char tmpdir[64];
static char dbpath[128];
static db *d;
static bool key_taken; /* OUT of payment_store_insert_pending */

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
    ck_assert_int_eq(
        payment_store_insert_pending(d, order_id, user_id, 1000, NULL, &id, &key_taken), SHOP_OK);
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
    ck_assert_int_eq(payment_store_insert_pending(d, 7, 1, 1000, NULL, &other, &key_taken),
                     SHOP_ECONFLICT);
    ck_assert_int_eq(payment_store_insert_pending(d, 7, 2, 1000, NULL, &other, &key_taken),
                     SHOP_ECONFLICT);
    /* ...but another order is fine. */
    new_pending(8, 1);
    /* After FAILED, the order may be paid again. */
    ck_assert_int_eq(
        payment_store_transition(d, first, PAYMENT_PENDING, PAYMENT_FAILED, 1001, NULL, NULL, NULL),
        SHOP_OK);
    int64_t second = new_pending(7, 1);
    ck_assert_int_gt(second, first);
    /* Once COMPLETED, a third one is refused again. */
    ck_assert_int_eq(payment_store_complete(d, second, 7, "{}", 1002, 1002000, NULL, NULL, NULL),
                     SHOP_OK);
    ck_assert_int_eq(payment_store_insert_pending(d, 7, 1, 1003, NULL, &other, &key_taken),
                     SHOP_ECONFLICT);
    /* REFUNDED frees the order too. */
    int64_t third = new_pending(9, 1);
    ck_assert_int_eq(payment_store_transition(d, third, PAYMENT_PENDING, PAYMENT_REFUNDED, 1004,
                                              NULL, NULL, NULL),
                     SHOP_OK);
    new_pending(9, 1);
}
END_TEST

START_TEST(test_ids_never_reused)
{
    /* Ids name the debit refs ("pay-<id>"): a deleted one is never given again. */
    int64_t a = new_pending(1, 1);
    ck_assert_int_eq(payment_store_delete_pending(d, a, NULL), SHOP_OK);
    int64_t b = new_pending(1, 1);
    ck_assert_int_gt(b, a);
    ck_assert_int_eq(payment_store_get(d, a, &(payment_row){0}), SHOP_ENOTFOUND);
}
END_TEST

START_TEST(test_conditional_transitions)
{
    int64_t id = new_pending(5, 2);
    ck_assert_int_eq(payment_store_set_amount(d, id, 95000, 1001, NULL), SHOP_OK);
    ck_assert_int_eq(get(id).amount, 95000);
    ck_assert(get(id).amount_known);
    /* A known amount of 0 (a fully discounted order) is told apart from unknown. */
    int64_t free_one = new_pending(50, 2);
    ck_assert_int_eq(payment_store_set_amount(d, free_one, 0, 1001, NULL), SHOP_OK);
    ck_assert(get(free_one).amount_known);
    ck_assert_int_eq(get(free_one).amount, 0);
    /* Only from the expected state. */
    ck_assert_int_eq(
        payment_store_transition(d, id, PAYMENT_COMPLETED, PAYMENT_FAILED, 1002, NULL, NULL, NULL),
        SHOP_ECONFLICT);
    ck_assert_int_eq(
        payment_store_transition(d, id, PAYMENT_PENDING, PAYMENT_FAILED, 1002, NULL, NULL, NULL),
        SHOP_OK);
    payment_row p = get(id);
    ck_assert_int_eq(p.status, PAYMENT_FAILED);
    ck_assert_int_eq(p.updated_at, 1002);
    /* The loser of a race changes nothing. */
    ck_assert_int_eq(
        payment_store_transition(d, id, PAYMENT_PENDING, PAYMENT_REFUNDED, 1003, NULL, NULL, NULL),
        SHOP_ECONFLICT);
    ck_assert_int_eq(payment_store_complete(d, id, 5, "{}", 1003, 1003000, NULL, NULL, NULL),
                     SHOP_ECONFLICT);
    ck_assert_int_eq(payment_store_set_amount(d, id, 1, 1003, NULL), SHOP_ECONFLICT);
    ck_assert_int_eq(payment_store_delete_pending(d, id, NULL), SHOP_ECONFLICT);
    p = get(id);
    ck_assert_int_eq(p.status, PAYMENT_FAILED);
    ck_assert_int_eq(p.amount, 95000);
    ck_assert(!p.has_delivery);
    /* Final states never move, and COMPLETED only through complete(). */
    ck_assert_int_eq(
        payment_store_transition(d, id, PAYMENT_FAILED, PAYMENT_PENDING, 1004, NULL, NULL, NULL),
        SHOP_ECONFLICT);
    int64_t other = new_pending(6, 2);
    ck_assert_int_eq(payment_store_transition(d, other, PAYMENT_PENDING, PAYMENT_COMPLETED, 1004,
                                              NULL, NULL, NULL),
                     SHOP_ECONFLICT);
    ck_assert_int_eq(get(other).status, PAYMENT_PENDING);
    ck_assert_int_eq(
        payment_store_transition(d, 999, PAYMENT_PENDING, PAYMENT_FAILED, 1004, NULL, NULL, NULL),
        SHOP_ECONFLICT);
}
END_TEST

START_TEST(test_complete_writes_outbox_atomically)
{
    int64_t id = new_pending(12, 1);
    ck_assert_int_eq(payment_store_set_amount(d, id, 95000, 1001, NULL), SHOP_OK);
    ck_assert_int_eq(
        payment_store_complete(d, id, 12, "{\"orderId\":12}", 1002, 1002000, NULL, NULL, NULL),
        SHOP_OK);
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
    ck_assert_int_eq(
        payment_store_complete(d, id, 12, "{\"other\":1}", 1003, 1003000, NULL, NULL, NULL),
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
    ck_assert_int_eq(payment_store_complete(d, id, 12, "{}", 1002, 1002000, NULL, NULL, NULL),
                     SHOP_EDB);
    ck_assert_int_eq(get(id).status, PAYMENT_PENDING);
}
END_TEST

START_TEST(test_outbox_retry_and_delivery)
{
    int64_t a = new_pending(1, 1);
    int64_t b = new_pending(2, 1);
    ck_assert_int_eq(payment_store_complete(d, a, 1, "A", 1, 1000, NULL, NULL, NULL), SHOP_OK);
    ck_assert_int_eq(payment_store_complete(d, b, 2, "B", 1, 1500, NULL, NULL, NULL), SHOP_OK);
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
    ck_assert_int_eq(payment_store_outbox_retry(d, a, 1, 1200, NULL), SHOP_OK);
    ck_assert_int_eq(get(a).attempts, 1);
    ck_assert_int_eq(payment_store_outbox_next(d, 1100, &msg, &due, &next), SHOP_OK);
    ck_assert(!due);
    ck_assert_int_eq(next, 1200);
    ck_assert_int_eq(payment_store_outbox_next(d, 1600, &msg, &due, &next), SHOP_OK);
    ck_assert(due);
    ck_assert_int_eq(msg.payment_id, a);
    payment_outbox_msg_release(&msg);
    ck_assert_int_eq(payment_store_outbox_delivered(d, a, 2, 77, NULL), SHOP_OK);
    payment_row p = get(a);
    ck_assert(p.delivered);
    ck_assert_int_eq(p.attempts, 2);
    ck_assert_int_eq(p.delivered_at, 77);
    /* A delivered row is never offered again, nor changed by late writes. */
    ck_assert_int_eq(payment_store_outbox_retry(d, a, 9, 5000, NULL), SHOP_OK);
    ck_assert_int_eq(payment_store_outbox_delivered(d, a, 9, 99, NULL), SHOP_OK);
    p = get(a);
    ck_assert_int_eq(p.attempts, 2);
    ck_assert_int_eq(p.delivered_at, 77);
    ck_assert_int_eq(payment_store_outbox_next(d, 1600, &msg, &due, &next), SHOP_OK);
    ck_assert(due);
    ck_assert_int_eq(msg.payment_id, b);
    ck_assert_str_eq(msg.payload, "B");
    payment_outbox_msg_release(&msg);
    ck_assert_int_eq(payment_store_outbox_delivered(d, b, 1, 78, NULL), SHOP_OK);
    ck_assert_int_eq(payment_store_outbox_next(d, 99999, &msg, &due, &next), SHOP_OK);
    ck_assert(!due);
    ck_assert_int_eq(next, -1);
}
END_TEST

START_TEST(test_list_and_stale)
{
    int64_t ids[6];
    for (int i = 0; i < 6; i++) {
        ck_assert_int_eq(payment_store_insert_pending(d, 100 + i, i % 2 + 1, 1000 + i, NULL,
                                                      &ids[i], &key_taken),
                         SHOP_OK);
    }
    ck_assert_int_eq(payment_store_transition(d, ids[1], PAYMENT_PENDING, PAYMENT_FAILED, 2000,
                                              NULL, NULL, NULL),
                     SHOP_OK);
    ck_assert_int_eq(payment_store_complete(d, ids[2], 102, "{}", 2000, 2000000, NULL, NULL, NULL),
                     SHOP_OK);
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
    bool taken = false;
    race_results[i] = payment_store_insert_pending(d, 42, 1, 1000, NULL, &race_ids[i], &taken);
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

/* ---- Idempotency-Key bound to a payment ----------------------------------- */

static const payment_idem KEY_A = {.key = "key-a", .request = "/payments\n{\"orderId\":7}"};

static idem_outcome lookup(const payment_idem *idem, idem_record *rec)
{
    return payment_store_idem_lookup(d, idem, rec);
}

/* Asserts idem's stored answer: status and body, then frees it. */
static void expect_answer(const payment_idem *idem, int status, const char *body)
{
    idem_record rec;
    ck_assert_int_eq(lookup(idem, &rec), IDEM_REPLAY);
    ck_assert_int_eq(rec.status, status);
    ck_assert_str_eq(rec.body, body);
    idem_record_free(&rec);
}

START_TEST(test_key_bound_with_the_pending_row)
{
    idem_record rec;
    int64_t id = 0, other = 0;
    bool taken = true;
    ck_assert_int_eq(payment_store_insert_pending(d, 7, 1, 1000, &KEY_A, &id, &taken), SHOP_OK);
    ck_assert(!taken);
    ck_assert_int_eq(lookup(&KEY_A, &rec), IDEM_IN_PROGRESS);
    ck_assert_int_eq(rec.ref, id);
    idem_record_free(&rec);
    /* The same key again (for another order even): nothing is inserted. */
    ck_assert_int_eq(payment_store_insert_pending(d, 8, 1, 1000, &KEY_A, &other, &taken),
                     SHOP_ECONFLICT);
    ck_assert(taken);
    payment_row rows[4];
    size_t n = 0;
    ck_assert_int_eq(payment_store_list(d, PAYMENT_STATUS_INVALID, 0, 0, rows, 4, &n), SHOP_OK);
    ck_assert_uint_eq(n, 1);
    /* A second live payment of the order with another key: refused, that key
     * not stored (the caller stores its 409 with idem_put). */
    payment_idem key_b = {.key = "key-b", .request = KEY_A.request};
    ck_assert_int_eq(payment_store_insert_pending(d, 7, 1, 1000, &key_b, &other, &taken),
                     SHOP_ECONFLICT);
    ck_assert(!taken);
    ck_assert_int_eq(lookup(&key_b, &rec), IDEM_NEW);
    idem_record_free(&rec);
    ck_assert_int_eq(payment_store_idem_put(d, &key_b, 409, "{\"code\":\"ORDER_NOT_PAYABLE\"}"),
                     SHOP_OK);
    ck_assert_int_eq(payment_store_idem_put(d, &key_b, 400, "{}"), SHOP_OK); /* first stands */
    expect_answer(&key_b, 409, "{\"code\":\"ORDER_NOT_PAYABLE\"}");
    /* COMPLETED answers the key in its transaction. */
    payment_answer created = {.status = 201, .body = "{\"id\":1}"};
    ck_assert_int_eq(payment_store_complete(d, id, 7, "{}", 1001, 1001000, NULL, NULL, &created),
                     SHOP_OK);
    expect_answer(&KEY_A, 201, "{\"id\":1}");
    /* Old answers are purged after a day. */
    ck_assert_int_eq(payment_store_idem_purge(d, time(NULL) + 2 * 86400), SHOP_OK);
    ck_assert_int_eq(lookup(&KEY_A, &rec), IDEM_NEW);
    idem_record_free(&rec);
}
END_TEST

START_TEST(test_key_answer_follows_the_final_state)
{
    idem_record rec;
    int64_t a = 0, b = 0, c = 0, e = 0;
    bool taken;
    payment_idem ka = {"a", "r"}, kb = {"b", "r"}, kc = {"c", "r"}, ke = {"e", "r"};
    ck_assert_int_eq(payment_store_insert_pending(d, 1, 1, 1000, &ka, &a, &taken), SHOP_OK);
    ck_assert_int_eq(payment_store_insert_pending(d, 2, 1, 1000, &kb, &b, &taken), SHOP_OK);
    ck_assert_int_eq(payment_store_insert_pending(d, 3, 1, 1000, &kc, &c, &taken), SHOP_OK);
    ck_assert_int_eq(payment_store_insert_pending(d, 4, 1, 1000, &ke, &e, &taken), SHOP_OK);
    /* A 4xx of the order checks: the row goes, the answer stays. */
    payment_answer forbidden = {.status = 403, .body = "{\"code\":\"FORBIDDEN\"}"};
    ck_assert_int_eq(payment_store_delete_pending(d, a, &forbidden), SHOP_OK);
    ck_assert_int_eq(payment_store_get(d, a, &(payment_row){0}), SHOP_ENOTFOUND);
    expect_answer(&ka, 403, "{\"code\":\"FORBIDDEN\"}");
    /* A 5xx that left nothing behind: row and key go; a retry starts afresh. */
    payment_answer bad_gateway = {.status = 502, .body = "{\"code\":\"BAD_GATEWAY\"}"};
    ck_assert_int_eq(payment_store_delete_pending(d, b, &bad_gateway), SHOP_OK);
    ck_assert_int_eq(lookup(&kb, &rec), IDEM_NEW);
    idem_record_free(&rec);
    /* FAILED with its 402. */
    payment_answer short_balance = {.status = 402, .body = "{\"code\":\"INSUFFICIENT_BALANCE\"}"};
    ck_assert_int_eq(payment_store_transition(d, c, PAYMENT_PENDING, PAYMENT_FAILED, 1001, NULL,
                                              NULL, &short_balance),
                     SHOP_OK);
    expect_answer(&kc, 402, "{\"code\":\"INSUFFICIENT_BALANCE\"}");
    /* A transition that loses leaves the key as it was: the winner answers it. */
    payment_answer other = {.status = 409, .body = "{}"};
    ck_assert_int_eq(
        payment_store_transition(d, c, PAYMENT_PENDING, PAYMENT_REFUNDED, 1002, NULL, NULL, &other),
        SHOP_ECONFLICT);
    expect_answer(&kc, 402, "{\"code\":\"INSUFFICIENT_BALANCE\"}");
    ck_assert_int_eq(payment_store_delete_pending(d, c, &bad_gateway), SHOP_ECONFLICT);
    expect_answer(&kc, 402, "{\"code\":\"INSUFFICIENT_BALANCE\"}");
    /* A payment still PENDING keeps its key IN_PROGRESS (a 5xx while the
     * debit may have happened); the settler's REFUNDED answers it. */
    ck_assert_int_eq(lookup(&ke, &rec), IDEM_IN_PROGRESS);
    idem_record_free(&rec);
    payment_answer refunded = {.status = 409, .body = "{\"code\":\"ORDER_NOT_PAYABLE\"}"};
    ck_assert_int_eq(payment_store_transition(d, e, PAYMENT_PENDING, PAYMENT_REFUNDED, 1003, NULL,
                                              NULL, &refunded),
                     SHOP_OK);
    expect_answer(&ke, 409, "{\"code\":\"ORDER_NOT_PAYABLE\"}");
}
END_TEST

/* ---- the saga log ---------------------------------------------------------- */

/* Adds step name of payment pid (order oid) at at_us to log. */
static void add_step(payment_steps *log, int64_t pid, int64_t oid, const char *name, int64_t at_us,
                     const char *peer, int status)
{
    payment_step *st = payment_steps_next(log);
    ck_assert_ptr_nonnull(st);
    payment_step_set(st, log, pid, oid, at_us, log->prefix, name, peer, status, NULL, 1, false);
}

/* The names of the stored steps of order oid (user_id 0: all), joined. */
static void stored_names(int64_t oid, int64_t user_id, char *out, size_t len)
{
    payment_step steps[32];
    size_t n = 0, used = 0;
    ck_assert_int_eq(payment_store_steps(d, oid, user_id, steps, 32, &n), SHOP_OK);
    out[0] = '\0';
    for (size_t i = 0; i < n; i++)
        used += (size_t)snprintf(out + used, len - used, "%s%s", i > 0 ? " " : "", steps[i].step);
}

START_TEST(test_saga_log_goes_with_state_changes)
{
    payment_steps log;
    payment_step state;
    char names[512];
    payment_steps_init(&log, "rid-1", NULL);
    int64_t id = new_pending(7, 1);
    add_step(&log, id, 7, "payment.pending", 100, NULL, 0);
    add_step(&log, id, 7, "order.read", 101, "order", 200);
    ck_assert_int_eq(payment_store_set_amount(d, id, 5000, 1001, &log), SHOP_OK);
    ck_assert_int_eq(log.n, 0);
    stored_names(7, 0, names, sizeof names);
    ck_assert_str_eq(names, "payment.pending order.read");
    add_step(&log, id, 7, "balance.check", 102, "user", 200);
    add_step(&log, id, 7, "balance.debit", 103, "user", 200);
    add_step(&log, id, 7, "order.mark_paid", 104, "order", 200);
    stored_names(7, 0, names, sizeof names);
    ck_assert_str_eq(names, "payment.pending order.read"); /* not before the state change */
    payment_step_set(&state, &log, id, 7, 105, NULL, "payment.completed", NULL, 0, NULL, 0, false);
    ck_assert_int_eq(payment_store_complete(d, id, 7, "{}", 1002, 1002000, &log, &state, NULL),
                     SHOP_OK);
    ck_assert_int_eq(log.n, 0);
    stored_names(7, 0, names, sizeof names);
    ck_assert_str_eq(names, "payment.pending order.read balance.check balance.debit "
                            "order.mark_paid payment.completed");
    /* A write that loses keeps the calls, not its state step. */
    add_step(&log, id, 7, "late", 106, "user", 200);
    payment_step_set(&state, &log, id, 7, 107, NULL, "payment.failed", NULL, 0, NULL, 0, false);
    ck_assert_int_eq(
        payment_store_transition(d, id, PAYMENT_PENDING, PAYMENT_FAILED, 1003, &log, &state, NULL),
        SHOP_ECONFLICT);
    ck_assert_int_eq(log.n, 0);
    /* The outbox worker's steps go with its own writes. */
    payment_step_set(&state, &log, id, 7, 108, NULL, "outbox.attempt", "data-platform", 503, NULL,
                     4, false);
    ck_assert_int_eq(payment_store_outbox_retry(d, id, 1, 2000000, &state), SHOP_OK);
    payment_step_set(&state, &log, id, 7, 109, NULL, "outbox.delivered", "data-platform", 200, NULL,
                     4, false);
    ck_assert_int_eq(payment_store_outbox_delivered(d, id, 2, 1004, &state), SHOP_OK);
    /* A repeat of a delivery that changes nothing records nothing. */
    payment_step_set(&state, &log, id, 7, 110, NULL, "outbox.again", "data-platform", 200, NULL, 4,
                     false);
    ck_assert_int_eq(payment_store_outbox_delivered(d, id, 3, 1005, &state), SHOP_OK);
    stored_names(7, 0, names, sizeof names);
    ck_assert_str_eq(names, "payment.pending order.read balance.check balance.debit "
                            "order.mark_paid payment.completed late outbox.attempt "
                            "outbox.delivered");
    /* Fields round-trip. */
    payment_step steps[16];
    size_t n = 0;
    ck_assert_int_eq(payment_store_steps(d, 7, 0, steps, 16, &n), SHOP_OK);
    ck_assert_uint_eq(n, 9);
    ck_assert_int_eq(steps[7].http_status, 503);
    ck_assert_str_eq(steps[7].peer, "data-platform");
    ck_assert_int_eq(steps[7].duration_ms, 4);
    ck_assert_int_eq(steps[7].payment_id, id);
    ck_assert_int_eq(steps[7].order_id, 7);
    ck_assert_str_eq(steps[7].request_id, "rid-1");
    ck_assert_str_eq(steps[0].peer, "");
    ck_assert_int_eq(steps[0].http_status, 0);
}
END_TEST

START_TEST(test_saga_log_by_order_and_payer)
{
    payment_steps log;
    char names[512];
    payment_steps_init(&log, "r", NULL);
    /* Order 7: a FAILED payment by user 1, then another user's attempt that
     * reached the log (a 503 before its order check), then user 1 again. */
    int64_t a = new_pending(7, 1);
    add_step(&log, a, 7, "a.second", 200, "user", 200);
    add_step(&log, a, 7, "a.first", 100, NULL, 0);
    ck_assert_int_eq(
        payment_store_transition(d, a, PAYMENT_PENDING, PAYMENT_FAILED, 1001, &log, NULL, NULL),
        SHOP_OK);
    int64_t b = new_pending(7, 2);
    add_step(&log, b, 7, "b.only", 150, "order", 0);
    ck_assert_int_eq(payment_store_steps_flush(d, &log), SHOP_OK);
    ck_assert_int_eq(
        payment_store_transition(d, b, PAYMENT_PENDING, PAYMENT_FAILED, 1001, NULL, NULL, NULL),
        SHOP_OK);
    int64_t c = new_pending(7, 1);
    add_step(&log, c, 7, "c.only", 300, NULL, 0);
    ck_assert_int_eq(payment_store_steps_flush(d, &log), SHOP_OK);
    /* Another order's steps stay apart. */
    int64_t other = new_pending(8, 1);
    add_step(&log, other, 8, "other", 50, NULL, 0);
    ck_assert_int_eq(payment_store_steps_flush(d, &log), SHOP_OK);
    stored_names(7, 0, names, sizeof names);
    ck_assert_str_eq(names, "a.first b.only a.second c.only");
    stored_names(7, 1, names, sizeof names);
    ck_assert_str_eq(names, "a.first a.second c.only");
    stored_names(7, 2, names, sizeof names);
    ck_assert_str_eq(names, "b.only");
    stored_names(8, 1, names, sizeof names);
    ck_assert_str_eq(names, "other");
    stored_names(9, 0, names, sizeof names);
    ck_assert_str_eq(names, "");
    /* The steps of a payment that is deleted (it never happened) are not shown. */
    ck_assert_int_eq(payment_store_delete_pending(d, c, NULL), SHOP_OK);
    stored_names(7, 1, names, sizeof names);
    ck_assert_str_eq(names, "a.first a.second");
    /* At most cap. */
    payment_step steps[1];
    size_t n = 0;
    ck_assert_int_eq(payment_store_steps(d, 7, 0, steps, 1, &n), SHOP_OK);
    ck_assert_uint_eq(n, 1);
    ck_assert_str_eq(steps[0].step, "a.first");
}
END_TEST

/* A short balance whose order's cancel is owed: FAILED with cancel_pending,
 * the key IN_PROGRESS (no 402 before the order is cancelled), listed for the
 * settler once old enough, and answered when the cancel is confirmed. */
START_TEST(test_cancel_owed_holds_the_key_until_done)
{
    idem_record rec;
    int64_t id = 0, other = 0;
    bool taken;
    payment_idem key = {"owed", "r"};
    ck_assert_int_eq(payment_store_insert_pending(d, 1, 1, 1000, &key, &id, &taken), SHOP_OK);
    ck_assert_int_eq(payment_store_set_amount(d, id, 45000, 1000, NULL), SHOP_OK);
    ck_assert(!get(id).cancel_pending);
    payment_steps log;
    payment_steps_init(&log, "rid-1", NULL);
    add_step(&log, id, 1, "balance.check", 1000000, "user", 200);
    payment_step failed;
    payment_step_set(&failed, &log, id, 1, 1000001, NULL, "payment.failed", NULL, 0, NULL, 0,
                     false);
    ck_assert_int_eq(payment_store_fail_owing_cancel(d, id, 1001, &log, &failed), SHOP_OK);
    ck_assert_uint_eq(log.n, 0);
    payment_row p = get(id);
    ck_assert_int_eq(p.status, PAYMENT_FAILED);
    ck_assert(p.cancel_pending);
    ck_assert_int_eq(p.updated_at, 1001);
    ck_assert_int_eq(lookup(&key, &rec), IDEM_IN_PROGRESS);
    idem_record_free(&rec);
    /* Only from PENDING. */
    ck_assert_int_eq(payment_store_fail_owing_cancel(d, id, 1002, NULL, NULL), SHOP_ECONFLICT);
    /* The order may be paid by another payment meanwhile. */
    ck_assert_int_eq(payment_store_insert_pending(d, 1, 1, 1002, NULL, &other, &taken), SHOP_OK);
    ck_assert(!get(other).cancel_pending);
    /* The settler lists it once changed before the cut-off, oldest first. */
    payment_row rows[4];
    size_t n = 0;
    ck_assert_int_eq(payment_store_cancels_owed(d, 1001, rows, 4, &n), SHOP_OK);
    ck_assert_uint_eq(n, 0);
    ck_assert_int_eq(payment_store_cancels_owed(d, 1002, rows, 4, &n), SHOP_OK);
    ck_assert_uint_eq(n, 1);
    ck_assert_int_eq(rows[0].id, id);
    ck_assert_int_eq(rows[0].amount, 45000);
    ck_assert(rows[0].cancel_pending);
    /* Confirmed: the flag goes and the key gets its answer, once. */
    payment_answer short_balance = {.status = 402, .body = "{\"code\":\"INSUFFICIENT_BALANCE\"}"};
    ck_assert_int_eq(payment_store_cancel_done(d, id, 1003, NULL, &short_balance), SHOP_OK);
    p = get(id);
    ck_assert(!p.cancel_pending);
    ck_assert_int_eq(p.status, PAYMENT_FAILED);
    expect_answer(&key, 402, "{\"code\":\"INSUFFICIENT_BALANCE\"}");
    ck_assert_int_eq(payment_store_cancels_owed(d, 99999, rows, 4, &n), SHOP_OK);
    ck_assert_uint_eq(n, 0);
    /* A second confirmation (the saga and the settler both asked) changes
     * nothing, but its steps are kept. */
    payment_answer other_answer = {.status = 409, .body = "{}"};
    payment_steps_init(&log, "rid-2", "settle.");
    add_step(&log, id, 1, "order.cancel", 1004000000, "order", 200);
    ck_assert_int_eq(payment_store_cancel_done(d, id, 1004, &log, &other_answer), SHOP_ECONFLICT);
    ck_assert_uint_eq(log.n, 0);
    expect_answer(&key, 402, "{\"code\":\"INSUFFICIENT_BALANCE\"}");
    ck_assert_int_eq(get(id).updated_at, 1003);
    /* Nothing is owed by a payment that never failed that way. */
    ck_assert_int_eq(payment_store_cancel_done(d, other, 1005, NULL, NULL), SHOP_ECONFLICT);
    char names[256];
    stored_names(1, 0, names, sizeof names);
    ck_assert_str_eq(names, "balance.check payment.failed settle.order.cancel");
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
    tcase_add_test(tc, test_key_bound_with_the_pending_row);
    tcase_add_test(tc, test_key_answer_follows_the_final_state);
    tcase_add_test(tc, test_saga_log_goes_with_state_changes);
    tcase_add_test(tc, test_saga_log_by_order_and_payer);
    tcase_add_test(tc, test_cancel_owed_holds_the_key_until_done);
    suite_add_tcase(s, tc);
    return s;
}
