/* The HTTP client for calls between services: libcurl with a bounded pool of
 * keep-alive handles per peer, timeouts on every call, and a result that
 * tells transport failures from statuses. */
#include "http_client.h"

#include <pthread.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <time.h>

#include <curl/curl.h>

#include "config.h"
#include "http_server.h"
#include "json.h"
#include "log.h"
#include "metrics.h"
#include "timeutil.h"

#define HTTP_CLIENT_MAX_REPLY (8 * 1024 * 1024)

static long connect_timeout_ms = 1000;
static long call_timeout_ms = 5000;
static char *internal_token;

/* A bounded pool of easy handles per peer (base URL), shared by every thread
 * (LIBS.md §1-2): each handle keeps its connection alive, so a program holds
 * at most pool_size connections to a peer, however many worker threads it
 * runs. One handle per worker instead would pin one of the peer's workers per
 * caller worker, and a peer with several callers would run out of workers.
 * Pools are per peer so that a stalled peer, whose calls hold their handles
 * until they time out, never makes calls to the other peers queue. When
 * every handle of a peer is busy a caller queues for one, within its own
 * call timeout. */
#define POOL_MAX 256
#define PEERS_MAX 16

typedef struct peer_pool {
    char base[256]; /* written once before the pool is published */
    pthread_mutex_t lock;
    pthread_cond_t cond;
    CURL *idle[POOL_MAX];
    int n_idle;
    int created;
} peer_pool;

static peer_pool pools[PEERS_MAX];
static _Atomic int n_pools;
static pthread_mutex_t pools_lock = PTHREAD_MUTEX_INITIALIZER;
static int pool_size = HTTP_CLIENT_CONNECTIONS;

void http_client_init_sized(int connections)
{
    connect_timeout_ms = (long)config_int("SHOP_CONNECT_TIMEOUT_MS", 1000, 1, 600000);
    call_timeout_ms = (long)config_int("SHOP_CALL_TIMEOUT_MS", 5000, 1, 600000);
    pool_size = (int)config_int("SHOP_CLIENT_CONNECTIONS", connections, 1, POOL_MAX);
    free(internal_token);
    internal_token = config_secret("SHOP_INTERNAL_TOKEN");
}

void http_client_init(void)
{
    http_client_init_sized(HTTP_CLIENT_CONNECTIONS);
}

void http_client_cleanup(void)
{
    int n = atomic_load(&n_pools);
    for (int p = 0; p < n; p++) {
        peer_pool *pool = &pools[p];
        pthread_mutex_lock(&pool->lock);
        for (int i = 0; i < pool->n_idle; i++)
            curl_easy_cleanup(pool->idle[i]);
        pool->created -= pool->n_idle;
        pool->n_idle = 0;
        pthread_mutex_unlock(&pool->lock);
    }
    free(internal_token);
    internal_token = NULL;
}

/* The pool of base; created on first use. Lookups read published pools
 * without a lock. A program has a handful of peers; past PEERS_MAX the
 * last pool is shared. */
static peer_pool *pool_for(const char *base)
{
    int n = atomic_load_explicit(&n_pools, memory_order_acquire);
    for (int i = 0; i < n; i++)
        if (strcmp(pools[i].base, base) == 0)
            return &pools[i];
    peer_pool *found = NULL;
    pthread_mutex_lock(&pools_lock);
    n = atomic_load_explicit(&n_pools, memory_order_relaxed);
    for (int i = 0; i < n && found == NULL; i++)
        if (strcmp(pools[i].base, base) == 0)
            found = &pools[i];
    if (found == NULL && n < PEERS_MAX) {
        found = &pools[n];
        snprintf(found->base, sizeof found->base, "%s", base);
        pthread_mutex_init(&found->lock, NULL);
        pthread_cond_init(&found->cond, NULL);
        atomic_store_explicit(&n_pools, n + 1, memory_order_release);
    } else if (found == NULL) {
        found = &pools[PEERS_MAX - 1];
    }
    pthread_mutex_unlock(&pools_lock);
    return found;
}

static size_t on_body(char *data, size_t size, size_t nmemb, void *userp);
static size_t on_header(char *line, size_t size, size_t nmemb, void *userp);

/* A new handle with the options every call shares, set once: a pooled
 * handle keeps them (no curl_easy_reset per call), and each call sets only
 * what changes (http_client_do). Returns NULL when out of memory. */
static CURL *handle_new(void)
{
    CURL *h = curl_easy_init();
    if (h == NULL)
        return NULL;
    curl_easy_setopt(h, CURLOPT_NOSIGNAL, 1L);
    curl_easy_setopt(h, CURLOPT_DNS_CACHE_TIMEOUT, 10L); /* containers move */
    curl_easy_setopt(h, CURLOPT_WRITEFUNCTION, on_body);
    curl_easy_setopt(h, CURLOPT_HEADERFUNCTION, on_header);
    curl_easy_setopt(h, CURLOPT_PROTOCOLS_STR, "http,https");
    /* Calls between services never go through a proxy named in the
     * environment (and libcurl reads no proxy variables per call). */
    curl_easy_setopt(h, CURLOPT_NOPROXY, "*");
    return h;
}

/* Takes a handle from pool, waiting at most timeout_ms for one to be
 * returned. Returns NULL when none came in time or out of memory. */
static CURL *handle_borrow(peer_pool *pool, long timeout_ms)
{
    CURL *h = NULL;
    bool create = false;
    struct timespec until;
    clock_gettime(CLOCK_REALTIME, &until);
    until.tv_sec += timeout_ms / 1000;
    until.tv_nsec += (timeout_ms % 1000) * 1000000L;
    if (until.tv_nsec >= 1000000000L) {
        until.tv_sec++;
        until.tv_nsec -= 1000000000L;
    }
    pthread_mutex_lock(&pool->lock);
    while (pool->n_idle == 0 && pool->created >= pool_size)
        if (pthread_cond_timedwait(&pool->cond, &pool->lock, &until) != 0)
            break;
    if (pool->n_idle > 0) {
        h = pool->idle[--pool->n_idle];
    } else if (pool->created < pool_size) {
        pool->created++;
        create = true;
    }
    pthread_mutex_unlock(&pool->lock);
    if (create && (h = handle_new()) == NULL) {
        pthread_mutex_lock(&pool->lock);
        pool->created--;
        pthread_cond_signal(&pool->cond);
        pthread_mutex_unlock(&pool->lock);
    }
    return h;
}

static void handle_return(peer_pool *pool, CURL *h)
{
    pthread_mutex_lock(&pool->lock);
    pool->idle[pool->n_idle++] = h;
    pthread_cond_signal(&pool->cond);
    pthread_mutex_unlock(&pool->lock);
}

static size_t on_body(char *data, size_t size, size_t nmemb, void *userp)
{
    http_result *r = userp;
    size_t n = size * nmemb;
    if (r->body_len + n > HTTP_CLIENT_MAX_REPLY)
        return 0; /* aborts the transfer: CURLE_WRITE_ERROR */
    char *grown = realloc(r->body, r->body_len + n + 1);
    if (grown == NULL)
        return 0;
    memcpy(grown + r->body_len, data, n);
    r->body = grown;
    r->body_len += n;
    r->body[r->body_len] = '\0';
    return n;
}

/* Copies the value of header line "Name: value\r\n" when it is name. */
static bool header_value(const char *line, size_t len, const char *name, char *out, size_t outlen)
{
    size_t nlen = strlen(name);
    if (len <= nlen + 1 || strncasecmp(line, name, nlen) != 0 || line[nlen] != ':')
        return false;
    const char *v = line + nlen + 1;
    const char *end = line + len;
    while (v < end && (*v == ' ' || *v == '\t'))
        v++;
    while (end > v && (end[-1] == '\r' || end[-1] == '\n' || end[-1] == ' '))
        end--;
    size_t vlen = (size_t)(end - v) < outlen - 1 ? (size_t)(end - v) : outlen - 1;
    memcpy(out, v, vlen);
    out[vlen] = '\0';
    return true;
}

static size_t on_header(char *line, size_t size, size_t nmemb, void *userp)
{
    http_result *r = userp;
    size_t n = size * nmemb;
    char replayed[8];
    header_value(line, n, "Content-Type", r->content_type, sizeof r->content_type);
    if (header_value(line, n, "Idempotent-Replayed", replayed, sizeof replayed))
        r->replayed = strcmp(replayed, "true") == 0;
    return n;
}

/* Counts the call by peer and outcome: ok, http_error, timeout, transport_error. */
static void record_call(const http_call *call, const http_result *r)
{
    const char *outcome = r->transport == HTTP_T_TIMEOUT       ? "timeout"
                          : r->transport != HTTP_T_OK          ? "transport_error"
                          : r->status >= 200 && r->status < 300 ? "ok"
                                                                : "http_error";
    char labels[192];
    const char *peer = call->peer != NULL ? call->peer : call->base_url;
    snprintf(labels, sizeof labels, "peer=\"%.120s\",outcome=\"%s\"", peer, outcome);
    metrics_count("shop_http_client_calls_total", labels, 1);
    snprintf(labels, sizeof labels, "peer=\"%.120s\"", peer);
    metrics_observe("shop_http_client_call_duration_seconds", labels, (double)r->duration_ms / 1000.0);
}

void http_client_do(const http_call *call, http_result *out)
{
    memset(out, 0, sizeof *out);
    struct curl_slist *headers = NULL;
    char url[1024], line[512];
    int64_t started = time_mono_ms();
    long total = call->timeout_ms > 0 ? call->timeout_ms : call_timeout_ms;
    peer_pool *pool = pool_for(call->base_url);
    CURL *h = handle_borrow(pool, total);
    if (h == NULL) {
        out->transport = HTTP_T_TIMEOUT;
        snprintf(out->error, sizeof out->error, "no connection free within %ld ms", total);
        goto out;
    }
    total -= (long)(time_mono_ms() - started); /* the wait counts against the timeout */
    if (total < 1)
        total = 1;
    snprintf(url, sizeof url, "%s%s", call->base_url, call->path);
    /* The options of the previous call on this handle are all overwritten
     * here: URL, timeouts, method, body, where the reply goes, headers. */
    curl_easy_setopt(h, CURLOPT_URL, url);
    curl_easy_setopt(h, CURLOPT_CONNECTTIMEOUT_MS, connect_timeout_ms < total ? connect_timeout_ms : total);
    curl_easy_setopt(h, CURLOPT_TIMEOUT_MS, total);
    curl_easy_setopt(h, CURLOPT_WRITEDATA, out);
    curl_easy_setopt(h, CURLOPT_HEADERDATA, out);
    if (call->body != NULL) {
        curl_easy_setopt(h, CURLOPT_POSTFIELDS, call->body);
        curl_easy_setopt(h, CURLOPT_POSTFIELDSIZE_LARGE, (curl_off_t)call->body_len);
        headers = curl_slist_append(headers, "Content-Type: application/json");
    } else {
        /* A previous call's body must not be sent again; HTTPGET last, as
         * setting POSTFIELDS makes the method POST. */
        curl_easy_setopt(h, CURLOPT_POSTFIELDS, NULL);
        curl_easy_setopt(h, CURLOPT_POSTFIELDSIZE_LARGE, (curl_off_t)-1);
        curl_easy_setopt(h, CURLOPT_HTTPGET, 1L);
    }
    /* POST with a body and GET without are libcurl's own methods; any other
     * pair is sent as the method named. */
    bool own = strcmp(call->method, call->body != NULL ? "POST" : "GET") == 0;
    curl_easy_setopt(h, CURLOPT_CUSTOMREQUEST, own ? NULL : call->method);
    headers = curl_slist_append(headers, "Expect:"); /* civetweb never sends 100 */
    headers = curl_slist_append(headers, "Accept: application/json");
    if (call->request_id != NULL) {
        snprintf(line, sizeof line, "X-Request-Id: %s", call->request_id);
        headers = curl_slist_append(headers, line);
    }
    if (internal_token != NULL) {
        snprintf(line, sizeof line, "X-Internal-Token: %s", internal_token);
        headers = curl_slist_append(headers, line);
    }
    if (call->idempotency_key != NULL) {
        snprintf(line, sizeof line, "Idempotency-Key: %s", call->idempotency_key);
        headers = curl_slist_append(headers, line);
    }
    for (const char *const *x = call->headers; x != NULL && *x != NULL; x++)
        headers = curl_slist_append(headers, *x);
    curl_easy_setopt(h, CURLOPT_HTTPHEADER, headers);

    CURLcode rc = curl_easy_perform(h);
    if (rc != CURLE_OK) {
        out->transport = rc == CURLE_OPERATION_TIMEDOUT ? HTTP_T_TIMEOUT : HTTP_T_UNAVAILABLE;
        snprintf(out->error, sizeof out->error, "%.8s %.150s: %.80s", call->method, url,
                 curl_easy_strerror(rc));
        free(out->body);
        out->body = NULL;
        out->body_len = 0;
        goto out;
    }
    curl_easy_getinfo(h, CURLINFO_RESPONSE_CODE, &out->status);
    if (out->status < 100 || out->status > 599) {
        /* libcurl takes any number from a mangled status line. */
        snprintf(out->error, sizeof out->error, "%.8s %.150s: malformed status %ld", call->method,
                 url, out->status);
        out->transport = HTTP_T_UNAVAILABLE;
        out->status = 0;
        free(out->body);
        out->body = NULL;
        out->body_len = 0;
        goto out;
    }
    if (!call->raw && out->body != NULL && strstr(out->content_type, "json") != NULL)
        out->json = json_parse_any(out->body, out->body_len, NULL);
out:
    if (h != NULL)
        handle_return(pool, h);
    curl_slist_free_all(headers);
    out->duration_ms = (long)(time_mono_ms() - started);
    record_call(call, out);
}

void http_client_json(const char *method, const char *base_url, const char *path,
                      const cJSON *body, const char *request_id, http_result *out)
{
    char *text = body != NULL ? cJSON_PrintUnformatted(body) : NULL;
    http_call call = {
        .method = method,
        .base_url = base_url,
        .path = path,
        .body = text,
        .body_len = text != NULL ? strlen(text) : 0,
        .request_id = request_id,
    };
    http_client_do(&call, out);
    cJSON_free(text);
}

void http_result_free(http_result *r)
{
    if (r == NULL)
        return;
    free(r->body);
    cJSON_Delete(r->json);
    r->body = NULL;
    r->json = NULL;
}

shop_err http_result_err(const http_result *r)
{
    if (r->transport == HTTP_T_TIMEOUT)
        return SHOP_ETIMEOUT;
    if (r->transport != HTTP_T_OK || r->status >= 500)
        return SHOP_EUPSTREAM;
    if (r->status >= 200 && r->status < 300)
        return SHOP_OK;
    if (r->status == 404)
        return SHOP_ENOTFOUND;
    if (r->status == 409)
        return SHOP_ECONFLICT;
    return SHOP_EINVAL;
}

const char *http_result_code(const http_result *r)
{
    const char *code = r->json != NULL ? json_peek_string(r->json, "code") : NULL;
    return code != NULL ? code : "";
}

int http_reply_upstream(http_req *req, const char *peer, const http_result *r)
{
    if (r->transport == HTTP_T_TIMEOUT)
        return http_reply_problem(req, "UPSTREAM_TIMEOUT", "%s did not answer in time", peer);
    if (r->transport != HTTP_T_OK)
        return http_reply_problem(req, "SERVICE_UNAVAILABLE", "%s cannot be reached", peer);
    if (r->status >= 400 && r->body != NULL &&
        strstr(r->content_type, "application/problem+json") != NULL)
        return http_reply_raw(req, (int)r->status, "application/problem+json", r->body,
                              r->body_len);
    log_error(req->request_id, "%s answered %ld unexpectedly", peer, r->status);
    return http_reply_problem(req, "BAD_GATEWAY", "%s answered %ld", peer, r->status);
}
