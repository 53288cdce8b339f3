/* The order sagas: create (user check, PENDING row before any call that changes
 * anything, stock reservation, coupon use, CREATED), cancel with compensation,
 * mark-paid, and recovery. Every status write is conditional on the expected
 * status; every compensation is keyed by the order id on the peer's side and
 * tombstoned there, so it is always safe to repeat or to send for a call that
 * may never have arrived. */
#include "order_saga.h"

#include <pthread.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "http_server.h"
#include "json.h"
#include "log.h"
#include "metrics.h"
#include "saga_log.h"
#include "problem.h"
#include "timeutil.h"

#define RECOVERY_BATCH 100
#define RECOVERY_MAX_BATCHES 20
#define RECOVERY_CALL_MS 2000  /* per call, so SIGTERM is never held long */
#define RECOVERY_SLICE_MS 20   /* how often the idle thread looks for a stop */
#define PENDING_MARGIN_MS 2000 /* PENDING older than the deadline + this is undone */
#define UNDO_GRACE_MS 1000     /* compensation may outlive the deadline by this */
#define IDEM_PURGE_EVERY_MS (3600 * 1000) /* idempotency keys are purged at most this often */

/* The saga log of one run: the steps not stored yet, and where they go. */
typedef struct run_log {
    const order_app *app;
    int64_t order_id; /* 0 until the PENDING row exists */
    order_steps steps;
} run_log;

/* What a peer call stands for in the saga log. */
typedef struct step_desc {
    const char *name; /* "stock.check"; the log's prefix goes before it */
    const char *peer; /* "item" */
    bool compensation;
} step_desc;

/* One run of the create saga. */
typedef struct saga {
    const order_app *app;
    const order_idem *idem;
    const char *rid;
    int64_t deadline; /* monotonic ms */
    order_rec *order;
    order_fail *fail;
    bool stock_touched;  /* a reservation call was sent */
    bool coupon_touched; /* a coupon use call was sent */
    int64_t discount;
    run_log log;
} saga;

#define M_SAGAS "shop_order_sagas_total"
#define M_RECOVERY "shop_order_recovery_total"

/* Every series of both families, exported at 0 from the start so that
 * rate() and increase() see each one's first event. */
static const char *const saga_series[] = {
    "saga=\"create\",outcome=\"created\"",      "saga=\"create\",outcome=\"failed\"",
    "saga=\"create\",outcome=\"left_pending\"", "saga=\"create\",outcome=\"lost_to_recovery\"",
    "saga=\"cancel\",outcome=\"cancelled\"",    "saga=\"cancel\",outcome=\"left_cancelling\"",
};
static const char *const recovery_series[] = {
    "action=\"undo_pending\",result=\"done\"", "action=\"undo_pending\",result=\"retry\"",
    "action=\"undo_pending\",result=\"lost\"", "action=\"cancel\",result=\"done\"",
    "action=\"cancel\",result=\"retry\"",
};

void order_saga_metrics_init(void)
{
    metrics_describe(M_SAGAS, METRIC_COUNTER,
                     "Order sagas by saga (create, cancel) and how they ended.");
    metrics_describe(M_RECOVERY, METRIC_COUNTER,
                     "Orders the recovery thread acted on, by action and result.");
    for (size_t i = 0; i < sizeof saga_series / sizeof saga_series[0]; i++)
        metrics_count(M_SAGAS, saga_series[i], 0);
    for (size_t i = 0; i < sizeof recovery_series / sizeof recovery_series[0]; i++)
        metrics_count(M_RECOVERY, recovery_series[i], 0);
}

void order_fail_release(order_fail *f)
{
    if (f != NULL) {
        http_result_free(&f->res);
        idem_record_free(&f->idem_rec);
    }
}

static void fail_local(order_fail *f, const char *code, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));

static void fail_local(order_fail *f, const char *code, const char *fmt, ...)
{
    va_list ap;
    order_fail_release(f);
    memset(f, 0, sizeof *f);
    f->code = code;
    va_start(ap, fmt);
    vsnprintf(f->detail, sizeof f->detail, fmt, ap);
    va_end(ap);
}

/* Hands res over to f (res is zeroed). A peer's ORDER_RELEASED means recovery
 * undid this order meanwhile: that is our 503, not the client's problem. */
static void fail_peer(order_fail *f, const char *peer, http_result *res, int64_t order_id)
{
    if (res->transport == HTTP_T_OK && res->status == 409 &&
        strcmp(http_result_code(res), "ORDER_RELEASED") == 0) {
        fail_local(f, "SERVICE_UNAVAILABLE", "order %lld was released by recovery meanwhile",
                   (long long)order_id);
        http_result_free(res);
        return;
    }
    order_fail_release(f);
    memset(f, 0, sizeof *f);
    f->peer = peer;
    f->res = *res;
    memset(res, 0, sizeof *res);
}

/* The shop_err a failure stands for; never SHOP_OK (a peer's 2xx that we
 * could not use is an upstream failure). */
static shop_err fail_err(const order_fail *f)
{
    if (f->peer == NULL)
        return problem_status(f->code) == 404 ? SHOP_ENOTFOUND : SHOP_EUPSTREAM;
    shop_err err = http_result_err(&f->res);
    return err == SHOP_OK ? SHOP_EUPSTREAM : err;
}

bool order_fail_answer(const order_fail *f, int *status, char **body, const char **content_type)
{
    *body = NULL;
    *content_type = "application/problem+json";
    if (f->peer == NULL) {
        *status = problem_status(f->code);
        if (*status < 400 || *status >= 500)
            return false;
        *body = problem_render(*status, f->code, f->detail);
        return *body != NULL;
    }
    const http_result *r = &f->res;
    if (r->transport != HTTP_T_OK || r->status < 400 || r->status >= 500 || r->body == NULL ||
        strstr(r->content_type, "application/problem+json") == NULL)
        return false;
    *status = (int)r->status;
    *body = strdup(r->body);
    return *body != NULL;
}

/* The timeout of a forward step: the call timeout, cut to what is left of the
 * saga; 0 when nothing is left. */
static long step_timeout(const order_app *app, int64_t deadline)
{
    int64_t left = deadline - time_mono_ms();
    if (left <= 0)
        return 0;
    return left < app->call_timeout_ms ? (long)left : app->call_timeout_ms;
}

/* The timeout of a compensating call: what is left plus a grace, at most the
 * call timeout. */
static long undo_timeout(const order_app *app, int64_t deadline)
{
    int64_t left = deadline - time_mono_ms();
    left = (left > 0 ? left : 0) + UNDO_GRACE_MS;
    return left < app->call_timeout_ms ? (long)left : app->call_timeout_ms;
}

static void runlog_init(run_log *log, const order_app *app, int64_t order_id, const char *rid,
                        const char *prefix)
{
    log->app = app;
    log->order_id = order_id;
    order_steps_init(&log->steps, rid, prefix);
}

/* A free slot of the log; a full log is stored first (or, before the order
 * exists, its oldest step given up). */
static order_step *runlog_slot(run_log *log)
{
    order_step *st = order_steps_next(&log->steps);
    if (st != NULL)
        return st;
    if (log->order_id > 0 &&
        order_store_steps_flush(log->app->db, log->order_id, &log->steps) == SHOP_OK)
        return order_steps_next(&log->steps);
    log_warn(log->steps.request_id, "order %lld: saga log full; a step is not recorded",
             (long long)log->order_id);
    memmove(&log->steps.items[0], &log->steps.items[1],
            (ORDER_STEPS_MAX - 1) * sizeof log->steps.items[0]);
    return &log->steps.items[ORDER_STEPS_MAX - 1];
}

/* Stores what the log still holds in a transaction of its own. */
static void runlog_flush(run_log *log)
{
    if (log->order_id > 0 && log->steps.n > 0 &&
        order_store_steps_flush(log->app->db, log->order_id, &log->steps) != SHOP_OK)
        log_warn(log->steps.request_id, "order %lld: could not store %zu saga steps",
                 (long long)log->order_id, log->steps.n);
}

/* Notes in log the call d that began at at_us and ended as r. */
static void runlog_call(run_log *log, const step_desc *d, int64_t at_us, const http_result *r)
{
    order_step_set(runlog_slot(log), at_us, log->steps.prefix, d->name, d->peer,
                   saga_log_call_status(r), saga_log_call_error(r, cJSON_IsObject(r->json)),
                   r->duration_ms, log->steps.request_id, d->compensation);
}

/* Fills *st as the state change name of the log's run (now; payment_id may
 * be 0) and returns it, for a store write that records it if it wins. */
static const order_step *state_step(order_step *st, const run_log *log, const char *name,
                                    int64_t payment_id)
{
    order_step_set(st, saga_log_now_us(), NULL, name, NULL, 0, NULL, 0, log->steps.request_id,
                   false);
    st->payment_id = payment_id;
    return st;
}

/* Calls method base+path with body (NULL: none; a POST then sends an empty
 * body) within timeout_ms (0: the time is up, nothing is sent and out is a
 * timeout), and notes it in log as d. Returns true for a 2xx whose body is a
 * JSON object. */
static bool peer_call(run_log *log, const step_desc *d, const char *method, const char *base,
                      const char *path, const cJSON *body, long timeout_ms, http_result *out)
{
    char *text = NULL;
    bool ok = false;
    const char *rid = log->steps.request_id;
    int64_t at_us = saga_log_now_us();
    memset(out, 0, sizeof *out);
    if (timeout_ms <= 0) {
        out->transport = HTTP_T_TIMEOUT;
        snprintf(out->error, sizeof out->error, "saga deadline passed before %s %s", method, path);
        goto out;
    }
    if (body != NULL && (text = json_print(body)) == NULL) {
        out->transport = HTTP_T_UNAVAILABLE;
        snprintf(out->error, sizeof out->error, "out of memory");
        goto out;
    }
    http_call call = {
        .method = method,
        .base_url = base,
        .path = path,
        .body = text != NULL ? text : (strcmp(method, "GET") == 0 ? NULL : ""),
        .body_len = text != NULL ? strlen(text) : 0,
        .request_id = rid,
        .timeout_ms = timeout_ms,
        .peer = d->peer,
    };
    http_client_do(&call, out);
    ok = out->transport == HTTP_T_OK && out->status >= 200 && out->status < 300 &&
         cJSON_IsObject(out->json);
out:
    runlog_call(log, d, at_us, out);
    if (!ok) {
        if (out->transport == HTTP_T_OK)
            log_warn(rid, "%s %s%s answered %ld %s", method, base, path, out->status,
                     http_result_code(out));
        else
            log_warn(rid, "%s %s%s failed: %s", method, base, path, out->error);
    }
    free(text);
    return ok;
}

/* {"items":[{"itemId","quantity"}...]} plus "orderId" when order_id > 0. */
static cJSON *items_body(const order_rec *o, int64_t order_id)
{
    cJSON *body = cJSON_CreateObject();
    cJSON *items = cJSON_AddArrayToObject(body, "items");
    if (items == NULL || (order_id > 0 && !json_add_int(body, "orderId", order_id)))
        goto fail;
    for (size_t i = 0; i < o->n_lines; i++) {
        cJSON *line = cJSON_CreateObject();
        if (line == NULL || !cJSON_AddItemToArray(items, line) ||
            !json_add_int(line, "itemId", o->lines[i].item_id) ||
            !json_add_int(line, "quantity", o->lines[i].quantity))
            goto fail;
    }
    return body;
fail:
    cJSON_Delete(body);
    return NULL;
}

/* {"userId","totalAmount"} plus "orderId" when order_id > 0. */
static cJSON *coupon_body(int64_t user_id, int64_t total, int64_t order_id)
{
    cJSON *body = cJSON_CreateObject();
    if (body == NULL || (order_id > 0 && !json_add_int(body, "orderId", order_id)) ||
        !json_add_int(body, "userId", user_id) || !json_add_int(body, "totalAmount", total)) {
        cJSON_Delete(body);
        return NULL;
    }
    return body;
}

/* Restores the coupon use (when coupon) and the stock reservation (when stock)
 * of order_id, noting both in log. Both are always tried. Returns true when
 * every restore tried answered 2xx; else the first failure goes to fail
 * (when non-NULL). */
static bool restore_all(const order_app *app, run_log *log, int64_t order_id, bool coupon,
                        bool stock, long timeout_ms, order_fail *fail)
{
    static const step_desc coupon_restore = {"coupon.restore", "coupon", true};
    static const step_desc stock_restore = {"stock.restore", "item", true};
    char path[64];
    http_result res;
    bool ok = true;
    if (coupon) {
        snprintf(path, sizeof path, "/coupon-uses/%lld/restore", (long long)order_id);
        if (!peer_call(log, &coupon_restore, "POST", app->coupon_url, path, NULL, timeout_ms,
                       &res)) {
            if (fail != NULL)
                fail_peer(fail, "coupon", &res, order_id);
            ok = false;
        }
        http_result_free(&res);
    }
    if (stock) {
        snprintf(path, sizeof path, "/reservations/%lld/restore", (long long)order_id);
        if (!peer_call(log, &stock_restore, "POST", app->item_url, path, NULL, timeout_ms, &res)) {
            if (fail != NULL && ok)
                fail_peer(fail, "item", &res, order_id);
            ok = false;
        }
        http_result_free(&res);
    }
    return ok;
}

/* Step 1: the user must exist. */
static bool step_user(saga *s, int64_t user_id)
{
    char path[64];
    http_result res;
    static const step_desc user_check = {"user.check", "user", false};
    snprintf(path, sizeof path, "/users/%lld", (long long)user_id);
    bool ok = peer_call(&s->log, &user_check, "GET", s->app->user_url, path, NULL,
                        step_timeout(s->app, s->deadline), &res);
    if (!ok)
        fail_peer(s->fail, "user", &res, 0);
    http_result_free(&res);
    return ok;
}

/* Step 2: stock check, then the reservation for this order, which prices it. */
static bool step_reserve(saga *s)
{
    static const step_desc stock_check = {"stock.check", "item", false};
    static const step_desc stock_deduct = {"stock.deduct", "item", false};
    char why[160];
    http_result res;
    bool ok = false;
    cJSON *check = items_body(s->order, 0);
    cJSON *reserve = items_body(s->order, s->order->id);
    if (check == NULL || reserve == NULL) {
        fail_local(s->fail, "INTERNAL", "out of memory");
        goto out;
    }
    if (!peer_call(&s->log, &stock_check, "POST", s->app->item_url, "/stock/check", check,
                   step_timeout(s->app, s->deadline), &res)) {
        fail_peer(s->fail, "item", &res, s->order->id);
        goto out_res;
    }
    http_result_free(&res);
    s->stock_touched = true;
    if (!peer_call(&s->log, &stock_deduct, "POST", s->app->item_url, "/reservations", reserve,
                   step_timeout(s->app, s->deadline), &res)) {
        fail_peer(s->fail, "item", &res, s->order->id);
        goto out_res;
    }
    if (!order_take_prices(s->order->lines, s->order->n_lines, res.json, why, sizeof why)) {
        fail_local(s->fail, "BAD_GATEWAY", "item: %s", why);
        goto out_res;
    }
    ok = true;
out_res:
    http_result_free(&res);
out:
    cJSON_Delete(check);
    cJSON_Delete(reserve);
    return ok;
}

/* Reads the discount of a coupon reply; it must lie in 0..total. */
static bool take_discount(saga *s, const cJSON *reply, int64_t total)
{
    int64_t discount, value, expected;
    if (!json_peek_int(reply, "discountAmount", &discount) || discount < 0 || discount > total) {
        fail_local(s->fail, "BAD_GATEWAY", "coupon: reply without a discountAmount in 0..%lld",
                   (long long)total);
        return false;
    }
    if (json_peek_int(reply, "discountValue", &value) &&
        order_discount(json_peek_string(reply, "discountType"), value, total, &expected) &&
        expected != discount)
        log_warn(s->rid, "order %lld: coupon-service says discount %lld, rule says %lld",
                 (long long)s->order->id, (long long)discount, (long long)expected);
    s->discount = discount;
    return true;
}

/* Step 3: validate the coupon, then use it for this order with the total. */
static bool step_coupon(saga *s, int64_t user_coupon_id, int64_t total)
{
    static const step_desc coupon_validate = {"coupon.validate", "coupon", false};
    static const step_desc coupon_use = {"coupon.use", "coupon", false};
    char path[80];
    http_result res;
    bool ok = false;
    cJSON *validate = coupon_body(s->order->user_id, total, 0);
    cJSON *use = coupon_body(s->order->user_id, total, s->order->id);
    if (validate == NULL || use == NULL) {
        fail_local(s->fail, "INTERNAL", "out of memory");
        goto out;
    }
    snprintf(path, sizeof path, "/user-coupons/%lld/validate", (long long)user_coupon_id);
    if (!peer_call(&s->log, &coupon_validate, "POST", s->app->coupon_url, path, validate,
                   step_timeout(s->app, s->deadline), &res)) {
        fail_peer(s->fail, "coupon", &res, s->order->id);
        goto out_res;
    }
    http_result_free(&res);
    s->coupon_touched = true;
    snprintf(path, sizeof path, "/user-coupons/%lld/use", (long long)user_coupon_id);
    if (!peer_call(&s->log, &coupon_use, "POST", s->app->coupon_url, path, use,
                   step_timeout(s->app, s->deadline), &res)) {
        fail_peer(s->fail, "coupon", &res, s->order->id);
        goto out_res;
    }
    ok = take_discount(s, res.json, total);
out_res:
    http_result_free(&res);
out:
    cJSON_Delete(validate);
    cJSON_Delete(use);
    return ok;
}

/* Undoes what the saga did after its PENDING row: the 4xx answer goes to the
 * idempotency key first, then the restores; FAILED only when both answered
 * (and mark_failed), else the order stays PENDING for recovery. The steps
 * go with those writes. */
static void saga_undo(saga *s, bool mark_failed)
{
    int status;
    char *body = NULL;
    const char *ctype;
    bool won;
    order_step failed;
    if (s->idem != NULL && order_fail_answer(s->fail, &status, &body, &ctype))
        order_store_idem_answer(s->app->db, s->order->id, status, body, &s->log.steps);
    free(body);
    if (!restore_all(s->app, &s->log, s->order->id, s->coupon_touched, s->stock_touched,
                     undo_timeout(s->app, s->deadline), NULL)) {
        log_warn(s->rid, "order %lld: a restore failed; left PENDING for recovery",
                 (long long)s->order->id);
        metrics_count(M_SAGAS, "saga=\"create\",outcome=\"left_pending\"", 1);
        runlog_flush(&s->log);
        return;
    }
    if (mark_failed &&
        order_store_transition(s->app->db, s->order->id, ORDER_PENDING, ORDER_FAILED,
                               time_now_ms() / 1000, &s->log.steps,
                               state_step(&failed, &s->log, "order.failed", 0), &won) == SHOP_OK) {
        if (won) {
            log_info(s->rid, "order %lld: FAILED, stock and coupon given back",
                     (long long)s->order->id);
            metrics_count(M_SAGAS, "saga=\"create\",outcome=\"failed\"", 1);
        } else {
            log_info(s->rid, "order %lld: stock and coupon given back; recovery had failed it",
                     (long long)s->order->id);
        }
    }
    runlog_flush(&s->log);
}

/* Step 4: amounts, then PENDING -> CREATED with the key's answer. */
static shop_err step_finish(saga *s, char **reply_body)
{
    order_amounts amounts;
    order_step created;
    bool won = false;
    order_rec *o = s->order;
    if (!order_compute_amounts(o->lines, o->n_lines, s->discount, &amounts)) {
        fail_local(s->fail, "BAD_GATEWAY", "amounts out of range for order %lld", (long long)o->id);
        saga_undo(s, true);
        return SHOP_EUPSTREAM;
    }
    o->status = ORDER_CREATED;
    o->total_amount = amounts.total;
    o->discount_amount = amounts.discount;
    o->final_amount = amounts.final_amount;
    o->updated_at = time_now_ms() / 1000;
    cJSON *json = order_render(o);
    *reply_body = json != NULL ? json_print(json) : NULL;
    cJSON_Delete(json);
    if (*reply_body == NULL ||
        order_store_mark_created(s->app->db, o, *reply_body, &s->log.steps,
                                 state_step(&created, &s->log, "order.created", 0),
                                 &won) != SHOP_OK) {
        fail_local(s->fail, "INTERNAL", "could not store order %lld", (long long)o->id);
        saga_undo(s, true);
    } else if (!won) {
        /* Recovery claimed the order first (order_store_claim_undo): it owns
         * the undo and the FAILED; we give back what we took and answer 503. */
        fail_local(s->fail, "SERVICE_UNAVAILABLE", "order %lld was undone by recovery meanwhile",
                   (long long)o->id);
        metrics_count(M_SAGAS, "saga=\"create\",outcome=\"lost_to_recovery\"", 1);
        saga_undo(s, false);
    } else {
        log_info(s->rid, "order %lld: CREATED total=%lld discount=%lld final=%lld",
                 (long long)o->id, (long long)o->total_amount, (long long)o->discount_amount,
                 (long long)o->final_amount);
        metrics_count(M_SAGAS, "saga=\"create\",outcome=\"created\"", 1);
        return SHOP_OK;
    }
    free(*reply_body);
    *reply_body = NULL;
    return SHOP_EDB;
}

/* Writes the PENDING row for rq into s->order. */
static shop_err insert_pending(saga *s, const order_create_req *rq)
{
    int64_t now_s = time_now_ms() / 1000;
    int64_t id = 0;
    order_step pending;
    idem_outcome seen = IDEM_NEW;
    idem_record rec;
    *runlog_slot(&s->log) = *state_step(&pending, &s->log, "order.pending", 0);
    shop_err err = order_store_insert_pending(s->app->db, rq, now_s, s->idem, &s->log.steps, &id,
                                              &seen, &rec);
    if (err == SHOP_ECONFLICT) {
        /* Taken since the route's lookup: answer as that lookup would. */
        if (seen == IDEM_MISMATCH)
            fail_local(s->fail, "IDEMPOTENCY_KEY_REUSED",
                       "this Idempotency-Key was used with another request");
        else
            fail_local(s->fail, "IDEMPOTENCY_KEY_IN_USE",
                       "a request with this Idempotency-Key is running; retry later");
        s->fail->idem = seen;
        s->fail->idem_rec = rec; /* handed over */
        return err;
    }
    if (err != SHOP_OK) {
        fail_local(s->fail, "INTERNAL", "could not store the order");
        return err;
    }
    order_rec *o = s->order;
    o->id = id;
    s->log.order_id = id;
    o->user_id = rq->user_id;
    o->status = ORDER_PENDING;
    o->user_coupon_id = rq->user_coupon_id;
    o->created_at = o->updated_at = now_s;
    o->n_lines = rq->n_lines;
    memcpy(o->lines, rq->lines, rq->n_lines * sizeof rq->lines[0]);
    return SHOP_OK;
}

shop_err order_saga_create(const order_app *app, const order_create_req *rq, const order_idem *idem,
                           const char *rid, order_rec *order, char **reply_body, order_fail *fail)
{
    saga s = {
        .app = app,
        .idem = idem,
        .rid = rid,
        .deadline = time_mono_ms() + app->saga_deadline_ms,
        .order = order,
        .fail = fail,
    };
    shop_err err;
    memset(order, 0, sizeof *order);
    memset(fail, 0, sizeof *fail);
    *reply_body = NULL;
    runlog_init(&s.log, app, 0, rid, NULL);
    if (!step_user(&s, rq->user_id))
        return fail_err(fail);
    if ((err = insert_pending(&s, rq)) != SHOP_OK)
        return err;
    if (!step_reserve(&s))
        goto undo;
    if (rq->user_coupon_id > 0) {
        int64_t total = 0;
        for (size_t i = 0; i < order->n_lines; i++)
            total += order->lines[i].quantity * order->lines[i].unit_price;
        if (!step_coupon(&s, rq->user_coupon_id, total))
            goto undo;
    }
    return step_finish(&s, reply_body);
undo:
    saga_undo(&s, true);
    return fail_err(fail);
}

/* Finishes a CANCELLING order: restores, then CANCELLING -> CANCELLED. */
static shop_err finish_cancel(const order_app *app, run_log *log, const order_rec *o,
                              int64_t deadline, order_fail *fail)
{
    order_step cancelled;
    bool won;
    if (!restore_all(app, log, o->id, o->user_coupon_id > 0, true, step_timeout(app, deadline),
                     fail)) {
        log_warn(log->steps.request_id, "order %lld: restore failed; stays CANCELLING",
                 (long long)o->id);
        metrics_count(M_SAGAS, "saga=\"cancel\",outcome=\"left_cancelling\"", 1);
        return fail_err(fail);
    }
    if (order_store_transition(
            app->db, o->id, ORDER_CANCELLING, ORDER_CANCELLED, time_now_ms() / 1000, &log->steps,
            state_step(&cancelled, log, "order.cancelled", 0), &won) != SHOP_OK) {
        fail_local(fail, "INTERNAL", "could not store order %lld", (long long)o->id);
        return SHOP_EDB;
    }
    if (won) {
        log_info(log->steps.request_id, "order %lld: CANCELLED, stock and coupon given back",
                 (long long)o->id);
        metrics_count(M_SAGAS, "saga=\"cancel\",outcome=\"cancelled\"", 1);
    }
    return SHOP_OK;
}

/* Reads order id for a command by user_id (0: anyone): SHOP_OK, or a failure
 * (not found, forbidden, database) in fail. */
static shop_err load_for(const order_app *app, int64_t id, int64_t user_id, order_rec *order,
                         order_fail *fail)
{
    shop_err err = order_store_get(app->db, id, order);
    if (err == SHOP_ENOTFOUND)
        fail_local(fail, "ORDER_NOT_FOUND", "order %lld does not exist", (long long)id);
    else if (err != SHOP_OK)
        fail_local(fail, "INTERNAL", "could not read order %lld", (long long)id);
    else if (user_id > 0 && order->user_id != user_id) {
        fail_local(fail, "FORBIDDEN", "order %lld is not user %lld's", (long long)id,
                   (long long)user_id);
        err = SHOP_EINVAL;
    }
    return err;
}

/* The cancel saga of order_saga_cancel, noting its steps in log (which the
 * caller stores or gives up afterwards: what is left in it was not followed
 * by a state change). */
static shop_err cancel_run(const order_app *app, int64_t id, int64_t user_id, run_log *log,
                           order_rec *order, order_fail *fail)
{
    int64_t deadline = time_mono_ms() + app->saga_deadline_ms;
    shop_err err = SHOP_OK;
    order_step cancelling;
    bool won;
    memset(fail, 0, sizeof *fail);
    /* Each round moves the order one step forward or ends: at most
     * CREATED -> CANCELLING -> CANCELLED and a last read. */
    for (int round = 0; round < 6; round++) {
        if ((err = load_for(app, id, user_id, order, fail)) != SHOP_OK)
            return err;
        switch (order->status) {
        case ORDER_CANCELLED:
            return SHOP_OK;
        case ORDER_PAID:
            fail_local(fail, "ORDER_ALREADY_PAID", "order %lld is paid", (long long)id);
            return SHOP_ECONFLICT;
        case ORDER_PENDING:
        case ORDER_FAILED:
            fail_local(fail, "ORDER_NOT_CANCELLABLE", "order %lld is %s", (long long)id,
                       order_status_name(order->status));
            return SHOP_ECONFLICT;
        case ORDER_CREATED:
            err = order_store_transition(app->db, id, ORDER_CREATED, ORDER_CANCELLING,
                                         time_now_ms() / 1000, &log->steps,
                                         state_step(&cancelling, log, "order.cancelling", 0), &won);
            if (err != SHOP_OK) {
                fail_local(fail, "INTERNAL", "could not store order %lld", (long long)id);
                return err;
            }
            break;
        case ORDER_CANCELLING:
            if ((err = finish_cancel(app, log, order, deadline, fail)) != SHOP_OK)
                return err;
            break;
        }
    }
    fail_local(fail, "INTERNAL", "order %lld kept changing", (long long)id);
    return SHOP_EDB;
}

shop_err order_saga_cancel(const order_app *app, int64_t id, int64_t user_id, const char *rid,
                           order_rec *order, order_fail *fail)
{
    run_log log;
    runlog_init(&log, app, id, rid, NULL);
    shop_err err = cancel_run(app, id, user_id, &log, order, fail);
    runlog_flush(&log);
    return err;
}

shop_err order_saga_pay(const order_app *app, int64_t id, int64_t payment_id, int64_t user_id,
                        const char *rid, order_rec *order, order_fail *fail)
{
    shop_err err;
    order_step paid;
    run_log log;
    bool won;
    memset(fail, 0, sizeof *fail);
    runlog_init(&log, app, id, rid, NULL);
    for (int round = 0; round < 3; round++) {
        if ((err = load_for(app, id, user_id, order, fail)) != SHOP_OK)
            return err;
        if (order->status == ORDER_PAID && order->payment_id == payment_id)
            return SHOP_OK;
        if (order->status != ORDER_CREATED) {
            if (order->status == ORDER_PAID)
                fail_local(fail, "ORDER_NOT_PAYABLE", "order %lld is paid by payment %lld",
                           (long long)id, (long long)order->payment_id);
            else
                fail_local(fail, "ORDER_NOT_PAYABLE", "order %lld is %s", (long long)id,
                           order_status_name(order->status));
            return SHOP_ECONFLICT;
        }
        err = order_store_mark_paid(app->db, id, payment_id, time_now_ms() / 1000, &log.steps,
                                    state_step(&paid, &log, "order.paid", payment_id), &won);
        if (err != SHOP_OK) {
            fail_local(fail, "INTERNAL", "could not store order %lld", (long long)id);
            return err;
        }
    }
    fail_local(fail, "INTERNAL", "order %lld kept changing", (long long)id);
    return SHOP_EDB;
}

/* Asks payment-service for the payment steps of order o (the payments its
 * user made). OUT: *res (free it). Returns the "steps" array inside
 * res->json, or NULL when payment-service could not be asked. */
static const cJSON *payment_steps(const order_app *app, const order_rec *o, const char *rid,
                                  http_result *res)
{
    char path[128];
    snprintf(path, sizeof path, "/payments/saga?orderId=%lld&userId=%lld", (long long)o->id,
             (long long)o->user_id);
    http_call call = {
        .method = "GET",
        .base_url = app->payment_url,
        .path = path,
        .request_id = rid,
        .timeout_ms = app->call_timeout_ms,
        .peer = "payment",
    };
    http_client_do(&call, res);
    const cJSON *steps = res->transport == HTTP_T_OK && res->status == 200
                             ? cJSON_GetObjectItemCaseSensitive(res->json, "steps")
                             : NULL;
    if (cJSON_IsArray(steps))
        return steps;
    log_warn(rid, "order %lld: saga view without payment steps (payment answered %ld %s)",
             (long long)o->id, res->status, res->transport != HTTP_T_OK ? res->error : "");
    return NULL;
}

shop_err order_saga_view(const order_app *app, int64_t id, const char *rid, cJSON **view)
{
    order_rec order;
    http_result res;
    size_t n = 0;
    *view = NULL;
    shop_err err = order_store_get(app->db, id, &order);
    if (err != SHOP_OK)
        return err;
    order_step *steps = calloc(ORDER_VIEW_MAX_STEPS, sizeof *steps);
    if (steps == NULL)
        return SHOP_ENOMEM;
    err = order_store_steps(app->db, id, steps, ORDER_VIEW_MAX_STEPS, &n);
    if (err == SHOP_OK) {
        const cJSON *paid = payment_steps(app, &order, rid, &res);
        *view = order_render_saga(&order, steps, n, paid, paid == NULL);
        http_result_free(&res);
        if (*view == NULL)
            err = SHOP_ENOMEM;
    }
    free(steps);
    return err;
}

static bool stopping(const atomic_bool *stop)
{
    return (stop != NULL && atomic_load(stop)) || http_stop_requested();
}

/* Undoes a PENDING order left by a crash, a failed restore or a saga past
 * its deadline: claims it first (order_store_claim_undo; from then on the
 * saga's PENDING -> CREATED loses, so stock and coupon are never given back
 * under a CREATED order, whatever the wall clock or a stalled write did to
 * the staleness test), then restores, then PENDING -> FAILED. Returns true
 * when it is no longer PENDING. Its steps ("recovery.coupon.restore", ...)
 * are stored with order.failed; a round that leaves the order PENDING
 * records nothing (the next round tries again, and would fill the log). */
static bool undo_pending(const order_app *app, int64_t id, const char *rid)
{
    order_rec o;
    order_step failed;
    run_log log;
    bool won = false;
    if (order_store_get(app->db, id, &o) != SHOP_OK || o.status != ORDER_PENDING)
        return true;
    if (order_store_claim_undo(app->db, id, &won) != SHOP_OK)
        return false;
    if (!won) {
        log_info(rid, "recovery: order %lld left PENDING meanwhile; nothing to undo",
                 (long long)id);
        metrics_count(M_RECOVERY, "action=\"undo_pending\",result=\"lost\"", 1);
        return true;
    }
    runlog_init(&log, app, id, rid, "recovery.");
    long timeout =
        app->call_timeout_ms < RECOVERY_CALL_MS ? app->call_timeout_ms : RECOVERY_CALL_MS;
    if (!restore_all(app, &log, id, o.user_coupon_id > 0, true, timeout, NULL)) {
        log_warn(rid, "recovery: order %lld stays PENDING (a restore failed)", (long long)id);
        metrics_count(M_RECOVERY, "action=\"undo_pending\",result=\"retry\"", 1);
        return false;
    }
    if (order_store_transition(app->db, id, ORDER_PENDING, ORDER_FAILED, time_now_ms() / 1000,
                               &log.steps, state_step(&failed, &log, "order.failed", 0),
                               &won) != SHOP_OK)
        return false;
    if (!won) { /* only its own saga can have failed it since the claim */
        log_info(rid, "recovery: order %lld was FAILED by its saga meanwhile", (long long)id);
        metrics_count(M_RECOVERY, "action=\"undo_pending\",result=\"lost\"", 1);
        return true;
    }
    log_info(rid, "recovery: order %lld PENDING -> FAILED", (long long)id);
    metrics_count(M_RECOVERY, "action=\"undo_pending\",result=\"done\"", 1);
    return true;
}

/* Cancels (or finishes cancelling) order id for recovery; its calls are
 * logged as prefix ("recovery." or "expiry.") + name, and, as in
 * undo_pending, only along with a state change. Returns true when the order
 * is settled (cancelled, or no longer cancellable). */
static bool recover_cancel(const order_app *app, int64_t id, const char *rid, const char *prefix)
{
    order_rec o;
    order_fail fail;
    run_log log;
    order_app quick = *app;
    if (quick.call_timeout_ms > RECOVERY_CALL_MS)
        quick.call_timeout_ms = RECOVERY_CALL_MS;
    runlog_init(&log, &quick, id, rid, prefix);
    shop_err err = cancel_run(&quick, id, 0, &log, &o, &fail);
    if (err == SHOP_OK) {
        log_info(rid, "recovery: order %lld CANCELLED", (long long)id);
        metrics_count(M_RECOVERY, "action=\"cancel\",result=\"done\"", 1);
    } else if (err != SHOP_ECONFLICT) {
        log_warn(rid, "recovery: order %lld not cancelled yet (%s)", (long long)id,
                 fail.peer != NULL ? fail.peer : fail.code);
        metrics_count(M_RECOVERY, "action=\"cancel\",result=\"retry\"", 1);
    }
    order_fail_release(&fail);
    return err == SHOP_OK || err == SHOP_ECONFLICT;
}

typedef enum recovery_kind { RECOVER_PENDING, RECOVER_CANCELLING, RECOVER_EXPIRED } recovery_kind;

/* Works through the orders of one kind, a batch at a time, while batches are
 * full and something moved. */
static void recover_kind(const order_app *app, recovery_kind kind, int64_t cutoff_s,
                         const char *rid, const atomic_bool *stop)
{
    static const order_status status_of[] = {
        [RECOVER_PENDING] = ORDER_PENDING,
        [RECOVER_CANCELLING] = ORDER_CANCELLING,
        [RECOVER_EXPIRED] = ORDER_CREATED,
    };
    int64_t ids[RECOVERY_BATCH];
    size_t n = 0;
    for (int batch = 0; batch < RECOVERY_MAX_BATCHES && !stopping(stop); batch++) {
        if (order_store_list_stale(app->db, status_of[kind], cutoff_s, ids, RECOVERY_BATCH, &n) !=
            SHOP_OK)
            return;
        size_t settled = 0;
        for (size_t i = 0; i < n && !stopping(stop); i++)
            settled += kind == RECOVER_PENDING
                           ? undo_pending(app, ids[i], rid)
                           : recover_cancel(app, ids[i], rid,
                                            kind == RECOVER_EXPIRED ? "expiry." : "recovery.");
        if (n < RECOVERY_BATCH || settled == 0)
            return;
    }
}

/* Purges old idempotency keys when the last purge of app is an hour old (or
 * none was done yet); of rounds that race, one purges. */
static void purge_keys(const order_app *app, int64_t now_s)
{
    /* The one field recovery writes; app itself is never a const object. */
    _Atomic int64_t *at = (_Atomic int64_t *)&app->idem_purged_ms;
    int64_t now = time_mono_ms();
    int64_t last = atomic_load(at);
    if (last != 0 && now - last < IDEM_PURGE_EVERY_MS)
        return;
    if (!atomic_compare_exchange_strong(at, &last, now))
        return;
    if (order_store_idem_purge(app->db, now_s) != SHOP_OK)
        log_warn(NULL, "recovery: could not purge old idempotency keys");
}

void order_recovery_round(const order_app *app, const atomic_bool *stop)
{
    char rid[HTTP_REQUEST_ID_LEN + 1];
    int64_t now_s = time_now_ms() / 1000;
    http_request_id_new(rid);
    recover_kind(app, RECOVER_PENDING,
                 order_stale_cutoff(now_s, app->saga_deadline_ms + PENDING_MARGIN_MS), rid, stop);
    /* A CANCELLING order is left to its live cancel as long as a PENDING one
     * is left to its saga: recovery finishes only what a crash abandoned. */
    recover_kind(app, RECOVER_CANCELLING,
                 order_stale_cutoff(now_s, app->saga_deadline_ms + PENDING_MARGIN_MS), rid, stop);
    recover_kind(app, RECOVER_EXPIRED, order_stale_cutoff(now_s, app->payment_ttl_s * 1000), rid,
                 stop);
    if (!stopping(stop))
        purge_keys(app, now_s);
}

struct order_recovery {
    pthread_t thread;
    atomic_bool stop;
    const order_app *app;
};

static void *recovery_main(void *arg)
{
    order_recovery *r = arg;
    while (!stopping(&r->stop)) {
        order_recovery_round(r->app, &r->stop);
        int64_t until = time_mono_ms() + r->app->recovery_interval_ms;
        for (int64_t now = time_mono_ms(); now < until && !stopping(&r->stop); now = time_mono_ms())
            time_sleep_ms(until - now < RECOVERY_SLICE_MS ? until - now : RECOVERY_SLICE_MS);
    }
    return NULL;
}

order_recovery *order_recovery_start(const order_app *app)
{
    order_recovery *r = calloc(1, sizeof *r);
    if (r == NULL)
        return NULL;
    r->app = app;
    atomic_init(&r->stop, false);
    if (pthread_create(&r->thread, NULL, recovery_main, r) != 0) {
        free(r);
        return NULL;
    }
    return r;
}

void order_recovery_stop(order_recovery *r)
{
    if (r == NULL)
        return;
    atomic_store(&r->stop, true);
    pthread_join(r->thread, NULL);
    free(r);
}
