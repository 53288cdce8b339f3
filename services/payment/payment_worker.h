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
