/* Clocks and RFC 3339 times. */
#ifndef SHOP_TIMEUTIL_H
#define SHOP_TIMEUTIL_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#define TIME_RFC3339_LEN 21 /* "2026-11-24T12:00:00Z" plus NUL */
#define TIME_MAX_EPOCH_S 253402300799LL /* 9999-12-31T23:59:59Z */

/* Wall-clock milliseconds since the epoch. */
int64_t time_now_ms(void);

/* Monotonic milliseconds, for durations and deadlines. */
int64_t time_mono_ms(void);

/* Writes epoch seconds as "YYYY-MM-DDTHH:MM:SSZ" into out (>= TIME_RFC3339_LEN),
 * clamped to 1970..9999. */
void time_format_rfc3339(int64_t epoch_s, char *out);

/* Parses an RFC 3339 time ("2026-11-24T12:00:00Z", fractions and numeric
 * offsets accepted) into epoch seconds. Returns false when it is not one, or
 * lies outside 1970-01-01T00:00:00Z..9999-12-31T23:59:59Z. */
bool time_parse_rfc3339(const char *s, int64_t *epoch_s);

/* Sleeps ms milliseconds (restarting after signals). */
void time_sleep_ms(int64_t ms);

#endif
