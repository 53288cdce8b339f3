/* order-service's HTTP routes: the public order routes (without /api), the
 * admin read route GET /orders, and the internal cancel and pay routes of
 * docs/internal-api.md. The app struct (order_app) is in order_saga.h. */
#ifndef ORDER_ROUTES_H
#define ORDER_ROUTES_H

#include <stddef.h>

#include "http_server.h"
#include "order_saga.h"

extern const http_route order_routes[];
extern const size_t order_n_routes;

#endif
