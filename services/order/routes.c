/* order-service's HTTP routes: parse and validate, run the saga or read the
 * store (and the saga log: GET /orders/{orderId}/saga), render the reply. POST /orders honours
 * Idempotency-Key (API.md "Retries"): the key is stored with the order's PENDING row and answered
 * in the transaction that writes its final state. */
#include "routes.h"

#include <stdbool.h>
#include <stdlib.h>
#include <string.h>

#include "idempotency.h"
#include "json.h"
#include "log.h"
#include "order_logic.h"
#include "order_saga.h"
#include "order_store.h"
#include "paging.h"
#include "problem.h"

#define LIST_LIMIT_MAX 500
#define LIST_LIMIT_DEFAULT 100

static int reply_order(http_req *req, int status, const order_rec *o)
{
    cJSON *json = order_render(o);
    if (json == NULL)
        return http_reply_problem(req, "INTERNAL", "out of memory");
    return http_reply_json(req, status, json);
}

/* Answers a saga failure: our own problem, or the peer's reply passed on. */
static int reply_fail(http_req *req, const order_fail *fail)
{
    if (fail->peer != NULL)
        return http_reply_upstream(req, fail->peer, &fail->res);
    return http_reply_problem(req, fail->code, "%s", fail->detail);
}

/* Sends a 4xx that no order row stands behind, storing it for idem first. */
static int reply_stored(http_req *req, const order_idem *idem, int status, const char *ctype,
                        const char *body)
{
    const order_app *app = req->app;
    if (idem != NULL && order_store_idem_put(app->db, idem, status, body) != SHOP_OK)
        log_warn(req->request_id, "could not store the answer for an Idempotency-Key");
    return http_reply_raw(req, status, ctype, body, strlen(body));
}

/* 400 for a body that is not a valid order, stored for idem. */
static int reply_invalid_stored(http_req *req, const order_idem *idem, const json_err *err)
{
    char *body = problem_render(400, "INVALID_REQUEST", err->msg);
    if (body == NULL)
        return http_reply_problem(req, "INTERNAL", "out of memory");
    int status = reply_stored(req, idem, 400, "application/problem+json", body);
    free(body);
    return status;
}

/* Answers a failed create saga; a 4xx from before any order row (an unknown
 * user) is stored for idem here, later ones the saga stored itself. */
static int reply_create_fail(http_req *req, const order_idem *idem, const order_rec *order,
                             const order_fail *fail)
{
    int status;
    char *body = NULL;
    const char *ctype;
    if (fail->idem == IDEM_REPLAY) /* the key was taken after idem_check: as it would */
        return idem_reply(req, &fail->idem_rec);
    if (fail->idem != IDEM_NEW)
        return idem_reply_refusal(req, fail->idem);
    if (!order_fail_answer(fail, &status, &body, &ctype))
        return reply_fail(req, fail);
    if (order->id == 0)
        status = reply_stored(req, idem, status, ctype, body);
    else
        status = http_reply_raw(req, status, ctype, body, strlen(body));
    free(body);
    return status;
}

/* POST /orders: the create saga. */
static int handle_create(http_req *req)
{
    const order_app *app = req->app;
    order_idem idem_buf;
    const order_idem *idem = NULL;
    json_err err;
    order_create_req rq;
    order_rec order;
    order_fail fail;
    char *reply = NULL;
    int status = idem_check_request(req, app->db, ORDER_IDEM_SCOPE, &idem_buf, &idem);
    if (status != 0)
        return status;
    cJSON *body = json_parse_object(req->body, req->body_len, &err);
    bool valid = body != NULL && order_parse_create(body, &rq, &err);
    cJSON_Delete(body);
    if (!valid) {
        status = reply_invalid_stored(req, idem, &err);
    } else {
        if (order_saga_create(app, &rq, idem, req->request_id, &order, &reply, &fail) == SHOP_OK)
            status = http_reply_raw(req, 201, "application/json", reply, strlen(reply));
        else
            status = reply_create_fail(req, idem, &order, &fail);
        free(reply);
        order_fail_release(&fail);
    }
    free((char *)idem_buf.request);
    return status;
}

/* GET /orders/{orderId} */
static int handle_get(http_req *req)
{
    const order_app *app = req->app;
    order_rec order;
    shop_err err = order_store_get(app->db, req->params[0], &order);
    if (err == SHOP_ENOTFOUND)
        return http_reply_problem(req, "ORDER_NOT_FOUND", "order %lld does not exist",
                                  (long long)req->params[0]);
    if (err != SHOP_OK)
        return http_reply_problem(req, "INTERNAL", "could not read the order");
    return reply_order(req, 200, &order);
}

/* GET /orders/{orderId}/saga: the saga view (API.md "Saga view"). */
static int handle_saga(http_req *req)
{
    const order_app *app = req->app;
    cJSON *view = NULL;
    shop_err err = order_saga_view(app, req->params[0], req->request_id, &view);
    if (err == SHOP_ENOTFOUND)
        return http_reply_problem(req, "ORDER_NOT_FOUND", "order %lld does not exist",
                                  (long long)req->params[0]);
    if (err != SHOP_OK)
        return http_reply_problem(req, "INTERNAL", "could not read the saga of order %lld",
                                  (long long)req->params[0]);
    return http_reply_json(req, 200, view);
}

/* Reads the optional "userId" of a cancel or pay body (which may be empty for
 * cancel). Returns false after answering 400. */
static bool body_user(http_req *req, const cJSON *body, int64_t *user_id)
{
    json_err err;
    bool present = false;
    *user_id = 0;
    if (body != NULL &&
        !json_get_int_opt(body, "userId", 1, JSON_INT_MAX, user_id, &present, &err)) {
        http_reply_invalid(req, &err);
        return false;
    }
    if (!present)
        *user_id = 0;
    return true;
}

/* POST /orders/{orderId}/cancel {"userId"} (body and userId optional) */
static int handle_cancel(http_req *req)
{
    const order_app *app = req->app;
    order_rec order;
    order_fail fail;
    int64_t user_id;
    int status;
    cJSON *body = NULL;
    if (req->body_len > 0 && (body = http_parse_body(req)) == NULL)
        return req->status;
    if (!body_user(req, body, &user_id)) {
        cJSON_Delete(body);
        return req->status;
    }
    cJSON_Delete(body);
    if (order_saga_cancel(app, req->params[0], user_id, req->request_id, &order, &fail) == SHOP_OK)
        status = reply_order(req, 200, &order);
    else
        status = reply_fail(req, &fail);
    order_fail_release(&fail);
    return status;
}

/* POST /orders/{orderId}/pay {"paymentId","userId"} (userId optional) */
static int handle_pay(http_req *req)
{
    const order_app *app = req->app;
    order_rec order;
    order_fail fail;
    json_err err;
    int64_t user_id = 0, payment_id = 0;
    int status;
    cJSON *body = http_parse_body(req);
    if (body == NULL)
        return req->status;
    if (!json_get_int(body, "paymentId", 1, JSON_INT_MAX, &payment_id, &err)) {
        cJSON_Delete(body);
        return http_reply_invalid(req, &err);
    }
    bool ok = body_user(req, body, &user_id);
    cJSON_Delete(body);
    if (!ok)
        return req->status;
    if (order_saga_pay(app, req->params[0], payment_id, user_id, req->request_id, &order, &fail) ==
        SHOP_OK)
        status = reply_order(req, 200, &order);
    else
        status = reply_fail(req, &fail);
    order_fail_release(&fail);
    return status;
}

/* Reads ?status=&userId=&afterId=&limit= into f and *page. Returns false
 * after answering 400. */
static bool list_query(http_req *req, order_filter *f, paging *page)
{
    char status[16];
    memset(f, 0, sizeof *f);
    if (http_query_has(req, "status")) {
        if (!http_query_str(req, "status", status, sizeof status) ||
            !order_status_parse(status, &f->status)) {
            http_reply_problem(req, "INVALID_REQUEST",
                               "status: must be one of PENDING, CREATED, PAID, CANCELLING, "
                               "CANCELLED, FAILED");
            return false;
        }
        f->has_status = true;
    }
    if (!http_query_int(req, "userId", 1, JSON_INT_MAX, 0, &f->user_id)) {
        http_reply_problem(req, "INVALID_REQUEST", "userId: must be an integer in 1..%lld",
                           JSON_INT_MAX);
        return false;
    }
    if (!paging_query(req, LIST_LIMIT_MAX, LIST_LIMIT_DEFAULT, page))
        return false;
    f->after_id = page->after_id;
    return true;
}

/* An order_rec of a page (paging_render). */
static cJSON *render_row(const void *row)
{
    return order_render(row);
}

static int64_t row_id(const void *row)
{
    return ((const order_rec *)row)->id;
}

/* GET /orders?status=&userId=&afterId=&limit= (admin read route) */
static int handle_list(http_req *req)
{
    const order_app *app = req->app;
    order_filter f;
    paging pg;
    size_t n = 0;
    if (!list_query(req, &f, &pg))
        return req->status;
    size_t limit = (size_t)pg.limit;
    order_rec *orders = calloc(limit + 1, sizeof *orders);
    if (orders == NULL)
        return http_reply_problem(req, "INTERNAL", "out of memory");
    int status;
    if (order_store_list(app->db, &f, orders, limit + 1, &n) != SHOP_OK) {
        status = http_reply_problem(req, "INTERNAL", "could not read the orders");
    } else {
        cJSON *page = paging_render("items", orders, sizeof *orders, n, limit, render_row, row_id);
        status = page != NULL ? http_reply_json(req, 200, page)
                              : http_reply_problem(req, "INTERNAL", "out of memory");
    }
    free(orders);
    return status;
}

const http_route order_routes[] = {
    {"POST", "/orders", handle_create, NULL},
    {"GET", "/orders", handle_list, NULL},
    {"GET", "/orders/{orderId}", handle_get, NULL},
    {"GET", "/orders/{orderId}/saga", handle_saga, NULL},
    {"POST", "/orders/{orderId}/cancel", handle_cancel, NULL},
    {"POST", "/orders/{orderId}/pay", handle_pay, NULL},
};

const size_t order_n_routes = sizeof order_routes / sizeof order_routes[0];
