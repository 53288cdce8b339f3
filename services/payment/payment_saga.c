/* The pay saga and the settler's finishing of cut-short payments (see
 * payment_saga.h). Every state change of a payment is a conditional update
 * from PENDING; every call that moves money is keyed by the payment id. The
 * steps of a run are kept in memory and written with the payment's next
 * state change, in its transaction, along with the answer for the
 * payment's Idempotency-Key when that change settles it. */
#include "payment_saga.h"

#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "json.h"
#include "log.h"
#include "metrics.h"
#include "saga_log.h"
#include "payment_logic.h"
#include "payment_worker.h"
#include "timeutil.h"

/* What a run decided, counted once when it ends (payment_saga_metrics_init
 * names the series each becomes). */
typedef enum run_end {
    END_NONE = 0,  /* nothing: the payment stays PENDING (or was never made) */
    END_COMPLETED, /* our PENDING -> COMPLETED won */
    END_FAILED,    /* our PENDING -> FAILED won */
    END_REFUNDED,  /* our PENDING -> REFUNDED won */
    END_CONFLICT,  /* 409 ORDER_NOT_PAYABLE before any money moved; no payment kept */
    END_REJECTED,  /* order not found or not the payer's; no payment kept */
    END_ERROR,     /* nothing kept: the insert failed, the order's reply was unreadable */
    END_LOST,      /* a conditional write of ours lost: the other run decides */
} run_end;

/* One run of the saga (or of the settler on one payment). */
typedef struct saga {
    payment_app *app;
    const char *rid;
    int64_t deadline; /* monotonic ms; each call gets what is left, at most */
    int64_t payment_id;
    int64_t order_id;
    int64_t user_id;
    int64_t amount;
    int64_t created_at; /* epoch seconds, as the payment row has it */
    payment_outcome *out;
    bool sent;         /* the last call() was sent (not cut off by the deadline) */
    run_end end;       /* what this run decided so far */
    payment_steps log; /* the steps not stored yet */
} saga;

#define M_SAGAS "shop_payment_sagas_total"
#define M_RECOVERY "shop_payment_recovery_total"

/* Every series of both families, so that each is exported (at 0) before
 * its first event. */
static const char *const saga_series[] = {
    "outcome=\"completed\"",       "outcome=\"failed\"", "outcome=\"conflict\"",
    "outcome=\"rejected\"",        "outcome=\"error\"",  "outcome=\"left_pending\"",
    "outcome=\"lost_to_settler\"",
};
static const char *const recovery_series[] = {
    "action=\"settle\",result=\"completed\"", "action=\"settle\",result=\"failed\"",
    "action=\"settle\",result=\"refunded\"",  "action=\"settle\",result=\"lost\"",
    "action=\"settle\",result=\"retry\"",     "action=\"cancel_owed\",result=\"done\"",
    "action=\"cancel_owed\",result=\"lost\"", "action=\"cancel_owed\",result=\"retry\"",
};

void payment_saga_metrics_init(void)
{
    metrics_describe(M_SAGAS, METRIC_COUNTER,
                     "Pay sagas (POST /payments that ran; not replays) by how they ended.");
    metrics_describe(M_RECOVERY, METRIC_COUNTER,
                     "Settler actions on payments (settle a stale PENDING one, a cancel owed), "
                     "by result.");
    for (size_t i = 0; i < sizeof saga_series / sizeof saga_series[0]; i++)
        metrics_count(M_SAGAS, saga_series[i], 0);
    for (size_t i = 0; i < sizeof recovery_series / sizeof recovery_series[0]; i++)
        metrics_count(M_RECOVERY, recovery_series[i], 0);
}

/* Counts the end of a client's pay saga once. A request that never became
 * a saga (its key is held by a running one: no payment was made) is not
 * counted. */
static void count_saga(const saga *s)
{
    static const char *const by_end[] = {
        [END_NONE] = "outcome=\"left_pending\"",
        [END_COMPLETED] = "outcome=\"completed\"",
        [END_FAILED] = "outcome=\"failed\"",
        [END_REFUNDED] = "outcome=\"failed\"", /* the payment did not happen either */
        [END_CONFLICT] = "outcome=\"conflict\"",
        [END_REJECTED] = "outcome=\"rejected\"",
        [END_ERROR] = "outcome=\"error\"",
        [END_LOST] = "outcome=\"lost_to_settler\"",
    };
    if (s->end == END_NONE && s->payment_id == 0)
        return;
    metrics_count(M_SAGAS, by_end[s->end], 1);
}

/* Counts one settler round on a stale PENDING payment. */
static void count_settle(const saga *s)
{
    static const char *const by_end[] = {
        [END_NONE] = "action=\"settle\",result=\"retry\"",
        [END_COMPLETED] = "action=\"settle\",result=\"completed\"",
        [END_FAILED] = "action=\"settle\",result=\"failed\"",
        [END_REFUNDED] = "action=\"settle\",result=\"refunded\"",
        [END_CONFLICT] = "action=\"settle\",result=\"retry\"", /* not reached */
        [END_REJECTED] = "action=\"settle\",result=\"retry\"", /* not reached */
        [END_ERROR] = "action=\"settle\",result=\"retry\"",    /* not reached */
        [END_LOST] = "action=\"settle\",result=\"lost\"",
    };
    metrics_count(M_RECOVERY, by_end[s->end], 1);
}

/* What a call stands for in the saga log. */
typedef struct step_desc {
    const char *name; /* "balance.debit"; the log's prefix goes before it */
    const char *peer; /* "user" */
    bool compensation;
} step_desc;

static const step_desc ORDER_READ = {"order.read", "order", false};
static const step_desc BALANCE_CHECK = {"balance.check", "user", false};
static const step_desc BALANCE_DEBIT = {"balance.debit", "user", false};
static const step_desc BALANCE_REFUND = {"balance.refund", "user", true};
static const step_desc ORDER_MARK_PAID = {"order.mark_paid", "order", false};
static const step_desc ORDER_CANCEL = {"order.cancel", "order", false};
static const step_desc DEBIT_VOID = {"void", "user", false};

static void set_problem(payment_outcome *o, const char *code, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));

static void set_problem(payment_outcome *o, const char *code, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(o->detail, sizeof o->detail, fmt, ap);
    va_end(ap);
    o->code = code;
    o->status = problem_status(code);
    o->pass_upstream = false;
}

/* Hands the peer's reply r over to the outcome (r is left empty). */
static void set_upstream(payment_outcome *o, const char *peer, http_result *r)
{
    http_result_free(&o->upstream);
    o->upstream = *r;
    memset(r, 0, sizeof *r);
    o->pass_upstream = true;
    o->peer = peer;
    o->status = 0; /* payment_outcome_render says what it comes to */
}

/* Renders the outcome as the answer to send: o->status, o->content_type and
 * o->body (as http_reply_upstream would pass a peer's reply on). */
static void render(payment_outcome *o)
{
    const http_result *u = &o->upstream;
    free(o->body);
    o->body = NULL;
    o->content_type = "application/problem+json";
    if (o->status == 201) {
        cJSON *json = payment_render(&o->payment);
        o->body = json != NULL ? json_print(json) : NULL;
        cJSON_Delete(json);
        o->content_type = "application/json";
        return;
    }
    if (!o->pass_upstream) {
        o->body = problem_render(o->status, o->code, o->detail);
        return;
    }
    if (u->transport == HTTP_T_TIMEOUT) {
        set_problem(o, "UPSTREAM_TIMEOUT", "%s did not answer in time", o->peer);
    } else if (u->transport != HTTP_T_OK) {
        set_problem(o, "SERVICE_UNAVAILABLE", "%s cannot be reached", o->peer);
    } else if (u->status >= 400 && u->body != NULL &&
               strstr(u->content_type, "application/problem+json") != NULL) {
        o->status = (int)u->status;
        o->body = strdup(u->body);
        return;
    } else {
        log_error(NULL, "%s answered %ld unexpectedly", o->peer, u->status);
        set_problem(o, "BAD_GATEWAY", "%s answered %ld", o->peer, u->status);
    }
    o->pass_upstream = true; /* set_problem cleared it; the peer stays named */
    o->body = problem_render(o->status, o->code, o->detail);
}

/* The answer the outcome stands for now, for the payment's key. */
static payment_answer answer_now(saga *s)
{
    render(s->out);
    return (payment_answer){.status = s->out->status, .body = s->out->body};
}

/* A free slot of the log; a full log is stored first. */
static payment_step *slot(saga *s)
{
    payment_step *st = payment_steps_next(&s->log);
    if (st != NULL)
        return st;
    if (payment_store_steps_flush(s->app->db, &s->log) == SHOP_OK)
        return payment_steps_next(&s->log);
    log_warn(s->rid, "payment %lld: saga log full; a step is not recorded",
             (long long)s->payment_id);
    memmove(&s->log.items[0], &s->log.items[1], (PAYMENT_STEPS_MAX - 1) * sizeof s->log.items[0]);
    return &s->log.items[PAYMENT_STEPS_MAX - 1];
}

/* Fills *st as the state change name of s's payment, now. */
static const payment_step *state_step(saga *s, payment_step *st, const char *name,
                                      bool compensation)
{
    payment_step_set(st, &s->log, s->payment_id, s->order_id, saga_log_now_us(), NULL, name, NULL,
                     0, NULL, 0, compensation);
    return st;
}

/* Stores what the log still holds in a transaction of its own. */
static void flush(saga *s)
{
    if (payment_store_steps_flush(s->app->db, &s->log) != SHOP_OK)
        log_warn(s->rid, "payment %lld: could not store %zu saga steps", (long long)s->payment_id,
                 s->log.n);
}

/* True when the call may or may not have had its effect: no full reply, a
 * 5xx, or a 2xx we cannot read. The payment then stays PENDING. */
static bool is_transient(const http_result *r)
{
    if (r->transport != HTTP_T_OK || r->status >= 500)
        return true;
    return r->status >= 200 && r->status < 300 && r->json == NULL;
}

static bool is_success(const http_result *r)
{
    return !is_transient(r) && r->status >= 200 && r->status < 300;
}

/* Calls method base+path with body (may be NULL) within the saga deadline
 * and notes it in the log as d. Always fills r (free with http_result_free). */
static void call(saga *s, const step_desc *d, const char *method, const char *base,
                 const char *path, const cJSON *body, http_result *r)
{
    int64_t timeout = payment_call_timeout_ms(s->app->call_timeout_ms, s->deadline, time_mono_ms());
    int64_t at_us = saga_log_now_us();
    char *text = NULL;
    s->sent = false;
    if (timeout == 0) {
        memset(r, 0, sizeof *r);
        r->transport = HTTP_T_TIMEOUT;
        snprintf(r->error, sizeof r->error, "saga deadline passed before %s %s", method, path);
        goto out;
    }
    if (body != NULL && (text = json_print(body)) == NULL) {
        memset(r, 0, sizeof *r);
        r->transport = HTTP_T_UNAVAILABLE;
        snprintf(r->error, sizeof r->error, "out of memory");
        goto out;
    }
    http_call c = {
        .method = method,
        .base_url = base,
        .path = path,
        .body = text,
        .body_len = text != NULL ? strlen(text) : 0,
        .request_id = s->rid,
        .timeout_ms = (long)timeout,
    };
    s->sent = true;
    http_client_do(&c, r);
out:
    payment_step_set(slot(s), &s->log, s->payment_id, s->order_id, at_us, s->log.prefix, d->name,
                     d->peer, saga_log_call_status(r), saga_log_call_error(r, r->json != NULL),
                     r->duration_ms, d->compensation);
    if (r->transport != HTTP_T_OK)
        log_warn(s->rid, "payment %lld: %s", (long long)s->payment_id, r->error);
    free(text);
}

/* A JSON object {"ref": prefix-<payment id>} plus "amount" when amount >= 0,
 * or NULL when out of memory. */
static cJSON *ref_body(const saga *s, const char *prefix, int64_t amount)
{
    char ref[PAYMENT_REF_LEN];
    cJSON *o = cJSON_CreateObject();
    if (o == NULL || !payment_ref(ref, sizeof ref, prefix, s->payment_id) ||
        cJSON_AddStringToObject(o, "ref", ref) == NULL ||
        (amount >= 0 && !json_add_int(o, "amount", amount))) {
        cJSON_Delete(o);
        return NULL;
    }
    return o;
}

/* Our own conditional write lost: the settler has taken the payment over. */
static void lost(saga *s)
{
    s->end = END_LOST;
    set_problem(s->out, "SERVICE_UNAVAILABLE",
                "payment %lld is being settled in the background; ask again later",
                (long long)s->payment_id);
}

static void db_failed(saga *s)
{
    set_problem(s->out, "INTERNAL", "payment %lld: database error", (long long)s->payment_id);
}

/* Nothing happened: the PENDING row goes, as if it had never been made, with
 * its steps; the key gets the outcome as its answer in the same transaction.
 * end is what the run then decided. */
static void forget(saga *s, run_end end)
{
    payment_answer a = answer_now(s);
    shop_err e = payment_store_delete_pending(s->app->db, s->payment_id, &a);
    if (e == SHOP_OK)
        s->end = end;
    else if (e == SHOP_ECONFLICT)
        s->end = END_LOST; /* no longer PENDING: the settler has it */
    if (e != SHOP_OK)
        log_warn(s->rid, "payment %lld: could not delete (%d)", (long long)s->payment_id, e);
    s->log.n = 0;
}

/* PENDING -> to (FAILED or REFUNDED), recorded as the step state_name, with
 * the outcome as the key's answer. Fills the outcome and returns false when
 * it did not happen. */
static bool transition(saga *s, payment_status to, const char *state_name, bool compensation)
{
    payment_step st;
    payment_answer a = answer_now(s);
    shop_err e = payment_store_transition(s->app->db, s->payment_id, PAYMENT_PENDING, to,
                                          time_now_ms() / 1000, &s->log,
                                          state_step(s, &st, state_name, compensation), &a);
    if (e == SHOP_ECONFLICT)
        lost(s);
    else if (e != SHOP_OK)
        db_failed(s);
    else
        s->end = to == PAYMENT_REFUNDED ? END_REFUNDED : END_FAILED;
    return e == SHOP_OK;
}

/* Asks order-service to cancel the order (with compensation), noted as d.
 * user_id > 0 makes order-service check the owner. Returns the reply in r. */
static void cancel_order(saga *s, const step_desc *d, int64_t user_id, http_result *r)
{
    char path[64];
    snprintf(path, sizeof path, "/orders/%lld/cancel", (long long)s->order_id);
    cJSON *body = cJSON_CreateObject();
    if (body != NULL && user_id > 0 && !json_add_int(body, "userId", user_id)) {
        cJSON_Delete(body);
        body = NULL;
    }
    if (body == NULL) {
        memset(r, 0, sizeof *r);
        r->transport = HTTP_T_UNAVAILABLE;
        snprintf(r->error, sizeof r->error, "out of memory");
        return;
    }
    call(s, d, "POST", s->app->order_url, path, body, r);
    cJSON_Delete(body);
}

/* The order's cancel that a short-balance failure owes, asked of
 * order-service as d. Done when order-service confirms it or says there is
 * nothing to undo; then the flag goes and the key gets the answer in one
 * transaction: 402 INSUFFICIENT_BALANCE once the order is cancelled (the
 * outcome as the caller set it), 409 ORDER_NOT_PAYABLE when another payment
 * paid the order meanwhile or it cannot be cancelled, the 404 passed on for
 * an order that is gone. Not done (no reply, a 5xx, any other answer): the
 * outcome is a 5xx (that failure, or 502 for a refusal that says nothing
 * about the order), the key stays IN_PROGRESS and the settler tries again.
 * Returns true when done; *raced (may be NULL) says whether another run
 * had confirmed it first. */
static bool cancel_owed(saga *s, const step_desc *d, bool *raced)
{
    http_result r;
    bool done = false;
    cancel_order(s, d, 0, &r);
    const char *code = http_result_code(&r);
    if (is_success(&r)) {
        done = true; /* the outcome stays the 402 */
    } else if (!is_transient(&r) && r.status == 409 && strcmp(code, "ORDER_ALREADY_PAID") == 0) {
        set_problem(s->out, "ORDER_NOT_PAYABLE",
                    "payment %lld failed (balance below %lld); order %lld was paid meanwhile",
                    (long long)s->payment_id, (long long)s->amount, (long long)s->order_id);
        done = true;
    } else if (!is_transient(&r) && r.status == 409 && strcmp(code, "ORDER_NOT_CANCELLABLE") == 0) {
        set_problem(s->out, "ORDER_NOT_PAYABLE",
                    "payment %lld failed (balance below %lld); order %lld is not payable",
                    (long long)s->payment_id, (long long)s->amount, (long long)s->order_id);
        done = true;
    } else if (!is_transient(&r) && r.status == 404) {
        set_upstream(s->out, "order", &r);
        done = true;
    } else {
        log_warn(s->rid, "payment %lld: cancel of order %lld not done (%ld %s); owed",
                 (long long)s->payment_id, (long long)s->order_id, r.status, code);
        if (is_transient(&r))
            set_upstream(s->out, "order", &r); /* 503/504 (502) */
        else /* a refusal that is no verdict on the order (401, 400, ...) */
            set_problem(s->out, "BAD_GATEWAY", "order-service answered %ld %s to the cancel",
                        r.status, code);
    }
    http_result_free(&r);
    if (!done)
        return false;
    payment_answer a = answer_now(s);
    shop_err e =
        payment_store_cancel_done(s->app->db, s->payment_id, time_now_ms() / 1000, &s->log, &a);
    if (raced != NULL)
        *raced = e == SHOP_ECONFLICT;
    if (e == SHOP_EDB) {
        db_failed(s); /* still owed: the settler asks again and stores the answer */
        return false;
    }
    /* SHOP_ECONFLICT: the settler confirmed it first; order-service answered
     * both of us alike (PAID and CANCELLED are final), so the stored answer
     * is this one. */
    return true;
}

/* The payment fails for good (short balance): FAILED with the order's
 * cancel owed, then the cancel before the reply. The key keeps no answer
 * until the cancel is confirmed: a repeat meanwhile is 409
 * IDEMPOTENCY_KEY_IN_USE, never a 402 for an order not cancelled yet. */
static void fail_short(saga *s, int64_t balance)
{
    payment_step st;
    set_problem(s->out, "INSUFFICIENT_BALANCE", "balance %lld is below the amount %lld",
                (long long)balance, (long long)s->amount);
    shop_err e =
        payment_store_fail_owing_cancel(s->app->db, s->payment_id, time_now_ms() / 1000, &s->log,
                                        state_step(s, &st, "payment.failed", false));
    if (e == SHOP_ECONFLICT) {
        lost(s);
        return;
    }
    if (e != SHOP_OK) {
        db_failed(s);
        return;
    }
    s->end = END_FAILED; /* whatever the cancel that follows does */
    cancel_owed(s, &ORDER_CANCEL, NULL);
}

/* A call before the debit had no answer (or an unreadable one): no money can
 * have moved, so the payment fails at once, FAILED without cancelling the
 * order, and the answer (the peer's 5xx, 503 or 504) releases the key: the
 * client's retry pays afresh (API.md: a transient error does not cancel the
 * order). */
static void fail_before_debit(saga *s, const char *peer, http_result *r)
{
    set_upstream(s->out, peer, r); /* renders as a 5xx: the key is released */
    transition(s, PAYMENT_FAILED, "payment.failed", false);
}

/* A peer refused definitively before any money moved: FAILED, pass it on. */
static void fail_refused(saga *s, const char *peer, http_result *r)
{
    set_upstream(s->out, peer, r);
    transition(s, PAYMENT_FAILED, "payment.failed", false);
}

/* Step 1: the order must exist, be this user's and CREATED. Sets s->amount.
 * When it is not, the payment is forgotten with its steps. */
static bool read_order(saga *s)
{
    char path[64];
    bool go_on = false;
    http_result r;
    snprintf(path, sizeof path, "/orders/%lld", (long long)s->order_id);
    call(s, &ORDER_READ, "GET", s->app->order_url, path, NULL, &r);
    if (is_transient(&r)) {
        fail_before_debit(s, "order", &r);
        goto out;
    }
    if (r.status == 404) {
        set_problem(s->out, "ORDER_NOT_FOUND", "order %lld not found", (long long)s->order_id);
        forget(s, END_REJECTED);
        goto out;
    }
    int64_t owner = 0, amount = 0;
    const char *status = r.json != NULL ? json_peek_string(r.json, "status") : NULL;
    if (r.status != 200 || !json_peek_int(r.json, "userId", &owner) ||
        !json_peek_int(r.json, "finalAmount", &amount) || amount < 0) {
        set_upstream(s->out, "order", &r);
        forget(s, END_ERROR);
        goto out;
    }
    switch (payment_order_check(owner, status, s->user_id)) {
    case PAYMENT_ORDER_FORBIDDEN:
        set_problem(s->out, "FORBIDDEN", "order %lld is not user %lld's", (long long)s->order_id,
                    (long long)s->user_id);
        forget(s, END_REJECTED);
        goto out;
    case PAYMENT_ORDER_NOT_PAYABLE:
        set_problem(s->out, "ORDER_NOT_PAYABLE", "order %lld is %s", (long long)s->order_id,
                    status != NULL ? status : "in an unknown state");
        forget(s, END_CONFLICT);
        goto out;
    case PAYMENT_ORDER_OK:
        break;
    }
    s->amount = amount;
    shop_err e =
        payment_store_set_amount(s->app->db, s->payment_id, amount, time_now_ms() / 1000, &s->log);
    if (e == SHOP_ECONFLICT)
        lost(s);
    else if (e != SHOP_OK)
        db_failed(s);
    go_on = e == SHOP_OK;
out:
    http_result_free(&r);
    return go_on;
}

/* Step 2: the balance must cover the amount. */
static bool check_balance(saga *s)
{
    char path[64];
    bool go_on = false;
    http_result r;
    int64_t balance = 0;
    snprintf(path, sizeof path, "/users/%lld/balance", (long long)s->user_id);
    call(s, &BALANCE_CHECK, "GET", s->app->user_url, path, NULL, &r);
    if (is_transient(&r) || (is_success(&r) && !json_peek_int(r.json, "balance", &balance))) {
        fail_before_debit(s, "user", &r); /* no answer, or an unreadable 200 */
    } else if (!is_success(&r)) {
        fail_refused(s, "user", &r);
    } else if (!payment_balance_covers(balance, s->amount)) {
        fail_short(s, balance);
    } else {
        go_on = true;
    }
    http_result_free(&r);
    return go_on;
}

/* Step 3: the debit, keyed by "pay-<payment id>". */
static bool debit(saga *s)
{
    char path[64];
    bool go_on = false;
    http_result r = {0};
    if (s->amount == 0)
        return true; /* a fully discounted order: no money moves */
    snprintf(path, sizeof path, "/users/%lld/debits", (long long)s->user_id);
    cJSON *body = ref_body(s, "pay", s->amount);
    if (body == NULL) {
        set_problem(s->out, "INTERNAL", "out of memory");
        return false;
    }
    call(s, &BALANCE_DEBIT, "POST", s->app->user_url, path, body, &r);
    cJSON_Delete(body);
    const char *code = http_result_code(&r);
    if (is_transient(&r) && !s->sent) {
        fail_before_debit(s, "user", &r); /* the deadline passed: never sent */
    } else if (is_transient(&r)) {
        set_upstream(s->out, "user", &r); /* may have debited: PENDING for the settler */
    } else if (is_success(&r)) {
        go_on = true;
    } else if (r.status == 409 && strcmp(code, "INSUFFICIENT_BALANCE") == 0) {
        fail_short(s, 0);
    } else if (r.status == 409 && strcmp(code, "DEBIT_VOIDED") == 0) {
        lost(s); /* the settler voided the ref: it fails the payment */
    } else {
        fail_refused(s, "user", &r);
    }
    http_result_free(&r);
    return go_on;
}

/* Credits the debit back (keyed "refund-<payment id>") and marks REFUNDED
 * (FAILED for an amount of 0: nothing was debited), with the outcome as the
 * key's answer. Returns false (outcome replaced, payment still PENDING) when
 * the credit did not certainly happen. */
static bool refund(saga *s)
{
    char path[64];
    bool done = false;
    http_result r = {0};
    if (s->amount == 0)
        return transition(s, PAYMENT_FAILED, "payment.failed", false); /* nothing was debited */
    snprintf(path, sizeof path, "/users/%lld/credits", (long long)s->user_id);
    cJSON *body = ref_body(s, "refund", s->amount);
    if (body == NULL) {
        set_problem(s->out, "INTERNAL", "out of memory");
        return false;
    }
    call(s, &BALANCE_REFUND, "POST", s->app->user_url, path, body, &r);
    cJSON_Delete(body);
    if (is_transient(&r)) {
        set_upstream(s->out, "user", &r);
    } else if (!is_success(&r)) {
        log_error(s->rid, "payment %lld: refund refused with %ld: %s", (long long)s->payment_id,
                  r.status, r.body != NULL ? r.body : "");
        set_problem(s->out, "INTERNAL", "payment %lld: the refund was refused",
                    (long long)s->payment_id);
    } else {
        done = transition(s, PAYMENT_REFUNDED, "payment.refunded", true);
    }
    http_result_free(&r);
    return done;
}

/* Step 4: order-service marks the order PAID. OUT: *order (the order's reply,
 * caller cJSON_Deletes) when it did. A refusal (the order was cancelled
 * meanwhile) is passed on once the money is back. */
static bool mark_paid(saga *s, cJSON **order)
{
    char path[64];
    bool go_on = false;
    http_result r = {0};
    snprintf(path, sizeof path, "/orders/%lld/pay", (long long)s->order_id);
    cJSON *body = cJSON_CreateObject();
    if (body == NULL || !json_add_int(body, "paymentId", s->payment_id) ||
        !json_add_int(body, "userId", s->user_id)) {
        cJSON_Delete(body);
        set_problem(s->out, "INTERNAL", "out of memory");
        return false;
    }
    call(s, &ORDER_MARK_PAID, "POST", s->app->order_url, path, body, &r);
    cJSON_Delete(body);
    if (is_transient(&r)) {
        set_upstream(s->out, "order", &r);
    } else if (is_success(&r)) {
        *order = r.json;
        r.json = NULL;
        go_on = true;
    } else {
        log_info(s->rid, "payment %lld: order %lld refused payment (%ld %s); refunding",
                 (long long)s->payment_id, (long long)s->order_id, r.status, http_result_code(&r));
        set_upstream(s->out, "order", &r);
        refund(s);
    }
    http_result_free(&r);
    return go_on;
}

/* Copies member name of from into to (a duplicate), or a JSON null. */
static bool copy_member(cJSON *to, const cJSON *from, const char *name)
{
    const cJSON *v = cJSON_GetObjectItemCaseSensitive(from, name);
    cJSON *dup = v != NULL ? cJSON_Duplicate(v, 1) : cJSON_CreateNull();
    return dup != NULL && cJSON_AddItemToObject(to, name, dup);
}

/* The message for the data platform, from the order's reply to mark paid.
 * Returns a malloc'd string or NULL. */
static char *outbox_payload(const saga *s, const cJSON *order)
{
    char now[TIME_RFC3339_LEN];
    char *text = NULL;
    const char *paid_at = json_peek_string(order, "paidAt");
    if (paid_at == NULL) {
        time_format_rfc3339(time_now_ms() / 1000, now);
        paid_at = now;
    }
    cJSON *msg = cJSON_CreateObject();
    if (msg == NULL || !json_add_int(msg, "orderId", s->order_id) ||
        !json_add_int(msg, "paymentId", s->payment_id) ||
        !json_add_int(msg, "userId", s->user_id) || !copy_member(msg, order, "items") ||
        !copy_member(msg, order, "totalAmount") || !copy_member(msg, order, "discountAmount") ||
        !json_add_int(msg, "finalAmount", s->amount) ||
        cJSON_AddStringToObject(msg, "paidAt", paid_at) == NULL)
        goto out;
    text = json_print(msg);
out:
    cJSON_Delete(msg);
    return text;
}

/* Step 5: COMPLETED, the outbox row and the key's 201 in one transaction;
 * wakes the worker. */
static void complete(saga *s, const cJSON *order)
{
    char *payload = outbox_payload(s, order);
    payment_step st;
    if (payload == NULL) {
        set_problem(s->out, "INTERNAL", "out of memory");
        return;
    }
    int64_t now_ms = time_now_ms();
    s->out->payment = (payment_row){
        .id = s->payment_id,
        .order_id = s->order_id,
        .user_id = s->user_id,
        .amount = s->amount,
        .amount_known = true,
        .status = PAYMENT_COMPLETED,
        .created_at = s->created_at,
        .updated_at = now_ms / 1000,
        .has_delivery = true,
    };
    s->out->status = 201;
    s->out->pass_upstream = false;
    payment_answer a = answer_now(s);
    shop_err e =
        payment_store_complete(s->app->db, s->payment_id, s->order_id, payload, now_ms / 1000,
                               now_ms, &s->log, state_step(s, &st, "payment.completed", false), &a);
    free(payload);
    if (e == SHOP_ECONFLICT) {
        lost(s);
    } else if (e != SHOP_OK) {
        db_failed(s);
    } else {
        s->end = END_COMPLETED;
        payment_workers_wake(s->app->workers);
    }
}

/* Steps 4 and 5, shared by the saga and the settler. */
static void finish(saga *s)
{
    cJSON *order = NULL;
    if (mark_paid(s, &order))
        complete(s, order);
    cJSON_Delete(order);
}

/* Step 0: the PENDING row (and the key). Returns false with the outcome
 * rendered when the saga goes no further. */
static bool insert_pending(saga *s, const payment_idem *idem)
{
    bool key_taken = false;
    int64_t now_s = time_now_ms() / 1000;
    shop_err e = payment_store_insert_pending(s->app->db, s->order_id, s->user_id, now_s, idem,
                                              &s->payment_id, &key_taken);
    if (e == SHOP_OK) {
        s->created_at = now_s;
        return true;
    }
    if (key_taken) {
        set_problem(s->out, "IDEMPOTENCY_KEY_IN_USE",
                    "a request with this Idempotency-Key is running; retry later");
    } else if (e == SHOP_ECONFLICT) {
        s->end = END_CONFLICT;
        set_problem(s->out, "ORDER_NOT_PAYABLE", "order %lld already has a payment",
                    (long long)s->order_id);
        payment_answer a = answer_now(s);
        if (idem != NULL && a.body != NULL &&
            payment_store_idem_put(s->app->db, idem, a.status, a.body) != SHOP_OK)
            log_warn(s->rid, "could not store the answer for an Idempotency-Key");
    } else {
        s->end = END_ERROR;
        set_problem(s->out, "INTERNAL", "database error");
    }
    render(s->out);
    return false;
}

void payment_saga_pay(payment_app *app, const char *rid, int64_t order_id, int64_t user_id,
                      const payment_idem *idem, payment_outcome *out)
{
    payment_step pending;
    memset(out, 0, sizeof *out);
    saga s = {
        .app = app,
        .rid = rid,
        .deadline = time_mono_ms() + app->saga_deadline_ms,
        .order_id = order_id,
        .user_id = user_id,
        .out = out,
    };
    payment_steps_init(&s.log, rid, NULL);
    if (!insert_pending(&s, idem)) {
        count_saga(&s);
        return;
    }
    /* Written with the amount (once the order checks pass), or with the run's
     * end; a payment that is forgotten leaves no steps. */
    *slot(&s) = *state_step(&s, &pending, "payment.pending", false);
    if (read_order(&s) && check_balance(&s) && debit(&s))
        finish(&s);
    flush(&s);
    render(out);
    count_saga(&s); /* before the answer is sent: a client that has it sees the count */
    log_info(rid, "payment %lld order=%lld user=%lld amount=%lld -> %d", (long long)s.payment_id,
             (long long)order_id, (long long)user_id, (long long)s.amount, out->status);
}

/* Settler, "VOIDED": no money moved. The order is cancelled (checked against
 * the payer, as the saga may never have read it), then the payment FAILED;
 * its key's answer: the cancel's 403 or 404 passed on, else 409
 * ORDER_NOT_PAYABLE (the payment did not happen; the order is cancelled or
 * cannot be paid). */
static bool settle_failed(saga *s)
{
    static const step_desc cancel = {"order.cancel", "order", false};
    http_result r;
    bool done = false;
    cancel_order(s, &cancel, s->user_id, &r);
    if (is_transient(&r)) {
        log_warn(NULL, "settler: payment %lld: cancel of order %lld not done; next round",
                 (long long)s->payment_id, (long long)s->order_id);
    } else {
        if (r.status == 403 || r.status == 404)
            set_upstream(s->out, "order", &r);
        else
            set_problem(s->out, "ORDER_NOT_PAYABLE",
                        "payment %lld was not completed; order %lld is not payable",
                        (long long)s->payment_id, (long long)s->order_id);
        done = transition(s, PAYMENT_FAILED, "payment.failed", false);
    }
    http_result_free(&r);
    return done;
}

/* 1 when the payment is still PENDING, 0 when it left, -1 when unreadable. */
static int still_pending(const saga *s)
{
    payment_row now;
    if (payment_store_get(s->app->db, s->payment_id, &now) != SHOP_OK)
        return -1;
    return now.status == PAYMENT_PENDING ? 1 : 0;
}

/* Voids the debit ref of s's payment at user-service: the answer says
 * whether money moved. Sets s->amount to the debited amount when it did. */
static payment_settle_action void_debit(saga *s)
{
    char path[64];
    http_result r = {0};
    int64_t amount = 0;
    payment_settle_action action = PAYMENT_SETTLE_RETRY;
    cJSON *body = ref_body(s, "pay", -1);
    if (body == NULL)
        return PAYMENT_SETTLE_RETRY;
    snprintf(path, sizeof path, "/users/%lld/debits/void", (long long)s->user_id);
    call(s, &DEBIT_VOID, "POST", s->app->user_url, path, body, &r);
    cJSON_Delete(body);
    if (is_success(&r))
        action = payment_settle_action_for(json_peek_string(r.json, "status"));
    else if (!is_transient(&r) && strcmp(http_result_code(&r), "USER_NOT_FOUND") == 0)
        action = PAYMENT_SETTLE_FAIL; /* no such user: no money can have moved */
    if (action == PAYMENT_SETTLE_FINISH && json_peek_int(r.json, "amount", &amount))
        s->amount = amount;
    if (action == PAYMENT_SETTLE_RETRY)
        log_warn(NULL, "settler: payment %lld: void answered %ld; next round",
                 (long long)s->payment_id, r.status);
    http_result_free(&r);
    return action;
}

bool payment_saga_settle(payment_app *app, const payment_row *p)
{
    char rid[HTTP_REQUEST_ID_LEN + 1];
    payment_outcome out;
    memset(&out, 0, sizeof out);
    http_request_id_new(rid);
    saga s = {
        .app = app,
        .rid = rid,
        .deadline = time_mono_ms() + app->call_timeout_ms * 4, /* void, pay, credit, cancel */
        .payment_id = p->id,
        .order_id = p->order_id,
        .user_id = p->user_id,
        .amount = p->amount,
        .created_at = p->created_at,
        .out = &out,
    };
    payment_steps_init(&s.log, rid, "settle.");
    bool done = false;
    /* No debit is ever made for a known amount of 0: nothing to void. */
    payment_settle_action action =
        p->amount_known && p->amount == 0 ? PAYMENT_SETTLE_FINISH : void_debit(&s);
    if (action == PAYMENT_SETTLE_FAIL) {
        done = settle_failed(&s);
    } else if (action == PAYMENT_SETTLE_FINISH) {
        finish(&s);
        done = still_pending(&s) == 0;
    }
    /* Steps not written with a state change belong to a round that settled
     * nothing: the next round repeats them, so they are not kept. */
    payment_outcome_release(&out);
    count_settle(&s);
    if (done)
        log_info(rid, "settler: payment %lld settled", (long long)p->id);
    return done;
}

bool payment_saga_settle_cancel(payment_app *app, const payment_row *p)
{
    char rid[HTTP_REQUEST_ID_LEN + 1];
    payment_outcome out;
    memset(&out, 0, sizeof out);
    http_request_id_new(rid);
    saga s = {
        .app = app,
        .rid = rid,
        .deadline = time_mono_ms() + app->call_timeout_ms,
        .payment_id = p->id,
        .order_id = p->order_id,
        .user_id = p->user_id,
        .amount = p->amount,
        .created_at = p->created_at,
        .out = &out,
    };
    payment_steps_init(&s.log, rid, "settle.");
    set_problem(&out, "INSUFFICIENT_BALANCE", "the balance was below the amount %lld",
                (long long)p->amount);
    /* A round that is not done records nothing: the next one asks again. */
    bool raced = false;
    bool done = cancel_owed(&s, &ORDER_CANCEL, &raced);
    payment_outcome_release(&out);
    metrics_count(M_RECOVERY,
                  !done   ? "action=\"cancel_owed\",result=\"retry\""
                  : raced ? "action=\"cancel_owed\",result=\"lost\""
                          : "action=\"cancel_owed\",result=\"done\"",
                  1);
    if (done)
        log_info(rid, "settler: payment %lld: order %lld cancel confirmed", (long long)p->id,
                 (long long)p->order_id);
    return done;
}

void payment_outcome_release(payment_outcome *out)
{
    if (out == NULL)
        return;
    http_result_free(&out->upstream);
    free(out->body);
    out->body = NULL;
}
