/* Unit tests of the shop-load record (load_record) and of the URL and JSON
 * helpers of load_http: render/parse round trips, refusals, the discount
 * rule, loopback checks. */
#include <stdlib.h>
#include <string.h>

#include <check.h>

#include "../load/load_http.h"
#include "../load/load_record.h"

static load_rec round_trip(const load_rec *in)
{
    char err[160] = "";
    load_rec out;
    char *line = load_record_render(in);
    ck_assert_ptr_nonnull(line);
    ck_assert_ptr_null(strchr(line, '\n'));
    ck_assert_msg(load_record_parse(line, &out, err, sizeof err), "%s: %s", line, err);
    free(line);
    return out;
}

static void assert_same(const load_rec *a, const load_rec *b, size_t i)
{
    ck_assert_msg(a->kind == b->kind && a->id == b->id && a->user_id == b->user_id &&
                      a->order_id == b->order_id && a->coupon_id == b->coupon_id &&
                      a->user_coupon_id == b->user_coupon_id && a->amount == b->amount &&
                      a->price == b->price && a->stock == b->stock && a->balance == b->balance &&
                      a->discount_type == b->discount_type && a->discount_value == b->discount_value &&
                      a->total_quantity == b->total_quantity && a->clients == b->clients &&
                      strcmp(a->key, b->key) == 0 && strcmp(a->text, b->text) == 0 &&
                      strcmp(a->url, b->url) == 0,
                  "line %zu differs after a round trip", i);
}

START_TEST(test_round_trip_every_kind)
{
    load_rec in[] = {
        {.kind = LOAD_REC_META, .clients = 64, .text = "ld1f", .url = "http://127.0.0.1:8080"},
        {.kind = LOAD_REC_ITEM, .id = 9, .price = 3000, .stock = 100000000},
        {.kind = LOAD_REC_USER, .id = 7, .balance = 100000000000LL},
        {.kind = LOAD_REC_COUPON, .id = 4, .discount_type = LOAD_DISCOUNT_PERCENT, .discount_value = 10,
         .total_quantity = 1000000},
        {.kind = LOAD_REC_ORDER, .id = 12, .user_id = 7, .amount = 9000, .user_coupon_id = 31, .key = "k-1"},
        {.kind = LOAD_REC_ORDER, .id = 13, .user_id = 7, .amount = 999999999999999LL, .key = "k-2"},
        {.kind = LOAD_REC_PAYMENT, .id = 5, .order_id = 12, .user_id = 7, .amount = 9000, .key = "k-3"},
        {.kind = LOAD_REC_CHARGE, .user_id = 7, .amount = 500, .key = "k \"4\""},
        {.kind = LOAD_REC_ISSUE, .id = 31, .coupon_id = 4, .user_id = 7, .key = "k-5"},
        {.kind = LOAD_REC_CANCEL, .order_id = 12, .user_id = 7},
        {.kind = LOAD_REC_DECLINED, .order_id = 14, .user_id = 8, .key = "k-6"},
    };
    for (size_t i = 0; i < sizeof in / sizeof in[0]; i++) {
        load_rec out = round_trip(&in[i]);
        assert_same(&out, &in[i], i);
    }
}
END_TEST

START_TEST(test_parse_exact_fields)
{
    load_rec r;
    char err[160];
    ck_assert(load_record_parse("{\"t\":\"order\",\"id\":12,\"userId\":7,\"finalAmount\":9000,"
                                "\"userCouponId\":null,\"key\":\"abc\"}",
                                &r, err, sizeof err));
    ck_assert_int_eq(r.kind, LOAD_REC_ORDER);
    ck_assert_int_eq(r.id, 12);
    ck_assert_int_eq(r.user_id, 7);
    ck_assert_int_eq(r.amount, 9000);
    ck_assert_int_eq(r.user_coupon_id, 0);
    ck_assert_str_eq(r.key, "abc");
}
END_TEST

static void assert_refused(const char *line, const char *names)
{
    load_rec r;
    char err[160] = "";
    ck_assert_msg(!load_record_parse(line, &r, err, sizeof err), "accepted: %s", line);
    ck_assert_msg(strstr(err, names) != NULL, "'%s' does not name '%s'", err, names);
}

START_TEST(test_parse_refusals)
{
    assert_refused("not json", "JSON object");
    assert_refused("[1]", "JSON object");
    assert_refused("{\"t\":\"refund\",\"id\":1}", "t:");
    assert_refused("{\"id\":1}", "t:");
    assert_refused("{\"t\":\"item\",\"id\":1,\"price\":2}", "stock");
    assert_refused("{\"t\":\"item\",\"id\":1.5,\"price\":2,\"stock\":3}", "id");
    assert_refused("{\"t\":\"item\",\"id\":\"1\",\"price\":2,\"stock\":3}", "id");
    assert_refused("{\"t\":\"user\",\"id\":1,\"balance\":1e300}", "balance");
    assert_refused("{\"t\":\"charge\",\"userId\":1,\"amount\":2}", "key");
    assert_refused("{\"t\":\"coupon\",\"id\":1,\"discountValue\":2,\"totalQuantity\":3,"
                   "\"discountType\":\"HALF\"}",
                   "discountType");
    assert_refused("{\"t\":\"order\",\"id\":1,\"userId\":2,\"finalAmount\":3,\"userCouponId\":\"x\","
                   "\"key\":\"k\"}",
                   "userCouponId");
    assert_refused("{\"t\":\"meta\",\"clients\":1,\"run\":\"r\"}", "url");
}
END_TEST

START_TEST(test_discount_rule)
{
    ck_assert_int_eq(load_discount_amount(LOAD_DISCOUNT_FIXED, 5000, 100000), 5000);
    ck_assert_int_eq(load_discount_amount(LOAD_DISCOUNT_FIXED, 5000, 3000), 3000);
    ck_assert_int_eq(load_discount_amount(LOAD_DISCOUNT_PERCENT, 10, 1999), 199);
    ck_assert_int_eq(load_discount_amount(LOAD_DISCOUNT_PERCENT, 100, 1999), 1999);
    ck_assert_int_eq(load_discount_amount(LOAD_DISCOUNT_PERCENT, 33, 50000000000LL), 16500000000LL);
    ck_assert_int_eq(load_discount_amount(LOAD_DISCOUNT_NONE, 10, 1999), 0);
    ck_assert_int_eq(load_discount_from("FIXED"), LOAD_DISCOUNT_FIXED);
    ck_assert_int_eq(load_discount_from("PERCENT"), LOAD_DISCOUNT_PERCENT);
    ck_assert_int_eq(load_discount_from("fixed"), LOAD_DISCOUNT_NONE);
    ck_assert_int_eq(load_discount_from(NULL), LOAD_DISCOUNT_NONE);
}
END_TEST

START_TEST(test_loopback_urls)
{
    ck_assert(load_url_is_loopback("http://127.0.0.1:8080"));
    ck_assert(load_url_is_loopback("http://127.1.2.3:18080/"));
    ck_assert(load_url_is_loopback("http://localhost:8080"));
    ck_assert(load_url_is_loopback("http://[::1]:8080"));
    ck_assert(!load_url_is_loopback("http://10.0.0.1:8080"));
    ck_assert(!load_url_is_loopback("http://127.0.0.1.example.com:8080"));
    ck_assert(!load_url_is_loopback("http://example.com:8080"));
    ck_assert(!load_url_is_loopback("https://127.0.0.1:8080"));
    ck_assert(!load_url_is_loopback("http://user@evil.com@127.0.0.1:80"));
    ck_assert(!load_url_is_loopback("127.0.0.1:8080"));
    ck_assert(!load_url_is_loopback(NULL));
    ck_assert_int_eq(load_url_port("http://127.0.0.1:18080"), 18080);
    ck_assert_int_eq(load_url_port("http://127.0.0.1:18080/x"), 18080);
    ck_assert_int_eq(load_url_port("http://127.0.0.1"), 80);
    ck_assert_int_eq(load_url_port("http://127.0.0.1:0"), -1);
    ck_assert_int_eq(load_url_port("http://127.0.0.1:99999"), -1);
    ck_assert_int_eq(load_url_port("http://127.0.0.1:80x"), -1);
}
END_TEST

START_TEST(test_json_ints)
{
    cJSON *o = cJSON_Parse("{\"a\":3,\"b\":1.5,\"c\":\"3\",\"d\":null,\"e\":999999999999999,"
                           "\"f\":1e16,\"g\":-4}");
    int64_t v = -1;
    ck_assert(load_json_int(o, "a", &v));
    ck_assert_int_eq(v, 3);
    ck_assert(!load_json_int(o, "b", &v));
    ck_assert(!load_json_int(o, "c", &v));
    ck_assert(!load_json_int(o, "d", &v));
    ck_assert(!load_json_int(o, "missing", &v));
    ck_assert(load_json_int(o, "e", &v));
    ck_assert_int_eq(v, 999999999999999LL);
    ck_assert(!load_json_int(o, "f", &v));
    ck_assert(load_json_int(o, "g", &v));
    ck_assert_int_eq(v, -4);
    v = 9;
    ck_assert(load_json_id_or_null(o, "d", &v));
    ck_assert_int_eq(v, 0);
    ck_assert(load_json_id_or_null(o, "missing", &v));
    ck_assert(!load_json_id_or_null(o, "c", &v));
    ck_assert_str_eq(load_json_str(o, "c"), "3");
    ck_assert_ptr_null(load_json_str(o, "a"));
    cJSON_Delete(o);
}
END_TEST

Suite *load_record_suite(void)
{
    Suite *s = suite_create("load_record");
    TCase *tc = tcase_create("record");
    tcase_add_test(tc, test_round_trip_every_kind);
    tcase_add_test(tc, test_parse_exact_fields);
    tcase_add_test(tc, test_parse_refusals);
    tcase_add_test(tc, test_discount_rule);
    tcase_add_test(tc, test_loopback_urls);
    tcase_add_test(tc, test_json_ints);
    suite_add_tcase(s, tc);
    return s;
}
