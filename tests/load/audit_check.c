/* The audit's invariants over an audit_state (see audit_check.h). */
#include "audit_check.h"

#include <inttypes.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stdlib.h>
#include <string.h>

static const char *const inv_names[AUDIT_N_INV] = {
    [AUDIT_INV_FIXTURES] = "fixtures: every recorded item, user, coupon exists with its initial values",
    [AUDIT_INV_ORDER_PENDING] = "orders: none PENDING (or in an unknown state)",
    [AUDIT_INV_ORDER_AMOUNTS] = "orders: total = sum of lines at item price, discount rule, final = total - discount",
    [AUDIT_INV_PAY_PENDING] = "payments: none PENDING (or in an unknown state)",
    [AUDIT_INV_PAID_HAS_PAYMENT] = "payments: every PAID order has exactly one COMPLETED payment of its finalAmount",
    [AUDIT_INV_PAYMENT_HAS_ORDER] = "payments: every COMPLETED payment has its PAID order, every REFUNDED a cancelled one",
    [AUDIT_INV_STOCK] = "stock: initial = current + held by CREATED, PAID, CANCELLING orders; never below 0",
    [AUDIT_INV_MONEY] = "money: initial + charges - debits (COMPLETED, REFUNDED) + refunds (REFUNDED) = balance",
    [AUDIT_INV_LEDGER_PAYMENTS] = "money: ledger matches payments one to one (pay-<id>, refund-<id>)",
    [AUDIT_INV_LEDGER_CHAIN] = "money: ledger balanceAfter chain ends at the balance; no balance below 0",
    [AUDIT_INV_COUPON_USED] = "coupons: a user coupon is used iff exactly one CREATED, PAID or CANCELLING order holds it",
    [AUDIT_INV_COUPON_ISSUED] = "coupons: issuedQuantity = user coupons issued <= totalQuantity",
    [AUDIT_INV_COUPON_UNIQUE] = "coupons: one per user per coupon",
    [AUDIT_INV_DATA_PLATFORM] = "data platform: every PAID order stored exactly once, nothing else",
    [AUDIT_INV_ACKED] = "acknowledged writes: every 2xx a client saw still holds",
};

/* Lookups shared by the checks. */
typedef struct ctx {
    const audit_state *s;
    audit_report *rep;
    audit_index fx_item, fx_user, fx_coupon; /* id -> record index */
    audit_index item, user, coupon, uc, order, payment; /* id -> state index */
    bool *rel_order;          /* per order: touches a fixture */
    bool *rel_payment;        /* per payment */
    int64_t *completed_count; /* per order: COMPLETED payments */
    size_t *completed_pay;    /* per order: the last of them */
    int64_t *debits, *credits; /* per payment: ledger entries */
    const audit_ledger **ledger; /* fixture users' entries by (user, id) */
    size_t n_ledger;
} ctx;

static void violate(ctx *c, audit_invariant inv, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));

static void violate(ctx *c, audit_invariant inv, const char *fmt, ...)
{
    audit_result *r = &c->rep->r[inv];
    r->violations++;
    if (r->n_examples < AUDIT_EXAMPLES) {
        va_list ap;
        va_start(ap, fmt);
        vsnprintf(r->examples[r->n_examples++], AUDIT_TEXT, fmt, ap);
        va_end(ap);
    }
}

static bool is_fixture_user(const ctx *c, int64_t id)
{
    return audit_index_get(&c->fx_user, id) != SIZE_MAX;
}

static bool holds(audit_order_status st)
{
    return st == AUDIT_O_CREATED || st == AUDIT_O_PAID || st == AUDIT_O_CANCELLING;
}

static const audit_order *order_by_id(const ctx *c, int64_t id)
{
    size_t i = audit_index_get(&c->order, id);
    return i == SIZE_MAX ? NULL : &c->s->orders.v[i];
}

static const audit_payment *payment_by_id(const ctx *c, int64_t id)
{
    size_t i = audit_index_get(&c->payment, id);
    return i == SIZE_MAX ? NULL : &c->s->payments.v[i];
}

/* --- context ---------------------------------------------------------------- */

#define INDEX_VEC(ix, vec, idfield)                                             \
    do {                                                                        \
        if (!audit_index_init(&(ix), (vec).n))                                  \
            return false;                                                       \
        for (size_t i_ = 0; i_ < (vec).n; i_++)                                 \
            audit_index_put(&(ix), (vec).v[i_].idfield, i_);                    \
    } while (0)

static bool index_fixtures(ctx *c)
{
    const audit_state *s = c->s;
    if (!audit_index_init(&c->fx_item, s->record.n) || !audit_index_init(&c->fx_user, s->record.n) ||
        !audit_index_init(&c->fx_coupon, s->record.n))
        return false;
    for (size_t i = 0; i < s->record.n; i++) {
        const load_rec *r = &s->record.v[i];
        if (r->kind == LOAD_REC_ITEM)
            audit_index_put(&c->fx_item, r->id, i);
        else if (r->kind == LOAD_REC_USER)
            audit_index_put(&c->fx_user, r->id, i);
        else if (r->kind == LOAD_REC_COUPON)
            audit_index_put(&c->fx_coupon, r->id, i);
    }
    return true;
}

static bool order_is_relevant(const ctx *c, const audit_order *o)
{
    if (is_fixture_user(c, o->user_id))
        return true;
    for (size_t l = 0; l < o->n_lines; l++)
        if (audit_index_get(&c->fx_item, o->lines[l].item_id) != SIZE_MAX)
            return true;
    size_t u = audit_index_get(&c->uc, o->user_coupon_id);
    return u != SIZE_MAX &&
           audit_index_get(&c->fx_coupon, c->s->user_coupons.v[u].coupon_id) != SIZE_MAX;
}

static int cmp_ledger(const void *a, const void *b)
{
    const audit_ledger *x = *(const audit_ledger *const *)a, *y = *(const audit_ledger *const *)b;
    if (x->user_id != y->user_id)
        return (x->user_id > y->user_id) - (x->user_id < y->user_id);
    return (x->id > y->id) - (x->id < y->id);
}

static bool sort_ledger(ctx *c)
{
    const audit_state *s = c->s;
    c->ledger = calloc(s->ledger.n + 1, sizeof *c->ledger);
    if (c->ledger == NULL)
        return false;
    for (size_t i = 0; i < s->ledger.n; i++)
        if (is_fixture_user(c, s->ledger.v[i].user_id))
            c->ledger[c->n_ledger++] = &s->ledger.v[i];
    qsort(c->ledger, c->n_ledger, sizeof *c->ledger, cmp_ledger);
    return true;
}

/* The run [*lo, *hi) of user's entries in c->ledger. */
static void user_ledger(const ctx *c, int64_t user, size_t *lo, size_t *hi)
{
    size_t a = 0, b = c->n_ledger;
    while (a < b) {
        size_t mid = a + (b - a) / 2;
        if (c->ledger[mid]->user_id < user)
            a = mid + 1;
        else
            b = mid;
    }
    *lo = a;
    while (a < c->n_ledger && c->ledger[a]->user_id == user)
        a++;
    *hi = a;
}

static bool ctx_init(ctx *c, const audit_state *s, audit_report *rep)
{
    memset(c, 0, sizeof *c);
    c->s = s;
    c->rep = rep;
    if (!index_fixtures(c))
        return false;
    INDEX_VEC(c->item, s->items, id);
    INDEX_VEC(c->user, s->users, id);
    INDEX_VEC(c->coupon, s->coupons, id);
    INDEX_VEC(c->uc, s->user_coupons, id);
    INDEX_VEC(c->order, s->orders, id);
    INDEX_VEC(c->payment, s->payments, id);
    size_t no = s->orders.n + 1, np = s->payments.n + 1;
    c->rel_order = calloc(no, sizeof *c->rel_order);
    c->rel_payment = calloc(np, sizeof *c->rel_payment);
    c->completed_count = calloc(no, sizeof *c->completed_count);
    c->completed_pay = calloc(no, sizeof *c->completed_pay);
    c->debits = calloc(np, sizeof *c->debits);
    c->credits = calloc(np, sizeof *c->credits);
    if (!c->rel_order || !c->rel_payment || !c->completed_count || !c->completed_pay ||
        !c->debits || !c->credits || !sort_ledger(c))
        return false;
    for (size_t i = 0; i < s->orders.n; i++)
        c->rel_order[i] = order_is_relevant(c, &s->orders.v[i]);
    for (size_t i = 0; i < s->payments.n; i++) {
        const audit_payment *p = &s->payments.v[i];
        size_t oi = audit_index_get(&c->order, p->order_id);
        c->rel_payment[i] = is_fixture_user(c, p->user_id) || (oi != SIZE_MAX && c->rel_order[oi]);
        if (p->status == AUDIT_P_COMPLETED && oi != SIZE_MAX) {
            c->completed_count[oi]++;
            c->completed_pay[oi] = i;
        }
    }
    return true;
}

static void ctx_release(ctx *c)
{
    audit_index *all[] = {&c->fx_item, &c->fx_user, &c->fx_coupon, &c->item, &c->user,
                          &c->coupon,  &c->uc,      &c->order,     &c->payment};
    for (size_t i = 0; i < sizeof all / sizeof all[0]; i++)
        audit_index_release(all[i]);
    free(c->rel_order);
    free(c->rel_payment);
    free(c->completed_count);
    free(c->completed_pay);
    free(c->debits);
    free(c->credits);
    free(c->ledger);
}

/* --- checks ----------------------------------------------------------------- */

static void check_fixtures(ctx *c)
{
    const audit_state *s = c->s;
    for (size_t i = 0; i < s->record.n; i++) {
        const load_rec *r = &s->record.v[i];
        size_t at;
        if (r->kind == LOAD_REC_ITEM) {
            c->rep->r[AUDIT_INV_FIXTURES].checked++;
            at = audit_index_get(&c->item, r->id);
            if (at == SIZE_MAX)
                violate(c, AUDIT_INV_FIXTURES, "item %" PRId64 " not found", r->id);
            else if (s->items.v[at].price != r->price)
                violate(c, AUDIT_INV_FIXTURES, "item %" PRId64 ": price %" PRId64 ", created with %" PRId64,
                        r->id, s->items.v[at].price, r->price);
        } else if (r->kind == LOAD_REC_USER) {
            c->rep->r[AUDIT_INV_FIXTURES].checked++;
            at = audit_index_get(&c->user, r->id);
            if (at == SIZE_MAX)
                violate(c, AUDIT_INV_FIXTURES, "user %" PRId64 " not found", r->id);
            else if (s->users.v[at].initial_balance != r->balance)
                violate(c, AUDIT_INV_FIXTURES,
                        "user %" PRId64 ": initialBalance %" PRId64 ", created with %" PRId64, r->id,
                        s->users.v[at].initial_balance, r->balance);
        } else if (r->kind == LOAD_REC_COUPON) {
            c->rep->r[AUDIT_INV_FIXTURES].checked++;
            at = audit_index_get(&c->coupon, r->id);
            if (at == SIZE_MAX)
                violate(c, AUDIT_INV_FIXTURES, "coupon %" PRId64 " not found", r->id);
            else if (s->coupons.v[at].total_quantity != r->total_quantity ||
                     s->coupons.v[at].discount_type != r->discount_type ||
                     s->coupons.v[at].discount_value != r->discount_value)
                violate(c, AUDIT_INV_FIXTURES, "coupon %" PRId64 ": not as created", r->id);
        }
    }
}

static void check_order_states(ctx *c)
{
    const audit_state *s = c->s;
    for (size_t i = 0; i < s->orders.n; i++) {
        if (!c->rel_order[i])
            continue;
        const audit_order *o = &s->orders.v[i];
        c->rep->r[AUDIT_INV_ORDER_PENDING].checked++;
        if (o->status == AUDIT_O_PENDING || o->status == AUDIT_O_OTHER)
            violate(c, AUDIT_INV_ORDER_PENDING, "order %" PRId64 " is %s", o->id,
                    audit_order_status_name(o->status));
    }
    for (size_t i = 0; i < s->payments.n; i++) {
        if (!c->rel_payment[i])
            continue;
        const audit_payment *p = &s->payments.v[i];
        c->rep->r[AUDIT_INV_PAY_PENDING].checked++;
        if (p->status == AUDIT_P_PENDING || p->status == AUDIT_P_OTHER)
            violate(c, AUDIT_INV_PAY_PENDING, "payment %" PRId64 " (order %" PRId64 ") is %s", p->id,
                    p->order_id, audit_pay_status_name(p->status));
    }
}

static void check_one_order_amounts(ctx *c, const audit_order *o)
{
    int64_t total = 0;
    if (o->n_lines == 0)
        violate(c, AUDIT_INV_ORDER_AMOUNTS, "order %" PRId64 " has no lines", o->id);
    for (size_t l = 0; l < o->n_lines; l++) {
        const audit_line *line = &o->lines[l];
        size_t it = audit_index_get(&c->item, line->item_id);
        total += line->quantity * line->unit_price;
        if (it != SIZE_MAX && c->s->items.v[it].price != line->unit_price)
            violate(c, AUDIT_INV_ORDER_AMOUNTS,
                    "order %" PRId64 ": item %" PRId64 " at %" PRId64 ", price is %" PRId64, o->id,
                    line->item_id, line->unit_price, c->s->items.v[it].price);
    }
    int64_t discount = 0;
    if (o->user_coupon_id > 0) {
        size_t u = audit_index_get(&c->uc, o->user_coupon_id);
        if (u == SIZE_MAX) {
            violate(c, AUDIT_INV_ORDER_AMOUNTS, "order %" PRId64 ": user coupon %" PRId64 " not found",
                    o->id, o->user_coupon_id);
            return;
        }
        const audit_user_coupon *uc = &c->s->user_coupons.v[u];
        discount = load_discount_amount(uc->discount_type, uc->discount_value, total);
        if (uc->user_id != o->user_id)
            violate(c, AUDIT_INV_ORDER_AMOUNTS,
                    "order %" PRId64 " of user %" PRId64 " uses user coupon %" PRId64 " of user %" PRId64,
                    o->id, o->user_id, uc->id, uc->user_id);
    }
    if (o->total != total || o->discount != discount || o->final_amount != total - discount)
        violate(c, AUDIT_INV_ORDER_AMOUNTS,
                "order %" PRId64 ": total %" PRId64 " discount %" PRId64 " final %" PRId64
                ", expected %" PRId64 " %" PRId64 " %" PRId64,
                o->id, o->total, o->discount, o->final_amount, total, discount, total - discount);
}

static void check_order_amounts(ctx *c)
{
    for (size_t i = 0; i < c->s->orders.n; i++) {
        const audit_order *o = &c->s->orders.v[i];
        if (!c->rel_order[i] || o->status == AUDIT_O_FAILED || o->status == AUDIT_O_PENDING ||
            o->status == AUDIT_O_OTHER)
            continue;
        c->rep->r[AUDIT_INV_ORDER_AMOUNTS].checked++;
        check_one_order_amounts(c, o);
    }
}

static void check_paid_orders(ctx *c)
{
    const audit_state *s = c->s;
    for (size_t i = 0; i < s->orders.n; i++) {
        const audit_order *o = &s->orders.v[i];
        if (!c->rel_order[i] || o->status != AUDIT_O_PAID)
            continue;
        c->rep->r[AUDIT_INV_PAID_HAS_PAYMENT].checked++;
        if (c->completed_count[i] != 1) {
            violate(c, AUDIT_INV_PAID_HAS_PAYMENT,
                    "PAID order %" PRId64 " has %" PRId64 " COMPLETED payments", o->id,
                    c->completed_count[i]);
            continue;
        }
        const audit_payment *p = &s->payments.v[c->completed_pay[i]];
        if (p->amount != o->final_amount || p->id != o->payment_id || p->user_id != o->user_id)
            violate(c, AUDIT_INV_PAID_HAS_PAYMENT,
                    "PAID order %" PRId64 " (paymentId %" PRId64 ", final %" PRId64 ", user %" PRId64
                    "): payment %" PRId64 " of %" PRId64 " by user %" PRId64,
                    o->id, o->payment_id, o->final_amount, o->user_id, p->id, p->amount, p->user_id);
    }
}

static void check_payment_orders(ctx *c)
{
    const audit_state *s = c->s;
    for (size_t i = 0; i < s->payments.n; i++) {
        const audit_payment *p = &s->payments.v[i];
        if (!c->rel_payment[i] || (p->status != AUDIT_P_COMPLETED && p->status != AUDIT_P_REFUNDED))
            continue;
        c->rep->r[AUDIT_INV_PAYMENT_HAS_ORDER].checked++;
        const audit_order *o = order_by_id(c, p->order_id);
        if (o == NULL) {
            violate(c, AUDIT_INV_PAYMENT_HAS_ORDER, "%s payment %" PRId64 ": order %" PRId64 " not found",
                    audit_pay_status_name(p->status), p->id, p->order_id);
        } else if (p->status == AUDIT_P_COMPLETED &&
                   (o->status != AUDIT_O_PAID || o->payment_id != p->id || o->user_id != p->user_id)) {
            violate(c, AUDIT_INV_PAYMENT_HAS_ORDER,
                    "COMPLETED payment %" PRId64 ": order %" PRId64 " is %s with paymentId %" PRId64,
                    p->id, o->id, audit_order_status_name(o->status), o->payment_id);
        } else if (p->status == AUDIT_P_REFUNDED &&
                   (o->status != AUDIT_O_CANCELLED && o->status != AUDIT_O_CANCELLING)) {
            violate(c, AUDIT_INV_PAYMENT_HAS_ORDER, "REFUNDED payment %" PRId64 ": order %" PRId64 " is %s",
                    p->id, o->id, audit_order_status_name(o->status));
        }
    }
}

static int64_t count_cancelling(const ctx *c)
{
    int64_t n = 0;
    for (size_t i = 0; i < c->s->orders.n; i++)
        n += c->rel_order[i] && c->s->orders.v[i].status == AUDIT_O_CANCELLING;
    return n;
}

static bool check_stock(ctx *c)
{
    const audit_state *s = c->s;
    int64_t *held = calloc(s->record.n + 1, sizeof *held);
    if (held == NULL)
        return false;
    for (size_t i = 0; i < s->orders.n; i++) {
        const audit_order *o = &s->orders.v[i];
        if (!holds(o->status))
            continue;
        for (size_t l = 0; l < o->n_lines; l++) {
            size_t r = audit_index_get(&c->fx_item, o->lines[l].item_id);
            if (r != SIZE_MAX)
                held[r] += o->lines[l].quantity;
        }
    }
    for (size_t r = 0; r < s->record.n; r++) {
        const load_rec *rec = &s->record.v[r];
        if (rec->kind != LOAD_REC_ITEM)
            continue;
        size_t it = audit_index_get(&c->item, rec->id);
        if (it == SIZE_MAX)
            continue; /* counted under fixtures */
        c->rep->r[AUDIT_INV_STOCK].checked++;
        int64_t stock = s->items.v[it].stock;
        if (stock < 0 || stock + held[r] != rec->stock)
            violate(c, AUDIT_INV_STOCK,
                    "item %" PRId64 ": initial %" PRId64 ", current %" PRId64 " + held %" PRId64 " = %" PRId64,
                    rec->id, rec->stock, stock, held[r], stock + held[r]);
    }
    free(held);
    return true;
}

/* Parses "pay-<id>" / "refund-<id>" refs: the payment id, or 0. */
static int64_t ref_payment(const char *ref, const char *prefix)
{
    size_t n = strlen(prefix);
    if (strncmp(ref, prefix, n) != 0 || ref[n] < '1' || ref[n] > '9')
        return 0;
    char *end;
    long long v = strtoll(ref + n, &end, 10);
    return *end == '\0' ? (int64_t)v : 0;
}

static void check_ledger_entry(ctx *c, const audit_ledger *e)
{
    c->rep->r[AUDIT_INV_LEDGER_PAYMENTS].checked++;
    if (e->kind == AUDIT_L_CHARGE)
        return;
    if (e->kind == AUDIT_L_OTHER) {
        violate(c, AUDIT_INV_LEDGER_PAYMENTS, "ledger %" PRId64 ": unknown kind", e->id);
        return;
    }
    int64_t pid = ref_payment(e->ref, e->kind == AUDIT_L_CREDIT ? "refund-" : "pay-");
    size_t pi = audit_index_get(&c->payment, pid);
    const audit_payment *p = pi == SIZE_MAX ? NULL : &c->s->payments.v[pi];
    if (p == NULL || p->user_id != e->user_id) {
        violate(c, AUDIT_INV_LEDGER_PAYMENTS, "ledger %" PRId64 " (user %" PRId64 ", ref %s): no such payment of the user",
                e->id, e->user_id, e->ref);
        return;
    }
    bool debited = p->status == AUDIT_P_COMPLETED || p->status == AUDIT_P_REFUNDED;
    if (e->kind == AUDIT_L_DEBIT) {
        c->debits[pi]++;
        if (!debited || e->amount != p->amount)
            violate(c, AUDIT_INV_LEDGER_PAYMENTS, "DEBIT %s of %" PRId64 ": payment is %s of %" PRId64,
                    e->ref, e->amount, audit_pay_status_name(p->status), p->amount);
    } else if (e->kind == AUDIT_L_CREDIT) {
        c->credits[pi]++;
        if (p->status != AUDIT_P_REFUNDED || e->amount != p->amount)
            violate(c, AUDIT_INV_LEDGER_PAYMENTS, "CREDIT %s of %" PRId64 ": payment is %s of %" PRId64,
                    e->ref, e->amount, audit_pay_status_name(p->status), p->amount);
    } else if (debited) { /* VOID: the debit never happened */
        violate(c, AUDIT_INV_LEDGER_PAYMENTS, "VOID %s: payment is %s", e->ref,
                audit_pay_status_name(p->status));
    }
}

static void check_ledger_payments(ctx *c)
{
    const audit_state *s = c->s;
    for (size_t i = 0; i < s->ledger.n; i++)
        if (is_fixture_user(c, s->ledger.v[i].user_id))
            check_ledger_entry(c, &s->ledger.v[i]);
    for (size_t i = 0; i < s->payments.n; i++) {
        const audit_payment *p = &s->payments.v[i];
        if (!is_fixture_user(c, p->user_id))
            continue;
        int64_t want_debits = p->status == AUDIT_P_COMPLETED || p->status == AUDIT_P_REFUNDED;
        int64_t want_credits = p->status == AUDIT_P_REFUNDED;
        if (p->status == AUDIT_P_PENDING || p->status == AUDIT_P_OTHER)
            continue; /* counted as pending; its ledger is not settled */
        if (c->debits[i] != want_debits || c->credits[i] != want_credits)
            violate(c, AUDIT_INV_LEDGER_PAYMENTS,
                    "%s payment %" PRId64 ": %" PRId64 " DEBIT and %" PRId64 " CREDIT entries in the ledger",
                    audit_pay_status_name(p->status), p->id, c->debits[i], c->credits[i]);
    }
}

static void check_money(ctx *c)
{
    const audit_state *s = c->s;
    size_t nrec = s->record.n + 1;
    int64_t *sum = calloc(nrec, sizeof *sum); /* charges - debits + refunds per fixture user */
    if (sum == NULL)
        return;
    for (size_t i = 0; i < s->ledger.n; i++) {
        size_t r = audit_index_get(&c->fx_user, s->ledger.v[i].user_id);
        if (r != SIZE_MAX && s->ledger.v[i].kind == AUDIT_L_CHARGE)
            sum[r] += s->ledger.v[i].amount;
    }
    for (size_t i = 0; i < s->payments.n; i++) {
        const audit_payment *p = &s->payments.v[i];
        size_t r = audit_index_get(&c->fx_user, p->user_id);
        if (r == SIZE_MAX)
            continue;
        if (p->status == AUDIT_P_COMPLETED || p->status == AUDIT_P_REFUNDED)
            sum[r] -= p->amount;
        if (p->status == AUDIT_P_REFUNDED)
            sum[r] += p->amount;
    }
    for (size_t r = 0; r < s->record.n; r++) {
        const load_rec *rec = &s->record.v[r];
        size_t u = rec->kind == LOAD_REC_USER ? audit_index_get(&c->user, rec->id) : SIZE_MAX;
        if (u == SIZE_MAX)
            continue;
        c->rep->r[AUDIT_INV_MONEY].checked++;
        if (rec->balance + sum[r] != s->users.v[u].balance)
            violate(c, AUDIT_INV_MONEY,
                    "user %" PRId64 ": initial %" PRId64 " %+" PRId64 " = %" PRId64 ", balance %" PRId64,
                    rec->id, rec->balance, sum[r], rec->balance + sum[r], s->users.v[u].balance);
    }
    free(sum);
}

static int64_t chain_step(const audit_ledger *e)
{
    switch (e->kind) {
    case AUDIT_L_CHARGE:
    case AUDIT_L_CREDIT:
        return e->amount;
    case AUDIT_L_DEBIT:
        return -e->amount;
    default:
        return 0;
    }
}

/* Walks one user's entries (sorted by id) from the initial balance. */
static void chain_user(ctx *c, const load_rec *rec, const audit_ledger *const *e, size_t n)
{
    int64_t running = rec->balance;
    for (size_t i = 0; i < n; i++) {
        running += chain_step(e[i]);
        if (e[i]->balance_after != running || running < 0) {
            violate(c, AUDIT_INV_LEDGER_CHAIN,
                    "user %" PRId64 ": ledger %" PRId64 " (%s) balanceAfter %" PRId64 ", expected %" PRId64,
                    rec->id, e[i]->id, e[i]->ref, e[i]->balance_after, running);
            running = e[i]->balance_after;
        }
    }
    size_t u = audit_index_get(&c->user, rec->id);
    if (u != SIZE_MAX && (c->s->users.v[u].balance != running || running < 0))
        violate(c, AUDIT_INV_LEDGER_CHAIN, "user %" PRId64 ": ledger ends at %" PRId64 ", balance %" PRId64,
                rec->id, running, c->s->users.v[u].balance);
}

static void check_ledger_chain(ctx *c)
{
    const audit_state *s = c->s;
    for (size_t r = 0; r < s->record.n; r++) {
        const load_rec *rec = &s->record.v[r];
        if (rec->kind != LOAD_REC_USER || audit_index_get(&c->fx_user, rec->id) != r)
            continue;
        c->rep->r[AUDIT_INV_LEDGER_CHAIN].checked++;
        size_t lo, hi;
        user_ledger(c, rec->id, &lo, &hi);
        chain_user(c, rec, c->ledger + lo, hi - lo);
    }
}

static bool check_coupon_use(ctx *c)
{
    const audit_state *s = c->s;
    size_t nu = s->user_coupons.n + 1;
    int64_t *holders = calloc(nu, sizeof *holders);
    int64_t *holder = calloc(nu, sizeof *holder);
    if (holders == NULL || holder == NULL) {
        free(holders);
        free(holder);
        return false;
    }
    for (size_t i = 0; i < s->orders.n; i++) {
        const audit_order *o = &s->orders.v[i];
        size_t u = audit_index_get(&c->uc, o->user_coupon_id);
        if (u != SIZE_MAX && holds(o->status)) {
            holders[u]++;
            holder[u] = o->id;
        }
    }
    for (size_t u = 0; u < s->user_coupons.n; u++) {
        const audit_user_coupon *uc = &s->user_coupons.v[u];
        if (audit_index_get(&c->fx_coupon, uc->coupon_id) == SIZE_MAX && !is_fixture_user(c, uc->user_id))
            continue;
        c->rep->r[AUDIT_INV_COUPON_USED].checked++;
        if (holders[u] > 1 || uc->is_used != (holders[u] == 1) ||
            (uc->is_used && uc->used_order_id != holder[u]))
            violate(c, AUDIT_INV_COUPON_USED,
                    "user coupon %" PRId64 ": isUsed %s usedOrderId %" PRId64 ", held by %" PRId64
                    " orders (last %" PRId64 ")",
                    uc->id, uc->is_used ? "true" : "false", uc->used_order_id, holders[u], holder[u]);
    }
    free(holders);
    free(holder);
    return true;
}

static int cmp_pair(const void *a, const void *b)
{
    const int64_t *x = a, *y = b;
    if (x[0] != y[0])
        return (x[0] > y[0]) - (x[0] < y[0]);
    return (x[1] > y[1]) - (x[1] < y[1]);
}

static bool check_coupon_issue(ctx *c)
{
    const audit_state *s = c->s;
    int64_t *issued = calloc(s->record.n + 1, sizeof *issued);
    int64_t *pairs = calloc(2 * (s->user_coupons.n + 1), sizeof *pairs);
    size_t np = 0;
    if (issued == NULL || pairs == NULL) {
        free(issued);
        free(pairs);
        return false;
    }
    for (size_t u = 0; u < s->user_coupons.n; u++) {
        size_t r = audit_index_get(&c->fx_coupon, s->user_coupons.v[u].coupon_id);
        if (r == SIZE_MAX)
            continue;
        issued[r]++;
        pairs[2 * np] = s->user_coupons.v[u].coupon_id;
        pairs[2 * np + 1] = s->user_coupons.v[u].user_id;
        np++;
    }
    for (size_t r = 0; r < s->record.n; r++) {
        const load_rec *rec = &s->record.v[r];
        size_t at = rec->kind == LOAD_REC_COUPON ? audit_index_get(&c->coupon, rec->id) : SIZE_MAX;
        if (at == SIZE_MAX)
            continue;
        const audit_coupon *cp = &s->coupons.v[at];
        c->rep->r[AUDIT_INV_COUPON_ISSUED].checked++;
        if (cp->issued_quantity != issued[r] || cp->issued_quantity > cp->total_quantity)
            violate(c, AUDIT_INV_COUPON_ISSUED,
                    "coupon %" PRId64 ": issuedQuantity %" PRId64 ", %" PRId64 " user coupons, total %" PRId64,
                    cp->id, cp->issued_quantity, issued[r], cp->total_quantity);
    }
    qsort(pairs, np, 2 * sizeof *pairs, cmp_pair);
    c->rep->r[AUDIT_INV_COUPON_UNIQUE].checked = (int64_t)np;
    for (size_t i = 1; i < np; i++)
        if (cmp_pair(&pairs[2 * i], &pairs[2 * (i - 1)]) == 0)
            violate(c, AUDIT_INV_COUPON_UNIQUE, "coupon %" PRId64 " issued twice to user %" PRId64,
                    pairs[2 * i], pairs[2 * i + 1]);
    free(issued);
    free(pairs);
    return true;
}

static bool check_data_platform(ctx *c)
{
    const audit_state *s = c->s;
    size_t no = s->orders.n + 1;
    int64_t *stored = calloc(no, sizeof *stored);
    size_t *which = calloc(no, sizeof *which);
    if (stored == NULL || which == NULL) {
        free(stored);
        free(which);
        return false;
    }
    for (size_t d = 0; d < s->dp_orders.n; d++) {
        const audit_dp_order *r = &s->dp_orders.v[d];
        size_t oi = audit_index_get(&c->order, r->order_id);
        if (oi == SIZE_MAX) {
            if (is_fixture_user(c, r->user_id))
                violate(c, AUDIT_INV_DATA_PLATFORM, "stored order %" PRId64 " (user %" PRId64 ") does not exist",
                        r->order_id, r->user_id);
            continue;
        }
        if (!c->rel_order[oi])
            continue;
        stored[oi]++;
        which[oi] = d;
        const audit_order *o = &s->orders.v[oi];
        if (o->status != AUDIT_O_PAID)
            violate(c, AUDIT_INV_DATA_PLATFORM, "stored order %" PRId64 " is %s", o->id,
                    audit_order_status_name(o->status));
    }
    for (size_t i = 0; i < s->orders.n; i++) {
        const audit_order *o = &s->orders.v[i];
        if (!c->rel_order[i] || o->status != AUDIT_O_PAID)
            continue;
        c->rep->r[AUDIT_INV_DATA_PLATFORM].checked++;
        const audit_dp_order *r = stored[i] > 0 ? &s->dp_orders.v[which[i]] : NULL;
        if (stored[i] != 1)
            violate(c, AUDIT_INV_DATA_PLATFORM, "PAID order %" PRId64 " stored %" PRId64 " times", o->id,
                    stored[i]);
        else if (r->payment_id != o->payment_id || r->final_amount != o->final_amount ||
                 r->user_id != o->user_id)
            violate(c, AUDIT_INV_DATA_PLATFORM, "stored order %" PRId64 " differs (payment %" PRId64
                    ", final %" PRId64 ")", o->id, r->payment_id, r->final_amount);
    }
    free(stored);
    free(which);
    return true;
}

/* --- acknowledged writes ----------------------------------------------------- */

static void ack_order(ctx *c, const load_rec *r)
{
    const audit_order *o = order_by_id(c, r->id);
    if (o == NULL)
        violate(c, AUDIT_INV_ACKED, "order %" PRId64 " (key %s) not found", r->id, r->key);
    else if (o->status == AUDIT_O_PENDING || o->status == AUDIT_O_FAILED || o->status == AUDIT_O_OTHER ||
             o->user_id != r->user_id || o->final_amount != r->amount ||
             o->user_coupon_id != r->user_coupon_id)
        violate(c, AUDIT_INV_ACKED, "order %" PRId64 " (key %s) is %s, user %" PRId64 ", final %" PRId64
                ", told user %" PRId64 ", final %" PRId64,
                r->id, r->key, audit_order_status_name(o->status), o->user_id, o->final_amount,
                r->user_id, r->amount);
}

static void ack_payment(ctx *c, const load_rec *r)
{
    const audit_payment *p = payment_by_id(c, r->id);
    const audit_order *o = order_by_id(c, r->order_id);
    if (p == NULL || p->status != AUDIT_P_COMPLETED || p->amount != r->amount ||
        p->order_id != r->order_id || p->user_id != r->user_id)
        violate(c, AUDIT_INV_ACKED, "payment %" PRId64 " (key %s): %s, told COMPLETED of %" PRId64,
                r->id, r->key, p == NULL ? "not found" : audit_pay_status_name(p->status), r->amount);
    else if (o == NULL || o->status != AUDIT_O_PAID || o->payment_id != r->id)
        violate(c, AUDIT_INV_ACKED, "payment %" PRId64 ": order %" PRId64 " is %s", r->id, r->order_id,
                o == NULL ? "missing" : audit_order_status_name(o->status));
}

/* True when ref names the charge of key: "<anything>:<key>" or "<key>". */
static bool ref_has_key(const char *ref, const char *key)
{
    size_t rl = strlen(ref), kl = strlen(key);
    if (kl == 0 || rl < kl || strcmp(ref + rl - kl, key) != 0)
        return false;
    return rl == kl || ref[rl - kl - 1] == ':';
}

static void ack_issue(ctx *c, const load_rec *r)
{
    size_t u = audit_index_get(&c->uc, r->id);
    const audit_user_coupon *uc = u == SIZE_MAX ? NULL : &c->s->user_coupons.v[u];
    if (uc == NULL || uc->coupon_id != r->coupon_id || uc->user_id != r->user_id)
        violate(c, AUDIT_INV_ACKED, "user coupon %" PRId64 " (coupon %" PRId64 ", user %" PRId64 ", key %s) %s",
                r->id, r->coupon_id, r->user_id, r->key, uc == NULL ? "not found" : "differs");
}

static void ack_cancelled(ctx *c, const load_rec *r)
{
    const audit_order *o = order_by_id(c, r->order_id);
    size_t oi = audit_index_get(&c->order, r->order_id);
    if (o == NULL || o->status != AUDIT_O_CANCELLED || o->user_id != r->user_id)
        violate(c, AUDIT_INV_ACKED, "order %" PRId64 " told %s is %s", r->order_id,
                r->kind == LOAD_REC_CANCEL ? "CANCELLED (200 PATCH)" : "unpaid (402)",
                o == NULL ? "missing" : audit_order_status_name(o->status));
    else if (c->completed_count[oi] != 0)
        violate(c, AUDIT_INV_ACKED, "order %" PRId64 " told cancelled has a COMPLETED payment",
                r->order_id);
}

/* Finds the CHARGE entry of rec among its user's entries: on pass 0 by the
 * key in the ref, on pass 1 by amount among refs that carry no key. */
static bool claim_charge(ctx *c, const load_rec *rec, bool *claimed, int pass)
{
    size_t lo, hi;
    user_ledger(c, rec->user_id, &lo, &hi);
    for (size_t i = lo; i < hi; i++) {
        const audit_ledger *e = c->ledger[i];
        if (claimed[i] || e->kind != AUDIT_L_CHARGE || e->amount != rec->amount)
            continue;
        if (pass == 0 ? ref_has_key(e->ref, rec->key) : strchr(e->ref, ':') == NULL) {
            claimed[i] = true;
            return true;
        }
    }
    return false;
}

static bool ack_charges(ctx *c)
{
    const audit_state *s = c->s;
    bool *claimed = calloc(c->n_ledger + 1, sizeof *claimed);
    bool *found = calloc(s->record.n + 1, sizeof *found);
    if (claimed == NULL || found == NULL) {
        free(claimed);
        free(found);
        return false;
    }
    for (int pass = 0; pass < 2; pass++) {
        for (size_t r = 0; r < s->record.n; r++) {
            const load_rec *rec = &s->record.v[r];
            if (rec->kind != LOAD_REC_CHARGE || found[r])
                continue;
            found[r] = claim_charge(c, rec, claimed, pass);
            if (pass == 1 && !found[r])
                violate(c, AUDIT_INV_ACKED,
                        "charge of %" PRId64 " to user %" PRId64 " (key %s) not in the ledger",
                        rec->amount, rec->user_id, rec->key);
        }
    }
    free(claimed);
    free(found);
    return true;
}

static bool check_acked(ctx *c)
{
    const audit_state *s = c->s;
    for (size_t r = 0; r < s->record.n; r++) {
        const load_rec *rec = &s->record.v[r];
        switch (rec->kind) {
        case LOAD_REC_ORDER:
            ack_order(c, rec);
            break;
        case LOAD_REC_PAYMENT:
            ack_payment(c, rec);
            break;
        case LOAD_REC_ISSUE:
            ack_issue(c, rec);
            break;
        case LOAD_REC_CANCEL:
        case LOAD_REC_DECLINED:
            ack_cancelled(c, rec);
            break;
        case LOAD_REC_CHARGE:
            break; /* matched in ack_charges */
        default:
            continue;
        }
        c->rep->r[AUDIT_INV_ACKED].checked++;
    }
    return ack_charges(c);
}

int64_t audit_check_all(const audit_state *s, audit_report *out)
{
    ctx c;
    int64_t total = -1;
    memset(out, 0, sizeof *out);
    for (int i = 0; i < AUDIT_N_INV; i++)
        out->r[i].name = inv_names[i];
    if (!ctx_init(&c, s, out))
        goto out;
    check_fixtures(&c);
    check_order_states(&c);
    check_order_amounts(&c);
    check_paid_orders(&c);
    check_payment_orders(&c);
    if (!check_stock(&c))
        goto out;
    check_money(&c);
    check_ledger_payments(&c);
    check_ledger_chain(&c);
    if (!check_coupon_use(&c) || !check_coupon_issue(&c) ||
        !check_data_platform(&c) || !check_acked(&c))
        goto out;
    int64_t cancelling = count_cancelling(&c);
    if (cancelling > 0) {
        snprintf(out->r[AUDIT_INV_STOCK].note, AUDIT_TEXT,
                 "%" PRId64 " CANCELLING orders counted as still holding their stock", cancelling);
        snprintf(out->r[AUDIT_INV_COUPON_USED].note, AUDIT_TEXT,
                 "%" PRId64 " CANCELLING orders counted as still holding their coupon", cancelling);
    }
    total = 0;
    for (int i = 0; i < AUDIT_N_INV; i++)
        total += out->r[i].violations;
    out->total = total;
out:
    ctx_release(&c);
    return total;
}

void audit_report_print(const audit_report *r, FILE *f)
{
    for (int i = 0; i < AUDIT_N_INV; i++) {
        const audit_result *x = &r->r[i];
        fprintf(f, "%8" PRId64 "  %s (%" PRId64 " checked)\n", x->violations, x->name, x->checked);
        for (int e = 0; e < x->n_examples; e++)
            fprintf(f, "            e.g. %s\n", x->examples[e]);
        if (x->violations > x->n_examples)
            fprintf(f, "            ... and %" PRId64 " more\n", x->violations - x->n_examples);
        if (x->note[0] != '\0')
            fprintf(f, "            note: %s\n", x->note);
    }
    fprintf(f, "%8" PRId64 "  violations in all\n", r->total);
}

void audit_find_unsettled(const audit_state *s, audit_unsettled *out)
{
    ctx c;
    audit_report scratch;
    memset(out, 0, sizeof *out);
    if (!ctx_init(&c, s, &scratch)) {
        out->pending_orders = -1;
        goto out;
    }
    for (size_t i = 0; i < s->orders.n; i++) {
        if (!c.rel_order[i])
            continue;
        out->pending_orders += s->orders.v[i].status == AUDIT_O_PENDING;
        out->cancelling_orders += s->orders.v[i].status == AUDIT_O_CANCELLING;
    }
    for (size_t i = 0; i < s->payments.n; i++) {
        if (!c.rel_payment[i])
            continue;
        out->pending_payments += s->payments.v[i].status == AUDIT_P_PENDING;
        out->undelivered_payments +=
            s->payments.v[i].status == AUDIT_P_COMPLETED && !s->payments.v[i].delivered;
    }
out:
    ctx_release(&c);
}
