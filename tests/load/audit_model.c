/* shop-audit's view of the services: containers, an id index, and parsers
 * of the admin list item shapes. */
#include "audit_model.h"

#include <stdarg.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "load_http.h"

void *audit_vec_push(void **v, size_t *n, size_t *cap, size_t elem)
{
    if (*n == *cap) {
        size_t grown_cap = *cap ? *cap * 2 : 64;
        void *grown = realloc(*v, grown_cap * elem);
        if (grown == NULL)
            return NULL;
        *v = grown;
        *cap = grown_cap;
    }
    char *slot = (char *)*v + *n * elem;
    memset(slot, 0, elem);
    (*n)++;
    return slot;
}

#define VEC_FREE(vec)           \
    do {                        \
        free((vec).v);          \
        (vec).v = NULL;         \
        (vec).n = (vec).cap = 0; \
    } while (0)

void audit_state_clear_services(audit_state *s)
{
    for (size_t i = 0; i < s->orders.n; i++)
        free(s->orders.v[i].lines);
    VEC_FREE(s->items);
    VEC_FREE(s->users);
    VEC_FREE(s->coupons);
    VEC_FREE(s->user_coupons);
    VEC_FREE(s->orders);
    VEC_FREE(s->payments);
    VEC_FREE(s->ledger);
    VEC_FREE(s->dp_orders);
}

void audit_state_release(audit_state *s)
{
    audit_state_clear_services(s);
    VEC_FREE(s->record);
}

/* --- enums ---------------------------------------------------------------- */

static const char *const order_names[] = {"PENDING",   "CREATED",   "PAID", "CANCELLING",
                                          "CANCELLED", "FAILED",    "?"};
static const char *const pay_names[] = {"PENDING", "COMPLETED", "FAILED", "REFUNDED", "?"};
static const char *const ledger_names[] = {"CHARGE", "DEBIT", "CREDIT", "VOID", "?"};

static int name_index(const char *const *names, int n_known, const char *s)
{
    for (int i = 0; s != NULL && i < n_known; i++)
        if (strcmp(names[i], s) == 0)
            return i;
    return n_known;
}

audit_order_status audit_order_status_from(const char *s)
{
    return (audit_order_status)name_index(order_names, AUDIT_O_OTHER, s);
}

audit_pay_status audit_pay_status_from(const char *s)
{
    return (audit_pay_status)name_index(pay_names, AUDIT_P_OTHER, s);
}

audit_ledger_kind audit_ledger_kind_from(const char *s)
{
    return (audit_ledger_kind)name_index(ledger_names, AUDIT_L_OTHER, s);
}

const char *audit_order_status_name(audit_order_status s)
{
    return order_names[s <= AUDIT_O_OTHER ? s : AUDIT_O_OTHER];
}

const char *audit_pay_status_name(audit_pay_status s)
{
    return pay_names[s <= AUDIT_P_OTHER ? s : AUDIT_P_OTHER];
}

/* --- parsers --------------------------------------------------------------- */

/* Reads the named integers (NULL-ended name/pointer pairs); a name that
 * starts with '?' may be null (then 0). */
static bool read_ints(const cJSON *o, char *err, size_t errlen, ...)
    __attribute__((sentinel));

static bool read_ints(const cJSON *o, char *err, size_t errlen, ...)
{
    bool ok = true;
    va_list ap;
    va_start(ap, errlen);
    for (const char *name = va_arg(ap, const char *); name != NULL;
         name = va_arg(ap, const char *)) {
        int64_t *out = va_arg(ap, int64_t *);
        bool nullable = name[0] == '?';
        const char *member = nullable ? name + 1 : name;
        bool got = nullable ? load_json_id_or_null(o, member, out) : load_json_int(o, member, out);
        if (!got) {
            snprintf(err, errlen, "%s: missing or not an integer", member);
            ok = false;
            break;
        }
    }
    va_end(ap);
    return ok;
}

static bool need_object(const cJSON *o, char *err, size_t errlen)
{
    if (cJSON_IsObject(o))
        return true;
    snprintf(err, errlen, "not a JSON object");
    return false;
}

static bool parse_lines(const cJSON *o, audit_order *out, char *err, size_t errlen)
{
    const cJSON *lines = cJSON_GetObjectItemCaseSensitive(o, "items");
    if (!cJSON_IsArray(lines)) {
        snprintf(err, errlen, "items: missing or not an array");
        return false;
    }
    int n = cJSON_GetArraySize(lines);
    out->lines = n > 0 ? calloc((size_t)n, sizeof *out->lines) : NULL;
    if (n > 0 && out->lines == NULL) {
        snprintf(err, errlen, "out of memory");
        return false;
    }
    const cJSON *line;
    cJSON_ArrayForEach(line, lines)
    {
        audit_line *l = &out->lines[out->n_lines];
        if (!need_object(line, err, errlen) ||
            !read_ints(line, err, errlen, "itemId", &l->item_id, "quantity", &l->quantity,
                       "unitPrice", &l->unit_price, (char *)NULL))
            return false;
        out->n_lines++;
    }
    return true;
}

bool audit_parse_order(const cJSON *o, audit_order *out, char *err, size_t errlen)
{
    memset(out, 0, sizeof *out);
    if (!need_object(o, err, errlen) ||
        !read_ints(o, err, errlen, "id", &out->id, "userId", &out->user_id, "?userCouponId",
                   &out->user_coupon_id, "?paymentId", &out->payment_id, "totalAmount",
                   &out->total, "discountAmount", &out->discount, "finalAmount",
                   &out->final_amount, (char *)NULL))
        return false;
    out->status = audit_order_status_from(load_json_str(o, "status"));
    if (!parse_lines(o, out, err, errlen)) {
        free(out->lines);
        out->lines = NULL;
        out->n_lines = 0;
        return false;
    }
    return true;
}

bool audit_parse_payment(const cJSON *o, audit_payment *out, char *err, size_t errlen)
{
    memset(out, 0, sizeof *out);
    if (!need_object(o, err, errlen) ||
        !read_ints(o, err, errlen, "id", &out->id, "orderId", &out->order_id, "userId",
                   &out->user_id, "amount", &out->amount, (char *)NULL))
        return false;
    out->status = audit_pay_status_from(load_json_str(o, "status"));
    const cJSON *d = cJSON_GetObjectItemCaseSensitive(o, "delivery");
    const char *ds = cJSON_IsObject(d) ? load_json_str(d, "status") : NULL;
    out->delivered = ds != NULL && strcmp(ds, "DELIVERED") == 0;
    return true;
}

bool audit_parse_item(const cJSON *o, audit_item *out, char *err, size_t errlen)
{
    memset(out, 0, sizeof *out);
    return need_object(o, err, errlen) &&
           read_ints(o, err, errlen, "id", &out->id, "price", &out->price, "stock", &out->stock,
                     (char *)NULL);
}

bool audit_parse_user(const cJSON *o, audit_user *out, char *err, size_t errlen)
{
    memset(out, 0, sizeof *out);
    return need_object(o, err, errlen) &&
           read_ints(o, err, errlen, "id", &out->id, "balance", &out->balance, "initialBalance",
                     &out->initial_balance, (char *)NULL);
}

static bool parse_discount(const cJSON *o, load_discount *out, char *err, size_t errlen)
{
    *out = load_discount_from(load_json_str(o, "discountType"));
    if (*out != LOAD_DISCOUNT_NONE)
        return true;
    snprintf(err, errlen, "discountType: not FIXED or PERCENT");
    return false;
}

bool audit_parse_coupon(const cJSON *o, audit_coupon *out, char *err, size_t errlen)
{
    memset(out, 0, sizeof *out);
    return need_object(o, err, errlen) &&
           read_ints(o, err, errlen, "id", &out->id, "discountValue", &out->discount_value,
                     "totalQuantity", &out->total_quantity, "issuedQuantity",
                     &out->issued_quantity, (char *)NULL) &&
           parse_discount(o, &out->discount_type, err, errlen);
}

bool audit_parse_user_coupon(const cJSON *o, audit_user_coupon *out, char *err, size_t errlen)
{
    memset(out, 0, sizeof *out);
    if (!need_object(o, err, errlen) ||
        !read_ints(o, err, errlen, "id", &out->id, "couponId", &out->coupon_id, "userId",
                   &out->user_id, "?usedOrderId", &out->used_order_id, "discountValue",
                   &out->discount_value, (char *)NULL) ||
        !parse_discount(o, &out->discount_type, err, errlen))
        return false;
    const cJSON *used = cJSON_GetObjectItemCaseSensitive(o, "isUsed");
    if (!cJSON_IsBool(used)) {
        snprintf(err, errlen, "isUsed: missing or not a boolean");
        return false;
    }
    out->is_used = cJSON_IsTrue(used);
    return true;
}

bool audit_parse_ledger(const cJSON *o, audit_ledger *out, char *err, size_t errlen)
{
    memset(out, 0, sizeof *out);
    if (!need_object(o, err, errlen) ||
        !read_ints(o, err, errlen, "id", &out->id, "userId", &out->user_id, "amount",
                   &out->amount, "balanceAfter", &out->balance_after, (char *)NULL))
        return false;
    out->kind = audit_ledger_kind_from(load_json_str(o, "kind"));
    const char *ref = load_json_str(o, "ref");
    snprintf(out->ref, sizeof out->ref, "%s", ref != NULL ? ref : "");
    return true;
}

bool audit_parse_dp_order(const cJSON *o, audit_dp_order *out, char *err, size_t errlen)
{
    memset(out, 0, sizeof *out);
    return need_object(o, err, errlen) &&
           read_ints(o, err, errlen, "orderId", &out->order_id, "paymentId", &out->payment_id,
                     "userId", &out->user_id, "finalAmount", &out->final_amount, (char *)NULL);
}

/* --- index ----------------------------------------------------------------- */

bool audit_index_init(audit_index *ix, size_t n)
{
    size_t cap = 16;
    while (cap < n * 2 + 1)
        cap *= 2;
    ix->keys = calloc(cap, sizeof *ix->keys);
    ix->vals = calloc(cap, sizeof *ix->vals);
    ix->cap = cap;
    if (ix->keys == NULL || ix->vals == NULL) {
        audit_index_release(ix);
        return false;
    }
    return true;
}

static size_t slot_of(const audit_index *ix, int64_t key)
{
    uint64_t h = (uint64_t)key * 0x9E3779B97F4A7C15ULL;
    size_t i = (size_t)(h >> 17) & (ix->cap - 1);
    while (ix->keys[i] != 0 && ix->keys[i] != key)
        i = (i + 1) & (ix->cap - 1);
    return i;
}

bool audit_index_put(audit_index *ix, int64_t key, size_t val)
{
    if (key <= 0 || ix->cap == 0 || (ix->n + 1) * 2 > ix->cap)
        return false;
    size_t i = slot_of(ix, key);
    if (ix->keys[i] == key)
        return false;
    ix->n++;
    ix->keys[i] = key;
    ix->vals[i] = val;
    return true;
}

size_t audit_index_get(const audit_index *ix, int64_t key)
{
    if (key <= 0 || ix->cap == 0)
        return SIZE_MAX;
    size_t i = slot_of(ix, key);
    return ix->keys[i] == key ? ix->vals[i] : SIZE_MAX;
}

void audit_index_release(audit_index *ix)
{
    free(ix->keys);
    free(ix->vals);
    memset(ix, 0, sizeof *ix);
}
