/* libcurl for shop-load and shop-audit: a handle per client thread, the
 * timeouts of the brief on every call, replies parsed as JSON. */
#include "load_http.h"

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <time.h>

#include <curl/curl.h>

#define LOAD_HTTP_MAX_REPLY (32 * 1024 * 1024)

struct load_http {
    CURL *h;
    long connect_timeout_ms;
    long total_timeout_ms;
    char *buf;
    size_t len, cap;
    load_resp *cur; /* the response being filled (for the header callback) */
};

int64_t load_now_us(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (int64_t)ts.tv_sec * 1000000 + ts.tv_nsec / 1000;
}

load_http *load_http_new(long connect_timeout_ms, long total_timeout_ms)
{
    load_http *c = calloc(1, sizeof *c);
    if (c == NULL)
        return NULL;
    c->h = curl_easy_init();
    if (c->h == NULL) {
        free(c);
        return NULL;
    }
    c->connect_timeout_ms = connect_timeout_ms;
    c->total_timeout_ms = total_timeout_ms;
    return c;
}

void load_http_free(load_http *c)
{
    if (c == NULL)
        return;
    curl_easy_cleanup(c->h);
    free(c->buf);
    free(c);
}

static size_t on_body(char *data, size_t size, size_t nmemb, void *userp)
{
    load_http *c = userp;
    size_t n = size * nmemb;
    if (c->len + n + 1 > LOAD_HTTP_MAX_REPLY)
        return 0;
    if (c->len + n + 1 > c->cap) {
        size_t cap = c->cap ? c->cap : 4096;
        while (cap < c->len + n + 1)
            cap *= 2;
        char *grown = realloc(c->buf, cap);
        if (grown == NULL)
            return 0;
        c->buf = grown;
        c->cap = cap;
    }
    memcpy(c->buf + c->len, data, n);
    c->len += n;
    c->buf[c->len] = '\0';
    return n;
}

static size_t on_header(char *line, size_t size, size_t nmemb, void *userp)
{
    load_http *c = userp;
    size_t n = size * nmemb;
    static const char name[] = "Idempotent-Replayed:";
    if (n >= sizeof name - 1 && strncasecmp(line, name, sizeof name - 1) == 0) {
        const char *v = line + sizeof name - 1;
        while (*v == ' ')
            v++;
        c->cur->replayed = strncmp(v, "true", 4) == 0;
    }
    return n;
}

void load_http_do(load_http *c, const char *method, const char *url, const char *body,
                  const char *const *headers, load_resp *out)
{
    struct curl_slist *hl = NULL;
    memset(out, 0, sizeof *out);
    int64_t started = load_now_us();
    c->len = 0;
    c->cur = out;
    curl_easy_reset(c->h);
    curl_easy_setopt(c->h, CURLOPT_URL, url);
    curl_easy_setopt(c->h, CURLOPT_NOSIGNAL, 1L);
    curl_easy_setopt(c->h, CURLOPT_CONNECTTIMEOUT_MS, c->connect_timeout_ms);
    curl_easy_setopt(c->h, CURLOPT_TIMEOUT_MS, c->total_timeout_ms);
    curl_easy_setopt(c->h, CURLOPT_CUSTOMREQUEST, method);
    curl_easy_setopt(c->h, CURLOPT_WRITEFUNCTION, on_body);
    curl_easy_setopt(c->h, CURLOPT_WRITEDATA, c);
    curl_easy_setopt(c->h, CURLOPT_HEADERFUNCTION, on_header);
    curl_easy_setopt(c->h, CURLOPT_HEADERDATA, c);
    curl_easy_setopt(c->h, CURLOPT_PROTOCOLS_STR, "http");
    if (body != NULL) {
        curl_easy_setopt(c->h, CURLOPT_POSTFIELDS, body);
        curl_easy_setopt(c->h, CURLOPT_POSTFIELDSIZE_LARGE, (curl_off_t)strlen(body));
        hl = curl_slist_append(hl, "Content-Type: application/json");
    } else if (strcmp(method, "GET") == 0) {
        curl_easy_setopt(c->h, CURLOPT_HTTPGET, 1L);
    }
    hl = curl_slist_append(hl, "Expect:");
    hl = curl_slist_append(hl, "Accept: application/json");
    for (const char *const *x = headers; x != NULL && *x != NULL; x++)
        hl = curl_slist_append(hl, *x);
    curl_easy_setopt(c->h, CURLOPT_HTTPHEADER, hl);

    CURLcode rc = curl_easy_perform(c->h);
    if (rc != CURLE_OK) {
        out->transport = rc == CURLE_OPERATION_TIMEDOUT ? LOAD_T_TIMEOUT : LOAD_T_ERROR;
        snprintf(out->error, sizeof out->error, "%s", curl_easy_strerror(rc));
        goto out;
    }
    curl_easy_getinfo(c->h, CURLINFO_RESPONSE_CODE, &out->status);
    if (c->len > 0) {
        out->json = cJSON_ParseWithLength(c->buf, c->len);
        const char *code = out->json != NULL ? load_json_str(out->json, "code") : NULL;
        if (code != NULL && out->status >= 400)
            snprintf(out->code, sizeof out->code, "%s", code);
    }
out:
    curl_slist_free_all(hl);
    c->cur = NULL;
    out->duration_us = load_now_us() - started;
}

void load_resp_free(load_resp *r)
{
    if (r == NULL)
        return;
    cJSON_Delete(r->json);
    r->json = NULL;
}

/* The host part of an http:// URL copied into host. Returns false when the
 * URL is not http:// or the host does not fit. */
static bool url_host(const char *url, char *host, size_t hostlen, const char **rest)
{
    static const char scheme[] = "http://";
    if (url == NULL || strncmp(url, scheme, sizeof scheme - 1) != 0)
        return false;
    const char *h = url + sizeof scheme - 1;
    const char *end;
    if (*h == '[') {
        end = strchr(h, ']');
        if (end == NULL)
            return false;
        end++;
    } else {
        end = h + strcspn(h, ":/?#");
    }
    size_t n = (size_t)(end - h);
    if (n == 0 || n >= hostlen || memchr(h, '@', n) != NULL)
        return false;
    memcpy(host, h, n);
    host[n] = '\0';
    *rest = end;
    return true;
}

bool load_url_is_loopback(const char *url)
{
    char host[64];
    const char *rest;
    if (!url_host(url, host, sizeof host, &rest))
        return false;
    if (strchr(url, '@') != NULL)
        return false;
    if (strcmp(host, "localhost") == 0 || strcmp(host, "[::1]") == 0)
        return true;
    if (host[strspn(host, "0123456789.")] != '\0')
        return false;
    unsigned a, b, c, d;
    char tail;
    if (sscanf(host, "%u.%u.%u.%u%c", &a, &b, &c, &d, &tail) != 4)
        return false;
    return a == 127 && b <= 255 && c <= 255 && d <= 255;
}

int load_url_port(const char *url)
{
    char host[64];
    const char *rest;
    if (!url_host(url, host, sizeof host, &rest))
        return -1;
    if (*rest != ':')
        return 80;
    char *end;
    long p = strtol(rest + 1, &end, 10);
    if (end == rest + 1 || p < 1 || p > 65535 || (*end != '\0' && *end != '/'))
        return -1;
    return (int)p;
}

bool load_json_int(const cJSON *obj, const char *name, int64_t *out)
{
    const cJSON *v = cJSON_GetObjectItemCaseSensitive(obj, name);
    if (!cJSON_IsNumber(v))
        return false;
    double d = v->valuedouble;
    if (d != floor(d) || fabs(d) > 999999999999999.0)
        return false;
    *out = (int64_t)d;
    return true;
}

bool load_json_id_or_null(const cJSON *obj, const char *name, int64_t *out)
{
    const cJSON *v = cJSON_GetObjectItemCaseSensitive(obj, name);
    if (v == NULL || cJSON_IsNull(v)) {
        *out = 0;
        return true;
    }
    return load_json_int(obj, name, out);
}

const char *load_json_str(const cJSON *obj, const char *name)
{
    const cJSON *v = cJSON_GetObjectItemCaseSensitive(obj, name);
    return cJSON_IsString(v) ? v->valuestring : NULL;
}
