/* Unit tests of item_store against a fresh SQLite file per test: seed, items,
 * and the reservation rules (all or none, once per order, restore once,
 * tombstones, nothing left behind by a refusal). */
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <check.h>

#include "../../services/item/item_store.h"

static char tmp_dir[64];
static char db_path[128];
static db *store;

static void setup(void)
{
    snprintf(tmp_dir, sizeof tmp_dir, "/tmp/item-store-XXXXXX");
    ck_assert_ptr_nonnull(mkdtemp(tmp_dir));
    snprintf(db_path, sizeof db_path, "%s/item.db", tmp_dir);
    store = NULL;
    ck_assert_int_eq(item_store_open(db_path, &store), 0);
}

static void teardown(void)
{
    char path[160];
    db_close(store);
    store = NULL;
    const char *suffixes[] = {"", "-wal", "-shm"};
    for (size_t i = 0; i < 3; i++) {
        snprintf(path, sizeof path, "%s%s", db_path, suffixes[i]);
        unlink(path);
    }
    rmdir(tmp_dir);
}

/* Creates an item and returns its id. */
static int64_t new_item(const char *name, int64_t price, int64_t stock)
{
    item_draft d = {.name = name, .price = price, .stock = stock};
    item it;
    ck_assert_int_eq(item_store_create(store, &d, &it), SHOP_OK);
    ck_assert_int_gt(it.id, 0);
    return it.id;
}

static int64_t stock_of(int64_t id)
{
    item it;
    ck_assert_int_eq(item_store_get(store, id, &it), SHOP_OK);
    return it.stock;
}

static item_line line(int64_t item_id, int64_t quantity)
{
    item_line l = {.item_id = item_id, .quantity = quantity};
    return l;
}

START_TEST(test_seed_once)
{
    bool seeded = false;
    ck_assert_int_eq(item_store_seed_if_empty(store, &seeded), 0);
    ck_assert(seeded);
    ck_assert_int_eq(item_store_seed_if_empty(store, &seeded), 0);
    ck_assert(!seeded);
    item *items = NULL;
    size_t n = 0;
    ck_assert_int_eq(item_store_list(store, &items, &n), SHOP_OK);
    ck_assert_uint_eq(n, 4);
    const char *names[] = {"Keyboard", "Mouse", "Monitor", "USB cable"};
    const int64_t prices[] = {50000, 20000, 300000, 5000};
    const int64_t stocks[] = {10, 100, 5, 1000};
    for (size_t i = 0; i < 4; i++) {
        ck_assert_int_eq(items[i].id, (int64_t)i + 1);
        ck_assert_str_eq(items[i].name, names[i]);
        ck_assert_int_eq(items[i].price, prices[i]);
        ck_assert_int_eq(items[i].stock, stocks[i]);
    }
    free(items);
}
END_TEST

START_TEST(test_no_seed_when_items_exist)
{
    new_item("Pen", 100, 3);
    bool seeded = true;
    ck_assert_int_eq(item_store_seed_if_empty(store, &seeded), 0);
    ck_assert(!seeded);
    item *items = NULL;
    size_t n = 0;
    ck_assert_int_eq(item_store_list(store, &items, &n), SHOP_OK);
    ck_assert_uint_eq(n, 1);
    free(items);
}
END_TEST

START_TEST(test_create_get_list)
{
    item *items = NULL;
    size_t n = 99;
    ck_assert_int_eq(item_store_list(store, &items, &n), SHOP_OK);
    ck_assert_uint_eq(n, 0);
    ck_assert_ptr_null(items);

    int64_t a = new_item("Pen", 1500, 7);
    int64_t b = new_item("\xea\xb0\x80\xeb\x82\x98", 0, 0); /* UTF-8 name */
    ck_assert_int_eq(b, a + 1);
    item it;
    ck_assert_int_eq(item_store_get(store, a, &it), SHOP_OK);
    ck_assert_int_eq(it.id, a);
    ck_assert_str_eq(it.name, "Pen");
    ck_assert_int_eq(it.price, 1500);
    ck_assert_int_eq(it.stock, 7);
    ck_assert_int_eq(item_store_get(store, b + 1, &it), SHOP_ENOTFOUND);

    ck_assert_int_eq(item_store_list(store, &items, &n), SHOP_OK);
    ck_assert_uint_eq(n, 2);
    ck_assert_int_eq(items[0].id, a);
    ck_assert_str_eq(items[1].name, "\xea\xb0\x80\xeb\x82\x98");
    free(items);
}
END_TEST

START_TEST(test_list_many)
{
    char name[32];
    for (int i = 0; i < 40; i++) {
        snprintf(name, sizeof name, "item %d", i);
        new_item(name, i, i);
    }
    item *items = NULL;
    size_t n = 0;
    ck_assert_int_eq(item_store_list(store, &items, &n), SHOP_OK);
    ck_assert_uint_eq(n, 40);
    ck_assert_str_eq(items[39].name, "item 39");
    ck_assert_int_eq(items[39].stock, 39);
    free(items);
}
END_TEST

START_TEST(test_check_changes_nothing)
{
    int64_t a = new_item("A", 100, 5);
    int64_t b = new_item("B", 200, 2);
    item_line lines[2] = {line(a, 5), line(b, 1)};
    int failed = 7;
    ck_assert_int_eq(item_store_check(store, lines, 2, &failed), ITEM_OK);
    ck_assert_int_eq(failed, -1);
    ck_assert_int_eq(lines[0].unit_price, 100);
    ck_assert_int_eq(lines[0].stock, 5);
    ck_assert_int_eq(lines[1].unit_price, 200);
    ck_assert_int_eq(lines[1].stock, 2);
    ck_assert_int_eq(stock_of(a), 5);

    lines[1] = line(b, 3);
    ck_assert_int_eq(item_store_check(store, lines, 2, &failed), ITEM_OUT_OF_STOCK);
    ck_assert_int_eq(failed, 1);
    ck_assert_int_eq(lines[1].stock, 2);

    lines[0] = line(b + 100, 1);
    ck_assert_int_eq(item_store_check(store, lines, 2, &failed), ITEM_NOT_FOUND);
    ck_assert_int_eq(failed, 0);
    ck_assert_int_eq(stock_of(a), 5);
    ck_assert_int_eq(stock_of(b), 2);
}
END_TEST

START_TEST(test_deduct_all_or_none)
{
    int64_t a = new_item("A", 100, 5);
    int64_t b = new_item("B", 200, 2);
    item_line lines[2] = {line(a, 3), line(b, 3)};
    item_reservation res;
    int failed = -1;
    ck_assert_int_eq(item_store_deduct(store, 1, lines, 2, &res, &failed), ITEM_OUT_OF_STOCK);
    ck_assert_int_eq(failed, 1);
    ck_assert_int_eq(lines[1].stock, 2);
    ck_assert_int_eq(stock_of(a), 5); /* line 0 would have fitted: not taken */
    ck_assert_int_eq(stock_of(b), 2);
    ck_assert_int_eq(item_store_get_reservation(store, 1, &res), ITEM_NOT_FOUND);

    lines[1] = line(b, 2);
    ck_assert_int_eq(item_store_deduct(store, 1, lines, 2, &res, &failed), ITEM_OK);
    ck_assert_int_eq(stock_of(a), 2);
    ck_assert_int_eq(stock_of(b), 0);
    ck_assert_int_eq(res.order_id, 1);
    ck_assert(!res.released);
    ck_assert_int_eq(res.n_lines, 2);
    ck_assert_int_eq(res.lines[0].item_id, a);
    ck_assert_int_eq(res.lines[0].quantity, 3);
    ck_assert_int_eq(res.lines[0].unit_price, 100);
    ck_assert_int_eq(res.lines[1].item_id, b);
    ck_assert_int_eq(res.lines[1].quantity, 2);
    ck_assert_int_eq(res.lines[1].unit_price, 200);

    item_reservation got;
    ck_assert_int_eq(item_store_get_reservation(store, 1, &got), ITEM_OK);
    ck_assert(!got.released);
    ck_assert_int_eq(got.n_lines, 2);
    ck_assert_int_eq(got.lines[1].item_id, b);
    ck_assert_int_eq(got.lines[1].quantity, 2);
    ck_assert_int_eq(got.lines[1].unit_price, 200);
    ck_assert_int_gt(got.created_at, 1600000000);
}
END_TEST

START_TEST(test_deduct_unknown_item_takes_nothing)
{
    int64_t a = new_item("A", 100, 5);
    /* The unknown item decides even though line 0 is short. */
    item_line lines[2] = {line(a, 6), line(a + 1, 1)};
    item_reservation res;
    int failed = -1;
    ck_assert_int_eq(item_store_deduct(store, 2, lines, 2, &res, &failed), ITEM_NOT_FOUND);
    ck_assert_int_eq(failed, 1);
    lines[0] = line(a, 1);
    ck_assert_int_eq(item_store_deduct(store, 2, lines, 2, &res, &failed), ITEM_NOT_FOUND);
    ck_assert_int_eq(stock_of(a), 5);
    ck_assert_int_eq(item_store_get_reservation(store, 2, &res), ITEM_NOT_FOUND);
}
END_TEST

START_TEST(test_repeat_deducts_nothing)
{
    int64_t a = new_item("A", 100, 5);
    int64_t b = new_item("B", 300, 5);
    item_line lines[1] = {line(a, 2)};
    item_reservation res;
    int failed = -1;
    ck_assert_int_eq(item_store_deduct(store, 7, lines, 1, &res, &failed), ITEM_OK);
    ck_assert_int_eq(stock_of(a), 3);
    for (int i = 0; i < 3; i++) {
        item_line again[1] = {line(a, 2)};
        memset(&res, 0, sizeof res);
        ck_assert_int_eq(item_store_deduct(store, 7, again, 1, &res, &failed), ITEM_OK);
        ck_assert_int_eq(res.n_lines, 1);
        ck_assert_int_eq(res.lines[0].quantity, 2);
        ck_assert_int_eq(res.lines[0].unit_price, 100);
    }
    ck_assert_int_eq(stock_of(a), 3);
    /* A repeat with other lines answers the stored reservation, unchanged. */
    item_line other[2] = {line(a, 1), line(b, 1)};
    ck_assert_int_eq(item_store_deduct(store, 7, other, 2, &res, &failed), ITEM_OK);
    ck_assert_int_eq(res.n_lines, 1);
    ck_assert_int_eq(res.lines[0].item_id, a);
    ck_assert_int_eq(res.lines[0].quantity, 2);
    ck_assert_int_eq(stock_of(a), 3);
    ck_assert_int_eq(stock_of(b), 5);
}
END_TEST

START_TEST(test_restore_once)
{
    int64_t a = new_item("A", 100, 5);
    int64_t b = new_item("B", 300, 4);
    item_line lines[2] = {line(a, 2), line(b, 4)};
    item_reservation res;
    int failed = -1;
    bool gave_back = false;
    ck_assert_int_eq(item_store_deduct(store, 8, lines, 2, &res, &failed), ITEM_OK);
    ck_assert_int_eq(stock_of(a), 3);
    ck_assert_int_eq(stock_of(b), 0);

    ck_assert_int_eq(item_store_restore(store, 8, &res, &gave_back), ITEM_OK);
    ck_assert(gave_back);
    ck_assert(res.released);
    ck_assert_int_eq(res.n_lines, 2);
    ck_assert_int_eq(stock_of(a), 5);
    ck_assert_int_eq(stock_of(b), 4);

    for (int i = 0; i < 3; i++) {
        ck_assert_int_eq(item_store_restore(store, 8, &res, &gave_back), ITEM_OK);
        ck_assert(!gave_back);
        ck_assert(res.released);
    }
    ck_assert_int_eq(stock_of(a), 5);
    ck_assert_int_eq(stock_of(b), 4);

    /* Released for good: the same order cannot deduct again. */
    item_line again[2] = {line(a, 2), line(b, 4)};
    ck_assert_int_eq(item_store_deduct(store, 8, again, 2, &res, &failed), ITEM_RELEASED);
    ck_assert_int_eq(stock_of(a), 5);
    ck_assert_int_eq(stock_of(b), 4);

    item_reservation got;
    ck_assert_int_eq(item_store_get_reservation(store, 8, &got), ITEM_OK);
    ck_assert(got.released);
    ck_assert_int_eq(got.n_lines, 2); /* what it had taken stays on record */
    ck_assert_int_eq(got.lines[1].quantity, 4);
}
END_TEST

START_TEST(test_tombstone_refuses_late_deduct)
{
    int64_t a = new_item("A", 100, 5);
    item_reservation res;
    bool gave_back = true;
    ck_assert_int_eq(item_store_restore(store, 9, &res, &gave_back), ITEM_OK);
    ck_assert(!gave_back);
    ck_assert(res.released);
    ck_assert_int_eq(res.n_lines, 0);
    ck_assert_int_eq(res.order_id, 9);
    ck_assert_int_eq(stock_of(a), 5);

    item_line lines[1] = {line(a, 1)};
    int failed = -1;
    ck_assert_int_eq(item_store_deduct(store, 9, lines, 1, &res, &failed), ITEM_RELEASED);
    ck_assert_int_eq(stock_of(a), 5);
    item_reservation got;
    ck_assert_int_eq(item_store_get_reservation(store, 9, &got), ITEM_OK);
    ck_assert(got.released);
    ck_assert_int_eq(got.n_lines, 0);

    /* A second restore of the tombstone gives nothing back either. */
    ck_assert_int_eq(item_store_restore(store, 9, &res, &gave_back), ITEM_OK);
    ck_assert(!gave_back);
    ck_assert_int_eq(stock_of(a), 5);
}
END_TEST

START_TEST(test_out_of_stock_leaves_nothing)
{
    int64_t a = new_item("A", 100, 1);
    item_line lines[1] = {line(a, 2)};
    item_reservation res;
    int failed = -1;
    ck_assert_int_eq(item_store_deduct(store, 10, lines, 1, &res, &failed), ITEM_OUT_OF_STOCK);
    ck_assert_int_eq(failed, 0);
    ck_assert_int_eq(lines[0].stock, 1);
    ck_assert_int_eq(stock_of(a), 1);
    ck_assert_int_eq(item_store_get_reservation(store, 10, &res), ITEM_NOT_FOUND);
    /* Nothing was recorded, so the order may try again with what is left. */
    lines[0] = line(a, 1);
    ck_assert_int_eq(item_store_deduct(store, 10, lines, 1, &res, &failed), ITEM_OK);
    ck_assert_int_eq(stock_of(a), 0);
    /* And a restore after a refusal leaves a tombstone, taking nothing back. */
    lines[0] = line(a, 1);
    ck_assert_int_eq(item_store_deduct(store, 11, lines, 1, &res, &failed), ITEM_OUT_OF_STOCK);
    bool gave_back = true;
    ck_assert_int_eq(item_store_restore(store, 11, &res, &gave_back), ITEM_OK);
    ck_assert(!gave_back);
    ck_assert_int_eq(stock_of(a), 0);
}
END_TEST

START_TEST(test_survives_reopen)
{
    int64_t a = new_item("A", 100, 5);
    item_line lines[1] = {line(a, 2)};
    item_reservation res;
    int failed = -1;
    ck_assert_int_eq(item_store_deduct(store, 12, lines, 1, &res, &failed), ITEM_OK);
    db_close(store);
    store = NULL;
    ck_assert_int_eq(item_store_open(db_path, &store), 0);
    ck_assert_int_eq(stock_of(a), 3);
    ck_assert_int_eq(item_store_get_reservation(store, 12, &res), ITEM_OK);
    ck_assert_int_eq(res.n_lines, 1);
    bool seeded = true;
    ck_assert_int_eq(item_store_seed_if_empty(store, &seeded), 0);
    ck_assert(!seeded);
}
END_TEST

#define RACERS 24

struct racer {
    int64_t item_id;
    int64_t order_id;
    item_outcome outcome;
};

static void *race_deduct(void *arg)
{
    struct racer *r = arg;
    item_line lines[1] = {line(r->item_id, 1)};
    item_reservation res;
    int failed = -1;
    r->outcome = item_store_deduct(store, r->order_id, lines, 1, &res, &failed);
    return NULL;
}

START_TEST(test_concurrent_deducts)
{
    int64_t a = new_item("A", 100, 10);
    pthread_t threads[RACERS];
    struct racer racers[RACERS];
    for (int i = 0; i < RACERS; i++) {
        racers[i] = (struct racer){.item_id = a, .order_id = 100 + i, .outcome = ITEM_DB_ERROR};
        ck_assert_int_eq(pthread_create(&threads[i], NULL, race_deduct, &racers[i]), 0);
    }
    int ok = 0, short_ = 0;
    for (int i = 0; i < RACERS; i++) {
        pthread_join(threads[i], NULL);
        ok += racers[i].outcome == ITEM_OK;
        short_ += racers[i].outcome == ITEM_OUT_OF_STOCK;
    }
    ck_assert_int_eq(ok, 10);
    ck_assert_int_eq(short_, RACERS - 10);
    ck_assert_int_eq(stock_of(a), 0);
}
END_TEST

Suite *item_store_suite(void);

Suite *item_store_suite(void)
{
    Suite *s = suite_create("item_store");
    TCase *tc = tcase_create("core");
    tcase_add_checked_fixture(tc, setup, teardown);
    tcase_set_timeout(tc, 20);
    tcase_add_test(tc, test_seed_once);
    tcase_add_test(tc, test_no_seed_when_items_exist);
    tcase_add_test(tc, test_create_get_list);
    tcase_add_test(tc, test_list_many);
    tcase_add_test(tc, test_check_changes_nothing);
    tcase_add_test(tc, test_deduct_all_or_none);
    tcase_add_test(tc, test_deduct_unknown_item_takes_nothing);
    tcase_add_test(tc, test_repeat_deducts_nothing);
    tcase_add_test(tc, test_restore_once);
    tcase_add_test(tc, test_tombstone_refuses_late_deduct);
    tcase_add_test(tc, test_out_of_stock_leaves_nothing);
    tcase_add_test(tc, test_survives_reopen);
    tcase_add_test(tc, test_concurrent_deducts);
    suite_add_tcase(s, tc);
    return s;
}
