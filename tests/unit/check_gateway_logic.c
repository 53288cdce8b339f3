/* Unit tests of the gateway's pure parts and its route table: where every
 * public route goes, the PATCH /api/payments body, the admin-token decision
 * and the /health summary. */
#include <stdlib.h>
#include <string.h>

#include <check.h>

#include "../../api-gateway/gateway_logic.h"
#include "../../api-gateway/gateway_ui.h"
#include "../../api-gateway/routes.h"
#include "http_server.h"
#include "json.h"

/* One public request and what the gateway must call for it. */
typedef struct mapping_case {
    const char *method;
    const char *path;
    const char *query;
    gateway_upstream upstream;
    const char *up_method;
    const char *up_path;
    bool admin;
    bool saga;
} mapping_case;

static const mapping_case mappings[] = {
    {"GET", "/api/items", NULL, GATEWAY_ITEM, "GET", "/items", false, false},
    {"GET", "/api/items/7", NULL, GATEWAY_ITEM, "GET", "/items/7", false, false},
    {"GET", "/api/users/3/balance", NULL, GATEWAY_USER, "GET", "/users/3/balance", false, false},
    {"POST", "/api/users/3/balance/charge", NULL, GATEWAY_USER, "POST", "/users/3/balance/charge",
     false, false},
    {"POST", "/api/coupons/2/issue", NULL, GATEWAY_COUPON, "POST", "/coupons/2/issue", false,
     false},
    {"GET", "/api/users/3/coupons", NULL, GATEWAY_COUPON, "GET", "/users/3/coupons", false, false},
    {"POST", "/api/orders", NULL, GATEWAY_ORDER, "POST", "/orders", false, true},
    {"GET", "/api/orders/12", NULL, GATEWAY_ORDER, "GET", "/orders/12", false, false},
    {"GET", "/api/orders/12/saga", NULL, GATEWAY_ORDER, "GET", "/orders/12/saga", false, false},
    {"POST", "/api/payments", NULL, GATEWAY_PAYMENT, "POST", "/payments", false, true},
    {"GET", "/api/payments/5", NULL, GATEWAY_PAYMENT, "GET", "/payments/5", false, false},
    {"POST", "/api/admin/items", NULL, GATEWAY_ITEM, "POST", "/items", true, false},
    {"POST", "/api/admin/users", NULL, GATEWAY_USER, "POST", "/users", true, false},
    {"POST", "/api/admin/coupons", NULL, GATEWAY_COUPON, "POST", "/coupons", true, false},
    {"GET", "/api/admin/orders", "status=PAID&userId=1&afterId=3&limit=10", GATEWAY_ORDER, "GET",
     "/orders?status=PAID&userId=1&afterId=3&limit=10", true, false},
    {"GET", "/api/admin/payments", "limit=2", GATEWAY_PAYMENT, "GET", "/payments?limit=2", true,
     false},
    {"GET", "/api/admin/users", NULL, GATEWAY_USER, "GET", "/users", true, false},
    {"GET", "/api/admin/user-coupons", "userId=1", GATEWAY_COUPON, "GET", "/user-coupons?userId=1",
     true, false},
    {"GET", "/api/admin/users/4/ledger", NULL, GATEWAY_USER, "GET", "/users/4/ledger", true, false},
    {"GET", "/api/items", "", GATEWAY_ITEM, "GET", "/items", false, false},
    {"GET", "/api/items/999999999999999", NULL, GATEWAY_ITEM, "GET", "/items/999999999999999",
     false, false},
};

/* Matches method+path against the gateway's table; returns the route. */
static const http_route *match(const char *method, const char *path, int64_t *params, int *n_params)
{
    int status = 0;
    char allow[64] = "";
    int idx = http_route_match(gateway_routes, gateway_n_routes, method, path, params, n_params,
                               &status, allow, sizeof allow);
    ck_assert_msg(idx >= 0, "%s %s: no route (status %d)", method, path, status);
    return &gateway_routes[idx];
}

START_TEST(test_every_route_maps)
{
    const mapping_case *c = &mappings[_i];
    int64_t params[HTTP_MAX_PARAMS] = {0};
    int n_params = 0;
    char out[GATEWAY_PATH_MAX];
    const http_route *route = match(c->method, c->path, params, &n_params);
    const gateway_route_spec *spec = route->data;
    ck_assert_ptr_nonnull(spec);
    ck_assert_int_eq(spec->upstream, c->upstream);
    ck_assert_str_eq(spec->method, c->up_method);
    ck_assert(spec->admin == c->admin);
    ck_assert(spec->saga == c->saga);
    ck_assert(!spec->cancel);
    ck_assert(gateway_build_path(spec->path, params, n_params, c->query, out, sizeof out));
    ck_assert_str_eq(out, c->up_path);
}
END_TEST

/* Every proxied route is its public path less /api (or /api/admin), same
 * method, except PATCH /api/payments; admin exactly on /api/admin. */
START_TEST(test_table_is_prefix_strip)
{
    size_t proxied = 0, ui = 0;
    for (size_t i = 0; i < gateway_n_routes; i++) {
        const http_route *r = &gateway_routes[i];
        const gateway_route_spec *spec = r->data;
        if (gateway_route_is_ui(r)) { /* the gateway's own files: check_gateway_ui.c */
            ui++;
            continue;
        }
        if (spec == NULL) {
            ck_assert_str_eq(r->pattern, "/health");
            continue;
        }
        proxied++;
        bool admin_path = strncmp(r->pattern, "/api/admin/", 11) == 0;
        ck_assert_msg(spec->admin == admin_path, "%s %s", r->method, r->pattern);
        if (spec->cancel) {
            ck_assert_str_eq(r->method, "PATCH");
            ck_assert_str_eq(r->pattern, "/api/payments");
            ck_assert_str_eq(spec->method, "POST");
            ck_assert_str_eq(spec->path, "/orders/{orderId}/cancel");
            ck_assert_int_eq(spec->upstream, GATEWAY_ORDER);
            ck_assert(spec->saga);
            continue;
        }
        ck_assert_str_eq(spec->method, r->method);
        ck_assert_str_eq(spec->path, r->pattern + (admin_path ? 10 : 4));
    }
    ck_assert_uint_eq(proxied, gateway_n_routes - 1 - ui);
    /* Every public route of API.md is in the table (and tested above). */
    ck_assert_uint_eq(proxied, sizeof mappings / sizeof mappings[0] - 2 + 1);
}
END_TEST

START_TEST(test_patch_payments_maps_to_cancel)
{
    int64_t params[HTTP_MAX_PARAMS] = {0};
    int n_params = 0;
    json_err err = {{0}};
    int64_t order_id = 0, user_id = 0;
    char path[GATEWAY_PATH_MAX], body[64];
    const http_route *route = match("PATCH", "/api/payments", params, &n_params);
    const gateway_route_spec *spec = route->data;
    ck_assert(spec->cancel);
    ck_assert_int_eq(n_params, 0);

    const char *in = "{\"orderId\":12,\"userId\":1,\"status\":\"CANCELLED\"}";
    cJSON *json = json_parse_object(in, strlen(in), &err);
    ck_assert_ptr_nonnull(json);
    ck_assert(gateway_cancel_from_json(json, &order_id, &user_id, &err));
    cJSON_Delete(json);
    ck_assert_int_eq(order_id, 12);
    ck_assert_int_eq(user_id, 1);
    ck_assert(gateway_build_path(spec->path, &order_id, 1, NULL, path, sizeof path));
    ck_assert_str_eq(path, "/orders/12/cancel");
    ck_assert_uint_eq(gateway_cancel_body(user_id, body, sizeof body), strlen("{\"userId\":1}"));
    ck_assert_str_eq(body, "{\"userId\":1}");
    ck_assert_uint_eq(gateway_cancel_body(999999999999999, body, sizeof body), 26);
    ck_assert_str_eq(body, "{\"userId\":999999999999999}");
    ck_assert_uint_eq(gateway_cancel_body(1, body, 5), 0);
}
END_TEST

/* Bodies PATCH /api/payments must refuse, and the field the error names. */
static const struct {
    const char *body;
    const char *field;
} bad_cancels[] = {
    {"{\"orderId\":12,\"userId\":1,\"status\":\"PAID\"}", "status"},
    {"{\"orderId\":12,\"userId\":1,\"status\":\"cancelled\"}", "status"},
    {"{\"orderId\":12,\"userId\":1,\"status\":\"CANCELLED \"}", "status"},
    {"{\"orderId\":12,\"userId\":1,\"status\":\"\"}", "status"},
    {"{\"orderId\":12,\"userId\":1,\"status\":5}", "status"},
    {"{\"orderId\":12,\"userId\":1,\"status\":null}", "status"},
    {"{\"orderId\":12,\"userId\":1}", "status"},
    {"{\"userId\":1,\"status\":\"CANCELLED\"}", "orderId"},
    {"{\"orderId\":\"12\",\"userId\":1,\"status\":\"CANCELLED\"}", "orderId"},
    {"{\"orderId\":0,\"userId\":1,\"status\":\"CANCELLED\"}", "orderId"},
    {"{\"orderId\":-3,\"userId\":1,\"status\":\"CANCELLED\"}", "orderId"},
    {"{\"orderId\":1.5,\"userId\":1,\"status\":\"CANCELLED\"}", "orderId"},
    {"{\"orderId\":1e400,\"userId\":1,\"status\":\"CANCELLED\"}", "orderId"},
    {"{\"orderId\":1000000000000000,\"userId\":1,\"status\":\"CANCELLED\"}", "orderId"},
    {"{\"orderId\":12,\"status\":\"CANCELLED\"}", "userId"},
    {"{\"orderId\":12,\"userId\":true,\"status\":\"CANCELLED\"}", "userId"},
};

START_TEST(test_patch_body_refused)
{
    json_err err = {{0}};
    int64_t order_id = 0, user_id = 0;
    const char *in = bad_cancels[_i].body;
    cJSON *json = json_parse_object(in, strlen(in), &err);
    if (json == NULL) /* 1e400: refused by the parser already */
        return;
    ck_assert_msg(!gateway_cancel_from_json(json, &order_id, &user_id, &err), "%s", in);
    cJSON_Delete(json);
    ck_assert_msg(strstr(err.msg, bad_cancels[_i].field) != NULL, "%s: \"%s\" does not name %s", in,
                  err.msg, bad_cancels[_i].field);
}
END_TEST

START_TEST(test_patch_body_extra_members_ignored)
{
    json_err err = {{0}};
    int64_t order_id = 0, user_id = 0;
    const char *in = "{\"status\":\"CANCELLED\",\"reason\":\"x\",\"userId\":3,\"orderId\":9}";
    cJSON *json = json_parse_object(in, strlen(in), &err);
    ck_assert_ptr_nonnull(json);
    ck_assert(gateway_cancel_from_json(json, &order_id, &user_id, &err));
    cJSON_Delete(json);
    ck_assert_int_eq(order_id, 9);
    ck_assert_int_eq(user_id, 3);
}
END_TEST

START_TEST(test_admin_decision)
{
    ck_assert_int_eq(gateway_admin_decide(NULL, NULL), GATEWAY_ADMIN_DISABLED);
    ck_assert_int_eq(gateway_admin_decide(NULL, "dev-admin-token"), GATEWAY_ADMIN_DISABLED);
    ck_assert_int_eq(gateway_admin_decide("", ""), GATEWAY_ADMIN_DISABLED);
    ck_assert_int_eq(gateway_admin_decide("secret", NULL), GATEWAY_ADMIN_UNAUTHORIZED);
    ck_assert_int_eq(gateway_admin_decide("secret", ""), GATEWAY_ADMIN_UNAUTHORIZED);
    ck_assert_int_eq(gateway_admin_decide("secret", "secreT"), GATEWAY_ADMIN_UNAUTHORIZED);
    ck_assert_int_eq(gateway_admin_decide("secret", "secre"), GATEWAY_ADMIN_UNAUTHORIZED);
    ck_assert_int_eq(gateway_admin_decide("secret", "secret2"), GATEWAY_ADMIN_UNAUTHORIZED);
    ck_assert_int_eq(gateway_admin_decide("secret", "secret"), GATEWAY_ADMIN_OK);
}
END_TEST

START_TEST(test_build_path_edges)
{
    char out[GATEWAY_PATH_MAX];
    int64_t two[2] = {4, 5};
    ck_assert(gateway_build_path("/a/{x}/b/{y}", two, 2, NULL, out, sizeof out));
    ck_assert_str_eq(out, "/a/4/b/5");
    /* Ids must match the pattern exactly. */
    ck_assert(!gateway_build_path("/a/{x}/b/{y}", two, 1, NULL, out, sizeof out));
    ck_assert(!gateway_build_path("/a/{x}", two, 2, NULL, out, sizeof out));
    ck_assert(!gateway_build_path("/a", two, 1, NULL, out, sizeof out));
    int64_t zero = 0;
    ck_assert(!gateway_build_path("/a/{x}", &zero, 1, NULL, out, sizeof out));
    /* The query passes through as sent, when it is plain. */
    ck_assert(gateway_build_path("/orders", NULL, 0, "status=PAID&x=%20y", out, sizeof out));
    ck_assert_str_eq(out, "/orders?status=PAID&x=%20y");
    ck_assert(!gateway_build_path("/orders", NULL, 0, "a=b c", out, sizeof out));
    ck_assert(
        !gateway_build_path("/orders", NULL, 0, "a=b\r\nX-Internal-Token: t", out, sizeof out));
    ck_assert(!gateway_build_path("/orders", NULL, 0, "a=\xc3\xa9", out, sizeof out));
    ck_assert(!gateway_build_path("/orders", NULL, 0, "a#b", out, sizeof out));
    /* Too long for the buffer: refused, never cut. */
    ck_assert(gateway_build_path("/orders", NULL, 0, "ab", out, 11));
    ck_assert_str_eq(out, "/orders?ab");
    ck_assert(!gateway_build_path("/orders", NULL, 0, "abc", out, 11));
    int64_t big = 999999999999999;
    ck_assert(!gateway_build_path("/items/{id}", &big, 1, NULL, out, 20));
    ck_assert(gateway_build_path("/items/{id}", &big, 1, NULL, out, 23));
    ck_assert_str_eq(out, "/items/999999999999999");
}
END_TEST

START_TEST(test_unknown_routes)
{
    int64_t params[HTTP_MAX_PARAMS];
    int n_params = 0, status = 0;
    char allow[64] = "";
    ck_assert_int_lt(http_route_match(gateway_routes, gateway_n_routes, "GET", "/api/nothing",
                                      params, &n_params, &status, allow, sizeof allow),
                     0);
    ck_assert_int_eq(status, 404);
    ck_assert_int_lt(http_route_match(gateway_routes, gateway_n_routes, "DELETE", "/api/items/1",
                                      params, &n_params, &status, allow, sizeof allow),
                     0);
    ck_assert_int_eq(status, 405);
    ck_assert_str_eq(allow, "GET");
    /* The services' own paths are not public. */
    ck_assert_int_lt(http_route_match(gateway_routes, gateway_n_routes, "POST", "/orders/1/cancel",
                                      params, &n_params, &status, allow, sizeof allow),
                     0);
    ck_assert_int_eq(status, 404);
    ck_assert_int_lt(http_route_match(gateway_routes, gateway_n_routes, "POST", "/api/items",
                                      params, &n_params, &status, allow, sizeof allow),
                     0);
    ck_assert_int_eq(status, 405);
}
END_TEST

START_TEST(test_health_render)
{
    bool up[GATEWAY_N_UPSTREAMS] = {true, true, true, true, true};
    int status = 0;
    cJSON *h = gateway_health_render(up, &status);
    ck_assert_int_eq(status, 200);
    char *s = json_print(h);
    ck_assert_str_eq(s, "{\"status\":\"ok\",\"services\":{\"item\":\"ok\",\"user\":\"ok\","
                        "\"coupon\":\"ok\",\"order\":\"ok\",\"payment\":\"ok\"}}");
    free(s);
    cJSON_Delete(h);

    up[GATEWAY_COUPON] = false;
    h = gateway_health_render(up, &status);
    ck_assert_int_eq(status, 503);
    s = json_print(h);
    ck_assert_str_eq(s, "{\"status\":\"degraded\",\"services\":{\"item\":\"ok\",\"user\":\"ok\","
                        "\"coupon\":\"down\",\"order\":\"ok\",\"payment\":\"ok\"}}");
    free(s);
    cJSON_Delete(h);
}
END_TEST

START_TEST(test_upstream_names)
{
    int offset = 0;
    ck_assert_str_eq(gateway_upstream_name(GATEWAY_ITEM), "item");
    ck_assert_str_eq(gateway_upstream_name(GATEWAY_PAYMENT), "payment");
    ck_assert_str_eq(gateway_upstream_url_env(GATEWAY_COUPON), "COUPON_URL");
    ck_assert_str_eq(gateway_upstream_port_env(GATEWAY_ORDER, &offset), "ORDER_PORT");
    ck_assert_int_eq(offset, 4);
    ck_assert_str_eq(gateway_upstream_port_env(GATEWAY_ITEM, &offset), "ITEM_PORT");
    ck_assert_int_eq(offset, 1);
    ck_assert_str_eq(gateway_upstream_name(GATEWAY_N_UPSTREAMS), "unknown");
}
END_TEST

Suite *gateway_logic_suite(void);
Suite *gateway_logic_suite(void)
{
    Suite *s = suite_create("gateway_logic");
    TCase *tc = tcase_create("routes");
    tcase_add_loop_test(tc, test_every_route_maps, 0, (int)(sizeof mappings / sizeof mappings[0]));
    tcase_add_test(tc, test_table_is_prefix_strip);
    tcase_add_test(tc, test_patch_payments_maps_to_cancel);
    tcase_add_test(tc, test_unknown_routes);
    tcase_add_test(tc, test_build_path_edges);
    suite_add_tcase(s, tc);
    tc = tcase_create("logic");
    tcase_add_loop_test(tc, test_patch_body_refused, 0,
                        (int)(sizeof bad_cancels / sizeof bad_cancels[0]));
    tcase_add_test(tc, test_patch_body_extra_members_ignored);
    tcase_add_test(tc, test_admin_decision);
    tcase_add_test(tc, test_health_render);
    tcase_add_test(tc, test_upstream_names);
    suite_add_tcase(s, tc);
    return s;
}
