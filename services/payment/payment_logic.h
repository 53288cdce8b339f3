/* Pure rules of the payment service: payment states and which transitions the
 * pay saga and the settler may make, the outbox backoff, the per-call timeout
 * inside the saga deadline, the settler's verdict on a void reply, the
 * Payment JSON and the steps of the saga log. No civetweb, curl or SQLite
 * here, so unit tests call it with plain values. */
#ifndef PAYMENT_LOGIC_H
#define PAYMENT_LOGIC_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include <cjson/cJSON.h>

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

/* A payment and its delivery (the outbox row, when there is one). */
typedef struct payment_row {
    int64_t id;
    int64_t order_id;
    int64_t user_id;
    int64_t amount;    /* 0 while unknown */
    bool amount_known; /* false until the saga has read the order */
    payment_status status;
    int64_t created_at; /* epoch seconds */
    int64_t updated_at;
    bool has_delivery; /* an outbox row exists */
    bool delivered;    /* outbox status DELIVERED */
    int64_t attempts;
    int64_t delivered_at; /* epoch seconds; 0 when not delivered */
    bool cancel_pending;  /* FAILED, and its order's cancel not confirmed yet */
} payment_row;

/* The Payment JSON of API.md, with "delivery" null when p has no outbox
 * row. Returns a new object (caller cJSON_Deletes) or NULL when out of
 * memory. */
cJSON *payment_render(const payment_row *p);

/* Writes "<prefix>-<payment_id>" into out (outlen >= PAYMENT_REF_LEN): the
 * user-service ref of the debit ("pay") or of the refund ("refund"). Returns
 * false when it does not fit. */
bool payment_ref(char *out, size_t outlen, const char *prefix, int64_t payment_id);

/* ---- the saga log -------------------------------------------------------- */

#define PAYMENT_STEP_NAME_LEN 48
#define PAYMENT_STEP_PEER_LEN 24
#define PAYMENT_STEP_ERROR_LEN 48
#define PAYMENT_STEP_RID_LEN 128
#define PAYMENT_STEPS_MAX 16
#define PAYMENT_STEP_AT_LEN 28 /* "2026-11-24T12:00:00.123456Z" plus NUL */

/* One step of a pay saga (or of the settler or the outbox worker on a
 * payment): a call to a peer ("balance.debit" to "user") or a state change
 * of the payment ("payment.completed", no peer). */
typedef struct payment_step {
    int64_t at_us; /* when it began: wall clock, microseconds since the epoch */
    int64_t payment_id;
    int64_t order_id;
    char step[PAYMENT_STEP_NAME_LEN];
    char peer[PAYMENT_STEP_PEER_LEN];   /* "" for a state change */
    int http_status;                    /* the peer's status; 0 when none */
    char error[PAYMENT_STEP_ERROR_LEN]; /* "timeout", "unavailable", a problem code; "" */
    int64_t duration_ms;
    char request_id[PAYMENT_STEP_RID_LEN + 1];
    bool compensation; /* a refund: it undoes the debit */
} payment_step;

/* The steps of one run that are not stored yet: the store writes them with
 * the run's next state change (same transaction) and empties the list. */
typedef struct payment_steps {
    const char *request_id; /* of the run; copied into every step */
    const char *prefix;     /* put before call names: "" or "settle." */
    size_t n;
    payment_step items[PAYMENT_STEPS_MAX];
} payment_steps;

/* Empties log and sets its request id and prefix (either may be NULL). */
void payment_steps_init(payment_steps *log, const char *request_id, const char *prefix);

/* Fills *st for payment_id of order_id: named prefix + name (prefix may be
 * NULL), peer and error (NULL: none), http_status (0: none), the log's
 * request id. Too-long strings are cut. */
void payment_step_set(payment_step *st, const payment_steps *log, int64_t payment_id,
                      int64_t order_id, int64_t at_us, const char *prefix, const char *name,
                      const char *peer, int http_status, const char *error, int64_t duration_ms,
                      bool compensation);

/* The next free slot of log (counted as used), or NULL when log is full. */
payment_step *payment_steps_next(payment_steps *log);

/* Writes at_us as RFC 3339 UTC with microseconds into out
 * (>= PAYMENT_STEP_AT_LEN): "2026-11-24T12:00:00.123456Z". */
void payment_step_format_at(int64_t at_us, char *out);

/* One step as the saga view shows it: {"at","service":"payment","step",
 * "peer","httpStatus","error","durationMs","requestId","compensation",
 * "paymentId"}, null for what is absent. Returns a new object (caller
 * cJSON_Deletes) or NULL when out of memory. */
cJSON *payment_step_render(const payment_step *st);

/* True when the outbox worker records a failed delivery attempt in the saga
 * log: the 1st, 2nd, 4th, 8th, ... so that a long outage leaves a few steps,
 * not one per retry. */
bool payment_outbox_attempt_logged(int64_t attempts);

#endif
