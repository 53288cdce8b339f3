/* SQLite with the house rules: WAL, synchronous=FULL, migrations by
 * PRAGMA user_version, one writer at a time per process (a mutex around a
 * savepoint on the one writer connection, with group commit), and a pool
 * of read connections, each with its own prepared-statement cache. */
#ifndef SHOP_DB_H
#define SHOP_DB_H

#include <stdbool.h>
#include <stdint.h>

#include <sqlite3.h>

typedef struct db db;
typedef struct db_conn db_conn;

/* Opens (creating if needed) the database at path and applies migrations:
 * migrations[i] is the SQL script that takes user_version i to i+1, run in
 * one transaction each. OUT: *out. Returns 0, or -1 after logging why. */
int db_open(const char *path, const char *const *migrations, int n_migrations, db **out);

/* Finalises every statement and closes every connection. Accepts NULL.
 * No other thread may use d any more. */
void db_close(db *d);

/* Lends a read connection (from the pool of idle ones, or a new one when
 * none is idle; never waits). Give it back with db_reader_done once its
 * statements are done, on every path. NULL only when SQLite cannot open the
 * file; then the caller answers 500. Use it outside any write transaction.
 * The pool keeps at most SHOP_DB_READERS (16) idle connections: each costs
 * its schema and prepared statements, so one per worker thread (192) came
 * to about 0.2 MB per thread. */
db_conn *db_reader(db *d);

/* Gives back a connection from db_reader (rolled back first, and logged,
 * if a read transaction was left open). Accepts NULL. */
void db_reader_done(db *d, db_conn *c);

/* Takes the process's write lock and begins the caller's transaction on the
 * writer connection: a SAVEPOINT inside the open group-commit batch (a
 * BEGIN IMMEDIATE transaction that writers queued for the lock share; see
 * db.c). Returns the connection, or NULL (lock released) when that fails.
 * Every db_begin_write is ended by db_commit or db_rollback, and no HTTP
 * call or other wait may happen in between: the next writers queue on it. */
db_conn *db_begin_write(db *d);

/* Ends the caller's transaction, releases the write lock and returns once
 * the batch holding it has COMMITted (synchronous=FULL: it is on disk).
 * Returns 0, or -1 when the commit failed (then the caller's work, and its
 * batch's, is rolled back). */
int db_commit(db *d, db_conn *c);

/* Rolls back the caller's own work (not the batch's) and releases the
 * write lock. */
void db_rollback(db *d, db_conn *c);

/* Writers blocked in db_begin_write right now (the write queue's depth). */
int db_waiting_writers(db *d);

/* A prepared statement for sql on c, from the connection's cache (sql must be
 * a string literal or otherwise outlive the connection: the cache keys on
 * its address). The statement comes reset with no bindings; the caller steps
 * it and then calls db_stmt_done. Returns NULL after logging on error. */
sqlite3_stmt *db_prepare(db_conn *c, const char *sql);

/* Resets st and clears its bindings so its transaction does not stay open. */
void db_stmt_done(sqlite3_stmt *st);

/* Runs sql (no parameters, no rows wanted) on c. Returns 0 or -1. */
int db_exec(db_conn *c, const char *sql);

/* The raw handle, for sqlite3_changes and last_insert_rowid. */
sqlite3 *db_handle(db_conn *c);

/* Binds text that may be NULL (binds SQL NULL then). */
int db_bind_text_or_null(sqlite3_stmt *st, int idx, const char *s);

/* The text of column col as a const char* ("" when NULL). */
const char *db_column_text(sqlite3_stmt *st, int col);

#endif
