/* The gateway's own GET routes: the shop console at /, the API reference at
 * /docs, their scripts and styles, and /api/openapi.yaml, all served from
 * the files embedded in the binary (ui_assets.h) with their content type,
 * cache policy and a Content-Security-Policy that keeps every page on this
 * host. */
#ifndef GATEWAY_UI_H
#define GATEWAY_UI_H

#include <stdbool.h>

#include "http_server.h"
#include "ui_assets.h"

/* What one static route serves: the data member of its http_route. */
typedef struct gateway_ui_spec {
    const char *file;          /* name in gateway_ui_files */
    const char *content_type;  /* e.g. "text/html; charset=utf-8" */
    const char *cache_control; /* e.g. "no-cache", "public, max-age=300" */
    const char *csp;           /* Content-Security-Policy, or NULL */
} gateway_ui_spec;

/* The handler of every static route: answers 200 with the embedded file
 * req->route->data names, or 500 INTERNAL when the build did not embed it.
 * Returns the status sent. */
int gateway_serve_ui(http_req *req);

/* True when route is one of the static routes (served by gateway_serve_ui). */
bool gateway_route_is_ui(const http_route *route);

/* The embedded file called name, or NULL. Points into static data. */
const gateway_ui_file *gateway_ui_find(const char *name);

#endif
