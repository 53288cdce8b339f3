/* Unit tests of the data-platform stub's pure rules (services/data-platform/
 * dataplatform_logic.c): fail rates, the random draw and amounts. */
#include <check.h>
#include <math.h>
#include <stdint.h>

#include "../../services/data-platform/dataplatform_logic.h"

Suite *dataplatform_logic_suite(void);

START_TEST(test_rate_valid_and_parse)
{
    ck_assert(dataplatform_rate_valid(0.0));
    ck_assert(dataplatform_rate_valid(0.5));
    ck_assert(dataplatform_rate_valid(1.0));
    ck_assert(!dataplatform_rate_valid(-0.01));
    ck_assert(!dataplatform_rate_valid(1.01));
    ck_assert(!dataplatform_rate_valid(NAN));
    ck_assert(!dataplatform_rate_valid(INFINITY));
    double r = -1;
    ck_assert(dataplatform_parse_rate("0", &r));
    ck_assert(r == 0.0);
    ck_assert(dataplatform_parse_rate("0.25", &r));
    ck_assert(r == 0.25);
    ck_assert(dataplatform_parse_rate("1.0", &r));
    ck_assert(r == 1.0);
    r = 0.5;
    ck_assert(!dataplatform_parse_rate("", &r));
    ck_assert(!dataplatform_parse_rate("1.5", &r));
    ck_assert(!dataplatform_parse_rate("-0.1", &r));
    ck_assert(!dataplatform_parse_rate("0.5x", &r));
    ck_assert(!dataplatform_parse_rate("abc", &r));
    ck_assert(!dataplatform_parse_rate("nan", &r));
    ck_assert(!dataplatform_parse_rate(NULL, &r));
    ck_assert(r == 0.5); /* untouched on failure */
}
END_TEST

START_TEST(test_should_fail)
{
    uint64_t st = dataplatform_random_seed(12345);
    for (int i = 0; i < 1000; i++) {
        uint64_t v = dataplatform_random_next(&st);
        ck_assert(!dataplatform_should_fail(0.0, v));
        ck_assert(dataplatform_should_fail(1.0, v));
    }
    ck_assert(!dataplatform_should_fail(0.5, UINT64_MAX));
    ck_assert(dataplatform_should_fail(0.5, 0));
    ck_assert(dataplatform_should_fail(1e-9, 0));
    ck_assert(!dataplatform_should_fail(NAN, 0));
    /* Over many draws, a rate of 0.3 fails about 30% of the time. */
    int fails = 0;
    for (int i = 0; i < 100000; i++)
        fails += dataplatform_should_fail(0.3, dataplatform_random_next(&st));
    ck_assert_int_gt(fails, 29000);
    ck_assert_int_lt(fails, 31000);
}
END_TEST

START_TEST(test_random)
{
    ck_assert(dataplatform_random_seed(0) != 0);
    ck_assert(dataplatform_random_seed(7) == 7);
    uint64_t st = 0; /* a zero state still moves */
    uint64_t a = dataplatform_random_next(&st);
    uint64_t b = dataplatform_random_next(&st);
    ck_assert(st != 0);
    ck_assert(a != b);
}
END_TEST

START_TEST(test_amounts)
{
    ck_assert(dataplatform_amounts_consistent(100000, 5000, 95000));
    ck_assert(dataplatform_amounts_consistent(0, 0, 0));
    ck_assert(dataplatform_amounts_consistent(5000, 5000, 0));
    ck_assert(!dataplatform_amounts_consistent(100000, 5000, 95001));
    ck_assert(!dataplatform_amounts_consistent(1000, 5000, 0));
    ck_assert(!dataplatform_amounts_consistent(-1, 0, -1));
    ck_assert(!dataplatform_amounts_consistent(10, -1, 11));
}
END_TEST

Suite *dataplatform_logic_suite(void)
{
    Suite *s = suite_create("dataplatform_logic");
    TCase *tc = tcase_create("core");
    tcase_add_test(tc, test_rate_valid_and_parse);
    tcase_add_test(tc, test_should_fail);
    tcase_add_test(tc, test_random);
    tcase_add_test(tc, test_amounts);
    suite_add_tcase(s, tc);
    return s;
}
