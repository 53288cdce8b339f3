/* Unit tests of the payment service's pure rules (services/payment/
 * payment_logic.c): status names and transitions, outbox backoff, the saga's
 * per-call timeout, staleness, the order check and the settler's verdicts,
 * the Payment JSON and the saga log's steps. */
#include <check.h>
#include <stdint.h>
#include <string.h>

#include "../../services/payment/payment_logic.h"

Suite *payment_logic_suite(void);

START_TEST(test_status_names)
{
    ck_assert_str_eq(payment_status_name(PAYMENT_PENDING), "PENDING");
    ck_assert_str_eq(payment_status_name(PAYMENT_COMPLETED), "COMPLETED");
    ck_assert_str_eq(payment_status_name(PAYMENT_FAILED), "FAILED");
    ck_assert_str_eq(payment_status_name(PAYMENT_REFUNDED), "REFUNDED");
    ck_assert_ptr_null(payment_status_name(PAYMENT_STATUS_INVALID));
    for (int s = PAYMENT_PENDING; s < PAYMENT_STATUS_INVALID; s++)
        ck_assert_int_eq(payment_status_parse(payment_status_name((payment_status)s)), s);
    ck_assert_int_eq(payment_status_parse("pending"), PAYMENT_STATUS_INVALID);
    ck_assert_int_eq(payment_status_parse(""), PAYMENT_STATUS_INVALID);
    ck_assert_int_eq(payment_status_parse("COMPLETEDX"), PAYMENT_STATUS_INVALID);
    ck_assert_int_eq(payment_status_parse(NULL), PAYMENT_STATUS_INVALID);
}
END_TEST

START_TEST(test_transitions)
{
    ck_assert(payment_transition_allowed(PAYMENT_PENDING, PAYMENT_COMPLETED));
    ck_assert(payment_transition_allowed(PAYMENT_PENDING, PAYMENT_FAILED));
    ck_assert(payment_transition_allowed(PAYMENT_PENDING, PAYMENT_REFUNDED));
    ck_assert(!payment_transition_allowed(PAYMENT_PENDING, PAYMENT_PENDING));
    /* Final states never move. */
    for (int from = PAYMENT_COMPLETED; from <= PAYMENT_STATUS_INVALID; from++)
        for (int to = PAYMENT_PENDING; to <= PAYMENT_STATUS_INVALID; to++)
            ck_assert(!payment_transition_allowed((payment_status)from, (payment_status)to));
    ck_assert(!payment_transition_allowed(PAYMENT_PENDING, PAYMENT_STATUS_INVALID));
    ck_assert(payment_has_delivery(PAYMENT_COMPLETED));
    ck_assert(!payment_has_delivery(PAYMENT_PENDING));
    ck_assert(!payment_has_delivery(PAYMENT_FAILED));
    ck_assert(!payment_has_delivery(PAYMENT_REFUNDED));
}
END_TEST

START_TEST(test_backoff)
{
    ck_assert_int_eq(payment_outbox_backoff_ms(0, 5000), 0);
    ck_assert_int_eq(payment_outbox_backoff_ms(-3, 5000), 0);
    ck_assert_int_eq(payment_outbox_backoff_ms(1, 5000), 200);
    ck_assert_int_eq(payment_outbox_backoff_ms(2, 5000), 400);
    ck_assert_int_eq(payment_outbox_backoff_ms(3, 5000), 800);
    ck_assert_int_eq(payment_outbox_backoff_ms(4, 5000), 1600);
    ck_assert_int_eq(payment_outbox_backoff_ms(5, 5000), 3200);
    ck_assert_int_eq(payment_outbox_backoff_ms(6, 5000), 5000);
    ck_assert_int_eq(payment_outbox_backoff_ms(7, 5000), 5000);
    /* Huge attempt counts neither overflow nor pass the cap. */
    ck_assert_int_eq(payment_outbox_backoff_ms(INT64_MAX, 5000), 5000);
    ck_assert_int_eq(payment_outbox_backoff_ms(1000, 3600000), 3600000);
    /* A cap below the first step wins. */
    ck_assert_int_eq(payment_outbox_backoff_ms(1, 150), 150);
    ck_assert_int_eq(payment_outbox_backoff_ms(1, 0), 1);
    ck_assert_int_eq(payment_outbox_backoff_ms(2, 300), 300);
}
END_TEST

START_TEST(test_call_timeout)
{
    /* Plenty of time left: the call timeout. */
    ck_assert_int_eq(payment_call_timeout_ms(5000, 10000, 1000), 5000);
    /* Less left than a call: what is left. */
    ck_assert_int_eq(payment_call_timeout_ms(5000, 10000, 7000), 3000);
    ck_assert_int_eq(payment_call_timeout_ms(5000, 10000, 9999), 1);
    /* Past the deadline: no call at all. */
    ck_assert_int_eq(payment_call_timeout_ms(5000, 10000, 10000), 0);
    ck_assert_int_eq(payment_call_timeout_ms(5000, 10000, 20000), 0);
}
END_TEST

START_TEST(test_stale)
{
    /* now = 100.500 s, age 3 s: limit 97.5 s. A payment stamped 96 (made
     * before 97) is stale; one stamped 97 may have been made at 97.9: not. */
    ck_assert_int_eq(payment_stale_cutoff_s(100500, 3000), 97);
    ck_assert(payment_is_stale(96, 100500, 3000));
    ck_assert(!payment_is_stale(97, 100500, 3000));
    ck_assert(!payment_is_stale(100, 100500, 3000));
    /* Exactly on a second. */
    ck_assert_int_eq(payment_stale_cutoff_s(100000, 3000), 97);
    ck_assert(payment_is_stale(96, 100000, 3000));
    ck_assert(!payment_is_stale(97, 100000, 3000));
    /* Negative limits (clock near 0) still floor. */
    ck_assert_int_eq(payment_stale_cutoff_s(500, 1000), -1);
    ck_assert(!payment_is_stale(0, 500, 1000));
}
END_TEST

START_TEST(test_order_check)
{
    ck_assert_int_eq(payment_order_check(1, "CREATED", 1), PAYMENT_ORDER_OK);
    ck_assert_int_eq(payment_order_check(2, "CREATED", 1), PAYMENT_ORDER_FORBIDDEN);
    /* Ownership first: another user's paid order is 403, not 409. */
    ck_assert_int_eq(payment_order_check(2, "PAID", 1), PAYMENT_ORDER_FORBIDDEN);
    const char *unpayable[] = {"PAID",   "CANCELLED", "CANCELLING", "PENDING",
                               "FAILED", "created",   "",           NULL};
    for (size_t i = 0; i < sizeof unpayable / sizeof unpayable[0]; i++)
        ck_assert_int_eq(payment_order_check(1, unpayable[i], 1), PAYMENT_ORDER_NOT_PAYABLE);
}
END_TEST

START_TEST(test_balance_covers)
{
    ck_assert(payment_balance_covers(100, 100));
    ck_assert(payment_balance_covers(101, 100));
    ck_assert(!payment_balance_covers(99, 100));
    ck_assert(payment_balance_covers(0, 0));
    ck_assert(!payment_balance_covers(-1, 0));
    ck_assert(!payment_balance_covers(100, -1));
    ck_assert(payment_balance_covers(999999999999999LL, 999999999999999LL));
}
END_TEST

START_TEST(test_settle_action)
{
    ck_assert_int_eq(payment_settle_action_for("VOIDED"), PAYMENT_SETTLE_FAIL);
    ck_assert_int_eq(payment_settle_action_for("DEBITED"), PAYMENT_SETTLE_FINISH);
    ck_assert_int_eq(payment_settle_action_for("voided"), PAYMENT_SETTLE_RETRY);
    ck_assert_int_eq(payment_settle_action_for(""), PAYMENT_SETTLE_RETRY);
    ck_assert_int_eq(payment_settle_action_for("CREDITED"), PAYMENT_SETTLE_RETRY);
    ck_assert_int_eq(payment_settle_action_for(NULL), PAYMENT_SETTLE_RETRY);
}
END_TEST

START_TEST(test_ref)
{
    char ref[PAYMENT_REF_LEN];
    ck_assert(payment_ref(ref, sizeof ref, "pay", 5));
    ck_assert_str_eq(ref, "pay-5");
    ck_assert(payment_ref(ref, sizeof ref, "refund", 999999999999999LL));
    ck_assert_str_eq(ref, "refund-999999999999999");
    ck_assert(!payment_ref(ref, sizeof ref, "pay", 0));
    ck_assert(!payment_ref(ref, sizeof ref, "pay", -4));
    char small[6];
    ck_assert(payment_ref(small, sizeof small, "pay", 5)); /* "pay-5" + NUL fits */
    ck_assert(!payment_ref(small, sizeof small, "pay", 55));
    ck_assert(!payment_ref(NULL, 10, "pay", 1));
}
END_TEST

START_TEST(test_render_payment)
{
    payment_row p = {.id = 5,
                     .order_id = 12,
                     .user_id = 1,
                     .amount = 95000,
                     .status = PAYMENT_COMPLETED,
                     .created_at = 1764000000,
                     .has_delivery = true};
    cJSON *j = payment_render(&p);
    char *text = cJSON_PrintUnformatted(j);
    ck_assert_str_eq(text, "{\"id\":5,\"orderId\":12,\"userId\":1,\"amount\":95000,"
                           "\"status\":\"COMPLETED\",\"createdAt\":\"2025-11-24T16:00:00Z\","
                           "\"delivery\":{\"status\":\"PENDING\",\"attempts\":0,"
                           "\"deliveredAt\":null}}");
    cJSON_free(text);
    cJSON_Delete(j);
    p.delivered = true;
    p.attempts = 3;
    p.delivered_at = 1764000060;
    j = payment_render(&p);
    text = cJSON_PrintUnformatted(cJSON_GetObjectItem(j, "delivery"));
    ck_assert_str_eq(text, "{\"status\":\"DELIVERED\",\"attempts\":3,"
                           "\"deliveredAt\":\"2025-11-24T16:01:00Z\"}");
    cJSON_free(text);
    cJSON_Delete(j);
    p.status = PAYMENT_FAILED;
    p.has_delivery = false;
    j = payment_render(&p);
    ck_assert(cJSON_IsNull(cJSON_GetObjectItem(j, "delivery")));
    ck_assert_str_eq(cJSON_GetObjectItem(j, "status")->valuestring, "FAILED");
    cJSON_Delete(j);
}
END_TEST

START_TEST(test_steps)
{
    payment_steps log;
    char at[PAYMENT_STEP_AT_LEN];
    payment_steps_init(&log, "rid-2", "settle.");
    for (int i = 0; i < PAYMENT_STEPS_MAX; i++)
        ck_assert_ptr_nonnull(payment_steps_next(&log));
    ck_assert_ptr_null(payment_steps_next(&log));
    payment_step st;
    payment_step_set(&st, &log, 5, 12, 1764000000000042LL, log.prefix, "balance.refund", "user",
                     200, NULL, 3, true);
    ck_assert_str_eq(st.step, "settle.balance.refund");
    payment_step_format_at(st.at_us, at);
    ck_assert_str_eq(at, "2025-11-24T16:00:00.000042Z");
    cJSON *j = payment_step_render(&st);
    char *text = cJSON_PrintUnformatted(j);
    ck_assert_str_eq(text, "{\"at\":\"2025-11-24T16:00:00.000042Z\",\"service\":\"payment\","
                           "\"step\":\"settle.balance.refund\",\"peer\":\"user\","
                           "\"httpStatus\":200,\"error\":null,\"durationMs\":3,"
                           "\"requestId\":\"rid-2\",\"compensation\":true,\"paymentId\":5}");
    cJSON_free(text);
    cJSON_Delete(j);
    payment_step_set(&st, NULL, 5, 12, 7, NULL, "order.read", "order", 0, "unavailable", -1, false);
    j = payment_step_render(&st);
    text = cJSON_PrintUnformatted(j);
    ck_assert_str_eq(text, "{\"at\":\"1970-01-01T00:00:00.000007Z\",\"service\":\"payment\","
                           "\"step\":\"order.read\",\"peer\":\"order\",\"httpStatus\":null,"
                           "\"error\":\"unavailable\",\"durationMs\":0,\"requestId\":null,"
                           "\"compensation\":false,\"paymentId\":5}");
    cJSON_free(text);
    cJSON_Delete(j);
}
END_TEST

START_TEST(test_outbox_attempts_logged)
{
    int logged = 0;
    for (int64_t a = -1; a <= 1000; a++)
        logged += payment_outbox_attempt_logged(a);
    ck_assert_int_eq(logged, 10); /* 1, 2, 4, ..., 512 */
    ck_assert(payment_outbox_attempt_logged(1));
    ck_assert(payment_outbox_attempt_logged(2));
    ck_assert(!payment_outbox_attempt_logged(3));
    ck_assert(payment_outbox_attempt_logged(4));
    ck_assert(!payment_outbox_attempt_logged(0));
    ck_assert(payment_outbox_attempt_logged(1LL << 40));
}
END_TEST

Suite *payment_logic_suite(void)
{
    Suite *s = suite_create("payment_logic");
    TCase *tc = tcase_create("core");
    tcase_add_test(tc, test_status_names);
    tcase_add_test(tc, test_transitions);
    tcase_add_test(tc, test_backoff);
    tcase_add_test(tc, test_call_timeout);
    tcase_add_test(tc, test_stale);
    tcase_add_test(tc, test_order_check);
    tcase_add_test(tc, test_balance_covers);
    tcase_add_test(tc, test_settle_action);
    tcase_add_test(tc, test_ref);
    tcase_add_test(tc, test_render_payment);
    tcase_add_test(tc, test_steps);
    tcase_add_test(tc, test_outbox_attempts_logged);
    suite_add_tcase(s, tc);
    return s;
}
