/* Every SQL statement of the payment service (see payment_store.h). */
#include "payment_store.h"

#include <stdlib.h>
#include <string.h>

#include "log.h"

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

const char *const payment_store_migrations[] = {migration_1};
const int payment_store_n_migrations = 1;

static bool is_constraint(int rc)
{
    return (rc & 0xff) == SQLITE_CONSTRAINT;
}

shop_err payment_store_insert_pending(db *d, int64_t order_id, int64_t user_id, int64_t now_s,
                                      int64_t *id)
{
    static const char sql[] = "INSERT INTO payments(order_id, user_id, amount, status, "
                              "created_at, updated_at) VALUES (?1, ?2, NULL, 'PENDING', ?3, ?3)";
    shop_err result = SHOP_EDB;
    db_conn *c = db_begin_write(d);
    if (c == NULL)
        return SHOP_EDB;
    sqlite3_stmt *st = db_prepare(c, sql);
    if (st == NULL)
        goto out;
    sqlite3_bind_int64(st, 1, order_id);
    sqlite3_bind_int64(st, 2, user_id);
    sqlite3_bind_int64(st, 3, now_s);
    int rc = sqlite3_step(st);
    db_stmt_done(st);
    if (is_constraint(rc)) {
        result = SHOP_ECONFLICT;
        goto out;
    }
    if (rc != SQLITE_DONE) {
        log_error(NULL, "payment_store: insert: %s", sqlite3_errmsg(db_handle(c)));
        goto out;
    }
    *id = sqlite3_last_insert_rowid(db_handle(c));
    result = SHOP_OK;
out:
    if (result == SHOP_OK) {
        if (db_commit(d, c) != 0)
            result = SHOP_EDB;
    } else {
        db_rollback(d, c);
    }
    return result;
}

/* Runs one parameterised UPDATE/DELETE (binding int64 args 1..n) in its own
 * write transaction. Returns SHOP_OK when exactly one row changed,
 * SHOP_ECONFLICT when none did, SHOP_EDB on error. */
static shop_err write_one(db *d, const char *sql, const int64_t *args, int n)
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
    int rc = sqlite3_step(st);
    db_stmt_done(st);
    if (rc != SQLITE_DONE) {
        log_error(NULL, "payment_store: write: %s", sqlite3_errmsg(db_handle(c)));
        goto out;
    }
    result = sqlite3_changes(db_handle(c)) == 1 ? SHOP_OK : SHOP_ECONFLICT;
out:
    if (result == SHOP_OK) {
        if (db_commit(d, c) != 0)
            result = SHOP_EDB;
    } else {
        db_rollback(d, c);
    }
    return result;
}

shop_err payment_store_delete_pending(db *d, int64_t id)
{
    static const char sql[] = "DELETE FROM payments WHERE id = ?1 AND status = 'PENDING'";
    int64_t args[] = {id};
    return write_one(d, sql, args, 1);
}

shop_err payment_store_set_amount(db *d, int64_t id, int64_t amount, int64_t now_s)
{
    static const char sql[] = "UPDATE payments SET amount = ?2, updated_at = ?3 "
                              "WHERE id = ?1 AND status = 'PENDING'";
    int64_t args[] = {id, amount, now_s};
    return write_one(d, sql, args, 3);
}

shop_err payment_store_transition(db *d, int64_t id, payment_status from, payment_status to,
                                  int64_t now_s)
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
    int rc = sqlite3_step(st);
    db_stmt_done(st);
    if (rc != SQLITE_DONE) {
        log_error(NULL, "payment_store: transition: %s", sqlite3_errmsg(db_handle(c)));
        goto out;
    }
    result = sqlite3_changes(db_handle(c)) == 1 ? SHOP_OK : SHOP_ECONFLICT;
out:
    if (result == SHOP_OK) {
        if (db_commit(d, c) != 0)
            result = SHOP_EDB;
    } else {
        db_rollback(d, c);
    }
    return result;
}

shop_err payment_store_complete(db *d, int64_t id, int64_t order_id, const char *payload,
                                int64_t now_s, int64_t now_ms)
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
    int rc = sqlite3_step(st);
    db_stmt_done(st);
    if (rc != SQLITE_DONE)
        goto out_log;
    if (sqlite3_changes(db_handle(c)) != 1) {
        result = SHOP_ECONFLICT;
        goto out;
    }
    st = db_prepare(c, ins);
    if (st == NULL)
        goto out;
    sqlite3_bind_int64(st, 1, id);
    sqlite3_bind_int64(st, 2, order_id);
    sqlite3_bind_text(st, 3, payload, -1, SQLITE_STATIC);
    sqlite3_bind_int64(st, 4, now_ms);
    rc = sqlite3_step(st);
    db_stmt_done(st);
    if (rc != SQLITE_DONE)
        goto out_log;
    result = SHOP_OK;
    goto out;
out_log:
    log_error(NULL, "payment_store: complete: %s", sqlite3_errmsg(db_handle(c)));
out:
    if (result == SHOP_OK) {
        if (db_commit(d, c) != 0)
            result = SHOP_EDB;
    } else {
        db_rollback(d, c);
    }
    return result;
}

/* The columns every payment read selects, in this order. */
#define PAYMENT_COLS                                                                               \
    "p.id, p.order_id, p.user_id, p.amount, p.status, p.created_at, p.updated_at, "                \
    "o.payment_id IS NOT NULL, o.status = 'DELIVERED', o.attempts, o.delivered_at "                \
    "FROM payments p LEFT JOIN outbox o ON o.payment_id = p.id "

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
}

shop_err payment_store_get(db *d, int64_t id, payment_row *out)
{
    static const char sql[] = "SELECT " PAYMENT_COLS "WHERE p.id = ?1";
    db_conn *c = db_reader(d);
    if (c == NULL)
        return SHOP_EDB;
    sqlite3_stmt *st = db_prepare(c, sql);
    if (st == NULL)
        return SHOP_EDB;
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
    if (st == NULL)
        return SHOP_EDB;
    sqlite3_bind_int64(st, 1, after_id);
    db_bind_text_or_null(st, 2, payment_status_name(status));
    sqlite3_bind_int64(st, 3, user_id > 0 ? user_id : 0);
    sqlite3_bind_int64(st, 4, (sqlite3_int64)max);
    return read_rows(st, rows, max, n);
}

shop_err payment_store_stale_pending(db *d, int64_t cutoff_s, payment_row *rows, size_t max,
                                     size_t *n)
{
    static const char sql[] =
        "SELECT " PAYMENT_COLS "WHERE p.status = 'PENDING' AND p.created_at < ?1 "
        "ORDER BY p.created_at, p.id LIMIT ?2";
    *n = 0;
    db_conn *c = db_reader(d);
    if (c == NULL)
        return SHOP_EDB;
    sqlite3_stmt *st = db_prepare(c, sql);
    if (st == NULL)
        return SHOP_EDB;
    sqlite3_bind_int64(st, 1, cutoff_s);
    sqlite3_bind_int64(st, 2, (sqlite3_int64)max);
    return read_rows(st, rows, max, n);
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
    if (st == NULL)
        return SHOP_EDB;
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
    return result;
}

shop_err payment_store_outbox_delivered(db *d, int64_t payment_id, int64_t attempts,
                                        int64_t delivered_at_s)
{
    static const char sql[] = "UPDATE outbox SET status = 'DELIVERED', attempts = ?2, "
                              "delivered_at = ?3 WHERE payment_id = ?1 AND status = 'PENDING'";
    int64_t args[] = {payment_id, attempts, delivered_at_s};
    shop_err e = write_one(d, sql, args, 3);
    return e == SHOP_ECONFLICT ? SHOP_OK : e;
}

shop_err payment_store_outbox_retry(db *d, int64_t payment_id, int64_t attempts,
                                    int64_t next_attempt_ms)
{
    static const char sql[] = "UPDATE outbox SET attempts = ?2, next_attempt_ms = ?3 "
                              "WHERE payment_id = ?1 AND status = 'PENDING'";
    int64_t args[] = {payment_id, attempts, next_attempt_ms};
    shop_err e = write_one(d, sql, args, 3);
    return e == SHOP_ECONFLICT ? SHOP_OK : e;
}

void payment_outbox_msg_release(payment_outbox_msg *msg)
{
    if (msg == NULL)
        return;
    free(msg->payload);
    msg->payload = NULL;
}
