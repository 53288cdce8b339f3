/* Metrics: exact counts under contention, histogram buckets, the text format,
 * and the server counting requests by route pattern. */
#include <check.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "harness.h"
#include "http_server.h"
#include "metrics.h"

static void *bump(void *arg)
{
    const char *labels = arg;
    for (int i = 0; i < 20000; i++)
        metrics_count("t_hits_total", labels, 1);
    return NULL;
}

START_TEST(counts_are_exact_under_contention)
{
    pthread_t t[8];
    char *labels[8];
    for (int i = 0; i < 8; i++) {
        labels[i] = strdup(i % 2 ? "kind=\"odd\"" : "kind=\"even\"");
        pthread_create(&t[i], NULL, bump, labels[i]);
    }
    for (int i = 0; i < 8; i++)
        pthread_join(t[i], NULL);
    ck_assert_int_eq(metrics_value("t_hits_total", "kind=\"odd\""), 80000);
    ck_assert_int_eq(metrics_value("t_hits_total", "kind=\"even\""), 80000);
    ck_assert_int_eq(metrics_value("t_hits_total", "kind=\"none\""), 0);
    for (int i = 0; i < 8; i++)
        free(labels[i]);
}
END_TEST

START_TEST(render_format)
{
    metrics_describe("t_requests_total", METRIC_COUNTER, "Test requests.");
    metrics_describe("t_latency_seconds", METRIC_HISTOGRAM, "Test latency.");
    metrics_count("t_requests_total", "route=\"/a\"", 3);
    metrics_gauge("t_backlog", "", 7);
    metrics_observe("t_latency_seconds", "route=\"/a\"", 0.004);
    metrics_observe("t_latency_seconds", "route=\"/a\"", 0.2);
    metrics_observe("t_latency_seconds", "route=\"/a\"", 30);
    char *text = metrics_render();
    ck_assert_ptr_nonnull(strstr(text, "# HELP t_requests_total Test requests.\n"
                                       "# TYPE t_requests_total counter\n"
                                       "t_requests_total{route=\"/a\"} 3\n"));
    ck_assert_ptr_nonnull(strstr(text, "t_backlog 7\n"));
    ck_assert_ptr_nonnull(strstr(text, "# TYPE t_latency_seconds histogram\n"));
    ck_assert_ptr_nonnull(strstr(text, "t_latency_seconds_bucket{route=\"/a\",le=\"0.0025\"} 0\n"));
    ck_assert_ptr_nonnull(strstr(text, "t_latency_seconds_bucket{route=\"/a\",le=\"0.005\"} 1\n"));
    ck_assert_ptr_nonnull(strstr(text, "t_latency_seconds_bucket{route=\"/a\",le=\"0.25\"} 2\n"));
    ck_assert_ptr_nonnull(strstr(text, "t_latency_seconds_bucket{route=\"/a\",le=\"10\"} 2\n"));
    ck_assert_ptr_nonnull(strstr(text, "t_latency_seconds_bucket{route=\"/a\",le=\"+Inf\"} 3\n"));
    ck_assert_ptr_nonnull(strstr(text, "t_latency_seconds_count{route=\"/a\"} 3\n"));
    ck_assert_ptr_nonnull(strstr(text, "t_latency_seconds_sum{route=\"/a\"} 30.204000\n"));
    ck_assert_ptr_nonnull(strstr(text, "# TYPE process_resident_memory_bytes gauge\n"));
    free(text);
}
END_TEST

static int h_ok(http_req *req)
{
    return http_reply_json(req, 200, cJSON_CreateObject());
}

static const http_route routes[] = {{"GET", "/things/{id}", h_ok, NULL}};

START_TEST(server_counts_by_pattern)
{
    http_server_config cfg = {.service = "t", .bind_addr = "127.0.0.1", .routes = routes,
                              .n_routes = 1, .internal_token = "tok"};
    http_server *srv = http_server_start(&cfg);
    int port = http_server_port(srv);
    const char *tok[] = {"X-Internal-Token: tok", NULL};
    for (int i = 1; i <= 5; i++) {
        char path[32];
        snprintf(path, sizeof path, "/things/%d", i);
        ck_assert_int_eq(harness_req("GET", port, path, NULL, tok, NULL), 200);
    }
    ck_assert_int_eq(harness_req("GET", port, "/secret/1", NULL, tok, NULL), 404);
    hresp r;
    /* /metrics needs no internal token. */
    ck_assert_int_eq(harness_req("GET", port, "/metrics", NULL, NULL, &r), 200);
    ck_assert_ptr_nonnull(strstr(r.content_type, "text/plain"));
    ck_assert_ptr_nonnull(strstr(
        r.body, "shop_http_requests_total{route=\"/things/{id}\",method=\"GET\",status=\"200\"} 5\n"));
    ck_assert_ptr_nonnull(strstr(
        r.body, "shop_http_requests_total{route=\"unmatched\",method=\"GET\",status=\"404\"} 1\n"));
    ck_assert_ptr_null(strstr(r.body, "/things/1"));
    ck_assert_ptr_null(strstr(r.body, "/secret"));
    hresp_free(&r);
    http_server_stop(srv);
}
END_TEST

Suite *metrics_suite(void)
{
    Suite *s = suite_create("metrics");
    TCase *tc = tcase_create("prometheus");
    tcase_set_timeout(tc, 20);
    tcase_add_test(tc, counts_are_exact_under_contention);
    tcase_add_test(tc, render_format);
    tcase_add_test(tc, server_counts_by_pattern);
    suite_add_tcase(s, tc);
    return s;
}
