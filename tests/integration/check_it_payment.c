/* Integration tests of payment-service with the real item, user, coupon and
 * order services and the data-platform stub on loopback: the pay saga end to
 * end (balance, order, stock, coupon, data platform), its refusals, 20
 * concurrent payments of one order, a failing data platform, payments whose
 * debit reply was lost (through a fault proxy in this process) finished by
 * the settler, SIGTERM, a transient error before the debit (the payment
 * fails at once, the order stays payable, the key is free for the retry), a
 * short balance whose cancel fails (the key answers 402 only once the
 * settler has cancelled the order), Idempotency-Key on POST /payments
 * (replays, stored refusals, a key held by a payment the settler finishes,
 * 12 racing repeats), the saga view of each flow, and the saga, settler and
 * outbox metrics of GET /metrics after each kind of flow. */
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <check.h>

#include "harness.h"
#include "http_client.h"
#include "http_server.h"

Suite *it_payment_suite(void);

#define TOKEN "it-payment-token"
#define TOKEN_HEADER "X-Internal-Token: " TOKEN
#define N_SVC 6
#define ENV_MAX 24

static const char *const auth[] = {TOKEN_HEADER, NULL};

/* One stack: item, user, coupon, order, payment, data-platform. */
typedef struct stack {
    char *dir;
    svc_proc svc[N_SVC];
    char env[ENV_MAX][300];
    int n_env;
    const char *payment_extra[8]; /* extra env for payment-service only */
    int avoid_port;               /* a port of this test's own (a proxy), or 0 */
} stack;

enum { ITEM, USER, COUPON, ORDER, PAYMENT, DP };
static const char *const binaries[N_SVC] = {"item-service",  "user-service",    "coupon-service",
                                            "order-service", "payment-service", "data-platform"};
static const char *const prefixes[N_SVC] = {"ITEM",  "USER",    "COUPON",
                                            "ORDER", "PAYMENT", "DATA_PLATFORM"};
static const char *const files[N_SVC] = {"item",  "user",    "coupon",
                                         "order", "payment", "data-platform"};

static stack g; /* the stack of the current tcase (unchecked fixture) */

/* Adds "<prefix><name>=<value>" to the common env. */
static void add_env(stack *s, const char *prefix, const char *name, const char *value)
{
    ck_assert_int_lt(s->n_env, ENV_MAX);
    snprintf(s->env[s->n_env], sizeof s->env[0], "%s%s=%s", prefix, name, value);
    s->n_env++;
}

/* Starts service i of s with the common env (plus the payment extras). */
static bool start_one(stack *s, int i)
{
    const char *env[ENV_MAX + 10];
    int n = 0;
    for (int k = 0; k < s->n_env; k++)
        env[n++] = s->env[k];
    for (int k = 0; i == PAYMENT && s->payment_extra[k] != NULL; k++)
        env[n++] = s->payment_extra[k];
    env[n] = NULL;
    snprintf(s->svc[i].log_path, sizeof s->svc[i].log_path, "%s/%s.log", s->dir, files[i]);
    return harness_start(&s->svc[i], binaries[i], env);
}

/* A free port for service i of s that none of s's earlier ones (or its
 * proxy) has: harness_free_port only checks that the port can be bound now,
 * so two calls may give the same one. */
static int free_port(const stack *s, int i)
{
    for (;;) {
        int port = harness_free_port();
        bool taken = port == s->avoid_port;
        for (int k = 0; k < i; k++)
            taken = taken || port == s->svc[k].port;
        if (!taken)
            return port;
    }
}

/* Makes a temp dir, picks ports and starts all six (seeded). */
static bool stack_start(stack *s)
{
    char port[16], url[64], path[600];
    s->dir = harness_tmpdir();
    if (s->dir == NULL)
        return false;
    s->n_env = 0;
    add_env(s, "", "SHOP_INTERNAL_TOKEN", TOKEN);
    add_env(s, "", "SHOP_SEED", "1");
    add_env(s, "", "PAYMENT_OUTBOX_MAX_BACKOFF_MS", "400");
    for (int i = 0; i < N_SVC; i++) {
        memset(&s->svc[i], 0, sizeof s->svc[i]);
        s->svc[i].port = free_port(s, i);
        snprintf(port, sizeof port, "%d", s->svc[i].port);
        snprintf(url, sizeof url, "http://127.0.0.1:%d", s->svc[i].port);
        snprintf(path, sizeof path, "%s/%s.db", s->dir, files[i]);
        add_env(s, prefixes[i], "_PORT", port);
        add_env(s, prefixes[i], "_URL", url);
        add_env(s, prefixes[i], "_DB_PATH", path);
    }
    for (int i = 0; i < N_SVC; i++)
        if (!start_one(s, i))
            return false;
    return true;
}

static void stack_stop(stack *s)
{
    for (int i = N_SVC - 1; i >= 0; i--)
        harness_stop(&s->svc[i]);
    harness_rmdir(s->dir);
    s->dir = NULL;
}

static void up(void)
{
    memset(&g, 0, sizeof g);
    ck_assert_msg(stack_start(&g), "the stack did not start");
}

static void down(void)
{
    stack_stop(&g);
}

/* ---- helpers ------------------------------------------------------------ */

static long req(const stack *s, int svc, const char *method, const char *path, const char *body,
                hresp *out)
{
    return harness_req(method, s->svc[svc].port, path, body, auth, out);
}

static const char *str_of(const cJSON *o, const char *name)
{
    const cJSON *v = cJSON_GetObjectItemCaseSensitive(o, name);
    return cJSON_IsString(v) ? v->valuestring : "";
}

static void sleep_ms(long ms)
{
    struct timespec ts = {.tv_sec = ms / 1000, .tv_nsec = (ms % 1000) * 1000000L};
    nanosleep(&ts, NULL);
}

static void expect_problem(const hresp *r, long status, const char *code)
{
    ck_assert_msg(r->status == status, "expected %ld %s, got %ld %s", status, code, r->status,
                  r->body);
    ck_assert_str_eq(r->content_type, "application/problem+json");
    ck_assert_str_eq(str_of(r->json, "code"), code);
}

/* Creates an order (201 asserted); uc 0 means no coupon. OUT: *final_amount. */
static long long create_order(const stack *s, int user, int item, int qty, int uc,
                              long long *final_amount)
{
    char body[200];
    hresp r;
    if (uc > 0)
        snprintf(body, sizeof body,
                 "{\"userId\":%d,\"items\":[{\"itemId\":%d,\"quantity\":%d}],"
                 "\"userCouponId\":%d}",
                 user, item, qty, uc);
    else
        snprintf(body, sizeof body, "{\"userId\":%d,\"items\":[{\"itemId\":%d,\"quantity\":%d}]}",
                 user, item, qty);
    req(s, ORDER, "POST", "/orders", body, &r);
    ck_assert_msg(r.status == 201, "order: %ld %s", r.status, r.body);
    ck_assert_str_eq(str_of(r.json, "status"), "CREATED");
    long long id = harness_int(r.json, "id");
    if (final_amount != NULL)
        *final_amount = harness_int(r.json, "finalAmount");
    hresp_free(&r);
    return id;
}

static long pay(const stack *s, long long order, int user, hresp *out)
{
    char body[100];
    snprintf(body, sizeof body, "{\"orderId\":%lld,\"userId\":%d}", order, user);
    return req(s, PAYMENT, "POST", "/payments", body, out);
}

static long long balance(const stack *s, int user)
{
    char path[64];
    hresp r;
    snprintf(path, sizeof path, "/users/%d/balance", user);
    ck_assert_int_eq(req(s, USER, "GET", path, NULL, &r), 200);
    long long b = harness_int(r.json, "balance");
    hresp_free(&r);
    return b;
}

static long long stock(const stack *s, int item)
{
    char path[64];
    hresp r;
    snprintf(path, sizeof path, "/items/%d", item);
    ck_assert_int_eq(req(s, ITEM, "GET", path, NULL, &r), 200);
    long long n = harness_int(r.json, "stock");
    hresp_free(&r);
    return n;
}

/* The order's status, copied into out. */
static void order_status(const stack *s, long long order, char *out, size_t len)
{
    char path[64];
    hresp r;
    snprintf(path, sizeof path, "/orders/%lld", order);
    ck_assert_int_eq(req(s, ORDER, "GET", path, NULL, &r), 200);
    snprintf(out, len, "%s", str_of(r.json, "status"));
    hresp_free(&r);
}

static void expect_order_status(const stack *s, long long order, const char *status)
{
    char st[32];
    order_status(s, order, st, sizeof st);
    ck_assert_str_eq(st, status);
}

/* isUsed of user coupon uc of user (asserted present). */
static bool coupon_used(const stack *s, int user, int uc)
{
    char path[64];
    hresp r;
    snprintf(path, sizeof path, "/users/%d/coupons", user);
    ck_assert_int_eq(req(s, COUPON, "GET", path, NULL, &r), 200);
    const cJSON *c;
    int found = -1;
    cJSON_ArrayForEach(c, cJSON_GetObjectItemCaseSensitive(r.json, "coupons"))
    {
        if (harness_int(c, "id") == uc)
            found = cJSON_IsTrue(cJSON_GetObjectItemCaseSensitive(c, "isUsed"));
    }
    hresp_free(&r);
    ck_assert_int_ne(found, -1);
    return found == 1;
}

/* The payments of order (via the list route, all pages of userId); copies up
 * to max into ids/statuses. Returns how many. */
static int payments_of(const stack *s, int user, long long order, long long *ids,
                       char (*statuses)[16], int max)
{
    int n = 0;
    long long after = 0;
    for (;;) {
        char path[128];
        hresp r;
        snprintf(path, sizeof path, "/payments?userId=%d&afterId=%lld&limit=50", user, after);
        ck_assert_int_eq(req(s, PAYMENT, "GET", path, NULL, &r), 200);
        const cJSON *p;
        cJSON_ArrayForEach(p, cJSON_GetObjectItemCaseSensitive(r.json, "items"))
        {
            ck_assert_int_eq(harness_int(p, "userId"), user);
            if (harness_int(p, "orderId") == order) {
                if (n < max) {
                    ids[n] = harness_int(p, "id");
                    snprintf(statuses[n], 16, "%s", str_of(p, "status"));
                }
                n++;
            }
        }
        const cJSON *next = cJSON_GetObjectItemCaseSensitive(r.json, "nextAfterId");
        bool more = cJSON_IsNumber(next);
        after = more ? (long long)next->valuedouble : 0;
        hresp_free(&r);
        if (!more)
            break;
    }
    return n;
}

/* GET /payments/{id} (200 asserted); caller hresp_frees. */
static void get_payment(const stack *s, long long id, hresp *r)
{
    char path[64];
    snprintf(path, sizeof path, "/payments/%lld", id);
    ck_assert_int_eq(req(s, PAYMENT, "GET", path, NULL, r), 200);
}

/* Polls the payment until its delivery is DELIVERED; false after ms. */
static bool wait_delivered(const stack *s, long long id, long ms)
{
    for (long waited = 0; waited <= ms; waited += 50) {
        hresp r;
        get_payment(s, id, &r);
        const cJSON *d = cJSON_GetObjectItemCaseSensitive(r.json, "delivery");
        bool done = strcmp(str_of(d, "status"), "DELIVERED") == 0;
        hresp_free(&r);
        if (done)
            return true;
        sleep_ms(50);
    }
    return false;
}

/* ---- GET /metrics ------------------------------------------------------- */

/* One series and the value it should have. */
typedef struct series_want {
    const char *series; /* name and labels exactly as exported */
    long long want;
} series_want;

/* The value of series (e.g. "shop_payment_sagas_total{outcome=\"failed\"}")
 * in text (a GET /metrics body), or -1 when it is not there. */
static long long metric_in(const char *text, const char *series)
{
    size_t n = strlen(series);
    for (const char *line = text; line != NULL && *line != '\0';) {
        if (strncmp(line, series, n) == 0 && line[n] == ' ')
            return strtoll(line + n + 1, NULL, 10);
        line = strchr(line, '\n');
        if (line != NULL)
            line++;
    }
    return -1;
}

/* The value of series in service svc's GET /metrics now (-1: not there). */
static long long metric(const stack *s, int svc, const char *series)
{
    hresp r;
    ck_assert_int_eq(harness_req("GET", s->svc[svc].port, "/metrics", NULL, NULL, &r), 200);
    long long v = metric_in(r.body, series);
    hresp_free(&r);
    return v;
}

/* Asserts every series of want (n of them) in one scrape of svc. */
static void expect_metrics(const stack *s, int svc, const series_want *want, size_t n)
{
    hresp r;
    ck_assert_int_eq(harness_req("GET", s->svc[svc].port, "/metrics", NULL, NULL, &r), 200);
    for (size_t i = 0; i < n; i++) {
        long long got = metric_in(r.body, want[i].series);
        ck_assert_msg(got == want[i].want, "%s %s: want %lld, got %lld", binaries[svc],
                      want[i].series, want[i].want, got);
    }
    hresp_free(&r);
}

/* Polls series of svc until it reads want (10 s at most), for what a
 * background thread counts after its write; asserts it then does. */
static void wait_metric(const stack *s, int svc, const char *series, long long want)
{
    long long got = metric(s, svc, series);
    for (int waited = 0; waited < 10000 && got != want; waited += 50) {
        sleep_ms(50);
        got = metric(s, svc, series);
    }
    ck_assert_msg(got == want, "%s %s: want %lld, got %lld after 10 s", binaries[svc], series, want,
                  got);
}

#define PAY_SAGAS(outcome) "shop_payment_sagas_total{outcome=\"" outcome "\"}"
#define PAY_RECOVERY(action, result)                                                               \
    "shop_payment_recovery_total{action=\"" action "\",result=\"" result "\"}"
#define DELIVERIES(outcome) "shop_payment_outbox_deliveries_total{outcome=\"" outcome "\"}"
#define BACKLOG "shop_payment_outbox_backlog"
#define ORDER_SAGAS(saga, outcome)                                                                 \
    "shop_order_sagas_total{saga=\"" saga "\",outcome=\"" outcome "\"}"
#define ORDER_RECOVERY(action, result)                                                             \
    "shop_order_recovery_total{action=\"" action "\",result=\"" result "\"}"

/* The delivery attempts of payment id so far. */
static long long delivery_attempts(const stack *s, long long id)
{
    hresp r;
    get_payment(s, id, &r);
    long long n = harness_int(cJSON_GetObjectItemCaseSensitive(r.json, "delivery"), "attempts");
    hresp_free(&r);
    return n;
}

/* Polls payment id until its delivery has failed at least twice (10 s at most). */
static void wait_failed_attempts(const stack *s, long long id)
{
    for (int waited = 0; waited < 10000 && delivery_attempts(s, id) < 2; waited += 50)
        sleep_ms(50);
    ck_assert_int_ge(delivery_attempts(s, id), 2);
}

/* ---- the saga view ------------------------------------------------------ */

/* GET order-service /orders/{id}/saga (200 asserted); caller cJSON_Deletes. */
static cJSON *saga_of(const stack *s, long long order)
{
    char path[80];
    hresp r;
    snprintf(path, sizeof path, "/orders/%lld/saga", order);
    long status = req(s, ORDER, "GET", path, NULL, &r);
    ck_assert_msg(status == 200, "GET %s: %ld %s", path, status, r.body);
    cJSON *view = r.json;
    r.json = NULL;
    hresp_free(&r);
    return view;
}

/* A step as "service step peer status[ !error][ comp]"; peer "-" and status
 * 0 when absent. Also asserts it is well formed. */
static void step_line(const cJSON *st, char *out, size_t len)
{
    const cJSON *peer = cJSON_GetObjectItemCaseSensitive(st, "peer");
    const cJSON *status = cJSON_GetObjectItemCaseSensitive(st, "httpStatus");
    const cJSON *error = cJSON_GetObjectItemCaseSensitive(st, "error");
    const cJSON *comp = cJSON_GetObjectItemCaseSensitive(st, "compensation");
    ck_assert(cJSON_IsString(peer) || cJSON_IsNull(peer));
    ck_assert(cJSON_IsNumber(status) || cJSON_IsNull(status));
    ck_assert(cJSON_IsString(error) || cJSON_IsNull(error));
    ck_assert(cJSON_IsBool(comp));
    ck_assert_int_eq(strlen(str_of(st, "at")), 27);
    ck_assert_int_gt(strlen(str_of(st, "requestId")), 0);
    ck_assert_int_ge(harness_int(st, "durationMs"), 0);
    size_t n = (size_t)snprintf(out, len, "%s %s %s %d", str_of(st, "service"), str_of(st, "step"),
                                cJSON_IsString(peer) ? peer->valuestring : "-",
                                cJSON_IsNumber(status) ? (int)status->valuedouble : 0);
    if (cJSON_IsString(error))
        n += (size_t)snprintf(out + n, len - n, " !%s", error->valuestring);
    if (cJSON_IsTrue(comp))
        snprintf(out + n, len - n, " comp");
}

/* The steps of view, one step_line each, joined by "\n  " into out; asserts
 * they are in time order. */
static void view_lines(const cJSON *view, char *out, size_t len)
{
    char line[256];
    size_t used = 0;
    const char *prev = "";
    const cJSON *st;
    out[0] = '\0';
    cJSON_ArrayForEach(st, cJSON_GetObjectItemCaseSensitive(view, "steps"))
    {
        ck_assert_msg(strcmp(prev, str_of(st, "at")) <= 0, "out of time order: %s then %s", prev,
                      str_of(st, "at"));
        prev = str_of(st, "at");
        step_line(st, line, sizeof line);
        used += (size_t)snprintf(out + used, len - used, "\n  %s", line);
    }
}

/* Asserts the saga view of order: its status, partial, and exactly the
 * steps want (NULL-ended), in that order. Returns the view (caller
 * cJSON_Deletes) for more checks. */
static cJSON *expect_saga(const stack *s, long long order, const char *status, bool partial,
                          const char *const *want)
{
    char have[8192], wanted[8192];
    size_t used = 0;
    cJSON *view = saga_of(s, order);
    ck_assert_int_eq(harness_int(view, "orderId"), order);
    ck_assert_str_eq(str_of(view, "status"), status);
    ck_assert(cJSON_IsBool(cJSON_GetObjectItemCaseSensitive(view, "partial")));
    ck_assert_int_eq(cJSON_IsTrue(cJSON_GetObjectItemCaseSensitive(view, "partial")), partial);
    view_lines(view, have, sizeof have);
    wanted[0] = '\0';
    for (; *want != NULL; want++)
        used += (size_t)snprintf(wanted + used, sizeof wanted - used, "\n  %s", *want);
    ck_assert_msg(strcmp(have, wanted) == 0, "order %lld saga:%s\nwanted:%s", order, have, wanted);
    return view;
}

/* The steps of an order's create saga (without a coupon: PLAIN). */
#define CREATE_PLAIN                                                                               \
    "order user.check user 200", "order order.pending - 0", "order stock.check item 200",          \
        "order stock.deduct item 200"
#define CREATE_COUPON                                                                              \
    CREATE_PLAIN, "order coupon.validate coupon 200", "order coupon.use coupon 200"

/* POST /payments with an Idempotency-Key (NULL: none) and a request id (NULL: none). */
static long pay_with(const stack *s, long long order, int user, const char *key, const char *rid,
                     hresp *out)
{
    char body[100], key_header[400], rid_header[200];
    const char *headers[4] = {TOKEN_HEADER, NULL, NULL, NULL};
    int n = 1;
    if (key != NULL) {
        snprintf(key_header, sizeof key_header, "Idempotency-Key: %s", key);
        headers[n++] = key_header;
    }
    if (rid != NULL) {
        snprintf(rid_header, sizeof rid_header, "X-Request-Id: %s", rid);
        headers[n++] = rid_header;
    }
    snprintf(body, sizeof body, "{\"orderId\":%lld,\"userId\":%d}", order, user);
    return harness_req("POST", s->svc[PAYMENT].port, "/payments", body, headers, out);
}

/* ---- the saga ----------------------------------------------------------- */

START_TEST(test_pay_success)
{
    /* kim (user 1): 2 mice at 20,000 with her "5,000 off" coupon: 35,000. */
    long long before = balance(&g, 1);
    long long mice = stock(&g, 2);
    long long final_amount = 0;
    long long order = create_order(&g, 1, 2, 2, 1, &final_amount);
    ck_assert_int_eq(final_amount, 35000);
    ck_assert(coupon_used(&g, 1, 1));
    hresp r;
    ck_assert_int_eq(pay_with(&g, order, 1, NULL, "it-pay-success", &r), 201);
    ck_assert_str_eq(r.content_type, "application/json");
    long long id = harness_int(r.json, "id");
    ck_assert_int_gt(id, 0);
    ck_assert_int_eq(harness_int(r.json, "orderId"), order);
    ck_assert_int_eq(harness_int(r.json, "userId"), 1);
    ck_assert_int_eq(harness_int(r.json, "amount"), 35000);
    ck_assert_str_eq(str_of(r.json, "status"), "COMPLETED");
    ck_assert_int_eq(strlen(str_of(r.json, "createdAt")), 20);
    /* The reply never waits for the platform: the delivery is still to come. */
    const cJSON *d = cJSON_GetObjectItemCaseSensitive(r.json, "delivery");
    ck_assert_str_eq(str_of(d, "status"), "PENDING");
    ck_assert_int_eq(harness_int(d, "attempts"), 0);
    ck_assert(cJSON_IsNull(cJSON_GetObjectItemCaseSensitive(d, "deliveredAt")));
    hresp_free(&r);
    /* Exactly the final amount was debited; the order is PAID, stock stays taken. */
    ck_assert_int_eq(balance(&g, 1), before - 35000);
    expect_order_status(&g, order, "PAID");
    ck_assert_int_eq(stock(&g, 2), mice - 2);
    ck_assert(coupon_used(&g, 1, 1));
    /* Delivered once, and recorded on the payment. */
    ck_assert(wait_delivered(&g, id, 5000));
    get_payment(&g, id, &r);
    d = cJSON_GetObjectItemCaseSensitive(r.json, "delivery");
    ck_assert_int_eq(harness_int(d, "attempts"), 1);
    ck_assert_int_eq(strlen(str_of(d, "deliveredAt")), 20);
    ck_assert_str_eq(str_of(r.json, "status"), "COMPLETED");
    hresp_free(&r);
    char path[64];
    snprintf(path, sizeof path, "/orders/%lld", order);
    ck_assert_int_eq(harness_req("GET", g.svc[DP].port, path, NULL, NULL, &r), 200);
    ck_assert_int_eq(harness_int(r.json, "orderId"), order);
    ck_assert_int_eq(harness_int(r.json, "paymentId"), id);
    ck_assert_int_eq(harness_int(r.json, "userId"), 1);
    ck_assert_int_eq(harness_int(r.json, "totalAmount"), 40000);
    ck_assert_int_eq(harness_int(r.json, "discountAmount"), 5000);
    ck_assert_int_eq(harness_int(r.json, "finalAmount"), 35000);
    ck_assert_int_eq(harness_int(r.json, "deliveries"), 1);
    const cJSON *items = cJSON_GetObjectItemCaseSensitive(r.json, "items");
    ck_assert_int_eq(cJSON_GetArraySize(items), 1);
    ck_assert_int_eq(harness_int(cJSON_GetArrayItem(items, 0), "itemId"), 2);
    ck_assert_int_eq(harness_int(cJSON_GetArrayItem(items, 0), "quantity"), 2);
    hresp_free(&r);
    /* The saga view: the order's story and the payment's, in time order. */
    static const char *const steps[] = {CREATE_COUPON,
                                        "order order.created - 0",
                                        "payment payment.pending - 0",
                                        "payment order.read order 200",
                                        "payment balance.check user 200",
                                        "payment balance.debit user 200",
                                        "payment order.mark_paid order 200",
                                        "order order.paid - 0",
                                        "payment payment.completed - 0",
                                        "payment outbox.delivered data-platform 200",
                                        NULL};
    cJSON *view = expect_saga(&g, order, "PAID", false, steps);
    /* The payment's request id goes with its steps, order.paid included; the
     * order's and the outbox worker's steps have their own. */
    const cJSON *st;
    int i = 0;
    cJSON_ArrayForEach(st, cJSON_GetObjectItemCaseSensitive(view, "steps"))
    {
        bool of_payment = i >= 7 && i <= 13;
        ck_assert_msg((strcmp(str_of(st, "requestId"), "it-pay-success") == 0) == of_payment,
                      "step %d (%s): request id %s", i, str_of(st, "step"),
                      str_of(st, "requestId"));
        if (i >= 7)
            ck_assert_int_eq(harness_int(st, "paymentId"), id);
        else
            ck_assert(cJSON_IsNull(cJSON_GetObjectItemCaseSensitive(st, "paymentId")));
        i++;
    }
    cJSON_Delete(view);
    /* Unknown payment. */
    ck_assert_int_eq(req(&g, PAYMENT, "GET", "/payments/999999", NULL, &r), 404);
    expect_problem(&r, 404, "PAYMENT_NOT_FOUND");
    hresp_free(&r);
}
END_TEST

START_TEST(test_pay_short_balance)
{
    /* lee (user 2, 10,000): a keyboard with her 10% coupon costs 45,000. */
    long long before = balance(&g, 2);
    long long keyboards = stock(&g, 1);
    long long final_amount = 0;
    long long order = create_order(&g, 2, 1, 1, 2, &final_amount);
    ck_assert_int_eq(final_amount, 45000);
    ck_assert_int_eq(stock(&g, 1), keyboards - 1);
    ck_assert(coupon_used(&g, 2, 2));
    hresp r;
    ck_assert_int_eq(pay(&g, order, 2, &r), 402);
    expect_problem(&r, 402, "INSUFFICIENT_BALANCE");
    hresp_free(&r);
    /* The order was cancelled with compensation before the reply. */
    expect_order_status(&g, order, "CANCELLED");
    ck_assert_int_eq(stock(&g, 1), keyboards);
    ck_assert(!coupon_used(&g, 2, 2));
    ck_assert_int_eq(balance(&g, 2), before);
    /* The payment is recorded FAILED, with no delivery. */
    long long ids[4];
    char statuses[4][16];
    ck_assert_int_eq(payments_of(&g, 2, order, ids, statuses, 4), 1);
    ck_assert_str_eq(statuses[0], "FAILED");
    get_payment(&g, ids[0], &r);
    ck_assert_str_eq(str_of(r.json, "status"), "FAILED");
    ck_assert_int_eq(harness_int(r.json, "amount"), 45000);
    ck_assert(cJSON_IsNull(cJSON_GetObjectItemCaseSensitive(r.json, "delivery")));
    hresp_free(&r);
    /* The saga view: the payment failed, then the order's compensation. */
    static const char *const steps[] = {CREATE_COUPON,
                                        "order order.created - 0",
                                        "payment payment.pending - 0",
                                        "payment order.read order 200",
                                        "payment balance.check user 200",
                                        "payment payment.failed - 0",
                                        "payment order.cancel order 200",
                                        "order order.cancelling - 0",
                                        "order coupon.restore coupon 200 comp",
                                        "order stock.restore item 200 comp",
                                        "order order.cancelled - 0",
                                        NULL};
    cJSON_Delete(expect_saga(&g, order, "CANCELLED", false, steps));
    /* Paying the cancelled order again: 409, and nothing new is left. */
    ck_assert_int_eq(pay(&g, order, 2, &r), 409);
    expect_problem(&r, 409, "ORDER_NOT_PAYABLE");
    hresp_free(&r);
    ck_assert_int_eq(payments_of(&g, 2, order, ids, statuses, 4), 1);
    ck_assert_int_eq(balance(&g, 2), before);
    cJSON_Delete(expect_saga(&g, order, "CANCELLED", false, steps));
}
END_TEST

START_TEST(test_pay_refusals)
{
    hresp r;
    /* Unknown order: 404, no payment left behind. */
    ck_assert_int_eq(pay(&g, 999999999, 1, &r), 404);
    expect_problem(&r, 404, "ORDER_NOT_FOUND");
    hresp_free(&r);
    ck_assert_int_eq(payments_of(&g, 1, 999999999, NULL, NULL, 0), 0);
    /* Another user's order: 403, and the order stays payable by its owner. */
    long long before = balance(&g, 1);
    long long final_amount = 0;
    long long order = create_order(&g, 1, 4, 1, 0, &final_amount);
    ck_assert_int_eq(final_amount, 5000);
    ck_assert_int_eq(pay(&g, order, 3, &r), 403);
    expect_problem(&r, 403, "FORBIDDEN");
    hresp_free(&r);
    ck_assert_int_eq(payments_of(&g, 3, order, NULL, NULL, 0), 0);
    expect_order_status(&g, order, "CREATED");
    ck_assert_int_eq(pay(&g, order, 1, &r), 201);
    hresp_free(&r);
    /* Paying twice: 409, one debit. */
    ck_assert_int_eq(pay(&g, order, 1, &r), 409);
    expect_problem(&r, 409, "ORDER_NOT_PAYABLE");
    hresp_free(&r);
    ck_assert_int_eq(balance(&g, 1), before - 5000);
    long long ids[4];
    char statuses[4][16];
    ck_assert_int_eq(payments_of(&g, 1, order, ids, statuses, 4), 1);
    ck_assert_str_eq(statuses[0], "COMPLETED");
    /* A cancelled order: 409, no payment row, no debit. */
    long long cancelled = create_order(&g, 1, 4, 1, 0, NULL);
    char path[64];
    snprintf(path, sizeof path, "/orders/%lld/cancel", cancelled);
    ck_assert_int_eq(req(&g, ORDER, "POST", path, "{\"userId\":1}", NULL), 200);
    ck_assert_int_eq(pay(&g, cancelled, 1, &r), 409);
    expect_problem(&r, 409, "ORDER_NOT_PAYABLE");
    hresp_free(&r);
    ck_assert_int_eq(payments_of(&g, 1, cancelled, NULL, NULL, 0), 0);
    ck_assert_int_eq(balance(&g, 1), before - 5000);
    /* Bodies that are not a payment request. */
    const char *bad[] = {"",
                         "{}",
                         "{\"orderId\":1}",
                         "{\"userId\":1}",
                         "{\"orderId\":0,\"userId\":1}",
                         "{\"orderId\":1,\"userId\":-1}",
                         "{\"orderId\":\"1\",\"userId\":1}",
                         "{\"orderId\":1.5,\"userId\":1}",
                         "{\"orderId\":1,\"userId\":1,\"userId\":2}",
                         "[1,2]"};
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
        req(&g, PAYMENT, "POST", "/payments", bad[i], &r);
        expect_problem(&r, 400, "INVALID_REQUEST");
        hresp_free(&r);
    }
    /* Without the internal token: 401. */
    ck_assert_int_eq(harness_req("GET", g.svc[PAYMENT].port, "/payments/1", NULL, NULL, &r), 401);
    expect_problem(&r, 401, "UNAUTHORIZED");
    hresp_free(&r);
}
END_TEST

START_TEST(test_free_order)
{
    /* A USB cable (5,000) with a fresh "5,000 off" coupon costs 0: paid
     * without a debit. */
    hresp r;
    ck_assert_int_eq(req(&g, COUPON, "POST", "/coupons/1/issue", "{\"userId\":3}", &r), 201);
    int uc = (int)harness_int(r.json, "id");
    hresp_free(&r);
    long long before = balance(&g, 3);
    long long final_amount = -1;
    long long order = create_order(&g, 3, 4, 1, uc, &final_amount);
    ck_assert_int_eq(final_amount, 0);
    ck_assert_int_eq(pay(&g, order, 3, &r), 201);
    ck_assert_int_eq(harness_int(r.json, "amount"), 0);
    ck_assert_str_eq(str_of(r.json, "status"), "COMPLETED");
    long long id = harness_int(r.json, "id");
    hresp_free(&r);
    expect_order_status(&g, order, "PAID");
    ck_assert_int_eq(balance(&g, 3), before);
    ck_assert(wait_delivered(&g, id, 5000));
}
END_TEST

/* 20 threads pay one order at once. */
#define RACERS 20
typedef struct racer {
    long long order;
    long status;
    char code[40];
} racer;

static void *race_pay(void *arg)
{
    racer *r = arg;
    hresp out;
    r->status = pay(&g, r->order, 3, &out);
    snprintf(r->code, sizeof r->code, "%s", str_of(out.json, "code"));
    hresp_free(&out);
    return NULL;
}

START_TEST(test_pay_race)
{
    long long before = balance(&g, 3);
    long long final_amount = 0;
    long long order = create_order(&g, 3, 2, 1, 0, &final_amount);
    ck_assert_int_eq(final_amount, 20000);
    pthread_t t[RACERS];
    racer r[RACERS];
    for (int i = 0; i < RACERS; i++) {
        memset(&r[i], 0, sizeof r[i]);
        r[i].order = order;
        ck_assert_int_eq(pthread_create(&t[i], NULL, race_pay, &r[i]), 0);
    }
    for (int i = 0; i < RACERS; i++)
        pthread_join(t[i], NULL);
    int created = 0, refused = 0;
    for (int i = 0; i < RACERS; i++) {
        if (r[i].status == 201) {
            created++;
        } else {
            ck_assert_msg(r[i].status == 409 && strcmp(r[i].code, "ORDER_NOT_PAYABLE") == 0,
                          "racer %d: %ld %s", i, r[i].status, r[i].code);
            refused++;
        }
    }
    ck_assert_int_eq(created, 1);
    ck_assert_int_eq(refused, RACERS - 1);
    /* Exactly one debit, one payment row, the order PAID. */
    ck_assert_int_eq(balance(&g, 3), before - 20000);
    expect_order_status(&g, order, "PAID");
    long long ids[RACERS];
    char statuses[RACERS][16];
    ck_assert_int_eq(payments_of(&g, 3, order, ids, statuses, RACERS), 1);
    ck_assert_str_eq(statuses[0], "COMPLETED");
}
END_TEST

START_TEST(test_saga_view_routes)
{
    hresp r;
    ck_assert_int_eq(req(&g, ORDER, "GET", "/orders/999999999/saga", NULL, &r), 404);
    expect_problem(&r, 404, "ORDER_NOT_FOUND");
    hresp_free(&r);
    /* payment-service's part: nothing for an order without payments. */
    ck_assert_int_eq(req(&g, PAYMENT, "GET", "/payments/saga?orderId=999999999", NULL, &r), 200);
    ck_assert_int_eq(cJSON_GetArraySize(cJSON_GetObjectItemCaseSensitive(r.json, "steps")), 0);
    hresp_free(&r);
    const char *bad[] = {"/payments/saga", "/payments/saga?orderId=0", "/payments/saga?orderId=x",
                         "/payments/saga?orderId=1&userId=0"};
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
        req(&g, PAYMENT, "GET", bad[i], NULL, &r);
        expect_problem(&r, 400, "INVALID_REQUEST");
        hresp_free(&r);
    }
    ck_assert_int_eq(
        harness_req("GET", g.svc[PAYMENT].port, "/payments/saga?orderId=1", NULL, NULL, NULL), 401);
    /* A created order not paid yet: its own steps, nothing from payments. */
    long long order = create_order(&g, 3, 4, 1, 0, NULL);
    static const char *const steps[] = {CREATE_PLAIN, "order order.created - 0", NULL};
    cJSON_Delete(expect_saga(&g, order, "CREATED", false, steps));
    char path[80];
    snprintf(path, sizeof path, "/payments/saga?orderId=%lld&userId=3", order);
    ck_assert_int_eq(req(&g, PAYMENT, "GET", path, NULL, &r), 200);
    ck_assert_int_eq(cJSON_GetArraySize(cJSON_GetObjectItemCaseSensitive(r.json, "steps")), 0);
    hresp_free(&r);
    /* A refused payment (another user's order) changed nothing and leaves
     * no step; the owner's payment does. */
    ck_assert_int_eq(pay(&g, order, 1, &r), 403);
    hresp_free(&r);
    cJSON_Delete(expect_saga(&g, order, "CREATED", false, steps));
    ck_assert_int_eq(pay(&g, order, 3, &r), 201);
    long long id = harness_int(r.json, "id");
    hresp_free(&r);
    ck_assert(wait_delivered(&g, id, 5000));
    ck_assert_int_eq(req(&g, PAYMENT, "GET", path, NULL, &r), 200);
    const cJSON *list = cJSON_GetObjectItemCaseSensitive(r.json, "steps");
    ck_assert_int_eq(cJSON_GetArraySize(list), 7);
    ck_assert_str_eq(str_of(cJSON_GetArrayItem(list, 0), "step"), "payment.pending");
    ck_assert_str_eq(str_of(cJSON_GetArrayItem(list, 0), "service"), "payment");
    ck_assert_str_eq(str_of(cJSON_GetArrayItem(list, 6), "step"), "outbox.delivered");
    hresp_free(&r);
    /* Asked for another payer's payments: none. */
    snprintf(path, sizeof path, "/payments/saga?orderId=%lld&userId=1", order);
    ck_assert_int_eq(req(&g, PAYMENT, "GET", path, NULL, &r), 200);
    ck_assert_int_eq(cJSON_GetArraySize(cJSON_GetObjectItemCaseSensitive(r.json, "steps")), 0);
    hresp_free(&r);
}
END_TEST

/* ---- Idempotency-Key ------------------------------------------------------- */

static bool replayed(const hresp *r)
{
    return harness_has_header(r, "Idempotent-Replayed", "true");
}

START_TEST(test_idempotency_replays_the_first_answer)
{
    hresp r, again;
    long long before = balance(&g, 1);
    long long order = create_order(&g, 1, 4, 1, 0, NULL);
    ck_assert_int_eq(pay_with(&g, order, 1, "it-key-1", NULL, &r), 201);
    ck_assert(!replayed(&r));
    long long id = harness_int(r.json, "id");
    ck_assert_int_eq(pay_with(&g, order, 1, "it-key-1", NULL, &again), 201);
    ck_assert(replayed(&again));
    ck_assert_str_eq(again.content_type, "application/json");
    ck_assert_str_eq(again.body, r.body);
    hresp_free(&r);
    hresp_free(&again);
    /* One payment, one debit. */
    long long ids[4];
    char statuses[4][16];
    ck_assert_int_eq(payments_of(&g, 1, order, ids, statuses, 4), 1);
    ck_assert_int_eq(ids[0], id);
    ck_assert_int_eq(balance(&g, 1), before - 5000);
    /* The same key with another request: 422, nothing done. */
    long long other = create_order(&g, 1, 4, 1, 0, NULL);
    ck_assert_int_eq(pay_with(&g, other, 1, "it-key-1", NULL, &r), 422);
    expect_problem(&r, 422, "IDEMPOTENCY_KEY_REUSED");
    hresp_free(&r);
    ck_assert_int_eq(payments_of(&g, 1, other, NULL, NULL, 0), 0);
    /* Bad keys: 400, and nothing is stored or done. */
    char key[300];
    memset(key, 'k', 256);
    key[256] = '\0';
    ck_assert_int_eq(pay_with(&g, other, 1, key, NULL, &r), 400);
    expect_problem(&r, 400, "INVALID_REQUEST");
    hresp_free(&r);
    ck_assert_int_eq(pay_with(&g, other, 1, "caf\xc3\xa9", NULL, &r), 400);
    expect_problem(&r, 400, "INVALID_REQUEST");
    hresp_free(&r);
    ck_assert_int_eq(payments_of(&g, 1, other, NULL, NULL, 0), 0);
    /* 255 characters is a key. */
    key[255] = '\0';
    ck_assert_int_eq(pay_with(&g, other, 1, key, NULL, &r), 201);
    hresp_free(&r);
    ck_assert_int_eq(pay_with(&g, other, 1, key, NULL, &r), 201);
    ck_assert(replayed(&r));
    hresp_free(&r);
    ck_assert_int_eq(balance(&g, 1), before - 10000);
}
END_TEST

/* Pays with key twice: the same status and body, the second replayed. */
static void expect_stored(const stack *s, long long order, int user, const char *key, long status,
                          const char *code)
{
    hresp r, again;
    ck_assert_int_eq(pay_with(s, order, user, key, NULL, &r), status);
    expect_problem(&r, status, code);
    ck_assert(!replayed(&r));
    ck_assert_int_eq(pay_with(s, order, user, key, NULL, &again), status);
    ck_assert(replayed(&again));
    ck_assert_str_eq(again.content_type, "application/problem+json");
    ck_assert_str_eq(again.body, r.body);
    hresp_free(&r);
    hresp_free(&again);
}

START_TEST(test_idempotency_stores_refusals)
{
    /* 402: the payment FAILED and the order cancelled, once. */
    long long keyboards = stock(&g, 1);
    long long order = create_order(&g, 2, 1, 1, 0, NULL);
    expect_stored(&g, order, 2, "it-key-402", 402, "INSUFFICIENT_BALANCE");
    long long ids[4];
    char statuses[4][16];
    ck_assert_int_eq(payments_of(&g, 2, order, ids, statuses, 4), 1);
    ck_assert_str_eq(statuses[0], "FAILED");
    expect_order_status(&g, order, "CANCELLED");
    ck_assert_int_eq(stock(&g, 1), keyboards);
    /* 409 for the cancelled order (the payment row goes, the answer stays). */
    expect_stored(&g, order, 2, "it-key-409-cancelled", 409, "ORDER_NOT_PAYABLE");
    ck_assert_int_eq(payments_of(&g, 2, order, ids, statuses, 4), 1);
    /* 404, 403. */
    expect_stored(&g, 999999999, 1, "it-key-404", 404, "ORDER_NOT_FOUND");
    long long mine = create_order(&g, 1, 4, 1, 0, NULL);
    expect_stored(&g, mine, 3, "it-key-403", 403, "FORBIDDEN");
    ck_assert_int_eq(payments_of(&g, 3, mine, NULL, NULL, 0), 0);
    /* The owner pays; then a key for the paid order gets its 409. */
    hresp r;
    ck_assert_int_eq(pay(&g, mine, 1, &r), 201);
    hresp_free(&r);
    expect_stored(&g, mine, 1, "it-key-409-paid", 409, "ORDER_NOT_PAYABLE");
    ck_assert_int_eq(payments_of(&g, 1, mine, ids, statuses, 4), 1);
    /* 400 for a body that is not a payment request. */
    const char *headers[] = {TOKEN_HEADER, "Idempotency-Key: it-key-400", NULL};
    hresp again;
    ck_assert_int_eq(
        harness_req("POST", g.svc[PAYMENT].port, "/payments", "{\"orderId\":1}", headers, &r), 400);
    ck_assert(!replayed(&r));
    ck_assert_int_eq(
        harness_req("POST", g.svc[PAYMENT].port, "/payments", "{\"orderId\":1}", headers, &again),
        400);
    ck_assert(replayed(&again));
    ck_assert_str_eq(again.body, r.body);
    hresp_free(&r);
    hresp_free(&again);
}
END_TEST

#define KEY_RACERS 12
typedef struct key_racer {
    long long order;
    long status;
    bool replayed;
    char code[48];
    char body[512];
} key_racer;

static void *race_key(void *arg)
{
    key_racer *k = arg;
    hresp out;
    k->status = pay_with(&g, k->order, 3, "it-key-race", NULL, &out);
    k->replayed = replayed(&out);
    snprintf(k->code, sizeof k->code, "%s", str_of(out.json, "code"));
    snprintf(k->body, sizeof k->body, "%s", out.body != NULL ? out.body : "");
    hresp_free(&out);
    return NULL;
}

START_TEST(test_idempotency_race)
{
    /* 12 threads send one keyed payment at once: one does it, the others get
     * its answer or are told it is running. */
    long long before = balance(&g, 3);
    long long order = create_order(&g, 3, 4, 2, 0, NULL);
    pthread_t t[KEY_RACERS];
    key_racer k[KEY_RACERS];
    for (int i = 0; i < KEY_RACERS; i++) {
        memset(&k[i], 0, sizeof k[i]);
        k[i].order = order;
        ck_assert_int_eq(pthread_create(&t[i], NULL, race_key, &k[i]), 0);
    }
    for (int i = 0; i < KEY_RACERS; i++)
        pthread_join(t[i], NULL);
    int first = -1, replays = 0, in_use = 0;
    for (int i = 0; i < KEY_RACERS; i++) {
        if (k[i].status == 201 && !k[i].replayed) {
            ck_assert_msg(first < 0, "two racers did the payment");
            first = i;
        } else if (k[i].status == 201) {
            replays++;
        } else {
            ck_assert_msg(k[i].status == 409 && strcmp(k[i].code, "IDEMPOTENCY_KEY_IN_USE") == 0,
                          "racer %d: %ld %s %s", i, k[i].status, k[i].code, k[i].body);
            in_use++;
        }
    }
    ck_assert_int_ge(first, 0);
    ck_assert_int_eq(1 + replays + in_use, KEY_RACERS);
    for (int i = 0; i < KEY_RACERS; i++)
        if (k[i].status == 201)
            ck_assert_str_eq(k[i].body, k[first].body);
    long long ids[KEY_RACERS];
    char statuses[KEY_RACERS][16];
    ck_assert_int_eq(payments_of(&g, 3, order, ids, statuses, KEY_RACERS), 1);
    ck_assert_str_eq(statuses[0], "COMPLETED");
    ck_assert_int_eq(balance(&g, 3), before - 10000);
    /* Afterwards every repeat is the replay. */
    hresp r;
    ck_assert_int_eq(pay_with(&g, order, 3, "it-key-race", NULL, &r), 201);
    ck_assert(replayed(&r));
    ck_assert_str_eq(r.body, k[first].body);
    hresp_free(&r);
}
END_TEST

START_TEST(test_list_route)
{
    hresp r;
    ck_assert_int_eq(req(&g, PAYMENT, "GET", "/payments?limit=1", NULL, &r), 200);
    const cJSON *items = cJSON_GetObjectItemCaseSensitive(r.json, "items");
    ck_assert_int_eq(cJSON_GetArraySize(items), 1);
    long long first = harness_int(cJSON_GetArrayItem(items, 0), "id");
    ck_assert_int_eq(harness_int(r.json, "nextAfterId"), first);
    hresp_free(&r);
    char path[64];
    snprintf(path, sizeof path, "/payments?afterId=%lld&limit=500", first);
    ck_assert_int_eq(req(&g, PAYMENT, "GET", path, NULL, &r), 200);
    items = cJSON_GetObjectItemCaseSensitive(r.json, "items");
    ck_assert_int_gt(harness_int(cJSON_GetArrayItem(items, 0), "id"), first);
    ck_assert(cJSON_IsNull(cJSON_GetObjectItemCaseSensitive(r.json, "nextAfterId")));
    hresp_free(&r);
    ck_assert_int_eq(req(&g, PAYMENT, "GET", "/payments?status=COMPLETED", NULL, &r), 200);
    const cJSON *p;
    int n = 0;
    cJSON_ArrayForEach(p, cJSON_GetObjectItemCaseSensitive(r.json, "items"))
    {
        ck_assert_str_eq(str_of(p, "status"), "COMPLETED");
        ck_assert(cJSON_IsObject(cJSON_GetObjectItemCaseSensitive(p, "delivery")));
        n++;
    }
    ck_assert_int_ge(n, 1);
    hresp_free(&r);
    const char *bad[] = {"/payments?status=DONE", "/payments?status=",  "/payments?limit=0",
                         "/payments?limit=501",   "/payments?userId=0", "/payments?afterId=x"};
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
        req(&g, PAYMENT, "GET", bad[i], NULL, &r);
        expect_problem(&r, 400, "INVALID_REQUEST");
        hresp_free(&r);
    }
}
END_TEST

/* ---- metrics: each saga counted once, the outbox ------------------------- */

START_TEST(test_metrics_count_each_saga_once)
{
    /* A fresh stack of its own (the data platform is stopped and started
     * again below): every series is there, at 0, before its first event. */
    stack s;
    memset(&s, 0, sizeof s);
    ck_assert_msg(stack_start(&s), "the stack did not start");
    static const series_want fresh_payment[] = {
        {PAY_SAGAS("completed"), 0},
        {PAY_SAGAS("failed"), 0},
        {PAY_SAGAS("conflict"), 0},
        {PAY_SAGAS("rejected"), 0},
        {PAY_SAGAS("error"), 0},
        {PAY_SAGAS("left_pending"), 0},
        {PAY_SAGAS("lost_to_settler"), 0},
        {PAY_RECOVERY("settle", "completed"), 0},
        {PAY_RECOVERY("settle", "failed"), 0},
        {PAY_RECOVERY("settle", "refunded"), 0},
        {PAY_RECOVERY("settle", "lost"), 0},
        {PAY_RECOVERY("settle", "retry"), 0},
        {PAY_RECOVERY("cancel_owed", "done"), 0},
        {PAY_RECOVERY("cancel_owed", "lost"), 0},
        {PAY_RECOVERY("cancel_owed", "retry"), 0},
        {DELIVERIES("ok"), 0},
        {DELIVERIES("http_error"), 0},
        {DELIVERIES("timeout"), 0},
        {DELIVERIES("transport_error"), 0},
        {BACKLOG, 0},
    };
    static const series_want fresh_order[] = {
        {ORDER_SAGAS("create", "created"), 0},       {ORDER_SAGAS("create", "failed"), 0},
        {ORDER_SAGAS("create", "left_pending"), 0},  {ORDER_SAGAS("create", "lost_to_recovery"), 0},
        {ORDER_SAGAS("cancel", "cancelled"), 0},     {ORDER_SAGAS("cancel", "left_cancelling"), 0},
        {ORDER_RECOVERY("undo_pending", "done"), 0}, {ORDER_RECOVERY("undo_pending", "retry"), 0},
        {ORDER_RECOVERY("undo_pending", "lost"), 0}, {ORDER_RECOVERY("cancel", "done"), 0},
        {ORDER_RECOVERY("cancel", "retry"), 0},
    };
    expect_metrics(&s, PAYMENT, fresh_payment, sizeof fresh_payment / sizeof fresh_payment[0]);
    expect_metrics(&s, ORDER, fresh_order, sizeof fresh_order / sizeof fresh_order[0]);
    hresp r;
    /* completed: a keyed payment; its replay is no second saga. */
    long long a = create_order(&s, 1, 4, 1, 0, NULL);
    ck_assert_int_eq(pay_with(&s, a, 1, "it-metrics-a", NULL, &r), 201);
    long long a_id = harness_int(r.json, "id");
    hresp_free(&r);
    ck_assert_int_eq(pay_with(&s, a, 1, "it-metrics-a", NULL, &r), 201);
    ck_assert(replayed(&r));
    hresp_free(&r);
    /* conflict: the paid order again (its live payment), a cancelled order. */
    ck_assert_int_eq(pay(&s, a, 1, &r), 409);
    expect_problem(&r, 409, "ORDER_NOT_PAYABLE");
    hresp_free(&r);
    long long c = create_order(&s, 1, 4, 1, 0, NULL);
    char path[64];
    snprintf(path, sizeof path, "/orders/%lld/cancel", c);
    ck_assert_int_eq(req(&s, ORDER, "POST", path, "{\"userId\":1}", NULL), 200);
    ck_assert_int_eq(pay(&s, c, 1, &r), 409);
    expect_problem(&r, 409, "ORDER_NOT_PAYABLE");
    hresp_free(&r);
    /* rejected: no such order, another user's order. */
    ck_assert_int_eq(pay(&s, 999999999, 1, &r), 404);
    hresp_free(&r);
    long long d = create_order(&s, 1, 4, 1, 0, NULL);
    ck_assert_int_eq(pay(&s, d, 3, &r), 403);
    hresp_free(&r);
    /* failed: lee's balance (10,000) is short of a keyboard (50,000). */
    long long l = create_order(&s, 2, 1, 1, 0, NULL);
    ck_assert_int_eq(pay(&s, l, 2, &r), 402);
    hresp_free(&r);
    /* Not a payment request: no saga. */
    ck_assert_int_eq(req(&s, PAYMENT, "POST", "/payments", "{}", NULL), 400);
    /* Counted before the answer: exact at once. */
    static const series_want sagas[] = {
        {PAY_SAGAS("completed"), 1},       {PAY_SAGAS("failed"), 1}, {PAY_SAGAS("conflict"), 2},
        {PAY_SAGAS("rejected"), 2},        {PAY_SAGAS("error"), 0},  {PAY_SAGAS("left_pending"), 0},
        {PAY_SAGAS("lost_to_settler"), 0},
    };
    expect_metrics(&s, PAYMENT, sagas, sizeof sagas / sizeof sagas[0]);
    ck_assert(wait_delivered(&s, a_id, 5000));
    ck_assert_int_eq(metric(&s, PAYMENT, DELIVERIES("ok")), 1);
    wait_metric(&s, PAYMENT, BACKLOG, 0);
    /* The platform answers 503: the message waits (backlog 1), each failed
     * attempt counted as an HTTP error; healed, it is delivered. */
    ck_assert_int_eq(
        harness_req("PUT", s.svc[DP].port, "/faults", "{\"failRate\":1.0}", NULL, NULL), 200);
    ck_assert_int_eq(pay(&s, d, 1, &r), 201);
    long long d_id = harness_int(r.json, "id");
    hresp_free(&r);
    wait_failed_attempts(&s, d_id);
    wait_metric(&s, PAYMENT, BACKLOG, 1);
    ck_assert_int_eq(harness_req("PUT", s.svc[DP].port, "/faults", "{\"failRate\":0}", NULL, NULL),
                     200);
    ck_assert(wait_delivered(&s, d_id, 5000));
    wait_metric(&s, PAYMENT, BACKLOG, 0);
    long long d_attempts = delivery_attempts(&s, d_id);
    /* The platform is down: transport errors until it is back. */
    harness_stop(&s.svc[DP]);
    long long e = create_order(&s, 1, 4, 1, 0, NULL);
    ck_assert_int_eq(pay(&s, e, 1, &r), 201);
    long long e_id = harness_int(r.json, "id");
    hresp_free(&r);
    wait_failed_attempts(&s, e_id);
    wait_metric(&s, PAYMENT, BACKLOG, 1);
    ck_assert(start_one(&s, DP));
    ck_assert(wait_delivered(&s, e_id, 5000));
    wait_metric(&s, PAYMENT, BACKLOG, 0);
    long long e_attempts = delivery_attempts(&s, e_id);
    /* Every attempt once, by outcome; the sagas; the settler did nothing. */
    const series_want after[] = {
        {PAY_SAGAS("completed"), 3},
        {PAY_SAGAS("failed"), 1},
        {PAY_SAGAS("conflict"), 2},
        {PAY_SAGAS("rejected"), 2},
        {PAY_SAGAS("error"), 0},
        {PAY_SAGAS("left_pending"), 0},
        {PAY_SAGAS("lost_to_settler"), 0},
        {DELIVERIES("ok"), 3},
        {DELIVERIES("http_error"), d_attempts - 1},
        {DELIVERIES("transport_error"), e_attempts - 1},
        {DELIVERIES("timeout"), 0},
        {PAY_RECOVERY("settle", "completed"), 0},
        {PAY_RECOVERY("settle", "failed"), 0},
        {PAY_RECOVERY("settle", "refunded"), 0},
        {PAY_RECOVERY("settle", "lost"), 0},
        {PAY_RECOVERY("settle", "retry"), 0},
        {PAY_RECOVERY("cancel_owed", "done"), 0},
        {PAY_RECOVERY("cancel_owed", "lost"), 0},
        {PAY_RECOVERY("cancel_owed", "retry"), 0},
    };
    expect_metrics(&s, PAYMENT, after, sizeof after / sizeof after[0]);
    /* order-service: five orders created (a, c, d, l, e), two cancelled (c
     * by its owner, l by lee's failed payment). */
    static const series_want orders[] = {
        {ORDER_SAGAS("create", "created"), 5},      {ORDER_SAGAS("create", "failed"), 0},
        {ORDER_SAGAS("create", "left_pending"), 0}, {ORDER_SAGAS("create", "lost_to_recovery"), 0},
        {ORDER_SAGAS("cancel", "cancelled"), 2},    {ORDER_SAGAS("cancel", "left_cancelling"), 0},
    };
    expect_metrics(&s, ORDER, orders, sizeof orders / sizeof orders[0]);
    stack_stop(&s);
}
END_TEST

/* ---- the data platform fails, then heals -------------------------------- */

START_TEST(test_platform_down_then_heals)
{
    hresp r;
    ck_assert_int_eq(
        harness_req("PUT", g.svc[DP].port, "/faults", "{\"failRate\":1.0}", NULL, NULL), 200);
    long long order = create_order(&g, 1, 4, 2, 0, NULL);
    ck_assert_int_eq(pay(&g, order, 1, &r), 201);
    ck_assert_int_lt(r.ms, 1000);
    long long id = harness_int(r.json, "id");
    const cJSON *d = cJSON_GetObjectItemCaseSensitive(r.json, "delivery");
    ck_assert_str_eq(str_of(d, "status"), "PENDING");
    hresp_free(&r);
    expect_order_status(&g, order, "PAID");
    /* It keeps trying (200 ms, 400 ms, ...) and the platform has nothing. */
    sleep_ms(1000);
    get_payment(&g, id, &r);
    d = cJSON_GetObjectItemCaseSensitive(r.json, "delivery");
    ck_assert_str_eq(str_of(d, "status"), "PENDING");
    ck_assert_int_ge(harness_int(d, "attempts"), 2);
    hresp_free(&r);
    char path[64];
    snprintf(path, sizeof path, "/orders/%lld", order);
    ck_assert_int_eq(harness_req("GET", g.svc[DP].port, path, NULL, NULL, NULL), 404);
    /* Healed: delivered within a few seconds, once. */
    ck_assert_int_eq(harness_req("PUT", g.svc[DP].port, "/faults", "{\"failRate\":0}", NULL, NULL),
                     200);
    ck_assert(wait_delivered(&g, id, 4000));
    get_payment(&g, id, &r);
    d = cJSON_GetObjectItemCaseSensitive(r.json, "delivery");
    ck_assert_int_gt(harness_int(d, "attempts"), 1);
    hresp_free(&r);
    ck_assert_int_eq(harness_req("GET", g.svc[DP].port, path, NULL, NULL, &r), 200);
    ck_assert_int_eq(harness_int(r.json, "deliveries"), 1);
    ck_assert_int_eq(harness_int(r.json, "paymentId"), id);
    hresp_free(&r);
}
END_TEST

/* ---- a fault proxy between payment-service and one peer ------------------ */

/* What the proxy does with a request on one route. */
typedef enum proxy_mode {
    PROXY_PASS = 0,   /* forwards it and passes the reply on */
    PROXY_REFUSE,     /* answers 503 without forwarding: nothing happened */
    PROXY_LOSE_REPLY, /* forwards it, then answers 503: it happened, the reply is lost */
} proxy_mode;

static int proxy_forward(http_req *req);

/* The routes payment-service calls on order-service and user-service. */
static const http_route proxy_routes[] = {
    {"GET", "/orders/{orderId}", proxy_forward, NULL},
    {"POST", "/orders/{orderId}/cancel", proxy_forward, NULL},
    {"POST", "/orders/{orderId}/pay", proxy_forward, NULL},
    {"GET", "/users/{userId}/balance", proxy_forward, NULL},
    {"POST", "/users/{userId}/debits", proxy_forward, NULL},
    {"POST", "/users/{userId}/debits/void", proxy_forward, NULL},
    {"POST", "/users/{userId}/credits", proxy_forward, NULL},
};
enum { P_ORDER_READ, P_ORDER_CANCEL, P_ORDER_PAY, P_BALANCE, P_DEBIT, P_VOID, P_CREDIT, P_N };

/* An HTTP server in the test process that payment-service takes for one of
 * its peers: each route forwards to the real peer, or fails as told. */
typedef struct fault_proxy {
    http_server *srv;
    int port;
    pthread_mutex_t mu;
    char target[64]; /* the real peer's base URL */
    proxy_mode mode[P_N];
    int hits[P_N];
} fault_proxy;

static int proxy_forward(http_req *req)
{
    fault_proxy *p = req->app;
    char path[300], target[64];
    const char *headers[] = {TOKEN_HEADER, NULL};
    size_t i = (size_t)(req->route - proxy_routes);
    pthread_mutex_lock(&p->mu);
    proxy_mode mode = p->mode[i];
    p->hits[i]++;
    snprintf(target, sizeof target, "%s", p->target);
    pthread_mutex_unlock(&p->mu);
    if (mode == PROXY_REFUSE)
        return http_reply_problem(req, "SERVICE_UNAVAILABLE", "fault proxy: refused");
    snprintf(path, sizeof path, "%s%s%s", req->path, req->query != NULL ? "?" : "",
             req->query != NULL ? req->query : "");
    bool get = strcmp(req->method, "GET") == 0;
    http_call c = {
        .method = req->method,
        .base_url = target,
        .path = path,
        .body = get ? NULL : req->body,
        .body_len = get ? 0 : req->body_len,
        .request_id = req->request_id,
        .headers = headers,
        .timeout_ms = 10000,
    };
    http_result r;
    http_client_do(&c, &r);
    int status;
    if (mode == PROXY_LOSE_REPLY)
        status = http_reply_problem(req, "SERVICE_UNAVAILABLE", "fault proxy: reply lost");
    else if (r.transport != HTTP_T_OK)
        status = http_reply_upstream(req, "peer", &r);
    else
        status = http_reply_raw(req, (int)r.status, r.content_type, r.body != NULL ? r.body : "",
                                r.body != NULL ? r.body_len : 0);
    http_result_free(&r);
    return status;
}

/* Starts p on a free port; every route passes until told otherwise. */
static void proxy_start(fault_proxy *p)
{
    memset(p, 0, sizeof *p);
    pthread_mutex_init(&p->mu, NULL);
    p->port = harness_free_port();
    http_server_config cfg = {
        .service = "fault-proxy",
        .bind_addr = "127.0.0.1",
        .port = p->port,
        .num_threads = 16,
        .routes = proxy_routes,
        .n_routes = P_N,
        .app = p,
    };
    p->srv = http_server_start(&cfg);
    ck_assert_msg(p->srv != NULL, "the fault proxy did not start on port %d", p->port);
}

static void proxy_target(fault_proxy *p, int port)
{
    pthread_mutex_lock(&p->mu);
    snprintf(p->target, sizeof p->target, "http://127.0.0.1:%d", port);
    pthread_mutex_unlock(&p->mu);
}

static void proxy_set(fault_proxy *p, int route, proxy_mode mode)
{
    pthread_mutex_lock(&p->mu);
    p->mode[route] = mode;
    pthread_mutex_unlock(&p->mu);
}

static int proxy_hits(fault_proxy *p, int route)
{
    pthread_mutex_lock(&p->mu);
    int n = p->hits[route];
    pthread_mutex_unlock(&p->mu);
    return n;
}

static void proxy_stop(fault_proxy *p)
{
    http_server_stop(p->srv);
    p->srv = NULL;
    pthread_mutex_destroy(&p->mu);
}

/* Starts stack s with payment-service calling peer (ORDER or USER) through
 * proxy p, and the payment extras given (NULL-ended, at most 4). */
static void stack_start_proxied(stack *s, fault_proxy *p, int peer, const char *const *extra)
{
    static char url_env[80];
    int n = 0;
    memset(s, 0, sizeof *s);
    proxy_start(p);
    snprintf(url_env, sizeof url_env, "%s_URL=http://127.0.0.1:%d", prefixes[peer], p->port);
    for (; extra != NULL && extra[n] != NULL; n++)
        s->payment_extra[n] = extra[n];
    s->payment_extra[n++] = url_env; /* after the common env: it wins */
    s->payment_extra[n] = NULL;
    s->avoid_port = p->port;
    ck_assert_msg(stack_start(s), "the stack did not start");
    proxy_target(p, s->svc[peer].port);
}

/* ---- the settler; SIGTERM ------------------------------------------------ */

/* Polls payment id until it leaves PENDING (10 s at most); its status in out. */
static void wait_settled(const stack *s, long long id, char *out, size_t len)
{
    snprintf(out, len, "PENDING");
    for (int waited = 0; waited < 10000 && strcmp(out, "PENDING") == 0; waited += 100) {
        hresp r;
        sleep_ms(100);
        get_payment(s, id, &r);
        snprintf(out, len, "%s", str_of(r.json, "status"));
        hresp_free(&r);
    }
}

/* Polls order until it has status (10 s at most); false when it never did. */
static bool wait_order_status(const stack *s, long long order, const char *status)
{
    char st[32];
    for (int waited = 0; waited < 10000; waited += 100) {
        order_status(s, order, st, sizeof st);
        if (strcmp(st, status) == 0)
            return true;
        sleep_ms(100);
    }
    return false;
}

START_TEST(test_settler_finishes_and_stop)
{
    /* Its own stack, started from this test process so it can reap it, with
     * payment-service calling user-service through a fault proxy. Payment
     * ids start at 1 and are never reused. */
    stack s;
    fault_proxy proxy;
    static const char *const extra[] = {"SHOP_SAGA_DEADLINE_MS=1000",
                                        "PAYMENT_SETTLE_INTERVAL_MS=200", NULL};
    stack_start_proxied(&s, &proxy, USER, extra);
    long long before = balance(&s, 1);
    long long amount[3];
    long long order[3];
    order[0] = create_order(&s, 1, 2, 1, 0, &amount[0]); /* debited: completes */
    order[1] = create_order(&s, 1, 4, 1, 0, &amount[1]); /* debited, cancelled: refunded */
    order[2] = create_order(&s, 1, 1, 1, 0, &amount[2]); /* never debited: fails */
    ck_assert_int_eq(amount[0], 20000);
    ck_assert_int_eq(amount[1], 5000);
    ck_assert_int_eq(amount[2], 50000);
    /* The debit's reply is lost (the first two debited, the third never
     * arrived): each payment answers 503 and stays PENDING, as the money may
     * have moved; its Idempotency-Key stays bound to it, so a repeat is told
     * it is running. */
    static const char *const keys[3] = {"it-settle-0", "it-settle-1", "it-settle-2"};
    hresp r;
    for (int i = 0; i < 3; i++) {
        proxy_set(&proxy, P_DEBIT, i < 2 ? PROXY_LOSE_REPLY : PROXY_REFUSE);
        ck_assert_int_eq(pay_with(&s, order[i], 1, keys[i], NULL, &r), 503);
        expect_problem(&r, 503, "SERVICE_UNAVAILABLE");
        hresp_free(&r);
        ck_assert_int_eq(pay_with(&s, order[i], 1, keys[i], NULL, &r), 409);
        expect_problem(&r, 409, "IDEMPOTENCY_KEY_IN_USE");
        ck_assert(!replayed(&r));
        hresp_free(&r);
        long long ids[2];
        char statuses[2][16];
        ck_assert_int_eq(payments_of(&s, 1, order[i], ids, statuses, 2), 1);
        ck_assert_int_eq(ids[0], i + 1);
        ck_assert_str_eq(statuses[0], "PENDING");
        get_payment(&s, ids[0], &r);
        ck_assert(cJSON_IsNull(cJSON_GetObjectItemCaseSensitive(r.json, "delivery")));
        hresp_free(&r);
    }
    proxy_set(&proxy, P_DEBIT, PROXY_PASS);
    ck_assert_int_eq(proxy_hits(&proxy, P_DEBIT), 3);
    ck_assert_int_eq(balance(&s, 1), before - 25000);
    /* While one is PENDING, the order cannot be paid by another payment. */
    ck_assert_int_eq(pay(&s, order[0], 1, &r), 409);
    expect_problem(&r, 409, "ORDER_NOT_PAYABLE");
    hresp_free(&r);
    /* The second order is cancelled before the settler gets to it. */
    char path[64];
    snprintf(path, sizeof path, "/orders/%lld/cancel", order[1]);
    ck_assert_int_eq(req(&s, ORDER, "POST", path, "{\"userId\":1}", NULL), 200);
    /* The settler takes each once the deadline (1 s) plus 2 s has passed. */
    char status[3][16];
    for (int i = 0; i < 3; i++)
        wait_settled(&s, i + 1, status[i], sizeof status[i]);
    /* Debited: marked paid and completed. */
    ck_assert_str_eq(status[0], "COMPLETED");
    expect_order_status(&s, order[0], "PAID");
    ck_assert(wait_delivered(&s, 1, 5000));
    snprintf(path, sizeof path, "/orders/%lld", order[0]);
    ck_assert_int_eq(harness_req("GET", s.svc[DP].port, path, NULL, NULL, &r), 200);
    ck_assert_int_eq(harness_int(r.json, "deliveries"), 1);
    ck_assert_int_eq(harness_int(r.json, "finalAmount"), 20000);
    hresp_free(&r);
    /* Debited but the order was cancelled meanwhile: credited back. */
    ck_assert_str_eq(status[1], "REFUNDED");
    expect_order_status(&s, order[1], "CANCELLED");
    get_payment(&s, 2, &r);
    ck_assert(cJSON_IsNull(cJSON_GetObjectItemCaseSensitive(r.json, "delivery")));
    hresp_free(&r);
    /* Never debited: settled as not debited, failed for good, and the order
     * cancelled. */
    ck_assert_str_eq(status[2], "FAILED");
    expect_order_status(&s, order[2], "CANCELLED");
    /* Money: only the completed payment's debit remains. */
    ck_assert_int_eq(balance(&s, 1), before - 20000);
    /* Each key now answers what the settler reached: 201 for the completed
     * payment (as it completed), 409 for the refunded and the failed one. */
    ck_assert_int_eq(pay_with(&s, order[0], 1, keys[0], NULL, &r), 201);
    ck_assert(replayed(&r));
    ck_assert_int_eq(harness_int(r.json, "id"), 1);
    ck_assert_int_eq(harness_int(r.json, "amount"), 20000);
    ck_assert_str_eq(str_of(r.json, "status"), "COMPLETED");
    ck_assert_str_eq(str_of(cJSON_GetObjectItemCaseSensitive(r.json, "delivery"), "status"),
                     "PENDING");
    hresp_free(&r);
    for (int i = 1; i < 3; i++) {
        ck_assert_int_eq(pay_with(&s, order[i], 1, keys[i], NULL, &r), 409);
        expect_problem(&r, 409, "ORDER_NOT_PAYABLE");
        ck_assert(replayed(&r));
        hresp_free(&r);
    }
    ck_assert_int_eq(balance(&s, 1), before - 20000);
    /* The saga views: the cut-short run (the debit's reply lost or refused),
     * then the settler's steps. */
#define PAY_UNTIL_DEBIT                                                                            \
    "payment payment.pending - 0", "payment order.read order 200",                                 \
        "payment balance.check user 200", "payment balance.debit user 503 !SERVICE_UNAVAILABLE"
    static const char *const completed[] = {CREATE_PLAIN,
                                            "order order.created - 0",
                                            PAY_UNTIL_DEBIT,
                                            "payment settle.void user 200",
                                            "payment settle.order.mark_paid order 200",
                                            "order order.paid - 0",
                                            "payment payment.completed - 0",
                                            "payment outbox.delivered data-platform 200",
                                            NULL};
    cJSON_Delete(expect_saga(&s, order[0], "PAID", false, completed));
    static const char *const refunded[] = {
        CREATE_PLAIN,
        "order order.created - 0",
        PAY_UNTIL_DEBIT,
        "order order.cancelling - 0",
        "order stock.restore item 200 comp",
        "order order.cancelled - 0",
        "payment settle.void user 200",
        "payment settle.order.mark_paid order 409 !ORDER_NOT_PAYABLE",
        "payment settle.balance.refund user 200 comp",
        "payment payment.refunded - 0 comp",
        NULL};
    cJSON_Delete(expect_saga(&s, order[1], "CANCELLED", false, refunded));
    static const char *const failed[] = {CREATE_PLAIN,
                                         "order order.created - 0",
                                         PAY_UNTIL_DEBIT,
                                         "payment settle.void user 200",
                                         "payment settle.order.cancel order 200",
                                         "order order.cancelling - 0",
                                         "order stock.restore item 200 comp",
                                         "order order.cancelled - 0",
                                         "payment payment.failed - 0",
                                         NULL};
    cJSON_Delete(expect_saga(&s, order[2], "CANCELLED", false, failed));
#undef PAY_UNTIL_DEBIT
    /* The metrics: three sagas left PENDING (their replies 503) and one
     * conflict (paying order 0 while its payment was PENDING); the repeats
     * refused for a key in use and the replays are no sagas. The settler
     * settled each once (counted after its write: waited for). */
    wait_metric(&s, PAYMENT, PAY_RECOVERY("settle", "failed"), 1);
    wait_metric(&s, PAYMENT, PAY_RECOVERY("settle", "refunded"), 1);
    wait_metric(&s, PAYMENT, PAY_RECOVERY("settle", "completed"), 1);
    static const series_want settled[] = {
        {PAY_SAGAS("left_pending"), 3},
        {PAY_SAGAS("conflict"), 1},
        {PAY_SAGAS("completed"), 0},
        {PAY_SAGAS("failed"), 0},
        {PAY_SAGAS("rejected"), 0},
        {PAY_SAGAS("error"), 0},
        {PAY_SAGAS("lost_to_settler"), 0},
        {PAY_RECOVERY("settle", "lost"), 0},
        {PAY_RECOVERY("settle", "retry"), 0},
        {PAY_RECOVERY("cancel_owed", "done"), 0},
        {DELIVERIES("ok"), 1},
    };
    expect_metrics(&s, PAYMENT, settled, sizeof settled / sizeof settled[0]);
    /* SIGTERM stops payment-service (and its two threads) well within a
     * second, even while the outbox worker is retrying a failing platform. */
    ck_assert_int_eq(
        harness_req("PUT", s.svc[DP].port, "/faults", "{\"failRate\":1.0}", NULL, NULL), 200);
    long long last = create_order(&s, 1, 4, 1, 0, NULL);
    ck_assert_int_eq(pay(&s, last, 1, NULL), 201);
    sleep_ms(300);
    long ms = harness_stop(&s.svc[PAYMENT]);
    ck_assert_msg(ms < 1000, "payment-service took %ld ms to stop", ms);
    /* Without payment-service the saga view has the order's steps only, and
     * says so. */
    static const char *const partial[] = {CREATE_PLAIN, "order order.created - 0",
                                          "order order.paid - 0", NULL};
    cJSON_Delete(expect_saga(&s, order[0], "PAID", true, partial));
    stack_stop(&s);
    proxy_stop(&proxy);
}
END_TEST

/* ---- a transient error before the debit --------------------------------- */

START_TEST(test_transient_before_debit_keeps_the_order)
{
    /* Before the debit is sent no money can have moved: the payment fails at
     * once (FAILED, nothing to settle), the order is not cancelled, and the
     * key is released, so the client's retry with it pays normally. */
    stack s;
    memset(&s, 0, sizeof s);
    s.payment_extra[0] = "SHOP_SAGA_DEADLINE_MS=1000";
    s.payment_extra[1] = "PAYMENT_SETTLE_INTERVAL_MS=200";
    s.payment_extra[2] = NULL;
    ck_assert_msg(stack_start(&s), "the stack did not start");
    long long before = balance(&s, 1);
    hresp r;
    long long ids[4];
    char statuses[4][16];
    /* user-service down during the balance check. */
    long long first = create_order(&s, 1, 4, 1, 0, NULL);
    harness_stop(&s.svc[USER]);
    ck_assert_int_eq(pay_with(&s, first, 1, "it-pre-debit-1", NULL, &r), 503);
    expect_problem(&r, 503, "SERVICE_UNAVAILABLE");
    hresp_free(&r);
    ck_assert_int_eq(payments_of(&s, 1, first, ids, statuses, 4), 1);
    ck_assert_str_eq(statuses[0], "FAILED");
    long long failed_id = ids[0];
    expect_order_status(&s, first, "CREATED");
    ck_assert(start_one(&s, USER));
    ck_assert_int_eq(pay_with(&s, first, 1, "it-pre-debit-1", NULL, &r), 201);
    ck_assert(!replayed(&r));
    long long paid_id = harness_int(r.json, "id");
    ck_assert_int_gt(paid_id, failed_id);
    hresp_free(&r);
    expect_order_status(&s, first, "PAID");
    ck_assert_int_eq(balance(&s, 1), before - 5000);
    ck_assert_int_eq(payments_of(&s, 1, first, ids, statuses, 4), 2);
    ck_assert_str_eq(statuses[0], "FAILED");
    ck_assert_str_eq(statuses[1], "COMPLETED");
    ck_assert(wait_delivered(&s, paid_id, 5000));
    static const char *const steps[] = {CREATE_PLAIN,
                                        "order order.created - 0",
                                        "payment payment.pending - 0",
                                        "payment order.read order 200",
                                        "payment balance.check user 0 !unavailable",
                                        "payment payment.failed - 0",
                                        "payment payment.pending - 0",
                                        "payment order.read order 200",
                                        "payment balance.check user 200",
                                        "payment balance.debit user 200",
                                        "payment order.mark_paid order 200",
                                        "order order.paid - 0",
                                        "payment payment.completed - 0",
                                        "payment outbox.delivered data-platform 200",
                                        NULL};
    cJSON_Delete(expect_saga(&s, first, "PAID", false, steps));
    /* order-service down during the order read; nobody retries for longer
     * than the settler's wait (deadline 1 s + 2 s): the order stays CREATED
     * (nothing was settled as not debited), and the same key then pays. */
    long long second = create_order(&s, 1, 4, 1, 0, NULL);
    harness_stop(&s.svc[ORDER]);
    ck_assert_int_eq(pay_with(&s, second, 1, "it-pre-debit-2", NULL, &r), 503);
    expect_problem(&r, 503, "SERVICE_UNAVAILABLE");
    hresp_free(&r);
    ck_assert_int_eq(payments_of(&s, 1, second, ids, statuses, 4), 1);
    ck_assert_str_eq(statuses[0], "FAILED");
    ck_assert(start_one(&s, ORDER));
    sleep_ms(4500);
    expect_order_status(&s, second, "CREATED");
    ck_assert_int_eq(payments_of(&s, 1, second, ids, statuses, 4), 1);
    ck_assert_str_eq(statuses[0], "FAILED");
    ck_assert_int_eq(balance(&s, 1), before - 5000);
    ck_assert_int_eq(pay_with(&s, second, 1, "it-pre-debit-2", NULL, &r), 201);
    ck_assert(!replayed(&r));
    hresp_free(&r);
    expect_order_status(&s, second, "PAID");
    ck_assert_int_eq(balance(&s, 1), before - 10000);
    /* Metrics: two sagas failed before the debit, two completed; the
     * settler had nothing to settle. */
    static const series_want counted[] = {
        {PAY_SAGAS("failed"), 2},
        {PAY_SAGAS("completed"), 2},
        {PAY_SAGAS("left_pending"), 0},
        {PAY_RECOVERY("settle", "failed"), 0},
        {PAY_RECOVERY("settle", "retry"), 0},
    };
    expect_metrics(&s, PAYMENT, counted, sizeof counted / sizeof counted[0]);
    stack_stop(&s);
}
END_TEST

/* ---- a short balance whose cancel fails ---------------------------------- */

/* Polls POST /payments with key until its answer is no longer 409
 * IDEMPOTENCY_KEY_IN_USE (10 s at most); asserts that answer is the replay
 * of status and code. */
static void wait_key_answer(const stack *s, long long order, int user, const char *key, long status,
                            const char *code)
{
    for (int waited = 0; waited < 10000; waited += 100) {
        hresp r;
        long got = pay_with(s, order, user, key, NULL, &r);
        if (got == 409 && strcmp(str_of(r.json, "code"), "IDEMPOTENCY_KEY_IN_USE") == 0) {
            ck_assert(!replayed(&r));
            hresp_free(&r);
            sleep_ms(100);
            continue;
        }
        expect_problem(&r, status, code);
        ck_assert(replayed(&r));
        hresp_free(&r);
        return;
    }
    ck_abort_msg("key %s: still IDEMPOTENCY_KEY_IN_USE after 10 s", key);
}

START_TEST(test_short_balance_cancel_owed)
{
    /* The payment finds the balance short and fails, but order-service
     * refuses the cancel (it is down, or the deadline passed). The client
     * hears 503; the key keeps no answer while the order is not cancelled
     * (a repeat is 409 IDEMPOTENCY_KEY_IN_USE, never a 402 that is not true
     * yet); the settler asks again every round until order-service
     * confirms, and only then does the key answer 402. */
    stack s;
    fault_proxy proxy;
    static const char *const extra[] = {"SHOP_CALL_TIMEOUT_MS=1000",
                                        "PAYMENT_SETTLE_INTERVAL_MS=200", NULL};
    stack_start_proxied(&s, &proxy, ORDER, extra);
    hresp r;
    long long ids[4];
    char statuses[4][16];
    /* lee (user 2, 10,000): a keyboard with her 10% coupon costs 45,000; a
     * mouse 20,000. */
    long long before = balance(&s, 2);
    long long keyboards = stock(&s, 1);
    long long final_amount = 0;
    long long order = create_order(&s, 2, 1, 1, 2, &final_amount);
    ck_assert_int_eq(final_amount, 45000);
    long long mouse = create_order(&s, 2, 2, 1, 0, &final_amount);
    ck_assert_int_eq(final_amount, 20000);
    ck_assert(coupon_used(&s, 2, 2));
    proxy_set(&proxy, P_ORDER_CANCEL, PROXY_REFUSE);
    ck_assert_int_eq(pay_with(&s, order, 2, "it-owed-1", NULL, &r), 503);
    expect_problem(&r, 503, "SERVICE_UNAVAILABLE");
    ck_assert(!replayed(&r));
    hresp_free(&r);
    ck_assert_int_eq(pay_with(&s, order, 2, "it-owed-1", NULL, &r), 409);
    expect_problem(&r, 409, "IDEMPOTENCY_KEY_IN_USE");
    ck_assert(!replayed(&r));
    hresp_free(&r);
    ck_assert_int_eq(payments_of(&s, 2, order, ids, statuses, 4), 1);
    ck_assert_str_eq(statuses[0], "FAILED");
    /* The mouse: short too, its cancel refused as well; then the user
     * charges her balance and pays it with another key. */
    ck_assert_int_eq(pay_with(&s, mouse, 2, "it-owed-2", NULL, &r), 503);
    expect_problem(&r, 503, "SERVICE_UNAVAILABLE");
    hresp_free(&r);
    ck_assert_int_eq(req(&s, USER, "POST", "/users/2/balance/charge", "{\"amount\":20000}", NULL),
                     200);
    ck_assert_int_eq(pay_with(&s, mouse, 2, "it-owed-3", NULL, &r), 201);
    hresp_free(&r);
    expect_order_status(&s, mouse, "PAID");
    /* Refused round after round (the settler waits the call timeout + 2 s
     * after FAILED, then asks every 200 ms): the keyboard order holds its
     * stock and coupon, and neither key has an answer. */
    for (int waited = 0; waited < 10000 && proxy_hits(&proxy, P_ORDER_CANCEL) < 6; waited += 100)
        sleep_ms(100);
    ck_assert_int_ge(proxy_hits(&proxy, P_ORDER_CANCEL), 6);
    expect_order_status(&s, order, "CREATED");
    ck_assert_int_eq(stock(&s, 1), keyboards - 1);
    ck_assert(coupon_used(&s, 2, 2));
    for (int i = 0; i < 2; i++) {
        ck_assert_int_eq(
            pay_with(&s, i == 0 ? order : mouse, 2, i == 0 ? "it-owed-1" : "it-owed-2", NULL, &r),
            409);
        expect_problem(&r, 409, "IDEMPOTENCY_KEY_IN_USE");
        hresp_free(&r);
    }
    /* order-service answers again: the settler's cancel goes through. */
    proxy_set(&proxy, P_ORDER_CANCEL, PROXY_PASS);
    ck_assert(wait_order_status(&s, order, "CANCELLED"));
    ck_assert_int_eq(stock(&s, 1), keyboards);
    ck_assert(!coupon_used(&s, 2, 2));
    /* The key answers 402 once the cancel is confirmed (stored in the same
     * transaction). */
    wait_key_answer(&s, order, 2, "it-owed-1", 402, "INSUFFICIENT_BALANCE");
    ck_assert_int_eq(payments_of(&s, 2, order, ids, statuses, 4), 1);
    ck_assert_str_eq(statuses[0], "FAILED");
    static const char *const steps[] = {CREATE_COUPON,
                                        "order order.created - 0",
                                        "payment payment.pending - 0",
                                        "payment order.read order 200",
                                        "payment balance.check user 200",
                                        "payment payment.failed - 0",
                                        "payment order.cancel order 503 !SERVICE_UNAVAILABLE",
                                        "payment settle.order.cancel order 200",
                                        "order order.cancelling - 0",
                                        "order coupon.restore coupon 200 comp",
                                        "order stock.restore item 200 comp",
                                        "order order.cancelled - 0",
                                        NULL};
    cJSON_Delete(expect_saga(&s, order, "CANCELLED", false, steps));
    /* The mouse was paid meanwhile: its owed cancel finds nothing to undo,
     * and the first key answers 409 ORDER_NOT_PAYABLE, not a 402 that would
     * say the order was cancelled. */
    wait_key_answer(&s, mouse, 2, "it-owed-2", 409, "ORDER_NOT_PAYABLE");
    expect_order_status(&s, mouse, "PAID");
    ck_assert_int_eq(balance(&s, 2), before);
    ck_assert_int_eq(payments_of(&s, 2, mouse, ids, statuses, 4), 2);
    ck_assert_str_eq(statuses[0], "FAILED");
    ck_assert_str_eq(statuses[1], "COMPLETED");
    /* Metrics: two sagas failed (their cancels refused: still "failed", the
     * payment is FAILED), one completed; the settler confirmed both cancels
     * once each (counted after its write: waited for) after refused rounds:
     * every cancel call but the sagas' two and those two was a retry. */
    wait_metric(&s, PAYMENT, PAY_RECOVERY("cancel_owed", "done"), 2);
    const series_want counted[] = {
        {PAY_SAGAS("failed"), 2},
        {PAY_SAGAS("completed"), 1},
        {PAY_SAGAS("left_pending"), 0},
        {PAY_SAGAS("conflict"), 0},
        {PAY_RECOVERY("cancel_owed", "retry"), proxy_hits(&proxy, P_ORDER_CANCEL) - 4},
        {PAY_RECOVERY("cancel_owed", "lost"), 0},
        {PAY_RECOVERY("settle", "retry"), 0},
    };
    expect_metrics(&s, PAYMENT, counted, sizeof counted / sizeof counted[0]);
    stack_stop(&s);
    proxy_stop(&proxy);
}
END_TEST

Suite *it_payment_suite(void)
{
    Suite *s = suite_create("it_payment");
    TCase *tc = tcase_create("saga");
    tcase_add_unchecked_fixture(tc, up, down);
    tcase_set_timeout(tc, 60);
    tcase_add_test(tc, test_pay_success);
    tcase_add_test(tc, test_pay_short_balance);
    tcase_add_test(tc, test_pay_refusals);
    tcase_add_test(tc, test_free_order);
    tcase_add_test(tc, test_pay_race);
    tcase_add_test(tc, test_list_route);
    tcase_add_test(tc, test_platform_down_then_heals);
    tcase_add_test(tc, test_saga_view_routes);
    tcase_add_test(tc, test_idempotency_replays_the_first_answer);
    tcase_add_test(tc, test_idempotency_stores_refusals);
    tcase_add_test(tc, test_idempotency_race);
    suite_add_tcase(s, tc);
    tc = tcase_create("metrics");
    tcase_set_timeout(tc, 60);
    tcase_add_test(tc, test_metrics_count_each_saga_once);
    suite_add_tcase(s, tc);
    tc = tcase_create("settler");
    tcase_set_timeout(tc, 60);
    tcase_add_test(tc, test_settler_finishes_and_stop);
    tcase_add_test(tc, test_transient_before_debit_keeps_the_order);
    tcase_add_test(tc, test_short_balance_cancel_owed);
    suite_add_tcase(s, tc);
    return s;
}
