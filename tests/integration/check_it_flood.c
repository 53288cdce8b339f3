/* Resource limits, the short version of tests/flood/flood.sh: the whole shop
 * started with its default limits, then idle, kept-alive and slowloris
 * connections held against the gateway (the flood engine of tests/flood)
 * while a client shops through it; and the server's own timeouts, not the
 * clients, close those connections. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <check.h>

#include "../flood/flood_conn.h"
#include "harness.h"
#include "http_server.h"
#include "stack.h"

enum { N_IDLE = 300, N_SLOW = 30, N_KEPT = 100, N_ROUNDS = 10 };
/* A legitimate request under the flood must be answered within this. */
#define LEGIT_MAX_MS 2000
/* The flood engine notes "established" when its poll loop gets to it, a
 * little after the server accepted: the slack allowed below the timeout. */
#define EARLY_SLACK_MS 150

/* One stack for the tcase (unchecked fixture, in the parent), with the
 * programs' default limits. */
static shop_stack stack = {.suite = "it_flood"};

static void up(void)
{
    stack_up(&stack);
}

static void down(void)
{
    stack_down(&stack);
}

/* ------------------------------------------------------------ helpers */

static const char *const admin_headers[] = {"X-Admin-Token: " STACK_ADMIN_TOKEN, NULL};

static long long now_ms(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (long long)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

static void sleep_ms(long ms)
{
    struct timespec ts = {.tv_sec = ms / 1000, .tv_nsec = (ms % 1000) * 1000000L};
    nanosleep(&ts, NULL);
}

/* Creates an admin fixture; returns its id. */
static long long admin_create(const char *path, const char *body)
{
    hresp r;
    long st = harness_req("POST", stack.procs[STACK_GW].port, path, body, admin_headers, &r);
    ck_assert_msg(st == 201, "POST %s: %ld %s", path, st, r.body);
    long long id = harness_int(r.json, "id");
    hresp_free(&r);
    return id;
}

/* One legitimate request through the gateway: it must get want, within
 * LEGIT_MAX_MS. Returns the id in the reply (or -1). */
static long long legit(const char *method, const char *path, const char *body, long want)
{
    hresp r;
    long st = harness_req(method, stack.procs[STACK_GW].port, path, body, NULL, &r);
    ck_assert_msg(st == want, "%s %s under the flood: %ld (want %ld) after %ld ms: %s", method,
                  path, st, want, r.ms, r.body != NULL ? r.body : "");
    ck_assert_msg(r.ms <= LEGIT_MAX_MS, "%s %s under the flood took %ld ms (at most %d)", method,
                  path, r.ms, LEGIT_MAX_MS);
    long long id = harness_int(r.json, "id");
    hresp_free(&r);
    return id;
}

/* The gateway's shop_http_connections_open gauge. */
static long long gateway_connections(void)
{
    hresp r;
    ck_assert_int_eq(harness_req("GET", stack.procs[STACK_GW].port, "/metrics", NULL, NULL, &r),
                     200);
    const char *p = strstr(r.body, "\nshop_http_connections_open ");
    long long n = p != NULL ? strtoll(p + strlen("\nshop_http_connections_open "), NULL, 10) : -1;
    hresp_free(&r);
    return n;
}

static flood *flood_up(bool reconnect)
{
    flood_opts o = {.port = stack.procs[STACK_GW].port,
                    .n = {[FLOOD_IDLE] = N_IDLE, [FLOOD_KEPT] = N_KEPT, [FLOOD_SLOW] = N_SLOW},
                    .byte_interval_ms = 1000,
                    .reconnect = reconnect};
    ck_assert_int_ge(flood_raise_nofile(), N_IDLE + N_KEPT + N_SLOW + 64);
    flood *f = flood_start(&o);
    ck_assert_ptr_nonnull(f);
    ck_assert_msg(flood_wait_open(f, 5000), "the flood's %d connections did not all open in 5 s",
                  N_IDLE + N_KEPT + N_SLOW);
    return f;
}

/* ------------------------------------------------------------ tests */

/* 50 sequential requests (10 rounds of a read, an order, its payment and
 * two reads) each answered right and within LEGIT_MAX_MS while 430 hostile
 * connections are held against the gateway, replaced as soon as the server
 * closes one. */
START_TEST(legit_requests_are_served_during_the_flood)
{
    long long item =
        admin_create("/api/admin/items", "{\"name\":\"flood\",\"price\":100,\"stock\":1000}");
    long long user = admin_create("/api/admin/users", "{\"name\":\"flood\",\"balance\":1000000}");
    flood *f = flood_up(true);
    long long held = gateway_connections();
    ck_assert_msg(held >= N_IDLE + N_SLOW, "gateway holds %lld connections, want >= %d", held,
                  N_IDLE + N_SLOW);
    char item_path[64], balance_path[64], order_path[64], body[160];
    snprintf(item_path, sizeof item_path, "/api/items/%lld", item);
    snprintf(balance_path, sizeof balance_path, "/api/users/%lld/balance", user);
    for (int round = 0; round < N_ROUNDS; round++) {
        legit("GET", item_path, NULL, 200);
        snprintf(body, sizeof body,
                 "{\"userId\":%lld,\"items\":[{\"itemId\":%lld,\"quantity\":1}]}", user, item);
        long long order = legit("POST", "/api/orders", body, 201);
        snprintf(body, sizeof body, "{\"orderId\":%lld,\"userId\":%lld}", order, user);
        legit("POST", "/api/payments", body, 201);
        snprintf(order_path, sizeof order_path, "/api/orders/%lld", order);
        legit("GET", order_path, NULL, 200);
        legit("GET", balance_path, NULL, 200);
    }
    ck_assert_int_ge(gateway_connections(), N_IDLE + N_SLOW); /* still held at the end */
    flood_stats st;
    flood_stop(f, &st);
    ck_assert_int_eq(st.k[FLOOD_IDLE].connect_failed + st.k[FLOOD_SLOW].connect_failed +
                         st.k[FLOOD_KEPT].connect_failed,
                     0);
    hresp r;
    ck_assert_int_eq(harness_req("GET", stack.procs[STACK_GW].port, item_path, NULL, NULL, &r),
                     200);
    ck_assert_int_eq(harness_int(r.json, "stock"), 1000 - N_ROUNDS);
    hresp_free(&r);
    cJSON *balance = harness_get_json(stack.procs[STACK_GW].port, balance_path, NULL);
    ck_assert_int_eq(harness_int(balance, "balance"), 1000000 - 100 * N_ROUNDS);
    cJSON_Delete(balance);
}
END_TEST

/* Nobody closes these but the server: idle ones after the request timeout,
 * slowloris ones at their first byte after it (with civetweb's 400), kept
 * ones after the keep-alive timeout. */
START_TEST(the_server_closes_idle_and_slow_connections)
{
    flood *f = flood_up(false);
    long long opened_at = now_ms();
    const long long deadline = opened_at + HTTP_REQUEST_TIMEOUT_MS + 3000;
    flood_stats st;
    do {
        sleep_ms(100);
        flood_snapshot(f, &st);
    } while ((st.k[FLOOD_IDLE].closed < N_IDLE || st.k[FLOOD_SLOW].closed < N_SLOW ||
              st.k[FLOOD_KEPT].closed < N_KEPT) &&
             now_ms() < deadline);
    flood_stop(f, &st);
    const flood_kind_stats *idle = &st.k[FLOOD_IDLE], *slow = &st.k[FLOOD_SLOW],
                           *kept = &st.k[FLOOD_KEPT];
    ck_assert_int_eq(idle->closed, N_IDLE);
    ck_assert_int_eq(slow->closed, N_SLOW);
    ck_assert_int_eq(kept->closed, N_KEPT);
    ck_assert_int_eq(idle->answered, 0);      /* closed without a word */
    ck_assert_int_eq(slow->answered, N_SLOW); /* a 400 first */
    ck_assert_int_eq(kept->answered, N_KEPT);
    ck_assert_int_ge(idle->life_min_ms, HTTP_REQUEST_TIMEOUT_MS - EARLY_SLACK_MS);
    ck_assert_int_le(idle->life_max_ms, HTTP_REQUEST_TIMEOUT_MS + 1000);
    /* The total header time is bounded, not the pause between two bytes:
     * the slowloris is cut at its first byte after the timeout. */
    ck_assert_int_ge(slow->life_min_ms, HTTP_REQUEST_TIMEOUT_MS - EARLY_SLACK_MS);
    ck_assert_int_le(slow->life_max_ms, HTTP_REQUEST_TIMEOUT_MS + 1000 + 1000);
    ck_assert_int_ge(slow->bytes_sent, (long)N_SLOW * (HTTP_REQUEST_TIMEOUT_MS / 1000));
    ck_assert_int_ge(kept->life_min_ms, HTTP_KEEP_ALIVE_TIMEOUT_MS - EARLY_SLACK_MS);
    ck_assert_int_le(kept->life_max_ms, HTTP_KEEP_ALIVE_TIMEOUT_MS + 1000);
    /* Every worker is free again (the /metrics request itself holds one). */
    ck_assert_int_eq(gateway_connections(), 1);
}
END_TEST

Suite *it_flood_suite(void)
{
    Suite *s = suite_create("it_flood");
    TCase *tc = tcase_create("flood");
    tcase_add_unchecked_fixture(tc, up, down);
    tcase_set_timeout(tc, 30);
    tcase_add_test(tc, legit_requests_are_served_during_the_flood);
    tcase_add_test(tc, the_server_closes_idle_and_slow_connections);
    suite_add_tcase(s, tc);
    return s;
}
