/* The HTTP server every program runs: civetweb with one catch-all handler and
 * our own router on the raw path (LIBS.md: civetweb's own patterns are
 * case-insensitive prefix matches), so 404, 405, path ids, the body cap, the
 * request id, the internal token and the access log live in one place. */
#include "http_server.h"

#include <arpa/inet.h>
#include <ctype.h>
#include <errno.h>
#include <malloc.h>
#include <netinet/in.h>
#include <pthread.h>
#include <signal.h>
#include <stdarg.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/random.h>
#include <sys/resource.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#include <civetweb.h>

#include "config.h"
#include "json.h"
#include "log.h"
#include "metrics.h"
#include "problem.h"
#include "timeutil.h"

#define HTTP_ID_MAX 999999999999999LL

/* glibc malloc arenas per process (see limit_malloc_arenas). */
#define HTTP_MALLOC_ARENAS 2

/* What release_stack keeps below its own frame: its locals and the madvise
 * call. */
#define HTTP_STACK_KEEP_BELOW 1024

/* A worker releases its stack at most this often when connections close. */
#define HTTP_STACK_RELEASE_INTERVAL_MS 1000

struct http_server {
    struct mg_context *ctx;
    http_server_config cfg;
    int port;
    bool has_health_route;
    int num_threads;
    atomic_int open_connections; /* each holds a worker (LIBS.md §1) */
};

static volatile sig_atomic_t stop_flag;

/* ---------------------------------------------------------------- router */

/* Parses a path segment of len bytes as an id 1..HTTP_ID_MAX: digits only, no
 * sign, no leading zero. */
static bool parse_id(const char *s, size_t len, int64_t *out)
{
    if (len == 0 || len > 15 || s[0] == '0')
        return false;
    int64_t v = 0;
    for (size_t i = 0; i < len; i++) {
        if (!isdigit((unsigned char)s[i]))
            return false;
        v = v * 10 + (s[i] - '0');
    }
    *out = v;
    return v <= HTTP_ID_MAX;
}

typedef enum { MATCH_NO, MATCH_YES, MATCH_BAD_PARAM } path_match;

/* Matches path against pattern segment by segment; {name} takes one id. */
static path_match match_path(const char *pattern, const char *path, int64_t *params,
                             int *n_params)
{
    const char *p = pattern, *s = path;
    bool bad = false;
    int n = 0;
    if (*p != '/' || *s != '/')
        return MATCH_NO;
    while (*p != '\0' && *s != '\0') {
        p++;
        s++; /* past '/' */
        size_t plen = strcspn(p, "/"), slen = strcspn(s, "/");
        if (plen > 1 && p[0] == '{' && p[plen - 1] == '}') {
            if (slen == 0)
                return MATCH_NO;
            if (n == HTTP_MAX_PARAMS || !parse_id(s, slen, &params[n]))
                bad = true;
            n++;
        } else if (plen != slen || memcmp(p, s, plen) != 0) {
            return MATCH_NO;
        }
        p += plen;
        s += slen;
    }
    if (*p != '\0' || *s != '\0')
        return MATCH_NO;
    *n_params = n;
    return bad ? MATCH_BAD_PARAM : MATCH_YES;
}

int http_route_match(const http_route *routes, size_t n, const char *method, const char *path,
                     int64_t *params, int *n_params, int *status, char *allow, size_t allow_len)
{
    bool path_known = false, bad_param = false;
    size_t used = 0;
    if (allow_len > 0)
        allow[0] = '\0';
    for (size_t i = 0; i < n; i++) {
        int64_t tmp[HTTP_MAX_PARAMS];
        int ntmp = 0;
        path_match m = match_path(routes[i].pattern, path, tmp, &ntmp);
        if (m == MATCH_NO)
            continue;
        path_known = true;
        if (strcmp(routes[i].method, method) == 0) {
            if (m == MATCH_BAD_PARAM) {
                bad_param = true;
                continue;
            }
            memcpy(params, tmp, sizeof tmp);
            *n_params = ntmp;
            return (int)i;
        }
        if (strstr(allow, routes[i].method) == NULL && used + strlen(routes[i].method) + 3 < allow_len)
            used += (size_t)snprintf(allow + used, allow_len - used, "%s%s", used ? ", " : "",
                                     routes[i].method);
    }
    *status = bad_param ? 400 : path_known ? 405 : 404;
    return -1;
}

/* --------------------------------------------------------------- replies */

bool http_add_header(http_req *req, const char *name, const char *value)
{
    if (req->n_extra == HTTP_MAX_EXTRA_HEADERS)
        return false;
    char *copy = strdup(value);
    if (copy == NULL)
        return false;
    req->extra_names[req->n_extra] = name;
    req->extra_values[req->n_extra] = copy;
    req->n_extra++;
    return true;
}

int http_reply_raw(http_req *req, int status, const char *content_type, const char *body,
                   size_t len)
{
    /* The status line, the headers and the body in one write: civetweb's
     * header functions send a line each (eight sends a reply, and a process
     * killed between them leaves the client a bare status line that reads as
     * a complete, empty answer). */
    char head[2048];
    int n = snprintf(head, sizeof head,
                     "HTTP/1.1 %d %s\r\nContent-Type: %s\r\nContent-Length: %zu\r\n"
                     "X-Request-Id: %s\r\n",
                     status, problem_title(status), content_type, len, req->request_id);
    for (int i = 0; i < req->n_extra && n > 0 && (size_t)n < sizeof head; i++)
        n += snprintf(head + n, sizeof head - (size_t)n, "%s: %s\r\n", req->extra_names[i],
                      req->extra_values[i]);
    if (n > 0 && (size_t)n + 2 < sizeof head)
        n += snprintf(head + n, sizeof head - (size_t)n, "\r\n");
    char *buf = n > 0 && (size_t)n < sizeof head ? malloc((size_t)n + len) : NULL;
    if (buf != NULL) {
        memcpy(buf, head, (size_t)n);
        if (len > 0)
            memcpy(buf + n, body, len);
        mg_write(req->conn, buf, (size_t)n + len);
        free(buf);
    } else {
        log_error(req->request_id, "reply of %zu bytes could not be built", len);
    }
    req->status = status;
    return status;
}

int http_reply_json(http_req *req, int status, cJSON *body)
{
    char *text = body != NULL ? cJSON_PrintUnformatted(body) : NULL;
    cJSON_Delete(body);
    if (text == NULL)
        return http_reply_problem(req, "INTERNAL", "out of memory");
    http_reply_raw(req, status, "application/json", text, strlen(text));
    cJSON_free(text);
    return status;
}

static int reply_problem_status(http_req *req, int status, const char *code, const char *detail)
{
    char *text = problem_render(status, code, detail);
    static const char fallback[] = "{\"type\":\"about:blank\",\"status\":500,\"code\":\"INTERNAL\"}";
    if (text == NULL)
        return http_reply_raw(req, 500, "application/problem+json", fallback, sizeof fallback - 1);
    http_reply_raw(req, status, "application/problem+json", text, strlen(text));
    free(text);
    return status;
}

int http_reply_problem(http_req *req, const char *code, const char *detail_fmt, ...)
{
    char detail[512];
    va_list ap;
    va_start(ap, detail_fmt);
    vsnprintf(detail, sizeof detail, detail_fmt, ap);
    va_end(ap);
    return reply_problem_status(req, problem_status(code), code, detail);
}

int http_reply_invalid(http_req *req, const json_err *err)
{
    return http_reply_problem(req, "INVALID_REQUEST", "%s", err->msg);
}

cJSON *http_parse_body(http_req *req)
{
    json_err err;
    if (req->body_len == 0) {
        http_reply_problem(req, "INVALID_REQUEST", "body: a JSON object is required");
        return NULL;
    }
    cJSON *root = json_parse_object(req->body, req->body_len, &err);
    if (root == NULL)
        http_reply_invalid(req, &err);
    return root;
}

/* ---------------------------------------------------------- request info */

const char *http_header(const http_req *req, const char *name)
{
    return mg_get_header(req->conn, name);
}

bool http_query_has(const http_req *req, const char *name)
{
    size_t n = strlen(name);
    for (const char *p = req->query; p != NULL && *p != '\0';) {
        if (strncmp(p, name, n) == 0 && (p[n] == '=' || p[n] == '&' || p[n] == '\0'))
            return true;
        p = strchr(p, '&');
        if (p != NULL)
            p++;
    }
    return false;
}

bool http_query_str(const http_req *req, const char *name, char *buf, size_t buflen)
{
    if (req->query == NULL)
        return false;
    return mg_get_var(req->query, strlen(req->query), name, buf, buflen) >= 0;
}

bool http_query_int(const http_req *req, const char *name, int64_t min, int64_t max, int64_t def,
                    int64_t *out)
{
    char buf[32];
    if (req->query == NULL) {
        *out = def;
        return true;
    }
    int n = mg_get_var(req->query, strlen(req->query), name, buf, sizeof buf);
    if (n == -1) {
        *out = def;
        return true;
    }
    if (n <= 0 || n > 15)
        return false;
    int64_t v = 0;
    for (int i = 0; i < n; i++) {
        if (!isdigit((unsigned char)buf[i]))
            return false;
        v = v * 10 + (buf[i] - '0');
    }
    if (v < min || v > max)
        return false;
    *out = v;
    return true;
}

bool http_request_id_valid(const char *s)
{
    size_t n = 0;
    for (; s[n] != '\0'; n++)
        if (!isalnum((unsigned char)s[n]) && s[n] != '.' && s[n] != '_' && s[n] != '-')
            return false;
    return n >= 1 && n <= HTTP_REQUEST_ID_LEN;
}

void http_request_id_new(char *out)
{
    unsigned char raw[16];
    if (getrandom(raw, sizeof raw, 0) != (ssize_t)sizeof raw) {
        /* Not secret, only unique enough to follow a request in the logs. */
        int64_t t = time_mono_ms() ^ ((int64_t)getpid() << 32);
        for (size_t i = 0; i < sizeof raw; i++)
            raw[i] = (unsigned char)(t >> (8 * (i % 8))) ^ (unsigned char)rand();
    }
    static const char hex[] = "0123456789abcdef";
    for (size_t i = 0; i < sizeof raw; i++) {
        out[2 * i] = hex[raw[i] >> 4];
        out[2 * i + 1] = hex[raw[i] & 15];
    }
    out[32] = '\0';
}

bool http_token_equal(const char *a, const char *b)
{
    size_t la = strlen(a), lb = strlen(b);
    unsigned char diff = (unsigned char)(la != lb);
    for (size_t i = 0; i < la; i++)
        diff |= (unsigned char)(a[i] ^ b[i % (lb ? lb : 1)]);
    return diff == 0;
}

/* ------------------------------------------------------------- dispatch */

/* Reads the body into req (malloc'd), capped at HTTP_MAX_BODY.
 * Returns 0, or the status to answer (413, 400). */
static int read_body(http_req *req, const struct mg_request_info *ri, char **owned)
{
    const char *te = mg_get_header(req->conn, "Transfer-Encoding");
    if (ri->content_length > HTTP_MAX_BODY)
        return 413;
    if (ri->content_length <= 0 && te == NULL)
        return 0;
    size_t cap = ri->content_length > 0 ? (size_t)ri->content_length : HTTP_MAX_BODY;
    char *buf = malloc(cap + 2);
    if (buf == NULL)
        return 500;
    size_t len = 0;
    int n = 0;
    while (len <= cap && (n = mg_read(req->conn, buf + len, cap + 1 - len)) > 0)
        len += (size_t)n;
    if (len > HTTP_MAX_BODY || len > cap) {
        free(buf);
        return 413;
    }
    if (n < 0) {
        free(buf);
        return 400;
    }
    buf[len] = '\0';
    *owned = buf;
    req->body = buf;
    req->body_len = len;
    return 0;
}

static int reply_health(http_req *req, const char *service)
{
    cJSON *o = cJSON_CreateObject();
    cJSON_AddStringToObject(o, "status", "ok");
    if (service != NULL)
        cJSON_AddStringToObject(o, "service", service);
    return http_reply_json(req, 200, o);
}

static int reply_metrics(http_server *srv, http_req *req)
{
    metrics_gauge("shop_http_connections_open", "", atomic_load(&srv->open_connections));
    metrics_gauge("shop_http_workers", "", srv->num_threads);
    char *text = metrics_render();
    if (text == NULL)
        return http_reply_problem(req, "INTERNAL", "out of memory");
    http_reply_raw(req, 200, "text/plain; version=0.0.4; charset=utf-8", text, strlen(text));
    free(text);
    return 200;
}

static bool is_open_path(const char *path)
{
    return strcmp(path, "/health") == 0 || strcmp(path, "/health/live") == 0 ||
           strcmp(path, "/metrics") == 0;
}

/* Routes one request and answers it. Returns the status sent. */
static int route_request(http_server *srv, http_req *req, const struct mg_request_info *ri,
                         char **body)
{
    const http_server_config *cfg = &srv->cfg;
    if (strcmp(req->method, "GET") == 0 && strcmp(req->path, "/health/live") == 0)
        return reply_health(req, NULL);
    if (strcmp(req->method, "GET") == 0 && strcmp(req->path, "/health") == 0 &&
        !srv->has_health_route)
        return reply_health(req, cfg->service);
    if (strcmp(req->method, "GET") == 0 && strcmp(req->path, "/metrics") == 0)
        return reply_metrics(srv, req);
    if (cfg->internal_token != NULL && !is_open_path(req->path)) {
        const char *tok = mg_get_header(req->conn, "X-Internal-Token");
        if (tok == NULL || !http_token_equal(tok, cfg->internal_token))
            return http_reply_problem(req, "UNAUTHORIZED", "X-Internal-Token missing or wrong");
    }
    int status = 0;
    char allow[128];
    int idx = http_route_match(cfg->routes, cfg->n_routes, req->method, req->path, req->params,
                               &req->n_params, &status, allow, sizeof allow);
    if (idx < 0) {
        if (status == 405) {
            http_add_header(req, "Allow", allow);
            return http_reply_problem(req, "METHOD_NOT_ALLOWED", "%s is not allowed here; allowed: %s",
                                      req->method, allow);
        }
        if (status == 400)
            return http_reply_problem(req, "INVALID_REQUEST",
                                      "path: ids are integers 1..999999999999999");
        return http_reply_problem(req, "NOT_FOUND", "no route for %s", req->path);
    }
    req->route = &cfg->routes[idx];
    int body_status = read_body(req, ri, body);
    if (body_status == 413)
        return http_reply_problem(req, "PAYLOAD_TOO_LARGE", "bodies are limited to %d bytes",
                                  HTTP_MAX_BODY);
    if (body_status != 0)
        return http_reply_problem(req, body_status == 400 ? "INVALID_REQUEST" : "INTERNAL",
                                  "body could not be read");
    int sent = cfg->routes[idx].handler(req);
    if (req->status == 0) {
        log_error(req->request_id, "handler for %s %s sent no reply (returned %d)", req->method,
                  req->path, sent);
        return http_reply_problem(req, "INTERNAL", "no reply");
    }
    return req->status;
}

/* Counts the request by route pattern (never the raw path, which clients
 * choose) and a bounded set of methods. */
static void record_request(const http_req *req, int status, int64_t took_ms)
{
    static const char *const methods[] = {"GET", "POST", "PUT", "PATCH", "DELETE", "HEAD"};
    const char *method = "OTHER";
    for (size_t i = 0; i < sizeof methods / sizeof methods[0]; i++)
        if (strcmp(req->method, methods[i]) == 0)
            method = methods[i];
    const char *route = req->route != NULL                      ? req->route->pattern
                        : req->path != NULL && is_open_path(req->path) ? req->path
                                                                       : "unmatched";
    char labels[256];
    snprintf(labels, sizeof labels, "route=\"%s\",method=\"%s\",status=\"%d\"", route, method,
             status);
    metrics_count("shop_http_requests_total", labels, 1);
    snprintf(labels, sizeof labels, "route=\"%s\"", route);
    metrics_observe("shop_http_request_duration_seconds", labels, (double)took_ms / 1000.0);
}

static int dispatch(struct mg_connection *conn, void *cbdata)
{
    http_server *srv = cbdata;
    const struct mg_request_info *ri = mg_get_request_info(conn);
    int64_t started = time_mono_ms();
    http_req req;
    memset(&req, 0, sizeof req);
    req.conn = conn;
    req.method = ri->request_method;
    req.path = ri->local_uri_raw != NULL ? ri->local_uri_raw : ri->local_uri;
    req.query = ri->query_string;
    req.body = "";
    req.app = srv->cfg.app;
    const char *rid = mg_get_header(conn, "X-Request-Id");
    if (rid != NULL && http_request_id_valid(rid))
        snprintf(req.request_id, sizeof req.request_id, "%s", rid);
    else
        http_request_id_new(req.request_id);

    char *body = NULL;
    int status = route_request(srv, &req, ri, &body);
    int64_t took_ms = time_mono_ms() - started;
    log_info(req.request_id, "%s %s -> %d in %lld ms", req.method, req.path != NULL ? req.path : "",
             status, (long long)took_ms);
    record_request(&req, status, took_ms);
    for (int i = 0; i < req.n_extra; i++)
        free(req.extra_values[i]);
    free(body);
    return status;
}

/* civetweb's own error answers (malformed request lines, oversized headers)
 * as problem+json too. civetweb closes these connections afterwards. */
static int on_http_error(struct mg_connection *conn, int status, const char *errmsg)
{
    const char *code = status == 413                ? "PAYLOAD_TOO_LARGE"
                       : status == 404              ? "NOT_FOUND"
                       : status == 405              ? "METHOD_NOT_ALLOWED"
                       : status >= 500              ? "INTERNAL"
                                                    : "INVALID_REQUEST";
    char *text = problem_render(status, code, errmsg);
    char rid[HTTP_REQUEST_ID_LEN + 1];
    if (text == NULL)
        return 1;
    http_request_id_new(rid); /* the request could not be read: no id of its own */
    mg_printf(conn,
              "HTTP/1.1 %d %s\r\nContent-Type: application/problem+json\r\n"
              "Content-Length: %zu\r\nX-Request-Id: %s\r\nConnection: close\r\n\r\n%s",
              status, problem_title(status), strlen(text), rid, text);
    free(text);
    return 0;
}

/* Every request goes through begin_request, which civetweb calls before its
 * own handler lookup. A handler registered with mg_set_request_handler
 * would leave a gap after mg_start, when the port already accepts and
 * civetweb would answer 404 on its own (seen right after restarts). */
static int on_begin_request(struct mg_connection *conn)
{
    return dispatch(conn, mg_get_user_data(mg_get_context(conn)));
}

static int on_log_message(const struct mg_connection *conn, const char *message)
{
    (void)conn;
    log_warn(NULL, "civetweb: %s", message);
    return 1;
}

/* Every connection holds a worker for its whole life, idle time included
 * (LIBS.md §1): counted for GET /metrics, next to the number of workers. */
static int on_init_connection(const struct mg_connection *conn, void **conn_data)
{
    (void)conn_data;
    http_server *srv = mg_get_user_data(mg_get_context(conn));
    if (srv != NULL)
        atomic_fetch_add(&srv->open_connections, 1);
    return 0;
}

/* ---------------------------------------------------------------- memory */

/* A worker's stack keeps every page a request ever touched (SQLite and JSON
 * go a few pages deep), and a program has from dozens to 1,500 workers,
 * most of them idle at any time. When a worker starts and whenever its
 * connection closes, it hands back the pages below its current frame
 * (MADV_DONTNEED: the kernel frees them, the next touch maps a zero page),
 * so an idle worker keeps two pages of stack (its thread descriptor and the
 * frames it waits in) instead of three at start and about eight after
 * serving. Only memory below the stack pointer, which holds nothing live,
 * is released; a signal handler runs on this stack only after the call has
 * returned. A release costs tens of microseconds (the madvise flushes the
 * TLB of every core running the process, and the pages fault back in): a
 * /health with Connection: close ran 25% slower with one per connection,
 * so a worker releases at most once a second; a worker closing connections
 * that often is busy anyway. Measured: api-gateway 51 → 41 MB PSS at peak
 * in make bench, 57 → 43 MB RSS under make flood. */
static uintptr_t page_size; /* set before the workers start */
static _Thread_local uintptr_t stack_low, stack_high;
static _Thread_local int64_t stack_released_ms;

/* throttled: false at a worker's start, true when its connection closes. */
static __attribute__((noinline)) void release_stack(bool throttled)
{
    uintptr_t page = page_size;
    if (page == 0)
        return;
    int64_t now = time_mono_ms();
    if (throttled && now - stack_released_ms < HTTP_STACK_RELEASE_INTERVAL_MS)
        return;
    stack_released_ms = now;
    if (stack_high == 0) {
        pthread_attr_t attr;
        void *addr = NULL;
        size_t size = 0;
        if (pthread_getattr_np(pthread_self(), &attr) != 0)
            return;
        int rc = pthread_attr_getstack(&attr, &addr, &size);
        pthread_attr_destroy(&attr);
        if (rc != 0 || addr == NULL)
            return;
        stack_low = ((uintptr_t)addr + page - 1) & ~(page - 1); /* above the guard */
        stack_high = (uintptr_t)addr + size;
    }
    /* The real frame, also under sanitizers that move locals elsewhere. */
    uintptr_t frame = (uintptr_t)__builtin_frame_address(0);
    if (frame <= stack_low + HTTP_STACK_KEEP_BELOW || frame > stack_high)
        return;
    uintptr_t end = (frame - HTTP_STACK_KEEP_BELOW) & ~(page - 1);
    if (end > stack_low)
        (void)madvise((void *)stack_low, end - stack_low, MADV_DONTNEED);
}

static void *on_init_thread(const struct mg_context *ctx, int thread_type)
{
    (void)ctx;
    if (thread_type == 1) /* a worker, in its own thread */
        release_stack(false);
    return NULL;
}

/* glibc gives each thread that mallocs under contention an arena of its own,
 * up to 8 per core, and each keeps free and half-used pages of its own:
 * 2 arenas (with the per-thread caches in front) cut the seven programs'
 * summed peak PSS by about 6 MB under shop-load at 64 and 128 clients, with
 * no change measured in sagas/s or in CPU per GET through the gateway.
 * MALLOC_ARENA_MAX in the environment (glibc's own knob) wins. The limit is
 * read when a ninth arena would be made, so setting it here, before the
 * workers start, is early enough. */
static void limit_malloc_arenas(void)
{
    const char *tunables = getenv("GLIBC_TUNABLES");
    if (getenv("MALLOC_ARENA_MAX") != NULL ||
        (tunables != NULL && strstr(tunables, "glibc.malloc.arena_max") != NULL))
        return;
    mallopt(M_ARENA_MAX, HTTP_MALLOC_ARENAS);
}

static void on_connection_close(const struct mg_connection *conn)
{
    http_server *srv = mg_get_user_data(mg_get_context(conn));
    if (srv != NULL)
        atomic_fetch_sub(&srv->open_connections, 1);
    release_stack(true); /* civetweb calls this in the worker that served conn */
}

static pthread_once_t mg_once = PTHREAD_ONCE_INIT;

static void init_civetweb(void)
{
    long page = sysconf(_SC_PAGESIZE);
    page_size = page > 0 ? (uintptr_t)page : 0;
    limit_malloc_arenas();
    mg_init_library(0);
}

/* Each connection is a descriptor: raises the soft open-files limit to what
 * n_threads workers, the accepted sockets in the connection queue and the
 * program's own files (databases, outgoing connections, logs) need: a soft
 * limit of 1,024 is common, and civetweb's accept loop spins at EMFILE.
 * (The listen backlog holds no descriptors.) When the hard limit is lower,
 * lowers the worker count to fit and says so. Returns the count to use. */
static int64_t fit_open_files(const char *service, int64_t n_threads)
{
    const int64_t others = HTTP_CONNECTION_QUEUE + 256;
    struct rlimit rl;
    if (getrlimit(RLIMIT_NOFILE, &rl) != 0)
        return n_threads;
    rlim_t want = (rlim_t)(n_threads + others);
    if (rl.rlim_cur != RLIM_INFINITY && rl.rlim_cur < want) {
        rl.rlim_cur = rl.rlim_max == RLIM_INFINITY || rl.rlim_max > want ? want : rl.rlim_max;
        if (setrlimit(RLIMIT_NOFILE, &rl) != 0)
            (void)getrlimit(RLIMIT_NOFILE, &rl);
    }
    if (rl.rlim_cur != RLIM_INFINITY && rl.rlim_cur < want) {
        int64_t fit = (int64_t)rl.rlim_cur - others;
        fit = fit < 2 ? 2 : fit;
        log_warn(NULL, "http: %s: open-files limit %llu is too low for %lld workers; using %lld",
                 service != NULL ? service : "server", (unsigned long long)rl.rlim_cur,
                 (long long)n_threads, (long long)fit);
        return fit;
    }
    return n_threads;
}

http_server *http_server_start(const http_server_config *cfg)
{
    pthread_once(&mg_once, init_civetweb);
    metrics_describe("shop_http_requests_total", METRIC_COUNTER,
                     "Requests served, by route pattern, method and status.");
    metrics_describe("shop_http_request_duration_seconds", METRIC_HISTOGRAM,
                     "Time to answer a request, by route pattern.");
    metrics_describe("shop_http_client_calls_total", METRIC_COUNTER,
                     "Calls to other programs, by peer and outcome.");
    metrics_describe("shop_http_client_call_duration_seconds", METRIC_HISTOGRAM,
                     "Time of calls to other programs, by peer.");
    metrics_describe("shop_http_connections_open", METRIC_GAUGE,
                     "Client connections open now; each holds a worker thread.");
    metrics_describe("shop_http_workers", METRIC_GAUGE,
                     "Worker threads: the most connections served at once.");
    http_server *srv = calloc(1, sizeof *srv);
    if (srv == NULL)
        return NULL;
    srv->cfg = *cfg;
    atomic_init(&srv->open_connections, 0);
    for (size_t i = 0; i < cfg->n_routes; i++)
        if (strcmp(cfg->routes[i].pattern, "/health") == 0 &&
            strcmp(cfg->routes[i].method, "GET") == 0)
            srv->has_health_route = true;

    char ports[64], threads[16], request_timeout[16], keep_alive[16], queue[16], backlog[16];
    snprintf(ports, sizeof ports, "%s:%d", cfg->bind_addr ? cfg->bind_addr : "0.0.0.0", cfg->port);
    int64_t n_threads = cfg->num_threads > 0
                            ? cfg->num_threads
                            : config_int("SHOP_THREADS", HTTP_DEFAULT_THREADS, 2, HTTP_MAX_THREADS);
    n_threads = fit_open_files(cfg->service, n_threads);
    srv->num_threads = (int)n_threads;
    snprintf(threads, sizeof threads, "%lld", (long long)n_threads);
    int64_t request_ms =
        config_int("SHOP_REQUEST_TIMEOUT_MS", HTTP_REQUEST_TIMEOUT_MS, 100, 600000);
    snprintf(request_timeout, sizeof request_timeout, "%lld", (long long)request_ms);
    snprintf(keep_alive, sizeof keep_alive, "%d", HTTP_KEEP_ALIVE_TIMEOUT_MS);
    snprintf(queue, sizeof queue, "%d", HTTP_CONNECTION_QUEUE);
    snprintf(backlog, sizeof backlog, "%d", HTTP_LISTEN_BACKLOG);
    const char *options[] = {
        "listening_ports", ports,
        "num_threads", threads,
        "enable_keep_alive", "yes",
        /* Limits: see HTTP_REQUEST_TIMEOUT_MS and its neighbours in
         * http_server.h. No linger_timeout_ms: closing never waits. */
        "keep_alive_timeout_ms", keep_alive,
        "request_timeout_ms", request_timeout,
        "connection_queue", queue,
        "listen_backlog", backlog,
        "tcp_nodelay", "1",
        /* The router wants the path as sent: decoded, %31 would route as
         * the id 1 and %2F as a separator (local_uri_raw is decoded unless
         * decode_url is no). */
        "decode_url", "no",
        NULL,
    };
    struct mg_callbacks callbacks;
    memset(&callbacks, 0, sizeof callbacks);
    callbacks.begin_request = on_begin_request;
    callbacks.http_error = on_http_error;
    callbacks.log_message = on_log_message;
    callbacks.init_connection = on_init_connection;
    callbacks.connection_close = on_connection_close;
    callbacks.init_thread = on_init_thread;
    srv->ctx = mg_start(&callbacks, srv, options);
    if (srv->ctx == NULL) {
        log_error(NULL, "http: cannot listen on %s with %lld workers", ports, (long long)n_threads);
        free(srv);
        return NULL;
    }
    struct mg_server_port sp[4];
    int n = mg_get_server_ports(srv->ctx, 4, sp);
    srv->port = n > 0 ? sp[0].port : cfg->port;
    return srv;
}

int http_server_port(const http_server *srv)
{
    return srv->port;
}

/* A connection to our own port wakes civetweb's master thread, which
 * otherwise notices mg_stop only at the end of a 2 s poll slice. The poke has
 * to come after mg_stop has raised its flag, and mg_stop blocks, so a helper
 * thread pokes until the stop is done. */
static void poke(int port)
{
    int fd = socket(AF_INET, SOCK_STREAM, 0);
    if (fd < 0)
        return;
    struct sockaddr_in a = {.sin_family = AF_INET, .sin_port = htons((uint16_t)port)};
    a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    (void)connect(fd, (struct sockaddr *)&a, sizeof a);
    close(fd);
}

typedef struct poker {
    int port;
    pthread_mutex_t lock;
    pthread_cond_t done_cond;
    bool done;
} poker;

static void *poke_until_stopped(void *arg)
{
    poker *p = arg;
    pthread_mutex_lock(&p->lock);
    while (!p->done) {
        pthread_mutex_unlock(&p->lock);
        poke(p->port);
        pthread_mutex_lock(&p->lock);
        struct timespec until;
        clock_gettime(CLOCK_REALTIME, &until);
        until.tv_nsec += 20 * 1000000L;
        if (until.tv_nsec >= 1000000000L) {
            until.tv_sec++;
            until.tv_nsec -= 1000000000L;
        }
        if (!p->done)
            pthread_cond_timedwait(&p->done_cond, &p->lock, &until);
    }
    pthread_mutex_unlock(&p->lock);
    return NULL;
}

void http_server_stop(http_server *srv)
{
    if (srv == NULL)
        return;
    poker p = {.port = srv->port, .done = false};
    pthread_mutex_init(&p.lock, NULL);
    pthread_cond_init(&p.done_cond, NULL);
    pthread_t tid;
    bool poking = pthread_create(&tid, NULL, poke_until_stopped, &p) == 0;
    mg_stop(srv->ctx);
    if (poking) {
        pthread_mutex_lock(&p.lock);
        p.done = true;
        pthread_cond_signal(&p.done_cond);
        pthread_mutex_unlock(&p.lock);
        pthread_join(tid, NULL);
    }
    pthread_mutex_destroy(&p.lock);
    pthread_cond_destroy(&p.done_cond);
    free(srv);
}

static void on_signal(int sig)
{
    (void)sig;
    stop_flag = 1;
}

void http_install_signal_handlers(void)
{
    struct sigaction sa;
    memset(&sa, 0, sizeof sa);
    sa.sa_handler = on_signal;
    sigemptyset(&sa.sa_mask);
    sigaction(SIGTERM, &sa, NULL);
    sigaction(SIGINT, &sa, NULL);
    signal(SIGPIPE, SIG_IGN);
}

bool http_stop_requested(void)
{
    return stop_flag != 0;
}

void http_wait_for_stop_signal(void)
{
    while (!stop_flag)
        time_sleep_ms(20);
}
