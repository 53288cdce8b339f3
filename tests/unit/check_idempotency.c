/* The stored-answer table behind Idempotency-Key. */
#include <check.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "db.h"
#include "harness.h"
#include "http_server.h"
#include "idempotency.h"

static const char *const schema[] = {IDEM_SCHEMA};
static char *dir;
static db *d;

static void setup(void)
{
    char path[512];
    dir = harness_tmpdir();
    snprintf(path, sizeof path, "%s/idem.db", dir);
    ck_assert_int_eq(db_open(path, schema, 1, &d), 0);
}

static void teardown(void)
{
    db_close(d);
    harness_rmdir(dir);
}

START_TEST(key_syntax)
{
    ck_assert(idem_key_valid("a"));
    ck_assert(idem_key_valid("order 1/retry:2"));
    char k[300];
    memset(k, 'k', sizeof k);
    k[255] = '\0';
    ck_assert(idem_key_valid(k));
    k[255] = 'k';
    k[256] = '\0';
    ck_assert(!idem_key_valid(k));
    ck_assert(!idem_key_valid(""));
    ck_assert(!idem_key_valid("tab\there"));
    ck_assert(!idem_key_valid("caf\xc3\xa9"));
}
END_TEST

START_TEST(store_then_replay_or_refuse)
{
    idem_record rec;
    db_conn *w = db_begin_write(d);
    ck_assert_int_eq(idem_lookup(w, "POST /charge", "k1", "/users/1\n{\"amount\":5}", &rec), IDEM_NEW);
    ck_assert_int_eq(idem_store(w, "POST /charge", "k1", "/users/1\n{\"amount\":5}", 200,
                                "{\"balance\":5}"), 0);
    ck_assert_int_eq(db_commit(d, w), 0);

    w = db_begin_write(d);
    ck_assert_int_eq(idem_lookup(w, "POST /charge", "k1", "/users/1\n{\"amount\":5}", &rec), IDEM_REPLAY);
    ck_assert_int_eq(rec.status, 200);
    ck_assert_str_eq(rec.body, "{\"balance\":5}");
    idem_record_free(&rec);
    /* Another body, or the same body on another user's path: 422. */
    ck_assert_int_eq(idem_lookup(w, "POST /charge", "k1", "/users/1\n{\"amount\":6}", &rec), IDEM_MISMATCH);
    ck_assert_int_eq(idem_lookup(w, "POST /charge", "k1", "/users/2\n{\"amount\":5}", &rec), IDEM_MISMATCH);
    /* Keys are scoped per route. */
    ck_assert_int_eq(idem_lookup(w, "POST /issue", "k1", "/users/1\n{\"amount\":5}", &rec), IDEM_NEW);
    /* A second store of the same key fails: the primary key guards races. */
    ck_assert_int_eq(idem_store(w, "POST /charge", "k1", "x", 200, "{}"), -1);
    db_rollback(d, w);
}
END_TEST

START_TEST(saga_keys_follow_their_row)
{
    idem_record rec;
    db_conn *w = db_begin_write(d);
    ck_assert_int_eq(idem_reserve(w, "POST /orders", "o1", "/orders\n{}", 12), 0);
    ck_assert_int_eq(idem_lookup(w, "POST /orders", "o1", "/orders\n{}", &rec), IDEM_IN_PROGRESS);
    ck_assert_int_eq(rec.ref, 12);
    ck_assert_int_eq(idem_finish_ref(w, "POST /orders", 12, 201, "{\"id\":12}"), 0);
    ck_assert_int_eq(idem_lookup(w, "POST /orders", "o1", "/orders\n{}", &rec), IDEM_REPLAY);
    ck_assert_int_eq(rec.status, 201);
    ck_assert_str_eq(rec.body, "{\"id\":12}");
    idem_record_free(&rec);
    ck_assert_int_eq(idem_reserve(w, "POST /orders", "o2", "/orders\n{}", 13), 0);
    ck_assert_int_eq(idem_forget_ref(w, "POST /orders", 13), 0);
    ck_assert_int_eq(idem_lookup(w, "POST /orders", "o2", "/orders\n{}", &rec), IDEM_NEW);
    ck_assert_int_eq(db_commit(d, w), 0);
}
END_TEST

START_TEST(purge_keeps_a_day)
{
    idem_record rec;
    db_conn *w = db_begin_write(d);
    ck_assert_int_eq(idem_store(w, "s", "old", "r", 200, "{}"), 0);
    ck_assert_int_eq(idem_reserve(w, "s", "running", "r", 1), 0);
    int64_t created = 0;
    sqlite3_stmt *st = db_prepare(w, "SELECT created_at FROM idempotency_keys WHERE key = 'old'");
    ck_assert_int_eq(sqlite3_step(st), SQLITE_ROW);
    created = sqlite3_column_int64(st, 0);
    db_stmt_done(st);
    ck_assert_int_eq(idem_purge(w, created + IDEM_KEEP_SECONDS), 0); /* exactly a day: kept */
    ck_assert_int_eq(idem_lookup(w, "s", "old", "r", &rec), IDEM_REPLAY);
    idem_record_free(&rec);
    ck_assert_int_eq(idem_purge(w, created + IDEM_KEEP_SECONDS + 1), 0);
    ck_assert_int_eq(idem_lookup(w, "s", "old", "r", &rec), IDEM_NEW);
    ck_assert_int_eq(idem_lookup(w, "s", "running", "r", &rec), IDEM_IN_PROGRESS);
    ck_assert_int_eq(db_commit(d, w), 0);
}
END_TEST

/* When the row for key k of scope "s" was stored (epoch seconds). */
static int64_t created_at(const char *k)
{
    db_conn *r = db_reader(d);
    sqlite3_stmt *st = db_prepare(r, "SELECT created_at FROM idempotency_keys "
                                     "WHERE scope = 's' AND key = ?1");
    sqlite3_bind_text(st, 1, k, -1, SQLITE_STATIC);
    ck_assert_int_eq(sqlite3_step(st), SQLITE_ROW);
    int64_t at = sqlite3_column_int64(st, 0);
    db_stmt_done(st);
    db_reader_done(d, r);
    return at;
}

START_TEST(lookup_on_a_reader)
{
    idem_record rec;
    const idem_req k = {.key = "k", .request = "/orders\n{}"};
    const idem_req other = {.key = "k", .request = "/orders\n{\"a\":1}"};
    rec.status = 7; /* zeroed, whatever it held */
    ck_assert_int_eq(idem_lookup_reader(d, "s", &k, &rec), IDEM_NEW);
    ck_assert_int_eq(rec.status, 0);
    ck_assert_ptr_null(rec.body);
    db_conn *w = db_begin_write(d);
    ck_assert_int_eq(idem_reserve(w, "s", "k", "/orders\n{}", 41), 0);
    /* Not committed: the reader does not see it yet. */
    ck_assert_int_eq(idem_lookup_reader(d, "s", &k, &rec), IDEM_NEW);
    ck_assert_int_eq(db_commit(d, w), 0);
    ck_assert_int_eq(idem_lookup_reader(d, "s", &k, &rec), IDEM_IN_PROGRESS);
    ck_assert_int_eq(rec.ref, 41);
    ck_assert_int_eq(idem_lookup_reader(d, "s", &other, &rec), IDEM_MISMATCH);
    ck_assert_int_eq(idem_lookup_reader(d, "t", &k, &rec), IDEM_NEW); /* scoped */
}
END_TEST

START_TEST(put_answer_keeps_the_first)
{
    idem_record rec;
    const idem_req k = {.key = "k", .request = "/orders\n{}"};
    const idem_req reused = {.key = "k", .request = "/orders\n{\"a\":1}"};
    ck_assert_int_eq(idem_put_answer(d, "s", &k, 404, "{\"code\":\"USER_NOT_FOUND\"}"), 0);
    ck_assert_int_eq(idem_lookup_reader(d, "s", &k, &rec), IDEM_REPLAY);
    ck_assert_int_eq(rec.status, 404);
    ck_assert_str_eq(rec.body, "{\"code\":\"USER_NOT_FOUND\"}");
    idem_record_free(&rec);
    /* Stored already (with this request or another): the first answer stands. */
    ck_assert_int_eq(idem_put_answer(d, "s", &k, 400, "{}"), 0);
    ck_assert_int_eq(idem_put_answer(d, "s", &reused, 400, "{}"), 0);
    ck_assert_int_eq(idem_lookup_reader(d, "s", &k, &rec), IDEM_REPLAY);
    ck_assert_int_eq(rec.status, 404);
    ck_assert_str_eq(rec.body, "{\"code\":\"USER_NOT_FOUND\"}");
    idem_record_free(&rec);
    /* A key a saga holds IN_PROGRESS keeps it: no answer is put over it. */
    db_conn *w = db_begin_write(d);
    ck_assert_int_eq(idem_reserve(w, "s", "running", "r", 5), 0);
    ck_assert_int_eq(db_commit(d, w), 0);
    const idem_req running = {.key = "running", .request = "r"};
    ck_assert_int_eq(idem_put_answer(d, "s", &running, 400, "{}"), 0);
    ck_assert_int_eq(idem_lookup_reader(d, "s", &running, &rec), IDEM_IN_PROGRESS);
    ck_assert_int_eq(rec.ref, 5);
}
END_TEST

START_TEST(purge_expired_keeps_a_day)
{
    idem_record rec;
    const idem_req old = {.key = "old", .request = "r"};
    ck_assert_int_eq(idem_put_answer(d, "s", &old, 200, "{}"), 0);
    int64_t created = created_at("old");
    ck_assert_int_eq(idem_purge_expired(d, created + IDEM_KEEP_SECONDS), 0);
    ck_assert_int_eq(idem_lookup_reader(d, "s", &old, &rec), IDEM_REPLAY);
    idem_record_free(&rec);
    ck_assert_int_eq(idem_purge_expired(d, created + IDEM_KEEP_SECONDS + 1), 0);
    ck_assert_int_eq(idem_lookup_reader(d, "s", &old, &rec), IDEM_NEW);
}
END_TEST

/* POST /things: a keyed route as the services write one. It answers what
 * idem_check_request left ({"keyed","request"}, 201) and puts that answer
 * under the key. */
static int h_keyed(http_req *req)
{
    idem_req buf;
    const idem_req *idem = NULL;
    int status = idem_check_request(req, d, "s", &buf, &idem);
    if (status != 0)
        return status;
    ck_assert((idem != NULL) == (buf.key != NULL));
    ck_assert(idem == NULL || idem == &buf);
    cJSON *o = cJSON_CreateObject();
    cJSON_AddBoolToObject(o, "keyed", idem != NULL);
    if (buf.request != NULL)
        cJSON_AddStringToObject(o, "request", buf.request);
    char *body = cJSON_PrintUnformatted(o);
    cJSON_Delete(o);
    if (idem != NULL)
        ck_assert_int_eq(idem_put_answer(d, "s", idem, 201, body), 0);
    status = http_reply_raw(req, 201, "application/json", body, strlen(body));
    free(body);
    free((char *)buf.request);
    return status;
}

/* The same, with no pointer asked for: buf alone says whether there is a key. */
static int h_keyed_buf(http_req *req)
{
    idem_req buf = {.key = "stale", .request = "stale"};
    int status = idem_check_request(req, d, "s", &buf, NULL);
    if (status != 0)
        return status;
    status = http_reply_json(req, 200, cJSON_CreateBool(buf.key != NULL));
    free((char *)buf.request);
    return status;
}

static const http_route keyed_routes[] = {
    {"POST", "/things", h_keyed, NULL},
    {"POST", "/bare", h_keyed_buf, NULL},
};

static const char *code_of(const hresp *r)
{
    const cJSON *c = cJSON_GetObjectItemCaseSensitive(r->json, "code");
    return cJSON_IsString(c) ? c->valuestring : "";
}

START_TEST(check_request_answers_what_it_can)
{
    http_server_config cfg = {.service = "test",
                              .bind_addr = "127.0.0.1",
                              .num_threads = 2,
                              .routes = keyed_routes,
                              .n_routes = sizeof keyed_routes / sizeof keyed_routes[0]};
    http_server *srv = http_server_start(&cfg);
    ck_assert_ptr_nonnull(srv);
    int port = http_server_port(srv);
    const char *const k1[] = {"Idempotency-Key: k1", NULL};
    const char *const k2[] = {"Idempotency-Key: k2", NULL};
    char long_key[300] = "Idempotency-Key: ";
    memset(long_key + strlen(long_key), 'k', 256);
    const char *const bad[] = {long_key, NULL};
    hresp r;

    /* No key: on, nothing to free or store. */
    ck_assert_int_eq(harness_req("POST", port, "/things", "{}", NULL, &r), 201);
    ck_assert_str_eq(r.body, "{\"keyed\":false}");
    hresp_free(&r);
    /* A new key: on, with its request text; the answer is stored. */
    ck_assert_int_eq(harness_req("POST", port, "/things", "{}", k1, &r), 201);
    ck_assert_str_eq(r.body, "{\"keyed\":true,\"request\":\"/things\\n{}\"}");
    ck_assert(!harness_has_header(&r, "Idempotent-Replayed", NULL));
    hresp_free(&r);
    /* The same again: the stored answer, replayed by idem_check_request. */
    ck_assert_int_eq(harness_req("POST", port, "/things", "{}", k1, &r), 201);
    ck_assert_str_eq(r.body, "{\"keyed\":true,\"request\":\"/things\\n{}\"}");
    ck_assert(harness_has_header(&r, "Idempotent-Replayed", "true"));
    hresp_free(&r);
    /* The key with another body: 422. */
    ck_assert_int_eq(harness_req("POST", port, "/things", "{\"a\":1}", k1, &r), 422);
    ck_assert_str_eq(code_of(&r), "IDEMPOTENCY_KEY_REUSED");
    hresp_free(&r);
    /* A key a saga holds: 409. */
    db_conn *w = db_begin_write(d);
    ck_assert_int_eq(idem_reserve(w, "s", "k2", "/things\n{}", 3), 0);
    ck_assert_int_eq(db_commit(d, w), 0);
    ck_assert_int_eq(harness_req("POST", port, "/things", "{}", k2, &r), 409);
    ck_assert_str_eq(code_of(&r), "IDEMPOTENCY_KEY_IN_USE");
    hresp_free(&r);
    /* A key of 256 characters: 400, nothing stored. */
    ck_assert_int_eq(harness_req("POST", port, "/things", "{}", bad, &r), 400);
    ck_assert_str_eq(code_of(&r), "INVALID_REQUEST");
    hresp_free(&r);
    /* Without the pointer: buf's key is NULL when there is none. */
    ck_assert_int_eq(harness_req("POST", port, "/bare", "{}", NULL, &r), 200);
    ck_assert_str_eq(r.body, "false");
    hresp_free(&r);
    ck_assert_int_eq(harness_req("POST", port, "/bare", "{}", k1, &r), 422); /* other path */
    ck_assert_str_eq(code_of(&r), "IDEMPOTENCY_KEY_REUSED");
    hresp_free(&r);
    const char *const k3[] = {"Idempotency-Key: k3", NULL};
    ck_assert_int_eq(harness_req("POST", port, "/bare", "{}", k3, &r), 200);
    ck_assert_str_eq(r.body, "true");
    hresp_free(&r);
    http_server_stop(srv);
}
END_TEST

Suite *idempotency_suite(void)
{
    Suite *s = suite_create("idempotency");
    TCase *tc = tcase_create("store");
    tcase_add_checked_fixture(tc, setup, teardown);
    tcase_add_test(tc, key_syntax);
    tcase_add_test(tc, store_then_replay_or_refuse);
    tcase_add_test(tc, saga_keys_follow_their_row);
    tcase_add_test(tc, purge_keeps_a_day);
    tcase_add_test(tc, lookup_on_a_reader);
    tcase_add_test(tc, put_answer_keeps_the_first);
    tcase_add_test(tc, purge_expired_keeps_a_day);
    tcase_add_test(tc, check_request_answers_what_it_can);
    suite_add_tcase(s, tc);
    return s;
}
