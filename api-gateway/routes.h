/* The gateway's route table: every public route is one entry whose data
 * (a gateway_route_spec) says which service and path it maps onto, served
 * by one proxy handler; plus GET /health, which asks every service. */
#ifndef GATEWAY_ROUTES_H
#define GATEWAY_ROUTES_H

#include <stddef.h>

#include "gateway_logic.h"
#include "http_server.h"

#define GATEWAY_URL_MAX 256

/* Kept-alive connections per upstream (SHOP_CLIENT_CONNECTIONS overrides):
 * as many as the gateway's clients keep requests in flight to one service,
 * since a call finding them all busy waits for one (a futex wake and two
 * context switches more). Measured with make bench's wrk -c64 on
 * GET /api/items/1: 64 instead of 16 gave 1.23x the requests/s (21 instead
 * of 28 us of CPU per request). The services' workers (HTTP_DEFAULT_THREADS,
 * 192) hold 64 from one gateway besides their other callers' pools. */
#define GATEWAY_CLIENT_CONNECTIONS 64

/* What the handlers read (never write) while the server runs. */
typedef struct gateway_app {
    char url[GATEWAY_N_UPSTREAMS][GATEWAY_URL_MAX]; /* base URLs, no trailing '/' */
    char *admin_token;      /* SHOP_ADMIN_TOKEN, or NULL: admin routes disabled */
    long saga_timeout_ms;   /* SHOP_SAGA_DEADLINE_MS + 2000 */
    long health_timeout_ms; /* per service, for GET /health */
} gateway_app;

extern const http_route gateway_routes[];
extern const size_t gateway_n_routes;

/* Fills app from the environment: *_URL (default
 * http://127.0.0.1:<*_PORT or SHOP_PORT_BASE + 1..5>), SHOP_ADMIN_TOKEN(_FILE),
 * SHOP_SAGA_DEADLINE_MS. Returns 0, or -1 after logging (URL too long).
 * Release with gateway_app_release. */
int gateway_app_init(gateway_app *app);

/* Frees what gateway_app_init allocated (not the struct). */
void gateway_app_release(gateway_app *app);

#endif
