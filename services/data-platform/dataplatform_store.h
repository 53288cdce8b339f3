/* Every SQL statement of the data-platform stub: the paid orders it received,
 * one row per order id, with how many times each was delivered. */
#ifndef DATAPLATFORM_STORE_H
#define DATAPLATFORM_STORE_H

#include <stddef.h>
#include <stdint.h>

#include "db.h"
#include "problem.h"

extern const char *const dataplatform_store_migrations[];
extern const int dataplatform_store_n_migrations;

/* A received paid order. */
typedef struct dataplatform_record {
    int64_t order_id;
    int64_t payment_id;
    int64_t user_id;
    char *items; /* the items array as JSON text; malloc'd when read back */
    int64_t total_amount;
    int64_t discount_amount;
    int64_t final_amount;
    int64_t paid_at;     /* epoch seconds */
    int64_t received_at; /* first delivery, epoch seconds */
    int64_t deliveries;  /* how many times it was received */
} dataplatform_record;

/* Stores rec (its first delivery), or, when its order id was received
 * before, only counts one more delivery and stores nothing else: one atomic
 * statement. rec->items is read, not kept. OUT: *deliveries (the count after
 * this one). Returns SHOP_OK or SHOP_EDB. */
shop_err dataplatform_store_receive(db *d, const dataplatform_record *rec, int64_t now_s,
                                    int64_t *deliveries);

/* Reads the record of order_id (release it with dataplatform_record_release).
 * Returns SHOP_OK, SHOP_ENOTFOUND, SHOP_EDB or SHOP_ENOMEM. */
shop_err dataplatform_store_get(db *d, int64_t order_id, dataplatform_record *out);

/* Records with order id > after_id in id order, at most max into rows (each
 * released with dataplatform_record_release). OUT: *n. Returns SHOP_OK,
 * SHOP_EDB or SHOP_ENOMEM (then the rows read so far are in rows, *n). */
shop_err dataplatform_store_list(db *d, int64_t after_id, dataplatform_record *rows, size_t max,
                                 size_t *n);

/* Frees what r holds. Accepts NULL. */
void dataplatform_record_release(dataplatform_record *r);

#endif
