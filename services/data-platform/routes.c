/* The data-platform stub's routes (API.md "The data platform stub"): POST
 * /orders receives a paid order, deduplicated by order id; GET /orders and
 * GET /orders/{orderId} show what arrived; PUT /faults injects failures and
 * delay into POST /orders. */
#include "routes.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "dataplatform_logic.h"
#include "dataplatform_store.h"
#include "json.h"
#include "log.h"
#include "paging.h"
#include "timeutil.h"

int dataplatform_app_init(dataplatform_app *app, db *d, double fail_rate, int64_t delay_ms)
{
    memset(app, 0, sizeof *app);
    if (!dataplatform_rate_valid(fail_rate) || delay_ms < 0 || delay_ms > DATAPLATFORM_DELAY_MAX_MS)
        return -1;
    if (pthread_mutex_init(&app->mu, NULL) != 0)
        return -1;
    app->db = d;
    app->fail_rate = fail_rate;
    app->delay_ms = delay_ms;
    app->random =
        dataplatform_random_seed((uint64_t)time_now_ms() ^ (uint64_t)time_mono_ms() << 20);
    return 0;
}

void dataplatform_app_release(dataplatform_app *app)
{
    if (app != NULL)
        pthread_mutex_destroy(&app->mu);
}

/* The fault this request meets: OUT: *delay_ms; returns true when it fails. */
static bool draw_fault(dataplatform_app *app, int64_t *delay_ms)
{
    pthread_mutex_lock(&app->mu);
    *delay_ms = app->delay_ms;
    bool fail = dataplatform_should_fail(app->fail_rate, dataplatform_random_next(&app->random));
    pthread_mutex_unlock(&app->mu);
    return fail;
}

/* Sleeps ms in short slices, ending early when the program is stopping. */
static void delay(int64_t ms)
{
    int64_t until = time_mono_ms() + ms;
    for (int64_t left = ms; left > 0 && !http_stop_requested(); left = until - time_mono_ms())
        time_sleep_ms(left < 50 ? left : 50);
}

/* Validates items: 1..50 objects, each with itemId, quantity, unitPrice. */
static bool check_items(const cJSON *items, json_err *err)
{
    int i = 0;
    const cJSON *line;
    cJSON_ArrayForEach(line, items)
    {
        char what[48];
        int64_t v;
        if (!cJSON_IsObject(line)) {
            snprintf(err->msg, sizeof err->msg, "items[%d]: must be an object", i);
            return false;
        }
        snprintf(what, sizeof what, "items[%d].itemId", i);
        if (!json_item_int(cJSON_GetObjectItemCaseSensitive(line, "itemId"), what, 1, JSON_INT_MAX,
                           &v, err))
            return false;
        snprintf(what, sizeof what, "items[%d].quantity", i);
        if (!json_item_int(cJSON_GetObjectItemCaseSensitive(line, "quantity"), what, 1,
                           DATAPLATFORM_QUANTITY_MAX, &v, err))
            return false;
        snprintf(what, sizeof what, "items[%d].unitPrice", i);
        if (!json_item_int(cJSON_GetObjectItemCaseSensitive(line, "unitPrice"), what, 0,
                           DATAPLATFORM_PRICE_MAX, &v, err))
            return false;
        i++;
    }
    return true;
}

/* Reads a paid-order message into rec (rec->items malloc'd on success).
 * Returns false with err filled when the body is not one. */
static bool parse_record(const cJSON *body, dataplatform_record *rec, json_err *err)
{
    const cJSON *items = NULL;
    const char *paid_at = NULL;
    memset(rec, 0, sizeof *rec);
    if (!json_get_int(body, "orderId", 1, JSON_INT_MAX, &rec->order_id, err) ||
        !json_get_int(body, "paymentId", 1, JSON_INT_MAX, &rec->payment_id, err) ||
        !json_get_int(body, "userId", 1, JSON_INT_MAX, &rec->user_id, err) ||
        !json_get_array(body, "items", 1, DATAPLATFORM_LINES_MAX, &items, err) ||
        !check_items(items, err) ||
        !json_get_int(body, "totalAmount", 0, JSON_INT_MAX, &rec->total_amount, err) ||
        !json_get_int(body, "discountAmount", 0, JSON_INT_MAX, &rec->discount_amount, err) ||
        !json_get_int(body, "finalAmount", 0, JSON_INT_MAX, &rec->final_amount, err) ||
        !json_get_string(body, "paidAt", 1, 64, &paid_at, err))
        return false;
    if (!time_parse_rfc3339(paid_at, &rec->paid_at)) {
        snprintf(err->msg, sizeof err->msg, "paidAt: must be an RFC 3339 time");
        return false;
    }
    if (!dataplatform_amounts_consistent(rec->total_amount, rec->discount_amount,
                                         rec->final_amount)) {
        snprintf(err->msg, sizeof err->msg,
                 "finalAmount: must be totalAmount - discountAmount (discount <= total)");
        return false;
    }
    rec->items = json_print(items);
    if (rec->items == NULL) {
        snprintf(err->msg, sizeof err->msg, "out of memory");
        return false;
    }
    return true;
}

static int handle_receive(http_req *req)
{
    dataplatform_app *app = req->app;
    int64_t wait_ms = 0, deliveries = 0;
    bool fail = draw_fault(app, &wait_ms);
    if (wait_ms > 0)
        delay(wait_ms);
    if (fail)
        return http_reply_problem(req, "SERVICE_UNAVAILABLE", "fault injected (failRate)");
    cJSON *body = http_parse_body(req);
    if (body == NULL)
        return req->status;
    dataplatform_record rec;
    json_err err;
    bool ok = parse_record(body, &rec, &err);
    cJSON_Delete(body);
    if (!ok)
        return http_reply_invalid(req, &err);
    shop_err e = dataplatform_store_receive(app->db, &rec, time_now_ms() / 1000, &deliveries);
    int64_t order_id = rec.order_id;
    dataplatform_record_release(&rec);
    if (e != SHOP_OK)
        return http_reply_problem(req, "INTERNAL", "database error");
    log_info(req->request_id, "received order %lld (delivery %lld)", (long long)order_id,
             (long long)deliveries);
    cJSON *reply = cJSON_CreateObject();
    if (reply != NULL && (!json_add_int(reply, "orderId", order_id) ||
                          cJSON_AddStringToObject(reply, "status", "RECEIVED") == NULL ||
                          !json_add_int(reply, "deliveries", deliveries))) {
        cJSON_Delete(reply);
        reply = NULL;
    }
    return http_reply_json(req, 200, reply);
}

/* The stored record as JSON, or NULL when out of memory. */
static cJSON *render_record(const dataplatform_record *r)
{
    char paid[TIME_RFC3339_LEN], received[TIME_RFC3339_LEN];
    cJSON *o = cJSON_CreateObject();
    cJSON *items = json_parse_any(r->items, strlen(r->items), NULL);
    time_format_rfc3339(r->paid_at, paid);
    time_format_rfc3339(r->received_at, received);
    if (o == NULL || items == NULL || !json_add_int(o, "orderId", r->order_id) ||
        !json_add_int(o, "paymentId", r->payment_id) || !json_add_int(o, "userId", r->user_id) ||
        !cJSON_AddItemToObject(o, "items", items))
        goto fail;
    items = NULL; /* o owns it now */
    if (!json_add_int(o, "totalAmount", r->total_amount) ||
        !json_add_int(o, "discountAmount", r->discount_amount) ||
        !json_add_int(o, "finalAmount", r->final_amount) ||
        cJSON_AddStringToObject(o, "paidAt", paid) == NULL ||
        cJSON_AddStringToObject(o, "receivedAt", received) == NULL ||
        !json_add_int(o, "deliveries", r->deliveries))
        goto fail;
    return o;
fail:
    cJSON_Delete(items);
    cJSON_Delete(o);
    return NULL;
}

static int handle_get(http_req *req)
{
    dataplatform_app *app = req->app;
    dataplatform_record rec;
    shop_err e = dataplatform_store_get(app->db, req->params[0], &rec);
    if (e == SHOP_ENOTFOUND)
        return http_reply_problem(req, "NOT_FOUND", "nothing received for order %lld",
                                  (long long)req->params[0]);
    if (e != SHOP_OK)
        return http_reply_problem(req, "INTERNAL", "database error");
    int status = http_reply_json(req, 200, render_record(&rec));
    dataplatform_record_release(&rec);
    return status;
}

/* A record of a page (paging_render). */
static cJSON *render_row(const void *row)
{
    return render_record(row);
}

static int64_t row_id(const void *row)
{
    return ((const dataplatform_record *)row)->order_id;
}

static int handle_list(http_req *req)
{
    dataplatform_app *app = req->app;
    paging pg;
    if (!paging_query(req, DATAPLATFORM_LIST_MAX, DATAPLATFORM_LIST_DEFAULT, &pg))
        return req->status;
    size_t n = 0, limit = (size_t)pg.limit;
    dataplatform_record *rows = calloc(limit + 1, sizeof *rows);
    if (rows == NULL)
        return http_reply_problem(req, "INTERNAL", "out of memory");
    int status;
    if (dataplatform_store_list(app->db, pg.after_id, rows, limit + 1, &n) != SHOP_OK)
        status = http_reply_problem(req, "INTERNAL", "database error");
    else
        status = http_reply_json(
            req, 200, paging_render("orders", rows, sizeof *rows, n, limit, render_row, row_id));
    for (size_t i = 0; i < n; i++)
        dataplatform_record_release(&rows[i]);
    free(rows);
    return status;
}

/* Reads an optional failRate member. Returns false with err when present
 * but not a number in 0.0..1.0. */
static bool get_rate_opt(const cJSON *body, double *rate, bool *present, json_err *err)
{
    const cJSON *v = cJSON_GetObjectItemCaseSensitive(body, "failRate");
    *present = v != NULL && !cJSON_IsNull(v);
    if (!*present)
        return true;
    if (!cJSON_IsNumber(v) || !dataplatform_rate_valid(v->valuedouble)) {
        snprintf(err->msg, sizeof err->msg, "failRate: must be a number in 0.0..1.0");
        return false;
    }
    *rate = v->valuedouble;
    return true;
}

static int handle_faults(http_req *req)
{
    dataplatform_app *app = req->app;
    json_err err;
    double rate = 0;
    int64_t delay_ms = 0;
    bool has_rate = false, has_delay = false;
    cJSON *body = http_parse_body(req);
    if (body == NULL)
        return req->status;
    bool ok = get_rate_opt(body, &rate, &has_rate, &err) &&
              json_get_int_opt(body, "delayMs", 0, DATAPLATFORM_DELAY_MAX_MS, &delay_ms, &has_delay,
                               &err);
    cJSON_Delete(body);
    if (!ok)
        return http_reply_invalid(req, &err);
    pthread_mutex_lock(&app->mu);
    if (has_rate)
        app->fail_rate = rate;
    if (has_delay)
        app->delay_ms = delay_ms;
    rate = app->fail_rate;
    delay_ms = app->delay_ms;
    pthread_mutex_unlock(&app->mu);
    log_info(req->request_id, "faults: failRate=%g delayMs=%lld", rate, (long long)delay_ms);
    cJSON *reply = cJSON_CreateObject();
    if (reply != NULL && (cJSON_AddNumberToObject(reply, "failRate", rate) == NULL ||
                          !json_add_int(reply, "delayMs", delay_ms))) {
        cJSON_Delete(reply);
        reply = NULL;
    }
    return http_reply_json(req, 200, reply);
}

const http_route dataplatform_routes[] = {
    {"POST", "/orders", handle_receive, NULL},
    {"GET", "/orders", handle_list, NULL},
    {"GET", "/orders/{orderId}", handle_get, NULL},
    {"PUT", "/faults", handle_faults, NULL},
};
const size_t dataplatform_n_routes = sizeof dataplatform_routes / sizeof dataplatform_routes[0];
