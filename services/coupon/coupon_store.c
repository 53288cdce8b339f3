/* Every SQL statement of the coupon service (see coupon_store.h). Writes run
 * in one BEGIN IMMEDIATE transaction each, behind the process's write lock;
 * the conditions that keep coupons right are in the statements themselves. */
#include "coupon_store.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "idempotency.h"
#include "log.h"

const char *const coupon_migrations[] = {
    "CREATE TABLE coupons("
    "  id INTEGER PRIMARY KEY,"
    "  name TEXT NOT NULL,"
    "  discount_type TEXT NOT NULL CHECK(discount_type IN ('FIXED','PERCENT')),"
    "  discount_value INTEGER NOT NULL CHECK(discount_value >= 1),"
    "  total_quantity INTEGER NOT NULL CHECK(total_quantity >= 1),"
    "  issued_quantity INTEGER NOT NULL DEFAULT 0"
    "    CHECK(issued_quantity >= 0 AND issued_quantity <= total_quantity),"
    "  expires_at INTEGER NOT NULL);"
    "CREATE TABLE user_coupons("
    "  id INTEGER PRIMARY KEY,"
    "  coupon_id INTEGER NOT NULL REFERENCES coupons(id),"
    "  user_id INTEGER NOT NULL,"
    "  is_used INTEGER NOT NULL DEFAULT 0 CHECK(is_used IN (0, 1)),"
    "  used_order_id INTEGER,"
    "  issued_at INTEGER NOT NULL,"
    "  UNIQUE(coupon_id, user_id),"
    "  CHECK((is_used = 0 AND used_order_id IS NULL)"
    "     OR (is_used = 1 AND used_order_id IS NOT NULL)));"
    "CREATE INDEX user_coupons_by_user ON user_coupons(user_id, id);"
    "CREATE INDEX user_coupons_by_order ON user_coupons(used_order_id)"
    "  WHERE used_order_id IS NOT NULL;"
    "CREATE TABLE coupon_releases("
    "  order_id INTEGER PRIMARY KEY,"
    "  released_at INTEGER NOT NULL);"
    /* The service's own key table, replaced by the next migration. */
    "CREATE TABLE idempotency_keys("
    "  route TEXT NOT NULL,"
    "  key TEXT NOT NULL,"
    "  fingerprint TEXT NOT NULL,"
    "  status INTEGER NOT NULL,"
    "  content_type TEXT NOT NULL,"
    "  body TEXT NOT NULL,"
    "  created_at INTEGER NOT NULL,"
    "  PRIMARY KEY(route, key));",
    /* The common key table (common/idempotency.h) in place of the own one.
     * The stored answers are carried over, so a retry across the upgrade
     * still replays: the old fingerprint "POST <path>\n<body>" becomes the
     * request text "<path>\n<body>"; the content type follows from the
     * status (problem+json from 400), as it was stored. */
    "ALTER TABLE idempotency_keys RENAME TO idempotency_keys_v1;" IDEM_SCHEMA
    "INSERT INTO idempotency_keys(scope, key, request, state, status, body, created_at)"
    "  SELECT route, key, substr(fingerprint, 6), 'DONE', status, body, created_at"
    "  FROM idempotency_keys_v1 WHERE fingerprint LIKE 'POST %';"
    "DROP TABLE idempotency_keys_v1;",
};

/* The columns every user-coupon read selects, in the order read_user_coupon
 * expects. */
#define UC_COLUMNS                                                                                 \
    "uc.id, uc.coupon_id, uc.user_id, uc.is_used, uc.used_order_id, c.name,"                       \
    " c.discount_type, c.discount_value, c.expires_at"                                             \
    " FROM user_coupons uc JOIN coupons c ON c.id = uc.coupon_id"

static const char SQL_COUNT_COUPONS[] = "SELECT EXISTS(SELECT 1 FROM coupons)";
static const char SQL_INSERT_COUPON[] =
    "INSERT INTO coupons(name, discount_type, discount_value, total_quantity, expires_at)"
    " VALUES(?1, ?2, ?3, ?4, ?5)";
static const char SQL_SEED_COUPON[] =
    "INSERT INTO coupons(id, name, discount_type, discount_value, total_quantity,"
    " issued_quantity, expires_at) VALUES(?1, ?2, ?3, ?4, ?5, ?6, ?7)";
static const char SQL_SEED_USER_COUPON[] =
    "INSERT INTO user_coupons(id, coupon_id, user_id, issued_at) VALUES(?1, ?2, ?3, ?4)";
static const char SQL_GET_COUPON[] =
    "SELECT id, name, discount_type, discount_value, total_quantity, issued_quantity,"
    " expires_at FROM coupons WHERE id = ?1";
static const char SQL_ISSUE_INSERT[] =
    "INSERT INTO user_coupons(coupon_id, user_id, issued_at) VALUES(?1, ?2, ?3)"
    " ON CONFLICT(coupon_id, user_id) DO NOTHING";
static const char SQL_ISSUE_COUNT[] = "UPDATE coupons SET issued_quantity = issued_quantity + 1"
                                      " WHERE id = ?1 AND issued_quantity < total_quantity";
static const char SQL_ISSUE_UNDO[] = "DELETE FROM user_coupons WHERE id = ?1";
static const char SQL_GET_USER_COUPON[] = "SELECT " UC_COLUMNS " WHERE uc.id = ?1";
static const char SQL_LIST[] = "SELECT " UC_COLUMNS " WHERE (?1 = 0 OR uc.user_id = ?1)"
                               " AND (?2 < 0 OR uc.is_used = ?2)"
                               " AND uc.id > ?3 ORDER BY uc.id LIMIT ?4";
static const char SQL_IS_RELEASED[] = "SELECT 1 FROM coupon_releases WHERE order_id = ?1";
static const char SQL_USE[] =
    "UPDATE user_coupons SET is_used = 1, used_order_id = ?2"
    " WHERE id = ?1 AND is_used = 0 AND user_id = ?3"
    " AND (SELECT expires_at FROM coupons WHERE id = user_coupons.coupon_id) > ?4";
static const char SQL_RELEASE[] =
    "INSERT INTO coupon_releases(order_id, released_at) VALUES(?1, ?2)"
    " ON CONFLICT(order_id) DO NOTHING";
static const char SQL_RESTORE[] = "UPDATE user_coupons SET is_used = 0, used_order_id = NULL"
                                  " WHERE used_order_id = ?1 AND is_used = 1";
const int coupon_n_migrations = (int)(sizeof coupon_migrations / sizeof coupon_migrations[0]);

int coupon_store_open(const char *path, db **out)
{
    return db_open(path, coupon_migrations, coupon_n_migrations, out);
}

/* Steps st, which must produce no row; true when it finished (SQLITE_DONE). */
static bool step_done(db_conn *c, sqlite3_stmt *st, const char *what)
{
    int rc = sqlite3_step(st);
    if (rc != SQLITE_DONE)
        log_error(NULL, "%s: %s", what, sqlite3_errmsg(db_handle(c)));
    return rc == SQLITE_DONE;
}

bool coupon_store_is_empty(db *d)
{
    bool empty = false;
    db_conn *c = db_reader(d);
    sqlite3_stmt *st = c != NULL ? db_prepare(c, SQL_COUNT_COUPONS) : NULL;
    if (st != NULL && sqlite3_step(st) == SQLITE_ROW)
        empty = sqlite3_column_int(st, 0) == 0;
    db_stmt_done(st);
    db_reader_done(d, c);
    return empty;
}

static bool seed_coupon(db_conn *c, int64_t id, const char *name, const char *type, int64_t value,
                        int64_t total, int64_t issued, int64_t expires)
{
    sqlite3_stmt *st = db_prepare(c, SQL_SEED_COUPON);
    if (st == NULL)
        return false;
    sqlite3_bind_int64(st, 1, id);
    sqlite3_bind_text(st, 2, name, -1, SQLITE_STATIC);
    sqlite3_bind_text(st, 3, type, -1, SQLITE_STATIC);
    sqlite3_bind_int64(st, 4, value);
    sqlite3_bind_int64(st, 5, total);
    sqlite3_bind_int64(st, 6, issued);
    sqlite3_bind_int64(st, 7, expires);
    bool ok = step_done(c, st, "seed coupon");
    db_stmt_done(st);
    return ok;
}

static bool seed_user_coupon(db_conn *c, int64_t id, int64_t coupon_id, int64_t user_id)
{
    sqlite3_stmt *st = db_prepare(c, SQL_SEED_USER_COUPON);
    if (st == NULL)
        return false;
    sqlite3_bind_int64(st, 1, id);
    sqlite3_bind_int64(st, 2, coupon_id);
    sqlite3_bind_int64(st, 3, user_id);
    sqlite3_bind_int64(st, 4, 0);
    bool ok = step_done(c, st, "seed user coupon");
    db_stmt_done(st);
    return ok;
}

shop_err coupon_store_seed(db *d)
{
    const int64_t expires = 1924991999; /* 2030-12-31T23:59:59Z */
    db_conn *c = db_begin_write(d);
    if (c == NULL)
        return SHOP_EDB;
    bool ok = seed_coupon(c, 1, "5,000 off", "FIXED", 5000, 100, 1, expires) &&
              seed_coupon(c, 2, "10% off", "PERCENT", 10, 100, 1, expires) &&
              seed_coupon(c, 3, "Last one", "FIXED", 1000, 1, 0, expires) &&
              seed_user_coupon(c, 1, 1, 1) && seed_user_coupon(c, 2, 2, 2);
    if (!ok) {
        db_rollback(d, c);
        return SHOP_EDB;
    }
    return db_commit(d, c) == 0 ? SHOP_OK : SHOP_EDB;
}

shop_err coupon_store_create(db *d, coupon *cp)
{
    db_conn *c = db_begin_write(d);
    if (c == NULL)
        return SHOP_EDB;
    sqlite3_stmt *st = db_prepare(c, SQL_INSERT_COUPON);
    if (st == NULL) {
        db_rollback(d, c);
        return SHOP_EDB;
    }
    sqlite3_bind_text(st, 1, cp->name, -1, SQLITE_TRANSIENT);
    sqlite3_bind_text(st, 2, coupon_type_name(cp->discount_type), -1, SQLITE_STATIC);
    sqlite3_bind_int64(st, 3, cp->discount_value);
    sqlite3_bind_int64(st, 4, cp->total_quantity);
    sqlite3_bind_int64(st, 5, cp->expires_at);
    bool ok = step_done(c, st, "insert coupon");
    db_stmt_done(st);
    if (!ok) {
        db_rollback(d, c);
        return SHOP_EDB;
    }
    int64_t id = sqlite3_last_insert_rowid(db_handle(c));
    if (db_commit(d, c) != 0)
        return SHOP_EDB;
    cp->id = id;
    cp->issued_quantity = 0;
    return SHOP_OK;
}

/* Reads a coupons row selected by SQL_GET_COUPON. */
static void read_coupon(sqlite3_stmt *st, coupon *out)
{
    memset(out, 0, sizeof *out);
    out->id = sqlite3_column_int64(st, 0);
    snprintf(out->name, sizeof out->name, "%s", db_column_text(st, 1));
    if (!coupon_type_parse(db_column_text(st, 2), &out->discount_type))
        out->discount_type = COUPON_FIXED; /* the CHECK constraint rules it out */
    out->discount_value = sqlite3_column_int64(st, 3);
    out->total_quantity = sqlite3_column_int64(st, 4);
    out->issued_quantity = sqlite3_column_int64(st, 5);
    out->expires_at = sqlite3_column_int64(st, 6);
}

/* Reads a row of UC_COLUMNS. */
static void read_user_coupon(sqlite3_stmt *st, coupon_user_coupon *out)
{
    memset(out, 0, sizeof *out);
    out->id = sqlite3_column_int64(st, 0);
    out->coupon_id = sqlite3_column_int64(st, 1);
    out->user_id = sqlite3_column_int64(st, 2);
    out->is_used = sqlite3_column_int(st, 3) != 0;
    out->used_order_id = sqlite3_column_int64(st, 4); /* NULL reads as 0 */
    snprintf(out->name, sizeof out->name, "%s", db_column_text(st, 5));
    if (!coupon_type_parse(db_column_text(st, 6), &out->discount_type))
        out->discount_type = COUPON_FIXED;
    out->discount_value = sqlite3_column_int64(st, 7);
    out->expires_at = sqlite3_column_int64(st, 8);
}

static coupon_outcome get_coupon_on(db_conn *c, int64_t id, coupon *out)
{
    sqlite3_stmt *st = c != NULL ? db_prepare(c, SQL_GET_COUPON) : NULL;
    if (st == NULL)
        return COUPON_DB_ERROR;
    sqlite3_bind_int64(st, 1, id);
    coupon_outcome res = COUPON_NOT_FOUND;
    int rc = sqlite3_step(st);
    if (rc == SQLITE_ROW) {
        read_coupon(st, out);
        res = COUPON_OK;
    } else if (rc != SQLITE_DONE) {
        log_error(NULL, "get coupon: %s", sqlite3_errmsg(db_handle(c)));
        res = COUPON_DB_ERROR;
    }
    db_stmt_done(st);
    return res;
}

coupon_outcome coupon_store_get(db *d, int64_t id, coupon *out)
{
    db_conn *c = db_reader(d);
    coupon_outcome result = get_coupon_on(c, id, out);
    db_reader_done(d, c);
    return result;
}

static coupon_outcome get_user_coupon_on(db_conn *c, int64_t id, coupon_user_coupon *out)
{
    sqlite3_stmt *st = c != NULL ? db_prepare(c, SQL_GET_USER_COUPON) : NULL;
    if (st == NULL)
        return COUPON_DB_ERROR;
    sqlite3_bind_int64(st, 1, id);
    coupon_outcome res = COUPON_NOT_FOUND;
    int rc = sqlite3_step(st);
    if (rc == SQLITE_ROW) {
        read_user_coupon(st, out);
        res = COUPON_OK;
    } else if (rc != SQLITE_DONE) {
        log_error(NULL, "get user coupon: %s", sqlite3_errmsg(db_handle(c)));
        res = COUPON_DB_ERROR;
    }
    db_stmt_done(st);
    return res;
}

coupon_outcome coupon_store_get_user_coupon(db *d, int64_t id, coupon_user_coupon *out)
{
    db_conn *c = db_reader(d);
    coupon_outcome result = get_user_coupon_on(c, id, out);
    db_reader_done(d, c);
    return result;
}

/* Runs a statement that returns no rows with its n int64 parameters args;
 * returns the number of rows it changed, or -1 on error. */
static int run_change(db_conn *c, const char *sql, const char *what, int n, const int64_t *args)
{
    sqlite3_stmt *st = db_prepare(c, sql);
    if (st == NULL)
        return -1;
    for (int i = 0; i < n; i++)
        sqlite3_bind_int64(st, i + 1, args[i]);
    bool ok = step_done(c, st, what);
    db_stmt_done(st);
    return ok ? sqlite3_changes(db_handle(c)) : -1;
}

coupon_outcome coupon_store_issue_tx(db_conn *c, int64_t coupon_id, int64_t user_id, int64_t now,
                                     coupon_user_coupon *out)
{
    coupon cp;
    coupon_outcome res = get_coupon_on(c, coupon_id, &cp);
    if (res != COUPON_OK)
        return res;
    if (now >= cp.expires_at)
        return COUPON_EXPIRED;
    /* One per user: the UNIQUE(coupon_id, user_id) constraint decides. */
    const int64_t ins[] = {coupon_id, user_id, now};
    int changed = run_change(c, SQL_ISSUE_INSERT, "issue insert", 3, ins);
    if (changed < 0)
        return COUPON_DB_ERROR;
    if (changed == 0)
        return COUPON_ALREADY_ISSUED;
    int64_t uc_id = sqlite3_last_insert_rowid(db_handle(c));
    /* The limit: a conditional increment that finds none left changes nothing. */
    changed = run_change(c, SQL_ISSUE_COUNT, "issue count", 1, &coupon_id);
    if (changed < 0)
        return COUPON_DB_ERROR;
    if (changed == 0) {
        /* Take back the row inserted above, so nothing of this call stays. */
        if (run_change(c, SQL_ISSUE_UNDO, "issue undo", 1, &uc_id) != 1)
            return COUPON_DB_ERROR;
        return COUPON_SOLD_OUT;
    }
    return get_user_coupon_on(c, uc_id, out) == COUPON_OK ? COUPON_OK : COUPON_DB_ERROR;
}

coupon_outcome coupon_store_issue(db *d, int64_t coupon_id, int64_t user_id, int64_t now,
                                  coupon_user_coupon *out)
{
    db_conn *c = db_begin_write(d);
    if (c == NULL)
        return COUPON_DB_ERROR;
    coupon_outcome res = coupon_store_issue_tx(c, coupon_id, user_id, now, out);
    if (res != COUPON_OK) {
        db_rollback(d, c);
        return res;
    }
    return db_commit(d, c) == 0 ? COUPON_OK : COUPON_DB_ERROR;
}

shop_err coupon_store_list(db *d, const coupon_list_query *q, coupon_user_coupon **out, size_t *n)
{
    shop_err err = SHOP_OK;
    coupon_user_coupon *items = NULL;
    size_t count = 0, cap = 0;
    db_conn *c = db_reader(d);
    sqlite3_stmt *st = c != NULL ? db_prepare(c, SQL_LIST) : NULL;
    if (st == NULL) {
        err = SHOP_EDB;
        goto out;
    }
    sqlite3_bind_int64(st, 1, q->user_id);
    sqlite3_bind_int(st, 2, q->used);
    sqlite3_bind_int64(st, 3, q->after_id);
    sqlite3_bind_int64(st, 4, q->limit);
    int rc;
    while ((rc = sqlite3_step(st)) == SQLITE_ROW) {
        if (count == cap) {
            size_t ncap = cap == 0 ? 16 : cap * 2;
            coupon_user_coupon *grown = realloc(items, ncap * sizeof *items);
            if (grown == NULL) {
                err = SHOP_ENOMEM;
                goto out;
            }
            items = grown;
            cap = ncap;
        }
        read_user_coupon(st, &items[count++]);
    }
    if (rc != SQLITE_DONE) {
        log_error(NULL, "list user coupons: %s", sqlite3_errmsg(db_handle(c)));
        err = SHOP_EDB;
    }
out:
    if (st != NULL)
        db_stmt_done(st);
    db_reader_done(d, c);
    if (err != SHOP_OK) {
        free(items);
        items = NULL;
        count = 0;
    }
    *out = items;
    *n = count;
    return err;
}

/* True (and *released) when order_id has a tombstone; false on a DB error. */
static bool order_released(db_conn *c, int64_t order_id, bool *released)
{
    sqlite3_stmt *st = db_prepare(c, SQL_IS_RELEASED);
    if (st == NULL)
        return false;
    sqlite3_bind_int64(st, 1, order_id);
    int rc = sqlite3_step(st);
    db_stmt_done(st);
    if (rc != SQLITE_ROW && rc != SQLITE_DONE)
        return false;
    *released = rc == SQLITE_ROW;
    return true;
}

/* The use itself, inside the caller's write transaction. */
static coupon_outcome use_tx(db_conn *c, int64_t uc_id, int64_t order_id, int64_t user_id,
                             int64_t now, coupon_user_coupon *out)
{
    bool released = false;
    if (!order_released(c, order_id, &released))
        return COUPON_DB_ERROR;
    if (released)
        return COUPON_ORDER_RELEASED;
    coupon_outcome res = get_user_coupon_on(c, uc_id, out);
    if (res != COUPON_OK)
        return res;
    if (out->is_used && out->used_order_id == order_id && out->user_id == user_id)
        return COUPON_OK; /* a repeat for the same order */
    res = coupon_check_usable(out, user_id, now);
    if (res != COUPON_OK)
        return res;
    const int64_t args[] = {uc_id, order_id, user_id, now};
    int changed = run_change(c, SQL_USE, "use user coupon", 4, args);
    if (changed < 0)
        return COUPON_DB_ERROR;
    if (changed == 0)
        return COUPON_USED; /* cannot happen under the write lock; the SQL is the rule */
    out->is_used = true;
    out->used_order_id = order_id;
    return COUPON_OK;
}

coupon_outcome coupon_store_use(db *d, int64_t uc_id, int64_t order_id, int64_t user_id,
                                int64_t now, coupon_user_coupon *out)
{
    db_conn *c = db_begin_write(d);
    if (c == NULL)
        return COUPON_DB_ERROR;
    coupon_outcome res = use_tx(c, uc_id, order_id, user_id, now, out);
    if (res != COUPON_OK) {
        db_rollback(d, c);
        return res;
    }
    return db_commit(d, c) == 0 ? COUPON_OK : COUPON_DB_ERROR;
}

shop_err coupon_store_restore(db *d, int64_t order_id, int64_t now, int *n_restored)
{
    *n_restored = 0;
    db_conn *c = db_begin_write(d);
    if (c == NULL)
        return SHOP_EDB;
    const int64_t release[] = {order_id, now};
    int changed = -1;
    if (run_change(c, SQL_RELEASE, "release order", 2, release) >= 0)
        changed = run_change(c, SQL_RESTORE, "restore user coupon", 1, &order_id);
    if (changed < 0) {
        db_rollback(d, c);
        return SHOP_EDB;
    }
    if (db_commit(d, c) != 0)
        return SHOP_EDB;
    *n_restored = changed;
    return SHOP_OK;
}

shop_err coupon_store_idem_purge(db *d, int64_t now)
{
    return idem_purge_expired(d, now) == 0 ? SHOP_OK : SHOP_EDB;
}
