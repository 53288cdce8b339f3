/* Unit tests of the user service's pure rules (services/user/user_logic.c). */
#include <check.h>
#include <stdint.h>
#include <string.h>

#include "../../services/user/user_logic.h"

Suite *user_logic_suite(void);

START_TEST(test_ref_syntax)
{
    char long_ref[USER_REF_MAX + 2];
    memset(long_ref, 'a', sizeof(long_ref));
    long_ref[USER_REF_MAX] = '\0';
    ck_assert(user_ref_valid("pay-5"));
    ck_assert(user_ref_valid("refund:5.a_b-C"));
    ck_assert(user_ref_valid(long_ref));
    long_ref[USER_REF_MAX] = 'a';
    long_ref[USER_REF_MAX + 1] = '\0';
    ck_assert(!user_ref_valid(long_ref));
    ck_assert(!user_ref_valid(""));
    ck_assert(!user_ref_valid(NULL));
    ck_assert(!user_ref_valid("pay 5"));
    ck_assert(!user_ref_valid("#charge:1"));
    ck_assert(!user_ref_valid("pay/5"));
}
END_TEST

START_TEST(test_add_fits_without_overflow)
{
    ck_assert(user_add_fits(0, USER_BALANCE_LIMIT, USER_BALANCE_LIMIT));
    ck_assert(user_add_fits(USER_BALANCE_LIMIT - 100, 100, USER_BALANCE_LIMIT));
    ck_assert(!user_add_fits(USER_BALANCE_LIMIT - 100, 101, USER_BALANCE_LIMIT));
    ck_assert(!user_add_fits(INT64_MAX, INT64_MAX, USER_BALANCE_MAX));
    ck_assert(!user_add_fits(USER_BALANCE_MAX, 1, USER_BALANCE_MAX));
    ck_assert(!user_add_fits(-1, 1, USER_BALANCE_MAX));
    ck_assert(!user_add_fits(1, -1, USER_BALANCE_MAX));
}
END_TEST

START_TEST(test_debit_fits)
{
    ck_assert(user_debit_fits(95000, 95000));
    ck_assert(!user_debit_fits(94999, 95000));
    ck_assert(user_debit_fits(0, 0));
    ck_assert(!user_debit_fits(-1, 0));
}
END_TEST

Suite *user_logic_suite(void)
{
    Suite *s = suite_create("user_logic");
    TCase *tc = tcase_create("rules");
    tcase_add_test(tc, test_ref_syntax);
    tcase_add_test(tc, test_add_fits_without_overflow);
    tcase_add_test(tc, test_debit_fits);
    suite_add_tcase(s, tc);
    return s;
}
