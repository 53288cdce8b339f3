/* SQLite helpers: migrations by user_version, the write lock, readers per
 * thread, the statement cache. */
#include <check.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "db.h"
#include "harness.h"
#include "metrics.h"

static const char *const v1[] = {
    "CREATE TABLE counter(id INTEGER PRIMARY KEY, n INTEGER NOT NULL);"
    "INSERT INTO counter VALUES (1, 0);",
};
static const char *const v2[] = {
    "CREATE TABLE counter(id INTEGER PRIMARY KEY, n INTEGER NOT NULL);"
    "INSERT INTO counter VALUES (1, 0);",
    "ALTER TABLE counter ADD COLUMN note TEXT;",
};
static const char *const broken[] = {
    "CREATE TABLE counter(id INTEGER PRIMARY KEY, n INTEGER NOT NULL);"
    "INSERT INTO counter VALUES (1, 0);",
    "ALTER TABLE counter ADD COLUMN note TEXT; THIS IS NOT SQL;",
};

static char *dir;
static char path[512];

static void setup(void)
{
    dir = harness_tmpdir();
    snprintf(path, sizeof path, "%s/test.db", dir);
}

static void teardown(void)
{
    harness_rmdir(dir);
}

/* The first column of the first row of sql, read on a lent reader. */
static long long read_int(db *d, const char *sql)
{
    db_conn *r = db_reader(d);
    ck_assert_ptr_nonnull(r);
    sqlite3_stmt *st = db_prepare(r, sql);
    ck_assert_ptr_nonnull(st);
    ck_assert_int_eq(sqlite3_step(st), SQLITE_ROW);
    long long v = sqlite3_column_int64(st, 0);
    db_stmt_done(st);
    db_reader_done(d, r);
    return v;
}

static int version(db *d)
{
    return (int)read_int(d, "PRAGMA user_version");
}

START_TEST(migrations_apply_once_and_in_order)
{
    db *d = NULL;
    ck_assert_int_eq(db_open(path, v1, 1, &d), 0);
    ck_assert_int_eq(version(d), 1);
    db_close(d);
    ck_assert_int_eq(db_open(path, v2, 2, &d), 0); /* only v2's step runs */
    ck_assert_int_eq(version(d), 2);
    db_conn *w = db_begin_write(d);
    ck_assert_ptr_nonnull(w);
    ck_assert_int_eq(db_exec(w, "UPDATE counter SET note = 'x'"), 0);
    ck_assert_int_eq(db_commit(d, w), 0);
    db_close(d);
    /* A program older than the file refuses to run on it. */
    ck_assert_int_eq(db_open(path, v1, 1, &d), -1);
}
END_TEST

START_TEST(failed_migration_changes_nothing)
{
    db *d = NULL;
    ck_assert_int_eq(db_open(path, broken, 2, &d), -1);
    ck_assert_int_eq(db_open(path, v1, 1, &d), 0); /* step one stayed */
    ck_assert_int_eq(version(d), 1);
    ck_assert_int_eq(read_int(d, "SELECT count(*) FROM pragma_table_info('counter')"), 2);
    db_close(d);
}
END_TEST

START_TEST(pragmas)
{
    db *d = NULL;
    ck_assert_int_eq(db_open(path, v1, 1, &d), 0);
    db_conn *r = db_reader(d);
    sqlite3_stmt *st = db_prepare(r, "PRAGMA journal_mode");
    ck_assert_int_eq(sqlite3_step(st), SQLITE_ROW);
    ck_assert_str_eq(db_column_text(st, 0), "wal");
    db_stmt_done(st);
    db_reader_done(d, r);
    ck_assert_int_eq(read_int(d, "PRAGMA synchronous"), 2); /* FULL */
    db_close(d);
}
END_TEST

static db *shared;

/* Read-modify-write under the write lock: lost updates would show. */
static void *bump(void *arg)
{
    (void)arg;
    for (int i = 0; i < 200; i++) {
        db_conn *w = db_begin_write(shared);
        sqlite3_stmt *st = db_prepare(w, "SELECT n FROM counter WHERE id = 1");
        if (sqlite3_step(st) != SQLITE_ROW)
            abort();
        int n = sqlite3_column_int(st, 0);
        db_stmt_done(st);
        st = db_prepare(w, "UPDATE counter SET n = ?1 WHERE id = 1");
        sqlite3_bind_int(st, 1, n + 1);
        if (sqlite3_step(st) != SQLITE_DONE)
            abort();
        db_stmt_done(st);
        if (db_commit(shared, w) != 0)
            abort();
        /* And a read on a lent connection. */
        db_conn *r = db_reader(shared);
        st = db_prepare(r, "SELECT n FROM counter WHERE id = 1");
        if (sqlite3_step(st) != SQLITE_ROW)
            abort();
        db_stmt_done(st);
        db_reader_done(shared, r);
    }
    return NULL;
}

START_TEST(one_writer_at_a_time)
{
    ck_assert_int_eq(db_open(path, v1, 1, &shared), 0);
    pthread_t t[8];
    for (int i = 0; i < 8; i++)
        pthread_create(&t[i], NULL, bump, NULL);
    for (int i = 0; i < 8; i++)
        pthread_join(t[i], NULL);
    ck_assert_int_eq(read_int(shared, "SELECT n FROM counter WHERE id = 1"), 1600);
    /* Rolled back work is not seen. */
    db_conn *w = db_begin_write(shared);
    db_exec(w, "UPDATE counter SET n = -5");
    db_rollback(shared, w);
    ck_assert_int_eq(read_int(shared, "SELECT n FROM counter WHERE id = 1"), 1600);
    db_close(shared);
}
END_TEST

/* Group commit. A first writer holds the lock while a second queues behind
 * it; the first's db_commit then leaves the batch open for the second, and
 * the second's end of transaction decides the batch. */
typedef enum { SECOND_COMMITS, SECOND_ROLLS_BACK, SECOND_BREAKS_BATCH } second_end;

typedef struct {
    second_end end;
    int rc;
} second_writer;

static long long count_where(const char *sql)
{
    return read_int(shared, sql);
}

static void *second(void *arg)
{
    second_writer *w2 = arg;
    db_conn *w = db_begin_write(shared);
    if (w == NULL || db_exec(w, "INSERT INTO counter VALUES (3, 30)") != 0)
        abort();
    w2->rc = 0;
    switch (w2->end) {
    case SECOND_COMMITS:
        w2->rc = db_commit(shared, w);
        break;
    case SECOND_ROLLS_BACK:
        db_rollback(shared, w);
        break;
    case SECOND_BREAKS_BATCH:
        /* What SQLite does on a full disk or an I/O error: the whole
         * transaction, the batch, is rolled back under everyone. */
        db_exec(w, "ROLLBACK");
        w2->rc = db_commit(shared, w);
        break;
    }
    return NULL;
}

/* Runs the first writer (inserting row 2) and the second; returns the
 * first's db_commit result. */
static int two_writers(second_writer *w2)
{
    int64_t commits = metrics_value("shop_db_commits_total", "result=\"ok\"");
    ck_assert_int_eq(db_open(path, v1, 1, &shared), 0);
    db_conn *w = db_begin_write(shared);
    ck_assert_ptr_nonnull(w);
    ck_assert_int_eq(db_exec(w, "INSERT INTO counter VALUES (2, 20)"), 0);
    pthread_t t;
    pthread_create(&t, NULL, second, w2);
    for (int i = 0; i < 5000 && db_waiting_writers(shared) == 0; i++)
        usleep(1000);
    ck_assert_int_eq(db_waiting_writers(shared), 1);
    int rc = db_commit(shared, w); /* returns after the second's end */
    pthread_join(t, NULL);
    ck_assert_int_eq(db_waiting_writers(shared), 0);
    /* Both writers shared one COMMIT, or none. */
    int64_t more = metrics_value("shop_db_commits_total", "result=\"ok\"") - commits;
    ck_assert_int_eq(more, rc == 0 ? 1 : 0);
    return rc;
}

START_TEST(group_commit_shares_one_commit)
{
    second_writer w2 = {.end = SECOND_COMMITS};
    ck_assert_int_eq(two_writers(&w2), 0);
    ck_assert_int_eq(w2.rc, 0);
    ck_assert_int_eq(count_where("SELECT count(*) FROM counter WHERE id IN (2, 3)"), 2);
    db_close(shared);
}
END_TEST

START_TEST(group_commit_rollback_is_the_writers_own)
{
    second_writer w2 = {.end = SECOND_ROLLS_BACK};
    ck_assert_int_eq(two_writers(&w2), 0);
    ck_assert_int_eq(count_where("SELECT count(*) FROM counter WHERE id = 2"), 1);
    ck_assert_int_eq(count_where("SELECT count(*) FROM counter WHERE id = 3"), 0);
    db_close(shared);
}
END_TEST

START_TEST(group_commit_failure_fails_every_member)
{
    second_writer w2 = {.end = SECOND_BREAKS_BATCH};
    ck_assert_int_eq(two_writers(&w2), -1);
    ck_assert_int_eq(w2.rc, -1);
    ck_assert_int_eq(count_where("SELECT count(*) FROM counter WHERE id IN (2, 3)"), 0);
    /* The next writer starts a new batch. */
    db_conn *w = db_begin_write(shared);
    ck_assert_ptr_nonnull(w);
    ck_assert_int_eq(db_exec(w, "INSERT INTO counter VALUES (4, 40)"), 0);
    ck_assert_int_eq(db_commit(shared, w), 0);
    ck_assert_int_eq(count_where("SELECT count(*) FROM counter WHERE id = 4"), 1);
    db_close(shared);
}
END_TEST

/* Readers are lent from a pool: reused when given back, a new one when
 * none is idle (never a wait), at most 16 kept idle. */
START_TEST(readers_are_lent_and_kept)
{
    db *d = NULL;
    ck_assert_int_eq(db_open(path, v1, 1, &d), 0);
    int64_t opened = metrics_value("shop_db_readers_opened_total", "");
    db_conn *a = db_reader(d);
    db_conn *b = db_reader(d); /* a is lent: another one */
    ck_assert_ptr_nonnull(a);
    ck_assert_ptr_nonnull(b);
    ck_assert_ptr_ne(a, b);
    db_reader_done(d, b);
    ck_assert_ptr_eq(db_reader(d), b); /* given back, lent again */
    db_reader_done(d, b);
    /* A read transaction left open is ended on the way back. */
    ck_assert_int_eq(db_exec(a, "BEGIN"), 0);
    ck_assert_int_eq(sqlite3_get_autocommit(db_handle(a)), 0);
    db_reader_done(d, a);
    ck_assert_int_eq(metrics_value("shop_db_readers_opened_total", "") - opened, 2);
    db_conn *lent[20];
    for (int i = 0; i < 20; i++) {
        lent[i] = db_reader(d);
        ck_assert_int_ne(sqlite3_get_autocommit(db_handle(lent[i])), 0);
    }
    for (int i = 0; i < 20; i++)
        db_reader_done(d, lent[i]);
    ck_assert_int_eq(metrics_value("shop_db_readers_opened_total", "") - opened, 20);
    for (int i = 0; i < 20; i++)
        lent[i] = db_reader(d);
    for (int i = 0; i < 20; i++)
        db_reader_done(d, lent[i]);
    /* 16 were kept: four more opened. */
    ck_assert_int_eq(metrics_value("shop_db_readers_opened_total", "") - opened, 24);
    db_close(d);
}
END_TEST

START_TEST(statement_cache_reuses)
{
    db *d = NULL;
    ck_assert_int_eq(db_open(path, v1, 1, &d), 0);
    static const char sql[] = "SELECT n FROM counter WHERE id = ?1";
    db_conn *r = db_reader(d);
    sqlite3_stmt *a = db_prepare(r, sql);
    sqlite3_stmt *b = db_prepare(r, sql);
    ck_assert_ptr_eq(a, b);
    ck_assert_ptr_null(db_prepare(r, "SELECT * FROM no_such_table"));
    db_reader_done(d, r);
    db_close(d);
}
END_TEST

Suite *db_suite(void)
{
    Suite *s = suite_create("db");
    TCase *tc = tcase_create("sqlite");
    tcase_add_checked_fixture(tc, setup, teardown);
    tcase_set_timeout(tc, 30);
    tcase_add_test(tc, migrations_apply_once_and_in_order);
    tcase_add_test(tc, failed_migration_changes_nothing);
    tcase_add_test(tc, pragmas);
    tcase_add_test(tc, one_writer_at_a_time);
    tcase_add_test(tc, group_commit_shares_one_commit);
    tcase_add_test(tc, group_commit_rollback_is_the_writers_own);
    tcase_add_test(tc, group_commit_failure_fails_every_member);
    tcase_add_test(tc, readers_are_lent_and_kept);
    tcase_add_test(tc, statement_cache_reuses);
    suite_add_tcase(s, tc);
    return s;
}
