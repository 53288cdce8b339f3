/* Every SQL statement of the user service (see user_store.h). Balance changes
 * are single conditional UPDATEs inside a write transaction that also writes
 * the ledger row, so the balance never goes below 0 or past its cap, and a
 * keyed change happens at most once. */
#include "user_store.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "log.h"
#include "problem.h"
#include "timeutil.h"

static const char MIGRATION_1[] =
    "CREATE TABLE users ("
    "  id INTEGER PRIMARY KEY,"
    "  name TEXT NOT NULL,"
    "  balance INTEGER NOT NULL CHECK (balance >= 0),"
    "  initial_balance INTEGER NOT NULL CHECK (initial_balance >= 0),"
    "  created_at INTEGER NOT NULL);"
    "CREATE TABLE ledger ("
    "  id INTEGER PRIMARY KEY,"
    "  ref TEXT UNIQUE,"
    "  user_id INTEGER NOT NULL REFERENCES users(id),"
    "  kind TEXT NOT NULL CHECK (kind IN ('CHARGE','DEBIT','CREDIT','VOID')),"
    "  amount INTEGER NOT NULL CHECK (amount >= 0),"
    "  balance_after INTEGER NOT NULL CHECK (balance_after >= 0),"
    "  created_at INTEGER NOT NULL);"
    "CREATE INDEX ledger_by_user ON ledger(user_id, id);"
    /* The service's own key table, replaced by MIGRATION_2. */
    "CREATE TABLE idempotency_keys ("
    "  route TEXT NOT NULL,"
    "  key TEXT NOT NULL,"
    "  fingerprint TEXT NOT NULL,"
    "  status INTEGER NOT NULL,"
    "  body TEXT NOT NULL,"
    "  created_at INTEGER NOT NULL,"
    "  PRIMARY KEY (route, key));";

/* The common key table (common/idempotency.h) in place of the own one. The
 * stored answers are carried over, so a retry across the upgrade is not
 * charged twice: the old fingerprint was the path and the re-printed body,
 * which equals the new request text whenever the client sent compact JSON;
 * otherwise the retry gets 422 IDEMPOTENCY_KEY_REUSED, never a second charge. */
static const char MIGRATION_2[] =
    "ALTER TABLE idempotency_keys RENAME TO idempotency_keys_v1;" IDEM_SCHEMA
    "INSERT INTO idempotency_keys (scope, key, request, state, status, body, created_at)"
    "  SELECT route, key, fingerprint, 'DONE', status, body, created_at"
    "  FROM idempotency_keys_v1;"
    "DROP TABLE idempotency_keys_v1;";

const char *const user_migrations[] = {MIGRATION_1, MIGRATION_2};
const int user_n_migrations = 2;

/* The scope of a charge's Idempotency-Key (the old table's route, kept). */
static const char CHARGE_SCOPE[] = "POST /users/{userId}/balance/charge";
/* Ledger refs of keyed charges start with '#', which no debit or credit ref
 * may hold, so the namespaces never meet: "#charge:<key>", or
 * "#charge:<epoch seconds>:<key>" for a key used again after its stored
 * answer was purged (charge_ref). */
static const char CHARGE_REF_PREFIX[] = "#charge:";

static const char SQL_COUNT_USERS[] = "SELECT count(*) FROM users";
static const char SQL_SEED_USER[] =
    "INSERT INTO users (id, name, balance, initial_balance, created_at) "
    "VALUES (?1, ?2, ?3, ?3, ?4)";
static const char SQL_CREATE_USER[] =
    "INSERT INTO users (name, balance, initial_balance, created_at) "
    "VALUES (?1, ?2, ?2, ?3) RETURNING id";
static const char SQL_GET_USER[] =
    "SELECT id, name, balance, initial_balance, created_at FROM users WHERE id = ?1";
static const char SQL_LIST_USERS[] =
    "SELECT id, name, balance, initial_balance, created_at FROM users "
    "WHERE id > ?1 AND (?2 = 0 OR id = ?2) ORDER BY id LIMIT ?3";
static const char SQL_ADD_CAPPED[] =
    "UPDATE users SET balance = balance + ?1 WHERE id = ?2 AND balance <= ?3 - ?1 "
    "RETURNING balance";
static const char SQL_SUB_COVERED[] =
    "UPDATE users SET balance = balance - ?1 WHERE id = ?2 AND balance >= ?1 "
    "RETURNING balance";
static const char SQL_FIND_REF[] =
    "SELECT id, ref, user_id, kind, amount, balance_after, created_at FROM ledger "
    "WHERE ref = ?1";
static const char SQL_INSERT_LEDGER[] =
    "INSERT INTO ledger (ref, user_id, kind, amount, balance_after, created_at) "
    "VALUES (?1, ?2, ?3, ?4, ?5, ?6)";
static const char SQL_LIST_LEDGER[] =
    "SELECT id, ref, user_id, kind, amount, balance_after, created_at FROM ledger "
    "WHERE user_id = ?1 AND id > ?2 ORDER BY id LIMIT ?3";

static int64_t now_s(void)
{
    return time_now_ms() / 1000;
}

static void log_db(db_conn *c, const char *what)
{
    log_error(NULL, "user store: %s: %s", what, c ? sqlite3_errmsg(db_handle(c)) : "no connection");
}

static void read_user(sqlite3_stmt *st, user_rec *out)
{
    memset(out, 0, sizeof(*out));
    out->id = sqlite3_column_int64(st, 0);
    snprintf(out->name, sizeof(out->name), "%s", db_column_text(st, 1));
    out->balance = sqlite3_column_int64(st, 2);
    out->initial_balance = sqlite3_column_int64(st, 3);
    out->created_at = sqlite3_column_int64(st, 4);
}

static void read_ledger(sqlite3_stmt *st, user_ledger_rec *out)
{
    memset(out, 0, sizeof(*out));
    out->id = sqlite3_column_int64(st, 0);
    out->has_ref = sqlite3_column_type(st, 1) != SQLITE_NULL;
    snprintf(out->ref, sizeof(out->ref), "%s", db_column_text(st, 1));
    out->user_id = sqlite3_column_int64(st, 2);
    snprintf(out->kind, sizeof(out->kind), "%s", db_column_text(st, 3));
    out->amount = sqlite3_column_int64(st, 4);
    out->balance_after = sqlite3_column_int64(st, 5);
    out->created_at = sqlite3_column_int64(st, 6);
}

/* Reads user id on c. Returns USER_OK, USER_NOT_FOUND or USER_DB_ERROR. */
static user_result get_user_on(db_conn *c, int64_t id, user_rec *out)
{
    sqlite3_stmt *st = db_prepare(c, SQL_GET_USER);
    if (st == NULL)
        return USER_DB_ERROR;
    user_result res = USER_DB_ERROR;
    sqlite3_bind_int64(st, 1, id);
    int rc = sqlite3_step(st);
    if (rc == SQLITE_ROW) {
        read_user(st, out);
        res = USER_OK;
    } else if (rc == SQLITE_DONE) {
        res = USER_NOT_FOUND;
    } else {
        log_db(c, "get user");
    }
    db_stmt_done(st);
    return res;
}

/* Runs one of the conditional balance updates (sql binds amount, id and,
 * when it has a third parameter, cap).
 * Returns USER_OK with *balance the new balance, USER_LIMIT when the
 * condition held no row (the caller tells why), or USER_DB_ERROR. */
static user_result update_balance(db_conn *c, const char *sql, int64_t id, int64_t amount,
                                  int64_t cap, int64_t *balance)
{
    sqlite3_stmt *st = db_prepare(c, sql);
    if (st == NULL)
        return USER_DB_ERROR;
    user_result res = USER_DB_ERROR;
    sqlite3_bind_int64(st, 1, amount);
    sqlite3_bind_int64(st, 2, id);
    if (sqlite3_bind_parameter_count(st) >= 3)
        sqlite3_bind_int64(st, 3, cap);
    int rc = sqlite3_step(st);
    if (rc == SQLITE_ROW) {
        *balance = sqlite3_column_int64(st, 0);
        rc = sqlite3_step(st);
        res = rc == SQLITE_DONE ? USER_OK : USER_DB_ERROR;
    } else if (rc == SQLITE_DONE) {
        res = USER_LIMIT;
    }
    if (res == USER_DB_ERROR)
        log_db(c, "update balance");
    db_stmt_done(st);
    return res;
}

/* Looks ref up in the ledger. OUT: *found, *row. Returns 0 or -1. */
static int find_ref(db_conn *c, const char *ref, bool *found, user_ledger_rec *row)
{
    sqlite3_stmt *st = db_prepare(c, SQL_FIND_REF);
    if (st == NULL)
        return -1;
    int result = -1;
    sqlite3_bind_text(st, 1, ref, -1, SQLITE_TRANSIENT);
    int rc = sqlite3_step(st);
    if (rc == SQLITE_ROW) {
        read_ledger(st, row);
        *found = true;
        result = 0;
    } else if (rc == SQLITE_DONE) {
        *found = false;
        result = 0;
    } else {
        log_db(c, "find ref");
    }
    db_stmt_done(st);
    return result;
}

/* Appends a ledger row. ref may be NULL. Returns 0 or -1. */
static int insert_ledger(db_conn *c, const char *ref, int64_t user_id, const char *kind,
                         int64_t amount, int64_t balance_after)
{
    sqlite3_stmt *st = db_prepare(c, SQL_INSERT_LEDGER);
    if (st == NULL)
        return -1;
    db_bind_text_or_null(st, 1, ref);
    sqlite3_bind_int64(st, 2, user_id);
    sqlite3_bind_text(st, 3, kind, -1, SQLITE_STATIC);
    sqlite3_bind_int64(st, 4, amount);
    sqlite3_bind_int64(st, 5, balance_after);
    sqlite3_bind_int64(st, 6, now_s());
    int rc = sqlite3_step(st);
    if (rc != SQLITE_DONE)
        log_db(c, "insert ledger");
    db_stmt_done(st);
    return rc == SQLITE_DONE ? 0 : -1;
}

/* Commits c, or rolls it back when res says the transaction changed
 * nothing worth keeping. Returns res, or USER_DB_ERROR when the commit
 * failed. */
static user_result finish(db *d, db_conn *c, user_result res, bool keep)
{
    if (!keep) {
        db_rollback(d, c);
        return res;
    }
    if (db_commit(d, c) != 0) {
        log_error(NULL, "user store: commit failed");
        return USER_DB_ERROR;
    }
    return res;
}

void user_answer_release(user_answer *a)
{
    if (a == NULL)
        return;
    free(a->body);
    a->body = NULL;
}

int user_store_seed(db *d)
{
    static const struct {
        int64_t id;
        const char *name;
        int64_t balance;
    } seed[] = {{1, "kim", 1000000}, {2, "lee", 10000}, {3, "park", 500000}};
    db_conn *c = db_begin_write(d);
    if (c == NULL)
        return -1;
    int result = -1;
    bool keep = false;
    sqlite3_stmt *st = db_prepare(c, SQL_COUNT_USERS);
    if (st == NULL)
        goto out;
    int64_t count = -1;
    if (sqlite3_step(st) == SQLITE_ROW)
        count = sqlite3_column_int64(st, 0);
    db_stmt_done(st);
    if (count < 0) {
        log_db(c, "count users");
        goto out;
    }
    if (count > 0) {
        result = 0;
        goto out;
    }
    for (size_t i = 0; i < sizeof(seed) / sizeof(seed[0]); i++) {
        st = db_prepare(c, SQL_SEED_USER);
        if (st == NULL)
            goto out;
        sqlite3_bind_int64(st, 1, seed[i].id);
        sqlite3_bind_text(st, 2, seed[i].name, -1, SQLITE_STATIC);
        sqlite3_bind_int64(st, 3, seed[i].balance);
        sqlite3_bind_int64(st, 4, now_s());
        int rc = sqlite3_step(st);
        db_stmt_done(st);
        if (rc != SQLITE_DONE) {
            log_db(c, "seed user");
            goto out;
        }
    }
    keep = true;
    result = 0;
out:
    if (finish(d, c, USER_OK, keep) != USER_OK)
        result = -1;
    return result;
}

user_result user_store_create(db *d, const char *name, int64_t balance, user_rec *out)
{
    db_conn *c = db_begin_write(d);
    if (c == NULL)
        return USER_DB_ERROR;
    user_result res = USER_DB_ERROR;
    sqlite3_stmt *st = db_prepare(c, SQL_CREATE_USER);
    if (st == NULL)
        goto out;
    int64_t created = now_s();
    sqlite3_bind_text(st, 1, name, -1, SQLITE_TRANSIENT);
    sqlite3_bind_int64(st, 2, balance);
    sqlite3_bind_int64(st, 3, created);
    if (sqlite3_step(st) == SQLITE_ROW) {
        memset(out, 0, sizeof(*out));
        out->id = sqlite3_column_int64(st, 0);
        snprintf(out->name, sizeof(out->name), "%s", name);
        out->balance = balance;
        out->initial_balance = balance;
        out->created_at = created;
        if (sqlite3_step(st) == SQLITE_DONE)
            res = USER_OK;
    }
    if (res != USER_OK)
        log_db(c, "create user");
    db_stmt_done(st);
out:
    return finish(d, c, res, res == USER_OK);
}

user_result user_store_get(db *d, int64_t id, user_rec *out)
{
    db_conn *c = db_reader(d);
    if (c == NULL)
        return USER_DB_ERROR;
    user_result res = get_user_on(c, id, out);
    db_reader_done(d, c);
    return res;
}

/* Looks idem up on the writer c inside its transaction. Returns true to go
 * on (no key, or a new one); false when *res and out say what to answer:
 * USER_OK with the stored answer (replayed), USER_KEY_REUSED (refusal) or
 * USER_DB_ERROR. */
static bool key_is_new(db_conn *c, const user_idem *idem, user_answer *out, user_result *res)
{
    if (idem == NULL)
        return true;
    idem_record rec;
    idem_outcome seen = idem_lookup(c, CHARGE_SCOPE, idem->key, idem->fingerprint, &rec);
    switch (seen) {
    case IDEM_NEW:
        return true;
    case IDEM_REPLAY:
        out->status = rec.status;
        out->body = rec.body;
        rec.body = NULL;
        out->replayed = true;
        *res = USER_OK;
        break;
    case IDEM_MISMATCH:
    case IDEM_IN_PROGRESS:
        out->refusal = seen;
        out->status = problem_status(seen == IDEM_MISMATCH ? "IDEMPOTENCY_KEY_REUSED"
                                                           : "IDEMPOTENCY_KEY_IN_USE");
        *res = USER_KEY_REUSED;
        break;
    default:
        log_db(c, "look up key");
        *res = USER_DB_ERROR;
    }
    idem_record_free(&rec);
    return false;
}

/* Stores out's answer under idem (if any) on c. Returns 0 or -1. */
static int keep_answer_on(db_conn *c, const user_idem *idem, const user_answer *out)
{
    if (idem == NULL)
        return 0;
    if (idem_store(c, CHARGE_SCOPE, idem->key, idem->fingerprint, out->status, out->body) == 0)
        return 0;
    log_db(c, "store key");
    return -1;
}

/* The ledger ref of a charge keyed by key, into ref: "#charge:<key>", or
 * "#charge:<now>:<key>" when that is taken (the key's answer was purged after
 * its day and the key is used again; a third use comes a day later still, so
 * the second is unique too). Returns 0 or -1. */
static int charge_ref(db_conn *c, const char *key, char ref[USER_LEDGER_REF_LEN])
{
    bool taken = false;
    user_ledger_rec prior;
    snprintf(ref, USER_LEDGER_REF_LEN, "%s%s", CHARGE_REF_PREFIX, key);
    if (find_ref(c, ref, &taken, &prior) != 0)
        return -1;
    if (taken)
        snprintf(ref, USER_LEDGER_REF_LEN, "%s%lld:%s", CHARGE_REF_PREFIX, (long long)now_s(), key);
    return 0;
}

/* The charge itself on c: conditional add, ledger row. Fills *o. Returns 0,
 * or -1 on a database error. */
static int charge_on(db_conn *c, int64_t user_id, int64_t amount, const char *ref,
                     user_charge_outcome *o)
{
    o->user_id = user_id;
    o->amount = amount;
    o->res = update_balance(c, SQL_ADD_CAPPED, user_id, amount, USER_BALANCE_LIMIT, &o->balance);
    if (o->res == USER_OK)
        return insert_ledger(c, ref, user_id, "CHARGE", amount, o->balance);
    if (o->res == USER_LIMIT) {
        user_rec u;
        o->res = get_user_on(c, user_id, &u);
        if (o->res == USER_OK) {
            o->res = USER_LIMIT;
            o->balance = u.balance;
        }
    }
    return o->res == USER_DB_ERROR ? -1 : 0;
}

user_result user_store_charge(db *d, int64_t user_id, int64_t amount, const user_idem *idem,
                              user_charge_render render, user_answer *out)
{
    char ref[USER_LEDGER_REF_LEN] = "";
    user_charge_outcome o = {.res = USER_DB_ERROR, .user_id = user_id, .amount = amount};
    memset(out, 0, sizeof(*out));
    db_conn *c = db_begin_write(d);
    if (c == NULL)
        return USER_DB_ERROR;
    bool keep = false;
    if (!key_is_new(c, idem, out, &o.res))
        goto out;
    if (idem != NULL && charge_ref(c, idem->key, ref) != 0)
        goto out;
    if (charge_on(c, user_id, amount, idem ? ref : NULL, &o) != 0)
        goto out;
    out->body = render(&o, &out->status);
    if (out->body == NULL || keep_answer_on(c, idem, out) != 0) {
        o.res = USER_DB_ERROR;
        goto out;
    }
    keep = o.res == USER_OK || idem != NULL;
out:
    o.res = finish(d, c, o.res, keep);
    if (o.res == USER_DB_ERROR)
        user_answer_release(out);
    return o.res;
}

user_result user_store_keep_answer(db *d, const user_idem *idem, int status, const char *body,
                                   user_answer *out)
{
    memset(out, 0, sizeof(*out));
    db_conn *c = db_begin_write(d);
    if (c == NULL)
        return USER_DB_ERROR;
    user_result res = USER_DB_ERROR;
    bool keep = false;
    if (!key_is_new(c, idem, out, &res))
        goto out;
    const user_answer mine = {.status = status, .body = (char *)body};
    keep = keep_answer_on(c, idem, &mine) == 0;
    res = keep ? USER_OK : USER_DB_ERROR;
out:
    res = finish(d, c, res, keep);
    if (res == USER_DB_ERROR)
        user_answer_release(out);
    return res;
}

user_result user_store_idem_purge(db *d, int64_t now)
{
    db_conn *c = db_begin_write(d);
    if (c == NULL)
        return USER_DB_ERROR;
    bool ok = idem_purge(c, now) == 0;
    if (!ok)
        log_db(c, "purge keys");
    return finish(d, c, ok ? USER_OK : USER_DB_ERROR, ok);
}

/* A ref already in the ledger, met by a debit or credit of kind: the same
 * request again (replayed), a voided debit, or a reuse. */
static user_result judge_prior(const user_ledger_rec *prior, int64_t user_id, const char *kind,
                               int64_t amount, user_move *out)
{
    out->prior = *prior;
    if (prior->user_id != user_id)
        return USER_REF_REUSED;
    if (strcmp(kind, "DEBIT") == 0 && strcmp(prior->kind, "VOID") == 0)
        return USER_VOIDED;
    if (strcmp(prior->kind, kind) != 0 || prior->amount != amount)
        return USER_REF_REUSED;
    out->replayed = true;
    out->balance = prior->balance_after;
    return USER_OK;
}

/* Debit or credit keyed by ref (kind "DEBIT" or "CREDIT"). */
static user_result move(db *d, int64_t user_id, const char *ref, int64_t amount, const char *kind,
                        user_move *out)
{
    memset(out, 0, sizeof(*out));
    db_conn *c = db_begin_write(d);
    if (c == NULL)
        return USER_DB_ERROR;
    bool debit = strcmp(kind, "DEBIT") == 0;
    user_result res = USER_DB_ERROR;
    bool found = false;
    user_ledger_rec prior;
    if (find_ref(c, ref, &found, &prior) != 0)
        goto out;
    if (found) {
        res = judge_prior(&prior, user_id, kind, amount, out);
        goto out;
    }
    if (debit)
        res = update_balance(c, SQL_SUB_COVERED, user_id, amount, 0, &out->balance);
    else
        res = update_balance(c, SQL_ADD_CAPPED, user_id, amount, USER_BALANCE_MAX, &out->balance);
    if (res == USER_OK) {
        if (insert_ledger(c, ref, user_id, kind, amount, out->balance) != 0)
            res = USER_DB_ERROR;
    } else if (res == USER_LIMIT) {
        user_rec u;
        res = get_user_on(c, user_id, &u);
        if (res == USER_OK) {
            res = debit ? USER_INSUFFICIENT : USER_LIMIT;
            out->balance = u.balance;
        }
    }
out:
    return finish(d, c, res, res == USER_OK && !out->replayed);
}

user_result user_store_debit(db *d, int64_t user_id, const char *ref, int64_t amount,
                             user_move *out)
{
    return move(d, user_id, ref, amount, "DEBIT", out);
}

user_result user_store_credit(db *d, int64_t user_id, const char *ref, int64_t amount,
                              user_move *out)
{
    return move(d, user_id, ref, amount, "CREDIT", out);
}

user_result user_store_void(db *d, int64_t user_id, const char *ref, user_void *out)
{
    memset(out, 0, sizeof(*out));
    db_conn *c = db_begin_write(d);
    if (c == NULL)
        return USER_DB_ERROR;
    user_result res = USER_DB_ERROR;
    bool found = false, keep = false;
    if (find_ref(c, ref, &found, &out->prior) != 0)
        goto out;
    if (found) {
        bool mine = out->prior.user_id == user_id;
        if (mine && strcmp(out->prior.kind, "DEBIT") == 0) {
            out->debited = true;
            out->amount = out->prior.amount;
            res = USER_OK;
        } else if (mine && strcmp(out->prior.kind, "VOID") == 0) {
            res = USER_OK;
        } else {
            res = USER_REF_REUSED;
        }
        goto out;
    }
    user_rec u;
    res = get_user_on(c, user_id, &u);
    if (res != USER_OK)
        goto out;
    if (insert_ledger(c, ref, user_id, "VOID", 0, u.balance) != 0) {
        res = USER_DB_ERROR;
        goto out;
    }
    keep = true;
out:
    return finish(d, c, res, keep);
}

user_result user_store_list(db *d, int64_t user_id, int64_t after_id, int limit, user_rec **items,
                            size_t *n, bool *more)
{
    *items = NULL;
    *n = 0;
    *more = false;
    db_conn *c = db_reader(d);
    if (c == NULL)
        return USER_DB_ERROR;
    user_result res = USER_DB_ERROR;
    user_rec *arr = NULL;
    sqlite3_stmt *st = db_prepare(c, SQL_LIST_USERS);
    if (st == NULL)
        goto out;
    arr = calloc((size_t)limit + 1, sizeof(*arr));
    if (arr == NULL)
        goto out;
    sqlite3_bind_int64(st, 1, after_id);
    sqlite3_bind_int64(st, 2, user_id);
    sqlite3_bind_int64(st, 3, (int64_t)limit + 1);
    size_t count = 0;
    int rc;
    while ((rc = sqlite3_step(st)) == SQLITE_ROW)
        read_user(st, &arr[count++]);
    if (rc != SQLITE_DONE) {
        log_db(c, "list users");
        goto out;
    }
    *more = count > (size_t)limit;
    *n = *more ? (size_t)limit : count;
    *items = arr;
    arr = NULL;
    res = USER_OK;
out:
    db_stmt_done(st);
    db_reader_done(d, c);
    free(arr);
    return res;
}

user_result user_store_ledger(db *d, int64_t user_id, int64_t after_id, int limit,
                              user_ledger_rec **items, size_t *n, bool *more)
{
    *items = NULL;
    *n = 0;
    *more = false;
    db_conn *c = db_reader(d);
    if (c == NULL)
        return USER_DB_ERROR;
    user_ledger_rec *arr = NULL;
    sqlite3_stmt *st = NULL;
    user_rec u;
    user_result res = get_user_on(c, user_id, &u);
    if (res != USER_OK)
        goto out;
    res = USER_DB_ERROR;
    st = db_prepare(c, SQL_LIST_LEDGER);
    if (st == NULL)
        goto out;
    arr = calloc((size_t)limit + 1, sizeof(*arr));
    if (arr == NULL)
        goto out;
    sqlite3_bind_int64(st, 1, user_id);
    sqlite3_bind_int64(st, 2, after_id);
    sqlite3_bind_int64(st, 3, (int64_t)limit + 1);
    size_t count = 0;
    int rc;
    while ((rc = sqlite3_step(st)) == SQLITE_ROW)
        read_ledger(st, &arr[count++]);
    if (rc != SQLITE_DONE) {
        log_db(c, "list ledger");
        goto out;
    }
    *more = count > (size_t)limit;
    *n = *more ? (size_t)limit : count;
    *items = arr;
    arr = NULL;
    res = USER_OK;
out:
    db_stmt_done(st);
    db_reader_done(d, c);
    free(arr);
    return res;
}
