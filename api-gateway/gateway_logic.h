/* The gateway's pure parts: what a public route maps onto (upstream service,
 * method, path pattern), building the upstream path, the admin-token
 * decision, the PATCH /api/payments body and the /health summary. No
 * civetweb, curl or SQLite here, so Check tests it with plain data. */
#ifndef GATEWAY_LOGIC_H
#define GATEWAY_LOGIC_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include <cjson/cJSON.h>

#include "json.h"

/* The services the gateway talks to, in the order /health lists them. */
typedef enum gateway_upstream {
    GATEWAY_ITEM = 0,
    GATEWAY_USER,
    GATEWAY_COUPON,
    GATEWAY_ORDER,
    GATEWAY_PAYMENT,
    GATEWAY_N_UPSTREAMS
} gateway_upstream;

/* Longest upstream path (with query) the gateway builds. */
#define GATEWAY_PATH_MAX 2048

/* What one public route is mapped onto: the data member of its http_route. */
typedef struct gateway_route_spec {
    gateway_upstream upstream;
    const char *method; /* upstream method */
    /* Upstream path pattern: each {name} segment takes the next id, in order,
     * from the public path's ids (or, for cancel, the body's orderId). */
    const char *path;
    bool admin;  /* needs X-Admin-Token (a /api/admin route) */
    bool saga;   /* waits SHOP_SAGA_DEADLINE_MS + 2 s instead of the call timeout */
    bool cancel; /* PATCH /api/payments: ids come from the body, not the path */
} gateway_route_spec;

/* The outcome of the admin-token check. */
typedef enum gateway_admin {
    GATEWAY_ADMIN_OK = 0,       /* the token matches */
    GATEWAY_ADMIN_UNAUTHORIZED, /* missing or wrong: 401 UNAUTHORIZED */
    GATEWAY_ADMIN_DISABLED,     /* SHOP_ADMIN_TOKEN unset: 403 ADMIN_DISABLED */
} gateway_admin;

/* The service's short name ("item", "user", ...), as /health shows it and
 * problem details name it. Returns a static string. */
const char *gateway_upstream_name(gateway_upstream u);

/* The env variable holding the upstream's base URL ("ITEM_URL", ...).
 * Returns a static string. */
const char *gateway_upstream_url_env(gateway_upstream u);

/* The port env of the upstream ("ITEM_PORT", ...) and its offset from
 * SHOP_PORT_BASE (1..5), for the default URL. Returns a static string. */
const char *gateway_upstream_port_env(gateway_upstream u, int *offset);

/* Writes pattern with each {name} segment replaced by the next of the
 * n_params ids, then "?query" when query is non-NULL and non-empty, into out
 * (out_len bytes, NUL-terminated). Returns false when the ids do not match
 * the pattern's {..} count, the query holds a byte outside 0x21..0x7e (or a
 * '#'), or the result does not fit. */
bool gateway_build_path(const char *pattern, const int64_t *params, int n_params, const char *query,
                        char *out, size_t out_len);

/* Decides an admin request: configured is SHOP_ADMIN_TOKEN (NULL or "" when
 * unset), given the X-Admin-Token header (NULL when absent). The comparison
 * is constant-time. */
gateway_admin gateway_admin_decide(const char *configured, const char *given);

/* Validates the body of PATCH /api/payments:
 * {"orderId":N,"userId":N,"status":"CANCELLED"}. OUT: *order_id, *user_id.
 * Returns false with err naming the field (status must be exactly
 * "CANCELLED"). Other members are ignored. */
bool gateway_cancel_from_json(const cJSON *body, int64_t *order_id, int64_t *user_id,
                              json_err *err);

/* The body the order service's cancel route takes: {"userId":N}, written
 * into out. Returns the length, or 0 when it does not fit. */
size_t gateway_cancel_body(int64_t user_id, char *out, size_t out_len);

/* The gateway's /health reply for up[i] (service i answered its /health
 * with 200): {"status":"ok"|"degraded","services":{"item":"ok"|"down",...}}.
 * OUT: *status 200 when all are up, else 503. Returns the object (caller
 * cJSON_Deletes) or NULL when out of memory. */
cJSON *gateway_health_render(const bool up[GATEWAY_N_UPSTREAMS], int *status);

#endif
