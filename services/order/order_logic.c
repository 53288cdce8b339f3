/* The order service's pure rules: statuses and transitions, line validation,
 * amounts, reading a reservation's prices and rendering the Order JSON. */
#include "order_logic.h"

#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
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

/* ---- the saga log ------------------------------------------------------- */

void order_steps_init(order_steps *log, const char *request_id, const char *prefix)
{
    log->request_id = request_id;
    log->prefix = prefix;
    log->n = 0;
}

void order_step_set(order_step *st, int64_t at_us, const char *prefix, const char *name,
                    const char *peer, int http_status, const char *error, int64_t duration_ms,
                    const char *request_id, bool compensation)
{
    memset(st, 0, sizeof *st);
    st->at_us = at_us;
    snprintf(st->step, sizeof st->step, "%s%s", prefix != NULL ? prefix : "", name);
    snprintf(st->peer, sizeof st->peer, "%s", peer != NULL ? peer : "");
    st->http_status = http_status;
    snprintf(st->error, sizeof st->error, "%s", error != NULL ? error : "");
    st->duration_ms = duration_ms > 0 ? duration_ms : 0;
    snprintf(st->request_id, sizeof st->request_id, "%s", request_id != NULL ? request_id : "");
    st->compensation = compensation;
}

order_step *order_steps_next(order_steps *log)
{
    if (log->n >= ORDER_STEPS_MAX)
        return NULL;
    return &log->items[log->n++];
}

void order_step_format_at(int64_t at_us, char *out)
{
    char whole[TIME_RFC3339_LEN];
    if (at_us < 0)
        at_us = 0;
    time_format_rfc3339(at_us / 1000000, whole);
    snprintf(out, ORDER_STEP_AT_LEN, "%.19s.%06dZ", whole, (int)(at_us % 1000000));
}

/* Adds name: the string s, or null when s is empty. */
static bool add_str_or_null(cJSON *obj, const char *name, const char *s)
{
    return (s[0] != '\0' ? cJSON_AddStringToObject(obj, name, s)
                         : cJSON_AddNullToObject(obj, name)) != NULL;
}

cJSON *order_step_render(const order_step *st, const char *service)
{
    char at[ORDER_STEP_AT_LEN];
    cJSON *obj = cJSON_CreateObject();
    order_step_format_at(st->at_us, at);
    if (obj == NULL || cJSON_AddStringToObject(obj, "at", at) == NULL ||
        cJSON_AddStringToObject(obj, "service", service) == NULL ||
        cJSON_AddStringToObject(obj, "step", st->step) == NULL ||
        !add_str_or_null(obj, "peer", st->peer) ||
        !json_add_id_or_null(obj, "httpStatus", st->http_status) ||
        !add_str_or_null(obj, "error", st->error) ||
        !json_add_int(obj, "durationMs", st->duration_ms) ||
        !add_str_or_null(obj, "requestId", st->request_id) ||
        cJSON_AddBoolToObject(obj, "compensation", st->compensation) == NULL ||
        !json_add_id_or_null(obj, "paymentId", st->payment_id)) {
        cJSON_Delete(obj);
        return NULL;
    }
    return obj;
}

/* True when at is exactly what order_step_format_at writes. */
static bool at_valid(const char *at)
{
    static const char shape[] = "dddd-dd-ddTdd:dd:dd.ddddddZ";
    int64_t s;
    if (strlen(at) != sizeof shape - 1)
        return false;
    for (size_t i = 0; shape[i] != '\0'; i++) {
        if (shape[i] == 'd' ? (at[i] < '0' || at[i] > '9') : at[i] != shape[i])
            return false;
    }
    return time_parse_rfc3339(at, &s);
}

/* The string member name of obj when it is one of 1..max bytes, else NULL. */
static const char *peek_str(const cJSON *obj, const char *name, size_t max)
{
    const char *s = json_peek_string(obj, name);
    return s != NULL && s[0] != '\0' && strlen(s) <= max ? s : NULL;
}

/* A copy of payment-service's step p with only the members of a step, each
 * of its type (else null); NULL when p is not a step or out of memory. */
static cJSON *copy_payment_step(const cJSON *p)
{
    const char *at = json_peek_string(p, "at");
    const char *step = peek_str(p, "step", ORDER_STEP_NAME_LEN - 1);
    const char *service = peek_str(p, "service", 32);
    const char *peer = peek_str(p, "peer", ORDER_STEP_PEER_LEN - 1);
    const char *error = peek_str(p, "error", ORDER_STEP_ERROR_LEN - 1);
    const char *rid = peek_str(p, "requestId", ORDER_STEP_RID_LEN);
    int64_t status = 0, duration = 0, payment_id = 0;
    if (!cJSON_IsObject(p) || at == NULL || !at_valid(at) || step == NULL)
        return NULL;
    if (!json_peek_int(p, "httpStatus", &status) || status < 100 || status > 599)
        status = 0;
    if (!json_peek_int(p, "durationMs", &duration))
        duration = 0;
    if (!json_peek_int(p, "paymentId", &payment_id))
        payment_id = 0;
    cJSON *obj = cJSON_CreateObject();
    if (obj == NULL || cJSON_AddStringToObject(obj, "at", at) == NULL ||
        cJSON_AddStringToObject(obj, "service", service != NULL ? service : "payment") == NULL ||
        cJSON_AddStringToObject(obj, "step", step) == NULL ||
        !add_str_or_null(obj, "peer", peer != NULL ? peer : "") ||
        !json_add_id_or_null(obj, "httpStatus", status) ||
        !add_str_or_null(obj, "error", error != NULL ? error : "") ||
        !json_add_int(obj, "durationMs", duration) ||
        !add_str_or_null(obj, "requestId", rid != NULL ? rid : "") ||
        cJSON_AddBoolToObject(obj, "compensation",
                              cJSON_IsTrue(cJSON_GetObjectItemCaseSensitive(p, "compensation"))) ==
            NULL ||
        !json_add_id_or_null(obj, "paymentId", payment_id)) {
        cJSON_Delete(obj);
        return NULL;
    }
    return obj;
}

/* A step of the view while it is sorted: by time, then order's before
 * payment's, then as each service listed them. */
typedef struct view_entry {
    const char *at;
    int source; /* 0: order, 1: payment */
    size_t index;
    cJSON *step;
} view_entry;

static int view_entry_cmp(const void *a, const void *b)
{
    const view_entry *x = a, *y = b;
    int c = strcmp(x->at, y->at);
    if (c != 0)
        return c;
    if (x->source != y->source)
        return x->source - y->source;
    return x->index < y->index ? -1 : x->index > y->index;
}

/* Collects the steps into entries (cap of them). OUT: *n. Returns false
 * when out of memory (the entries made so far are in entries[0..*n)). */
static bool view_collect(const order_step *steps, size_t n_steps, const cJSON *payment_steps,
                         view_entry *entries, size_t *n)
{
    *n = 0;
    for (size_t i = 0; i < n_steps; i++) {
        cJSON *s = order_step_render(&steps[i], "order");
        if (s == NULL)
            return false;
        entries[*n] = (view_entry){json_peek_string(s, "at"), 0, i, s};
        (*n)++;
    }
    size_t i = 0;
    const cJSON *p;
    cJSON_ArrayForEach(p, payment_steps)
    {
        cJSON *s = copy_payment_step(p);
        if (s != NULL) {
            entries[*n] = (view_entry){json_peek_string(s, "at"), 1, i, s};
            (*n)++;
        }
        i++;
    }
    return true;
}

cJSON *order_render_saga(const order_rec *o, const order_step *steps, size_t n,
                         const cJSON *payment_steps, bool partial)
{
    size_t cap = n + (size_t)(cJSON_IsArray(payment_steps) ? cJSON_GetArraySize(payment_steps) : 0);
    size_t used = 0;
    view_entry *entries = calloc(cap > 0 ? cap : 1, sizeof *entries);
    cJSON *view = cJSON_CreateObject();
    cJSON *list = NULL;
    bool ok =
        entries != NULL && view != NULL &&
        view_collect(steps, n, cJSON_IsArray(payment_steps) ? payment_steps : NULL, entries, &used);
    if (ok) {
        qsort(entries, used, sizeof *entries, view_entry_cmp);
        ok = json_add_int(view, "orderId", o->id) &&
             cJSON_AddStringToObject(view, "status", order_status_name(o->status)) != NULL &&
             (list = cJSON_AddArrayToObject(view, "steps")) != NULL;
    }
    for (size_t i = 0; i < used; i++) {
        if (ok && cJSON_AddItemToArray(list, entries[i].step))
            entries[i].step = NULL;
        cJSON_Delete(entries[i].step);
    }
    ok = ok && cJSON_AddBoolToObject(view, "partial", partial) != NULL;
    free(entries);
    if (!ok) {
        cJSON_Delete(view);
        return NULL;
    }
    return view;
}
