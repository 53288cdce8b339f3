/* SQLite with the house rules. One writer connection guarded by a mutex (so
 * writers queue in-process instead of sleeping in SQLite's busy handler)
 * with group commit, a pool of read connections lent out per use, and a
 * prepared-statement cache per connection.
 *
 * Group commit: a synchronous=FULL COMMIT costs a WAL fsync, and the disk
 * allows only so many of those a second. So writers that queue for the
 * lock share one: the first opens a batch (BEGIN IMMEDIATE), each writer
 * runs inside its own SAVEPOINT, and the writer that leaves the lock with
 * nobody waiting (or with DB_BATCH_MAX members in the batch) COMMITs. Every
 * member's db_commit returns only after that COMMIT, with its result, so no
 * caller answers before its data is durable. A writer that rolls back undoes
 * only its own savepoint. */
#include "db.h"

#include <pthread.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "config.h"
#include "log.h"
#include "metrics.h"

#define DB_STMT_CACHE 128
#define DB_BATCH_MAX 64
#define DB_BUSY_TIMEOUT_MS 5000
#define DB_READERS 16 /* idle read connections kept (SHOP_DB_READERS) */

/* A member of a batch waiting for its COMMIT. It lives on the member's
 * stack; batch_finish fills it in and wakes the member. */
typedef struct db_ticket {
    struct db_ticket *next;
    int rc;
    bool done;
} db_ticket;

struct db_conn {
    sqlite3 *handle;
    struct {
        const char *sql;
        sqlite3_stmt *stmt;
    } cache[DB_STMT_CACHE];
    int n_cached;
    db_conn *next; /* in db.idle_readers */
};

struct db {
    char *path;
    pthread_mutex_t write_lock;
    db_conn *writer;
    atomic_int waiting;  /* threads blocked in db_begin_write */
    /* The open batch, guarded by write_lock. */
    bool batch_open;     /* BEGIN done, COMMIT not yet */
    int batch_members;   /* committed savepoints in it */
    db_ticket *tickets;  /* their tickets */
    /* Tickets are marked done under done_lock. */
    pthread_mutex_t done_lock;
    pthread_cond_t done_cond;
    /* Read connections not lent out (at most max_idle_readers). */
    pthread_mutex_t readers_lock;
    db_conn *idle_readers;
    int n_idle_readers;
    int max_idle_readers;
};

static void conn_close(db_conn *c)
{
    if (c == NULL)
        return;
    for (int i = 0; i < c->n_cached; i++)
        sqlite3_finalize(c->cache[i].stmt);
    sqlite3_close(c->handle);
    free(c);
}

/* SQLite's busy handler: waits (1, 2, 4 .. 64 ms) up to DB_BUSY_TIMEOUT_MS
 * for another connection's lock, counting each retry. */
static int busy_wait(void *arg, int n)
{
    (void)arg;
    static const int step_ms[] = {1, 2, 4, 8, 16, 32, 64};
    int total = 0;
    for (int i = 0; i < n; i++)
        total += step_ms[i < 6 ? i : 6];
    if (total >= DB_BUSY_TIMEOUT_MS)
        return 0;
    int ms = step_ms[n < 6 ? n : 6];
    metrics_count("shop_db_busy_retries_total", "", 1);
    struct timespec ts = {.tv_sec = 0, .tv_nsec = (long)ms * 1000000L};
    nanosleep(&ts, NULL);
    return 1;
}

/* Opens a connection with the house pragmas. Returns NULL after logging. */
static db_conn *conn_open(const char *path, int cache_kib)
{
    db_conn *c = calloc(1, sizeof *c);
    if (c == NULL)
        return NULL;
    int flags = SQLITE_OPEN_READWRITE | SQLITE_OPEN_CREATE | SQLITE_OPEN_NOMUTEX;
    if (sqlite3_open_v2(path, &c->handle, flags, NULL) != SQLITE_OK) {
        log_error(NULL, "db: cannot open %s: %s", path,
                  c->handle ? sqlite3_errmsg(c->handle) : "out of memory");
        goto fail;
    }
    sqlite3_busy_handler(c->handle, busy_wait, NULL);
    char pragmas[256];
    /* synchronous=FULL: every commit that moves money, stock or coupons is
     * on disk before anyone is told it happened. */
    snprintf(pragmas, sizeof pragmas,
             "PRAGMA journal_mode=WAL; PRAGMA synchronous=FULL; PRAGMA foreign_keys=ON;"
             "PRAGMA cache_size=-%d;",
             cache_kib);
    if (db_exec(c, pragmas) != 0)
        goto fail;
    return c;
fail:
    conn_close(c);
    return NULL;
}

int db_exec(db_conn *c, const char *sql)
{
    char *msg = NULL;
    if (sqlite3_exec(c->handle, sql, NULL, NULL, &msg) != SQLITE_OK) {
        log_error(NULL, "db: %s (in: %.80s)", msg ? msg : "error", sql);
        sqlite3_free(msg);
        return -1;
    }
    return 0;
}

/* Runs a transaction-control statement (BEGIN, SAVEPOINT, COMMIT ...) from
 * the statement cache: they run several times per write, and sqlite3_exec
 * would parse them every time. Returns 0 or -1 after logging. */
static int tx(db_conn *c, const char *sql)
{
    sqlite3_stmt *st = db_prepare(c, sql);
    if (st == NULL)
        return -1;
    int rc = sqlite3_step(st);
    db_stmt_done(st);
    if (rc != SQLITE_DONE) {
        log_error(NULL, "db: %s (in: %s)", sqlite3_errmsg(c->handle), sql);
        return -1;
    }
    return 0;
}

static const char SQL_BEGIN[] = "BEGIN IMMEDIATE";
static const char SQL_COMMIT[] = "COMMIT";
static const char SQL_ROLLBACK[] = "ROLLBACK";
static const char SQL_SAVEPOINT[] = "SAVEPOINT w";
static const char SQL_RELEASE[] = "RELEASE w";
static const char SQL_ROLLBACK_TO[] = "ROLLBACK TO w";

static int user_version(db_conn *c)
{
    sqlite3_stmt *st = NULL;
    int v = -1;
    if (sqlite3_prepare_v2(c->handle, "PRAGMA user_version", -1, &st, NULL) == SQLITE_OK &&
        sqlite3_step(st) == SQLITE_ROW)
        v = sqlite3_column_int(st, 0);
    sqlite3_finalize(st);
    return v;
}

/* Applies migrations[v..n) each in its own transaction with its version bump. */
static int migrate(db_conn *c, const char *const *migrations, int n)
{
    int v = user_version(c);
    if (v < 0)
        return -1;
    if (v > n) {
        log_error(NULL, "db: schema version %d is newer than this program (%d)", v, n);
        return -1;
    }
    for (; v < n; v++) {
        char bump[64];
        snprintf(bump, sizeof bump, "PRAGMA user_version=%d;", v + 1);
        if (db_exec(c, "BEGIN IMMEDIATE") != 0)
            return -1;
        if (db_exec(c, migrations[v]) != 0 || db_exec(c, bump) != 0) {
            db_exec(c, "ROLLBACK");
            return -1;
        }
        if (db_exec(c, "COMMIT") != 0)
            return -1;
        log_info(NULL, "db: migrated to version %d", v + 1);
    }
    return 0;
}

int db_open(const char *path, const char *const *migrations, int n_migrations, db **out)
{
    db *d = calloc(1, sizeof *d);
    if (d == NULL)
        return -1;
    d->path = strdup(path);
    pthread_mutex_init(&d->write_lock, NULL);
    pthread_mutex_init(&d->readers_lock, NULL);
    pthread_mutex_init(&d->done_lock, NULL);
    pthread_cond_init(&d->done_cond, NULL);
    metrics_describe("shop_db_busy_retries_total", METRIC_COUNTER,
                     "Waits for another SQLite connection's lock (busy handler calls).");
    metrics_describe("shop_db_commits_total", METRIC_COUNTER,
                     "SQLite write transactions (group commits), by result.");
    metrics_describe("shop_db_writes_total", METRIC_COUNTER,
                     "Writers' transactions in those commits (writes / commits is the mean "
                     "group-commit batch), by result.");
    metrics_describe("shop_db_readers_opened_total", METRIC_COUNTER,
                     "Read connections opened (more than SHOP_DB_READERS busy at once).");
    metrics_count("shop_db_busy_retries_total", "", 0);
    metrics_count("shop_db_readers_opened_total", "", 0);
    d->max_idle_readers = (int)config_int("SHOP_DB_READERS", DB_READERS, 1, 1024);
    d->writer = conn_open(path, 8192);
    if (d->path == NULL || d->writer == NULL || migrate(d->writer, migrations, n_migrations) != 0) {
        db_close(d);
        return -1;
    }
    *out = d;
    return 0;
}

void db_close(db *d)
{
    if (d == NULL)
        return;
    db_conn *c = d->idle_readers;
    while (c != NULL) {
        db_conn *next = c->next;
        conn_close(c);
        c = next;
    }
    conn_close(d->writer);
    pthread_mutex_destroy(&d->write_lock);
    pthread_mutex_destroy(&d->readers_lock);
    pthread_mutex_destroy(&d->done_lock);
    pthread_cond_destroy(&d->done_cond);
    free(d->path);
    free(d);
}

db_conn *db_reader(db *d)
{
    pthread_mutex_lock(&d->readers_lock);
    db_conn *c = d->idle_readers;
    if (c != NULL) {
        d->idle_readers = c->next;
        d->n_idle_readers--;
    }
    pthread_mutex_unlock(&d->readers_lock);
    if (c != NULL)
        return c;
    /* None idle: one more (never a wait, so a reader is never held up by
     * whoever holds the others). Small page cache: readers are many, the
     * files small, and the kernel's page cache is behind them. */
    metrics_count("shop_db_readers_opened_total", "", 1);
    return conn_open(d->path, 512);
}

void db_reader_done(db *d, db_conn *c)
{
    if (c == NULL)
        return;
    if (!sqlite3_get_autocommit(c->handle)) {
        log_error(NULL, "db: a read connection came back inside a transaction");
        tx(c, SQL_ROLLBACK);
    }
    pthread_mutex_lock(&d->readers_lock);
    bool keep = d->n_idle_readers < d->max_idle_readers;
    if (keep) {
        c->next = d->idle_readers;
        d->idle_readers = c;
        d->n_idle_readers++;
    }
    pthread_mutex_unlock(&d->readers_lock);
    if (!keep)
        conn_close(c);
}

/* Ends the open batch: marks its members' tickets with rc and wakes them.
 * Called with write_lock held. */
static void batch_finish(db *d, int rc)
{
    pthread_mutex_lock(&d->done_lock);
    db_ticket *t = d->tickets;
    while (t != NULL) {
        db_ticket *next = t->next; /* t may be gone once done is seen */
        t->rc = rc;
        t->done = true;
        t = next;
    }
    pthread_cond_broadcast(&d->done_cond);
    pthread_mutex_unlock(&d->done_lock);
    if (d->batch_members > 0) {
        const char *result = rc == 0 ? "result=\"ok\"" : "result=\"error\"";
        metrics_count("shop_db_commits_total", result, 1);
        metrics_count("shop_db_writes_total", result, (uint64_t)d->batch_members);
    }
    d->batch_open = false;
    d->batch_members = 0;
    d->tickets = NULL;
}

/* COMMITs the open batch (ROLLBACK when it has no members) and finishes it.
 * Called with write_lock held. */
static void batch_commit(db *d)
{
    sqlite3 *h = d->writer->handle;
    int rc = 0;
    if (sqlite3_get_autocommit(h)) {
        rc = -1; /* SQLite already rolled the whole batch back on an error */
    } else if (d->batch_members == 0) {
        tx(d->writer, SQL_ROLLBACK);
    } else if (tx(d->writer, SQL_COMMIT) != 0) {
        if (!sqlite3_get_autocommit(h))
            tx(d->writer, SQL_ROLLBACK);
        rc = -1;
    }
    batch_finish(d, rc);
}

/* Releases the write lock, first committing the batch when no writer waits
 * to join it or it is full. */
static void leave(db *d)
{
    if (d->batch_open &&
        (atomic_load(&d->waiting) == 0 || d->batch_members >= DB_BATCH_MAX))
        batch_commit(d);
    pthread_mutex_unlock(&d->write_lock);
}

db_conn *db_begin_write(db *d)
{
    atomic_fetch_add(&d->waiting, 1);
    pthread_mutex_lock(&d->write_lock);
    atomic_fetch_sub(&d->waiting, 1);
    if (d->batch_open && sqlite3_get_autocommit(d->writer->handle))
        batch_finish(d, -1); /* an error rolled the open batch back */
    if (!d->batch_open) {
        if (tx(d->writer, SQL_BEGIN) != 0) {
            pthread_mutex_unlock(&d->write_lock);
            return NULL;
        }
        d->batch_open = true;
    }
    if (tx(d->writer, SQL_SAVEPOINT) != 0) {
        leave(d);
        return NULL;
    }
    return d->writer;
}

int db_commit(db *d, db_conn *c)
{
    if (sqlite3_get_autocommit(c->handle) || tx(c, SQL_RELEASE) != 0) {
        db_rollback(d, c);
        return -1;
    }
    db_ticket me = {.next = d->tickets};
    d->tickets = &me;
    d->batch_members++;
    leave(d);
    pthread_mutex_lock(&d->done_lock);
    while (!me.done)
        pthread_cond_wait(&d->done_cond, &d->done_lock);
    pthread_mutex_unlock(&d->done_lock);
    return me.rc;
}

int db_waiting_writers(db *d)
{
    return atomic_load(&d->waiting);
}

void db_rollback(db *d, db_conn *c)
{
    if (!sqlite3_get_autocommit(c->handle)) {
        tx(c, SQL_ROLLBACK_TO);
        tx(c, SQL_RELEASE);
    }
    leave(d);
}

sqlite3_stmt *db_prepare(db_conn *c, const char *sql)
{
    for (int i = 0; i < c->n_cached; i++)
        if (c->cache[i].sql == sql)
            return c->cache[i].stmt;
    if (c->n_cached == DB_STMT_CACHE) {
        log_error(NULL, "db: statement cache full (raise DB_STMT_CACHE)");
        return NULL;
    }
    sqlite3_stmt *st = NULL;
    if (sqlite3_prepare_v3(c->handle, sql, -1, SQLITE_PREPARE_PERSISTENT, &st, NULL) !=
        SQLITE_OK) {
        log_error(NULL, "db: prepare failed: %s (in: %.120s)", sqlite3_errmsg(c->handle), sql);
        return NULL;
    }
    c->cache[c->n_cached].sql = sql;
    c->cache[c->n_cached].stmt = st;
    c->n_cached++;
    return st;
}

void db_stmt_done(sqlite3_stmt *st)
{
    if (st == NULL)
        return;
    sqlite3_reset(st);
    sqlite3_clear_bindings(st);
}

sqlite3 *db_handle(db_conn *c)
{
    return c->handle;
}

int db_bind_text_or_null(sqlite3_stmt *st, int idx, const char *s)
{
    if (s == NULL)
        return sqlite3_bind_null(st, idx);
    return sqlite3_bind_text(st, idx, s, -1, SQLITE_TRANSIENT);
}

const char *db_column_text(sqlite3_stmt *st, int col)
{
    const unsigned char *t = sqlite3_column_text(st, col);
    return t != NULL ? (const char *)t : "";
}
