/* Every SQL statement of the user service: users with their balance, the
 * ledger of balance changes (each written in the same transaction as the
 * change it records) and, through common/idempotency.h, the stored answers of
 * keyed charges. */
#ifndef USER_STORE_H
#define USER_STORE_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "db.h"
#include "idempotency.h"
#include "user_logic.h"

/* Migrations for db_open: user_migrations[i] takes user_version i to i+1. */
extern const char *const user_migrations[];
extern const int user_n_migrations;

/* What a store action came to. */
typedef enum user_result {
    USER_OK = 0,
    USER_NOT_FOUND,    /* no such user */
    USER_INSUFFICIENT, /* debit: balance < amount; nothing recorded */
    USER_LIMIT,        /* the balance would pass its cap; nothing changed */
    USER_VOIDED,       /* debit: this ref was voided first */
    USER_REF_REUSED,   /* ref used with another user, amount or kind */
    USER_KEY_REUSED,   /* Idempotency-Key refused: see user_answer.refusal */
    USER_DB_ERROR,     /* SQLite failed; logged, nothing changed */
} user_result;

typedef struct user_rec {
    int64_t id;
    char name[USER_NAME_MAX + 1];
    int64_t balance;
    int64_t initial_balance;
    int64_t created_at; /* epoch seconds */
} user_rec;

#define USER_LEDGER_REF_LEN 288 /* "#charge:<epoch>:" + a 255-byte key, and then some */

typedef struct user_ledger_rec {
    int64_t id;
    bool has_ref;
    char ref[USER_LEDGER_REF_LEN];
    int64_t user_id;
    char kind[8]; /* CHARGE, DEBIT, CREDIT, VOID */
    int64_t amount;
    int64_t balance_after;
    int64_t created_at;
} user_ledger_rec;

/* The result of a debit or credit. On USER_OK, balance is the balance right
 * after the keyed change (the stored one when replayed). On USER_LIMIT or
 * USER_INSUFFICIENT, balance is the current balance. On USER_REF_REUSED and
 * USER_VOIDED, prior is the ledger row that holds the ref. */
typedef struct user_move {
    bool replayed;
    int64_t balance;
    user_ledger_rec prior;
} user_move;

/* The result of a void: debited (that debit happened, amount is its amount)
 * or not (then a VOID tombstone holds the ref and amount is 0). */
typedef struct user_void {
    bool debited;
    int64_t amount;
    user_ledger_rec prior; /* on USER_REF_REUSED */
} user_void;

/* A charge's outcome, handed to the renderer. balance: after the charge on
 * USER_OK, the current one on USER_LIMIT. */
typedef struct user_charge_outcome {
    user_result res;
    int64_t user_id;
    int64_t amount;
    int64_t balance;
} user_charge_outcome;

/* Renders the answer to a charge outcome: sets *status and returns a malloc'd
 * NUL-terminated body (the store frees it through user_answer_release), or
 * NULL when out of memory. */
typedef char *(*user_charge_render)(const user_charge_outcome *o, int *status);

/* An Idempotency-Key and the request it is bound to (idem_request_text:
 * path and body). */
typedef struct user_idem {
    const char *key;
    const char *fingerprint;
} user_idem;

/* The answer to send: status and body (malloc'd; release with
 * user_answer_release). replayed: a stored answer to an earlier request
 * (send it with idem_reply). On USER_KEY_REUSED, refusal says why the key was
 * refused (IDEM_MISMATCH: 422, IDEM_IN_PROGRESS: 409, which status holds) and
 * body is NULL: answer with idem_reply_refusal. */
typedef struct user_answer {
    int status;
    char *body;
    bool replayed;
    idem_outcome refusal;
} user_answer;

/* Frees a->body. Accepts a zeroed answer. */
void user_answer_release(user_answer *a);

/* Seeds the demo users (seed.md) when the users table is empty. Returns 0 or
 * -1 after logging. */
int user_store_seed(db *d);

/* Creates a user with initial_balance = balance. OUT: *out. Returns USER_OK
 * or USER_DB_ERROR. */
user_result user_store_create(db *d, const char *name, int64_t balance, user_rec *out);

/* Reads user id. Returns USER_OK, USER_NOT_FOUND or USER_DB_ERROR. */
user_result user_store_get(db *d, int64_t id, user_rec *out);

/* Adds amount to the user's balance unless it would pass
 * USER_BALANCE_LIMIT, writing a CHARGE ledger row in the same transaction.
 * With idem, the key is looked up first in that transaction (idem_lookup on
 * the writer): a repeat with the same fingerprint gets the stored answer back
 * with out->replayed and changes nothing; another fingerprint is refused
 * (USER_KEY_REUSED, out->refusal, nothing stored). A new key gets the answer
 * rendered by render stored under it (idem_store) in the same transaction:
 * answers to USER_OK, USER_NOT_FOUND and USER_LIMIT. OUT: *out, the answer to
 * send (release it). Returns the outcome; a replay returns USER_OK whatever
 * it replays; USER_DB_ERROR: nothing changed and out is empty (the caller
 * answers 500, which is not stored). */
user_result user_store_charge(db *d, int64_t user_id, int64_t amount, const user_idem *idem,
                              user_charge_render render, user_answer *out);

/* Stores the answer status/body (a 4xx with no effect behind it, e.g. a 400
 * for a bad body) under idem, looked up first in the same transaction.
 * Returns USER_OK with out->replayed (send out) or not (stored: send your
 * own answer; out is empty), USER_KEY_REUSED (out->refusal) or
 * USER_DB_ERROR. */
user_result user_store_keep_answer(db *d, const user_idem *idem, int status, const char *body,
                                   user_answer *out);

/* Deletes stored charge answers older than IDEM_KEEP_SECONDS at now (epoch
 * seconds). Returns USER_OK or USER_DB_ERROR. */
user_result user_store_idem_purge(db *d, int64_t now);

/* Debits amount when balance >= amount, keyed by ref: a repeat with the same
 * user, amount and kind answers as the first did and debits nothing.
 * Returns USER_OK, USER_NOT_FOUND, USER_INSUFFICIENT (nothing recorded),
 * USER_VOIDED, USER_REF_REUSED or USER_DB_ERROR. OUT: *out. */
user_result user_store_debit(db *d, int64_t user_id, const char *ref, int64_t amount,
                             user_move *out);

/* Credits amount, keyed by ref like user_store_debit; bound only by
 * USER_BALANCE_MAX (USER_LIMIT past it), not by USER_BALANCE_LIMIT. */
user_result user_store_credit(db *d, int64_t user_id, const char *ref, int64_t amount,
                              user_move *out);

/* Tells whether the debit keyed by ref happened; when it did not, leaves a
 * VOID tombstone so that a later debit with ref is refused. Returns USER_OK,
 * USER_NOT_FOUND, USER_REF_REUSED (ref held by another user or kind) or
 * USER_DB_ERROR. OUT: *out. */
user_result user_store_void(db *d, int64_t user_id, const char *ref, user_void *out);

/* One page of users with id > after_id (only user_id when user_id > 0), at
 * most limit. OUT: *items (malloc'd array, free(3); NULL when empty), *n,
 * *more (rows remain after this page). */
user_result user_store_list(db *d, int64_t user_id, int64_t after_id, int limit, user_rec **items,
                            size_t *n, bool *more);

/* One page of user_id's ledger rows with id > after_id, oldest first.
 * Returns USER_NOT_FOUND for an unknown user. OUT as user_store_list. */
user_result user_store_ledger(db *d, int64_t user_id, int64_t after_id, int limit,
                              user_ledger_rec **items, size_t *n, bool *more);

#endif
