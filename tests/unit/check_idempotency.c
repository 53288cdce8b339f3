/* The stored-answer table behind Idempotency-Key. */
#include <check.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "db.h"
#include "harness.h"
#include "idempotency.h"

static const char *const schema[] = {IDEM_SCHEMA};
static char *dir;
static db *d;

static void setup(void)
{
    char path[512];
    dir = harness_tmpdir();
    snprintf(path, sizeof path, "%s/idem.db", dir);
    ck_assert_int_eq(db_open(path, schema, 1, &d), 0);
}

static void teardown(void)
{
    db_close(d);
    harness_rmdir(dir);
}

START_TEST(key_syntax)
{
    ck_assert(idem_key_valid("a"));
    ck_assert(idem_key_valid("order 1/retry:2"));
    char k[300];
    memset(k, 'k', sizeof k);
    k[255] = '\0';
    ck_assert(idem_key_valid(k));
    k[255] = 'k';
    k[256] = '\0';
    ck_assert(!idem_key_valid(k));
    ck_assert(!idem_key_valid(""));
    ck_assert(!idem_key_valid("tab\there"));
    ck_assert(!idem_key_valid("caf\xc3\xa9"));
}
END_TEST

START_TEST(store_then_replay_or_refuse)
{
    idem_record rec;
    db_conn *w = db_begin_write(d);
    ck_assert_int_eq(idem_lookup(w, "POST /charge", "k1", "/users/1\n{\"amount\":5}", &rec), IDEM_NEW);
    ck_assert_int_eq(idem_store(w, "POST /charge", "k1", "/users/1\n{\"amount\":5}", 200,
                                "{\"balance\":5}"), 0);
    ck_assert_int_eq(db_commit(d, w), 0);

    w = db_begin_write(d);
    ck_assert_int_eq(idem_lookup(w, "POST /charge", "k1", "/users/1\n{\"amount\":5}", &rec), IDEM_REPLAY);
    ck_assert_int_eq(rec.status, 200);
    ck_assert_str_eq(rec.body, "{\"balance\":5}");
    idem_record_free(&rec);
    /* Another body, or the same body on another user's path: 422. */
    ck_assert_int_eq(idem_lookup(w, "POST /charge", "k1", "/users/1\n{\"amount\":6}", &rec), IDEM_MISMATCH);
    ck_assert_int_eq(idem_lookup(w, "POST /charge", "k1", "/users/2\n{\"amount\":5}", &rec), IDEM_MISMATCH);
    /* Keys are scoped per route. */
    ck_assert_int_eq(idem_lookup(w, "POST /issue", "k1", "/users/1\n{\"amount\":5}", &rec), IDEM_NEW);
    /* A second store of the same key fails: the primary key guards races. */
    ck_assert_int_eq(idem_store(w, "POST /charge", "k1", "x", 200, "{}"), -1);
    db_rollback(d, w);
}
END_TEST

START_TEST(saga_keys_follow_their_row)
{
    idem_record rec;
    db_conn *w = db_begin_write(d);
    ck_assert_int_eq(idem_reserve(w, "POST /orders", "o1", "/orders\n{}", 12), 0);
    ck_assert_int_eq(idem_lookup(w, "POST /orders", "o1", "/orders\n{}", &rec), IDEM_IN_PROGRESS);
    ck_assert_int_eq(rec.ref, 12);
    ck_assert_int_eq(idem_finish_ref(w, "POST /orders", 12, 201, "{\"id\":12}"), 0);
    ck_assert_int_eq(idem_lookup(w, "POST /orders", "o1", "/orders\n{}", &rec), IDEM_REPLAY);
    ck_assert_int_eq(rec.status, 201);
    ck_assert_str_eq(rec.body, "{\"id\":12}");
    idem_record_free(&rec);
    ck_assert_int_eq(idem_reserve(w, "POST /orders", "o2", "/orders\n{}", 13), 0);
    ck_assert_int_eq(idem_forget_ref(w, "POST /orders", 13), 0);
    ck_assert_int_eq(idem_lookup(w, "POST /orders", "o2", "/orders\n{}", &rec), IDEM_NEW);
    ck_assert_int_eq(db_commit(d, w), 0);
}
END_TEST

START_TEST(purge_keeps_a_day)
{
    idem_record rec;
    db_conn *w = db_begin_write(d);
    ck_assert_int_eq(idem_store(w, "s", "old", "r", 200, "{}"), 0);
    ck_assert_int_eq(idem_reserve(w, "s", "running", "r", 1), 0);
    int64_t created = 0;
    sqlite3_stmt *st = db_prepare(w, "SELECT created_at FROM idempotency_keys WHERE key = 'old'");
    ck_assert_int_eq(sqlite3_step(st), SQLITE_ROW);
    created = sqlite3_column_int64(st, 0);
    db_stmt_done(st);
    ck_assert_int_eq(idem_purge(w, created + IDEM_KEEP_SECONDS), 0); /* exactly a day: kept */
    ck_assert_int_eq(idem_lookup(w, "s", "old", "r", &rec), IDEM_REPLAY);
    idem_record_free(&rec);
    ck_assert_int_eq(idem_purge(w, created + IDEM_KEEP_SECONDS + 1), 0);
    ck_assert_int_eq(idem_lookup(w, "s", "old", "r", &rec), IDEM_NEW);
    ck_assert_int_eq(idem_lookup(w, "s", "running", "r", &rec), IDEM_IN_PROGRESS);
    ck_assert_int_eq(db_commit(d, w), 0);
}
END_TEST

Suite *idempotency_suite(void)
{
    Suite *s = suite_create("idempotency");
    TCase *tc = tcase_create("store");
    tcase_add_checked_fixture(tc, setup, teardown);
    tcase_add_test(tc, key_syntax);
    tcase_add_test(tc, store_then_replay_or_refuse);
    tcase_add_test(tc, saga_keys_follow_their_row);
    tcase_add_test(tc, purge_keeps_a_day);
    suite_add_tcase(s, tc);
    return s;
}
