/* The order service's pure rules: order statuses and the transitions between
 * them, validation of an order's lines, the amounts (total, discount, final)
 * and the Order JSON. No HTTP, no SQLite: unit tests call these directly. */
#ifndef ORDER_LOGIC_H
#define ORDER_LOGIC_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include <cjson/cJSON.h>

#include "json.h"

#define ORDER_MAX_LINES 50
#define ORDER_MAX_QUANTITY 1000
#define ORDER_ID_MAX 999999999999999LL
#define ORDER_PRICE_MAX 1000000000LL
#define ORDER_PERCENT_MAX 100

typedef enum order_status {
    ORDER_PENDING = 0, /* creation saga running */
    ORDER_CREATED,     /* awaiting payment */
    ORDER_PAID,        /* final */
    ORDER_CANCELLING,  /* compensation under way */
    ORDER_CANCELLED,   /* final */
    ORDER_FAILED,      /* final: creation undone */
} order_status;

#define ORDER_N_STATUS 6

/* One line of an order. unit_price is 0 until the reservation priced it. */
typedef struct order_line {
    int64_t item_id;
    int64_t quantity;
    int64_t unit_price;
} order_line;

/* An order as stored. Ids that are absent (user coupon, payment) are 0. */
typedef struct order_rec {
    int64_t id;
    int64_t user_id;
    order_status status;
    int64_t user_coupon_id;
    int64_t total_amount;
    int64_t discount_amount;
    int64_t final_amount;
    int64_t payment_id;
    int64_t created_at; /* epoch seconds */
    int64_t updated_at; /* epoch seconds */
    bool undoing;       /* PENDING claimed by recovery to undo (internal, never shown) */
    size_t n_lines;
    order_line lines[ORDER_MAX_LINES];
} order_rec;

/* What POST /orders asks for, validated. user_coupon_id is 0 when none. */
typedef struct order_create_req {
    int64_t user_id;
    int64_t user_coupon_id;
    size_t n_lines;
    order_line lines[ORDER_MAX_LINES]; /* unit_price 0 */
} order_create_req;

/* The amounts of an order. */
typedef struct order_amounts {
    int64_t total;
    int64_t discount;
    int64_t final_amount;
} order_amounts;

/* The status name as API.md spells it ("CREATED"); "?" for a bad value. */
const char *order_status_name(order_status s);

/* Parses a status name (exact, upper case). Returns false when it is none. */
bool order_status_parse(const char *name, order_status *out);

/* True when from -> to is one of the transitions of DESIGN.md: PENDING ->
 * CREATED, PENDING -> FAILED, CREATED -> PAID, CREATED -> CANCELLING,
 * CANCELLING -> CANCELLED. */
bool order_transition_allowed(order_status from, order_status to);

/* True when s is final (PAID, CANCELLED, FAILED). */
bool order_status_final(order_status s);

/* Checks lines[0..n): 1..ORDER_MAX_LINES lines, item ids 1..ORDER_ID_MAX,
 * quantities 1..ORDER_MAX_QUANTITY, no item twice. Returns false with err
 * naming the line ("items[3].itemId: item 5 appears twice"). */
bool order_validate_lines(const order_line *lines, size_t n, json_err *err);

/* Reads and validates a POST /orders body into out:
 * {"userId","items":[{"itemId","quantity"}],"userCouponId" (optional/null)}.
 * Returns false with err naming the field. */
bool order_parse_create(const cJSON *body, order_create_req *out, json_err *err);

/* The discount a coupon gives on total (API.md): FIXED -> min(value, total),
 * PERCENT -> floor(total * value / 100). type is "FIXED" or "PERCENT".
 * Returns false for an unknown type or a value out of range. */
bool order_discount(const char *type, int64_t value, int64_t total, int64_t *discount);

/* Computes total = sum of quantity * unit_price and final = total - discount.
 * Returns false when a price is outside 0..ORDER_PRICE_MAX, a quantity
 * outside 1..ORDER_MAX_QUANTITY, or discount outside 0..total. */
bool order_compute_amounts(const order_line *lines, size_t n, int64_t discount, order_amounts *out);

/* Takes the unit prices from a reservation reply
 * ({"items":[{"itemId","quantity","unitPrice"}]}) into lines. Every line must
 * appear once with its quantity and a price in 0..ORDER_PRICE_MAX, and
 * nothing else. Returns false with why filled otherwise. */
bool order_take_prices(order_line *lines, size_t n, const cJSON *reply, char *why, size_t why_len);

/* The newest updated_at (epoch seconds) that is certainly more than age_ms
 * older than now_s, given that both are whole seconds rounded down. */
int64_t order_stale_cutoff(int64_t now_s, int64_t age_ms);

/* The Order JSON of API.md plus "paymentId" (null unless paid). Returns a
 * new object (caller cJSON_Deletes) or NULL when out of memory. */
cJSON *order_render(const order_rec *o);

/* ---- the saga log (API.md "Saga view") ---------------------------------- */

#define ORDER_STEP_NAME_LEN 48
#define ORDER_STEP_PEER_LEN 24
#define ORDER_STEP_ERROR_LEN 48
#define ORDER_STEP_RID_LEN 128
#define ORDER_STEPS_MAX 16
#define ORDER_STEP_AT_LEN 28 /* "2026-11-24T12:00:00.123456Z" plus NUL */

/* One step of a saga as the log keeps it: a call to a peer ("stock.deduct" to
 * "item") or a state change of our own ("order.created", no peer). */
typedef struct order_step {
    int64_t at_us;      /* when it began: wall clock, microseconds since the epoch */
    int64_t payment_id; /* the payment it belongs to, 0 when none */
    char step[ORDER_STEP_NAME_LEN];
    char peer[ORDER_STEP_PEER_LEN];   /* "" for a state change of our own */
    int http_status;                  /* the peer's status; 0 when none */
    char error[ORDER_STEP_ERROR_LEN]; /* "timeout", "unavailable", the peer's problem code; "" */
    int64_t duration_ms;
    char request_id[ORDER_STEP_RID_LEN + 1];
    bool compensation; /* a restore: it undoes an earlier step */
} order_step;

/* The steps of one saga run that are not stored yet: the store writes them
 * with the run's next state change (same transaction) and empties the list. */
typedef struct order_steps {
    const char *request_id; /* of the run; copied into every step */
    const char *prefix;     /* put before call names: "", "recovery.", "expiry." */
    size_t n;
    order_step items[ORDER_STEPS_MAX];
} order_steps;

/* Empties log and sets its request id and prefix (either may be NULL). */
void order_steps_init(order_steps *log, const char *request_id, const char *prefix);

/* Fills *st: named prefix + name (prefix may be NULL), peer (NULL: none),
 * error (NULL: none), request_id (NULL: none). Too-long strings are cut. */
void order_step_set(order_step *st, int64_t at_us, const char *prefix, const char *name,
                    const char *peer, int http_status, const char *error, int64_t duration_ms,
                    const char *request_id, bool compensation);

/* The next free slot of log (counted as used), or NULL when log is full:
 * then the caller stores what it holds and tries again. */
order_step *order_steps_next(order_steps *log);

/* Writes at_us as RFC 3339 UTC with microseconds into out (>= ORDER_STEP_AT_LEN):
 * "2026-11-24T12:00:00.123456Z". Fixed width, so these strings sort as times. */
void order_step_format_at(int64_t at_us, char *out);

/* One step of the saga view: {"at","service","step","peer","httpStatus",
 * "error","durationMs","requestId","compensation","paymentId"} with null for
 * what is absent. Returns a new object (caller cJSON_Deletes) or NULL. */
cJSON *order_step_render(const order_step *st, const char *service);

/* The saga view of order o (API.md): {"orderId","status","steps":[...],
 * "partial"}: its own steps (steps[0..n), service "order") and
 * payment-service's (payment_steps: the "steps" array of its reply, may be
 * NULL), in time order. Payment steps that are not objects with an "at" as
 * order_step_format_at writes it and a "step" string are left out, and what
 * they carry is copied member by member (only the members of a step, each
 * of its type, else null). partial says payment-service could not be asked.
 * Returns a new object (caller cJSON_Deletes) or NULL when out of memory. */
cJSON *order_render_saga(const order_rec *o, const order_step *steps, size_t n,
                         const cJSON *payment_steps, bool partial);

#endif
