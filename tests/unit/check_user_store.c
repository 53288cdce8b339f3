/* Unit tests of the user store (services/user/user_store.c) on a fresh temp
 * database per test: conditional debits, keyed repeats, voids, credits,
 * charges and their limit, keyed charges, and the ledger that adds up; the
 * upgrade and purge of stored charge answers. */
#include <check.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "../../services/user/user_store.h"

Suite *user_store_suite(void);

static char tmpdir[64];
static char dbpath[128];
static db *d;

static void setup(void)
{
    snprintf(tmpdir, sizeof(tmpdir), "/tmp/user-store-XXXXXX");
    ck_assert_ptr_nonnull(mkdtemp(tmpdir));
    snprintf(dbpath, sizeof(dbpath), "%s/user.db", tmpdir);
    ck_assert_int_eq(db_open(dbpath, user_migrations, user_n_migrations, &d), 0);
}

static void teardown(void)
{
    char path[160];
    db_close(d);
    d = NULL;
    const char *suffixes[] = {"", "-wal", "-shm"};
    for (size_t i = 0; i < 3; i++) {
        snprintf(path, sizeof(path), "%s%s", dbpath, suffixes[i]);
        unlink(path);
    }
    rmdir(tmpdir);
}

/* A new user with balance; returns its id. */
static int64_t new_user(int64_t balance)
{
    user_rec u;
    ck_assert_int_eq(user_store_create(d, "kim", balance, &u), USER_OK);
    ck_assert_int_eq(u.balance, balance);
    ck_assert_int_eq(u.initial_balance, balance);
    return u.id;
}

static int64_t balance_of(int64_t id)
{
    user_rec u;
    ck_assert_int_eq(user_store_get(d, id, &u), USER_OK);
    return u.balance;
}

/* The user's ledger rows (up to 500) into rows; returns how many. */
static size_t ledger_of(int64_t id, user_ledger_rec **rows)
{
    size_t n;
    bool more;
    ck_assert_int_eq(user_store_ledger(d, id, 0, 500, rows, &n, &more), USER_OK);
    ck_assert(!more);
    return n;
}

/* Checks the audit rule: balance = initial + charges - debits + credits. */
static void assert_ledger_adds_up(int64_t id)
{
    user_rec u;
    user_ledger_rec *rows;
    ck_assert_int_eq(user_store_get(d, id, &u), USER_OK);
    size_t n = ledger_of(id, &rows);
    int64_t sum = u.initial_balance;
    for (size_t i = 0; i < n; i++) {
        if (strcmp(rows[i].kind, "DEBIT") == 0)
            sum -= rows[i].amount;
        else if (strcmp(rows[i].kind, "VOID") == 0)
            ck_assert_int_eq(rows[i].amount, 0);
        else
            sum += rows[i].amount;
    }
    ck_assert_int_eq(sum, u.balance);
    if (n > 0)
        ck_assert_int_eq(rows[n - 1].balance_after, u.balance);
    free(rows);
}

/* A test renderer: the status by outcome and the balance as the body. */
static char *render(const user_charge_outcome *o, int *status)
{
    static const int statuses[USER_DB_ERROR + 1] = {
        [USER_OK] = 200, [USER_NOT_FOUND] = 404, [USER_LIMIT] = 409, [USER_KEY_REUSED] = 422};
    char buf[64];
    *status = statuses[o->res] ? statuses[o->res] : 500;
    snprintf(buf, sizeof(buf), "%lld", (long long)o->balance);
    return strdup(buf);
}

/* Charges without a key; returns the outcome, *balance from the body. */
static user_result charge(int64_t id, int64_t amount, int *status)
{
    user_answer a;
    user_result res = user_store_charge(d, id, amount, NULL, render, &a);
    if (res != USER_DB_ERROR) {
        ck_assert_ptr_nonnull(a.body);
        *status = a.status;
        ck_assert(!a.replayed);
    }
    user_answer_release(&a);
    return res;
}

START_TEST(test_debit_never_below_zero)
{
    int64_t id = new_user(10000);
    user_move m;
    ck_assert_int_eq(user_store_debit(d, id, "pay-1", 6000, &m), USER_OK);
    ck_assert(!m.replayed);
    ck_assert_int_eq(m.balance, 4000);
    ck_assert_int_eq(user_store_debit(d, id, "pay-2", 4001, &m), USER_INSUFFICIENT);
    ck_assert_int_eq(m.balance, 4000);
    ck_assert_int_eq(balance_of(id), 4000);
    ck_assert_int_eq(user_store_debit(d, id, "pay-3", 4000, &m), USER_OK);
    ck_assert_int_eq(m.balance, 0);
    ck_assert_int_eq(user_store_debit(d, id, "pay-4", 1, &m), USER_INSUFFICIENT);
    ck_assert_int_eq(balance_of(id), 0);
    /* The refused debit left nothing: its ref is free for a later debit. */
    user_ledger_rec *rows;
    size_t n = ledger_of(id, &rows);
    ck_assert_uint_eq(n, 2);
    ck_assert_str_eq(rows[0].ref, "pay-1");
    ck_assert_str_eq(rows[1].ref, "pay-3");
    free(rows);
    ck_assert_int_eq(user_store_debit(d, 999, "pay-9", 1, &m), USER_NOT_FOUND);
    assert_ledger_adds_up(id);
}
END_TEST

START_TEST(test_debit_keyed_repeat)
{
    int64_t id = new_user(10000);
    int64_t other = new_user(10000);
    user_move m;
    ck_assert_int_eq(user_store_debit(d, id, "pay-5", 3000, &m), USER_OK);
    ck_assert_int_eq(m.balance, 7000);
    ck_assert_int_eq(user_store_debit(d, id, "pay-6", 1000, &m), USER_OK);
    ck_assert_int_eq(m.balance, 6000);
    /* The repeat answers the first reply (balance 7000 then), debits nothing. */
    ck_assert_int_eq(user_store_debit(d, id, "pay-5", 3000, &m), USER_OK);
    ck_assert(m.replayed);
    ck_assert_int_eq(m.balance, 7000);
    ck_assert_int_eq(balance_of(id), 6000);
    /* Another amount, user or kind with the same ref is a reuse. */
    ck_assert_int_eq(user_store_debit(d, id, "pay-5", 3001, &m), USER_REF_REUSED);
    ck_assert_int_eq(m.prior.amount, 3000);
    ck_assert_int_eq(user_store_debit(d, other, "pay-5", 3000, &m), USER_REF_REUSED);
    ck_assert_int_eq(m.prior.user_id, id);
    ck_assert_int_eq(user_store_credit(d, id, "pay-5", 3000, &m), USER_REF_REUSED);
    ck_assert_int_eq(balance_of(id), 6000);
    ck_assert_int_eq(balance_of(other), 10000);
    user_ledger_rec *rows;
    ck_assert_uint_eq(ledger_of(id, &rows), 2);
    free(rows);
    assert_ledger_adds_up(id);
}
END_TEST

/* Threads that all debit 1000 with the same ref. */
static void *debit_same_ref(void *arg)
{
    int64_t id = *(int64_t *)arg;
    user_move m;
    if (user_store_debit(d, id, "pay-race", 1000, &m) != USER_OK || m.balance != 9000)
        return (void *)1;
    return NULL;
}

START_TEST(test_debit_repeat_race_debits_once)
{
    int64_t id = new_user(10000);
    pthread_t t[16];
    for (int i = 0; i < 16; i++)
        ck_assert_int_eq(pthread_create(&t[i], NULL, debit_same_ref, &id), 0);
    for (int i = 0; i < 16; i++) {
        void *r;
        pthread_join(t[i], &r);
        ck_assert_ptr_null(r);
    }
    ck_assert_int_eq(balance_of(id), 9000);
    assert_ledger_adds_up(id);
}
END_TEST

START_TEST(test_void_then_late_debit_refused)
{
    int64_t id = new_user(10000);
    user_void v;
    ck_assert_int_eq(user_store_void(d, id, "pay-7", &v), USER_OK);
    ck_assert(!v.debited);
    ck_assert_int_eq(v.amount, 0);
    user_move m;
    ck_assert_int_eq(user_store_debit(d, id, "pay-7", 5000, &m), USER_VOIDED);
    ck_assert_int_eq(balance_of(id), 10000);
    /* A second void answers the same. */
    ck_assert_int_eq(user_store_void(d, id, "pay-7", &v), USER_OK);
    ck_assert(!v.debited);
    ck_assert_int_eq(v.amount, 0);
    ck_assert_int_eq(user_store_debit(d, id, "pay-7", 5000, &m), USER_VOIDED);
    ck_assert_int_eq(balance_of(id), 10000);
    /* Another user's void of that ref is a reuse; unknown users are 404. */
    int64_t other = new_user(0);
    ck_assert_int_eq(user_store_void(d, other, "pay-7", &v), USER_REF_REUSED);
    ck_assert_int_eq(user_store_void(d, 999, "pay-8", &v), USER_NOT_FOUND);
    user_ledger_rec *rows;
    ck_assert_uint_eq(ledger_of(id, &rows), 1);
    ck_assert_str_eq(rows[0].kind, "VOID");
    free(rows);
    assert_ledger_adds_up(id);
}
END_TEST

START_TEST(test_void_after_debit_reports_debited)
{
    int64_t id = new_user(10000);
    user_move m;
    ck_assert_int_eq(user_store_debit(d, id, "pay-9", 2500, &m), USER_OK);
    user_void v;
    ck_assert_int_eq(user_store_void(d, id, "pay-9", &v), USER_OK);
    ck_assert(v.debited);
    ck_assert_int_eq(v.amount, 2500);
    ck_assert_int_eq(balance_of(id), 7500);
    /* The debit still answers as before after the void. */
    ck_assert_int_eq(user_store_debit(d, id, "pay-9", 2500, &m), USER_OK);
    ck_assert(m.replayed);
    ck_assert_int_eq(m.balance, 7500);
    ck_assert_int_eq(balance_of(id), 7500);
    /* A credit's ref cannot be voided. */
    ck_assert_int_eq(user_store_credit(d, id, "refund-9", 2500, &m), USER_OK);
    ck_assert_int_eq(user_store_void(d, id, "refund-9", &v), USER_REF_REUSED);
    assert_ledger_adds_up(id);
}
END_TEST

START_TEST(test_credit_keyed)
{
    int64_t id = new_user(1000);
    user_move m;
    ck_assert_int_eq(user_store_credit(d, id, "refund-1", 500, &m), USER_OK);
    ck_assert(!m.replayed);
    ck_assert_int_eq(m.balance, 1500);
    ck_assert_int_eq(user_store_credit(d, id, "refund-1", 500, &m), USER_OK);
    ck_assert(m.replayed);
    ck_assert_int_eq(m.balance, 1500);
    ck_assert_int_eq(balance_of(id), 1500);
    ck_assert_int_eq(user_store_credit(d, id, "refund-1", 501, &m), USER_REF_REUSED);
    ck_assert_int_eq(user_store_debit(d, id, "refund-1", 500, &m), USER_REF_REUSED);
    ck_assert_int_eq(user_store_credit(d, 999, "refund-2", 500, &m), USER_NOT_FOUND);
    ck_assert_int_eq(balance_of(id), 1500);
    assert_ledger_adds_up(id);
}
END_TEST

START_TEST(test_credit_not_bound_by_charge_limit)
{
    int64_t id = new_user(USER_BALANCE_LIMIT);
    user_move m;
    ck_assert_int_eq(user_store_credit(d, id, "refund-3", 5, &m), USER_OK);
    ck_assert_int_eq(m.balance, USER_BALANCE_LIMIT + 5);
    /* Only the exact-JSON maximum bounds it, and nothing overflows. */
    ck_assert_int_eq(user_store_credit(d, id, "refund-4", USER_MOVE_MAX, &m), USER_LIMIT);
    ck_assert_int_eq(m.balance, USER_BALANCE_LIMIT + 5);
    int64_t fill = USER_BALANCE_MAX - (USER_BALANCE_LIMIT + 5);
    ck_assert_int_eq(user_store_credit(d, id, "refund-5", fill, &m), USER_OK);
    ck_assert_int_eq(m.balance, USER_BALANCE_MAX);
    ck_assert_int_eq(user_store_credit(d, id, "refund-6", 1, &m), USER_LIMIT);
    ck_assert_int_eq(balance_of(id), USER_BALANCE_MAX);
    assert_ledger_adds_up(id);
}
END_TEST

START_TEST(test_charge_limit)
{
    int64_t id = new_user(USER_BALANCE_LIMIT - 100);
    int status = 0;
    ck_assert_int_eq(charge(id, 101, &status), USER_LIMIT);
    ck_assert_int_eq(status, 409);
    ck_assert_int_eq(balance_of(id), USER_BALANCE_LIMIT - 100);
    ck_assert_int_eq(charge(id, 100, &status), USER_OK);
    ck_assert_int_eq(status, 200);
    ck_assert_int_eq(balance_of(id), USER_BALANCE_LIMIT);
    ck_assert_int_eq(charge(id, 1, &status), USER_LIMIT);
    ck_assert_int_eq(balance_of(id), USER_BALANCE_LIMIT);
    ck_assert_int_eq(charge(999, 1, &status), USER_NOT_FOUND);
    ck_assert_int_eq(status, 404);
    user_ledger_rec *rows;
    ck_assert_uint_eq(ledger_of(id, &rows), 1);
    ck_assert_str_eq(rows[0].kind, "CHARGE");
    ck_assert(!rows[0].has_ref);
    ck_assert_int_eq(rows[0].amount, 100);
    free(rows);
    assert_ledger_adds_up(id);
}
END_TEST

START_TEST(test_charge_keyed)
{
    int64_t id = new_user(1000);
    user_idem idem = {.key = "key-1", .fingerprint = "/users/1/balance/charge\n{\"amount\":500}"};
    user_answer a;
    ck_assert_int_eq(user_store_charge(d, id, 500, &idem, render, &a), USER_OK);
    ck_assert(!a.replayed);
    ck_assert_int_eq(a.status, 200);
    ck_assert_str_eq(a.body, "1500");
    user_answer_release(&a);
    ck_assert_int_eq(user_store_charge(d, id, 500, &idem, render, &a), USER_OK);
    ck_assert(a.replayed);
    ck_assert_int_eq(a.status, 200);
    ck_assert_str_eq(a.body, "1500");
    user_answer_release(&a);
    ck_assert_int_eq(balance_of(id), 1500);
    user_idem other = {.key = "key-1", .fingerprint = "/users/1/balance/charge\n{\"amount\":501}"};
    ck_assert_int_eq(user_store_charge(d, id, 501, &other, render, &a), USER_KEY_REUSED);
    ck_assert_int_eq(a.status, 422);
    user_answer_release(&a);
    ck_assert_int_eq(balance_of(id), 1500);
    /* A refused charge's answer is stored too and replayed. */
    user_idem big = {.key = "key-2", .fingerprint = "big"};
    ck_assert_int_eq(user_store_charge(d, id, USER_BALANCE_LIMIT, &big, render, &a), USER_LIMIT);
    ck_assert_int_eq(a.status, 409);
    user_answer_release(&a);
    ck_assert_int_eq(user_store_charge(d, id, USER_BALANCE_LIMIT, &big, render, &a), USER_OK);
    ck_assert(a.replayed);
    ck_assert_int_eq(a.status, 409);
    user_answer_release(&a);
    user_ledger_rec *rows;
    ck_assert_uint_eq(ledger_of(id, &rows), 1);
    ck_assert_str_eq(rows[0].ref, "#charge:key-1");
    free(rows);
    assert_ledger_adds_up(id);
}
END_TEST

START_TEST(test_seed_once_and_list)
{
    ck_assert_int_eq(user_store_seed(d), 0);
    ck_assert_int_eq(user_store_seed(d), 0);
    user_rec *rows;
    size_t n;
    bool more;
    ck_assert_int_eq(user_store_list(d, 0, 0, 2, &rows, &n, &more), USER_OK);
    ck_assert_uint_eq(n, 2);
    ck_assert(more);
    ck_assert_str_eq(rows[0].name, "kim");
    ck_assert_int_eq(rows[0].balance, 1000000);
    ck_assert_str_eq(rows[1].name, "lee");
    ck_assert_int_eq(rows[1].balance, 10000);
    free(rows);
    ck_assert_int_eq(user_store_list(d, 0, 2, 2, &rows, &n, &more), USER_OK);
    ck_assert_uint_eq(n, 1);
    ck_assert(!more);
    ck_assert_str_eq(rows[0].name, "park");
    ck_assert_int_eq(rows[0].balance, 500000);
    ck_assert_int_eq(rows[0].initial_balance, 500000);
    free(rows);
    ck_assert_int_eq(user_store_list(d, 2, 0, 100, &rows, &n, &more), USER_OK);
    ck_assert_uint_eq(n, 1);
    ck_assert_int_eq(rows[0].id, 2);
    free(rows);
    ck_assert_int_eq(new_user(5), 4);
}
END_TEST

/* A version-1 database (the service's own key table) opens, and a stored
 * charge answer is carried into the common table: the retry replays it and
 * charges nothing. A day and a second later the purge drops it. */
START_TEST(test_old_key_table_carried_over)
{
    db_close(d);
    unlink(dbpath);
    ck_assert_int_eq(db_open(dbpath, user_migrations, 1, &d), 0);
    db_conn *c = db_begin_write(d);
    ck_assert_ptr_nonnull(c);
    ck_assert_int_eq(db_exec(c, "INSERT INTO idempotency_keys VALUES"
                                " ('POST /users/{userId}/balance/charge', 'k1',"
                                " '/users/1/balance/charge\n{\"amount\":500}', 200, '1500',"
                                " 1800000000)"),
                     0);
    ck_assert_int_eq(db_commit(d, c), 0);
    db_close(d);
    ck_assert_int_eq(db_open(dbpath, user_migrations, user_n_migrations, &d), 0);
    int64_t id = new_user(1000);
    ck_assert_int_eq(id, 1);
    user_idem idem = {.key = "k1", .fingerprint = "/users/1/balance/charge\n{\"amount\":500}"};
    user_answer a;
    ck_assert_int_eq(user_store_charge(d, id, 500, &idem, render, &a), USER_OK);
    ck_assert(a.replayed);
    ck_assert_int_eq(a.status, 200);
    ck_assert_str_eq(a.body, "1500");
    user_answer_release(&a);
    ck_assert_int_eq(balance_of(id), 1000);
    ck_assert_int_eq(user_store_idem_purge(d, 1800000000 + IDEM_KEEP_SECONDS + 1), USER_OK);
    ck_assert_int_eq(user_store_charge(d, id, 500, &idem, render, &a), USER_OK);
    ck_assert(!a.replayed);
    user_answer_release(&a);
    ck_assert_int_eq(balance_of(id), 1500);
}
END_TEST

/* A key is kept a day; used again after its answer was purged, it is a new
 * charge, whose ledger ref is told apart from the first one's. */
START_TEST(test_charge_key_reused_after_purge)
{
    int64_t id = new_user(1000);
    user_idem idem = {.key = "k", .fingerprint = "charge 500"};
    user_answer a;
    ck_assert_int_eq(user_store_charge(d, id, 500, &idem, render, &a), USER_OK);
    ck_assert(!a.replayed);
    user_answer_release(&a);
    int64_t now = (int64_t)time(NULL);
    ck_assert_int_eq(user_store_idem_purge(d, now + IDEM_KEEP_SECONDS - 5), USER_OK);
    ck_assert_int_eq(user_store_charge(d, id, 500, &idem, render, &a), USER_OK);
    ck_assert(a.replayed);
    user_answer_release(&a);
    ck_assert_int_eq(balance_of(id), 1500);
    ck_assert_int_eq(user_store_idem_purge(d, now + IDEM_KEEP_SECONDS + 5), USER_OK);
    ck_assert_int_eq(user_store_charge(d, id, 500, &idem, render, &a), USER_OK);
    ck_assert(!a.replayed);
    ck_assert_str_eq(a.body, "2000");
    user_answer_release(&a);
    ck_assert_int_eq(user_store_charge(d, id, 500, &idem, render, &a), USER_OK);
    ck_assert(a.replayed);
    ck_assert_str_eq(a.body, "2000");
    user_answer_release(&a);
    user_ledger_rec *rows;
    ck_assert_uint_eq(ledger_of(id, &rows), 2);
    ck_assert_str_eq(rows[0].ref, "#charge:k");
    ck_assert_int_eq(strncmp(rows[1].ref, "#charge:", 8), 0);
    char *end;
    long long at = strtoll(rows[1].ref + 8, &end, 10);
    ck_assert_str_eq(end, ":k");
    ck_assert(at >= now && at <= (long long)time(NULL));
    free(rows);
    assert_ledger_adds_up(id);
}
END_TEST

/* An answer with no charge behind it (a 400) is stored under its key and
 * replayed; the key then refuses another request, a charge included. */
START_TEST(test_keep_answer)
{
    int64_t id = new_user(1000);
    user_idem idem = {.key = "bad", .fingerprint = "/users/1/balance/charge\n{}"};
    user_answer a;
    ck_assert_int_eq(user_store_keep_answer(d, &idem, 400, "invalid", &a), USER_OK);
    ck_assert(!a.replayed);
    ck_assert_ptr_null(a.body);
    ck_assert_int_eq(user_store_keep_answer(d, &idem, 400, "invalid", &a), USER_OK);
    ck_assert(a.replayed);
    ck_assert_int_eq(a.status, 400);
    ck_assert_str_eq(a.body, "invalid");
    user_answer_release(&a);
    user_idem other = {.key = "bad", .fingerprint = "/users/1/balance/charge\n{\"amount\":5}"};
    ck_assert_int_eq(user_store_charge(d, id, 5, &other, render, &a), USER_KEY_REUSED);
    ck_assert_int_eq(a.refusal, IDEM_MISMATCH);
    ck_assert_int_eq(a.status, 422);
    ck_assert_ptr_null(a.body);
    ck_assert_int_eq(balance_of(id), 1000);
}
END_TEST

Suite *user_store_suite(void)
{
    Suite *s = suite_create("user_store");
    TCase *tc = tcase_create("store");
    tcase_add_checked_fixture(tc, setup, teardown);
    tcase_set_timeout(tc, 20);
    tcase_add_test(tc, test_debit_never_below_zero);
    tcase_add_test(tc, test_debit_keyed_repeat);
    tcase_add_test(tc, test_debit_repeat_race_debits_once);
    tcase_add_test(tc, test_void_then_late_debit_refused);
    tcase_add_test(tc, test_void_after_debit_reports_debited);
    tcase_add_test(tc, test_credit_keyed);
    tcase_add_test(tc, test_credit_not_bound_by_charge_limit);
    tcase_add_test(tc, test_charge_limit);
    tcase_add_test(tc, test_charge_keyed);
    tcase_add_test(tc, test_seed_once_and_list);
    tcase_add_test(tc, test_old_key_table_carried_over);
    tcase_add_test(tc, test_charge_key_reused_after_purge);
    tcase_add_test(tc, test_keep_answer);
    suite_add_tcase(s, tc);
    return s;
}
