/* The invariants shop-audit checks (the chaos issue, DESIGN.md "What the
 * audit counts"), as pure functions over an audit_state: one result per
 * invariant with its count of violations and a few examples. Only what the
 * record's fixtures touch is checked, so seed data and other runs do not
 * interfere. */
#ifndef AUDIT_CHECK_H
#define AUDIT_CHECK_H

#include <stdint.h>
#include <stdio.h>

#include "audit_model.h"

typedef enum audit_invariant {
    AUDIT_INV_FIXTURES,
    AUDIT_INV_ORDER_PENDING,
    AUDIT_INV_ORDER_AMOUNTS,
    AUDIT_INV_PAY_PENDING,
    AUDIT_INV_PAID_HAS_PAYMENT,
    AUDIT_INV_PAYMENT_HAS_ORDER,
    AUDIT_INV_STOCK,
    AUDIT_INV_MONEY,
    AUDIT_INV_LEDGER_PAYMENTS,
    AUDIT_INV_LEDGER_CHAIN,
    AUDIT_INV_COUPON_USED,
    AUDIT_INV_COUPON_ISSUED,
    AUDIT_INV_COUPON_UNIQUE,
    AUDIT_INV_DATA_PLATFORM,
    AUDIT_INV_ACKED,
    AUDIT_N_INV,
} audit_invariant;

#define AUDIT_EXAMPLES 5
#define AUDIT_TEXT 240

typedef struct audit_result {
    const char *name;  /* one line, static */
    int64_t checked;   /* how many things were looked at */
    int64_t violations;
    char note[AUDIT_TEXT];
    char examples[AUDIT_EXAMPLES][AUDIT_TEXT];
    int n_examples;
} audit_result;

typedef struct audit_report {
    audit_result r[AUDIT_N_INV];
    int64_t total;
} audit_report;

/* Runs every check on s. Returns the total number of violations, or -1 when
 * out of memory (then out is incomplete). */
int64_t audit_check_all(const audit_state *s, audit_report *out);

/* Prints one line per invariant ("  0  orders: none PENDING (1234 checked)")
 * with examples and notes, then the total. */
void audit_report_print(const audit_report *r, FILE *f);

/* What is still in flight among the fixtures' orders and payments: the
 * audit waits for these to reach 0 before it judges. */
typedef struct audit_unsettled {
    int64_t pending_orders, cancelling_orders, pending_payments, undelivered_payments;
} audit_unsettled;

void audit_find_unsettled(const audit_state *s, audit_unsettled *out);

#endif
