/* The HTTP server every program runs: civetweb wrapped with one catch-all
 * handler and our own router. The route table is data ({method, pattern,
 * handler}); the router does 404, 405 with Allow, path ids, the 64 KiB body
 * cap (413), X-Request-Id, the internal-token check and an access-log line
 * per request, once, for everyone. Errors go out as problem+json on a
 * connection that stays alive. */
#ifndef SHOP_HTTP_SERVER_H
#define SHOP_HTTP_SERVER_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include <cjson/cJSON.h>

#define HTTP_MAX_BODY (64 * 1024)
#define HTTP_MAX_PARAMS 4
#define HTTP_REQUEST_ID_LEN 128
#define HTTP_MAX_EXTRA_HEADERS 8

/* Connection limits, the same in every program but the worker count
 * (measured with civetweb 1.15 in tests/flood/README.md). Each connection
 * holds a worker for its whole life, idle time included, and civetweb has no
 * cap on connections other than the workers: beyond them, sockets wait in
 * the connection queue, then the listen backlog, unserved. So a program
 * needs a worker for every connection its clients may hold at once: the
 * services 192 (their callers hold at most 16 pooled connections each, the
 * gateway 64, http_client.h: 112 for user-service, which has four); the public gateway
 * 1,500 (1,000 idle and 100 slowloris connections, and its real clients
 * besides).
 * - request timeout: a new connection must deliver its complete request
 *   header within this many ms of being picked up, in total, however
 *   slowly it trickles in (civetweb 1.15 read_message measures from the
 *   start of the request), or it is closed (with a 400 when it sent part of
 *   one); each body read (mg_read) is bounded by it too.
 *   SHOP_REQUEST_TIMEOUT_MS overrides.
 * - keep-alive timeout: after a reply, the next request header must be
 *   complete within this many ms, else the connection closes; short, so
 *   that idle connections give their worker back and mg_stop is quick.
 * - connection queue and listen backlog: accepted sockets waiting for a
 *   worker (civetweb's default), then connections the kernel completed and
 *   nobody accepted yet. The backlog is 1,024, not civetweb's 200: bursts
 *   of a thousand connects outrun the single accepting thread, and beyond
 *   the backlog SYNs are dropped, so a client's connect waits for the 1 s
 *   retransmit. */
#define HTTP_DEFAULT_THREADS 192
#define HTTP_MAX_THREADS 4096
#define HTTP_REQUEST_TIMEOUT_MS 5000
#define HTTP_KEEP_ALIVE_TIMEOUT_MS 500
#define HTTP_CONNECTION_QUEUE 20
#define HTTP_LISTEN_BACKLOG 1024

struct mg_connection;

/* One request as a handler sees it. Valid only during the handler call. */
typedef struct http_req {
    struct mg_connection *conn;
    const char *method;
    const char *path;  /* raw path, without the query */
    const char *query; /* after '?', or NULL */
    /* Path parameters: each {name} segment of the pattern, in order, parsed
     * as an id 1..999,999,999,999,999 (else the router answered 400). */
    int64_t params[HTTP_MAX_PARAMS];
    int n_params;
    const char *body; /* NUL-terminated copy of the body; "" when none */
    size_t body_len;
    char request_id[HTTP_REQUEST_ID_LEN + 1];
    void *app; /* http_server_config.app */
    const struct http_route *route; /* the matched route */
    /* Headers the handler adds to its reply (see http_add_header). */
    const char *extra_names[HTTP_MAX_EXTRA_HEADERS];
    char *extra_values[HTTP_MAX_EXTRA_HEADERS];
    int n_extra;
    int status; /* what was sent, for the access log */
} http_req;

/* A handler replies with one of the http_reply_* functions and returns the
 * status it sent. */
typedef int (*http_handler)(http_req *req);

/* method is "GET", "POST", ...; pattern is a path such as "/items/{id}/stock"
 * where {name} matches one segment that must be an id. Literal segments
 * match exactly (case-sensitive). */
typedef struct http_route {
    const char *method;
    const char *pattern;
    http_handler handler;
    const void *data; /* optional, for the handler (req->route->data) */
} http_route;

typedef struct http_server_config {
    const char *service;      /* "item": shown by GET /health and in logs */
    const char *bind_addr;    /* default "0.0.0.0" */
    int port;                 /* 0 picks a free port */
    /* Worker threads, the most connections served at once: when > 0, the
     * program's own choice (api-gateway: GATEWAY_THREADS, default 1500);
     * else SHOP_THREADS, default HTTP_DEFAULT_THREADS. Lowered when the
     * open-files hard limit cannot hold that many connections. */
    int num_threads;
    const http_route *routes; /* may include a GET /health of its own */
    size_t n_routes;
    void *app;                /* handed to every handler as req->app */
    /* When non-NULL, every route but /health, /health/live and /metrics
     * requires X-Internal-Token equal to it (constant-time), else 401. */
    const char *internal_token;
} http_server_config;

typedef struct http_server http_server;

/* Starts listening and serving. GET /health/live is always answered 200;
 * GET /health too ({"status":"ok","service":...}) unless the table has its
 * own; GET /metrics also reports shop_http_connections_open and
 * shop_http_workers. Raises the soft open-files limit to fit the workers.
 * Returns NULL after logging when civetweb cannot start (port taken). */
http_server *http_server_start(const http_server_config *cfg);

/* The port actually bound (useful with port 0). */
int http_server_port(const http_server *srv);

/* Stops accepting, waits for handlers to finish, frees srv. Accepts NULL. */
void http_server_stop(http_server *srv);

/* Installs SIGTERM/SIGINT handlers that only set a flag. */
void http_install_signal_handlers(void);

/* True once SIGTERM or SIGINT arrived. */
bool http_stop_requested(void);

/* Blocks until SIGTERM/SIGINT (after http_install_signal_handlers). */
void http_wait_for_stop_signal(void);

/* Adds a header to the reply the handler is about to send (name must be a
 * literal; value is copied). Returns false when there are too many. */
bool http_add_header(http_req *req, const char *name, const char *value);

/* The value of request header name, or NULL. */
const char *http_header(const http_req *req, const char *name);

/* Sends status with body (application/json) and cJSON_Deletes body.
 * Returns status. A NULL body (allocation failed) sends a 500 problem. */
int http_reply_json(http_req *req, int status, cJSON *body);

/* Sends status with len bytes of content_type. Returns status. */
int http_reply_raw(http_req *req, int status, const char *content_type,
                   const char *body, size_t len);

/* Sends a problem+json reply with code (its status from problem_status) and a
 * printf-formatted detail. Returns the status. */
int http_reply_problem(http_req *req, const char *code, const char *detail_fmt, ...)
    __attribute__((format(printf, 3, 4)));

/* 400 INVALID_REQUEST with the json_err message as detail. */
struct json_err;
int http_reply_invalid(http_req *req, const struct json_err *err);

/* Parses the body as a JSON object; on failure replies 400 itself and
 * returns NULL (the handler returns req->status then). */
cJSON *http_parse_body(http_req *req);

/* Query parameter name as an integer in [min, max]; def when absent.
 * Returns false (caller answers 400) when present but not such an integer. */
bool http_query_int(const http_req *req, const char *name, int64_t min, int64_t max,
                    int64_t def, int64_t *out);

/* True when the query names parameter name, with or without a value (so a
 * caller can tell "absent" from "present but unreadable" below). */
bool http_query_has(const http_req *req, const char *name);

/* Query parameter name copied into buf (NUL-terminated), or false when
 * absent or longer than buflen-1. */
bool http_query_str(const http_req *req, const char *name, char *buf, size_t buflen);

/* True when s is a valid request id: 1..128 of [A-Za-z0-9._-]. */
bool http_request_id_valid(const char *s);

/* Writes a fresh random request id (32 hex characters) into out (>= 33). */
void http_request_id_new(char *out);

/* Constant-time string equality (lengths may leak, contents do not). */
bool http_token_equal(const char *a, const char *b);

/* Router, exposed for unit tests: finds the route for method and path.
 * Returns the index of the route, or -1 with *status set to 404 (no pattern
 * matches the path), 405 (a pattern matches, not the method; allow gets the
 * allowed methods, comma-separated) or 400 (a {param} segment is not an
 * id). params receives the ids. */
int http_route_match(const http_route *routes, size_t n, const char *method,
                     const char *path, int64_t *params, int *n_params,
                     int *status, char *allow, size_t allow_len);

#endif
