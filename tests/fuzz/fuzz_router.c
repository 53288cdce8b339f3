/* Fuzzes the router, http_route_match (common/http_server.h), on every
 * program's real route table with any method and raw path: its answer is
 * compared with a reference matcher written apart from it, a match must
 * rebuild the path exactly from the pattern and the ids, and a gateway route
 * must map onto a path its upstream's router sends to that very route. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "../../api-gateway/routes.h"
#include "../../services/coupon/routes.h"
#include "../../services/data-platform/routes.h"
#include "../../services/item/routes.h"
#include "../../services/order/routes.h"
#include "../../services/payment/routes.h"
#include "../../services/user/routes.h"
#include "fuzz_support.h"
#include "../../api-gateway/gateway_logic.h"
#include "http_server.h"

typedef struct table {
    const char *name;
    const http_route *routes;
    const size_t *n;
} table;

static const table tables[] = {
    {"item", item_routes, &item_n_routes},
    {"user", user_routes, &user_n_routes},
    {"coupon", coupon_routes, &coupon_n_routes},
    {"order", order_routes, &order_n_routes},
    {"payment", payment_routes, &payment_n_routes},
    {"data-platform", dataplatform_routes, &dataplatform_n_routes},
    {"gateway", gateway_routes, &gateway_n_routes},
};
#define N_TABLES (sizeof tables / sizeof tables[0])
#define GATEWAY_TABLE 6

static const table *upstream_table(gateway_upstream u)
{
    switch (u) {
    case GATEWAY_ITEM: return &tables[0];
    case GATEWAY_USER: return &tables[1];
    case GATEWAY_COUPON: return &tables[2];
    case GATEWAY_ORDER: return &tables[3];
    case GATEWAY_PAYMENT: return &tables[4];
    default: return NULL;
    }
}

/* ---- the reference matcher ---- */

typedef enum { REF_NO, REF_YES, REF_BAD } ref_match;

/* An id segment: 1..15 digits, no leading zero (so at most 999..9). */
static bool ref_id(const char *s, size_t len, int64_t *out)
{
    if (len < 1 || len > 15 || s[0] < '1' || s[0] > '9')
        return false;
    int64_t v = 0;
    for (size_t i = 0; i < len; i++) {
        if (s[i] < '0' || s[i] > '9')
            return false;
        v = v * 10 + (s[i] - '0');
    }
    *out = v;
    return true;
}

/* Splits "/a/b" into segments (pointers into s, lengths); -1 when s does not
 * start with '/' or has too many. */
static int segments(const char *s, const char **seg, size_t *len, int max)
{
    int n = 0;
    if (s[0] != '/')
        return -1;
    while (*s == '/') {
        if (n == max)
            return -1;
        s++;
        seg[n] = s;
        len[n] = strcspn(s, "/");
        s += len[n];
        n++;
    }
    return n;
}

#define MAX_SEGS 512

static ref_match ref_match_path(const char *pattern, const char *path, int64_t *params, int *n)
{
    const char *ps[32], *ss[MAX_SEGS];
    size_t pl[32], sl[MAX_SEGS];
    int np = segments(pattern, ps, pl, 32), ns = segments(path, ss, sl, MAX_SEGS);
    bool bad = false;
    *n = 0;
    if (np < 0 || ns < 0 || np != ns)
        return REF_NO;
    for (int i = 0; i < np; i++) {
        bool param = pl[i] >= 2 && ps[i][0] == '{' && ps[i][pl[i] - 1] == '}';
        if (param) {
            if (sl[i] == 0)
                return REF_NO;
            int64_t v = 0;
            if (*n >= HTTP_MAX_PARAMS || !ref_id(ss[i], sl[i], &v))
                bad = true;
            else
                params[*n] = v;
            (*n)++;
        } else if (pl[i] != sl[i] || memcmp(ps[i], ss[i], pl[i]) != 0) {
            return REF_NO;
        }
    }
    return bad ? REF_BAD : REF_YES;
}

/* The reference answer: index of the route, or -1 with the status. */
static int ref_route(const http_route *routes, size_t n, const char *method, const char *path,
                     int *status)
{
    bool known = false, bad = false;
    for (size_t i = 0; i < n; i++) {
        int64_t params[HTTP_MAX_PARAMS];
        int np;
        ref_match m = ref_match_path(routes[i].pattern, path, params, &np);
        if (m == REF_NO)
            continue;
        known = true;
        if (strcmp(routes[i].method, method) != 0)
            continue;
        if (m == REF_BAD) {
            bad = true;
            continue;
        }
        return (int)i;
    }
    *status = bad ? 400 : known ? 405 : 404;
    return -1;
}

/* Writes pattern with its {..} segments replaced by params into out. */
static bool rebuild(const char *pattern, const int64_t *params, int n, char *out, size_t len)
{
    size_t pos = 0;
    int used = 0;
    for (const char *p = pattern; *p != '\0';) {
        int w;
        if (*p == '{') {
            const char *close = strchr(p, '}');
            if (close == NULL || used == n)
                return false;
            w = snprintf(out + pos, len - pos, "%lld", (long long)params[used++]);
            p = close + 1;
        } else {
            w = snprintf(out + pos, len - pos, "%c", *p);
            p++;
        }
        if (w < 0 || (size_t)w >= len - pos)
            return false;
        pos += (size_t)w;
    }
    return used == n;
}

/* The handler of the gateway's proxied routes (every ROUTE() entry shares
 * it), found through a route that is certainly one. */
static http_handler gateway_proxy_handler(void)
{
    for (size_t i = 0; i < gateway_n_routes; i++)
        if (strcmp(gateway_routes[i].method, "GET") == 0 &&
            strcmp(gateway_routes[i].pattern, "/api/items") == 0)
            return gateway_routes[i].handler;
    return NULL;
}

/* A matched gateway route: its upstream path goes to the same route there. */
static void check_upstream(const http_route *r, const int64_t *params, int n_params)
{
    http_handler proxy = gateway_proxy_handler();
    if (proxy == NULL || r->handler != proxy || r->data == NULL)
        return;
    const gateway_route_spec *spec = r->data;
    const table *up = upstream_table(spec->upstream);
    FUZZ_CHECK(up != NULL, "gateway %s %s: upstream %d unknown", r->method, r->pattern,
               (int)spec->upstream);
    int64_t cancel_param[1] = {params[0] > 0 && n_params > 0 ? params[0] : 12};
    const int64_t *use = spec->cancel ? cancel_param : params;
    int n_use = spec->cancel ? 1 : n_params;
    char path[GATEWAY_PATH_MAX];
    FUZZ_CHECK(gateway_build_path(spec->path, use, n_use, NULL, path, sizeof path),
               "gateway %s %s: cannot build %s", r->method, r->pattern, spec->path);
    int64_t up_params[HTTP_MAX_PARAMS];
    int up_n = 0, status = 0;
    char allow[128];
    int idx = http_route_match(up->routes, *up->n, spec->method, path, up_params, &up_n, &status,
                               allow, sizeof allow);
    FUZZ_CHECK(idx >= 0 && strcmp(up->routes[idx].pattern, spec->path) == 0 &&
                   strcmp(up->routes[idx].method, spec->method) == 0 && up_n == n_use &&
                   memcmp(up_params, use, (size_t)n_use * sizeof use[0]) == 0,
               "gateway %s %s maps to %s %s, which %s-service routes to %s (status %d)",
               r->method, r->pattern, spec->method, path, up->name,
               idx >= 0 ? up->routes[idx].pattern : "nothing", status);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    fuzz_in in = {data, size};
    const table *t = &tables[fuzz_u8(&in) % N_TABLES];
    char *method = fuzz_str(&in, 16, NULL);
    char *path = fuzz_str(&in, 4096, NULL);
    int64_t params[HTTP_MAX_PARAMS];
    int n_params = -1, status = 0;
    char allow[128];
    memset(allow, 'X', sizeof allow);
    int idx = http_route_match(t->routes, *t->n, method, path, params, &n_params, &status, allow,
                               sizeof allow);
    int ref_status = 0;
    int ref = ref_route(t->routes, *t->n, method, path, &ref_status);
    FUZZ_CHECK(idx == ref, "%s: %s %s routed to %d, reference %d", t->name, method, path, idx, ref);
    FUZZ_CHECK(memchr(allow, 0, sizeof allow) != NULL, "Allow not terminated");
    if (idx >= 0) {
        const http_route *r = &t->routes[idx];
        char again[4200];
        FUZZ_CHECK(n_params >= 0 && n_params <= HTTP_MAX_PARAMS, "n_params %d", n_params);
        for (int i = 0; i < n_params; i++)
            FUZZ_CHECK(params[i] >= 1 && params[i] <= JSON_INT_MAX, "param %lld",
                       (long long)params[i]);
        FUZZ_CHECK(rebuild(r->pattern, params, n_params, again, sizeof again) &&
                       strcmp(again, path) == 0,
                   "%s: %s %s matched %s but rebuilds as %s", t->name, method, path, r->pattern,
                   again);
        if (t == &tables[GATEWAY_TABLE])
            check_upstream(r, params, n_params);
    } else {
        FUZZ_CHECK(status == ref_status, "%s: %s %s status %d, reference %d", t->name, method,
                   path, status, ref_status);
        if (status == 405) {
            /* Allow lists methods of routes whose pattern matches the path,
             * and not the one asked for. */
            FUZZ_CHECK(allow[0] != '\0', "405 with an empty Allow");
            char *copy = strdup(allow), *save = NULL;
            for (char *m = strtok_r(copy, ", ", &save); m != NULL; m = strtok_r(NULL, ", ", &save)) {
                bool found = false;
                FUZZ_CHECK(strcmp(m, method) != 0, "Allow names the refused method %s", m);
                for (size_t i = 0; i < *t->n && !found; i++) {
                    int64_t p[HTTP_MAX_PARAMS];
                    int np;
                    found = strcmp(t->routes[i].method, m) == 0 &&
                            ref_match_path(t->routes[i].pattern, path, p, &np) != REF_NO;
                }
                FUZZ_CHECK(found, "Allow names %s, no route of which matches %s", m, path);
            }
            free(copy);
        }
    }
    free(method);
    free(path);
    return 0;
}
