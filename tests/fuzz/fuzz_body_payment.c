/* Fuzzes payment-service's request body, POST /payments {"orderId","userId"}
 * (read in the static handle_create of services/payment/routes.c, repeated
 * here), compared with the spec's independent reading; an accepted body's
 * ids then go through payment_ref as the saga names its debit and refund. */
#include <stdio.h>
#include <string.h>

#include "fuzz_support.h"
#include "../../services/payment/payment_logic.h"
#include "../../services/user/user_logic.h"

static const spec_field create_fields[] = {
    {.name = "orderId", .kind = SPEC_INT, .min = 1, .max = JSON_INT_MAX},
    {.name = "userId", .kind = SPEC_INT, .min = 1, .max = JSON_INT_MAX},
};
static const spec_route create_spec = {"POST /payments", create_fields, 2, NULL};

static bool validate_create(const cJSON *body, json_err *err)
{
    int64_t order_id, user_id;
    if (!json_get_int(body, "orderId", 1, JSON_INT_MAX, &order_id, err) ||
        !json_get_int(body, "userId", 1, JSON_INT_MAX, &user_id, err))
        return false;
    /* The refs the saga derives from an id of this size are valid refs of
     * user-service. */
    char ref[PAYMENT_REF_LEN];
    FUZZ_CHECK(payment_ref(ref, sizeof ref, "refund", order_id) && user_ref_valid(ref),
               "refund ref of %lld: \"%s\"", (long long)order_id, ref);
    FUZZ_CHECK(payment_ref(ref, sizeof ref, "pay", user_id) && user_ref_valid(ref),
               "pay ref of %lld: \"%s\"", (long long)user_id, ref);
    return true;
}

static const body_route routes[] = {{&create_spec, validate_create}};

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    fuzz_bodies(routes, 1, data, size);
    return 0;
}
