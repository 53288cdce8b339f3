/* SQLite with the house rules. One writer connection guarded by a mutex (so
 * writers queue in-process instead of sleeping in SQLite's busy handler), a
 * read connection per thread, and a prepared-statement cache per connection. */
#include "db.h"

#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "log.h"

#define DB_STMT_CACHE 128

struct db_conn {
    sqlite3 *handle;
    struct {
        const char *sql;
        sqlite3_stmt *stmt;
    } cache[DB_STMT_CACHE];
    int n_cached;
    db_conn *next; /* in db.readers */
};

struct db {
    char *path;
    pthread_mutex_t write_lock;
    db_conn *writer;
    pthread_key_t reader_key;
    pthread_mutex_t readers_lock;
    db_conn *readers;
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
    sqlite3_busy_timeout(c->handle, 5000);
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
    if (pthread_key_create(&d->reader_key, NULL) != 0) {
        free(d->path);
        free(d);
        return -1;
    }
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
    db_conn *c = d->readers;
    while (c != NULL) {
        db_conn *next = c->next;
        conn_close(c);
        c = next;
    }
    conn_close(d->writer);
    pthread_key_delete(d->reader_key);
    pthread_mutex_destroy(&d->write_lock);
    pthread_mutex_destroy(&d->readers_lock);
    free(d->path);
    free(d);
}

db_conn *db_reader(db *d)
{
    db_conn *c = pthread_getspecific(d->reader_key);
    if (c != NULL)
        return c;
    /* Small page cache: there is a reader per worker thread. */
    c = conn_open(d->path, 512);
    if (c == NULL)
        return NULL;
    pthread_setspecific(d->reader_key, c);
    pthread_mutex_lock(&d->readers_lock);
    c->next = d->readers;
    d->readers = c;
    pthread_mutex_unlock(&d->readers_lock);
    return c;
}

db_conn *db_begin_write(db *d)
{
    pthread_mutex_lock(&d->write_lock);
    if (db_exec(d->writer, "BEGIN IMMEDIATE") != 0) {
        pthread_mutex_unlock(&d->write_lock);
        return NULL;
    }
    return d->writer;
}

int db_commit(db *d, db_conn *c)
{
    int rc = 0;
    if (db_exec(c, "COMMIT") != 0) {
        db_exec(c, "ROLLBACK");
        rc = -1;
    }
    pthread_mutex_unlock(&d->write_lock);
    return rc;
}

void db_rollback(db *d, db_conn *c)
{
    if (!sqlite3_get_autocommit(c->handle))
        db_exec(c, "ROLLBACK");
    pthread_mutex_unlock(&d->write_lock);
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
