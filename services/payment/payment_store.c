/* Every SQL statement of the payment service (see payment_store.h). */
#include "payment_store.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "log.h"
#include "saga_log.h"

static const char migration_1[] =
    "CREATE TABLE payments ("
    "  id INTEGER PRIMARY KEY AUTOINCREMENT," /* never reused: ids name debit refs */
    "  order_id INTEGER NOT NULL,"
    "  user_id INTEGER NOT NULL,"
    "  amount INTEGER CHECK (amount IS NULL OR amount >= 0)," /* NULL: order not read yet */
    "  status TEXT NOT NULL CHECK (status IN ('PENDING','COMPLETED','FAILED','REFUNDED')),"
    "  created_at INTEGER NOT NULL,"
    "  updated_at INTEGER NOT NULL);"
    /* Payments of one order are mutually exclusive: a second live one fails
     * its insert instead of racing the first. */
    "CREATE UNIQUE INDEX payments_one_live ON payments(order_id)"
    "  WHERE status IN ('PENDING','COMPLETED');"
    "CREATE INDEX payments_by_status ON payments(status, created_at);"
    "CREATE INDEX payments_by_user ON payments(user_id, id);"
    "CREATE TABLE outbox ("
    "  payment_id INTEGER PRIMARY KEY REFERENCES payments(id),"
    "  order_id INTEGER NOT NULL,"
    "  payload TEXT NOT NULL,"
    "  status TEXT NOT NULL CHECK (status IN ('PENDING','DELIVERED')),"
    "  attempts INTEGER NOT NULL DEFAULT 0,"
    "  next_attempt_ms INTEGER NOT NULL,"
    "  delivered_at INTEGER);"
    "CREATE INDEX outbox_due ON outbox(status, next_attempt_ms);";

/* The saga log (steps of payments that were discarded are never written, so
 * every step's payment row exists) and the Idempotency-Keys of POST /payments. */
static const char migration_2[] = SAGA_LOG_SCHEMA(" NOT NULL") IDEM_SCHEMA;

/* A FAILED payment (short balance) whose order's cancellation is owed: set
 * with FAILED, cleared when order-service has confirmed it; the settler
 * retries the cancel of every row that still owes one. */
static const char migration_3[] =
    "ALTER TABLE payments ADD COLUMN cancel_pending INTEGER NOT NULL DEFAULT 0"
    "  CHECK (cancel_pending IN (0, 1));"
    "CREATE INDEX payments_cancel_pending ON payments(updated_at, id) WHERE cancel_pending = 1;";

const char *const payment_store_migrations[] = {migration_1, migration_2, migration_3};
const int payment_store_n_migrations = 3;

static bool is_constraint(int rc)
{
    return (rc & 0xff) == SQLITE_CONSTRAINT;
}

/* Ends a write transaction: commits when result is SHOP_OK, or SHOP_ECONFLICT
 * with keep set (a conditional write that lost but wrote steps), else rolls
 * back. On a commit log (may be NULL) is empty again. Returns result, or
 * SHOP_EDB when the commit failed. */
static shop_err end_write(db *d, db_conn *c, shop_err result, bool keep, payment_steps *log)
{
    if (result != SHOP_OK && !(result == SHOP_ECONFLICT && keep)) {
        db_rollback(d, c);
        return result;
    }
    if (db_commit(d, c) != 0)
        return SHOP_EDB;
    if (log != NULL)
        log->n = 0;
    return result;
}

/* Steps st to the end and resets it; logs a failure. Returns SQLite's code. */
static int step_once(db_conn *c, sqlite3_stmt *st, const char *what)
{
    int rc = sqlite3_step(st);
    db_stmt_done(st);
    if (rc != SQLITE_DONE && !is_constraint(rc))
        log_error(NULL, "payment_store: %s: %s", what, sqlite3_errmsg(db_handle(c)));
    return rc;
}

/* Writes step s (payment_id is NOT NULL here: every step has its payment). */
static shop_err insert_step(db_conn *c, const payment_step *s)
{
    saga_log_row row = SAGA_LOG_ROW(s, s->order_id, &s->payment_id);
    return saga_log_insert(c, &row) == 0 ? SHOP_OK : SHOP_EDB;
}

/* Writes log's steps (log may be NULL) and, when won, the state step (may
 * be NULL), inside the caller's transaction. */
static shop_err write_log(db_conn *c, const payment_steps *log, const payment_step *state, bool won)
{
    for (size_t i = 0; log != NULL && i < log->n; i++)
        if (insert_step(c, &log->items[i]) != SHOP_OK)
            return SHOP_EDB;
    return won && state != NULL ? insert_step(c, state) : SHOP_OK;
}

/* Settles the key bound to payment id (if any) with answer (may be NULL),
 * inside the caller's transaction. */
static shop_err apply_answer(db_conn *c, int64_t id, const payment_answer *answer)
{
    if (answer == NULL)
        return SHOP_OK;
    int rc = answer->status < 500
                 ? idem_finish_ref(c, PAYMENT_IDEM_SCOPE, id, answer->status, answer->body)
                 : idem_forget_ref(c, PAYMENT_IDEM_SCOPE, id);
    return rc == 0 ? SHOP_OK : SHOP_EDB;
}

/* True when idem's key is free (not stored yet); *result is SHOP_ECONFLICT
 * (with *taken) or SHOP_EDB when it is not. Looked up on the writer, so
 * the answer holds until the transaction ends. */
static bool key_free(db_conn *c, const payment_idem *idem, bool *taken, shop_err *result)
{
    idem_record rec;
    idem_outcome outcome = idem_lookup(c, PAYMENT_IDEM_SCOPE, idem->key, idem->request, &rec);
    idem_record_free(&rec);
    if (outcome == IDEM_NEW)
        return true;
    *taken = outcome != IDEM_ERROR;
    *result = *taken ? SHOP_ECONFLICT : SHOP_EDB;
    return false;
}

shop_err payment_store_insert_pending(db *d, int64_t order_id, int64_t user_id, int64_t now_s,
                                      const payment_idem *idem, int64_t *id, bool *key_taken)
{
    static const char sql[] = "INSERT INTO payments(order_id, user_id, amount, status, "
                              "created_at, updated_at) VALUES (?1, ?2, NULL, 'PENDING', ?3, ?3)";
    shop_err result = SHOP_EDB;
    *key_taken = false;
    db_conn *c = db_begin_write(d);
    if (c == NULL)
        return SHOP_EDB;
    /* The key first: a repeat of a running request is IDEMPOTENCY_KEY_IN_USE,
     * not a second payment of the order. */
    if (idem != NULL && !key_free(c, idem, key_taken, &result))
        goto out;
    result = SHOP_EDB;
    sqlite3_stmt *st = db_prepare(c, sql);
    if (st == NULL)
        goto out;
    sqlite3_bind_int64(st, 1, order_id);
    sqlite3_bind_int64(st, 2, user_id);
    sqlite3_bind_int64(st, 3, now_s);
    int rc = step_once(c, st, "insert");
    if (is_constraint(rc)) {
        result = SHOP_ECONFLICT;
        goto out;
    }
    if (rc != SQLITE_DONE)
        goto out;
    *id = sqlite3_last_insert_rowid(db_handle(c));
    if (idem == NULL || idem_reserve(c, PAYMENT_IDEM_SCOPE, idem->key, idem->request, *id) == 0)
        result = SHOP_OK;
out:
    return end_write(d, c, result, false, NULL);
}

/* After a conditional UPDATE/DELETE of payment id inside the caller's
 * transaction: writes log, and when one row changed, state and answer.
 * Returns SHOP_OK, SHOP_ECONFLICT when no row changed, or SHOP_EDB. */
static shop_err conditional_tail(db_conn *c, int64_t id, const payment_steps *log,
                                 const payment_step *state, const payment_answer *answer)
{
    bool won = sqlite3_changes(db_handle(c)) == 1;
    if (write_log(c, log, state, won) != SHOP_OK || (won && apply_answer(c, id, answer) != SHOP_OK))
        return SHOP_EDB;
    return won ? SHOP_OK : SHOP_ECONFLICT;
}

/* In one write transaction: sql (binding int64 args 1..n) must change
 * exactly one row of payment id; then conditional_tail. Returns SHOP_OK,
 * SHOP_ECONFLICT when no row changed (log is written all the same), or
 * SHOP_EDB (nothing is). */
static shop_err write_one(db *d, const char *sql, const int64_t *args, int n, int64_t id,
                          payment_steps *log, const payment_step *state,
                          const payment_answer *answer)
{
    shop_err result = SHOP_EDB;
    db_conn *c = db_begin_write(d);
    if (c == NULL)
        return SHOP_EDB;
    sqlite3_stmt *st = db_prepare(c, sql);
    if (st == NULL)
        goto out;
    for (int i = 0; i < n; i++)
        sqlite3_bind_int64(st, i + 1, args[i]);
    if (step_once(c, st, "write") == SQLITE_DONE)
        result = conditional_tail(c, id, log, state, answer);
out:
    return end_write(d, c, result, true, log);
}

shop_err payment_store_delete_pending(db *d, int64_t id, const payment_answer *answer)
{
    static const char sql[] = "DELETE FROM payments WHERE id = ?1 AND status = 'PENDING'";
    int64_t args[] = {id};
    return write_one(d, sql, args, 1, id, NULL, NULL, answer);
}

shop_err payment_store_set_amount(db *d, int64_t id, int64_t amount, int64_t now_s,
                                  payment_steps *log)
{
    static const char sql[] = "UPDATE payments SET amount = ?2, updated_at = ?3 "
                              "WHERE id = ?1 AND status = 'PENDING'";
    int64_t args[] = {id, amount, now_s};
    return write_one(d, sql, args, 3, id, log, NULL, NULL);
}

shop_err payment_store_transition(db *d, int64_t id, payment_status from, payment_status to,
                                  int64_t now_s, payment_steps *log, const payment_step *state,
                                  const payment_answer *answer)
{
    static const char sql[] = "UPDATE payments SET status = ?3, updated_at = ?4 "
                              "WHERE id = ?1 AND status = ?2";
    if (to == PAYMENT_COMPLETED || !payment_transition_allowed(from, to))
        return SHOP_ECONFLICT;
    shop_err result = SHOP_EDB;
    db_conn *c = db_begin_write(d);
    if (c == NULL)
        return SHOP_EDB;
    sqlite3_stmt *st = db_prepare(c, sql);
    if (st == NULL)
        goto out;
    sqlite3_bind_int64(st, 1, id);
    sqlite3_bind_text(st, 2, payment_status_name(from), -1, SQLITE_STATIC);
    sqlite3_bind_text(st, 3, payment_status_name(to), -1, SQLITE_STATIC);
    sqlite3_bind_int64(st, 4, now_s);
    if (step_once(c, st, "transition") == SQLITE_DONE)
        result = conditional_tail(c, id, log, state, answer);
out:
    return end_write(d, c, result, true, log);
}

shop_err payment_store_fail_owing_cancel(db *d, int64_t id, int64_t now_s, payment_steps *log,
                                         const payment_step *state)
{
    static const char sql[] = "UPDATE payments SET status = 'FAILED', cancel_pending = 1, "
                              "updated_at = ?2 WHERE id = ?1 AND status = 'PENDING'";
    int64_t args[] = {id, now_s};
    return write_one(d, sql, args, 2, id, log, state, NULL);
}

shop_err payment_store_cancel_done(db *d, int64_t id, int64_t now_s, payment_steps *log,
                                   const payment_answer *answer)
{
    static const char sql[] = "UPDATE payments SET cancel_pending = 0, updated_at = ?2 "
                              "WHERE id = ?1 AND status = 'FAILED' AND cancel_pending = 1";
    int64_t args[] = {id, now_s};
    return write_one(d, sql, args, 2, id, log, NULL, answer);
}

shop_err payment_store_complete(db *d, int64_t id, int64_t order_id, const char *payload,
                                int64_t now_s, int64_t now_ms, payment_steps *log,
                                const payment_step *state, const payment_answer *answer)
{
    static const char upd[] = "UPDATE payments SET status = 'COMPLETED', updated_at = ?2 "
                              "WHERE id = ?1 AND status = 'PENDING'";
    static const char ins[] = "INSERT INTO outbox(payment_id, order_id, payload, status, "
                              "attempts, next_attempt_ms, delivered_at) "
                              "VALUES (?1, ?2, ?3, 'PENDING', 0, ?4, NULL)";
    shop_err result = SHOP_EDB;
    db_conn *c = db_begin_write(d);
    if (c == NULL)
        return SHOP_EDB;
    sqlite3_stmt *st = db_prepare(c, upd);
    if (st == NULL)
        goto out;
    sqlite3_bind_int64(st, 1, id);
    sqlite3_bind_int64(st, 2, now_s);
    if (step_once(c, st, "complete") != SQLITE_DONE)
        goto out;
    result = conditional_tail(c, id, log, state, answer);
    if (result != SHOP_OK)
        goto out;
    result = SHOP_EDB;
    st = db_prepare(c, ins);
    if (st == NULL)
        goto out;
    sqlite3_bind_int64(st, 1, id);
    sqlite3_bind_int64(st, 2, order_id);
    sqlite3_bind_text(st, 3, payload, -1, SQLITE_STATIC);
    sqlite3_bind_int64(st, 4, now_ms);
    if (step_once(c, st, "outbox") == SQLITE_DONE)
        result = SHOP_OK;
out:
    return end_write(d, c, result, true, log);
}

shop_err payment_store_steps_flush(db *d, payment_steps *log)
{
    if (log == NULL || log->n == 0)
        return SHOP_OK;
    db_conn *c = db_begin_write(d);
    if (c == NULL)
        return SHOP_EDB;
    return end_write(d, c, write_log(c, log, NULL, false), false, log);
}

shop_err payment_store_steps(db *d, int64_t order_id, int64_t user_id, payment_step *out,
                             size_t cap, size_t *n)
{
    static const char sql[] =
        "SELECT s.payment_id, s.at_us, s.step, s.peer, s.http_status, s.error, s.duration_ms, "
        "s.request_id, s.compensation FROM saga_steps s JOIN payments p ON p.id = s.payment_id "
        "WHERE s.order_id = ?1 AND (?2 = 0 OR p.user_id = ?2) ORDER BY s.at_us, s.id LIMIT ?3";
    int rc;
    *n = 0;
    db_conn *c = db_reader(d);
    if (c == NULL)
        return SHOP_EDB;
    sqlite3_stmt *st = db_prepare(c, sql);
    if (st == NULL) {
        db_reader_done(d, c);
        return SHOP_EDB;
    }
    sqlite3_bind_int64(st, 1, order_id);
    sqlite3_bind_int64(st, 2, user_id > 0 ? user_id : 0);
    sqlite3_bind_int64(st, 3, (sqlite3_int64)cap);
    while ((rc = sqlite3_step(st)) == SQLITE_ROW && *n < cap) {
        payment_step *s = &out[(*n)++];
        payment_step_set(s, NULL, sqlite3_column_int64(st, 0), order_id,
                         sqlite3_column_int64(st, 1), NULL, db_column_text(st, 2),
                         db_column_text(st, 3), sqlite3_column_int(st, 4), db_column_text(st, 5),
                         sqlite3_column_int64(st, 6), sqlite3_column_int(st, 8) != 0);
        snprintf(s->request_id, sizeof s->request_id, "%s", db_column_text(st, 7));
    }
    db_stmt_done(st);
    db_reader_done(d, c);
    return rc == SQLITE_ROW || rc == SQLITE_DONE ? SHOP_OK : SHOP_EDB;
}

/* The columns every payment read selects, in this order. */
#define PAYMENT_COLS                                                                               \
    "p.id, p.order_id, p.user_id, p.amount, p.status, p.created_at, p.updated_at, "                \
    "o.payment_id IS NOT NULL, o.status = 'DELIVERED', o.attempts, o.delivered_at, "               \
    "p.cancel_pending FROM payments p LEFT JOIN outbox o ON o.payment_id = p.id "

static void read_row(sqlite3_stmt *st, payment_row *r)
{
    memset(r, 0, sizeof *r);
    r->id = sqlite3_column_int64(st, 0);
    r->order_id = sqlite3_column_int64(st, 1);
    r->user_id = sqlite3_column_int64(st, 2);
    r->amount_known = sqlite3_column_type(st, 3) != SQLITE_NULL;
    r->amount = sqlite3_column_int64(st, 3);
    r->status = payment_status_parse(db_column_text(st, 4));
    r->created_at = sqlite3_column_int64(st, 5);
    r->updated_at = sqlite3_column_int64(st, 6);
    r->has_delivery = sqlite3_column_int(st, 7) != 0;
    r->delivered = sqlite3_column_int(st, 8) != 0;
    r->attempts = sqlite3_column_int64(st, 9);
    r->delivered_at = sqlite3_column_int64(st, 10);
    r->cancel_pending = sqlite3_column_int(st, 11) != 0;
}

shop_err payment_store_get(db *d, int64_t id, payment_row *out)
{
    static const char sql[] = "SELECT " PAYMENT_COLS "WHERE p.id = ?1";
    db_conn *c = db_reader(d);
    if (c == NULL)
        return SHOP_EDB;
    sqlite3_stmt *st = db_prepare(c, sql);
    if (st == NULL) {
        db_reader_done(d, c);
        return SHOP_EDB;
    }
    sqlite3_bind_int64(st, 1, id);
    int rc = sqlite3_step(st);
    shop_err result = SHOP_EDB;
    if (rc == SQLITE_ROW) {
        read_row(st, out);
        result = SHOP_OK;
    } else if (rc == SQLITE_DONE) {
        result = SHOP_ENOTFOUND;
    }
    db_stmt_done(st);
    db_reader_done(d, c);
    return result;
}

/* Steps st into rows (at most max). OUT: *n. Resets st. */
static shop_err read_rows(sqlite3_stmt *st, payment_row *rows, size_t max, size_t *n)
{
    shop_err result = SHOP_OK;
    *n = 0;
    int rc = SQLITE_DONE;
    while (*n < max && (rc = sqlite3_step(st)) == SQLITE_ROW)
        read_row(st, &rows[(*n)++]);
    if (*n < max && rc != SQLITE_DONE)
        result = SHOP_EDB;
    db_stmt_done(st);
    return result;
}

shop_err payment_store_list(db *d, payment_status status, int64_t user_id, int64_t after_id,
                            payment_row *rows, size_t max, size_t *n)
{
    static const char sql[] =
        "SELECT " PAYMENT_COLS "WHERE p.id > ?1 AND (?2 IS NULL OR p.status = ?2) "
        "AND (?3 = 0 OR p.user_id = ?3) ORDER BY p.id LIMIT ?4";
    *n = 0;
    db_conn *c = db_reader(d);
    if (c == NULL)
        return SHOP_EDB;
    sqlite3_stmt *st = db_prepare(c, sql);
    if (st == NULL) {
        db_reader_done(d, c);
        return SHOP_EDB;
    }
    sqlite3_bind_int64(st, 1, after_id);
    db_bind_text_or_null(st, 2, payment_status_name(status));
    sqlite3_bind_int64(st, 3, user_id > 0 ? user_id : 0);
    sqlite3_bind_int64(st, 4, (sqlite3_int64)max);
    shop_err result = read_rows(st, rows, max, n);
    db_reader_done(d, c);
    return result;
}

/* The rows of sql (bound: ?1 cutoff_s, ?2 max) on a lent reader. */
static shop_err read_rows_before(db *d, const char *sql, int64_t cutoff_s, payment_row *rows,
                                 size_t max, size_t *n)
{
    *n = 0;
    db_conn *c = db_reader(d);
    if (c == NULL)
        return SHOP_EDB;
    sqlite3_stmt *st = db_prepare(c, sql);
    if (st == NULL) {
        db_reader_done(d, c);
        return SHOP_EDB;
    }
    sqlite3_bind_int64(st, 1, cutoff_s);
    sqlite3_bind_int64(st, 2, (sqlite3_int64)max);
    shop_err result = read_rows(st, rows, max, n);
    db_reader_done(d, c);
    return result;
}

shop_err payment_store_stale_pending(db *d, int64_t cutoff_s, payment_row *rows, size_t max,
                                     size_t *n)
{
    static const char sql[] =
        "SELECT " PAYMENT_COLS "WHERE p.status = 'PENDING' AND p.created_at < ?1 "
        "ORDER BY p.created_at, p.id LIMIT ?2";
    return read_rows_before(d, sql, cutoff_s, rows, max, n);
}

shop_err payment_store_cancels_owed(db *d, int64_t cutoff_s, payment_row *rows, size_t max,
                                    size_t *n)
{
    static const char sql[] = "SELECT " PAYMENT_COLS "WHERE p.cancel_pending = 1 "
                              "AND p.updated_at < ?1 ORDER BY p.updated_at, p.id LIMIT ?2";
    return read_rows_before(d, sql, cutoff_s, rows, max, n);
}

shop_err payment_store_outbox_next(db *d, int64_t now_ms, payment_outbox_msg *msg, bool *due,
                                   int64_t *next_ms)
{
    static const char sql[] = "SELECT payment_id, order_id, payload, attempts, next_attempt_ms "
                              "FROM outbox WHERE status = 'PENDING' "
                              "ORDER BY next_attempt_ms, payment_id LIMIT 1";
    *due = false;
    *next_ms = -1;
    db_conn *c = db_reader(d);
    if (c == NULL)
        return SHOP_EDB;
    sqlite3_stmt *st = db_prepare(c, sql);
    if (st == NULL) {
        db_reader_done(d, c);
        return SHOP_EDB;
    }
    shop_err result = SHOP_OK;
    int rc = sqlite3_step(st);
    if (rc == SQLITE_ROW) {
        int64_t at = sqlite3_column_int64(st, 4);
        *next_ms = at;
        if (at <= now_ms) {
            msg->payment_id = sqlite3_column_int64(st, 0);
            msg->order_id = sqlite3_column_int64(st, 1);
            msg->payload = strdup(db_column_text(st, 2));
            msg->attempts = sqlite3_column_int64(st, 3);
            if (msg->payload == NULL)
                result = SHOP_ENOMEM;
            else
                *due = true;
        }
    } else if (rc != SQLITE_DONE) {
        result = SHOP_EDB;
    }
    db_stmt_done(st);
    db_reader_done(d, c);
    return result;
}

shop_err payment_store_outbox_backlog(db *d, int64_t *n)
{
    static const char sql[] = "SELECT count(*) FROM outbox WHERE status = 'PENDING'";
    *n = 0;
    db_conn *c = db_reader(d);
    if (c == NULL)
        return SHOP_EDB;
    sqlite3_stmt *st = db_prepare(c, sql);
    if (st == NULL) {
        db_reader_done(d, c);
        return SHOP_EDB;
    }
    shop_err result = SHOP_EDB;
    if (sqlite3_step(st) == SQLITE_ROW) {
        *n = sqlite3_column_int64(st, 0);
        result = SHOP_OK;
    }
    db_stmt_done(st);
    db_reader_done(d, c);
    return result;
}

shop_err payment_store_outbox_delivered(db *d, int64_t payment_id, int64_t attempts,
                                        int64_t delivered_at_s, const payment_step *st)
{
    static const char sql[] = "UPDATE outbox SET status = 'DELIVERED', attempts = ?2, "
                              "delivered_at = ?3 WHERE payment_id = ?1 AND status = 'PENDING'";
    int64_t args[] = {payment_id, attempts, delivered_at_s};
    shop_err e = write_one(d, sql, args, 3, payment_id, NULL, st, NULL);
    return e == SHOP_ECONFLICT ? SHOP_OK : e;
}

shop_err payment_store_outbox_retry(db *d, int64_t payment_id, int64_t attempts,
                                    int64_t next_attempt_ms, const payment_step *st)
{
    static const char sql[] = "UPDATE outbox SET attempts = ?2, next_attempt_ms = ?3 "
                              "WHERE payment_id = ?1 AND status = 'PENDING'";
    int64_t args[] = {payment_id, attempts, next_attempt_ms};
    shop_err e = write_one(d, sql, args, 3, payment_id, NULL, st, NULL);
    return e == SHOP_ECONFLICT ? SHOP_OK : e;
}

void payment_outbox_msg_release(payment_outbox_msg *msg)
{
    if (msg == NULL)
        return;
    free(msg->payload);
    msg->payload = NULL;
}

idem_outcome payment_store_idem_lookup(db *d, const payment_idem *idem, idem_record *rec)
{
    return idem_lookup_reader(d, PAYMENT_IDEM_SCOPE, idem, rec);
}

shop_err payment_store_idem_put(db *d, const payment_idem *idem, int status, const char *body)
{
    return idem_put_answer(d, PAYMENT_IDEM_SCOPE, idem, status, body) == 0 ? SHOP_OK : SHOP_EDB;
}

shop_err payment_store_idem_purge(db *d, int64_t now_s)
{
    return idem_purge_expired(d, now_s) == 0 ? SHOP_OK : SHOP_EDB;
}
