/* Black-box HTTP fuzzer for a running Shop stack (all seven programs on
 * 127.0.0.1, ports base+0..6): malformed requests over raw TCP sockets
 * (wrong and unknown methods, huge and repeated headers, bad and truncated
 * Content-Length, chunked bodies cut short, invalid UTF-8, deep and enormous
 * JSON, numbers at every edge, path traversal and encoded slashes, bodies on
 * GET, pipelining, garbage), each with a short socket timeout, and a strict
 * check of every reply (status line, headers, Content-Length matching the
 * body, problem+json for errors). Requests are built so that none may change
 * stock, balances or coupons: a route that creates always gets one invalid
 * member, and ids on routes that move stock or money name nothing that
 * exists. `snapshot` prints the state those totals come from, for a diff.
 *
 *   http_fuzz run BASE [-n REQUESTS] [-t THREADS] [-s MAX_SECONDS] [-r SEED] [-d DUMP_DIR]
 *   http_fuzz snapshot BASE
 *
 * Exits 0 when every check passed, 1 otherwise (failures printed, and the
 * request and reply of each written to DUMP_DIR). */
#include <arpa/inet.h>
#include <errno.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <pthread.h>
#include <stdarg.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/time.h>
#include <time.h>
#include <unistd.h>

#include <cjson/cJSON.h>

#include "json.h"

#define N_PROGS 7
#define MAX_REQ (200 * 1024)
#define MAX_REPLY (1024 * 1024)
#define NONE_ID "999999999999999"

typedef struct prog {
    const char *name;
    int offset;
} prog;

static const prog progs[N_PROGS] = {
    {"gateway", 0}, {"item", 1},    {"user", 2},          {"coupon", 3},
    {"order", 4},   {"payment", 5}, {"data-platform", 6},
};

static int port_base;
/* Nesting depth of the deep-JSON bodies: far beyond JSON_MAX_DEPTH, which
 * the services refuse before cJSON recurses (deeper than about 800 levels
 * once overflowed the 100 KiB stacks of civetweb's workers). */
static size_t max_depth = 20000;
static bool strict;
static const char *internal_token = "dev-internal-token";
static const char *admin_token = "dev-admin-token";

/* ------------------------------------------------------------ routes */

/* What a route may do to the state, and so how its requests are built. */
typedef enum route_kind {
    R_READ,   /* changes nothing: any values */
    R_SAFE,   /* changes nothing as long as FIXED slots keep naming nothing */
    R_CREATE, /* creates (or sets faults): always one invalid member */
} route_kind;

/* A slot of a body template: a JSON value put at $0..$9. */
typedef enum slot_kind {
    S_INT,   /* any integer edge may go here */
    S_FIXED, /* an id that must keep naming nothing: only invalid values */
    S_STR,   /* a string */
} slot_kind;

typedef struct slot {
    slot_kind kind;
    const char *normal; /* the usual value, JSON text */
} slot;

typedef struct route {
    int prog;
    const char *method;
    const char *path; /* with {id} for a path id */
    route_kind kind;
    bool path_fixed;   /* the path id must name nothing (moves stock or money) */
    const char *body;  /* template with $0..$9, or NULL for no body */
    slot slots[6];
    int n_slots;
} route;

#define INT(v) {S_INT, v}
#define FIX(v) {S_FIXED, v}
#define STR(v) {S_STR, v}

static const route routes[] = {
    /* item-service */
    {1, "GET", "/items", R_READ, false, NULL, {{0}}, 0},
    {1, "GET", "/items/{id}", R_READ, false, NULL, {{0}}, 0},
    {1, "POST", "/items", R_CREATE, false, "{\"name\":$0,\"price\":$1,\"stock\":$2}",
     {STR("\"Mouse\""), INT("20000"), INT("100")}, 3},
    {1, "POST", "/stock/check", R_READ, false, "{\"items\":[{\"itemId\":$0,\"quantity\":$1}]}",
     {INT("1"), INT("2")}, 2},
    {1, "POST", "/reservations", R_SAFE, false,
     "{\"orderId\":$0,\"items\":[{\"itemId\":$1,\"quantity\":$2}]}",
     {INT("12"), FIX(NONE_ID), INT("2")}, 3},
    {1, "POST", "/reservations/{id}/restore", R_SAFE, false, NULL, {{0}}, 0},
    {1, "GET", "/reservations/{id}", R_READ, false, NULL, {{0}}, 0},
    /* user-service */
    {2, "POST", "/users", R_CREATE, false, "{\"name\":$0,\"balance\":$1}",
     {STR("\"kim\""), INT("50000")}, 2},
    {2, "GET", "/users", R_READ, false, NULL, {{0}}, 0},
    {2, "GET", "/users/{id}", R_READ, false, NULL, {{0}}, 0},
    {2, "GET", "/users/{id}/balance", R_READ, false, NULL, {{0}}, 0},
    {2, "POST", "/users/{id}/balance/charge", R_SAFE, true, "{\"amount\":$0}", {INT("10000")}, 1},
    {2, "GET", "/users/{id}/ledger", R_READ, false, NULL, {{0}}, 0},
    {2, "POST", "/users/{id}/debits", R_SAFE, true, "{\"ref\":$0,\"amount\":$1}",
     {STR("\"pay-5\""), INT("95000")}, 2},
    {2, "POST", "/users/{id}/debits/void", R_SAFE, true, "{\"ref\":$0}", {STR("\"pay-5\"")}, 1},
    {2, "POST", "/users/{id}/credits", R_SAFE, true, "{\"ref\":$0,\"amount\":$1}",
     {STR("\"refund-5\""), INT("95000")}, 2},
    /* coupon-service */
    {3, "POST", "/coupons", R_CREATE, false,
     "{\"name\":$0,\"discountType\":$1,\"discountValue\":$2,\"totalQuantity\":$3,\"expiresAt\":$4}",
     {STR("\"10% off\""), STR("\"PERCENT\""), INT("10"), INT("100"),
      STR("\"2027-01-01T00:00:00Z\"")},
     5},
    {3, "GET", "/coupons/{id}", R_READ, false, NULL, {{0}}, 0},
    {3, "POST", "/coupons/{id}/issue", R_SAFE, true, "{\"userId\":$0}", {INT("1")}, 1},
    {3, "GET", "/users/{id}/coupons", R_READ, false, NULL, {{0}}, 0},
    {3, "GET", "/user-coupons", R_READ, false, NULL, {{0}}, 0},
    {3, "POST", "/user-coupons/{id}/validate", R_READ, false,
     "{\"userId\":$0,\"totalAmount\":$1}", {INT("1"), INT("100000")}, 2},
    {3, "POST", "/user-coupons/{id}/use", R_SAFE, true,
     "{\"orderId\":$0,\"userId\":$1,\"totalAmount\":$2}", {INT("12"), INT("1"), INT("100000")}, 3},
    {3, "POST", "/coupon-uses/{id}/restore", R_SAFE, false, NULL, {{0}}, 0},
    /* order-service (a fresh stack has no orders: cancel and pay find none) */
    {4, "POST", "/orders", R_CREATE, false,
     "{\"userId\":$0,\"items\":[{\"itemId\":$1,\"quantity\":$2}],\"userCouponId\":$3}",
     {INT("1"), INT("1"), INT("2"), INT("null")}, 4},
    {4, "GET", "/orders", R_READ, false, NULL, {{0}}, 0},
    {4, "GET", "/orders/{id}", R_READ, false, NULL, {{0}}, 0},
    {4, "POST", "/orders/{id}/cancel", R_SAFE, false, "{\"userId\":$0}", {INT("1")}, 1},
    {4, "POST", "/orders/{id}/pay", R_SAFE, false, "{\"paymentId\":$0,\"userId\":$1}",
     {INT("5"), INT("1")}, 2},
    /* payment-service */
    {5, "POST", "/payments", R_SAFE, false, "{\"orderId\":$0,\"userId\":$1}",
     {FIX(NONE_ID), INT("1")}, 2},
    {5, "GET", "/payments", R_READ, false, NULL, {{0}}, 0},
    {5, "GET", "/payments/{id}", R_READ, false, NULL, {{0}}, 0},
    /* data-platform */
    {6, "POST", "/orders", R_CREATE, false,
     "{\"orderId\":$0,\"paymentId\":$1,\"userId\":$2,\"items\":[{\"itemId\":1,\"quantity\":1,"
     "\"unitPrice\":$3}],\"totalAmount\":$4,\"discountAmount\":0,\"finalAmount\":$4,\"paidAt\":$5}",
     {INT("12"), INT("5"), INT("1"), INT("50000"), INT("50000"), STR("\"2026-11-24T12:00:00Z\"")},
     6},
    {6, "GET", "/orders", R_READ, false, NULL, {{0}}, 0},
    {6, "GET", "/orders/{id}", R_READ, false, NULL, {{0}}, 0},
    {6, "PUT", "/faults", R_CREATE, false, "{\"failRate\":$0,\"delayMs\":$1}",
     {INT("0"), INT("0")}, 2},
    /* gateway */
    {0, "GET", "/api/items", R_READ, false, NULL, {{0}}, 0},
    {0, "GET", "/api/items/{id}", R_READ, false, NULL, {{0}}, 0},
    {0, "GET", "/api/users/{id}/balance", R_READ, false, NULL, {{0}}, 0},
    {0, "POST", "/api/users/{id}/balance/charge", R_SAFE, true, "{\"amount\":$0}", {INT("10000")},
     1},
    {0, "POST", "/api/coupons/{id}/issue", R_SAFE, true, "{\"userId\":$0}", {INT("1")}, 1},
    {0, "GET", "/api/users/{id}/coupons", R_READ, false, NULL, {{0}}, 0},
    {0, "POST", "/api/orders", R_CREATE, false,
     "{\"userId\":$0,\"items\":[{\"itemId\":$1,\"quantity\":$2}],\"userCouponId\":$3}",
     {INT("1"), INT("1"), INT("2"), INT("null")}, 4},
    {0, "GET", "/api/orders/{id}", R_READ, false, NULL, {{0}}, 0},
    {0, "GET", "/api/orders/{id}/saga", R_READ, false, NULL, {{0}}, 0},
    {0, "POST", "/api/payments", R_SAFE, false, "{\"orderId\":$0,\"userId\":$1}",
     {FIX(NONE_ID), INT("1")}, 2},
    {0, "PATCH", "/api/payments", R_SAFE, false,
     "{\"orderId\":$0,\"userId\":$1,\"status\":$2}", {INT("12"), INT("1"), STR("\"CANCELLED\"")},
     3},
    {0, "GET", "/api/payments/{id}", R_READ, false, NULL, {{0}}, 0},
    {0, "POST", "/api/admin/items", R_CREATE, false, "{\"name\":$0,\"price\":$1,\"stock\":$2}",
     {STR("\"Mouse\""), INT("20000"), INT("100")}, 3},
    {0, "POST", "/api/admin/users", R_CREATE, false, "{\"name\":$0,\"balance\":$1}",
     {STR("\"kim\""), INT("50000")}, 2},
    {0, "POST", "/api/admin/coupons", R_CREATE, false,
     "{\"name\":$0,\"discountType\":$1,\"discountValue\":$2,\"totalQuantity\":$3,\"expiresAt\":$4}",
     {STR("\"10% off\""), STR("\"PERCENT\""), INT("10"), INT("100"),
      STR("\"2027-01-01T00:00:00Z\"")},
     5},
    {0, "GET", "/api/admin/orders", R_READ, false, NULL, {{0}}, 0},
    {0, "GET", "/api/admin/users", R_READ, false, NULL, {{0}}, 0},
    {0, "GET", "/api/admin/users/{id}/ledger", R_READ, false, NULL, {{0}}, 0},
    {0, "GET", "/health", R_READ, false, NULL, {{0}}, 0},
};
#define N_ROUTES (sizeof routes / sizeof routes[0])

/* Integers at every edge of the ranges of API.md (some invalid). */
static const char *const int_edges[] = {
    "0", "1", "2", "99", "100", "101", "999", "1000", "1001", "100000000", "100000001",
    "1000000", "1000001", "1000000000", "1000000001", "1000000000000", "1000000000001",
    "999999999999999", "999999999999998", "1000000000000000", "9007199254740993",
    "18446744073709551616", "-1", "-0", "0.0", "1.0", "1.5", "0.5", "1e3", "1E3", "1e-3",
    "1e400", "-1e400", "1e308", "0x10", "010", "+1", ".5", "1.", "-", "NaN", "Infinity",
    "\"3\"", "null", "true", "[]", "{}", "[1]", "12345678901234567890123456789012345678901234567890"
    "123456789012345678901234567890",
};
/* Values that are invalid for every slot of these templates. */
static const char *const int_invalid[] = {"-1", "1.5", "\"3\"", "1e400", "1000000000000000",
                                          "[]", "{}", "true"};
static const char *const str_invalid[] = {"123", "\"\"", "[]", "{}", "true", "1.5"};
static const char *const str_edges[] = {
    "\"\"", "\"a\"", "\"caf\\u00e9\"", "\"\\ud83d\\ude00\"", "\"\\u0000\"", "\"\\ud800\"",
    "\"a\\\"b\"", "\"PERCENT\"", "\"FIXED\"", "\"fixed\"", "\"CANCELLED\"", "\"pay 5\"",
    "\"2026-13-01T00:00:00Z\"", "\"9999-12-31T23:59:59Z\"", "\"1970-01-01T00:00:00Z\"",
    "\"2026-11-24T12:00:00+09:00\"", "null", "1",
};

/* ------------------------------------------------------------ random */

typedef struct rng {
    uint64_t s;
} rng;

static uint64_t rnd(rng *r)
{
    uint64_t x = r->s;
    x ^= x >> 12;
    x ^= x << 25;
    x ^= x >> 27;
    r->s = x;
    return x * 0x2545F4914F6CDD1DULL;
}

static size_t pick(rng *r, size_t n)
{
    return (size_t)(rnd(r) % n);
}

static bool chance(rng *r, int percent)
{
    return (int)(rnd(r) % 100) < percent;
}

/* ------------------------------------------------------------ buffers */

typedef struct buf {
    char *p;
    size_t len, cap;
} buf;

static void buf_add(buf *b, const void *data, size_t n)
{
    if (n == 0 && b->p != NULL)
        return;
    if (b->len + n + 1 > b->cap) {
        size_t cap = (b->len + n + 1) * 2;
        char *p = realloc(b->p, cap);
        if (p == NULL) {
            perror("http_fuzz");
            exit(2);
        }
        b->p = p;
        b->cap = cap;
    }
    if (n > 0)
        memcpy(b->p + b->len, data, n);
    b->len += n;
    b->p[b->len] = '\0';
}

static void buf_str(buf *b, const char *s)
{
    buf_add(b, s, strlen(s));
}

static void buf_fmt(buf *b, const char *fmt, ...) __attribute__((format(printf, 2, 3)));

static void buf_fmt(buf *b, const char *fmt, ...)
{
    char tmp[1024];
    va_list ap;
    va_start(ap, fmt);
    int n = vsnprintf(tmp, sizeof tmp, fmt, ap);
    va_end(ap);
    buf_add(b, tmp, n < 0 ? 0 : (size_t)n < sizeof tmp ? (size_t)n : sizeof tmp - 1);
}

static void buf_rep(buf *b, const char *s, size_t times)
{
    for (size_t i = 0; i < times; i++)
        buf_str(b, s);
}

/* ------------------------------------------------------------ requests */

typedef enum req_class {
    C_BODY_JSON,   /* invalid UTF-8, nesting, size, duplicates, syntax */
    C_EDGE,        /* numbers and strings at every edge */
    C_METHOD,      /* wrong and unknown methods */
    C_PATH,        /* traversal, encoded slashes and ids, odd paths */
    C_HEADERS,     /* huge and repeated headers, bad tokens and keys */
    C_LENGTH,      /* bad, repeated and truncated Content-Length */
    C_CHUNKED,     /* chunked bodies, cut short or malformed */
    C_GET_BODY,    /* a body on a GET */
    C_GARBAGE,     /* not HTTP, or odd HTTP versions */
    C_PIPELINE,    /* two requests on one connection */
    C_N
} req_class;

static const char *const class_names[C_N] = {
    "body-json", "edges", "method", "path", "headers", "length", "chunked", "get-body",
    "garbage", "pipeline",
};
static const int class_weight[C_N] = {26, 20, 8, 9, 9, 9, 7, 4, 4, 4};

typedef struct request {
    buf raw;
    int prog;
    req_class cls;
    bool reply_due; /* a well-framed request: an answer is owed */
    int n_replies;  /* answers owed when due (pipelining) */
    bool head;      /* HEAD: no body in the reply */
    bool accept_close; /* the server may also just close (framing it cannot read) */
    bool must_fail;    /* the body is broken or mis-framed: a 2xx is a defect */
    bool must_not_route; /* a non-canonical path: reaching a handler is a defect */
} request;

/* A path id: anything at all for reads, only ids naming nothing (or no id)
 * where the route moves stock or money. */
static const char *path_id(rng *r, bool fixed)
{
    static const char *const any[] = {"1", "2", "3", "12", "0", "-1", "01", "1e3", "0x10",
                                      NONE_ID, "1000000000000000", "18446744073709551616",
                                      "abc", "1.0", "%31", " 1", "1%00", "9999999999999999999999"};
    static const char *const none[] = {NONE_ID, "999999999999998", "0", "-1", "01", "1e3",
                                       "1000000000000000", "abc", "1.0", "%39"};
    return fixed ? none[pick(r, sizeof none / sizeof none[0])] : any[pick(r, sizeof any / sizeof any[0])];
}

static void fill_path(buf *b, const char *pattern, const char *id)
{
    const char *p = strstr(pattern, "{id}");
    if (p == NULL) {
        buf_str(b, pattern);
        return;
    }
    buf_add(b, pattern, (size_t)(p - pattern));
    buf_str(b, id);
    buf_str(b, p + 4);
}

/* Fills the template with values[i] for $i. */
static void fill_body(buf *b, const char *tmpl, const char *const *values)
{
    for (const char *p = tmpl; *p != '\0'; p++) {
        if (*p == '$' && p[1] >= '0' && p[1] <= '9') {
            buf_str(b, values[p[1] - '0']);
            p++;
        } else {
            buf_add(b, p, 1);
        }
    }
}

static bool is_invalid_value(const char *v, slot_kind k)
{
    const char *const *list = k == S_STR ? str_invalid : int_invalid;
    size_t n = k == S_STR ? sizeof str_invalid / sizeof str_invalid[0]
                          : sizeof int_invalid / sizeof int_invalid[0];
    for (size_t i = 0; i < n; i++)
        if (strcmp(v, list[i]) == 0)
            return true;
    return false;
}

static const char *invalid_value(rng *r, slot_kind k)
{
    return k == S_STR ? str_invalid[pick(r, sizeof str_invalid / sizeof str_invalid[0])]
                      : int_invalid[pick(r, sizeof int_invalid / sizeof int_invalid[0])];
}

/* A body for route rt that is safe to send: slot vary (or -1) gets an edge
 * value (or forced, when non-NULL); FIXED slots keep naming nothing; a
 * creating route always gets one invalid member. */
static void safe_body(rng *r, const route *rt, int vary, const char *forced, buf *out)
{
    const char *values[10];
    for (int i = 0; i < rt->n_slots; i++)
        values[i] = rt->slots[i].normal;
    if (vary >= 0) {
        const slot *s = &rt->slots[vary];
        if (forced != NULL)
            values[vary] = forced;
        else if (s->kind == S_FIXED)
            values[vary] = chance(r, 50) ? invalid_value(r, S_INT) : NONE_ID;
        else if (s->kind == S_STR)
            values[vary] = str_edges[pick(r, sizeof str_edges / sizeof str_edges[0])];
        else
            values[vary] = int_edges[pick(r, sizeof int_edges / sizeof int_edges[0])];
        if (s->kind == S_FIXED && !is_invalid_value(values[vary], S_INT) &&
            strcmp(values[vary], NONE_ID) != 0)
            values[vary] = NONE_ID;
    }
    if (rt->kind == R_CREATE) {
        bool broken = false;
        for (int i = 0; i < rt->n_slots; i++)
            if (is_invalid_value(values[i], rt->slots[i].kind))
                broken = true;
        if (!broken) {
            int other = rt->n_slots - 1;
            if (other == vary)
                other = 0;
            values[other] = invalid_value(r, rt->slots[other].kind);
        }
    }
    fill_body(out, rt->body, values);
}

static const route *pick_route(rng *r, int prog_index, bool with_body)
{
    const route *found[N_ROUTES];
    size_t n = 0;
    for (size_t i = 0; i < N_ROUTES; i++)
        if (routes[i].prog == prog_index && (!with_body || routes[i].body != NULL))
            found[n++] = &routes[i];
    return n > 0 ? found[pick(r, n)] : NULL;
}

/* Standard headers: Host, tokens, ids, keys (sometimes odd ones). */
static void std_headers(rng *r, request *q, const route *rt, bool close_conn)
{
    buf *b = &q->raw;
    buf_str(b, "Host: 127.0.0.1\r\n");
    if (close_conn)
        buf_str(b, "Connection: close\r\n");
    if (chance(r, 92))
        buf_fmt(b, "X-Internal-Token: %s\r\n", internal_token);
    if (rt != NULL && strncmp(rt->path, "/api/admin", 10) == 0 && chance(r, 70))
        buf_fmt(b, "X-Admin-Token: %s\r\n", admin_token);
    if (chance(r, 40))
        buf_fmt(b, "X-Request-Id: fuzz-%08llx\r\n", (unsigned long long)(rnd(r) & 0xffffffffu));
    if (chance(r, 15))
        buf_fmt(b, "Idempotency-Key: fuzz-%llx\r\n", (unsigned long long)rnd(r));
}

/* A complete request for rt with body (may be NULL), well framed. */
static void framed(rng *r, request *q, const route *rt, const char *method, const char *target,
                   const buf *body)
{
    buf *b = &q->raw;
    buf_fmt(b, "%s %s HTTP/1.1\r\n", method, target);
    std_headers(r, q, rt, true);
    if (body != NULL) {
        buf_str(b, "Content-Type: application/json\r\n");
        buf_fmt(b, "Content-Length: %zu\r\n\r\n", body->len);
        buf_add(b, body->p, body->len);
    } else {
        buf_str(b, "\r\n");
    }
    q->reply_due = true;
    q->n_replies = 1;
}

/* Bodies that are not acceptable JSON objects, or enormous ones. Returns
 * false for the few that may still be valid (unknown members, a BOM). */
static bool bad_json(rng *r, const route *rt, buf *out)
{
    bool invalid = true;
    buf tmp = {0};
    safe_body(r, rt, -1, NULL, &tmp);
    switch (pick(r, 16)) {
    case 0: /* invalid UTF-8 inside a string */
        buf_str(out, "{\"name\":\"\xc3\x28\",");
        buf_add(out, tmp.p + 1, tmp.len - 1);
        break;
    case 1: /* overlong and surrogate encodings */
        buf_str(out, "{\"name\":\"\xc0\xaf\xed\xa0\x80\",");
        buf_add(out, tmp.p + 1, tmp.len - 1);
        break;
    case 2: /* a lone byte above 0x7f outside strings */
        buf_add(out, tmp.p, tmp.len - 1);
        buf_str(out, "\xff}");
        break;
    case 3: /* deeply nested, never closed */
        buf_str(out, "{\"a\":");
        buf_rep(out, "[", max_depth / 2 + pick(r, max_depth));
        break;
    case 4: { /* deep but closed (valid below cJSON's nesting limit) */
        invalid = false;
        size_t d = max_depth / 2 + pick(r, max_depth / 2 + 1);
        buf_str(out, "{\"a\":");
        buf_rep(out, "[", d);
        buf_rep(out, "]", d);
        buf_str(out, "}");
        break;
    }
    case 5: { /* enormous: just under or over the 64 KiB cap */
        invalid = false;
        size_t n = 60000 + pick(r, 10000);
        buf_str(out, "{\"pad\":\"");
        buf_rep(out, "x", n);
        buf_str(out, "\",");
        buf_add(out, tmp.p + 1, tmp.len - 1);
        break;
    }
    case 6: /* many members */
        invalid = false;
        buf_str(out, "{");
        for (int i = 0; i < 3000; i++)
            buf_fmt(out, "\"m%d\":%d,", i, i);
        buf_add(out, tmp.p + 1, tmp.len - 1);
        break;
    case 7: /* a repeated member (the second would be valid) */
        buf_add(out, tmp.p, tmp.len - 1);
        buf_add(out, ",", 1);
        buf_add(out, tmp.p + 1, tmp.len - 1);
        buf_str(out, "}");
        break;
    case 8: /* a long repeated name of 2-byte characters */
        buf_str(out, "{\"");
        buf_rep(out, "\xc3\xa9", 150);
        buf_str(out, "\":1,\"");
        buf_rep(out, "\xc3\xa9", 150);
        buf_str(out, "\":2}");
        break;
    case 9: /* cut short */
        buf_add(out, tmp.p, 1 + pick(r, tmp.len - 1));
        break;
    case 10: /* trailing garbage */
        buf_add(out, tmp.p, tmp.len);
        buf_str(out, pick(r, 2) ? " x" : "{}");
        break;
    case 11: /* not an object */
        buf_str(out, (const char *const[]){"null", "[]", "\"x\"", "1", "true", ""}[pick(r, 6)]);
        break;
    case 12: /* an escaped U+0000 */
        buf_str(out, "{\"name\":\"a\\u0000b\",");
        buf_add(out, tmp.p + 1, tmp.len - 1);
        break;
    case 13: /* a byte order mark (cJSON skips it), or NUL bytes */
        if (pick(r, 2))
            buf_str(out, "\xef\xbb\xbf");
        buf_add(out, tmp.p, tmp.len);
        if (pick(r, 2))
            buf_add(out, "\0\0", 2);
        else
            invalid = false;
        break;
    case 14: /* comments and single quotes */
        buf_str(out, "{/* c */ 'name': 'x', ");
        buf_add(out, tmp.p + 1, tmp.len - 1);
        break;
    default: /* random bytes */
        for (size_t i = 0, n = 1 + pick(r, 300); i < n; i++) {
            char c = (char)rnd(r);
            buf_add(out, &c, 1);
        }
        break;
    }
    free(tmp.p);
    return invalid;
}

static void gen_body_class(rng *r, request *q, bool edges)
{
    const route *rt = pick_route(r, q->prog, true);
    buf body = {0}, path = {0};
    if (rt == NULL) { /* a program without body routes: fall back */
        rt = pick_route(r, q->prog, false);
        fill_path(&path, rt->path, "1");
        framed(r, q, rt, rt->method, path.p, NULL);
        free(path.p);
        return;
    }
    fill_path(&path, rt->path, path_id(r, rt->path_fixed));
    bool broken = false;
    if (edges)
        safe_body(r, rt, (int)pick(r, (size_t)rt->n_slots), NULL, &body);
    else
        broken = bad_json(r, rt, &body);
    framed(r, q, rt, rt->method, path.p, &body);
    q->must_fail = broken && strcmp(rt->method, "GET") != 0;
    free(body.p);
    free(path.p);
}

static void gen_method(rng *r, request *q)
{
    static const char *const methods[] = {
        "DELETE", "PUT", "PATCH", "OPTIONS", "TRACE", "FOO", "get", "Post", "PROPFIND",
        "M-SEARCH", "GETT", "POS", "G@T", "BREW", "MKCOL", "LOCK", "HEAD", "CONNECT",
    };
    const route *rt = pick_route(r, q->prog, false);
    const char *m = methods[pick(r, sizeof methods / sizeof methods[0])];
    buf path = {0}, body = {0};
    fill_path(&path, rt->path, path_id(r, true));
    if (strcmp(m, "CONNECT") == 0) {
        buf_fmt(&q->raw, "CONNECT 127.0.0.1:%d HTTP/1.1\r\nHost: 127.0.0.1\r\n\r\n",
                port_base + progs[q->prog].offset);
        q->accept_close = true;
    } else if (pick(r, 5) == 0) { /* a very long method */
        buf lm = {0};
        buf_rep(&lm, "X", 100 + pick(r, 5000));
        framed(r, q, rt, lm.p, path.p, NULL);
        q->accept_close = true;
        free(lm.p);
    } else {
        if (rt->body != NULL)
            safe_body(r, rt, -1, NULL, &body);
        /* A known route's body under the wrong method: for a creating route
         * keep it invalid, since PUT/PATCH may route somewhere. */
        if (rt->kind == R_CREATE) {
            body.len = 0;
            safe_body(r, rt, 0, invalid_value(r, rt->slots[0].kind), &body);
        }
        framed(r, q, rt, m, path.p, rt->body != NULL ? &body : NULL);
        q->head = strcmp(m, "HEAD") == 0;
    }
    free(path.p);
    free(body.p);
}

/* Paths that must route nowhere, some carrying a valid body for a route
 * that would move money if the path were decoded or normalised. */
static void gen_path(rng *r, request *q)
{
    static const char *const junk[] = {
        "/../../etc/passwd", "/items/../users/1", "/items/%2e%2e/%2e%2e/etc/passwd",
        "/items%2F1", "/items/1%2Fstock", "//items", "/items//1", "/./items", "/items/./1",
        "/items/1/", "/ITEMS", "/items/1;x", "/items/1%00", "/items/1%", "/items/%zz",
        "/\xff\xfe", "/%ff%fe", "/caf\xc3\xa9", "/items?limit=%ff", "/items?limit=-1",
        "/items?limit=501&limit=1", "/users?afterId=1e3", "/orders?status=%00",
        "/items/1#frag", "*", "/items\\1", "/api/../api/items", "/api/admin/../items",
        "http://127.0.0.1/items", "/%2e%2e%2f%2e%2e%2fetc%2fpasswd",
    };
    /* Non-canonical spellings of a charge on user 1. With FUZZ_STRICT=1 the
     * amount is a valid 1, so one that reached the route moves user 1's
     * balance and the snapshot diff catches it; else it is 0, and the 400
     * naming "amount" shows the route was reached without any change. */
    static const char *const charge[] = {
        "/users/%31/balance/charge", "/users/1/balance/charge/", "/users/1/./balance/charge",
        "/users/1/x/../balance/charge", "//users/1/balance/charge", "/users/1/balance%2Fcharge",
        "/users/01/balance/charge", "/users/1%00/balance/charge", "/Users/1/balance/charge",
        "/users/1/balance/charge;x", "/users/1/balance/charge%20", "/users/+1/balance/charge",
        "/users/1/balance//charge",
    };
    buf path = {0}, body = {0};
    if (pick(r, 3) == 0) {
        const char *base = q->prog == 0 ? "/api" : "";
        if (q->prog != 0 && q->prog != 2) { /* only gateway and user route charges */
            buf_str(&path, junk[pick(r, sizeof junk / sizeof junk[0])]);
        } else {
            buf_fmt(&path, "%s%s", base, charge[pick(r, sizeof charge / sizeof charge[0])]);
            buf_str(&body, strict ? "{\"amount\":1}" : "{\"amount\":0}");
            q->must_not_route = true;
        }
    } else if (pick(r, 4) == 0) { /* very long paths */
        buf_str(&path, "/items/");
        buf_rep(&path, pick(r, 2) ? "a/" : "%41", 200 + pick(r, 8000));
    } else {
        buf_str(&path, junk[pick(r, sizeof junk / sizeof junk[0])]);
    }
    framed(r, q, NULL, body.len > 0 ? "POST" : pick(r, 2) ? "GET" : "POST", path.p,
           body.len > 0 ? &body : NULL);
    q->accept_close = true; /* civetweb may refuse odd targets by closing */
    free(path.p);
    free(body.p);
}

static void gen_headers(rng *r, request *q)
{
    const route *rt = pick_route(r, q->prog, false);
    buf *b = &q->raw, path = {0}, body = {0};
    fill_path(&path, rt->path, path_id(r, true));
    if (rt->body != NULL)
        safe_body(r, rt, 0, invalid_value(r, rt->slots[0].kind), &body);
    buf_fmt(b, "%s %s HTTP/1.1\r\nHost: 127.0.0.1\r\nConnection: close\r\n", rt->method, path.p);
    buf_fmt(b, "X-Internal-Token: %s\r\n", internal_token);
    switch (pick(r, 10)) {
    case 0: /* one huge header */
        buf_str(b, "X-Big: ");
        buf_rep(b, "a", 1000 + pick(r, 70000));
        buf_str(b, "\r\n");
        q->accept_close = true;
        break;
    case 1: /* many headers */
        for (size_t i = 0, n = 10 + pick(r, 2000); i < n; i++)
            buf_fmt(b, "X-H%zu: v\r\n", i);
        q->accept_close = true;
        break;
    case 2: /* repeated X-Request-Id, one invalid */
        buf_str(b, "X-Request-Id: a\r\nX-Request-Id: b c\r\nX-Request-Id: \xff\r\n");
        break;
    case 3: /* invalid X-Request-Id */
        buf_str(b, "X-Request-Id: ");
        buf_rep(b, pick(r, 2) ? "r" : "\xc3\xa9", 129 + pick(r, 300));
        buf_str(b, "\r\n");
        break;
    case 4: /* invalid Idempotency-Key */
        buf_str(b, (const char *const[]){"Idempotency-Key: \x01\x02\r\n", "Idempotency-Key: \xc3\xa9\r\n",
                                         "Idempotency-Key:\r\n", "Idempotency-Key: a\r\nIdempotency-Key: b\r\n"}[pick(r, 4)]);
        if (pick(r, 2)) {
            buf_str(b, "Idempotency-Key: ");
            buf_rep(b, "k", 256 + pick(r, 1000));
            buf_str(b, "\r\n");
        }
        break;
    case 5: /* wrong, huge or repeated tokens */
        buf_str(b, "X-Internal-Token: wrong\r\nX-Admin-Token: ");
        buf_rep(b, "t", 1 + pick(r, 5000));
        buf_str(b, "\r\n");
        break;
    case 6: /* header syntax */
        buf_str(b, (const char *const[]){"NoColon\r\n", ": empty-name\r\n", "Bad Name: x\r\n",
                                         " folded: x\r\n", "X-A: \x00\r\n", "X-B:\tv\r\n"}[pick(r, 6)]);
        q->accept_close = true;
        break;
    case 7: /* odd Content-Type */
        buf_str(b, "Content-Type: text/plain; charset=\xff\r\n");
        break;
    case 8: /* Expect: 100-continue */
        buf_str(b, "Expect: 100-continue\r\n");
        q->accept_close = true;
        break;
    default: /* lower-case names, odd spacing */
        buf_str(b, "x-request-id:    spaced   \r\ncontent-type:application/json\r\n");
        break;
    }
    buf_fmt(b, "Content-Length: %zu\r\n\r\n", body.len);
    buf_add(b, body.p, body.len);
    q->reply_due = true;
    q->n_replies = 1;
    free(path.p);
    free(body.p);
}

static void gen_length(rng *r, request *q)
{
    const route *rt = pick_route(r, q->prog, true);
    if (rt == NULL)
        rt = pick_route(r, q->prog, false);
    buf *b = &q->raw, path = {0}, body = {0};
    fill_path(&path, rt->path, path_id(r, true));
    if (rt->body != NULL)
        safe_body(r, rt, 0, invalid_value(r, rt->slots[0].kind), &body);
    else
        buf_str(&body, "{}");
    buf_fmt(b, "%s %s HTTP/1.1\r\nHost: 127.0.0.1\r\nConnection: close\r\n", rt->method, path.p);
    buf_fmt(b, "X-Internal-Token: %s\r\nContent-Type: application/json\r\n", internal_token);
    q->reply_due = true;
    q->n_replies = 1;
    q->accept_close = true;
    q->must_fail = true; /* slot 0 is invalid, whatever the framing */
    switch (pick(r, 9)) {
    case 0:
        buf_str(b, "Content-Length: -1\r\n\r\n");
        break;
    case 1:
        buf_str(b, "Content-Length: abc\r\n\r\n");
        break;
    case 2:
        buf_str(b, "Content-Length: 99999999999999999999999\r\n\r\n");
        break;
    case 3:
        buf_fmt(b, "Content-Length: %zu\r\nContent-Length: %zu\r\n\r\n", body.len, body.len + 1);
        break;
    case 4:
        buf_fmt(b, "Content-Length: %zu, %zu\r\n\r\n", body.len, body.len);
        break;
    case 5: /* longer than the body: the connection is half-closed after it */
        buf_fmt(b, "Content-Length: %zu\r\n\r\n", body.len + 1 + pick(r, 100));
        break;
    case 6: /* shorter than the body: the rest reads as a next request */
        buf_fmt(b, "Content-Length: %zu\r\n\r\n", body.len > 2 ? body.len - 2 : 0);
        break;
    case 7: /* over the cap */
        buf_fmt(b, "Content-Length: %d\r\n\r\n", 64 * 1024 + 1 + (int)pick(r, 1000000));
        break;
    default: /* both Content-Length and Transfer-Encoding */
        buf_fmt(b, "Content-Length: %zu\r\nTransfer-Encoding: chunked\r\n\r\n", body.len);
        break;
    }
    buf_add(b, body.p, body.len);
    free(path.p);
    free(body.p);
}

static void gen_chunked(rng *r, request *q)
{
    const route *rt = pick_route(r, q->prog, true);
    if (rt == NULL)
        rt = pick_route(r, q->prog, false);
    buf *b = &q->raw, path = {0}, body = {0};
    fill_path(&path, rt->path, path_id(r, true));
    if (rt->body != NULL)
        safe_body(r, rt, 0, invalid_value(r, rt->slots[0].kind), &body);
    else
        buf_str(&body, "{}");
    buf_fmt(b, "%s %s HTTP/1.1\r\nHost: 127.0.0.1\r\nConnection: close\r\n", rt->method, path.p);
    buf_fmt(b, "X-Internal-Token: %s\r\nContent-Type: application/json\r\n", internal_token);
    buf_str(b, "Transfer-Encoding: chunked\r\n\r\n");
    size_t half = body.len / 2;
    q->reply_due = true;
    q->n_replies = 1;
    q->accept_close = true;
    q->must_fail = true;
    switch (pick(r, 7)) {
    case 0: /* well formed */
        buf_fmt(b, "%zx\r\n", half);
        buf_add(b, body.p, half);
        buf_fmt(b, "\r\n%zx\r\n", body.len - half);
        buf_add(b, body.p + half, body.len - half);
        buf_str(b, "\r\n0\r\n\r\n");
        q->accept_close = false;
        break;
    case 1: /* cut inside a chunk */
        buf_fmt(b, "%zx\r\n", body.len);
        buf_add(b, body.p, half);
        break;
    case 2: /* no last chunk */
        buf_fmt(b, "%zx\r\n", body.len);
        buf_add(b, body.p, body.len);
        buf_str(b, "\r\n");
        break;
    case 3: /* bad size */
        buf_str(b, "zz\r\nabc\r\n0\r\n\r\n");
        break;
    case 4: /* enormous size */
        buf_str(b, "ffffffffffffffff\r\nabc\r\n0\r\n\r\n");
        break;
    case 5: /* extensions and trailers */
        buf_fmt(b, "%zx;ext=1\r\n", body.len);
        buf_add(b, body.p, body.len);
        buf_str(b, "\r\n0\r\nX-Trailer: y\r\n\r\n");
        break;
    case 6: /* many one-byte chunks, past the cap: costly to read (seconds of
             * a worker under ASan), so only now and then */
        if (pick(r, 8) != 0) {
            buf_fmt(b, "%zx\r\n", body.len);
            buf_add(b, body.p, body.len);
            buf_str(b, "\r\n0\r\n\r\n");
            q->accept_close = false;
            break;
        }
        for (size_t i = 0; i < 70000; i++)
            buf_str(b, "1\r\n \r\n");
        buf_str(b, "0\r\n\r\n");
        break;
    }
    free(path.p);
    free(body.p);
}

static void gen_get_body(rng *r, request *q)
{
    const route *rt = NULL;
    for (int i = 0; i < 50 && (rt == NULL || strcmp(rt->method, "GET") != 0); i++)
        rt = pick_route(r, q->prog, false);
    buf path = {0}, body = {0};
    fill_path(&path, rt->path, path_id(r, false));
    buf_str(&body, pick(r, 2) ? "{\"amount\":1}" : "not json \xff");
    framed(r, q, rt, "GET", path.p, &body);
    free(path.p);
    free(body.p);
}

static void gen_garbage(rng *r, request *q)
{
    static const char *const lines[] = {
        "\r\n\r\n", "GET\r\n\r\n", "GET /items\r\n\r\n", "GET /items HTTP/9.9\r\n\r\n",
        "GET /items HTTP/1.0\r\n\r\n", "GET /items HTTP/1.1\r\n\r\n", "GET  /items  HTTP/1.1\r\n\r\n",
        "GET /items HTTP/1.1\n\n", "GET /items HTTP/1.1\r\nHost: a\r\nHost: b\r\n\r\n",
        "\x16\x03\x01\x02\x00\x01\x00\x01\xfc\x03\x03", "PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n",
        "GET /health HTTP/1.1\r\nHost: x\r\n", "GET /items HTTP/1.1\r\nX:",
    };
    if (pick(r, 3) == 0) {
        for (size_t i = 0, n = 1 + pick(r, 2000); i < n; i++) {
            char c = (char)rnd(r);
            buf_add(&q->raw, &c, 1);
        }
    } else {
        buf_str(&q->raw, lines[pick(r, sizeof lines / sizeof lines[0])]);
    }
    q->reply_due = false;
    q->accept_close = true;
}

static void gen_pipeline(rng *r, request *q)
{
    const route *rt = pick_route(r, q->prog, false);
    buf path = {0}, body = {0};
    fill_path(&path, rt->path, path_id(r, true));
    if (rt->body != NULL)
        safe_body(r, rt, 0, invalid_value(r, rt->slots[0].kind), &body);
    for (int i = 0; i < 2; i++) {
        buf_fmt(&q->raw, "%s %s HTTP/1.1\r\n", rt->method, path.p);
        std_headers(r, q, rt, i == 1);
        if (rt->body != NULL) {
            buf_str(&q->raw, "Content-Type: application/json\r\n");
            buf_fmt(&q->raw, "Content-Length: %zu\r\n\r\n", body.len);
            buf_add(&q->raw, body.p, body.len);
        } else {
            buf_str(&q->raw, "\r\n");
        }
    }
    q->reply_due = true;
    q->n_replies = 2;
    free(path.p);
    free(body.p);
}

static void generate(rng *r, request *q, int prog_index)
{
    memset(q, 0, sizeof *q);
    q->prog = prog_index;
    int total = 0, w = 0;
    for (int c = 0; c < C_N; c++)
        total += class_weight[c];
    int x = (int)pick(r, (size_t)total);
    int c = 0;
    for (; c < C_N; c++) {
        w += class_weight[c];
        if (x < w)
            break;
    }
    q->cls = (req_class)c;
    switch (q->cls) {
    case C_BODY_JSON: gen_body_class(r, q, false); break;
    case C_EDGE: gen_body_class(r, q, true); break;
    case C_METHOD: gen_method(r, q); break;
    case C_PATH: gen_path(r, q); break;
    case C_HEADERS: gen_headers(r, q); break;
    case C_LENGTH: gen_length(r, q); break;
    case C_CHUNKED: gen_chunked(r, q); break;
    case C_GET_BODY: gen_get_body(r, q); break;
    case C_GARBAGE: gen_garbage(r, q); break;
    default: gen_pipeline(r, q); break;
    }
}

/* ------------------------------------------------------------ transport */

/* Sends req to port, half-closes, reads everything until the server closes.
 * Every socket operation has a short timeout (timeout_ms); a reply that
 * takes longer is waited for up to patience_ms in all and flagged *slow
 * (busy CPUs make that happen now and then; no reply at all is a failure).
 * Returns false when the connection failed. */
static bool exchange(int port, const char *req, size_t len, buf *reply, int timeout_ms,
                     int patience_ms, bool *timed_out, bool *slow)
{
    *timed_out = false;
    *slow = false;
    int fd = socket(AF_INET, SOCK_STREAM, 0);
    if (fd < 0)
        return false;
    struct timeval tv = {.tv_sec = timeout_ms / 1000, .tv_usec = (timeout_ms % 1000) * 1000};
    setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof tv);
    setsockopt(fd, SOL_SOCKET, SO_SNDTIMEO, &tv, sizeof tv);
    struct sockaddr_in a = {.sin_family = AF_INET, .sin_port = htons((uint16_t)port)};
    a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    if (connect(fd, (struct sockaddr *)&a, sizeof a) != 0) {
        close(fd);
        return false;
    }
    size_t off = 0;
    while (off < len) {
        ssize_t n = send(fd, req + off, len - off, MSG_NOSIGNAL);
        if (n <= 0)
            break; /* the server may close early (413, 400): read what it said */
        off += (size_t)n;
    }
    shutdown(fd, SHUT_WR);
    char chunk[16384];
    int waited_ms = 0;
    for (;;) {
        ssize_t n = recv(fd, chunk, sizeof chunk, 0);
        if (n > 0) {
            if (reply->len < MAX_REPLY)
                buf_add(reply, chunk, (size_t)n);
            continue;
        }
        if (n < 0 && (errno == EAGAIN || errno == EWOULDBLOCK)) {
            waited_ms += timeout_ms;
            if (waited_ms < patience_ms) {
                *slow = true;
                continue;
            }
            *timed_out = true;
        }
        break; /* closed, reset or out of patience */
    }
    close(fd);
    return true;
}

/* ------------------------------------------------------------ replies */

typedef struct reply_info {
    int status;
    char content_type[128];
    bool has_request_id;
    bool has_allow;
    size_t body_off, body_len;
} reply_info;

/* The value of header name in the header block [h, end), or NULL. */
static bool header_value(const char *h, const char *end, const char *name, char *out, size_t outlen,
                         int *count)
{
    size_t nlen = strlen(name);
    bool found = false;
    *count = 0;
    for (const char *line = h; line < end;) {
        const char *eol = memchr(line, '\n', (size_t)(end - line));
        if (eol == NULL)
            eol = end;
        if ((size_t)(eol - line) > nlen && strncasecmp(line, name, nlen) == 0 && line[nlen] == ':') {
            const char *v = line + nlen + 1;
            while (v < eol && (*v == ' ' || *v == '\t'))
                v++;
            const char *ve = eol;
            while (ve > v && (ve[-1] == '\r' || ve[-1] == ' '))
                ve--;
            size_t n = (size_t)(ve - v) < outlen - 1 ? (size_t)(ve - v) : outlen - 1;
            memcpy(out, v, n);
            out[n] = '\0';
            found = true;
            (*count)++;
        }
        line = eol + 1;
    }
    return found;
}

/* Parses one reply at data[*off..len); fills info and advances *off past
 * it. Returns NULL, or why it is not a well-formed reply. */
static const char *parse_reply(const char *data, size_t len, size_t *off, bool head,
                               reply_info *info)
{
    memset(info, 0, sizeof *info);
    const char *p = data + *off;
    size_t left = len - *off;
    const char *hend = NULL;
    for (size_t i = 0; i + 3 < left; i++)
        if (memcmp(p + i, "\r\n\r\n", 4) == 0) {
            hend = p + i;
            break;
        }
    if (hend == NULL)
        return "no end of headers";
    if (left < 13 || memcmp(p, "HTTP/1.", 7) != 0 || (p[7] != '0' && p[7] != '1') || p[8] != ' ' ||
        p[9] < '1' || p[9] > '5' || p[10] < '0' || p[10] > '9' || p[11] < '0' || p[11] > '9' ||
        (p[12] != ' ' && p[12] != '\r'))
        return "bad status line";
    info->status = (p[9] - '0') * 100 + (p[10] - '0') * 10 + (p[11] - '0');
    const char *h = memchr(p, '\n', (size_t)(hend - p));
    h = h != NULL ? h + 1 : hend;
    /* Every header line: a token, a colon, printable text. */
    for (const char *line = h; line < hend;) {
        const char *eol = memchr(line, '\n', (size_t)(hend + 2 - line));
        if (eol == NULL || eol == line || eol[-1] != '\r')
            return "header line not ended by CRLF";
        const char *colon = memchr(line, ':', (size_t)(eol - line));
        if (colon == NULL || colon == line)
            return "header line without a name";
        for (const char *c = line; c < colon; c++)
            if (*c <= ' ' || *c >= 127)
                return "header name is not a token";
        for (const char *c = colon + 1; c < eol - 1; c++)
            if ((unsigned char)*c < ' ' && *c != '\t')
                return "control byte in a header value";
        line = eol + 1;
    }
    char v[128];
    int count = 0;
    header_value(h, hend + 2, "Content-Type", info->content_type, sizeof info->content_type, &count);
    info->has_request_id = header_value(h, hend + 2, "X-Request-Id", v, sizeof v, &count);
    info->has_allow = header_value(h, hend + 2, "Allow", v, sizeof v, &count);
    bool chunked = header_value(h, hend + 2, "Transfer-Encoding", v, sizeof v, &count) &&
                   strcasecmp(v, "chunked") == 0;
    bool has_len = header_value(h, hend + 2, "Content-Length", v, sizeof v, &count);
    if (count > 1)
        return "Content-Length repeated";
    size_t body_start = (size_t)(hend + 4 - data);
    if (chunked)
        return "chunked reply"; /* the shop always sends Content-Length */
    if (!has_len) {
        if (info->status == 204 || info->status == 304 || info->status < 200)
            return NULL;
        return "no Content-Length";
    }
    char *endp = NULL;
    errno = 0;
    unsigned long long cl = strtoull(v, &endp, 10);
    if (errno != 0 || endp == v || *endp != '\0')
        return "Content-Length is not a number";
    info->body_off = body_start;
    if (head) {
        *off = body_start;
        return NULL;
    }
    if (len - body_start < cl)
        return "body shorter than Content-Length";
    info->body_len = (size_t)cl;
    *off = body_start + (size_t)cl;
    return NULL;
}

/* Checks the body of a reply: errors are problem+json with the same status;
 * JSON replies parse (strictly: UTF-8, no duplicates). NULL when fine. */
static const char *check_body(const char *data, const reply_info *info, bool head)
{
    const char *body = data + info->body_off;
    if (head)
        return NULL;
    if (info->status >= 400) {
        if (strcmp(info->content_type, "application/problem+json") != 0)
            return "an error without Content-Type application/problem+json";
        json_err err;
        cJSON *doc = json_parse_object(body, info->body_len, &err);
        if (doc == NULL)
            return strstr(err.msg, "UTF-8") != NULL ? "problem body is not valid UTF-8"
                                                    : "problem body is not a JSON object";
        int64_t st = 0;
        bool ok = json_peek_int(doc, "status", &st) && st == info->status &&
                  json_peek_string(doc, "code") != NULL && json_peek_string(doc, "title") != NULL;
        cJSON_Delete(doc);
        return ok ? NULL : "problem body without matching status, code or title";
    }
    if (strncmp(info->content_type, "application/json", 16) == 0) {
        json_err err;
        cJSON *doc = json_parse_any(body, info->body_len, &err);
        if (doc == NULL)
            return "JSON reply does not parse";
        cJSON_Delete(doc);
    }
    return NULL;
}

/* ------------------------------------------------------------ stats */

typedef struct prog_stats {
    atomic_long sent, replies, no_reply, closed_ok, s2xx, s3xx, s4xx, s5xx, failures;
    atomic_long no_request_id;
    atomic_long slow; /* no byte within 2 s, answered later */
} prog_stats;

static prog_stats stats[N_PROGS];
static atomic_long class_sent[C_N];
static atomic_long total_failures;
static atomic_long next_request;
static long n_requests = 100000;
static long max_seconds = 600;
static const char *dump_dir;
static pthread_mutex_t print_lock = PTHREAD_MUTEX_INITIALIZER;
static atomic_long reason_counts[64];
static const char *reason_names[64];
static pthread_mutex_t reason_lock = PTHREAD_MUTEX_INITIALIZER;

static void count_reason(const char *why)
{
    pthread_mutex_lock(&reason_lock);
    int i = 0;
    while (i < 63 && reason_names[i] != NULL && strcmp(reason_names[i], why) != 0)
        i++;
    if (reason_names[i] == NULL)
        reason_names[i] = why;
    pthread_mutex_unlock(&reason_lock);
    atomic_fetch_add(&reason_counts[i], 1);
}

static void print_escaped(FILE *f, const char *s, size_t n, size_t max)
{
    for (size_t i = 0; i < n && i < max; i++) {
        unsigned char c = (unsigned char)s[i];
        if (c == '\r')
            fputs("\\r", f);
        else if (c == '\n')
            fputs("\\n", f);
        else if (c < 32 || c >= 127)
            fprintf(f, "\\x%02x", c);
        else
            fputc(c, f);
    }
    if (n > max)
        fprintf(f, "...(%zu bytes)", n);
}

/* Failures that come from defects already reported to the owners of the
 * code (tests/fuzz/README.md): counted and shown, but they fail the run only
 * with FUZZ_STRICT=1. */
static const char *const known_reasons[] = {
    /* None open: common/problem.c, common/json.c and common/http_server.c
     * were fixed (UTF-8-safe details, raw paths with decode_url=no, nesting
     * refused beyond JSON_MAX_DEPTH). Add a reason here only with a report. */
    "",
};
static atomic_long known_failures;

static bool is_known(const char *why)
{
    for (size_t i = 0; i < sizeof known_reasons / sizeof known_reasons[0]; i++)
        if (strcmp(why, known_reasons[i]) == 0)
            return true;
    return false;
}

static void record_failure(const request *q, const buf *reply, const char *why)
{
    if (!strict && is_known(why)) {
        atomic_fetch_add(&known_failures, 1);
        count_reason(why);
        return;
    }
    long n = atomic_fetch_add(&total_failures, 1);
    atomic_fetch_add(&stats[q->prog].failures, 1);
    count_reason(why);
    if (n < 25) {
        pthread_mutex_lock(&print_lock);
        fprintf(stderr, "http_fuzz: FAIL %s [%s, %s]: request ", why, progs[q->prog].name,
                class_names[q->cls]);
        print_escaped(stderr, q->raw.p, q->raw.len, 300);
        fputs(" | reply ", stderr);
        print_escaped(stderr, reply->p != NULL ? reply->p : "", reply->len, 400);
        fputc('\n', stderr);
        pthread_mutex_unlock(&print_lock);
    }
    if (dump_dir != NULL && n < 200) {
        char path[512];
        snprintf(path, sizeof path, "%s/failure-%03ld.request", dump_dir, n);
        FILE *f = fopen(path, "wb");
        if (f != NULL) {
            fwrite(q->raw.p, 1, q->raw.len, f);
            fclose(f);
        }
        snprintf(path, sizeof path, "%s/failure-%03ld.reply", dump_dir, n);
        f = fopen(path, "wb");
        if (f != NULL) {
            fprintf(f, "port offset %d (%s), class %s, why: %s\n", progs[q->prog].offset,
                    progs[q->prog].name, class_names[q->cls], why);
            if (reply->p != NULL)
                fwrite(reply->p, 1, reply->len, f);
            fclose(f);
        }
    }
}

/* The 400 of the charge route for amount 0: the handler was reached. */
#define ROUTED_MARK "\"detail\":\"amount:"

/* Prints the first few replies without X-Request-Id (API.md: every
 * response carries one), to say which answers lack it. */
static void note_no_request_id(const request *q, const char *reply, size_t len)
{
    static atomic_int shown;
    if (atomic_fetch_add(&shown, 1) >= 3)
        return;
    pthread_mutex_lock(&print_lock);
    fprintf(stderr, "http_fuzz: note: a reply without X-Request-Id [%s, %s]: ", progs[q->prog].name,
            class_names[q->cls]);
    print_escaped(stderr, reply, len, 200);
    fputc('\n', stderr);
    pthread_mutex_unlock(&print_lock);
}

/* Checks what came back for q. */
static void judge(const request *q, const buf *reply, bool timed_out)
{
    prog_stats *st = &stats[q->prog];
    if (reply->len == 0) {
        if (q->reply_due && !q->accept_close) {
            atomic_fetch_add(&st->no_reply, 1);
            record_failure(q, reply, timed_out ? "no reply within the timeout" : "closed without a reply");
        } else {
            atomic_fetch_add(&st->closed_ok, 1);
        }
        return;
    }
    size_t off = 0;
    int want = q->reply_due ? q->n_replies : 1;
    for (int i = 0; i < want && off < reply->len; i++) {
        reply_info info;
        const char *why = parse_reply(reply->p, reply->len, &off, q->head, &info);
        if (why == NULL)
            why = check_body(reply->p, &info, q->head);
        if (why == NULL && info.status == 405 && !info.has_allow)
            why = "405 without Allow";
        /* 503/504: a peer was slow or down; 505: civetweb refuses an HTTP
         * version it does not speak. */
        if (why == NULL && info.status >= 500 && info.status != 503 && info.status != 504 &&
            info.status != 505)
            why = "5xx to a malformed request";
        if (why == NULL && q->must_not_route && info.status < 500 &&
            (info.status < 300 || memmem(reply->p + info.body_off, info.body_len, ROUTED_MARK,
                                         strlen(ROUTED_MARK)) != NULL))
            why = "a percent-encoded path was routed";
        if (why != NULL) {
            record_failure(q, reply, why);
            return;
        }
        atomic_fetch_add(&st->replies, 1);
        if (!info.has_request_id) {
            atomic_fetch_add(&st->no_request_id, 1);
            note_no_request_id(q, reply->p, reply->len);
        }
        atomic_long *bucket = info.status < 300 ? &st->s2xx : info.status < 400 ? &st->s3xx
                              : info.status < 500 ? &st->s4xx : &st->s5xx;
        atomic_fetch_add(bucket, 1);
        if (info.status >= 200 && info.status < 300 && q->must_fail) {
            record_failure(q, reply, "2xx to a broken or mis-framed body");
            return;
        }
    }
    if (q->reply_due && !q->accept_close && off < reply->len && !q->head) {
        /* bytes beyond the owed replies */
        record_failure(q, reply, "bytes after the reply");
    }
}

/* ------------------------------------------------------------ health */

static int get_status(int port, const char *path)
{
    char req[512];
    int n = snprintf(req, sizeof req,
                     "GET %s HTTP/1.1\r\nHost: 127.0.0.1\r\nConnection: close\r\n"
                     "X-Internal-Token: %s\r\n\r\n",
                     path, internal_token);
    buf reply = {0};
    bool timed_out;
    int status = 0;
    bool slow;
    if (exchange(port, req, (size_t)n, &reply, 6000, 6000, &timed_out, &slow) && reply.len > 12)
        status = (int)strtol(reply.p + 9, NULL, 10); /* "HTTP/1.1 200" */
    free(reply.p);
    return status;
}

static bool all_alive(void)
{
    bool ok = true;
    for (int i = 0; i < N_PROGS; i++) {
        int s = get_status(port_base + progs[i].offset, "/health/live");
        if (s != 200) {
            fprintf(stderr, "http_fuzz: %s (port %d) answers /health/live with %d\n",
                    progs[i].name, port_base + progs[i].offset, s);
            ok = false;
        }
    }
    return ok;
}

/* ------------------------------------------------------------ run */

static atomic_bool stop_all;
static struct timespec run_start;

static double elapsed_s(void)
{
    struct timespec now;
    clock_gettime(CLOCK_MONOTONIC, &now);
    return (double)(now.tv_sec - run_start.tv_sec) + (double)(now.tv_nsec - run_start.tv_nsec) / 1e9;
}

typedef struct worker {
    int index;
    uint64_t seed;
} worker;

static void *work(void *arg)
{
    worker *w = arg;
    rng r = {.s = w->seed * 0x9E3779B97F4A7C15ULL + (uint64_t)w->index + 1};
    if (r.s == 0)
        r.s = 1;
    for (;;) {
        long i = atomic_fetch_add(&next_request, 1);
        if (i >= n_requests || atomic_load(&stop_all))
            break;
        if (elapsed_s() > (double)max_seconds) {
            atomic_store(&stop_all, true);
            break;
        }
        request q;
        generate(&r, &q, (int)(i % N_PROGS));
        atomic_fetch_add(&stats[q.prog].sent, 1);
        atomic_fetch_add(&class_sent[q.cls], 1);
        buf reply = {0};
        bool timed_out = false, slow = false;
        if (!exchange(port_base + progs[q.prog].offset, q.raw.p, q.raw.len, &reply, 2000, 12000,
                      &timed_out, &slow)) {
            record_failure(&q, &reply, "connection refused");
        } else {
            judge(&q, &reply, timed_out);
            if (slow)
                atomic_fetch_add(&stats[q.prog].slow, 1);
        }
        free(reply.p);
        free(q.raw.p);
        if (w->index == 0 && i > 0 && i % 20000 < 8 && !all_alive()) {
            atomic_store(&stop_all, true);
            atomic_fetch_add(&total_failures, 1);
        }
    }
    return NULL;
}

static int cmd_run(int threads, uint64_t seed)
{
    clock_gettime(CLOCK_MONOTONIC, &run_start);
    if (!all_alive())
        return 1;
    pthread_t tid[64];
    worker ws[64];
    for (int i = 0; i < threads; i++) {
        ws[i] = (worker){.index = i, .seed = seed};
        pthread_create(&tid[i], NULL, work, &ws[i]);
    }
    for (int i = 0; i < threads; i++)
        pthread_join(tid[i], NULL);
    double took = elapsed_s();
    bool alive = all_alive();
    long sent = 0;
    printf("%-14s %8s %8s %7s %7s %7s %7s %9s %8s %5s %6s\n", "program", "sent", "replies", "2xx",
           "4xx", "5xx", "closed", "no-reply", "no-rid", "slow", "fail");
    for (int i = 0; i < N_PROGS; i++) {
        prog_stats *s = &stats[i];
        printf("%-14s %8ld %8ld %7ld %7ld %7ld %7ld %9ld %8ld %5ld %6ld\n", progs[i].name, s->sent,
               s->replies, s->s2xx, s->s4xx, s->s5xx, s->closed_ok, s->no_reply,
               s->no_request_id, s->slow, s->failures);
        sent += s->sent;
    }
    printf("by class:");
    for (int c = 0; c < C_N; c++)
        printf(" %s %ld", class_names[c], class_sent[c]);
    printf("\n");
    for (int i = 0; i < 64 && reason_names[i] != NULL; i++)
        printf("%s: %-48s %ld\n", !strict && is_known(reason_names[i]) ? "known defect" : "failure",
               reason_names[i], reason_counts[i]);
    printf("http_fuzz: %ld requests in %.1f s (%.0f/s), %ld failures, %ld from known defects, "
           "all programs %s\n",
           sent, took, (double)sent / (took > 0 ? took : 1), total_failures, known_failures,
           alive ? "alive" : "NOT all alive");
    if (sent < n_requests)
        printf("http_fuzz: stopped after %ld of %ld requests (time limit %ld s)\n", sent,
               n_requests, max_seconds);
    return total_failures == 0 && alive ? 0 : 1;
}

/* ------------------------------------------------------------ snapshot */

/* GETs path from port and parses the JSON body; NULL on any failure. */
static cJSON *get_json(int port, const char *path, int *status)
{
    char req[512];
    int n = snprintf(req, sizeof req,
                     "GET %s HTTP/1.1\r\nHost: 127.0.0.1\r\nConnection: close\r\n"
                     "X-Internal-Token: %s\r\n\r\n",
                     path, internal_token);
    buf reply = {0};
    bool timed_out;
    cJSON *doc = NULL;
    *status = 0;
    bool slow;
    if (exchange(port, req, (size_t)n, &reply, 10000, 10000, &timed_out, &slow) && reply.len > 0) {
        size_t off = 0;
        reply_info info;
        if (parse_reply(reply.p, reply.len, &off, false, &info) == NULL) {
            *status = info.status;
            doc = cJSON_ParseWithLength(reply.p + info.body_off, info.body_len);
        }
    }
    free(reply.p);
    return doc;
}

/* Prints every element of the paged list at port+path (array member
 * list_name), one canonical JSON line each, prefixed by label. */
static bool dump_list(const char *label, int offset, const char *path, const char *list_name,
                      bool paged)
{
    long long after = 0;
    for (int page = 0; page < 1000; page++) {
        char p[256];
        int status;
        if (paged)
            snprintf(p, sizeof p, "%s?limit=500&afterId=%lld", path, after);
        else
            snprintf(p, sizeof p, "%s", path);
        cJSON *doc = get_json(port_base + offset, p, &status);
        const cJSON *arr = cJSON_GetObjectItemCaseSensitive(doc, list_name);
        if (status != 200 || !cJSON_IsArray(arr)) {
            fprintf(stderr, "http_fuzz: snapshot: GET %s on port %d: %d\n", p, port_base + offset,
                    status);
            cJSON_Delete(doc);
            return false;
        }
        const cJSON *el;
        cJSON_ArrayForEach(el, arr)
        {
            char *line = cJSON_PrintUnformatted(el);
            printf("%s %s\n", label, line);
            free(line);
        }
        const cJSON *next = cJSON_GetObjectItemCaseSensitive(doc, "nextAfterId");
        bool more = paged && cJSON_IsNumber(next);
        if (more)
            after = (long long)next->valuedouble;
        cJSON_Delete(doc);
        if (!more)
            return true;
    }
    return false;
}

static int cmd_snapshot(void)
{
    bool ok = dump_list("item", 1, "/items", "items", false) &&
              dump_list("user", 2, "/users", "items", true) &&
              dump_list("user-coupon", 3, "/user-coupons", "items", true) &&
              dump_list("order", 4, "/orders", "items", true) &&
              dump_list("payment", 5, "/payments", "items", true) &&
              dump_list("received", 6, "/orders", "orders", true);
    /* Coupons have no list route: GET /coupons/{id} until two 404s. */
    int misses = 0;
    for (int id = 1; ok && misses < 2 && id < 100000; id++) {
        char p[64];
        int status;
        snprintf(p, sizeof p, "/coupons/%d", id);
        cJSON *doc = get_json(port_base + 3, p, &status);
        if (status == 404) {
            misses++;
        } else if (status == 200 && doc != NULL) {
            char *line = cJSON_PrintUnformatted(doc);
            printf("coupon %s\n", line);
            free(line);
        } else {
            fprintf(stderr, "http_fuzz: snapshot: GET %s: %d\n", p, status);
            ok = false;
        }
        cJSON_Delete(doc);
    }
    return ok ? 0 : 1;
}

static void usage(void)
{
    fprintf(stderr, "usage: http_fuzz run BASE [-n REQUESTS] [-t THREADS] [-s MAX_SECONDS] "
                    "[-r SEED] [-d DUMP_DIR]\n       http_fuzz snapshot BASE\n");
    exit(2);
}

int main(int argc, char **argv)
{
    if (argc < 3)
        usage();
    port_base = (int)strtol(argv[2], NULL, 10);
    if (port_base < 1 || port_base > 65529)
        usage();
    const char *t = getenv("SHOP_INTERNAL_TOKEN");
    if (t != NULL && t[0] != '\0')
        internal_token = t;
    t = getenv("SHOP_ADMIN_TOKEN");
    if (t != NULL && t[0] != '\0')
        admin_token = t;
    if (strcmp(argv[1], "snapshot") == 0)
        return cmd_snapshot();
    t = getenv("FUZZ_STRICT");
    if (t != NULL && strcmp(t, "1") == 0) {
        max_depth = 20000;
        strict = true;
    }
    if (strcmp(argv[1], "run") != 0)
        usage();
    int threads = 8;
    uint64_t seed = (uint64_t)time(NULL);
    for (int i = 3; i + 1 < argc; i += 2) {
        if (strcmp(argv[i], "-n") == 0)
            n_requests = strtol(argv[i + 1], NULL, 10);
        else if (strcmp(argv[i], "-t") == 0)
            threads = (int)strtol(argv[i + 1], NULL, 10);
        else if (strcmp(argv[i], "-s") == 0)
            max_seconds = strtol(argv[i + 1], NULL, 10);
        else if (strcmp(argv[i], "-r") == 0)
            seed = strtoull(argv[i + 1], NULL, 10);
        else if (strcmp(argv[i], "-d") == 0)
            dump_dir = argv[i + 1];
        else
            usage();
    }
    if (threads < 1 || threads > 64 || n_requests < 1)
        usage();
    if (dump_dir != NULL)
        mkdir(dump_dir, 0755);
    printf("http_fuzz: %ld requests, %d threads, seed %llu, base port %d\n", n_requests, threads,
           (unsigned long long)seed, port_base);
    fflush(stdout);
    return cmd_run(threads, seed);
}
