/* item-service's storage: every SQL statement of the service (schema, seed,
 * items, and per-order stock reservations with their tombstones). */
#ifndef ITEM_STORE_H
#define ITEM_STORE_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "db.h"
#include "item_logic.h"
#include "problem.h"

typedef struct item {
    int64_t id;
    char name[ITEM_NAME_MAX + 1];
    int64_t price;
    int64_t stock;
} item;

/* What one order holds: DEDUCTED with its lines, or RELEASED (given back, or a
 * tombstone with no lines when the restore came first). */
typedef struct item_reservation {
    int64_t order_id;
    bool released;
    int n_lines;
    item_line lines[ITEM_MAX_LINES]; /* item_id, quantity, unit_price */
    int64_t created_at;              /* epoch seconds */
    int64_t updated_at;
} item_reservation;

/* Opens (creating if needed) item-service's database at path and brings its
 * schema up to date. OUT: *out (release with db_close). Returns 0 or -1. */
int item_store_open(const char *path, db **out);

/* Writes the demo items (Keyboard, Mouse, Monitor, USB cable with ids 1..4)
 * when the items table is empty, in one transaction. OUT: *seeded (may be
 * NULL). Returns 0 or -1. */
int item_store_seed_if_empty(db *d, bool *seeded);

/* Inserts a new item. OUT: *out (id assigned). Returns SHOP_OK or SHOP_EDB. */
shop_err item_store_create(db *d, const item_draft *draft, item *out);

/* Reads item id. Returns SHOP_OK, SHOP_ENOTFOUND or SHOP_EDB. */
shop_err item_store_get(db *d, int64_t id, item *out);

/* Reads every item, by id. OUT: *out, a malloc'd array of *n items (free(3);
 * NULL when there are none). Returns SHOP_OK, SHOP_ENOMEM or SHOP_EDB. */
shop_err item_store_list(db *d, item **out, size_t *n);

/* Looks up each line's item (price, stock) without changing anything, and
 * tells whether all can be served (item_logic_check_stock). Fills known,
 * unit_price and stock of each line. OUT: *failed, the deciding line or -1.
 * Returns ITEM_OK, ITEM_NOT_FOUND, ITEM_OUT_OF_STOCK or ITEM_DB_ERROR. */
item_outcome item_store_check(db *d, item_line *lines, int n, int *failed);

/* Deducts the stock of every line for order_id, all or none, in one write
 * transaction: each line is a conditional `stock >= quantity` update, and the
 * reservation with its lines (at the current prices) is recorded with them.
 * A repeat for an order that holds a reservation deducts nothing and fills
 * *out with the stored one. Returns ITEM_OK (out filled), ITEM_RELEASED (the
 * order was restored first or already: nothing deducted, out filled),
 * ITEM_NOT_FOUND / ITEM_OUT_OF_STOCK (nothing deducted or recorded; *failed is
 * the deciding line, whose known/stock fields are filled) or ITEM_DB_ERROR. */
item_outcome item_store_deduct(db *d, int64_t order_id, item_line *lines, int n,
                               item_reservation *out, int *failed);

/* Gives back what order_id took, once: a DEDUCTED reservation returns its
 * quantities to stock and becomes RELEASED; a RELEASED one changes nothing;
 * with no reservation a RELEASED tombstone (no lines) is recorded so that a
 * later deduct is refused. OUT: *out (the reservation after the call),
 * *gave_back (true when this call returned stock; may be NULL). Returns
 * ITEM_OK or ITEM_DB_ERROR. */
item_outcome item_store_restore(db *d, int64_t order_id, item_reservation *out, bool *gave_back);

/* Reads order_id's reservation. Returns ITEM_OK, ITEM_NOT_FOUND (none) or
 * ITEM_DB_ERROR. */
item_outcome item_store_get_reservation(db *d, int64_t order_id, item_reservation *out);

#endif
