/* Integration-test harness: real binaries on loopback, real HTTP. */
#include "harness.h"

#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <ftw.h>
#include <netinet/in.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include <curl/curl.h>

extern char **environ;

static long now_ms(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return ts.tv_sec * 1000L + ts.tv_nsec / 1000000L;
}

static void sleep_ms(long ms)
{
    struct timespec ts = {.tv_sec = ms / 1000, .tv_nsec = (ms % 1000) * 1000000L};
    nanosleep(&ts, NULL);
}

/* Ports come from 20000..31999, below the kernel's ephemeral range
 * (32768..60999): a port the kernel handed out as free could be taken again
 * by any outgoing connection before the service binds it. */
int harness_free_port(void)
{
    /* Seeded per process (forked tests must not repeat their parent's
     * sequence), and never the same port twice in one process. */
    static unsigned seed;
    static pid_t seeded_by;
    static int given[256];
    static int n_given;
    if (seeded_by != getpid()) {
        seeded_by = getpid();
        seed = (unsigned)getpid() ^ (unsigned)now_ms();
    }
    for (int attempt = 0; attempt < 200; attempt++) {
        int port = 20000 + (int)(rand_r(&seed) % 12000);
        bool seen = false;
        for (int i = 0; i < n_given; i++)
            seen = seen || given[i] == port;
        if (seen)
            continue;
        int fd = socket(AF_INET, SOCK_STREAM, 0);
        if (fd < 0)
            return -1;
        struct sockaddr_in a = {.sin_family = AF_INET, .sin_port = htons((uint16_t)port)};
        a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
        int ok = bind(fd, (struct sockaddr *)&a, sizeof a) == 0;
        close(fd);
        if (ok) {
            if (n_given < 256)
                given[n_given++] = port;
            return port;
        }
    }
    return -1;
}

char *harness_tmpdir(void)
{
    char *dir = strdup("/tmp/shop-test-XXXXXX");
    if (dir != NULL && mkdtemp(dir) == NULL) {
        free(dir);
        return NULL;
    }
    return dir;
}

static int rm_entry(const char *path, const struct stat *sb, int flag, struct FTW *ftw)
{
    (void)sb;
    (void)flag;
    (void)ftw;
    return remove(path);
}

void harness_rmdir(char *dir)
{
    if (dir == NULL)
        return;
    nftw(dir, rm_entry, 16, FTW_DEPTH | FTW_PHYS);
    free(dir);
}

const char *harness_bin_dir(void)
{
    const char *d = getenv("SHOP_BIN_DIR");
    return d != NULL && d[0] != '\0' ? d : "build/bin";
}

bool harness_start(svc_proc *p, const char *binary, const char *const *env)
{
    char path[512];
    snprintf(path, sizeof path, "%s/%s", harness_bin_dir(), binary);
    snprintf(p->name, sizeof p->name, "%s", binary);
    if (p->log_path[0] == '\0')
        snprintf(p->log_path, sizeof p->log_path, "/tmp/shop-test-%s-%d.log", binary, p->port);
    fflush(NULL);
    pid_t pid = fork();
    if (pid < 0)
        return false;
    if (pid == 0) {
        int fd = open(p->log_path, O_WRONLY | O_CREAT | O_APPEND, 0644);
        if (fd >= 0) {
            dup2(fd, 1);
            dup2(fd, 2);
            close(fd);
        }
        putenv("SHOP_LOG_LEVEL=info");
        for (const char *const *e = env; e != NULL && *e != NULL; e++)
            putenv((char *)*e);
        execl(path, path, (char *)NULL);
        fprintf(stderr, "harness: exec %s: %s\n", path, strerror(errno));
        _exit(127);
    }
    p->pid = pid;
    long deadline = now_ms() + 15000;
    while (now_ms() < deadline) {
        int st;
        if (harness_req("GET", p->port, "/health/live", NULL, NULL, NULL) == 200) {
            /* Still alive a moment later: the answer was not from another
             * program on a port ours then failed to bind. */
            sleep_ms(30);
            if (waitpid(pid, &st, WNOHANG) == 0)
                return true;
            fprintf(stderr, "harness: %s exited at start (port %d taken?); see %s\n", binary,
                    p->port, p->log_path);
            p->pid = 0;
            return false;
        }
        if (waitpid(pid, &st, WNOHANG) == pid) {
            fprintf(stderr, "harness: %s exited at start; see %s\n", binary, p->log_path);
            p->pid = 0;
            return false;
        }
        sleep_ms(20);
    }
    fprintf(stderr, "harness: %s did not answer on port %d; see %s\n", binary, p->port,
            p->log_path);
    return false;
}

/* True once pid is gone or a zombie: a process started by the runner (an
 * unchecked fixture) is not a child of the forked test that stops it, so
 * waitpid cannot tell; /proc can. */
static bool exited(pid_t pid)
{
    int st;
    pid_t r = waitpid(pid, &st, WNOHANG);
    if (r == pid)
        return true;
    if (r == 0)
        return false;
    char path[64], buf[256];
    snprintf(path, sizeof path, "/proc/%d/stat", (int)pid);
    FILE *f = fopen(path, "r");
    if (f == NULL)
        return true;
    size_t n = fread(buf, 1, sizeof buf - 1, f);
    fclose(f);
    buf[n] = '\0';
    const char *paren = strrchr(buf, ')');
    return paren == NULL || paren[1] == '\0' || paren[2] == 'Z' || paren[2] == 'X';
}

long harness_stop(svc_proc *p)
{
    if (p->pid <= 0)
        return 0;
    long started = now_ms();
    kill(p->pid, SIGTERM);
    while (!exited(p->pid)) {
        if (now_ms() - started > 5000) {
            kill(p->pid, SIGKILL);
            while (!exited(p->pid))
                sleep_ms(5);
            break;
        }
        sleep_ms(2);
    }
    p->pid = 0;
    return now_ms() - started;
}

void harness_kill9(svc_proc *p)
{
    if (p->pid <= 0)
        return;
    kill(p->pid, SIGKILL);
    while (!exited(p->pid))
        sleep_ms(2);
    p->pid = 0;
}

typedef struct buf {
    char *data;
    size_t len;
    size_t cap;
} buf;

static size_t append(char *ptr, size_t size, size_t nmemb, void *userp)
{
    buf *b = userp;
    size_t n = size * nmemb;
    if (b->len + n + 1 > b->cap) {
        size_t cap = (b->len + n + 1) * 2;
        char *grown = realloc(b->data, cap);
        if (grown == NULL)
            return 0;
        b->data = grown;
        b->cap = cap;
    }
    memcpy(b->data + b->len, ptr, n);
    b->len += n;
    b->data[b->len] = '\0';
    return n;
}

long harness_req(const char *method, int port, const char *path, const char *body,
                 const char *const *headers, hresp *out)
{
    char url[2048];
    buf resp = {0}, head = {0};
    struct curl_slist *hl = NULL;
    long status = 0;
    long started = now_ms();
    CURL *h = curl_easy_init();
    if (h == NULL)
        return 0;
    snprintf(url, sizeof url, "http://127.0.0.1:%d%s", port, path);
    curl_easy_setopt(h, CURLOPT_URL, url);
    curl_easy_setopt(h, CURLOPT_NOSIGNAL, 1L);
    curl_easy_setopt(h, CURLOPT_TIMEOUT_MS, 30000L);
    curl_easy_setopt(h, CURLOPT_CONNECTTIMEOUT_MS, 2000L);
    curl_easy_setopt(h, CURLOPT_CUSTOMREQUEST, method);
    curl_easy_setopt(h, CURLOPT_WRITEFUNCTION, append);
    curl_easy_setopt(h, CURLOPT_WRITEDATA, &resp);
    curl_easy_setopt(h, CURLOPT_HEADERFUNCTION, append);
    curl_easy_setopt(h, CURLOPT_HEADERDATA, &head);
    if (body != NULL) {
        curl_easy_setopt(h, CURLOPT_POSTFIELDS, body);
        curl_easy_setopt(h, CURLOPT_POSTFIELDSIZE_LARGE, (curl_off_t)strlen(body));
        hl = curl_slist_append(hl, "Content-Type: application/json");
    }
    hl = curl_slist_append(hl, "Expect:");
    for (const char *const *x = headers; x != NULL && *x != NULL; x++)
        hl = curl_slist_append(hl, *x);
    curl_easy_setopt(h, CURLOPT_HTTPHEADER, hl);
    if (curl_easy_perform(h) == CURLE_OK)
        curl_easy_getinfo(h, CURLINFO_RESPONSE_CODE, &status);
    if (out != NULL) {
        memset(out, 0, sizeof *out);
        out->status = status;
        out->body = resp.data != NULL ? resp.data : strdup("");
        resp.data = NULL;
        out->json = cJSON_Parse(out->body);
        snprintf(out->headers, sizeof out->headers, "%s", head.data != NULL ? head.data : "");
        const char *ct = NULL;
        curl_easy_getinfo(h, CURLINFO_CONTENT_TYPE, &ct);
        snprintf(out->content_type, sizeof out->content_type, "%s", ct != NULL ? ct : "");
        out->ms = now_ms() - started;
    }
    free(resp.data);
    free(head.data);
    curl_slist_free_all(hl);
    curl_easy_cleanup(h);
    return status;
}

void hresp_free(hresp *r)
{
    if (r == NULL)
        return;
    free(r->body);
    cJSON_Delete(r->json);
    r->body = NULL;
    r->json = NULL;
}

cJSON *harness_get_json(int port, const char *path, long *status)
{
    hresp r;
    long s = harness_req("GET", port, path, NULL, NULL, &r);
    if (status != NULL)
        *status = s;
    cJSON *json = r.json;
    r.json = NULL;
    hresp_free(&r);
    return json;
}

long long harness_int(const cJSON *obj, const char *name)
{
    const cJSON *item = cJSON_GetObjectItemCaseSensitive(obj, name);
    return cJSON_IsNumber(item) ? (long long)item->valuedouble : -1;
}

bool harness_has_header(const hresp *r, const char *name, const char *value)
{
    size_t nlen = strlen(name);
    for (const char *line = r->headers; line != NULL && *line != '\0';) {
        const char *eol = strstr(line, "\r\n");
        size_t len = eol != NULL ? (size_t)(eol - line) : strlen(line);
        if (len > nlen && strncasecmp(line, name, nlen) == 0 && line[nlen] == ':') {
            const char *v = line + nlen + 1;
            while (*v == ' ')
                v++;
            size_t vlen = len - (size_t)(v - line);
            if (value == NULL || (strlen(value) == vlen && strncmp(v, value, vlen) == 0))
                return true;
        }
        line = eol != NULL ? eol + 2 : NULL;
    }
    return false;
}
