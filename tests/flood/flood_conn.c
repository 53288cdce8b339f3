/* The flood engine (flood_conn.h): one thread polls every hostile connection,
 * paces the slowloris bytes, notices each close by the server and records
 * how long the server let that connection live. */
#include "flood_conn.h"

#include <arpa/inet.h>
#include <errno.h>
#include <netinet/in.h>
#include <poll.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#define CONNECT_GIVE_UP_US (10 * 1000000LL)
#define RETRY_PAUSE_US (100 * 1000LL)
#define MAX_WAIT_MS 50

typedef enum conn_state { C_WAIT, C_CONNECTING, C_OPEN, C_DONE } conn_state;

typedef struct fconn {
    int fd;
    flood_kind kind;
    conn_state state;
    int64_t start_us; /* connect started */
    int64_t open_us;  /* established */
    int64_t reply_us; /* first reply byte, 0: none */
    int64_t next_us;  /* C_WAIT: when to connect; slowloris: next byte */
    long sent;        /* slowloris: header bytes sent */
    bool counted;     /* first attempt reported to flood_wait_open */
} fconn;

typedef struct kind_acc {
    long opened, failed, closed, answered, open_now, bytes;
    long first_close_ms, last_close_ms;
    long *life_ms;
    size_t n_life, cap_life;
} kind_acc;

struct flood {
    flood_opts o;
    struct sockaddr_in addr;
    fconn *c;
    int n;
    struct pollfd *pfd;
    int *pfd_conn;       /* pfd[i] belongs to c[pfd_conn[i]] */
    int np;              /* entries in pfd */
    bool dirty;          /* a connection changed state: rebuild pfd */
    int64_t next_due_us; /* when due_work next has something to do */
    pthread_t thread;
    pthread_mutex_t mu; /* guards acc, first_done, first_failed */
    pthread_cond_t cond;
    atomic_bool stop;
    int64_t t0_us;
    kind_acc acc[FLOOD_N_KINDS];
    int first_done, first_failed;
};

static const char slow_prefix[] = "GET /api/items/1 HTTP/1.1\r\nHost: 127.0.0.1\r\n";
static const char slow_cycle[] = "X-Slow: 1\r\n"; /* header lines, never an empty one */
static const char kept_request[] = "GET /health/live HTTP/1.1\r\nHost: 127.0.0.1\r\n\r\n";

static int64_t now_us(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (int64_t)ts.tv_sec * 1000000 + ts.tv_nsec / 1000;
}

const char *flood_kind_name(flood_kind k)
{
    static const char *const names[FLOOD_N_KINDS] = {"idle", "kept", "slow"};
    return k < FLOOD_N_KINDS ? names[k] : "?";
}

long flood_raise_nofile(void)
{
    struct rlimit rl;
    if (getrlimit(RLIMIT_NOFILE, &rl) != 0)
        return -1;
    if (rl.rlim_cur < rl.rlim_max) {
        rl.rlim_cur = rl.rlim_max;
        (void)setrlimit(RLIMIT_NOFILE, &rl);
        (void)getrlimit(RLIMIT_NOFILE, &rl);
    }
    return rl.rlim_cur == RLIM_INFINITY ? 1L << 30 : (long)rl.rlim_cur;
}

/* ------------------------------------------------------------ accounting */

static void first_attempt(flood *f, fconn *c, bool ok)
{
    if (c->counted)
        return;
    c->counted = true;
    pthread_mutex_lock(&f->mu);
    f->first_done++;
    if (!ok)
        f->first_failed++;
    pthread_cond_broadcast(&f->cond);
    pthread_mutex_unlock(&f->mu);
}

static void add_life(kind_acc *a, long ms)
{
    if (a->n_life == a->cap_life) {
        size_t cap = a->cap_life ? a->cap_life * 2 : 1024;
        long *p = realloc(a->life_ms, cap * sizeof *p);
        if (p == NULL)
            return; /* the count stays right; only the distribution loses one */
        a->life_ms = p;
        a->cap_life = cap;
    }
    a->life_ms[a->n_life++] = ms;
}

/* ---------------------------------------------------------- connections */

/* Something is due at when: a connect, a byte, a give-up. */
static void due_at(flood *f, int64_t when)
{
    if (when < f->next_due_us)
        f->next_due_us = when;
}

/* A connection changed state: the poll set is rebuilt, and due_work looks
 * at every connection again (a connect slot may have come free). */
static void changed(flood *f, int64_t now)
{
    f->dirty = true;
    due_at(f, now);
}

/* Frees the slot; it reconnects after a pause when the flood reconnects. */
static void release(flood *f, fconn *c, int64_t now)
{
    if (c->fd >= 0)
        close(c->fd);
    c->fd = -1;
    c->reply_us = 0;
    c->sent = 0;
    c->state = f->o.reconnect ? C_WAIT : C_DONE;
    c->next_us = now + RETRY_PAUSE_US;
    changed(f, now);
}

static void connect_failed(flood *f, fconn *c, int64_t now)
{
    pthread_mutex_lock(&f->mu);
    f->acc[c->kind].failed++;
    pthread_mutex_unlock(&f->mu);
    first_attempt(f, c, false);
    release(f, c, now);
}

/* The server closed c (EOF or reset). */
static void server_closed(flood *f, fconn *c, int64_t now)
{
    int64_t from = c->kind == FLOOD_KEPT && c->reply_us != 0 ? c->reply_us : c->open_us;
    long close_ms = (long)((now - f->t0_us) / 1000);
    pthread_mutex_lock(&f->mu);
    kind_acc *a = &f->acc[c->kind];
    a->closed++;
    a->open_now--;
    if (c->reply_us != 0)
        a->answered++;
    if (a->first_close_ms < 0)
        a->first_close_ms = close_ms;
    a->last_close_ms = close_ms;
    add_life(a, (long)((now - from) / 1000));
    pthread_mutex_unlock(&f->mu);
    release(f, c, now);
}

static bool send_all(int fd, const char *p, size_t len)
{
    while (len > 0) {
        ssize_t n = send(fd, p, len, MSG_NOSIGNAL);
        if (n < 0 && errno == EINTR)
            continue;
        if (n <= 0)
            return false;
        p += n;
        len -= (size_t)n;
    }
    return true;
}

/* Sends the slowloris' next header byte. Returns false when the server has
 * gone (reset, broken pipe). */
static bool send_slow_byte(flood *f, fconn *c, int64_t now)
{
    size_t plen = sizeof slow_prefix - 1, clen = sizeof slow_cycle - 1;
    size_t i = (size_t)c->sent;
    char b = i < plen ? slow_prefix[i] : slow_cycle[(i - plen) % clen];
    if (!send_all(c->fd, &b, 1))
        return false;
    c->sent++;
    c->next_us = now + (int64_t)f->o.byte_interval_ms * 1000;
    due_at(f, c->next_us);
    pthread_mutex_lock(&f->mu);
    f->acc[FLOOD_SLOW].bytes++;
    pthread_mutex_unlock(&f->mu);
    return true;
}

/* c's connect completed: it now does what its kind does. */
static void established(flood *f, fconn *c, int64_t now)
{
    c->state = C_OPEN;
    c->open_us = now;
    changed(f, now);
    pthread_mutex_lock(&f->mu);
    f->acc[c->kind].opened++;
    f->acc[c->kind].open_now++;
    pthread_mutex_unlock(&f->mu);
    first_attempt(f, c, true);
    bool ok = true;
    if (c->kind == FLOOD_KEPT) {
        ok = send_all(c->fd, kept_request, sizeof kept_request - 1);
        if (ok) {
            pthread_mutex_lock(&f->mu);
            f->acc[FLOOD_KEPT].bytes += (long)(sizeof kept_request - 1);
            pthread_mutex_unlock(&f->mu);
        }
    } else if (c->kind == FLOOD_SLOW) {
        ok = send_slow_byte(f, c, now);
    }
    if (!ok)
        server_closed(f, c, now);
}

static void start_connect(flood *f, fconn *c, int64_t now)
{
    c->start_us = now;
    c->fd = socket(AF_INET, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
    if (c->fd < 0) {
        connect_failed(f, c, now);
        return;
    }
    if (connect(c->fd, (const struct sockaddr *)&f->addr, sizeof f->addr) == 0) {
        established(f, c, now);
    } else if (errno == EINPROGRESS) {
        c->state = C_CONNECTING;
        changed(f, now);
    } else {
        connect_failed(f, c, now);
    }
}

/* Reads what the server sent; notices its close. */
static void readable(flood *f, fconn *c, int64_t now)
{
    char buf[4096];
    for (;;) {
        ssize_t n = recv(c->fd, buf, sizeof buf, 0);
        if (n > 0) {
            if (c->reply_us == 0)
                c->reply_us = now;
            continue;
        }
        if (n < 0 && errno == EINTR)
            continue;
        if (n < 0 && (errno == EAGAIN || errno == EWOULDBLOCK))
            return;
        server_closed(f, c, now); /* 0: EOF; < 0: reset */
        return;
    }
}

static void connecting_done(flood *f, fconn *c, int64_t now)
{
    int err = 0;
    socklen_t len = sizeof err;
    if (getsockopt(c->fd, SOL_SOCKET, SO_ERROR, &err, &len) != 0 || err != 0)
        connect_failed(f, c, now);
    else
        established(f, c, now);
}

/* ----------------------------------------------------------------- loop */

/* Starts due connects, sends due slowloris bytes, gives up slow connects:
 * one pass over every connection, only when something is due. Returns how
 * long the next poll may wait (ms). */
static int due_work(flood *f, int64_t now)
{
    int connecting = 0;
    int64_t next = now + MAX_WAIT_MS * 1000;
    if (now < f->next_due_us) {
        int64_t wait = (f->next_due_us - now + 999) / 1000;
        return wait > MAX_WAIT_MS ? MAX_WAIT_MS : (int)wait;
    }
    for (int i = 0; i < f->n; i++)
        connecting += f->c[i].state == C_CONNECTING;
    for (int i = 0; i < f->n; i++) {
        fconn *c = &f->c[i];
        if (c->state == C_WAIT && c->next_us <= now && connecting < f->o.max_connecting) {
            start_connect(f, c, now);
            connecting += c->state == C_CONNECTING;
        } else if (c->state == C_CONNECTING && now - c->start_us > CONNECT_GIVE_UP_US) {
            connect_failed(f, c, now);
            connecting--;
        } else if (c->state == C_OPEN && c->kind == FLOOD_SLOW && c->next_us <= now) {
            if (!send_slow_byte(f, c, now))
                server_closed(f, c, now);
        }
        if ((c->state == C_OPEN && c->kind == FLOOD_SLOW) ||
            (c->state == C_WAIT && connecting < f->o.max_connecting))
            next = c->next_us < next ? c->next_us : next;
        if (c->state == C_CONNECTING && c->start_us + CONNECT_GIVE_UP_US < next)
            next = c->start_us + CONNECT_GIVE_UP_US + 1;
    }
    /* A connect that completes frees a slot: changed() brings that forward. */
    f->next_due_us = next;
    int64_t wait = (next - now) / 1000;
    return wait < 0 ? 0 : wait > MAX_WAIT_MS ? MAX_WAIT_MS : (int)wait;
}

static void *flood_main(void *arg)
{
    flood *f = arg;
    while (!atomic_load(&f->stop)) {
        int timeout = due_work(f, now_us());
        if (f->dirty) {
            int np = 0;
            for (int i = 0; i < f->n; i++) {
                fconn *c = &f->c[i];
                if (c->state != C_CONNECTING && c->state != C_OPEN)
                    continue;
                f->pfd[np] = (struct pollfd){.fd = c->fd,
                                             .events = c->state == C_CONNECTING ? POLLOUT : POLLIN};
                f->pfd_conn[np++] = i;
            }
            f->np = np;
            f->dirty = false;
        }
        int np = f->np;
        int r = poll(f->pfd, (nfds_t)np, timeout);
        if (r <= 0)
            continue;
        int64_t now = now_us();
        for (int i = 0; i < np; i++) {
            if (f->pfd[i].revents == 0)
                continue;
            fconn *c = &f->c[f->pfd_conn[i]];
            if (c->state == C_CONNECTING)
                connecting_done(f, c, now);
            else if (c->state == C_OPEN)
                readable(f, c, now);
        }
    }
    return NULL;
}

/* ------------------------------------------------------------------ API */

flood *flood_start(const flood_opts *opts)
{
    flood *f = calloc(1, sizeof *f);
    if (f == NULL)
        return NULL;
    f->o = *opts;
    if (f->o.host == NULL)
        f->o.host = "127.0.0.1";
    if (f->o.byte_interval_ms <= 0)
        f->o.byte_interval_ms = 1000;
    if (f->o.max_connecting <= 0)
        f->o.max_connecting = 256;
    f->addr.sin_family = AF_INET;
    f->addr.sin_port = htons((uint16_t)f->o.port);
    if (inet_pton(AF_INET, f->o.host, &f->addr.sin_addr) != 1)
        goto fail;
    for (int k = 0; k < FLOOD_N_KINDS; k++) {
        f->n += f->o.n[k] > 0 ? f->o.n[k] : 0;
        f->acc[k].first_close_ms = f->acc[k].last_close_ms = -1;
    }
    f->c = calloc((size_t)f->n + 1, sizeof *f->c);
    f->pfd = calloc((size_t)f->n + 1, sizeof *f->pfd);
    f->pfd_conn = calloc((size_t)f->n + 1, sizeof *f->pfd_conn);
    if (f->c == NULL || f->pfd == NULL || f->pfd_conn == NULL)
        goto fail;
    /* Interleaved kinds, so that a slow start hurts none in particular. */
    int made = 0, left[FLOOD_N_KINDS];
    for (int k = 0; k < FLOOD_N_KINDS; k++)
        left[k] = f->o.n[k] > 0 ? f->o.n[k] : 0;
    while (made < f->n)
        for (int k = 0; k < FLOOD_N_KINDS; k++)
            if (left[k] > 0) {
                left[k]--;
                f->c[made++] = (fconn){.fd = -1, .kind = (flood_kind)k, .state = C_WAIT};
            }
    pthread_mutex_init(&f->mu, NULL);
    pthread_cond_init(&f->cond, NULL);
    atomic_init(&f->stop, false);
    f->t0_us = now_us();
    f->dirty = true;
    f->next_due_us = f->t0_us;
    if (pthread_create(&f->thread, NULL, flood_main, f) != 0) {
        pthread_mutex_destroy(&f->mu);
        pthread_cond_destroy(&f->cond);
        goto fail;
    }
    return f;
fail:
    free(f->c);
    free(f->pfd);
    free(f->pfd_conn);
    free(f);
    return NULL;
}

bool flood_wait_open(flood *f, int timeout_ms)
{
    struct timespec until;
    clock_gettime(CLOCK_REALTIME, &until);
    until.tv_sec += timeout_ms / 1000;
    until.tv_nsec += (long)(timeout_ms % 1000) * 1000000L;
    if (until.tv_nsec >= 1000000000L) {
        until.tv_sec++;
        until.tv_nsec -= 1000000000L;
    }
    pthread_mutex_lock(&f->mu);
    while (f->first_done < f->n)
        if (pthread_cond_timedwait(&f->cond, &f->mu, &until) != 0)
            break;
    bool all = f->first_done == f->n && f->first_failed == 0;
    pthread_mutex_unlock(&f->mu);
    return all;
}

static int cmp_long(const void *a, const void *b)
{
    long x = *(const long *)a, y = *(const long *)b;
    return (x > y) - (x < y);
}

void flood_snapshot(flood *f, flood_stats *out)
{
    memset(out, 0, sizeof *out);
    pthread_mutex_lock(&f->mu);
    out->elapsed_ms = (long)((now_us() - f->t0_us) / 1000);
    for (int k = 0; k < FLOOD_N_KINDS; k++) {
        const kind_acc *a = &f->acc[k];
        flood_kind_stats *s = &out->k[k];
        s->opened = a->opened;
        s->connect_failed = a->failed;
        s->closed = a->closed;
        s->answered = a->answered;
        s->open_now = a->open_now;
        s->bytes_sent = a->bytes;
        s->first_close_ms = a->first_close_ms;
        s->last_close_ms = a->last_close_ms;
        s->life_min_ms = s->life_p50_ms = s->life_max_ms = -1;
        long *sorted = a->n_life > 0 ? malloc(a->n_life * sizeof *sorted) : NULL;
        if (sorted != NULL) {
            memcpy(sorted, a->life_ms, a->n_life * sizeof *sorted);
            qsort(sorted, a->n_life, sizeof *sorted, cmp_long);
            s->life_min_ms = sorted[0];
            s->life_p50_ms = sorted[a->n_life / 2];
            s->life_max_ms = sorted[a->n_life - 1];
            free(sorted);
        }
    }
    pthread_mutex_unlock(&f->mu);
}

void flood_stop(flood *f, flood_stats *out)
{
    if (f == NULL)
        return;
    atomic_store(&f->stop, true);
    pthread_join(f->thread, NULL);
    if (out != NULL)
        flood_snapshot(f, out);
    for (int i = 0; i < f->n; i++)
        if (f->c[i].fd >= 0)
            close(f->c[i].fd);
    for (int k = 0; k < FLOOD_N_KINDS; k++)
        free(f->acc[k].life_ms);
    pthread_mutex_destroy(&f->mu);
    pthread_cond_destroy(&f->cond);
    free(f->c);
    free(f->pfd);
    free(f->pfd_conn);
    free(f);
}
