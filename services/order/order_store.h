/* The order service's SQLite store: orders, their lines, the idempotency
 * keys of POST /orders (the common idempotency table) and the saga log.
 * Every SQL statement of the service lives here; every status change is a
 * conditional update on the expected status.
 *
 * The saga log: a write that takes an order_steps *log (may be NULL) also
 * writes the steps it holds, in the same transaction, whether its
 * conditional update won or not (the calls happened either way), and empties
 * log once committed; the state step it takes (may be NULL) is written only
 * when the update won. */
#ifndef ORDER_STORE_H
#define ORDER_STORE_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "db.h"
#include "idempotency.h"
#include "order_logic.h"
#include "problem.h"

/* Opens (creating and migrating) the order database at path. OUT: *out.
 * Returns 0, or -1 after logging. Close with db_close. */
int order_store_open(const char *path, db **out);

/* The idempotency scope of POST /orders (common/idempotency.h). */
#define ORDER_IDEM_SCOPE "POST /orders"

/* An Idempotency-Key of POST /orders and the request text it is bound to
 * (idem_request_text: path and body). */
typedef idem_req order_idem;

/* Inserts the order as PENDING with its lines (prices 0), and when idem is
 * non-NULL its key IN_PROGRESS bound to the order, and log's steps, in one
 * transaction. OUT: *order_id; *seen (may be NULL): IDEM_NEW, or on
 * SHOP_ECONFLICT what the writer found under the key (IDEM_REPLAY,
 * IDEM_MISMATCH, IDEM_IN_PROGRESS); *rec (may be NULL): for IDEM_REPLAY the
 * stored answer (caller frees with idem_record_free), else zeroed. Returns
 * SHOP_OK, SHOP_ECONFLICT when the key is already stored (nothing inserted,
 * log kept), or SHOP_EDB. */
shop_err order_store_insert_pending(db *d, const order_create_req *rq, int64_t now_s,
                                    const order_idem *idem, order_steps *log, int64_t *order_id,
                                    idem_outcome *seen, idem_record *rec);

/* Reads order id with its lines into out. Returns SHOP_OK, SHOP_ENOTFOUND or
 * SHOP_EDB. */
shop_err order_store_get(db *d, int64_t id, order_rec *out);

/* PENDING -> CREATED for o->id, storing o's line prices, amounts and
 * updated_at; a key bound to the order (if any) gets the answer 201
 * reply_body in the same transaction; log and state as above. *won is false
 * (and only log's steps are written) when the order was no longer PENDING or
 * recovery has claimed it (order_store_claim_undo). Returns SHOP_OK or
 * SHOP_EDB. */
shop_err order_store_mark_created(db *d, const order_rec *o, const char *reply_body,
                                  order_steps *log, const order_step *state, bool *won);

/* Recovery's claim on PENDING order id before it restores stock and coupon:
 * marks it undoing (the status stays PENDING), after which
 * order_store_mark_created loses. *won is true when the order is PENDING (a
 * claim already held is taken again: a retry), false when it is not (the
 * saga got there first). Returns SHOP_OK or SHOP_EDB. */
shop_err order_store_claim_undo(db *d, int64_t id, bool *won);

/* CREATED -> PAID with payment_id; log and state as above. *won is false
 * when the order was not CREATED (the order does not change). Returns
 * SHOP_OK or SHOP_EDB. */
shop_err order_store_mark_paid(db *d, int64_t id, int64_t payment_id, int64_t now_s,
                               order_steps *log, const order_step *state, bool *won);

/* from -> to for order id, conditional on the order being in from; log and
 * state as above. Only the transitions of order_transition_allowed are
 * accepted (else SHOP_EINVAL, nothing written). Going to FAILED also deletes
 * the order's idempotency key if it was never answered (its request failed
 * with a 5xx or was cut off), so a retry does the work afresh. *won is false
 * when the order was not in from (the order does not change). Returns
 * SHOP_OK, SHOP_EINVAL or SHOP_EDB. */
shop_err order_store_transition(db *d, int64_t id, order_status from, order_status to,
                                int64_t now_s, order_steps *log, const order_step *state,
                                bool *won);

/* Ids of orders in status whose updated_at <= cutoff_s, oldest first, at
 * most cap of them, for recovery. OUT: ids[0..*n). Returns SHOP_OK or
 * SHOP_EDB. */
shop_err order_store_list_stale(db *d, order_status status, int64_t cutoff_s, int64_t *ids,
                                size_t cap, size_t *n);

/* A filter for the admin list: status and user_id apply when has_status /
 * user_id > 0; orders with id > after_id, by id. */
typedef struct order_filter {
    bool has_status;
    order_status status;
    int64_t user_id;
    int64_t after_id;
} order_filter;

/* Up to cap orders (with lines) matching f, by id, read in one snapshot.
 * OUT: out[0..*n). Returns SHOP_OK or SHOP_EDB. */
shop_err order_store_list(db *d, const order_filter *f, order_rec *out, size_t cap, size_t *n);

/* Looks up an idempotency key of POST /orders for idem->request (on this
 * thread's read connection). OUT: *rec as idem_lookup fills it (free with
 * idem_record_free). Returns the outcome of idem_lookup. */
idem_outcome order_store_idem_lookup(db *d, const order_idem *idem, idem_record *rec);

/* Stores an answer given before any order row existed (a 4xx): the key gets
 * it unless the key is stored already. Returns SHOP_OK or SHOP_EDB. */
shop_err order_store_idem_put(db *d, const order_idem *idem, int reply_status,
                              const char *reply_body);

/* Gives the key bound to order_id (if any) its answer: a 4xx the saga
 * answered while its order was being undone; log as above. Returns SHOP_OK
 * or SHOP_EDB. */
shop_err order_store_idem_answer(db *d, int64_t order_id, int reply_status, const char *reply_body,
                                 order_steps *log);

/* Writes log's steps of order_id in a transaction of their own (a run that
 * ends without a state change) and empties log. Nothing to do when log is
 * NULL or empty. Returns SHOP_OK or SHOP_EDB. */
shop_err order_store_steps_flush(db *d, int64_t order_id, order_steps *log);

/* The first cap steps of order_id, in time order (then as written).
 * OUT: out[0..*n). Returns SHOP_OK or SHOP_EDB. */
shop_err order_store_steps(db *d, int64_t order_id, order_step *out, size_t cap, size_t *n);

/* Deletes answered keys older than IDEM_KEEP_SECONDS. Returns SHOP_OK or
 * SHOP_EDB. */
shop_err order_store_idem_purge(db *d, int64_t now_s);

#endif
