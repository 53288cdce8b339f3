/* Pure rules of the user service: limits, ref syntax, and the overflow-free
 * balance arithmetic the store's conditional updates mirror.
 * No civetweb, curl or SQLite here, so unit tests call it with plain values. */
#ifndef USER_LOGIC_H
#define USER_LOGIC_H

#include <stdbool.h>
#include <stdint.h>

#define USER_BALANCE_LIMIT 1000000000000LL /* 10^12: no charge passes it */
#define USER_BALANCE_MAX 999999999999999LL /* largest exact JSON integer */
#define USER_CHARGE_MAX 100000000LL        /* one charge: 1..10^8 */
#define USER_MOVE_MAX 999999999999999LL    /* one debit or credit */
#define USER_NAME_MAX 200
#define USER_REF_MAX 64

/* True when ref is 1..64 characters of [A-Za-z0-9:._-]. */
bool user_ref_valid(const char *ref);

/* True when balance + amount stays within cap (both non-negative, cap >= 0);
 * computed without overflow. */
bool user_add_fits(int64_t balance, int64_t amount, int64_t cap);

/* True when a debit of amount leaves balance >= 0. */
bool user_debit_fits(int64_t balance, int64_t amount);

#endif
