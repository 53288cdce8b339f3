/* Unit tests of order_store against a fresh SQLite file per test: the PENDING
 * insert with its lines, conditional transitions (a stale one changes nothing
 * and says so), the lists recovery and operators read, the idempotency
 * keys bound to orders, and the saga log written with the state changes. */
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <check.h>

#include "../../services/order/order_store.h"

static char tmp_dir[64];
static char db_path[128];
static db *store;

static void setup(void)
{
    snprintf(tmp_dir, sizeof tmp_dir, "/tmp/order-store-XXXXXX");
    ck_assert_ptr_nonnull(mkdtemp(tmp_dir));
    snprintf(db_path, sizeof db_path, "%s/order.db", tmp_dir);
    store = NULL;
    ck_assert_int_eq(order_store_open(db_path, &store), 0);
}

static void teardown(void)
{
    char path[160];
    db_close(store);
    store = NULL;
    const char *suffixes[] = {"", "-wal", "-shm"};
    for (size_t i = 0; i < 3; i++) {
        snprintf(path, sizeof path, "%s%s", db_path, suffixes[i]);
        unlink(path);
    }
    rmdir(tmp_dir);
}

/* Inserts a PENDING order of user_id with lines (item i+1, quantity q[i]). */
static int64_t new_order(int64_t user_id, int64_t coupon, const int64_t *q, size_t n, int64_t now_s)
{
    order_create_req rq = {.user_id = user_id, .user_coupon_id = coupon, .n_lines = n};
    int64_t id = 0;
    for (size_t i = 0; i < n; i++)
        rq.lines[i] = (order_line){.item_id = (int64_t)(10 * (n - i)), .quantity = q[i]};
    ck_assert_int_eq(order_store_insert_pending(store, &rq, now_s, NULL, NULL, &id, NULL, NULL),
                     SHOP_OK);
    ck_assert_int_gt(id, 0);
    return id;
}

static order_rec get(int64_t id)
{
    order_rec o;
    ck_assert_int_eq(order_store_get(store, id, &o), SHOP_OK);
    return o;
}

/* Marks order id CREATED with prices 1000 * (i+1) and the given discount. */
static bool created(int64_t id, int64_t discount, int64_t now_s)
{
    order_rec o = get(id);
    order_amounts a;
    bool won = false;
    for (size_t i = 0; i < o.n_lines; i++)
        o.lines[i].unit_price = 1000 * (int64_t)(i + 1);
    ck_assert(order_compute_amounts(o.lines, o.n_lines, discount, &a));
    o.total_amount = a.total;
    o.discount_amount = a.discount;
    o.final_amount = a.final_amount;
    o.updated_at = now_s;
    ck_assert_int_eq(order_store_mark_created(store, &o, "{}", NULL, NULL, &won), SHOP_OK);
    return won;
}

START_TEST(test_insert_pending_and_get)
{
    int64_t q[] = {2, 5, 1};
    int64_t id = new_order(7, 42, q, 3, 1000);
    order_rec o = get(id);
    ck_assert_int_eq(o.id, id);
    ck_assert_int_eq(o.user_id, 7);
    ck_assert_int_eq(o.status, ORDER_PENDING);
    ck_assert_int_eq(o.user_coupon_id, 42);
    ck_assert_int_eq(o.payment_id, 0);
    ck_assert_int_eq(o.total_amount, 0);
    ck_assert_int_eq(o.created_at, 1000);
    ck_assert_int_eq(o.updated_at, 1000);
    ck_assert_uint_eq(o.n_lines, 3);
    /* Lines come back in the order they were asked for. */
    ck_assert_int_eq(o.lines[0].item_id, 30);
    ck_assert_int_eq(o.lines[0].quantity, 2);
    ck_assert_int_eq(o.lines[1].item_id, 20);
    ck_assert_int_eq(o.lines[1].quantity, 5);
    ck_assert_int_eq(o.lines[2].item_id, 10);
    ck_assert_int_eq(o.lines[2].unit_price, 0);
    int64_t id2 = new_order(8, 0, q, 1, 1001);
    ck_assert_int_eq(id2, id + 1);
    ck_assert_int_eq(get(id2).user_coupon_id, 0);
    order_rec missing;
    ck_assert_int_eq(order_store_get(store, id2 + 1, &missing), SHOP_ENOTFOUND);
}
END_TEST

START_TEST(test_mark_created_once)
{
    int64_t q[] = {2, 3};
    int64_t id = new_order(1, 0, q, 2, 1000);
    ck_assert(created(id, 500, 1005));
    order_rec o = get(id);
    ck_assert_int_eq(o.status, ORDER_CREATED);
    ck_assert_int_eq(o.lines[0].unit_price, 1000);
    ck_assert_int_eq(o.lines[1].unit_price, 2000);
    ck_assert_int_eq(o.total_amount, 2 * 1000 + 3 * 2000);
    ck_assert_int_eq(o.discount_amount, 500);
    ck_assert_int_eq(o.final_amount, 7500);
    ck_assert_int_eq(o.updated_at, 1005);
    ck_assert_int_eq(o.created_at, 1000);
    /* A second CREATED write is stale: it loses and changes nothing. */
    ck_assert(!created(id, 0, 1009));
    order_rec again = get(id);
    ck_assert_int_eq(again.discount_amount, 500);
    ck_assert_int_eq(again.updated_at, 1005);
}
END_TEST

START_TEST(test_stale_transitions_change_nothing)
{
    int64_t q[] = {1};
    bool won = true;
    int64_t id = new_order(1, 0, q, 1, 1000);
    /* PENDING -> FAILED wins; then the saga's CREATED write loses. */
    ck_assert_int_eq(
        order_store_transition(store, id, ORDER_PENDING, ORDER_FAILED, 1001, NULL, NULL, &won),
        SHOP_OK);
    ck_assert(won);
    ck_assert(!created(id, 0, 1002));
    order_rec o = get(id);
    ck_assert_int_eq(o.status, ORDER_FAILED);
    ck_assert_int_eq(o.updated_at, 1001);
    ck_assert_int_eq(
        order_store_transition(store, id, ORDER_PENDING, ORDER_FAILED, 1003, NULL, NULL, &won),
        SHOP_OK);
    ck_assert(!won);
    ck_assert_int_eq(get(id).updated_at, 1001);
    /* A transition that DESIGN.md does not have is refused outright. */
    ck_assert_int_eq(
        order_store_transition(store, id, ORDER_FAILED, ORDER_CREATED, 1004, NULL, NULL, &won),
        SHOP_EINVAL);
    ck_assert(!won);
    ck_assert_int_eq(
        order_store_transition(store, id, ORDER_CREATED, ORDER_CANCELLED, 1004, NULL, NULL, &won),
        SHOP_EINVAL);
    ck_assert_int_eq(get(id).status, ORDER_FAILED);
}
END_TEST

START_TEST(test_pay_and_cancel_cannot_both_win)
{
    int64_t q[] = {1};
    bool won = false;
    int64_t a = new_order(1, 0, q, 1, 1000);
    int64_t b = new_order(1, 0, q, 1, 1000);
    ck_assert(created(a, 0, 1001));
    ck_assert(created(b, 0, 1001));
    /* a: paid first, then the cancel loses. */
    ck_assert_int_eq(order_store_mark_paid(store, a, 55, 1002, NULL, NULL, &won), SHOP_OK);
    ck_assert(won);
    ck_assert_int_eq(
        order_store_transition(store, a, ORDER_CREATED, ORDER_CANCELLING, 1003, NULL, NULL, &won),
        SHOP_OK);
    ck_assert(!won);
    ck_assert_int_eq(order_store_mark_paid(store, a, 56, 1003, NULL, NULL, &won), SHOP_OK);
    ck_assert(!won);
    order_rec o = get(a);
    ck_assert_int_eq(o.status, ORDER_PAID);
    ck_assert_int_eq(o.payment_id, 55);
    ck_assert_int_eq(o.updated_at, 1002);
    /* b: cancelled first, then the payment loses. */
    ck_assert_int_eq(
        order_store_transition(store, b, ORDER_CREATED, ORDER_CANCELLING, 1002, NULL, NULL, &won),
        SHOP_OK);
    ck_assert(won);
    ck_assert_int_eq(order_store_mark_paid(store, b, 57, 1003, NULL, NULL, &won), SHOP_OK);
    ck_assert(!won);
    ck_assert_int_eq(get(b).status, ORDER_CANCELLING);
    ck_assert_int_eq(get(b).payment_id, 0);
    ck_assert_int_eq(
        order_store_transition(store, b, ORDER_CANCELLING, ORDER_CANCELLED, 1004, NULL, NULL, &won),
        SHOP_OK);
    ck_assert(won);
    ck_assert_int_eq(
        order_store_transition(store, b, ORDER_CANCELLING, ORDER_CANCELLED, 1005, NULL, NULL, &won),
        SHOP_OK);
    ck_assert(!won);
    ck_assert_int_eq(get(b).status, ORDER_CANCELLED);
    ck_assert_int_eq(get(b).updated_at, 1004);
}
END_TEST

typedef struct racer {
    int64_t id;
    bool pay; /* else cancel */
    bool won;
} racer;

static void *race_one(void *arg)
{
    racer *r = arg;
    if (r->pay)
        order_store_mark_paid(store, r->id, 9, 2000, NULL, NULL, &r->won);
    else
        order_store_transition(store, r->id, ORDER_CREATED, ORDER_CANCELLING, 2000, NULL, NULL,
                               &r->won);
    return NULL;
}

START_TEST(test_threads_race_pay_and_cancel)
{
    int64_t q[] = {1};
    for (int round = 0; round < 20; round++) {
        int64_t id = new_order(1, 0, q, 1, 1000);
        ck_assert(created(id, 0, 1001));
        racer r[8];
        pthread_t t[8];
        for (int i = 0; i < 8; i++) {
            r[i] = (racer){.id = id, .pay = i % 2 == 0, .won = false};
            ck_assert_int_eq(pthread_create(&t[i], NULL, race_one, &r[i]), 0);
        }
        int wins = 0, pay_wins = 0;
        for (int i = 0; i < 8; i++) {
            pthread_join(t[i], NULL);
            wins += r[i].won;
            pay_wins += r[i].won && r[i].pay;
        }
        ck_assert_int_eq(wins, 1);
        ck_assert_int_eq(get(id).status, pay_wins == 1 ? ORDER_PAID : ORDER_CANCELLING);
    }
}
END_TEST

START_TEST(test_list_stale_for_recovery)
{
    int64_t q[] = {1};
    bool won;
    int64_t ids[10];
    size_t n = 0;
    int64_t p1 = new_order(1, 0, q, 1, 1003);
    int64_t p2 = new_order(1, 0, q, 1, 1001);
    int64_t p3 = new_order(1, 0, q, 1, 1010);
    int64_t c1 = new_order(1, 0, q, 1, 1000);
    ck_assert(created(c1, 0, 1002));
    int64_t k1 = new_order(1, 0, q, 1, 1000);
    ck_assert(created(k1, 0, 1000));
    ck_assert_int_eq(
        order_store_transition(store, k1, ORDER_CREATED, ORDER_CANCELLING, 1004, NULL, NULL, &won),
        SHOP_OK);
    ck_assert_int_eq(order_store_list_stale(store, ORDER_PENDING, 1005, ids, 10, &n), SHOP_OK);
    ck_assert_uint_eq(n, 2);
    ck_assert_int_eq(ids[0], p2); /* oldest first */
    ck_assert_int_eq(ids[1], p1);
    ck_assert_int_eq(order_store_list_stale(store, ORDER_PENDING, 2000, ids, 2, &n), SHOP_OK);
    ck_assert_uint_eq(n, 2);
    ck_assert_int_eq(order_store_list_stale(store, ORDER_PENDING, 2000, ids, 10, &n), SHOP_OK);
    ck_assert_uint_eq(n, 3);
    ck_assert_int_eq(ids[2], p3);
    ck_assert_int_eq(order_store_list_stale(store, ORDER_PENDING, 1000, ids, 10, &n), SHOP_OK);
    ck_assert_uint_eq(n, 0);
    ck_assert_int_eq(order_store_list_stale(store, ORDER_CREATED, 1002, ids, 10, &n), SHOP_OK);
    ck_assert_uint_eq(n, 1);
    ck_assert_int_eq(ids[0], c1);
    ck_assert_int_eq(order_store_list_stale(store, ORDER_CREATED, 1001, ids, 10, &n), SHOP_OK);
    ck_assert_uint_eq(n, 0);
    ck_assert_int_eq(order_store_list_stale(store, ORDER_CANCELLING, 9999, ids, 10, &n), SHOP_OK);
    ck_assert_uint_eq(n, 1);
    ck_assert_int_eq(ids[0], k1);
    /* Once undone, a PENDING order leaves the list. */
    ck_assert_int_eq(
        order_store_transition(store, p2, ORDER_PENDING, ORDER_FAILED, 1006, NULL, NULL, &won),
        SHOP_OK);
    ck_assert_int_eq(order_store_list_stale(store, ORDER_PENDING, 1005, ids, 10, &n), SHOP_OK);
    ck_assert_uint_eq(n, 1);
    ck_assert_int_eq(ids[0], p1);
}
END_TEST

/* Review M1: recovery claims a stale PENDING order before it gives back its
 * stock and coupon; a saga that reaches PENDING -> CREATED after the claim
 * must lose, or a CREATED order would hold nothing. */
START_TEST(test_claim_for_undo_beats_mark_created)
{
    int64_t q[] = {2};
    bool won = false;
    int64_t id = new_order(1, 5, q, 1, 1000);
    ck_assert(!get(id).undoing);
    ck_assert_int_eq(order_store_claim_undo(store, id, &won), SHOP_OK);
    ck_assert(won);
    order_rec o = get(id);
    ck_assert_int_eq(o.status, ORDER_PENDING); /* the public status does not change */
    ck_assert(o.undoing);
    ck_assert_int_eq(o.updated_at, 1000);
    /* The late saga's CREATED loses and changes nothing. */
    ck_assert(!created(id, 0, 1010));
    o = get(id);
    ck_assert_int_eq(o.status, ORDER_PENDING);
    ck_assert_int_eq(o.total_amount, 0);
    ck_assert_int_eq(o.lines[0].unit_price, 0);
    ck_assert_int_eq(o.updated_at, 1000);
    /* Still listed for recovery; a retry claims it again; then FAILED. */
    int64_t ids[4];
    size_t n = 0;
    ck_assert_int_eq(order_store_list_stale(store, ORDER_PENDING, 1005, ids, 4, &n), SHOP_OK);
    ck_assert_uint_eq(n, 1);
    ck_assert_int_eq(ids[0], id);
    ck_assert_int_eq(order_store_claim_undo(store, id, &won), SHOP_OK);
    ck_assert(won);
    ck_assert_int_eq(
        order_store_transition(store, id, ORDER_PENDING, ORDER_FAILED, 1011, NULL, NULL, &won),
        SHOP_OK);
    ck_assert(won);
    ck_assert_int_eq(order_store_claim_undo(store, id, &won), SHOP_OK);
    ck_assert(!won);
    ck_assert_int_eq(get(id).status, ORDER_FAILED);
    /* The other order of events: CREATED first, then the claim loses. */
    int64_t id2 = new_order(1, 0, q, 1, 1000);
    ck_assert(created(id2, 0, 1001));
    ck_assert_int_eq(order_store_claim_undo(store, id2, &won), SHOP_OK);
    ck_assert(!won);
    o = get(id2);
    ck_assert_int_eq(o.status, ORDER_CREATED);
    ck_assert(!o.undoing);
    /* An unknown order cannot be claimed. */
    ck_assert_int_eq(order_store_claim_undo(store, id2 + 1, &won), SHOP_OK);
    ck_assert(!won);
}
END_TEST

typedef struct claim_racer {
    order_rec order;
    bool claim; /* else mark created */
    bool won;
    shop_err err;
} claim_racer;

static void *claim_race_one(void *arg)
{
    claim_racer *r = arg;
    if (r->claim)
        r->err = order_store_claim_undo(store, r->order.id, &r->won);
    else
        r->err = order_store_mark_created(store, &r->order, "{}", NULL, NULL, &r->won);
    return NULL;
}

START_TEST(test_threads_race_claim_and_mark_created)
{
    int64_t q[] = {1};
    for (int round = 0; round < 20; round++) {
        int64_t id = new_order(1, 0, q, 1, 1000);
        order_rec o = get(id);
        o.lines[0].unit_price = 100;
        o.total_amount = o.final_amount = 100;
        o.updated_at = 2000;
        claim_racer r[2] = {{.order = o, .claim = round % 2 == 0},
                            {.order = o, .claim = round % 2 != 0}};
        pthread_t t[2];
        for (int i = 0; i < 2; i++)
            ck_assert_int_eq(pthread_create(&t[i], NULL, claim_race_one, &r[i]), 0);
        for (int i = 0; i < 2; i++) {
            pthread_join(t[i], NULL);
            ck_assert_int_eq(r[i].err, SHOP_OK);
        }
        ck_assert_int_eq(r[0].won + r[1].won, 1);
        bool claimed = r[0].claim ? r[0].won : r[1].won;
        o = get(id);
        ck_assert_int_eq(o.status, claimed ? ORDER_PENDING : ORDER_CREATED);
        ck_assert(o.undoing == claimed);
    }
}
END_TEST

START_TEST(test_list_filters_and_pages)
{
    int64_t q[] = {1, 2};
    int64_t ids[6];
    order_rec out[10];
    size_t n;
    for (int i = 0; i < 6; i++)
        ids[i] = new_order(i % 2 == 0 ? 1 : 2, 0, q, 2, 1000);
    ck_assert(created(ids[2], 0, 1001));
    ck_assert(created(ids[3], 0, 1001));
    order_filter f = {.after_id = 0};
    ck_assert_int_eq(order_store_list(store, &f, out, 10, &n), SHOP_OK);
    ck_assert_uint_eq(n, 6);
    ck_assert_int_eq(out[0].id, ids[0]);
    ck_assert_uint_eq(out[5].n_lines, 2);
    ck_assert_int_eq(out[5].lines[1].quantity, 2);
    f.after_id = ids[3];
    ck_assert_int_eq(order_store_list(store, &f, out, 10, &n), SHOP_OK);
    ck_assert_uint_eq(n, 2);
    ck_assert_int_eq(out[0].id, ids[4]);
    f = (order_filter){.has_status = true, .status = ORDER_CREATED};
    ck_assert_int_eq(order_store_list(store, &f, out, 10, &n), SHOP_OK);
    ck_assert_uint_eq(n, 2);
    ck_assert_int_eq(out[0].id, ids[2]);
    ck_assert_int_eq(out[1].lines[0].unit_price, 1000);
    f = (order_filter){.user_id = 2};
    ck_assert_int_eq(order_store_list(store, &f, out, 2, &n), SHOP_OK);
    ck_assert_uint_eq(n, 2);
    ck_assert_int_eq(out[0].id, ids[1]);
    ck_assert_int_eq(out[1].id, ids[3]);
    f = (order_filter){.user_id = 2, .has_status = true, .status = ORDER_PENDING};
    ck_assert_int_eq(order_store_list(store, &f, out, 10, &n), SHOP_OK);
    ck_assert_uint_eq(n, 2);
    ck_assert_int_eq(out[0].id, ids[1]);
    ck_assert_int_eq(out[1].id, ids[5]);
}
END_TEST

/* Inserts a PENDING order bound to key; *seen is what the writer found. */
static shop_err keyed_order_seen(const char *key, const char *request, int64_t *id,
                                 idem_outcome *seen, idem_record *rec)
{
    order_create_req rq = {.user_id = 1, .n_lines = 1, .lines = {{.item_id = 1, .quantity = 1}}};
    order_idem idem = {.key = key, .request = request};
    return order_store_insert_pending(store, &rq, 1000, &idem, NULL, id, seen, rec);
}

static shop_err keyed_order(const char *key, const char *request, int64_t *id)
{
    return keyed_order_seen(key, request, id, NULL, NULL);
}

static idem_outcome lookup(const char *key, const char *request, idem_record *rec)
{
    order_idem idem = {.key = key, .request = request};
    return order_store_idem_lookup(store, &idem, rec);
}

START_TEST(test_idempotency_keys_follow_the_order)
{
    int64_t a = 0, b = 0, c = 0;
    idem_record rec;
    bool won;
    idem_outcome seen = IDEM_ERROR;
    ck_assert_int_eq(keyed_order_seen("k1", "/orders\nbody", &a, &seen, &rec), SHOP_OK);
    ck_assert_int_eq(seen, IDEM_NEW);
    ck_assert_ptr_null(rec.body);
    /* The key is taken: nothing else is inserted, and the writer says how
     * (review M2: the route answers it as its own lookup would). */
    ck_assert_int_eq(keyed_order_seen("k1", "/orders\nbody", &b, &seen, &rec), SHOP_ECONFLICT);
    ck_assert_int_eq(seen, IDEM_IN_PROGRESS);
    ck_assert_ptr_null(rec.body);
    ck_assert_int_eq(keyed_order_seen("k1", "/orders\nother", &b, &seen, &rec), SHOP_ECONFLICT);
    ck_assert_int_eq(seen, IDEM_MISMATCH);
    ck_assert_ptr_null(rec.body);
    order_rec missing;
    ck_assert_int_eq(order_store_get(store, a + 1, &missing), SHOP_ENOTFOUND);
    ck_assert_int_eq(lookup("k1", "/orders\nbody", &rec), IDEM_IN_PROGRESS);
    ck_assert_int_eq(rec.ref, a);
    idem_record_free(&rec);
    ck_assert_int_eq(lookup("k1", "/orders\nother", &rec), IDEM_MISMATCH);
    idem_record_free(&rec);
    /* CREATED answers the key in the same transaction. */
    ck_assert(created(a, 0, 1001));
    ck_assert_int_eq(lookup("k1", "/orders\nbody", &rec), IDEM_REPLAY);
    ck_assert_int_eq(rec.status, 201);
    ck_assert_str_eq(rec.body, "{}");
    idem_record_free(&rec);
    /* Answered: a second insert under the key gets the stored answer back
     * (a replay), or 422 for another request; never "in use". */
    ck_assert_int_eq(keyed_order_seen("k1", "/orders\nbody", &b, &seen, &rec), SHOP_ECONFLICT);
    ck_assert_int_eq(seen, IDEM_REPLAY);
    ck_assert_int_eq(rec.status, 201);
    ck_assert_str_eq(rec.body, "{}");
    idem_record_free(&rec);
    ck_assert_int_eq(keyed_order_seen("k1", "/orders\nother", &b, &seen, &rec), SHOP_ECONFLICT);
    ck_assert_int_eq(seen, IDEM_MISMATCH);
    ck_assert_ptr_null(rec.body);
    ck_assert_int_eq(order_store_get(store, a + 1, &missing), SHOP_ENOTFOUND);
    /* A 5xx failure: FAILED forgets the unanswered key, so a retry starts afresh. */
    ck_assert_int_eq(keyed_order("k2", "/orders\nbody", &b), SHOP_OK);
    ck_assert_int_eq(
        order_store_transition(store, b, ORDER_PENDING, ORDER_FAILED, 1002, NULL, NULL, &won),
        SHOP_OK);
    ck_assert_int_eq(lookup("k2", "/orders\nbody", &rec), IDEM_NEW);
    idem_record_free(&rec);
    /* A 4xx failure: its answer is kept through FAILED. */
    ck_assert_int_eq(keyed_order("k3", "/orders\nbody", &c), SHOP_OK);
    ck_assert_int_eq(order_store_idem_answer(store, c, 409, "{\"code\":\"OUT_OF_STOCK\"}", NULL),
                     SHOP_OK);
    ck_assert_int_eq(
        order_store_transition(store, c, ORDER_PENDING, ORDER_FAILED, 1002, NULL, NULL, &won),
        SHOP_OK);
    ck_assert_int_eq(lookup("k3", "/orders\nbody", &rec), IDEM_REPLAY);
    ck_assert_int_eq(rec.status, 409);
    ck_assert_str_eq(rec.body, "{\"code\":\"OUT_OF_STOCK\"}");
    idem_record_free(&rec);
    ck_assert_int_eq(keyed_order_seen("k3", "/orders\nbody", &b, &seen, &rec), SHOP_ECONFLICT);
    ck_assert_int_eq(seen, IDEM_REPLAY);
    ck_assert_int_eq(rec.status, 409);
    ck_assert_str_eq(rec.body, "{\"code\":\"OUT_OF_STOCK\"}");
    idem_record_free(&rec);
    /* An answer with no order behind it (a 404 for an unknown user). */
    order_idem k4 = {.key = "k4", .request = "/orders\nx"};
    ck_assert_int_eq(order_store_idem_put(store, &k4, 404, "{\"code\":\"USER_NOT_FOUND\"}"),
                     SHOP_OK);
    ck_assert_int_eq(order_store_idem_put(store, &k4, 400, "{}"), SHOP_OK);
    ck_assert_int_eq(lookup("k4", "/orders\nx", &rec), IDEM_REPLAY);
    ck_assert_int_eq(rec.status, 404);
    idem_record_free(&rec);
    ck_assert_int_eq(order_store_idem_purge(store, 1000 + 2 * 86400), SHOP_OK);
}
END_TEST

/* ---- the saga log ---------------------------------------------------------- */

/* Adds a step to log: name at at_us, a call to peer (NULL: a state change). */
static void add_step(order_steps *log, const char *name, int64_t at_us, const char *peer,
                     int status)
{
    order_step *st = order_steps_next(log);
    ck_assert_ptr_nonnull(st);
    order_step_set(st, at_us, log->prefix, name, peer, status, NULL, 2, log->request_id, false);
}

/* The names of order id's stored steps, joined by spaces. */
static void stored_names(int64_t id, char *out, size_t len)
{
    order_step steps[32];
    size_t n = 0, used = 0;
    ck_assert_int_eq(order_store_steps(store, id, steps, 32, &n), SHOP_OK);
    out[0] = '\0';
    for (size_t i = 0; i < n; i++)
        used += (size_t)snprintf(out + used, len - used, "%s%s", i > 0 ? " " : "", steps[i].step);
}

START_TEST(test_saga_log_goes_with_state_changes)
{
    order_steps log;
    order_step state;
    char names[512];
    bool won;
    order_steps_init(&log, "rid-1", NULL);
    add_step(&log, "user.check", 100, "user", 200);
    add_step(&log, "order.pending", 101, NULL, 0);
    order_create_req rq = {.user_id = 1, .n_lines = 1, .lines = {{.item_id = 4, .quantity = 1}}};
    int64_t id = 0;
    ck_assert_int_eq(order_store_insert_pending(store, &rq, 1000, NULL, &log, &id, NULL, NULL),
                     SHOP_OK);
    ck_assert_int_eq(log.n, 0); /* written with the PENDING row */
    stored_names(id, names, sizeof names);
    ck_assert_str_eq(names, "user.check order.pending");
    /* The calls wait for the next state change and go in its transaction. */
    add_step(&log, "stock.check", 102, "item", 200);
    add_step(&log, "stock.deduct", 103, "item", 200);
    stored_names(id, names, sizeof names);
    ck_assert_str_eq(names, "user.check order.pending");
    order_rec o = get(id);
    o.updated_at = 1001;
    order_step_set(&state, 104, NULL, "order.created", NULL, 0, NULL, 0, "rid-1", false);
    ck_assert_int_eq(order_store_mark_created(store, &o, "{}", &log, &state, &won), SHOP_OK);
    ck_assert(won);
    ck_assert_int_eq(log.n, 0);
    stored_names(id, names, sizeof names);
    ck_assert_str_eq(names, "user.check order.pending stock.check stock.deduct order.created");
    /* A write that loses keeps the calls (they happened) but not its state step. */
    add_step(&log, "late.call", 105, "item", 503);
    ck_assert_int_eq(order_store_mark_created(store, &o, "{}", &log, &state, &won), SHOP_OK);
    ck_assert(!won);
    ck_assert_int_eq(log.n, 0);
    stored_names(id, names, sizeof names);
    ck_assert_str_eq(names,
                     "user.check order.pending stock.check stock.deduct order.created late.call");
    /* A refused transition writes nothing and keeps the log. */
    add_step(&log, "kept", 106, NULL, 0);
    ck_assert_int_eq(
        order_store_transition(store, id, ORDER_CREATED, ORDER_FAILED, 1002, &log, &state, &won),
        SHOP_EINVAL);
    ck_assert_int_eq(log.n, 1);
    /* ...until it is flushed on its own. */
    ck_assert_int_eq(order_store_steps_flush(store, id, &log), SHOP_OK);
    ck_assert_int_eq(log.n, 0);
    ck_assert_int_eq(order_store_steps_flush(store, id, &log), SHOP_OK); /* nothing to do */
    /* Cancel, mark paid: each state step with its change. */
    order_step_set(&state, 107, NULL, "order.cancelling", NULL, 0, NULL, 0, "rid-2", false);
    ck_assert_int_eq(order_store_transition(store, id, ORDER_CREATED, ORDER_CANCELLING, 1003, &log,
                                            &state, &won),
                     SHOP_OK);
    ck_assert(won);
    order_step_set(&state, 108, NULL, "order.paid", NULL, 0, NULL, 0, "rid-3", false);
    state.payment_id = 9;
    ck_assert_int_eq(order_store_mark_paid(store, id, 9, 1004, &log, &state, &won), SHOP_OK);
    ck_assert(!won); /* CANCELLING: no order.paid */
    add_step(&log, "coupon.restore", 109, "coupon", 200);
    ck_assert_int_eq(order_store_idem_answer(store, id, 409, "{}", &log), SHOP_OK);
    ck_assert_int_eq(log.n, 0);
    stored_names(id, names, sizeof names);
    ck_assert_str_eq(names, "user.check order.pending stock.check stock.deduct order.created "
                            "late.call kept order.cancelling coupon.restore");
}
END_TEST

START_TEST(test_saga_log_reads_back_in_time_order)
{
    int64_t q[] = {1};
    int64_t a = new_order(1, 0, q, 1, 1000), b = new_order(2, 0, q, 1, 1000);
    order_steps log;
    order_steps_init(&log, "rid-7", NULL);
    add_step(&log, "third", 300, "item", 200);
    add_step(&log, "first", 100, "coupon", 409);
    add_step(&log, "second-a", 200, NULL, 0);
    add_step(&log, "second-b", 200, NULL, 0); /* a tie: as written */
    ck_assert_int_eq(order_store_steps_flush(store, a, &log), SHOP_OK);
    add_step(&log, "other order", 150, "item", 200);
    ck_assert_int_eq(order_store_steps_flush(store, b, &log), SHOP_OK);
    order_step steps[8];
    size_t n = 0;
    ck_assert_int_eq(order_store_steps(store, a, steps, 8, &n), SHOP_OK);
    ck_assert_int_eq(n, 4);
    ck_assert_str_eq(steps[0].step, "first");
    ck_assert_str_eq(steps[1].step, "second-a");
    ck_assert_str_eq(steps[2].step, "second-b");
    ck_assert_str_eq(steps[3].step, "third");
    /* Every field comes back as written; absent ones as empty. */
    ck_assert_int_eq(steps[0].at_us, 100);
    ck_assert_str_eq(steps[0].peer, "coupon");
    ck_assert_int_eq(steps[0].http_status, 409);
    ck_assert_int_eq(steps[0].duration_ms, 2);
    ck_assert_str_eq(steps[0].request_id, "rid-7");
    ck_assert(!steps[0].compensation);
    ck_assert_int_eq(steps[0].payment_id, 0);
    ck_assert_str_eq(steps[1].peer, "");
    ck_assert_int_eq(steps[1].http_status, 0);
    ck_assert_str_eq(steps[1].error, "");
    /* Errors, compensation and payment ids round-trip. */
    order_step *st = order_steps_next(&log);
    order_step_set(st, 400, "recovery.", "stock.restore", "item", 0, "timeout", 2000, NULL, true);
    st->payment_id = 77;
    ck_assert_int_eq(order_store_steps_flush(store, a, &log), SHOP_OK);
    ck_assert_int_eq(order_store_steps(store, a, steps, 8, &n), SHOP_OK);
    ck_assert_int_eq(n, 5);
    ck_assert_str_eq(steps[4].step, "recovery.stock.restore");
    ck_assert_str_eq(steps[4].error, "timeout");
    ck_assert_int_eq(steps[4].duration_ms, 2000);
    ck_assert_str_eq(steps[4].request_id, "");
    ck_assert(steps[4].compensation);
    ck_assert_int_eq(steps[4].payment_id, 77);
    /* At most cap, the oldest first; another order's are apart. */
    ck_assert_int_eq(order_store_steps(store, a, steps, 2, &n), SHOP_OK);
    ck_assert_int_eq(n, 2);
    ck_assert_str_eq(steps[1].step, "second-a");
    ck_assert_int_eq(order_store_steps(store, b, steps, 8, &n), SHOP_OK);
    ck_assert_int_eq(n, 1);
    ck_assert_str_eq(steps[0].step, "other order");
    ck_assert_int_eq(order_store_steps(store, b + 1, steps, 8, &n), SHOP_OK);
    ck_assert_int_eq(n, 0);
}
END_TEST

START_TEST(test_saga_log_rolls_back_with_its_write)
{
    /* A keyed insert that finds its key taken writes nothing, steps included. */
    int64_t a = 0, b = 0;
    order_steps log;
    char names[256];
    order_steps_init(&log, "rid", NULL);
    ck_assert_int_eq(keyed_order("k", "/orders\nbody", &a), SHOP_OK);
    add_step(&log, "user.check", 100, "user", 200);
    order_create_req rq = {.user_id = 1, .n_lines = 1, .lines = {{.item_id = 1, .quantity = 1}}};
    order_idem idem = {.key = "k", .request = "/orders\nbody"};
    ck_assert_int_eq(order_store_insert_pending(store, &rq, 1000, &idem, &log, &b, NULL, NULL),
                     SHOP_ECONFLICT);
    ck_assert_int_eq(log.n, 1);
    stored_names(a, names, sizeof names);
    ck_assert_str_eq(names, "");
    stored_names(a + 1, names, sizeof names);
    ck_assert_str_eq(names, "");
}
END_TEST

START_TEST(test_survives_reopen)
{
    int64_t q[] = {4};
    int64_t id = new_order(3, 9, q, 1, 1000);
    ck_assert(created(id, 100, 1001));
    db_close(store);
    store = NULL;
    ck_assert_int_eq(order_store_open(db_path, &store), 0);
    order_rec o = get(id);
    ck_assert_int_eq(o.status, ORDER_CREATED);
    ck_assert_int_eq(o.total_amount, 4000);
    ck_assert_int_eq(o.final_amount, 3900);
    ck_assert_int_eq(o.user_coupon_id, 9);
    /* Ids are never reused, even after a reopen. */
    ck_assert_int_eq(new_order(3, 0, q, 1, 1002), id + 1);
}
END_TEST

Suite *order_store_suite(void);

Suite *order_store_suite(void)
{
    Suite *s = suite_create("order_store");
    TCase *tc = tcase_create("store");
    tcase_add_checked_fixture(tc, setup, teardown);
    tcase_set_timeout(tc, 20);
    tcase_add_test(tc, test_insert_pending_and_get);
    tcase_add_test(tc, test_mark_created_once);
    tcase_add_test(tc, test_stale_transitions_change_nothing);
    tcase_add_test(tc, test_pay_and_cancel_cannot_both_win);
    tcase_add_test(tc, test_threads_race_pay_and_cancel);
    tcase_add_test(tc, test_list_stale_for_recovery);
    tcase_add_test(tc, test_claim_for_undo_beats_mark_created);
    tcase_add_test(tc, test_threads_race_claim_and_mark_created);
    tcase_add_test(tc, test_list_filters_and_pages);
    tcase_add_test(tc, test_idempotency_keys_follow_the_order);
    tcase_add_test(tc, test_survives_reopen);
    tcase_add_test(tc, test_saga_log_goes_with_state_changes);
    tcase_add_test(tc, test_saga_log_reads_back_in_time_order);
    tcase_add_test(tc, test_saga_log_rolls_back_with_its_write);
    suite_add_tcase(s, tc);
    return s;
}
