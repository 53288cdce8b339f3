/* The gateway's routes: the public API as a table of data, each entry naming
 * the service and path it maps onto; one proxy handler forwards them all and
 * passes the reply through. GET /health asks each service's /health. The
 * console, the reference page and the OpenAPI document are GET routes of the
 * same table, served from the binary (gateway_ui.c). */
#include "routes.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "config.h"
#include "gateway_ui.h"
#include "http_client.h"
#include "log.h"

static int gateway_proxy(http_req *req);
static int gateway_health(http_req *req);

/* A public route (method, pattern) onto upstream (service, method, path). */
#define ROUTE(m, pattern, up, up_m, up_path, ...)                                                  \
    {                                                                                              \
        m, pattern, gateway_proxy, &(const gateway_route_spec)                                     \
        {                                                                                          \
            .upstream = (up), .method = (up_m), .path = (up_path), __VA_ARGS__                     \
        }                                                                                          \
    }
#define PLAIN .admin = false
#define ADMIN .admin = true
#define SAGA .saga = true

/* A file of the binary's own (ui_assets.h) at pattern. */
#define UI(pattern, file_, type, cache, csp_)                                                      \
    {                                                                                              \
        "GET", pattern, gateway_serve_ui, &(const gateway_ui_spec)                                 \
        {                                                                                          \
            .file = (file_), .content_type = (type), .cache_control = (cache), .csp = (csp_)       \
        }                                                                                          \
    }
#define HTML "text/html; charset=utf-8"
#define CSS "text/css"
#define JS "application/javascript"
#define YAML "application/yaml"
/* Pages are always revalidated; their assets have no hashed names, so they
 * are kept briefly (a new gateway shows within minutes); Redoc changes
 * only with its vendored version. */
#define NO_CACHE "no-cache"
#define ASSET "public, max-age=300"
#define VENDOR "public, max-age=86400"
/* Both pages talk to this host only. Redoc injects its styles inline and
 * runs its search index in a blob: worker; its CDN logo is refused. */
#define CONSOLE_CSP                                                                                \
    "default-src 'none'; script-src 'self'; style-src 'self'; img-src 'self' data:; "              \
    "connect-src 'self'; base-uri 'none'; form-action 'none'; frame-ancestors 'none'"
#define DOCS_CSP                                                                                   \
    "default-src 'none'; script-src 'self'; style-src 'self' 'unsafe-inline'; "                    \
    "img-src 'self' data:; font-src 'self' data:; connect-src 'self'; worker-src 'self' blob:; "   \
    "base-uri 'none'; form-action 'none'; frame-ancestors 'none'"

const http_route gateway_routes[] = {
    ROUTE("GET", "/api/items", GATEWAY_ITEM, "GET", "/items", PLAIN),
    ROUTE("GET", "/api/items/{itemId}", GATEWAY_ITEM, "GET", "/items/{itemId}", PLAIN),
    ROUTE("GET", "/api/users/{userId}/balance", GATEWAY_USER, "GET", "/users/{userId}/balance",
          PLAIN),
    ROUTE("POST", "/api/users/{userId}/balance/charge", GATEWAY_USER, "POST",
          "/users/{userId}/balance/charge", PLAIN),
    ROUTE("POST", "/api/coupons/{couponId}/issue", GATEWAY_COUPON, "POST",
          "/coupons/{couponId}/issue", PLAIN),
    ROUTE("GET", "/api/users/{userId}/coupons", GATEWAY_COUPON, "GET", "/users/{userId}/coupons",
          PLAIN),
    ROUTE("POST", "/api/orders", GATEWAY_ORDER, "POST", "/orders", SAGA),
    ROUTE("GET", "/api/orders/{orderId}", GATEWAY_ORDER, "GET", "/orders/{orderId}", PLAIN),
    ROUTE("GET", "/api/orders/{orderId}/saga", GATEWAY_ORDER, "GET", "/orders/{orderId}/saga",
          PLAIN),
    ROUTE("POST", "/api/payments", GATEWAY_PAYMENT, "POST", "/payments", SAGA),
    ROUTE("PATCH", "/api/payments", GATEWAY_ORDER, "POST", "/orders/{orderId}/cancel", SAGA,
          .cancel = true),
    ROUTE("GET", "/api/payments/{paymentId}", GATEWAY_PAYMENT, "GET", "/payments/{paymentId}",
          PLAIN),
    /* Admin: fixtures and operator reads, after the token check. */
    ROUTE("POST", "/api/admin/items", GATEWAY_ITEM, "POST", "/items", ADMIN),
    ROUTE("POST", "/api/admin/users", GATEWAY_USER, "POST", "/users", ADMIN),
    ROUTE("POST", "/api/admin/coupons", GATEWAY_COUPON, "POST", "/coupons", ADMIN),
    ROUTE("GET", "/api/admin/orders", GATEWAY_ORDER, "GET", "/orders", ADMIN),
    ROUTE("GET", "/api/admin/payments", GATEWAY_PAYMENT, "GET", "/payments", ADMIN),
    ROUTE("GET", "/api/admin/users", GATEWAY_USER, "GET", "/users", ADMIN),
    ROUTE("GET", "/api/admin/user-coupons", GATEWAY_COUPON, "GET", "/user-coupons", ADMIN),
    ROUTE("GET", "/api/admin/users/{userId}/ledger", GATEWAY_USER, "GET", "/users/{userId}/ledger",
          ADMIN),
    {"GET", "/health", gateway_health, NULL},
    /* The gateway's own files: the console, the API reference, OpenAPI. */
    UI("/", "index.html", HTML, NO_CACHE, CONSOLE_CSP),
    UI("/console.css", "console.css", CSS, ASSET, NULL),
    UI("/console.js", "console.js", JS, ASSET, NULL),
    UI("/docs", "docs.html", HTML, NO_CACHE, DOCS_CSP),
    UI("/docs.css", "docs.css", CSS, ASSET, NULL),
    UI("/docs.js", "docs.js", JS, ASSET, NULL),
    UI("/vendor/redoc.standalone.js", "vendor/redoc.standalone.js", JS, VENDOR, NULL),
    UI("/api/openapi.yaml", "openapi.yaml", YAML, NO_CACHE, NULL),
};
const size_t gateway_n_routes = sizeof gateway_routes / sizeof gateway_routes[0];

/* Answers 401/403 for an admin request without the right token; 0 when it
 * may go on. */
static int admin_refusal(http_req *req, const gateway_app *app)
{
    switch (gateway_admin_decide(app->admin_token, http_header(req, "X-Admin-Token"))) {
    case GATEWAY_ADMIN_OK:
        return 0;
    case GATEWAY_ADMIN_DISABLED:
        return http_reply_problem(req, "ADMIN_DISABLED",
                                  "admin routes are disabled: SHOP_ADMIN_TOKEN is not set");
    case GATEWAY_ADMIN_UNAUTHORIZED:
    default:
        return http_reply_problem(req, "UNAUTHORIZED", "admin routes need the right X-Admin-Token");
    }
}

/* Sends the upstream's reply on as it is (status, body, Content-Type,
 * Idempotent-Replayed), or 503/504 when the call itself failed. */
static int pass_through(http_req *req, const gateway_route_spec *spec, const http_result *r)
{
    if (r->transport != HTTP_T_OK) {
        log_warn(req->request_id, "upstream %s failed: %s", gateway_upstream_name(spec->upstream),
                 r->error);
        return http_reply_upstream(req, gateway_upstream_name(spec->upstream), r);
    }
    if (r->replayed && !http_add_header(req, "Idempotent-Replayed", "true"))
        log_warn(req->request_id, "could not add Idempotent-Replayed");
    const char *type = r->content_type[0] != '\0' ? r->content_type : "application/json";
    return http_reply_raw(req, (int)r->status, type, r->body != NULL ? r->body : "",
                          r->body != NULL ? r->body_len : 0);
}

/* Calls the upstream with method, path and body, and passes its reply on. */
static int forward(http_req *req, const gateway_route_spec *spec, const char *path,
                   const char *body, size_t body_len)
{
    const gateway_app *app = req->app;
    http_result r = {0};
    http_call call = {
        .method = spec->method,
        .base_url = app->url[spec->upstream],
        .path = path,
        .body = body,
        .body_len = body_len,
        .request_id = req->request_id,
        /* Passed on only when the client sent one; never X-Internal-Token:
         * the client library adds the gateway's own. */
        .idempotency_key = http_header(req, "Idempotency-Key"),
        .timeout_ms = spec->saga ? app->saga_timeout_ms : 0,
        .peer = gateway_upstream_name(spec->upstream),
        .raw = true, /* passed on as it came: never parsed here */
    };
    http_client_do(&call, &r);
    int status = pass_through(req, spec, &r);
    http_result_free(&r);
    return status;
}

/* PATCH /api/payments {"orderId","userId","status":"CANCELLED"} becomes the
 * order service's POST /orders/{orderId}/cancel {"userId"}. */
static int forward_cancel(http_req *req, const gateway_route_spec *spec)
{
    int status;
    int64_t order_id = 0, user_id = 0;
    json_err err = {{0}};
    char path[GATEWAY_PATH_MAX], body[64];
    size_t body_len;
    cJSON *json = http_parse_body(req);
    if (json == NULL)
        return req->status;
    if (!gateway_cancel_from_json(json, &order_id, &user_id, &err)) {
        status = http_reply_invalid(req, &err);
        goto out;
    }
    body_len = gateway_cancel_body(user_id, body, sizeof body);
    if (body_len == 0 || !gateway_build_path(spec->path, &order_id, 1, NULL, path, sizeof path)) {
        status = http_reply_problem(req, "INTERNAL", "cannot build the cancel call");
        goto out;
    }
    status = forward(req, spec, path, body, body_len);
out:
    cJSON_Delete(json);
    return status;
}

static int gateway_proxy(http_req *req)
{
    const gateway_route_spec *spec = req->route->data;
    char path[GATEWAY_PATH_MAX];
    if (spec->admin) {
        int refused = admin_refusal(req, req->app);
        if (refused != 0)
            return refused;
    }
    if (spec->cancel)
        return forward_cancel(req, spec);
    if (!gateway_build_path(spec->path, req->params, req->n_params, req->query, path, sizeof path))
        return http_reply_problem(req, "INVALID_REQUEST",
                                  "query: must be printable ASCII and the URL under %d bytes",
                                  GATEWAY_PATH_MAX);
    return forward(req, spec, path, req->body_len > 0 ? req->body : NULL, req->body_len);
}

/* GET /health: each service's GET /health, one after another, with a short
 * timeout; 200 when all answer 200, else 503 naming the ones down. */
static int gateway_health(http_req *req)
{
    const gateway_app *app = req->app;
    bool up[GATEWAY_N_UPSTREAMS];
    int status = 503;
    for (int i = 0; i < GATEWAY_N_UPSTREAMS; i++) {
        http_result r = {0};
        http_call call = {.method = "GET",
                          .base_url = app->url[i],
                          .path = "/health",
                          .request_id = req->request_id,
                          .timeout_ms = app->health_timeout_ms};
        http_client_do(&call, &r);
        up[i] = r.transport == HTTP_T_OK && r.status == 200;
        http_result_free(&r);
    }
    cJSON *body = gateway_health_render(up, &status);
    return http_reply_json(req, status, body);
}

int gateway_app_init(gateway_app *app)
{
    memset(app, 0, sizeof *app);
    for (int i = 0; i < GATEWAY_N_UPSTREAMS; i++) {
        int offset = 0;
        const char *port_env = gateway_upstream_port_env((gateway_upstream)i, &offset);
        const char *url = config_str(gateway_upstream_url_env((gateway_upstream)i), NULL);
        int n = url != NULL ? snprintf(app->url[i], GATEWAY_URL_MAX, "%s", url)
                            : snprintf(app->url[i], GATEWAY_URL_MAX, "http://127.0.0.1:%d",
                                       config_port(port_env, offset));
        if (n <= 0 || n >= GATEWAY_URL_MAX) {
            log_error(NULL, "%s is too long", gateway_upstream_url_env((gateway_upstream)i));
            return -1;
        }
        while (n > 0 && app->url[i][n - 1] == '/')
            app->url[i][--n] = '\0';
    }
    app->admin_token = config_secret("SHOP_ADMIN_TOKEN");
    app->saga_timeout_ms = (long)config_int("SHOP_SAGA_DEADLINE_MS", 8000, 1, 3600000) + 2000;
    app->health_timeout_ms = (long)config_int("GATEWAY_HEALTH_TIMEOUT_MS", 1000, 1, 60000);
    return 0;
}

void gateway_app_release(gateway_app *app)
{
    free(app->admin_token);
    app->admin_token = NULL;
}
