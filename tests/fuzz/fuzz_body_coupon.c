/* Fuzzes coupon-service's request bodies: POST /coupons, POST
 * /coupons/{id}/issue, POST /user-coupons/{id}/validate and /use. Their
 * validation is in static functions of services/coupon/routes.c
 * (parse_coupon, parse_use_body, handle_issue), so each route here repeats
 * them with the public coupon_type_parse, coupon_value_range and
 * time_parse_rfc3339, compared with the spec's independent reading; an
 * accepted validate/use body also goes through coupon_discount. */
#include <stdio.h>
#include <string.h>

#include "../../services/coupon/coupon_logic.h"
#include "fuzz_support.h"
#include "timeutil.h"

static const char *const types[] = {"FIXED", "PERCENT", NULL};

static const spec_field create_fields[] = {
    {.name = "name", .kind = SPEC_STR, .min = 1, .max = COUPON_NAME_MAX},
    {.name = "discountType", .kind = SPEC_ENUM, .values = types},
    {.name = "discountValue", .kind = SPEC_DISCOUNT},
    {.name = "totalQuantity", .kind = SPEC_INT, .min = 1, .max = COUPON_QUANTITY_MAX},
    {.name = "expiresAt", .kind = SPEC_TIME, .min = 0, .max = COUPON_EXPIRES_MAX},
};
static const spec_route create_spec = {"POST /coupons", create_fields, 5, NULL};

static const spec_field issue_fields[] = {
    {.name = "userId", .kind = SPEC_INT, .min = 1, .max = JSON_INT_MAX},
};
static const spec_route issue_spec = {"POST /coupons/{id}/issue", issue_fields, 1, NULL};

static const spec_field validate_fields[] = {
    {.name = "userId", .kind = SPEC_INT, .min = 1, .max = JSON_INT_MAX},
    {.name = "totalAmount", .kind = SPEC_INT, .min = 0, .max = COUPON_TOTAL_MAX},
};
static const spec_route validate_spec = {"POST /user-coupons/{id}/validate", validate_fields, 2,
                                         NULL};

static const spec_field use_fields[] = {
    {.name = "orderId", .kind = SPEC_INT, .min = 1, .max = JSON_INT_MAX},
    {.name = "userId", .kind = SPEC_INT, .min = 1, .max = JSON_INT_MAX},
    {.name = "totalAmount", .kind = SPEC_INT, .min = 0, .max = COUPON_TOTAL_MAX},
};
static const spec_route use_spec = {"POST /user-coupons/{id}/use", use_fields, 3, NULL};

/* As parse_coupon in services/coupon/routes.c. */
static bool validate_create(const cJSON *body, json_err *err)
{
    const char *name, *type, *expires;
    int64_t min, max, value, quantity, expires_at;
    coupon_discount_type t;
    if (!json_get_string(body, "name", 1, COUPON_NAME_MAX, &name, err) ||
        !json_get_string(body, "discountType", 1, 16, &type, err))
        return false;
    if (!coupon_type_parse(type, &t)) {
        snprintf(err->msg, sizeof err->msg, "discountType: must be FIXED or PERCENT");
        return false;
    }
    coupon_value_range(t, &min, &max);
    if (!json_get_int(body, "discountValue", min, max, &value, err) ||
        !json_get_int(body, "totalQuantity", 1, COUPON_QUANTITY_MAX, &quantity, err) ||
        !json_get_string(body, "expiresAt", 1, 64, &expires, err))
        return false;
    if (!time_parse_rfc3339(expires, &expires_at) || expires_at < 0 ||
        expires_at > COUPON_EXPIRES_MAX) {
        snprintf(err->msg, sizeof err->msg,
                 "expiresAt: must be an RFC 3339 time between 1970 and 9999");
        return false;
    }
    FUZZ_CHECK(strcmp(coupon_type_name(t), type) == 0, "type %s named %s", type,
               coupon_type_name(t));
    /* What the service will render: a 4-digit-year time that reads back. */
    char buf[TIME_RFC3339_LEN + 8];
    int64_t back = -1;
    memset(buf, 'X', sizeof buf);
    time_format_rfc3339(expires_at, buf);
    FUZZ_CHECK(memchr(buf, 0, TIME_RFC3339_LEN) != NULL && strlen(buf) == 20 &&
                   time_parse_rfc3339(buf, &back) && back == expires_at,
               "expiresAt %lld renders as \"%.20s\"", (long long)expires_at, buf);
    return true;
}

static bool validate_issue(const cJSON *body, json_err *err)
{
    int64_t user_id;
    return json_get_int(body, "userId", 1, JSON_INT_MAX, &user_id, err);
}

/* As parse_use_body; then the discount of every kind of coupon on total. */
static bool use_body(const cJSON *body, bool with_order, json_err *err)
{
    int64_t user_id, total, order_id;
    if (with_order && !json_get_int(body, "orderId", 1, JSON_INT_MAX, &order_id, err))
        return false;
    if (!json_get_int(body, "userId", 1, JSON_INT_MAX, &user_id, err) ||
        !json_get_int(body, "totalAmount", 0, COUPON_TOTAL_MAX, &total, err))
        return false;
    int64_t values[] = {1, 2, 50, 99, 100};
    for (size_t i = 0; i < sizeof values / sizeof values[0]; i++) {
        int64_t p = coupon_discount(COUPON_PERCENT, values[i], total);
        int64_t f = coupon_discount(COUPON_FIXED, values[i] * 10000000, total);
        FUZZ_CHECK(p >= 0 && p <= total && f >= 0 && f <= total,
                   "discount %lld/%lld on %lld", (long long)p, (long long)f, (long long)total);
    }
    return true;
}

static bool validate_validate(const cJSON *body, json_err *err)
{
    return use_body(body, false, err);
}

static bool validate_use(const cJSON *body, json_err *err)
{
    return use_body(body, true, err);
}

static const body_route routes[] = {
    {&create_spec, validate_create},
    {&issue_spec, validate_issue},
    {&validate_spec, validate_validate},
    {&use_spec, validate_use},
};

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    fuzz_bodies(routes, sizeof routes / sizeof routes[0], data, size);
    return 0;
}
