/* The HTTP side of shop-load and shop-audit: one libcurl easy handle per
 * client thread (keep-alive), connect and total timeouts on every call, the
 * reply parsed as JSON, plus the small JSON and URL helpers both tools use. */
#ifndef LOAD_HTTP_H
#define LOAD_HTTP_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include <cjson/cJSON.h>

/* How a call ended at the transport level. */
typedef enum load_transport {
    LOAD_T_OK = 0,  /* a full reply arrived: see status */
    LOAD_T_ERROR,   /* refused, reset, cannot resolve */
    LOAD_T_TIMEOUT, /* no full reply in time */
} load_transport;

typedef struct load_resp {
    load_transport transport;
    long status;         /* HTTP status when transport == LOAD_T_OK */
    bool replayed;       /* Idempotent-Replayed: true */
    char code[64];       /* "code" of a problem reply, else "" */
    cJSON *json;         /* the body when it parsed as JSON, else NULL */
    int64_t duration_us; /* wall time of the call */
    char error[160];     /* transport error text */
} load_resp;

/* One client's connection state. Never used by two threads at once. */
typedef struct load_http load_http;

/* A handle with the given timeouts (ms). Returns NULL when out of memory.
 * Free with load_http_free. */
load_http *load_http_new(long connect_timeout_ms, long total_timeout_ms);
void load_http_free(load_http *c);

/* Performs method on url (body may be NULL; it is sent as JSON). headers is
 * a NULL-ended list of "Name: value" lines, or NULL. Always fills out; free
 * it with load_resp_free. */
void load_http_do(load_http *c, const char *method, const char *url, const char *body,
                  const char *const *headers, load_resp *out);

/* Frees what out holds (not the struct); accepts a zeroed one. */
void load_resp_free(load_resp *r);

/* True when url is http:// to a loopback host (127.0.0.0/8, localhost,
 * [::1]) and nothing else: the tools refuse to load anything remote. */
bool load_url_is_loopback(const char *url);

/* The port of an http://host:port URL, or -1. */
int load_url_port(const char *url);

/* Member name of obj as an exact integer (integral, |v| <= 999,999,999,999,999).
 * Returns false when missing, null, or not such a number. */
bool load_json_int(const cJSON *obj, const char *name, int64_t *out);

/* Like load_json_int, but null (or missing) gives true with *out = 0. */
bool load_json_id_or_null(const cJSON *obj, const char *name, int64_t *out);

/* The string member name, or NULL. */
const char *load_json_str(const cJSON *obj, const char *name);

/* Monotonic microseconds. */
int64_t load_now_us(void);

#endif
