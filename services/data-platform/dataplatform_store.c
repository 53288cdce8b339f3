/* Every SQL statement of the data-platform stub (see dataplatform_store.h). */
#include "dataplatform_store.h"

#include <stdlib.h>
#include <string.h>

#include "log.h"

static const char migration_1[] = "CREATE TABLE received_orders ("
                                  "  order_id INTEGER PRIMARY KEY,"
                                  "  payment_id INTEGER NOT NULL,"
                                  "  user_id INTEGER NOT NULL,"
                                  "  items TEXT NOT NULL,"
                                  "  total_amount INTEGER NOT NULL,"
                                  "  discount_amount INTEGER NOT NULL,"
                                  "  final_amount INTEGER NOT NULL,"
                                  "  paid_at INTEGER NOT NULL,"
                                  "  received_at INTEGER NOT NULL,"
                                  "  last_received_at INTEGER NOT NULL,"
                                  "  deliveries INTEGER NOT NULL CHECK (deliveries >= 1));";

const char *const dataplatform_store_migrations[] = {migration_1};
const int dataplatform_store_n_migrations = 1;

shop_err dataplatform_store_receive(db *d, const dataplatform_record *rec, int64_t now_s,
                                    int64_t *deliveries)
{
    /* Deduplicated by order id: a repeat touches only the counters. */
    static const char sql[] =
        "INSERT INTO received_orders(order_id, payment_id, user_id, items, total_amount, "
        "discount_amount, final_amount, paid_at, received_at, last_received_at, deliveries) "
        "VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?9, 1) "
        "ON CONFLICT(order_id) DO UPDATE SET deliveries = deliveries + 1, "
        "last_received_at = excluded.last_received_at RETURNING deliveries";
    shop_err result = SHOP_EDB;
    db_conn *c = db_begin_write(d);
    if (c == NULL)
        return SHOP_EDB;
    sqlite3_stmt *st = db_prepare(c, sql);
    if (st == NULL)
        goto out;
    sqlite3_bind_int64(st, 1, rec->order_id);
    sqlite3_bind_int64(st, 2, rec->payment_id);
    sqlite3_bind_int64(st, 3, rec->user_id);
    sqlite3_bind_text(st, 4, rec->items != NULL ? rec->items : "[]", -1, SQLITE_STATIC);
    sqlite3_bind_int64(st, 5, rec->total_amount);
    sqlite3_bind_int64(st, 6, rec->discount_amount);
    sqlite3_bind_int64(st, 7, rec->final_amount);
    sqlite3_bind_int64(st, 8, rec->paid_at);
    sqlite3_bind_int64(st, 9, now_s);
    int rc = sqlite3_step(st);
    if (rc == SQLITE_ROW) {
        *deliveries = sqlite3_column_int64(st, 0);
        rc = sqlite3_step(st);
    }
    db_stmt_done(st);
    if (rc != SQLITE_DONE) {
        log_error(NULL, "dataplatform_store: receive: %s", sqlite3_errmsg(db_handle(c)));
        goto out;
    }
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

#define RECORD_COLS                                                                                \
    "order_id, payment_id, user_id, items, total_amount, discount_amount, final_amount, "          \
    "paid_at, received_at, deliveries FROM received_orders "

/* Reads the current row of st into r. Returns SHOP_OK or SHOP_ENOMEM. */
static shop_err read_record(sqlite3_stmt *st, dataplatform_record *r)
{
    memset(r, 0, sizeof *r);
    r->order_id = sqlite3_column_int64(st, 0);
    r->payment_id = sqlite3_column_int64(st, 1);
    r->user_id = sqlite3_column_int64(st, 2);
    r->items = strdup(db_column_text(st, 3));
    r->total_amount = sqlite3_column_int64(st, 4);
    r->discount_amount = sqlite3_column_int64(st, 5);
    r->final_amount = sqlite3_column_int64(st, 6);
    r->paid_at = sqlite3_column_int64(st, 7);
    r->received_at = sqlite3_column_int64(st, 8);
    r->deliveries = sqlite3_column_int64(st, 9);
    return r->items != NULL ? SHOP_OK : SHOP_ENOMEM;
}

shop_err dataplatform_store_get(db *d, int64_t order_id, dataplatform_record *out)
{
    static const char sql[] = "SELECT " RECORD_COLS "WHERE order_id = ?1";
    db_conn *c = db_reader(d);
    if (c == NULL)
        return SHOP_EDB;
    shop_err result = SHOP_EDB;
    sqlite3_stmt *st = db_prepare(c, sql);
    if (st != NULL) {
        sqlite3_bind_int64(st, 1, order_id);
        int rc = sqlite3_step(st);
        if (rc == SQLITE_ROW)
            result = read_record(st, out);
        else if (rc == SQLITE_DONE)
            result = SHOP_ENOTFOUND;
        db_stmt_done(st);
    }
    db_reader_done(d, c);
    return result;
}

shop_err dataplatform_store_list(db *d, int64_t after_id, dataplatform_record *rows, size_t max,
                                 size_t *n)
{
    static const char sql[] = "SELECT " RECORD_COLS "WHERE order_id > ?1 ORDER BY order_id "
                              "LIMIT ?2";
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
    sqlite3_bind_int64(st, 2, (sqlite3_int64)max);
    shop_err result = SHOP_OK;
    int rc = SQLITE_DONE;
    while (*n < max && (rc = sqlite3_step(st)) == SQLITE_ROW) {
        result = read_record(st, &rows[*n]);
        (*n)++;
        if (result != SHOP_OK)
            break;
    }
    if (result == SHOP_OK && *n < max && rc != SQLITE_DONE)
        result = SHOP_EDB;
    db_stmt_done(st);
    db_reader_done(d, c);
    return result;
}

void dataplatform_record_release(dataplatform_record *r)
{
    if (r == NULL)
        return;
    free(r->items);
    r->items = NULL;
}
