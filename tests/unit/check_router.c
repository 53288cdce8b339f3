/* The router: anchored patterns, path ids, 404 vs 405 with Allow, 400 ids. */
#include <check.h>
#include <string.h>

#include "http_server.h"

static int h_dummy(http_req *req)
{
    (void)req;
    return 200;
}

static const http_route routes[] = {
    {"GET", "/items", h_dummy, NULL},
    {"POST", "/items", h_dummy, NULL},
    {"GET", "/items/{id}", h_dummy, NULL},
    {"POST", "/reservations/{orderId}/restore", h_dummy, NULL},
    {"GET", "/users/{a}/coupons/{b}", h_dummy, NULL},
};
static const size_t n_routes = sizeof routes / sizeof routes[0];

static int match(const char *method, const char *path, int64_t *params, int *n, int *status,
                 char *allow)
{
    return http_route_match(routes, n_routes, method, path, params, n, status, allow, 128);
}

START_TEST(exact_and_params)
{
    int64_t p[HTTP_MAX_PARAMS];
    int n = -1, status = 0;
    char allow[128];
    ck_assert_int_eq(match("GET", "/items", p, &n, &status, allow), 0);
    ck_assert_int_eq(n, 0);
    ck_assert_int_eq(match("POST", "/items", p, &n, &status, allow), 1);
    ck_assert_int_eq(match("GET", "/items/42", p, &n, &status, allow), 2);
    ck_assert_int_eq(n, 1);
    ck_assert_int_eq(p[0], 42);
    ck_assert_int_eq(match("POST", "/reservations/999999999999999/restore", p, &n, &status, allow), 3);
    ck_assert_int_eq(p[0], 999999999999999LL);
    ck_assert_int_eq(match("GET", "/users/7/coupons/9", p, &n, &status, allow), 4);
    ck_assert_int_eq(n, 2);
    ck_assert_int_eq(p[0], 7);
    ck_assert_int_eq(p[1], 9);
}
END_TEST

START_TEST(anchored_not_prefix)
{
    int64_t p[HTTP_MAX_PARAMS];
    int n, status = 0;
    char allow[128];
    /* civetweb's own patterns would catch these as prefixes (LIBS.md). */
    const char *paths[] = {"/items/42/reserve", "/itemsX", "/ITEMS/9", "/items/", "/", "",
                           "/items//", "/reservations/1", "/items/1/"};
    for (size_t i = 0; i < sizeof paths / sizeof paths[0]; i++) {
        status = 0;
        ck_assert_msg(match("GET", paths[i], p, &n, &status, allow) == -1, "%s matched", paths[i]);
        ck_assert_msg(status == 404, "%s gave %d", paths[i], status);
    }
}
END_TEST

START_TEST(method_not_allowed_lists_allow)
{
    int64_t p[HTTP_MAX_PARAMS];
    int n, status = 0;
    char allow[128];
    ck_assert_int_eq(match("DELETE", "/items", p, &n, &status, allow), -1);
    ck_assert_int_eq(status, 405);
    ck_assert_str_eq(allow, "GET, POST");
    ck_assert_int_eq(match("PUT", "/items/3", p, &n, &status, allow), -1);
    ck_assert_int_eq(status, 405);
    ck_assert_str_eq(allow, "GET");
}
END_TEST

START_TEST(bad_ids_are_400)
{
    int64_t p[HTTP_MAX_PARAMS];
    int n, status = 0;
    char allow[128];
    const char *paths[] = {"/items/0", "/items/abc", "/items/-1", "/items/1.5", "/items/01",
                           "/items/+1", "/items/1000000000000000", "/items/1e3", "/items/%31"};
    for (size_t i = 0; i < sizeof paths / sizeof paths[0]; i++) {
        status = 0;
        ck_assert_msg(match("GET", paths[i], p, &n, &status, allow) == -1, "%s matched", paths[i]);
        ck_assert_msg(status == 400, "%s gave %d", paths[i], status);
    }
}
END_TEST

START_TEST(request_ids_and_tokens)
{
    ck_assert(http_request_id_valid("abc-DEF_1.2"));
    ck_assert(!http_request_id_valid(""));
    ck_assert(!http_request_id_valid("a b"));
    ck_assert(!http_request_id_valid("a\r\nX-Evil: 1"));
    char long_id[200];
    memset(long_id, 'a', sizeof long_id);
    long_id[128] = '\0';
    ck_assert(http_request_id_valid(long_id));
    long_id[128] = 'a';
    long_id[129] = '\0';
    ck_assert(!http_request_id_valid(long_id));
    char fresh[33], other[33];
    http_request_id_new(fresh);
    http_request_id_new(other);
    ck_assert_int_eq(strlen(fresh), 32);
    ck_assert(http_request_id_valid(fresh));
    ck_assert_str_ne(fresh, other);
    ck_assert(http_token_equal("dev-token", "dev-token"));
    ck_assert(!http_token_equal("dev-token", "dev-tokeX"));
    ck_assert(!http_token_equal("dev-token", "dev-token2"));
    ck_assert(!http_token_equal("", "x"));
    ck_assert(http_token_equal("", ""));
}
END_TEST

START_TEST(query_names)
{
    http_req req = {.query = "status=PAID&userId=3&flag&statusX=1"};
    ck_assert(http_query_has(&req, "status"));
    ck_assert(http_query_has(&req, "userId"));
    ck_assert(http_query_has(&req, "flag"));
    ck_assert(!http_query_has(&req, "stat"));
    ck_assert(!http_query_has(&req, "limit"));
    req.query = NULL;
    ck_assert(!http_query_has(&req, "status"));
}
END_TEST

Suite *router_suite(void)
{
    Suite *s = suite_create("router");
    TCase *tc = tcase_create("match");
    tcase_add_test(tc, exact_and_params);
    tcase_add_test(tc, anchored_not_prefix);
    tcase_add_test(tc, method_not_allowed_lists_allow);
    tcase_add_test(tc, bad_ids_are_400);
    tcase_add_test(tc, request_ids_and_tokens);
    tcase_add_test(tc, query_names);
    suite_add_tcase(s, tc);
    return s;
}
