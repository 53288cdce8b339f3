/* Pure rules of the user service (see user_logic.h). */
#include "user_logic.h"

#include <string.h>

bool user_ref_valid(const char *ref)
{
    if (ref == NULL)
        return false;
    size_t n = strlen(ref);
    if (n < 1 || n > USER_REF_MAX)
        return false;
    for (size_t i = 0; i < n; i++) {
        char c = ref[i];
        bool ok = (c >= 'A' && c <= 'Z') || (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') ||
                  c == ':' || c == '.' || c == '_' || c == '-';
        if (!ok)
            return false;
    }
    return true;
}

bool user_add_fits(int64_t balance, int64_t amount, int64_t cap)
{
    if (balance < 0 || amount < 0 || cap < 0)
        return false;
    return amount <= cap && balance <= cap - amount;
}

bool user_debit_fits(int64_t balance, int64_t amount)
{
    return balance >= 0 && amount >= 0 && balance >= amount;
}
