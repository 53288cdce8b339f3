/* End-to-end tests of the whole shop: all seven programs started on loopback
 * ports with temp data, driven only through the api-gateway as a client
 * would (the data platform, an outside system, is read on its own port). */
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <arpa/inet.h>
#include <netinet/in.h>
#include <sys/socket.h>

#include <check.h>

#include "harness.h"
#include "stack.h"

/* One stack per tcase (unchecked fixture, in the parent): the forked tests
 * inherit the ports. The programs seed their demo data. */
static const char *const seed_env[] = {"SHOP_SEED=1", NULL};
static shop_stack stack = {.suite = "it_shop", .own_env = seed_env};

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

/* A request to the gateway. */
static long gw(const char *method, const char *path, const char *body, hresp *out)
{
    return harness_req(method, stack.procs[STACK_GW].port, path, body, NULL, out);
}

static long gw_admin(const char *method, const char *path, const char *body, hresp *out)
{
    return harness_req(method, stack.procs[STACK_GW].port, path, body, admin_headers, out);
}

static const char *jstr(const cJSON *obj, const char *name)
{
    const cJSON *s = cJSON_GetObjectItemCaseSensitive(obj, name);
    return cJSON_IsString(s) ? s->valuestring : "";
}

static const char *code_of(const hresp *r)
{
    return jstr(r->json, "code");
}

/* Asserts a problem reply: status, code, problem+json. */
#define ck_problem(r, st, code)                                                                    \
    do {                                                                                           \
        ck_assert_msg((r)->status == (st), "status %ld, want %d: %s", (r)->status, (st),           \
                      (r)->body);                                                                  \
        ck_assert_str_eq(code_of(r), code);                                                        \
        ck_assert_msg(strstr((r)->content_type, "application/problem+json") != NULL,               \
                      "content type %s", (r)->content_type);                                       \
    } while (0)

static long long gw_int(const char *path, const char *name)
{
    hresp r;
    ck_assert_int_eq(gw("GET", path, NULL, &r), 200);
    long long v = harness_int(r.json, name);
    hresp_free(&r);
    return v;
}

static long long stock_of(long long item)
{
    char path[64];
    snprintf(path, sizeof path, "/api/items/%lld", item);
    return gw_int(path, "stock");
}

static long long balance_of(long long user)
{
    char path[64];
    snprintf(path, sizeof path, "/api/users/%lld/balance", user);
    return gw_int(path, "balance");
}

static const char *order_status(long long order, char *buf, size_t len)
{
    char path[64];
    hresp r;
    snprintf(path, sizeof path, "/api/orders/%lld", order);
    ck_assert_int_eq(gw("GET", path, NULL, &r), 200);
    snprintf(buf, len, "%s", jstr(r.json, "status"));
    hresp_free(&r);
    return buf;
}

/* The user coupon uc of user, as GET /api/users/{id}/coupons lists it:
 * *used gets isUsed, returns usedOrderId (0 for null). */
static long long user_coupon(long long user, long long uc, bool *used)
{
    char path[64];
    hresp r;
    long long used_order = -1;
    snprintf(path, sizeof path, "/api/users/%lld/coupons", user);
    ck_assert_int_eq(gw("GET", path, NULL, &r), 200);
    const cJSON *c;
    cJSON_ArrayForEach(c, cJSON_GetObjectItemCaseSensitive(r.json, "coupons"))
    {
        if (harness_int(c, "id") != uc)
            continue;
        const cJSON *is_used = cJSON_GetObjectItemCaseSensitive(c, "isUsed");
        ck_assert(cJSON_IsBool(is_used));
        *used = cJSON_IsTrue(is_used);
        const cJSON *o = cJSON_GetObjectItemCaseSensitive(c, "usedOrderId");
        ck_assert(cJSON_IsNull(o) || cJSON_IsNumber(o));
        used_order = cJSON_IsNull(o) ? 0 : (long long)o->valuedouble;
    }
    hresp_free(&r);
    ck_assert_msg(used_order >= 0, "user coupon %lld not listed for user %lld", uc, user);
    return used_order;
}

static long long create_user(const char *name, long long balance)
{
    char body[256];
    hresp r;
    snprintf(body, sizeof body, "{\"name\":\"%s\",\"balance\":%lld}", name, balance);
    ck_assert_int_eq(gw_admin("POST", "/api/admin/users", body, &r), 201);
    long long id = harness_int(r.json, "id");
    ck_assert_int_eq(harness_int(r.json, "balance"), balance);
    hresp_free(&r);
    ck_assert_int_gt(id, 0);
    return id;
}

static long long create_item(const char *name, long long price, long long stock)
{
    char body[256];
    hresp r;
    snprintf(body, sizeof body, "{\"name\":\"%s\",\"price\":%lld,\"stock\":%lld}", name, price,
             stock);
    ck_assert_int_eq(gw_admin("POST", "/api/admin/items", body, &r), 201);
    long long id = harness_int(r.json, "id");
    ck_assert_int_eq(harness_int(r.json, "stock"), stock);
    hresp_free(&r);
    ck_assert_int_gt(id, 0);
    return id;
}

/* A new FIXED coupon of value, issued to user; returns the user coupon id. */
static long long give_coupon(long long user, long long value)
{
    char body[256];
    hresp r;
    snprintf(body, sizeof body,
             "{\"name\":\"it %lld off\",\"discountType\":\"FIXED\",\"discountValue\":%lld,"
             "\"totalQuantity\":100,\"expiresAt\":\"2030-12-31T23:59:59Z\"}",
             value, value);
    ck_assert_int_eq(gw_admin("POST", "/api/admin/coupons", body, &r), 201);
    long long coupon = harness_int(r.json, "id");
    hresp_free(&r);
    char path[64];
    snprintf(path, sizeof path, "/api/coupons/%lld/issue", coupon);
    snprintf(body, sizeof body, "{\"userId\":%lld}", user);
    ck_assert_int_eq(gw("POST", path, body, &r), 201);
    long long uc = harness_int(r.json, "id");
    ck_assert_int_eq(harness_int(r.json, "couponId"), coupon);
    hresp_free(&r);
    return uc;
}

/* POST /api/orders for one line (uc 0: no coupon). Returns the status. */
static long order(long long user, long long item, long long qty, long long uc, hresp *out)
{
    char body[256];
    if (uc > 0)
        snprintf(body, sizeof body,
                 "{\"userId\":%lld,\"items\":[{\"itemId\":%lld,\"quantity\":%lld}],"
                 "\"userCouponId\":%lld}",
                 user, item, qty, uc);
    else
        snprintf(body, sizeof body,
                 "{\"userId\":%lld,\"items\":[{\"itemId\":%lld,\"quantity\":%lld}]}", user, item,
                 qty);
    return gw("POST", "/api/orders", body, out);
}

/* Places an order that must succeed; returns its id. */
static long long order_ok(long long user, long long item, long long qty, long long uc)
{
    hresp r;
    long st = order(user, item, qty, uc, &r);
    ck_assert_msg(st == 201, "order: %ld %s", st, r.body);
    long long id = harness_int(r.json, "id");
    ck_assert_str_eq(jstr(r.json, "status"), "CREATED");
    hresp_free(&r);
    return id;
}

static long pay(long long order_id, long long user, hresp *out)
{
    char body[128];
    snprintf(body, sizeof body, "{\"orderId\":%lld,\"userId\":%lld}", order_id, user);
    return gw("POST", "/api/payments", body, out);
}

static long cancel(long long order_id, long long user, const char *status, hresp *out)
{
    char body[160];
    snprintf(body, sizeof body, "{\"orderId\":%lld,\"userId\":%lld,\"status\":\"%s\"}", order_id,
             user, status);
    return gw("PATCH", "/api/payments", body, out);
}

static void sleep_ms(long ms)
{
    usleep((useconds_t)ms * 1000);
}

/* ------------------------------------------------------ the seed's flows */

START_TEST(test_seed_success_flow)
{
    hresp r;
    const char *body =
        "{\"userId\":1,\"items\":[{\"itemId\":1,\"quantity\":2}],\"userCouponId\":1}";
    ck_assert_int_eq(gw("POST", "/api/orders", body, &r), 201);
    long long order_id = harness_int(r.json, "id");
    ck_assert_int_gt(order_id, 0);
    ck_assert_str_eq(jstr(r.json, "status"), "CREATED");
    ck_assert_int_eq(harness_int(r.json, "userId"), 1);
    ck_assert_int_eq(harness_int(r.json, "userCouponId"), 1);
    ck_assert_int_eq(harness_int(r.json, "totalAmount"), 100000);
    ck_assert_int_eq(harness_int(r.json, "discountAmount"), 5000);
    ck_assert_int_eq(harness_int(r.json, "finalAmount"), 95000);
    const cJSON *lines = cJSON_GetObjectItemCaseSensitive(r.json, "items");
    ck_assert_int_eq(cJSON_GetArraySize(lines), 1);
    ck_assert_int_eq(harness_int(cJSON_GetArrayItem(lines, 0), "itemId"), 1);
    ck_assert_int_eq(harness_int(cJSON_GetArrayItem(lines, 0), "quantity"), 2);
    ck_assert_int_eq(harness_int(cJSON_GetArrayItem(lines, 0), "unitPrice"), 50000);
    ck_assert(harness_has_header(&r, "Content-Type", "application/json"));
    hresp_free(&r);

    ck_assert_int_eq(pay(order_id, 1, &r), 201);
    long long payment_id = harness_int(r.json, "id");
    ck_assert_int_gt(payment_id, 0);
    ck_assert_str_eq(jstr(r.json, "status"), "COMPLETED");
    ck_assert_int_eq(harness_int(r.json, "orderId"), order_id);
    ck_assert_int_eq(harness_int(r.json, "userId"), 1);
    ck_assert_int_eq(harness_int(r.json, "amount"), 95000);
    hresp_free(&r);

    char st[32];
    bool used = false;
    ck_assert_int_eq(balance_of(1), 1000000 - 95000);
    ck_assert_int_eq(stock_of(1), 10 - 2);
    ck_assert_int_eq(user_coupon(1, 1, &used), order_id);
    ck_assert(used);
    ck_assert_str_eq(order_status(order_id, st, sizeof st), "PAID");

    /* The data platform received it once, within a few seconds. */
    char path[64];
    cJSON *rec = NULL;
    long status = 0;
    snprintf(path, sizeof path, "/orders/%lld", order_id);
    for (int i = 0; i < 100 && status != 200; i++) {
        cJSON_Delete(rec);
        rec = harness_get_json(stack.procs[STACK_DP].port, path, &status);
        if (status != 200)
            sleep_ms(50);
    }
    ck_assert_int_eq(status, 200);
    ck_assert_int_eq(harness_int(rec, "orderId"), order_id);
    ck_assert_int_eq(harness_int(rec, "paymentId"), payment_id);
    ck_assert_int_eq(harness_int(rec, "userId"), 1);
    ck_assert_int_eq(harness_int(rec, "totalAmount"), 100000);
    ck_assert_int_eq(harness_int(rec, "discountAmount"), 5000);
    ck_assert_int_eq(harness_int(rec, "finalAmount"), 95000);
    ck_assert_int_eq(harness_int(rec, "deliveries"), 1);
    cJSON_Delete(rec);

    /* ... and the payment records the hand-over as done. */
    snprintf(path, sizeof path, "/api/payments/%lld", payment_id);
    char delivery[32] = "";
    for (int i = 0; i < 100; i++) {
        ck_assert_int_eq(gw("GET", path, NULL, &r), 200);
        const cJSON *d = cJSON_GetObjectItemCaseSensitive(r.json, "delivery");
        snprintf(delivery, sizeof delivery, "%s", jstr(d, "status"));
        if (strcmp(delivery, "DELIVERED") == 0) {
            ck_assert_int_eq(harness_int(d, "attempts"), 1);
            ck_assert_str_ne(jstr(d, "deliveredAt"), "");
            ck_assert_str_eq(jstr(r.json, "status"), "COMPLETED");
            hresp_free(&r);
            break;
        }
        hresp_free(&r);
        sleep_ms(50);
    }
    ck_assert_str_eq(delivery, "DELIVERED");

    /* The saga view shows what happened, in order, ending PAID. */
    snprintf(path, sizeof path, "/api/orders/%lld/saga", order_id);
    ck_assert_int_eq(gw("GET", path, NULL, &r), 200);
    ck_assert_int_eq(harness_int(r.json, "orderId"), order_id);
    ck_assert_str_eq(jstr(r.json, "status"), "PAID");
    ck_assert_int_gt(cJSON_GetArraySize(cJSON_GetObjectItemCaseSensitive(r.json, "steps")), 0);
    hresp_free(&r);

    /* Nothing more happens a moment later: still one delivery. */
    sleep_ms(300);
    snprintf(path, sizeof path, "/orders/%lld", order_id);
    rec = harness_get_json(stack.procs[STACK_DP].port, path, &status);
    ck_assert_int_eq(harness_int(rec, "deliveries"), 1);
    cJSON_Delete(rec);
    ck_assert_int_eq(balance_of(1), 905000);
}
END_TEST

START_TEST(test_seed_failure_flow)
{
    hresp r;
    char st[32];
    bool used = true;
    const char *body =
        "{\"userId\":2,\"items\":[{\"itemId\":3,\"quantity\":1}],\"userCouponId\":2}";
    ck_assert_int_eq(gw("POST", "/api/orders", body, &r), 201);
    long long order_id = harness_int(r.json, "id");
    ck_assert_int_eq(harness_int(r.json, "totalAmount"), 300000);
    ck_assert_int_eq(harness_int(r.json, "discountAmount"), 30000);
    ck_assert_int_eq(harness_int(r.json, "finalAmount"), 270000);
    hresp_free(&r);
    ck_assert_int_eq(stock_of(3), 4);
    ck_assert_int_eq(user_coupon(2, 2, &used), order_id);
    ck_assert(used);

    ck_assert_int_eq(pay(order_id, 2, &r), 402);
    ck_problem(&r, 402, "INSUFFICIENT_BALANCE");
    hresp_free(&r);

    /* Cancelled with compensation before the reply. */
    ck_assert_str_eq(order_status(order_id, st, sizeof st), "CANCELLED");
    ck_assert_int_eq(stock_of(3), 5);
    ck_assert_int_eq(user_coupon(2, 2, &used), 0);
    ck_assert(!used);
    ck_assert_int_eq(balance_of(2), 10000);

    /* The payment is recorded FAILED, with no delivery. */
    ck_assert_int_eq(gw_admin("GET", "/api/admin/payments?userId=2", NULL, &r), 200);
    const cJSON *items = cJSON_GetObjectItemCaseSensitive(r.json, "items");
    ck_assert_int_eq(cJSON_GetArraySize(items), 1);
    const cJSON *p = cJSON_GetArrayItem(items, 0);
    ck_assert_int_eq(harness_int(p, "orderId"), order_id);
    ck_assert_str_eq(jstr(p, "status"), "FAILED");
    ck_assert_int_eq(harness_int(p, "amount"), 270000);
    ck_assert(cJSON_IsNull(cJSON_GetObjectItemCaseSensitive(p, "delivery")));
    long long payment_id = harness_int(p, "id");
    hresp_free(&r);
    char path[64];
    snprintf(path, sizeof path, "/api/payments/%lld", payment_id);
    ck_assert_int_eq(gw("GET", path, NULL, &r), 200);
    ck_assert_str_eq(jstr(r.json, "status"), "FAILED");
    hresp_free(&r);

    /* The diagram's next step: the client cancels; already done, so 200
     * and nothing is given back twice. */
    ck_assert_int_eq(cancel(order_id, 2, "CANCELLED", &r), 200);
    ck_assert_str_eq(jstr(r.json, "status"), "CANCELLED");
    hresp_free(&r);
    ck_assert_int_eq(stock_of(3), 5);
    ck_assert_int_eq(user_coupon(2, 2, &used), 0);
    ck_assert(!used);
    ck_assert_int_eq(balance_of(2), 10000);

    /* And the coupon can be used again. */
    long long again = order_ok(2, 2, 1, 2);
    ck_assert_int_eq(user_coupon(2, 2, &used), again);
    ck_assert(used);
}
END_TEST

/* --------------------------------------------------------- PATCH cancel */

START_TEST(test_patch_cancel)
{
    hresp r;
    char st[32];
    bool used = true;
    long long user = create_user("it-cancel", 100000);
    long long other = create_user("it-other", 100000);
    long long item = create_item("it-cancel-item", 1000, 10);
    long long uc = give_coupon(user, 500);

    long long o = order_ok(user, item, 3, uc);
    ck_assert_int_eq(stock_of(item), 7);
    ck_assert_int_eq(cancel(o, user, "CANCELLED", &r), 200);
    ck_assert_int_eq(harness_int(r.json, "id"), o);
    ck_assert_str_eq(jstr(r.json, "status"), "CANCELLED");
    hresp_free(&r);
    ck_assert_int_eq(stock_of(item), 10);
    ck_assert_int_eq(user_coupon(user, uc, &used), 0);
    ck_assert(!used);

    /* Again: 200, no second restoration. */
    ck_assert_int_eq(cancel(o, user, "CANCELLED", &r), 200);
    ck_assert_str_eq(jstr(r.json, "status"), "CANCELLED");
    hresp_free(&r);
    ck_assert_int_eq(stock_of(item), 10);
    ck_assert_int_eq(balance_of(user), 100000);

    /* A cancelled order cannot be paid. */
    ck_assert_int_eq(pay(o, user, &r), 409);
    ck_problem(&r, 409, "ORDER_NOT_PAYABLE");
    hresp_free(&r);

    /* A paid order cannot be cancelled. */
    long long paid = order_ok(user, item, 2, uc);
    ck_assert_int_eq(pay(paid, user, &r), 201);
    hresp_free(&r);
    ck_assert_int_eq(balance_of(user), 100000 - 1500);
    ck_assert_int_eq(cancel(paid, user, "CANCELLED", &r), 409);
    ck_problem(&r, 409, "ORDER_ALREADY_PAID");
    hresp_free(&r);
    ck_assert_str_eq(order_status(paid, st, sizeof st), "PAID");
    ck_assert_int_eq(stock_of(item), 8);
    ck_assert_int_eq(user_coupon(user, uc, &used), paid);
    ck_assert(used);

    /* Another user's order. */
    long long mine = order_ok(user, item, 1, 0);
    ck_assert_int_eq(cancel(mine, other, "CANCELLED", &r), 403);
    ck_problem(&r, 403, "FORBIDDEN");
    hresp_free(&r);
    ck_assert_str_eq(order_status(mine, st, sizeof st), "CREATED");
    ck_assert_int_eq(stock_of(item), 7);

    /* Only "CANCELLED" may be asked for. */
    ck_assert_int_eq(cancel(mine, user, "PAID", &r), 400);
    ck_problem(&r, 400, "INVALID_REQUEST");
    ck_assert_ptr_nonnull(strstr(jstr(r.json, "detail"), "status"));
    hresp_free(&r);
    ck_assert_int_eq(cancel(mine, user, "cancelled", &r), 400);
    hresp_free(&r);
    ck_assert_int_eq(gw("PATCH", "/api/payments", "{\"orderId\":1,\"userId\":1}", &r), 400);
    ck_problem(&r, 400, "INVALID_REQUEST");
    hresp_free(&r);
    ck_assert_int_eq(gw("PATCH", "/api/payments",
                        "{\"orderId\":\"1\",\"userId\":1,\"status\":\"CANCELLED\"}", &r),
                     400);
    hresp_free(&r);
    ck_assert_int_eq(gw("PATCH", "/api/payments", "{\"orderId\":1,", &r), 400);
    ck_problem(&r, 400, "INVALID_REQUEST");
    hresp_free(&r);
    ck_assert_int_eq(gw("PATCH", "/api/payments", NULL, &r), 400);
    hresp_free(&r);
    ck_assert_str_eq(order_status(mine, st, sizeof st), "CREATED");

    ck_assert_int_eq(cancel(999999999, user, "CANCELLED", &r), 404);
    ck_problem(&r, 404, "ORDER_NOT_FOUND");
    hresp_free(&r);
}
END_TEST

/* ---------------------------------------------- error codes of the routes */

START_TEST(test_order_errors)
{
    hresp r;
    bool used = true;
    long long user = create_user("it-order-errors", 100000);
    long long thief = create_user("it-thief", 100000);
    long long item = create_item("it-order-err", 1000, 5);
    long long item2 = create_item("it-order-err2", 2000, 1);
    long long uc = give_coupon(user, 100);
    static const char *const bad[] = {
        "{\"userId\":1,\"items\":[]}",
        "{\"userId\":1,\"items\":[{\"itemId\":1,\"quantity\":0}]}",
        "{\"userId\":1,\"items\":[{\"itemId\":1,\"quantity\":1001}]}",
        "{\"userId\":1,\"items\":[{\"itemId\":1,\"quantity\":1},{\"itemId\":1,\"quantity\":1}]}",
        "{\"userId\":\"1\",\"items\":[{\"itemId\":1,\"quantity\":1}]}",
        "{\"userId\":1.5,\"items\":[{\"itemId\":1,\"quantity\":1}]}",
        "{\"userId\":1}",
        "{\"userId\":1,\"userId\":2,\"items\":[{\"itemId\":1,\"quantity\":1}]}",
        "{\"userId\":1,\"items\":[{\"itemId\":1,\"quantity\":1}],\"userCouponId\":-1}",
        "{\"userId\":1,\"items\":",
        "[1,2]",
    };
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
        ck_assert_msg(gw("POST", "/api/orders", bad[i], &r) == 400, "%s -> %ld", bad[i], r.status);
        ck_problem(&r, 400, "INVALID_REQUEST");
        hresp_free(&r);
    }

    ck_assert_int_eq(order(999999999, item, 1, 0, &r), 404);
    ck_problem(&r, 404, "USER_NOT_FOUND");
    hresp_free(&r);
    ck_assert_int_eq(order(user, 999999999, 1, 0, &r), 404);
    ck_problem(&r, 404, "ITEM_NOT_FOUND");
    hresp_free(&r);
    ck_assert_int_eq(order(user, item, 1, 999999999, &r), 404);
    ck_problem(&r, 404, "COUPON_NOT_FOUND");
    hresp_free(&r);
    ck_assert_int_eq(stock_of(item), 5);

    ck_assert_int_eq(order(user, item, 6, uc, &r), 409);
    ck_problem(&r, 409, "OUT_OF_STOCK");
    hresp_free(&r);
    ck_assert_int_eq(stock_of(item), 5);
    ck_assert_int_eq(user_coupon(user, uc, &used), 0);
    ck_assert(!used);

    /* All lines or none: the first line is not left deducted. */
    char body[256];
    snprintf(body, sizeof body,
             "{\"userId\":%lld,\"items\":[{\"itemId\":%lld,\"quantity\":2},"
             "{\"itemId\":%lld,\"quantity\":2}]}",
             user, item, item2);
    ck_assert_int_eq(gw("POST", "/api/orders", body, &r), 409);
    ck_problem(&r, 409, "OUT_OF_STOCK");
    hresp_free(&r);
    ck_assert_int_eq(stock_of(item), 5);
    ck_assert_int_eq(stock_of(item2), 1);

    /* Someone else's coupon, then a used one; no stock stays deducted. */
    ck_assert_int_eq(order(thief, item, 1, uc, &r), 409);
    ck_problem(&r, 409, "COUPON_NOT_USABLE");
    hresp_free(&r);
    ck_assert_int_eq(stock_of(item), 5);
    long long first = order_ok(user, item, 1, uc);
    ck_assert_int_eq(order(user, item, 1, uc, &r), 409);
    ck_problem(&r, 409, "COUPON_NOT_USABLE");
    hresp_free(&r);
    ck_assert_int_eq(stock_of(item), 4);
    ck_assert_int_eq(user_coupon(user, uc, &used), first);

    /* A refused order is left FAILED: neither payable nor cancellable. */
    long long unlucky = create_user("it-unlucky", 100000);
    ck_assert_int_eq(order(unlucky, item2, 2, 0, &r), 409);
    ck_problem(&r, 409, "OUT_OF_STOCK");
    hresp_free(&r);
    snprintf(body, sizeof body, "/api/admin/orders?userId=%lld", unlucky);
    ck_assert_int_eq(gw_admin("GET", body, NULL, &r), 200);
    const cJSON *listed = cJSON_GetObjectItemCaseSensitive(r.json, "items");
    ck_assert_int_eq(cJSON_GetArraySize(listed), 1);
    ck_assert_str_eq(jstr(cJSON_GetArrayItem(listed, 0), "status"), "FAILED");
    long long failed = harness_int(cJSON_GetArrayItem(listed, 0), "id");
    hresp_free(&r);
    ck_assert_int_eq(cancel(failed, unlucky, "CANCELLED", &r), 409);
    ck_problem(&r, 409, "ORDER_NOT_CANCELLABLE");
    hresp_free(&r);
    ck_assert_int_eq(pay(failed, unlucky, &r), 409);
    ck_problem(&r, 409, "ORDER_NOT_PAYABLE");
    hresp_free(&r);
    ck_assert_int_eq(stock_of(item2), 1);
    ck_assert_int_eq(balance_of(unlucky), 100000);

    ck_assert_int_eq(gw("GET", "/api/orders/999999999", NULL, &r), 404);
    ck_problem(&r, 404, "ORDER_NOT_FOUND");
    hresp_free(&r);
    ck_assert_int_eq(gw("GET", "/api/orders/999999999/saga", NULL, &r), 404);
    ck_problem(&r, 404, "ORDER_NOT_FOUND");
    hresp_free(&r);
    ck_assert_int_eq(gw("GET", "/api/orders/abc", NULL, &r), 400);
    ck_problem(&r, 400, "INVALID_REQUEST");
    hresp_free(&r);
    ck_assert_int_eq(gw("GET", "/api/orders/0", NULL, &r), 400);
    hresp_free(&r);
    ck_assert_int_eq(gw("GET", "/api/items/999999999", NULL, &r), 404);
    ck_problem(&r, 404, "ITEM_NOT_FOUND");
    hresp_free(&r);
    ck_assert_int_eq(gw("GET", "/api/users/999999999/balance", NULL, &r), 404);
    ck_problem(&r, 404, "USER_NOT_FOUND");
    hresp_free(&r);
}
END_TEST

START_TEST(test_payment_errors)
{
    hresp r;
    char st[32];
    long long user = create_user("it-pay-errors", 5000);
    long long other = create_user("it-pay-other", 100000);
    long long item = create_item("it-pay-err", 2000, 10);

    long long o = order_ok(user, item, 1, 0);
    ck_assert_int_eq(pay(999999999, user, &r), 404);
    ck_problem(&r, 404, "ORDER_NOT_FOUND");
    hresp_free(&r);
    ck_assert_int_eq(pay(o, other, &r), 403);
    ck_problem(&r, 403, "FORBIDDEN");
    hresp_free(&r);
    ck_assert_int_eq(balance_of(other), 100000);
    static const char *const bad[] = {
        "{\"userId\":1}",
        "{\"orderId\":1}",
        "{\"orderId\":0,\"userId\":1}",
        "{\"orderId\":1,\"userId\":\"1\"}",
        "{\"orderId\":1,\"userId\":1,\"orderId\":2}",
        "not json",
    };
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
        ck_assert_msg(gw("POST", "/api/payments", bad[i], &r) == 400, "%s -> %ld", bad[i],
                      r.status);
        ck_problem(&r, 400, "INVALID_REQUEST");
        hresp_free(&r);
    }
    ck_assert_str_eq(order_status(o, st, sizeof st), "CREATED");

    ck_assert_int_eq(pay(o, user, &r), 201);
    long long payment = harness_int(r.json, "id");
    ck_assert_int_eq(harness_int(r.json, "amount"), 2000);
    hresp_free(&r);
    ck_assert_int_eq(pay(o, user, &r), 409);
    ck_problem(&r, 409, "ORDER_NOT_PAYABLE");
    hresp_free(&r);
    ck_assert_int_eq(balance_of(user), 3000);

    /* Short balance: 402, cancelled, stock back. */
    long long big = order_ok(user, item, 2, 0);
    ck_assert_int_eq(stock_of(item), 7);
    ck_assert_int_eq(pay(big, user, &r), 402);
    ck_problem(&r, 402, "INSUFFICIENT_BALANCE");
    hresp_free(&r);
    ck_assert_int_eq(balance_of(user), 3000);
    ck_assert_str_eq(order_status(big, st, sizeof st), "CANCELLED");
    ck_assert_int_eq(stock_of(item), 9);
    ck_assert_int_eq(pay(big, user, &r), 409);
    ck_problem(&r, 409, "ORDER_NOT_PAYABLE");
    hresp_free(&r);

    char path[64];
    snprintf(path, sizeof path, "/api/payments/%lld", payment);
    ck_assert_int_eq(gw("GET", path, NULL, &r), 200);
    ck_assert_int_eq(harness_int(r.json, "orderId"), o);
    hresp_free(&r);
    ck_assert_int_eq(gw("GET", "/api/payments/999999999", NULL, &r), 404);
    ck_problem(&r, 404, "PAYMENT_NOT_FOUND");
    hresp_free(&r);
}
END_TEST

/* --------------------------------------------- the gateway's own duties */

START_TEST(test_admin_token)
{
    hresp r;
    static const char *const wrong[] = {"X-Admin-Token: it-admin-tokeN", NULL};
    const char *item = "{\"name\":\"it-admin\",\"price\":1,\"stock\":1}";
    ck_assert_int_eq(gw("POST", "/api/admin/items", item, &r), 401);
    ck_problem(&r, 401, "UNAUTHORIZED");
    hresp_free(&r);
    ck_assert_int_eq(
        harness_req("POST", stack.procs[STACK_GW].port, "/api/admin/items", item, wrong, &r), 401);
    ck_problem(&r, 401, "UNAUTHORIZED");
    hresp_free(&r);
    ck_assert_int_eq(gw("POST", "/api/admin/users", "{\"name\":\"x\",\"balance\":1}", &r), 401);
    hresp_free(&r);
    ck_assert_int_eq(gw("GET", "/api/admin/orders", NULL, &r), 401);
    ck_problem(&r, 401, "UNAUTHORIZED");
    hresp_free(&r);
    ck_assert_int_eq(gw("GET", "/api/admin/payments", NULL, &r), 401);
    hresp_free(&r);

    ck_assert_int_eq(gw_admin("POST", "/api/admin/items", item, &r), 201);
    ck_assert_str_eq(jstr(r.json, "name"), "it-admin");
    hresp_free(&r);
    long long u = create_user("it-admin-user", 777);
    ck_assert_int_eq(balance_of(u), 777);
    ck_assert_int_gt(give_coupon(u, 10), 0);

    /* Admin reads, with the query passed on. */
    long long o = order_ok(u, 1, 1, 0);
    char path[96];
    snprintf(path, sizeof path, "/api/admin/orders?userId=%lld&limit=5", u);
    ck_assert_int_eq(gw_admin("GET", path, NULL, &r), 200);
    const cJSON *items = cJSON_GetObjectItemCaseSensitive(r.json, "items");
    ck_assert_int_eq(cJSON_GetArraySize(items), 1);
    ck_assert_int_eq(harness_int(cJSON_GetArrayItem(items, 0), "id"), o);
    hresp_free(&r);
    ck_assert_int_eq(gw_admin("GET", "/api/admin/payments?limit=1", NULL, &r), 200);
    ck_assert(cJSON_IsArray(cJSON_GetObjectItemCaseSensitive(r.json, "items")));
    hresp_free(&r);
}
END_TEST

START_TEST(test_routing_and_request_id)
{
    hresp r;
    ck_assert_int_eq(gw("GET", "/api/nothing", NULL, &r), 404);
    ck_problem(&r, 404, "NOT_FOUND");
    hresp_free(&r);
    /* The services' own paths are not public. */
    ck_assert_int_eq(gw("GET", "/items", NULL, &r), 404);
    hresp_free(&r);
    ck_assert_int_eq(gw("POST", "/orders/1/cancel", "{}", &r), 404);
    hresp_free(&r);

    ck_assert_int_eq(gw("DELETE", "/api/items", NULL, &r), 405);
    ck_problem(&r, 405, "METHOD_NOT_ALLOWED");
    ck_assert(harness_has_header(&r, "Allow", "GET"));
    hresp_free(&r);
    ck_assert_int_eq(gw("PUT", "/api/payments", "{}", &r), 405);
    ck_assert(harness_has_header(&r, "Allow", "POST, PATCH"));
    hresp_free(&r);

    /* A sent request id comes back, and reaches the service behind. */
    static const char *const rid[] = {"X-Request-Id: it-rid-4242.x_y", NULL};
    ck_assert_int_eq(harness_req("GET", stack.procs[STACK_GW].port, "/api/items/2", NULL, rid, &r),
                     200);
    ck_assert(harness_has_header(&r, "X-Request-Id", "it-rid-4242.x_y"));
    ck_assert_str_eq(jstr(r.json, "name"), "Mouse");
    hresp_free(&r);
    /* (The access-log line is written just after the reply went out.) */
    bool seen = false;
    for (int i = 0; i < 100 && !seen; i++) {
        FILE *f = fopen(stack.procs[STACK_ITEM].log_path, "r");
        ck_assert_ptr_nonnull(f);
        char line[2048];
        while (!seen && fgets(line, sizeof line, f) != NULL)
            seen = strstr(line, "it-rid-4242.x_y") != NULL;
        fclose(f);
        if (!seen)
            sleep_ms(20);
    }
    ck_assert_msg(seen, "item-service never logged the request id");

    /* Without one (or with an invalid one), a new one. */
    ck_assert_int_eq(gw("GET", "/api/items", NULL, &r), 200);
    ck_assert(harness_has_header(&r, "X-Request-Id", NULL));
    ck_assert(!harness_has_header(&r, "X-Request-Id", "it-rid-4242.x_y"));
    ck_assert_int_ge(cJSON_GetArraySize(cJSON_GetObjectItemCaseSensitive(r.json, "items")), 4);
    hresp_free(&r);
    static const char *const bad_rid[] = {"X-Request-Id: has space", NULL};
    ck_assert_int_eq(
        harness_req("GET", stack.procs[STACK_GW].port, "/api/items", NULL, bad_rid, &r), 200);
    ck_assert(harness_has_header(&r, "X-Request-Id", NULL));
    ck_assert(!harness_has_header(&r, "X-Request-Id", "has space"));
    hresp_free(&r);

    /* A client's X-Internal-Token is dropped: the gateway's own is used. */
    static const char *const tok[] = {"X-Internal-Token: bogus", NULL};
    ck_assert_int_eq(harness_req("GET", stack.procs[STACK_GW].port, "/api/items/1", NULL, tok, &r),
                     200);
    hresp_free(&r);
    /* And the services refuse a call without it. */
    ck_assert_int_eq(harness_req("GET", stack.procs[STACK_ITEM].port, "/items/1", NULL, NULL, &r),
                     401);
    hresp_free(&r);

    ck_assert_int_eq(gw("GET", "/health/live", NULL, &r), 200);
    hresp_free(&r);
    ck_assert_int_eq(gw("GET", "/health", NULL, &r), 200);
    ck_assert_str_eq(jstr(r.json, "status"), "ok");
    const cJSON *services = cJSON_GetObjectItemCaseSensitive(r.json, "services");
    static const char *const names[] = {"item", "user", "coupon", "order", "payment"};
    for (size_t i = 0; i < 5; i++)
        ck_assert_str_eq(jstr(services, names[i]), "ok");
    ck_assert_int_eq(cJSON_GetArraySize(services), 5);
    hresp_free(&r);
}
END_TEST

START_TEST(test_idempotent_replay_passes_through)
{
    hresp r;
    long long user = create_user("it-idem", 1000);
    char path[96];
    static const char *const key[] = {"Idempotency-Key: it-charge-1", NULL};
    snprintf(path, sizeof path, "/api/users/%lld/balance/charge", user);
    ck_assert_int_eq(
        harness_req("POST", stack.procs[STACK_GW].port, path, "{\"amount\":500}", key, &r), 200);
    ck_assert_int_eq(harness_int(r.json, "balance"), 1500);
    ck_assert(!harness_has_header(&r, "Idempotent-Replayed", NULL));
    hresp_free(&r);
    ck_assert_int_eq(
        harness_req("POST", stack.procs[STACK_GW].port, path, "{\"amount\":500}", key, &r), 200);
    ck_assert_int_eq(harness_int(r.json, "balance"), 1500);
    ck_assert(harness_has_header(&r, "Idempotent-Replayed", "true"));
    hresp_free(&r);
    ck_assert_int_eq(
        harness_req("POST", stack.procs[STACK_GW].port, path, "{\"amount\":600}", key, &r), 422);
    ck_problem(&r, 422, "IDEMPOTENCY_KEY_REUSED");
    hresp_free(&r);
    ck_assert_int_eq(balance_of(user), 1500);
}
END_TEST

/* ------------------------------------------------------------- races */

typedef struct race_arg {
    pthread_barrier_t *start;
    const char *method;
    const char *path;
    char body[256];
    long status;
    char code[64];
    long long id;
} race_arg;

static void *race_thread(void *p)
{
    race_arg *a = p;
    hresp r;
    pthread_barrier_wait(a->start);
    a->status = gw(a->method, a->path, a->body, &r);
    snprintf(a->code, sizeof a->code, "%s", code_of(&r));
    a->id = harness_int(r.json, "id");
    hresp_free(&r);
    return NULL;
}

/* Runs n requests at once, one thread each. */
static void race(race_arg *args, int n)
{
    pthread_t threads[64];
    pthread_barrier_t start;
    ck_assert_int_le(n, 64);
    pthread_barrier_init(&start, NULL, (unsigned)n);
    for (int i = 0; i < n; i++) {
        args[i].start = &start;
        ck_assert_int_eq(pthread_create(&threads[i], NULL, race_thread, &args[i]), 0);
    }
    for (int i = 0; i < n; i++)
        pthread_join(threads[i], NULL);
    pthread_barrier_destroy(&start);
}

START_TEST(test_race_last_units)
{
    enum { USERS = 40, STOCK = 10 };
    static race_arg args[USERS];
    long long item = create_item("it-race-last-ten", 3000, STOCK);
    for (int i = 0; i < USERS; i++) {
        char name[32];
        snprintf(name, sizeof name, "it-racer-%d", i);
        long long user = create_user(name, 100000);
        memset(&args[i], 0, sizeof args[i]);
        args[i].method = "POST";
        args[i].path = "/api/orders";
        snprintf(args[i].body, sizeof args[i].body,
                 "{\"userId\":%lld,\"items\":[{\"itemId\":%lld,\"quantity\":1}]}", user, item);
    }
    race(args, USERS);
    int created = 0, out_of_stock = 0;
    for (int i = 0; i < USERS; i++) {
        if (args[i].status == 201) {
            created++;
            for (int j = 0; j < i; j++)
                ck_assert(args[j].status != 201 || args[j].id != args[i].id);
        } else if (args[i].status == 409 && strcmp(args[i].code, "OUT_OF_STOCK") == 0) {
            out_of_stock++;
        } else {
            ck_abort_msg("racer %d: %ld %s", i, args[i].status, args[i].code);
        }
    }
    ck_assert_int_eq(created, STOCK);
    ck_assert_int_eq(out_of_stock, USERS - STOCK);
    ck_assert_int_eq(stock_of(item), 0);
    char st[32];
    for (int i = 0; i < USERS; i++)
        if (args[i].status == 201)
            ck_assert_str_eq(order_status(args[i].id, st, sizeof st), "CREATED");
}
END_TEST

START_TEST(test_race_one_order_many_payments)
{
    enum { PAYERS = 20 };
    static race_arg args[PAYERS];
    long long user = create_user("it-race-payer", 100000);
    long long item = create_item("it-race-pay", 7000, 5);
    long long o = order_ok(user, item, 2, 0);
    for (int i = 0; i < PAYERS; i++) {
        memset(&args[i], 0, sizeof args[i]);
        args[i].method = "POST";
        args[i].path = "/api/payments";
        snprintf(args[i].body, sizeof args[i].body, "{\"orderId\":%lld,\"userId\":%lld}", o, user);
    }
    race(args, PAYERS);
    int completed = 0, refused = 0;
    for (int i = 0; i < PAYERS; i++) {
        if (args[i].status == 201)
            completed++;
        else if (args[i].status == 409 && strcmp(args[i].code, "ORDER_NOT_PAYABLE") == 0)
            refused++;
        else
            ck_abort_msg("payer %d: %ld %s", i, args[i].status, args[i].code);
    }
    ck_assert_int_eq(completed, 1);
    ck_assert_int_eq(refused, PAYERS - 1);
    ck_assert_int_eq(balance_of(user), 100000 - 14000);
    char st[32];
    ck_assert_str_eq(order_status(o, st, sizeof st), "PAID");
    ck_assert_int_eq(stock_of(item), 3);
}
END_TEST

/* ------------------------------------------------------------- health */

/* A listening socket that never accepts: calls to it time out. */
static int blackhole(int *port)
{
    int fd = socket(AF_INET, SOCK_STREAM, 0);
    struct sockaddr_in a = {.sin_family = AF_INET};
    a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    socklen_t len = sizeof a;
    ck_assert_int_ge(fd, 0);
    ck_assert_int_eq(bind(fd, (struct sockaddr *)&a, sizeof a), 0);
    ck_assert_int_eq(listen(fd, 16), 0);
    ck_assert_int_eq(getsockname(fd, (struct sockaddr *)&a, &len), 0);
    *port = ntohs(a.sin_port);
    return fd;
}

/* A second gateway, without admin token, whose item service never answers
 * and whose user service is not there. */
START_TEST(test_gateway_transport_failures)
{
    hresp r;
    int hole_port = 0;
    int hole = blackhole(&hole_port);
    svc_proc gw2 = {0};
    char port_env[32], item_url[64], user_url[64];
    gw2.port = harness_free_port();
    snprintf(gw2.log_path, sizeof gw2.log_path, "%s/api-gateway-2.log", stack.data_dir);
    snprintf(port_env, sizeof port_env, "GATEWAY_PORT=%d", gw2.port);
    snprintf(item_url, sizeof item_url, "ITEM_URL=http://127.0.0.1:%d", hole_port);
    snprintf(user_url, sizeof user_url, "USER_URL=http://127.0.0.1:%d", harness_free_port());
    const char *const extra[] = {
        port_env, item_url, user_url, "SHOP_ADMIN_TOKEN=", "SHOP_CALL_TIMEOUT_MS=500", NULL};
    ck_assert(harness_start(&gw2, "api-gateway", stack_env(&stack, extra)));

    ck_assert_int_eq(harness_req("GET", gw2.port, "/api/items/1", NULL, NULL, &r), 504);
    ck_problem(&r, 504, "UPSTREAM_TIMEOUT");
    ck_assert_int_lt(r.ms, 3000);
    hresp_free(&r);
    ck_assert_int_eq(harness_req("GET", gw2.port, "/api/users/1/balance", NULL, NULL, &r), 503);
    ck_problem(&r, 503, "SERVICE_UNAVAILABLE");
    hresp_free(&r);
    ck_assert_int_eq(harness_req("POST", gw2.port, "/api/admin/items", "{}", admin_headers, &r),
                     403);
    ck_problem(&r, 403, "ADMIN_DISABLED");
    hresp_free(&r);
    /* The rest of that gateway works. */
    ck_assert_int_eq(harness_req("GET", gw2.port, "/api/orders/999999999", NULL, NULL, &r), 404);
    ck_problem(&r, 404, "ORDER_NOT_FOUND");
    hresp_free(&r);
    ck_assert_int_eq(harness_req("GET", gw2.port, "/health", NULL, NULL, &r), 503);
    const cJSON *services = cJSON_GetObjectItemCaseSensitive(r.json, "services");
    ck_assert_str_eq(jstr(services, "item"), "down");
    ck_assert_str_eq(jstr(services, "user"), "down");
    ck_assert_str_eq(jstr(services, "coupon"), "ok");
    hresp_free(&r);

    ck_assert_int_lt(harness_stop(&gw2), 2000);
    close(hole);
}
END_TEST

/* Last in its tcase: it stops a service. */
START_TEST(test_health_down)
{
    hresp r;
    ck_assert_int_eq(gw("GET", "/health", NULL, &r), 200);
    hresp_free(&r);
    harness_stop(&stack.procs[STACK_COUPON]);
    ck_assert_int_eq(gw("GET", "/health", NULL, &r), 503);
    ck_assert_str_eq(jstr(r.json, "status"), "degraded");
    const cJSON *services = cJSON_GetObjectItemCaseSensitive(r.json, "services");
    ck_assert_str_eq(jstr(services, "coupon"), "down");
    ck_assert_str_eq(jstr(services, "item"), "ok");
    ck_assert_str_eq(jstr(services, "user"), "ok");
    ck_assert_str_eq(jstr(services, "order"), "ok");
    ck_assert_str_eq(jstr(services, "payment"), "ok");
    hresp_free(&r);
    /* Live says the gateway itself is fine. */
    ck_assert_int_eq(gw("GET", "/health/live", NULL, &r), 200);
    hresp_free(&r);
    ck_assert_int_eq(gw("POST", "/api/coupons/1/issue", "{\"userId\":3}", &r), 503);
    ck_problem(&r, 503, "SERVICE_UNAVAILABLE");
    hresp_free(&r);
    ck_assert_int_eq(gw("GET", "/api/users/1/coupons", NULL, &r), 503);
    hresp_free(&r);
    /* What does not need the coupon service goes on. */
    ck_assert_int_eq(gw("GET", "/api/items/1", NULL, &r), 200);
    hresp_free(&r);
}
END_TEST

Suite *it_shop_suite(void);
Suite *it_shop_suite(void)
{
    Suite *s = suite_create("it_shop");
    TCase *tc = tcase_create("seed_flows");
    tcase_add_unchecked_fixture(tc, up, down);
    tcase_set_timeout(tc, 60);
    tcase_add_test(tc, test_seed_success_flow);
    tcase_add_test(tc, test_seed_failure_flow);
    suite_add_tcase(s, tc);

    tc = tcase_create("api");
    tcase_add_unchecked_fixture(tc, up, down);
    tcase_set_timeout(tc, 60);
    tcase_add_test(tc, test_patch_cancel);
    tcase_add_test(tc, test_order_errors);
    tcase_add_test(tc, test_payment_errors);
    tcase_add_test(tc, test_admin_token);
    tcase_add_test(tc, test_routing_and_request_id);
    tcase_add_test(tc, test_idempotent_replay_passes_through);
    tcase_add_test(tc, test_race_last_units);
    tcase_add_test(tc, test_race_one_order_many_payments);
    tcase_add_test(tc, test_gateway_transport_failures);
    tcase_add_test(tc, test_health_down);
    suite_add_tcase(s, tc);
    return s;
}
