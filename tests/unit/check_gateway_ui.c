/* The gateway's own GET routes (the console, /docs, their assets and
 * /api/openapi.yaml): every route's file is embedded in the binary and
 * every embedded file is served, with the content type, cache policy and
 * Content-Security-Policy its kind needs; the pages name no other host and
 * never build HTML from strings. */
#include <string.h>

#include <check.h>

#include "../../api-gateway/gateway_ui.h"
#include "../../api-gateway/routes.h"
#include "http_server.h"

static bool ends_with(const char *s, const char *suffix)
{
    size_t n = strlen(s), m = strlen(suffix);
    return n >= m && strcmp(s + n - m, suffix) == 0;
}

/* The content type a file of that name must be served with. */
static const char *type_for(const char *file)
{
    if (ends_with(file, ".html"))
        return "text/html; charset=utf-8";
    if (ends_with(file, ".css"))
        return "text/css";
    if (ends_with(file, ".js"))
        return "application/javascript";
    if (ends_with(file, ".yaml"))
        return "application/yaml";
    return "?";
}

/* True when the len bytes at data contain needle. */
static bool contains(const unsigned char *data, size_t len, const char *needle)
{
    size_t m = strlen(needle);
    for (size_t i = 0; i + m <= len; i++)
        if (memcmp(data + i, needle, m) == 0)
            return true;
    return false;
}

START_TEST(test_every_ui_route_serves_an_embedded_file)
{
    size_t n_ui = 0;
    for (size_t i = 0; i < gateway_n_routes; i++) {
        const http_route *r = &gateway_routes[i];
        if (!gateway_route_is_ui(r))
            continue;
        n_ui++;
        const gateway_ui_spec *spec = r->data;
        const gateway_ui_file *f = gateway_ui_find(spec->file);
        ck_assert_msg(f != NULL, "%s: %s is not embedded", r->pattern, spec->file);
        ck_assert_msg(f->len > 0, "%s is empty", spec->file);
        ck_assert_int_eq(f->data[f->len], '\0');
        ck_assert_str_eq(r->method, "GET");
        ck_assert_str_eq(spec->content_type, type_for(spec->file));
        bool page = ends_with(spec->file, ".html");
        if (page || ends_with(spec->file, ".yaml"))
            ck_assert_str_eq(spec->cache_control, "no-cache");
        else
            ck_assert_msg(strncmp(spec->cache_control, "public, max-age=", 16) == 0, "%s: %s",
                          spec->file, spec->cache_control);
        /* Every page is kept to this host. */
        ck_assert_msg(!page || (spec->csp != NULL && strstr(spec->csp, "default-src 'none'") &&
                                strstr(spec->csp, "http") == NULL),
                      "%s: Content-Security-Policy %s", spec->file, spec->csp ? spec->csp : "none");
    }
    ck_assert_uint_eq(n_ui, 8);
    ck_assert_uint_eq(n_ui, gateway_n_ui_files);
}
END_TEST

START_TEST(test_every_embedded_file_is_served)
{
    for (size_t f = 0; f < gateway_n_ui_files; f++) {
        bool served = false;
        for (size_t i = 0; i < gateway_n_routes; i++) {
            const http_route *r = &gateway_routes[i];
            if (gateway_route_is_ui(r) &&
                strcmp(((const gateway_ui_spec *)r->data)->file, gateway_ui_files[f].name) == 0)
                served = true;
        }
        ck_assert_msg(served, "%s is embedded but no route serves it", gateway_ui_files[f].name);
    }
}
END_TEST

START_TEST(test_console_and_docs_at_the_root)
{
    int64_t params[HTTP_MAX_PARAMS];
    int n = 0, status = 0;
    char allow[64];
    int idx = http_route_match(gateway_routes, gateway_n_routes, "GET", "/", params, &n, &status,
                               allow, sizeof allow);
    ck_assert_int_ge(idx, 0);
    ck_assert_str_eq(((const gateway_ui_spec *)gateway_routes[idx].data)->file, "index.html");
    idx = http_route_match(gateway_routes, gateway_n_routes, "GET", "/docs", params, &n, &status,
                           allow, sizeof allow);
    ck_assert_int_ge(idx, 0);
    ck_assert_str_eq(((const gateway_ui_spec *)gateway_routes[idx].data)->file, "docs.html");
    /* No listing, no other file: unknown paths stay 404. */
    static const char *const unknown[] = {"/vendor/",    "/vendor",       "/docs/",
                                          "/index.html", "/console.js/x", "/ui/index.html"};
    for (size_t i = 0; i < sizeof unknown / sizeof unknown[0]; i++) {
        ck_assert_int_eq(http_route_match(gateway_routes, gateway_n_routes, "GET", unknown[i],
                                          params, &n, &status, allow, sizeof allow),
                         -1);
        ck_assert_int_eq(status, 404);
    }
}
END_TEST

/* The console's and docs' own files (not the vendored Redoc) name no other
 * host (the SVG namespace is a name, not a request) and put no string into
 * the page as HTML. */
START_TEST(test_pages_are_self_contained_and_build_no_html)
{
    static const char *const own[] = {"index.html", "console.css", "console.js",
                                      "docs.html",  "docs.css",    "docs.js"};
    static const char *const html_sinks[] = {"innerHTML",      "outerHTML", "insertAdjacentHTML",
                                             "document.write", "eval(",     "new Function"};
    for (size_t i = 0; i < sizeof own / sizeof own[0]; i++) {
        const gateway_ui_file *f = gateway_ui_find(own[i]);
        ck_assert_ptr_nonnull(f);
        size_t n_http = 0;
        for (size_t at = 0; at + 4 <= f->len; at++)
            if (memcmp(f->data + at, "http", 4) == 0 &&
                (at + 7 <= f->len &&
                 (memcmp(f->data + at, "http://", 7) == 0 ||
                  (at + 8 <= f->len && memcmp(f->data + at, "https://", 8) == 0))))
                n_http++;
        size_t n_ns = 0;
        for (size_t at = 0; at + 26 <= f->len; at++)
            if (memcmp(f->data + at, "http://www.w3.org/2000/svg", 26) == 0)
                n_ns++;
        ck_assert_msg(n_http == n_ns, "%s names another host", own[i]);
        if (ends_with(own[i], ".js"))
            for (size_t s = 0; s < sizeof html_sinks / sizeof html_sinks[0]; s++)
                ck_assert_msg(!contains(f->data, f->len, html_sinks[s]), "%s uses %s", own[i],
                              html_sinks[s]);
    }
}
END_TEST

Suite *gateway_ui_suite(void)
{
    Suite *s = suite_create("gateway_ui");
    TCase *tc = tcase_create("static");
    tcase_add_test(tc, test_every_ui_route_serves_an_embedded_file);
    tcase_add_test(tc, test_every_embedded_file_is_served);
    tcase_add_test(tc, test_console_and_docs_at_the_root);
    tcase_add_test(tc, test_pages_are_self_contained_and_build_no_html);
    suite_add_tcase(s, tc);
    return s;
}
