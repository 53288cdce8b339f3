/* Clocks and RFC 3339 times. */
#ifndef SHOP_TIMEUTIL_H
#define SHOP_TIMEUTIL_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#define TIME_RFC3339_LEN 21 /* "2026-11-24T12:00:00Z" plus NUL */

/* Wall-clock milliseconds since the epoch. */
int64_t time_now_ms(void);

/* Monotonic milliseconds, for durations and deadlines. */
int64_t time_mono_ms(void);

/* Writes epoch seconds as "YYYY-MM-DDTHH:MM:SSZ" into out (>= TIME_RFC3339_LEN). */
void time_format_rfc3339(int64_t epoch_s, char *out);

/* Parses an RFC 3339 time ("2026-11-24T12:00:00Z", fractions and numeric
 * offsets accepted) into epoch seconds. Returns false when it is not one. */
bool time_parse_rfc3339(const char *s, int64_t *epoch_s);

/* Sleeps ms milliseconds (restarting after signals). */
void time_sleep_ms(int64_t ms);

#endif
