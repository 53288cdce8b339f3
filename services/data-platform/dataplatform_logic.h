/* Pure rules of the data-platform stub: fault settings (their ranges, the
 * env syntax of a fail rate, whether one request fails), a small random
 * generator, and the consistency of a paid order's amounts. No civetweb,
 * curl or SQLite here. */
#ifndef DATAPLATFORM_LOGIC_H
#define DATAPLATFORM_LOGIC_H

#include <stdbool.h>
#include <stdint.h>

#define DATAPLATFORM_DELAY_MAX_MS 60000
#define DATAPLATFORM_LINES_MAX 50
#define DATAPLATFORM_QUANTITY_MAX 1000
#define DATAPLATFORM_PRICE_MAX 1000000000LL
#define DATAPLATFORM_LIST_MAX 500
#define DATAPLATFORM_LIST_DEFAULT 100

/* True when rate is a fail rate: a finite number in 0.0..1.0. */
bool dataplatform_rate_valid(double rate);

/* Parses a fail rate from text ("0", "0.25", "1.0"); the whole string must be
 * the number. OUT: *rate. Returns false when s is not a valid rate. */
bool dataplatform_parse_rate(const char *s, double *rate);

/* Advances the xorshift64* state (never 0) and returns the next value. */
uint64_t dataplatform_random_next(uint64_t *state);

/* A seed for dataplatform_random_next from any 64 bits (never 0). */
uint64_t dataplatform_random_seed(uint64_t bits);

/* True when a request with random value r fails at this rate: rate 0 never,
 * rate 1 always, else with probability rate. */
bool dataplatform_should_fail(double rate, uint64_t r);

/* True when the amounts of a paid order add up: 0 <= discount <= total and
 * final == total - discount. */
bool dataplatform_amounts_consistent(int64_t total, int64_t discount, int64_t final_amount);

#endif
