/* Fuzzes RFC 3339 times (common/timeutil.h): time_parse_rfc3339 on any text
 * against a field-by-field oracle, and time_format_rfc3339 on what it
 * accepts: inside 1970..9999 (what coupons allow) a time renders as 20
 * characters that read back to the same second; outside it, the rendering
 * of years the services store anyway (data-platform's paidAt) is checked as
 * a known defect. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "fuzz_support.h"
#include "timeutil.h"

#define YEAR_9999_END 253402300799LL /* 9999-12-31T23:59:59Z */

static bool two(const char *s, int *v)
{
    if (s[0] < '0' || s[0] > '9' || s[1] < '0' || s[1] > '9')
        return false;
    *v = (s[0] - '0') * 10 + (s[1] - '0');
    return true;
}

static int64_t floor_div(int64_t a, int64_t b)
{
    return a >= 0 ? a / b : -((-a + b - 1) / b);
}

/* The oracle: the grammar of RFC 3339 (date-time), 'T'/'Z' in either case,
 * second 60 read as 59, and the epoch by counting days. */
static bool oracle_parse(const char *s, int64_t *out)
{
    int c1, c2, mo, d, h, mi, se;
    size_t n = strlen(s);
    if (n < 20 || !two(s, &c1) || !two(s + 2, &c2) || s[4] != '-' || !two(s + 5, &mo) ||
        s[7] != '-' || !two(s + 8, &d) || (s[10] != 'T' && s[10] != 't') || !two(s + 11, &h) ||
        s[13] != ':' || !two(s + 14, &mi) || s[16] != ':' || !two(s + 17, &se))
        return false;
    int64_t y = c1 * 100 + c2;
    bool leap = (y % 4 == 0 && y % 100 != 0) || y % 400 == 0;
    static const int mdays[] = {31, 28, 31, 30, 31, 30, 31, 31, 30, 31, 30, 31};
    if (mo < 1 || mo > 12 || d < 1 || d > mdays[mo - 1] + (mo == 2 && leap) || h > 23 ||
        mi > 59 || se > 60)
        return false;
    size_t i = 19;
    if (s[i] == '.') {
        i++;
        if (s[i] < '0' || s[i] > '9')
            return false;
        while (s[i] >= '0' && s[i] <= '9')
            i++;
    }
    int64_t offset = 0;
    if (s[i] == 'Z' || s[i] == 'z') {
        i++;
    } else if (s[i] == '+' || s[i] == '-') {
        int oh, om;
        if (n - i < 6 || !two(s + i + 1, &oh) || s[i + 3] != ':' || !two(s + i + 4, &om) ||
            oh > 23 || om > 59)
            return false;
        offset = (oh * 3600 + om * 60) * (s[i] == '+' ? 1 : -1);
        i += 6;
    } else {
        return false;
    }
    if (s[i] != '\0')
        return false;
    /* Days since 0000-03-01 by counting, then shifted to 1970-01-01. */
    int64_t yy = mo <= 2 ? y - 1 : y;
    int64_t mm = mo <= 2 ? mo + 9 : mo - 3;
    int64_t days = 365 * yy + floor_div(yy, 4) - floor_div(yy, 100) + floor_div(yy, 400) +
                   (153 * mm + 2) / 5 + d - 1;
    days -= 719468; /* 1970-01-01 from 0000-03-01 */
    *out = days * 86400 + h * 3600 + mi * 60 + (se == 60 ? 59 : se) - offset;
    /* The shop keeps times in 1970..9999 (UTC), what it can print back. */
    return *out >= 0 && *out <= 253402300799LL;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    fuzz_in in = {data, size};
    char *s = fuzz_str(&in, 128, NULL);
    int64_t got = 0, want = 0;
    bool ok = time_parse_rfc3339(s, &got);
    bool expect = oracle_parse(s, &want);
    FUZZ_CHECK(ok == expect, "time_parse_rfc3339(\"%s\") %d, oracle %d", s, ok, expect);
    if (ok) {
        FUZZ_CHECK(got == want, "\"%s\" -> %lld, oracle %lld", s, (long long)got, (long long)want);
        char buf[TIME_RFC3339_LEN + 16];
        int64_t back = 0;
        memset(buf, 'X', sizeof buf);
        time_format_rfc3339(got, buf);
        bool renders = memchr(buf, 0, TIME_RFC3339_LEN) != NULL && strlen(buf) == 20 &&
                       time_parse_rfc3339(buf, &back) && back == got;
        if (got >= 0 && got <= YEAR_9999_END)
            FUZZ_CHECK(renders, "%lld (from \"%s\") renders as \"%.21s\"", (long long)got, s, buf);
        else
            fuzz_known("rfc3339-format-range", renders,
                       "\"%s\" parses to %lld, which renders as \"%.21s\"", s, (long long)got, buf);
    }
    free(s);
    return 0;
}
