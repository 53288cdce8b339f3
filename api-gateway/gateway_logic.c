/* The gateway's pure parts: upstream path building, the admin-token decision,
 * the PATCH /api/payments body and the /health summary. */
#include "gateway_logic.h"

#include <inttypes.h>
#include <stdio.h>
#include <string.h>

#include "http_server.h" /* http_token_equal only: no civetweb types used */

typedef struct upstream_info {
    const char *name;
    const char *url_env;
    const char *port_env;
    int port_offset;
} upstream_info;

static const upstream_info upstreams[GATEWAY_N_UPSTREAMS] = {
    [GATEWAY_ITEM] = {"item", "ITEM_URL", "ITEM_PORT", 1},
    [GATEWAY_USER] = {"user", "USER_URL", "USER_PORT", 2},
    [GATEWAY_COUPON] = {"coupon", "COUPON_URL", "COUPON_PORT", 3},
    [GATEWAY_ORDER] = {"order", "ORDER_URL", "ORDER_PORT", 4},
    [GATEWAY_PAYMENT] = {"payment", "PAYMENT_URL", "PAYMENT_PORT", 5},
};

const char *gateway_upstream_name(gateway_upstream u)
{
    return ((unsigned)u < GATEWAY_N_UPSTREAMS) ? upstreams[u].name : "unknown";
}

const char *gateway_upstream_url_env(gateway_upstream u)
{
    return ((unsigned)u < GATEWAY_N_UPSTREAMS) ? upstreams[u].url_env : "";
}

const char *gateway_upstream_port_env(gateway_upstream u, int *offset)
{
    if ((unsigned)u >= GATEWAY_N_UPSTREAMS) {
        *offset = 0;
        return "";
    }
    *offset = upstreams[u].port_offset;
    return upstreams[u].port_env;
}

/* Appends len bytes of s at *pos in out; false when it would not fit with
 * the terminating NUL. */
static bool append(char *out, size_t out_len, size_t *pos, const char *s, size_t len)
{
    if (len >= out_len - *pos)
        return false;
    memcpy(out + *pos, s, len);
    *pos += len;
    out[*pos] = '\0';
    return true;
}

static bool query_ok(const char *query)
{
    for (const unsigned char *p = (const unsigned char *)query; *p != '\0'; p++) {
        if (*p < 0x21 || *p > 0x7e || *p == '#')
            return false;
    }
    return true;
}

bool gateway_build_path(const char *pattern, const int64_t *params, int n_params, const char *query,
                        char *out, size_t out_len)
{
    size_t pos = 0;
    int used = 0;
    if (out_len == 0)
        return false;
    out[0] = '\0';
    for (const char *p = pattern; *p != '\0';) {
        if (*p != '{') {
            const char *brace = strchr(p, '{');
            size_t len = brace != NULL ? (size_t)(brace - p) : strlen(p);
            if (!append(out, out_len, &pos, p, len))
                return false;
            p += len;
            continue;
        }
        const char *close = strchr(p, '}');
        if (close == NULL || used >= n_params || params[used] <= 0)
            return false;
        char id[24];
        int n = snprintf(id, sizeof id, "%" PRId64, params[used++]);
        if (!append(out, out_len, &pos, id, (size_t)n))
            return false;
        p = close + 1;
    }
    if (used != n_params)
        return false;
    if (query != NULL && query[0] != '\0') {
        if (!query_ok(query) || !append(out, out_len, &pos, "?", 1) ||
            !append(out, out_len, &pos, query, strlen(query)))
            return false;
    }
    return true;
}

gateway_admin gateway_admin_decide(const char *configured, const char *given)
{
    if (configured == NULL || configured[0] == '\0')
        return GATEWAY_ADMIN_DISABLED;
    if (given == NULL || !http_token_equal(configured, given))
        return GATEWAY_ADMIN_UNAUTHORIZED;
    return GATEWAY_ADMIN_OK;
}

bool gateway_cancel_from_json(const cJSON *body, int64_t *order_id, int64_t *user_id, json_err *err)
{
    const char *status = NULL;
    if (!json_get_int(body, "orderId", 1, JSON_INT_MAX, order_id, err) ||
        !json_get_int(body, "userId", 1, JSON_INT_MAX, user_id, err) ||
        !json_get_string(body, "status", 1, 64, &status, err))
        return false;
    if (strcmp(status, "CANCELLED") != 0) {
        snprintf(err->msg, sizeof err->msg, "status: must be \"CANCELLED\"");
        return false;
    }
    return true;
}

size_t gateway_cancel_body(int64_t user_id, char *out, size_t out_len)
{
    int n = snprintf(out, out_len, "{\"userId\":%" PRId64 "}", user_id);
    return (n > 0 && (size_t)n < out_len) ? (size_t)n : 0;
}

cJSON *gateway_health_render(const bool up[GATEWAY_N_UPSTREAMS], int *status)
{
    bool all_up = true;
    cJSON *root = cJSON_CreateObject();
    cJSON *services = cJSON_CreateObject();
    if (root == NULL || services == NULL)
        goto fail;
    for (int i = 0; i < GATEWAY_N_UPSTREAMS; i++) {
        all_up = all_up && up[i];
        if (cJSON_AddStringToObject(services, upstreams[i].name, up[i] ? "ok" : "down") == NULL)
            goto fail;
    }
    if (cJSON_AddStringToObject(root, "status", all_up ? "ok" : "degraded") == NULL)
        goto fail;
    if (!cJSON_AddItemToObject(root, "services", services))
        goto fail;
    *status = all_up ? 200 : 503;
    return root;
fail:
    cJSON_Delete(services);
    cJSON_Delete(root);
    return NULL;
}
