/* The pay saga of DESIGN.md (payment PENDING first, then order read, balance,
 * keyed debit, mark paid, COMPLETED with its outbox row) and the settler's
 * way of finishing a payment whose saga was cut short. Calls go to the user
 * and order services; the outcome is handed back for routes.c to render. */
#ifndef PAYMENT_SAGA_H
#define PAYMENT_SAGA_H

#include <stdbool.h>
#include <stdint.h>

#include "http_client.h"
#include "payment_store.h"
#include "routes.h"

#define PAYMENT_DETAIL_LEN 256

/* How a pay saga ended, for the reply. */
typedef struct payment_outcome {
    int status; /* 201 on success, else the error status */
    /* On success: the payment as stored right after it completed. */
    payment_row payment;
    /* When !pass_upstream and status != 201: the problem to answer. */
    const char *code;
    char detail[PAYMENT_DETAIL_LEN];
    /* When true: answer with http_reply_upstream(req, peer, &upstream). */
    bool pass_upstream;
    const char *peer;
    http_result upstream; /* owned; payment_outcome_release frees it */
} payment_outcome;

/* Runs the pay saga for orderId/userId within app->saga_deadline_ms and fills
 * out (release it with payment_outcome_release). rid is the request id
 * passed on to every call (may be NULL). */
void payment_saga_pay(payment_app *app, const char *rid, int64_t order_id, int64_t user_id,
                      payment_outcome *out);

/* Settles one stale PENDING payment p: voids its debit ref at user-service
 * and, by the answer, fails it (cancelling the order) or finishes it (mark
 * paid, then COMPLETED with its outbox row, or a refund and REFUNDED). A peer
 * failure leaves it PENDING for the next round. Returns true when p left
 * PENDING. */
bool payment_saga_settle(payment_app *app, const payment_row *p);

/* Frees what out holds (not out). Accepts a zeroed outcome. */
void payment_outcome_release(payment_outcome *out);

#endif
