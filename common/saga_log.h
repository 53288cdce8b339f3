/* The saga log that order-service and payment-service keep (API.md "Saga
 * view"): the saga_steps table both write, one row per step of a saga run (a
 * call to a peer or a state change of their own), the clock those steps are
 * timed by, and what a call's result comes to in a step. Each service keeps
 * its own step type, its reads of the table and when a step is written. */
#ifndef SHOP_SAGA_LOG_H
#define SHOP_SAGA_LOG_H

#include <stdbool.h>
#include <stdint.h>

#include "db.h"
#include "http_client.h"

/* The saga_steps table and its index, for a service's migrations.
 * payment_id_rule follows the payment_id column's type: "" (a step may
 * belong to no payment) or " NOT NULL". */
#define SAGA_LOG_SCHEMA(payment_id_rule)                                                           \
    "CREATE TABLE saga_steps ("                                                                    \
    "  id INTEGER PRIMARY KEY,"                                                                    \
    "  order_id INTEGER NOT NULL,"                                                                 \
    "  payment_id INTEGER" payment_id_rule ","                                                     \
    "  at_us INTEGER NOT NULL,"                                                                    \
    "  step TEXT NOT NULL,"                                                                        \
    "  peer TEXT,"                                                                                 \
    "  http_status INTEGER,"                                                                       \
    "  error TEXT,"                                                                                \
    "  duration_ms INTEGER NOT NULL CHECK (duration_ms >= 0),"                                     \
    "  request_id TEXT,"                                                                           \
    "  compensation INTEGER NOT NULL CHECK (compensation IN (0, 1)));"                             \
    "CREATE INDEX saga_steps_order ON saga_steps(order_id, at_us, id);"

/* One row of saga_steps as saga_log_insert writes it. The strings are the
 * caller's (not copied); an empty or NULL peer, error or request_id and an
 * http_status of 0 are written as NULL. */
typedef struct saga_log_row {
    int64_t order_id;
    const int64_t *payment_id; /* NULL: written as NULL */
    int64_t at_us;             /* when it began: wall clock, microseconds since the epoch */
    const char *step;          /* "stock.deduct", "order.created" */
    const char *peer;          /* "item"; none for a state change */
    int http_status;           /* the peer's status */
    const char *error;         /* "timeout", "unavailable", the peer's problem code */
    int64_t duration_ms;
    const char *request_id;
    bool compensation; /* it undoes an earlier step */
} saga_log_row;

/* The saga_log_row of a service's step *st, a struct with the members
 * at_us, step, peer, http_status, error, duration_ms, request_id and
 * compensation (the step types of order_logic.h and payment_logic.h), for
 * order order_id and payment payment_id (a const int64_t *, NULL: none).
 * The row points into *st. */
#define SAGA_LOG_ROW(st, order_id_, payment_id_)                                                   \
    ((saga_log_row){.order_id = (order_id_),                                                       \
                    .payment_id = (payment_id_),                                                   \
                    .at_us = (st)->at_us,                                                          \
                    .step = (st)->step,                                                            \
                    .peer = (st)->peer,                                                            \
                    .http_status = (st)->http_status,                                              \
                    .error = (st)->error,                                                          \
                    .duration_ms = (st)->duration_ms,                                              \
                    .request_id = (st)->request_id,                                                \
                    .compensation = (st)->compensation})

/* Inserts row into saga_steps on the writer w, inside the caller's
 * transaction. Returns 0, or -1 after logging why. */
int saga_log_insert(db_conn *w, const saga_log_row *row);

/* Wall-clock microseconds since the epoch: the time of a step. */
int64_t saga_log_now_us(void);

/* The peer's HTTP status of a call that ended as r, for a step: 0 when no
 * full reply arrived. */
int saga_log_call_status(const http_result *r);

/* What went wrong with a call that ended as r, for a step: "timeout",
 * "unavailable" (no full reply), the peer's problem code for a reply that is
 * not a 2xx (NULL when it has none), "bad reply" for a 2xx the caller could
 * not read (readable false). NULL when it went well. The string is static
 * or points into r. */
const char *saga_log_call_error(const http_result *r, bool readable);

#endif
