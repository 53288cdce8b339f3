/* The user service's HTTP routes: users and balances (public, without /api),
 * the keyed debits, voids and credits the payment saga calls, and the admin
 * read routes. */
#ifndef USER_ROUTES_H
#define USER_ROUTES_H

#include <stddef.h>
#include <stdint.h>

#include "db.h"
#include "http_server.h"

/* What every handler reaches through req->app. */
typedef struct user_app {
    db *db;
    /* When the stored Idempotency-Key answers were last purged (epoch
     * seconds); set by main at start, then by the charge route hourly. */
    _Atomic int64_t keys_purged_at;
} user_app;

extern const http_route user_routes[];
extern const size_t user_n_routes;

#endif
