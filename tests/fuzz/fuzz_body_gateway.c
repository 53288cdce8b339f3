/* Fuzzes the gateway's request reading: the PATCH /api/payments body
 * (gateway_cancel_from_json) against the spec, the body it then sends to
 * order-service (gateway_cancel_body) read back as order-service reads it,
 * and the upstream path and query it builds (gateway_build_path) against an
 * oracle. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "fuzz_support.h"
#include "../../api-gateway/gateway_logic.h"

static const char *const cancelled[] = {"CANCELLED", NULL};

static const spec_field cancel_fields[] = {
    {.name = "orderId", .kind = SPEC_INT, .min = 1, .max = JSON_INT_MAX},
    {.name = "userId", .kind = SPEC_INT, .min = 1, .max = JSON_INT_MAX},
    {.name = "status", .kind = SPEC_ENUM, .values = cancelled},
};
static const spec_route cancel_spec = {"PATCH /api/payments", cancel_fields, 3, NULL};

static bool validate_cancel(const cJSON *body, json_err *err)
{
    int64_t order_id = 0, user_id = 0, spec = 0;
    if (!gateway_cancel_from_json(body, &order_id, &user_id, err))
        return false;
    FUZZ_CHECK(spec_int_value(body, "orderId", &spec) && spec == order_id, "orderId");
    FUZZ_CHECK(spec_int_value(body, "userId", &spec) && spec == user_id, "userId");
    /* The body for order-service, read as its cancel route reads it. */
    char out[64];
    size_t n = gateway_cancel_body(user_id, out, sizeof out);
    FUZZ_CHECK(n > 0 && n == strlen(out), "cancel body of %lld", (long long)user_id);
    json_err e2;
    cJSON *fwd = json_parse_object(out, n, &e2);
    int64_t back = 0;
    bool present = false;
    FUZZ_CHECK(fwd != NULL && json_get_int_opt(fwd, "userId", 1, JSON_INT_MAX, &back, &present, &e2) &&
                   present && back == user_id,
               "order-service reads \"%s\" differently", out);
    cJSON_Delete(fwd);
    /* Too small a buffer is refused, never cut. */
    FUZZ_CHECK(gateway_cancel_body(user_id, out, n) == 0 && gateway_cancel_body(user_id, out, n + 1) == n,
               "cancel body at its exact size");
    return true;
}

static const body_route routes[] = {{&cancel_spec, validate_cancel}};

static const char *const patterns[] = {
    "/items", "/items/{itemId}", "/users/{userId}/balance", "/orders/{orderId}/cancel",
    "/a/{x}/b/{y}/{z}", "", "{", "/x/{}", "/{a}{b}",
};

/* The oracle of gateway_build_path. */
static bool oracle_path(const char *pattern, const int64_t *params, int n, const char *query,
                        char *out, size_t out_len)
{
    char buf[8192];
    size_t pos = 0;
    int used = 0;
    for (const char *p = pattern; *p != '\0';) {
        if (*p == '{') {
            const char *close = strchr(p, '}');
            if (close == NULL || used >= n || params[used] <= 0)
                return false;
            pos += (size_t)snprintf(buf + pos, sizeof buf - pos, "%lld", (long long)params[used++]);
            p = close + 1;
        } else {
            buf[pos++] = *p++;
        }
    }
    if (used != n)
        return false;
    if (query != NULL && query[0] != '\0') {
        for (const unsigned char *q = (const unsigned char *)query; *q != '\0'; q++)
            if (*q < 0x21 || *q > 0x7e || *q == '#')
                return false;
        pos += (size_t)snprintf(buf + pos, sizeof buf - pos, "?%s", query);
    }
    buf[pos] = '\0';
    if (pos >= out_len)
        return false;
    memcpy(out, buf, pos + 1);
    return true;
}

static void build_path(fuzz_in *in)
{
    const char *pattern = patterns[fuzz_u8(in) % (sizeof patterns / sizeof patterns[0])];
    int n = fuzz_u8(in) % 5;
    int64_t params[4];
    for (int i = 0; i < n; i++)
        params[i] = fuzz_range(in, -1, JSON_INT_MAX);
    size_t out_len = (size_t)fuzz_range(in, 1, GATEWAY_PATH_MAX);
    bool with_query = fuzz_u8(in) & 1;
    char *query = fuzz_str(in, 4096, NULL);
    char *out = malloc(out_len), expect[8192];
    bool ok = gateway_build_path(pattern, params, n, with_query ? query : NULL, out, out_len);
    bool want = oracle_path(pattern, params, n, with_query ? query : NULL, expect, out_len);
    FUZZ_CHECK(ok == want, "gateway_build_path(\"%s\", %d ids, \"%s\", %zu) %d, oracle %d", pattern,
               n, query, out_len, ok, want);
    if (ok)
        FUZZ_CHECK(strcmp(out, expect) == 0, "built \"%s\", oracle \"%s\"", out, expect);
    free(out);
    free(query);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    if (size >= 1 && data[0] % 2 == 1) {
        fuzz_in in = {data + 1, size - 1};
        build_path(&in);
        return 0;
    }
    fuzz_bodies(routes, 1, data, size);
    return 0;
}
