/* Integration tests of user-service: the real binary on a loopback port with a
 * temp database, driven over HTTP: every route and error with its exact
 * status and code, races with real threads, restart and SIGTERM. */
#include <check.h>
#include <arpa/inet.h>
#include <netinet/in.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include "harness.h"

Suite *it_user_suite(void);

#define TOKEN "it-user-token"
#define LIMIT 1000000000000LL

static svc_proc svc;
static char *dir;
static char env_port[64], env_db[600], env_token[64];

/* Starts user-service on a free port with a fresh data dir into *p. */
static bool start_service(svc_proc *p, const char *data_dir)
{
    memset(p, 0, sizeof(*p));
    p->port = harness_free_port();
    snprintf(p->log_path, sizeof(p->log_path), "%s/user.log", data_dir);
    snprintf(env_port, sizeof(env_port), "USER_PORT=%d", p->port);
    snprintf(env_db, sizeof(env_db), "USER_DB_PATH=%s/user.db", data_dir);
    snprintf(env_token, sizeof(env_token), "SHOP_INTERNAL_TOKEN=%s", TOKEN);
    const char *env[] = {env_port, env_db, env_token, "SHOP_SEED=1", NULL};
    return harness_start(p, "user-service", env);
}

static void start_user(void)
{
    dir = harness_tmpdir();
    ck_assert_ptr_nonnull(dir);
    if (!start_service(&svc, dir))
        ck_abort_msg("user-service did not start; see %s", svc.log_path);
}

static void stop_user(void)
{
    harness_stop(&svc);
    harness_rmdir(dir);
    dir = NULL;
}

/* One request with the internal token plus extra (a header line or NULL). */
static long call_h(const char *method, const char *path, const char *body, const char *extra,
                   hresp *out)
{
    const char *headers[] = {"X-Internal-Token: " TOKEN, extra, NULL};
    return harness_req(method, svc.port, path, body, headers, out);
}

static long call(const char *method, const char *path, const char *body, hresp *out)
{
    return call_h(method, path, body, NULL, out);
}

/* Asserts a problem reply: status, content type, code and status members. */
static void assert_problem(const hresp *r, long status, const char *code)
{
    ck_assert_msg(r->status == status, "want %ld %s, got %ld: %s", status, code, r->status,
                  r->body);
    ck_assert_str_eq(r->content_type, "application/problem+json");
    ck_assert_ptr_nonnull(r->json);
    const cJSON *c = cJSON_GetObjectItemCaseSensitive(r->json, "code");
    ck_assert_msg(cJSON_IsString(c) && strcmp(c->valuestring, code) == 0, "want code %s: %s", code,
                  r->body);
    ck_assert_int_eq(harness_int(r->json, "status"), status);
}

static void expect_problem(const char *method, const char *path, const char *body, long status,
                           const char *code)
{
    hresp r;
    call(method, path, body, &r);
    assert_problem(&r, status, code);
    hresp_free(&r);
}

/* Asserts that obj has exactly n members. */
static void assert_members(const cJSON *obj, int n)
{
    ck_assert_msg(cJSON_GetArraySize(obj) == n, "want %d members", n);
}

static void assert_str(const cJSON *obj, const char *name, const char *want)
{
    const cJSON *s = cJSON_GetObjectItemCaseSensitive(obj, name);
    ck_assert_msg(cJSON_IsString(s), "%s is not a string", name);
    ck_assert_str_eq(s->valuestring, want);
}

static long long create_user(const char *name, long long balance)
{
    char body[256];
    hresp r;
    snprintf(body, sizeof(body), "{\"name\":\"%s\",\"balance\":%lld}", name, balance);
    ck_assert_int_eq(call("POST", "/users", body, &r), 201);
    long long id = harness_int(r.json, "id");
    ck_assert_int_gt(id, 0);
    ck_assert_int_eq(harness_int(r.json, "balance"), balance);
    hresp_free(&r);
    return id;
}

static long long balance_of(long long id)
{
    char path[64];
    hresp r;
    snprintf(path, sizeof(path), "/users/%lld/balance", id);
    ck_assert_int_eq(call("GET", path, NULL, &r), 200);
    ck_assert_int_eq(harness_int(r.json, "userId"), id);
    long long b = harness_int(r.json, "balance");
    hresp_free(&r);
    return b;
}

/* POSTs {"ref","amount"} to /users/{id}/{what}; returns the status, out filled. */
static long move(long long id, const char *what, const char *ref, long long amount, hresp *out)
{
    char path[96], body[160];
    snprintf(path, sizeof(path), "/users/%lld/%s", id, what);
    snprintf(body, sizeof(body), "{\"ref\":\"%s\",\"amount\":%lld}", ref, amount);
    return call("POST", path, body, out);
}

static long void_ref(long long id, const char *ref, hresp *out)
{
    char path[96], body[128];
    snprintf(path, sizeof(path), "/users/%lld/debits/void", id);
    snprintf(body, sizeof(body), "{\"ref\":\"%s\"}", ref);
    return call("POST", path, body, out);
}

static long charge(long long id, long long amount, const char *key_header, hresp *out)
{
    char path[96], body[64];
    snprintf(path, sizeof(path), "/users/%lld/balance/charge", id);
    snprintf(body, sizeof(body), "{\"amount\":%lld}", amount);
    return call_h("POST", path, body, key_header, out);
}

/* The user's ledger (one page of 500); caller cJSON_Deletes. */
static cJSON *ledger_of(long long id)
{
    char path[96];
    hresp r;
    snprintf(path, sizeof(path), "/users/%lld/ledger?limit=500", id);
    ck_assert_int_eq(call("GET", path, NULL, &r), 200);
    cJSON *items = cJSON_DetachItemFromObject(r.json, "items");
    ck_assert(cJSON_IsNull(cJSON_GetObjectItemCaseSensitive(r.json, "nextAfterId")));
    hresp_free(&r);
    ck_assert(cJSON_IsArray(items));
    return items;
}

/* The audit: balance = initialBalance + charges - debits + credits. */
static void assert_ledger_adds_up(long long id)
{
    char path[64];
    snprintf(path, sizeof(path), "/users?userId=%lld", id);
    hresp r;
    ck_assert_int_eq(call("GET", path, NULL, &r), 200);
    const cJSON *u = cJSON_GetArrayItem(cJSON_GetObjectItemCaseSensitive(r.json, "items"), 0);
    ck_assert_ptr_nonnull(u);
    long long sum = harness_int(u, "initialBalance");
    long long balance = harness_int(u, "balance");
    hresp_free(&r);
    cJSON *items = ledger_of(id);
    const cJSON *row;
    cJSON_ArrayForEach(row, items)
    {
        const char *kind = cJSON_GetObjectItemCaseSensitive(row, "kind")->valuestring;
        long long amount = harness_int(row, "amount");
        if (strcmp(kind, "DEBIT") == 0)
            sum -= amount;
        else if (strcmp(kind, "CHARGE") == 0 || strcmp(kind, "CREDIT") == 0)
            sum += amount;
        else
            ck_assert_int_eq(amount, 0);
    }
    cJSON_Delete(items);
    ck_assert_int_eq(sum, balance);
    ck_assert_int_eq(balance_of(id), balance);
}

/* ---- routes ------------------------------------------------------------ */

START_TEST(test_health_and_token)
{
    hresp r;
    ck_assert_int_eq(harness_req("GET", svc.port, "/health/live", NULL, NULL, NULL), 200);
    ck_assert_int_eq(harness_req("GET", svc.port, "/health", NULL, NULL, &r), 200);
    assert_str(r.json, "status", "ok");
    assert_str(r.json, "service", "user");
    hresp_free(&r);
    harness_req("GET", svc.port, "/users/1", NULL, NULL, &r);
    assert_problem(&r, 401, "UNAUTHORIZED");
    hresp_free(&r);
    const char *wrong[] = {"X-Internal-Token: it-user-tokem", NULL};
    harness_req("POST", svc.port, "/users/1/debits", "{\"ref\":\"t-1\",\"amount\":1}", wrong, &r);
    assert_problem(&r, 401, "UNAUTHORIZED");
    hresp_free(&r);
    ck_assert_int_eq(balance_of(1), 1000000);
    ck_assert_int_eq(call_h("GET", "/users/1", NULL, "X-Request-Id: it-user.rid-1", &r), 200);
    ck_assert(harness_has_header(&r, "X-Request-Id", "it-user.rid-1"));
    hresp_free(&r);
}
END_TEST

START_TEST(test_seed_and_get)
{
    static const struct {
        const char *name;
        long long balance;
    } seed[] = {{"kim", 1000000}, {"lee", 10000}, {"park", 500000}};
    for (int i = 0; i < 3; i++) {
        char path[32];
        hresp r;
        snprintf(path, sizeof(path), "/users/%d", i + 1);
        ck_assert_int_eq(call("GET", path, NULL, &r), 200);
        ck_assert_str_eq(r.content_type, "application/json");
        assert_members(r.json, 3);
        ck_assert_int_eq(harness_int(r.json, "id"), i + 1);
        assert_str(r.json, "name", seed[i].name);
        ck_assert_int_eq(harness_int(r.json, "balance"), seed[i].balance);
        hresp_free(&r);
        snprintf(path, sizeof(path), "/users/%d/balance", i + 1);
        ck_assert_int_eq(call("GET", path, NULL, &r), 200);
        assert_members(r.json, 2);
        ck_assert_int_eq(harness_int(r.json, "userId"), i + 1);
        ck_assert_int_eq(harness_int(r.json, "balance"), seed[i].balance);
        hresp_free(&r);
    }
    expect_problem("GET", "/users/999", NULL, 404, "USER_NOT_FOUND");
    expect_problem("GET", "/users/999/balance", NULL, 404, "USER_NOT_FOUND");
    expect_problem("GET", "/users/abc", NULL, 400, "INVALID_REQUEST");
    expect_problem("GET", "/users/0", NULL, 400, "INVALID_REQUEST");
    expect_problem("GET", "/users/-1", NULL, 400, "INVALID_REQUEST");
    expect_problem("GET", "/users/1000000000000000", NULL, 400, "INVALID_REQUEST");
    expect_problem("GET", "/users/abc/balance", NULL, 400, "INVALID_REQUEST");
    expect_problem("GET", "/users/0/balance", NULL, 400, "INVALID_REQUEST");
}
END_TEST

START_TEST(test_create_user)
{
    hresp r;
    ck_assert_int_eq(call("POST", "/users", "{\"name\":\"choi\",\"balance\":50000}", &r), 201);
    assert_members(r.json, 3);
    long long id = harness_int(r.json, "id");
    ck_assert_int_ge(id, 4);
    assert_str(r.json, "name", "choi");
    ck_assert_int_eq(harness_int(r.json, "balance"), 50000);
    hresp_free(&r);
    ck_assert_int_eq(balance_of(id), 50000);
    ck_assert_int_gt(create_user("rich", LIMIT), id);
    ck_assert_int_gt(create_user("zero", 0), id);
    char name200[256], body[320];
    memset(name200, 'n', 200);
    name200[200] = '\0';
    create_user(name200, 1);
    snprintf(body, sizeof(body), "{\"name\":\"%sn\",\"balance\":1}", name200);
    expect_problem("POST", "/users", body, 400, "INVALID_REQUEST");
    expect_problem("POST", "/users", "{\"name\":\"\",\"balance\":1}", 400, "INVALID_REQUEST");
    expect_problem("POST", "/users", "{\"name\":7,\"balance\":1}", 400, "INVALID_REQUEST");
    expect_problem("POST", "/users", "{\"balance\":1}", 400, "INVALID_REQUEST");
    expect_problem("POST", "/users", "{\"name\":\"a\"}", 400, "INVALID_REQUEST");
    expect_problem("POST", "/users", "{\"name\":\"a\",\"balance\":-1}", 400, "INVALID_REQUEST");
    expect_problem("POST", "/users", "{\"name\":\"a\",\"balance\":1000000000001}", 400,
                   "INVALID_REQUEST");
    expect_problem("POST", "/users", "{\"name\":\"a\",\"balance\":1.5}", 400, "INVALID_REQUEST");
    expect_problem("POST", "/users", "{\"name\":\"a\",\"balance\":\"3\"}", 400, "INVALID_REQUEST");
    expect_problem("POST", "/users", "{\"name\":\"a\",\"balance\":1e400}", 400, "INVALID_REQUEST");
    expect_problem("POST", "/users", "{\"name\":\"a\",\"name\":\"b\",\"balance\":1}", 400,
                   "INVALID_REQUEST");
    expect_problem("POST", "/users", "{\"name\":\"a\",", 400, "INVALID_REQUEST");
    expect_problem("POST", "/users", "", 400, "INVALID_REQUEST");
}
END_TEST

START_TEST(test_charge)
{
    long long id = create_user("charger", 1000);
    hresp r;
    ck_assert_int_eq(charge(id, 500, NULL, &r), 200);
    ck_assert_str_eq(r.content_type, "application/json");
    assert_members(r.json, 2);
    ck_assert_int_eq(harness_int(r.json, "userId"), id);
    ck_assert_int_eq(harness_int(r.json, "balance"), 1500);
    ck_assert(!harness_has_header(&r, "Idempotent-Replayed", NULL));
    hresp_free(&r);
    ck_assert_int_eq(charge(id, 100000000, NULL, &r), 200);
    ck_assert_int_eq(harness_int(r.json, "balance"), 100001500);
    hresp_free(&r);
    ck_assert_int_eq(balance_of(id), 100001500);
    expect_problem("POST", "/users/999/balance/charge", "{\"amount\":1}", 404, "USER_NOT_FOUND");
    assert_ledger_adds_up(id);
}
END_TEST

START_TEST(test_charge_invalid_bodies)
{
    long long id = create_user("invalid", 1000);
    char path[96];
    snprintf(path, sizeof(path), "/users/%lld/balance/charge", id);
    const char *bad[] = {
        "{\"amount\":",
        "{\"amount\":1.5}",
        "{\"amount\":1e400}",
        "{\"amount\":\"3\"}",
        "{\"amount\":-1}",
        "{\"amount\":0}",
        "{\"amount\":100000001}",
        "{}",
        "{\"amount\":null}",
        "{\"amount\":1,\"amount\":2}",
        "[1]",
        "{\"amount\":1} x",
        "{\"amount\":true}",
        "{\"amount\":1000000000000000}",
    };
    for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++)
        expect_problem("POST", path, bad[i], 400, "INVALID_REQUEST");
    size_t big = 64 * 1024 + 16;
    char *huge = malloc(big + 1);
    ck_assert_ptr_nonnull(huge);
    memset(huge, ' ', big);
    memcpy(huge, "{\"amount\":1", 11);
    huge[big - 1] = '}';
    huge[big] = '\0';
    expect_problem("POST", path, huge, 413, "PAYLOAD_TOO_LARGE");
    free(huge);
    expect_problem("POST", "/users/abc/balance/charge", "{\"amount\":1}", 400, "INVALID_REQUEST");
    expect_problem("POST", "/users/0/balance/charge", "{\"amount\":1}", 400, "INVALID_REQUEST");
    ck_assert_int_eq(balance_of(id), 1000);
    assert_ledger_adds_up(id);
}
END_TEST

START_TEST(test_charge_limit)
{
    long long id = create_user("limit", LIMIT - 5);
    hresp r;
    charge(id, 6, NULL, &r);
    assert_problem(&r, 409, "BALANCE_LIMIT");
    hresp_free(&r);
    ck_assert_int_eq(charge(id, 5, NULL, &r), 200);
    ck_assert_int_eq(harness_int(r.json, "balance"), LIMIT);
    hresp_free(&r);
    charge(id, 1, NULL, &r);
    assert_problem(&r, 409, "BALANCE_LIMIT");
    hresp_free(&r);
    ck_assert_int_eq(balance_of(id), LIMIT);
    assert_ledger_adds_up(id);
}
END_TEST

START_TEST(test_charge_idempotency_key)
{
    long long id = create_user("keyed", 1000);
    long long other = create_user("keyed2", 1000);
    hresp r;
    ck_assert_int_eq(charge(id, 300, "Idempotency-Key: it-charge-1", &r), 200);
    ck_assert(!harness_has_header(&r, "Idempotent-Replayed", NULL));
    char *first = strdup(r.body);
    hresp_free(&r);
    ck_assert_int_eq(charge(id, 300, "Idempotency-Key: it-charge-1", &r), 200);
    ck_assert(harness_has_header(&r, "Idempotent-Replayed", "true"));
    ck_assert_str_eq(r.body, first);
    hresp_free(&r);
    free(first);
    ck_assert_int_eq(balance_of(id), 1300);
    charge(id, 301, "Idempotency-Key: it-charge-1", &r);
    assert_problem(&r, 422, "IDEMPOTENCY_KEY_REUSED");
    hresp_free(&r);
    charge(other, 300, "Idempotency-Key: it-charge-1", &r);
    assert_problem(&r, 422, "IDEMPOTENCY_KEY_REUSED");
    hresp_free(&r);
    ck_assert_int_eq(balance_of(other), 1000);
    /* A refused charge is stored and replayed too. */
    long long full = create_user("keyed3", LIMIT - 10);
    charge(full, 11, "Idempotency-Key: it-charge-2", &r);
    assert_problem(&r, 409, "BALANCE_LIMIT");
    ck_assert(!harness_has_header(&r, "Idempotent-Replayed", NULL));
    hresp_free(&r);
    charge(full, 11, "Idempotency-Key: it-charge-2", &r);
    assert_problem(&r, 409, "BALANCE_LIMIT");
    ck_assert(harness_has_header(&r, "Idempotent-Replayed", "true"));
    hresp_free(&r);
    ck_assert_int_eq(balance_of(full), LIMIT - 10);
    char key[300];
    memset(key, 'k', sizeof(key));
    memcpy(key, "Idempotency-Key: ", 17);
    key[17 + 256] = '\0';
    charge(id, 1, key, &r);
    assert_problem(&r, 400, "INVALID_REQUEST");
    hresp_free(&r);
    key[17 + 255] = '\0';
    ck_assert_int_eq(charge(id, 1, key, &r), 200);
    hresp_free(&r);
    ck_assert_int_eq(balance_of(id), 1301);
    assert_ledger_adds_up(id);
}
END_TEST

/* A 400 for a bad body is stored under its key and replayed like any 4xx;
 * the key then refuses a corrected body (API.md "Retries"). */
START_TEST(test_charge_key_stores_a_400)
{
    long long id = create_user("keyed400", 1000);
    char path[96];
    snprintf(path, sizeof(path), "/users/%lld/balance/charge", id);
    const char *bad[] = {"{\"amount\":0}", "{\"amount\":", ""};
    for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
        char key[64];
        snprintf(key, sizeof(key), "Idempotency-Key: it-400-%zu", i);
        hresp r;
        call_h("POST", path, bad[i], key, &r);
        assert_problem(&r, 400, "INVALID_REQUEST");
        ck_assert(!harness_has_header(&r, "Idempotent-Replayed", NULL));
        char *first = strdup(r.body);
        hresp_free(&r);
        call_h("POST", path, bad[i], key, &r);
        assert_problem(&r, 400, "INVALID_REQUEST");
        ck_assert(harness_has_header(&r, "Idempotent-Replayed", "true"));
        ck_assert_str_eq(r.body, first);
        hresp_free(&r);
        free(first);
        charge(id, 5, key, &r);
        assert_problem(&r, 422, "IDEMPOTENCY_KEY_REUSED");
        hresp_free(&r);
    }
    ck_assert_int_eq(balance_of(id), 1000);
    assert_ledger_adds_up(id);
}
END_TEST

START_TEST(test_debit_and_void)
{
    long long id = create_user("debtor", 100000);
    hresp r;
    ck_assert_int_eq(move(id, "debits", "pay-1", 95000, &r), 200);
    assert_members(r.json, 5);
    ck_assert_int_eq(harness_int(r.json, "userId"), id);
    assert_str(r.json, "ref", "pay-1");
    ck_assert_int_eq(harness_int(r.json, "amount"), 95000);
    ck_assert_int_eq(harness_int(r.json, "balance"), 5000);
    assert_str(r.json, "status", "DEBITED");
    char *first = strdup(r.body);
    hresp_free(&r);
    ck_assert_int_eq(move(id, "debits", "pay-1", 95000, &r), 200);
    ck_assert_str_eq(r.body, first);
    hresp_free(&r);
    free(first);
    ck_assert_int_eq(balance_of(id), 5000);
    move(id, "debits", "pay-1", 94000, &r);
    assert_problem(&r, 422, "IDEMPOTENCY_KEY_REUSED");
    hresp_free(&r);
    move(1, "debits", "pay-1", 95000, &r);
    assert_problem(&r, 422, "IDEMPOTENCY_KEY_REUSED");
    hresp_free(&r);
    move(id, "debits", "pay-2", 5001, &r);
    assert_problem(&r, 409, "INSUFFICIENT_BALANCE");
    hresp_free(&r);
    /* Void after the debit: it happened, nothing changes. */
    ck_assert_int_eq(void_ref(id, "pay-1", &r), 200);
    assert_members(r.json, 4);
    assert_str(r.json, "ref", "pay-1");
    assert_str(r.json, "status", "DEBITED");
    ck_assert_int_eq(harness_int(r.json, "amount"), 95000);
    ck_assert_int_eq(harness_int(r.json, "userId"), id);
    hresp_free(&r);
    /* Void first: a tombstone, then the late debit is refused. */
    ck_assert_int_eq(void_ref(id, "pay-2", &r), 200);
    assert_members(r.json, 4);
    assert_str(r.json, "status", "VOIDED");
    ck_assert_int_eq(harness_int(r.json, "amount"), 0);
    hresp_free(&r);
    move(id, "debits", "pay-2", 1000, &r);
    assert_problem(&r, 409, "DEBIT_VOIDED");
    hresp_free(&r);
    ck_assert_int_eq(void_ref(id, "pay-2", &r), 200);
    assert_str(r.json, "status", "VOIDED");
    hresp_free(&r);
    void_ref(2, "pay-2", &r);
    assert_problem(&r, 422, "IDEMPOTENCY_KEY_REUSED");
    hresp_free(&r);
    ck_assert_int_eq(balance_of(id), 5000);
    void_ref(999, "pay-3", &r);
    assert_problem(&r, 404, "USER_NOT_FOUND");
    hresp_free(&r);
    move(999, "debits", "pay-3", 1, &r);
    assert_problem(&r, 404, "USER_NOT_FOUND");
    hresp_free(&r);
    assert_ledger_adds_up(id);
}
END_TEST

START_TEST(test_debit_invalid_bodies)
{
    long long id = create_user("debit-bad", 1000);
    char path[96], vpath[96];
    snprintf(path, sizeof(path), "/users/%lld/debits", id);
    snprintf(vpath, sizeof(vpath), "/users/%lld/debits/void", id);
    const char *bad[] = {
        "{\"ref\":\"p-1\",\"amount\":",
        "{\"ref\":\"p-1\",\"amount\":1.5}",
        "{\"ref\":\"p-1\",\"amount\":1e400}",
        "{\"ref\":\"p-1\",\"amount\":\"3\"}",
        "{\"ref\":\"p-1\",\"amount\":-1}",
        "{\"ref\":\"p-1\",\"amount\":0}",
        "{\"ref\":\"p-1\"}",
        "{\"amount\":1}",
        "{\"ref\":\"\",\"amount\":1}",
        "{\"ref\":\"p 1\",\"amount\":1}",
        "{\"ref\":\"#p\",\"amount\":1}",
        "{\"ref\":7,\"amount\":1}",
        "{\"ref\":\"p-1\",\"amount\":1000000000000000}",
        "{\"ref\":\"p-1\",\"ref\":\"p-2\",\"amount\":1}",
        "{\"ref\":\"aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa\",\"amount\":"
        "1}",
    };
    for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
        expect_problem("POST", path, bad[i], 400, "INVALID_REQUEST");
        char cpath[96];
        snprintf(cpath, sizeof(cpath), "/users/%lld/credits", id);
        expect_problem("POST", cpath, bad[i], 400, "INVALID_REQUEST");
    }
    expect_problem("POST", vpath, "{}", 400, "INVALID_REQUEST");
    expect_problem("POST", vpath, "{\"ref\":\"p 1\"}", 400, "INVALID_REQUEST");
    expect_problem("POST", vpath, "{\"ref\":", 400, "INVALID_REQUEST");
    expect_problem("POST", "/users/abc/debits", "{\"ref\":\"p-1\",\"amount\":1}", 400,
                   "INVALID_REQUEST");
    expect_problem("POST", "/users/0/debits/void", "{\"ref\":\"p-1\"}", 400, "INVALID_REQUEST");
    expect_problem("POST", "/users/0/credits", "{\"ref\":\"p-1\",\"amount\":1}", 400,
                   "INVALID_REQUEST");
    /* The largest amount is valid: refused for the balance, not the syntax. */
    hresp r;
    move(id, "debits", "p-big", 999999999999999LL, &r);
    assert_problem(&r, 409, "INSUFFICIENT_BALANCE");
    hresp_free(&r);
    ck_assert_int_eq(balance_of(id), 1000);
    assert_ledger_adds_up(id);
}
END_TEST

START_TEST(test_credit)
{
    long long id = create_user("creditor", LIMIT);
    hresp r;
    ck_assert_int_eq(move(id, "credits", "refund-1", 95000, &r), 200);
    assert_members(r.json, 5);
    ck_assert_int_eq(harness_int(r.json, "userId"), id);
    assert_str(r.json, "ref", "refund-1");
    ck_assert_int_eq(harness_int(r.json, "amount"), 95000);
    ck_assert_int_eq(harness_int(r.json, "balance"), LIMIT + 95000);
    assert_str(r.json, "status", "CREDITED");
    hresp_free(&r);
    ck_assert_int_eq(move(id, "credits", "refund-1", 95000, &r), 200);
    ck_assert_int_eq(harness_int(r.json, "balance"), LIMIT + 95000);
    hresp_free(&r);
    ck_assert_int_eq(balance_of(id), LIMIT + 95000);
    move(id, "credits", "refund-1", 95001, &r);
    assert_problem(&r, 422, "IDEMPOTENCY_KEY_REUSED");
    hresp_free(&r);
    move(id, "debits", "refund-1", 95000, &r);
    assert_problem(&r, 422, "IDEMPOTENCY_KEY_REUSED");
    hresp_free(&r);
    /* Over the charge limit, a charge is refused but a credit applies. */
    charge(id, 1, NULL, &r);
    assert_problem(&r, 409, "BALANCE_LIMIT");
    hresp_free(&r);
    /* Past the largest exact amount nothing applies (no overflow). */
    move(id, "credits", "refund-2", 999999999999999LL, &r);
    assert_problem(&r, 409, "BALANCE_LIMIT");
    hresp_free(&r);
    move(999, "credits", "refund-3", 1, &r);
    assert_problem(&r, 404, "USER_NOT_FOUND");
    hresp_free(&r);
    ck_assert_int_eq(balance_of(id), LIMIT + 95000);
    assert_ledger_adds_up(id);
}
END_TEST

START_TEST(test_ledger_and_list)
{
    long long id = create_user("ledger", 10000);
    hresp r;
    ck_assert_int_eq(charge(id, 500, NULL, &r), 200);
    hresp_free(&r);
    ck_assert_int_eq(move(id, "debits", "led-1", 3000, &r), 200);
    hresp_free(&r);
    ck_assert_int_eq(move(id, "credits", "led-2", 1000, &r), 200);
    hresp_free(&r);
    ck_assert_int_eq(void_ref(id, "led-3", &r), 200);
    hresp_free(&r);
    cJSON *items = ledger_of(id);
    ck_assert_int_eq(cJSON_GetArraySize(items), 4);
    static const struct {
        const char *kind;
        long long amount, after;
    } want[] = {
        {"CHARGE", 500, 10500}, {"DEBIT", 3000, 7500}, {"CREDIT", 1000, 8500}, {"VOID", 0, 8500}};
    for (int i = 0; i < 4; i++) {
        const cJSON *row = cJSON_GetArrayItem(items, i);
        assert_str(row, "kind", want[i].kind);
        ck_assert_int_eq(harness_int(row, "amount"), want[i].amount);
        ck_assert_int_eq(harness_int(row, "balanceAfter"), want[i].after);
        ck_assert_int_eq(harness_int(row, "userId"), id);
    }
    ck_assert(cJSON_IsNull(cJSON_GetObjectItemCaseSensitive(cJSON_GetArrayItem(items, 0), "ref")));
    assert_str(cJSON_GetArrayItem(items, 1), "ref", "led-1");
    long long second = harness_int(cJSON_GetArrayItem(items, 1), "id");
    cJSON_Delete(items);
    char path[128];
    snprintf(path, sizeof(path), "/users/%lld/ledger?limit=2", id);
    ck_assert_int_eq(call("GET", path, NULL, &r), 200);
    ck_assert_int_eq(cJSON_GetArraySize(cJSON_GetObjectItemCaseSensitive(r.json, "items")), 2);
    ck_assert_int_eq(harness_int(r.json, "nextAfterId"), second);
    hresp_free(&r);
    snprintf(path, sizeof(path), "/users/%lld/ledger?limit=2&afterId=%lld", id, second);
    ck_assert_int_eq(call("GET", path, NULL, &r), 200);
    ck_assert_int_eq(cJSON_GetArraySize(cJSON_GetObjectItemCaseSensitive(r.json, "items")), 2);
    ck_assert(cJSON_IsNull(cJSON_GetObjectItemCaseSensitive(r.json, "nextAfterId")));
    hresp_free(&r);
    expect_problem("GET", "/users/999/ledger", NULL, 404, "USER_NOT_FOUND");
    expect_problem("GET", "/users/1/ledger?limit=0", NULL, 400, "INVALID_REQUEST");
    expect_problem("GET", "/users?limit=501", NULL, 400, "INVALID_REQUEST");
    expect_problem("GET", "/users?afterId=x", NULL, 400, "INVALID_REQUEST");
    ck_assert_int_eq(call("GET", "/users?limit=2", NULL, &r), 200);
    const cJSON *users = cJSON_GetObjectItemCaseSensitive(r.json, "items");
    ck_assert_int_eq(cJSON_GetArraySize(users), 2);
    const cJSON *kim = cJSON_GetArrayItem(users, 0);
    assert_members(kim, 5);
    assert_str(kim, "name", "kim");
    ck_assert_int_eq(harness_int(kim, "initialBalance"), 1000000);
    ck_assert_int_eq(harness_int(r.json, "nextAfterId"), 2);
    hresp_free(&r);
    assert_ledger_adds_up(id);
}
END_TEST

START_TEST(test_methods_and_unknown_routes)
{
    hresp r;
    call("DELETE", "/users/1", NULL, &r);
    assert_problem(&r, 405, "METHOD_NOT_ALLOWED");
    ck_assert(harness_has_header(&r, "Allow", "GET"));
    hresp_free(&r);
    call("PUT", "/users", "{}", &r);
    assert_problem(&r, 405, "METHOD_NOT_ALLOWED");
    ck_assert(harness_has_header(&r, "Allow", "POST, GET"));
    hresp_free(&r);
    call("GET", "/users/1/debits", NULL, &r);
    assert_problem(&r, 405, "METHOD_NOT_ALLOWED");
    ck_assert(harness_has_header(&r, "Allow", "POST"));
    hresp_free(&r);
    call("GET", "/users/1/balance/charge", NULL, &r);
    assert_problem(&r, 405, "METHOD_NOT_ALLOWED");
    ck_assert(harness_has_header(&r, "Allow", "POST"));
    hresp_free(&r);
    expect_problem("GET", "/nope", NULL, 404, "NOT_FOUND");
    expect_problem("GET", "/users/1/nope", NULL, 404, "NOT_FOUND");
    expect_problem("POST", "/users/1/debits/void/x", "{}", 404, "NOT_FOUND");
    expect_problem("GET", "/api/users/1", NULL, 404, "NOT_FOUND");
}
END_TEST

/* ---- races ------------------------------------------------------------- */

typedef struct race {
    pthread_barrier_t *start;
    long long user_id;
    char ref[32];
    long long amount;
    const char *key_header;
    long status;
    char code[48];
    long long balance;
    bool replayed;
    char *body;
} race;

static void race_record(race *x, hresp *r)
{
    x->status = r->status;
    x->balance = harness_int(r->json, "balance");
    x->replayed = harness_has_header(r, "Idempotent-Replayed", "true");
    const cJSON *c = cJSON_GetObjectItemCaseSensitive(r->json, "code");
    snprintf(x->code, sizeof(x->code), "%s", cJSON_IsString(c) ? c->valuestring : "");
    x->body = strdup(r->body);
    hresp_free(r);
}

static void *race_debit(void *arg)
{
    race *x = arg;
    hresp r;
    pthread_barrier_wait(x->start);
    move(x->user_id, "debits", x->ref, x->amount, &r);
    race_record(x, &r);
    return NULL;
}

static void *race_void(void *arg)
{
    race *x = arg;
    hresp r;
    pthread_barrier_wait(x->start);
    void_ref(x->user_id, x->ref, &r);
    race_record(x, &r);
    return NULL;
}

static void *race_charge(void *arg)
{
    race *x = arg;
    hresp r;
    pthread_barrier_wait(x->start);
    charge(x->user_id, x->amount, x->key_header, &r);
    race_record(x, &r);
    return NULL;
}

typedef struct watcher {
    long long user_id;
    volatile int done;
    long long min_seen;
    int reads;
} watcher;

/* Reads the balance over and over while a race runs; keeps the lowest. */
static void *watch_balance(void *arg)
{
    watcher *w = arg;
    char path[64];
    snprintf(path, sizeof(path), "/users/%lld/balance", w->user_id);
    while (!__atomic_load_n(&w->done, __ATOMIC_ACQUIRE)) {
        hresp r;
        if (call("GET", path, NULL, &r) == 200) {
            long long b = harness_int(r.json, "balance");
            if (b < w->min_seen)
                w->min_seen = b;
            w->reads++;
        }
        hresp_free(&r);
    }
    return NULL;
}

/* Runs n threads of fn over xs, all released at once. */
static void run_race(race *xs, int n, void *(*fn)(void *))
{
    pthread_barrier_t start;
    pthread_t *t = calloc((size_t)n, sizeof(*t));
    ck_assert_ptr_nonnull(t);
    pthread_barrier_init(&start, NULL, (unsigned)n);
    for (int i = 0; i < n; i++) {
        xs[i].start = &start;
        ck_assert_int_eq(pthread_create(&t[i], NULL, fn, &xs[i]), 0);
    }
    for (int i = 0; i < n; i++)
        pthread_join(t[i], NULL);
    pthread_barrier_destroy(&start);
    free(t);
}

static void free_race(race *xs, int n)
{
    for (int i = 0; i < n; i++)
        free(xs[i].body);
}

START_TEST(test_race_distinct_refs)
{
    enum { N = 40 };
    long long id = create_user("racer", 95000);
    race xs[N];
    memset(xs, 0, sizeof(xs));
    for (int i = 0; i < N; i++) {
        xs[i].user_id = id;
        xs[i].amount = 10000;
        snprintf(xs[i].ref, sizeof(xs[i].ref), "race-%d", i);
    }
    watcher w = {.user_id = id, .min_seen = 95000};
    pthread_t wt;
    ck_assert_int_eq(pthread_create(&wt, NULL, watch_balance, &w), 0);
    run_race(xs, N, race_debit);
    __atomic_store_n(&w.done, 1, __ATOMIC_RELEASE);
    pthread_join(wt, NULL);
    int ok = 0, short_ = 0;
    for (int i = 0; i < N; i++) {
        if (xs[i].status == 200) {
            ok++;
            ck_assert_int_ge(xs[i].balance, 5000);
        } else {
            ck_assert_int_eq(xs[i].status, 409);
            ck_assert_str_eq(xs[i].code, "INSUFFICIENT_BALANCE");
            short_++;
        }
    }
    ck_assert_int_eq(ok, 9);
    ck_assert_int_eq(short_, 31);
    ck_assert_int_ge(w.min_seen, 5000);
    ck_assert_int_gt(w.reads, 0);
    ck_assert_int_eq(balance_of(id), 5000);
    cJSON *items = ledger_of(id);
    ck_assert_int_eq(cJSON_GetArraySize(items), 9);
    cJSON_Delete(items);
    assert_ledger_adds_up(id);
    free_race(xs, N);
}
END_TEST

START_TEST(test_race_same_ref)
{
    enum { N = 20 };
    long long id = create_user("repeater", 50000);
    race xs[N];
    memset(xs, 0, sizeof(xs));
    for (int i = 0; i < N; i++) {
        xs[i].user_id = id;
        xs[i].amount = 7000;
        snprintf(xs[i].ref, sizeof(xs[i].ref), "same-ref-1");
    }
    run_race(xs, N, race_debit);
    for (int i = 0; i < N; i++) {
        ck_assert_int_eq(xs[i].status, 200);
        ck_assert_int_eq(xs[i].balance, 43000);
        ck_assert_str_eq(xs[i].body, xs[0].body);
    }
    ck_assert_int_eq(balance_of(id), 43000);
    cJSON *items = ledger_of(id);
    ck_assert_int_eq(cJSON_GetArraySize(items), 1);
    cJSON_Delete(items);
    assert_ledger_adds_up(id);
    free_race(xs, N);
}
END_TEST

START_TEST(test_race_charges_at_limit)
{
    enum { N = 30 };
    long long id = create_user("charger-race", LIMIT - 1000000000LL);
    race xs[N];
    memset(xs, 0, sizeof(xs));
    for (int i = 0; i < N; i++) {
        xs[i].user_id = id;
        xs[i].amount = 100000000;
    }
    run_race(xs, N, race_charge);
    int ok = 0, refused = 0;
    for (int i = 0; i < N; i++) {
        if (xs[i].status == 200) {
            ok++;
        } else {
            ck_assert_int_eq(xs[i].status, 409);
            ck_assert_str_eq(xs[i].code, "BALANCE_LIMIT");
            refused++;
        }
    }
    ck_assert_int_eq(ok, 10);
    ck_assert_int_eq(refused, 20);
    ck_assert_int_eq(balance_of(id), LIMIT);
    assert_ledger_adds_up(id);
    free_race(xs, N);
}
END_TEST

START_TEST(test_race_keyed_charge_once)
{
    enum { N = 20 };
    long long id = create_user("keyed-race", 0);
    race xs[N];
    memset(xs, 0, sizeof(xs));
    for (int i = 0; i < N; i++) {
        xs[i].user_id = id;
        xs[i].amount = 2500;
        xs[i].key_header = "Idempotency-Key: race-key-1";
    }
    run_race(xs, N, race_charge);
    int replayed = 0;
    for (int i = 0; i < N; i++) {
        ck_assert_int_eq(xs[i].status, 200);
        ck_assert_int_eq(xs[i].balance, 2500);
        replayed += xs[i].replayed;
    }
    ck_assert_int_eq(replayed, N - 1);
    ck_assert_int_eq(balance_of(id), 2500);
    assert_ledger_adds_up(id);
    free_race(xs, N);
}
END_TEST

START_TEST(test_race_void_against_debit)
{
    enum { PAIRS = 20 };
    long long id = create_user("void-race", 100000);
    race xs[2 * PAIRS];
    memset(xs, 0, sizeof(xs));
    pthread_barrier_t start;
    pthread_t t[2 * PAIRS];
    pthread_barrier_init(&start, NULL, 2 * PAIRS);
    for (int i = 0; i < 2 * PAIRS; i++) {
        xs[i].start = &start;
        xs[i].user_id = id;
        xs[i].amount = 1000;
        snprintf(xs[i].ref, sizeof(xs[i].ref), "vr-%d", i / 2);
        ck_assert_int_eq(pthread_create(&t[i], NULL, i % 2 ? race_void : race_debit, &xs[i]), 0);
    }
    for (int i = 0; i < 2 * PAIRS; i++)
        pthread_join(t[i], NULL);
    pthread_barrier_destroy(&start);
    int debited = 0;
    for (int p = 0; p < PAIRS; p++) {
        race *deb = &xs[2 * p], *vd = &xs[2 * p + 1];
        ck_assert_int_eq(vd->status, 200);
        cJSON *v = cJSON_Parse(vd->body);
        const char *vs = cJSON_GetObjectItemCaseSensitive(v, "status")->valuestring;
        if (deb->status == 200) {
            debited++;
            ck_assert_str_eq(vs, "DEBITED");
            ck_assert_int_eq(harness_int(v, "amount"), 1000);
        } else {
            ck_assert_int_eq(deb->status, 409);
            ck_assert_str_eq(deb->code, "DEBIT_VOIDED");
            ck_assert_str_eq(vs, "VOIDED");
            ck_assert_int_eq(harness_int(v, "amount"), 0);
        }
        cJSON_Delete(v);
    }
    ck_assert_int_eq(balance_of(id), 100000 - 1000LL * debited);
    assert_ledger_adds_up(id);
    free_race(xs, 2 * PAIRS);
}
END_TEST

/* ---- lifecycle --------------------------------------------------------- */

/* Opens a connection to port, sends one keep-alive GET and reads its reply,
 * leaving the connection open (as a peer's curl handle does). Returns the
 * socket, or -1. */
static int idle_keep_alive(int port)
{
    int fd = socket(AF_INET, SOCK_STREAM, 0);
    struct sockaddr_in a = {.sin_family = AF_INET, .sin_port = htons((uint16_t)port)};
    a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    if (fd < 0 || connect(fd, (struct sockaddr *)&a, sizeof(a)) != 0)
        goto fail;
    static const char get[] = "GET /health/live HTTP/1.1\r\nHost: 127.0.0.1\r\n"
                              "Connection: keep-alive\r\n\r\n";
    if (write(fd, get, sizeof(get) - 1) != (ssize_t)(sizeof(get) - 1))
        goto fail;
    char buf[1024];
    if (read(fd, buf, sizeof(buf)) <= 0)
        goto fail;
    return fd;
fail:
    if (fd >= 0)
        close(fd);
    return -1;
}

START_TEST(test_restart_keeps_state_and_sigterm_is_quick)
{
    char *d = harness_tmpdir();
    ck_assert_ptr_nonnull(d);
    svc_proc p;
    ck_assert(start_service(&p, d));
    int saved_port = svc.port;
    svc.port = p.port;
    hresp r;
    ck_assert_int_eq(charge(1, 1000, NULL, &r), 200);
    hresp_free(&r);
    ck_assert_int_eq(move(2, "debits", "life-1", 4000, &r), 200);
    hresp_free(&r);
    long ms = harness_stop(&p);
    ck_assert_msg(ms < 1000, "SIGTERM took %ld ms", ms);
    ck_assert_int_ne(harness_req("GET", p.port, "/health/live", NULL, NULL, NULL), 200);
    ck_assert(start_service(&p, d));
    svc.port = p.port;
    ck_assert_int_eq(balance_of(1), 1001000);
    ck_assert_int_eq(balance_of(2), 6000);
    ck_assert_int_eq(balance_of(3), 500000);
    ck_assert_int_eq(move(2, "debits", "life-1", 4000, &r), 200);
    ck_assert_int_eq(harness_int(r.json, "balance"), 6000);
    hresp_free(&r);
    ck_assert_int_eq(call("GET", "/users?limit=500", NULL, &r), 200);
    ck_assert_int_eq(cJSON_GetArraySize(cJSON_GetObjectItemCaseSensitive(r.json, "items")), 3);
    hresp_free(&r);
    /* A client holding an idle keep-alive connection does not delay it. */
    int fd = idle_keep_alive(p.port);
    ck_assert_int_ge(fd, 0);
    ms = harness_stop(&p);
    close(fd);
    ck_assert_msg(ms < 1000, "SIGTERM with an idle keep-alive client took %ld ms", ms);
    svc.port = saved_port;
    harness_rmdir(d);
}
END_TEST

/* The stored answer of a keyed charge outlives a restart (the start-up
 * purge keeps it: it is less than a day old). */
START_TEST(test_keyed_charge_replayed_after_restart)
{
    char *d = harness_tmpdir();
    ck_assert_ptr_nonnull(d);
    svc_proc p;
    ck_assert(start_service(&p, d));
    int saved_port = svc.port;
    svc.port = p.port;
    hresp r;
    ck_assert_int_eq(charge(3, 7, "Idempotency-Key: life-key", &r), 200);
    char *first = strdup(r.body);
    hresp_free(&r);
    harness_stop(&p);
    ck_assert(start_service(&p, d));
    svc.port = p.port;
    ck_assert_int_eq(charge(3, 7, "Idempotency-Key: life-key", &r), 200);
    ck_assert(harness_has_header(&r, "Idempotent-Replayed", "true"));
    ck_assert_str_eq(r.body, first);
    hresp_free(&r);
    free(first);
    ck_assert_int_eq(balance_of(3), 500007);
    harness_stop(&p);
    svc.port = saved_port;
    harness_rmdir(d);
}
END_TEST

Suite *it_user_suite(void)
{
    Suite *s = suite_create("it_user");
    TCase *tc = tcase_create("routes");
    tcase_add_unchecked_fixture(tc, start_user, stop_user);
    tcase_set_timeout(tc, 60);
    tcase_add_test(tc, test_health_and_token);
    tcase_add_test(tc, test_seed_and_get);
    tcase_add_test(tc, test_create_user);
    tcase_add_test(tc, test_charge);
    tcase_add_test(tc, test_charge_invalid_bodies);
    tcase_add_test(tc, test_charge_limit);
    tcase_add_test(tc, test_charge_idempotency_key);
    tcase_add_test(tc, test_charge_key_stores_a_400);
    tcase_add_test(tc, test_debit_and_void);
    tcase_add_test(tc, test_debit_invalid_bodies);
    tcase_add_test(tc, test_credit);
    tcase_add_test(tc, test_ledger_and_list);
    tcase_add_test(tc, test_methods_and_unknown_routes);
    suite_add_tcase(s, tc);

    tc = tcase_create("races");
    tcase_add_unchecked_fixture(tc, start_user, stop_user);
    tcase_set_timeout(tc, 60);
    tcase_add_test(tc, test_race_distinct_refs);
    tcase_add_test(tc, test_race_same_ref);
    tcase_add_test(tc, test_race_charges_at_limit);
    tcase_add_test(tc, test_race_keyed_charge_once);
    tcase_add_test(tc, test_race_void_against_debit);
    suite_add_tcase(s, tc);

    tc = tcase_create("lifecycle");
    tcase_set_timeout(tc, 60);
    tcase_add_test(tc, test_restart_keeps_state_and_sigterm_is_quick);
    tcase_add_test(tc, test_keyed_charge_replayed_after_restart);
    suite_add_tcase(s, tc);
    return s;
}
