/* The order service's pure rules: statuses and transitions, line validation,
 * amounts, reading a reservation's prices and rendering the Order JSON. */
#include "order_logic.h"

#include <stdarg.h>
#include <stdio.h>
#include <string.h>

#include "timeutil.h"

static const char *const status_names[ORDER_N_STATUS] = {
    [ORDER_PENDING] = "PENDING",       [ORDER_CREATED] = "CREATED",     [ORDER_PAID] = "PAID",
    [ORDER_CANCELLING] = "CANCELLING", [ORDER_CANCELLED] = "CANCELLED", [ORDER_FAILED] = "FAILED",
};

const char *order_status_name(order_status s)
{
    if ((int)s < 0 || (int)s >= ORDER_N_STATUS)
        return "?";
    return status_names[s];
}

bool order_status_parse(const char *name, order_status *out)
{
    for (int i = 0; i < ORDER_N_STATUS; i++) {
        if (strcmp(status_names[i], name) == 0) {
            *out = (order_status)i;
            return true;
        }
    }
    return false;
}

bool order_transition_allowed(order_status from, order_status to)
{
    switch (from) {
    case ORDER_PENDING:
        return to == ORDER_CREATED || to == ORDER_FAILED;
    case ORDER_CREATED:
        return to == ORDER_PAID || to == ORDER_CANCELLING;
    case ORDER_CANCELLING:
        return to == ORDER_CANCELLED;
    default:
        return false;
    }
}

bool order_status_final(order_status s)
{
    return s == ORDER_PAID || s == ORDER_CANCELLED || s == ORDER_FAILED;
}

static bool fail(json_err *err, const char *fmt, ...) __attribute__((format(printf, 2, 3)));

static bool fail(json_err *err, const char *fmt, ...)
{
    if (err != NULL) {
        va_list ap;
        va_start(ap, fmt);
        vsnprintf(err->msg, sizeof err->msg, fmt, ap);
        va_end(ap);
    }
    return false;
}

bool order_validate_lines(const order_line *lines, size_t n, json_err *err)
{
    if (n < 1 || n > ORDER_MAX_LINES)
        return fail(err, "items: must have 1..%d elements", ORDER_MAX_LINES);
    for (size_t i = 0; i < n; i++) {
        if (lines[i].item_id < 1 || lines[i].item_id > ORDER_ID_MAX)
            return fail(err, "items[%zu].itemId: must be an integer in 1..%lld", i, ORDER_ID_MAX);
        if (lines[i].quantity < 1 || lines[i].quantity > ORDER_MAX_QUANTITY)
            return fail(err, "items[%zu].quantity: must be an integer in 1..%d", i,
                        ORDER_MAX_QUANTITY);
        for (size_t j = 0; j < i; j++)
            if (lines[j].item_id == lines[i].item_id)
                return fail(err, "items[%zu].itemId: item %lld appears twice", i,
                            (long long)lines[i].item_id);
    }
    return true;
}

/* Reads items[i] into line. */
static bool parse_line(const cJSON *el, size_t i, order_line *line, json_err *err)
{
    char what[48];
    if (!cJSON_IsObject(el))
        return fail(err, "items[%zu]: must be an object", i);
    snprintf(what, sizeof what, "items[%zu].itemId", i);
    if (!json_item_int(cJSON_GetObjectItemCaseSensitive(el, "itemId"), what, 1, ORDER_ID_MAX,
                       &line->item_id, err))
        return false;
    snprintf(what, sizeof what, "items[%zu].quantity", i);
    if (!json_item_int(cJSON_GetObjectItemCaseSensitive(el, "quantity"), what, 1,
                       ORDER_MAX_QUANTITY, &line->quantity, err))
        return false;
    line->unit_price = 0;
    return true;
}

bool order_parse_create(const cJSON *body, order_create_req *out, json_err *err)
{
    const cJSON *items = NULL;
    bool has_coupon = false;
    memset(out, 0, sizeof *out);
    if (!cJSON_IsObject(body))
        return fail(err, "body: must be a JSON object");
    if (!json_get_int(body, "userId", 1, ORDER_ID_MAX, &out->user_id, err))
        return false;
    if (!json_get_array(body, "items", 1, ORDER_MAX_LINES, &items, err))
        return false;
    if (!json_get_int_opt(body, "userCouponId", 1, ORDER_ID_MAX, &out->user_coupon_id, &has_coupon,
                          err))
        return false;
    if (!has_coupon)
        out->user_coupon_id = 0;
    const cJSON *el = NULL;
    cJSON_ArrayForEach(el, items)
    {
        if (!parse_line(el, out->n_lines, &out->lines[out->n_lines], err))
            return false;
        out->n_lines++;
    }
    return order_validate_lines(out->lines, out->n_lines, err);
}

bool order_discount(const char *type, int64_t value, int64_t total, int64_t *discount)
{
    if (type == NULL || total < 0)
        return false;
    if (strcmp(type, "FIXED") == 0) {
        if (value < 1 || value > ORDER_PRICE_MAX)
            return false;
        *discount = value < total ? value : total;
        return true;
    }
    if (strcmp(type, "PERCENT") == 0) {
        if (value < 1 || value > ORDER_PERCENT_MAX)
            return false;
        *discount = total * value / 100; /* total < 2^53 / 100: no overflow */
        return true;
    }
    return false;
}

bool order_compute_amounts(const order_line *lines, size_t n, int64_t discount, order_amounts *out)
{
    int64_t total = 0;
    if (n > ORDER_MAX_LINES)
        return false;
    for (size_t i = 0; i < n; i++) {
        if (lines[i].unit_price < 0 || lines[i].unit_price > ORDER_PRICE_MAX ||
            lines[i].quantity < 1 || lines[i].quantity > ORDER_MAX_QUANTITY)
            return false;
        total += lines[i].quantity * lines[i].unit_price; /* <= 5 * 10^13 */
    }
    if (discount < 0 || discount > total)
        return false;
    out->total = total;
    out->discount = discount;
    out->final_amount = total - discount;
    return true;
}

bool order_take_prices(order_line *lines, size_t n, const cJSON *reply, char *why, size_t why_len)
{
    const cJSON *items = cJSON_GetObjectItemCaseSensitive(reply, "items");
    bool seen[ORDER_MAX_LINES] = {false};
    const cJSON *el = NULL;
    if (n > ORDER_MAX_LINES || !cJSON_IsArray(items) || (size_t)cJSON_GetArraySize(items) != n) {
        snprintf(why, why_len, "reservation lists %d lines, order has %zu",
                 cJSON_IsArray(items) ? cJSON_GetArraySize(items) : -1, n);
        return false;
    }
    cJSON_ArrayForEach(el, items)
    {
        int64_t item_id, quantity, price;
        if (!json_peek_int(el, "itemId", &item_id) || !json_peek_int(el, "quantity", &quantity) ||
            !json_peek_int(el, "unitPrice", &price) || price < 0 || price > ORDER_PRICE_MAX) {
            snprintf(why, why_len, "reservation line without itemId, quantity or unitPrice");
            return false;
        }
        size_t i = 0;
        while (i < n && lines[i].item_id != item_id)
            i++;
        if (i == n || seen[i] || lines[i].quantity != quantity) {
            snprintf(why, why_len, "reservation line for item %lld does not match the order",
                     (long long)item_id);
            return false;
        }
        seen[i] = true;
        lines[i].unit_price = price;
    }
    return true;
}

int64_t order_stale_cutoff(int64_t now_s, int64_t age_ms)
{
    /* A row stamped s was written in [s, s+1); now is in [now_s, now_s+1).
     * Its true age exceeds now_s - s - 1, so s <= now_s - ceil(age) - 1. */
    int64_t age_s = (age_ms + 999) / 1000;
    return now_s - age_s - 1;
}

/* Adds the RFC 3339 time epoch_s as member name. */
static bool add_time(cJSON *obj, const char *name, int64_t epoch_s)
{
    char buf[TIME_RFC3339_LEN];
    time_format_rfc3339(epoch_s, buf);
    return cJSON_AddStringToObject(obj, name, buf) != NULL;
}

static cJSON *render_lines(const order_rec *o)
{
    cJSON *items = cJSON_CreateArray();
    for (size_t i = 0; items != NULL && i < o->n_lines; i++) {
        cJSON *line = cJSON_CreateObject();
        if (line == NULL || !cJSON_AddItemToArray(items, line) ||
            !json_add_int(line, "itemId", o->lines[i].item_id) ||
            !json_add_int(line, "quantity", o->lines[i].quantity) ||
            !json_add_int(line, "unitPrice", o->lines[i].unit_price)) {
            cJSON_Delete(items);
            items = NULL;
        }
    }
    return items;
}

cJSON *order_render(const order_rec *o)
{
    cJSON *obj = cJSON_CreateObject();
    if (obj == NULL)
        return NULL;
    cJSON *items = NULL;
    if (!json_add_int(obj, "id", o->id) || !json_add_int(obj, "userId", o->user_id) ||
        !cJSON_AddStringToObject(obj, "status", order_status_name(o->status)) ||
        (items = render_lines(o)) == NULL || !cJSON_AddItemToObject(obj, "items", items) ||
        !json_add_id_or_null(obj, "userCouponId", o->user_coupon_id) ||
        !json_add_int(obj, "totalAmount", o->total_amount) ||
        !json_add_int(obj, "discountAmount", o->discount_amount) ||
        !json_add_int(obj, "finalAmount", o->final_amount) ||
        !json_add_id_or_null(obj, "paymentId", o->payment_id) ||
        !add_time(obj, "createdAt", o->created_at) || !add_time(obj, "updatedAt", o->updated_at)) {
        cJSON_Delete(obj);
        return NULL;
    }
    return obj;
}
