/* Pure rules of the payment service (see payment_logic.h). */
#include "payment_logic.h"

#include <stdio.h>
#include <string.h>

static const char *const status_names[] = {
    [PAYMENT_PENDING] = "PENDING",
    [PAYMENT_COMPLETED] = "COMPLETED",
    [PAYMENT_FAILED] = "FAILED",
    [PAYMENT_REFUNDED] = "REFUNDED",
};

const char *payment_status_name(payment_status s)
{
    if ((int)s < 0 || s >= PAYMENT_STATUS_INVALID)
        return NULL;
    return status_names[s];
}

payment_status payment_status_parse(const char *name)
{
    if (name == NULL)
        return PAYMENT_STATUS_INVALID;
    for (int s = PAYMENT_PENDING; s < PAYMENT_STATUS_INVALID; s++) {
        if (strcmp(name, status_names[s]) == 0)
            return (payment_status)s;
    }
    return PAYMENT_STATUS_INVALID;
}

bool payment_transition_allowed(payment_status from, payment_status to)
{
    if (from != PAYMENT_PENDING)
        return false;
    return to == PAYMENT_COMPLETED || to == PAYMENT_FAILED || to == PAYMENT_REFUNDED;
}

bool payment_has_delivery(payment_status s)
{
    return s == PAYMENT_COMPLETED;
}

int64_t payment_outbox_backoff_ms(int64_t attempts, int64_t max_ms)
{
    if (attempts < 1)
        return 0;
    if (max_ms < 1)
        max_ms = 1;
    int64_t delay = PAYMENT_OUTBOX_FIRST_BACKOFF_MS;
    /* Doubling stops at the cap, so it never overflows however many attempts. */
    for (int64_t i = 1; i < attempts && delay < max_ms; i++)
        delay *= 2;
    return delay < max_ms ? delay : max_ms;
}

int64_t payment_call_timeout_ms(int64_t call_timeout_ms, int64_t deadline_mono_ms,
                                int64_t now_mono_ms)
{
    int64_t left = deadline_mono_ms - now_mono_ms;
    if (left <= 0)
        return 0;
    return call_timeout_ms < left ? call_timeout_ms : left;
}

int64_t payment_stale_cutoff_s(int64_t now_ms, int64_t age_ms)
{
    /* created_s is truncated: the payment was made in [created_s, created_s+1).
     * It is older than age_ms for sure when created_s + 1 <= (now - age) / 1000. */
    int64_t limit_ms = now_ms - age_ms;
    int64_t floor_s = limit_ms >= 0 ? limit_ms / 1000 : -((-limit_ms + 999) / 1000);
    return floor_s;
}

bool payment_is_stale(int64_t created_s, int64_t now_ms, int64_t age_ms)
{
    return created_s < payment_stale_cutoff_s(now_ms, age_ms);
}

payment_order_verdict payment_order_check(int64_t order_user_id, const char *order_status,
                                          int64_t user_id)
{
    if (order_user_id != user_id)
        return PAYMENT_ORDER_FORBIDDEN;
    if (order_status == NULL || strcmp(order_status, "CREATED") != 0)
        return PAYMENT_ORDER_NOT_PAYABLE;
    return PAYMENT_ORDER_OK;
}

bool payment_balance_covers(int64_t balance, int64_t amount)
{
    return balance >= 0 && amount >= 0 && balance >= amount;
}

payment_settle_action payment_settle_action_for(const char *void_status)
{
    if (void_status == NULL)
        return PAYMENT_SETTLE_RETRY;
    if (strcmp(void_status, "VOIDED") == 0)
        return PAYMENT_SETTLE_FAIL;
    if (strcmp(void_status, "DEBITED") == 0)
        return PAYMENT_SETTLE_FINISH;
    return PAYMENT_SETTLE_RETRY;
}

bool payment_ref(char *out, size_t outlen, const char *prefix, int64_t payment_id)
{
    if (out == NULL || outlen == 0 || prefix == NULL || payment_id < 1)
        return false;
    int n = snprintf(out, outlen, "%s-%lld", prefix, (long long)payment_id);
    return n > 0 && (size_t)n < outlen;
}
