/* Idempotency-Key support: the stored-answer table. */
#include "idempotency.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "http_server.h"
#include "log.h"
#include "timeutil.h"

bool idem_key_valid(const char *key)
{
    size_t n = 0;
    for (; key[n] != '\0'; n++)
        if ((unsigned char)key[n] < 0x20 || (unsigned char)key[n] > 0x7E)
            return false;
    return n >= 1 && n <= 255;
}

bool idem_key_from_request(http_req *req, const char **key)
{
    *key = http_header(req, "Idempotency-Key");
    if (*key == NULL || idem_key_valid(*key))
        return true;
    http_reply_problem(req, "INVALID_REQUEST",
                       "Idempotency-Key: must be 1..255 printable ASCII characters");
    return false;
}

char *idem_request_text(const http_req *req)
{
    size_t len = strlen(req->path) + 1 + req->body_len + 1;
    char *text = malloc(len);
    if (text != NULL) {
        memcpy(text, req->path, strlen(req->path));
        text[strlen(req->path)] = '\n';
        memcpy(text + strlen(req->path) + 1, req->body, req->body_len);
        text[len - 1] = '\0';
    }
    return text;
}

idem_outcome idem_lookup(db_conn *c, const char *scope, const char *key, const char *request,
                         idem_record *out)
{
    static const char sql[] = "SELECT request, state, status, body, ref FROM idempotency_keys"
                              " WHERE scope = ?1 AND key = ?2";
    memset(out, 0, sizeof *out);
    sqlite3_stmt *st = db_prepare(c, sql);
    if (st == NULL)
        return IDEM_ERROR;
    idem_outcome outcome = IDEM_ERROR;
    sqlite3_bind_text(st, 1, scope, -1, SQLITE_STATIC);
    sqlite3_bind_text(st, 2, key, -1, SQLITE_STATIC);
    int rc = sqlite3_step(st);
    if (rc == SQLITE_DONE) {
        outcome = IDEM_NEW;
    } else if (rc == SQLITE_ROW) {
        out->ref = sqlite3_column_int64(st, 4);
        if (strcmp(db_column_text(st, 0), request) != 0) {
            outcome = IDEM_MISMATCH;
        } else if (strcmp(db_column_text(st, 1), "DONE") != 0) {
            outcome = IDEM_IN_PROGRESS;
        } else {
            out->status = sqlite3_column_int(st, 2);
            out->body = strdup(db_column_text(st, 3));
            outcome = out->body != NULL ? IDEM_REPLAY : IDEM_ERROR;
        }
    }
    db_stmt_done(st);
    return outcome;
}

static int step_done(sqlite3_stmt *st)
{
    int rc = sqlite3_step(st) == SQLITE_DONE ? 0 : -1;
    db_stmt_done(st);
    return rc;
}

int idem_store(db_conn *w, const char *scope, const char *key, const char *request, int status,
               const char *body)
{
    static const char sql[] = "INSERT INTO idempotency_keys(scope, key, request, state, status,"
                              " body, created_at) VALUES (?1, ?2, ?3, 'DONE', ?4, ?5, ?6)";
    sqlite3_stmt *st = db_prepare(w, sql);
    if (st == NULL)
        return -1;
    sqlite3_bind_text(st, 1, scope, -1, SQLITE_STATIC);
    sqlite3_bind_text(st, 2, key, -1, SQLITE_STATIC);
    sqlite3_bind_text(st, 3, request, -1, SQLITE_STATIC);
    sqlite3_bind_int(st, 4, status);
    sqlite3_bind_text(st, 5, body, -1, SQLITE_STATIC);
    sqlite3_bind_int64(st, 6, time_now_ms() / 1000);
    return step_done(st);
}

int idem_reserve(db_conn *w, const char *scope, const char *key, const char *request, int64_t ref)
{
    static const char sql[] = "INSERT INTO idempotency_keys(scope, key, request, state, ref,"
                              " created_at) VALUES (?1, ?2, ?3, 'IN_PROGRESS', ?4, ?5)";
    sqlite3_stmt *st = db_prepare(w, sql);
    if (st == NULL)
        return -1;
    sqlite3_bind_text(st, 1, scope, -1, SQLITE_STATIC);
    sqlite3_bind_text(st, 2, key, -1, SQLITE_STATIC);
    sqlite3_bind_text(st, 3, request, -1, SQLITE_STATIC);
    sqlite3_bind_int64(st, 4, ref);
    sqlite3_bind_int64(st, 5, time_now_ms() / 1000);
    return step_done(st);
}

int idem_finish_ref(db_conn *w, const char *scope, int64_t ref, int status, const char *body)
{
    static const char sql[] = "UPDATE idempotency_keys SET state = 'DONE', status = ?3, body = ?4"
                              " WHERE scope = ?1 AND ref = ?2";
    sqlite3_stmt *st = db_prepare(w, sql);
    if (st == NULL)
        return -1;
    sqlite3_bind_text(st, 1, scope, -1, SQLITE_STATIC);
    sqlite3_bind_int64(st, 2, ref);
    sqlite3_bind_int(st, 3, status);
    sqlite3_bind_text(st, 4, body, -1, SQLITE_STATIC);
    return step_done(st);
}

int idem_forget_ref(db_conn *w, const char *scope, int64_t ref)
{
    static const char sql[] = "DELETE FROM idempotency_keys"
                              " WHERE scope = ?1 AND ref = ?2 AND state = 'IN_PROGRESS'";
    sqlite3_stmt *st = db_prepare(w, sql);
    if (st == NULL)
        return -1;
    sqlite3_bind_text(st, 1, scope, -1, SQLITE_STATIC);
    sqlite3_bind_int64(st, 2, ref);
    return step_done(st);
}

int idem_purge(db_conn *w, int64_t now_s)
{
    static const char sql[] = "DELETE FROM idempotency_keys WHERE state = 'DONE' AND created_at < ?1";
    sqlite3_stmt *st = db_prepare(w, sql);
    if (st == NULL)
        return -1;
    sqlite3_bind_int64(st, 1, now_s - IDEM_KEEP_SECONDS);
    return step_done(st);
}

idem_outcome idem_lookup_reader(db *d, const char *scope, const idem_req *k, idem_record *out)
{
    memset(out, 0, sizeof *out);
    db_conn *c = db_reader(d);
    if (c == NULL)
        return IDEM_ERROR;
    idem_outcome result = idem_lookup(c, scope, k->key, k->request, out);
    db_reader_done(d, c);
    return result;
}

int idem_put_answer(db *d, const char *scope, const idem_req *k, int status, const char *body)
{
    int rc = -1;
    idem_record rec;
    db_conn *w = db_begin_write(d);
    if (w == NULL)
        return -1;
    idem_outcome outcome = idem_lookup(w, scope, k->key, k->request, &rec);
    idem_record_free(&rec);
    if (outcome == IDEM_NEW)
        rc = idem_store(w, scope, k->key, k->request, status, body);
    else if (outcome != IDEM_ERROR)
        rc = 0; /* stored meanwhile: the first answer stands */
    if (rc != 0) {
        db_rollback(d, w);
        return -1;
    }
    return db_commit(d, w) == 0 ? 0 : -1;
}

int idem_purge_expired(db *d, int64_t now_s)
{
    db_conn *w = db_begin_write(d);
    if (w == NULL)
        return -1;
    if (idem_purge(w, now_s) != 0) {
        log_error(NULL, "purge idempotency keys: %s", sqlite3_errmsg(db_handle(w)));
        db_rollback(d, w);
        return -1;
    }
    return db_commit(d, w) == 0 ? 0 : -1;
}

int idem_check_request(http_req *req, db *d, const char *scope, idem_req *buf,
                       const idem_req **idem)
{
    idem_record rec;
    const char *key;
    const idem_req *unused;
    if (idem == NULL)
        idem = &unused;
    *idem = NULL;
    buf->key = NULL;
    buf->request = NULL;
    if (!idem_key_from_request(req, &key))
        return req->status;
    if (key == NULL)
        return 0;
    char *request = idem_request_text(req);
    if (request == NULL)
        return http_reply_problem(req, "INTERNAL", "out of memory");
    buf->key = key;
    buf->request = request;
    idem_outcome outcome = idem_lookup_reader(d, scope, buf, &rec);
    if (outcome == IDEM_NEW) {
        *idem = buf;
        return 0;
    }
    int status = outcome == IDEM_REPLAY ? idem_reply(req, &rec) : idem_reply_refusal(req, outcome);
    idem_record_free(&rec);
    free(request);
    buf->key = NULL;
    buf->request = NULL;
    return status;
}

void idem_record_free(idem_record *r)
{
    if (r == NULL)
        return;
    free(r->body);
    r->body = NULL;
}

int idem_reply(http_req *req, const idem_record *r)
{
    http_add_header(req, "Idempotent-Replayed", "true");
    const char *type = r->status >= 400 ? "application/problem+json" : "application/json";
    return http_reply_raw(req, r->status, type, r->body, strlen(r->body));
}

int idem_reply_refusal(http_req *req, idem_outcome outcome)
{
    switch (outcome) {
    case IDEM_MISMATCH:
        return http_reply_problem(req, "IDEMPOTENCY_KEY_REUSED",
                                  "this Idempotency-Key was used with another request");
    case IDEM_IN_PROGRESS:
        return http_reply_problem(req, "IDEMPOTENCY_KEY_IN_USE",
                                  "the first request with this Idempotency-Key is still running");
    default:
        log_error(req->request_id, "idempotency: lookup failed");
        return http_reply_problem(req, "INTERNAL", "idempotency store failed");
    }
}
