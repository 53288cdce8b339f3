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

/* Frees what out holds (not out). Accepts a zeroed outcome. */
void payment_outcome_release(payment_outcome *out);

#endif
