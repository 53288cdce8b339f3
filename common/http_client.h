/* The HTTP client for calls between services: libcurl with a bounded pool of
 * easy handles per peer shared by all threads (keep-alive reuse; at most
 * SHOP_CLIENT_CONNECTIONS, default HTTP_CLIENT_CONNECTIONS, connections per peer; a call queues
 * for a free handle of its peer within its own timeout), connect
 * and total timeouts from the environment
 * (SHOP_CONNECT_TIMEOUT_MS, default 1000; SHOP_CALL_TIMEOUT_MS, default 5000),
 * JSON in and out, X-Request-Id and X-Internal-Token passed on, and a result
 * that tells a transport failure from an HTTP status. */
#ifndef SHOP_HTTP_CLIENT_H
#define SHOP_HTTP_CLIENT_H

#include <stdbool.h>
#include <stddef.h>

#include <cjson/cJSON.h>

#include "problem.h"

struct http_req;

/* How a call ended at the transport level. */
typedef enum http_transport {
    HTTP_T_OK = 0,       /* a full HTTP reply arrived: see status */
    HTTP_T_UNAVAILABLE,  /* refused, reset, cannot resolve: 503 */
    HTTP_T_TIMEOUT,      /* no full reply in time: 504 */
} http_transport;

typedef struct http_result {
    http_transport transport;
    long status;        /* HTTP status when transport == HTTP_T_OK */
    char *body;         /* NUL-terminated reply body (malloc'd), or NULL */
    size_t body_len;
    char content_type[128];
    bool replayed;      /* reply carried Idempotent-Replayed: true */
    cJSON *json;        /* body parsed when it is JSON (and the call not raw), else NULL */
    char error[256];    /* transport error text */
    long duration_ms;
} http_result;

typedef struct http_call {
    const char *method;     /* "GET", "POST", "PUT", "PATCH" */
    const char *base_url;   /* "http://127.0.0.1:8081" */
    const char *path;       /* "/items/1" (may carry a query) */
    const char *body;       /* raw body or NULL */
    size_t body_len;
    const char *request_id; /* passed as X-Request-Id when non-NULL */
    const char *idempotency_key; /* passed as Idempotency-Key when non-NULL */
    const char *const *headers;  /* extra "Name: value" lines, NULL-ended, or NULL */
    long timeout_ms;        /* 0: SHOP_CALL_TIMEOUT_MS */
    const char *peer;       /* metrics label ("item"); NULL: base_url */
    bool raw;               /* the body is only passed on: json stays NULL */
} http_call;

/* Connections per peer unless SHOP_CLIENT_CONNECTIONS says otherwise. */
#define HTTP_CLIENT_CONNECTIONS 16

/* Reads the timeouts, the pool size and SHOP_INTERNAL_TOKEN once. Call in
 * main after curl_global_init and before threads start. */
void http_client_init(void);

/* The same, with connections as the default pool size per peer (a program
 * whose calls run at higher concurrency: the gateway). */
void http_client_init_sized(int connections);

/* Frees the pooled handles (their connections close). Call after every
 * thread that makes calls has stopped, before curl_global_cleanup. */
void http_client_cleanup(void);

/* Performs the call on a pooled handle. Always fills out (free
 * it with http_result_free); never blocks longer than the timeouts. */
void http_client_do(const http_call *call, http_result *out);

/* Convenience: method to base_url+path with a JSON body (or NULL). */
void http_client_json(const char *method, const char *base_url, const char *path,
                      const cJSON *body, const char *request_id, http_result *out);

/* Frees what the result holds (not the struct). Accepts a zeroed result. */
void http_result_free(http_result *r);

/* For a call that did not answer as hoped: replies to req with what it means
 * for our caller. A transport failure becomes 503 SERVICE_UNAVAILABLE or 504
 * UPSTREAM_TIMEOUT naming peer; a problem reply from the peer is passed on
 * unchanged (status and body); any other reply becomes 502 BAD_GATEWAY.
 * Returns the status sent. */
int http_reply_upstream(struct http_req *req, const char *peer, const http_result *r);

/* The shop_err a result stands for: SHOP_OK for 2xx, SHOP_EUPSTREAM,
 * SHOP_ETIMEOUT, SHOP_ENOTFOUND (404), SHOP_ECONFLICT (409), SHOP_EINVAL
 * (other 4xx), SHOP_EUPSTREAM (5xx). */
shop_err http_result_err(const http_result *r);

/* The problem code in a peer's problem reply, or "" when there is none. */
const char *http_result_code(const http_result *r);

#endif
