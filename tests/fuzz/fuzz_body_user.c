/* Fuzzes user-service's request bodies: POST /users, POST
 * /users/{id}/balance/charge, /debits, /credits and /debits/void. Their
 * validation lives in static handlers of services/user/routes.c, so each
 * route here repeats the handler's json_get_* calls with its rules (plus the
 * public user_ref_valid), compared with the spec's independent reading. */
#include <stdio.h>
#include <string.h>

#include "fuzz_support.h"
#include "idempotency.h"
#include "../../services/user/user_logic.h"

static const spec_field create_fields[] = {
    {.name = "name", .kind = SPEC_STR, .min = 1, .max = USER_NAME_MAX},
    {.name = "balance", .kind = SPEC_INT, .min = 0, .max = USER_BALANCE_LIMIT},
};
static const spec_route create_spec = {"POST /users", create_fields, 2, NULL};

static const spec_field charge_fields[] = {
    {.name = "amount", .kind = SPEC_INT, .min = 1, .max = USER_CHARGE_MAX},
};
static const spec_route charge_spec = {"POST /users/{id}/balance/charge", charge_fields, 1, NULL};

static const spec_field move_fields[] = {
    {.name = "ref", .kind = SPEC_REF},
    {.name = "amount", .kind = SPEC_INT, .min = 1, .max = USER_MOVE_MAX},
};
static const spec_route move_spec = {"POST /users/{id}/debits|credits", move_fields, 2, NULL};

static const spec_field void_fields[] = {{.name = "ref", .kind = SPEC_REF}};
static const spec_route void_spec = {"POST /users/{id}/debits/void", void_fields, 1, NULL};

static bool validate_create(const cJSON *body, json_err *err)
{
    const char *name;
    int64_t balance, v;
    if (!json_get_string(body, "name", 1, USER_NAME_MAX, &name, err) ||
        !json_get_int(body, "balance", 0, USER_BALANCE_LIMIT, &balance, err))
        return false;
    FUZZ_CHECK(spec_int_value(body, "balance", &v) && v == balance, "balance %lld",
               (long long)balance);
    /* A new balance is a charge from 0: it must fit the limit. */
    FUZZ_CHECK(user_add_fits(0, balance, USER_BALANCE_LIMIT), "balance %lld does not fit",
               (long long)balance);
    return true;
}

static bool validate_charge(const cJSON *body, json_err *err)
{
    int64_t amount, v;
    if (!json_get_int(body, "amount", 1, USER_CHARGE_MAX, &amount, err))
        return false;
    FUZZ_CHECK(spec_int_value(body, "amount", &v) && v == amount, "amount %lld",
               (long long)amount);
    return true;
}

/* As read_ref_body in services/user/routes.c. */
static bool read_ref(const cJSON *body, bool with_amount, json_err *err)
{
    const char *ref;
    int64_t amount;
    bool ok = json_get_string(body, "ref", 1, USER_REF_MAX, &ref, err);
    if (ok && !user_ref_valid(ref)) {
        snprintf(err->msg, sizeof err->msg, "ref: must be 1..64 of [A-Za-z0-9:._-]");
        ok = false;
    }
    if (ok && with_amount)
        ok = json_get_int(body, "amount", 1, USER_MOVE_MAX, &amount, err);
    if (ok)
        FUZZ_CHECK(idem_key_valid(ref), "a valid ref \"%s\" is no valid Idempotency-Key", ref);
    return ok;
}

static bool validate_move(const cJSON *body, json_err *err)
{
    return read_ref(body, true, err);
}

static bool validate_void(const cJSON *body, json_err *err)
{
    return read_ref(body, false, err);
}

static const body_route routes[] = {
    {&create_spec, validate_create},
    {&charge_spec, validate_charge},
    {&move_spec, validate_move},
    {&void_spec, validate_void},
};

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    fuzz_bodies(routes, sizeof routes / sizeof routes[0], data, size);
    return 0;
}
