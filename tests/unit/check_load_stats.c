/* Unit tests of shop-load's figures (load_stats): nearest-rank percentiles,
 * merging per-thread samples, and the answer counters. */
#include <stdint.h>

#include <check.h>

#include "../load/load_stats.h"

START_TEST(test_percentiles_nearest_rank)
{
    load_lat l = {0};
    /* 1..100 added backwards: percentiles sort first. */
    for (int v = 100; v >= 1; v--)
        ck_assert(load_lat_add(&l, v));
    ck_assert_int_eq(load_lat_percentile(&l, 50), 50);
    ck_assert_int_eq(load_lat_percentile(&l, 95), 95);
    ck_assert_int_eq(load_lat_percentile(&l, 99), 99);
    ck_assert_int_eq(load_lat_percentile(&l, 100), 100);
    ck_assert_int_eq(load_lat_percentile(&l, 0.5), 1);
    ck_assert_int_eq(load_lat_max(&l), 100);
    load_lat_release(&l);
}
END_TEST

START_TEST(test_percentiles_small_sets)
{
    load_lat l = {0};
    ck_assert_int_eq(load_lat_percentile(&l, 50), 0);
    ck_assert_int_eq(load_lat_max(&l), 0);
    load_lat_add(&l, 7);
    ck_assert_int_eq(load_lat_percentile(&l, 50), 7);
    ck_assert_int_eq(load_lat_percentile(&l, 99), 7);
    /* 20 samples 10, 20, ..., 200: p95 is rank 19 (190), p50 rank 10 (100),
     * p99 rank 20 (200). */
    load_lat_release(&l);
    for (int i = 1; i <= 20; i++)
        load_lat_add(&l, i * 10);
    ck_assert_int_eq(load_lat_percentile(&l, 50), 100);
    ck_assert_int_eq(load_lat_percentile(&l, 95), 190);
    ck_assert_int_eq(load_lat_percentile(&l, 99), 200);
    /* Adding after a percentile re-sorts. */
    load_lat_add(&l, 1);
    ck_assert_int_eq(load_lat_percentile(&l, 1), 1);
    ck_assert_int_eq(l.n, 21);
    load_lat_release(&l);
}
END_TEST

START_TEST(test_merge)
{
    load_lat a = {0}, b = {0};
    for (int i = 0; i < 3000; i++)
        load_lat_add(i % 2 ? &a : &b, i);
    ck_assert(load_lat_merge(&a, &b));
    ck_assert_int_eq(a.n, 3000);
    ck_assert_int_eq(load_lat_percentile(&a, 50), 1499);
    ck_assert_int_eq(load_lat_max(&a), 2999);
    load_lat_release(&a);
    load_lat_release(&b);
}
END_TEST

START_TEST(test_counts)
{
    load_counts a = {0}, b = {0};
    ck_assert(load_counts_add(&a, "POST /api/orders 201", 1));
    ck_assert(load_counts_add(&a, "POST /api/orders 201", 2));
    ck_assert(load_counts_add(&a, "GET /api/items/{id} 200", 5));
    for (int i = 0; i < 40; i++) /* grows past the first capacity */
        ck_assert(load_counts_add(&b, i % 2 ? "POST /api/orders 201" : "z", 1));
    ck_assert(load_counts_merge(&a, &b));
    ck_assert_int_eq(load_counts_get(&a, "POST /api/orders 201"), 23);
    ck_assert_int_eq(load_counts_get(&a, "z"), 20);
    ck_assert_int_eq(load_counts_get(&a, "GET /api/items/{id} 200"), 5);
    ck_assert_int_eq(load_counts_get(&a, "absent"), 0);
    ck_assert_int_eq(a.n, 3);
    load_counts_sort(&a);
    ck_assert_str_eq(a.e[0].key, "GET /api/items/{id} 200");
    ck_assert_str_eq(a.e[2].key, "z");
    load_counts_release(&a);
    load_counts_release(&b);
    ck_assert_int_eq(a.n, 0);
}
END_TEST

Suite *load_stats_suite(void)
{
    Suite *s = suite_create("load_stats");
    TCase *tc = tcase_create("stats");
    tcase_add_test(tc, test_percentiles_nearest_rank);
    tcase_add_test(tc, test_percentiles_small_sets);
    tcase_add_test(tc, test_merge);
    tcase_add_test(tc, test_counts);
    suite_add_tcase(s, tc);
    return s;
}
