/* item-service's HTTP routes: parse and validate the request, call the store,
 * render the reply. The rules live in item_logic.c, the SQL in item_store.c. */
#include "routes.h"

#include <stdbool.h>
#include <stdlib.h>

#include "item_logic.h"
#include "item_store.h"
#include "json.h"

/* {"id","name","price","stock"}, or NULL when out of memory. */
static cJSON *item_json(const item *it)
{
    cJSON *o = cJSON_CreateObject();
    if (o == NULL)
        return NULL;
    if (!json_add_int(o, "id", it->id) || cJSON_AddStringToObject(o, "name", it->name) == NULL ||
        !json_add_int(o, "price", it->price) || !json_add_int(o, "stock", it->stock)) {
        cJSON_Delete(o);
        return NULL;
    }
    return o;
}

/* Adds array "items" of lines to o: itemId, quantity, unitPrice, and stock
 * when with_stock. Returns false when out of memory. */
static bool add_lines(cJSON *o, const item_line *lines, int n, bool with_stock)
{
    cJSON *arr = cJSON_AddArrayToObject(o, "items");
    if (arr == NULL)
        return false;
    for (int i = 0; i < n; i++) {
        cJSON *line = cJSON_CreateObject();
        if (line == NULL)
            return false;
        cJSON_AddItemToArray(arr, line);
        if (!json_add_int(line, "itemId", lines[i].item_id) ||
            !json_add_int(line, "quantity", lines[i].quantity) ||
            !json_add_int(line, "unitPrice", lines[i].unit_price) ||
            (with_stock && !json_add_int(line, "stock", lines[i].stock)))
            return false;
    }
    return true;
}

/* {"orderId","status"} plus "items" when with_items; NULL when out of memory. */
static cJSON *reservation_json(const item_reservation *res, bool with_items)
{
    cJSON *o = cJSON_CreateObject();
    if (o == NULL)
        return NULL;
    if (!json_add_int(o, "orderId", res->order_id) ||
        cJSON_AddStringToObject(o, "status", res->released ? "RELEASED" : "DEDUCTED") == NULL ||
        (with_items && !add_lines(o, res->lines, res->n_lines, false))) {
        cJSON_Delete(o);
        return NULL;
    }
    return o;
}

static int reply_store_error(http_req *req)
{
    return http_reply_problem(req, "INTERNAL", "the item store failed");
}

/* Answers a stock operation that did not succeed; line is the deciding one. */
static int reply_outcome(http_req *req, item_outcome outcome, const item_line *line,
                         int64_t order_id)
{
    switch (outcome) {
    case ITEM_NOT_FOUND:
        return http_reply_problem(req, "ITEM_NOT_FOUND", "item %lld not found",
                                  (long long)line->item_id);
    case ITEM_OUT_OF_STOCK:
        return http_reply_problem(req, "OUT_OF_STOCK", "item %lld: %lld left, %lld asked",
                                  (long long)line->item_id, (long long)line->stock,
                                  (long long)line->quantity);
    case ITEM_RELEASED:
        return http_reply_problem(req, "ORDER_RELEASED",
                                  "order %lld: its reservation was already released",
                                  (long long)order_id);
    default:
        return reply_store_error(req);
    }
}

/* GET /items */
static int handle_list_items(http_req *req)
{
    item_app *app = req->app;
    item *items = NULL;
    size_t n = 0;
    if (item_store_list(app->db, &items, &n) != SHOP_OK)
        return reply_store_error(req);
    cJSON *body = cJSON_CreateObject();
    cJSON *arr = body != NULL ? cJSON_AddArrayToObject(body, "items") : NULL;
    for (size_t i = 0; arr != NULL && i < n; i++) {
        cJSON *it = item_json(&items[i]);
        if (it == NULL) {
            cJSON_Delete(body);
            body = NULL;
            break;
        }
        cJSON_AddItemToArray(arr, it);
    }
    free(items);
    if (body != NULL && arr == NULL) {
        cJSON_Delete(body);
        body = NULL;
    }
    return http_reply_json(req, 200, body);
}

/* GET /items/{itemId} */
static int handle_get_item(http_req *req)
{
    item_app *app = req->app;
    item it;
    shop_err rc = item_store_get(app->db, req->params[0], &it);
    if (rc == SHOP_ENOTFOUND)
        return http_reply_problem(req, "ITEM_NOT_FOUND", "item %lld not found",
                                  (long long)req->params[0]);
    if (rc != SHOP_OK)
        return reply_store_error(req);
    return http_reply_json(req, 200, item_json(&it));
}

/* POST /items {"name","price","stock"} */
static int handle_create_item(http_req *req)
{
    item_app *app = req->app;
    cJSON *body = http_parse_body(req);
    if (body == NULL)
        return req->status;
    json_err err;
    item_draft draft;
    item it;
    int status;
    if (!item_logic_parse_draft(body, &draft, &err))
        status = http_reply_invalid(req, &err);
    else if (item_store_create(app->db, &draft, &it) != SHOP_OK)
        status = reply_store_error(req);
    else
        status = http_reply_json(req, 201, item_json(&it));
    cJSON_Delete(body); /* draft.name points into it */
    return status;
}

/* POST /stock/check {"items":[{"itemId","quantity"}]}: changes nothing. */
static int handle_stock_check(http_req *req)
{
    item_app *app = req->app;
    cJSON *body = http_parse_body(req);
    if (body == NULL)
        return req->status;
    json_err err;
    item_line lines[ITEM_MAX_LINES];
    int n = 0, failed = -1;
    bool ok = item_logic_parse_lines(body, lines, &n, &err);
    cJSON_Delete(body);
    if (!ok)
        return http_reply_invalid(req, &err);
    item_outcome outcome = item_store_check(app->db, lines, n, &failed);
    if (outcome != ITEM_OK)
        return reply_outcome(req, outcome, failed >= 0 ? &lines[failed] : NULL, 0);
    cJSON *reply = cJSON_CreateObject();
    if (reply != NULL && !add_lines(reply, lines, n, true)) {
        cJSON_Delete(reply);
        reply = NULL;
    }
    return http_reply_json(req, 200, reply);
}

/* POST /reservations {"orderId","items":[...]}: deduct all lines or none,
 * once per order. */
static int handle_deduct(http_req *req)
{
    item_app *app = req->app;
    cJSON *body = http_parse_body(req);
    if (body == NULL)
        return req->status;
    json_err err;
    int64_t order_id = 0;
    item_line lines[ITEM_MAX_LINES];
    int n = 0, failed = -1;
    bool ok = json_get_int(body, "orderId", 1, JSON_INT_MAX, &order_id, &err) &&
              item_logic_parse_lines(body, lines, &n, &err);
    cJSON_Delete(body);
    if (!ok)
        return http_reply_invalid(req, &err);
    item_reservation res;
    item_outcome outcome = item_store_deduct(app->db, order_id, lines, n, &res, &failed);
    if (outcome != ITEM_OK)
        return reply_outcome(req, outcome, failed >= 0 ? &lines[failed] : NULL, order_id);
    return http_reply_json(req, 200, reservation_json(&res, true));
}

/* POST /reservations/{orderId}/restore: give back what the order took, once;
 * a tombstone when it took nothing yet. */
static int handle_restore(http_req *req)
{
    item_app *app = req->app;
    item_reservation res;
    if (item_store_restore(app->db, req->params[0], &res, NULL) != ITEM_OK)
        return reply_store_error(req);
    return http_reply_json(req, 200, reservation_json(&res, false));
}

/* GET /reservations/{orderId} */
static int handle_get_reservation(http_req *req)
{
    item_app *app = req->app;
    item_reservation res;
    item_outcome outcome = item_store_get_reservation(app->db, req->params[0], &res);
    if (outcome == ITEM_NOT_FOUND)
        return http_reply_problem(req, "NOT_FOUND", "no reservation for order %lld",
                                  (long long)req->params[0]);
    if (outcome != ITEM_OK)
        return reply_store_error(req);
    return http_reply_json(req, 200, reservation_json(&res, true));
}

const http_route item_routes[] = {
    {.method = "GET", .pattern = "/items", .handler = handle_list_items},
    {.method = "POST", .pattern = "/items", .handler = handle_create_item},
    {.method = "GET", .pattern = "/items/{itemId}", .handler = handle_get_item},
    {.method = "POST", .pattern = "/stock/check", .handler = handle_stock_check},
    {.method = "POST", .pattern = "/reservations", .handler = handle_deduct},
    {.method = "POST", .pattern = "/reservations/{orderId}/restore", .handler = handle_restore},
    {.method = "GET", .pattern = "/reservations/{orderId}", .handler = handle_get_reservation},
};

const size_t item_n_routes = sizeof item_routes / sizeof item_routes[0];
