/* Integration tests of item-service: the real binary on a loopback port with a
 * temp database, driven over HTTP: every route, every refusal with its exact
 * status and code, races between real threads, and a fast SIGTERM. */
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <arpa/inet.h>
#include <netinet/in.h>
#include <sys/socket.h>

#include <check.h>

#include "harness.h"

#define TOKEN "it-item-token"

static const char *const hdrs[] = {"X-Internal-Token: " TOKEN, "Content-Type: application/json",
                                   NULL};

/* The service of the current tcase (started in the parent by an unchecked
 * fixture). */
static svc_proc g_item;
static char *g_dir;
static bool g_up;

/* Starts item-service on a fresh port with its database in dir. */
static bool start_item(svc_proc *p, const char *dir, bool seed)
{
    static char port_env[32], db_env[600];
    memset(p, 0, sizeof *p);
    p->port = harness_free_port();
    snprintf(p->name, sizeof p->name, "item-service");
    snprintf(p->log_path, sizeof p->log_path, "%s/item.log", dir);
    snprintf(port_env, sizeof port_env, "ITEM_PORT=%d", p->port);
    snprintf(db_env, sizeof db_env, "ITEM_DB_PATH=%s/item.db", dir);
    const char *env[] = {port_env, db_env, seed ? "SHOP_SEED=1" : "SHOP_SEED=0",
                         "SHOP_INTERNAL_TOKEN=" TOKEN, NULL};
    return harness_start(p, "item-service", env);
}

static void up_fixture(bool seed)
{
    g_dir = harness_tmpdir();
    g_up = g_dir != NULL && start_item(&g_item, g_dir, seed);
    ck_assert_msg(g_up, "item-service did not start (log in %s)", g_dir ? g_dir : "?");
}

static void up_empty(void)
{
    up_fixture(false);
}

static void up_seeded(void)
{
    up_fixture(true);
}

static void down(void)
{
    if (g_up)
        harness_stop(&g_item);
    g_up = false;
    if (g_dir != NULL)
        harness_rmdir(g_dir);
    g_dir = NULL;
}

/* One request to the tcase's service with the internal token. */
static long call(const char *method, const char *path, const char *body, hresp *out)
{
    ck_assert_msg(g_up, "item-service is not up");
    return harness_req(method, g_item.port, path, body, hdrs, out);
}

/* Asserts that the request is answered status with problem code. */
static void expect_problem_at(int line, const char *method, const char *path, const char *body,
                              long status, const char *code)
{
    hresp r = {0};
    long got = call(method, path, body, &r);
    ck_assert_msg(got == status, "line %d: %s %s %.80s: status %ld, want %ld (%s)", line, method,
                  path, body ? body : "", got, status, r.body ? r.body : "");
    ck_assert_msg(strncmp(r.content_type, "application/problem+json", 24) == 0,
                  "line %d: content type %s", line, r.content_type);
    const char *got_code =
        r.json ? cJSON_GetStringValue(cJSON_GetObjectItem(r.json, "code")) : NULL;
    ck_assert_msg(got_code != NULL && strcmp(got_code, code) == 0, "line %d: code %s, want %s (%s)",
                  line, got_code ? got_code : "(none)", code, r.body ? r.body : "");
    ck_assert_int_eq(harness_int(r.json, "status"), status);
    hresp_free(&r);
}
#define expect_problem(...) expect_problem_at(__LINE__, __VA_ARGS__)

/* POST /items; returns the new id. */
static long long create_item(const char *name, long long price, long long stock)
{
    char body[512];
    hresp r = {0};
    snprintf(body, sizeof body, "{\"name\":\"%s\",\"price\":%lld,\"stock\":%lld}", name, price,
             stock);
    ck_assert_int_eq(call("POST", "/items", body, &r), 201);
    long long id = harness_int(r.json, "id");
    ck_assert_int_gt(id, 0);
    hresp_free(&r);
    return id;
}

static long long stock_of(long long id)
{
    char path[64];
    hresp r = {0};
    snprintf(path, sizeof path, "/items/%lld", id);
    ck_assert_int_eq(call("GET", path, NULL, &r), 200);
    long long stock = harness_int(r.json, "stock");
    hresp_free(&r);
    return stock;
}

/* POST /reservations for order with one line; returns the status. */
static long deduct1(long long order, long long item, int quantity, hresp *out)
{
    char body[256];
    snprintf(body, sizeof body, "{\"orderId\":%lld,\"items\":[{\"itemId\":%lld,\"quantity\":%d}]}",
             order, item, quantity);
    return call("POST", "/reservations", body, out);
}

static long restore(long long order, hresp *out)
{
    char path[96];
    snprintf(path, sizeof path, "/reservations/%lld/restore", order);
    return call("POST", path, NULL, out);
}

/* ------------------------------------------------------------ items */

START_TEST(test_create_get_list_items)
{
    hresp r = {0};
    ck_assert_int_eq(
        call("POST", "/items", "{\"name\":\"Desk lamp\",\"price\":35000,\"stock\":12}", &r), 201);
    ck_assert_str_eq(r.content_type, "application/json");
    long long id = harness_int(r.json, "id");
    ck_assert_int_gt(id, 0);
    char want[256], path[64];
    snprintf(want, sizeof want, "{\"id\":%lld,\"name\":\"Desk lamp\",\"price\":35000,\"stock\":12}",
             id);
    ck_assert_str_eq(r.body, want);
    hresp_free(&r);

    snprintf(path, sizeof path, "/items/%lld", id);
    ck_assert_int_eq(call("GET", path, NULL, &r), 200);
    ck_assert_str_eq(r.body, want);
    hresp_free(&r);

    /* Limits are inclusive; a UTF-8 name counts bytes. */
    long long big = create_item("\xea\xb0\x80", 1000000000, 1000000000);
    long long zero = create_item("z", 0, 0);
    ck_assert_int_eq(stock_of(big), 1000000000);
    ck_assert_int_eq(stock_of(zero), 0);

    ck_assert_int_eq(call("GET", "/items", NULL, &r), 200);
    cJSON *items = cJSON_GetObjectItem(r.json, "items");
    ck_assert(cJSON_IsArray(items));
    int found = 0;
    cJSON *it;
    cJSON_ArrayForEach(it, items)
    {
        if (harness_int(it, "id") == id) {
            ck_assert_str_eq(cJSON_GetStringValue(cJSON_GetObjectItem(it, "name")), "Desk lamp");
            ck_assert_int_eq(harness_int(it, "price"), 35000);
            ck_assert_int_eq(harness_int(it, "stock"), 12);
            found++;
        }
        if (harness_int(it, "id") == big) {
            ck_assert_str_eq(cJSON_GetStringValue(cJSON_GetObjectItem(it, "name")), "\xea\xb0\x80");
            found++;
        }
    }
    ck_assert_int_eq(found, 2);
    hresp_free(&r);
}
END_TEST

START_TEST(test_create_item_refused)
{
    char name201[300], body[400];
    memset(name201, 'n', 201);
    name201[201] = '\0';
    snprintf(body, sizeof body, "{\"name\":\"%s\",\"price\":1,\"stock\":1}", name201);
    const char *bad[] = {
        "not json",
        "{",
        "",
        "[]",
        "{\"name\":\"a\",\"price\":1,\"stock\":1} x",
        "{\"name\":\"a\",\"name\":\"b\",\"price\":1,\"stock\":1}",
        "{\"name\":\"a\",\"price\":1.5,\"stock\":1}",
        "{\"name\":\"a\",\"price\":1e400,\"stock\":1}",
        "{\"name\":\"a\",\"price\":\"3\",\"stock\":1}",
        "{\"name\":\"a\",\"price\":-1,\"stock\":1}",
        "{\"name\":\"a\",\"price\":1000000001,\"stock\":1}",
        "{\"name\":\"a\",\"price\":1,\"stock\":-1}",
        "{\"name\":\"a\",\"price\":1,\"stock\":1000000001}",
        "{\"name\":\"a\",\"price\":1,\"stock\":2.5}",
        "{\"name\":\"a\",\"price\":1,\"stock\":null}",
        "{\"name\":\"a\",\"price\":1}",
        "{\"name\":\"a\",\"stock\":1}",
        "{\"price\":1,\"stock\":1}",
        "{\"name\":\"\",\"price\":1,\"stock\":1}",
        "{\"name\":5,\"price\":1,\"stock\":1}",
        "{\"name\":\"a\\u0000b\",\"price\":1,\"stock\":1}",
        body,
    };
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++)
        expect_problem("POST", "/items", bad[i], 400, "INVALID_REQUEST");

    /* The detail names the field. */
    hresp r = {0};
    ck_assert_int_eq(call("POST", "/items", "{\"name\":\"a\",\"price\":1.5,\"stock\":1}", &r), 400);
    const char *detail = cJSON_GetStringValue(cJSON_GetObjectItem(r.json, "detail"));
    ck_assert_ptr_nonnull(detail);
    ck_assert_ptr_nonnull(strstr(detail, "price"));
    hresp_free(&r);
}
END_TEST

START_TEST(test_get_item_refused)
{
    expect_problem("GET", "/items/987654321", NULL, 404, "ITEM_NOT_FOUND");
    expect_problem("GET", "/items/999999999999999", NULL, 404, "ITEM_NOT_FOUND");
    expect_problem("GET", "/items/abc", NULL, 400, "INVALID_REQUEST");
    expect_problem("GET", "/items/0", NULL, 400, "INVALID_REQUEST");
    expect_problem("GET", "/items/-1", NULL, 400, "INVALID_REQUEST");
    expect_problem("GET", "/items/1.5", NULL, 400, "INVALID_REQUEST");
    expect_problem("GET", "/items/1000000000000000", NULL, 400, "INVALID_REQUEST");
    hresp r = {0};
    ck_assert_int_eq(call("GET", "/items/987654321", NULL, &r), 404);
    ck_assert_str_eq(cJSON_GetStringValue(cJSON_GetObjectItem(r.json, "detail")),
                     "item 987654321 not found");
    hresp_free(&r);
}
END_TEST

/* ------------------------------------------------------------ router */

static void expect_405(const char *method, const char *path, const char *allow)
{
    hresp r = {0};
    ck_assert_int_eq(call(method, path, NULL, &r), 405);
    ck_assert_msg(harness_has_header(&r, "Allow", allow), "%s %s: Allow is not '%s':\n%s", method,
                  path, allow, r.headers);
    ck_assert_str_eq(cJSON_GetStringValue(cJSON_GetObjectItem(r.json, "code")),
                     "METHOD_NOT_ALLOWED");
    hresp_free(&r);
}

START_TEST(test_router_refusals)
{
    expect_problem("GET", "/nothing-here", NULL, 404, "NOT_FOUND");
    expect_problem("GET", "/items/1/extra", NULL, 404, "NOT_FOUND");
    expect_problem("GET", "/reservation", NULL, 404, "NOT_FOUND");
    expect_405("DELETE", "/items", "GET, POST");
    expect_405("PUT", "/items/1", "GET");
    expect_405("GET", "/stock/check", "POST");
    expect_405("GET", "/reservations", "POST");
    expect_405("DELETE", "/reservations/5", "GET");
    expect_405("GET", "/reservations/5/restore", "POST");
}
END_TEST

START_TEST(test_oversized_body)
{
    size_t len = 70 * 1024;
    char *big = malloc(len + 1);
    ck_assert_ptr_nonnull(big);
    /* Valid JSON, only too long: the cap, not the parser, refuses it. */
    memset(big, ' ', len);
    memcpy(big, "{\"name\":\"a\",\"price\":1,\"stock\":1}", 32);
    big[len] = '\0';
    expect_problem("POST", "/items", big, 413, "PAYLOAD_TOO_LARGE");
    expect_problem("POST", "/reservations", big, 413, "PAYLOAD_TOO_LARGE");
    expect_problem("POST", "/stock/check", big, 413, "PAYLOAD_TOO_LARGE");
    free(big);
    /* Just under the cap is read and judged on its content. */
    len = 60 * 1024;
    big = malloc(len + 1);
    ck_assert_ptr_nonnull(big);
    memset(big, ' ', len);
    memcpy(big, "{\"name\":\"a\",\"price\":1,\"stock\":1}", 32);
    big[len] = '\0';
    hresp r = {0};
    ck_assert_int_eq(call("POST", "/items", big, &r), 201);
    hresp_free(&r);
    free(big);
}
END_TEST

START_TEST(test_internal_token_and_health)
{
    hresp r = {0};
    ck_assert_int_eq(harness_req("GET", g_item.port, "/items", NULL, NULL, &r), 401);
    ck_assert_str_eq(cJSON_GetStringValue(cJSON_GetObjectItem(r.json, "code")), "UNAUTHORIZED");
    hresp_free(&r);
    const char *wrong[] = {"X-Internal-Token: it-item-tokeN", NULL};
    ck_assert_int_eq(harness_req("POST", g_item.port, "/reservations/77/restore", NULL, wrong, &r),
                     401);
    hresp_free(&r);
    /* Refused before anything happened: no tombstone for order 77. */
    expect_problem("GET", "/reservations/77", NULL, 404, "NOT_FOUND");

    ck_assert_int_eq(harness_req("GET", g_item.port, "/health/live", NULL, NULL, &r), 200);
    hresp_free(&r);
    ck_assert_int_eq(harness_req("GET", g_item.port, "/health", NULL, NULL, &r), 200);
    ck_assert_str_eq(cJSON_GetStringValue(cJSON_GetObjectItem(r.json, "status")), "ok");
    ck_assert_str_eq(cJSON_GetStringValue(cJSON_GetObjectItem(r.json, "service")), "item");
    hresp_free(&r);
}
END_TEST

START_TEST(test_request_id_echoed)
{
    const char *h[] = {"X-Internal-Token: " TOKEN, "X-Request-Id: it-item.rid_1", NULL};
    hresp r = {0};
    ck_assert_int_eq(harness_req("GET", g_item.port, "/items", NULL, h, &r), 200);
    ck_assert(harness_has_header(&r, "X-Request-Id", "it-item.rid_1"));
    hresp_free(&r);
    ck_assert_int_eq(harness_req("GET", g_item.port, "/items/abc", NULL, h, &r), 400);
    ck_assert(harness_has_header(&r, "X-Request-Id", "it-item.rid_1"));
    hresp_free(&r);
}
END_TEST

/* ------------------------------------------------------- stock check */

START_TEST(test_stock_check)
{
    long long a = create_item("Check A", 50000, 5);
    long long b = create_item("Check B", 700, 2);
    char body[256], want[512];
    hresp r = {0};
    snprintf(body, sizeof body,
             "{\"items\":[{\"itemId\":%lld,\"quantity\":5},{\"itemId\":%lld,\"quantity\":1}]}", a,
             b);
    ck_assert_int_eq(call("POST", "/stock/check", body, &r), 200);
    snprintf(want, sizeof want,
             "{\"items\":[{\"itemId\":%lld,\"quantity\":5,\"unitPrice\":50000,\"stock\":5},"
             "{\"itemId\":%lld,\"quantity\":1,\"unitPrice\":700,\"stock\":2}]}",
             a, b);
    ck_assert_str_eq(r.body, want);
    hresp_free(&r);

    snprintf(body, sizeof body,
             "{\"items\":[{\"itemId\":%lld,\"quantity\":1},{\"itemId\":%lld,\"quantity\":3}]}", a,
             b);
    ck_assert_int_eq(call("POST", "/stock/check", body, &r), 409);
    ck_assert_str_eq(cJSON_GetStringValue(cJSON_GetObjectItem(r.json, "code")), "OUT_OF_STOCK");
    snprintf(want, sizeof want, "item %lld: 2 left, 3 asked", b);
    ck_assert_str_eq(cJSON_GetStringValue(cJSON_GetObjectItem(r.json, "detail")), want);
    hresp_free(&r);

    snprintf(body, sizeof body,
             "{\"items\":[{\"itemId\":%lld,\"quantity\":9},{\"itemId\":987654321,\"quantity\":1}]}",
             a);
    expect_problem("POST", "/stock/check", body, 404, "ITEM_NOT_FOUND");
    ck_assert_int_eq(stock_of(a), 5);
    ck_assert_int_eq(stock_of(b), 2);
}
END_TEST

/* Bodies that every lines route refuses with 400 (orderId 1 where needed). */
static const char *const bad_lines[] = {
    "nope",
    "{\"orderId\":1,\"items\":[{\"itemId\":1,\"quantity\":1}]",
    "{\"orderId\":1,\"items\":[{\"itemId\":1,\"quantity\":1,\"quantity\":2}]}",
    "{\"orderId\":1,\"items\":[{\"itemId\":1,\"quantity\":1}],\"items\":[]}",
    "{\"orderId\":1}",
    "{\"orderId\":1,\"items\":null}",
    "{\"orderId\":1,\"items\":{}}",
    "{\"orderId\":1,\"items\":[]}",
    "{\"orderId\":1,\"items\":[1]}",
    "{\"orderId\":1,\"items\":[{\"quantity\":1}]}",
    "{\"orderId\":1,\"items\":[{\"itemId\":1}]}",
    "{\"orderId\":1,\"items\":[{\"itemId\":0,\"quantity\":1}]}",
    "{\"orderId\":1,\"items\":[{\"itemId\":-1,\"quantity\":1}]}",
    "{\"orderId\":1,\"items\":[{\"itemId\":1.5,\"quantity\":1}]}",
    "{\"orderId\":1,\"items\":[{\"itemId\":\"3\",\"quantity\":1}]}",
    "{\"orderId\":1,\"items\":[{\"itemId\":1e400,\"quantity\":1}]}",
    "{\"orderId\":1,\"items\":[{\"itemId\":1,\"quantity\":0}]}",
    "{\"orderId\":1,\"items\":[{\"itemId\":1,\"quantity\":-1}]}",
    "{\"orderId\":1,\"items\":[{\"itemId\":1,\"quantity\":1001}]}",
    "{\"orderId\":1,\"items\":[{\"itemId\":1,\"quantity\":1.5}]}",
    "{\"orderId\":1,\"items\":[{\"itemId\":1,\"quantity\":\"3\"}]}",
    "{\"orderId\":1,\"items\":[{\"itemId\":1,\"quantity\":1e400}]}",
    "{\"orderId\":1,\"items\":[{\"itemId\":1,\"quantity\":1},{\"itemId\":1,\"quantity\":2}]}",
};

/* A body with n lines of distinct items 1..n (orderId 1). */
static char *lines_body(int n)
{
    size_t cap = 64 + (size_t)n * 40, len = 0;
    char *b = malloc(cap);
    ck_assert_ptr_nonnull(b);
    len += (size_t)snprintf(b, cap, "{\"orderId\":1,\"items\":[");
    for (int i = 1; i <= n; i++)
        len += (size_t)snprintf(b + len, cap - len, "%s{\"itemId\":%d,\"quantity\":1}",
                                i > 1 ? "," : "", i);
    snprintf(b + len, cap - len, "]}");
    return b;
}

START_TEST(test_lines_refused)
{
    const char *routes[] = {"/stock/check", "/reservations"};
    char *fifty_one = lines_body(51);
    for (size_t r = 0; r < 2; r++) {
        for (size_t i = 0; i < sizeof bad_lines / sizeof bad_lines[0]; i++)
            expect_problem("POST", routes[r], bad_lines[i], 400, "INVALID_REQUEST");
        expect_problem("POST", routes[r], fifty_one, 400, "INVALID_REQUEST");
    }
    free(fifty_one);
    /* 50 lines are within limits: checked and deducted line by line. */
    size_t cap = 64 + 50 * 64, len = 0;
    char *fifty = malloc(cap);
    ck_assert_ptr_nonnull(fifty);
    long long first = 0;
    len += (size_t)snprintf(fifty, cap, "{\"orderId\":1501,\"items\":[");
    for (int i = 0; i < 50; i++) {
        char name[32];
        snprintf(name, sizeof name, "Fifty %d", i);
        long long id = create_item(name, 10 + i, 1);
        if (i == 0)
            first = id;
        len += (size_t)snprintf(fifty + len, cap - len, "%s{\"itemId\":%lld,\"quantity\":1}",
                                i > 0 ? "," : "", id);
    }
    snprintf(fifty + len, cap - len, "]}");
    hresp r = {0};
    ck_assert_int_eq(call("POST", "/stock/check", fifty, &r), 200);
    ck_assert_int_eq(cJSON_GetArraySize(cJSON_GetObjectItem(r.json, "items")), 50);
    hresp_free(&r);
    ck_assert_int_eq(call("POST", "/reservations", fifty, &r), 200);
    ck_assert_int_eq(cJSON_GetArraySize(cJSON_GetObjectItem(r.json, "items")), 50);
    hresp_free(&r);
    free(fifty);
    ck_assert_int_eq(stock_of(first), 0);
    ck_assert_int_eq(stock_of(first + 49), 0);

    hresp d = {0};
    ck_assert_int_eq(call("POST", "/reservations",
                          "{\"orderId\":1,\"items\":[{\"itemId\":1,\"quantity\":1},"
                          "{\"itemId\":1,\"quantity\":2}]}",
                          &d),
                     400);
    ck_assert_ptr_nonnull(
        strstr(cJSON_GetStringValue(cJSON_GetObjectItem(d.json, "detail")), "items[1].itemId"));
    hresp_free(&d);
}
END_TEST

START_TEST(test_order_id_refused)
{
    const char *bad[] = {
        "{\"items\":[{\"itemId\":1,\"quantity\":1}]}",
        "{\"orderId\":null,\"items\":[{\"itemId\":1,\"quantity\":1}]}",
        "{\"orderId\":0,\"items\":[{\"itemId\":1,\"quantity\":1}]}",
        "{\"orderId\":-1,\"items\":[{\"itemId\":1,\"quantity\":1}]}",
        "{\"orderId\":1.5,\"items\":[{\"itemId\":1,\"quantity\":1}]}",
        "{\"orderId\":\"3\",\"items\":[{\"itemId\":1,\"quantity\":1}]}",
        "{\"orderId\":1e400,\"items\":[{\"itemId\":1,\"quantity\":1}]}",
        "{\"orderId\":1000000000000000,\"items\":[{\"itemId\":1,\"quantity\":1}]}",
        "{\"orderId\":5,\"orderId\":6,\"items\":[{\"itemId\":1,\"quantity\":1}]}",
    };
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++)
        expect_problem("POST", "/reservations", bad[i], 400, "INVALID_REQUEST");
    expect_problem("GET", "/reservations/5", NULL, 404, "NOT_FOUND");
    expect_problem("GET", "/reservations/6", NULL, 404, "NOT_FOUND");
}
END_TEST

/* ------------------------------------------------------- reservations */

START_TEST(test_deduct_repeat_and_get)
{
    long long a = create_item("Res A", 50000, 10);
    long long b = create_item("Res B", 20000, 5);
    char body[256], want[512];
    snprintf(body, sizeof body,
             "{\"orderId\":1001,\"items\":[{\"itemId\":%lld,\"quantity\":2},"
             "{\"itemId\":%lld,\"quantity\":5}]}",
             a, b);
    snprintf(want, sizeof want,
             "{\"orderId\":1001,\"status\":\"DEDUCTED\",\"items\":["
             "{\"itemId\":%lld,\"quantity\":2,\"unitPrice\":50000},"
             "{\"itemId\":%lld,\"quantity\":5,\"unitPrice\":20000}]}",
             a, b);
    hresp r = {0};
    ck_assert_int_eq(call("POST", "/reservations", body, &r), 200);
    ck_assert_str_eq(r.body, want);
    hresp_free(&r);
    ck_assert_int_eq(stock_of(a), 8);
    ck_assert_int_eq(stock_of(b), 0);

    /* A repeat answers the same and deducts nothing. */
    for (int i = 0; i < 3; i++) {
        ck_assert_int_eq(call("POST", "/reservations", body, &r), 200);
        ck_assert_str_eq(r.body, want);
        hresp_free(&r);
    }
    ck_assert_int_eq(stock_of(a), 8);
    ck_assert_int_eq(stock_of(b), 0);

    ck_assert_int_eq(call("GET", "/reservations/1001", NULL, &r), 200);
    ck_assert_str_eq(r.body, want);
    hresp_free(&r);
}
END_TEST

START_TEST(test_deduct_all_or_none)
{
    long long a = create_item("AON A", 100, 5);
    long long b = create_item("AON B", 200, 1);
    char body[256], want[64];
    hresp r = {0};
    snprintf(body, sizeof body,
             "{\"orderId\":1101,\"items\":[{\"itemId\":%lld,\"quantity\":2},"
             "{\"itemId\":%lld,\"quantity\":2}]}",
             a, b);
    ck_assert_int_eq(call("POST", "/reservations", body, &r), 409);
    ck_assert_str_eq(cJSON_GetStringValue(cJSON_GetObjectItem(r.json, "code")), "OUT_OF_STOCK");
    snprintf(want, sizeof want, "item %lld: 1 left, 2 asked", b);
    ck_assert_str_eq(cJSON_GetStringValue(cJSON_GetObjectItem(r.json, "detail")), want);
    hresp_free(&r);
    ck_assert_int_eq(stock_of(a), 5);
    ck_assert_int_eq(stock_of(b), 1);
    expect_problem("GET", "/reservations/1101", NULL, 404, "NOT_FOUND");

    snprintf(body, sizeof body,
             "{\"orderId\":1102,\"items\":[{\"itemId\":%lld,\"quantity\":2},"
             "{\"itemId\":987654321,\"quantity\":1}]}",
             a);
    expect_problem("POST", "/reservations", body, 404, "ITEM_NOT_FOUND");
    ck_assert_int_eq(stock_of(a), 5);
    expect_problem("GET", "/reservations/1102", NULL, 404, "NOT_FOUND");

    /* The refused order may try again: nothing was recorded for it. */
    ck_assert_int_eq(deduct1(1101, b, 1, &r), 200);
    hresp_free(&r);
    ck_assert_int_eq(stock_of(b), 0);
    ck_assert_int_eq(deduct1(1103, b, 1, &r), 409);
    hresp_free(&r);
}
END_TEST

START_TEST(test_restore_once)
{
    long long a = create_item("Rst A", 100, 6);
    hresp r = {0};
    ck_assert_int_eq(deduct1(1201, a, 4, &r), 200);
    hresp_free(&r);
    ck_assert_int_eq(stock_of(a), 2);

    for (int i = 0; i < 3; i++) {
        ck_assert_int_eq(restore(1201, &r), 200);
        ck_assert_str_eq(r.body, "{\"orderId\":1201,\"status\":\"RELEASED\"}");
        hresp_free(&r);
        ck_assert_int_eq(stock_of(a), 6);
    }
    char want[256];
    snprintf(want, sizeof want,
             "{\"orderId\":1201,\"status\":\"RELEASED\",\"items\":["
             "{\"itemId\":%lld,\"quantity\":4,\"unitPrice\":100}]}",
             a);
    ck_assert_int_eq(call("GET", "/reservations/1201", NULL, &r), 200);
    ck_assert_str_eq(r.body, want);
    hresp_free(&r);

    /* Released for good: a late deduct for the order is refused. */
    expect_problem("POST", "/reservations",
                   "{\"orderId\":1201,\"items\":[{\"itemId\":1,\"quantity\":1}]}", 409,
                   "ORDER_RELEASED");
    ck_assert_int_eq(deduct1(1201, a, 4, &r), 409);
    hresp_free(&r);
    ck_assert_int_eq(stock_of(a), 6);
}
END_TEST

START_TEST(test_tombstone)
{
    long long a = create_item("Tomb A", 100, 3);
    hresp r = {0};
    ck_assert_int_eq(restore(1301, &r), 200);
    ck_assert_str_eq(r.body, "{\"orderId\":1301,\"status\":\"RELEASED\"}");
    hresp_free(&r);
    ck_assert_int_eq(call("GET", "/reservations/1301", NULL, &r), 200);
    ck_assert_str_eq(r.body, "{\"orderId\":1301,\"status\":\"RELEASED\",\"items\":[]}");
    hresp_free(&r);
    ck_assert_int_eq(deduct1(1301, a, 1, &r), 409);
    ck_assert_str_eq(cJSON_GetStringValue(cJSON_GetObjectItem(r.json, "code")), "ORDER_RELEASED");
    hresp_free(&r);
    ck_assert_int_eq(stock_of(a), 3);
    ck_assert_int_eq(restore(1301, &r), 200);
    hresp_free(&r);
    ck_assert_int_eq(stock_of(a), 3);
}
END_TEST

START_TEST(test_reservation_path_refused)
{
    expect_problem("POST", "/reservations/abc/restore", NULL, 400, "INVALID_REQUEST");
    expect_problem("POST", "/reservations/0/restore", NULL, 400, "INVALID_REQUEST");
    expect_problem("POST", "/reservations/-4/restore", NULL, 400, "INVALID_REQUEST");
    expect_problem("GET", "/reservations/abc", NULL, 400, "INVALID_REQUEST");
    expect_problem("GET", "/reservations/0", NULL, 400, "INVALID_REQUEST");
    expect_problem("GET", "/reservations/1000000000000000", NULL, 400, "INVALID_REQUEST");
    expect_problem("GET", "/reservations/424242", NULL, 404, "NOT_FOUND");
    /* A restore ignores any body it is sent. */
    hresp r = {0};
    ck_assert_int_eq(call("POST", "/reservations/1401/restore", "{\"x\":1}", &r), 200);
    hresp_free(&r);
}
END_TEST

/* ------------------------------------------------------------- races */

#define RACERS 50

struct racer {
    pthread_barrier_t *start;
    long long order;
    long long item;
    int quantity;
    bool restore; /* restore instead of deduct */
    long status;
    char code[40];
};

static void *race(void *arg)
{
    struct racer *r = arg;
    char path[96], body[256];
    hresp out = {0};
    pthread_barrier_wait(r->start);
    if (r->restore) {
        snprintf(path, sizeof path, "/reservations/%lld/restore", r->order);
        r->status = harness_req("POST", g_item.port, path, NULL, hdrs, &out);
    } else {
        snprintf(body, sizeof body,
                 "{\"orderId\":%lld,\"items\":[{\"itemId\":%lld,\"quantity\":%d}]}", r->order,
                 r->item, r->quantity);
        r->status = harness_req("POST", g_item.port, "/reservations", body, hdrs, &out);
    }
    const char *code =
        out.json ? cJSON_GetStringValue(cJSON_GetObjectItem(out.json, "code")) : NULL;
    snprintf(r->code, sizeof r->code, "%s", code ? code : "");
    hresp_free(&out);
    return NULL;
}

/* Runs n racers at once and waits for all. */
static void run_racers(struct racer *racers, int n)
{
    pthread_t threads[2 * RACERS];
    pthread_barrier_t start;
    ck_assert_int_le(n, 2 * RACERS);
    pthread_barrier_init(&start, NULL, (unsigned)n);
    for (int i = 0; i < n; i++) {
        racers[i].start = &start;
        ck_assert_int_eq(pthread_create(&threads[i], NULL, race, &racers[i]), 0);
    }
    for (int i = 0; i < n; i++)
        pthread_join(threads[i], NULL);
    pthread_barrier_destroy(&start);
}

START_TEST(test_race_last_units)
{
    long long a = create_item("Race last ten", 1000, 10);
    struct racer racers[RACERS];
    for (int i = 0; i < RACERS; i++)
        racers[i] = (struct racer){.order = 5000 + i, .item = a, .quantity = 1};
    run_racers(racers, RACERS);
    int ok = 0, out_of_stock = 0;
    for (int i = 0; i < RACERS; i++) {
        ok += racers[i].status == 200;
        out_of_stock += racers[i].status == 409 && strcmp(racers[i].code, "OUT_OF_STOCK") == 0;
    }
    ck_assert_int_eq(ok, 10);
    ck_assert_int_eq(out_of_stock, 40);
    ck_assert_int_eq(stock_of(a), 0);
    /* Exactly the winners hold a reservation. */
    int held = 0;
    for (int i = 0; i < RACERS; i++) {
        char path[64];
        long st = 0;
        snprintf(path, sizeof path, "/reservations/%lld", racers[i].order);
        hresp r = {0};
        st = call("GET", path, NULL, &r);
        hresp_free(&r);
        ck_assert_int_eq(st, racers[i].status == 200 ? 200 : 404);
        held += st == 200;
    }
    ck_assert_int_eq(held, 10);
}
END_TEST

START_TEST(test_race_repeats_of_one_order)
{
    long long a = create_item("Race repeat", 1000, 100);
    struct racer racers[RACERS];
    for (int i = 0; i < RACERS; i++)
        racers[i] = (struct racer){.order = 6000, .item = a, .quantity = 3};
    run_racers(racers, RACERS);
    for (int i = 0; i < RACERS; i++)
        ck_assert_int_eq(racers[i].status, 200);
    ck_assert_int_eq(stock_of(a), 97);

    /* And many restores of it give back once. */
    for (int i = 0; i < RACERS; i++)
        racers[i] = (struct racer){.order = 6000, .restore = true};
    run_racers(racers, RACERS);
    for (int i = 0; i < RACERS; i++)
        ck_assert_int_eq(racers[i].status, 200);
    ck_assert_int_eq(stock_of(a), 100);
}
END_TEST

START_TEST(test_race_restore_against_deduct)
{
    enum { PAIRS = 40 };
    long long a = create_item("Race restore", 1000, 500);
    struct racer racers[2 * PAIRS];
    for (int i = 0; i < PAIRS; i++) {
        racers[2 * i] = (struct racer){.order = 7000 + i, .item = a, .quantity = 3};
        racers[2 * i + 1] = (struct racer){.order = 7000 + i, .restore = true};
    }
    run_racers(racers, 2 * PAIRS);
    int deducted_first = 0, restored_first = 0;
    for (int i = 0; i < PAIRS; i++) {
        struct racer *d = &racers[2 * i], *r = &racers[2 * i + 1];
        ck_assert_int_eq(r->status, 200);
        ck_assert_msg(d->status == 200 ||
                          (d->status == 409 && strcmp(d->code, "ORDER_RELEASED") == 0),
                      "order %lld: deduct %ld %s", d->order, d->status, d->code);
        /* Whichever came first, the order ends released, and holds lines
         * exactly when its deduct succeeded (and was given back). */
        char path[64];
        snprintf(path, sizeof path, "/reservations/%lld", d->order);
        hresp g = {0};
        ck_assert_int_eq(call("GET", path, NULL, &g), 200);
        ck_assert_str_eq(cJSON_GetStringValue(cJSON_GetObjectItem(g.json, "status")), "RELEASED");
        ck_assert_int_eq(cJSON_GetArraySize(cJSON_GetObjectItem(g.json, "items")),
                         d->status == 200 ? 1 : 0);
        hresp_free(&g);
        deducted_first += d->status == 200;
        restored_first += d->status == 409;
    }
    ck_assert_int_eq(deducted_first + restored_first, PAIRS);
    ck_assert_int_eq(stock_of(a), 500);
}
END_TEST

/* ------------------------------------------------------------- seed */

START_TEST(test_seed_items)
{
    hresp r = {0};
    ck_assert_int_eq(call("GET", "/items", NULL, &r), 200);
    ck_assert_str_eq(r.body, "{\"items\":["
                             "{\"id\":1,\"name\":\"Keyboard\",\"price\":50000,\"stock\":10},"
                             "{\"id\":2,\"name\":\"Mouse\",\"price\":20000,\"stock\":100},"
                             "{\"id\":3,\"name\":\"Monitor\",\"price\":300000,\"stock\":5},"
                             "{\"id\":4,\"name\":\"USB cable\",\"price\":5000,\"stock\":1000}]}");
    hresp_free(&r);
    ck_assert_int_eq(call("GET", "/items/3", NULL, &r), 200);
    ck_assert_str_eq(r.body, "{\"id\":3,\"name\":\"Monitor\",\"price\":300000,\"stock\":5}");
    hresp_free(&r);
    /* A new item comes after the seed. */
    ck_assert_int_eq(create_item("Webcam", 45000, 7), 5);
}
END_TEST

/* ---------------------------------------------------------- lifecycle */

START_TEST(test_sigterm_and_restart)
{
    /* Started here, in the test's process, so that it can be reaped. */
    char *dir = harness_tmpdir();
    svc_proc p;
    ck_assert(start_item(&p, dir, false));
    const char *const h[] = {"X-Internal-Token: " TOKEN, NULL};
    hresp r = {0};
    long created = harness_req("POST", p.port, "/items",
                               "{\"name\":\"Kept\",\"price\":10,\"stock\":4}", h, &r);
    hresp_free(&r);
    long deducted = harness_req("POST", p.port, "/reservations",
                                "{\"orderId\":9,\"items\":[{\"itemId\":1,\"quantity\":3}]}", h, &r);
    hresp_free(&r);
    long ms = harness_stop(&p);

    /* Committed state survives the restart; no seed on a non-empty DB. */
    bool again = start_item(&p, dir, true);
    long got = again ? harness_req("GET", p.port, "/items", NULL, h, &r) : 0;
    char body[256];
    snprintf(body, sizeof body, "%s", r.body ? r.body : "");
    hresp_free(&r);
    if (again)
        harness_kill9(&p);
    harness_rmdir(dir);

    ck_assert_int_eq(created, 201);
    ck_assert_int_eq(deducted, 200);
    ck_assert_msg(ms >= 0 && ms < 1000, "SIGTERM took %ld ms", ms);
    ck_assert(again);
    ck_assert_int_eq(got, 200);
    ck_assert_str_eq(body, "{\"items\":[{\"id\":1,\"name\":\"Kept\",\"price\":10,\"stock\":1}]}");
}
END_TEST

/* Opens a keep-alive connection to port, has one request answered on it and
 * leaves it open and idle. Returns the socket, or -1. */
static int idle_keepalive_client(int port)
{
    int fd = socket(AF_INET, SOCK_STREAM, 0);
    if (fd < 0)
        return -1;
    struct sockaddr_in addr = {.sin_family = AF_INET, .sin_port = htons((uint16_t)port)};
    addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    const char req[] = "GET /health/live HTTP/1.1\r\nHost: 127.0.0.1\r\n"
                       "Connection: keep-alive\r\n\r\n";
    char buf[1024];
    if (connect(fd, (struct sockaddr *)&addr, sizeof addr) != 0 ||
        write(fd, req, sizeof req - 1) != (ssize_t)(sizeof req - 1) ||
        read(fd, buf, sizeof buf - 1) <= 0) {
        close(fd);
        return -1;
    }
    return fd;
}

START_TEST(test_sigterm_with_idle_client)
{
    char *dir = harness_tmpdir();
    svc_proc p;
    ck_assert(start_item(&p, dir, true));
    const char *const h[] = {"X-Internal-Token: " TOKEN, NULL};
    long last = 0;
    for (int i = 0; i < 20; i++) {
        hresp r = {0};
        last = harness_req("GET", p.port, "/items/1", NULL, h, &r);
        hresp_free(&r);
    }
    /* A client that keeps its connection open must not hold up the stop. */
    int idle = idle_keepalive_client(p.port);
    long ms = harness_stop(&p);
    if (idle >= 0)
        close(idle);
    harness_rmdir(dir);
    ck_assert_int_eq(last, 200);
    ck_assert_int_ge(idle, 0);
    ck_assert_msg(ms >= 0 && ms < 1000, "SIGTERM took %ld ms", ms);
}
END_TEST

Suite *it_item_suite(void);

Suite *it_item_suite(void)
{
    Suite *s = suite_create("it_item");

    TCase *tc = tcase_create("routes");
    tcase_add_unchecked_fixture(tc, up_empty, down);
    tcase_set_timeout(tc, 60);
    tcase_add_test(tc, test_create_get_list_items);
    tcase_add_test(tc, test_create_item_refused);
    tcase_add_test(tc, test_get_item_refused);
    tcase_add_test(tc, test_router_refusals);
    tcase_add_test(tc, test_oversized_body);
    tcase_add_test(tc, test_internal_token_and_health);
    tcase_add_test(tc, test_request_id_echoed);
    tcase_add_test(tc, test_stock_check);
    tcase_add_test(tc, test_lines_refused);
    tcase_add_test(tc, test_order_id_refused);
    tcase_add_test(tc, test_deduct_repeat_and_get);
    tcase_add_test(tc, test_deduct_all_or_none);
    tcase_add_test(tc, test_restore_once);
    tcase_add_test(tc, test_tombstone);
    tcase_add_test(tc, test_reservation_path_refused);
    suite_add_tcase(s, tc);

    tc = tcase_create("races");
    tcase_add_unchecked_fixture(tc, up_empty, down);
    tcase_set_timeout(tc, 60);
    tcase_add_test(tc, test_race_last_units);
    tcase_add_test(tc, test_race_repeats_of_one_order);
    tcase_add_test(tc, test_race_restore_against_deduct);
    suite_add_tcase(s, tc);

    tc = tcase_create("seed");
    tcase_add_unchecked_fixture(tc, up_seeded, down);
    tcase_set_timeout(tc, 30);
    tcase_add_test(tc, test_seed_items);
    suite_add_tcase(s, tc);

    tc = tcase_create("lifecycle");
    tcase_set_timeout(tc, 60);
    tcase_add_test(tc, test_sigterm_and_restart);
    tcase_add_test(tc, test_sigterm_with_idle_client);
    suite_add_tcase(s, tc);
    return s;
}
