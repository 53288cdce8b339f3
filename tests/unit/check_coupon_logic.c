/* Unit tests of coupon_logic: discount maths (PERCENT floors exactly, FIXED is
 * capped at the total), type names and ranges, and the usability rules. */
#include <signal.h>
#include <string.h>

#include <check.h>

#include "../../services/coupon/coupon_logic.h"

START_TEST(test_percent_rounds_down)
{
    ck_assert_int_eq(coupon_discount(COUPON_PERCENT, 10, 99999), 9999);
    ck_assert_int_eq(coupon_discount(COUPON_PERCENT, 33, 100), 33);
    ck_assert_int_eq(coupon_discount(COUPON_PERCENT, 33, 99), 32); /* 32.67 */
    ck_assert_int_eq(coupon_discount(COUPON_PERCENT, 1, 99), 0);   /* 0.99 */
    ck_assert_int_eq(coupon_discount(COUPON_PERCENT, 10, 100000), 10000);
    ck_assert_int_eq(coupon_discount(COUPON_PERCENT, 15, 12345), 1851); /* 1851.75 */
    ck_assert_int_eq(coupon_discount(COUPON_PERCENT, 100, 12345), 12345);
}
END_TEST

START_TEST(test_percent_exact_on_large_totals)
{
    /* A double computation would round these; int64 must be exact. */
    ck_assert_int_eq(coupon_discount(COUPON_PERCENT, 99, 999999999999999LL),
                     989999999999999LL); /* ...999.01 */
    ck_assert_int_eq(coupon_discount(COUPON_PERCENT, 100, 999999999999999LL), 999999999999999LL);
    ck_assert_int_eq(coupon_discount(COUPON_PERCENT, 7, 50000000000000LL), 3500000000000LL);
    /* 109999999999989.99: in doubles the product rounds up to ...990. */
    ck_assert_int_eq(coupon_discount(COUPON_PERCENT, 11, 999999999999909LL), 109999999999989LL);
    ck_assert_int_eq(coupon_discount(COUPON_PERCENT, 17, 999999999999947LL), 169999999999990LL);
    ck_assert_int_eq(coupon_discount(COUPON_PERCENT, 33, 50000000001LL), 16500000000LL);
}
END_TEST

START_TEST(test_fixed_capped_at_total)
{
    ck_assert_int_eq(coupon_discount(COUPON_FIXED, 5000, 100000), 5000);
    ck_assert_int_eq(coupon_discount(COUPON_FIXED, 5000, 5000), 5000);
    ck_assert_int_eq(coupon_discount(COUPON_FIXED, 5000, 4999), 4999);
    ck_assert_int_eq(coupon_discount(COUPON_FIXED, 1000000000, 1), 1);
    ck_assert_int_eq(coupon_discount(COUPON_FIXED, 1, 999999999999999LL), 1);
}
END_TEST

START_TEST(test_zero_total)
{
    ck_assert_int_eq(coupon_discount(COUPON_FIXED, 5000, 0), 0);
    ck_assert_int_eq(coupon_discount(COUPON_PERCENT, 10, 0), 0);
    ck_assert_int_eq(coupon_discount(COUPON_PERCENT, 100, 0), 0);
}
END_TEST

START_TEST(test_total_over_limit_asserts)
{
    coupon_discount(COUPON_PERCENT, 10, COUPON_TOTAL_MAX + 1);
}
END_TEST

START_TEST(test_type_parse_and_name)
{
    coupon_discount_type t = COUPON_PERCENT;
    ck_assert(coupon_type_parse("FIXED", &t));
    ck_assert_int_eq(t, COUPON_FIXED);
    ck_assert(coupon_type_parse("PERCENT", &t));
    ck_assert_int_eq(t, COUPON_PERCENT);
    ck_assert(!coupon_type_parse("fixed", &t));
    ck_assert(!coupon_type_parse("PERCENTAGE", &t));
    ck_assert(!coupon_type_parse("", &t));
    ck_assert(!coupon_type_parse(NULL, &t));
    ck_assert_str_eq(coupon_type_name(COUPON_FIXED), "FIXED");
    ck_assert_str_eq(coupon_type_name(COUPON_PERCENT), "PERCENT");
}
END_TEST

START_TEST(test_value_ranges)
{
    int64_t min = 0, max = 0;
    coupon_value_range(COUPON_FIXED, &min, &max);
    ck_assert_int_eq(min, 1);
    ck_assert_int_eq(max, 1000000000);
    coupon_value_range(COUPON_PERCENT, &min, &max);
    ck_assert_int_eq(min, 1);
    ck_assert_int_eq(max, 100);
}
END_TEST

static coupon_user_coupon user_coupon(int64_t user_id, bool used, int64_t expires_at)
{
    coupon_user_coupon uc;
    memset(&uc, 0, sizeof uc);
    uc.id = 7;
    uc.coupon_id = 3;
    uc.user_id = user_id;
    uc.is_used = used;
    uc.used_order_id = used ? 12 : 0;
    uc.discount_type = COUPON_FIXED;
    uc.discount_value = 5000;
    uc.expires_at = expires_at;
    return uc;
}

START_TEST(test_usable)
{
    coupon_user_coupon uc = user_coupon(1, false, 1000);
    ck_assert_int_eq(coupon_check_usable(&uc, 1, 999), COUPON_OK);
    ck_assert_int_eq(coupon_check_usable(&uc, 1, 1000), COUPON_EXPIRED); /* at the second */
    ck_assert_int_eq(coupon_check_usable(&uc, 1, 5000), COUPON_EXPIRED);
    ck_assert_int_eq(coupon_check_usable(&uc, 2, 999), COUPON_NOT_OWNER);
    uc = user_coupon(1, true, 1000);
    ck_assert_int_eq(coupon_check_usable(&uc, 1, 999), COUPON_USED);
    /* Another user's coupon is refused as such, even when used and expired. */
    ck_assert_int_eq(coupon_check_usable(&uc, 2, 5000), COUPON_NOT_OWNER);
    ck_assert_int_eq(coupon_check_usable(&uc, 1, 5000), COUPON_USED);
}
END_TEST

START_TEST(test_issuable)
{
    coupon c;
    memset(&c, 0, sizeof c);
    c.total_quantity = 2;
    c.issued_quantity = 1;
    c.expires_at = 1000;
    ck_assert_int_eq(coupon_check_issuable(&c, 999), COUPON_OK);
    ck_assert_int_eq(coupon_check_issuable(&c, 1000), COUPON_EXPIRED);
    c.issued_quantity = 2;
    ck_assert_int_eq(coupon_check_issuable(&c, 999), COUPON_SOLD_OUT);
    ck_assert_int_eq(coupon_check_issuable(&c, 1000), COUPON_EXPIRED);
}
END_TEST

Suite *coupon_logic_suite(void);

Suite *coupon_logic_suite(void)
{
    Suite *s = suite_create("coupon_logic");
    TCase *tc = tcase_create("discount");
    tcase_add_test(tc, test_percent_rounds_down);
    tcase_add_test(tc, test_percent_exact_on_large_totals);
    tcase_add_test(tc, test_fixed_capped_at_total);
    tcase_add_test(tc, test_zero_total);
    tcase_add_test_raise_signal(tc, test_total_over_limit_asserts, SIGABRT);
    suite_add_tcase(s, tc);
    tc = tcase_create("rules");
    tcase_add_test(tc, test_type_parse_and_name);
    tcase_add_test(tc, test_value_ranges);
    tcase_add_test(tc, test_usable);
    tcase_add_test(tc, test_issuable);
    suite_add_tcase(s, tc);
    return s;
}
