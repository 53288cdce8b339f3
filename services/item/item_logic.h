/* item-service's pure rules: reading and validating the request bodies (the
 * lines of a stock check or reservation, a new item) and deciding whether a
 * set of lines can be served from the stock that is left. No I/O. */
#ifndef ITEM_LOGIC_H
#define ITEM_LOGIC_H

#include <stdbool.h>
#include <stdint.h>

#include <cjson/cJSON.h>

#include "json.h"

#define ITEM_MAX_LINES 50
#define ITEM_MAX_QUANTITY 1000
#define ITEM_NAME_MAX 200
#define ITEM_PRICE_MAX 1000000000LL
#define ITEM_STOCK_MAX 1000000000LL

/* How a stock operation ended. */
typedef enum item_outcome {
    ITEM_OK = 0,
    ITEM_NOT_FOUND,    /* a line names an unknown item (or: no such reservation) */
    ITEM_OUT_OF_STOCK, /* a line asks for more than is left */
    ITEM_RELEASED,     /* the order's reservation was released: a deduct is refused */
    ITEM_DB_ERROR,     /* SQLite failed; nothing changed */
} item_outcome;

/* One line of a check or a reservation. item_id and quantity come from the
 * request; the store fills in the rest. */
typedef struct item_line {
    int64_t item_id;
    int64_t quantity;
    int64_t unit_price; /* the item's price when looked up or reserved */
    int64_t stock;      /* stock left when looked up */
    bool known;         /* the item exists */
} item_line;

/* A new item as asked for by POST /items; name points into the request JSON. */
typedef struct item_draft {
    const char *name;
    int64_t price;
    int64_t stock;
} item_draft;

/* Reads member "items" of body: 1..ITEM_MAX_LINES objects
 * {"itemId": 1..JSON_INT_MAX, "quantity": 1..ITEM_MAX_QUANTITY} with distinct
 * itemIds, into lines (room for ITEM_MAX_LINES). OUT: *n_lines. Returns false
 * with err naming the field ("items[2].quantity: ...") otherwise. */
bool item_logic_parse_lines(const cJSON *body, item_line *lines, int *n_lines, json_err *err);

/* Reads a new item {"name": 1..200 bytes, "price": 0..1e9, "stock": 0..1e9}.
 * Returns false with err naming the field otherwise. */
bool item_logic_parse_draft(const cJSON *body, item_draft *out, json_err *err);

/* The index of the first line whose itemId already appeared on an earlier
 * line, or -1 when all are distinct. */
int item_logic_find_duplicate(const item_line *lines, int n);

/* Decides whether looked-up lines can be served: ITEM_NOT_FOUND for the first
 * line with an unknown item, else ITEM_OUT_OF_STOCK for the first line asking
 * more than its stock, else ITEM_OK. An unknown item wins over a short one
 * wherever it stands. OUT: *failed, the index of the deciding line (-1 when
 * ITEM_OK). */
item_outcome item_logic_check_stock(const item_line *lines, int n, int *failed);

#endif
