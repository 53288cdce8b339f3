/* The pay saga of DESIGN.md (payment PENDING first, then order read, balance,
 * keyed debit, mark paid, COMPLETED with its outbox row) and the settler's
 * way of finishing a payment whose saga was cut short. Calls go to the user
 * and order services; every step goes to the saga log with the payment's
 * next state change; the Idempotency-Key of the request (if any) is bound
 * to the payment and settled with it; the answer is handed back rendered
 * for routes.c to send. */
#ifndef PAYMENT_SAGA_H
#define PAYMENT_SAGA_H

#include <stdbool.h>
#include <stdint.h>

#include "http_client.h"
#include "payment_store.h"
#include "routes.h"

#define PAYMENT_DETAIL_LEN 256

/* How a pay saga ended. After payment_saga_pay, status, content_type and
 * body are the answer to send; the rest says how it was reached. */
typedef struct payment_outcome {
    int status;               /* 201 on success, else the error status */
    const char *content_type; /* of body */
    char *body;               /* the answer's body (malloc'd); NULL when out of memory */
    /* On success: the payment as it completed. */
    payment_row payment;
    /* When !pass_upstream and status != 201: the problem to answer. */
    const char *code;
    char detail[PAYMENT_DETAIL_LEN];
    /* When true: the answer is the peer's (see http_reply_upstream). */
    bool pass_upstream;
    const char *peer;
    http_result upstream; /* owned; payment_outcome_release frees it */
} payment_outcome;

/* Runs the pay saga for orderId/userId within app->saga_deadline_ms and fills
 * out (release it with payment_outcome_release). rid is the request id
 * passed on to every call (may be NULL). idem (may be NULL) is the request's
 * Idempotency-Key: bound IN_PROGRESS to the payment as it is inserted and
 * given its answer with the payment's final state (or deleted when the
 * answer is a 5xx that left nothing behind); a 409 for an order that
 * already has a live payment is stored for it too. A key that is stored
 * already ends the saga at once with 409 IDEMPOTENCY_KEY_IN_USE. */
void payment_saga_pay(payment_app *app, const char *rid, int64_t order_id, int64_t user_id,
                      const payment_idem *idem, payment_outcome *out);

/* Settles one stale PENDING payment p: voids its debit ref at user-service
 * and, by the answer, fails it (cancelling the order) or finishes it (mark
 * paid, then COMPLETED with its outbox row, or a refund and REFUNDED); the
 * payment's Idempotency-Key gets the answer this reaches. A peer failure
 * leaves it PENDING for the next round (and records no steps: the next
 * round tries again). Returns true when p left PENDING. */
bool payment_saga_settle(payment_app *app, const payment_row *p);

/* For a FAILED payment p that still owes its order's cancel (a short
 * balance whose cancel call failed): asks order-service to cancel the order
 * again; once it confirms (or there is nothing to undo) the flag is cleared
 * and the payment's Idempotency-Key gets its answer (402, or 409
 * ORDER_NOT_PAYABLE when the order was paid meanwhile). Returns true when
 * nothing is owed any more. */
bool payment_saga_settle_cancel(payment_app *app, const payment_row *p);

/* Declares the saga metrics and exports every series of them at 0 (call
 * once, before any thread starts):
 *   shop_payment_sagas_total{outcome}: each pay saga once, when it ends
 *   (idempotent replays and requests refused for a key in use are not
 *   sagas): "completed" (COMPLETED, 201); "failed" (the payment is FAILED
 *   or REFUNDED: a short balance, a peer's refusal, a transient error
 *   before the debit, the order refusing mark-paid); "conflict" (409
 *   ORDER_NOT_PAYABLE before any money moved: the order is not CREATED or
 *   already has a live payment; no payment is kept); "rejected" (order not
 *   found, or not the payer's; none kept); "error" (none kept: a database
 *   error at the insert, an unreadable order); "left_pending" (the payment
 *   stays PENDING for the settler: a reply lost after the debit, a 5xx);
 *   "lost_to_settler" (the settler took the payment over meanwhile).
 *   shop_payment_recovery_total{action,result}: each settler action once:
 *   action "settle" (a stale PENDING payment) with result "completed",
 *   "failed", "refunded", "lost" (another run settled it first) or "retry"
 *   (still PENDING; next round); action "cancel_owed" (the order's cancel a
 *   short-balance failure owes) with result "done", "lost" or "retry". */
void payment_saga_metrics_init(void);

/* Frees what out holds (not out). Accepts a zeroed outcome. */
void payment_outcome_release(payment_outcome *out);

#endif
