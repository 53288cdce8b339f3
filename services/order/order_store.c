/* The order service's SQLite store: every SQL statement of the service. Status
 * changes are conditional updates on the expected status, so two actors that
 * race (a payment and a cancel, a saga and recovery) can never both win. */
#include "order_store.h"

#include <stdlib.h>
#include <string.h>

#include "log.h"
#include "saga_log.h"

static const char *const order_migrations[] = {
    "CREATE TABLE orders ("
    "  id INTEGER PRIMARY KEY AUTOINCREMENT," /* never reused: peers key on it */
    "  user_id INTEGER NOT NULL,"
    "  status TEXT NOT NULL CHECK (status IN"
    "    ('PENDING','CREATED','PAID','CANCELLING','CANCELLED','FAILED')),"
    "  user_coupon_id INTEGER,"
    "  total_amount INTEGER NOT NULL DEFAULT 0,"
    "  discount_amount INTEGER NOT NULL DEFAULT 0,"
    "  final_amount INTEGER NOT NULL DEFAULT 0,"
    "  payment_id INTEGER,"
    "  created_at INTEGER NOT NULL,"
    "  updated_at INTEGER NOT NULL);"
    "CREATE INDEX orders_status_updated ON orders(status, updated_at);"
    "CREATE INDEX orders_user ON orders(user_id, id);"
    "CREATE TABLE order_lines ("
    "  order_id INTEGER NOT NULL REFERENCES orders(id),"
    "  item_id INTEGER NOT NULL,"
    "  quantity INTEGER NOT NULL CHECK (quantity BETWEEN 1 AND 1000),"
    "  unit_price INTEGER NOT NULL DEFAULT 0 CHECK (unit_price >= 0),"
    "  PRIMARY KEY (order_id, item_id));" IDEM_SCHEMA,
    /* The saga log: every step of every saga run on an order, written with
     * the run's next state change. */
    SAGA_LOG_SCHEMA(""),
    /* Recovery's claim on a PENDING order it is undoing: set before its
     * restores, so the saga's PENDING -> CREATED can no longer win. Internal;
     * the status stays PENDING until FAILED. */
    "ALTER TABLE orders ADD COLUMN undoing INTEGER NOT NULL DEFAULT 0 CHECK (undoing IN (0, 1));",
};

#define ORDER_COLS                                                                                 \
    "id, user_id, status, user_coupon_id, total_amount, discount_amount, final_amount, "           \
    "payment_id, created_at, updated_at, undoing"

static const char SQL_INSERT_ORDER[] =
    "INSERT INTO orders (user_id, status, user_coupon_id, created_at, updated_at) "
    "VALUES (?1, 'PENDING', ?2, ?3, ?3)";
static const char SQL_INSERT_LINE[] =
    "INSERT INTO order_lines (order_id, item_id, quantity, unit_price) VALUES (?1, ?2, ?3, 0)";
static const char SQL_GET_ORDER[] = "SELECT " ORDER_COLS " FROM orders WHERE id = ?1";
static const char SQL_GET_LINES[] =
    "SELECT item_id, quantity, unit_price FROM order_lines WHERE order_id = ?1 ORDER BY rowid";
static const char SQL_MARK_CREATED[] =
    "UPDATE orders SET status = 'CREATED', total_amount = ?1, discount_amount = ?2, "
    "final_amount = ?3, updated_at = ?4 WHERE id = ?5 AND status = 'PENDING' AND undoing = 0";
static const char SQL_CLAIM_UNDO[] =
    "UPDATE orders SET undoing = 1 WHERE id = ?1 AND status = 'PENDING'";
static const char SQL_PRICE_LINE[] =
    "UPDATE order_lines SET unit_price = ?1 WHERE order_id = ?2 AND item_id = ?3";
static const char SQL_MARK_PAID[] =
    "UPDATE orders SET status = 'PAID', payment_id = ?1, updated_at = ?2 "
    "WHERE id = ?3 AND status = 'CREATED'";
static const char SQL_TRANSITION[] =
    "UPDATE orders SET status = ?1, updated_at = ?2 WHERE id = ?3 AND status = ?4";
static const char SQL_GET_STEPS[] =
    "SELECT payment_id, at_us, step, peer, http_status, error, duration_ms, request_id, "
    "compensation FROM saga_steps WHERE order_id = ?1 ORDER BY at_us, id LIMIT ?2";
static const char SQL_LIST_STALE[] = "SELECT id FROM orders WHERE status = ?1 AND updated_at <= ?2 "
                                     "ORDER BY updated_at, id LIMIT ?3";
static const char SQL_LIST[] =
    "SELECT " ORDER_COLS " FROM orders WHERE id > ?1 AND (?2 IS NULL OR status = ?2) "
    "AND (?3 IS NULL OR user_id = ?3) ORDER BY id LIMIT ?4";

int order_store_open(const char *path, db **out)
{
    return db_open(path, order_migrations,
                   (int)(sizeof order_migrations / sizeof order_migrations[0]), out);
}

/* Steps st to completion and resets it. Returns SHOP_OK or SHOP_EDB. */
static shop_err step_done(db_conn *c, sqlite3_stmt *st)
{
    int rc = sqlite3_step(st);
    db_stmt_done(st);
    if (rc != SQLITE_DONE) {
        log_error(NULL, "order store: step failed: %s", sqlite3_errmsg(db_handle(c)));
        return SHOP_EDB;
    }
    return SHOP_OK;
}

static int changes(db_conn *c)
{
    return sqlite3_changes(db_handle(c));
}

/* Ends a write transaction: commits when err is SHOP_OK (a failed commit
 * becomes SHOP_EDB), else rolls back. Returns the final error. */
static shop_err end_write(db *d, db_conn *c, shop_err err)
{
    if (err != SHOP_OK) {
        db_rollback(d, c);
        return err;
    }
    return db_commit(d, c) == 0 ? SHOP_OK : SHOP_EDB;
}

/* Writes step st of order_id (its payment_id, when > 0). */
static shop_err insert_step(db_conn *c, int64_t order_id, const order_step *st)
{
    saga_log_row row = SAGA_LOG_ROW(st, order_id, st->payment_id > 0 ? &st->payment_id : NULL);
    return saga_log_insert(c, &row) == 0 ? SHOP_OK : SHOP_EDB;
}

/* Writes the buffered steps of log (may be NULL) and, when won, the state
 * step (may be NULL) of order_id inside the caller's transaction. */
static shop_err write_log(db_conn *c, int64_t order_id, const order_steps *log,
                          const order_step *state, bool won)
{
    for (size_t i = 0; log != NULL && i < log->n; i++)
        if (insert_step(c, order_id, &log->items[i]) != SHOP_OK)
            return SHOP_EDB;
    if (won && state != NULL)
        return insert_step(c, order_id, state);
    return SHOP_OK;
}

/* Ends a write transaction that wrote log (may be NULL): on a commit, log is
 * empty again. Returns the final error as end_write. */
static shop_err end_logged_write(db *d, db_conn *c, shop_err err, order_steps *log)
{
    err = end_write(d, c, err);
    if (err == SHOP_OK && log != NULL)
        log->n = 0;
    return err;
}

static shop_err insert_lines(db_conn *c, int64_t order_id, const order_create_req *rq)
{
    sqlite3_stmt *st = db_prepare(c, SQL_INSERT_LINE);
    if (st == NULL)
        return SHOP_EDB;
    for (size_t i = 0; i < rq->n_lines; i++) {
        sqlite3_bind_int64(st, 1, order_id);
        sqlite3_bind_int64(st, 2, rq->lines[i].item_id);
        sqlite3_bind_int64(st, 3, rq->lines[i].quantity);
        if (step_done(c, st) != SHOP_OK)
            return SHOP_EDB;
    }
    return SHOP_OK;
}

/* Binds idem's key IN_PROGRESS to order_id. SHOP_ECONFLICT when it is taken:
 * *seen is then the writer's outcome (IDEM_REPLAY with the stored answer in
 * *rec, IDEM_MISMATCH or IDEM_IN_PROGRESS); *rec is freed otherwise. */
static shop_err reserve_key(db_conn *c, const order_idem *idem, int64_t order_id,
                            idem_outcome *seen, idem_record *rec)
{
    idem_outcome outcome = idem_lookup(c, ORDER_IDEM_SCOPE, idem->key, idem->request, rec);
    if (outcome == IDEM_NEW || outcome == IDEM_ERROR)
        idem_record_free(rec);
    if (outcome == IDEM_ERROR)
        return SHOP_EDB;
    if (outcome != IDEM_NEW) {
        *seen = outcome;
        return SHOP_ECONFLICT;
    }
    return idem_reserve(c, ORDER_IDEM_SCOPE, idem->key, idem->request, order_id) == 0 ? SHOP_OK
                                                                                      : SHOP_EDB;
}

shop_err order_store_insert_pending(db *d, const order_create_req *rq, int64_t now_s,
                                    const order_idem *idem, order_steps *log, int64_t *order_id,
                                    idem_outcome *seen, idem_record *rec)
{
    shop_err err = SHOP_EDB;
    int64_t id = 0;
    idem_outcome seen_buf;
    idem_record rec_buf;
    if (seen == NULL)
        seen = &seen_buf;
    if (rec == NULL)
        rec = &rec_buf;
    *seen = IDEM_NEW;
    memset(rec, 0, sizeof *rec);
    db_conn *c = db_begin_write(d);
    if (c == NULL)
        return SHOP_EDB;
    sqlite3_stmt *st = db_prepare(c, SQL_INSERT_ORDER);
    if (st == NULL)
        goto out;
    sqlite3_bind_int64(st, 1, rq->user_id);
    if (rq->user_coupon_id > 0)
        sqlite3_bind_int64(st, 2, rq->user_coupon_id);
    sqlite3_bind_int64(st, 3, now_s);
    if (step_done(c, st) != SHOP_OK)
        goto out;
    id = sqlite3_last_insert_rowid(db_handle(c));
    if (insert_lines(c, id, rq) != SHOP_OK || write_log(c, id, log, NULL, false) != SHOP_OK)
        goto out;
    err = idem != NULL ? reserve_key(c, idem, id, seen, rec) : SHOP_OK;
out:
    err = end_logged_write(d, c, err, log);
    if (err == SHOP_OK)
        *order_id = id;
    if (err != SHOP_ECONFLICT)
        *seen = IDEM_NEW;
    if (*seen == IDEM_NEW || rec == &rec_buf)
        idem_record_free(rec);
    return err;
}

/* Reads the columns of ORDER_COLS from the current row of st. */
static void read_order(sqlite3_stmt *st, order_rec *o)
{
    memset(o, 0, sizeof *o);
    o->id = sqlite3_column_int64(st, 0);
    o->user_id = sqlite3_column_int64(st, 1);
    if (!order_status_parse(db_column_text(st, 2), &o->status))
        o->status = ORDER_FAILED; /* the CHECK constraint makes this unreachable */
    o->user_coupon_id = sqlite3_column_int64(st, 3); /* NULL reads as 0 */
    o->total_amount = sqlite3_column_int64(st, 4);
    o->discount_amount = sqlite3_column_int64(st, 5);
    o->final_amount = sqlite3_column_int64(st, 6);
    o->payment_id = sqlite3_column_int64(st, 7);
    o->created_at = sqlite3_column_int64(st, 8);
    o->updated_at = sqlite3_column_int64(st, 9);
    o->undoing = sqlite3_column_int(st, 10) != 0;
}

static shop_err read_lines(db_conn *c, order_rec *o)
{
    sqlite3_stmt *st = db_prepare(c, SQL_GET_LINES);
    int rc;
    if (st == NULL)
        return SHOP_EDB;
    sqlite3_bind_int64(st, 1, o->id);
    o->n_lines = 0;
    while ((rc = sqlite3_step(st)) == SQLITE_ROW && o->n_lines < ORDER_MAX_LINES) {
        order_line *l = &o->lines[o->n_lines++];
        l->item_id = sqlite3_column_int64(st, 0);
        l->quantity = sqlite3_column_int64(st, 1);
        l->unit_price = sqlite3_column_int64(st, 2);
    }
    db_stmt_done(st);
    return rc == SQLITE_ROW || rc == SQLITE_DONE ? SHOP_OK : SHOP_EDB;
}

shop_err order_store_get(db *d, int64_t id, order_rec *out)
{
    shop_err err = SHOP_EDB;
    db_conn *c = db_reader(d);
    if (c == NULL || db_exec(c, "BEGIN") != 0) {
        db_reader_done(d, c);
        return SHOP_EDB;
    }
    sqlite3_stmt *st = db_prepare(c, SQL_GET_ORDER);
    if (st == NULL)
        goto out;
    sqlite3_bind_int64(st, 1, id);
    int rc = sqlite3_step(st);
    if (rc == SQLITE_ROW)
        read_order(st, out);
    db_stmt_done(st);
    if (rc == SQLITE_DONE)
        err = SHOP_ENOTFOUND;
    else if (rc == SQLITE_ROW)
        err = read_lines(c, out);
out:
    db_exec(c, "COMMIT");
    db_reader_done(d, c);
    return err;
}

static shop_err price_lines(db_conn *c, const order_rec *o)
{
    sqlite3_stmt *st = db_prepare(c, SQL_PRICE_LINE);
    if (st == NULL)
        return SHOP_EDB;
    for (size_t i = 0; i < o->n_lines; i++) {
        sqlite3_bind_int64(st, 1, o->lines[i].unit_price);
        sqlite3_bind_int64(st, 2, o->id);
        sqlite3_bind_int64(st, 3, o->lines[i].item_id);
        if (step_done(c, st) != SHOP_OK)
            return SHOP_EDB;
    }
    return SHOP_OK;
}

shop_err order_store_mark_created(db *d, const order_rec *o, const char *reply_body,
                                  order_steps *log, const order_step *state, bool *won)
{
    shop_err err = SHOP_EDB;
    *won = false;
    db_conn *c = db_begin_write(d);
    if (c == NULL)
        return SHOP_EDB;
    sqlite3_stmt *st = db_prepare(c, SQL_MARK_CREATED);
    if (st == NULL)
        goto out;
    sqlite3_bind_int64(st, 1, o->total_amount);
    sqlite3_bind_int64(st, 2, o->discount_amount);
    sqlite3_bind_int64(st, 3, o->final_amount);
    sqlite3_bind_int64(st, 4, o->updated_at);
    sqlite3_bind_int64(st, 5, o->id);
    if (step_done(c, st) != SHOP_OK)
        goto out;
    *won = changes(c) == 1; /* lost: only the steps are written */
    if ((*won && price_lines(c, o) != SHOP_OK) || write_log(c, o->id, log, state, *won) != SHOP_OK)
        goto out;
    if (*won && idem_finish_ref(c, ORDER_IDEM_SCOPE, o->id, 201, reply_body) != 0)
        goto out;
    err = SHOP_OK;
out:
    err = end_logged_write(d, c, err, log);
    if (err != SHOP_OK)
        *won = false;
    return err;
}

shop_err order_store_claim_undo(db *d, int64_t id, bool *won)
{
    shop_err err = SHOP_EDB;
    *won = false;
    db_conn *c = db_begin_write(d);
    if (c == NULL)
        return SHOP_EDB;
    sqlite3_stmt *st = db_prepare(c, SQL_CLAIM_UNDO);
    if (st == NULL)
        goto out;
    sqlite3_bind_int64(st, 1, id);
    if ((err = step_done(c, st)) == SHOP_OK)
        *won = changes(c) == 1;
out:
    err = end_write(d, c, err);
    if (err != SHOP_OK)
        *won = false;
    return err;
}

shop_err order_store_mark_paid(db *d, int64_t id, int64_t payment_id, int64_t now_s,
                               order_steps *log, const order_step *state, bool *won)
{
    shop_err err = SHOP_EDB;
    *won = false;
    db_conn *c = db_begin_write(d);
    if (c == NULL)
        return SHOP_EDB;
    sqlite3_stmt *st = db_prepare(c, SQL_MARK_PAID);
    if (st == NULL)
        goto out;
    sqlite3_bind_int64(st, 1, payment_id);
    sqlite3_bind_int64(st, 2, now_s);
    sqlite3_bind_int64(st, 3, id);
    if (step_done(c, st) != SHOP_OK)
        goto out;
    *won = changes(c) == 1;
    err = write_log(c, id, log, state, *won);
out:
    err = end_logged_write(d, c, err, log);
    if (err != SHOP_OK)
        *won = false;
    return err;
}

shop_err order_store_transition(db *d, int64_t id, order_status from, order_status to,
                                int64_t now_s, order_steps *log, const order_step *state, bool *won)
{
    shop_err err = SHOP_EDB;
    *won = false;
    if (!order_transition_allowed(from, to)) {
        log_error(NULL, "order store: transition %s -> %s refused", order_status_name(from),
                  order_status_name(to));
        return SHOP_EINVAL;
    }
    db_conn *c = db_begin_write(d);
    if (c == NULL)
        return SHOP_EDB;
    sqlite3_stmt *st = db_prepare(c, SQL_TRANSITION);
    if (st == NULL)
        goto out;
    sqlite3_bind_text(st, 1, order_status_name(to), -1, SQLITE_STATIC);
    sqlite3_bind_int64(st, 2, now_s);
    sqlite3_bind_int64(st, 3, id);
    sqlite3_bind_text(st, 4, order_status_name(from), -1, SQLITE_STATIC);
    if (step_done(c, st) != SHOP_OK)
        goto out;
    *won = changes(c) == 1;
    if (write_log(c, id, log, state, *won) != SHOP_OK)
        goto out;
    err = SHOP_OK;
    if (*won && to == ORDER_FAILED && idem_forget_ref(c, ORDER_IDEM_SCOPE, id) != 0)
        err = SHOP_EDB;
out:
    err = end_logged_write(d, c, err, log);
    if (err != SHOP_OK)
        *won = false;
    return err;
}

shop_err order_store_list_stale(db *d, order_status status, int64_t cutoff_s, int64_t *ids,
                                size_t cap, size_t *n)
{
    int rc;
    *n = 0;
    db_conn *c = db_reader(d);
    if (c == NULL)
        return SHOP_EDB;
    sqlite3_stmt *st = db_prepare(c, SQL_LIST_STALE);
    if (st == NULL) {
        db_reader_done(d, c);
        return SHOP_EDB;
    }
    sqlite3_bind_text(st, 1, order_status_name(status), -1, SQLITE_STATIC);
    sqlite3_bind_int64(st, 2, cutoff_s);
    sqlite3_bind_int64(st, 3, (sqlite3_int64)cap);
    while ((rc = sqlite3_step(st)) == SQLITE_ROW && *n < cap)
        ids[(*n)++] = sqlite3_column_int64(st, 0);
    db_stmt_done(st);
    db_reader_done(d, c);
    return rc == SQLITE_ROW || rc == SQLITE_DONE ? SHOP_OK : SHOP_EDB;
}

/* The orders of f (without lines) into out[0..*n). */
static shop_err list_rows(db_conn *c, const order_filter *f, order_rec *out, size_t cap, size_t *n)
{
    int rc;
    sqlite3_stmt *st = db_prepare(c, SQL_LIST);
    if (st == NULL)
        return SHOP_EDB;
    sqlite3_bind_int64(st, 1, f->after_id);
    if (f->has_status)
        sqlite3_bind_text(st, 2, order_status_name(f->status), -1, SQLITE_STATIC);
    if (f->user_id > 0)
        sqlite3_bind_int64(st, 3, f->user_id);
    sqlite3_bind_int64(st, 4, (sqlite3_int64)cap);
    while ((rc = sqlite3_step(st)) == SQLITE_ROW && *n < cap)
        read_order(st, &out[(*n)++]);
    db_stmt_done(st);
    return rc == SQLITE_ROW || rc == SQLITE_DONE ? SHOP_OK : SHOP_EDB;
}

shop_err order_store_list(db *d, const order_filter *f, order_rec *out, size_t cap, size_t *n)
{
    shop_err err;
    *n = 0;
    db_conn *c = db_reader(d);
    if (c == NULL || db_exec(c, "BEGIN") != 0) {
        db_reader_done(d, c);
        return SHOP_EDB;
    }
    err = list_rows(c, f, out, cap, n);
    for (size_t i = 0; err == SHOP_OK && i < *n; i++)
        err = read_lines(c, &out[i]);
    db_exec(c, "COMMIT");
    db_reader_done(d, c);
    if (err != SHOP_OK)
        *n = 0;
    return err;
}

idem_outcome order_store_idem_lookup(db *d, const order_idem *idem, idem_record *rec)
{
    return idem_lookup_reader(d, ORDER_IDEM_SCOPE, idem, rec);
}

shop_err order_store_idem_put(db *d, const order_idem *idem, int reply_status,
                              const char *reply_body)
{
    int rc = idem_put_answer(d, ORDER_IDEM_SCOPE, idem, reply_status, reply_body);
    return rc == 0 ? SHOP_OK : SHOP_EDB;
}

shop_err order_store_idem_answer(db *d, int64_t order_id, int reply_status, const char *reply_body,
                                 order_steps *log)
{
    db_conn *c = db_begin_write(d);
    if (c == NULL)
        return SHOP_EDB;
    shop_err err = idem_finish_ref(c, ORDER_IDEM_SCOPE, order_id, reply_status, reply_body) == 0
                       ? write_log(c, order_id, log, NULL, false)
                       : SHOP_EDB;
    return end_logged_write(d, c, err, log);
}

shop_err order_store_steps_flush(db *d, int64_t order_id, order_steps *log)
{
    if (log == NULL || log->n == 0)
        return SHOP_OK;
    db_conn *c = db_begin_write(d);
    if (c == NULL)
        return SHOP_EDB;
    return end_logged_write(d, c, write_log(c, order_id, log, NULL, false), log);
}

shop_err order_store_steps(db *d, int64_t order_id, order_step *out, size_t cap, size_t *n)
{
    int rc;
    *n = 0;
    db_conn *c = db_reader(d);
    if (c == NULL)
        return SHOP_EDB;
    sqlite3_stmt *st = db_prepare(c, SQL_GET_STEPS);
    if (st == NULL) {
        db_reader_done(d, c);
        return SHOP_EDB;
    }
    sqlite3_bind_int64(st, 1, order_id);
    sqlite3_bind_int64(st, 2, (sqlite3_int64)cap);
    while ((rc = sqlite3_step(st)) == SQLITE_ROW && *n < cap) {
        order_step *s = &out[(*n)++];
        order_step_set(s, sqlite3_column_int64(st, 1), NULL, db_column_text(st, 2),
                       db_column_text(st, 3), sqlite3_column_int(st, 4), db_column_text(st, 5),
                       sqlite3_column_int64(st, 6), db_column_text(st, 7),
                       sqlite3_column_int(st, 8) != 0);
        s->payment_id = sqlite3_column_int64(st, 0);
    }
    db_stmt_done(st);
    db_reader_done(d, c);
    return rc == SQLITE_ROW || rc == SQLITE_DONE ? SHOP_OK : SHOP_EDB;
}

shop_err order_store_idem_purge(db *d, int64_t now_s)
{
    return idem_purge_expired(d, now_s) == 0 ? SHOP_OK : SHOP_EDB;
}
