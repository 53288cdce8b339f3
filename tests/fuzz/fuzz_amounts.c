/* Fuzzes the money arithmetic against exact 128-bit oracles, on the domains
 * the services use (amounts up to JSON_INT_MAX, so UBSan sees any overflow):
 * coupon_discount (coupon-service) and order_discount (order-service) must
 * give the same discount; order_compute_amounts; user_add_fits and
 * user_debit_fits (documented overflow-free on all of int64);
 * payment_balance_covers; dataplatform_amounts_consistent; the payment
 * outbox backoff and per-call timeout. */
#include <string.h>

#include "../../services/coupon/coupon_logic.h"
#include "../../services/data-platform/dataplatform_logic.h"
#include "fuzz_support.h"
#include "../../services/order/order_logic.h"
#include "../../services/payment/payment_logic.h"
#include "../../services/user/user_logic.h"

typedef __int128 i128;

static void discounts(fuzz_in *in)
{
    bool percent = fuzz_u8(in) & 1;
    int64_t min, max;
    coupon_value_range(percent ? COUPON_PERCENT : COUPON_FIXED, &min, &max);
    int64_t value = fuzz_range(in, min, max);
    int64_t total = fuzz_range(in, 0, COUPON_TOTAL_MAX);
    i128 want = percent ? (i128)total * value / 100 : (value < total ? value : total);
    int64_t c = coupon_discount(percent ? COUPON_PERCENT : COUPON_FIXED, value, total);
    int64_t o = -1;
    bool ok = order_discount(percent ? "PERCENT" : "FIXED", value, total, &o);
    FUZZ_CHECK(c == want && c >= 0 && c <= total, "coupon_discount(%d, %lld, %lld) = %lld",
               percent, (long long)value, (long long)total, (long long)c);
    FUZZ_CHECK(ok && o == c, "order_discount(%d, %lld, %lld) = %lld, coupon's %lld", percent,
               (long long)value, (long long)total, (long long)o, (long long)c);
    /* Out of range values are refused by order_discount. */
    int64_t bad = fuzz_range(in, -JSON_INT_MAX, JSON_INT_MAX);
    if (bad < min || bad > max)
        FUZZ_CHECK(!order_discount(percent ? "PERCENT" : "FIXED", bad, total, &o),
                   "order_discount takes value %lld", (long long)bad);
    FUZZ_CHECK(!order_discount("fixed", value, total, &o) && !order_discount(NULL, value, total, &o),
               "order_discount takes an unknown type");
    FUZZ_CHECK(!order_discount(percent ? "PERCENT" : "FIXED", value, -1 - total % 1000, &o),
               "order_discount takes a negative total");
}

static void amounts(fuzz_in *in)
{
    order_line lines[ORDER_MAX_LINES + 2];
    size_t n = fuzz_u8(in) % (ORDER_MAX_LINES + 3);
    bool in_range = n <= ORDER_MAX_LINES;
    i128 total = 0;
    for (size_t i = 0; i < n; i++) {
        bool wild = fuzz_u8(in) == 0xFF;
        lines[i].item_id = (int64_t)i + 1;
        lines[i].quantity = wild ? fuzz_i64(in) : fuzz_range(in, 1, ORDER_MAX_QUANTITY);
        lines[i].unit_price = wild ? fuzz_i64(in) : fuzz_range(in, 0, ORDER_PRICE_MAX);
        if (lines[i].quantity < 1 || lines[i].quantity > ORDER_MAX_QUANTITY ||
            lines[i].unit_price < 0 || lines[i].unit_price > ORDER_PRICE_MAX)
            in_range = false;
        else /* wild lines could overflow even 128 bits; they fail anyway */
            total += (i128)lines[i].quantity * lines[i].unit_price;
    }
    int64_t discount = fuzz_range(in, -1, (int64_t)(total > JSON_INT_MAX ? JSON_INT_MAX : total) + 1);
    order_amounts a;
    memset(&a, 0, sizeof a);
    bool ok = order_compute_amounts(lines, n, discount, &a);
    bool want = in_range && discount >= 0 && discount <= total;
    FUZZ_CHECK(ok == want, "order_compute_amounts(%zu lines, discount %lld) %d, oracle %d", n,
               (long long)discount, ok, want);
    if (ok) {
        FUZZ_CHECK(a.total == total && a.discount == discount &&
                       a.final_amount == total - discount && a.final_amount >= 0,
                   "amounts %lld %lld %lld", (long long)a.total, (long long)a.discount,
                   (long long)a.final_amount);
        FUZZ_CHECK(dataplatform_amounts_consistent(a.total, a.discount, a.final_amount),
                   "the data platform refuses an order's amounts");
        /* The payment: covered exactly when the balance is at least final. */
        int64_t balance = fuzz_range(in, 0, USER_BALANCE_MAX);
        FUZZ_CHECK(payment_balance_covers(balance, a.final_amount) == (balance >= a.final_amount) &&
                       user_debit_fits(balance, a.final_amount) == (balance >= a.final_amount),
                   "balance %lld, final %lld", (long long)balance, (long long)a.final_amount);
    }
}

static void balances(fuzz_in *in)
{
    int64_t balance = fuzz_i64(in), amount = fuzz_i64(in), cap = fuzz_i64(in);
    if (fuzz_u8(in) & 1) {
        balance = fuzz_range(in, 0, USER_BALANCE_MAX);
        amount = fuzz_range(in, 0, USER_MOVE_MAX);
        cap = fuzz_u8(in) & 1 ? USER_BALANCE_LIMIT : USER_BALANCE_MAX;
    }
    bool want = balance >= 0 && amount >= 0 && cap >= 0 && (i128)balance + amount <= cap;
    FUZZ_CHECK(user_add_fits(balance, amount, cap) == want, "user_add_fits(%lld, %lld, %lld)",
               (long long)balance, (long long)amount, (long long)cap);
    want = balance >= 0 && amount >= 0 && balance >= amount;
    FUZZ_CHECK(user_debit_fits(balance, amount) == want, "user_debit_fits(%lld, %lld)",
               (long long)balance, (long long)amount);
    FUZZ_CHECK(payment_balance_covers(balance, amount) == want, "payment_balance_covers");
    int64_t t = fuzz_i64(in), d = fuzz_i64(in), f = fuzz_i64(in);
    want = t >= 0 && d >= 0 && d <= t && (i128)f == (i128)t - d;
    FUZZ_CHECK(dataplatform_amounts_consistent(t, d, f) == want,
               "dataplatform_amounts_consistent(%lld, %lld, %lld)", (long long)t, (long long)d,
               (long long)f);
}

static void timing(fuzz_in *in)
{
    /* The cap as payment-service configures it
     * (PAYMENT_OUTBOX_MAX_BACKOFF_MS, 1..3600000). */
    int64_t attempts = fuzz_i64(in), max_ms = fuzz_range(in, 1, 3600000);
    int64_t got = payment_outbox_backoff_ms(attempts, max_ms);
    i128 want = 0;
    if (attempts >= 1) {
        want = PAYMENT_OUTBOX_FIRST_BACKOFF_MS;
        for (int64_t i = 1; i < attempts && want < max_ms; i++)
            want *= 2;
        if (want > max_ms)
            want = max_ms;
    }
    FUZZ_CHECK(got == want, "backoff(%lld, %lld) = %lld", (long long)attempts, (long long)max_ms,
               (long long)got);
    /* Monotonic clocks and timeouts as the saga has them: ms since boot
     * (below 2^50) and a call timeout of at most 10 minutes. */
    int64_t call = fuzz_range(in, 1, 600000);
    int64_t now = fuzz_range(in, 0, (int64_t)1 << 50), deadline = fuzz_range(in, 0, (int64_t)1 << 50);
    int64_t left = payment_call_timeout_ms(call, deadline, now);
    i128 want_left = deadline - now <= 0 ? 0 : (call < deadline - now ? call : deadline - now);
    FUZZ_CHECK(left == want_left, "call_timeout(%lld, %lld, %lld) = %lld", (long long)call,
               (long long)deadline, (long long)now, (long long)left);
    int64_t age = fuzz_range(in, 0, 86400000), now_s = fuzz_range(in, 0, (int64_t)1 << 40);
    int64_t cutoff = order_stale_cutoff(now_s, age);
    /* A row stamped at the cutoff second is older than age for certain. */
    FUZZ_CHECK((i128)(now_s - cutoff - 1) * 1000 >= age, "order_stale_cutoff(%lld, %lld) = %lld",
               (long long)now_s, (long long)age, (long long)cutoff);
    int64_t now_ms = now_s * 1000 + fuzz_range(in, 0, 999);
    int64_t cs = payment_stale_cutoff_s(now_ms, age);
    /* created_s < cs: created at most (cs - 1) + 0.999 s, so older than age. */
    FUZZ_CHECK((i128)now_ms - (i128)cs * 1000 >= age, "payment_stale_cutoff_s(%lld, %lld) = %lld",
               (long long)now_ms, (long long)age, (long long)cs);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    fuzz_in in = {data, size};
    switch (fuzz_u8(&in) % 4) {
    case 0:
        discounts(&in);
        break;
    case 1:
        amounts(&in);
        break;
    case 2:
        balances(&in);
        break;
    default:
        timing(&in);
        break;
    }
    return 0;
}
