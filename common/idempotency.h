/* Idempotency-Key support (API.md "Retries"): the stored-answer table that a
 * service writes in the same transaction as the effect the key protects.
 *
 * Single-step effects (a charge, a coupon issue): inside one write
 * transaction, idem_lookup; on IDEM_NEW do the effect, render the answer and
 * idem_store it; commit; send. Multi-step sagas (orders, payments):
 * idem_reserve the key IN_PROGRESS with the id of the saga's row in the
 * transaction that inserts that row, idem_finish_ref in the transaction
 * that writes the final state, idem_forget_ref when a 5xx left nothing behind.
 *
 * A key is scoped by route (e.g. "POST /orders"); the request it answered is
 * kept whole (path and body), so a different path or body under the same key
 * is IDEMPOTENCY_KEY_REUSED. Rows are kept at least 24 hours. */
#ifndef SHOP_IDEMPOTENCY_H
#define SHOP_IDEMPOTENCY_H

#include <stdbool.h>
#include <stdint.h>

#include "db.h"

struct http_req;

/* The table; add it to a service's migrations. */
#define IDEM_SCHEMA                                                                            \
    "CREATE TABLE idempotency_keys(scope TEXT NOT NULL, key TEXT NOT NULL,"                   \
    " request TEXT NOT NULL, state TEXT NOT NULL CHECK(state IN ('IN_PROGRESS','DONE')),"     \
    " status INTEGER, body TEXT, ref INTEGER, created_at INTEGER NOT NULL,"                   \
    " PRIMARY KEY(scope, key));"                                                                \
    "CREATE INDEX idempotency_keys_ref ON idempotency_keys(scope, ref);"                       \
    "CREATE INDEX idempotency_keys_age ON idempotency_keys(created_at);"

#define IDEM_KEEP_SECONDS (24 * 3600)

typedef enum idem_outcome {
    IDEM_NEW,         /* not seen: do the work */
    IDEM_REPLAY,      /* seen with this request and answered: send out->status/body */
    IDEM_MISMATCH,    /* seen with another path or body: 422 */
    IDEM_IN_PROGRESS, /* seen, the first request has not been answered yet: 409 */
    IDEM_ERROR,       /* SQLite failed: 500 */
} idem_outcome;

typedef struct idem_record {
    int status;
    char *body; /* malloc'd; free with idem_record_free */
    int64_t ref;
} idem_record;

/* An Idempotency-Key and the request text it is bound to (idem_request_text:
 * path and body). The strings are the caller's. */
typedef struct idem_req {
    const char *key;
    const char *request;
} idem_req;

/* True when key is 1..255 printable ASCII characters (0x20..0x7E). */
bool idem_key_valid(const char *key);

/* Reads the Idempotency-Key header of req. Returns true with *key NULL when
 * there is none, true with *key set when it is valid, and false after
 * answering 400 INVALID_REQUEST itself when it is not. */
bool idem_key_from_request(struct http_req *req, const char **key);

/* The request text a key is bound to: "<path>\n<body>" (malloc'd). */
char *idem_request_text(const struct http_req *req);

/* Looks up (scope, key) on c (the writer inside a transaction, so the answer
 * cannot change before the effect commits). OUT: *out for IDEM_REPLAY and
 * IDEM_IN_PROGRESS (ref), to be freed with idem_record_free. */
idem_outcome idem_lookup(db_conn *c, const char *scope, const char *key, const char *request,
                         idem_record *out);

/* Stores a finished answer for (scope, key). Returns 0 or -1. */
int idem_store(db_conn *w, const char *scope, const char *key, const char *request, int status,
               const char *body);

/* Binds (scope, key) IN_PROGRESS to the saga row ref. Returns 0 or -1. */
int idem_reserve(db_conn *w, const char *scope, const char *key, const char *request, int64_t ref);

/* Stores the answer of the saga row ref, if a key is bound to it. Returns 0 or -1. */
int idem_finish_ref(db_conn *w, const char *scope, int64_t ref, int status, const char *body);

/* Deletes the key bound to ref while it is still IN_PROGRESS (a 5xx whose
 * effects were undone); a stored answer stays. Returns 0 or -1. */
int idem_forget_ref(db_conn *w, const char *scope, int64_t ref);

/* Deletes finished keys older than IDEM_KEEP_SECONDS. Returns 0 or -1. */
int idem_purge(db_conn *w, int64_t now_s);

void idem_record_free(idem_record *r);

/* idem_lookup of k on this thread's read connection of d (outside any write
 * transaction: a first look before the work starts). OUT: *out as
 * idem_lookup fills it (zeroed first; free with idem_record_free). Returns
 * the outcome, IDEM_ERROR also when there is no read connection. */
idem_outcome idem_lookup_reader(db *d, const char *scope, const idem_req *k, idem_record *out);

/* Stores an answer that no saga row stands behind (a 4xx given before one
 * existed) under k, in a write transaction of its own; a key stored
 * meanwhile keeps its first answer. Returns 0, or -1 (nothing stored). */
int idem_put_answer(db *d, const char *scope, const idem_req *k, int status, const char *body);

/* idem_purge in a write transaction of its own. Returns 0, or -1 after
 * logging why. */
int idem_purge_expired(db *d, int64_t now_s);

/* The start of a keyed route: reads req's Idempotency-Key and looks it up
 * in scope (idem_lookup_reader). Returns 0 to go on: *buf is the key and its
 * request text (buf->request malloc'd, the caller frees it) and *idem (may
 * be NULL) points at buf, or buf->key and *idem are NULL when there is no
 * key. Else returns the status of the answer it sent (a bad key: 400; the
 * stored answer again; or idem_reply_refusal's), with nothing left to free. */
int idem_check_request(struct http_req *req, db *d, const char *scope, idem_req *buf,
                       const idem_req **idem);

/* Answers a stored reply again, with Idempotent-Replayed: true. */
int idem_reply(struct http_req *req, const idem_record *r);

/* Answers an outcome that is not IDEM_NEW or IDEM_REPLAY (422, 409, 500). */
int idem_reply_refusal(struct http_req *req, idem_outcome outcome);

#endif
