/* The coupon service's pure rules: discount maths, the validity ranges of a
 * coupon, and whether a user coupon may be used. No SQLite, curl or civetweb
 * here, so unit tests call these with plain structs. */
#ifndef SHOP_COUPON_LOGIC_H
#define SHOP_COUPON_LOGIC_H

#include <stdbool.h>
#include <stdint.h>

#define COUPON_NAME_MAX 200
#define COUPON_FIXED_MAX 1000000000LL
#define COUPON_PERCENT_MAX 100
#define COUPON_QUANTITY_MAX 1000000
/* Largest total a discount is computed on: the largest integer a request may
 * carry (API.md Conventions). total * 100 stays far below INT64_MAX. */
#define COUPON_TOTAL_MAX 999999999999999LL
/* expiresAt must render as a four-digit-year RFC 3339 time. */
#define COUPON_EXPIRES_MAX 253402300799LL /* 9999-12-31T23:59:59Z */

typedef enum coupon_discount_type {
    COUPON_FIXED = 0,
    COUPON_PERCENT,
} coupon_discount_type;

/* A coupon definition (the coupons table). */
typedef struct coupon {
    int64_t id;
    char name[COUPON_NAME_MAX + 1];
    coupon_discount_type discount_type;
    int64_t discount_value;
    int64_t total_quantity;
    int64_t issued_quantity;
    int64_t expires_at; /* epoch seconds */
} coupon;

/* A coupon issued to a user, with the coupon's terms joined in. */
typedef struct coupon_user_coupon {
    int64_t id;
    int64_t coupon_id;
    int64_t user_id;
    bool is_used;
    int64_t used_order_id; /* 0 when unused */
    char name[COUPON_NAME_MAX + 1];
    coupon_discount_type discount_type;
    int64_t discount_value;
    int64_t expires_at; /* epoch seconds */
} coupon_user_coupon;

/* How a coupon action ended; routes.c maps each to a status and code. */
typedef enum coupon_outcome {
    COUPON_OK = 0,
    COUPON_NOT_FOUND,      /* no such coupon / user coupon: 404 */
    COUPON_EXPIRED,        /* 409 COUPON_NOT_USABLE */
    COUPON_USED,           /* 409 COUPON_NOT_USABLE */
    COUPON_NOT_OWNER,      /* 409 COUPON_NOT_USABLE */
    COUPON_ALREADY_ISSUED, /* 409 */
    COUPON_SOLD_OUT,       /* 409 */
    COUPON_ORDER_RELEASED, /* 409 ORDER_RELEASED */
    COUPON_DB_ERROR,       /* 500 */
} coupon_outcome;

/* Parses "FIXED" / "PERCENT" (exact case). Returns false for anything else. */
bool coupon_type_parse(const char *s, coupon_discount_type *out);

/* "FIXED" or "PERCENT" (a static string). */
const char *coupon_type_name(coupon_discount_type t);

/* The allowed discountValue range of type t: FIXED 1..1e9, PERCENT 1..100. */
void coupon_value_range(coupon_discount_type t, int64_t *min, int64_t *max);

/* The discount on total (0..COUPON_TOTAL_MAX): FIXED -> min(value, total);
 * PERCENT -> floor(total * value / 100), exact in int64. Never more than
 * total, never negative. */
int64_t coupon_discount(coupon_discount_type t, int64_t value, int64_t total);

/* Whether uc may be used by user_id at time now (epoch seconds): COUPON_OK,
 * COUPON_NOT_OWNER, COUPON_USED or COUPON_EXPIRED (checked in that order).
 * A coupon is expired from its expires_at second on. */
coupon_outcome coupon_check_usable(const coupon_user_coupon *uc, int64_t user_id, int64_t now);

/* Whether coupon c can be issued at time now: COUPON_OK, COUPON_EXPIRED or
 * COUPON_SOLD_OUT. The store re-checks both conditionally. */
coupon_outcome coupon_check_issuable(const coupon *c, int64_t now);

#endif
