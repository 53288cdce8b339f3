/* Integration tests of the data-platform stub: the real binary on loopback,
 * driven over HTTP. Its routes with exact statuses, deduplication by order id
 * (also under concurrent repeats), validation, paging, injected faults (PUT
 * /faults and the env at start), no internal token, and SIGTERM. */
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <check.h>

#include "harness.h"

Suite *it_dataplatform_suite(void);

static svc_proc dp_svc;
static char *data_dir;

/* Starts data-platform in dir with extra env (NULL-ended list, may be NULL). */
static bool start_dp(const char *dir, svc_proc *p, const char *const *extra)
{
    static char env[3][600];
    const char *all[12];
    int n = 0;
    memset(p, 0, sizeof *p);
    p->port = harness_free_port();
    snprintf(p->log_path, sizeof p->log_path, "%s/data-platform.log", dir);
    snprintf(env[0], sizeof env[0], "DATA_PLATFORM_PORT=%d", p->port);
    snprintf(env[1], sizeof env[1], "DATA_PLATFORM_DB_PATH=%s/data-platform.db", dir);
    /* Set, so that the test shows the stub does not ask for it. */
    snprintf(env[2], sizeof env[2], "SHOP_INTERNAL_TOKEN=it-dp-token");
    all[n++] = env[0];
    all[n++] = env[1];
    all[n++] = env[2];
    for (const char *const *e = extra; e != NULL && *e != NULL && n < 11; e++)
        all[n++] = *e;
    all[n] = NULL;
    return harness_start(p, "data-platform", all);
}

static void dp_up(void)
{
    data_dir = harness_tmpdir();
    ck_assert_ptr_nonnull(data_dir);
    ck_assert_msg(start_dp(data_dir, &dp_svc, NULL), "data-platform did not start");
}

static void dp_down(void)
{
    harness_stop(&dp_svc);
    harness_rmdir(data_dir);
    data_dir = NULL;
}

static const char *str_of(const cJSON *o, const char *name)
{
    const cJSON *v = cJSON_GetObjectItemCaseSensitive(o, name);
    return cJSON_IsString(v) ? v->valuestring : "";
}

/* A valid message for order_id. */
static void message(char *buf, size_t len, long long order_id, long long payment_id)
{
    snprintf(buf, len,
             "{\"orderId\":%lld,\"paymentId\":%lld,\"userId\":3,"
             "\"items\":[{\"itemId\":1,\"quantity\":2,\"unitPrice\":50000}],"
             "\"totalAmount\":100000,\"discountAmount\":5000,\"finalAmount\":95000,"
             "\"paidAt\":\"2026-11-24T12:00:00Z\"}",
             order_id, payment_id);
}

static long post_order(int port, const char *body, hresp *out)
{
    return harness_req("POST", port, "/orders", body, NULL, out);
}

static void expect_problem(const hresp *r, long status, const char *code)
{
    ck_assert_int_eq(r->status, status);
    ck_assert_str_eq(r->content_type, "application/problem+json");
    ck_assert_str_eq(str_of(r->json, "code"), code);
}

static void put_faults(int port, const char *body, long expect)
{
    hresp r;
    ck_assert_int_eq(harness_req("PUT", port, "/faults", body, NULL, &r), expect);
    hresp_free(&r);
}

START_TEST(test_health)
{
    hresp r;
    ck_assert_int_eq(harness_req("GET", dp_svc.port, "/health", NULL, NULL, &r), 200);
    ck_assert_str_eq(str_of(r.json, "status"), "ok");
    ck_assert_str_eq(str_of(r.json, "service"), "data-platform");
    hresp_free(&r);
    ck_assert_int_eq(harness_req("GET", dp_svc.port, "/health/live", NULL, NULL, NULL), 200);
    ck_assert_int_eq(harness_req("GET", dp_svc.port, "/nope", NULL, NULL, &r), 404);
    expect_problem(&r, 404, "NOT_FOUND");
    hresp_free(&r);
    ck_assert_int_eq(harness_req("DELETE", dp_svc.port, "/orders", NULL, NULL, &r), 405);
    expect_problem(&r, 405, "METHOD_NOT_ALLOWED");
    hresp_free(&r);
}
END_TEST

START_TEST(test_receive_dedup_and_get)
{
    char body[512];
    hresp r;
    message(body, sizeof body, 12, 5);
    /* No X-Internal-Token anywhere in this file: the stub does not ask for it. */
    ck_assert_int_eq(post_order(dp_svc.port, body, &r), 200);
    ck_assert_int_eq(harness_int(r.json, "orderId"), 12);
    ck_assert_str_eq(str_of(r.json, "status"), "RECEIVED");
    ck_assert_int_eq(harness_int(r.json, "deliveries"), 1);
    hresp_free(&r);
    ck_assert_int_eq(post_order(dp_svc.port, body, &r), 200);
    ck_assert_int_eq(harness_int(r.json, "deliveries"), 2);
    hresp_free(&r);
    /* A repeat with another body is acknowledged, nothing of it stored. */
    message(body, sizeof body, 12, 99);
    ck_assert_int_eq(post_order(dp_svc.port, body, &r), 200);
    ck_assert_int_eq(harness_int(r.json, "deliveries"), 3);
    hresp_free(&r);
    ck_assert_int_eq(harness_req("GET", dp_svc.port, "/orders/12", NULL, NULL, &r), 200);
    ck_assert_int_eq(harness_int(r.json, "orderId"), 12);
    ck_assert_int_eq(harness_int(r.json, "paymentId"), 5);
    ck_assert_int_eq(harness_int(r.json, "userId"), 3);
    ck_assert_int_eq(harness_int(r.json, "totalAmount"), 100000);
    ck_assert_int_eq(harness_int(r.json, "discountAmount"), 5000);
    ck_assert_int_eq(harness_int(r.json, "finalAmount"), 95000);
    ck_assert_str_eq(str_of(r.json, "paidAt"), "2026-11-24T12:00:00Z");
    ck_assert_int_eq(harness_int(r.json, "deliveries"), 3);
    const cJSON *items = cJSON_GetObjectItemCaseSensitive(r.json, "items");
    ck_assert_int_eq(cJSON_GetArraySize(items), 1);
    ck_assert_int_eq(harness_int(cJSON_GetArrayItem(items, 0), "itemId"), 1);
    ck_assert_int_eq(harness_int(cJSON_GetArrayItem(items, 0), "quantity"), 2);
    ck_assert_int_eq(harness_int(cJSON_GetArrayItem(items, 0), "unitPrice"), 50000);
    hresp_free(&r);
    ck_assert_int_eq(harness_req("GET", dp_svc.port, "/orders/13", NULL, NULL, &r), 404);
    expect_problem(&r, 404, "NOT_FOUND");
    hresp_free(&r);
    ck_assert_int_eq(harness_req("GET", dp_svc.port, "/orders/abc", NULL, NULL, &r), 400);
    expect_problem(&r, 400, "INVALID_REQUEST");
    hresp_free(&r);
}
END_TEST

START_TEST(test_validation)
{
    const char *bad[] = {
        "",
        "[]",
        "{\"orderId\":1}",
        /* each field wrong in turn */
        "{\"orderId\":0,\"paymentId\":1,\"userId\":1,\"items\":[{\"itemId\":1,\"quantity\":1,"
        "\"unitPrice\":1}],\"totalAmount\":1,\"discountAmount\":0,\"finalAmount\":1,"
        "\"paidAt\":\"2026-11-24T12:00:00Z\"}",
        "{\"orderId\":1,\"paymentId\":\"1\",\"userId\":1,\"items\":[{\"itemId\":1,"
        "\"quantity\":1,\"unitPrice\":1}],\"totalAmount\":1,\"discountAmount\":0,"
        "\"finalAmount\":1,\"paidAt\":\"2026-11-24T12:00:00Z\"}",
        "{\"orderId\":1,\"paymentId\":1,\"userId\":1.5,\"items\":[{\"itemId\":1,\"quantity\":1,"
        "\"unitPrice\":1}],\"totalAmount\":1,\"discountAmount\":0,\"finalAmount\":1,"
        "\"paidAt\":\"2026-11-24T12:00:00Z\"}",
        "{\"orderId\":1,\"paymentId\":1,\"userId\":1,\"items\":[],\"totalAmount\":1,"
        "\"discountAmount\":0,\"finalAmount\":1,\"paidAt\":\"2026-11-24T12:00:00Z\"}",
        "{\"orderId\":1,\"paymentId\":1,\"userId\":1,\"items\":{},\"totalAmount\":1,"
        "\"discountAmount\":0,\"finalAmount\":1,\"paidAt\":\"2026-11-24T12:00:00Z\"}",
        "{\"orderId\":1,\"paymentId\":1,\"userId\":1,\"items\":[{\"itemId\":1,\"quantity\":0,"
        "\"unitPrice\":1}],\"totalAmount\":1,\"discountAmount\":0,\"finalAmount\":1,"
        "\"paidAt\":\"2026-11-24T12:00:00Z\"}",
        "{\"orderId\":1,\"paymentId\":1,\"userId\":1,\"items\":[{\"itemId\":1,\"quantity\":1,"
        "\"unitPrice\":1}],\"totalAmount\":-1,\"discountAmount\":0,\"finalAmount\":1,"
        "\"paidAt\":\"2026-11-24T12:00:00Z\"}",
        "{\"orderId\":1,\"paymentId\":1,\"userId\":1,\"items\":[{\"itemId\":1,\"quantity\":1,"
        "\"unitPrice\":1}],\"totalAmount\":10,\"discountAmount\":2,\"finalAmount\":9,"
        "\"paidAt\":\"2026-11-24T12:00:00Z\"}",
        "{\"orderId\":1,\"paymentId\":1,\"userId\":1,\"items\":[{\"itemId\":1,\"quantity\":1,"
        "\"unitPrice\":1}],\"totalAmount\":1,\"discountAmount\":0,\"finalAmount\":1,"
        "\"paidAt\":\"yesterday\"}",
        "{\"orderId\":1,\"paymentId\":1,\"userId\":1,\"items\":[{\"itemId\":1,\"quantity\":1,"
        "\"unitPrice\":1}],\"totalAmount\":1,\"discountAmount\":0,\"finalAmount\":1}",
        /* a repeated member name */
        "{\"orderId\":1,\"orderId\":2,\"paymentId\":1,\"userId\":1,\"items\":[{\"itemId\":1,"
        "\"quantity\":1,\"unitPrice\":1}],\"totalAmount\":1,\"discountAmount\":0,"
        "\"finalAmount\":1,\"paidAt\":\"2026-11-24T12:00:00Z\"}",
    };
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
        hresp r;
        post_order(dp_svc.port, bad[i], &r);
        ck_assert_msg(r.status == 400, "case %zu: %ld %s", i, r.status, r.body);
        expect_problem(&r, 400, "INVALID_REQUEST");
        hresp_free(&r);
    }
    /* Nothing was stored for order 1 or 2. */
    ck_assert_int_eq(harness_req("GET", dp_svc.port, "/orders/1", NULL, NULL, NULL), 404);
    ck_assert_int_eq(harness_req("GET", dp_svc.port, "/orders/2", NULL, NULL, NULL), 404);
}
END_TEST

START_TEST(test_list_pages)
{
    char body[512];
    for (long long id = 101; id <= 105; id++) {
        message(body, sizeof body, id, id);
        ck_assert_int_eq(post_order(dp_svc.port, body, NULL), 200);
    }
    hresp r;
    ck_assert_int_eq(harness_req("GET", dp_svc.port, "/orders?afterId=100&limit=2", NULL, NULL, &r),
                     200);
    const cJSON *orders = cJSON_GetObjectItemCaseSensitive(r.json, "orders");
    ck_assert_int_eq(cJSON_GetArraySize(orders), 2);
    ck_assert_int_eq(harness_int(cJSON_GetArrayItem(orders, 0), "orderId"), 101);
    ck_assert_int_eq(harness_int(cJSON_GetArrayItem(orders, 1), "orderId"), 102);
    ck_assert_int_eq(harness_int(cJSON_GetArrayItem(orders, 0), "deliveries"), 1);
    ck_assert_int_eq(harness_int(r.json, "nextAfterId"), 102);
    hresp_free(&r);
    ck_assert_int_eq(harness_req("GET", dp_svc.port, "/orders?afterId=103&limit=2", NULL, NULL, &r),
                     200);
    orders = cJSON_GetObjectItemCaseSensitive(r.json, "orders");
    ck_assert_int_eq(cJSON_GetArraySize(orders), 2);
    ck_assert_int_eq(harness_int(cJSON_GetArrayItem(orders, 1), "orderId"), 105);
    ck_assert(cJSON_IsNull(cJSON_GetObjectItemCaseSensitive(r.json, "nextAfterId")));
    hresp_free(&r);
    /* The whole list holds them all, at least these five. */
    ck_assert_int_eq(harness_req("GET", dp_svc.port, "/orders", NULL, NULL, &r), 200);
    ck_assert_int_ge(cJSON_GetArraySize(cJSON_GetObjectItemCaseSensitive(r.json, "orders")), 5);
    hresp_free(&r);
    const char *bad[] = {"/orders?limit=0", "/orders?limit=501", "/orders?limit=x",
                         "/orders?afterId=-1"};
    for (size_t i = 0; i < 4; i++) {
        ck_assert_int_eq(harness_req("GET", dp_svc.port, bad[i], NULL, NULL, &r), 400);
        expect_problem(&r, 400, "INVALID_REQUEST");
        hresp_free(&r);
    }
}
END_TEST

START_TEST(test_faults)
{
    char body[512];
    hresp r;
    ck_assert_int_eq(
        harness_req("PUT", dp_svc.port, "/faults", "{\"failRate\":1.0,\"delayMs\":0}", NULL, &r),
        200);
    cJSON *rate = cJSON_GetObjectItemCaseSensitive(r.json, "failRate");
    ck_assert(cJSON_IsNumber(rate) && rate->valuedouble == 1.0);
    ck_assert_int_eq(harness_int(r.json, "delayMs"), 0);
    hresp_free(&r);
    message(body, sizeof body, 201, 1);
    for (int i = 0; i < 5; i++) {
        ck_assert_int_eq(post_order(dp_svc.port, body, &r), 503);
        expect_problem(&r, 503, "SERVICE_UNAVAILABLE");
        hresp_free(&r);
    }
    ck_assert_int_eq(harness_req("GET", dp_svc.port, "/orders/201", NULL, NULL, NULL), 404);
    /* Healed: accepted, and the failed tries were not counted. */
    put_faults(dp_svc.port, "{\"failRate\":0}", 200);
    ck_assert_int_eq(post_order(dp_svc.port, body, &r), 200);
    ck_assert_int_eq(harness_int(r.json, "deliveries"), 1);
    hresp_free(&r);
    /* A delay holds the answer. */
    ck_assert_int_eq(harness_req("PUT", dp_svc.port, "/faults", "{\"delayMs\":400}", NULL, &r),
                     200);
    ck_assert_int_eq(harness_int(r.json, "delayMs"), 400);
    rate = cJSON_GetObjectItemCaseSensitive(r.json, "failRate");
    ck_assert(cJSON_IsNumber(rate) && rate->valuedouble == 0.0); /* kept */
    hresp_free(&r);
    ck_assert_int_eq(post_order(dp_svc.port, body, &r), 200);
    ck_assert_int_ge(r.ms, 400);
    ck_assert_int_eq(harness_int(r.json, "deliveries"), 2);
    hresp_free(&r);
    put_faults(dp_svc.port, "{\"failRate\":0.0,\"delayMs\":0}", 200);
    ck_assert_int_eq(post_order(dp_svc.port, body, &r), 200);
    ck_assert_int_lt(r.ms, 300);
    hresp_free(&r);
    /* Refused settings change nothing. */
    const char *bad[] = {"{\"failRate\":1.5}",
                         "{\"failRate\":-0.1}",
                         "{\"failRate\":\"0.5\"}",
                         "{\"delayMs\":60001}",
                         "{\"delayMs\":-1}",
                         "{\"delayMs\":1.5}",
                         "{\"failRate\":1,\"delayMs\":\"x\"}",
                         "[]",
                         "nope"};
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
        ck_assert_int_eq(harness_req("PUT", dp_svc.port, "/faults", bad[i], NULL, &r), 400);
        expect_problem(&r, 400, "INVALID_REQUEST");
        hresp_free(&r);
    }
    ck_assert_int_eq(post_order(dp_svc.port, body, NULL), 200);
}
END_TEST

/* Concurrent deliveries of one order: every one acknowledged, counted once. */
#define DP_RACERS 20
static long race_deliveries[DP_RACERS];
static long race_status[DP_RACERS];

static void *race_post(void *arg)
{
    int i = (int)(intptr_t)arg;
    char body[512];
    hresp r;
    message(body, sizeof body, 301, 7);
    race_status[i] = post_order(dp_svc.port, body, &r);
    race_deliveries[i] = (long)harness_int(r.json, "deliveries");
    hresp_free(&r);
    return NULL;
}

START_TEST(test_concurrent_repeats)
{
    pthread_t t[DP_RACERS];
    for (int i = 0; i < DP_RACERS; i++)
        ck_assert_int_eq(pthread_create(&t[i], NULL, race_post, (void *)(intptr_t)i), 0);
    for (int i = 0; i < DP_RACERS; i++)
        pthread_join(t[i], NULL);
    bool seen[DP_RACERS + 1] = {false};
    for (int i = 0; i < DP_RACERS; i++) {
        ck_assert_int_eq(race_status[i], 200);
        ck_assert(race_deliveries[i] >= 1 && race_deliveries[i] <= DP_RACERS);
        ck_assert_msg(!seen[race_deliveries[i]], "count %ld given twice", race_deliveries[i]);
        seen[race_deliveries[i]] = true;
    }
    hresp r;
    ck_assert_int_eq(harness_req("GET", dp_svc.port, "/orders/301", NULL, NULL, &r), 200);
    ck_assert_int_eq(harness_int(r.json, "deliveries"), DP_RACERS);
    hresp_free(&r);
}
END_TEST

/* A request held by a long delay while SIGTERM arrives. */
static void *slow_post(void *arg)
{
    svc_proc *p = arg;
    char body[512];
    message(body, sizeof body, 401, 1);
    post_order(p->port, body, NULL);
    return NULL;
}

START_TEST(test_env_faults_and_stop)
{
    /* Its own instance, started from this test process so it can reap it. */
    char *dir = harness_tmpdir();
    ck_assert_ptr_nonnull(dir);
    svc_proc p;
    const char *env[] = {"DATA_PLATFORM_FAIL_RATE=1.0", "DATA_PLATFORM_DELAY_MS=0", NULL};
    ck_assert(start_dp(dir, &p, env));
    char body[512];
    message(body, sizeof body, 401, 1);
    ck_assert_int_eq(post_order(p.port, body, NULL), 503);
    put_faults(p.port, "{\"failRate\":0,\"delayMs\":60000}", 200);
    pthread_t t;
    ck_assert_int_eq(pthread_create(&t, NULL, slow_post, &p), 0);
    /* Let the request get into its delay, then stop: well under a second. */
    struct timespec pause = {.tv_sec = 0, .tv_nsec = 300 * 1000000L};
    nanosleep(&pause, NULL);
    long ms = harness_stop(&p);
    ck_assert_msg(ms < 1000, "data-platform took %ld ms to stop", ms);
    pthread_join(t, NULL);
    harness_rmdir(dir);
}
END_TEST

START_TEST(test_bad_env_refused)
{
    char *dir = harness_tmpdir();
    ck_assert_ptr_nonnull(dir);
    svc_proc p;
    const char *env[] = {"DATA_PLATFORM_FAIL_RATE=2", NULL};
    ck_assert(!start_dp(dir, &p, env));
    harness_rmdir(dir);
}
END_TEST

Suite *it_dataplatform_suite(void)
{
    Suite *s = suite_create("it_dataplatform");
    TCase *tc = tcase_create("routes");
    tcase_add_unchecked_fixture(tc, dp_up, dp_down);
    tcase_set_timeout(tc, 60);
    tcase_add_test(tc, test_health);
    tcase_add_test(tc, test_receive_dedup_and_get);
    tcase_add_test(tc, test_validation);
    tcase_add_test(tc, test_list_pages);
    tcase_add_test(tc, test_faults);
    tcase_add_test(tc, test_concurrent_repeats);
    suite_add_tcase(s, tc);
    tc = tcase_create("lifecycle");
    tcase_set_timeout(tc, 60);
    tcase_add_test(tc, test_env_faults_and_stop);
    tcase_add_test(tc, test_bad_env_refused);
    suite_add_tcase(s, tc);
    return s;
}
