/* The record shop-load writes for shop-audit (--record FILE): one JSON object
 * per line. Fixture lines name what the run created and its starting state;
 * acknowledgement lines name every write a client was told succeeded:
 *   {"t":"meta","run":"ld-...","url":"http://127.0.0.1:8080","clients":64}
 *   {"t":"item","id":9,"price":3000,"stock":100000000}
 *   {"t":"user","id":7,"balance":100000000000}
 *   {"t":"coupon","id":4,"discountType":"FIXED","discountValue":3000,"totalQuantity":1000000}
 *   {"t":"order","id":12,"userId":7,"finalAmount":9000,"userCouponId":null,"key":"..."}  201 POST /api/orders
 *   {"t":"payment","id":5,"orderId":12,"userId":7,"amount":9000,"key":"..."}          201 POST /api/payments
 *   {"t":"charge","userId":7,"amount":500,"key":"..."}                                200 POST .../balance/charge
 *   {"t":"issue","id":31,"couponId":4,"userId":7,"key":"..."}                         201 POST .../issue
 *   {"t":"cancel","orderId":12,"userId":7}                                            200 PATCH /api/payments
 *   {"t":"declined","orderId":13,"userId":8,"key":"..."}                              402 POST /api/payments */
#ifndef LOAD_RECORD_H
#define LOAD_RECORD_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

typedef enum load_rec_kind {
    LOAD_REC_META,
    LOAD_REC_ITEM,
    LOAD_REC_USER,
    LOAD_REC_COUPON,
    LOAD_REC_ORDER,
    LOAD_REC_PAYMENT,
    LOAD_REC_CHARGE,
    LOAD_REC_ISSUE,
    LOAD_REC_CANCEL,
    LOAD_REC_DECLINED,
} load_rec_kind;

typedef enum load_discount {
    LOAD_DISCOUNT_NONE = 0,
    LOAD_DISCOUNT_FIXED,
    LOAD_DISCOUNT_PERCENT,
} load_discount;

#define LOAD_KEY_MAX 256

/* One line. Which fields mean something depends on kind (see the header
 * comment); the others are 0. */
typedef struct load_rec {
    load_rec_kind kind;
    int64_t id;             /* item, user, coupon, order, payment, user coupon id */
    int64_t user_id;
    int64_t order_id;
    int64_t coupon_id;      /* issue: the coupon */
    int64_t user_coupon_id; /* order: 0 for none */
    int64_t amount;         /* order: finalAmount; payment, charge: amount */
    int64_t price;          /* item */
    int64_t stock;          /* item: initial stock */
    int64_t balance;        /* user: initial balance */
    load_discount discount_type; /* coupon */
    int64_t discount_value;      /* coupon */
    int64_t total_quantity;      /* coupon */
    int64_t clients;             /* meta */
    char key[LOAD_KEY_MAX];      /* the Idempotency-Key, or "" */
    char text[256];              /* meta: run id; */
    char url[256];               /* meta: gateway */
} load_rec;

/* Renders r as one JSON line without the newline. Returns a malloc'd string
 * (free(3)), or NULL when out of memory. */
char *load_record_render(const load_rec *r);

/* Parses one line into out. Returns false with err filled (naming the
 * problem) when it is not a record line of a known kind with its fields. */
bool load_record_parse(const char *line, load_rec *out, char *err, size_t errlen);

/* "FIXED" / "PERCENT" <-> load_discount; unknown text gives NONE. */
const char *load_discount_name(load_discount d);
load_discount load_discount_from(const char *s);

/* The discount rule of API.md on total: FIXED min(value, total), PERCENT
 * floor(total * value / 100), NONE 0. */
int64_t load_discount_amount(load_discount d, int64_t value, int64_t total);

#endif
