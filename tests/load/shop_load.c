/* shop-load: N concurrent clients that shop against the gateway for D seconds
 * (orders with and without coupons and their payments, payments that find the
 * balance short, cancellations, charges, coupon-issue races, reads), every
 * state-changing request under an Idempotency-Key and retried with the same
 * key; prints throughput, latency percentiles and answers by status and code,
 * and writes the record shop-audit checks (load_record.h). Usage: --help. */
#include <errno.h>
#include <getopt.h>
#include <inttypes.h>
#include <pthread.h>
#include <signal.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include <curl/curl.h>

#include "load_http.h"
#include "load_record.h"
#include "load_stats.h"

#define CONNECT_TIMEOUT_MS 1000
#define TOTAL_TIMEOUT_MS 15000
#define N_BULK 8
#define N_SCARCE 3
#define SCARCE_STOCK 40
#define BULK_STOCK 100000000
#define RICH_BALANCE 100000000000LL
#define POOR_BALANCE 1000
#define POOL_QUANTITY 1000000
#define RETRY_GRACE_US (15 * 1000000LL) /* no retry starts later than this after the end */
#define RECENT 16

typedef enum route {
    R_ORDER, R_PAY, R_CANCEL, R_CHARGE, R_ISSUE, R_GET_ITEM, R_GET_BALANCE, R_GET_ORDER,
    R_GET_PAYMENT, R_GET_COUPONS, R_ADMIN, R_SAGA, N_ROUTES,
} route;

static const char *const route_names[N_ROUTES] = {
    [R_ORDER] = "POST /api/orders",
    [R_PAY] = "POST /api/payments",
    [R_CANCEL] = "PATCH /api/payments",
    [R_CHARGE] = "POST /api/users/{id}/balance/charge",
    [R_ISSUE] = "POST /api/coupons/{id}/issue",
    [R_GET_ITEM] = "GET /api/items/{id}",
    [R_GET_BALANCE] = "GET /api/users/{id}/balance",
    [R_GET_ORDER] = "GET /api/orders/{id}",
    [R_GET_PAYMENT] = "GET /api/payments/{id}",
    [R_GET_COUPONS] = "GET /api/users/{id}/coupons",
    [R_ADMIN] = "POST /api/admin/* (fixtures)",
    [R_SAGA] = "saga: order + pay (201 to both)",
};

/* Keys of the routes in --summary-json. */
static const char *const route_ids[N_ROUTES] = {
    [R_ORDER] = "order", [R_PAY] = "pay", [R_CANCEL] = "cancel", [R_CHARGE] = "charge",
    [R_ISSUE] = "issue", [R_GET_ITEM] = "get_item", [R_GET_BALANCE] = "get_balance",
    [R_GET_ORDER] = "get_order", [R_GET_PAYMENT] = "get_payment", [R_GET_COUPONS] = "get_coupons",
    [R_ADMIN] = "admin", [R_SAGA] = "saga",
};

typedef enum flow {
    F_ORDER_PAY, F_COUPON_ORDER_PAY, F_SCARCE, F_INSUFFICIENT, F_CANCEL, F_CHARGE, F_ISSUE_RACE,
    F_GETS, N_FLOWS,
} flow;

static const char *const flow_names[N_FLOWS] = {
    "order_pay", "coupon_order_pay", "scarce", "insufficient", "cancel", "charge", "issue_race",
    "gets",
};
static const int default_weights[N_FLOWS] = {25, 15, 5, 5, 10, 10, 10, 20};

typedef struct options {
    int clients;
    int seconds;
    int max_attempts;
    const char *url;
    const char *record_path;
    const char *summary_path; /* --summary-json */
    char mix_text[128];
    int weights[N_FLOWS];
    uint64_t seed;
    bool quiet;
} options;

typedef struct fixture_item {
    int64_t id, price;
} fixture_item;

/* Coupons created as the run needs them; shared, grown under mu. */
typedef struct coupon_pool {
    pthread_mutex_t mu;
    int64_t *ids;
    size_t n, cap;
    int64_t quantity;
    const char *label;
} coupon_pool;

typedef struct shared {
    options opt;
    char url[256];
    char run_id[48];
    char admin_header[300];
    fixture_item bulk[N_BULK], scarce[N_SCARCE];
    coupon_pool pool, race;
    FILE *record;
    pthread_mutex_t record_mu;
    int64_t started_us, deadline_us;
    atomic_llong requests, sagas, failed;
    atomic_llong fixture_requests; /* of requests, those made before the clock started */
    pthread_mutex_t shown_mu;
    load_counts shown; /* answers logged to stderr, by key: 3 of each */
} shared;

typedef struct client {
    int idx;
    shared *sh;
    load_http *http;
    uint64_t rng;
    uint64_t seq;
    int64_t rich, poor;
    int64_t *free_ucs; /* unused user coupons of rich */
    size_t n_ucs, cap_ucs;
    size_t pool_cursor, race_cursor;
    int64_t recent_orders[RECENT], recent_payments[RECENT];
    int n_orders, n_payments;
    load_lat lat[N_ROUTES];
    load_counts answers;    /* "route status code" */
    load_counts unexpected; /* answers no flow expects */
    int64_t flows[N_FLOWS], flows_ok[N_FLOWS];
    int64_t retries, replayed;
    bool setup_failed;
    char history[256]; /* the attempts of the last call(), for reports */
    bool had_failure;  /* an attempt of the last call() failed and was retried */
    load_counts after_failure; /* not expected, but after a failed attempt */
    char last_call[512];
} client;

static volatile sig_atomic_t interrupted;

static void on_signal(int sig)
{
    (void)sig;
    interrupted = 1;
}

static uint64_t next_rand(client *cl)
{
    uint64_t x = cl->rng;
    x ^= x >> 12;
    x ^= x << 25;
    x ^= x >> 27;
    cl->rng = x;
    return x * 0x2545F4914F6CDD1DULL;
}

static int64_t rand_in(client *cl, int64_t lo, int64_t hi)
{
    return lo + (int64_t)(next_rand(cl) % (uint64_t)(hi - lo + 1));
}

static bool running(const client *cl)
{
    return !interrupted && load_now_us() < cl->sh->deadline_us;
}

static void sleep_us(int64_t us)
{
    struct timespec ts = {.tv_sec = us / 1000000, .tv_nsec = (long)(us % 1000000) * 1000};
    while (nanosleep(&ts, &ts) != 0 && errno == EINTR && !interrupted)
        ;
}

/* --- record ------------------------------------------------------------------ */

static void record_line(shared *sh, const load_rec *r)
{
    if (sh->record == NULL)
        return;
    char *line = load_record_render(r);
    if (line == NULL) {
        fprintf(stderr, "shop-load: out of memory writing the record\n");
        return;
    }
    pthread_mutex_lock(&sh->record_mu);
    fputs(line, sh->record);
    fputc('\n', sh->record);
    pthread_mutex_unlock(&sh->record_mu);
    free(line);
}

/* --- calls ---------------------------------------------------------------- */

static bool retryable(const load_resp *r)
{
    if (r->transport != LOAD_T_OK)
        return true;
    if (r->status == 502 || r->status == 503 || r->status == 504)
        return true;
    return r->status == 409 && strcmp(r->code, "IDEMPOTENCY_KEY_IN_USE") == 0;
}

static void count_answer(client *cl, route r, const load_resp *resp)
{
    char key[160];
    if (resp->transport == LOAD_T_TIMEOUT)
        snprintf(key, sizeof key, "%s timeout", route_names[r]);
    else if (resp->transport != LOAD_T_OK)
        snprintf(key, sizeof key, "%s transport-error", route_names[r]);
    else
        snprintf(key, sizeof key, "%s %ld%s%s", route_names[r], resp->status,
                 resp->code[0] ? " " : "", resp->code);
    load_counts_add(&cl->answers, key, 1);
    load_lat_add(&cl->lat[r], resp->duration_us);
    atomic_fetch_add(&cl->sh->requests, 1);
    cl->replayed += resp->replayed;
}

/* Sends one logical request: with key (may be NULL) and, when retry is set,
 * again with the same key after a transport error, a timeout, 502/503/504 or
 * 409 IDEMPOTENCY_KEY_IN_USE, with a growing pause, at most max_attempts
 * times. out holds the last answer (free with load_resp_free). */
static void call(client *cl, route r, const char *method, const char *path, const char *body,
                 const char *key, bool retry, load_resp *out)
{
    char url[512], key_header[LOAD_KEY_MAX + 32];
    const char *headers[3] = {NULL, NULL, NULL};
    int nh = 0;
    snprintf(url, sizeof url, "%s%s", cl->sh->opt.url, path);
    if (key != NULL) {
        snprintf(key_header, sizeof key_header, "Idempotency-Key: %s", key);
        headers[nh++] = key_header;
    }
    if (r == R_ADMIN)
        headers[nh++] = cl->sh->admin_header;
    int64_t pause = 50000;
    size_t hl = 0;
    cl->history[0] = '\0';
    cl->had_failure = false;
    snprintf(cl->last_call, sizeof cl->last_call, "%s %s %s key=%s", method, path,
             body != NULL ? body : "", key != NULL ? key : "-");
    for (int attempt = 1;; attempt++) {
        load_http_do(cl->http, method, url, body, headers, out);
        count_answer(cl, r, out);
        if (hl < sizeof cl->history && out->transport != LOAD_T_OK)
            hl += (size_t)snprintf(cl->history + hl, sizeof cl->history - hl, "%s%s",
                                   attempt > 1 ? ", " : "",
                                   out->transport == LOAD_T_TIMEOUT ? "timeout" : "transport-error");
        else if (hl < sizeof cl->history)
            hl += (size_t)snprintf(cl->history + hl, sizeof cl->history - hl, "%s%ld%s%s",
                                   attempt > 1 ? ", " : "", out->status, out->code[0] ? " " : "",
                                   out->code);
        cl->had_failure |= retryable(out);
        if (!retry || !retryable(out) || attempt >= cl->sh->opt.max_attempts || interrupted ||
            load_now_us() > cl->sh->deadline_us + RETRY_GRACE_US)
            return;
        load_resp_free(out);
        cl->retries++;
        sleep_us(pause + rand_in(cl, 0, pause / 2));
        pause = pause * 2 > 1000000 ? 1000000 : pause * 2;
    }
}

/* A failure that retries could not overcome (transport, 5xx): counted, and
 * tolerated, since chaos makes them; anything else not in allowed ("201",
 * "409 OUT_OF_STOCK", separated by '|') is unexpected. Returns true when the
 * answer is one of allowed. */
static bool judge(client *cl, route r, const load_resp *resp, const char *allowed)
{
    char mine[96], bare[16];
    if (resp->transport != LOAD_T_OK || resp->status == 502 || resp->status == 503 ||
        resp->status == 504 || (resp->status == 409 && strcmp(resp->code, "IDEMPOTENCY_KEY_IN_USE") == 0)) {
        atomic_fetch_add(&cl->sh->failed, 1);
        return false;
    }
    snprintf(bare, sizeof bare, "%ld", resp->status);
    snprintf(mine, sizeof mine, "%ld%s%s", resp->status, resp->code[0] ? " " : "", resp->code);
    for (const char *a = allowed; *a != '\0';) {
        size_t n = strcspn(a, "|");
        if ((strlen(mine) == n && strncmp(a, mine, n) == 0) ||
            (strlen(bare) == n && strncmp(a, bare, n) == 0 && resp->code[0] == '\0'))
            return true;
        a += n + (a[n] == '|');
    }
    /* After a failed attempt the first may have done part of the work (a
     * payment left PENDING that blocks the retry, say): reported apart. */
    char key[160];
    snprintf(key, sizeof key, "%s %s", route_names[r], mine);
    load_counts_add(cl->had_failure ? &cl->after_failure : &cl->unexpected, key, 1);
    pthread_mutex_lock(&cl->sh->shown_mu);
    bool show = load_counts_get(&cl->sh->shown, key) < 3 && load_counts_add(&cl->sh->shown, key, 1);
    pthread_mutex_unlock(&cl->sh->shown_mu);
    if (show)
        fprintf(stderr, "shop-load: %s %s: %s; attempts: %s\n",
                cl->had_failure ? "after a failed attempt" : "unexpected", mine, cl->last_call,
                cl->history);
    return false;
}

static void new_key(client *cl, const char *what, char *out, size_t outlen)
{
    snprintf(out, outlen, "%s-c%d-%" PRIu64 "-%s", cl->sh->run_id, cl->idx, ++cl->seq, what);
}

/* --- fixtures -------------------------------------------------------------- */

/* POSTs an admin create and returns the new id, or 0. */
static int64_t admin_create(client *cl, const char *path, const char *body)
{
    load_resp resp;
    int64_t id = 0;
    call(cl, R_ADMIN, "POST", path, body, NULL, true, &resp);
    if (judge(cl, R_ADMIN, &resp, "201") && !load_json_int(resp.json, "id", &id))
        id = 0;
    if (id == 0)
        fprintf(stderr, "shop-load: POST %s %s: %ld %s %s\n", path, body, resp.status, resp.code,
                resp.error);
    load_resp_free(&resp);
    return id;
}

static int64_t create_item(client *cl, const char *label, int64_t price, int64_t stock)
{
    char body[256];
    snprintf(body, sizeof body, "{\"name\":\"%s %s\",\"price\":%" PRId64 ",\"stock\":%" PRId64 "}",
             cl->sh->run_id, label, price, stock);
    int64_t id = admin_create(cl, "/api/admin/items", body);
    if (id > 0)
        record_line(cl->sh, &(load_rec){.kind = LOAD_REC_ITEM, .id = id, .price = price, .stock = stock});
    return id;
}

static int64_t create_user(client *cl, const char *label, int64_t balance)
{
    char body[256];
    snprintf(body, sizeof body, "{\"name\":\"%s c%d %s\",\"balance\":%" PRId64 "}", cl->sh->run_id,
             cl->idx, label, balance);
    int64_t id = admin_create(cl, "/api/admin/users", body);
    if (id > 0)
        record_line(cl->sh, &(load_rec){.kind = LOAD_REC_USER, .id = id, .balance = balance});
    return id;
}

static int64_t create_coupon(client *cl, const char *label, load_discount type, int64_t value,
                             int64_t quantity)
{
    char body[320];
    snprintf(body, sizeof body,
             "{\"name\":\"%s %s\",\"discountType\":\"%s\",\"discountValue\":%" PRId64
             ",\"totalQuantity\":%" PRId64 ",\"expiresAt\":\"2099-12-31T23:59:59Z\"}",
             cl->sh->run_id, label, load_discount_name(type), value, quantity);
    int64_t id = admin_create(cl, "/api/admin/coupons", body);
    if (id > 0)
        record_line(cl->sh, &(load_rec){.kind = LOAD_REC_COUPON, .id = id, .discount_type = type,
                                        .discount_value = value, .total_quantity = quantity});
    return id;
}

/* The index-th coupon of pool, created when the run first needs it (FIXED
 * 3000 and PERCENT 10 in turn). Returns 0 when it cannot be created. */
static int64_t pool_coupon(client *cl, coupon_pool *p, size_t index)
{
    int64_t id = 0;
    pthread_mutex_lock(&p->mu);
    while (p->n <= index) {
        bool fixed = p->n % 2 == 0;
        int64_t made = create_coupon(cl, p->label, fixed ? LOAD_DISCOUNT_FIXED : LOAD_DISCOUNT_PERCENT,
                                     fixed ? 3000 : 10, p->quantity);
        if (made == 0)
            goto out;
        if (p->n == p->cap) {
            size_t cap = p->cap ? p->cap * 2 : 64;
            int64_t *grown = realloc(p->ids, cap * sizeof *grown);
            if (grown == NULL)
                goto out;
            p->ids = grown;
            p->cap = cap;
        }
        p->ids[p->n++] = made;
    }
    id = p->ids[index];
out:
    pthread_mutex_unlock(&p->mu);
    return id;
}

/* --- user coupons held by a client ------------------------------------------ */

static void push_uc(client *cl, int64_t id)
{
    if (cl->n_ucs == cl->cap_ucs) {
        size_t cap = cl->cap_ucs ? cl->cap_ucs * 2 : 16;
        int64_t *grown = realloc(cl->free_ucs, cap * sizeof *grown);
        if (grown == NULL)
            return; /* the coupon is just not reused */
        cl->free_ucs = grown;
        cl->cap_ucs = cap;
    }
    cl->free_ucs[cl->n_ucs++] = id;
}

/* Issues coupon_id to the client's rich user. Returns the answer's status
 * (0 for a failure retries did not overcome); *uc the user coupon on 201. */
static long issue(client *cl, int64_t coupon_id, const char *allowed, int64_t *uc)
{
    char path[96], body[64], key[LOAD_KEY_MAX];
    load_resp resp;
    long status = 0;
    *uc = 0;
    snprintf(path, sizeof path, "/api/coupons/%" PRId64 "/issue", coupon_id);
    snprintf(body, sizeof body, "{\"userId\":%" PRId64 "}", cl->rich);
    new_key(cl, "issue", key, sizeof key);
    call(cl, R_ISSUE, "POST", path, body, key, true, &resp);
    if (judge(cl, R_ISSUE, &resp, allowed)) {
        status = resp.status;
        if (status == 201 && load_json_int(resp.json, "id", uc)) {
            load_rec r = {.kind = LOAD_REC_ISSUE, .id = *uc, .coupon_id = coupon_id, .user_id = cl->rich};
            snprintf(r.key, sizeof r.key, "%s", key);
            record_line(cl->sh, &r);
        }
    }
    load_resp_free(&resp);
    return status;
}

/* An unused user coupon of the rich user: one given back earlier, or a new
 * one issued from the shared pool. Returns 0 when none could be had. */
static int64_t take_uc(client *cl)
{
    if (cl->n_ucs > 0)
        return cl->free_ucs[--cl->n_ucs];
    int64_t coupon = pool_coupon(cl, &cl->sh->pool, cl->pool_cursor++);
    int64_t uc = 0;
    if (coupon > 0)
        issue(cl, coupon, "201", &uc);
    return uc;
}

/* --- order, pay, cancel ----------------------------------------------------- */

typedef struct order_ack {
    int64_t id, final_amount;
    long status; /* 0: failed for good or unknown */
    char code[64];
} order_ack;

static int render_lines(client *cl, const fixture_item *from, int n_from, int n_lines, char *out,
                        size_t outlen)
{
    int first = (int)rand_in(cl, 0, n_from - 1), len = 0;
    for (int i = 0; i < n_lines && len < (int)outlen; i++)
        len += snprintf(out + len, outlen - (size_t)len, "%s{\"itemId\":%" PRId64 ",\"quantity\":%" PRId64 "}",
                        i ? "," : "", from[(first + i) % n_from].id,
                        from == cl->sh->scarce ? rand_in(cl, 1, 2) : rand_in(cl, 1, 3));
    return len;
}

static void remember(int64_t *ring, int *n, int64_t id)
{
    ring[*n % RECENT] = id;
    (*n)++;
}

/* POST /api/orders for user with lines and uc (0: none). */
static void create_order(client *cl, int64_t user, const char *lines, int64_t uc,
                         const char *allowed, order_ack *ack)
{
    char body[1024], key[LOAD_KEY_MAX], ucs[32] = "null";
    load_resp resp;
    memset(ack, 0, sizeof *ack);
    if (uc > 0)
        snprintf(ucs, sizeof ucs, "%" PRId64, uc);
    snprintf(body, sizeof body, "{\"userId\":%" PRId64 ",\"items\":[%s],\"userCouponId\":%s}", user,
             lines, ucs);
    new_key(cl, "order", key, sizeof key);
    call(cl, R_ORDER, "POST", "/api/orders", body, key, true, &resp);
    if (judge(cl, R_ORDER, &resp, allowed)) {
        ack->status = resp.status;
        snprintf(ack->code, sizeof ack->code, "%s", resp.code);
        if (resp.status == 201 && load_json_int(resp.json, "id", &ack->id) &&
            load_json_int(resp.json, "finalAmount", &ack->final_amount)) {
            load_rec r = {.kind = LOAD_REC_ORDER, .id = ack->id, .user_id = user,
                          .amount = ack->final_amount, .user_coupon_id = uc};
            snprintf(r.key, sizeof r.key, "%s", key);
            record_line(cl->sh, &r);
            remember(cl->recent_orders, &cl->n_orders, ack->id);
        } else if (resp.status == 201) {
            ack->status = 0;
            load_counts_add(&cl->unexpected, "POST /api/orders 201 without id or finalAmount", 1);
        }
    }
    load_resp_free(&resp);
}

/* POST /api/payments. Returns the status judged acceptable (201, 402), or 0. */
static long pay(client *cl, int64_t order_id, int64_t user, const char *allowed)
{
    char body[128], key[LOAD_KEY_MAX];
    load_resp resp;
    long status = 0;
    snprintf(body, sizeof body, "{\"orderId\":%" PRId64 ",\"userId\":%" PRId64 "}", order_id, user);
    new_key(cl, "pay", key, sizeof key);
    call(cl, R_PAY, "POST", "/api/payments", body, key, true, &resp);
    bool ok = judge(cl, R_PAY, &resp, allowed);
    load_rec r = {.order_id = order_id, .user_id = user};
    snprintf(r.key, sizeof r.key, "%s", key);
    if (resp.transport == LOAD_T_OK && resp.status == 201 &&
        load_json_int(resp.json, "id", &r.id) && load_json_int(resp.json, "amount", &r.amount)) {
        r.kind = LOAD_REC_PAYMENT; /* recorded even when unexpected: it must hold */
        record_line(cl->sh, &r);
        remember(cl->recent_payments, &cl->n_payments, r.id);
    } else if (resp.transport == LOAD_T_OK && resp.status == 402) {
        r.kind = LOAD_REC_DECLINED;
        record_line(cl->sh, &r);
    }
    if (ok)
        status = resp.status;
    load_resp_free(&resp);
    return status;
}

/* PATCH /api/payments cancel. Returns true on 200. */
static bool cancel(client *cl, int64_t order_id, int64_t user)
{
    char body[160];
    load_resp resp;
    snprintf(body, sizeof body, "{\"orderId\":%" PRId64 ",\"userId\":%" PRId64 ",\"status\":\"CANCELLED\"}",
             order_id, user);
    call(cl, R_CANCEL, "PATCH", "/api/payments", body, NULL, true, &resp);
    bool ok = judge(cl, R_CANCEL, &resp, "200");
    if (ok)
        record_line(cl->sh, &(load_rec){.kind = LOAD_REC_CANCEL, .order_id = order_id, .user_id = user});
    load_resp_free(&resp);
    return ok;
}

/* Order then pay; the saga's latency is from the first order attempt to the
 * payment's 201. */
static bool order_then_pay(client *cl, bool use_coupon, bool scarce)
{
    char lines[512];
    order_ack order;
    int64_t started = load_now_us();
    int64_t uc = use_coupon ? take_uc(cl) : 0;
    if (scarce)
        render_lines(cl, cl->sh->scarce, N_SCARCE, 1, lines, sizeof lines);
    else
        render_lines(cl, cl->sh->bulk, N_BULK, (int)rand_in(cl, 1, 3), lines, sizeof lines);
    create_order(cl, cl->rich, lines, uc, scarce ? "201|409 OUT_OF_STOCK" : "201", &order);
    if (order.status != 201) {
        if (uc > 0 && order.status == 409 && strcmp(order.code, "OUT_OF_STOCK") == 0)
            push_uc(cl, uc); /* refused orders leave the coupon unused */
        return false;
    }
    long paid = pay(cl, order.id, cl->rich, "201");
    if (paid != 201)
        return false; /* the coupon's fate is unknown: not reused */
    load_lat_add(&cl->lat[R_SAGA], load_now_us() - started);
    atomic_fetch_add(&cl->sh->sagas, 1);
    return true;
}

static bool flow_insufficient(client *cl)
{
    char lines[128];
    order_ack order;
    render_lines(cl, cl->sh->bulk, N_BULK, 1, lines, sizeof lines);
    create_order(cl, cl->poor, lines, 0, "201", &order);
    if (order.status != 201)
        return false;
    return pay(cl, order.id, cl->poor, "402 INSUFFICIENT_BALANCE") == 402;
}

static bool flow_cancel(client *cl)
{
    char lines[512];
    order_ack order;
    int64_t uc = rand_in(cl, 0, 1) ? take_uc(cl) : 0;
    render_lines(cl, cl->sh->bulk, N_BULK, (int)rand_in(cl, 1, 3), lines, sizeof lines);
    create_order(cl, cl->rich, lines, uc, "201", &order);
    if (order.status != 201)
        return false;
    if (!cancel(cl, order.id, cl->rich))
        return false;
    if (uc > 0)
        push_uc(cl, uc);
    return true;
}

static bool flow_charge(client *cl)
{
    char path[96], body[64], key[LOAD_KEY_MAX];
    load_resp resp;
    int64_t amount = rand_in(cl, 1, 10000);
    snprintf(path, sizeof path, "/api/users/%" PRId64 "/balance/charge", cl->rich);
    snprintf(body, sizeof body, "{\"amount\":%" PRId64 "}", amount);
    new_key(cl, "charge", key, sizeof key);
    call(cl, R_CHARGE, "POST", path, body, key, true, &resp);
    bool ok = judge(cl, R_CHARGE, &resp, "200");
    if (ok) {
        load_rec r = {.kind = LOAD_REC_CHARGE, .user_id = cl->rich, .amount = amount};
        snprintf(r.key, sizeof r.key, "%s", key);
        record_line(cl->sh, &r);
    }
    load_resp_free(&resp);
    return ok;
}

/* Every client walks the same list of small race coupons: the first few to
 * ask get one, the rest hear COUPON_SOLD_OUT and move on. */
static bool flow_issue_race(client *cl)
{
    int64_t coupon = pool_coupon(cl, &cl->sh->race, cl->race_cursor);
    int64_t uc = 0;
    if (coupon == 0)
        return false;
    long status = issue(cl, coupon, "201|409 COUPON_SOLD_OUT|409 COUPON_ALREADY_ISSUED", &uc);
    if (status != 0)
        cl->race_cursor++;
    if (uc > 0)
        push_uc(cl, uc);
    return status == 201;
}

static bool flow_gets(client *cl)
{
    char path[128];
    route r = (route)(R_GET_ITEM + rand_in(cl, 0, R_GET_COUPONS - R_GET_ITEM));
    int64_t id;
    switch (r) {
    case R_GET_ITEM:
        snprintf(path, sizeof path, "/api/items/%" PRId64, cl->sh->bulk[rand_in(cl, 0, N_BULK - 1)].id);
        break;
    case R_GET_BALANCE:
        snprintf(path, sizeof path, "/api/users/%" PRId64 "/balance", cl->rich);
        break;
    case R_GET_ORDER:
        if (cl->n_orders == 0)
            return false;
        id = cl->recent_orders[rand_in(cl, 0, (cl->n_orders < RECENT ? cl->n_orders : RECENT) - 1)];
        snprintf(path, sizeof path, "/api/orders/%" PRId64, id);
        break;
    case R_GET_PAYMENT:
        if (cl->n_payments == 0)
            return false;
        id = cl->recent_payments[rand_in(cl, 0, (cl->n_payments < RECENT ? cl->n_payments : RECENT) - 1)];
        snprintf(path, sizeof path, "/api/payments/%" PRId64, id);
        break;
    default:
        snprintf(path, sizeof path, "/api/users/%" PRId64 "/coupons", cl->rich);
        break;
    }
    load_resp resp;
    call(cl, r, "GET", path, NULL, NULL, true, &resp); /* a read is safe to repeat */
    bool ok = judge(cl, r, &resp, "200");
    load_resp_free(&resp);
    return ok;
}

static flow pick_flow(client *cl)
{
    const int *w = cl->sh->opt.weights;
    int total = 0;
    for (int f = 0; f < N_FLOWS; f++)
        total += w[f];
    int x = (int)rand_in(cl, 0, total - 1);
    for (int f = 0; f < N_FLOWS; f++) {
        if (x < w[f])
            return (flow)f;
        x -= w[f];
    }
    return F_GETS;
}

static bool run_flow(client *cl, flow f)
{
    switch (f) {
    case F_ORDER_PAY:
        return order_then_pay(cl, false, false);
    case F_COUPON_ORDER_PAY:
        return order_then_pay(cl, true, false);
    case F_SCARCE:
        return order_then_pay(cl, false, true);
    case F_INSUFFICIENT:
        return flow_insufficient(cl);
    case F_CANCEL:
        return flow_cancel(cl);
    case F_CHARGE:
        return flow_charge(cl);
    case F_ISSUE_RACE:
        return flow_issue_race(cl);
    default:
        return flow_gets(cl);
    }
}

static void *client_main(void *arg)
{
    client *cl = arg;
    while (running(cl)) {
        flow f = pick_flow(cl);
        cl->flows[f]++;
        cl->flows_ok[f] += run_flow(cl, f);
    }
    return NULL;
}

/* --- setup ------------------------------------------------------------------- */

/* Creates the items and the race pool's first coupon (shared), on c0. */
static bool setup_shared(client *c0)
{
    shared *sh = c0->sh;
    char label[32];
    for (int i = 0; i < N_BULK; i++) {
        snprintf(label, sizeof label, "bulk %d", i);
        sh->bulk[i].price = 5000 + 1000 * i;
        if ((sh->bulk[i].id = create_item(c0, label, sh->bulk[i].price, BULK_STOCK)) == 0)
            return false;
    }
    for (int i = 0; i < N_SCARCE; i++) {
        snprintf(label, sizeof label, "scarce %d", i);
        sh->scarce[i].price = 3000 + 500 * i;
        if ((sh->scarce[i].id = create_item(c0, label, sh->scarce[i].price, SCARCE_STOCK)) == 0)
            return false;
    }
    return pool_coupon(c0, &sh->pool, 0) > 0 && pool_coupon(c0, &sh->race, 0) > 0;
}

/* Each client makes its own users, in parallel. */
static void *setup_client(void *arg)
{
    client *cl = arg;
    cl->rich = create_user(cl, "rich", RICH_BALANCE);
    cl->poor = create_user(cl, "poor", POOR_BALANCE);
    cl->setup_failed = cl->rich == 0 || cl->poor == 0;
    return NULL;
}

/* --- report ------------------------------------------------------------------- */

/* Adds {"count","p50_ms","p95_ms","p99_ms","max_ms"} of l under key to o. */
static bool add_latency(cJSON *o, const char *key, load_lat *l)
{
    cJSON *r = cJSON_AddObjectToObject(o, key);
    return r != NULL && cJSON_AddNumberToObject(r, "count", (double)l->n) != NULL &&
           cJSON_AddNumberToObject(r, "p50_ms", (double)load_lat_percentile(l, 50) / 1000) != NULL &&
           cJSON_AddNumberToObject(r, "p95_ms", (double)load_lat_percentile(l, 95) / 1000) != NULL &&
           cJSON_AddNumberToObject(r, "p99_ms", (double)load_lat_percentile(l, 99) / 1000) != NULL &&
           cJSON_AddNumberToObject(r, "max_ms", (double)load_lat_max(l) / 1000) != NULL;
}

/* Writes the run's figures as one JSON object to --summary-json (for
 * tests/bench): rates over the measured time, fixture calls left out of
 * requests_per_s; per route (every attempt) and for the whole saga, count
 * and p50/p95/p99/max in ms. Returns false after saying why on stderr. */
static bool write_summary(shared *sh, load_lat *lat, double secs, int64_t retries,
                          int64_t n_unexpected, int64_t n_after)
{
    long long reqs = atomic_load(&sh->requests), fixture = atomic_load(&sh->fixture_requests);
    long long sagas = atomic_load(&sh->sagas);
    bool ok = false;
    char *text = NULL;
    FILE *f = NULL;
    cJSON *o = cJSON_CreateObject(), *routes = NULL;
    if (o == NULL || cJSON_AddStringToObject(o, "run", sh->run_id) == NULL ||
        cJSON_AddStringToObject(o, "mix", sh->opt.mix_text) == NULL ||
        cJSON_AddNumberToObject(o, "clients", sh->opt.clients) == NULL ||
        cJSON_AddNumberToObject(o, "seconds_asked", sh->opt.seconds) == NULL ||
        cJSON_AddNumberToObject(o, "seconds_ran", secs) == NULL ||
        cJSON_AddNumberToObject(o, "requests", (double)(reqs - fixture)) == NULL ||
        cJSON_AddNumberToObject(o, "requests_per_s", (double)(reqs - fixture) / secs) == NULL ||
        cJSON_AddNumberToObject(o, "sagas", (double)sagas) == NULL ||
        cJSON_AddNumberToObject(o, "sagas_per_s", (double)sagas / secs) == NULL ||
        cJSON_AddNumberToObject(o, "retries", (double)retries) == NULL ||
        cJSON_AddNumberToObject(o, "failed", (double)atomic_load(&sh->failed)) == NULL ||
        cJSON_AddNumberToObject(o, "unexpected", (double)n_unexpected) == NULL ||
        cJSON_AddNumberToObject(o, "after_failure", (double)n_after) == NULL ||
        (routes = cJSON_AddObjectToObject(o, "routes")) == NULL)
        goto out;
    for (int r = 0; r < N_ROUTES; r++)
        if (lat[r].n > 0 && !add_latency(routes, route_ids[r], &lat[r]))
            goto out;
    if ((text = cJSON_PrintUnformatted(o)) == NULL)
        goto out;
    if ((f = fopen(sh->opt.summary_path, "w")) == NULL || fprintf(f, "%s\n", text) < 0) {
        fprintf(stderr, "shop-load: cannot write %s: %s\n", sh->opt.summary_path, strerror(errno));
        goto out;
    }
    ok = true;
out:
    if (f != NULL && fclose(f) != 0) {
        fprintf(stderr, "shop-load: writing %s: %s\n", sh->opt.summary_path, strerror(errno));
        ok = false;
    }
    if (!ok && text == NULL)
        fprintf(stderr, "shop-load: cannot render the summary (out of memory)\n");
    free(text);
    cJSON_Delete(o);
    return ok;
}

/* Prints the report; returns false when --summary-json could not be written. */
static bool print_report(shared *sh, client *cls, int n, int64_t ended_us)
{
    bool summary_failed = false;
    load_lat lat[N_ROUTES] = {{0}};
    load_counts answers = {0}, unexpected = {0}, after_failure = {0};
    int64_t flows[N_FLOWS] = {0}, flows_ok[N_FLOWS] = {0}, retries = 0, replayed = 0;
    for (int i = 0; i < n; i++) {
        for (int r = 0; r < N_ROUTES; r++)
            load_lat_merge(&lat[r], &cls[i].lat[r]);
        load_counts_merge(&answers, &cls[i].answers);
        load_counts_merge(&unexpected, &cls[i].unexpected);
        load_counts_merge(&after_failure, &cls[i].after_failure);
        for (int f = 0; f < N_FLOWS; f++) {
            flows[f] += cls[i].flows[f];
            flows_ok[f] += cls[i].flows_ok[f];
        }
        retries += cls[i].retries;
        replayed += cls[i].replayed;
    }
    double secs = (double)(ended_us - sh->started_us) / 1e6;
    long long reqs = atomic_load(&sh->requests), sagas = atomic_load(&sh->sagas);
    printf("shop-load: run %s, %d clients, %d s asked, %.1f s ran, mix %s, %s\n", sh->run_id,
           sh->opt.clients, sh->opt.seconds, secs, sh->opt.mix_text, sh->opt.url);
    printf("requests: %lld (%.0f/s; %" PRId64 " retries, %" PRId64 " replayed answers)\n", reqs,
           (double)reqs / secs, retries, replayed);
    printf("sagas completed (order 201 + payment 201): %lld (%.1f/s)\n", sagas, (double)sagas / secs);
    printf("\n%-40s %8s %9s %9s %9s %9s\n", "latency per attempt (ms)", "count", "p50", "p95", "p99", "max");
    for (int r = 0; r < N_ROUTES; r++) {
        if (lat[r].n == 0)
            continue;
        printf("%-40s %8zu %9.1f %9.1f %9.1f %9.1f\n", route_names[r], lat[r].n,
               (double)load_lat_percentile(&lat[r], 50) / 1000, (double)load_lat_percentile(&lat[r], 95) / 1000,
               (double)load_lat_percentile(&lat[r], 99) / 1000, (double)load_lat_max(&lat[r]) / 1000);
    }
    printf("\nflows (started / succeeded):");
    for (int f = 0; f < N_FLOWS; f++)
        if (flows[f] > 0)
            printf(" %s %" PRId64 "/%" PRId64, flow_names[f], flows[f], flows_ok[f]);
    printf("\n\nanswers by route, status and code (every attempt):\n");
    load_counts_sort(&answers);
    for (size_t i = 0; i < answers.n; i++)
        printf("%10" PRId64 "  %s\n", answers.e[i].n, answers.e[i].key);
    printf("\nfailed after retries (transport, 5xx, key in use): %lld\n", atomic_load(&sh->failed));
    int64_t n_after = 0, n_unexpected = 0;
    load_counts_sort(&after_failure);
    for (size_t i = 0; i < after_failure.n; i++)
        n_after += after_failure.e[i].n;
    printf("not the expected answer, after a failed attempt of the same request: %" PRId64 "\n", n_after);
    for (size_t i = 0; i < after_failure.n; i++)
        printf("%10" PRId64 "  %s\n", after_failure.e[i].n, after_failure.e[i].key);
    load_counts_sort(&unexpected);
    for (size_t i = 0; i < unexpected.n; i++)
        n_unexpected += unexpected.e[i].n;
    printf("unexpected answers: %" PRId64 "\n", n_unexpected);
    for (size_t i = 0; i < unexpected.n; i++)
        printf("%10" PRId64 "  %s\n", unexpected.e[i].n, unexpected.e[i].key);
    if (sh->opt.summary_path != NULL && !write_summary(sh, lat, secs, retries, n_unexpected, n_after))
        summary_failed = true;
    for (int r = 0; r < N_ROUTES; r++)
        load_lat_release(&lat[r]);
    load_counts_release(&answers);
    load_counts_release(&unexpected);
    load_counts_release(&after_failure);
    return !summary_failed;
}

static void *progress_main(void *arg)
{
    shared *sh = arg;
    int64_t next = sh->started_us + 5000000;
    while (!interrupted && load_now_us() < sh->deadline_us) {
        sleep_us(100000);
        if (load_now_us() >= next && load_now_us() < sh->deadline_us) {
            fprintf(stderr, "shop-load: %3" PRId64 " s: %lld requests, %lld sagas, %lld failed\n",
                    (next - sh->started_us) / 1000000, atomic_load(&sh->requests),
                    atomic_load(&sh->sagas), atomic_load(&sh->failed));
            next += 5000000;
        }
    }
    return NULL;
}

/* --- options ------------------------------------------------------------------ */

static void usage(FILE *f)
{
    fprintf(f,
            "usage: shop-load [--clients N] [--seconds D] [--url URL] [--mix MIX]\n"
            "                 [--record FILE] [--summary-json FILE] [--attempts N] [--seed S]\n"
            "                 [--quiet]\n"
            "  --clients N    concurrent clients (default 64)\n"
            "  --seconds D    run time (default 30)\n"
            "  --url URL      the gateway, loopback only (default http://127.0.0.1:8080)\n"
            "  --mix MIX      default | success (order then pay only) | name=weight,...\n"
            "                 names: order_pay coupon_order_pay scarce insufficient cancel\n"
            "                 charge issue_race gets (default 25,15,5,5,10,10,10,20)\n"
            "  --record FILE  write the fixtures and acknowledged writes for shop-audit\n"
            "  --summary-json FILE  the figures as one JSON object (sagas/s, p50/p95/p99\n"
            "                 per route and of the whole saga), for tests/bench\n"
            "  --attempts N   tries per logical request, retries included (default 20)\n"
            "env: SHOP_ADMIN_TOKEN (default dev-admin-token)\n"
            "exit: 0 done, 1 fixtures could not be created or the summary not written,\n"
            "      2 usage, 3 unexpected answers\n");
}

static bool parse_int(const char *s, long lo, long hi, int *out)
{
    char *end;
    errno = 0;
    long v = strtol(s, &end, 10);
    if (errno != 0 || end == s || *end != '\0' || v < lo || v > hi)
        return false;
    *out = (int)v;
    return true;
}

static bool parse_mix(const char *text, int *w)
{
    if (strcmp(text, "default") == 0) {
        memcpy(w, default_weights, sizeof default_weights);
        return true;
    }
    memset(w, 0, sizeof(int) * N_FLOWS);
    if (strcmp(text, "success") == 0) {
        w[F_ORDER_PAY] = 1;
        return true;
    }
    char buf[256];
    snprintf(buf, sizeof buf, "%s", text);
    int total = 0;
    for (char *save = NULL, *tok = strtok_r(buf, ",", &save); tok; tok = strtok_r(NULL, ",", &save)) {
        char *eq = strchr(tok, '=');
        int f, v;
        if (eq == NULL)
            return false;
        *eq = '\0';
        for (f = 0; f < N_FLOWS && strcmp(flow_names[f], tok) != 0; f++)
            ;
        if (f == N_FLOWS || !parse_int(eq + 1, 0, 1000, &v))
            return false;
        w[f] = v;
        total += v;
    }
    return total > 0;
}

static int parse_options(int argc, char **argv, options *o)
{
    static const struct option longs[] = {
        {"clients", required_argument, NULL, 'c'}, {"seconds", required_argument, NULL, 's'},
        {"url", required_argument, NULL, 'u'},     {"mix", required_argument, NULL, 'm'},
        {"record", required_argument, NULL, 'r'},  {"attempts", required_argument, NULL, 'a'},
        {"summary-json", required_argument, NULL, 'J'},
        {"seed", required_argument, NULL, 'S'},    {"quiet", no_argument, NULL, 'q'},
        {"help", no_argument, NULL, 'h'},          {NULL, 0, NULL, 0},
    };
    *o = (options){.clients = 64, .seconds = 30, .max_attempts = 20, .url = "http://127.0.0.1:8080",
                   .seed = (uint64_t)time(NULL) ^ ((uint64_t)getpid() << 20)};
    snprintf(o->mix_text, sizeof o->mix_text, "default");
    int ch, seed;
    while ((ch = getopt_long(argc, argv, "", longs, NULL)) != -1) {
        bool ok = true;
        switch (ch) {
        case 'c': ok = parse_int(optarg, 1, 4096, &o->clients); break;
        case 's': ok = parse_int(optarg, 1, 86400, &o->seconds); break;
        case 'u': o->url = optarg; break;
        case 'm': snprintf(o->mix_text, sizeof o->mix_text, "%s", optarg); break;
        case 'r': o->record_path = optarg; break;
        case 'J': o->summary_path = optarg; break;
        case 'a': ok = parse_int(optarg, 1, 100, &o->max_attempts); break;
        case 'S': ok = parse_int(optarg, 0, 2147483647, &seed); o->seed = (uint64_t)seed + 1; break;
        case 'q': o->quiet = true; break;
        case 'h': usage(stdout); exit(0);
        default: ok = false; break;
        }
        if (!ok) {
            usage(stderr);
            return 2;
        }
    }
    if (optind != argc || !parse_mix(o->mix_text, o->weights)) {
        usage(stderr);
        return 2;
    }
    if (!load_url_is_loopback(o->url)) {
        fprintf(stderr, "shop-load: %s is not a loopback http:// URL; refusing\n", o->url);
        return 2;
    }
    return 0;
}

/* --- main --------------------------------------------------------------------- */

static void init_shared(shared *sh, const options *opt)
{
    memset(sh, 0, sizeof *sh);
    sh->opt = *opt;
    /* Without a trailing slash, so that paths join cleanly. */
    snprintf(sh->url, sizeof sh->url, "%s", opt->url);
    for (size_t n = strlen(sh->url); n > 0 && sh->url[n - 1] == '/'; n--)
        sh->url[n - 1] = '\0';
    sh->opt.url = sh->url;
    snprintf(sh->run_id, sizeof sh->run_id, "ld%llx", (unsigned long long)(opt->seed & 0xffffffffffULL));
    const char *token = getenv("SHOP_ADMIN_TOKEN");
    snprintf(sh->admin_header, sizeof sh->admin_header, "X-Admin-Token: %s",
             token != NULL && token[0] != '\0' ? token : "dev-admin-token");
    pthread_mutex_init(&sh->record_mu, NULL);
    pthread_mutex_init(&sh->shown_mu, NULL);
    pthread_mutex_init(&sh->pool.mu, NULL);
    pthread_mutex_init(&sh->race.mu, NULL);
    sh->pool.quantity = POOL_QUANTITY;
    sh->pool.label = "pool";
    sh->race.quantity = opt->clients / 4 > 2 ? opt->clients / 4 : 2;
    sh->race.label = "race";
}

static int run(shared *sh, client *cls)
{
    int n = sh->opt.clients;
    pthread_t *th = calloc((size_t)n, sizeof *th), progress;
    if (th == NULL)
        return 1;
    /* Shared fixtures first, on client 0's handle, then every client's users
     * in parallel (a handle is never used by two threads at once). */
    bool failed = !setup_shared(&cls[0]);
    for (int i = 0; i < n && !failed; i++)
        pthread_create(&th[i], NULL, setup_client, &cls[i]);
    for (int i = 0; i < n && !failed; i++) {
        pthread_join(th[i], NULL);
        failed |= cls[i].setup_failed;
    }
    if (failed || interrupted) {
        fprintf(stderr, "shop-load: could not create the fixtures\n");
        free(th);
        return 1;
    }
    atomic_store(&sh->fixture_requests, atomic_load(&sh->requests));
    sh->started_us = load_now_us();
    sh->deadline_us = sh->started_us + (int64_t)sh->opt.seconds * 1000000;
    if (!sh->opt.quiet)
        pthread_create(&progress, NULL, progress_main, sh);
    for (int i = 0; i < n; i++)
        pthread_create(&th[i], NULL, client_main, &cls[i]);
    for (int i = 0; i < n; i++)
        pthread_join(th[i], NULL);
    int64_t ended = load_now_us();
    if (!sh->opt.quiet)
        pthread_join(progress, NULL);
    free(th);
    if (!print_report(sh, cls, n, ended))
        return 1;
    for (int i = 0; i < n; i++)
        if (cls[i].unexpected.n > 0)
            return 3;
    return 0;
}

int main(int argc, char **argv)
{
    options opt;
    shared sh;
    client *cls = NULL;
    int status = parse_options(argc, argv, &opt);
    if (status != 0)
        return status;
    init_shared(&sh, &opt);
    struct sigaction sa = {.sa_handler = on_signal};
    sigaction(SIGINT, &sa, NULL);
    sigaction(SIGTERM, &sa, NULL);
    signal(SIGPIPE, SIG_IGN);
    curl_global_init(CURL_GLOBAL_ALL);
    status = 1;
    if (opt.record_path != NULL && (sh.record = fopen(opt.record_path, "w")) == NULL) {
        fprintf(stderr, "shop-load: cannot write %s: %s\n", opt.record_path, strerror(errno));
        goto out;
    }
    load_rec meta = {.kind = LOAD_REC_META, .clients = opt.clients};
    snprintf(meta.text, sizeof meta.text, "%s", sh.run_id);
    snprintf(meta.url, sizeof meta.url, "%s", sh.opt.url);
    record_line(&sh, &meta);
    cls = calloc((size_t)opt.clients, sizeof *cls);
    if (cls == NULL)
        goto out;
    for (int i = 0; i < opt.clients; i++) {
        cls[i].idx = i;
        cls[i].sh = &sh;
        cls[i].rng = opt.seed * 0x9E3779B97F4A7C15ULL + (uint64_t)i * 0xBF58476D1CE4E5B9ULL + 1;
        cls[i].http = load_http_new(CONNECT_TIMEOUT_MS, TOTAL_TIMEOUT_MS);
        if (cls[i].http == NULL)
            goto out;
    }
    status = run(&sh, cls);
out:
    for (int i = 0; cls != NULL && i < opt.clients; i++) {
        load_http_free(cls[i].http);
        for (int r = 0; r < N_ROUTES; r++)
            load_lat_release(&cls[i].lat[r]);
        load_counts_release(&cls[i].answers);
        load_counts_release(&cls[i].unexpected);
        load_counts_release(&cls[i].after_failure);
        free(cls[i].free_ucs);
    }
    free(cls);
    free(sh.pool.ids);
    free(sh.race.ids);
    load_counts_release(&sh.shown);
    if (sh.record != NULL && fclose(sh.record) != 0) {
        fprintf(stderr, "shop-load: writing %s: %s\n", opt.record_path, strerror(errno));
        status = 1;
    }
    curl_global_cleanup();
    return status;
}
