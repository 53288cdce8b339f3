/* Fuzzes order-service's request bodies: POST /orders (order_parse_create,
 * then order_validate_lines on what it read), POST /orders/{id}/cancel and
 * /pay (static body_user/handle_pay in services/order/routes.c, repeated
 * here), and the reservation reply the create saga reads
 * (order_take_prices), each compared with an independent reading. */
#include <stdio.h>
#include <string.h>

#include "fuzz_support.h"
#include "../../services/order/order_logic.h"

static const spec_field create_fields[] = {
    {.name = "userId", .kind = SPEC_INT, .min = 1, .max = ORDER_ID_MAX},
    {.name = "items", .kind = SPEC_LINES, .min = 1, .max = ORDER_MAX_LINES,
     .qty_max = ORDER_MAX_QUANTITY, .distinct = true},
    {.name = "userCouponId", .kind = SPEC_INT_OPT, .min = 1, .max = ORDER_ID_MAX},
};
static const spec_route create_spec = {"POST /orders", create_fields, 3, NULL};

static const spec_field cancel_fields[] = {
    {.name = "userId", .kind = SPEC_INT_OPT, .min = 1, .max = JSON_INT_MAX},
};
static const spec_route cancel_spec = {"POST /orders/{id}/cancel", cancel_fields, 1, NULL};

static const spec_field pay_fields[] = {
    {.name = "paymentId", .kind = SPEC_INT, .min = 1, .max = JSON_INT_MAX},
    {.name = "userId", .kind = SPEC_INT_OPT, .min = 1, .max = JSON_INT_MAX},
};
static const spec_route pay_spec = {"POST /orders/{id}/pay", pay_fields, 2, NULL};

static bool validate_create(const cJSON *body, json_err *err)
{
    order_create_req rq;
    int64_t v;
    if (!order_parse_create(body, &rq, err))
        return false;
    FUZZ_CHECK(spec_int_value(body, "userId", &v) && v == rq.user_id, "userId %lld",
               (long long)rq.user_id);
    const cJSON *c = cJSON_GetObjectItemCaseSensitive(body, "userCouponId");
    FUZZ_CHECK(c == NULL || cJSON_IsNull(c) ? rq.user_coupon_id == 0
                                            : spec_int_value(body, "userCouponId", &v) &&
                                                  v == rq.user_coupon_id && v >= 1,
               "userCouponId %lld", (long long)rq.user_coupon_id);
    const cJSON *items = cJSON_GetObjectItemCaseSensitive(body, "items");
    FUZZ_CHECK(rq.n_lines == (size_t)cJSON_GetArraySize(items), "n_lines %zu", rq.n_lines);
    for (size_t i = 0; i < rq.n_lines; i++) {
        const cJSON *el = cJSON_GetArrayItem(items, (int)i);
        int64_t id, qty;
        FUZZ_CHECK(spec_int_value(el, "itemId", &id) && id == rq.lines[i].item_id &&
                       spec_int_value(el, "quantity", &qty) && qty == rq.lines[i].quantity &&
                       rq.lines[i].unit_price == 0,
                   "line %zu", i);
    }
    json_err again;
    FUZZ_CHECK(order_validate_lines(rq.lines, rq.n_lines, &again), "parsed lines refused: %s",
               again.msg);
    /* Priced at the edges, the amounts add up without overflow. */
    order_line priced[ORDER_MAX_LINES];
    memcpy(priced, rq.lines, rq.n_lines * sizeof priced[0]);
    for (size_t i = 0; i < rq.n_lines; i++)
        priced[i].unit_price = ORDER_PRICE_MAX;
    order_amounts a;
    FUZZ_CHECK(order_compute_amounts(priced, rq.n_lines, 0, &a) && a.final_amount == a.total &&
                   a.total > 0 && a.total <= (int64_t)ORDER_MAX_LINES * ORDER_MAX_QUANTITY *
                                                 ORDER_PRICE_MAX,
               "amounts of %zu lines", rq.n_lines);
    return true;
}

/* As body_user in services/order/routes.c (the body may be absent). */
static bool body_user(const cJSON *body, json_err *err)
{
    int64_t user_id = 0;
    bool present = false;
    if (!json_get_int_opt(body, "userId", 1, JSON_INT_MAX, &user_id, &present, err))
        return false;
    FUZZ_CHECK(!present || user_id >= 1, "userId %lld", (long long)user_id);
    return true;
}

static bool validate_cancel(const cJSON *body, json_err *err)
{
    return body_user(body, err);
}

static bool validate_pay(const cJSON *body, json_err *err)
{
    int64_t payment_id;
    return json_get_int(body, "paymentId", 1, JSON_INT_MAX, &payment_id, err) &&
           body_user(body, err);
}

static const body_route routes[] = {
    {&create_spec, validate_create},
    {&cancel_spec, validate_cancel},
    {&pay_spec, validate_pay},
};

/* The reservation reply: the order's lines are read from the reply itself
 * (so most replies match), then one may be changed; order_take_prices must
 * accept exactly the replies that list every line once with its quantity
 * and a price in 0..ORDER_PRICE_MAX. */
static void take_prices(uint8_t how, const char *text, size_t len)
{
    cJSON *reply = json_parse_any(text, len, NULL);
    if (reply == NULL)
        return;
    order_line lines[ORDER_MAX_LINES];
    size_t n = 0;
    const cJSON *items = cJSON_GetObjectItemCaseSensitive(reply, "items");
    const cJSON *el;
    cJSON_ArrayForEach(el, items)
    {
        int64_t id, qty;
        if (n == ORDER_MAX_LINES || !spec_int_value(el, "itemId", &id) ||
            !spec_int_value(el, "quantity", &qty))
            break;
        lines[n++] = (order_line){.item_id = id, .quantity = qty, .unit_price = -1};
    }
    if (n > 0 && (how & 1))
        lines[how % n].quantity++;
    if (n > 0 && (how & 2))
        n--;
    /* The oracle. */
    bool expect = cJSON_IsArray(items) && (size_t)cJSON_GetArraySize(items) == n;
    bool seen[ORDER_MAX_LINES] = {false};
    cJSON_ArrayForEach(el, items)
    {
        int64_t id, qty, price;
        size_t i = 0;
        if (!expect)
            break;
        if (!spec_int_value(el, "itemId", &id) || !spec_int_value(el, "quantity", &qty) ||
            !spec_int_value(el, "unitPrice", &price) || price < 0 || price > ORDER_PRICE_MAX) {
            expect = false;
            break;
        }
        while (i < n && lines[i].item_id != id)
            i++;
        if (i == n || seen[i] || lines[i].quantity != qty)
            expect = false;
        else
            seen[i] = true;
    }
    char why[128];
    memset(why, 'X', sizeof why);
    bool ok = order_take_prices(lines, n, reply, why, sizeof why);
    FUZZ_CHECK(ok == expect, "order_take_prices %s a reply the oracle %s (n %zu)",
               ok ? "accepts" : "refuses", expect ? "accepts" : "refuses", n);
    if (ok) {
        for (size_t i = 0; i < n; i++)
            FUZZ_CHECK(lines[i].unit_price >= 0 && lines[i].unit_price <= ORDER_PRICE_MAX,
                       "line %zu unpriced", i);
    } else {
        FUZZ_CHECK(memchr(why, 0, sizeof why) != NULL && why[0] != '\0', "why not filled");
    }
    cJSON_Delete(reply);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    if (size >= 2 && data[0] % 4 == 3) {
        take_prices(data[1], (const char *)data + 2, size - 2);
        return 0;
    }
    fuzz_bodies(routes, sizeof routes / sizeof routes[0], data, size);
    return 0;
}
