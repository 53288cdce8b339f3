/* HTTP <-> user store: parse, validate, call, render (see routes.h and
 * docs/internal-api.md "user-service"). */
#include "routes.h"

#include <stdarg.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "idempotency.h"
#include "json.h"
#include "log.h"
#include "problem.h"
#include "timeutil.h"
#include "user_logic.h"
#include "user_store.h"

#define LIST_LIMIT_MAX 500
#define LIST_LIMIT_DEFAULT 100
#define KEYS_PURGE_EVERY_S 3600

static const char CT_JSON[] = "application/json";
static const char CT_PROBLEM[] = "application/problem+json";

static db *app_db(const http_req *req)
{
    return ((const user_app *)req->app)->db;
}

/* Renders a problem with an explicit status (for a code whose status here
 * differs from the shared table, or to store it). Returns a malloc'd body
 * (free(3)) or NULL. */
static char *render_problem(int status, const char *code, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));
static char *render_problem(int status, const char *code, const char *fmt, ...)
{
    char detail[512];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(detail, sizeof(detail), fmt, ap);
    va_end(ap);
    return problem_render(status, code, detail);
}

/* Sends a rendered body (JSON below 400, problem+json from 400) and frees
 * it; NULL becomes a 500. Returns the status sent. */
static int reply_rendered(http_req *req, int status, char *body)
{
    if (body == NULL)
        return http_reply_problem(req, "INTERNAL", "out of memory");
    int sent =
        http_reply_raw(req, status, status >= 400 ? CT_PROBLEM : CT_JSON, body, strlen(body));
    free(body);
    return sent;
}

static int reply_db_error(http_req *req)
{
    return http_reply_problem(req, "INTERNAL", "database error");
}

static int reply_not_found(http_req *req, int64_t user_id)
{
    return http_reply_problem(req, "USER_NOT_FOUND", "user %lld not found", (long long)user_id);
}

/* {"id","name","balance"} */
static cJSON *user_json(const user_rec *u)
{
    cJSON *o = cJSON_CreateObject();
    if (o == NULL || !json_add_int(o, "id", u->id) ||
        cJSON_AddStringToObject(o, "name", u->name) == NULL ||
        !json_add_int(o, "balance", u->balance)) {
        cJSON_Delete(o);
        return NULL;
    }
    return o;
}

/* {"userId","balance"} */
static cJSON *balance_json(int64_t user_id, int64_t balance)
{
    cJSON *o = cJSON_CreateObject();
    if (o == NULL || !json_add_int(o, "userId", user_id) || !json_add_int(o, "balance", balance)) {
        cJSON_Delete(o);
        return NULL;
    }
    return o;
}

static int create_user(http_req *req)
{
    cJSON *body = http_parse_body(req);
    if (body == NULL)
        return req->status;
    json_err err;
    const char *name;
    int64_t balance;
    int status;
    if (!json_get_string(body, "name", 1, USER_NAME_MAX, &name, &err) ||
        !json_get_int(body, "balance", 0, USER_BALANCE_LIMIT, &balance, &err)) {
        status = http_reply_invalid(req, &err);
        goto out;
    }
    user_rec u;
    if (user_store_create(app_db(req), name, balance, &u) != USER_OK) {
        status = reply_db_error(req);
        goto out;
    }
    log_info(req->request_id, "user created id=%lld balance=%lld", (long long)u.id,
             (long long)balance);
    status = http_reply_json(req, 201, user_json(&u));
out:
    cJSON_Delete(body);
    return status;
}

static int get_user(http_req *req)
{
    user_rec u;
    user_result res = user_store_get(app_db(req), req->params[0], &u);
    if (res == USER_NOT_FOUND)
        return reply_not_found(req, req->params[0]);
    if (res != USER_OK)
        return reply_db_error(req);
    return http_reply_json(req, 200, user_json(&u));
}

static int get_balance(http_req *req)
{
    user_rec u;
    user_result res = user_store_get(app_db(req), req->params[0], &u);
    if (res == USER_NOT_FOUND)
        return reply_not_found(req, req->params[0]);
    if (res != USER_OK)
        return reply_db_error(req);
    return http_reply_json(req, 200, balance_json(u.id, u.balance));
}

/* The answer to a charge outcome (see user_charge_render). */
static char *render_charge(const user_charge_outcome *o, int *status)
{
    long long id = (long long)o->user_id;
    switch (o->res) {
    case USER_OK: {
        *status = 200;
        cJSON *j = balance_json(o->user_id, o->balance);
        char *s = j ? json_print(j) : NULL;
        cJSON_Delete(j);
        return s;
    }
    case USER_NOT_FOUND:
        *status = problem_status("USER_NOT_FOUND");
        return render_problem(*status, "USER_NOT_FOUND", "user %lld not found", id);
    case USER_LIMIT:
        *status = problem_status("BALANCE_LIMIT");
        return render_problem(
            *status, "BALANCE_LIMIT", "user %lld: balance %lld + %lld would pass %lld", id,
            (long long)o->balance, (long long)o->amount, (long long)USER_BALANCE_LIMIT);
    default:
        *status = 500;
        return render_problem(500, "INTERNAL", "charge failed");
    }
}

/* Sends what the store answered for a charge (res and a): the fresh answer,
 * the stored one again, or the refusal of the key. Takes a->body. */
static int reply_charge(http_req *req, user_result res, user_answer *a)
{
    int status;
    if (res == USER_DB_ERROR) {
        status = reply_db_error(req);
    } else if (res == USER_KEY_REUSED) {
        status = idem_reply_refusal(req, a->refusal);
    } else if (a->replayed) {
        const idem_record rec = {.status = a->status, .body = a->body};
        status = idem_reply(req, &rec);
    } else {
        status = reply_rendered(req, a->status, a->body);
        a->body = NULL;
    }
    user_answer_release(a);
    return status;
}

/* 400 for a bad charge body; with a key, stored under it first (API.md
 * "Retries": every 4xx but the bad key's is replayed). */
static int reply_charge_invalid(http_req *req, const user_idem *idem, const json_err *err)
{
    if (idem == NULL)
        return http_reply_invalid(req, err);
    char *body = render_problem(400, "INVALID_REQUEST", "%s", err->msg);
    if (body == NULL)
        return http_reply_problem(req, "INTERNAL", "out of memory");
    user_answer a;
    user_result res = user_store_keep_answer(app_db(req), idem, 400, body, &a);
    int status;
    if (res == USER_OK && !a.replayed) {
        status = reply_rendered(req, 400, body);
        body = NULL;
    } else {
        status = reply_charge(req, res, &a);
    }
    free(body);
    return status;
}

/* Deletes Idempotency-Key answers past their 24 hours, at most once an
 * hour: the first charge after the hour does it, once its answer is sent. */
static void purge_keys_hourly(http_req *req)
{
    user_app *app = req->app;
    int64_t now = time_now_ms() / 1000;
    int64_t last = atomic_load(&app->keys_purged_at);
    if (now - last < KEYS_PURGE_EVERY_S ||
        !atomic_compare_exchange_strong(&app->keys_purged_at, &last, now))
        return;
    if (user_store_idem_purge(app->db, now) != USER_OK)
        log_warn(req->request_id, "purging old Idempotency-Key answers failed");
}

static int charge(http_req *req)
{
    const char *key;
    if (!idem_key_from_request(req, &key))
        return req->status;
    char *request = key ? idem_request_text(req) : NULL;
    if (key != NULL && request == NULL)
        return http_reply_problem(req, "INTERNAL", "out of memory");
    const user_idem idem = {.key = key, .fingerprint = request};
    const user_idem *keyed = key ? &idem : NULL;
    json_err err;
    int64_t amount;
    int status;
    cJSON *body = json_parse_object(req->body, req->body_len, &err);
    if (body == NULL || !json_get_int(body, "amount", 1, USER_CHARGE_MAX, &amount, &err)) {
        status = reply_charge_invalid(req, keyed, &err);
    } else {
        user_answer ans;
        user_result res =
            user_store_charge(app_db(req), req->params[0], amount, keyed, render_charge, &ans);
        status = reply_charge(req, res, &ans);
    }
    cJSON_Delete(body);
    free(request);
    purge_keys_hourly(req);
    return status;
}

/* Reads {"ref"} and, when amount is non-NULL, {"amount"} (1..USER_MOVE_MAX).
 * Returns the parsed body (cJSON_Delete it; *ref points into it) or NULL
 * after replying 400. */
static cJSON *read_ref_body(http_req *req, const char **ref, int64_t *amount)
{
    cJSON *body = http_parse_body(req);
    if (body == NULL)
        return NULL;
    json_err err;
    bool ok = json_get_string(body, "ref", 1, USER_REF_MAX, ref, &err);
    if (ok && !user_ref_valid(*ref)) {
        snprintf(err.msg, sizeof(err.msg), "ref: must be 1..64 of [A-Za-z0-9:._-]");
        ok = false;
    }
    if (ok && amount != NULL)
        ok = json_get_int(body, "amount", 1, USER_MOVE_MAX, amount, &err);
    if (!ok) {
        http_reply_invalid(req, &err);
        cJSON_Delete(body);
        return NULL;
    }
    return body;
}

/* {"userId","ref","amount","balance","status"} */
static cJSON *move_json(int64_t user_id, const char *ref, int64_t amount, int64_t balance,
                        const char *status)
{
    cJSON *o = cJSON_CreateObject();
    if (o == NULL || !json_add_int(o, "userId", user_id) ||
        cJSON_AddStringToObject(o, "ref", ref) == NULL || !json_add_int(o, "amount", amount) ||
        (balance >= 0 && !json_add_int(o, "balance", balance)) ||
        cJSON_AddStringToObject(o, "status", status) == NULL) {
        cJSON_Delete(o);
        return NULL;
    }
    return o;
}

static int reply_ref_reused(http_req *req, const char *ref, const user_ledger_rec *prior)
{
    return http_reply_problem(req, "IDEMPOTENCY_KEY_REUSED",
                              "ref %s is held by user %lld's %s of %lld", ref,
                              (long long)prior->user_id, prior->kind, (long long)prior->amount);
}

/* The reply to a debit or credit outcome. */
static int reply_move(http_req *req, user_result res, const char *ref, int64_t amount,
                      const user_move *m, const char *done)
{
    int64_t id = req->params[0];
    switch (res) {
    case USER_OK:
        if (m->replayed)
            log_info(req->request_id, "%s replayed ref=%s", done, ref);
        return http_reply_json(req, 200, move_json(id, ref, amount, m->balance, done));
    case USER_NOT_FOUND:
        return reply_not_found(req, id);
    case USER_INSUFFICIENT:
        /* 409 here (docs/internal-api.md), whatever the public 402 is. */
        return reply_rendered(req, 409,
                              render_problem(409, "INSUFFICIENT_BALANCE",
                                             "user %lld: balance %lld, %lld asked", (long long)id,
                                             (long long)m->balance, (long long)amount));
    case USER_LIMIT:
        return http_reply_problem(
            req, "BALANCE_LIMIT", "user %lld: balance %lld + %lld would pass %lld", (long long)id,
            (long long)m->balance, (long long)amount, (long long)USER_BALANCE_MAX);
    case USER_VOIDED:
        return http_reply_problem(req, "DEBIT_VOIDED", "ref %s was voided", ref);
    case USER_REF_REUSED:
        return reply_ref_reused(req, ref, &m->prior);
    default:
        return reply_db_error(req);
    }
}

static int debit(http_req *req)
{
    const char *ref;
    int64_t amount;
    cJSON *body = read_ref_body(req, &ref, &amount);
    if (body == NULL)
        return req->status;
    user_move m;
    user_result res = user_store_debit(app_db(req), req->params[0], ref, amount, &m);
    int status = reply_move(req, res, ref, amount, &m, "DEBITED");
    cJSON_Delete(body);
    return status;
}

static int credit(http_req *req)
{
    const char *ref;
    int64_t amount;
    cJSON *body = read_ref_body(req, &ref, &amount);
    if (body == NULL)
        return req->status;
    user_move m;
    user_result res = user_store_credit(app_db(req), req->params[0], ref, amount, &m);
    int status = reply_move(req, res, ref, amount, &m, "CREDITED");
    cJSON_Delete(body);
    return status;
}

static int void_debit(http_req *req)
{
    const char *ref;
    cJSON *body = read_ref_body(req, &ref, NULL);
    if (body == NULL)
        return req->status;
    int64_t id = req->params[0];
    user_void v;
    int status;
    user_result res = user_store_void(app_db(req), id, ref, &v);
    if (res == USER_OK) {
        log_info(req->request_id, "void ref=%s debited=%d", ref, (int)v.debited);
        status = http_reply_json(
            req, 200, move_json(id, ref, v.amount, -1, v.debited ? "DEBITED" : "VOIDED"));
    } else if (res == USER_NOT_FOUND) {
        status = reply_not_found(req, id);
    } else if (res == USER_REF_REUSED) {
        status = reply_ref_reused(req, ref, &v.prior);
    } else {
        status = reply_db_error(req);
    }
    cJSON_Delete(body);
    return status;
}

/* Reads ?afterId=&limit= (and ?userId= when user_id is non-NULL). Returns
 * false after replying 400. */
static bool page_params(http_req *req, int64_t *after_id, int64_t *limit, int64_t *user_id)
{
    if (!http_query_int(req, "afterId", 0, JSON_INT_MAX, 0, after_id)) {
        http_reply_problem(req, "INVALID_REQUEST", "afterId: must be an integer in 0..%lld",
                           (long long)JSON_INT_MAX);
        return false;
    }
    if (!http_query_int(req, "limit", 1, LIST_LIMIT_MAX, LIST_LIMIT_DEFAULT, limit)) {
        http_reply_problem(req, "INVALID_REQUEST", "limit: must be an integer in 1..%d",
                           LIST_LIMIT_MAX);
        return false;
    }
    if (user_id != NULL && !http_query_int(req, "userId", 1, JSON_INT_MAX, 0, user_id)) {
        http_reply_problem(req, "INVALID_REQUEST", "userId: must be an integer in 1..%lld",
                           (long long)JSON_INT_MAX);
        return false;
    }
    return true;
}

/* {"items":items,"nextAfterId":last or null}; takes items. */
static int reply_page(http_req *req, cJSON *items, bool more, int64_t last_id)
{
    cJSON *o = cJSON_CreateObject();
    if (o == NULL || items == NULL) {
        cJSON_Delete(items);
        cJSON_Delete(o);
        return http_reply_problem(req, "INTERNAL", "out of memory");
    }
    cJSON_AddItemToObject(o, "items", items);
    if (!json_add_id_or_null(o, "nextAfterId", more ? last_id : 0)) {
        cJSON_Delete(o);
        o = NULL;
    }
    return http_reply_json(req, 200, o);
}

static cJSON *admin_user_json(const user_rec *u)
{
    char at[TIME_RFC3339_LEN];
    time_format_rfc3339(u->created_at, at);
    cJSON *o = user_json(u);
    if (o != NULL && (!json_add_int(o, "initialBalance", u->initial_balance) ||
                      cJSON_AddStringToObject(o, "createdAt", at) == NULL)) {
        cJSON_Delete(o);
        o = NULL;
    }
    return o;
}

static int list_users(http_req *req)
{
    int64_t after_id, limit, user_id;
    if (!page_params(req, &after_id, &limit, &user_id))
        return req->status;
    user_rec *rows;
    size_t n;
    bool more;
    if (user_store_list(app_db(req), user_id, after_id, (int)limit, &rows, &n, &more) != USER_OK)
        return reply_db_error(req);
    cJSON *items = cJSON_CreateArray();
    for (size_t i = 0; items != NULL && i < n; i++) {
        cJSON *u = admin_user_json(&rows[i]);
        if (u == NULL || !cJSON_AddItemToArray(items, u)) {
            cJSON_Delete(u);
            cJSON_Delete(items);
            items = NULL;
        }
    }
    int status = reply_page(req, items, more, n > 0 ? rows[n - 1].id : 0);
    free(rows);
    return status;
}

static cJSON *ledger_json(const user_ledger_rec *l)
{
    char at[TIME_RFC3339_LEN];
    time_format_rfc3339(l->created_at, at);
    cJSON *o = cJSON_CreateObject();
    if (o == NULL || !json_add_int(o, "id", l->id) ||
        (l->has_ref ? cJSON_AddStringToObject(o, "ref", l->ref)
                    : cJSON_AddNullToObject(o, "ref")) == NULL ||
        !json_add_int(o, "userId", l->user_id) ||
        cJSON_AddStringToObject(o, "kind", l->kind) == NULL ||
        !json_add_int(o, "amount", l->amount) ||
        !json_add_int(o, "balanceAfter", l->balance_after) ||
        cJSON_AddStringToObject(o, "createdAt", at) == NULL) {
        cJSON_Delete(o);
        return NULL;
    }
    return o;
}

static int list_ledger(http_req *req)
{
    int64_t after_id, limit;
    if (!page_params(req, &after_id, &limit, NULL))
        return req->status;
    user_ledger_rec *rows;
    size_t n;
    bool more;
    user_result res =
        user_store_ledger(app_db(req), req->params[0], after_id, (int)limit, &rows, &n, &more);
    if (res == USER_NOT_FOUND)
        return reply_not_found(req, req->params[0]);
    if (res != USER_OK)
        return reply_db_error(req);
    cJSON *items = cJSON_CreateArray();
    for (size_t i = 0; items != NULL && i < n; i++) {
        cJSON *l = ledger_json(&rows[i]);
        if (l == NULL || !cJSON_AddItemToArray(items, l)) {
            cJSON_Delete(l);
            cJSON_Delete(items);
            items = NULL;
        }
    }
    int status = reply_page(req, items, more, n > 0 ? rows[n - 1].id : 0);
    free(rows);
    return status;
}

const http_route user_routes[] = {
    {.method = "POST", .pattern = "/users", .handler = create_user},
    {.method = "GET", .pattern = "/users", .handler = list_users},
    {.method = "GET", .pattern = "/users/{userId}", .handler = get_user},
    {.method = "GET", .pattern = "/users/{userId}/balance", .handler = get_balance},
    {.method = "POST", .pattern = "/users/{userId}/balance/charge", .handler = charge},
    {.method = "GET", .pattern = "/users/{userId}/ledger", .handler = list_ledger},
    {.method = "POST", .pattern = "/users/{userId}/debits", .handler = debit},
    {.method = "POST", .pattern = "/users/{userId}/debits/void", .handler = void_debit},
    {.method = "POST", .pattern = "/users/{userId}/credits", .handler = credit},
};
const size_t user_n_routes = sizeof(user_routes) / sizeof(user_routes[0]);
