/* Unit tests of services/order/order_logic.c: statuses and transitions, line
 * validation, request parsing, discounts and amounts, reservation prices,
 * the stale cutoff, the Order JSON, and the saga log's steps and view. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <check.h>

#include "../../services/order/order_logic.h"

/* Parses a body for the tests (must be valid JSON). */
static cJSON *parse(const char *text)
{
    cJSON *j = cJSON_Parse(text);
    ck_assert_ptr_nonnull(j);
    return j;
}

/* order_parse_create on text; returns the verdict, err filled. */
static bool parse_create(const char *text, order_create_req *rq, json_err *err)
{
    cJSON *j = parse(text);
    bool ok = order_parse_create(j, rq, err);
    cJSON_Delete(j);
    return ok;
}

START_TEST(test_status_names_round_trip)
{
    static const char *const names[] = {"PENDING",    "CREATED",   "PAID",
                                        "CANCELLING", "CANCELLED", "FAILED"};
    for (int i = 0; i < ORDER_N_STATUS; i++) {
        order_status s;
        ck_assert_str_eq(order_status_name((order_status)i), names[i]);
        ck_assert(order_status_parse(names[i], &s));
        ck_assert_int_eq(s, i);
    }
    order_status s;
    ck_assert(!order_status_parse("created", &s));
    ck_assert(!order_status_parse("", &s));
    ck_assert(!order_status_parse("PAID ", &s));
    ck_assert_str_eq(order_status_name((order_status)99), "?");
}
END_TEST

START_TEST(test_transitions_exactly_those_of_design)
{
    int allowed = 0;
    for (int from = 0; from < ORDER_N_STATUS; from++)
        for (int to = 0; to < ORDER_N_STATUS; to++)
            allowed += order_transition_allowed((order_status)from, (order_status)to);
    ck_assert_int_eq(allowed, 5);
    ck_assert(order_transition_allowed(ORDER_PENDING, ORDER_CREATED));
    ck_assert(order_transition_allowed(ORDER_PENDING, ORDER_FAILED));
    ck_assert(order_transition_allowed(ORDER_CREATED, ORDER_PAID));
    ck_assert(order_transition_allowed(ORDER_CREATED, ORDER_CANCELLING));
    ck_assert(order_transition_allowed(ORDER_CANCELLING, ORDER_CANCELLED));
    ck_assert(!order_transition_allowed(ORDER_CREATED, ORDER_CANCELLED));
    ck_assert(!order_transition_allowed(ORDER_PAID, ORDER_CANCELLING));
    ck_assert(!order_transition_allowed(ORDER_CANCELLING, ORDER_PAID));
    ck_assert(order_status_final(ORDER_PAID) && order_status_final(ORDER_CANCELLED) &&
              order_status_final(ORDER_FAILED));
    ck_assert(!order_status_final(ORDER_PENDING) && !order_status_final(ORDER_CREATED) &&
              !order_status_final(ORDER_CANCELLING));
}
END_TEST

START_TEST(test_validate_lines)
{
    order_line lines[ORDER_MAX_LINES + 1];
    json_err err;
    for (int i = 0; i <= ORDER_MAX_LINES; i++)
        lines[i] = (order_line){.item_id = i + 1, .quantity = 1};
    ck_assert(order_validate_lines(lines, ORDER_MAX_LINES, &err));
    ck_assert(!order_validate_lines(lines, ORDER_MAX_LINES + 1, &err));
    ck_assert_str_eq(err.msg, "items: must have 1..50 elements");
    ck_assert(!order_validate_lines(lines, 0, &err));
    lines[3].quantity = 0;
    ck_assert(!order_validate_lines(lines, 5, &err));
    ck_assert_str_eq(err.msg, "items[3].quantity: must be an integer in 1..1000");
    lines[3].quantity = 1001;
    ck_assert(!order_validate_lines(lines, 5, &err));
    lines[3].quantity = 1000;
    ck_assert(order_validate_lines(lines, 5, &err));
    lines[4].item_id = 2;
    ck_assert(!order_validate_lines(lines, 5, &err));
    ck_assert_str_eq(err.msg, "items[4].itemId: item 2 appears twice");
    lines[4].item_id = ORDER_ID_MAX + 1;
    ck_assert(!order_validate_lines(lines, 5, &err));
    lines[4].item_id = 0;
    ck_assert(!order_validate_lines(lines, 5, &err));
    lines[4].item_id = ORDER_ID_MAX;
    ck_assert(order_validate_lines(lines, 5, &err));
}
END_TEST

START_TEST(test_parse_create_valid)
{
    order_create_req rq;
    json_err err;
    ck_assert(parse_create("{\"userId\":1,\"items\":[{\"itemId\":3,\"quantity\":2},"
                           "{\"itemId\":1,\"quantity\":1000}],\"userCouponId\":7}",
                           &rq, &err));
    ck_assert_int_eq(rq.user_id, 1);
    ck_assert_int_eq(rq.user_coupon_id, 7);
    ck_assert_uint_eq(rq.n_lines, 2);
    ck_assert_int_eq(rq.lines[0].item_id, 3);
    ck_assert_int_eq(rq.lines[0].quantity, 2);
    ck_assert_int_eq(rq.lines[1].item_id, 1);
    ck_assert_int_eq(rq.lines[1].quantity, 1000);
    ck_assert_int_eq(rq.lines[1].unit_price, 0);
    ck_assert(parse_create("{\"userId\":2,\"items\":[{\"itemId\":3,\"quantity\":2}],"
                           "\"userCouponId\":null}",
                           &rq, &err));
    ck_assert_int_eq(rq.user_coupon_id, 0);
    ck_assert(parse_create("{\"userId\":999999999999999,\"items\":[{\"itemId\":1,\"quantity\":1}]}",
                           &rq, &err));
    ck_assert_int_eq(rq.user_id, 999999999999999LL);
    ck_assert_int_eq(rq.user_coupon_id, 0);
}
END_TEST

/* Each body must be refused with a message that starts with want. */
START_TEST(test_parse_create_refusals)
{
    static const struct {
        const char *body, *want;
    } cases[] = {
        {"{\"items\":[{\"itemId\":1,\"quantity\":1}]}", "userId"},
        {"{\"userId\":0,\"items\":[{\"itemId\":1,\"quantity\":1}]}", "userId"},
        {"{\"userId\":\"1\",\"items\":[{\"itemId\":1,\"quantity\":1}]}", "userId"},
        {"{\"userId\":1}", "items"},
        {"{\"userId\":1,\"items\":[]}", "items"},
        {"{\"userId\":1,\"items\":{}}", "items"},
        {"{\"userId\":1,\"items\":[5]}", "items[0]"},
        {"{\"userId\":1,\"items\":[{\"itemId\":1,\"quantity\":0}]}", "items[0].quantity"},
        {"{\"userId\":1,\"items\":[{\"itemId\":1,\"quantity\":1001}]}", "items[0].quantity"},
        {"{\"userId\":1,\"items\":[{\"itemId\":1,\"quantity\":1.5}]}", "items[0].quantity"},
        {"{\"userId\":1,\"items\":[{\"itemId\":1,\"quantity\":\"3\"}]}", "items[0].quantity"},
        {"{\"userId\":1,\"items\":[{\"itemId\":1}]}", "items[0].quantity"},
        {"{\"userId\":1,\"items\":[{\"itemId\":-1,\"quantity\":1}]}", "items[0].itemId"},
        {"{\"userId\":1,\"items\":[{\"itemId\":1e400,\"quantity\":1}]}", "items[0].itemId"},
        {"{\"userId\":1,\"items\":[{\"itemId\":1,\"quantity\":1},{\"itemId\":1,\"quantity\":2}]}",
         "items[1].itemId"},
        {"{\"userId\":1,\"items\":[{\"itemId\":1,\"quantity\":1}],\"userCouponId\":0}",
         "userCouponId"},
        {"{\"userId\":1,\"items\":[{\"itemId\":1,\"quantity\":1}],\"userCouponId\":\"7\"}",
         "userCouponId"},
        {"[1]", "body"},
    };
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        order_create_req rq;
        json_err err = {{0}};
        cJSON *j = cJSON_Parse(cases[i].body);
        ck_assert_msg(j != NULL, "case %zu does not parse", i);
        ck_assert_msg(!order_parse_create(j, &rq, &err), "case %zu accepted: %s", i, cases[i].body);
        cJSON_Delete(j);
        ck_assert_msg(strncmp(err.msg, cases[i].want, strlen(cases[i].want)) == 0,
                      "case %zu: message '%s' does not name %s", i, err.msg, cases[i].want);
    }
}
END_TEST

START_TEST(test_parse_create_51_lines)
{
    char body[4096];
    size_t len = (size_t)snprintf(body, sizeof body, "{\"userId\":1,\"items\":[");
    for (int i = 1; i <= 51; i++)
        len += (size_t)snprintf(body + len, sizeof body - len, "%s{\"itemId\":%d,\"quantity\":1}",
                                i > 1 ? "," : "", i);
    snprintf(body + len, sizeof body - len, "]}");
    order_create_req rq;
    json_err err;
    ck_assert(!parse_create(body, &rq, &err));
    ck_assert_str_eq(err.msg, "items: must have 1..50 elements");
}
END_TEST

START_TEST(test_discount)
{
    int64_t d;
    ck_assert(order_discount("FIXED", 5000, 100000, &d));
    ck_assert_int_eq(d, 5000);
    ck_assert(order_discount("FIXED", 5000, 3000, &d));
    ck_assert_int_eq(d, 3000);
    ck_assert(order_discount("FIXED", 5000, 0, &d));
    ck_assert_int_eq(d, 0);
    ck_assert(order_discount("PERCENT", 10, 12345, &d));
    ck_assert_int_eq(d, 1234);
    ck_assert(order_discount("PERCENT", 100, 12345, &d));
    ck_assert_int_eq(d, 12345);
    ck_assert(order_discount("PERCENT", 33, 50000000000000LL, &d));
    ck_assert_int_eq(d, 16500000000000LL);
    ck_assert(!order_discount("PERCENT", 101, 100, &d));
    ck_assert(!order_discount("PERCENT", 0, 100, &d));
    ck_assert(!order_discount("FIXED", 0, 100, &d));
    ck_assert(!order_discount("fixed", 10, 100, &d));
    ck_assert(!order_discount(NULL, 10, 100, &d));
}
END_TEST

START_TEST(test_amounts)
{
    order_line lines[] = {{1, 2, 50000}, {2, 3, 20000}, {4, 1000, 5000}};
    order_amounts a;
    ck_assert(order_compute_amounts(lines, 3, 5000, &a));
    ck_assert_int_eq(a.total, 2 * 50000 + 3 * 20000 + 1000 * 5000);
    ck_assert_int_eq(a.discount, 5000);
    ck_assert_int_eq(a.final_amount, 5160000 - 5000);
    ck_assert(order_compute_amounts(lines, 3, 5160000, &a));
    ck_assert_int_eq(a.final_amount, 0);
    ck_assert(!order_compute_amounts(lines, 3, 5160001, &a));
    ck_assert(!order_compute_amounts(lines, 3, -1, &a));
    lines[1].unit_price = ORDER_PRICE_MAX + 1;
    ck_assert(!order_compute_amounts(lines, 3, 0, &a));
    lines[1].unit_price = -1;
    ck_assert(!order_compute_amounts(lines, 3, 0, &a));
    /* The largest order: 50 lines of 1000 units at the top price. */
    order_line big[ORDER_MAX_LINES];
    for (int i = 0; i < ORDER_MAX_LINES; i++)
        big[i] = (order_line){i + 1, ORDER_MAX_QUANTITY, ORDER_PRICE_MAX};
    ck_assert(order_compute_amounts(big, ORDER_MAX_LINES, 0, &a));
    ck_assert_int_eq(a.total, 50000000000000LL);
}
END_TEST

START_TEST(test_take_prices)
{
    char why[160];
    order_line lines[] = {{1, 2, 0}, {3, 1, 0}};
    cJSON *reply = parse("{\"orderId\":9,\"status\":\"DEDUCTED\",\"items\":["
                         "{\"itemId\":3,\"quantity\":1,\"unitPrice\":300000},"
                         "{\"itemId\":1,\"quantity\":2,\"unitPrice\":50000}]}");
    ck_assert(order_take_prices(lines, 2, reply, why, sizeof why));
    ck_assert_int_eq(lines[0].unit_price, 50000);
    ck_assert_int_eq(lines[1].unit_price, 300000);
    cJSON_Delete(reply);

    static const char *const bad[] = {
        "{\"items\":[{\"itemId\":1,\"quantity\":2,\"unitPrice\":1}]}",
        "{\"items\":[{\"itemId\":1,\"quantity\":2,\"unitPrice\":1},"
        "{\"itemId\":3,\"quantity\":2,\"unitPrice\":1}]}",
        "{\"items\":[{\"itemId\":1,\"quantity\":2,\"unitPrice\":1},"
        "{\"itemId\":4,\"quantity\":1,\"unitPrice\":1}]}",
        "{\"items\":[{\"itemId\":1,\"quantity\":2,\"unitPrice\":1},"
        "{\"itemId\":1,\"quantity\":2,\"unitPrice\":1}]}",
        "{\"items\":[{\"itemId\":1,\"quantity\":2,\"unitPrice\":-5},"
        "{\"itemId\":3,\"quantity\":1,\"unitPrice\":1}]}",
        "{\"items\":[{\"itemId\":1,\"quantity\":2},{\"itemId\":3,\"quantity\":1,\"unitPrice\":1}]}",
        "{\"orderId\":9}",
    };
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
        cJSON *j = parse(bad[i]);
        ck_assert_msg(!order_take_prices(lines, 2, j, why, sizeof why), "case %zu accepted", i);
        cJSON_Delete(j);
    }
}
END_TEST

START_TEST(test_stale_cutoff)
{
    /* A row stamped at second s is certainly older than age when s <= cutoff. */
    ck_assert_int_eq(order_stale_cutoff(100, 3000), 96);
    ck_assert_int_eq(order_stale_cutoff(100, 2500), 96);
    ck_assert_int_eq(order_stale_cutoff(100, 1), 98);
    ck_assert_int_eq(order_stale_cutoff(100, 0), 99);
    ck_assert_int_eq(order_stale_cutoff(1000, 900000), 99);
}
END_TEST

START_TEST(test_render_exact)
{
    order_rec o = {
        .id = 12,
        .user_id = 1,
        .status = ORDER_CREATED,
        .user_coupon_id = 7,
        .total_amount = 100000,
        .discount_amount = 5000,
        .final_amount = 95000,
        .created_at = 1795521600, /* 2026-11-24T12:00:00Z */
        .updated_at = 1795521601,
        .n_lines = 1,
        .lines = {{1, 2, 50000}},
    };
    cJSON *j = order_render(&o);
    char *text = cJSON_PrintUnformatted(j);
    ck_assert_str_eq(text,
                     "{\"id\":12,\"userId\":1,\"status\":\"CREATED\",\"items\":[{\"itemId\":1,"
                     "\"quantity\":2,\"unitPrice\":50000}],\"userCouponId\":7,"
                     "\"totalAmount\":100000,\"discountAmount\":5000,\"finalAmount\":95000,"
                     "\"paymentId\":null,\"createdAt\":\"2026-11-24T12:00:00Z\","
                     "\"updatedAt\":\"2026-11-24T12:00:01Z\"}");
    cJSON_free(text);
    cJSON_Delete(j);
    o.user_coupon_id = 0;
    o.status = ORDER_PAID;
    o.payment_id = 5;
    j = order_render(&o);
    ck_assert(cJSON_IsNull(cJSON_GetObjectItem(j, "userCouponId")));
    ck_assert_int_eq((int)cJSON_GetObjectItem(j, "paymentId")->valuedouble, 5);
    ck_assert_str_eq(cJSON_GetObjectItem(j, "status")->valuestring, "PAID");
    cJSON_Delete(j);
}
END_TEST

/* ---- the saga log ---------------------------------------------------------- */

START_TEST(test_step_time_format)
{
    char at[ORDER_STEP_AT_LEN];
    order_step_format_at(1764000000123456LL, at);
    ck_assert_str_eq(at, "2025-11-24T16:00:00.123456Z");
    order_step_format_at(1764000000000007LL, at);
    ck_assert_str_eq(at, "2025-11-24T16:00:00.000007Z");
    order_step_format_at(0, at);
    ck_assert_str_eq(at, "1970-01-01T00:00:00.000000Z");
    order_step_format_at(-5, at);
    ck_assert_str_eq(at, "1970-01-01T00:00:00.000000Z");
    /* Fixed width: later times sort later as strings. */
    char later[ORDER_STEP_AT_LEN];
    order_step_format_at(1764000000123457LL, at);
    order_step_format_at(1764000001000000LL, later);
    ck_assert_int_lt(strcmp(at, later), 0);
}
END_TEST

START_TEST(test_step_set_and_buffer)
{
    order_steps log;
    order_steps_init(&log, "rid-1", "recovery.");
    ck_assert_int_eq(log.n, 0);
    for (int i = 0; i < ORDER_STEPS_MAX; i++)
        ck_assert_ptr_nonnull(order_steps_next(&log));
    ck_assert_ptr_null(order_steps_next(&log));
    ck_assert_int_eq(log.n, ORDER_STEPS_MAX);
    order_step st;
    order_step_set(&st, 42, log.prefix, "stock.restore", "item", 200, NULL, -3, log.request_id,
                   true);
    ck_assert_str_eq(st.step, "recovery.stock.restore");
    ck_assert_str_eq(st.peer, "item");
    ck_assert_str_eq(st.error, "");
    ck_assert_int_eq(st.duration_ms, 0); /* a clock step back is not a negative duration */
    ck_assert_str_eq(st.request_id, "rid-1");
    ck_assert(st.compensation);
    order_step_set(&st, 42, NULL, "order.created", NULL, 0,
                   "a-very-long-error-code-that-does-not-fit-"
                   "in-the-field-at-all",
                   0, NULL, false);
    ck_assert_str_eq(st.step, "order.created");
    ck_assert_int_eq(strlen(st.error), ORDER_STEP_ERROR_LEN - 1);
}
END_TEST

START_TEST(test_step_render_exact)
{
    order_step st;
    order_step_set(&st, 1764000000123456LL, NULL, "stock.deduct", "item", 409, "OUT_OF_STOCK", 3,
                   "rid-9", false);
    cJSON *j = order_step_render(&st, "order");
    char *text = cJSON_PrintUnformatted(j);
    ck_assert_str_eq(text, "{\"at\":\"2025-11-24T16:00:00.123456Z\",\"service\":\"order\","
                           "\"step\":\"stock.deduct\",\"peer\":\"item\",\"httpStatus\":409,"
                           "\"error\":\"OUT_OF_STOCK\",\"durationMs\":3,\"requestId\":\"rid-9\","
                           "\"compensation\":false,\"paymentId\":null}");
    cJSON_free(text);
    cJSON_Delete(j);
    order_step_set(&st, 0, NULL, "order.paid", NULL, 0, NULL, 0, NULL, false);
    st.payment_id = 5;
    j = order_step_render(&st, "order");
    text = cJSON_PrintUnformatted(j);
    ck_assert_str_eq(text, "{\"at\":\"1970-01-01T00:00:00.000000Z\",\"service\":\"order\","
                           "\"step\":\"order.paid\",\"peer\":null,\"httpStatus\":null,"
                           "\"error\":null,\"durationMs\":0,\"requestId\":null,"
                           "\"compensation\":false,\"paymentId\":5}");
    cJSON_free(text);
    cJSON_Delete(j);
}
END_TEST

/* The "step" of the view's steps, joined by spaces. */
static void view_names(const cJSON *view, char *out, size_t len)
{
    const cJSON *st;
    size_t used = 0;
    out[0] = '\0';
    cJSON_ArrayForEach(st, cJSON_GetObjectItem(view, "steps"))
    {
        used += (size_t)snprintf(out + used, len - used, "%s%s", used > 0 ? " " : "",
                                 cJSON_GetObjectItem(st, "step")->valuestring);
    }
}

START_TEST(test_saga_view_merges_in_time_order)
{
    order_rec o = {.id = 12, .status = ORDER_CANCELLED};
    order_step own[3];
    order_step_set(&own[0], 1764000000000001LL, NULL, "a", "item", 200, NULL, 1, "r", false);
    order_step_set(&own[1], 1764000000000003LL, NULL, "c", NULL, 0, NULL, 0, "r", false);
    order_step_set(&own[2], 1764000000000005LL, NULL, "e", "item", 200, NULL, 0, "r", true);
    cJSON *pay = parse(
        "[{\"at\":\"2025-11-24T16:00:00.000004Z\",\"service\":\"payment\",\"step\":\"d\","
        "\"peer\":\"user\",\"httpStatus\":402,\"error\":\"INSUFFICIENT_BALANCE\",\"durationMs\":7,"
        "\"requestId\":\"p\",\"compensation\":false,\"paymentId\":3,\"secret\":\"dropped\"},"
        "{\"at\":\"2025-11-24T16:00:00.000002Z\",\"service\":\"payment\",\"step\":\"b\"},"
        "{\"at\":\"2025-11-24T16:00:00.000005Z\",\"service\":\"payment\",\"step\":\"f\","
        "\"httpStatus\":\"200\",\"compensation\":1,\"peer\":7},"
        "{\"step\":\"no time\"},"
        "{\"at\":\"2025-11-24T16:00:00Z\",\"step\":\"short time\"},"
        "{\"at\":\"2025-11-24T16:00:00.000002X\",\"step\":\"bad time\"},"
        "{\"at\":\"2025-11-24T16:00:00.000002Z\"},"
        "{\"at\":\"2025-11-24T16:00:00.000002Z\",\"step\":\"\"},"
        "{\"at\":12,\"step\":\"x\"},"
        "7]");
    cJSON *view = order_render_saga(&o, own, 3, pay, false);
    ck_assert_ptr_nonnull(view);
    char names[200];
    view_names(view, names, sizeof names);
    /* A tie (e and f at .000005) lists order's step first. */
    ck_assert_str_eq(names, "a b c d e f");
    ck_assert_int_eq((int)cJSON_GetObjectItem(view, "orderId")->valuedouble, 12);
    ck_assert_str_eq(cJSON_GetObjectItem(view, "status")->valuestring, "CANCELLED");
    ck_assert(cJSON_IsFalse(cJSON_GetObjectItem(view, "partial")));
    const cJSON *steps = cJSON_GetObjectItem(view, "steps");
    char *d = cJSON_PrintUnformatted(cJSON_GetArrayItem(steps, 3));
    ck_assert_str_eq(d, "{\"at\":\"2025-11-24T16:00:00.000004Z\",\"service\":\"payment\","
                        "\"step\":\"d\",\"peer\":\"user\",\"httpStatus\":402,"
                        "\"error\":\"INSUFFICIENT_BALANCE\",\"durationMs\":7,\"requestId\":\"p\","
                        "\"compensation\":false,\"paymentId\":3}");
    cJSON_free(d);
    /* Members of the wrong type become null (or false). */
    char *f = cJSON_PrintUnformatted(cJSON_GetArrayItem(steps, 5));
    ck_assert_str_eq(f, "{\"at\":\"2025-11-24T16:00:00.000005Z\",\"service\":\"payment\","
                        "\"step\":\"f\",\"peer\":null,\"httpStatus\":null,\"error\":null,"
                        "\"durationMs\":0,\"requestId\":null,\"compensation\":false,"
                        "\"paymentId\":null}");
    cJSON_free(f);
    cJSON_Delete(view);
    cJSON_Delete(pay);
    /* Without payment-service: only the order's steps, and it says so. */
    view = order_render_saga(&o, own, 3, NULL, true);
    view_names(view, names, sizeof names);
    ck_assert_str_eq(names, "a c e");
    ck_assert(cJSON_IsTrue(cJSON_GetObjectItem(view, "partial")));
    cJSON_Delete(view);
    /* No steps at all. */
    view = order_render_saga(&o, NULL, 0, NULL, false);
    ck_assert_int_eq(cJSON_GetArraySize(cJSON_GetObjectItem(view, "steps")), 0);
    cJSON_Delete(view);
}
END_TEST

Suite *order_logic_suite(void);

Suite *order_logic_suite(void)
{
    Suite *s = suite_create("order_logic");
    TCase *tc = tcase_create("logic");
    tcase_add_test(tc, test_status_names_round_trip);
    tcase_add_test(tc, test_transitions_exactly_those_of_design);
    tcase_add_test(tc, test_validate_lines);
    tcase_add_test(tc, test_parse_create_valid);
    tcase_add_test(tc, test_parse_create_refusals);
    tcase_add_test(tc, test_parse_create_51_lines);
    tcase_add_test(tc, test_discount);
    tcase_add_test(tc, test_amounts);
    tcase_add_test(tc, test_take_prices);
    tcase_add_test(tc, test_stale_cutoff);
    tcase_add_test(tc, test_render_exact);
    tcase_add_test(tc, test_step_time_format);
    tcase_add_test(tc, test_step_set_and_buffer);
    tcase_add_test(tc, test_step_render_exact);
    tcase_add_test(tc, test_saga_view_merges_in_time_order);
    suite_add_tcase(s, tc);
    return s;
}
