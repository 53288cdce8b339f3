/* Fuzzes the HTTP client's reply handling end to end: a loopback server
 * thread in this process answers each call of http_client_do with the fuzz
 * input as the raw HTTP reply (status line, headers, body), then closes. So
 * libcurl, the client's header callback (header_value: Content-Type,
 * Idempotent-Replayed), its body callback and json_parse_any all see it;
 * the result must be consistent whatever arrives. */
#include <arpa/inet.h>
#include <netinet/in.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/socket.h>
#include <sys/time.h>
#include <unistd.h>

#include <curl/curl.h>

#include "fuzz_support.h"
#include "http_client.h"

static int listen_fd = -1;
static char base_url[64];

/* The reply the server sends next: a copy the harness owns (set before each
 * call), since a connection may outlive the call (curl gave up first) and
 * libFuzzer frees its input after the call. */
static pthread_mutex_t reply_lock = PTHREAD_MUTEX_INITIALIZER;
static uint8_t *reply_data;
static size_t reply_len;

/* Reads the request up to its blank line (curl sends no body here). */
static void read_request(int fd)
{
    char buf[4096];
    size_t have = 0;
    while (have < sizeof buf - 1) {
        ssize_t n = recv(fd, buf + have, sizeof buf - 1 - have, 0);
        if (n <= 0)
            return;
        have += (size_t)n;
        buf[have] = '\0';
        if (strstr(buf, "\r\n\r\n") != NULL)
            return;
    }
}

static void *serve(void *arg)
{
    (void)arg;
    for (;;) {
        int fd = accept(listen_fd, NULL, NULL);
        if (fd < 0)
            continue;
        struct timeval tv = {.tv_sec = 2};
        setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof tv);
        setsockopt(fd, SOL_SOCKET, SO_SNDTIMEO, &tv, sizeof tv);
        read_request(fd);
        pthread_mutex_lock(&reply_lock);
        size_t off = 0;
        while (off < reply_len) {
            ssize_t n = send(fd, reply_data + off, reply_len - off, MSG_NOSIGNAL);
            if (n <= 0)
                break;
            off += (size_t)n;
        }
        pthread_mutex_unlock(&reply_lock);
        shutdown(fd, SHUT_RDWR);
        close(fd);
    }
    return NULL;
}

int LLVMFuzzerInitialize(int *argc, char ***argv)
{
    (void)argc;
    (void)argv;
    setenv("SHOP_CALL_TIMEOUT_MS", "2000", 1);
    setenv("SHOP_CONNECT_TIMEOUT_MS", "1000", 1);
    unsetenv("SHOP_INTERNAL_TOKEN");
    curl_global_init(CURL_GLOBAL_ALL);
    http_client_init();
    listen_fd = socket(AF_INET, SOCK_STREAM, 0);
    struct sockaddr_in a = {.sin_family = AF_INET};
    a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    socklen_t alen = sizeof a;
    if (listen_fd < 0 || bind(listen_fd, (struct sockaddr *)&a, sizeof a) != 0 ||
        listen(listen_fd, 64) != 0 || getsockname(listen_fd, (struct sockaddr *)&a, &alen) != 0) {
        perror("fuzz_http_client: loopback server");
        exit(1);
    }
    snprintf(base_url, sizeof base_url, "http://127.0.0.1:%d", ntohs(a.sin_port));
    pthread_t t;
    if (pthread_create(&t, NULL, serve, NULL) != 0)
        exit(1);
    pthread_detach(t);
    return 0;
}

/* True when a line of the reply starts with a space or tab (a folded header
 * line): Debian 12's libcurl then reads freed memory on a reused handle. */
static bool has_folded_line(const uint8_t *data, size_t size)
{
    for (size_t i = 0; i + 1 < size; i++)
        if ((data[i] == '\n' || data[i] == '\r') && (data[i + 1] == ' ' || data[i + 1] == '\t'))
            return true;
    return false;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    static const char *const close_conn[] = {"Connection: close", NULL};
    if (has_folded_line(data, size)) {
        fuzz_known("curl-folded-header-uaf", false, "a reply with a folded header line is skipped");
        return 0;
    }
    uint8_t *copy = malloc(size + 1);
    if (copy == NULL)
        abort();
    memcpy(copy, data, size);
    pthread_mutex_lock(&reply_lock);
    free(reply_data);
    reply_data = copy;
    reply_len = size;
    pthread_mutex_unlock(&reply_lock);
    http_call call = {
        .method = "GET",
        .base_url = base_url,
        .path = "/fuzz",
        .request_id = "fuzz-request",
        .headers = close_conn,
        .peer = "fuzz",
    };
    http_result r;
    http_client_do(&call, &r);
    FUZZ_CHECK(memchr(r.content_type, 0, sizeof r.content_type) != NULL, "content_type unterminated");
    FUZZ_CHECK(memchr(r.error, 0, sizeof r.error) != NULL, "error unterminated");
    if (r.transport == HTTP_T_OK) {
        /* libcurl reports whatever number a status line had (a mangled one
         * such as "HTTP/21 0.1" gives 1); the client refuses what is not a
         * status (a transport error), so only 100..599 arrive here. */
        FUZZ_CHECK(r.status >= 100 && r.status <= 599, "status %ld", r.status);
        FUZZ_CHECK((http_result_err(&r) == SHOP_OK) == (r.status >= 200 && r.status <= 299),
                   "status %ld maps to %d", r.status, (int)http_result_err(&r));
        FUZZ_CHECK(r.body == NULL ? r.body_len == 0 : r.body[r.body_len] == '\0',
                   "body not NUL-terminated");
        FUZZ_CHECK(r.body_len <= size, "a body of %zu from %zu bytes", r.body_len, size);
        FUZZ_CHECK(r.json == NULL || strstr(r.content_type, "json") != NULL,
                   "JSON parsed under Content-Type \"%s\"", r.content_type);
        /* What header_value kept is a (trimmed, possibly cut) header value
         * that arrived. */
        if (r.content_type[0] != '\0')
            FUZZ_CHECK(memmem(data, size, r.content_type, strlen(r.content_type)) != NULL,
                       "Content-Type \"%s\" was never sent", r.content_type);
        if (r.replayed)
            FUZZ_CHECK(memmem(data, size, "true", 4) != NULL, "replayed without \"true\"");
        const char *code = http_result_code(&r);
        FUZZ_CHECK(code != NULL, "http_result_code NULL");
    } else {
        FUZZ_CHECK(r.body == NULL && r.json == NULL && r.error[0] != '\0',
                   "a failed call with a body or without an error");
    }
    http_result_free(&r);
    return 0;
}
