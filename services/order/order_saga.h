/* The order sagas of DESIGN.md: create (user check, PENDING row, stock
 * reservation, coupon use, CREATED), cancel with compensation, mark-paid, and
 * the recovery thread that finishes or undoes what a crash or a failed peer
 * left behind. Calls to item, user and coupon services go through
 * http_client; state goes through order_store. Every step of every run goes
 * to the saga log (order_store), with the run's next state change; the saga
 * view reads it back, with payment-service's steps. */
#ifndef ORDER_SAGA_H
#define ORDER_SAGA_H

#include <stdatomic.h>
#include <stdbool.h>
#include <stdint.h>

#include "db.h"
#include "http_client.h"
#include "order_logic.h"
#include "order_store.h"

/* Everything the handlers and the recovery thread share; read-only once the
 * server runs, but for idem_purged_ms, which only order_recovery_round
 * writes (atomically). */
typedef struct order_app {
    db *db;
    const char *item_url;
    const char *user_url;
    const char *coupon_url;
    const char *payment_url;      /* only for the saga view, best-effort */
    long call_timeout_ms;         /* SHOP_CALL_TIMEOUT_MS */
    long saga_deadline_ms;        /* SHOP_SAGA_DEADLINE_MS */
    int64_t payment_ttl_s;        /* ORDER_PAYMENT_TTL_S */
    int64_t recovery_interval_ms; /* ORDER_RECOVERY_INTERVAL_MS */
    /* time_mono_ms() of the last idempotency-key purge; 0: none yet. */
    _Atomic int64_t idem_purged_ms;
} order_app;

/* Why a saga step failed, for the reply: either a peer's reply (passed on
 * with http_reply_upstream) or a problem of our own. */
typedef struct order_fail {
    const char *peer; /* "item", "user", "coupon", or NULL */
    http_result res;  /* the peer's result when peer is non-NULL (owned) */
    const char *code; /* our problem code when peer is NULL */
    char detail[256];
    /* IDEM_NEW, or (with SHOP_ECONFLICT from the create saga) what the
     * writer found under the request's Idempotency-Key: IDEM_REPLAY with
     * the stored answer in idem_rec (owned), IDEM_MISMATCH, IDEM_IN_PROGRESS;
     * answer it with idem_reply / idem_reply_refusal. */
    idem_outcome idem;
    idem_record idem_rec;
} order_fail;

/* Declares the saga metrics (shop_order_sagas_total,
 * shop_order_recovery_total). Call in main before threads start. */
void order_saga_metrics_init(void);

/* Frees the peer result and the stored answer a failure holds. Accepts a
 * zeroed fail. */
void order_fail_release(order_fail *f);

/* The answer a failure stands for when it is a 4xx with a body that can be
 * stored for an idempotency key and replayed. OUT: *status, *body
 * (malloc'd, caller frees), *content_type (static or inside f). Returns false
 * for 5xx and transport failures (those are answered with
 * http_reply_upstream / http_reply_problem and never stored). */
bool order_fail_answer(const order_fail *f, int *status, char **body, const char **content_type);

/* Runs the create saga for rq. idem (may be NULL) is the request's
 * Idempotency-Key: stored in progress with the PENDING row and answered with
 * the final state. On SHOP_OK, *order is the CREATED order and *reply_body
 * its rendered JSON (malloc'd, caller frees): the bytes stored for the key.
 * Else *fail says what to answer (after compensation has been done, or left
 * for recovery when a restore failed); *order->id is set (> 0) when a PENDING
 * row was written. SHOP_ECONFLICT with fail->idem other than IDEM_NEW means
 * the key was taken between the caller's lookup and the PENDING insert:
 * answered meanwhile (replay it), bound to another request (422) or held by
 * a concurrent request (409). */
shop_err order_saga_create(const order_app *app, const order_create_req *rq, const order_idem *idem,
                           const char *rid, order_rec *order, char **reply_body, order_fail *fail);

/* Cancels order id (user_id 0: any user's): CREATED -> CANCELLING -> stock
 * and coupon restored -> CANCELLED; a CANCELLING order is finished; a
 * CANCELLED one answered as it is. On SHOP_OK *order is the CANCELLED order.
 * Else *fail: ORDER_NOT_FOUND, FORBIDDEN, ORDER_ALREADY_PAID,
 * ORDER_NOT_CANCELLABLE, or a restore's failure (the order stays CANCELLING
 * for recovery). */
shop_err order_saga_cancel(const order_app *app, int64_t id, int64_t user_id, const char *rid,
                           order_rec *order, order_fail *fail);

/* Marks order id PAID by payment_id (user_id 0: any user's): only from
 * CREATED; a repeat by the same payment answers the PAID order. rid goes
 * into the saga log. On SHOP_OK *order is the PAID order; else *fail:
 * ORDER_NOT_FOUND, FORBIDDEN, ORDER_NOT_PAYABLE. */
shop_err order_saga_pay(const order_app *app, int64_t id, int64_t payment_id, int64_t user_id,
                        const char *rid, order_rec *order, order_fail *fail);

/* The most steps of one service the saga view shows. */
#define ORDER_VIEW_MAX_STEPS 500

/* The saga view of order id (API.md "Saga view"): its own steps and, asked
 * best-effort from payment-service (GET /payments/saga?orderId=&userId=,
 * the payments the order's user made), the payment steps, in time order;
 * "partial" is true when payment-service could not be asked. OUT: *view
 * (caller cJSON_Deletes). Returns SHOP_OK, SHOP_ENOTFOUND or SHOP_EDB
 * (SHOP_ENOMEM when out of memory). */
shop_err order_saga_view(const order_app *app, int64_t id, const char *rid, cJSON **view);

/* One recovery round: undoes PENDING orders older than the saga deadline plus
 * 2 s (claiming each first, so a late saga can no longer make it CREATED),
 * finishes CANCELLING orders, cancels CREATED orders older than the payment
 * TTL, expires old idempotency keys (at most hourly, per app). Peer failures
 * leave rows for the next round. Stops early when *stop becomes true (stop
 * may be NULL). */
void order_recovery_round(const order_app *app, const atomic_bool *stop);

typedef struct order_recovery order_recovery;

/* Starts the recovery thread: a round now, then one every
 * app->recovery_interval_ms until order_recovery_stop or SIGTERM. Returns
 * NULL when the thread cannot be started. */
order_recovery *order_recovery_start(const order_app *app);

/* Asks the thread to stop, waits for it (it notices within ~50 ms unless a
 * peer call is under way) and frees r. Accepts NULL. */
void order_recovery_stop(order_recovery *r);

#endif
