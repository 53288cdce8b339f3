/* The payment service's routes: POST /payments runs the pay saga, GET
 * /payments/{id} and GET /payments read what is stored. HTTP in and out
 * only; the saga lives in payment_saga.c, SQL in payment_store.c. */
#include "routes.h"

#include <stdlib.h>
#include <string.h>

#include "http_client.h"
#include "json.h"
#include "payment_logic.h"
#include "payment_saga.h"
#include "payment_store.h"
#include "timeutil.h"

/* The delivery object of p, or JSON null when it has no outbox row. */
static cJSON *render_delivery(const payment_row *p)
{
    if (!p->has_delivery)
        return cJSON_CreateNull();
    cJSON *d = cJSON_CreateObject();
    char at[TIME_RFC3339_LEN];
    if (d == NULL ||
        cJSON_AddStringToObject(d, "status", p->delivered ? "DELIVERED" : "PENDING") == NULL ||
        !json_add_int(d, "attempts", p->attempts))
        goto fail;
    if (p->delivered) {
        time_format_rfc3339(p->delivered_at, at);
        if (cJSON_AddStringToObject(d, "deliveredAt", at) == NULL)
            goto fail;
    } else if (cJSON_AddNullToObject(d, "deliveredAt") == NULL) {
        goto fail;
    }
    return d;
fail:
    cJSON_Delete(d);
    return NULL;
}

/* Payment JSON (API.md), or NULL when out of memory. */
static cJSON *render_payment(const payment_row *p)
{
    char created[TIME_RFC3339_LEN];
    const char *status = payment_status_name(p->status);
    cJSON *o = cJSON_CreateObject();
    time_format_rfc3339(p->created_at, created);
    if (o == NULL || !json_add_int(o, "id", p->id) || !json_add_int(o, "orderId", p->order_id) ||
        !json_add_int(o, "userId", p->user_id) || !json_add_int(o, "amount", p->amount) ||
        cJSON_AddStringToObject(o, "status", status != NULL ? status : "UNKNOWN") == NULL ||
        cJSON_AddStringToObject(o, "createdAt", created) == NULL)
        goto fail;
    cJSON *delivery = render_delivery(p);
    if (delivery == NULL || !cJSON_AddItemToObject(o, "delivery", delivery)) {
        cJSON_Delete(delivery);
        goto fail;
    }
    return o;
fail:
    cJSON_Delete(o);
    return NULL;
}

static int reply_outcome(http_req *req, const payment_outcome *out)
{
    if (out->status == 201)
        return http_reply_json(req, 201, render_payment(&out->payment));
    if (out->pass_upstream)
        return http_reply_upstream(req, out->peer, &out->upstream);
    return http_reply_problem(req, out->code, "%s", out->detail);
}

static int handle_create(http_req *req)
{
    payment_app *app = req->app;
    json_err err;
    int64_t order_id = 0, user_id = 0;
    cJSON *body = http_parse_body(req);
    if (body == NULL)
        return req->status;
    bool ok = json_get_int(body, "orderId", 1, JSON_INT_MAX, &order_id, &err) &&
              json_get_int(body, "userId", 1, JSON_INT_MAX, &user_id, &err);
    cJSON_Delete(body);
    if (!ok)
        return http_reply_invalid(req, &err);
    payment_outcome out;
    payment_saga_pay(app, req->request_id, order_id, user_id, &out);
    int status = reply_outcome(req, &out);
    payment_outcome_release(&out);
    return status;
}

static int handle_get(http_req *req)
{
    payment_app *app = req->app;
    payment_row p;
    shop_err e = payment_store_get(app->db, req->params[0], &p);
    if (e == SHOP_ENOTFOUND)
        return http_reply_problem(req, "PAYMENT_NOT_FOUND", "payment %lld not found",
                                  (long long)req->params[0]);
    if (e != SHOP_OK)
        return http_reply_problem(req, "INTERNAL", "database error");
    return http_reply_json(req, 200, render_payment(&p));
}

/* True when the query string names parameter name (with or without value). */
static bool query_has(const http_req *req, const char *name)
{
    size_t n = strlen(name);
    for (const char *q = req->query; q != NULL && *q != '\0';) {
        if (strncmp(q, name, n) == 0 && (q[n] == '=' || q[n] == '&' || q[n] == '\0'))
            return true;
        q = strchr(q, '&');
        if (q != NULL)
            q++;
    }
    return false;
}

/* Reads ?status=: PAYMENT_STATUS_INVALID in *out when absent. Returns false
 * when present but not a payment status. */
static bool query_status(const http_req *req, payment_status *out)
{
    char buf[32];
    *out = PAYMENT_STATUS_INVALID;
    if (!query_has(req, "status"))
        return true;
    if (!http_query_str(req, "status", buf, sizeof buf))
        return false;
    *out = payment_status_parse(buf);
    return *out != PAYMENT_STATUS_INVALID;
}

/* {"items":[...],"nextAfterId":n|null} from rows (n of them, limit asked). */
static cJSON *render_page(const payment_row *rows, size_t n, size_t limit)
{
    cJSON *page = cJSON_CreateObject();
    cJSON *items = cJSON_AddArrayToObject(page, "items");
    if (page == NULL || items == NULL)
        goto fail;
    for (size_t i = 0; i < n && i < limit; i++) {
        cJSON *p = render_payment(&rows[i]);
        if (p == NULL || !cJSON_AddItemToArray(items, p)) {
            cJSON_Delete(p);
            goto fail;
        }
    }
    /* One row more than asked for was read: it says whether a next page exists. */
    if (!(n > limit ? json_add_int(page, "nextAfterId", rows[limit - 1].id)
                    : cJSON_AddNullToObject(page, "nextAfterId") != NULL))
        goto fail;
    return page;
fail:
    cJSON_Delete(page);
    return NULL;
}

static int handle_list(http_req *req)
{
    payment_app *app = req->app;
    payment_status status;
    int64_t user_id = 0, after_id = 0, limit = 0;
    if (!query_status(req, &status))
        return http_reply_problem(req, "INVALID_REQUEST",
                                  "status: must be PENDING, COMPLETED, FAILED or REFUNDED");
    if (!http_query_int(req, "userId", 1, JSON_INT_MAX, 0, &user_id))
        return http_reply_problem(req, "INVALID_REQUEST", "userId: must be an id");
    if (!http_query_int(req, "afterId", 0, JSON_INT_MAX, 0, &after_id))
        return http_reply_problem(req, "INVALID_REQUEST", "afterId: must be an integer >= 0");
    if (!http_query_int(req, "limit", 1, PAYMENT_LIST_MAX, PAYMENT_LIST_DEFAULT, &limit))
        return http_reply_problem(req, "INVALID_REQUEST", "limit: must be an integer in 1..%d",
                                  PAYMENT_LIST_MAX);
    size_t n = 0;
    payment_row *rows = calloc((size_t)limit + 1, sizeof *rows);
    if (rows == NULL)
        return http_reply_problem(req, "INTERNAL", "out of memory");
    int status_sent;
    if (payment_store_list(app->db, status, user_id, after_id, rows, (size_t)limit + 1, &n) !=
        SHOP_OK)
        status_sent = http_reply_problem(req, "INTERNAL", "database error");
    else
        status_sent = http_reply_json(req, 200, render_page(rows, n, (size_t)limit));
    free(rows);
    return status_sent;
}

const http_route payment_routes[] = {
    {"POST", "/payments", handle_create, NULL},
    {"GET", "/payments", handle_list, NULL},
    {"GET", "/payments/{paymentId}", handle_get, NULL},
};
const size_t payment_n_routes = sizeof payment_routes / sizeof payment_routes[0];
