/* The saga log shared by order-service and payment-service: writing a row
 * of saga_steps and describing a call's result in a step (saga_log.h). */
#include "saga_log.h"

#include <time.h>

#include "log.h"

/* Binds s, or NULL when s is NULL or empty. */
static void bind_text_or_null(sqlite3_stmt *st, int idx, const char *s)
{
    db_bind_text_or_null(st, idx, s != NULL && s[0] != '\0' ? s : NULL);
}

int saga_log_insert(db_conn *w, const saga_log_row *row)
{
    static const char sql[] =
        "INSERT INTO saga_steps (order_id, payment_id, at_us, step, peer, http_status, error, "
        "duration_ms, request_id, compensation) VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10)";
    sqlite3_stmt *st = db_prepare(w, sql);
    if (st == NULL)
        return -1;
    sqlite3_bind_int64(st, 1, row->order_id);
    if (row->payment_id != NULL)
        sqlite3_bind_int64(st, 2, *row->payment_id);
    sqlite3_bind_int64(st, 3, row->at_us);
    sqlite3_bind_text(st, 4, row->step, -1, SQLITE_STATIC);
    bind_text_or_null(st, 5, row->peer);
    if (row->http_status > 0)
        sqlite3_bind_int(st, 6, row->http_status);
    bind_text_or_null(st, 7, row->error);
    sqlite3_bind_int64(st, 8, row->duration_ms);
    bind_text_or_null(st, 9, row->request_id);
    sqlite3_bind_int(st, 10, row->compensation ? 1 : 0);
    int rc = sqlite3_step(st);
    db_stmt_done(st);
    if (rc != SQLITE_DONE) {
        log_error(NULL, "saga log: step %s of order %lld not written: %s", row->step,
                  (long long)row->order_id, sqlite3_errmsg(db_handle(w)));
        return -1;
    }
    return 0;
}

int64_t saga_log_now_us(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_REALTIME, &ts);
    return (int64_t)ts.tv_sec * 1000000 + ts.tv_nsec / 1000;
}

int saga_log_call_status(const http_result *r)
{
    return r->transport == HTTP_T_OK ? (int)r->status : 0;
}

const char *saga_log_call_error(const http_result *r, bool readable)
{
    if (r->transport == HTTP_T_TIMEOUT)
        return "timeout";
    if (r->transport != HTTP_T_OK)
        return "unavailable";
    if (r->status >= 200 && r->status < 300)
        return readable ? NULL : "bad reply";
    const char *code = http_result_code(r);
    return code[0] != '\0' ? code : NULL;
}
