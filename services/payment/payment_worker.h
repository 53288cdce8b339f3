/* The payment service's two background threads: the settler (every
 * PAYMENT_SETTLE_INTERVAL_MS, and at start, it finishes PENDING payments whose
 * saga deadline passed) and the outbox worker (delivers completed payments to
 * the data platform with per-row exponential backoff, woken at once when a
 * payment completes). */
#ifndef PAYMENT_WORKER_H
#define PAYMENT_WORKER_H

#include <stdbool.h>

#include "routes.h"

typedef struct payment_workers payment_workers;

/* Declares the outbox metrics and exports each series at 0 (call once,
 * before any thread starts): the gauge shop_payment_outbox_backlog
 * (messages not delivered yet; set by payment_workers_start and by the
 * outbox worker after each pass, and every 64 deliveries within a long
 * one) and the counter shop_payment_outbox_deliveries_total{outcome}
 * (each delivery attempt once its reply is in, before it is recorded:
 * "ok", "http_error", "timeout", "transport_error", as
 * shop_http_client_calls_total says them). */
void payment_workers_metrics_init(void);

/* Starts both threads for app (which must outlive them). Returns the handle
 * (stop it with payment_workers_signal_stop and free it with
 * payment_workers_stop), or NULL when a thread cannot start. */
payment_workers *payment_workers_start(payment_app *app);

/* Wakes the outbox worker: a payment just completed. Accepts NULL. */
void payment_workers_wake(payment_workers *w);

/* Asks both threads to stop (they notice at once unless a call is in
 * flight). Accepts NULL. Does not free: wakes after this are harmless. */
void payment_workers_signal_stop(payment_workers *w);

/* Signals stop, joins both threads and frees w. Accepts NULL. */
void payment_workers_stop(payment_workers *w);

#endif
