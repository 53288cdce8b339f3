/* The coupon service's HTTP routes (public, admin and internal) and the state
 * every handler shares. */
#ifndef SHOP_COUPON_ROUTES_H
#define SHOP_COUPON_ROUTES_H

#include <stddef.h>
#include <stdint.h>

#include "db.h"
#include "http_server.h"

/* Handed to every handler as req->app; read-only once the server runs but
 * for keys_purged_at. */
typedef struct coupon_app {
    db *db;               /* the coupon database */
    const char *user_url; /* user-service base URL, e.g. "http://127.0.0.1:8082" */
    /* When the stored Idempotency-Key answers were last purged (epoch
     * seconds); set by main at start, then by the issue route hourly. */
    _Atomic int64_t keys_purged_at;
} coupon_app;

extern const http_route coupon_routes[];
extern const size_t coupon_n_routes;

#endif
