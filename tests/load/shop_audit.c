/* shop-audit: reads a shop-load record and the state of every service (the
 * gateway's admin read routes, coupon-service's GET /coupons/{id}, the data
 * platform's GET /orders), checks the invariants of audit_check.h on what the
 * record's fixtures touched, prints one line per invariant with its count of
 * violations, and exits non-zero on any. Usage: --help. */
#include <errno.h>
#include <getopt.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include <curl/curl.h>

#include "audit_check.h"
#include "audit_model.h"
#include "load_http.h"
#include "load_record.h"

#define PAGE_LIMIT 500

typedef struct audit_opts {
    const char *record_path;
    char url[256], coupon_url[256], dp_url[256];
    const char *url_arg, *coupon_arg, *dp_arg;
    int wait_s;
} audit_opts;

typedef struct fetcher {
    load_http *http;
    char admin_header[300];
    char internal_header[300];
    const audit_opts *opt;
    char error[2048];
} fetcher;

/* Parses one listed element into the state; false with err on a bad shape. */
typedef bool (*element_fn)(audit_state *s, const cJSON *e, char *err, size_t errlen);

static bool add_order(audit_state *s, const cJSON *e, char *err, size_t errlen)
{
    audit_order o;
    if (!audit_parse_order(e, &o, err, errlen))
        return false;
    audit_order *slot = AUDIT_PUSH(s->orders);
    if (slot == NULL) {
        free(o.lines);
        snprintf(err, errlen, "out of memory");
        return false;
    }
    *slot = o;
    return true;
}

#define ADD_FN(fn, vec, type, parse)                                           \
    static bool fn(audit_state *s, const cJSON *e, char *err, size_t errlen)   \
    {                                                                          \
        type x;                                                                \
        if (!parse(e, &x, err, errlen))                                        \
            return false;                                                      \
        type *slot = AUDIT_PUSH(s->vec);                                       \
        if (slot == NULL) {                                                    \
            snprintf(err, errlen, "out of memory");                            \
            return false;                                                      \
        }                                                                      \
        *slot = x;                                                             \
        return true;                                                           \
    }
ADD_FN(add_payment, payments, audit_payment, audit_parse_payment)
ADD_FN(add_item, items, audit_item, audit_parse_item)
ADD_FN(add_user, users, audit_user, audit_parse_user)
ADD_FN(add_user_coupon, user_coupons, audit_user_coupon, audit_parse_user_coupon)
ADD_FN(add_ledger, ledger, audit_ledger, audit_parse_ledger)
ADD_FN(add_dp_order, dp_orders, audit_dp_order, audit_parse_dp_order)
ADD_FN(add_coupon, coupons, audit_coupon, audit_parse_coupon)
#undef ADD_FN

/* GETs url; on 200 with JSON returns true with *json (caller deletes). */
static bool get_json(fetcher *f, const char *url, const char *header, cJSON **json)
{
    const char *headers[] = {header, NULL};
    load_resp resp;
    load_http_do(f->http, "GET", url, NULL, headers, &resp);
    if (resp.transport != LOAD_T_OK || resp.status != 200 || resp.json == NULL) {
        snprintf(f->error, sizeof f->error, "GET %s: %s%ld %s", url,
                 resp.transport != LOAD_T_OK ? resp.error : "", resp.status, resp.code);
        load_resp_free(&resp);
        return false;
    }
    *json = resp.json;
    return true;
}

/* Reads every page of a list route ({"<member>":[...],"nextAfterId":n|null})
 * at base+path into s with add. */
static bool fetch_pages(fetcher *f, audit_state *s, const char *base, const char *path,
                        const char *member, const char *header, element_fn add)
{
    int64_t after = 0;
    for (;;) {
        char url[768], err[200];
        cJSON *page = NULL;
        snprintf(url, sizeof url, "%s%s%climit=%d%s", base, path, strchr(path, '?') ? '&' : '?',
                 PAGE_LIMIT, "");
        if (after > 0) {
            size_t n = strlen(url);
            snprintf(url + n, sizeof url - n, "&afterId=%" PRId64, after);
        }
        if (!get_json(f, url, header, &page))
            return false;
        const cJSON *items = cJSON_GetObjectItemCaseSensitive(page, member);
        const cJSON *e;
        bool ok = cJSON_IsArray(items);
        if (!ok)
            snprintf(f->error, sizeof f->error, "GET %s: no \"%s\" array", url, member);
        cJSON_ArrayForEach(e, items)
        {
            if (ok && !add(s, e, err, sizeof err)) {
                snprintf(f->error, sizeof f->error, "GET %s: an element: %s", url, err);
                ok = false;
            }
        }
        int64_t next = 0;
        bool more = ok && load_json_int(page, "nextAfterId", &next);
        if (ok && !more && !cJSON_IsNull(cJSON_GetObjectItemCaseSensitive(page, "nextAfterId"))) {
            snprintf(f->error, sizeof f->error, "GET %s: nextAfterId is neither an integer nor null", url);
            ok = false;
        }
        cJSON_Delete(page);
        if (!ok)
            return false;
        if (!more)
            return true;
        if (next <= after) {
            snprintf(f->error, sizeof f->error, "GET %s: nextAfterId %" PRId64 " does not advance", url, next);
            return false;
        }
        after = next;
    }
}

static bool fetch_items(fetcher *f, audit_state *s)
{
    char url[512], err[200];
    cJSON *list = NULL;
    snprintf(url, sizeof url, "%s/api/items", f->opt->url);
    if (!get_json(f, url, NULL, &list))
        return false;
    const cJSON *items = cJSON_GetObjectItemCaseSensitive(list, "items"), *e;
    bool ok = cJSON_IsArray(items);
    cJSON_ArrayForEach(e, items)
    {
        if (ok && !add_item(s, e, err, sizeof err)) {
            snprintf(f->error, sizeof f->error, "GET %s: %s", url, err);
            ok = false;
        }
    }
    cJSON_Delete(list);
    return ok;
}

static bool fetch_fixture_coupons_and_ledgers(fetcher *f, audit_state *s)
{
    char url[512], path[128], err[200];
    for (size_t i = 0; i < s->record.n; i++) {
        const load_rec *r = &s->record.v[i];
        if (r->kind == LOAD_REC_COUPON) {
            cJSON *c = NULL;
            snprintf(url, sizeof url, "%s/coupons/%" PRId64, f->opt->coupon_url, r->id);
            if (!get_json(f, url, f->internal_header, &c))
                return false;
            bool ok = add_coupon(s, c, err, sizeof err);
            if (!ok)
                snprintf(f->error, sizeof f->error, "GET %s: %s", url, err);
            cJSON_Delete(c);
            if (!ok)
                return false;
        } else if (r->kind == LOAD_REC_USER) {
            snprintf(path, sizeof path, "/api/admin/users/%" PRId64 "/ledger", r->id);
            if (!fetch_pages(f, s, f->opt->url, path, "items", f->admin_header, add_ledger))
                return false;
        }
    }
    return true;
}

/* Reads everything the checks need. Returns false with f->error. */
static bool fetch_state(fetcher *f, audit_state *s)
{
    const char *gw = f->opt->url, *adm = f->admin_header;
    return fetch_items(f, s) && fetch_pages(f, s, gw, "/api/admin/users", "items", adm, add_user) &&
           fetch_pages(f, s, gw, "/api/admin/user-coupons", "items", adm, add_user_coupon) &&
           fetch_pages(f, s, gw, "/api/admin/orders", "items", adm, add_order) &&
           fetch_pages(f, s, gw, "/api/admin/payments", "items", adm, add_payment) &&
           fetch_fixture_coupons_and_ledgers(f, s) &&
           fetch_pages(f, s, f->opt->dp_url, "/orders", "orders", NULL, add_dp_order);
}

static int read_record(const char *path, audit_state *s)
{
    FILE *in = fopen(path, "r");
    char *line = NULL;
    size_t cap = 0;
    int lineno = 0, status = 0;
    if (in == NULL) {
        fprintf(stderr, "shop-audit: cannot read %s: %s\n", path, strerror(errno));
        return 2;
    }
    while (getline(&line, &cap, in) > 0) {
        char err[160];
        lineno++;
        if (line[strspn(line, " \t\r\n")] == '\0')
            continue;
        load_rec *r = AUDIT_PUSH(s->record);
        if (r == NULL || !load_record_parse(line, r, err, sizeof err)) {
            fprintf(stderr, "shop-audit: %s:%d: %s\n", path, lineno, r == NULL ? "out of memory" : err);
            status = 2;
            break;
        }
    }
    free(line);
    fclose(in);
    return status;
}

static void usage(FILE *f)
{
    fprintf(f,
            "usage: shop-audit --record FILE [--url GATEWAY] [--coupon-url URL]\n"
            "                  [--data-platform-url URL] [--wait SECONDS]\n"
            "  --url URL                the gateway (default: the record's, else http://127.0.0.1:8080)\n"
            "  --coupon-url URL         coupon-service (default $COUPON_URL, else gateway port + 3)\n"
            "  --data-platform-url URL  data platform (default $DATA_PLATFORM_URL, else gateway port + 6)\n"
            "  --wait SECONDS           first wait up to this long for the fixtures' orders and\n"
            "                           payments to settle (no PENDING, no CANCELLING, outbox\n"
            "                           delivered, twice in a row); default 0: one read, judged\n"
            "                           as it is (only sound on a stack at rest)\n"
            "env: SHOP_ADMIN_TOKEN (dev-admin-token), SHOP_INTERNAL_TOKEN (dev-internal-token)\n"
            "exit: 0 no violation, 1 violations, 2 usage or the state could not be read\n");
}

/* url with its port replaced by port + delta ("http://127.0.0.1:8080" + 3). */
static bool url_plus(const char *url, int delta, char *out, size_t outlen)
{
    int port = load_url_port(url);
    const char *colon = strrchr(url, ':');
    if (port < 0 || colon == NULL || colon < url + 7)
        return false;
    snprintf(out, outlen, "%.*s:%d", (int)(colon - url), url, port + delta);
    return true;
}

static bool resolve_urls(audit_opts *o, const audit_state *s)
{
    const char *gw = o->url_arg;
    for (size_t i = 0; gw == NULL && i < s->record.n; i++)
        if (s->record.v[i].kind == LOAD_REC_META)
            gw = s->record.v[i].url;
    snprintf(o->url, sizeof o->url, "%s", gw != NULL ? gw : "http://127.0.0.1:8080");
    const char *c = o->coupon_arg ? o->coupon_arg : getenv("COUPON_URL");
    const char *d = o->dp_arg ? o->dp_arg : getenv("DATA_PLATFORM_URL");
    if (c != NULL && c[0] != '\0')
        snprintf(o->coupon_url, sizeof o->coupon_url, "%s", c);
    else if (!url_plus(o->url, 3, o->coupon_url, sizeof o->coupon_url))
        return false;
    if (d != NULL && d[0] != '\0')
        snprintf(o->dp_url, sizeof o->dp_url, "%s", d);
    else if (!url_plus(o->url, 6, o->dp_url, sizeof o->dp_url))
        return false;
    return load_url_is_loopback(o->url) && load_url_is_loopback(o->coupon_url) &&
           load_url_is_loopback(o->dp_url);
}

static int parse_options(int argc, char **argv, audit_opts *o)
{
    static const struct option longs[] = {
        {"record", required_argument, NULL, 'r'},
        {"url", required_argument, NULL, 'u'},
        {"coupon-url", required_argument, NULL, 'c'},
        {"data-platform-url", required_argument, NULL, 'd'},
        {"wait", required_argument, NULL, 'w'},
        {"help", no_argument, NULL, 'h'},
        {NULL, 0, NULL, 0},
    };
    memset(o, 0, sizeof *o);
    int ch;
    while ((ch = getopt_long(argc, argv, "", longs, NULL)) != -1) {
        char *end;
        long v;
        switch (ch) {
        case 'r': o->record_path = optarg; break;
        case 'u': o->url_arg = optarg; break;
        case 'c': o->coupon_arg = optarg; break;
        case 'd': o->dp_arg = optarg; break;
        case 'w':
            errno = 0;
            v = strtol(optarg, &end, 10);
            if (errno != 0 || *end != '\0' || end == optarg || v < 0 || v > 3600) {
                usage(stderr);
                return 2;
            }
            o->wait_s = (int)v;
            break;
        case 'h': usage(stdout); exit(0);
        default: usage(stderr); return 2;
        }
    }
    if (o->record_path == NULL || optind != argc) {
        usage(stderr);
        return 2;
    }
    return 0;
}

/* Fetches until the fixtures' sagas have settled or wait_s ran out; the
 * state holds the last fetch. A fetch is not one snapshot (the lists are
 * read one after another), so a saga that finished while it was read can
 * look torn: settled means two fetches in a row without anything in flight,
 * and the second one is judged. Returns false when a fetch failed. */
static bool fetch_settled(fetcher *f, audit_state *s, int wait_s)
{
    int64_t deadline = load_now_us() + (int64_t)wait_s * 1000000;
    int64_t started = load_now_us();
    int quiet_fetches = 0;
    for (;;) {
        audit_unsettled u;
        audit_state_clear_services(s);
        if (!fetch_state(f, s))
            return false;
        audit_find_unsettled(s, &u);
        bool quiet = u.pending_orders == 0 && u.cancelling_orders == 0 && u.pending_payments == 0 &&
                     u.undelivered_payments == 0;
        quiet_fetches = quiet ? quiet_fetches + 1 : 0;
        if (quiet_fetches >= 2 || wait_s == 0 || load_now_us() >= deadline) {
            printf("settled: %s after %.1f s (%" PRId64 " PENDING orders, %" PRId64 " CANCELLING, %" PRId64
                   " PENDING payments, %" PRId64 " COMPLETED not yet delivered)\n",
                   quiet_fetches >= 2 ? "yes" : wait_s == 0 ? "not waited for" : "NO",
                   (double)(load_now_us() - started) / 1e6, u.pending_orders, u.cancelling_orders,
                   u.pending_payments, u.undelivered_payments);
            return true;
        }
        if (!quiet) {
            struct timespec ts = {.tv_sec = 1};
            nanosleep(&ts, NULL);
        }
    }
}

static void print_counts(const audit_state *s)
{
    int64_t items = 0, users = 0, coupons = 0, acks = 0;
    for (size_t i = 0; i < s->record.n; i++) {
        load_rec_kind k = s->record.v[i].kind;
        items += k == LOAD_REC_ITEM;
        users += k == LOAD_REC_USER;
        coupons += k == LOAD_REC_COUPON;
        acks += k >= LOAD_REC_ORDER;
    }
    printf("record: %" PRId64 " items, %" PRId64 " users, %" PRId64 " coupons, %" PRId64
           " acknowledged writes\n",
           items, users, coupons, acks);
    printf("state: %zu orders, %zu payments, %zu users, %zu user coupons, %zu ledger entries of the"
           " fixtures' users, %zu items, %zu data-platform orders\n",
           s->orders.n, s->payments.n, s->users.n, s->user_coupons.n, s->ledger.n, s->items.n,
           s->dp_orders.n);
}

int main(int argc, char **argv)
{
    audit_opts opt;
    audit_state state = {0};
    fetcher f = {.opt = &opt};
    audit_report *report = NULL;
    int status = parse_options(argc, argv, &opt);
    if (status != 0)
        return status;
    if ((status = read_record(opt.record_path, &state)) != 0)
        goto out;
    status = 2;
    if (!resolve_urls(&opt, &state)) {
        fprintf(stderr, "shop-audit: the URLs must be loopback http://host:port URLs\n");
        goto out;
    }
    curl_global_init(CURL_GLOBAL_ALL);
    const char *admin = getenv("SHOP_ADMIN_TOKEN"), *internal = getenv("SHOP_INTERNAL_TOKEN");
    snprintf(f.admin_header, sizeof f.admin_header, "X-Admin-Token: %s",
             admin != NULL && admin[0] ? admin : "dev-admin-token");
    snprintf(f.internal_header, sizeof f.internal_header, "X-Internal-Token: %s",
             internal != NULL && internal[0] ? internal : "dev-internal-token");
    f.http = load_http_new(1000, 60000);
    report = calloc(1, sizeof *report);
    if (f.http == NULL || report == NULL)
        goto out_curl;
    printf("shop-audit: %s against %s (coupons %s, data platform %s)\n", opt.record_path, opt.url,
           opt.coupon_url, opt.dp_url);
    if (!fetch_settled(&f, &state, opt.wait_s)) {
        fprintf(stderr, "shop-audit: %s\n", f.error);
        goto out_curl;
    }
    print_counts(&state);
    if (audit_check_all(&state, report) < 0) {
        fprintf(stderr, "shop-audit: out of memory\n");
        goto out_curl;
    }
    printf("violations  invariant\n");
    audit_report_print(report, stdout);
    status = report->total == 0 ? 0 : 1;
    printf("shop-audit: %s\n", status == 0 ? "PASS" : "FAIL");
out_curl:
    load_http_free(f.http);
    curl_global_cleanup();
out:
    free(report);
    audit_state_release(&state);
    return status;
}
