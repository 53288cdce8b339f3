/* Pure rules of the payment service: payment states and which transitions the
 * pay saga and the settler may make, the outbox backoff, the per-call timeout
 * inside the saga deadline, and the settler's verdict on a void reply. No
 * civetweb, curl or SQLite here, so unit tests call it with plain values. */
#ifndef PAYMENT_LOGIC_H
#define PAYMENT_LOGIC_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#define PAYMENT_OUTBOX_FIRST_BACKOFF_MS 200 /* first retry of a delivery */
#define PAYMENT_REF_LEN 40                  /* "refund-" + 15 digits + NUL fits */
#define PAYMENT_LIST_MAX 500
#define PAYMENT_LIST_DEFAULT 100

typedef enum payment_status {
    PAYMENT_PENDING = 0, /* the saga runs, or the settler will finish it */
    PAYMENT_COMPLETED,   /* debited, order PAID, outbox row written */
    PAYMENT_FAILED,      /* nothing was debited */
    PAYMENT_REFUNDED,    /* debited, then credited back */
    PAYMENT_STATUS_INVALID,
} payment_status;

/* The stored and rendered name of s ("PENDING"), or NULL when invalid. */
const char *payment_status_name(payment_status s);

/* The status named by name (exact, case-sensitive), or PAYMENT_STATUS_INVALID
 * (name may be NULL). */
payment_status payment_status_parse(const char *name);

/* True when a payment may go from `from` to `to`: only PENDING moves, to
 * COMPLETED, FAILED or REFUNDED. Every stored transition is conditional on
 * `from`, so two actors racing on one payment cannot both win. */
bool payment_transition_allowed(payment_status from, payment_status to);

/* True when a payment in state s carries an outbox row (a delivery). */
bool payment_has_delivery(payment_status s);

/* Delay before the next delivery attempt after `attempts` failed ones
 * (attempts >= 1): 200 ms, doubling, never above max_ms (max_ms >= 1; a
 * smaller cap than 200 wins). attempts < 1 gives 0. */
int64_t payment_outbox_backoff_ms(int64_t attempts, int64_t max_ms);

/* The timeout for one call of a saga: min(call_timeout_ms, deadline - now),
 * or 0 when the deadline has passed (then the call is not made: a timeout). */
int64_t payment_call_timeout_ms(int64_t call_timeout_ms, int64_t deadline_mono_ms,
                                int64_t now_mono_ms);

/* True when a payment created at created_s (epoch seconds, truncated) is
 * certainly older than age_ms at now_ms (epoch ms), so its saga is over. */
bool payment_is_stale(int64_t created_s, int64_t now_ms, int64_t age_ms);

/* The epoch-second cut-off for payment_is_stale: created_s < cutoff. */
int64_t payment_stale_cutoff_s(int64_t now_ms, int64_t age_ms);

/* How an order read at step 1 stands for a payment by user_id. */
typedef enum payment_order_verdict {
    PAYMENT_ORDER_OK = 0,      /* this user's and CREATED */
    PAYMENT_ORDER_FORBIDDEN,   /* another user's: 403 FORBIDDEN */
    PAYMENT_ORDER_NOT_PAYABLE, /* not CREATED: 409 ORDER_NOT_PAYABLE */
} payment_order_verdict;

/* Judges an order (its user and status name; status may be NULL). Ownership
 * is checked first, so another user's order is 403 whatever its state. */
payment_order_verdict payment_order_check(int64_t order_user_id, const char *order_status,
                                          int64_t user_id);

/* True when balance covers amount (both >= 0). */
bool payment_balance_covers(int64_t balance, int64_t amount);

/* What the settler does with a stale PENDING payment, from the status in
 * user-service's reply to the void of its debit ref. */
typedef enum payment_settle_action {
    PAYMENT_SETTLE_FAIL = 0, /* "VOIDED": no money moved: FAILED, cancel order */
    PAYMENT_SETTLE_FINISH,   /* "DEBITED": mark the order paid, then complete */
    PAYMENT_SETTLE_RETRY,    /* anything else: leave it for the next round */
} payment_settle_action;

payment_settle_action payment_settle_action_for(const char *void_status);

/* Writes "<prefix>-<payment_id>" into out (outlen >= PAYMENT_REF_LEN): the
 * user-service ref of the debit ("pay") or of the refund ("refund"). Returns
 * false when it does not fit. */
bool payment_ref(char *out, size_t outlen, const char *prefix, int64_t payment_id);

#endif
