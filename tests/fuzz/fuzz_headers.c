/* Fuzzes the checks on request headers and query strings against oracles
 * written from API.md: idem_key_valid (Idempotency-Key), http_request_id_valid
 * (X-Request-Id), user_ref_valid (debit/credit refs), http_token_equal
 * (X-Internal-Token, X-Admin-Token), gateway_admin_decide, the status and
 * type names (order, payment, coupon), dataplatform_parse_rate, and
 * http_query_int / http_query_str on a request that only has a query. */
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "../../services/coupon/coupon_logic.h"
#include "../../services/data-platform/dataplatform_logic.h"
#include "fuzz_support.h"
#include "../../api-gateway/gateway_logic.h"
#include "http_server.h"
#include "idempotency.h"
#include "../../services/order/order_logic.h"
#include "../../services/payment/payment_logic.h"
#include "../../services/user/user_logic.h"

static bool oracle_key(const char *s)
{
    size_t n = strlen(s);
    for (size_t i = 0; i < n; i++)
        if ((unsigned char)s[i] < 0x20 || (unsigned char)s[i] > 0x7e)
            return false;
    return n >= 1 && n <= 255;
}

static bool oracle_request_id(const char *s)
{
    size_t n = strlen(s);
    for (size_t i = 0; i < n; i++)
        if (!((s[i] >= 'A' && s[i] <= 'Z') || (s[i] >= 'a' && s[i] <= 'z') ||
              (s[i] >= '0' && s[i] <= '9') || s[i] == '.' || s[i] == '_' || s[i] == '-'))
            return false;
    return n >= 1 && n <= 128;
}

static bool oracle_ref(const char *s)
{
    size_t n = strlen(s);
    for (size_t i = 0; i < n; i++)
        if (!((s[i] >= 'A' && s[i] <= 'Z') || (s[i] >= 'a' && s[i] <= 'z') ||
              (s[i] >= '0' && s[i] <= '9') || s[i] == ':' || s[i] == '.' || s[i] == '_' ||
              s[i] == '-'))
            return false;
    return n >= 1 && n <= 64;
}

static bool in_list(const char *s, const char *const *names)
{
    for (; *names != NULL; names++)
        if (strcmp(s, *names) == 0)
            return true;
    return false;
}

static void check_names(const char *s)
{
    static const char *const order_names[] = {"PENDING",    "CREATED",   "PAID",
                                              "CANCELLING", "CANCELLED", "FAILED", NULL};
    static const char *const payment_names[] = {"PENDING", "COMPLETED", "FAILED", "REFUNDED", NULL};
    static const char *const coupon_names[] = {"FIXED", "PERCENT", NULL};
    order_status os;
    bool ok = order_status_parse(s, &os);
    FUZZ_CHECK(ok == in_list(s, order_names) && (!ok || strcmp(order_status_name(os), s) == 0),
               "order_status_parse(\"%s\")", s);
    payment_status ps = payment_status_parse(s);
    FUZZ_CHECK((ps != PAYMENT_STATUS_INVALID) == in_list(s, payment_names) &&
                   (ps == PAYMENT_STATUS_INVALID || strcmp(payment_status_name(ps), s) == 0),
               "payment_status_parse(\"%s\")", s);
    coupon_discount_type ct;
    ok = coupon_type_parse(s, &ct);
    FUZZ_CHECK(ok == in_list(s, coupon_names) && (!ok || strcmp(coupon_type_name(ct), s) == 0),
               "coupon_type_parse(\"%s\")", s);
    double rate = -1;
    if (dataplatform_parse_rate(s, &rate))
        FUZZ_CHECK(isfinite(rate) && rate >= 0.0 && rate <= 1.0, "rate \"%s\" -> %g", s, rate);
}

/* The query checks of the list routes, on a request that has only a query
 * (http_query_int/_str read nothing else). */
static void check_query(const char *q)
{
    http_req req;
    memset(&req, 0, sizeof req);
    req.query = q;
    int64_t v = -7;
    if (http_query_int(&req, "limit", 1, 500, 100, &v))
        FUZZ_CHECK(v >= 1 && v <= 500, "limit %lld from \"%s\"", (long long)v, q);
    /* Absent: the default (civetweb's mg_get_var matches names in any case). */
    if (strcasestr(q, "limit") == NULL)
        FUZZ_CHECK(http_query_int(&req, "limit", 1, 500, 100, &v) && v == 100, "default limit");
    if (http_query_int(&req, "afterId", 0, JSON_INT_MAX, 0, &v))
        FUZZ_CHECK(v >= 0 && v <= JSON_INT_MAX, "afterId %lld", (long long)v);
    char buf[16];
    memset(buf, 'X', sizeof buf);
    if (http_query_str(&req, "status", buf, sizeof buf))
        FUZZ_CHECK(memchr(buf, 0, sizeof buf) != NULL, "status not terminated");
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    fuzz_in in = {data, size};
    uint8_t mode = fuzz_u8(&in);
    char *a = fuzz_str(&in, 400, NULL);
    char *b = fuzz_rest(&in, NULL);
    switch (mode % 4) {
    case 0:
        FUZZ_CHECK(idem_key_valid(a) == oracle_key(a), "idem_key_valid(\"%s\")", a);
        FUZZ_CHECK(http_request_id_valid(a) == oracle_request_id(a), "http_request_id_valid(\"%s\")",
                   a);
        FUZZ_CHECK(user_ref_valid(a) == oracle_ref(a), "user_ref_valid(\"%s\")", a);
        break;
    case 1:
        FUZZ_CHECK(http_token_equal(a, b) == (strcmp(a, b) == 0), "http_token_equal");
        FUZZ_CHECK(gateway_admin_decide(a, b) ==
                       (a[0] == '\0'          ? GATEWAY_ADMIN_DISABLED
                        : strcmp(a, b) == 0 ? GATEWAY_ADMIN_OK
                                            : GATEWAY_ADMIN_UNAUTHORIZED),
                   "gateway_admin_decide");
        FUZZ_CHECK(gateway_admin_decide(a, NULL) != GATEWAY_ADMIN_OK, "no token passes");
        break;
    case 2:
        check_names(a);
        break;
    default:
        check_query(a);
        break;
    }
    free(a);
    free(b);
    return 0;
}
