/* HTTP ⇄ coupon domain: parse and validate requests, call the store (and
 * user-service on issue), render Coupon / UserCoupon JSON and problems. */
#include "routes.h"

#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "coupon_logic.h"
#include "coupon_store.h"
#include "http_client.h"
#include "idempotency.h"
#include "json.h"
#include "log.h"
#include "problem.h"
#include "timeutil.h"

/* The scope of an issue's Idempotency-Key (the old table's route, kept). */
#define ISSUE_SCOPE "POST /coupons/{couponId}/issue"
#define KEYS_PURGE_EVERY_S 3600
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

/* With a key, the answer is stored in the write transaction that issues (or
 * refuses), after idem_lookup on the writer in that same transaction: two
 * requests with one key are serialised by the write lock, and the second
 * finds the first's answer and replays it (it never issues, and never hits
 * the key's primary key). Before user-service is asked, the key is looked up
 * once on a reader too, so a replay of a stored answer never calls it again. */

/* The Idempotency-Key of one issue request (key NULL: no key, nothing is
 * stored) and its request text (malloc'd), from idem_check_request. */
typedef idem_req issue_key;

/* Looks ik up on c. Returns 0 when the key is new, else the status of the
 * answer sent: the stored answer again, or its refusal (422, 409, 500). */
static int issue_key_seen(http_req *req, db_conn *c, const issue_key *ik)
{
    idem_record rec = {0};
    idem_outcome seen =
        c != NULL ? idem_lookup(c, ISSUE_SCOPE, ik->key, ik->request, &rec) : IDEM_ERROR;
    if (seen == IDEM_NEW)
        return 0;
    int status = seen == IDEM_REPLAY ? idem_reply(req, &rec) : idem_reply_refusal(req, seen);
    idem_record_free(&rec);
    return status;
}

/* Opens the write transaction of an answer and looks the key up in it.
 * Returns 0 with *c open to go on, else the status already sent (*c NULL). */
static int issue_tx_begin(http_req *req, coupon_app *app, const issue_key *ik, db_conn **c)
{
    *c = db_begin_write(app->db);
    if (*c == NULL)
        return reply_db_error(req);
    int status = ik->key != NULL ? issue_key_seen(req, *c, ik) : 0;
    if (status != 0) {
        db_rollback(app->db, *c);
        *c = NULL;
    }
    return status;
}

/* Stores status/body under the key (if any) in c, commits and sends it
 * (application/json below 400, problem+json from 400). Takes body (NULL:
 * out of memory); a failure rolls c back and answers 500, not stored. */
static int issue_tx_finish(http_req *req, coupon_app *app, const issue_key *ik, db_conn *c,
                           int status, char *body)
{
    int sent;
    if (body == NULL ||
        (ik->key != NULL && idem_store(c, ISSUE_SCOPE, ik->key, ik->request, status, body) != 0)) {
        db_rollback(app->db, c);
        sent = reply_db_error(req);
    } else if (db_commit(app->db, c) != 0) {
        sent = reply_db_error(req);
    } else {
        const char *ctype = status >= 400 ? "application/problem+json" : "application/json";
        sent = http_reply_raw(req, status, ctype, body, strlen(body));
    }
    free(body);
    return sent;
}

/* A 4xx with no issue behind it (a bad body, a peer's refusal): stored under
 * the key in a transaction of its own. Takes body. */
static int issue_refuse(http_req *req, coupon_app *app, const issue_key *ik, int status, char *body)
{
    db_conn *c;
    int sent = issue_tx_begin(req, app, ik, &c);
    if (sent != 0) {
        free(body);
        return sent;
    }
    return issue_tx_finish(req, app, ik, c, status, body);
}

/* Asks user-service whether user_id exists. Returns 0 when it does, else the
 * status of the answer sent (a peer 4xx is passed on and stored; a transport
 * failure or 5xx becomes 503/504/502 and is not stored). */
static int issue_check_user(http_req *req, coupon_app *app, const issue_key *ik, int64_t user_id)
{
    char path[64];
    http_result r;
    int status = 0;
    snprintf(path, sizeof path, "/users/%lld", (long long)user_id);
    http_client_json("GET", app->user_url, path, NULL, req->request_id, &r);
    if (r.transport == HTTP_T_OK && r.status == 200)
        goto out;
    bool refused = r.transport == HTTP_T_OK && r.status >= 400 && r.status < 500 &&
                   r.body != NULL && strstr(r.content_type, "application/problem+json") != NULL;
    if (refused && ik->key != NULL) {
        status = issue_refuse(req, app, ik, (int)r.status, strdup(r.body));
        goto out;
    }
    if (!refused)
        log_warn(req->request_id, "user-service check failed: transport=%d status=%ld %s",
                 (int)r.transport, r.status, r.error);
    status = http_reply_upstream(req, "user", &r);
out:
    http_result_free(&r);
    return status;
}

/* The issue itself: one write transaction holding the key's lookup, the
 * effect (or its refusal) and the stored answer. */
static int issue_write(http_req *req, coupon_app *app, const issue_key *ik, int64_t coupon_id,
                       int64_t user_id)
{
    coupon_user_coupon uc;
    char detail[160];
    db_conn *c;
    int status = issue_tx_begin(req, app, ik, &c);
    if (status != 0)
        return status;
    coupon_outcome o = coupon_store_issue_tx(c, coupon_id, user_id, now_s(), &uc);
    if (o == COUPON_DB_ERROR) {
        db_rollback(app->db, c);
        return reply_db_error(req);
    }
    char *body = NULL;
    if (o == COUPON_OK) {
        status = 201;
        cJSON *json = user_coupon_json(&uc);
        body = json != NULL ? json_print(json) : NULL;
        cJSON_Delete(json);
    } else {
        /* Nothing of the issue stayed; the commit keeps only the key. */
        const char *code =
            outcome_problem(o, "coupon", coupon_id, user_id, 0, detail, sizeof detail);
        status = problem_status(code);
        body = problem_render(status, code, detail);
    }
    return issue_tx_finish(req, app, ik, c, status, body);
}

/* Deletes Idempotency-Key answers past their 24 hours, at most once an
 * hour: the first issue after the hour does it, once its answer is sent. */
static void purge_keys_hourly(http_req *req, coupon_app *app)
{
    int64_t now = now_s();
    int64_t last = atomic_load(&app->keys_purged_at);
    if (now - last < KEYS_PURGE_EVERY_S ||
        !atomic_compare_exchange_strong(&app->keys_purged_at, &last, now))
        return;
    if (coupon_store_idem_purge(app->db, now) != SHOP_OK)
        log_warn(req->request_id, "purging old Idempotency-Key answers failed");
}

static int handle_issue(http_req *req)
{
    coupon_app *app = req->app;
    issue_key ik = {0};
    json_err err;
    int64_t user_id = 0;
    cJSON *body = NULL;
    int status = idem_check_request(req, app->db, ISSUE_SCOPE, &ik, NULL);
    if (status != 0)
        goto out;
    body = json_parse_object(req->body, req->body_len, &err);
    if (body == NULL || !json_get_int(body, "userId", 1, JSON_INT_MAX, &user_id, &err)) {
        if (ik.key == NULL)
            status = http_reply_invalid(req, &err);
        else
            status =
                issue_refuse(req, app, &ik, 400, problem_render(400, "INVALID_REQUEST", err.msg));
        goto out;
    }
    status = issue_check_user(req, app, &ik, user_id);
    if (status == 0)
        status = issue_write(req, app, &ik, req->params[0], user_id);
    purge_keys_hourly(req, app);
out:
    cJSON_Delete(body);
    free((char *)ik.request);
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

/* Reads ?status=USED|UNUSED&userId=&afterId=&limit= into q. Returns false with
 * err naming the parameter. */
static bool parse_list_query(const http_req *req, coupon_list_query *q, json_err *err)
{
    char used[16];
    q->used = -1;
    if (http_query_has(req, "status")) {
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
