/* The user service's HTTP routes: users and balances (public, without /api),
 * the keyed debits, voids and credits the payment saga calls, and the admin
 * read routes. */
#ifndef USER_ROUTES_H
#define USER_ROUTES_H

#include <stddef.h>

#include "db.h"
#include "http_server.h"

/* What every handler reaches through req->app. */
typedef struct user_app {
    db *db;
} user_app;

extern const http_route user_routes[];
extern const size_t user_n_routes;

#endif
