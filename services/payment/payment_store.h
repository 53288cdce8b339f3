/* Every SQL statement of the payment service: the payments table (one PENDING
 * or COMPLETED payment per order, by a partial unique index) and the outbox
 * of messages for the data platform, written in the same transaction as the
 * payment's COMPLETED state. */
#ifndef PAYMENT_STORE_H
#define PAYMENT_STORE_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "db.h"
#include "problem.h"
#include "payment_logic.h"

extern const char *const payment_store_migrations[];
extern const int payment_store_n_migrations;

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
} payment_row;

/* An outbox message due for delivery. payload is malloc'd (free(3)). */
typedef struct payment_outbox_msg {
    int64_t payment_id;
    int64_t order_id;
    char *payload;
    int64_t attempts;
} payment_outbox_msg;

/* Step 0 of the pay saga: inserts a PENDING payment (amount unknown until the
 * order is read) in its own write transaction. OUT: *id. Returns SHOP_OK,
 * SHOP_ECONFLICT when the order already has a PENDING or COMPLETED payment
 * (the partial unique index refused it), or SHOP_EDB. */
shop_err payment_store_insert_pending(db *d, int64_t order_id, int64_t user_id, int64_t now_s,
                                      int64_t *id);

/* Deletes a PENDING payment whose saga found nothing to do (order missing,
 * not this user's, not payable). Returns SHOP_OK, SHOP_ECONFLICT when it is
 * no longer PENDING, or SHOP_EDB. */
shop_err payment_store_delete_pending(db *d, int64_t id);

/* Records the amount of a PENDING payment. Returns SHOP_OK, SHOP_ECONFLICT
 * when it is not PENDING, or SHOP_EDB. */
shop_err payment_store_set_amount(db *d, int64_t id, int64_t amount, int64_t now_s);

/* Moves payment id from `from` to `to` when payment_transition_allowed and
 * the row is still in `from` (a conditional UPDATE). Not for COMPLETED: use
 * payment_store_complete. Returns SHOP_OK, SHOP_ECONFLICT when the row is not
 * in `from` (or the transition is not allowed), or SHOP_EDB. */
shop_err payment_store_transition(db *d, int64_t id, payment_status from, payment_status to,
                                  int64_t now_s);

/* In one write transaction: PENDING -> COMPLETED and the outbox row (status
 * PENDING, 0 attempts, due at now_ms) with payload. Returns SHOP_OK,
 * SHOP_ECONFLICT (not PENDING; nothing written) or SHOP_EDB (nothing written). */
shop_err payment_store_complete(db *d, int64_t id, int64_t order_id, const char *payload,
                                int64_t now_s, int64_t now_ms);

/* Reads payment id with its delivery. Returns SHOP_OK, SHOP_ENOTFOUND or
 * SHOP_EDB. */
shop_err payment_store_get(db *d, int64_t id, payment_row *out);

/* One page of payments in id order: id > after_id, status when not
 * PAYMENT_STATUS_INVALID, user_id when > 0; at most max rows into rows.
 * OUT: *n. Returns SHOP_OK or SHOP_EDB. */
shop_err payment_store_list(db *d, payment_status status, int64_t user_id, int64_t after_id,
                            payment_row *rows, size_t max, size_t *n);

/* PENDING payments created before cutoff_s (epoch seconds), oldest first, at
 * most max. OUT: *n. Returns SHOP_OK or SHOP_EDB. */
shop_err payment_store_stale_pending(db *d, int64_t cutoff_s, payment_row *rows, size_t max,
                                     size_t *n);

/* The undelivered outbox message due soonest. When its next_attempt_ms is
 * <= now_ms, fills *msg (free its payload) and sets *due true; otherwise
 * *due is false and *next_ms is when the earliest one falls due (-1 when
 * nothing is undelivered). Returns SHOP_OK or SHOP_EDB. */
shop_err payment_store_outbox_next(db *d, int64_t now_ms, payment_outbox_msg *msg, bool *due,
                                   int64_t *next_ms);

/* Records a delivery the platform acknowledged: DELIVERED, attempts,
 * delivered_at. Only an undelivered row changes. Returns SHOP_OK or SHOP_EDB. */
shop_err payment_store_outbox_delivered(db *d, int64_t payment_id, int64_t attempts,
                                        int64_t delivered_at_s);

/* Records a failed attempt: attempts and when to try again. Returns SHOP_OK
 * or SHOP_EDB. */
shop_err payment_store_outbox_retry(db *d, int64_t payment_id, int64_t attempts,
                                    int64_t next_attempt_ms);

/* Frees what msg holds. Accepts NULL. */
void payment_outbox_msg_release(payment_outbox_msg *msg);

#endif
