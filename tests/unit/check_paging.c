/* The paging of the list routes: ?afterId=&limit= read with their defaults
 * and bounds (and the 400 for each), and the page rendered with nextAfterId
 * from the one row more than limit. */
#include <check.h>
#include <stdlib.h>
#include <string.h>

#include "harness.h"
#include "http_server.h"
#include "json.h"
#include "paging.h"

/* ---- paging_query ---------------------------------------------------- */

/* Queries paging_query accepts, with what it reads from them. */
static const struct {
    const char *query; /* NULL: none */
    int64_t limit_max, limit_default;
    int64_t after_id, limit;
} ACCEPTED[] = {
    {NULL, 500, 100, 0, 100},
    {"status=PAID&userId=3", 500, 100, 0, 100},
    {"limit=5&afterId=42", 500, 100, 42, 5},
    {"afterId=999999999999999&limit=500", 500, 100, JSON_INT_MAX, 500},
    {"afterId=0&limit=1", 7, 3, 0, 1},
    {"afterId=9", 7, 3, 9, 3},
};

START_TEST(query_defaults_and_values)
{
    paging pg = {.after_id = -1, .limit = -1};
    http_req req = {.query = ACCEPTED[_i].query};
    ck_assert(paging_query(&req, ACCEPTED[_i].limit_max, ACCEPTED[_i].limit_default, &pg));
    ck_assert_int_eq(pg.after_id, ACCEPTED[_i].after_id);
    ck_assert_int_eq(pg.limit, ACCEPTED[_i].limit);
}
END_TEST

/* GET /page: {"afterId","limit"} of paging_query (limit 1..500, default 100). */
static int h_page(http_req *req)
{
    paging pg;
    if (!paging_query(req, 500, 100, &pg))
        return req->status;
    cJSON *o = cJSON_CreateObject();
    json_add_int(o, "afterId", pg.after_id);
    json_add_int(o, "limit", pg.limit);
    return http_reply_json(req, 200, o);
}

static const http_route routes[] = {{"GET", "/page", h_page, NULL}};

/* GET path; expects 400 INVALID_REQUEST with detail. */
static void expect_400(int port, const char *path, const char *detail)
{
    hresp r;
    ck_assert_int_eq(harness_req("GET", port, path, NULL, NULL, &r), 400);
    ck_assert_str_eq(cJSON_GetObjectItem(r.json, "code")->valuestring, "INVALID_REQUEST");
    ck_assert_str_eq(cJSON_GetObjectItem(r.json, "detail")->valuestring, detail);
    hresp_free(&r);
}

START_TEST(query_refusals)
{
    static const char after[] = "afterId: must be an integer in 0..999999999999999";
    static const char limit[] = "limit: must be an integer in 1..500";
    http_server_config cfg = {.service = "test",
                              .bind_addr = "127.0.0.1",
                              .num_threads = 2,
                              .routes = routes,
                              .n_routes = sizeof routes / sizeof routes[0]};
    http_server *srv = http_server_start(&cfg);
    ck_assert_ptr_nonnull(srv);
    int port = http_server_port(srv);
    hresp r;
    ck_assert_int_eq(harness_req("GET", port, "/page?afterId=3&limit=2", NULL, NULL, &r), 200);
    ck_assert_str_eq(r.body, "{\"afterId\":3,\"limit\":2}");
    hresp_free(&r);
    expect_400(port, "/page?afterId=-1", after);
    expect_400(port, "/page?afterId=1000000000000000", after);
    expect_400(port, "/page?afterId=abc", after);
    expect_400(port, "/page?afterId=", after);
    expect_400(port, "/page?limit=0", limit);
    expect_400(port, "/page?limit=501", limit);
    expect_400(port, "/page?limit=5x", limit);
    /* Both wrong: afterId is named first. */
    expect_400(port, "/page?limit=0&afterId=-1", after);
    http_server_stop(srv);
}
END_TEST

/* ---- paging_render --------------------------------------------------- */

typedef struct row {
    int64_t id;
    const char *name; /* NULL: its rendering fails (out of memory) */
} row;

static cJSON *render_row(const void *p)
{
    const row *r = p;
    if (r->name == NULL)
        return NULL;
    cJSON *o = cJSON_CreateObject();
    cJSON_AddStringToObject(o, r->name, "x");
    return o;
}

static int64_t row_id(const void *p)
{
    return ((const row *)p)->id;
}

static const row ROWS[] = {{3, "a"}, {5, "b"}, {8, "c"}, {13, "d"}};

/* The page of rows[0..n) for limit as compact JSON. */
static void expect_page(const char *name, const row *rows, size_t n, size_t limit, const char *want)
{
    cJSON *page = paging_render(name, rows, sizeof *rows, n, limit, render_row, row_id);
    ck_assert_ptr_nonnull(page);
    char *got = cJSON_PrintUnformatted(page);
    ck_assert_str_eq(got, want);
    free(got);
    cJSON_Delete(page);
}

START_TEST(render_pages)
{
    expect_page("items", ROWS, 0, 2, "{\"items\":[],\"nextAfterId\":null}");
    expect_page("items", ROWS, 1, 2, "{\"items\":[{\"a\":\"x\"}],\"nextAfterId\":null}");
    /* Exactly limit read: the last page. */
    expect_page("items", ROWS, 2, 2,
                "{\"items\":[{\"a\":\"x\"},{\"b\":\"x\"}],\"nextAfterId\":null}");
    /* One more than limit: a next page, after the last row shown. */
    expect_page("items", ROWS, 3, 2, "{\"items\":[{\"a\":\"x\"},{\"b\":\"x\"}],\"nextAfterId\":5}");
    expect_page("orders", ROWS, 2, 1, "{\"orders\":[{\"a\":\"x\"}],\"nextAfterId\":3}");
    expect_page("orders", ROWS + 1, 3, 2,
                "{\"orders\":[{\"b\":\"x\"},{\"c\":\"x\"}],\"nextAfterId\":8}");
}
END_TEST

START_TEST(render_fails_whole)
{
    const row rows[] = {{1, "a"}, {2, NULL}, {3, "c"}};
    ck_assert_ptr_null(paging_render("items", rows, sizeof *rows, 3, 3, render_row, row_id));
    /* A failing row past the page is never rendered. */
    cJSON *page = paging_render("items", rows, sizeof *rows, 2, 1, render_row, row_id);
    ck_assert_ptr_nonnull(page);
    cJSON_Delete(page);
}
END_TEST

Suite *paging_suite(void)
{
    Suite *s = suite_create("paging");
    TCase *tc = tcase_create("paging");
    tcase_add_loop_test(tc, query_defaults_and_values, 0,
                        (int)(sizeof ACCEPTED / sizeof ACCEPTED[0]));
    tcase_add_test(tc, query_refusals);
    tcase_add_test(tc, render_pages);
    tcase_add_test(tc, render_fails_whole);
    suite_add_tcase(s, tc);
    return s;
}
