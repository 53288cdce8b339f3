/* Unit tests of the data-platform store (services/data-platform/
 * dataplatform_store.c) on a fresh temp database per test: a first delivery
 * is stored, a repeat only counts, concurrent repeats count exactly, paging. */
#include <check.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "../../services/data-platform/dataplatform_store.h"

Suite *dataplatform_store_suite(void);

static char tmpdir[64];
static char dbpath[128];
static db *d;

static void setup(void)
{
    snprintf(tmpdir, sizeof tmpdir, "/tmp/dp-store-XXXXXX");
    ck_assert_ptr_nonnull(mkdtemp(tmpdir));
    snprintf(dbpath, sizeof dbpath, "%s/dp.db", tmpdir);
    ck_assert_int_eq(
        db_open(dbpath, dataplatform_store_migrations, dataplatform_store_n_migrations, &d), 0);
}

static void teardown(void)
{
    char path[160];
    db_close(d);
    d = NULL;
    const char *suffixes[] = {"", "-wal", "-shm"};
    for (size_t i = 0; i < 3; i++) {
        snprintf(path, sizeof path, "%s%s", dbpath, suffixes[i]);
        unlink(path);
    }
    rmdir(tmpdir);
}

static dataplatform_record record(int64_t order_id, int64_t payment_id, const char *items)
{
    dataplatform_record r = {
        .order_id = order_id,
        .payment_id = payment_id,
        .user_id = 3,
        .items = (char *)items,
        .total_amount = 100000,
        .discount_amount = 5000,
        .final_amount = 95000,
        .paid_at = 1700000000,
    };
    return r;
}

START_TEST(test_receive_then_get)
{
    dataplatform_record in = record(12, 5, "[{\"itemId\":1,\"quantity\":2,\"unitPrice\":50000}]");
    int64_t n = 0;
    ck_assert_int_eq(dataplatform_store_receive(d, &in, 1700000100, &n), SHOP_OK);
    ck_assert_int_eq(n, 1);
    dataplatform_record out;
    ck_assert_int_eq(dataplatform_store_get(d, 12, &out), SHOP_OK);
    ck_assert_int_eq(out.order_id, 12);
    ck_assert_int_eq(out.payment_id, 5);
    ck_assert_int_eq(out.user_id, 3);
    ck_assert_str_eq(out.items, "[{\"itemId\":1,\"quantity\":2,\"unitPrice\":50000}]");
    ck_assert_int_eq(out.total_amount, 100000);
    ck_assert_int_eq(out.discount_amount, 5000);
    ck_assert_int_eq(out.final_amount, 95000);
    ck_assert_int_eq(out.paid_at, 1700000000);
    ck_assert_int_eq(out.received_at, 1700000100);
    ck_assert_int_eq(out.deliveries, 1);
    dataplatform_record_release(&out);
    ck_assert_int_eq(dataplatform_store_get(d, 13, &out), SHOP_ENOTFOUND);
}
END_TEST

START_TEST(test_repeat_only_counts)
{
    dataplatform_record first = record(12, 5, "[1]");
    dataplatform_record again = record(12, 6, "[2]"); /* a different body: not stored */
    again.final_amount = 1;
    int64_t n = 0;
    ck_assert_int_eq(dataplatform_store_receive(d, &first, 100, &n), SHOP_OK);
    ck_assert_int_eq(n, 1);
    ck_assert_int_eq(dataplatform_store_receive(d, &again, 200, &n), SHOP_OK);
    ck_assert_int_eq(n, 2);
    ck_assert_int_eq(dataplatform_store_receive(d, &first, 300, &n), SHOP_OK);
    ck_assert_int_eq(n, 3);
    dataplatform_record out;
    ck_assert_int_eq(dataplatform_store_get(d, 12, &out), SHOP_OK);
    ck_assert_int_eq(out.deliveries, 3);
    ck_assert_int_eq(out.payment_id, 5);
    ck_assert_str_eq(out.items, "[1]");
    ck_assert_int_eq(out.final_amount, 95000);
    ck_assert_int_eq(out.received_at, 100);
    dataplatform_record_release(&out);
    dataplatform_record rows[4];
    size_t count = 0;
    ck_assert_int_eq(dataplatform_store_list(d, 0, rows, 4, &count), SHOP_OK);
    ck_assert_uint_eq(count, 1);
    dataplatform_record_release(&rows[0]);
}
END_TEST

#define RACERS 12
static void *race_receive(void *arg)
{
    (void)arg;
    dataplatform_record r = record(77, 1, "[]");
    int64_t n = 0;
    for (int i = 0; i < 5; i++)
        ck_assert_int_eq(dataplatform_store_receive(d, &r, 100, &n), SHOP_OK);
    return NULL;
}

START_TEST(test_concurrent_repeats_count_exactly)
{
    pthread_t t[RACERS];
    for (int i = 0; i < RACERS; i++)
        ck_assert_int_eq(pthread_create(&t[i], NULL, race_receive, NULL), 0);
    for (int i = 0; i < RACERS; i++)
        pthread_join(t[i], NULL);
    dataplatform_record out;
    ck_assert_int_eq(dataplatform_store_get(d, 77, &out), SHOP_OK);
    ck_assert_int_eq(out.deliveries, RACERS * 5);
    dataplatform_record_release(&out);
}
END_TEST

START_TEST(test_list_pages)
{
    int64_t n = 0;
    for (int64_t id = 10; id >= 1; id--) {
        dataplatform_record r = record(id * 3, id, "[]");
        ck_assert_int_eq(dataplatform_store_receive(d, &r, 100, &n), SHOP_OK);
    }
    dataplatform_record rows[11];
    size_t count = 0;
    ck_assert_int_eq(dataplatform_store_list(d, 0, rows, 4, &count), SHOP_OK);
    ck_assert_uint_eq(count, 4);
    ck_assert_int_eq(rows[0].order_id, 3);
    ck_assert_int_eq(rows[3].order_id, 12);
    for (size_t i = 0; i < count; i++)
        dataplatform_record_release(&rows[i]);
    ck_assert_int_eq(dataplatform_store_list(d, 12, rows, 11, &count), SHOP_OK);
    ck_assert_uint_eq(count, 6);
    ck_assert_int_eq(rows[0].order_id, 15);
    ck_assert_int_eq(rows[5].order_id, 30);
    for (size_t i = 0; i < count; i++)
        dataplatform_record_release(&rows[i]);
    ck_assert_int_eq(dataplatform_store_list(d, 30, rows, 11, &count), SHOP_OK);
    ck_assert_uint_eq(count, 0);
}
END_TEST

Suite *dataplatform_store_suite(void)
{
    Suite *s = suite_create("dataplatform_store");
    TCase *tc = tcase_create("core");
    tcase_add_checked_fixture(tc, setup, teardown);
    tcase_set_timeout(tc, 20);
    tcase_add_test(tc, test_receive_then_get);
    tcase_add_test(tc, test_repeat_only_counts);
    tcase_add_test(tc, test_concurrent_repeats_count_exactly);
    tcase_add_test(tc, test_list_pages);
    suite_add_tcase(s, tc);
    return s;
}
