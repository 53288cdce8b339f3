/* The payment service's HTTP side: its route table and the state every
 * handler and background worker shares. */
#ifndef PAYMENT_ROUTES_H
#define PAYMENT_ROUTES_H

#include <stddef.h>
#include <stdint.h>

#include "db.h"
#include "http_server.h"

#define PAYMENT_URL_LEN 256
#define PAYMENT_SAGA_MAX_STEPS 500 /* the most steps GET /payments/saga lists */

struct payment_workers;

/* Everything a handler, the settler and the outbox worker need. Read-only
 * once the server runs (workers is set before the server starts). */
typedef struct payment_app {
    db *db;
    char user_url[PAYMENT_URL_LEN];          /* USER_URL */
    char order_url[PAYMENT_URL_LEN];         /* ORDER_URL */
    char data_platform_url[PAYMENT_URL_LEN]; /* DATA_PLATFORM_URL */
    int64_t saga_deadline_ms;                /* SHOP_SAGA_DEADLINE_MS: bound of one pay saga */
    int64_t call_timeout_ms;                 /* SHOP_CALL_TIMEOUT_MS: bound of one call */
    int64_t settle_interval_ms;              /* PAYMENT_SETTLE_INTERVAL_MS */
    int64_t outbox_max_backoff_ms;           /* PAYMENT_OUTBOX_MAX_BACKOFF_MS */
    struct payment_workers *workers;         /* woken when a payment completes; may be NULL */
} payment_app;

extern const http_route payment_routes[];
extern const size_t payment_n_routes;

#endif
