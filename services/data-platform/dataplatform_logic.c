/* Pure rules of the data-platform stub (see dataplatform_logic.h). */
#include "dataplatform_logic.h"

#include <errno.h>
#include <math.h>
#include <stdlib.h>

bool dataplatform_rate_valid(double rate)
{
    return isfinite(rate) && rate >= 0.0 && rate <= 1.0;
}

bool dataplatform_parse_rate(const char *s, double *rate)
{
    if (s == NULL || *s == '\0')
        return false;
    char *end = NULL;
    errno = 0;
    double v = strtod(s, &end);
    if (errno != 0 || end == s || *end != '\0' || !dataplatform_rate_valid(v))
        return false;
    *rate = v;
    return true;
}

uint64_t dataplatform_random_seed(uint64_t bits)
{
    return bits != 0 ? bits : 0x9E3779B97F4A7C15ULL;
}

uint64_t dataplatform_random_next(uint64_t *state)
{
    uint64_t x = *state != 0 ? *state : dataplatform_random_seed(0);
    x ^= x >> 12;
    x ^= x << 25;
    x ^= x >> 27;
    *state = x;
    return x * 0x2545F4914F6CDD1DULL;
}

bool dataplatform_should_fail(double rate, uint64_t r)
{
    if (!(rate > 0.0))
        return false;
    if (rate >= 1.0)
        return true;
    /* The top 53 bits as a uniform double in [0, 1). */
    double u = (double)(r >> 11) * (1.0 / 9007199254740992.0);
    return u < rate;
}

bool dataplatform_amounts_consistent(int64_t total, int64_t discount, int64_t final_amount)
{
    return total >= 0 && discount >= 0 && discount <= total && final_amount == total - discount;
}
