/* The record file of shop-load: rendering and parsing of its lines. */
#include "load_record.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cjson/cJSON.h>

#include "load_http.h"

static const char *const kind_names[] = {
    [LOAD_REC_META] = "meta",       [LOAD_REC_ITEM] = "item",
    [LOAD_REC_USER] = "user",       [LOAD_REC_COUPON] = "coupon",
    [LOAD_REC_ORDER] = "order",     [LOAD_REC_PAYMENT] = "payment",
    [LOAD_REC_CHARGE] = "charge",   [LOAD_REC_ISSUE] = "issue",
    [LOAD_REC_CANCEL] = "cancel",   [LOAD_REC_DECLINED] = "declined",
};
#define N_KINDS (sizeof kind_names / sizeof kind_names[0])

const char *load_discount_name(load_discount d)
{
    return d == LOAD_DISCOUNT_FIXED ? "FIXED" : d == LOAD_DISCOUNT_PERCENT ? "PERCENT" : "NONE";
}

load_discount load_discount_from(const char *s)
{
    if (s != NULL && strcmp(s, "FIXED") == 0)
        return LOAD_DISCOUNT_FIXED;
    if (s != NULL && strcmp(s, "PERCENT") == 0)
        return LOAD_DISCOUNT_PERCENT;
    return LOAD_DISCOUNT_NONE;
}

int64_t load_discount_amount(load_discount d, int64_t value, int64_t total)
{
    if (d == LOAD_DISCOUNT_FIXED)
        return value < total ? value : total;
    if (d == LOAD_DISCOUNT_PERCENT)
        return total * value / 100; /* both non-negative: floor */
    return 0;
}

/* Field lists per kind: the integer members, in rendering order. */
typedef struct field {
    const char *name;
    size_t offset;
} field;

#define F(name, member) {name, offsetof(load_rec, member)}
static const field item_fields[] = {F("id", id), F("price", price), F("stock", stock)};
static const field user_fields[] = {F("id", id), F("balance", balance)};
static const field coupon_fields[] = {F("id", id), F("discountValue", discount_value),
                                      F("totalQuantity", total_quantity)};
static const field order_fields[] = {F("id", id), F("userId", user_id),
                                     F("finalAmount", amount)};
static const field payment_fields[] = {F("id", id), F("orderId", order_id),
                                       F("userId", user_id), F("amount", amount)};
static const field charge_fields[] = {F("userId", user_id), F("amount", amount)};
static const field issue_fields[] = {F("id", id), F("couponId", coupon_id),
                                     F("userId", user_id)};
static const field cancel_fields[] = {F("orderId", order_id), F("userId", user_id)};
static const field meta_fields[] = {F("clients", clients)};
#undef F

typedef struct kind_spec {
    const field *fields;
    size_t n;
    bool keyed;
} kind_spec;

#define SPEC(a, k) {a, sizeof a / sizeof a[0], k}
static const kind_spec specs[] = {
    [LOAD_REC_META] = SPEC(meta_fields, false),
    [LOAD_REC_ITEM] = SPEC(item_fields, false),
    [LOAD_REC_USER] = SPEC(user_fields, false),
    [LOAD_REC_COUPON] = SPEC(coupon_fields, false),
    [LOAD_REC_ORDER] = SPEC(order_fields, true),
    [LOAD_REC_PAYMENT] = SPEC(payment_fields, true),
    [LOAD_REC_CHARGE] = SPEC(charge_fields, true),
    [LOAD_REC_ISSUE] = SPEC(issue_fields, true),
    [LOAD_REC_CANCEL] = SPEC(cancel_fields, false),
    [LOAD_REC_DECLINED] = SPEC(cancel_fields, true),
};
#undef SPEC

static int64_t *field_ptr(load_rec *r, const field *f)
{
    return (int64_t *)(void *)((char *)r + f->offset);
}

static int64_t field_get(const load_rec *r, const field *f)
{
    return *(const int64_t *)(const void *)((const char *)r + f->offset);
}

char *load_record_render(const load_rec *r)
{
    char *line = NULL;
    if ((size_t)r->kind >= N_KINDS)
        return NULL;
    const kind_spec *s = &specs[r->kind];
    cJSON *o = cJSON_CreateObject();
    if (o == NULL || cJSON_AddStringToObject(o, "t", kind_names[r->kind]) == NULL)
        goto out;
    for (size_t i = 0; i < s->n; i++)
        if (cJSON_AddNumberToObject(o, s->fields[i].name, (double)field_get(r, &s->fields[i])) == NULL)
            goto out;
    if (r->kind == LOAD_REC_META &&
        (cJSON_AddStringToObject(o, "run", r->text) == NULL ||
         cJSON_AddStringToObject(o, "url", r->url) == NULL))
        goto out;
    if (r->kind == LOAD_REC_COUPON &&
        cJSON_AddStringToObject(o, "discountType", load_discount_name(r->discount_type)) == NULL)
        goto out;
    if (r->kind == LOAD_REC_ORDER) {
        cJSON *uc = r->user_coupon_id > 0 ? cJSON_CreateNumber((double)r->user_coupon_id)
                                          : cJSON_CreateNull();
        if (uc == NULL || !cJSON_AddItemToObject(o, "userCouponId", uc)) {
            cJSON_Delete(uc);
            goto out;
        }
    }
    if (s->keyed && cJSON_AddStringToObject(o, "key", r->key) == NULL)
        goto out;
    line = cJSON_PrintUnformatted(o);
out:
    cJSON_Delete(o);
    return line;
}

static bool copy_str(const cJSON *o, const char *name, char *out, size_t outlen, char *err,
                     size_t errlen)
{
    const char *s = load_json_str(o, name);
    if (s == NULL || strlen(s) >= outlen) {
        snprintf(err, errlen, "%s: missing or too long", name);
        return false;
    }
    snprintf(out, outlen, "%s", s);
    return true;
}

static bool parse_kind(const cJSON *o, load_rec *out, char *err, size_t errlen)
{
    const char *t = load_json_str(o, "t");
    for (size_t k = 0; t != NULL && k < N_KINDS; k++) {
        if (strcmp(t, kind_names[k]) == 0) {
            out->kind = (load_rec_kind)k;
            return true;
        }
    }
    snprintf(err, errlen, "t: missing or unknown kind");
    return false;
}

bool load_record_parse(const char *line, load_rec *out, char *err, size_t errlen)
{
    bool ok = false;
    memset(out, 0, sizeof *out);
    cJSON *o = cJSON_Parse(line);
    if (!cJSON_IsObject(o)) {
        snprintf(err, errlen, "not a JSON object");
        goto out;
    }
    if (!parse_kind(o, out, err, errlen))
        goto out;
    const kind_spec *s = &specs[out->kind];
    for (size_t i = 0; i < s->n; i++) {
        if (!load_json_int(o, s->fields[i].name, field_ptr(out, &s->fields[i]))) {
            snprintf(err, errlen, "%s: missing or not an integer", s->fields[i].name);
            goto out;
        }
    }
    if (s->keyed && !copy_str(o, "key", out->key, sizeof out->key, err, errlen))
        goto out;
    if (out->kind == LOAD_REC_META &&
        (!copy_str(o, "run", out->text, sizeof out->text, err, errlen) ||
         !copy_str(o, "url", out->url, sizeof out->url, err, errlen)))
        goto out;
    if (out->kind == LOAD_REC_COUPON &&
        (out->discount_type = load_discount_from(load_json_str(o, "discountType"))) ==
            LOAD_DISCOUNT_NONE) {
        snprintf(err, errlen, "discountType: not FIXED or PERCENT");
        goto out;
    }
    if (out->kind == LOAD_REC_ORDER &&
        !load_json_id_or_null(o, "userCouponId", &out->user_coupon_id)) {
        snprintf(err, errlen, "userCouponId: not an integer or null");
        goto out;
    }
    ok = true;
out:
    cJSON_Delete(o);
    return ok;
}
