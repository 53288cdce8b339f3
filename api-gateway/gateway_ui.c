/* Serves the embedded console, reference page and OpenAPI document (see
 * gateway_ui.h). Nothing is read from disk at run time. */
#include "gateway_ui.h"

#include <string.h>

#include "log.h"

const gateway_ui_file *gateway_ui_find(const char *name)
{
    for (size_t i = 0; i < gateway_n_ui_files; i++)
        if (strcmp(gateway_ui_files[i].name, name) == 0)
            return &gateway_ui_files[i];
    return NULL;
}

bool gateway_route_is_ui(const http_route *route)
{
    return route->handler == gateway_serve_ui;
}

int gateway_serve_ui(http_req *req)
{
    const gateway_ui_spec *spec = req->route->data;
    const gateway_ui_file *file = gateway_ui_find(spec->file);
    if (file == NULL)
        return http_reply_problem(req, "INTERNAL", "%s was not embedded in this build", spec->file);
    bool ok = http_add_header(req, "Cache-Control", spec->cache_control) &&
              http_add_header(req, "X-Content-Type-Options", "nosniff") &&
              http_add_header(req, "Referrer-Policy", "no-referrer") &&
              (spec->csp == NULL || http_add_header(req, "Content-Security-Policy", spec->csp));
    if (!ok)
        log_warn(req->request_id, "could not add the headers of %s", spec->file);
    return http_reply_raw(req, 200, spec->content_type, (const char *)file->data, file->len);
}
