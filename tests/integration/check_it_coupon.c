/* Integration tests of coupon-service: the real binary (and the real
 * user-service it asks on issue) on loopback, driven over HTTP. Every route
 * and error with its exact status and code, Idempotency-Key on issue, races
 * with real threads, a peer that is down, and stopping on SIGTERM. */
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include <check.h>

#include "harness.h"

#define TOKEN "it-coupon-token"
#define TOKEN_HEADER "X-Internal-Token: " TOKEN

/* The stack of one tcase, started by the unchecked fixture in the parent. */
static svc_proc user_svc, coupon_svc;
static char *data_dir;

static const char *const auth_headers[] = {TOKEN_HEADER, NULL};

/* Starts user-service and coupon-service (seeded) in dir. */
static bool start_stack(char *dir, svc_proc *user, svc_proc *cpn)
{
    static char env[8][600];
    memset(user, 0, sizeof *user);
    memset(cpn, 0, sizeof *cpn);
    user->port = harness_free_port();
    cpn->port = harness_free_port();
    snprintf(user->log_path, sizeof user->log_path, "%s/user.log", dir);
    snprintf(cpn->log_path, sizeof cpn->log_path, "%s/coupon.log", dir);
    snprintf(env[0], sizeof env[0], "USER_PORT=%d", user->port);
    snprintf(env[1], sizeof env[1], "USER_DB_PATH=%s/user.db", dir);
    snprintf(env[2], sizeof env[2], "SHOP_INTERNAL_TOKEN=%s", TOKEN);
    snprintf(env[3], sizeof env[3], "SHOP_SEED=1");
    snprintf(env[4], sizeof env[4], "COUPON_PORT=%d", cpn->port);
    snprintf(env[5], sizeof env[5], "COUPON_DB_PATH=%s/coupon.db", dir);
    snprintf(env[6], sizeof env[6], "USER_URL=http://127.0.0.1:%d", user->port);
    const char *user_env[] = {env[0], env[1], env[2], env[3], NULL};
    const char *coupon_env[] = {env[2], env[3], env[4], env[5], env[6], NULL};
    return harness_start(user, "user-service", user_env) &&
           harness_start(cpn, "coupon-service", coupon_env);
}

static void stack_up(void)
{
    data_dir = harness_tmpdir();
    ck_assert_ptr_nonnull(data_dir);
    ck_assert_msg(start_stack(data_dir, &user_svc, &coupon_svc), "services did not start");
}

static void stack_down(void)
{
    harness_stop(&coupon_svc);
    harness_stop(&user_svc);
    harness_rmdir(data_dir);
    data_dir = NULL;
}

/* A request to port with the internal token; out may be NULL. */
static long call(int port, const char *method, const char *path, const char *body, hresp *out)
{
    return harness_req(method, port, path, body, auth_headers, out);
}

static long cpn(const char *method, const char *path, const char *body, hresp *out)
{
    return call(coupon_svc.port, method, path, body, out);
}

/* Asserts r is a problem reply with status and code, and frees it. */
static void expect_problem(hresp *r, long status, const char *code)
{
    ck_assert_msg(r->status == status, "status %ld, wanted %ld: %s", r->status, status, r->body);
    ck_assert_str_eq(r->content_type, "application/problem+json");
    ck_assert_ptr_nonnull(r->json);
    const cJSON *c = cJSON_GetObjectItemCaseSensitive(r->json, "code");
    ck_assert_msg(cJSON_IsString(c), "no code in %s", r->body);
    ck_assert_str_eq(c->valuestring, code);
    ck_assert_int_eq(harness_int(r->json, "status"), status);
    hresp_free(r);
}

static void expect_call_problem(const char *method, const char *path, const char *body, long status,
                                const char *code)
{
    hresp r;
    cpn(method, path, body, &r);
    expect_problem(&r, status, code);
}

static const char *str_of(const cJSON *o, const char *name)
{
    const cJSON *s = cJSON_GetObjectItemCaseSensitive(o, name);
    ck_assert_msg(cJSON_IsString(s), "%s is not a string", name);
    return s->valuestring;
}

static bool bool_of(const cJSON *o, const char *name)
{
    const cJSON *b = cJSON_GetObjectItemCaseSensitive(o, name);
    ck_assert_msg(cJSON_IsBool(b), "%s is not a boolean", name);
    return cJSON_IsTrue(b);
}

static bool is_null(const cJSON *o, const char *name)
{
    return cJSON_IsNull(cJSON_GetObjectItemCaseSensitive(o, name));
}

/* POSTs a coupon and returns its id. */
static long long create_coupon(const char *type, long long value, long long total,
                               const char *expires)
{
    char body[256];
    hresp r;
    snprintf(body, sizeof body,
             "{\"name\":\"it coupon\",\"discountType\":\"%s\",\"discountValue\":%lld,"
             "\"totalQuantity\":%lld,\"expiresAt\":\"%s\"}",
             type, value, total, expires);
    ck_assert_int_eq(cpn("POST", "/coupons", body, &r), 201);
    long long id = harness_int(r.json, "id");
    ck_assert_int_gt(id, 0);
    hresp_free(&r);
    return id;
}

/* POSTs a user to user-service and returns its id. */
static long long create_user(const char *name)
{
    char body[128];
    hresp r;
    snprintf(body, sizeof body, "{\"name\":\"%s\",\"balance\":1000}", name);
    ck_assert_int_eq(call(user_svc.port, "POST", "/users", body, &r), 201);
    long long id = harness_int(r.json, "id");
    ck_assert_int_gt(id, 0);
    hresp_free(&r);
    return id;
}

static long issue(long long coupon_id, long long user_id, hresp *out)
{
    char path[64], body[64];
    snprintf(path, sizeof path, "/coupons/%lld/issue", coupon_id);
    snprintf(body, sizeof body, "{\"userId\":%lld}", user_id);
    return cpn("POST", path, body, out);
}

static long long issued_quantity(long long coupon_id)
{
    char path[64];
    hresp r;
    snprintf(path, sizeof path, "/coupons/%lld", coupon_id);
    ck_assert_int_eq(cpn("GET", path, NULL, &r), 200);
    long long n = harness_int(r.json, "issuedQuantity");
    hresp_free(&r);
    return n;
}

/* The user coupon with id uc_id from GET /users/{user}/coupons (a detached
 * copy the caller deletes), or NULL. */
static cJSON *user_coupon(long long user_id, long long uc_id)
{
    char path[64];
    hresp r;
    cJSON *found = NULL;
    snprintf(path, sizeof path, "/users/%lld/coupons", user_id);
    ck_assert_int_eq(cpn("GET", path, NULL, &r), 200);
    const cJSON *it;
    cJSON_ArrayForEach(
        it, cJSON_GetObjectItemCaseSensitive(r.json, "coupons")) if (harness_int(it, "id") == uc_id)
        found = cJSON_Duplicate(it, 1);
    hresp_free(&r);
    return found;
}

static void format_time(time_t t, char *out, size_t len)
{
    struct tm tm;
    gmtime_r(&t, &tm);
    strftime(out, len, "%Y-%m-%dT%H:%M:%SZ", &tm);
}

/* ---- public routes ------------------------------------------------------ */

START_TEST(test_health_and_router)
{
    hresp r;
    ck_assert_int_eq(harness_req("GET", coupon_svc.port, "/health/live", NULL, NULL, NULL), 200);
    ck_assert_int_eq(harness_req("GET", coupon_svc.port, "/health", NULL, NULL, &r), 200);
    ck_assert_str_eq(str_of(r.json, "status"), "ok");
    ck_assert_str_eq(str_of(r.json, "service"), "coupon");
    hresp_free(&r);
    /* Without the internal token. */
    harness_req("GET", coupon_svc.port, "/coupons/1", NULL, NULL, &r);
    expect_problem(&r, 401, "UNAUTHORIZED");
    const char *wrong[] = {"X-Internal-Token: nope", NULL};
    harness_req("GET", coupon_svc.port, "/coupons/1", NULL, wrong, &r);
    expect_problem(&r, 401, "UNAUTHORIZED");
    expect_call_problem("GET", "/nope", NULL, 404, "NOT_FOUND");
    cpn("PUT", "/coupons/1", "{}", &r);
    ck_assert(harness_has_header(&r, "Allow", "GET"));
    expect_problem(&r, 405, "METHOD_NOT_ALLOWED");
    cpn("DELETE", "/coupons", NULL, &r);
    ck_assert(harness_has_header(&r, "Allow", "POST"));
    expect_problem(&r, 405, "METHOD_NOT_ALLOWED");
    expect_call_problem("GET", "/coupons/abc", NULL, 400, "INVALID_REQUEST");
    expect_call_problem("GET", "/coupons/0", NULL, 400, "INVALID_REQUEST");
    expect_call_problem("GET", "/coupons/1000000000000000", NULL, 400, "INVALID_REQUEST");
    expect_call_problem("GET", "/users/x/coupons", NULL, 400, "INVALID_REQUEST");
}
END_TEST

START_TEST(test_get_seeded_coupons)
{
    hresp r;
    ck_assert_int_eq(cpn("GET", "/coupons/1", NULL, &r), 200);
    ck_assert_str_eq(r.content_type, "application/json");
    ck_assert_str_eq(r.body, "{\"id\":1,\"name\":\"5,000 off\",\"discountType\":\"FIXED\","
                             "\"discountValue\":5000,\"totalQuantity\":100,\"issuedQuantity\":1,"
                             "\"expiresAt\":\"2030-12-31T23:59:59Z\"}");
    hresp_free(&r);
    ck_assert_int_eq(cpn("GET", "/coupons/2", NULL, &r), 200);
    ck_assert_str_eq(str_of(r.json, "name"), "10% off");
    ck_assert_str_eq(str_of(r.json, "discountType"), "PERCENT");
    ck_assert_int_eq(harness_int(r.json, "discountValue"), 10);
    ck_assert_int_eq(harness_int(r.json, "issuedQuantity"), 1);
    hresp_free(&r);
    ck_assert_int_eq(cpn("GET", "/coupons/3", NULL, &r), 200);
    ck_assert_str_eq(str_of(r.json, "name"), "Last one");
    ck_assert_int_eq(harness_int(r.json, "totalQuantity"), 1);
    ck_assert_int_eq(harness_int(r.json, "issuedQuantity"), 0);
    hresp_free(&r);
    expect_call_problem("GET", "/coupons/999", NULL, 404, "COUPON_NOT_FOUND");
}
END_TEST

START_TEST(test_create_coupon)
{
    hresp r;
    const char *body = "{\"name\":\"Spring\",\"discountType\":\"PERCENT\",\"discountValue\":15,"
                       "\"totalQuantity\":50,\"expiresAt\":\"2031-03-01T09:00:00Z\"}";
    ck_assert_int_eq(cpn("POST", "/coupons", body, &r), 201);
    long long id = harness_int(r.json, "id");
    ck_assert_int_gt(id, 3);
    ck_assert_str_eq(str_of(r.json, "name"), "Spring");
    ck_assert_str_eq(str_of(r.json, "discountType"), "PERCENT");
    ck_assert_int_eq(harness_int(r.json, "discountValue"), 15);
    ck_assert_int_eq(harness_int(r.json, "totalQuantity"), 50);
    ck_assert_int_eq(harness_int(r.json, "issuedQuantity"), 0);
    ck_assert_str_eq(str_of(r.json, "expiresAt"), "2031-03-01T09:00:00Z");
    ck_assert_int_eq(cJSON_GetArraySize(r.json), 7);
    char *created = strdup(r.body);
    hresp_free(&r);
    char path[64];
    snprintf(path, sizeof path, "/coupons/%lld", id);
    ck_assert_int_eq(cpn("GET", path, NULL, &r), 200);
    ck_assert_str_eq(r.body, created);
    free(created);
    hresp_free(&r);
    /* Offsets are turned into UTC. */
    body = "{\"name\":\"KST\",\"discountType\":\"FIXED\",\"discountValue\":1000000000,"
           "\"totalQuantity\":1000000,\"expiresAt\":\"2031-01-01T09:00:00+09:00\"}";
    ck_assert_int_eq(cpn("POST", "/coupons", body, &r), 201);
    ck_assert_str_eq(str_of(r.json, "expiresAt"), "2031-01-01T00:00:00Z");
    ck_assert_int_eq(harness_int(r.json, "discountValue"), 1000000000);
    ck_assert_int_eq(harness_int(r.json, "totalQuantity"), 1000000);
    hresp_free(&r);
    /* Bounds: PERCENT 1 and 100, totalQuantity 1. */
    ck_assert_int_gt(create_coupon("PERCENT", 100, 1, "2031-01-01T00:00:00Z"), 0);
    ck_assert_int_gt(create_coupon("PERCENT", 1, 1, "2031-01-01T00:00:00Z"), 0);
}
END_TEST

/* One field of a coupon body as raw JSON, or NULL to leave it out. */
typedef struct coupon_fields {
    const char *name, *type, *value, *total, *expires;
} coupon_fields;

/* Renders f as a POST /coupons body into buf. */
static void coupon_body(const coupon_fields *f, char *buf, size_t len)
{
    const char *keys[] = {"name", "discountType", "discountValue", "totalQuantity", "expiresAt"};
    const char *vals[] = {f->name, f->type, f->value, f->total, f->expires};
    size_t used = (size_t)snprintf(buf, len, "{");
    for (int i = 0; i < 5; i++)
        if (vals[i] != NULL)
            used += (size_t)snprintf(buf + used, len - used, "%s\"%s\":%s", used > 1 ? "," : "",
                                     keys[i], vals[i]);
    snprintf(buf + used, len - used, "}");
}

START_TEST(test_create_coupon_invalid)
{
    const char *ok_expires = "\"2031-01-01T00:00:00Z\"";
    const coupon_fields bad[] = {
        {NULL, "\"FIXED\"", "1", "1", ok_expires},
        {"\"\"", "\"FIXED\"", "1", "1", ok_expires},
        {"7", "\"FIXED\"", "1", "1", ok_expires},
        {"\"x\"", NULL, "1", "1", ok_expires},
        {"\"x\"", "\"fixed\"", "1", "1", ok_expires},
        {"\"x\"", "\"BOGUS\"", "1", "1", ok_expires},
        {"\"x\"", "null", "1", "1", ok_expires},
        {"\"x\"", "\"FIXED\"", NULL, "1", ok_expires},
        {"\"x\"", "\"FIXED\"", "0", "1", ok_expires},
        {"\"x\"", "\"FIXED\"", "1000000001", "1", ok_expires},
        {"\"x\"", "\"FIXED\"", "1.5", "1", ok_expires},
        {"\"x\"", "\"FIXED\"", "\"3\"", "1", ok_expires},
        {"\"x\"", "\"PERCENT\"", "0", "1", ok_expires},
        {"\"x\"", "\"PERCENT\"", "101", "1", ok_expires},
        {"\"x\"", "\"FIXED\"", "1", NULL, ok_expires},
        {"\"x\"", "\"FIXED\"", "1", "0", ok_expires},
        {"\"x\"", "\"FIXED\"", "1", "1000001", ok_expires},
        {"\"x\"", "\"FIXED\"", "1", "-1", ok_expires},
        {"\"x\"", "\"FIXED\"", "1", "1", NULL},
        {"\"x\"", "\"FIXED\"", "1", "1", "\"tomorrow\""},
        {"\"x\"", "\"FIXED\"", "1", "1", "\"2031-13-01T00:00:00Z\""},
        {"\"x\"", "\"FIXED\"", "1", "1", "20310101"},
    };
    char body[600];
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
        hresp r;
        coupon_body(&bad[i], body, sizeof body);
        cpn("POST", "/coupons", body, &r);
        ck_assert_msg(r.status == 400, "%s: %ld %s", body, r.status, r.body);
        expect_problem(&r, 400, "INVALID_REQUEST");
    }
    /* Not an object, not JSON, a repeated member. */
    expect_call_problem("POST", "/coupons", "", 400, "INVALID_REQUEST");
    expect_call_problem("POST", "/coupons", "[]", 400, "INVALID_REQUEST");
    expect_call_problem("POST", "/coupons", "{\"name\":\"x\"", 400, "INVALID_REQUEST");
    coupon_fields twice = {"\"x\",\"name\":\"y\"", "\"FIXED\"", "1", "1", ok_expires};
    coupon_body(&twice, body, sizeof body);
    expect_call_problem("POST", "/coupons", body, 400, "INVALID_REQUEST");
    /* A name of 201 bytes is refused; 200 is fine. */
    char name[204];
    memset(name, 'n', sizeof name);
    name[0] = '"';
    name[202] = '"';
    name[203] = '\0';
    coupon_fields f = {name, "\"FIXED\"", "1", "1", ok_expires};
    coupon_body(&f, body, sizeof body);
    expect_call_problem("POST", "/coupons", body, 400, "INVALID_REQUEST");
    name[201] = '"';
    name[202] = '\0';
    coupon_body(&f, body, sizeof body);
    ck_assert_int_eq(cpn("POST", "/coupons", body, NULL), 201);
}
END_TEST

START_TEST(test_issue_and_errors)
{
    hresp r;
    /* Coupon 3 ("Last one") has exactly one left. */
    ck_assert_int_eq(issue(3, 2, &r), 201);
    ck_assert_str_eq(r.content_type, "application/json");
    long long uc_id = harness_int(r.json, "id");
    ck_assert_int_gt(uc_id, 2);
    ck_assert_int_eq(harness_int(r.json, "couponId"), 3);
    ck_assert_int_eq(harness_int(r.json, "userId"), 2);
    ck_assert_str_eq(str_of(r.json, "name"), "Last one");
    ck_assert_str_eq(str_of(r.json, "discountType"), "FIXED");
    ck_assert_int_eq(harness_int(r.json, "discountValue"), 1000);
    ck_assert(!bool_of(r.json, "isUsed"));
    ck_assert(is_null(r.json, "usedOrderId"));
    ck_assert_str_eq(str_of(r.json, "expiresAt"), "2030-12-31T23:59:59Z");
    ck_assert_int_eq(cJSON_GetArraySize(r.json), 9);
    hresp_free(&r);
    issue(3, 2, &r);
    expect_problem(&r, 409, "COUPON_ALREADY_ISSUED");
    issue(3, 3, &r);
    expect_problem(&r, 409, "COUPON_SOLD_OUT");
    ck_assert_int_eq(issued_quantity(3), 1);
    /* Seeded: user 1 already holds coupon 1. */
    issue(1, 1, &r);
    expect_problem(&r, 409, "COUPON_ALREADY_ISSUED");
    ck_assert_int_eq(issued_quantity(1), 1);
    /* Unknown user (asked first), unknown coupon. */
    issue(1, 999, &r);
    expect_problem(&r, 404, "USER_NOT_FOUND");
    issue(999, 999, &r);
    expect_problem(&r, 404, "USER_NOT_FOUND");
    issue(999, 1, &r);
    expect_problem(&r, 404, "COUPON_NOT_FOUND");
    ck_assert_int_eq(issued_quantity(1), 1);
    /* Expired. */
    long long old = create_coupon("FIXED", 100, 5, "2020-01-01T00:00:00Z");
    issue(old, 1, &r);
    expect_problem(&r, 409, "COUPON_NOT_USABLE");
    ck_assert_int_eq(issued_quantity(old), 0);
    /* Bad bodies. */
    expect_call_problem("POST", "/coupons/1/issue", "{}", 400, "INVALID_REQUEST");
    expect_call_problem("POST", "/coupons/1/issue", "{\"userId\":0}", 400, "INVALID_REQUEST");
    expect_call_problem("POST", "/coupons/1/issue", "{\"userId\":\"3\"}", 400, "INVALID_REQUEST");
    expect_call_problem("POST", "/coupons/1/issue", "{\"userId\":3.5}", 400, "INVALID_REQUEST");
    expect_call_problem("POST", "/coupons/1/issue", "not json", 400, "INVALID_REQUEST");
    expect_call_problem("POST", "/coupons/1/issue", "{\"userId\":3,\"userId\":2}", 400,
                        "INVALID_REQUEST");
    ck_assert_int_eq(issued_quantity(1), 1);
    /* The issued coupon is listed for its user. */
    cJSON *uc = user_coupon(2, uc_id);
    ck_assert_ptr_nonnull(uc);
    ck_assert_int_eq(harness_int(uc, "couponId"), 3);
    cJSON_Delete(uc);
}
END_TEST

START_TEST(test_list_user_coupons)
{
    hresp r;
    ck_assert_int_eq(cpn("GET", "/users/1/coupons", NULL, &r), 200);
    ck_assert_str_eq(r.body,
                     "{\"coupons\":[{\"id\":1,\"couponId\":1,\"userId\":1,\"name\":\"5,000 off\","
                     "\"discountType\":\"FIXED\",\"discountValue\":5000,\"isUsed\":false,"
                     "\"usedOrderId\":null,\"expiresAt\":\"2030-12-31T23:59:59Z\"}]}");
    hresp_free(&r);
    ck_assert_int_eq(cpn("GET", "/users/999/coupons", NULL, &r), 200);
    ck_assert_str_eq(r.body, "{\"coupons\":[]}");
    hresp_free(&r);
    /* Admin listing, paged. */
    ck_assert_int_eq(cpn("GET", "/user-coupons?limit=1", NULL, &r), 200);
    ck_assert_int_eq(cJSON_GetArraySize(cJSON_GetObjectItemCaseSensitive(r.json, "items")), 1);
    ck_assert_int_eq(harness_int(r.json, "nextAfterId"), 1);
    hresp_free(&r);
    ck_assert_int_eq(cpn("GET", "/user-coupons?afterId=1&limit=1", NULL, &r), 200);
    const cJSON *items = cJSON_GetObjectItemCaseSensitive(r.json, "items");
    ck_assert_int_eq(cJSON_GetArraySize(items), 1);
    ck_assert_int_eq(harness_int(cJSON_GetArrayItem(items, 0), "id"), 2);
    hresp_free(&r);
    ck_assert_int_eq(cpn("GET", "/user-coupons?userId=2", NULL, &r), 200);
    items = cJSON_GetObjectItemCaseSensitive(r.json, "items");
    ck_assert_int_eq(cJSON_GetArraySize(items), 1);
    ck_assert_int_eq(harness_int(cJSON_GetArrayItem(items, 0), "id"), 2);
    ck_assert(is_null(r.json, "nextAfterId"));
    hresp_free(&r);
    ck_assert_int_eq(cpn("GET", "/user-coupons?status=USED", NULL, &r), 200);
    ck_assert_str_eq(r.body, "{\"items\":[],\"nextAfterId\":null}");
    hresp_free(&r);
    ck_assert_int_eq(cpn("GET", "/user-coupons?status=UNUSED&limit=500", NULL, &r), 200);
    ck_assert_int_eq(cJSON_GetArraySize(cJSON_GetObjectItemCaseSensitive(r.json, "items")), 2);
    hresp_free(&r);
    expect_call_problem("GET", "/user-coupons?status=BOGUS", NULL, 400, "INVALID_REQUEST");
    expect_call_problem("GET", "/user-coupons?limit=0", NULL, 400, "INVALID_REQUEST");
    expect_call_problem("GET", "/user-coupons?limit=501", NULL, 400, "INVALID_REQUEST");
    expect_call_problem("GET", "/user-coupons?userId=abc", NULL, 400, "INVALID_REQUEST");
}
END_TEST

/* ---- Idempotency-Key on issue ------------------------------------------- */

static long issue_keyed(long long coupon_id, long long user_id, const char *key, hresp *out)
{
    char path[64], body[64], key_header[300];
    snprintf(path, sizeof path, "/coupons/%lld/issue", coupon_id);
    snprintf(body, sizeof body, "{\"userId\":%lld}", user_id);
    snprintf(key_header, sizeof key_header, "Idempotency-Key: %s", key);
    const char *headers[] = {TOKEN_HEADER, key_header, NULL};
    return harness_req("POST", coupon_svc.port, path, body, headers, out);
}

START_TEST(test_issue_idempotency_key)
{
    long long id = create_coupon("FIXED", 700, 10, "2031-01-01T00:00:00Z");
    hresp first, again;
    ck_assert_int_eq(issue_keyed(id, 3, "key-a", &first), 201);
    ck_assert(!harness_has_header(&first, "Idempotent-Replayed", NULL));
    ck_assert_int_eq(issue_keyed(id, 3, "key-a", &again), 201);
    ck_assert(harness_has_header(&again, "Idempotent-Replayed", "true"));
    ck_assert_str_eq(again.body, first.body);
    hresp_free(&first);
    hresp_free(&again);
    ck_assert_int_eq(issued_quantity(id), 1);
    /* Same key, another body or another coupon: 422. */
    issue_keyed(id, 2, "key-a", &again);
    expect_problem(&again, 422, "IDEMPOTENCY_KEY_REUSED");
    long long other = create_coupon("FIXED", 700, 10, "2031-01-01T00:00:00Z");
    issue_keyed(other, 3, "key-a", &again);
    expect_problem(&again, 422, "IDEMPOTENCY_KEY_REUSED");
    ck_assert_int_eq(issued_quantity(other), 0);
    /* A 4xx answer is stored too and replayed. */
    issue_keyed(id, 3, "key-b", &first);
    ck_assert(!harness_has_header(&first, "Idempotent-Replayed", NULL));
    expect_problem(&first, 409, "COUPON_ALREADY_ISSUED");
    issue_keyed(id, 3, "key-b", &again);
    ck_assert(harness_has_header(&again, "Idempotent-Replayed", "true"));
    expect_problem(&again, 409, "COUPON_ALREADY_ISSUED");
    issue_keyed(id, 999, "key-c", &first);
    expect_problem(&first, 404, "USER_NOT_FOUND");
    issue_keyed(id, 999, "key-c", &again);
    ck_assert(harness_has_header(&again, "Idempotent-Replayed", "true"));
    expect_problem(&again, 404, "USER_NOT_FOUND");
    /* A bad key is refused and not stored. */
    char long_key[300];
    memset(long_key, 'k', 256);
    long_key[256] = '\0';
    issue_keyed(id, 2, long_key, &first);
    expect_problem(&first, 400, "INVALID_REQUEST");
    ck_assert_int_eq(issued_quantity(id), 1);
    /* Without a key, a repeat is simply refused. */
    issue(id, 3, &first);
    expect_problem(&first, 409, "COUPON_ALREADY_ISSUED");
}
END_TEST

/* ---- internal routes ---------------------------------------------------- */

static long validate(long long uc_id, long long user_id, long long total, hresp *out)
{
    char path[80], body[96];
    snprintf(path, sizeof path, "/user-coupons/%lld/validate", uc_id);
    snprintf(body, sizeof body, "{\"userId\":%lld,\"totalAmount\":%lld}", user_id, total);
    return cpn("POST", path, body, out);
}

static long use(long long uc_id, long long order_id, long long user_id, long long total, hresp *out)
{
    char path[80], body[128];
    snprintf(path, sizeof path, "/user-coupons/%lld/use", uc_id);
    snprintf(body, sizeof body, "{\"orderId\":%lld,\"userId\":%lld,\"totalAmount\":%lld}", order_id,
             user_id, total);
    return cpn("POST", path, body, out);
}

static void restore_ok(long long order_id)
{
    char path[80], want[96];
    hresp r;
    snprintf(path, sizeof path, "/coupon-uses/%lld/restore", order_id);
    ck_assert_int_eq(cpn("POST", path, NULL, &r), 200);
    snprintf(want, sizeof want, "{\"orderId\":%lld,\"status\":\"RELEASED\"}", order_id);
    ck_assert_str_eq(r.body, want);
    hresp_free(&r);
}

/* Asserts user coupon uc_id of user_id is used by order_id (0: unused). */
static void expect_used_by(long long user_id, long long uc_id, long long order_id)
{
    cJSON *uc = user_coupon(user_id, uc_id);
    ck_assert_ptr_nonnull(uc);
    ck_assert_int_eq(bool_of(uc, "isUsed"), order_id != 0);
    if (order_id != 0)
        ck_assert_int_eq(harness_int(uc, "usedOrderId"), order_id);
    else
        ck_assert(is_null(uc, "usedOrderId"));
    cJSON_Delete(uc);
}

START_TEST(test_validate)
{
    hresp r;
    ck_assert_int_eq(validate(2, 2, 99999, &r), 200);
    ck_assert_str_eq(r.body, "{\"userCouponId\":2,\"couponId\":2,\"discountType\":\"PERCENT\","
                             "\"discountValue\":10,\"discountAmount\":9999}");
    hresp_free(&r);
    ck_assert_int_eq(validate(1, 1, 100000, &r), 200);
    ck_assert_int_eq(harness_int(r.json, "discountAmount"), 5000);
    hresp_free(&r);
    ck_assert_int_eq(validate(1, 1, 3000, &r), 200); /* FIXED is capped at the total */
    ck_assert_int_eq(harness_int(r.json, "discountAmount"), 3000);
    hresp_free(&r);
    ck_assert_int_eq(validate(1, 1, 0, &r), 200);
    ck_assert_int_eq(harness_int(r.json, "discountAmount"), 0);
    hresp_free(&r);
    ck_assert_int_eq(validate(2, 2, 999999999999999LL, &r), 200);
    ck_assert_int_eq(harness_int(r.json, "discountAmount"), 99999999999999LL);
    hresp_free(&r);
    validate(1, 2, 100000, &r);
    expect_problem(&r, 409, "COUPON_NOT_USABLE");
    validate(999, 1, 100000, &r);
    expect_problem(&r, 404, "COUPON_NOT_FOUND");
    expect_call_problem("POST", "/user-coupons/1/validate", "{\"userId\":1}", 400,
                        "INVALID_REQUEST");
    expect_call_problem("POST", "/user-coupons/1/validate", "{\"userId\":1,\"totalAmount\":-1}",
                        400, "INVALID_REQUEST");
    expect_call_problem("POST", "/user-coupons/1/validate",
                        "{\"userId\":1,\"totalAmount\":1000000000000000}", 400, "INVALID_REQUEST");
    expect_call_problem("GET", "/user-coupons/1/validate", NULL, 405, "METHOD_NOT_ALLOWED");
    /* Validate changes nothing. */
    expect_used_by(1, 1, 0);
}
END_TEST

START_TEST(test_use_and_restore)
{
    hresp r, again;
    ck_assert_int_eq(use(1, 100, 1, 100000, &r), 200);
    ck_assert_str_eq(r.body, "{\"userCouponId\":1,\"couponId\":1,\"discountType\":\"FIXED\","
                             "\"discountValue\":5000,\"discountAmount\":5000,\"orderId\":100}");
    expect_used_by(1, 1, 100);
    /* A repeat for the same order answers 200 again. */
    ck_assert_int_eq(use(1, 100, 1, 100000, &again), 200);
    ck_assert_str_eq(again.body, r.body);
    hresp_free(&r);
    hresp_free(&again);
    /* Another order, another user: refused. */
    use(1, 101, 1, 100000, &r);
    expect_problem(&r, 409, "COUPON_NOT_USABLE");
    use(1, 100, 2, 100000, &r);
    expect_problem(&r, 409, "COUPON_NOT_USABLE");
    validate(1, 1, 100000, &r);
    expect_problem(&r, 409, "COUPON_NOT_USABLE");
    use(999, 102, 1, 100000, &r);
    expect_problem(&r, 404, "COUPON_NOT_FOUND");
    expect_call_problem("POST", "/user-coupons/1/use", "{\"userId\":1,\"totalAmount\":5}", 400,
                        "INVALID_REQUEST");
    expect_call_problem("POST", "/user-coupons/1/use",
                        "{\"orderId\":0,\"userId\":1,\"totalAmount\":5}", 400, "INVALID_REQUEST");
    expect_used_by(1, 1, 100);
    /* Restoring another order leaves this use alone. */
    restore_ok(101);
    expect_used_by(1, 1, 100);
    restore_ok(100);
    expect_used_by(1, 1, 0);
    restore_ok(100); /* once: a repeat answers the same and changes nothing */
    expect_used_by(1, 1, 0);
    /* The tombstone refuses a late use for the released order. */
    use(1, 100, 1, 100000, &r);
    expect_problem(&r, 409, "ORDER_RELEASED");
    expect_used_by(1, 1, 0);
    /* Restore before use (the use timed out): the late use is refused too. */
    restore_ok(200);
    use(1, 200, 1, 100000, &r);
    expect_problem(&r, 409, "ORDER_RELEASED");
    expect_used_by(1, 1, 0);
    /* The coupon serves a new order, and the old order's restore cannot take
     * it back. */
    ck_assert_int_eq(use(1, 300, 1, 100000, NULL), 200);
    restore_ok(100);
    expect_used_by(1, 1, 300);
    /* A body on restore is ignored; an id that is not one is 400. */
    ck_assert_int_eq(cpn("POST", "/coupon-uses/300/restore", "{}", NULL), 200);
    expect_used_by(1, 1, 0);
    expect_call_problem("POST", "/coupon-uses/x/restore", NULL, 400, "INVALID_REQUEST");
}
END_TEST

START_TEST(test_expired_user_coupon)
{
    char expires[32];
    hresp r;
    time_t at = time(NULL) + 2;
    format_time(at, expires, sizeof expires);
    long long id = create_coupon("PERCENT", 50, 5, expires);
    ck_assert_int_eq(issue(id, 3, &r), 201);
    long long uc_id = harness_int(r.json, "id");
    hresp_free(&r);
    ck_assert_int_eq(validate(uc_id, 3, 1000, &r), 200);
    ck_assert_int_eq(harness_int(r.json, "discountAmount"), 500);
    hresp_free(&r);
    while (time(NULL) < at + 1)
        usleep(50 * 1000);
    validate(uc_id, 3, 1000, &r);
    expect_problem(&r, 409, "COUPON_NOT_USABLE");
    use(uc_id, 400, 3, 1000, &r);
    expect_problem(&r, 409, "COUPON_NOT_USABLE");
    issue(id, 2, &r);
    expect_problem(&r, 409, "COUPON_NOT_USABLE");
    expect_used_by(3, uc_id, 0);
    ck_assert_int_eq(issued_quantity(id), 1);
}
END_TEST

/* ---- races -------------------------------------------------------------- */

typedef struct race_arg {
    pthread_barrier_t *start;
    long long coupon_id, user_id, uc_id, order_id;
    long status;
    char code[64];
} race_arg;

static void note_result(race_arg *a, hresp *r)
{
    a->status = r->status;
    const cJSON *c = cJSON_GetObjectItemCaseSensitive(r->json, "code");
    snprintf(a->code, sizeof a->code, "%s", cJSON_IsString(c) ? c->valuestring : "");
    hresp_free(r);
}

static void *issue_thread(void *p)
{
    race_arg *a = p;
    hresp r;
    pthread_barrier_wait(a->start);
    issue(a->coupon_id, a->user_id, &r);
    note_result(a, &r);
    return NULL;
}

static void *use_thread(void *p)
{
    race_arg *a = p;
    hresp r;
    pthread_barrier_wait(a->start);
    use(a->uc_id, a->order_id, a->user_id, 100000, &r);
    note_result(a, &r);
    return NULL;
}

START_TEST(test_issue_race)
{
    enum { N = 30 };
    long long id = create_coupon("FIXED", 1000, 5, "2031-01-01T00:00:00Z");
    race_arg args[N];
    pthread_t th[N];
    pthread_barrier_t start;
    pthread_barrier_init(&start, NULL, N);
    for (int i = 0; i < N; i++) {
        char name[32];
        snprintf(name, sizeof name, "racer%d", i);
        args[i] = (race_arg){.start = &start, .coupon_id = id, .user_id = create_user(name)};
    }
    for (int i = 0; i < N; i++)
        ck_assert_int_eq(pthread_create(&th[i], NULL, issue_thread, &args[i]), 0);
    int created = 0, sold_out = 0;
    for (int i = 0; i < N; i++) {
        pthread_join(th[i], NULL);
        if (args[i].status == 201)
            created++;
        else if (args[i].status == 409 && strcmp(args[i].code, "COUPON_SOLD_OUT") == 0)
            sold_out++;
        else
            ck_abort_msg("user %lld: %ld %s", args[i].user_id, args[i].status, args[i].code);
    }
    pthread_barrier_destroy(&start);
    ck_assert_int_eq(created, 5);
    ck_assert_int_eq(sold_out, 25);
    ck_assert_int_eq(issued_quantity(id), 5);
    /* Exactly the five winners hold it. */
    int holders = 0;
    for (int i = 0; i < N; i++) {
        char path[64];
        hresp r;
        snprintf(path, sizeof path, "/users/%lld/coupons", args[i].user_id);
        ck_assert_int_eq(cpn("GET", path, NULL, &r), 200);
        int n = cJSON_GetArraySize(cJSON_GetObjectItemCaseSensitive(r.json, "coupons"));
        ck_assert_int_eq(n, args[i].status == 201 ? 1 : 0);
        holders += n;
        hresp_free(&r);
    }
    ck_assert_int_eq(holders, 5);
}
END_TEST

/* One racer of test_issue_key_race: the same keyed issue as every other. */
typedef struct key_racer {
    pthread_barrier_t *start;
    long long coupon_id, user_id;
    long status;
    bool replayed;
    char body[512];
} key_racer;

static void *issue_keyed_thread(void *p)
{
    key_racer *a = p;
    hresp r;
    pthread_barrier_wait(a->start);
    a->status = issue_keyed(a->coupon_id, a->user_id, "race-key", &r);
    a->replayed = harness_has_header(&r, "Idempotent-Replayed", "true");
    snprintf(a->body, sizeof a->body, "%s", r.body);
    hresp_free(&r);
    return NULL;
}

/* Many requests with one key at once: one issues, every other replays its
 * answer (the key is looked up in the issue's own transaction). */
START_TEST(test_issue_key_race)
{
    enum { N = 20 };
    long long id = create_coupon("FIXED", 1000, 5, "2031-01-01T00:00:00Z");
    long long user = create_user("key racer");
    key_racer args[N];
    pthread_t th[N];
    pthread_barrier_t start;
    pthread_barrier_init(&start, NULL, N);
    for (int i = 0; i < N; i++) {
        args[i] = (key_racer){.start = &start, .coupon_id = id, .user_id = user};
        ck_assert_int_eq(pthread_create(&th[i], NULL, issue_keyed_thread, &args[i]), 0);
    }
    int fresh = 0, replayed = 0, first = -1;
    for (int i = 0; i < N; i++) {
        pthread_join(th[i], NULL);
        ck_assert_msg(args[i].status == 201, "%ld %s", args[i].status, args[i].body);
        if (args[i].replayed) {
            replayed++;
        } else {
            fresh++;
            first = i;
        }
    }
    pthread_barrier_destroy(&start);
    ck_assert_int_eq(fresh, 1);
    ck_assert_int_eq(replayed, N - 1);
    for (int i = 0; i < N; i++)
        ck_assert_str_eq(args[i].body, args[first].body);
    ck_assert_int_eq(issued_quantity(id), 1);
}
END_TEST

START_TEST(test_use_race)
{
    enum { N = 20 };
    long long id = create_coupon("FIXED", 1000, 5, "2031-01-01T00:00:00Z");
    long long user = create_user("spender");
    hresp r;
    ck_assert_int_eq(issue(id, user, &r), 201);
    long long uc_id = harness_int(r.json, "id");
    hresp_free(&r);
    race_arg args[N];
    pthread_t th[N];
    pthread_barrier_t start;
    pthread_barrier_init(&start, NULL, N);
    for (int i = 0; i < N; i++) {
        args[i] =
            (race_arg){.start = &start, .uc_id = uc_id, .user_id = user, .order_id = 5000 + i};
        ck_assert_int_eq(pthread_create(&th[i], NULL, use_thread, &args[i]), 0);
    }
    int ok = 0, refused = 0;
    long long winner = 0;
    for (int i = 0; i < N; i++) {
        pthread_join(th[i], NULL);
        if (args[i].status == 200) {
            ok++;
            winner = args[i].order_id;
        } else if (args[i].status == 409 && strcmp(args[i].code, "COUPON_NOT_USABLE") == 0) {
            refused++;
        } else {
            ck_abort_msg("order %lld: %ld %s", args[i].order_id, args[i].status, args[i].code);
        }
    }
    pthread_barrier_destroy(&start);
    ck_assert_int_eq(ok, 1);
    ck_assert_int_eq(refused, N - 1);
    expect_used_by(user, uc_id, winner);
}
END_TEST

/* ---- a peer that is down; SIGTERM; restart ------------------------------ */

START_TEST(test_user_down_and_stop)
{
    /* Its own stack, started from this test process so it can reap them. */
    svc_proc user, cp;
    char *dir = harness_tmpdir();
    ck_assert_ptr_nonnull(dir);
    ck_assert(start_stack(dir, &user, &cp));
    hresp r;
    char body[64];
    snprintf(body, sizeof body, "{\"userId\":3}");
    ck_assert_int_eq(call(cp.port, "POST", "/coupons/1/issue", body, &r), 201);
    hresp_free(&r);
    harness_stop(&user);
    call(cp.port, "POST", "/coupons/2/issue", body, &r);
    ck_assert_int_lt(r.ms, 1000);
    ck_assert_int_eq(r.status, 503);
    ck_assert_str_eq(r.content_type, "application/problem+json");
    ck_assert_str_eq(str_of(r.json, "code"), "SERVICE_UNAVAILABLE");
    hresp_free(&r);
    /* Nothing was issued by the failed call; reads still work. */
    ck_assert_int_eq(call(cp.port, "GET", "/coupons/2", NULL, &r), 200);
    ck_assert_int_eq(harness_int(r.json, "issuedQuantity"), 1);
    hresp_free(&r);
    /* SIGTERM stops it well within a second. */
    long ms = harness_stop(&cp);
    ck_assert_msg(ms < 1000, "coupon-service took %ld ms to stop", ms);
    /* Restart on the same file: what was committed is there, no second seed. */
    ck_assert(start_stack(dir, &user, &cp));
    ck_assert_int_eq(call(cp.port, "GET", "/coupons/1", NULL, &r), 200);
    ck_assert_int_eq(harness_int(r.json, "issuedQuantity"), 2);
    hresp_free(&r);
    ck_assert_int_eq(call(cp.port, "GET", "/users/3/coupons", NULL, &r), 200);
    ck_assert_int_eq(cJSON_GetArraySize(cJSON_GetObjectItemCaseSensitive(r.json, "coupons")), 1);
    hresp_free(&r);
    harness_kill9(&cp);
    harness_stop(&user);
    harness_rmdir(dir);
}
END_TEST

/* A stored answer is replayed without asking user-service again: with it
 * down, the replays still come, while a new key gets 503, which is not
 * stored (its repeat is answered afresh, not replayed). */
START_TEST(test_replay_needs_no_user_service)
{
    svc_proc user, cp;
    char *dir = harness_tmpdir();
    ck_assert_ptr_nonnull(dir);
    ck_assert(start_stack(dir, &user, &cp));
    const char *key_a[] = {TOKEN_HEADER, "Idempotency-Key: down-a", NULL};
    const char *key_b[] = {TOKEN_HEADER, "Idempotency-Key: down-b", NULL};
    const char *key_c[] = {TOKEN_HEADER, "Idempotency-Key: down-c", NULL};
    const char *key_d[] = {TOKEN_HEADER, "Idempotency-Key: down-d", NULL};
    hresp r;
    char *issued;
    ck_assert_int_eq(harness_req("POST", cp.port, "/coupons/1/issue", "{\"userId\":3}", key_a, &r),
                     201);
    issued = strdup(r.body);
    hresp_free(&r);
    harness_req("POST", cp.port, "/coupons/1/issue", "{\"userId\":999}", key_b, &r);
    expect_problem(&r, 404, "USER_NOT_FOUND");
    harness_req("POST", cp.port, "/coupons/1/issue", "{\"userId\":0}", key_c, &r);
    expect_problem(&r, 400, "INVALID_REQUEST");
    harness_stop(&user);
    ck_assert_int_eq(harness_req("POST", cp.port, "/coupons/1/issue", "{\"userId\":3}", key_a, &r),
                     201);
    ck_assert(harness_has_header(&r, "Idempotent-Replayed", "true"));
    ck_assert_str_eq(r.body, issued);
    hresp_free(&r);
    free(issued);
    harness_req("POST", cp.port, "/coupons/1/issue", "{\"userId\":999}", key_b, &r);
    ck_assert(harness_has_header(&r, "Idempotent-Replayed", "true"));
    expect_problem(&r, 404, "USER_NOT_FOUND");
    harness_req("POST", cp.port, "/coupons/1/issue", "{\"userId\":0}", key_c, &r);
    ck_assert(harness_has_header(&r, "Idempotent-Replayed", "true"));
    expect_problem(&r, 400, "INVALID_REQUEST");
    /* The same key with another body is still refused, without user-service. */
    harness_req("POST", cp.port, "/coupons/1/issue", "{\"userId\":2}", key_a, &r);
    expect_problem(&r, 422, "IDEMPOTENCY_KEY_REUSED");
    for (int i = 0; i < 2; i++) {
        harness_req("POST", cp.port, "/coupons/2/issue", "{\"userId\":3}", key_d, &r);
        ck_assert(!harness_has_header(&r, "Idempotent-Replayed", NULL));
        expect_problem(&r, 503, "SERVICE_UNAVAILABLE");
    }
    ck_assert_int_eq(call(cp.port, "GET", "/coupons/1", NULL, &r), 200);
    ck_assert_int_eq(harness_int(r.json, "issuedQuantity"), 2);
    hresp_free(&r);
    ck_assert_int_eq(call(cp.port, "GET", "/coupons/2", NULL, &r), 200);
    ck_assert_int_eq(harness_int(r.json, "issuedQuantity"), 1);
    hresp_free(&r);
    harness_stop(&cp);
    harness_rmdir(dir);
}
END_TEST

Suite *it_coupon_suite(void);

Suite *it_coupon_suite(void)
{
    Suite *s = suite_create("it_coupon");
    TCase *tc = tcase_create("public");
    tcase_add_unchecked_fixture(tc, stack_up, stack_down);
    tcase_set_timeout(tc, 60);
    tcase_add_test(tc, test_health_and_router);
    tcase_add_test(tc, test_get_seeded_coupons);
    tcase_add_test(tc, test_create_coupon);
    tcase_add_test(tc, test_create_coupon_invalid);
    tcase_add_test(tc, test_list_user_coupons);
    tcase_add_test(tc, test_issue_and_errors);
    tcase_add_test(tc, test_issue_idempotency_key);
    suite_add_tcase(s, tc);
    tc = tcase_create("internal");
    tcase_add_unchecked_fixture(tc, stack_up, stack_down);
    tcase_set_timeout(tc, 60);
    tcase_add_test(tc, test_validate);
    tcase_add_test(tc, test_use_and_restore);
    tcase_add_test(tc, test_expired_user_coupon);
    suite_add_tcase(s, tc);
    tc = tcase_create("races");
    tcase_add_unchecked_fixture(tc, stack_up, stack_down);
    tcase_set_timeout(tc, 60);
    tcase_add_test(tc, test_issue_race);
    tcase_add_test(tc, test_issue_key_race);
    tcase_add_test(tc, test_use_race);
    suite_add_tcase(s, tc);
    tc = tcase_create("lifecycle");
    tcase_set_timeout(tc, 60);
    tcase_add_test(tc, test_user_down_and_stop);
    tcase_add_test(tc, test_replay_needs_no_user_service);
    suite_add_tcase(s, tc);
    return s;
}
