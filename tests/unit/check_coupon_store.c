/* Unit tests of coupon_store against a fresh SQLite file per test: seed, the
 * issue limit and once-per-user rule (also under real threads), use that is
 * conditional and keyed by order, restore that undoes only that order's use,
 * tombstones, listings, and the upgrade and purge of stored idempotent
 * answers. */
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <check.h>

#include "../../services/coupon/coupon_store.h"
#include "idempotency.h"

#define NOW 1800000000LL   /* 2027-01-15 */
#define LATER 1900000000LL /* expiry of test coupons */

static char tmp_dir[64];
static char db_path[128];
static db *store;

static void setup(void)
{
    snprintf(tmp_dir, sizeof tmp_dir, "/tmp/coupon-store-XXXXXX");
    ck_assert_ptr_nonnull(mkdtemp(tmp_dir));
    snprintf(db_path, sizeof db_path, "%s/coupon.db", tmp_dir);
    store = NULL;
    ck_assert_int_eq(coupon_store_open(db_path, &store), 0);
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

static int64_t new_coupon(coupon_discount_type type, int64_t value, int64_t total,
                          int64_t expires_at)
{
    coupon c;
    memset(&c, 0, sizeof c);
    snprintf(c.name, sizeof c.name, "test coupon");
    c.discount_type = type;
    c.discount_value = value;
    c.total_quantity = total;
    c.expires_at = expires_at;
    c.issued_quantity = 99; /* ignored */
    ck_assert_int_eq(coupon_store_create(store, &c), SHOP_OK);
    ck_assert_int_gt(c.id, 0);
    ck_assert_int_eq(c.issued_quantity, 0);
    return c.id;
}

static int64_t issued_of(int64_t coupon_id)
{
    coupon c;
    ck_assert_int_eq(coupon_store_get(store, coupon_id, &c), COUPON_OK);
    return c.issued_quantity;
}

static int64_t issue_ok(int64_t coupon_id, int64_t user_id)
{
    coupon_user_coupon uc;
    ck_assert_int_eq(coupon_store_issue(store, coupon_id, user_id, NOW, &uc), COUPON_OK);
    ck_assert_int_eq(uc.coupon_id, coupon_id);
    ck_assert_int_eq(uc.user_id, user_id);
    ck_assert(!uc.is_used);
    ck_assert_int_eq(uc.used_order_id, 0);
    return uc.id;
}

static coupon_user_coupon get_uc(int64_t id)
{
    coupon_user_coupon uc;
    ck_assert_int_eq(coupon_store_get_user_coupon(store, id, &uc), COUPON_OK);
    return uc;
}

static size_t count_for_user(int64_t user_id)
{
    coupon_list_query q = {.user_id = user_id, .used = -1, .after_id = 0, .limit = -1};
    coupon_user_coupon *items = NULL;
    size_t n = 99;
    ck_assert_int_eq(coupon_store_list(store, &q, &items, &n), SHOP_OK);
    free(items);
    return n;
}

START_TEST(test_seed)
{
    ck_assert(coupon_store_is_empty(store));
    ck_assert_int_eq(coupon_store_seed(store), SHOP_OK);
    ck_assert(!coupon_store_is_empty(store));
    const char *names[] = {"5,000 off", "10% off", "Last one"};
    const coupon_discount_type types[] = {COUPON_FIXED, COUPON_PERCENT, COUPON_FIXED};
    const int64_t values[] = {5000, 10, 1000}, totals[] = {100, 100, 1}, issued[] = {1, 1, 0};
    for (int64_t i = 0; i < 3; i++) {
        coupon c;
        ck_assert_int_eq(coupon_store_get(store, i + 1, &c), COUPON_OK);
        ck_assert_int_eq(c.id, i + 1);
        ck_assert_str_eq(c.name, names[i]);
        ck_assert_int_eq(c.discount_type, types[i]);
        ck_assert_int_eq(c.discount_value, values[i]);
        ck_assert_int_eq(c.total_quantity, totals[i]);
        ck_assert_int_eq(c.issued_quantity, issued[i]);
        ck_assert_int_eq(c.expires_at, 1924991999); /* 2030-12-31T23:59:59Z */
    }
    coupon_user_coupon uc = get_uc(1);
    ck_assert_int_eq(uc.coupon_id, 1);
    ck_assert_int_eq(uc.user_id, 1);
    ck_assert(!uc.is_used);
    uc = get_uc(2);
    ck_assert_int_eq(uc.coupon_id, 2);
    ck_assert_int_eq(uc.user_id, 2);
    ck_assert_str_eq(uc.name, "10% off");
    ck_assert_int_eq(uc.discount_type, COUPON_PERCENT);
    ck_assert_int_eq(coupon_store_get_user_coupon(store, 3, &uc), COUPON_NOT_FOUND);
    /* A seeded coupon counts its seeded issue: user 1 cannot get coupon 1 again. */
    ck_assert_int_eq(coupon_store_issue(store, 1, 1, NOW, &uc), COUPON_ALREADY_ISSUED);
    issue_ok(3, 1);
    ck_assert_int_eq(coupon_store_issue(store, 3, 2, NOW, &uc), COUPON_SOLD_OUT);
}
END_TEST

START_TEST(test_create_and_get)
{
    coupon c;
    ck_assert_int_eq(coupon_store_get(store, 1, &c), COUPON_NOT_FOUND);
    int64_t id = new_coupon(COUPON_PERCENT, 15, 7, LATER);
    ck_assert_int_eq(coupon_store_get(store, id, &c), COUPON_OK);
    ck_assert_str_eq(c.name, "test coupon");
    ck_assert_int_eq(c.discount_type, COUPON_PERCENT);
    ck_assert_int_eq(c.discount_value, 15);
    ck_assert_int_eq(c.total_quantity, 7);
    ck_assert_int_eq(c.issued_quantity, 0);
    ck_assert_int_eq(c.expires_at, LATER);
    ck_assert_int_eq(new_coupon(COUPON_FIXED, 1, 1, LATER), id + 1);
}
END_TEST

START_TEST(test_issue_limit)
{
    int64_t id = new_coupon(COUPON_FIXED, 1000, 3, LATER);
    coupon_user_coupon uc;
    int64_t first = issue_ok(id, 11);
    ck_assert_int_eq(issue_ok(id, 12), first + 1);
    ck_assert_int_eq(issue_ok(id, 13), first + 2);
    ck_assert_int_eq(coupon_store_issue(store, id, 14, NOW, &uc), COUPON_SOLD_OUT);
    ck_assert_int_eq(coupon_store_issue(store, id, 15, NOW, &uc), COUPON_SOLD_OUT);
    ck_assert_int_eq(issued_of(id), 3);
    /* A refused issue leaves no row behind. */
    ck_assert_uint_eq(count_for_user(14), 0);
    ck_assert_uint_eq(count_for_user(15), 0);
    ck_assert_uint_eq(count_for_user(11), 1);
    /* Ids keep counting from the last real row. */
    int64_t other = new_coupon(COUPON_FIXED, 1000, 3, LATER);
    ck_assert_int_eq(issue_ok(other, 14), first + 3);
}
END_TEST

START_TEST(test_issue_once_per_user)
{
    int64_t id = new_coupon(COUPON_FIXED, 1000, 10, LATER);
    coupon_user_coupon uc;
    int64_t uc_id = issue_ok(id, 1);
    ck_assert_int_eq(coupon_store_issue(store, id, 1, NOW, &uc), COUPON_ALREADY_ISSUED);
    ck_assert_int_eq(coupon_store_issue(store, id, 1, NOW, &uc), COUPON_ALREADY_ISSUED);
    ck_assert_int_eq(issued_of(id), 1);
    ck_assert_uint_eq(count_for_user(1), 1);
    ck_assert_int_eq(get_uc(uc_id).coupon_id, id);
    /* Another coupon for the same user is fine. */
    int64_t id2 = new_coupon(COUPON_PERCENT, 10, 10, LATER);
    issue_ok(id2, 1);
    ck_assert_uint_eq(count_for_user(1), 2);
}
END_TEST

START_TEST(test_issue_already_issued_before_sold_out)
{
    int64_t id = new_coupon(COUPON_FIXED, 1000, 1, LATER);
    coupon_user_coupon uc;
    issue_ok(id, 1);
    ck_assert_int_eq(coupon_store_issue(store, id, 1, NOW, &uc), COUPON_ALREADY_ISSUED);
    ck_assert_int_eq(coupon_store_issue(store, id, 2, NOW, &uc), COUPON_SOLD_OUT);
    ck_assert_int_eq(issued_of(id), 1);
}
END_TEST

START_TEST(test_issue_expired_and_missing)
{
    int64_t id = new_coupon(COUPON_FIXED, 1000, 5, NOW);
    coupon_user_coupon uc;
    ck_assert_int_eq(coupon_store_issue(store, id, 1, NOW, &uc), COUPON_EXPIRED);
    ck_assert_int_eq(coupon_store_issue(store, id, 1, NOW + 1, &uc), COUPON_EXPIRED);
    ck_assert_int_eq(issued_of(id), 0);
    ck_assert_uint_eq(count_for_user(1), 0);
    ck_assert_int_eq(coupon_store_issue(store, id, 1, NOW - 1, &uc), COUPON_OK);
    ck_assert_int_eq(coupon_store_issue(store, id + 1, 1, NOW, &uc), COUPON_NOT_FOUND);
}
END_TEST

typedef struct issue_arg {
    int64_t coupon_id;
    int64_t user_id;
    coupon_outcome outcome;
} issue_arg;

static void *issue_thread(void *p)
{
    issue_arg *a = p;
    coupon_user_coupon uc;
    a->outcome = coupon_store_issue(store, a->coupon_id, a->user_id, NOW, &uc);
    return NULL;
}

START_TEST(test_issue_race)
{
    enum { N = 24 };
    int64_t id = new_coupon(COUPON_FIXED, 1000, 5, LATER);
    pthread_t th[N];
    issue_arg args[N];
    for (int i = 0; i < N; i++) {
        /* Users 1..12, each twice: the second of a pair must not count. */
        args[i] = (issue_arg){.coupon_id = id, .user_id = 1 + i % 12};
        ck_assert_int_eq(pthread_create(&th[i], NULL, issue_thread, &args[i]), 0);
    }
    int ok = 0, sold_out = 0, already = 0, other = 0;
    for (int i = 0; i < N; i++) {
        pthread_join(th[i], NULL);
        if (args[i].outcome == COUPON_OK)
            ok++;
        else if (args[i].outcome == COUPON_SOLD_OUT)
            sold_out++;
        else if (args[i].outcome == COUPON_ALREADY_ISSUED)
            already++;
        else
            other++;
    }
    ck_assert_int_eq(ok, 5);
    ck_assert_int_eq(other, 0);
    ck_assert_int_eq(ok + sold_out + already, N);
    ck_assert_int_eq(issued_of(id), 5);
    coupon_list_query q = {.user_id = 0, .used = -1, .after_id = 0, .limit = -1};
    coupon_user_coupon *items = NULL;
    size_t n = 0;
    ck_assert_int_eq(coupon_store_list(store, &q, &items, &n), SHOP_OK);
    ck_assert_uint_eq(n, 5);
    for (size_t i = 0; i < n; i++)
        for (size_t j = i + 1; j < n; j++)
            ck_assert_int_ne(items[i].user_id, items[j].user_id);
    free(items);
}
END_TEST

START_TEST(test_use_conditional)
{
    int64_t id = new_coupon(COUPON_FIXED, 5000, 10, LATER);
    int64_t uc_id = issue_ok(id, 1);
    coupon_user_coupon uc;
    ck_assert_int_eq(coupon_store_use(store, uc_id, 100, 2, NOW, &uc), COUPON_NOT_OWNER);
    ck_assert(!get_uc(uc_id).is_used);
    ck_assert_int_eq(coupon_store_use(store, uc_id + 1, 100, 1, NOW, &uc), COUPON_NOT_FOUND);
    ck_assert_int_eq(coupon_store_use(store, uc_id, 100, 1, NOW, &uc), COUPON_OK);
    ck_assert(uc.is_used);
    ck_assert_int_eq(uc.used_order_id, 100);
    ck_assert_int_eq(uc.discount_value, 5000);
    uc = get_uc(uc_id);
    ck_assert(uc.is_used);
    ck_assert_int_eq(uc.used_order_id, 100);
    /* Used: another order is refused and changes nothing. */
    ck_assert_int_eq(coupon_store_use(store, uc_id, 101, 1, NOW, &uc), COUPON_USED);
    ck_assert_int_eq(get_uc(uc_id).used_order_id, 100);
}
END_TEST

START_TEST(test_use_expired)
{
    int64_t id = new_coupon(COUPON_PERCENT, 10, 10, NOW + 10);
    int64_t uc_id = issue_ok(id, 1);
    coupon_user_coupon uc;
    ck_assert_int_eq(coupon_store_use(store, uc_id, 100, 1, NOW + 10, &uc), COUPON_EXPIRED);
    ck_assert_int_eq(coupon_store_use(store, uc_id, 100, 1, NOW + 99, &uc), COUPON_EXPIRED);
    ck_assert(!get_uc(uc_id).is_used);
    ck_assert_int_eq(coupon_store_use(store, uc_id, 100, 1, NOW + 9, &uc), COUPON_OK);
}
END_TEST

START_TEST(test_use_keyed_repeat)
{
    int64_t id = new_coupon(COUPON_FIXED, 5000, 10, NOW + 10);
    int64_t uc_id = issue_ok(id, 1);
    coupon_user_coupon uc;
    ck_assert_int_eq(coupon_store_use(store, uc_id, 100, 1, NOW, &uc), COUPON_OK);
    /* The same order again: 200 again, also after expiry (it was used before). */
    ck_assert_int_eq(coupon_store_use(store, uc_id, 100, 1, NOW, &uc), COUPON_OK);
    ck_assert_int_eq(uc.used_order_id, 100);
    ck_assert_int_eq(coupon_store_use(store, uc_id, 100, 1, NOW + 50, &uc), COUPON_OK);
    /* The same order but another user is not a repeat. */
    ck_assert_int_eq(coupon_store_use(store, uc_id, 100, 2, NOW, &uc), COUPON_NOT_OWNER);
    uc = get_uc(uc_id);
    ck_assert(uc.is_used);
    ck_assert_int_eq(uc.used_order_id, 100);
}
END_TEST

START_TEST(test_restore_only_that_order)
{
    int64_t id = new_coupon(COUPON_FIXED, 5000, 10, LATER);
    int64_t uc_a = issue_ok(id, 1), uc_b = issue_ok(id, 2);
    coupon_user_coupon uc;
    int n = -1;
    ck_assert_int_eq(coupon_store_use(store, uc_a, 10, 1, NOW, &uc), COUPON_OK);
    ck_assert_int_eq(coupon_store_use(store, uc_b, 20, 2, NOW, &uc), COUPON_OK);
    /* Another order's restore leaves this use alone. */
    ck_assert_int_eq(coupon_store_restore(store, 11, NOW, &n), SHOP_OK);
    ck_assert_int_eq(n, 0);
    ck_assert(get_uc(uc_a).is_used);
    ck_assert(get_uc(uc_b).is_used);
    ck_assert_int_eq(coupon_store_restore(store, 10, NOW, &n), SHOP_OK);
    ck_assert_int_eq(n, 1);
    uc = get_uc(uc_a);
    ck_assert(!uc.is_used);
    ck_assert_int_eq(uc.used_order_id, 0);
    ck_assert_int_eq(get_uc(uc_b).used_order_id, 20);
    /* Once: a repeat restores nothing. */
    ck_assert_int_eq(coupon_store_restore(store, 10, NOW, &n), SHOP_OK);
    ck_assert_int_eq(n, 0);
    /* The freed coupon can serve another order, and a late repeat of the
     * first order's restore does not take it from that one. */
    ck_assert_int_eq(coupon_store_use(store, uc_a, 30, 1, NOW, &uc), COUPON_OK);
    ck_assert_int_eq(coupon_store_restore(store, 10, NOW, &n), SHOP_OK);
    ck_assert_int_eq(n, 0);
    uc = get_uc(uc_a);
    ck_assert(uc.is_used);
    ck_assert_int_eq(uc.used_order_id, 30);
}
END_TEST

START_TEST(test_tombstone)
{
    int64_t id = new_coupon(COUPON_FIXED, 5000, 10, LATER);
    int64_t uc_id = issue_ok(id, 1);
    coupon_user_coupon uc;
    int n = -1;
    /* Restore before the use (the use timed out and has not arrived yet). */
    ck_assert_int_eq(coupon_store_restore(store, 40, NOW, &n), SHOP_OK);
    ck_assert_int_eq(n, 0);
    ck_assert_int_eq(coupon_store_use(store, uc_id, 40, 1, NOW, &uc), COUPON_ORDER_RELEASED);
    ck_assert(!get_uc(uc_id).is_used);
    /* After use and restore, the order cannot take it again either. */
    ck_assert_int_eq(coupon_store_use(store, uc_id, 41, 1, NOW, &uc), COUPON_OK);
    ck_assert_int_eq(coupon_store_restore(store, 41, NOW, &n), SHOP_OK);
    ck_assert_int_eq(n, 1);
    ck_assert_int_eq(coupon_store_use(store, uc_id, 41, 1, NOW, &uc), COUPON_ORDER_RELEASED);
    ck_assert(!get_uc(uc_id).is_used);
    /* The tombstone wins even over a user coupon that does not exist. */
    ck_assert_int_eq(coupon_store_use(store, uc_id + 9, 41, 1, NOW, &uc), COUPON_ORDER_RELEASED);
    /* Another order still can. */
    ck_assert_int_eq(coupon_store_use(store, uc_id, 42, 1, NOW, &uc), COUPON_OK);
}
END_TEST

START_TEST(test_list)
{
    int64_t c1 = new_coupon(COUPON_FIXED, 5000, 10, LATER);
    int64_t c2 = new_coupon(COUPON_PERCENT, 10, 10, LATER);
    int64_t a = issue_ok(c1, 1), b = issue_ok(c1, 2), c = issue_ok(c2, 1);
    coupon_user_coupon uc, *items = NULL;
    size_t n = 0;
    ck_assert_int_eq(coupon_store_use(store, b, 7, 2, NOW, &uc), COUPON_OK);
    coupon_list_query q = {.user_id = 1, .used = -1, .after_id = 0, .limit = -1};
    ck_assert_int_eq(coupon_store_list(store, &q, &items, &n), SHOP_OK);
    ck_assert_uint_eq(n, 2);
    ck_assert_int_eq(items[0].id, a);
    ck_assert_int_eq(items[1].id, c);
    ck_assert_str_eq(items[1].name, "test coupon");
    ck_assert_int_eq(items[1].discount_type, COUPON_PERCENT);
    free(items);
    q = (coupon_list_query){.user_id = 0, .used = 1, .after_id = 0, .limit = -1};
    ck_assert_int_eq(coupon_store_list(store, &q, &items, &n), SHOP_OK);
    ck_assert_uint_eq(n, 1);
    ck_assert_int_eq(items[0].id, b);
    ck_assert_int_eq(items[0].used_order_id, 7);
    free(items);
    q = (coupon_list_query){.user_id = 0, .used = 0, .after_id = a, .limit = 5};
    ck_assert_int_eq(coupon_store_list(store, &q, &items, &n), SHOP_OK);
    ck_assert_uint_eq(n, 1);
    ck_assert_int_eq(items[0].id, c);
    free(items);
    q = (coupon_list_query){.user_id = 0, .used = -1, .after_id = 0, .limit = 2};
    ck_assert_int_eq(coupon_store_list(store, &q, &items, &n), SHOP_OK);
    ck_assert_uint_eq(n, 2);
    ck_assert_int_eq(items[1].id, b);
    free(items);
    q = (coupon_list_query){.user_id = 99, .used = -1, .after_id = 0, .limit = -1};
    ck_assert_int_eq(coupon_store_list(store, &q, &items, &n), SHOP_OK);
    ck_assert_uint_eq(n, 0);
    ck_assert_ptr_null(items);
}
END_TEST

#define ISSUE_SCOPE "POST /coupons/{couponId}/issue"

/* Looks key up in the issue scope of d with the request text of an issue of
 * coupon 1 to user 1; returns the outcome, *rec filled on a replay. */
static idem_outcome lookup_issue_key(db *d, const char *key, idem_record *rec)
{
    db_conn *r = db_reader(d);
    idem_outcome o = idem_lookup(r, ISSUE_SCOPE, key, "/coupons/1/issue\n{\"userId\":1}", rec);
    db_reader_done(d, r);
    return o;
}

/* A version-1 database (the service's own key table) opens, and its stored
 * answers are carried into the common table and still replay; the purge
 * keeps an answer a day and drops it a second later. */
START_TEST(test_old_key_table_carried_over)
{
    char old_path[160], path[176];
    snprintf(old_path, sizeof old_path, "%s/old.db", tmp_dir);
    db *old = NULL;
    ck_assert_int_eq(db_open(old_path, coupon_migrations, 1, &old), 0);
    db_conn *c = db_begin_write(old);
    ck_assert_ptr_nonnull(c);
    ck_assert_int_eq(db_exec(c, "INSERT INTO idempotency_keys VALUES ('" ISSUE_SCOPE "', 'k1',"
                                " 'POST /coupons/1/issue\n{\"userId\":1}', 201,"
                                " 'application/json', '{\"id\":7}', 1800000000)"),
                     0);
    ck_assert_int_eq(db_commit(old, c), 0);
    db_close(old);
    ck_assert_int_eq(coupon_store_open(old_path, &old), 0);
    idem_record rec;
    ck_assert_int_eq(lookup_issue_key(old, "k1", &rec), IDEM_REPLAY);
    ck_assert_int_eq(rec.status, 201);
    ck_assert_str_eq(rec.body, "{\"id\":7}");
    idem_record_free(&rec);
    ck_assert_int_eq(lookup_issue_key(old, "k2", &rec), IDEM_NEW);
    ck_assert_int_eq(coupon_store_idem_purge(old, 1800000000 + IDEM_KEEP_SECONDS), SHOP_OK);
    ck_assert_int_eq(lookup_issue_key(old, "k1", &rec), IDEM_REPLAY);
    idem_record_free(&rec);
    ck_assert_int_eq(coupon_store_idem_purge(old, 1800000000 + IDEM_KEEP_SECONDS + 1), SHOP_OK);
    ck_assert_int_eq(lookup_issue_key(old, "k1", &rec), IDEM_NEW);
    db_close(old);
    const char *suffixes[] = {"", "-wal", "-shm"};
    for (size_t i = 0; i < 3; i++) {
        snprintf(path, sizeof path, "%s%s", old_path, suffixes[i]);
        unlink(path);
    }
}
END_TEST

Suite *coupon_store_suite(void);

Suite *coupon_store_suite(void)
{
    Suite *s = suite_create("coupon_store");
    TCase *tc = tcase_create("issue");
    tcase_add_checked_fixture(tc, setup, teardown);
    tcase_set_timeout(tc, 20);
    tcase_add_test(tc, test_seed);
    tcase_add_test(tc, test_create_and_get);
    tcase_add_test(tc, test_issue_limit);
    tcase_add_test(tc, test_issue_once_per_user);
    tcase_add_test(tc, test_issue_already_issued_before_sold_out);
    tcase_add_test(tc, test_issue_expired_and_missing);
    tcase_add_test(tc, test_issue_race);
    suite_add_tcase(s, tc);
    tc = tcase_create("use");
    tcase_add_checked_fixture(tc, setup, teardown);
    tcase_set_timeout(tc, 20);
    tcase_add_test(tc, test_use_conditional);
    tcase_add_test(tc, test_use_expired);
    tcase_add_test(tc, test_use_keyed_repeat);
    tcase_add_test(tc, test_restore_only_that_order);
    tcase_add_test(tc, test_tombstone);
    tcase_add_test(tc, test_list);
    tcase_add_test(tc, test_old_key_table_carried_over);
    suite_add_tcase(s, tc);
    return s;
}
