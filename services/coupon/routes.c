/* HTTP ⇄ coupon domain: parse and validate requests, call the store (and
 * user-service on issue), render Coupon / UserCoupon JSON and problems. */
#include "routes.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "coupon_logic.h"
#include "coupon_store.h"
#include "http_client.h"
#include "json.h"
#include "log.h"
#include "problem.h"
#include "timeutil.h"

#define ISSUE_ROUTE "POST /coupons/{couponId}/issue"
#define IDEM_KEY_MAX 255
#define LIST_LIMIT_MAX 500
#define LIST_LIMIT_DEFAULT 100

static int64_t now_s(void)
{
    return time_now_ms() / 1000;
}

/* ---- rendering ---------------------------------------------------------- */

static bool add_time(cJSON *obj, const char *name, int64_t epoch_s)
{
    char buf[TIME_RFC3339_LEN];
    time_format_rfc3339(epoch_s, buf);
    return cJSON_AddStringToObject(obj, name, buf) != NULL;
}

/* Coupon JSON (a new object, or NULL when out of memory). */
static cJSON *coupon_json(const coupon *c)
{
    cJSON *o = cJSON_CreateObject();
    bool ok = o != NULL && json_add_int(o, "id", c->id) &&
              cJSON_AddStringToObject(o, "name", c->name) != NULL &&
              cJSON_AddStringToObject(o, "discountType", coupon_type_name(c->discount_type)) &&
              json_add_int(o, "discountValue", c->discount_value) &&
              json_add_int(o, "totalQuantity", c->total_quantity) &&
              json_add_int(o, "issuedQuantity", c->issued_quantity) &&
              add_time(o, "expiresAt", c->expires_at);
    if (!ok) {
        cJSON_Delete(o);
        return NULL;
    }
    return o;
}

/* UserCoupon JSON (a new object, or NULL when out of memory). */
static cJSON *user_coupon_json(const coupon_user_coupon *uc)
{
    cJSON *o = cJSON_CreateObject();
    bool ok = o != NULL && json_add_int(o, "id", uc->id) &&
              json_add_int(o, "couponId", uc->coupon_id) &&
              json_add_int(o, "userId", uc->user_id) &&
              cJSON_AddStringToObject(o, "name", uc->name) != NULL &&
              cJSON_AddStringToObject(o, "discountType", coupon_type_name(uc->discount_type)) &&
              json_add_int(o, "discountValue", uc->discount_value) &&
              cJSON_AddBoolToObject(o, "isUsed", uc->is_used) != NULL &&
              json_add_id_or_null(o, "usedOrderId", uc->is_used ? uc->used_order_id : 0) &&
              add_time(o, "expiresAt", uc->expires_at);
    if (!ok) {
        cJSON_Delete(o);
        return NULL;
    }
    return o;
}

/* The validate reply: the coupon's terms and the discount on total. */
static cJSON *discount_json(const coupon_user_coupon *uc, int64_t total)
{
    cJSON *o = cJSON_CreateObject();
    bool ok = o != NULL && json_add_int(o, "userCouponId", uc->id) &&
              json_add_int(o, "couponId", uc->coupon_id) &&
              cJSON_AddStringToObject(o, "discountType", coupon_type_name(uc->discount_type)) &&
              json_add_int(o, "discountValue", uc->discount_value) &&
              json_add_int(o, "discountAmount",
                           coupon_discount(uc->discount_type, uc->discount_value, total));
    if (!ok) {
        cJSON_Delete(o);
        return NULL;
    }
    return o;
}

/* {"<name>":[UserCoupon...]} plus, when page_limit > 0, "nextAfterId": the
 * last id when more than page_limit were found (only page_limit are shown),
 * else null. */
static cJSON *user_coupons_json(const char *name, const coupon_user_coupon *items, size_t n,
                                int64_t page_limit)
{
    cJSON *o = cJSON_CreateObject();
    cJSON *arr = o != NULL ? cJSON_AddArrayToObject(o, name) : NULL;
    bool more = page_limit > 0 && (int64_t)n > page_limit;
    size_t shown = more ? (size_t)page_limit : n;
    bool ok = arr != NULL;
    for (size_t i = 0; ok && i < shown; i++) {
        cJSON *item = user_coupon_json(&items[i]);
        ok = item != NULL && cJSON_AddItemToArray(arr, item);
    }
    if (ok && page_limit > 0)
        ok = json_add_id_or_null(o, "nextAfterId", more ? items[shown - 1].id : 0);
    if (!ok) {
        cJSON_Delete(o);
        return NULL;
    }
    return o;
}

/* The problem code and detail for an outcome other than COUPON_OK; id is the
 * coupon (issue) or user coupon (validate, use) asked for, order the order id
 * (use) or 0. */
static const char *outcome_problem(coupon_outcome o, const char *what, int64_t id, int64_t user_id,
                                   int64_t order_id, char *detail, size_t len)
{
    long long i = (long long)id, u = (long long)user_id, ord = (long long)order_id;
    switch (o) {
    case COUPON_NOT_FOUND:
        snprintf(detail, len, "%s %lld not found", what, i);
        return "COUPON_NOT_FOUND";
    case COUPON_EXPIRED:
        snprintf(detail, len, "%s %lld has expired", what, i);
        return "COUPON_NOT_USABLE";
    case COUPON_USED:
        snprintf(detail, len, "%s %lld is already used", what, i);
        return "COUPON_NOT_USABLE";
    case COUPON_NOT_OWNER:
        snprintf(detail, len, "%s %lld does not belong to user %lld", what, i, u);
        return "COUPON_NOT_USABLE";
    case COUPON_ALREADY_ISSUED:
        snprintf(detail, len, "%s %lld was already issued to user %lld", what, i, u);
        return "COUPON_ALREADY_ISSUED";
    case COUPON_SOLD_OUT:
        snprintf(detail, len, "%s %lld is sold out", what, i);
        return "COUPON_SOLD_OUT";
    case COUPON_ORDER_RELEASED:
        snprintf(detail, len, "order %lld was already released", ord);
        return "ORDER_RELEASED";
    case COUPON_OK:
    case COUPON_DB_ERROR:
    default:
        snprintf(detail, len, "database error");
        return "INTERNAL";
    }
}

static int reply_outcome(http_req *req, coupon_outcome o, const char *what, int64_t id,
                         int64_t user_id, int64_t order_id)
{
    char detail[160];
    const char *code = outcome_problem(o, what, id, user_id, order_id, detail, sizeof detail);
    return http_reply_problem(req, code, "%s", detail);
}

static int reply_db_error(http_req *req)
{
    return http_reply_problem(req, "INTERNAL", "database error");
}

/* ---- POST /coupons, GET /coupons/{couponId} ------------------------------ */

/* Reads a coupon definition from body. Returns false with err. */
static bool parse_coupon(const cJSON *body, coupon *c, json_err *err)
{
    const char *name, *type, *expires;
    int64_t min, max;
    memset(c, 0, sizeof *c);
    if (!json_get_string(body, "name", 1, COUPON_NAME_MAX, &name, err) ||
        !json_get_string(body, "discountType", 1, 16, &type, err))
        return false;
    if (!coupon_type_parse(type, &c->discount_type)) {
        snprintf(err->msg, sizeof err->msg, "discountType: must be FIXED or PERCENT");
        return false;
    }
    coupon_value_range(c->discount_type, &min, &max);
    if (!json_get_int(body, "discountValue", min, max, &c->discount_value, err) ||
        !json_get_int(body, "totalQuantity", 1, COUPON_QUANTITY_MAX, &c->total_quantity, err) ||
        !json_get_string(body, "expiresAt", 1, 64, &expires, err))
        return false;
    if (!time_parse_rfc3339(expires, &c->expires_at) || c->expires_at < 0 ||
        c->expires_at > COUPON_EXPIRES_MAX) {
        snprintf(err->msg, sizeof err->msg,
                 "expiresAt: must be an RFC 3339 time between 1970 and 9999");
        return false;
    }
    snprintf(c->name, sizeof c->name, "%s", name);
    return true;
}

static int handle_create_coupon(http_req *req)
{
    coupon_app *app = req->app;
    json_err err;
    coupon c;
    int status;
    cJSON *body = http_parse_body(req);
    if (body == NULL)
        return req->status;
    if (!parse_coupon(body, &c, &err))
        status = http_reply_invalid(req, &err);
    else if (coupon_store_create(app->db, &c) != SHOP_OK)
        status = reply_db_error(req);
    else
        status = http_reply_json(req, 201, coupon_json(&c));
    cJSON_Delete(body);
    return status;
}

static int handle_get_coupon(http_req *req)
{
    coupon_app *app = req->app;
    coupon c;
    coupon_outcome o = coupon_store_get(app->db, req->params[0], &c);
    if (o != COUPON_OK)
        return reply_outcome(req, o, "coupon", req->params[0], 0, 0);
    return http_reply_json(req, 200, coupon_json(&c));
}

/* ---- POST /coupons/{couponId}/issue, with Idempotency-Key ---------------- */

/* The Idempotency-Key of one issue request and what identifies its body. */
typedef struct idem_ctx {
    const char *key;   /* NULL: no key, nothing is stored */
    char *fingerprint; /* "POST <path>\n<body>" (malloc'd) */
} idem_ctx;

static bool idem_key_valid(const char *k)
{
    size_t n = strlen(k);
    if (n < 1 || n > IDEM_KEY_MAX)
        return false;
    for (size_t i = 0; i < n; i++)
        if (k[i] < 0x20 || k[i] > 0x7e)
            return false;
    return true;
}

/* Answers with a stored record: the first answer again, or 422 when this
 * request's body or path differs from the first one's. */
static int idem_replay(http_req *req, const idem_ctx *ix, const coupon_idem_record *rec)
{
    if (strcmp(rec->fingerprint, ix->fingerprint) != 0)
        return http_reply_problem(req, "IDEMPOTENCY_KEY_REUSED",
                                  "Idempotency-Key was used with another request");
    http_add_header(req, "Idempotent-Replayed", "true");
    return http_reply_raw(req, rec->status, rec->content_type, rec->body, strlen(rec->body));
}

/* Sets up ix for req. Returns 0 to go on (no key, or a key not seen yet), or
 * the status already sent (bad key: 400; seen key: the replay or 422). */
static int idem_begin(http_req *req, coupon_app *app, idem_ctx *ix)
{
    ix->key = http_header(req, "Idempotency-Key");
    ix->fingerprint = NULL;
    if (ix->key == NULL)
        return 0;
    if (!idem_key_valid(ix->key))
        return http_reply_problem(req, "INVALID_REQUEST",
                                  "Idempotency-Key: must be 1..255 printable ASCII characters");
    size_t len = strlen(req->method) + strlen(req->path) + req->body_len + 3;
    ix->fingerprint = malloc(len);
    if (ix->fingerprint == NULL)
        return reply_db_error(req);
    snprintf(ix->fingerprint, len, "%s %s\n%s", req->method, req->path, req->body);
    coupon_idem_record rec;
    coupon_outcome o = coupon_store_idem_find(db_reader(app->db), ISSUE_ROUTE, ix->key, &rec);
    if (o == COUPON_NOT_FOUND)
        return 0;
    if (o != COUPON_OK)
        return reply_db_error(req);
    int status = idem_replay(req, ix, &rec);
    coupon_idem_record_release(&rec);
    return status;
}

/* Sends an answer and, with a key, stores it in the caller's write
 * transaction c (committed or rolled back here; c may be NULL to use a
 * transaction of its own). When another request with the key got there
 * first, its answer is replayed instead. Takes ownership of body. */
static int idem_answer(http_req *req, coupon_app *app, const idem_ctx *ix, db_conn *c, int status,
                       const char *ctype, char *body)
{
    int sent;
    if (ix->key != NULL && c == NULL)
        c = db_begin_write(app->db);
    if (ix->key != NULL) {
        coupon_idem_record rec = {ix->fingerprint, status, (char *)ctype, body};
        coupon_idem_record first;
        coupon_outcome o =
            c != NULL ? coupon_store_idem_find(c, ISSUE_ROUTE, ix->key, &first) : COUPON_DB_ERROR;
        if (o == COUPON_OK) {
            db_rollback(app->db, c);
            sent = idem_replay(req, ix, &first);
            coupon_idem_record_release(&first);
            goto out;
        }
        if (o != COUPON_NOT_FOUND ||
            coupon_store_idem_put(c, ISSUE_ROUTE, ix->key, &rec, now_s()) != SHOP_OK) {
            if (c != NULL)
                db_rollback(app->db, c);
            sent = reply_db_error(req);
            goto out;
        }
    }
    if (c != NULL && db_commit(app->db, c) != 0) {
        sent = reply_db_error(req);
        goto out;
    }
    sent = http_reply_raw(req, status, ctype, body, strlen(body));
out:
    free(body);
    return sent;
}

/* A problem answer for the issue route (stored under its key). */
static int issue_problem(http_req *req, coupon_app *app, const idem_ctx *ix, db_conn *c,
                         const char *code, const char *detail)
{
    int status = problem_status(code);
    char *body = problem_render(status, code, detail);
    if (body == NULL) {
        if (c != NULL)
            db_rollback(app->db, c);
        return http_reply_json(req, 500, NULL);
    }
    return idem_answer(req, app, ix, c, status, "application/problem+json", body);
}

/* Asks user-service whether user_id exists. Returns 0 when it does, else the
 * status of the answer sent (a peer 4xx is passed on and stored; a transport
 * failure or 5xx becomes 503/504/502 and is not stored). */
static int issue_check_user(http_req *req, coupon_app *app, const idem_ctx *ix, int64_t user_id)
{
    char path[64];
    http_result r;
    int status = 0;
    snprintf(path, sizeof path, "/users/%lld", (long long)user_id);
    http_client_json("GET", app->user_url, path, NULL, req->request_id, &r);
    if (r.transport == HTTP_T_OK && r.status == 200)
        goto out;
    if (r.transport == HTTP_T_OK && r.status >= 400 && r.status < 500 && r.body != NULL) {
        char *copy = strdup(r.body);
        status = copy != NULL ? idem_answer(req, app, ix, NULL, (int)r.status, r.content_type, copy)
                              : http_reply_json(req, 500, NULL);
        goto out;
    }
    log_warn(req->request_id, "user-service check failed: transport=%d status=%ld %s",
             (int)r.transport, r.status, r.error);
    status = http_reply_upstream(req, "user", &r);
out:
    http_result_free(&r);
    return status;
}

/* The issue itself: one write transaction holding the effect and the key.
 * When a concurrent request with the same key stored its answer first,
 * idem_answer rolls this transaction back (effect included) and replays
 * that answer, so a key never issues twice. */
static int issue_write(http_req *req, coupon_app *app, const idem_ctx *ix, int64_t coupon_id,
                       int64_t user_id)
{
    coupon_user_coupon uc;
    char detail[160];
    db_conn *c = db_begin_write(app->db);
    if (c == NULL)
        return reply_db_error(req);
    coupon_outcome o = coupon_store_issue_tx(c, coupon_id, user_id, now_s(), &uc);
    if (o == COUPON_DB_ERROR) {
        db_rollback(app->db, c);
        return reply_db_error(req);
    }
    if (o != COUPON_OK) {
        const char *code =
            outcome_problem(o, "coupon", coupon_id, user_id, 0, detail, sizeof detail);
        /* Nothing of the issue stayed; commit only keeps the key. */
        if (ix->key == NULL) {
            db_rollback(app->db, c);
            return http_reply_problem(req, code, "%s", detail);
        }
        return issue_problem(req, app, ix, c, code, detail);
    }
    cJSON *json = user_coupon_json(&uc);
    char *body = json != NULL ? json_print(json) : NULL;
    cJSON_Delete(json);
    if (body == NULL) {
        db_rollback(app->db, c);
        return http_reply_json(req, 500, NULL);
    }
    return idem_answer(req, app, ix, c, 201, "application/json", body);
}

static int handle_issue(http_req *req)
{
    coupon_app *app = req->app;
    idem_ctx ix;
    json_err err;
    int64_t user_id = 0;
    cJSON *body = NULL;
    int status = idem_begin(req, app, &ix);
    if (status != 0)
        goto out;
    body = json_parse_object(req->body, req->body_len, &err);
    if (body == NULL || !json_get_int(body, "userId", 1, JSON_INT_MAX, &user_id, &err)) {
        status = issue_problem(req, app, &ix, NULL, "INVALID_REQUEST", err.msg);
        goto out;
    }
    status = issue_check_user(req, app, &ix, user_id);
    if (status == 0)
        status = issue_write(req, app, &ix, req->params[0], user_id);
out:
    cJSON_Delete(body);
    free(ix.fingerprint);
    return status;
}

/* ---- listings ------------------------------------------------------------ */

static int handle_user_coupons(http_req *req)
{
    coupon_app *app = req->app;
    coupon_list_query q = {.user_id = req->params[0], .used = -1, .after_id = 0, .limit = -1};
    coupon_user_coupon *items = NULL;
    size_t n = 0;
    if (coupon_store_list(app->db, &q, &items, &n) != SHOP_OK)
        return reply_db_error(req);
    int status = http_reply_json(req, 200, user_coupons_json("coupons", items, n, 0));
    free(items);
    return status;
}

/* True when the query string names parameter name (with or without value). */
static bool query_has(const http_req *req, const char *name)
{
    size_t len = strlen(name);
    for (const char *p = req->query; p != NULL && *p != '\0';) {
        if (strncmp(p, name, len) == 0 && (p[len] == '=' || p[len] == '&' || p[len] == '\0'))
            return true;
        p = strchr(p, '&');
        if (p != NULL)
            p++;
    }
    return false;
}

/* Reads ?status=USED|UNUSED&userId=&afterId=&limit= into q. Returns false with
 * err naming the parameter. */
static bool parse_list_query(const http_req *req, coupon_list_query *q, json_err *err)
{
    char used[16];
    q->used = -1;
    if (query_has(req, "status")) {
        bool ok = http_query_str(req, "status", used, sizeof used);
        if (ok && strcmp(used, "USED") == 0)
            q->used = 1;
        else if (ok && strcmp(used, "UNUSED") == 0)
            q->used = 0;
        else {
            snprintf(err->msg, sizeof err->msg, "status: must be USED or UNUSED");
            return false;
        }
    }
    if (!http_query_int(req, "userId", 1, JSON_INT_MAX, 0, &q->user_id)) {
        snprintf(err->msg, sizeof err->msg, "userId: must be an integer in 1..%lld", JSON_INT_MAX);
        return false;
    }
    if (!http_query_int(req, "afterId", 0, JSON_INT_MAX, 0, &q->after_id)) {
        snprintf(err->msg, sizeof err->msg, "afterId: must be an integer in 0..%lld", JSON_INT_MAX);
        return false;
    }
    if (!http_query_int(req, "limit", 1, LIST_LIMIT_MAX, LIST_LIMIT_DEFAULT, &q->limit)) {
        snprintf(err->msg, sizeof err->msg, "limit: must be an integer in 1..%d", LIST_LIMIT_MAX);
        return false;
    }
    return true;
}

static int handle_admin_user_coupons(http_req *req)
{
    coupon_app *app = req->app;
    coupon_list_query q;
    json_err err;
    coupon_user_coupon *items = NULL;
    size_t n = 0;
    if (!parse_list_query(req, &q, &err))
        return http_reply_invalid(req, &err);
    int64_t page = q.limit;
    q.limit = page + 1; /* one more tells whether there is a next page */
    if (coupon_store_list(app->db, &q, &items, &n) != SHOP_OK)
        return reply_db_error(req);
    int status = http_reply_json(req, 200, user_coupons_json("items", items, n, page));
    free(items);
    return status;
}

/* ---- internal: validate, use, restore ------------------------------------ */

/* Reads {"userId","totalAmount"} and, when order_id is non-NULL, "orderId". */
static bool parse_use_body(const cJSON *body, int64_t *user_id, int64_t *total, int64_t *order_id,
                           json_err *err)
{
    if (order_id != NULL && !json_get_int(body, "orderId", 1, JSON_INT_MAX, order_id, err))
        return false;
    return json_get_int(body, "userId", 1, JSON_INT_MAX, user_id, err) &&
           json_get_int(body, "totalAmount", 0, COUPON_TOTAL_MAX, total, err);
}

static int handle_validate(http_req *req)
{
    coupon_app *app = req->app;
    int64_t user_id, total, uc_id = req->params[0];
    json_err err;
    coupon_user_coupon uc;
    int status;
    cJSON *body = http_parse_body(req);
    if (body == NULL)
        return req->status;
    if (!parse_use_body(body, &user_id, &total, NULL, &err)) {
        status = http_reply_invalid(req, &err);
        goto out;
    }
    coupon_outcome o = coupon_store_get_user_coupon(app->db, uc_id, &uc);
    if (o == COUPON_OK)
        o = coupon_check_usable(&uc, user_id, now_s());
    if (o != COUPON_OK)
        status = reply_outcome(req, o, "user coupon", uc_id, user_id, 0);
    else
        status = http_reply_json(req, 200, discount_json(&uc, total));
out:
    cJSON_Delete(body);
    return status;
}

static int handle_use(http_req *req)
{
    coupon_app *app = req->app;
    int64_t user_id, total, order_id, uc_id = req->params[0];
    json_err err;
    coupon_user_coupon uc;
    int status;
    cJSON *body = http_parse_body(req);
    if (body == NULL)
        return req->status;
    if (!parse_use_body(body, &user_id, &total, &order_id, &err)) {
        status = http_reply_invalid(req, &err);
        goto out;
    }
    coupon_outcome o = coupon_store_use(app->db, uc_id, order_id, user_id, now_s(), &uc);
    if (o != COUPON_OK) {
        status = reply_outcome(req, o, "user coupon", uc_id, user_id, order_id);
        goto out;
    }
    cJSON *reply = discount_json(&uc, total);
    if (reply != NULL && !json_add_int(reply, "orderId", order_id)) {
        cJSON_Delete(reply);
        reply = NULL;
    }
    status = http_reply_json(req, 200, reply);
out:
    cJSON_Delete(body);
    return status;
}

static int handle_restore(http_req *req)
{
    coupon_app *app = req->app;
    int64_t order_id = req->params[0];
    int restored = 0;
    if (coupon_store_restore(app->db, order_id, now_s(), &restored) != SHOP_OK)
        return reply_db_error(req);
    if (restored > 0)
        log_info(req->request_id, "order %lld: coupon use released", (long long)order_id);
    cJSON *o = cJSON_CreateObject();
    if (o != NULL && (!json_add_int(o, "orderId", order_id) ||
                      cJSON_AddStringToObject(o, "status", "RELEASED") == NULL)) {
        cJSON_Delete(o);
        o = NULL;
    }
    return http_reply_json(req, 200, o);
}

const http_route coupon_routes[] = {
    {.method = "POST", .pattern = "/coupons", .handler = handle_create_coupon},
    {.method = "GET", .pattern = "/coupons/{couponId}", .handler = handle_get_coupon},
    {.method = "POST", .pattern = "/coupons/{couponId}/issue", .handler = handle_issue},
    {.method = "GET", .pattern = "/users/{userId}/coupons", .handler = handle_user_coupons},
    {.method = "GET", .pattern = "/user-coupons", .handler = handle_admin_user_coupons},
    {.method = "POST",
     .pattern = "/user-coupons/{userCouponId}/validate",
     .handler = handle_validate},
    {.method = "POST", .pattern = "/user-coupons/{userCouponId}/use", .handler = handle_use},
    {.method = "POST", .pattern = "/coupon-uses/{orderId}/restore", .handler = handle_restore},
};

const size_t coupon_n_routes = sizeof coupon_routes / sizeof coupon_routes[0];
