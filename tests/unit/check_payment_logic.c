/* Unit tests of the payment service's pure rules (services/payment/
 * payment_logic.c): status names and transitions, outbox backoff, the saga's
 * per-call timeout, staleness, the order check and the settler's verdicts. */
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
    suite_add_tcase(s, tc);
    return s;
}
