/* item-service's HTTP routes: the public item routes (without /api) and the
 * internal stock routes of docs/internal-api.md that the order saga calls. */
#ifndef ITEM_ROUTES_H
#define ITEM_ROUTES_H

#include <stddef.h>

#include "db.h"
#include "http_server.h"

/* What every handler reaches through req->app. */
typedef struct item_app {
    db *db;
} item_app;

extern const http_route item_routes[];
extern const size_t item_n_routes;

#endif
