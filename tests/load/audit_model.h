/* What shop-audit knows: the state of every service as read through the
 * admin read routes (orders, payments, users, user coupons, ledgers, items,
 * coupons, the data platform's orders), and the parsing of those JSON shapes
 * into plain structs, so that the checks (audit_check.h) need no HTTP. */
#ifndef AUDIT_MODEL_H
#define AUDIT_MODEL_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include <cjson/cJSON.h>

#include "load_record.h"

typedef enum audit_order_status {
    AUDIT_O_PENDING,
    AUDIT_O_CREATED,
    AUDIT_O_PAID,
    AUDIT_O_CANCELLING,
    AUDIT_O_CANCELLED,
    AUDIT_O_FAILED,
    AUDIT_O_OTHER,
} audit_order_status;

typedef enum audit_pay_status {
    AUDIT_P_PENDING,
    AUDIT_P_COMPLETED,
    AUDIT_P_FAILED,
    AUDIT_P_REFUNDED,
    AUDIT_P_OTHER,
} audit_pay_status;

typedef enum audit_ledger_kind {
    AUDIT_L_CHARGE,
    AUDIT_L_DEBIT,
    AUDIT_L_CREDIT,
    AUDIT_L_VOID,
    AUDIT_L_OTHER,
} audit_ledger_kind;

typedef struct audit_line {
    int64_t item_id, quantity, unit_price;
} audit_line;

typedef struct audit_order {
    int64_t id, user_id, user_coupon_id, payment_id; /* 0 for null */
    int64_t total, discount, final_amount;
    audit_order_status status;
    audit_line *lines; /* owned */
    size_t n_lines;
} audit_order;

typedef struct audit_payment {
    int64_t id, order_id, user_id, amount;
    audit_pay_status status;
    bool delivered; /* delivery.status == DELIVERED */
} audit_payment;

typedef struct audit_item {
    int64_t id, price, stock;
} audit_item;

typedef struct audit_user {
    int64_t id, balance, initial_balance;
} audit_user;

typedef struct audit_coupon {
    int64_t id, discount_value, total_quantity, issued_quantity;
    load_discount discount_type;
} audit_coupon;

typedef struct audit_user_coupon {
    int64_t id, coupon_id, user_id, used_order_id; /* 0 for null */
    int64_t discount_value;
    load_discount discount_type;
    bool is_used;
} audit_user_coupon;

typedef struct audit_ledger {
    int64_t id, user_id, amount, balance_after;
    audit_ledger_kind kind;
    char ref[160]; /* "" for null */
} audit_ledger;

typedef struct audit_dp_order {
    int64_t order_id, payment_id, user_id, final_amount;
} audit_dp_order;

#define AUDIT_VEC(T)    \
    struct {            \
        T *v;           \
        size_t n, cap;  \
    }

/* Everything read from the services, plus the record of the run. */
typedef struct audit_state {
    AUDIT_VEC(audit_item) items;
    AUDIT_VEC(audit_user) users;
    AUDIT_VEC(audit_coupon) coupons;
    AUDIT_VEC(audit_user_coupon) user_coupons;
    AUDIT_VEC(audit_order) orders;
    AUDIT_VEC(audit_payment) payments;
    AUDIT_VEC(audit_ledger) ledger;
    AUDIT_VEC(audit_dp_order) dp_orders;
    AUDIT_VEC(load_rec) record;
} audit_state;

/* Appends one zeroed element to a vector (use AUDIT_PUSH). Returns a pointer
 * to it, or NULL when out of memory. */
void *audit_vec_push(void **v, size_t *n, size_t *cap, size_t elem);
#define AUDIT_PUSH(vec) \
    ((__typeof__((vec).v))audit_vec_push((void **)&(vec).v, &(vec).n, &(vec).cap, sizeof *(vec).v))

/* Frees everything the state holds and zeroes it. */
void audit_state_release(audit_state *s);

/* Drops what was read from the services (keeps the record). */
void audit_state_clear_services(audit_state *s);

/* Parsers of the admin list item shapes (API.md, "Admin"). Each returns false
 * with err filled when a member it needs is missing or ill-typed; on success
 * an order owns its lines (released with the state). */
bool audit_parse_order(const cJSON *o, audit_order *out, char *err, size_t errlen);
bool audit_parse_payment(const cJSON *o, audit_payment *out, char *err, size_t errlen);
bool audit_parse_item(const cJSON *o, audit_item *out, char *err, size_t errlen);
bool audit_parse_user(const cJSON *o, audit_user *out, char *err, size_t errlen);
bool audit_parse_coupon(const cJSON *o, audit_coupon *out, char *err, size_t errlen);
bool audit_parse_user_coupon(const cJSON *o, audit_user_coupon *out, char *err, size_t errlen);
bool audit_parse_ledger(const cJSON *o, audit_ledger *out, char *err, size_t errlen);
bool audit_parse_dp_order(const cJSON *o, audit_dp_order *out, char *err, size_t errlen);

audit_order_status audit_order_status_from(const char *s);
audit_pay_status audit_pay_status_from(const char *s);
audit_ledger_kind audit_ledger_kind_from(const char *s);
const char *audit_order_status_name(audit_order_status s);
const char *audit_pay_status_name(audit_pay_status s);

/* An int64 -> index map (open addressing), for lookups by id. */
typedef struct audit_index {
    int64_t *keys; /* 0 = empty (ids are positive) */
    size_t *vals;
    size_t n, cap;
} audit_index;

/* Prepares an index for up to n keys. Returns false when out of memory. */
bool audit_index_init(audit_index *ix, size_t n);

/* Maps key to val. Returns false when key is already present (the first
 * mapping stays), is not positive, or the index is full. */
bool audit_index_put(audit_index *ix, int64_t key, size_t val);

/* The value of key, or SIZE_MAX when absent. */
size_t audit_index_get(const audit_index *ix, int64_t key);

void audit_index_release(audit_index *ix);

#endif
