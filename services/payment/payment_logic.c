/* Pure rules of the payment service (see payment_logic.h). */
#include "payment_logic.h"

#include <stdio.h>
#include <string.h>

#include "json.h"
#include "timeutil.h"

static const char *const status_names[] = {
    [PAYMENT_PENDING] = "PENDING",
    [PAYMENT_COMPLETED] = "COMPLETED",
    [PAYMENT_FAILED] = "FAILED",
    [PAYMENT_REFUNDED] = "REFUNDED",
};

const char *payment_status_name(payment_status s)
{
    if ((int)s < 0 || s >= PAYMENT_STATUS_INVALID)
        return NULL;
    return status_names[s];
}

payment_status payment_status_parse(const char *name)
{
    if (name == NULL)
        return PAYMENT_STATUS_INVALID;
    for (int s = PAYMENT_PENDING; s < PAYMENT_STATUS_INVALID; s++) {
        if (strcmp(name, status_names[s]) == 0)
            return (payment_status)s;
    }
    return PAYMENT_STATUS_INVALID;
}

bool payment_transition_allowed(payment_status from, payment_status to)
{
    if (from != PAYMENT_PENDING)
        return false;
    return to == PAYMENT_COMPLETED || to == PAYMENT_FAILED || to == PAYMENT_REFUNDED;
}

bool payment_has_delivery(payment_status s)
{
    return s == PAYMENT_COMPLETED;
}

int64_t payment_outbox_backoff_ms(int64_t attempts, int64_t max_ms)
{
    if (attempts < 1)
        return 0;
    if (max_ms < 1)
        max_ms = 1;
    int64_t delay = PAYMENT_OUTBOX_FIRST_BACKOFF_MS;
    /* Doubling stops at the cap, so it never overflows however many attempts. */
    for (int64_t i = 1; i < attempts && delay < max_ms; i++)
        delay *= 2;
    return delay < max_ms ? delay : max_ms;
}

int64_t payment_call_timeout_ms(int64_t call_timeout_ms, int64_t deadline_mono_ms,
                                int64_t now_mono_ms)
{
    int64_t left = deadline_mono_ms - now_mono_ms;
    if (left <= 0)
        return 0;
    return call_timeout_ms < left ? call_timeout_ms : left;
}

int64_t payment_stale_cutoff_s(int64_t now_ms, int64_t age_ms)
{
    /* created_s is truncated: the payment was made in [created_s, created_s+1).
     * It is older than age_ms for sure when created_s + 1 <= (now - age) / 1000. */
    int64_t limit_ms = now_ms - age_ms;
    int64_t floor_s = limit_ms >= 0 ? limit_ms / 1000 : -((-limit_ms + 999) / 1000);
    return floor_s;
}

bool payment_is_stale(int64_t created_s, int64_t now_ms, int64_t age_ms)
{
    return created_s < payment_stale_cutoff_s(now_ms, age_ms);
}

payment_order_verdict payment_order_check(int64_t order_user_id, const char *order_status,
                                          int64_t user_id)
{
    if (order_user_id != user_id)
        return PAYMENT_ORDER_FORBIDDEN;
    if (order_status == NULL || strcmp(order_status, "CREATED") != 0)
        return PAYMENT_ORDER_NOT_PAYABLE;
    return PAYMENT_ORDER_OK;
}

bool payment_balance_covers(int64_t balance, int64_t amount)
{
    return balance >= 0 && amount >= 0 && balance >= amount;
}

payment_settle_action payment_settle_action_for(const char *void_status)
{
    if (void_status == NULL)
        return PAYMENT_SETTLE_RETRY;
    if (strcmp(void_status, "VOIDED") == 0)
        return PAYMENT_SETTLE_FAIL;
    if (strcmp(void_status, "DEBITED") == 0)
        return PAYMENT_SETTLE_FINISH;
    return PAYMENT_SETTLE_RETRY;
}

bool payment_ref(char *out, size_t outlen, const char *prefix, int64_t payment_id)
{
    if (out == NULL || outlen == 0 || prefix == NULL || payment_id < 1)
        return false;
    int n = snprintf(out, outlen, "%s-%lld", prefix, (long long)payment_id);
    return n > 0 && (size_t)n < outlen;
}

/* The delivery object of p, or JSON null when it has no outbox row. */
static cJSON *render_delivery(const payment_row *p)
{
    if (!p->has_delivery)
        return cJSON_CreateNull();
    cJSON *d = cJSON_CreateObject();
    char at[TIME_RFC3339_LEN];
    if (d == NULL ||
        cJSON_AddStringToObject(d, "status", p->delivered ? "DELIVERED" : "PENDING") == NULL ||
        !json_add_int(d, "attempts", p->attempts))
        goto fail;
    if (p->delivered) {
        time_format_rfc3339(p->delivered_at, at);
        if (cJSON_AddStringToObject(d, "deliveredAt", at) == NULL)
            goto fail;
    } else if (cJSON_AddNullToObject(d, "deliveredAt") == NULL) {
        goto fail;
    }
    return d;
fail:
    cJSON_Delete(d);
    return NULL;
}

cJSON *payment_render(const payment_row *p)
{
    char created[TIME_RFC3339_LEN];
    const char *status = payment_status_name(p->status);
    cJSON *o = cJSON_CreateObject();
    time_format_rfc3339(p->created_at, created);
    if (o == NULL || !json_add_int(o, "id", p->id) || !json_add_int(o, "orderId", p->order_id) ||
        !json_add_int(o, "userId", p->user_id) || !json_add_int(o, "amount", p->amount) ||
        cJSON_AddStringToObject(o, "status", status != NULL ? status : "UNKNOWN") == NULL ||
        cJSON_AddStringToObject(o, "createdAt", created) == NULL)
        goto fail;
    cJSON *delivery = render_delivery(p);
    if (delivery == NULL || !cJSON_AddItemToObject(o, "delivery", delivery)) {
        cJSON_Delete(delivery);
        goto fail;
    }
    return o;
fail:
    cJSON_Delete(o);
    return NULL;
}

/* ---- the saga log ------------------------------------------------------- */

void payment_steps_init(payment_steps *log, const char *request_id, const char *prefix)
{
    log->request_id = request_id;
    log->prefix = prefix;
    log->n = 0;
}

void payment_step_set(payment_step *st, const payment_steps *log, int64_t payment_id,
                      int64_t order_id, int64_t at_us, const char *prefix, const char *name,
                      const char *peer, int http_status, const char *error, int64_t duration_ms,
                      bool compensation)
{
    memset(st, 0, sizeof *st);
    st->at_us = at_us;
    st->payment_id = payment_id;
    st->order_id = order_id;
    snprintf(st->step, sizeof st->step, "%s%s", prefix != NULL ? prefix : "", name);
    snprintf(st->peer, sizeof st->peer, "%s", peer != NULL ? peer : "");
    st->http_status = http_status;
    snprintf(st->error, sizeof st->error, "%s", error != NULL ? error : "");
    st->duration_ms = duration_ms > 0 ? duration_ms : 0;
    snprintf(st->request_id, sizeof st->request_id, "%s",
             log != NULL && log->request_id != NULL ? log->request_id : "");
    st->compensation = compensation;
}

payment_step *payment_steps_next(payment_steps *log)
{
    if (log->n >= PAYMENT_STEPS_MAX)
        return NULL;
    return &log->items[log->n++];
}

void payment_step_format_at(int64_t at_us, char *out)
{
    char whole[TIME_RFC3339_LEN];
    if (at_us < 0)
        at_us = 0;
    time_format_rfc3339(at_us / 1000000, whole);
    snprintf(out, PAYMENT_STEP_AT_LEN, "%.19s.%06dZ", whole, (int)(at_us % 1000000));
}

/* Adds name: the string s, or null when s is empty. */
static bool add_str_or_null(cJSON *obj, const char *name, const char *s)
{
    return (s[0] != '\0' ? cJSON_AddStringToObject(obj, name, s)
                         : cJSON_AddNullToObject(obj, name)) != NULL;
}

cJSON *payment_step_render(const payment_step *st)
{
    char at[PAYMENT_STEP_AT_LEN];
    cJSON *obj = cJSON_CreateObject();
    payment_step_format_at(st->at_us, at);
    if (obj == NULL || cJSON_AddStringToObject(obj, "at", at) == NULL ||
        cJSON_AddStringToObject(obj, "service", "payment") == NULL ||
        cJSON_AddStringToObject(obj, "step", st->step) == NULL ||
        !add_str_or_null(obj, "peer", st->peer) ||
        !json_add_id_or_null(obj, "httpStatus", st->http_status) ||
        !add_str_or_null(obj, "error", st->error) ||
        !json_add_int(obj, "durationMs", st->duration_ms) ||
        !add_str_or_null(obj, "requestId", st->request_id) ||
        cJSON_AddBoolToObject(obj, "compensation", st->compensation) == NULL ||
        !json_add_id_or_null(obj, "paymentId", st->payment_id)) {
        cJSON_Delete(obj);
        return NULL;
    }
    return obj;
}

bool payment_outbox_attempt_logged(int64_t attempts)
{
    return attempts >= 1 && (attempts & (attempts - 1)) == 0;
}
