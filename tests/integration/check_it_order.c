/* Integration tests of order-service with the real item-, user- and
 * coupon-service binaries on loopback, driven over HTTP: the create saga with
 * exact amounts, every error with stock and coupons left exactly as before,
 * cancel and pay, Idempotency-Key, a coupon-service that hangs or dies, races
 * with real threads, kill -9 in the middle of sagas followed by recovery, the
 * payment TTL, stopping on SIGTERM, and the saga view of each of these (with
 * payment-service unreachable: only the order's steps, "partial"). */
#include <pthread.h>
#include <signal.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include <check.h>

#include "harness.h"

#define TOKEN "it-order-token"
#define TOKEN_HEADER "X-Internal-Token: " TOKEN
#define FAR_FUTURE "2030-12-31T23:59:59Z"
#define MISSING_ID 999999999999LL

static svc_proc item_svc, user_svc, coupon_svc, order_svc;
static char *data_dir;
static int payment_port; /* nothing listens there: the saga view is partial */

static const char *const auth_headers[] = {TOKEN_HEADER, NULL};

static long now_ms(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return ts.tv_sec * 1000L + ts.tv_nsec / 1000000L;
}

static void sleep_ms(long ms)
{
    struct timespec ts = {.tv_sec = ms / 1000, .tv_nsec = (ms % 1000) * 1000000L};
    nanosleep(&ts, NULL);
}

/* ------------------------------------------------------------------ stack */

/* Starts order-service on o->port over dir with the peers' URLs and extra
 * env ("K=V", NULL-ended, may be NULL). */
static bool start_order(svc_proc *o, const char *dir, const char *log_name,
                        const char *const *extra)
{
    static char env[8][600];
    const char *all[24];
    int n = 0;
    snprintf(o->log_path, sizeof o->log_path, "%s/%s", dir, log_name);
    snprintf(env[0], sizeof env[0], "ORDER_PORT=%d", o->port);
    snprintf(env[1], sizeof env[1], "ORDER_DB_PATH=%s/order.db", dir);
    snprintf(env[2], sizeof env[2], "SHOP_INTERNAL_TOKEN=%s", TOKEN);
    snprintf(env[3], sizeof env[3], "ITEM_URL=http://127.0.0.1:%d", item_svc.port);
    snprintf(env[4], sizeof env[4], "USER_URL=http://127.0.0.1:%d", user_svc.port);
    snprintf(env[5], sizeof env[5], "COUPON_URL=http://127.0.0.1:%d", coupon_svc.port);
    snprintf(env[6], sizeof env[6], "PAYMENT_URL=http://127.0.0.1:%d", payment_port);
    for (int i = 0; i < 7; i++)
        all[n++] = env[i];
    for (const char *const *e = extra; e != NULL && *e != NULL && n < 23; e++)
        all[n++] = *e;
    all[n] = NULL;
    return harness_start(o, "order-service", all);
}

/* Starts a seeded item-, user- and coupon-service and order-service (with
 * order_env) in a fresh data dir. */
static void stack_up_with(const char *const *order_env)
{
    static char env[12][600];
    data_dir = harness_tmpdir();
    ck_assert_ptr_nonnull(data_dir);
    memset(&item_svc, 0, sizeof item_svc);
    memset(&user_svc, 0, sizeof user_svc);
    memset(&coupon_svc, 0, sizeof coupon_svc);
    memset(&order_svc, 0, sizeof order_svc);
    item_svc.port = harness_free_port();
    user_svc.port = harness_free_port();
    coupon_svc.port = harness_free_port();
    order_svc.port = harness_free_port();
    payment_port = harness_free_port();
    snprintf(item_svc.log_path, sizeof item_svc.log_path, "%s/item.log", data_dir);
    snprintf(user_svc.log_path, sizeof user_svc.log_path, "%s/user.log", data_dir);
    snprintf(coupon_svc.log_path, sizeof coupon_svc.log_path, "%s/coupon.log", data_dir);
    snprintf(env[0], sizeof env[0], "SHOP_INTERNAL_TOKEN=%s", TOKEN);
    snprintf(env[1], sizeof env[1], "SHOP_SEED=1");
    snprintf(env[2], sizeof env[2], "ITEM_PORT=%d", item_svc.port);
    snprintf(env[3], sizeof env[3], "ITEM_DB_PATH=%s/item.db", data_dir);
    snprintf(env[4], sizeof env[4], "USER_PORT=%d", user_svc.port);
    snprintf(env[5], sizeof env[5], "USER_DB_PATH=%s/user.db", data_dir);
    snprintf(env[6], sizeof env[6], "COUPON_PORT=%d", coupon_svc.port);
    snprintf(env[7], sizeof env[7], "COUPON_DB_PATH=%s/coupon.db", data_dir);
    snprintf(env[8], sizeof env[8], "USER_URL=http://127.0.0.1:%d", user_svc.port);
    const char *item_env[] = {env[0], env[1], env[2], env[3], NULL};
    const char *user_env[] = {env[0], env[1], env[4], env[5], NULL};
    const char *coupon_env[] = {env[0], env[1], env[6], env[7], env[8], NULL};
    ck_assert_msg(harness_start(&item_svc, "item-service", item_env), "item-service down");
    ck_assert_msg(harness_start(&user_svc, "user-service", user_env), "user-service down");
    ck_assert_msg(harness_start(&coupon_svc, "coupon-service", coupon_env), "coupon-service down");
    ck_assert_msg(start_order(&order_svc, data_dir, "order.log", order_env), "order-service down");
}

/* Processes a test started itself (a restarted order-service) are listed in
 * data_dir/extra.pids, so that the teardown stops them even when the test
 * failed half-way. */
static void remember_pid(pid_t pid)
{
    char path[600];
    snprintf(path, sizeof path, "%s/extra.pids", data_dir);
    FILE *f = fopen(path, "a");
    ck_assert_ptr_nonnull(f);
    fprintf(f, "%d\n", (int)pid);
    fclose(f);
}

static void stop_remembered(void)
{
    char path[600];
    int pid;
    snprintf(path, sizeof path, "%s/extra.pids", data_dir);
    FILE *f = fopen(path, "r");
    if (f == NULL)
        return;
    while (fscanf(f, "%d", &pid) == 1) {
        char cmd[600] = "";
        snprintf(path, sizeof path, "/proc/%d/cmdline", pid);
        FILE *c = fopen(path, "r");
        if (c == NULL)
            continue;
        size_t n = fread(cmd, 1, sizeof cmd - 1, c);
        fclose(c);
        cmd[n] = '\0';
        if (strstr(cmd, "order-service") != NULL)
            kill(pid, SIGKILL);
    }
    fclose(f);
}

static void stack_down(void)
{
    stop_remembered();
    harness_stop(&order_svc);
    harness_stop(&coupon_svc);
    harness_stop(&user_svc);
    harness_stop(&item_svc);
    harness_rmdir(data_dir);
    data_dir = NULL;
}

static void stack_up(void)
{
    stack_up_with(NULL);
}

static void stack_up_short_calls(void)
{
    static const char *const env[] = {"SHOP_CALL_TIMEOUT_MS=2000", NULL};
    stack_up_with(env);
}

static void stack_up_ttl(void)
{
    static const char *const env[] = {"ORDER_PAYMENT_TTL_S=1", "ORDER_RECOVERY_INTERVAL_MS=200",
                                      NULL};
    stack_up_with(env);
}

/* ---------------------------------------------------------------- helpers */

static long call(int port, const char *method, const char *path, const char *body, hresp *out)
{
    return harness_req(method, port, path, body, auth_headers, out);
}

/* Asserts r is a problem reply with status and code, and frees it. */
static void expect_problem(hresp *r, long status, const char *code)
{
    ck_assert_msg(r->status == status, "status %ld, wanted %ld: %s", r->status, status, r->body);
    ck_assert_str_eq(r->content_type, "application/problem+json");
    ck_assert_ptr_nonnull(r->json);
    const cJSON *c = cJSON_GetObjectItemCaseSensitive(r->json, "code");
    ck_assert_msg(cJSON_IsString(c), "no code in %s", r->body);
    ck_assert_str_eq(c->valuestring, code);
    ck_assert_int_eq(harness_int(r->json, "status"), status);
    hresp_free(r);
}

/* POSTs body to port+path expecting 201; returns the new "id". */
static long long create(int port, const char *path, const char *body)
{
    hresp r;
    call(port, "POST", path, body, &r);
    ck_assert_msg(r.status == 201, "POST %s: %ld %s", path, r.status, r.body);
    long long id = harness_int(r.json, "id");
    ck_assert_int_gt(id, 0);
    hresp_free(&r);
    return id;
}

static long long new_item(long long price, long long stock)
{
    char body[200];
    snprintf(body, sizeof body, "{\"name\":\"it item\",\"price\":%lld,\"stock\":%lld}", price,
             stock);
    return create(item_svc.port, "/items", body);
}

static long long new_user(void)
{
    return create(user_svc.port, "/users", "{\"name\":\"it user\",\"balance\":1000000}");
}

static long long new_coupon(const char *type, long long value, long long total)
{
    char body[300];
    snprintf(body, sizeof body,
             "{\"name\":\"it coupon\",\"discountType\":\"%s\",\"discountValue\":%lld,"
             "\"totalQuantity\":%lld,\"expiresAt\":\"" FAR_FUTURE "\"}",
             type, value, total);
    return create(coupon_svc.port, "/coupons", body);
}

/* Issues coupon to user; returns the user coupon id. */
static long long issue(long long coupon, long long user)
{
    char path[80], body[80];
    snprintf(path, sizeof path, "/coupons/%lld/issue", coupon);
    snprintf(body, sizeof body, "{\"userId\":%lld}", user);
    return create(coupon_svc.port, path, body);
}

static long long stock_of(long long item)
{
    char path[64];
    long status;
    snprintf(path, sizeof path, "/items/%lld", item);
    hresp r;
    status = call(item_svc.port, "GET", path, NULL, &r);
    ck_assert_msg(status == 200, "GET %s: %ld", path, status);
    long long stock = harness_int(r.json, "stock");
    hresp_free(&r);
    return stock;
}

/* Asserts user coupon uc of user is used by order (used) or unused. */
static void expect_coupon(long long user, long long uc, bool used, long long order)
{
    char path[64];
    hresp r;
    snprintf(path, sizeof path, "/users/%lld/coupons", user);
    ck_assert_int_eq(call(coupon_svc.port, "GET", path, NULL, &r), 200);
    const cJSON *list = cJSON_GetObjectItemCaseSensitive(r.json, "coupons");
    const cJSON *c = NULL, *found = NULL;
    cJSON_ArrayForEach(c, list)
    {
        if (harness_int(c, "id") == uc)
            found = c;
    }
    ck_assert_msg(found != NULL, "user coupon %lld not listed for user %lld", uc, user);
    ck_assert_msg(cJSON_IsTrue(cJSON_GetObjectItem(found, "isUsed")) == used,
                  "user coupon %lld: isUsed is not %d: %s", uc, used, r.body);
    if (used)
        ck_assert_int_eq(harness_int(found, "usedOrderId"), order);
    else
        ck_assert(cJSON_IsNull(cJSON_GetObjectItem(found, "usedOrderId")));
    hresp_free(&r);
}

typedef struct line {
    long long item;
    long long qty;
} line;

/* The body of POST /orders; coupon 0: none (omitted). */
static void order_body(char *buf, size_t len, long long user, const line *lines, int n,
                       long long coupon)
{
    size_t used = (size_t)snprintf(buf, len, "{\"userId\":%lld,\"items\":[", user);
    for (int i = 0; i < n; i++)
        used += (size_t)snprintf(buf + used, len - used, "%s{\"itemId\":%lld,\"quantity\":%lld}",
                                 i > 0 ? "," : "", lines[i].item, lines[i].qty);
    if (coupon > 0)
        snprintf(buf + used, len - used, "],\"userCouponId\":%lld}", coupon);
    else
        snprintf(buf + used, len - used, "]}");
}

static long post_order(long long user, const line *lines, int n, long long coupon, hresp *out)
{
    char body[4096];
    order_body(body, sizeof body, user, lines, n, coupon);
    return call(order_svc.port, "POST", "/orders", body, out);
}

/* Creates an order expecting 201; returns its id. */
static long long order_ok(long long user, const line *lines, int n, long long coupon)
{
    hresp r;
    post_order(user, lines, n, coupon, &r);
    ck_assert_msg(r.status == 201, "POST /orders: %ld %s", r.status, r.body);
    long long id = harness_int(r.json, "id");
    ck_assert_int_gt(id, 0);
    hresp_free(&r);
    return id;
}

/* GET /orders/{id}; the caller cJSON_Deletes. */
static cJSON *get_order(long long id)
{
    char path[64];
    long status;
    snprintf(path, sizeof path, "/orders/%lld", id);
    hresp r;
    status = call(order_svc.port, "GET", path, NULL, &r);
    ck_assert_msg(status == 200, "GET %s: %ld %s", path, status, r.body);
    cJSON *o = r.json;
    r.json = NULL;
    hresp_free(&r);
    return o;
}

static const char *str_of(const cJSON *o, const char *name)
{
    const cJSON *s = cJSON_GetObjectItemCaseSensitive(o, name);
    ck_assert_msg(cJSON_IsString(s), "%s is not a string", name);
    return s->valuestring;
}

static void expect_status(long long id, const char *status)
{
    cJSON *o = get_order(id);
    ck_assert_str_eq(str_of(o, "status"), status);
    cJSON_Delete(o);
}

/* Every order matching query ("status=PENDING", "userId=3", or ""), all
 * pages, as one array (caller cJSON_Deletes). */
static cJSON *list_orders(int port, const char *query)
{
    cJSON *all = cJSON_CreateArray();
    long long after = 0;
    for (int page = 0; page < 1000; page++) {
        char path[256];
        hresp r;
        snprintf(path, sizeof path, "/orders?%s%safterId=%lld&limit=500", query,
                 query[0] != '\0' ? "&" : "", after);
        ck_assert_int_eq(call(port, "GET", path, NULL, &r), 200);
        cJSON *items = cJSON_GetObjectItemCaseSensitive(r.json, "items");
        ck_assert(cJSON_IsArray(items));
        cJSON *o;
        while ((o = cJSON_DetachItemFromArray(items, 0)) != NULL)
            cJSON_AddItemToArray(all, o);
        const cJSON *next = cJSON_GetObjectItemCaseSensitive(r.json, "nextAfterId");
        bool last = cJSON_IsNull(next);
        after = last ? 0 : (long long)next->valuedouble;
        hresp_free(&r);
        if (last)
            return all;
    }
    ck_abort_msg("too many pages");
    return all;
}

static int count_orders(const char *query)
{
    cJSON *all = list_orders(order_svc.port, query);
    int n = cJSON_GetArraySize(all);
    cJSON_Delete(all);
    return n;
}

/* Asserts the order JSON o: status, amounts, coupon (0: null). */
static void expect_amounts(const cJSON *o, const char *status, long long total, long long discount,
                           long long final_amount, long long coupon)
{
    ck_assert_str_eq(str_of(o, "status"), status);
    ck_assert_int_eq(harness_int(o, "totalAmount"), total);
    ck_assert_int_eq(harness_int(o, "discountAmount"), discount);
    ck_assert_int_eq(harness_int(o, "finalAmount"), final_amount);
    if (coupon > 0)
        ck_assert_int_eq(harness_int(o, "userCouponId"), coupon);
    else
        ck_assert(cJSON_IsNull(cJSON_GetObjectItem(o, "userCouponId")));
}

/* POST /orders/{id}/<what> with body; out may be NULL. */
static long order_cmd(long long id, const char *what, const char *body, hresp *out)
{
    char path[80];
    snprintf(path, sizeof path, "/orders/%lld/%s", id, what);
    return call(order_svc.port, "POST", path, body, out);
}

static void cancel_ok(long long id, long long user)
{
    char body[64];
    hresp r;
    snprintf(body, sizeof body, "{\"userId\":%lld}", user);
    order_cmd(id, "cancel", body, &r);
    ck_assert_msg(r.status == 200, "cancel %lld: %ld %s", id, r.status, r.body);
    ck_assert_str_eq(str_of(r.json, "status"), "CANCELLED");
    ck_assert_int_eq(harness_int(r.json, "id"), id);
    hresp_free(&r);
}

/* ------------------------------------------------------------- saga view */

/* GET /orders/{id}/saga on port (200 asserted); the caller cJSON_Deletes. */
static cJSON *saga_of(int port, long long id)
{
    char path[80];
    hresp r;
    snprintf(path, sizeof path, "/orders/%lld/saga", id);
    long status = call(port, "GET", path, NULL, &r);
    ck_assert_msg(status == 200, "GET %s: %ld %s", path, status, r.body);
    cJSON *view = r.json;
    r.json = NULL;
    hresp_free(&r);
    return view;
}

/* A step as "service step peer status[ !error][ comp]"; peer "-" and status
 * 0 when absent. */
static void step_line(const cJSON *st, char *out, size_t len)
{
    const cJSON *peer = cJSON_GetObjectItem(st, "peer");
    const cJSON *status = cJSON_GetObjectItem(st, "httpStatus");
    const cJSON *error = cJSON_GetObjectItem(st, "error");
    size_t n = (size_t)snprintf(out, len, "%s %s %s %d", str_of(st, "service"), str_of(st, "step"),
                                cJSON_IsString(peer) ? peer->valuestring : "-",
                                cJSON_IsNumber(status) ? (int)status->valuedouble : 0);
    if (cJSON_IsString(error))
        n += (size_t)snprintf(out + n, len - n, " !%s", error->valuestring);
    else
        ck_assert(cJSON_IsNull(error));
    if (cJSON_IsTrue(cJSON_GetObjectItem(st, "compensation")))
        snprintf(out + n, len - n, " comp");
    else
        ck_assert(cJSON_IsFalse(cJSON_GetObjectItem(st, "compensation")));
}

/* Asserts every step of view is well formed: "at" in RFC 3339 with
 * microseconds and in time order, a request id, a duration. */
static void expect_well_formed(const cJSON *view)
{
    const cJSON *st;
    const char *prev = "";
    cJSON_ArrayForEach(st, cJSON_GetObjectItem(view, "steps"))
    {
        const char *at = str_of(st, "at");
        ck_assert_int_eq(strlen(at), 27);
        ck_assert_int_eq(at[19], '.');
        ck_assert_int_eq(at[26], 'Z');
        ck_assert_msg(strcmp(prev, at) <= 0, "steps out of time order: %s then %s", prev, at);
        prev = at;
        ck_assert_int_gt(strlen(str_of(st, "requestId")), 0);
        ck_assert_int_ge(harness_int(st, "durationMs"), 0);
    }
}

/* The steps of order id's saga view on port, one step_line each, joined by
 * "\n  " into out; asserts the view's order id, status (when non-NULL),
 * partial (no payment-service here) and that it is well formed. */
static void saga_lines(int port, long long id, const char *status, char *out, size_t len)
{
    char text[256];
    size_t used = 0;
    cJSON *view = saga_of(port, id);
    ck_assert_int_eq(harness_int(view, "orderId"), id);
    if (status != NULL)
        ck_assert_str_eq(str_of(view, "status"), status);
    ck_assert(cJSON_IsTrue(cJSON_GetObjectItem(view, "partial")));
    expect_well_formed(view);
    out[0] = '\0';
    const cJSON *st;
    cJSON_ArrayForEach(st, cJSON_GetObjectItem(view, "steps"))
    {
        step_line(st, text, sizeof text);
        used += (size_t)snprintf(out + used, len - used, "\n  %s", text);
    }
    cJSON_Delete(view);
}

/* want (NULL-ended) joined as saga_lines joins. */
static void join_lines(const char *const *want, char *out, size_t len)
{
    size_t used = 0;
    out[0] = '\0';
    for (; *want != NULL; want++)
        used += (size_t)snprintf(out + used, len - used, "\n  %s", *want);
}

/* Asserts the saga view of order id on port: its status and exactly the
 * steps want (NULL-ended), in that order. */
static void expect_saga(int port, long long id, const char *status, const char *const *want)
{
    char have[4096], wanted[4096];
    saga_lines(port, id, status, have, sizeof have);
    join_lines(want, wanted, sizeof wanted);
    ck_assert_msg(strcmp(have, wanted) == 0, "order %lld saga:%s\nwanted:%s", id, have, wanted);
}

/* The first order of user (by id). */
static long long first_order_of(long long user)
{
    char q[64];
    snprintf(q, sizeof q, "userId=%lld", user);
    cJSON *all = list_orders(order_svc.port, q);
    ck_assert_int_gt(cJSON_GetArraySize(all), 0);
    long long id = harness_int(cJSON_GetArrayItem(all, 0), "id");
    cJSON_Delete(all);
    return id;
}

#define CREATE_STEPS                                                                               \
    "order user.check user 200", "order order.pending - 0", "order stock.check item 200",          \
        "order stock.deduct item 200"
#define COUPON_STEPS "order coupon.validate coupon 200", "order coupon.use coupon 200"

/* -------------------------------------------------------- create: success */

START_TEST(test_create_seed_walkthrough)
{
    /* The API.md example: kim orders 2 keyboards with "5,000 off". */
    hresp r;
    line l[] = {{1, 2}};
    ck_assert_int_eq(stock_of(1), 10);
    post_order(1, l, 1, 1, &r);
    ck_assert_msg(r.status == 201, "%ld %s", r.status, r.body);
    ck_assert_str_eq(r.content_type, "application/json");
    long long id = harness_int(r.json, "id");
    ck_assert_int_eq(harness_int(r.json, "userId"), 1);
    expect_amounts(r.json, "CREATED", 100000, 5000, 95000, 1);
    ck_assert(cJSON_IsNull(cJSON_GetObjectItem(r.json, "paymentId")));
    const cJSON *items = cJSON_GetObjectItem(r.json, "items");
    ck_assert_int_eq(cJSON_GetArraySize(items), 1);
    ck_assert_int_eq(harness_int(cJSON_GetArrayItem(items, 0), "itemId"), 1);
    ck_assert_int_eq(harness_int(cJSON_GetArrayItem(items, 0), "quantity"), 2);
    ck_assert_int_eq(harness_int(cJSON_GetArrayItem(items, 0), "unitPrice"), 50000);
    ck_assert_int_eq(strlen(str_of(r.json, "createdAt")), 20);
    ck_assert_int_eq(strlen(str_of(r.json, "updatedAt")), 20);
    hresp_free(&r);
    ck_assert_int_eq(stock_of(1), 8);
    expect_coupon(1, 1, true, id);
    /* GET shows the same order. */
    cJSON *o = get_order(id);
    expect_amounts(o, "CREATED", 100000, 5000, 95000, 1);
    cJSON_Delete(o);
    /* The saga view tells the story, every step under the request's id. */
    static const char *const steps[] = {CREATE_STEPS, COUPON_STEPS, "order order.created - 0",
                                        NULL};
    expect_saga(order_svc.port, id, "CREATED", steps);
    cJSON *view = saga_of(order_svc.port, id);
    const cJSON *st;
    const char *rid =
        str_of(cJSON_GetArrayItem(cJSON_GetObjectItem(view, "steps"), 0), "requestId");
    cJSON_ArrayForEach(st, cJSON_GetObjectItem(view, "steps"))
    {
        ck_assert_str_eq(str_of(st, "requestId"), rid);
        ck_assert(cJSON_IsNull(cJSON_GetObjectItem(st, "paymentId")));
    }
    cJSON_Delete(view);
}
END_TEST

START_TEST(test_create_without_coupon)
{
    long long a = new_item(12345, 50), b = new_item(20000, 7);
    long long user = new_user();
    hresp r;
    line l[] = {{a, 3}, {b, 7}};
    post_order(user, l, 2, 0, &r);
    ck_assert_msg(r.status == 201, "%ld %s", r.status, r.body);
    expect_amounts(r.json, "CREATED", 3 * 12345 + 7 * 20000, 0, 3 * 12345 + 7 * 20000, 0);
    const cJSON *items = cJSON_GetObjectItem(r.json, "items");
    ck_assert_int_eq(harness_int(cJSON_GetArrayItem(items, 0), "itemId"), a);
    ck_assert_int_eq(harness_int(cJSON_GetArrayItem(items, 0), "unitPrice"), 12345);
    ck_assert_int_eq(harness_int(cJSON_GetArrayItem(items, 1), "itemId"), b);
    ck_assert_int_eq(harness_int(cJSON_GetArrayItem(items, 1), "quantity"), 7);
    ck_assert_int_eq(harness_int(cJSON_GetArrayItem(items, 1), "unitPrice"), 20000);
    long long id = harness_int(r.json, "id");
    hresp_free(&r);
    ck_assert_int_eq(stock_of(a), 47);
    ck_assert_int_eq(stock_of(b), 0);
    /* The reservation at item-service is this order's. */
    char path[64];
    snprintf(path, sizeof path, "/reservations/%lld", id);
    ck_assert_int_eq(call(item_svc.port, "GET", path, NULL, &r), 200);
    ck_assert_str_eq(str_of(r.json, "status"), "DEDUCTED");
    hresp_free(&r);
}
END_TEST

START_TEST(test_create_with_fixed_coupon)
{
    long long item = new_item(12345, 10), user = new_user();
    long long uc = issue(new_coupon("FIXED", 5000, 10), user);
    line l[] = {{item, 3}};
    hresp r;
    post_order(user, l, 1, uc, &r);
    ck_assert_msg(r.status == 201, "%ld %s", r.status, r.body);
    expect_amounts(r.json, "CREATED", 37035, 5000, 32035, uc);
    long long id = harness_int(r.json, "id");
    hresp_free(&r);
    ck_assert_int_eq(stock_of(item), 7);
    expect_coupon(user, uc, true, id);
}
END_TEST

START_TEST(test_create_with_percent_coupon)
{
    long long a = new_item(33333, 10), b = new_item(1001, 10), user = new_user();
    long long uc = issue(new_coupon("PERCENT", 15, 10), user);
    line l[] = {{a, 7}, {b, 1}};
    hresp r;
    post_order(user, l, 2, uc, &r);
    ck_assert_msg(r.status == 201, "%ld %s", r.status, r.body);
    /* 7 * 33333 + 1001 = 234332; floor(234332 * 15 / 100) = 35149. */
    expect_amounts(r.json, "CREATED", 234332, 35149, 199183, uc);
    long long id = harness_int(r.json, "id");
    hresp_free(&r);
    ck_assert_int_eq(stock_of(a), 3);
    ck_assert_int_eq(stock_of(b), 9);
    expect_coupon(user, uc, true, id);
}
END_TEST

START_TEST(test_create_fixed_coupon_above_total)
{
    long long item = new_item(1500, 10), user = new_user();
    long long uc = issue(new_coupon("FIXED", 100000, 10), user);
    line l[] = {{item, 2}};
    hresp r;
    post_order(user, l, 1, uc, &r);
    ck_assert_msg(r.status == 201, "%ld %s", r.status, r.body);
    expect_amounts(r.json, "CREATED", 3000, 3000, 0, uc);
    hresp_free(&r);
    ck_assert_int_eq(stock_of(item), 8);
}
END_TEST

START_TEST(test_get_and_list_routes)
{
    hresp r;
    call(order_svc.port, "GET", "/orders/999999999", NULL, &r);
    expect_problem(&r, 404, "ORDER_NOT_FOUND");
    call(order_svc.port, "GET", "/orders/abc", NULL, &r);
    expect_problem(&r, 400, "INVALID_REQUEST");
    call(order_svc.port, "GET", "/orders/999999999/saga", NULL, &r);
    expect_problem(&r, 404, "ORDER_NOT_FOUND");
    call(order_svc.port, "GET", "/orders/abc/saga", NULL, &r);
    expect_problem(&r, 400, "INVALID_REQUEST");
    call(order_svc.port, "POST", "/orders/1/saga", NULL, &r);
    expect_problem(&r, 405, "METHOD_NOT_ALLOWED");
    call(order_svc.port, "DELETE", "/orders/1", NULL, &r);
    expect_problem(&r, 405, "METHOD_NOT_ALLOWED");
    call(order_svc.port, "GET", "/orders?status=NOPE", NULL, &r);
    expect_problem(&r, 400, "INVALID_REQUEST");
    call(order_svc.port, "GET", "/orders?limit=501", NULL, &r);
    expect_problem(&r, 400, "INVALID_REQUEST");
    call(order_svc.port, "GET", "/orders?limit=0", NULL, &r);
    expect_problem(&r, 400, "INVALID_REQUEST");
    /* Without the internal token: 401. */
    ck_assert_int_eq(harness_req("GET", order_svc.port, "/orders/1", NULL, NULL, NULL), 401);
    /* The saga counters are exported (this tcase created orders above). */
    ck_assert_int_eq(harness_req("GET", order_svc.port, "/metrics", NULL, NULL, &r), 200);
    ck_assert_ptr_nonnull(
        strstr(r.body, "shop_order_sagas_total{saga=\"create\",outcome=\"created\"}"));
    hresp_free(&r);
    /* Paging: a user with three orders, two per page. */
    long long item = new_item(100, 100), user = new_user();
    line l[] = {{item, 1}};
    long long ids[3];
    for (int i = 0; i < 3; i++)
        ids[i] = order_ok(user, l, 1, 0);
    char path[128];
    snprintf(path, sizeof path, "/orders?userId=%lld&limit=2", user);
    ck_assert_int_eq(call(order_svc.port, "GET", path, NULL, &r), 200);
    const cJSON *items = cJSON_GetObjectItem(r.json, "items");
    ck_assert_int_eq(cJSON_GetArraySize(items), 2);
    ck_assert_int_eq(harness_int(cJSON_GetArrayItem(items, 0), "id"), ids[0]);
    ck_assert_int_eq(harness_int(r.json, "nextAfterId"), ids[1]);
    hresp_free(&r);
    snprintf(path, sizeof path, "/orders?userId=%lld&limit=2&afterId=%lld", user, ids[1]);
    ck_assert_int_eq(call(order_svc.port, "GET", path, NULL, &r), 200);
    items = cJSON_GetObjectItem(r.json, "items");
    ck_assert_int_eq(cJSON_GetArraySize(items), 1);
    ck_assert_int_eq(harness_int(cJSON_GetArrayItem(items, 0), "id"), ids[2]);
    ck_assert(cJSON_IsNull(cJSON_GetObjectItem(r.json, "nextAfterId")));
    hresp_free(&r);
    snprintf(path, sizeof path, "userId=%lld&status=CREATED", user);
    cJSON *all = list_orders(order_svc.port, path);
    ck_assert_int_eq(cJSON_GetArraySize(all), 3);
    cJSON_Delete(all);
}
END_TEST

/* ---------------------------------------------------------- create: errors */

START_TEST(test_bad_bodies_are_400)
{
    long long item = new_item(100, 10), user = new_user();
    char body[8192];
    static const char *const fixed[] = {
        "",
        "not json",
        "[]",
        "{\"items\":[{\"itemId\":1,\"quantity\":1}]}",
        "{\"userId\":\"1\",\"items\":[{\"itemId\":1,\"quantity\":1}]}",
        "{\"userId\":1,\"userId\":2,\"items\":[{\"itemId\":1,\"quantity\":1}]}",
        "{\"userId\":1,\"items\":[]}",
        "{\"userId\":1,\"items\":[{\"itemId\":1,\"quantity\":1}],\"userCouponId\":0}",
        "{\"userId\":1,\"items\":[{\"itemId\":-1,\"quantity\":1}]}",
    };
    int before = count_orders("");
    hresp r;
    for (size_t i = 0; i < sizeof fixed / sizeof fixed[0]; i++) {
        call(order_svc.port, "POST", "/orders", fixed[i], &r);
        expect_problem(&r, 400, "INVALID_REQUEST");
    }
    /* Lines that break a rule, on a real user and item. */
    static const char *const bad_quantities[] = {"0", "1001", "1.5", "\"3\"", "-1", "null"};
    for (size_t i = 0; i < sizeof bad_quantities / sizeof bad_quantities[0]; i++) {
        snprintf(body, sizeof body,
                 "{\"userId\":%lld,\"items\":[{\"itemId\":%lld,\"quantity\":%s}]}", user, item,
                 bad_quantities[i]);
        call(order_svc.port, "POST", "/orders", body, &r);
        expect_problem(&r, 400, "INVALID_REQUEST");
    }
    snprintf(body, sizeof body,
             "{\"userId\":%lld,\"items\":[{\"itemId\":%lld,\"quantity\":1},"
             "{\"itemId\":%lld,\"quantity\":2}]}",
             user, item, item);
    call(order_svc.port, "POST", "/orders", body, &r);
    expect_problem(&r, 400, "INVALID_REQUEST");
    /* 51 lines. */
    size_t len = (size_t)snprintf(body, sizeof body, "{\"userId\":%lld,\"items\":[", user);
    for (int i = 0; i < 51; i++)
        len += (size_t)snprintf(body + len, sizeof body - len, "%s{\"itemId\":%d,\"quantity\":1}",
                                i > 0 ? "," : "", i + 1);
    snprintf(body + len, sizeof body - len, "]}");
    call(order_svc.port, "POST", "/orders", body, &r);
    expect_problem(&r, 400, "INVALID_REQUEST");
    ck_assert_int_eq(count_orders(""), before);
    ck_assert_int_eq(stock_of(item), 10);
}
END_TEST

START_TEST(test_unknown_user_leaves_no_order)
{
    long long item = new_item(100, 10);
    int before = count_orders("");
    line l[] = {{item, 1}};
    hresp r;
    post_order(MISSING_ID, l, 1, 0, &r);
    expect_problem(&r, 404, "USER_NOT_FOUND");
    ck_assert_int_eq(count_orders(""), before);
    ck_assert_int_eq(stock_of(item), 10);
}
END_TEST

/* The orders of user, which must all be FAILED; returns how many. */
static int expect_all_failed(long long user)
{
    char q[64];
    snprintf(q, sizeof q, "userId=%lld", user);
    cJSON *all = list_orders(order_svc.port, q);
    const cJSON *o;
    cJSON_ArrayForEach(o, all)
    {
        ck_assert_str_eq(str_of(o, "status"), "FAILED");
    }
    int n = cJSON_GetArraySize(all);
    cJSON_Delete(all);
    return n;
}

START_TEST(test_unknown_item_gives_everything_back)
{
    long long item = new_item(100, 10), user = new_user();
    long long uc = issue(new_coupon("FIXED", 10, 10), user);
    line l[] = {{item, 4}, {MISSING_ID, 1}};
    hresp r;
    post_order(user, l, 2, 0, &r);
    expect_problem(&r, 404, "ITEM_NOT_FOUND");
    post_order(user, l, 2, uc, &r);
    expect_problem(&r, 404, "ITEM_NOT_FOUND");
    ck_assert_int_eq(stock_of(item), 10);
    expect_coupon(user, uc, false, 0);
    ck_assert_int_eq(expect_all_failed(user), 2);
}
END_TEST

START_TEST(test_out_of_stock_gives_everything_back)
{
    long long a = new_item(100, 10), b = new_item(100, 1), user = new_user();
    long long uc = issue(new_coupon("PERCENT", 10, 10), user);
    line one[] = {{b, 2}};
    line two[] = {{a, 2}, {b, 2}};
    hresp r;
    post_order(user, one, 1, 0, &r);
    expect_problem(&r, 409, "OUT_OF_STOCK");
    static const char *const refused[] = {"order user.check user 200", "order order.pending - 0",
                                          "order stock.check item 409 !OUT_OF_STOCK",
                                          "order order.failed - 0", NULL};
    expect_saga(order_svc.port, first_order_of(user), "FAILED", refused);
    post_order(user, two, 2, uc, &r);
    expect_problem(&r, 409, "OUT_OF_STOCK");
    ck_assert_int_eq(stock_of(a), 10);
    ck_assert_int_eq(stock_of(b), 1);
    expect_coupon(user, uc, false, 0);
    ck_assert_int_eq(expect_all_failed(user), 2);
    /* What is left can still be ordered. */
    line rest[] = {{a, 10}, {b, 1}};
    order_ok(user, rest, 2, uc);
    ck_assert_int_eq(stock_of(a), 0);
    ck_assert_int_eq(stock_of(b), 0);
}
END_TEST

START_TEST(test_unknown_coupon_gives_stock_back)
{
    long long item = new_item(100, 10), user = new_user();
    line l[] = {{item, 3}};
    hresp r;
    post_order(user, l, 1, MISSING_ID, &r);
    expect_problem(&r, 404, "COUPON_NOT_FOUND");
    static const char *const steps[] = {
        CREATE_STEPS, "order coupon.validate coupon 404 !COUPON_NOT_FOUND",
        "order stock.restore item 200 comp", "order order.failed - 0", NULL};
    expect_saga(order_svc.port, first_order_of(user), "FAILED", steps);
    ck_assert_int_eq(stock_of(item), 10);
    ck_assert_int_eq(expect_all_failed(user), 1);
}
END_TEST

START_TEST(test_coupon_not_usable)
{
    long long item = new_item(1000, 20), user = new_user(), other = new_user();
    long long uc = issue(new_coupon("FIXED", 100, 10), user);
    line l[] = {{item, 2}};
    long long first = order_ok(user, l, 1, uc);
    ck_assert_int_eq(stock_of(item), 18);
    hresp r;
    /* Used by another order. */
    post_order(user, l, 1, uc, &r);
    expect_problem(&r, 409, "COUPON_NOT_USABLE");
    /* Another user's coupon. */
    long long uc2 = issue(new_coupon("FIXED", 100, 10), user);
    post_order(other, l, 1, uc2, &r);
    expect_problem(&r, 409, "COUPON_NOT_USABLE");
    ck_assert_int_eq(stock_of(item), 18);
    expect_coupon(user, uc, true, first);
    expect_coupon(user, uc2, false, 0);
    ck_assert_int_eq(expect_all_failed(other), 1);
    char q[64];
    snprintf(q, sizeof q, "userId=%lld&status=FAILED", user);
    ck_assert_int_eq(count_orders(q), 1);
    ck_assert_int_eq(count_orders("status=PENDING"), 0);
}
END_TEST

/* ---------------------------------------------------------- cancel and pay */

START_TEST(test_cancel_gives_back_once)
{
    long long item = new_item(1000, 20), user = new_user();
    long long uc = issue(new_coupon("FIXED", 100, 10), user);
    line l[] = {{item, 5}};
    long long id = order_ok(user, l, 1, uc);
    ck_assert_int_eq(stock_of(item), 15);
    cancel_ok(id, user);
    ck_assert_int_eq(stock_of(item), 20);
    expect_coupon(user, uc, false, 0);
    /* Someone else takes stock; a repeated cancel must not give back again. */
    line other[] = {{item, 4}};
    long long id2 = order_ok(user, other, 1, 0);
    ck_assert_int_eq(stock_of(item), 16);
    cancel_ok(id, user);
    ck_assert_int_eq(order_cmd(id, "cancel", NULL, NULL), 200); /* no body: payment-service */
    ck_assert_int_eq(stock_of(item), 16);
    expect_coupon(user, uc, false, 0);
    expect_status(id, "CANCELLED");
    expect_status(id2, "CREATED");
    /* One compensation in the saga, however often it was asked for. */
    static const char *const steps[] = {CREATE_STEPS,
                                        COUPON_STEPS,
                                        "order order.created - 0",
                                        "order order.cancelling - 0",
                                        "order coupon.restore coupon 200 comp",
                                        "order stock.restore item 200 comp",
                                        "order order.cancelled - 0",
                                        NULL};
    expect_saga(order_svc.port, id, "CANCELLED", steps);
    /* The coupon can be used again. */
    long long id3 = order_ok(user, l, 1, uc);
    expect_coupon(user, uc, true, id3);
}
END_TEST

START_TEST(test_cancel_refusals)
{
    long long item = new_item(1000, 20), user = new_user(), other = new_user();
    line l[] = {{item, 2}};
    long long id = order_ok(user, l, 1, 0);
    char body[64];
    hresp r;
    snprintf(body, sizeof body, "{\"userId\":%lld}", other);
    order_cmd(id, "cancel", body, &r);
    expect_problem(&r, 403, "FORBIDDEN");
    expect_status(id, "CREATED");
    ck_assert_int_eq(stock_of(item), 18);
    order_cmd(MISSING_ID, "cancel", body, &r);
    expect_problem(&r, 404, "ORDER_NOT_FOUND");
    order_cmd(id, "cancel", "{\"userId\":\"x\"}", &r);
    expect_problem(&r, 400, "INVALID_REQUEST");
    /* A FAILED order is not cancellable. */
    line too_many[] = {{item, 19}};
    post_order(user, too_many, 1, 0, &r);
    expect_problem(&r, 409, "OUT_OF_STOCK");
    snprintf(body, sizeof body, "userId=%lld&status=FAILED", user);
    cJSON *failed = list_orders(order_svc.port, body);
    ck_assert_int_eq(cJSON_GetArraySize(failed), 1);
    long long failed_id = harness_int(cJSON_GetArrayItem(failed, 0), "id");
    cJSON_Delete(failed);
    order_cmd(failed_id, "cancel", NULL, &r);
    expect_problem(&r, 409, "ORDER_NOT_CANCELLABLE");
}
END_TEST

START_TEST(test_pay)
{
    long long item = new_item(1000, 20), user = new_user(), other = new_user();
    long long uc = issue(new_coupon("FIXED", 100, 10), user);
    line l[] = {{item, 2}};
    long long id = order_ok(user, l, 1, uc);
    char body[80];
    hresp r;
    snprintf(body, sizeof body, "{\"paymentId\":77,\"userId\":%lld}", other);
    order_cmd(id, "pay", body, &r);
    expect_problem(&r, 403, "FORBIDDEN");
    order_cmd(id, "pay", "{\"userId\":1}", &r);
    expect_problem(&r, 400, "INVALID_REQUEST");
    order_cmd(MISSING_ID, "pay", "{\"paymentId\":77}", &r);
    expect_problem(&r, 404, "ORDER_NOT_FOUND");
    snprintf(body, sizeof body, "{\"paymentId\":77,\"userId\":%lld}", user);
    order_cmd(id, "pay", body, &r);
    ck_assert_msg(r.status == 200, "%ld %s", r.status, r.body);
    expect_amounts(r.json, "PAID", 2000, 100, 1900, uc);
    ck_assert_int_eq(harness_int(r.json, "paymentId"), 77);
    hresp_free(&r);
    /* The same payment again: 200; another payment: 409. */
    order_cmd(id, "pay", body, &r);
    ck_assert_int_eq(r.status, 200);
    ck_assert_int_eq(harness_int(r.json, "paymentId"), 77);
    hresp_free(&r);
    order_cmd(id, "pay", "{\"paymentId\":78}", &r);
    expect_problem(&r, 409, "ORDER_NOT_PAYABLE");
    /* A paid order cannot be cancelled; nothing is given back. */
    snprintf(body, sizeof body, "{\"userId\":%lld}", user);
    order_cmd(id, "cancel", body, &r);
    expect_problem(&r, 409, "ORDER_ALREADY_PAID");
    ck_assert_int_eq(stock_of(item), 18);
    expect_coupon(user, uc, true, id);
    cJSON *o = get_order(id);
    ck_assert_str_eq(str_of(o, "status"), "PAID");
    ck_assert_int_eq(harness_int(o, "paymentId"), 77);
    cJSON_Delete(o);
    static const char *const steps[] = {CREATE_STEPS, COUPON_STEPS, "order order.created - 0",
                                        "order order.paid - 0", NULL};
    expect_saga(order_svc.port, id, "PAID", steps);
    cJSON *view = saga_of(order_svc.port, id);
    const cJSON *paid = cJSON_GetArrayItem(cJSON_GetObjectItem(view, "steps"), 7);
    ck_assert_int_eq(harness_int(paid, "paymentId"), 77);
    cJSON_Delete(view);
    /* Pay after cancel: 409. */
    long long id2 = order_ok(user, l, 1, 0);
    cancel_ok(id2, user);
    order_cmd(id2, "pay", "{\"paymentId\":79}", &r);
    expect_problem(&r, 409, "ORDER_NOT_PAYABLE");
    ck_assert_int_eq(stock_of(item), 18);
}
END_TEST

typedef struct racer {
    long long order;
    bool pay;
    long status;
} racer;

static void *race_cmd(void *arg)
{
    racer *r = arg;
    r->status =
        order_cmd(r->order, r->pay ? "pay" : "cancel", r->pay ? "{\"paymentId\":500}" : NULL, NULL);
    return NULL;
}

START_TEST(test_pay_and_cancel_race)
{
    enum { ORDERS = 12 };
    long long item = new_item(10, 1000), user = new_user();
    racer r[ORDERS][2];
    pthread_t t[ORDERS][2];
    for (int i = 0; i < ORDERS; i++) {
        line l[] = {{item, i + 1}};
        long long id = order_ok(user, l, 1, 0);
        r[i][0] = (racer){.order = id, .pay = true};
        r[i][1] = (racer){.order = id, .pay = false};
    }
    ck_assert_int_eq(stock_of(item), 1000 - ORDERS * (ORDERS + 1) / 2);
    for (int i = 0; i < ORDERS; i++)
        for (int j = 0; j < 2; j++)
            ck_assert_int_eq(pthread_create(&t[i][j], NULL, race_cmd, &r[i][j]), 0);
    long long kept = 0;
    for (int i = 0; i < ORDERS; i++) {
        for (int j = 0; j < 2; j++)
            pthread_join(t[i][j], NULL);
        cJSON *o = get_order(r[i][0].order);
        if (r[i][0].status == 200) {
            ck_assert_int_eq(r[i][1].status, 409); /* ORDER_ALREADY_PAID */
            ck_assert_str_eq(str_of(o, "status"), "PAID");
            kept += i + 1;
        } else {
            ck_assert_int_eq(r[i][0].status, 409); /* ORDER_NOT_PAYABLE */
            ck_assert_int_eq(r[i][1].status, 200);
            ck_assert_str_eq(str_of(o, "status"), "CANCELLED");
        }
        cJSON_Delete(o);
    }
    ck_assert_int_eq(stock_of(item), 1000 - kept);
}
END_TEST

START_TEST(test_idempotency_key)
{
    long long item = new_item(100, 10), user = new_user();
    char body[256], other_body[256];
    const char *h1[] = {TOKEN_HEADER, "Idempotency-Key: it-order-key-1", NULL};
    const char *h2[] = {TOKEN_HEADER, "Idempotency-Key: it-order-key-2", NULL};
    const char *bad[] = {TOKEN_HEADER, "Idempotency-Key: caf\xc3\xa9", NULL};
    line l[] = {{item, 2}};
    line l3[] = {{item, 3}};
    line many[] = {{item, 11}};
    order_body(body, sizeof body, user, l, 1, 0);
    order_body(other_body, sizeof other_body, user, l3, 1, 0);
    hresp a, b;
    harness_req("POST", order_svc.port, "/orders", body, h1, &a);
    ck_assert_msg(a.status == 201, "%ld %s", a.status, a.body);
    ck_assert(!harness_has_header(&a, "Idempotent-Replayed", NULL));
    harness_req("POST", order_svc.port, "/orders", body, h1, &b);
    ck_assert_int_eq(b.status, 201);
    ck_assert(harness_has_header(&b, "Idempotent-Replayed", "true"));
    ck_assert_str_eq(a.body, b.body);
    hresp_free(&a);
    hresp_free(&b);
    ck_assert_int_eq(stock_of(item), 8);
    harness_req("POST", order_svc.port, "/orders", other_body, h1, &a);
    expect_problem(&a, 422, "IDEMPOTENCY_KEY_REUSED");
    harness_req("POST", order_svc.port, "/orders", body, bad, &a);
    expect_problem(&a, 400, "INVALID_REQUEST");
    /* A 4xx is stored and replayed too. */
    order_body(body, sizeof body, user, many, 1, 0);
    harness_req("POST", order_svc.port, "/orders", body, h2, &a);
    harness_req("POST", order_svc.port, "/orders", body, h2, &b);
    ck_assert(harness_has_header(&b, "Idempotent-Replayed", "true"));
    ck_assert_str_eq(a.body, b.body);
    expect_problem(&a, 409, "OUT_OF_STOCK");
    expect_problem(&b, 409, "OUT_OF_STOCK");
    char q[64];
    snprintf(q, sizeof q, "userId=%lld", user);
    ck_assert_int_eq(count_orders(q), 2); /* one CREATED, one FAILED */
    ck_assert_int_eq(stock_of(item), 8);
}
END_TEST

/* ------------------------------------------------- a peer that hangs or dies */

START_TEST(test_coupon_service_hung_is_504)
{
    long long item = new_item(100, 10), user = new_user();
    long long uc = issue(new_coupon("FIXED", 10, 10), user);
    line l[] = {{item, 3}};
    hresp r;
    ck_assert_int_eq(kill(coupon_svc.pid, SIGSTOP), 0);
    post_order(user, l, 1, uc, &r);
    kill(coupon_svc.pid, SIGCONT);
    ck_assert_msg(r.ms >= 1900 && r.ms < 3500, "answered after %ld ms", r.ms);
    expect_problem(&r, 504, "UPSTREAM_TIMEOUT");
    static const char *const steps[] = {CREATE_STEPS, "order coupon.validate coupon 0 !timeout",
                                        "order stock.restore item 200 comp",
                                        "order order.failed - 0", NULL};
    expect_saga(order_svc.port, first_order_of(user), "FAILED", steps);
    ck_assert_int_eq(stock_of(item), 10);
    expect_coupon(user, uc, false, 0);
    ck_assert_int_eq(expect_all_failed(user), 1);
}
END_TEST

START_TEST(test_coupon_service_down_is_503)
{
    long long item = new_item(100, 10), user = new_user();
    long long uc = issue(new_coupon("FIXED", 10, 10), user);
    line l[] = {{item, 3}};
    hresp r;
    harness_kill9(&coupon_svc);
    post_order(user, l, 1, uc, &r);
    ck_assert_msg(r.ms < 2000, "answered after %ld ms", r.ms);
    expect_problem(&r, 503, "SERVICE_UNAVAILABLE");
    static const char *const steps[] = {CREATE_STEPS, "order coupon.validate coupon 0 !unavailable",
                                        "order stock.restore item 200 comp",
                                        "order order.failed - 0", NULL};
    expect_saga(order_svc.port, first_order_of(user), "FAILED", steps);
    ck_assert_int_eq(stock_of(item), 10);
    ck_assert_int_eq(expect_all_failed(user), 1);
    /* Orders without a coupon do not need coupon-service. */
    order_ok(user, l, 1, 0);
    ck_assert_int_eq(stock_of(item), 7);
}
END_TEST

/* --------------------------------------------------------------- races */

typedef struct orderer {
    long long user, coupon;
    line l;
    long status;
    long long id;
    char code[64];
} orderer;

static void *order_thread(void *arg)
{
    orderer *o = arg;
    hresp r;
    post_order(o->user, &o->l, 1, o->coupon, &r);
    o->status = r.status;
    o->id = r.status == 201 ? harness_int(r.json, "id") : 0;
    const cJSON *code = r.json != NULL ? cJSON_GetObjectItem(r.json, "code") : NULL;
    snprintf(o->code, sizeof o->code, "%s", cJSON_IsString(code) ? code->valuestring : "");
    hresp_free(&r);
    return NULL;
}

START_TEST(test_twenty_orders_one_coupon)
{
    enum { N = 20 };
    long long item = new_item(500, 100), user = new_user();
    long long uc = issue(new_coupon("FIXED", 1000, 10), user);
    orderer o[N];
    pthread_t t[N];
    for (int i = 0; i < N; i++) {
        o[i] = (orderer){.user = user, .coupon = uc, .l = {item, 3}};
        ck_assert_int_eq(pthread_create(&t[i], NULL, order_thread, &o[i]), 0);
    }
    int created = 0;
    long long winner = 0;
    for (int i = 0; i < N; i++) {
        pthread_join(t[i], NULL);
        if (o[i].status == 201) {
            created++;
            winner = o[i].id;
        } else {
            ck_assert_msg(o[i].status == 409 && strcmp(o[i].code, "COUPON_NOT_USABLE") == 0,
                          "thread %d: %ld %s", i, o[i].status, o[i].code);
        }
    }
    ck_assert_int_eq(created, 1);
    ck_assert_int_eq(stock_of(item), 97);
    expect_coupon(user, uc, true, winner);
    char q[64];
    snprintf(q, sizeof q, "userId=%lld&status=FAILED", user);
    ck_assert_int_eq(count_orders(q), N - 1);
    snprintf(q, sizeof q, "userId=%lld&status=CREATED", user);
    ck_assert_int_eq(count_orders(q), 1);
    /* Each loser's saga: refused at validate, or refused at use after a
     * validate that passed (then the use is undone too). */
    static const char *const won[] = {CREATE_STEPS, COUPON_STEPS, "order order.created - 0", NULL};
    static const char *const at_validate[] = {
        CREATE_STEPS, "order coupon.validate coupon 409 !COUPON_NOT_USABLE",
        "order stock.restore item 200 comp", "order order.failed - 0", NULL};
    static const char *const at_use[] = {CREATE_STEPS,
                                         "order coupon.validate coupon 200",
                                         "order coupon.use coupon 409 !COUPON_NOT_USABLE",
                                         "order coupon.restore coupon 200 comp",
                                         "order stock.restore item 200 comp",
                                         "order order.failed - 0",
                                         NULL};
    char have[4096], want_validate[4096], want_use[4096];
    join_lines(at_validate, want_validate, sizeof want_validate);
    join_lines(at_use, want_use, sizeof want_use);
    expect_saga(order_svc.port, winner, "CREATED", won);
    snprintf(q, sizeof q, "userId=%lld&status=FAILED", user);
    cJSON *all = list_orders(order_svc.port, q);
    const cJSON *lost;
    cJSON_ArrayForEach(lost, all)
    {
        saga_lines(order_svc.port, harness_int(lost, "id"), "FAILED", have, sizeof have);
        ck_assert_msg(strcmp(have, want_validate) == 0 || strcmp(have, want_use) == 0,
                      "order %lld saga:%s", harness_int(lost, "id"), have);
    }
    cJSON_Delete(all);
}
END_TEST

START_TEST(test_twenty_orders_seven_in_stock)
{
    enum { N = 20 };
    long long item = new_item(500, 7);
    orderer o[N];
    pthread_t t[N];
    long long users[N];
    for (int i = 0; i < N; i++)
        users[i] = new_user();
    for (int i = 0; i < N; i++) {
        o[i] = (orderer){.user = users[i], .l = {item, 1}};
        ck_assert_int_eq(pthread_create(&t[i], NULL, order_thread, &o[i]), 0);
    }
    int created = 0;
    for (int i = 0; i < N; i++) {
        pthread_join(t[i], NULL);
        if (o[i].status == 201)
            created++;
        else
            ck_assert_msg(o[i].status == 409 && strcmp(o[i].code, "OUT_OF_STOCK") == 0,
                          "thread %d: %ld %s", i, o[i].status, o[i].code);
    }
    ck_assert_int_eq(created, 7);
    ck_assert_int_eq(stock_of(item), 0);
}
END_TEST

/* ---------------------------------------------------- kill -9 and recovery */

enum { CRASH_THREADS = 8, CRASH_COUPONS = 3 };

typedef struct crash_worker {
    long long user;
    long long coupons[CRASH_COUPONS];
    int next_coupon;
    long long item_x, item_y;
    atomic_bool *stop;
    int created, refused, lost;
    long long ids[1024];
    int n_ids;
    char odd[512]; /* the first 201 whose body had no order id, with its headers */
} crash_worker;

static void *crash_thread(void *arg)
{
    crash_worker *w = arg;
    for (int i = 0; !atomic_load(w->stop) && w->n_ids < 1024; i++) {
        line l[] = {{w->item_x, i % 3 + 1}, {w->item_y, i % 2 + 1}};
        long long coupon =
            i % 2 == 0 && w->next_coupon < CRASH_COUPONS ? w->coupons[w->next_coupon] : 0;
        hresp r;
        post_order(w->user, l, 2, coupon, &r);
        if (r.status == 201) {
            w->created++;
            w->ids[w->n_ids++] = harness_int(r.json, "id");
            if (harness_int(r.json, "id") <= 0 && w->odd[0] == '\0')
                snprintf(w->odd, sizeof w->odd, "%.200s | %.300s", r.body, r.headers);
        } else if (r.status == 409 || r.status == 404) {
            w->refused++;
        } else {
            w->lost++;
        }
        if (coupon > 0)
            w->next_coupon++; /* used, refused or unknown: never tried twice */
        hresp_free(&r);
        if (r.status == 0)
            break; /* order-service is gone */
    }
    return NULL;
}

/* Asserts what must hold once recovery is done: nothing PENDING or
 * CANCELLING; every item's stock is its initial stock less what CREATED and
 * PAID orders hold; a user coupon is used iff a CREATED, PAID or CANCELLING
 * order holds it. */
static void expect_consistent(int port, const long long *items, const long long *initial,
                              int n_items, const crash_worker *w, int n_workers)
{
    cJSON *all = list_orders(port, "");
    long long held[4] = {0};
    const cJSON *o;
    cJSON_ArrayForEach(o, all)
    {
        const char *st = str_of(o, "status");
        ck_assert_msg(strcmp(st, "PENDING") != 0 && strcmp(st, "CANCELLING") != 0,
                      "order %lld is %s", harness_int(o, "id"), st);
        if (strcmp(st, "CREATED") != 0 && strcmp(st, "PAID") != 0)
            continue;
        const cJSON *l;
        cJSON_ArrayForEach(l, cJSON_GetObjectItem(o, "items"))
        {
            for (int k = 0; k < n_items; k++)
                if (harness_int(l, "itemId") == items[k])
                    held[k] += harness_int(l, "quantity");
        }
    }
    for (int k = 0; k < n_items; k++)
        ck_assert_msg(stock_of(items[k]) == initial[k] - held[k],
                      "item %lld: stock %lld, initial %lld, held by orders %lld", items[k],
                      stock_of(items[k]), initial[k], held[k]);
    for (int i = 0; i < n_workers; i++) {
        for (int c = 0; c < CRASH_COUPONS; c++) {
            long long holder = 0;
            cJSON_ArrayForEach(o, all)
            {
                const char *st = str_of(o, "status");
                if (harness_int(o, "userCouponId") == w[i].coupons[c] &&
                    (strcmp(st, "CREATED") == 0 || strcmp(st, "PAID") == 0 ||
                     strcmp(st, "CANCELLING") == 0)) {
                    ck_assert_msg(holder == 0, "user coupon %lld held twice", w[i].coupons[c]);
                    holder = harness_int(o, "id");
                }
            }
            expect_coupon(w[i].user, w[i].coupons[c], holder != 0, holder);
        }
    }
    /* Every order that was acknowledged exists as told. */
    for (int i = 0; i < n_workers; i++) {
        for (int j = 0; j < w[i].n_ids; j++) {
            bool found = false;
            cJSON_ArrayForEach(o, all)
            {
                if (harness_int(o, "id") == w[i].ids[j]) {
                    found = true;
                    ck_assert_str_eq(str_of(o, "status"), "CREATED");
                }
            }
            ck_assert_msg(found, "order %lld was acknowledged (201) but is not among the %d listed",
                          w[i].ids[j], cJSON_GetArraySize(all));
        }
    }
    cJSON_Delete(all);
}

/* Asserts the saga of every order after the crash: a CREATED one has its
 * whole create saga (written with its CREATED); a FAILED one (only recovery
 * fails orders here: stock is plenty and every coupon is used once) has the
 * steps written with its PENDING row, then recovery's restores and FAILED
 * (what the killed run had done was in memory). */
static void expect_crash_sagas(int port)
{
    static const char *const created[] = {CREATE_STEPS, "order order.created - 0", NULL};
    static const char *const created_coupon[] = {CREATE_STEPS, COUPON_STEPS,
                                                 "order order.created - 0", NULL};
    static const char *const failed[] = {"order user.check user 200", "order order.pending - 0",
                                         "order recovery.stock.restore item 200 comp",
                                         "order order.failed - 0", NULL};
    static const char *const failed_coupon[] = {"order user.check user 200",
                                                "order order.pending - 0",
                                                "order recovery.coupon.restore coupon 200 comp",
                                                "order recovery.stock.restore item 200 comp",
                                                "order order.failed - 0",
                                                NULL};
    char have[4096], want[4096];
    cJSON *all = list_orders(port, "");
    const cJSON *o;
    cJSON_ArrayForEach(o, all)
    {
        const char *st = str_of(o, "status");
        bool coupon = !cJSON_IsNull(cJSON_GetObjectItem(o, "userCouponId"));
        long long id = harness_int(o, "id");
        if (strcmp(st, "CREATED") == 0)
            join_lines(coupon ? created_coupon : created, want, sizeof want);
        else
            join_lines(coupon ? failed_coupon : failed, want, sizeof want);
        saga_lines(port, id, st, have, sizeof have);
        ck_assert_msg(strcmp(have, want) == 0, "%s order %lld saga:%s\nwanted:%s", st, id, have,
                      want);
    }
    cJSON_Delete(all);
}

START_TEST(test_kill9_mid_saga_then_recovery)
{
    static crash_worker w[CRASH_THREADS];
    pthread_t t[CRASH_THREADS];
    atomic_bool stop;
    atomic_init(&stop, false);
    long long coupon_ids[CRASH_COUPONS] = {new_coupon("FIXED", 100, 100),
                                           new_coupon("PERCENT", 5, 100),
                                           new_coupon("FIXED", 2000, 100)};
    long long items[2] = {new_item(1000, 100000), new_item(333, 100000)};
    long long initial[2] = {100000, 100000};
    for (int i = 0; i < CRASH_THREADS; i++) {
        memset(&w[i], 0, sizeof w[i]);
        w[i].user = new_user();
        for (int c = 0; c < CRASH_COUPONS; c++)
            w[i].coupons[c] = issue(coupon_ids[c], w[i].user);
        w[i].item_x = items[0];
        w[i].item_y = items[1];
        w[i].stop = &stop;
    }
    for (int i = 0; i < CRASH_THREADS; i++)
        ck_assert_int_eq(pthread_create(&t[i], NULL, crash_thread, &w[i]), 0);
    sleep_ms(400);
    harness_kill9(&order_svc);
    atomic_store(&stop, true);
    int created = 0, lost = 0;
    for (int i = 0; i < CRASH_THREADS; i++) {
        pthread_join(t[i], NULL);
        created += w[i].created;
        lost += w[i].lost;
    }
    ck_assert_msg(created > 0, "no order was created before the kill");
    for (int i = 0; i < CRASH_THREADS; i++)
        ck_assert_msg(w[i].odd[0] == '\0', "a 201 without an order id: %s", w[i].odd);
    ck_assert_msg(lost > 0, "no request was cut off by the kill");

    /* Restart with a short deadline and a fast recovery loop. */
    static const char *const env[] = {"SHOP_SAGA_DEADLINE_MS=1000",
                                      "ORDER_RECOVERY_INTERVAL_MS=200", NULL};
    svc_proc again = {.port = harness_free_port()};
    ck_assert(start_order(&again, data_dir, "order-restarted.log", env));
    remember_pid(again.pid);
    long started = now_ms();
    int pending = -1;
    while (now_ms() - started < 15000) {
        cJSON *p = list_orders(again.port, "status=PENDING");
        pending = cJSON_GetArraySize(p);
        cJSON_Delete(p);
        if (pending == 0)
            break;
        sleep_ms(100);
    }
    ck_assert_msg(pending == 0, "%d orders still PENDING after 15 s", pending);
    ck_assert_msg(now_ms() - started < 8000, "recovery took %ld ms", now_ms() - started);
    expect_consistent(again.port, items, initial, 2, w, CRASH_THREADS);
    expect_crash_sagas(again.port);
    ck_assert_int_lt(harness_stop(&again), 1000);
}
END_TEST

/* ---------------------------------------------------- payment TTL, SIGTERM */

START_TEST(test_unpaid_order_expires)
{
    long long item = new_item(100, 10), user = new_user();
    long long uc = issue(new_coupon("FIXED", 10, 10), user);
    line l[] = {{item, 4}};
    line l2[] = {{item, 1}};
    long long id = order_ok(user, l, 1, uc);
    long long paid = order_ok(user, l2, 1, 0);
    ck_assert_int_eq(order_cmd(paid, "pay", "{\"paymentId\":9}", NULL), 200);
    ck_assert_int_eq(stock_of(item), 5);
    expect_coupon(user, uc, true, id);
    long started = now_ms();
    const char *status = "CREATED";
    cJSON *o = NULL;
    while (now_ms() - started < 10000) {
        cJSON_Delete(o);
        o = get_order(id);
        status = str_of(o, "status");
        if (strcmp(status, "CANCELLED") == 0)
            break;
        sleep_ms(100);
    }
    ck_assert_str_eq(status, "CANCELLED");
    cJSON_Delete(o);
    ck_assert_msg(now_ms() - started < 5000, "expired after %ld ms", now_ms() - started);
    ck_assert_int_eq(stock_of(item), 9);
    expect_coupon(user, uc, false, 0);
    expect_status(paid, "PAID");
    static const char *const expired[] = {CREATE_STEPS,
                                          COUPON_STEPS,
                                          "order order.created - 0",
                                          "order order.cancelling - 0",
                                          "order expiry.coupon.restore coupon 200 comp",
                                          "order expiry.stock.restore item 200 comp",
                                          "order order.cancelled - 0",
                                          NULL};
    expect_saga(order_svc.port, id, "CANCELLED", expired);
    static const char *const kept[] = {CREATE_STEPS, "order order.created - 0",
                                       "order order.paid - 0", NULL};
    expect_saga(order_svc.port, paid, "PAID", kept);
}
END_TEST

START_TEST(test_sigterm_stops_quickly)
{
    long ms = harness_stop(&order_svc);
    ck_assert_msg(ms < 1000, "SIGTERM took %ld ms", ms);
}
END_TEST

Suite *it_order_suite(void);

Suite *it_order_suite(void)
{
    Suite *s = suite_create("it_order");
    struct {
        const char *name;
        void (*up)(void);
    } cases[] = {
        {"order_create", stack_up},     {"order_errors", stack_up},
        {"order_cancel_pay", stack_up}, {"order_peer_down", stack_up_short_calls},
        {"order_races", stack_up},      {"order_crash", stack_up},
        {"order_ttl", stack_up_ttl},
    };
    TCase *tc[7];
    for (int i = 0; i < 7; i++) {
        tc[i] = tcase_create(cases[i].name);
        tcase_add_unchecked_fixture(tc[i], cases[i].up, stack_down);
        tcase_set_timeout(tc[i], 60);
        suite_add_tcase(s, tc[i]);
    }
    tcase_add_test(tc[0], test_create_seed_walkthrough);
    tcase_add_test(tc[0], test_create_without_coupon);
    tcase_add_test(tc[0], test_create_with_fixed_coupon);
    tcase_add_test(tc[0], test_create_with_percent_coupon);
    tcase_add_test(tc[0], test_create_fixed_coupon_above_total);
    tcase_add_test(tc[0], test_get_and_list_routes);
    tcase_add_test(tc[1], test_bad_bodies_are_400);
    tcase_add_test(tc[1], test_unknown_user_leaves_no_order);
    tcase_add_test(tc[1], test_unknown_item_gives_everything_back);
    tcase_add_test(tc[1], test_out_of_stock_gives_everything_back);
    tcase_add_test(tc[1], test_unknown_coupon_gives_stock_back);
    tcase_add_test(tc[1], test_coupon_not_usable);
    tcase_add_test(tc[2], test_cancel_gives_back_once);
    tcase_add_test(tc[2], test_cancel_refusals);
    tcase_add_test(tc[2], test_pay);
    tcase_add_test(tc[2], test_pay_and_cancel_race);
    tcase_add_test(tc[2], test_idempotency_key);
    tcase_add_test(tc[3], test_coupon_service_hung_is_504);
    tcase_add_test(tc[3], test_coupon_service_down_is_503);
    tcase_add_test(tc[4], test_twenty_orders_one_coupon);
    tcase_add_test(tc[4], test_twenty_orders_seven_in_stock);
    tcase_add_test(tc[5], test_kill9_mid_saga_then_recovery);
    tcase_add_test(tc[6], test_unpaid_order_expires);
    tcase_add_test(tc[6], test_sigterm_stops_quickly);
    return s;
}
