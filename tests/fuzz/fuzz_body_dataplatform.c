/* Fuzzes the data-platform stub's request bodies: POST /orders (the static
 * parse_record/check_items of services/data-platform/routes.c, repeated
 * here with the public time_parse_rfc3339 and
 * dataplatform_amounts_consistent) and PUT /faults (get_rate_opt with
 * dataplatform_rate_valid), compared with the spec's independent reading.
 * An accepted paidAt is also rendered the way GET /orders/{id} renders it. */
#include <stdio.h>
#include <string.h>

#include "../../services/data-platform/dataplatform_logic.h"
#include "fuzz_support.h"
#include "timeutil.h"

static bool amounts_rule(const cJSON *body, const char **field)
{
    int64_t t = 0, d = 0, f = 0;
    spec_int_value(body, "totalAmount", &t);
    spec_int_value(body, "discountAmount", &d);
    spec_int_value(body, "finalAmount", &f);
    *field = "finalAmount";
    return d <= t && f == t - d;
}

static const spec_field record_fields[] = {
    {.name = "orderId", .kind = SPEC_INT, .min = 1, .max = JSON_INT_MAX},
    {.name = "paymentId", .kind = SPEC_INT, .min = 1, .max = JSON_INT_MAX},
    {.name = "userId", .kind = SPEC_INT, .min = 1, .max = JSON_INT_MAX},
    {.name = "items", .kind = SPEC_LINES, .min = 1, .max = DATAPLATFORM_LINES_MAX,
     .qty_max = DATAPLATFORM_QUANTITY_MAX, .price_max = DATAPLATFORM_PRICE_MAX},
    {.name = "totalAmount", .kind = SPEC_INT, .min = 0, .max = JSON_INT_MAX},
    {.name = "discountAmount", .kind = SPEC_INT, .min = 0, .max = JSON_INT_MAX},
    {.name = "finalAmount", .kind = SPEC_INT, .min = 0, .max = JSON_INT_MAX},
    {.name = "paidAt", .kind = SPEC_TIME, .min = INT64_MIN, .max = INT64_MAX},
};
static const spec_route record_spec = {"POST /orders (data-platform)", record_fields, 8,
                                       amounts_rule};

static const spec_field faults_fields[] = {
    {.name = "failRate", .kind = SPEC_RATE_OPT},
    {.name = "delayMs", .kind = SPEC_INT_OPT, .min = 0, .max = DATAPLATFORM_DELAY_MAX_MS},
};
static const spec_route faults_spec = {"PUT /faults", faults_fields, 2, NULL};

/* As check_items. */
static bool check_items(const cJSON *items, json_err *err)
{
    int i = 0;
    const cJSON *line;
    cJSON_ArrayForEach(line, items)
    {
        char what[48];
        int64_t v;
        if (!cJSON_IsObject(line)) {
            snprintf(err->msg, sizeof err->msg, "items[%d]: must be an object", i);
            return false;
        }
        snprintf(what, sizeof what, "items[%d].itemId", i);
        if (!json_item_int(cJSON_GetObjectItemCaseSensitive(line, "itemId"), what, 1, JSON_INT_MAX,
                           &v, err))
            return false;
        snprintf(what, sizeof what, "items[%d].quantity", i);
        if (!json_item_int(cJSON_GetObjectItemCaseSensitive(line, "quantity"), what, 1,
                           DATAPLATFORM_QUANTITY_MAX, &v, err))
            return false;
        snprintf(what, sizeof what, "items[%d].unitPrice", i);
        if (!json_item_int(cJSON_GetObjectItemCaseSensitive(line, "unitPrice"), what, 0,
                           DATAPLATFORM_PRICE_MAX, &v, err))
            return false;
        i++;
    }
    return true;
}

/* As parse_record. */
static bool validate_record(const cJSON *body, json_err *err)
{
    const cJSON *items = NULL;
    const char *paid_at = NULL;
    int64_t order_id, payment_id, user_id, total, discount, final_amount, paid;
    if (!json_get_int(body, "orderId", 1, JSON_INT_MAX, &order_id, err) ||
        !json_get_int(body, "paymentId", 1, JSON_INT_MAX, &payment_id, err) ||
        !json_get_int(body, "userId", 1, JSON_INT_MAX, &user_id, err) ||
        !json_get_array(body, "items", 1, DATAPLATFORM_LINES_MAX, &items, err) ||
        !check_items(items, err) ||
        !json_get_int(body, "totalAmount", 0, JSON_INT_MAX, &total, err) ||
        !json_get_int(body, "discountAmount", 0, JSON_INT_MAX, &discount, err) ||
        !json_get_int(body, "finalAmount", 0, JSON_INT_MAX, &final_amount, err) ||
        !json_get_string(body, "paidAt", 1, 64, &paid_at, err))
        return false;
    if (!time_parse_rfc3339(paid_at, &paid)) {
        snprintf(err->msg, sizeof err->msg, "paidAt: must be an RFC 3339 time");
        return false;
    }
    if (!dataplatform_amounts_consistent(total, discount, final_amount)) {
        snprintf(err->msg, sizeof err->msg,
                 "finalAmount: must be totalAmount - discountAmount (discount <= total)");
        return false;
    }
    /* GET /orders/{id} renders paidAt with time_format_rfc3339 into a
     * TIME_RFC3339_LEN buffer (services/data-platform/routes.c). */
    char buf[TIME_RFC3339_LEN + 16];
    int64_t back = 0;
    memset(buf, 'X', sizeof buf);
    time_format_rfc3339(paid, buf);
    bool renders = memchr(buf, 0, TIME_RFC3339_LEN) != NULL && strlen(buf) == 20 &&
                   time_parse_rfc3339(buf, &back) && back == paid;
    fuzz_known("rfc3339-format-range", renders,
               "data-platform accepts paidAt \"%s\" (epoch %lld), which renders as \"%.21s\"",
               paid_at, (long long)paid, buf);
    return true;
}

/* As get_rate_opt + json_get_int_opt in handle_faults. */
static bool validate_faults(const cJSON *body, json_err *err)
{
    int64_t delay_ms = 0;
    bool has_delay = false;
    const cJSON *v = cJSON_GetObjectItemCaseSensitive(body, "failRate");
    if (v != NULL && !cJSON_IsNull(v) &&
        (!cJSON_IsNumber(v) || !dataplatform_rate_valid(v->valuedouble))) {
        snprintf(err->msg, sizeof err->msg, "failRate: must be a number in 0.0..1.0");
        return false;
    }
    return json_get_int_opt(body, "delayMs", 0, DATAPLATFORM_DELAY_MAX_MS, &delay_ms, &has_delay,
                            err);
}

static const body_route routes[] = {
    {&record_spec, validate_record},
    {&faults_spec, validate_faults},
};

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    fuzz_bodies(routes, sizeof routes / sizeof routes[0], data, size);
    return 0;
}
