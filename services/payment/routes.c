/* The payment service's routes: POST /payments runs the pay saga (with
 * Idempotency-Key), GET /payments/{id} and GET /payments read what is
 * stored, GET /payments/saga reads the saga log of an order's payments for
 * order-service's saga view. HTTP in and out only; the saga lives in
 * payment_saga.c, SQL in payment_store.c. */
#include "routes.h"

#include <stdlib.h>
#include <string.h>

#include "http_client.h"
#include "idempotency.h"
#include "json.h"
#include "log.h"
#include "payment_logic.h"
#include "payment_saga.h"
#include "payment_store.h"
#include "paging.h"
#include "timeutil.h"

/* 400 for a body that is not a payment request, stored for idem first. */
static int reply_invalid(http_req *req, const payment_idem *idem, const json_err *err)
{
    payment_app *app = req->app;
    char *body = problem_render(400, "INVALID_REQUEST", err->msg);
    if (body == NULL)
        return http_reply_problem(req, "INTERNAL", "out of memory");
    if (idem != NULL && payment_store_idem_put(app->db, idem, 400, body) != SHOP_OK)
        log_warn(req->request_id, "could not store the answer for an Idempotency-Key");
    int status = http_reply_raw(req, 400, "application/problem+json", body, strlen(body));
    free(body);
    return status;
}

/* POST /payments {"orderId","userId"}: the pay saga (Idempotency-Key honoured). */
static int handle_create(http_req *req)
{
    payment_app *app = req->app;
    payment_idem idem_buf;
    const payment_idem *idem = NULL;
    json_err err;
    int64_t order_id = 0, user_id = 0;
    int status = idem_check_request(req, app->db, PAYMENT_IDEM_SCOPE, &idem_buf, &idem);
    if (status != 0)
        return status;
    cJSON *body = json_parse_object(req->body, req->body_len, &err);
    bool ok = body != NULL && json_get_int(body, "orderId", 1, JSON_INT_MAX, &order_id, &err) &&
              json_get_int(body, "userId", 1, JSON_INT_MAX, &user_id, &err);
    cJSON_Delete(body);
    if (!ok) {
        status = reply_invalid(req, idem, &err);
    } else {
        payment_outcome out;
        payment_saga_pay(app, req->request_id, order_id, user_id, idem, &out);
        if (out.body != NULL)
            status = http_reply_raw(req, out.status, out.content_type, out.body, strlen(out.body));
        else
            status = http_reply_problem(req, "INTERNAL", "out of memory");
        payment_outcome_release(&out);
    }
    free((char *)idem_buf.request);
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
    return http_reply_json(req, 200, payment_render(&p));
}

/* Reads ?status=: PAYMENT_STATUS_INVALID in *out when absent. Returns false
 * when present but not a payment status. */
static bool query_status(const http_req *req, payment_status *out)
{
    char buf[32];
    *out = PAYMENT_STATUS_INVALID;
    if (!http_query_has(req, "status"))
        return true;
    if (!http_query_str(req, "status", buf, sizeof buf))
        return false;
    *out = payment_status_parse(buf);
    return *out != PAYMENT_STATUS_INVALID;
}

/* A payment_row of a page (paging_render). */
static cJSON *render_row(const void *row)
{
    return payment_render(row);
}

static int64_t row_id(const void *row)
{
    return ((const payment_row *)row)->id;
}

static int handle_list(http_req *req)
{
    payment_app *app = req->app;
    payment_status status;
    int64_t user_id = 0;
    paging pg;
    if (!query_status(req, &status))
        return http_reply_problem(req, "INVALID_REQUEST",
                                  "status: must be PENDING, COMPLETED, FAILED or REFUNDED");
    if (!http_query_int(req, "userId", 1, JSON_INT_MAX, 0, &user_id))
        return http_reply_problem(req, "INVALID_REQUEST", "userId: must be an id");
    if (!paging_query(req, PAYMENT_LIST_MAX, PAYMENT_LIST_DEFAULT, &pg))
        return req->status;
    size_t n = 0, limit = (size_t)pg.limit;
    payment_row *rows = calloc(limit + 1, sizeof *rows);
    if (rows == NULL)
        return http_reply_problem(req, "INTERNAL", "out of memory");
    int status_sent;
    if (payment_store_list(app->db, status, user_id, pg.after_id, rows, limit + 1, &n) != SHOP_OK)
        status_sent = http_reply_problem(req, "INTERNAL", "database error");
    else
        status_sent = http_reply_json(
            req, 200, paging_render("items", rows, sizeof *rows, n, limit, render_row, row_id));
    free(rows);
    return status_sent;
}

/* GET /payments/saga?orderId=&userId= (userId optional): the saga steps of
 * the order's payments (of that user's payments, when given), in time order:
 * {"steps":[...]}. */
static int handle_saga(http_req *req)
{
    payment_app *app = req->app;
    int64_t order_id = 0, user_id = 0;
    size_t n = 0;
    if (!http_query_int(req, "orderId", 1, JSON_INT_MAX, 0, &order_id) || order_id == 0)
        return http_reply_problem(req, "INVALID_REQUEST", "orderId: must be an id");
    if (!http_query_int(req, "userId", 1, JSON_INT_MAX, 0, &user_id))
        return http_reply_problem(req, "INVALID_REQUEST", "userId: must be an id");
    payment_step *steps = calloc(PAYMENT_SAGA_MAX_STEPS, sizeof *steps);
    if (steps == NULL)
        return http_reply_problem(req, "INTERNAL", "out of memory");
    int status;
    if (payment_store_steps(app->db, order_id, user_id, steps, PAYMENT_SAGA_MAX_STEPS, &n) !=
        SHOP_OK) {
        status = http_reply_problem(req, "INTERNAL", "database error");
        goto out;
    }
    cJSON *reply = cJSON_CreateObject();
    cJSON *list = cJSON_AddArrayToObject(reply, "steps");
    for (size_t i = 0; list != NULL && i < n; i++) {
        cJSON *st = payment_step_render(&steps[i]);
        if (st == NULL || !cJSON_AddItemToArray(list, st)) {
            cJSON_Delete(st);
            list = NULL;
        }
    }
    if (list == NULL) {
        cJSON_Delete(reply);
        reply = NULL;
    }
    status = http_reply_json(req, 200, reply);
out:
    free(steps);
    return status;
}

const http_route payment_routes[] = {
    {"POST", "/payments", handle_create, NULL},
    {"GET", "/payments", handle_list, NULL},
    {"GET", "/payments/saga", handle_saga, NULL},
    {"GET", "/payments/{paymentId}", handle_get, NULL},
};
const size_t payment_n_routes = sizeof payment_routes / sizeof payment_routes[0];
