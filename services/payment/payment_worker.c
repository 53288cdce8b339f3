/* The settler and outbox threads of the payment service (see payment_worker.h).
 * Both sleep on one condition variable (monotonic clock), so a stop or a
 * completed payment wakes them at once. */
#include "payment_worker.h"

#include <pthread.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "http_client.h"
#include "log.h"
#include "metrics.h"
#include "payment_logic.h"
#include "payment_saga.h"
#include "payment_store.h"
#include "saga_log.h"
#include "timeutil.h"

#define SETTLE_BATCH 64
#define OUTBOX_IDLE_MS 1000   /* look again this often even when nothing is due */
#define OUTBOX_GAUGE_EVERY 64 /* deliveries between backlog counts within one pass */

#define M_BACKLOG "shop_payment_outbox_backlog"
#define M_DELIVERIES "shop_payment_outbox_deliveries_total"

struct payment_workers {
    payment_app *app;
    pthread_mutex_t mu;
    pthread_cond_t cv;
    bool stop;
    bool wake; /* a payment completed since the outbox worker last looked */
    pthread_t settler;
    pthread_t outbox;
    bool settler_started;
    bool outbox_started;
};

/* True once stop was asked for (by payment_workers_signal_stop or a signal). */
static bool stopping(payment_workers *w)
{
    pthread_mutex_lock(&w->mu);
    bool stop = w->stop;
    pthread_mutex_unlock(&w->mu);
    return stop || http_stop_requested();
}

/* Waits on w->cv for at most ms (w->mu held). */
static void timed_wait(payment_workers *w, int64_t ms)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    if (ms < 0)
        ms = 0;
    ts.tv_sec += (time_t)(ms / 1000);
    ts.tv_nsec += (long)(ms % 1000) * 1000000L;
    if (ts.tv_nsec >= 1000000000L) {
        ts.tv_sec++;
        ts.tv_nsec -= 1000000000L;
    }
    pthread_cond_timedwait(&w->cv, &w->mu, &ts);
}

/* Sleeps up to ms, or until stop (or, for the outbox worker, a wake). The
 * wait is cut into 100 ms slices so a signal alone also ends it quickly. */
static void sleep_unless_woken(payment_workers *w, int64_t ms, bool take_wake)
{
    int64_t until = time_mono_ms() + ms;
    pthread_mutex_lock(&w->mu);
    for (;;) {
        int64_t left = until - time_mono_ms();
        if (w->stop || http_stop_requested() || left <= 0 || (take_wake && w->wake))
            break;
        timed_wait(w, left < 100 ? left : 100);
    }
    if (take_wake)
        w->wake = false;
    pthread_mutex_unlock(&w->mu);
}

static void settle_round(payment_workers *w)
{
    payment_row rows[SETTLE_BATCH];
    size_t n = 0;
    payment_app *app = w->app;
    int64_t cutoff = payment_stale_cutoff_s(time_now_ms(), app->saga_deadline_ms + 2000);
    if (payment_store_stale_pending(app->db, cutoff, rows, SETTLE_BATCH, &n) != SHOP_OK) {
        log_error(NULL, "settler: cannot read pending payments");
        return;
    }
    for (size_t i = 0; i < n && !stopping(w); i++)
        payment_saga_settle(app, &rows[i]);
    /* Cancels owed by short-balance failures, once the saga that failed
     * them is over: its one call after FAILED (the cancel) is bounded by
     * the call timeout. */
    cutoff = payment_stale_cutoff_s(time_now_ms(), app->call_timeout_ms + 2000);
    if (!stopping(w) &&
        payment_store_cancels_owed(app->db, cutoff, rows, SETTLE_BATCH, &n) != SHOP_OK) {
        log_error(NULL, "settler: cannot read the cancels owed");
        n = 0;
    }
    for (size_t i = 0; i < n && !stopping(w); i++)
        payment_saga_settle_cancel(app, &rows[i]);
    if (!stopping(w) && payment_store_idem_purge(app->db, time_now_ms() / 1000) != SHOP_OK)
        log_warn(NULL, "settler: could not purge old idempotency keys");
}

static void *settler_main(void *arg)
{
    payment_workers *w = arg;
    while (!stopping(w)) {
        settle_round(w);
        sleep_unless_woken(w, w->app->settle_interval_ms, false);
    }
    return NULL;
}

/* Fills *st: attempt `attempts` of msg's delivery, begun at at_us, ended as
 * r, named name ("outbox.delivered" or "outbox.attempt"). */
static const payment_step *delivery_step(payment_step *st, const payment_outbox_msg *msg,
                                         const char *rid, int64_t at_us, const http_result *r,
                                         const char *name)
{
    payment_steps log;
    payment_steps_init(&log, rid, NULL);
    payment_step_set(st, &log, msg->payment_id, msg->order_id, at_us, NULL, name, "data-platform",
                     saga_log_call_status(r), saga_log_call_error(r, true), r->duration_ms, false);
    return st;
}

void payment_workers_metrics_init(void)
{
    static const char *const outcomes[] = {"outcome=\"ok\"", "outcome=\"http_error\"",
                                           "outcome=\"timeout\"", "outcome=\"transport_error\""};
    metrics_describe(M_BACKLOG, METRIC_GAUGE,
                     "Outbox messages for the data platform not delivered yet.");
    metrics_describe(M_DELIVERIES, METRIC_COUNTER,
                     "Outbox delivery attempts to the data platform, by outcome.");
    metrics_gauge(M_BACKLOG, "", 0);
    for (size_t i = 0; i < sizeof outcomes / sizeof outcomes[0]; i++)
        metrics_count(M_DELIVERIES, outcomes[i], 0);
}

/* Sets the backlog gauge from the outbox (left as it was when unreadable). */
static void count_backlog(payment_app *app)
{
    int64_t n = 0;
    if (payment_store_outbox_backlog(app->db, &n) == SHOP_OK)
        metrics_gauge(M_BACKLOG, "", n);
}

/* Counts one delivery attempt by its outcome. */
static void count_delivery(const http_result *r)
{
    metrics_count(M_DELIVERIES,
                  r->transport == HTTP_T_TIMEOUT        ? "outcome=\"timeout\""
                  : r->transport != HTTP_T_OK           ? "outcome=\"transport_error\""
                  : r->status >= 200 && r->status < 300 ? "outcome=\"ok\""
                                                        : "outcome=\"http_error\"",
                  1);
}

/* One delivery attempt of msg; records the result (and, for a success or a
 * failed attempt payment_outbox_attempt_logged picks, its step). */
static void deliver(payment_workers *w, const payment_outbox_msg *msg)
{
    payment_app *app = w->app;
    char rid[HTTP_REQUEST_ID_LEN + 1];
    payment_step st;
    http_result r;
    http_request_id_new(rid);
    int64_t at_us = saga_log_now_us();
    http_call c = {
        .method = "POST",
        .base_url = app->data_platform_url,
        .path = "/orders",
        .body = msg->payload,
        .body_len = strlen(msg->payload),
        .request_id = rid,
        .timeout_ms = (long)app->call_timeout_ms,
    };
    http_client_do(&c, &r);
    count_delivery(&r); /* before the record: whoever sees DELIVERED sees the count */
    int64_t attempts = msg->attempts + 1;
    int64_t now_ms = time_now_ms();
    if (r.transport == HTTP_T_OK && r.status >= 200 && r.status < 300) {
        if (payment_store_outbox_delivered(
                app->db, msg->payment_id, attempts, now_ms / 1000,
                delivery_step(&st, msg, rid, at_us, &r, "outbox.delivered")) != SHOP_OK)
            log_error(rid, "outbox: payment %lld delivered but not recorded",
                      (long long)msg->payment_id);
        else
            log_info(rid, "outbox: payment %lld order %lld delivered (attempt %lld)",
                     (long long)msg->payment_id, (long long)msg->order_id, (long long)attempts);
    } else {
        int64_t delay = payment_outbox_backoff_ms(attempts, app->outbox_max_backoff_ms);
        log_warn(rid, "outbox: payment %lld attempt %lld failed (%ld%s%s); retry in %lld ms",
                 (long long)msg->payment_id, (long long)attempts, r.status,
                 r.transport != HTTP_T_OK ? " " : "", r.transport != HTTP_T_OK ? r.error : "",
                 (long long)delay);
        if (payment_store_outbox_retry(
                app->db, msg->payment_id, attempts, now_ms + delay,
                payment_outbox_attempt_logged(attempts)
                    ? delivery_step(&st, msg, rid, at_us, &r, "outbox.attempt")
                    : NULL) != SHOP_OK)
            log_error(rid, "outbox: payment %lld: cannot record the attempt",
                      (long long)msg->payment_id);
    }
    http_result_free(&r);
}

/* Delivers every message that is due, then sets the backlog gauge (also
 * every OUTBOX_GAUGE_EVERY deliveries, so that it moves under steady load).
 * Returns how long to sleep (ms). */
static int64_t deliver_due(payment_workers *w)
{
    for (int64_t delivered = 0; !stopping(w); delivered++) {
        if (delivered > 0 && delivered % OUTBOX_GAUGE_EVERY == 0)
            count_backlog(w->app);
        payment_outbox_msg msg = {0};
        bool due = false;
        int64_t next_ms = -1;
        int64_t now = time_now_ms();
        if (payment_store_outbox_next(w->app->db, now, &msg, &due, &next_ms) != SHOP_OK) {
            log_error(NULL, "outbox: cannot read the outbox");
            return OUTBOX_IDLE_MS;
        }
        if (!due) {
            if (next_ms < 0)
                metrics_gauge(M_BACKLOG, "", 0); /* nothing undelivered: no count needed */
            else
                count_backlog(w->app);
            int64_t wait = next_ms < 0 ? OUTBOX_IDLE_MS : next_ms - now;
            return wait < OUTBOX_IDLE_MS ? wait : OUTBOX_IDLE_MS;
        }
        deliver(w, &msg);
        payment_outbox_msg_release(&msg);
    }
    return 0;
}

static void *outbox_main(void *arg)
{
    payment_workers *w = arg;
    while (!stopping(w)) {
        int64_t wait = deliver_due(w);
        sleep_unless_woken(w, wait, true);
    }
    return NULL;
}

payment_workers *payment_workers_start(payment_app *app)
{
    payment_workers *w = calloc(1, sizeof *w);
    pthread_condattr_t attr;
    if (w == NULL)
        return NULL;
    w->app = app;
    count_backlog(app); /* what a restart finds undelivered, before any pass */
    pthread_mutex_init(&w->mu, NULL);
    pthread_condattr_init(&attr);
    pthread_condattr_setclock(&attr, CLOCK_MONOTONIC);
    pthread_cond_init(&w->cv, &attr);
    pthread_condattr_destroy(&attr);
    w->settler_started = pthread_create(&w->settler, NULL, settler_main, w) == 0;
    w->outbox_started = pthread_create(&w->outbox, NULL, outbox_main, w) == 0;
    if (!w->settler_started || !w->outbox_started) {
        log_error(NULL, "payment: cannot start the background threads");
        payment_workers_stop(w);
        return NULL;
    }
    return w;
}

void payment_workers_wake(payment_workers *w)
{
    if (w == NULL)
        return;
    pthread_mutex_lock(&w->mu);
    w->wake = true;
    pthread_cond_broadcast(&w->cv);
    pthread_mutex_unlock(&w->mu);
}

void payment_workers_signal_stop(payment_workers *w)
{
    if (w == NULL)
        return;
    pthread_mutex_lock(&w->mu);
    w->stop = true;
    pthread_cond_broadcast(&w->cv);
    pthread_mutex_unlock(&w->mu);
}

void payment_workers_stop(payment_workers *w)
{
    if (w == NULL)
        return;
    payment_workers_signal_stop(w);
    if (w->settler_started)
        pthread_join(w->settler, NULL);
    if (w->outbox_started)
        pthread_join(w->outbox, NULL);
    pthread_cond_destroy(&w->cv);
    pthread_mutex_destroy(&w->mu);
    free(w);
}
