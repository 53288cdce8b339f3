/* item-service's storage: every SQL statement of the service. Stock only moves
 * inside write transactions, by conditional updates, together with the
 * reservation row that records why (keyed by order id). */
#include "item_store.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "log.h"
#include "timeutil.h"

static const char *const item_migrations[] = {
    /* 0 -> 1: items and reservations. */
    "CREATE TABLE items ("
    "  id INTEGER PRIMARY KEY,"
    "  name TEXT NOT NULL CHECK (length(CAST(name AS BLOB)) BETWEEN 1 AND 200),"
    "  price INTEGER NOT NULL CHECK (price BETWEEN 0 AND 1000000000),"
    "  stock INTEGER NOT NULL CHECK (stock >= 0)"
    ");"
    "CREATE TABLE reservations ("
    "  order_id INTEGER PRIMARY KEY,"
    "  status TEXT NOT NULL CHECK (status IN ('DEDUCTED', 'RELEASED')),"
    "  created_at INTEGER NOT NULL,"
    "  updated_at INTEGER NOT NULL"
    ");"
    "CREATE TABLE reservation_lines ("
    "  order_id INTEGER NOT NULL REFERENCES reservations(order_id),"
    "  item_id INTEGER NOT NULL REFERENCES items(id),"
    "  quantity INTEGER NOT NULL CHECK (quantity BETWEEN 1 AND 1000),"
    "  unit_price INTEGER NOT NULL,"
    "  UNIQUE (order_id, item_id)"
    ");",
};

static const char SQL_COUNT_ITEMS[] = "SELECT count(*) FROM items";
static const char SQL_SEED_ITEM[] =
    "INSERT INTO items (id, name, price, stock) VALUES (?1, ?2, ?3, ?4)";
static const char SQL_INSERT_ITEM[] = "INSERT INTO items (name, price, stock) VALUES (?1, ?2, ?3)";
static const char SQL_GET_ITEM[] = "SELECT id, name, price, stock FROM items WHERE id = ?1";
static const char SQL_LIST_ITEMS[] = "SELECT id, name, price, stock FROM items ORDER BY id";
static const char SQL_LOOKUP_LINE[] = "SELECT price, stock FROM items WHERE id = ?1";
static const char SQL_TAKE_STOCK[] =
    "UPDATE items SET stock = stock - ?1 WHERE id = ?2 AND stock >= ?1";
static const char SQL_GIVE_STOCK[] = "UPDATE items SET stock = stock + ?1 WHERE id = ?2";
static const char SQL_GET_RESERVATION[] =
    "SELECT status, created_at, updated_at FROM reservations WHERE order_id = ?1";
static const char SQL_GET_RESERVATION_LINES[] =
    "SELECT item_id, quantity, unit_price FROM reservation_lines WHERE order_id = ?1 ORDER BY "
    "rowid";
static const char SQL_INSERT_RESERVATION[] =
    "INSERT INTO reservations (order_id, status, created_at, updated_at) VALUES (?1, ?2, ?3, ?3)";
static const char SQL_INSERT_RESERVATION_LINE[] =
    "INSERT INTO reservation_lines (order_id, item_id, quantity, unit_price) VALUES (?1, ?2, ?3, "
    "?4)";
static const char SQL_RELEASE_RESERVATION[] =
    "UPDATE reservations SET status = 'RELEASED', updated_at = ?2"
    " WHERE order_id = ?1 AND status = 'DEDUCTED'";

static const struct {
    int64_t id;
    const char *name;
    int64_t price;
    int64_t stock;
} item_seed[] = {
    {1, "Keyboard", 50000, 10},
    {2, "Mouse", 20000, 100},
    {3, "Monitor", 300000, 5},
    {4, "USB cable", 5000, 1000},
};

static void log_db_error(db_conn *c, const char *what)
{
    log_error(NULL, "item_store: %s: %s", what, sqlite3_errmsg(db_handle(c)));
}

static int64_t now_s(void)
{
    return time_now_ms() / 1000;
}

/* Steps a statement that returns no rows. Returns 0 or -1 (logged). */
static int step_done(db_conn *c, sqlite3_stmt *st, const char *what)
{
    int rc = sqlite3_step(st);
    db_stmt_done(st);
    if (rc != SQLITE_DONE) {
        log_db_error(c, what);
        return -1;
    }
    return 0;
}

int item_store_open(const char *path, db **out)
{
    return db_open(path, item_migrations, (int)(sizeof item_migrations / sizeof item_migrations[0]),
                   out);
}

/* Inserts the seed items on c. Returns 0 or -1. */
static int insert_seed(db_conn *c)
{
    for (size_t i = 0; i < sizeof item_seed / sizeof item_seed[0]; i++) {
        sqlite3_stmt *st = db_prepare(c, SQL_SEED_ITEM);
        if (st == NULL)
            return -1;
        sqlite3_bind_int64(st, 1, item_seed[i].id);
        sqlite3_bind_text(st, 2, item_seed[i].name, -1, SQLITE_STATIC);
        sqlite3_bind_int64(st, 3, item_seed[i].price);
        sqlite3_bind_int64(st, 4, item_seed[i].stock);
        if (step_done(c, st, "seed item") != 0)
            return -1;
    }
    return 0;
}

int item_store_seed_if_empty(db *d, bool *seeded)
{
    int result = -1;
    bool did_seed = false;
    db_conn *c = db_begin_write(d);
    if (c == NULL)
        goto out;
    sqlite3_stmt *st = db_prepare(c, SQL_COUNT_ITEMS);
    if (st == NULL)
        goto out_rollback;
    int rc = sqlite3_step(st);
    int64_t count = rc == SQLITE_ROW ? sqlite3_column_int64(st, 0) : -1;
    db_stmt_done(st);
    if (rc != SQLITE_ROW) {
        log_db_error(c, "count items");
        goto out_rollback;
    }
    if (count == 0) {
        if (insert_seed(c) != 0)
            goto out_rollback;
        did_seed = true;
    }
    if (db_commit(d, c) != 0)
        goto out;
    result = 0;
    goto out;
out_rollback:
    db_rollback(d, c);
out:
    if (seeded != NULL)
        *seeded = result == 0 && did_seed;
    return result;
}

/* Copies the columns id, name, price, stock of st into it. */
static void read_item_row(sqlite3_stmt *st, item *it)
{
    it->id = sqlite3_column_int64(st, 0);
    snprintf(it->name, sizeof it->name, "%s", db_column_text(st, 1));
    it->price = sqlite3_column_int64(st, 2);
    it->stock = sqlite3_column_int64(st, 3);
}

shop_err item_store_create(db *d, const item_draft *draft, item *out)
{
    shop_err result = SHOP_EDB;
    db_conn *c = db_begin_write(d);
    if (c == NULL)
        goto out;
    sqlite3_stmt *st = db_prepare(c, SQL_INSERT_ITEM);
    if (st == NULL)
        goto out_rollback;
    sqlite3_bind_text(st, 1, draft->name, -1, SQLITE_TRANSIENT);
    sqlite3_bind_int64(st, 2, draft->price);
    sqlite3_bind_int64(st, 3, draft->stock);
    if (step_done(c, st, "insert item") != 0)
        goto out_rollback;
    int64_t id = sqlite3_last_insert_rowid(db_handle(c));
    if (db_commit(d, c) != 0)
        goto out;
    out->id = id;
    snprintf(out->name, sizeof out->name, "%s", draft->name);
    out->price = draft->price;
    out->stock = draft->stock;
    result = SHOP_OK;
    goto out;
out_rollback:
    db_rollback(d, c);
out:
    return result;
}

shop_err item_store_get(db *d, int64_t id, item *out)
{
    db_conn *c = db_reader(d);
    if (c == NULL)
        return SHOP_EDB;
    shop_err result = SHOP_EDB;
    sqlite3_stmt *st = db_prepare(c, SQL_GET_ITEM);
    if (st == NULL)
        goto out;
    sqlite3_bind_int64(st, 1, id);
    int rc = sqlite3_step(st);
    if (rc == SQLITE_ROW) {
        read_item_row(st, out);
        result = SHOP_OK;
    } else if (rc == SQLITE_DONE) {
        result = SHOP_ENOTFOUND;
    } else {
        log_db_error(c, "get item");
    }
    db_stmt_done(st);
out:
    db_reader_done(d, c);
    return result;
}

shop_err item_store_list(db *d, item **out, size_t *n)
{
    shop_err result = SHOP_EDB;
    item *items = NULL;
    size_t count = 0, cap = 0;
    sqlite3_stmt *st = NULL;
    db_conn *c = db_reader(d);
    if (c == NULL)
        goto out;
    st = db_prepare(c, SQL_LIST_ITEMS);
    if (st == NULL)
        goto out;
    int rc;
    while ((rc = sqlite3_step(st)) == SQLITE_ROW) {
        if (count == cap) {
            size_t new_cap = cap == 0 ? 16 : cap * 2;
            item *grown = realloc(items, new_cap * sizeof *grown);
            if (grown == NULL) {
                result = SHOP_ENOMEM;
                goto out;
            }
            items = grown;
            cap = new_cap;
        }
        read_item_row(st, &items[count++]);
    }
    if (rc != SQLITE_DONE) {
        log_db_error(c, "list items");
        goto out;
    }
    result = SHOP_OK;
out:
    if (st != NULL)
        db_stmt_done(st);
    db_reader_done(d, c);
    if (result != SHOP_OK) {
        free(items);
        items = NULL;
        count = 0;
    }
    *out = items;
    *n = count;
    return result;
}

/* Fills known, unit_price and stock of each line from the items table.
 * Returns 0 or -1. */
static int lookup_lines(db_conn *c, item_line *lines, int n)
{
    for (int i = 0; i < n; i++) {
        sqlite3_stmt *st = db_prepare(c, SQL_LOOKUP_LINE);
        if (st == NULL)
            return -1;
        sqlite3_bind_int64(st, 1, lines[i].item_id);
        int rc = sqlite3_step(st);
        lines[i].known = rc == SQLITE_ROW;
        lines[i].unit_price = rc == SQLITE_ROW ? sqlite3_column_int64(st, 0) : 0;
        lines[i].stock = rc == SQLITE_ROW ? sqlite3_column_int64(st, 1) : 0;
        db_stmt_done(st);
        if (rc != SQLITE_ROW && rc != SQLITE_DONE) {
            log_db_error(c, "look up item");
            return -1;
        }
    }
    return 0;
}

item_outcome item_store_check(db *d, item_line *lines, int n, int *failed)
{
    *failed = -1;
    db_conn *c = db_reader(d);
    if (c == NULL)
        return ITEM_DB_ERROR;
    /* One read transaction, so every line sees the same moment. */
    item_outcome result = ITEM_DB_ERROR;
    if (db_exec(c, "BEGIN") == 0) {
        if (lookup_lines(c, lines, n) == 0)
            result = item_logic_check_stock(lines, n, failed);
        if (db_exec(c, "COMMIT") != 0)
            result = ITEM_DB_ERROR;
    }
    db_reader_done(d, c);
    return result;
}

/* Loads order_id's reservation on c. Returns ITEM_OK, ITEM_NOT_FOUND or
 * ITEM_DB_ERROR. */
static item_outcome load_reservation(db_conn *c, int64_t order_id, item_reservation *out)
{
    sqlite3_stmt *st = db_prepare(c, SQL_GET_RESERVATION);
    if (st == NULL)
        return ITEM_DB_ERROR;
    sqlite3_bind_int64(st, 1, order_id);
    int rc = sqlite3_step(st);
    if (rc == SQLITE_ROW) {
        out->order_id = order_id;
        out->released = strcmp(db_column_text(st, 0), "RELEASED") == 0;
        out->created_at = sqlite3_column_int64(st, 1);
        out->updated_at = sqlite3_column_int64(st, 2);
        out->n_lines = 0;
    }
    db_stmt_done(st);
    if (rc == SQLITE_DONE)
        return ITEM_NOT_FOUND;
    if (rc != SQLITE_ROW) {
        log_db_error(c, "get reservation");
        return ITEM_DB_ERROR;
    }
    st = db_prepare(c, SQL_GET_RESERVATION_LINES);
    if (st == NULL)
        return ITEM_DB_ERROR;
    sqlite3_bind_int64(st, 1, order_id);
    while ((rc = sqlite3_step(st)) == SQLITE_ROW && out->n_lines < ITEM_MAX_LINES) {
        item_line *line = &out->lines[out->n_lines++];
        line->item_id = sqlite3_column_int64(st, 0);
        line->quantity = sqlite3_column_int64(st, 1);
        line->unit_price = sqlite3_column_int64(st, 2);
        line->stock = 0;
        line->known = true;
    }
    db_stmt_done(st);
    if (rc != SQLITE_DONE && rc != SQLITE_ROW) {
        log_db_error(c, "get reservation lines");
        return ITEM_DB_ERROR;
    }
    return ITEM_OK;
}

/* Inserts the reservation row of order_id with status and its lines. */
static int insert_reservation(db_conn *c, int64_t order_id, const char *status,
                              const item_line *lines, int n, int64_t now)
{
    sqlite3_stmt *st = db_prepare(c, SQL_INSERT_RESERVATION);
    if (st == NULL)
        return -1;
    sqlite3_bind_int64(st, 1, order_id);
    sqlite3_bind_text(st, 2, status, -1, SQLITE_STATIC);
    sqlite3_bind_int64(st, 3, now);
    if (step_done(c, st, "insert reservation") != 0)
        return -1;
    for (int i = 0; i < n; i++) {
        st = db_prepare(c, SQL_INSERT_RESERVATION_LINE);
        if (st == NULL)
            return -1;
        sqlite3_bind_int64(st, 1, order_id);
        sqlite3_bind_int64(st, 2, lines[i].item_id);
        sqlite3_bind_int64(st, 3, lines[i].quantity);
        sqlite3_bind_int64(st, 4, lines[i].unit_price);
        if (step_done(c, st, "insert reservation line") != 0)
            return -1;
    }
    return 0;
}

/* The conditional deduction of one line. Returns ITEM_OK, ITEM_OUT_OF_STOCK
 * (no row had enough) or ITEM_DB_ERROR. */
static item_outcome take_stock(db_conn *c, const item_line *line)
{
    sqlite3_stmt *st = db_prepare(c, SQL_TAKE_STOCK);
    if (st == NULL)
        return ITEM_DB_ERROR;
    sqlite3_bind_int64(st, 1, line->quantity);
    sqlite3_bind_int64(st, 2, line->item_id);
    if (step_done(c, st, "take stock") != 0)
        return ITEM_DB_ERROR;
    return sqlite3_changes(db_handle(c)) == 1 ? ITEM_OK : ITEM_OUT_OF_STOCK;
}

/* Fills out with a fresh reservation of order_id holding lines. */
static void fill_reservation(item_reservation *out, int64_t order_id, bool released,
                             const item_line *lines, int n, int64_t now)
{
    out->order_id = order_id;
    out->released = released;
    out->n_lines = n;
    for (int i = 0; i < n; i++)
        out->lines[i] = lines[i];
    out->created_at = now;
    out->updated_at = now;
}

item_outcome item_store_deduct(db *d, int64_t order_id, item_line *lines, int n,
                               item_reservation *out, int *failed)
{
    item_outcome result = ITEM_DB_ERROR;
    *failed = -1;
    db_conn *c = db_begin_write(d);
    if (c == NULL)
        goto out;
    item_outcome stored = load_reservation(c, order_id, out);
    if (stored == ITEM_OK) { /* a repeat, or the restore came first */
        result = out->released ? ITEM_RELEASED : ITEM_OK;
        goto out_rollback;
    }
    if (stored != ITEM_NOT_FOUND || lookup_lines(c, lines, n) != 0)
        goto out_rollback;
    result = item_logic_check_stock(lines, n, failed);
    if (result != ITEM_OK)
        goto out_rollback;
    for (int i = 0; i < n; i++) {
        /* We hold the only write transaction, so the lookup above still
         * holds; the condition keeps stock from going below zero anyway. */
        result = take_stock(c, &lines[i]);
        if (result != ITEM_OK) {
            *failed = i;
            goto out_rollback;
        }
    }
    int64_t now = now_s();
    result = ITEM_DB_ERROR;
    if (insert_reservation(c, order_id, "DEDUCTED", lines, n, now) != 0)
        goto out_rollback;
    if (db_commit(d, c) != 0)
        goto out;
    fill_reservation(out, order_id, false, lines, n, now);
    result = ITEM_OK;
    goto out;
out_rollback:
    db_rollback(d, c);
out:
    return result;
}

/* Returns the quantities of a DEDUCTED reservation to stock and marks it
 * RELEASED, on c. Returns 0 or -1. */
static int release_reservation(db_conn *c, item_reservation *res, int64_t now)
{
    for (int i = 0; i < res->n_lines; i++) {
        sqlite3_stmt *st = db_prepare(c, SQL_GIVE_STOCK);
        if (st == NULL)
            return -1;
        sqlite3_bind_int64(st, 1, res->lines[i].quantity);
        sqlite3_bind_int64(st, 2, res->lines[i].item_id);
        if (step_done(c, st, "give stock") != 0)
            return -1;
        if (sqlite3_changes(db_handle(c)) != 1) {
            log_error(NULL, "item_store: restore: item %lld is gone",
                      (long long)res->lines[i].item_id);
            return -1;
        }
    }
    sqlite3_stmt *st = db_prepare(c, SQL_RELEASE_RESERVATION);
    if (st == NULL)
        return -1;
    sqlite3_bind_int64(st, 1, res->order_id);
    sqlite3_bind_int64(st, 2, now);
    if (step_done(c, st, "release reservation") != 0 || sqlite3_changes(db_handle(c)) != 1)
        return -1;
    res->released = true;
    res->updated_at = now;
    return 0;
}

item_outcome item_store_restore(db *d, int64_t order_id, item_reservation *out, bool *gave_back)
{
    item_outcome result = ITEM_DB_ERROR;
    bool returned = false;
    db_conn *c = db_begin_write(d);
    if (c == NULL)
        goto out;
    item_outcome stored = load_reservation(c, order_id, out);
    int64_t now = now_s();
    if (stored == ITEM_OK && out->released) { /* a repeat: nothing to give */
        result = ITEM_OK;
        goto out_rollback;
    }
    if (stored == ITEM_OK) {
        if (release_reservation(c, out, now) != 0)
            goto out_rollback;
        returned = true;
    } else if (stored == ITEM_NOT_FOUND) {
        /* The restore came first: a tombstone refuses the late deduct. */
        if (insert_reservation(c, order_id, "RELEASED", NULL, 0, now) != 0)
            goto out_rollback;
        fill_reservation(out, order_id, true, NULL, 0, now);
    } else {
        goto out_rollback;
    }
    if (db_commit(d, c) != 0) {
        returned = false;
        goto out;
    }
    result = ITEM_OK;
    goto out;
out_rollback:
    db_rollback(d, c);
out:
    if (gave_back != NULL)
        *gave_back = result == ITEM_OK && returned;
    return result;
}

item_outcome item_store_get_reservation(db *d, int64_t order_id, item_reservation *out)
{
    db_conn *c = db_reader(d);
    if (c == NULL)
        return ITEM_DB_ERROR;
    item_outcome result = load_reservation(c, order_id, out);
    db_reader_done(d, c);
    return result;
}
