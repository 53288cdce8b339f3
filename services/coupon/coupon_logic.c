/* The coupon service's pure rules: discount maths and usability checks
 * (see coupon_logic.h). */
#include "coupon_logic.h"

#include <assert.h>
#include <string.h>

bool coupon_type_parse(const char *s, coupon_discount_type *out)
{
    if (s == NULL)
        return false;
    if (strcmp(s, "FIXED") == 0) {
        *out = COUPON_FIXED;
        return true;
    }
    if (strcmp(s, "PERCENT") == 0) {
        *out = COUPON_PERCENT;
        return true;
    }
    return false;
}

const char *coupon_type_name(coupon_discount_type t)
{
    return t == COUPON_PERCENT ? "PERCENT" : "FIXED";
}

void coupon_value_range(coupon_discount_type t, int64_t *min, int64_t *max)
{
    *min = 1;
    *max = t == COUPON_PERCENT ? COUPON_PERCENT_MAX : COUPON_FIXED_MAX;
}

int64_t coupon_discount(coupon_discount_type t, int64_t value, int64_t total)
{
    assert(total >= 0 && total <= COUPON_TOTAL_MAX);
    assert(value >= 1);
    if (t == COUPON_PERCENT) {
        assert(value <= COUPON_PERCENT_MAX);
        /* total <= ~1e15 and value <= 100: the product is below 1e17, far
         * inside int64, so the division floors exactly. */
        return total * value / 100;
    }
    return value < total ? value : total;
}

coupon_outcome coupon_check_usable(const coupon_user_coupon *uc, int64_t user_id, int64_t now)
{
    if (uc->user_id != user_id)
        return COUPON_NOT_OWNER;
    if (uc->is_used)
        return COUPON_USED;
    if (now >= uc->expires_at)
        return COUPON_EXPIRED;
    return COUPON_OK;
}

coupon_outcome coupon_check_issuable(const coupon *c, int64_t now)
{
    if (now >= c->expires_at)
        return COUPON_EXPIRED;
    if (c->issued_quantity >= c->total_quantity)
        return COUPON_SOLD_OUT;
    return COUPON_OK;
}
