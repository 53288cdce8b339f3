/* Every SQL statement of the payment service: the payments table (one PENDING
 * or COMPLETED payment per order, by a partial unique index), the outbox of
 * messages for the data platform (written in the same transaction as the
 * payment's COMPLETED state), the Idempotency-Keys of POST /payments (the
 * common idempotency table) and the saga log.
 *
 * The saga log: a write that takes a payment_steps *log (may be NULL) also
 * writes the steps it holds, in the same transaction, whether its
 * conditional update won or not (the calls happened either way), and empties
 * log once committed. The state step it takes (may be NULL) and the answer
 * for the payment's Idempotency-Key (may be NULL) are written only when the
 * update won. */
#ifndef PAYMENT_STORE_H
#define PAYMENT_STORE_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "db.h"
#include "idempotency.h"
#include "payment_logic.h"
#include "problem.h"

extern const char *const payment_store_migrations[];
extern const int payment_store_n_migrations;

/* The idempotency scope of POST /payments (common/idempotency.h). */
#define PAYMENT_IDEM_SCOPE "POST /payments"

/* An Idempotency-Key of POST /payments and the request text it is bound to
 * (idem_request_text: path and body). */
typedef idem_req payment_idem;

/* What the Idempotency-Key bound to a payment (if any) gets in the
 * transaction that settles the payment: an answer below 500 is stored with
 * its body (repeats get it again); a 5xx deletes the key, as the work was
 * undone and a retry may start afresh. */
typedef struct payment_answer {
    int status;
    const char *body;
} payment_answer;

/* An outbox message due for delivery. payload is malloc'd (free(3)). */
typedef struct payment_outbox_msg {
    int64_t payment_id;
    int64_t order_id;
    char *payload;
    int64_t attempts;
} payment_outbox_msg;

/* Step 0 of the pay saga: inserts a PENDING payment (amount unknown until the
 * order is read) and, when idem is non-NULL, its key IN_PROGRESS bound to
 * the payment, in one write transaction. OUT: *id. Returns SHOP_OK,
 * SHOP_ECONFLICT when nothing was inserted because the order already has a
 * PENDING or COMPLETED payment (the partial unique index; *key_taken false)
 * or because idem's key is stored already (*key_taken true), or SHOP_EDB. */
shop_err payment_store_insert_pending(db *d, int64_t order_id, int64_t user_id, int64_t now_s,
                                      const payment_idem *idem, int64_t *id, bool *key_taken);

/* Deletes a PENDING payment whose saga found nothing to do (order missing,
 * not this user's, not payable) and, with answer non-NULL, settles its key
 * (see payment_answer) in the same transaction. Returns SHOP_OK,
 * SHOP_ECONFLICT when it is no longer PENDING (nothing changes), or SHOP_EDB. */
shop_err payment_store_delete_pending(db *d, int64_t id, const payment_answer *answer);

/* Records the amount of a PENDING payment, with log. Returns SHOP_OK,
 * SHOP_ECONFLICT when it is not PENDING (only log is written), or SHOP_EDB. */
shop_err payment_store_set_amount(db *d, int64_t id, int64_t amount, int64_t now_s,
                                  payment_steps *log);

/* Moves payment id from `from` to `to` when payment_transition_allowed and
 * the row is still in `from` (a conditional UPDATE), with log, state and
 * answer as above. Not for COMPLETED: use payment_store_complete. Returns
 * SHOP_OK, SHOP_ECONFLICT when the row is not in `from` (only log is
 * written) or the transition is not allowed (nothing is), or SHOP_EDB. */
shop_err payment_store_transition(db *d, int64_t id, payment_status from, payment_status to,
                                  int64_t now_s, payment_steps *log, const payment_step *state,
                                  const payment_answer *answer);

/* The short-balance failure: PENDING -> FAILED with the order's
 * cancellation owed (cancel_pending), with log and state as above. The key
 * bound to the payment stays IN_PROGRESS: its answer is stored only once
 * the cancel is done (payment_store_cancel_done), so that no repeat is told
 * 402 while the order still holds its stock and coupon. Returns SHOP_OK,
 * SHOP_ECONFLICT (not PENDING; only log is written) or SHOP_EDB. */
shop_err payment_store_fail_owing_cancel(db *d, int64_t id, int64_t now_s, payment_steps *log,
                                         const payment_step *state);

/* order-service confirmed the cancel a FAILED payment owed: clears
 * cancel_pending and settles the key with answer (may be NULL), with log,
 * in one transaction. Returns SHOP_OK, SHOP_ECONFLICT when nothing was owed
 * (already cleared: only log is written) or SHOP_EDB. */
shop_err payment_store_cancel_done(db *d, int64_t id, int64_t now_s, payment_steps *log,
                                   const payment_answer *answer);

/* FAILED payments that still owe their order's cancel, last changed before
 * cutoff_s (epoch seconds), oldest first, at most max. OUT: *n. Returns
 * SHOP_OK or SHOP_EDB. */
shop_err payment_store_cancels_owed(db *d, int64_t cutoff_s, payment_row *rows, size_t max,
                                    size_t *n);

/* In one write transaction: PENDING -> COMPLETED and the outbox row (status
 * PENDING, 0 attempts, due at now_ms) with payload, with log, state and
 * answer as above. Returns SHOP_OK, SHOP_ECONFLICT (not PENDING; only log is
 * written) or SHOP_EDB (nothing written). */
shop_err payment_store_complete(db *d, int64_t id, int64_t order_id, const char *payload,
                                int64_t now_s, int64_t now_ms, payment_steps *log,
                                const payment_step *state, const payment_answer *answer);

/* Writes log's steps in a transaction of their own (a run that ends without
 * a state change) and empties log. Nothing to do for NULL or an empty log.
 * Returns SHOP_OK or SHOP_EDB. */
shop_err payment_store_steps_flush(db *d, payment_steps *log);

/* The first cap steps of the payments of order_id (of user_id's payments
 * only, when user_id > 0), in time order (then as written). OUT:
 * out[0..*n). Returns SHOP_OK or SHOP_EDB. */
shop_err payment_store_steps(db *d, int64_t order_id, int64_t user_id, payment_step *out,
                             size_t cap, size_t *n);

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

/* How many outbox messages are not delivered yet. OUT: *n. Returns SHOP_OK
 * or SHOP_EDB. */
shop_err payment_store_outbox_backlog(db *d, int64_t *n);

/* Records a delivery the platform acknowledged: DELIVERED, attempts,
 * delivered_at, and the step st (may be NULL) when the row changed. Only an
 * undelivered row changes. Returns SHOP_OK or SHOP_EDB. */
shop_err payment_store_outbox_delivered(db *d, int64_t payment_id, int64_t attempts,
                                        int64_t delivered_at_s, const payment_step *st);

/* Records a failed attempt: attempts, when to try again, and the step st
 * (may be NULL) when the row changed. Returns SHOP_OK or SHOP_EDB. */
shop_err payment_store_outbox_retry(db *d, int64_t payment_id, int64_t attempts,
                                    int64_t next_attempt_ms, const payment_step *st);

/* Frees what msg holds. Accepts NULL. */
void payment_outbox_msg_release(payment_outbox_msg *msg);

/* Looks up an Idempotency-Key of POST /payments for idem->request (on this
 * thread's read connection). OUT: *rec as idem_lookup fills it (free with
 * idem_record_free). Returns the outcome of idem_lookup. */
idem_outcome payment_store_idem_lookup(db *d, const payment_idem *idem, idem_record *rec);

/* Stores an answer that no payment row stands behind (a 400, a 409 for an
 * order that has a payment already): the key gets it unless it is stored
 * already. Returns SHOP_OK or SHOP_EDB. */
shop_err payment_store_idem_put(db *d, const payment_idem *idem, int status, const char *body);

/* Deletes answered keys older than IDEM_KEEP_SECONDS. Returns SHOP_OK or
 * SHOP_EDB. */
shop_err payment_store_idem_purge(db *d, int64_t now_s);

#endif
