/* Every SQL statement of the coupon service: coupons, the user coupons issued
 * from them, the tombstones of released orders, and the schema and purge of
 * the stored answers of Idempotency-Key requests (common/idempotency.h).
 * Each action is one conditional write transaction, so concurrent requests
 * can never over-issue or double-use. */
#ifndef SHOP_COUPON_STORE_H
#define SHOP_COUPON_STORE_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "coupon_logic.h"
#include "db.h"
#include "problem.h"

/* Migrations for db_open: coupon_migrations[i] takes user_version i to i+1. */
extern const char *const coupon_migrations[];
extern const int coupon_n_migrations;

/* Opens (creating and migrating) the coupon database at path. OUT: *out,
 * closed with db_close. Returns 0, or -1 after logging why. */
int coupon_store_open(const char *path, db **out);

/* True when no coupon exists yet (an empty DB gets the seed). */
bool coupon_store_is_empty(db *d);

/* Writes the seed data of /tmp/seed.md (coupons 1..3, user coupons 1 and 2)
 * in one transaction. Returns SHOP_OK or SHOP_EDB. */
shop_err coupon_store_seed(db *d);

/* Inserts coupon c (its id and issued_quantity are ignored) and sets c->id,
 * c->issued_quantity = 0. Returns SHOP_OK or SHOP_EDB. */
shop_err coupon_store_create(db *d, coupon *c);

/* Reads coupon id into *out. Returns COUPON_OK, COUPON_NOT_FOUND or
 * COUPON_DB_ERROR. */
coupon_outcome coupon_store_get(db *d, int64_t id, coupon *out);

/* Issues coupon coupon_id to user_id at time now inside the write transaction
 * the caller holds on c (db_begin_write). Returns COUPON_OK (and *out), or
 * COUPON_NOT_FOUND, COUPON_EXPIRED, COUPON_ALREADY_ISSUED (UNIQUE(coupon_id,
 * user_id)), COUPON_SOLD_OUT (the conditional issued_quantity <
 * total_quantity update found none left) or COUPON_DB_ERROR. Anything but
 * COUPON_OK leaves the database as it was, so the caller may still commit
 * (to keep an idempotency record) or roll back. */
coupon_outcome coupon_store_issue_tx(db_conn *c, int64_t coupon_id, int64_t user_id, int64_t now,
                                     coupon_user_coupon *out);

/* coupon_store_issue_tx in its own transaction. */
coupon_outcome coupon_store_issue(db *d, int64_t coupon_id, int64_t user_id, int64_t now,
                                  coupon_user_coupon *out);

/* Reads user coupon id (with its coupon's terms) into *out. Returns
 * COUPON_OK, COUPON_NOT_FOUND or COUPON_DB_ERROR. */
coupon_outcome coupon_store_get_user_coupon(db *d, int64_t id, coupon_user_coupon *out);

/* Which user coupons coupon_store_list returns, in id order. */
typedef struct coupon_list_query {
    int64_t user_id;  /* 0: every user */
    int used;         /* -1: any; 0: unused only; 1: used only */
    int64_t after_id; /* ids above this one */
    int64_t limit;    /* at most this many; -1: no limit */
} coupon_list_query;

/* The user coupons q selects. OUT: *out (malloc'd array the caller frees with
 * free(3); NULL when *n is 0) and *n. Returns SHOP_OK, SHOP_EDB or
 * SHOP_ENOMEM. */
shop_err coupon_store_list(db *d, const coupon_list_query *q, coupon_user_coupon **out, size_t *n);

/* Uses user coupon uc_id for order_id on behalf of user_id at time now: one
 * write transaction, conditional on is_used = 0, the owner and expiry. A
 * repeat for the same order and user answers COUPON_OK again and changes
 * nothing. Returns COUPON_OK (and *out, now used), COUPON_ORDER_RELEASED (the
 * order was restored before: tombstone), COUPON_NOT_FOUND, COUPON_NOT_OWNER,
 * COUPON_USED, COUPON_EXPIRED or COUPON_DB_ERROR. */
coupon_outcome coupon_store_use(db *d, int64_t uc_id, int64_t order_id, int64_t user_id,
                                int64_t now, coupon_user_coupon *out);

/* Releases whatever order_id used: its user coupon (if any) is unused again,
 * and a tombstone for the order is left so a later use for it is refused.
 * A repeat changes nothing. OUT: *n_restored, how many user coupons this call
 * set unused (0 or 1). Returns SHOP_OK or SHOP_EDB. */
shop_err coupon_store_restore(db *d, int64_t order_id, int64_t now, int *n_restored);

/* Deletes stored Idempotency-Key answers older than IDEM_KEEP_SECONDS at
 * now (epoch seconds). Returns SHOP_OK or SHOP_EDB. */
shop_err coupon_store_idem_purge(db *d, int64_t now);

#endif
