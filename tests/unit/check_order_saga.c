/* Unit tests of order_saga against a fresh store and an in-process fake of
 * the peers (user, item, coupon on one server) whose handlers can be held
 * at a gate: recovery claims a stale PENDING order before it gives anything
 * back, so a saga that reaches CREATED during the restores loses (review
 * M1), and a saga whose CREATED loses to that claim gives back what it took
 * and answers 503. Peer calls are counted by peer name. */
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include <check.h>

#include "../../services/order/order_saga.h"
#include "../../services/order/order_store.h"
#include "http_server.h"
#include "json.h"
#include "log.h"
#include "metrics.h"
#include "timeutil.h"

/* Which fake route holds its caller at the gate. */
typedef enum gate_at { GATE_NONE, GATE_COUPON_RESTORE, GATE_RESERVE } gate_at;

static struct {
    pthread_mutex_t mu;
    pthread_cond_t cv;
    gate_at at;
    bool arrived;
    bool released;
    int64_t order_id; /* of the held call */
    int coupon_restores;
    int stock_restores;
} fake = {.mu = PTHREAD_MUTEX_INITIALIZER, .cv = PTHREAD_COND_INITIALIZER};

static char tmp_dir[64];
static char db_path[128];
static char base[64];
static http_server *srv;
static order_app app;

/* Holds the caller while the gate is at here, until released (at most 10 s). */
static void gate(gate_at here, int64_t order_id)
{
    pthread_mutex_lock(&fake.mu);
    if (fake.at == here) {
        fake.arrived = true;
        fake.order_id = order_id;
        pthread_cond_broadcast(&fake.cv);
        int64_t until = time_mono_ms() + 10000;
        while (!fake.released && time_mono_ms() < until) {
            struct timespec ts;
            clock_gettime(CLOCK_REALTIME, &ts);
            ts.tv_nsec += 20 * 1000000L;
            if (ts.tv_nsec >= 1000000000L) {
                ts.tv_sec++;
                ts.tv_nsec -= 1000000000L;
            }
            pthread_cond_timedwait(&fake.cv, &fake.mu, &ts);
        }
    }
    pthread_mutex_unlock(&fake.mu);
}

/* Waits (at most 10 s) for a call to reach the gate; returns its order id. */
static int64_t wait_arrived(void)
{
    int64_t until = time_mono_ms() + 10000;
    pthread_mutex_lock(&fake.mu);
    while (!fake.arrived && time_mono_ms() < until) {
        pthread_mutex_unlock(&fake.mu);
        time_sleep_ms(5);
        pthread_mutex_lock(&fake.mu);
    }
    bool arrived = fake.arrived;
    int64_t id = fake.order_id;
    pthread_mutex_unlock(&fake.mu);
    ck_assert_msg(arrived, "no call reached the gate");
    return id;
}

static void set_gate(gate_at at)
{
    pthread_mutex_lock(&fake.mu);
    fake.at = at;
    pthread_mutex_unlock(&fake.mu);
}

static void release(void)
{
    pthread_mutex_lock(&fake.mu);
    fake.released = true;
    pthread_cond_broadcast(&fake.cv);
    pthread_mutex_unlock(&fake.mu);
}

static int reply_empty(http_req *req)
{
    return http_reply_json(req, 200, cJSON_CreateObject());
}

static int h_user(http_req *req)
{
    cJSON *u = cJSON_CreateObject();
    json_add_int(u, "id", req->params[0]);
    return http_reply_json(req, 200, u);
}

static int h_coupon_restore(http_req *req)
{
    gate(GATE_COUPON_RESTORE, req->params[0]);
    pthread_mutex_lock(&fake.mu);
    fake.coupon_restores++;
    pthread_mutex_unlock(&fake.mu);
    return reply_empty(req);
}

static int h_stock_restore(http_req *req)
{
    pthread_mutex_lock(&fake.mu);
    fake.stock_restores++;
    pthread_mutex_unlock(&fake.mu);
    return reply_empty(req);
}

/* POST /reservations {"orderId","items"}: prices every line at 500. */
static int h_reserve(http_req *req)
{
    int64_t order_id = 0;
    cJSON *body = http_parse_body(req);
    if (body == NULL)
        return req->status;
    json_peek_int(body, "orderId", &order_id);
    gate(GATE_RESERVE, order_id);
    cJSON *reply = cJSON_CreateObject();
    cJSON *items = cJSON_AddArrayToObject(reply, "items");
    const cJSON *line = NULL;
    cJSON_ArrayForEach(line, cJSON_GetObjectItemCaseSensitive(body, "items"))
    {
        int64_t item_id = 0, quantity = 0;
        json_peek_int(line, "itemId", &item_id);
        json_peek_int(line, "quantity", &quantity);
        cJSON *out = cJSON_CreateObject();
        cJSON_AddItemToArray(items, out);
        json_add_int(out, "itemId", item_id);
        json_add_int(out, "quantity", quantity);
        json_add_int(out, "unitPrice", 500);
    }
    cJSON_Delete(body);
    return http_reply_json(req, 200, reply);
}

static const http_route fake_routes[] = {
    {"GET", "/users/{userId}", h_user, NULL},
    {"POST", "/stock/check", reply_empty, NULL},
    {"POST", "/reservations", h_reserve, NULL},
    {"POST", "/reservations/{orderId}/restore", h_stock_restore, NULL},
    {"POST", "/coupon-uses/{orderId}/restore", h_coupon_restore, NULL},
};

static void setup(void)
{
    setenv("SHOP_LOG_LEVEL", "error", 1);
    log_init("test");
    http_client_init();
    snprintf(tmp_dir, sizeof tmp_dir, "/tmp/order-saga-XXXXXX");
    ck_assert_ptr_nonnull(mkdtemp(tmp_dir));
    snprintf(db_path, sizeof db_path, "%s/order.db", tmp_dir);
    memset(&app, 0, sizeof app);
    ck_assert_int_eq(order_store_open(db_path, &app.db), 0);
    http_server_config cfg = {.service = "fake-peers", .bind_addr = "127.0.0.1", .port = 0,
                              .num_threads = 8, .routes = fake_routes,
                              .n_routes = sizeof fake_routes / sizeof fake_routes[0]};
    srv = http_server_start(&cfg);
    ck_assert_ptr_nonnull(srv);
    snprintf(base, sizeof base, "http://127.0.0.1:%d", http_server_port(srv));
    app.item_url = app.user_url = app.coupon_url = app.payment_url = base;
    app.call_timeout_ms = 5000;
    app.saga_deadline_ms = 30000;
    app.payment_ttl_s = 900;
    app.recovery_interval_ms = 1000;
    pthread_mutex_lock(&fake.mu);
    fake.at = GATE_NONE;
    fake.arrived = fake.released = false;
    fake.order_id = 0;
    fake.coupon_restores = fake.stock_restores = 0;
    pthread_mutex_unlock(&fake.mu);
}

static void teardown(void)
{
    char path[160];
    release();
    http_server_stop(srv);
    srv = NULL;
    db_close(app.db);
    app.db = NULL;
    http_client_cleanup();
    const char *suffixes[] = {"", "-wal", "-shm"};
    for (size_t i = 0; i < 3; i++) {
        snprintf(path, sizeof path, "%s%s", db_path, suffixes[i]);
        unlink(path);
    }
    rmdir(tmp_dir);
}

static void *run_round(void *arg)
{
    (void)arg;
    order_recovery_round(&app, NULL);
    return NULL;
}

static int64_t calls(const char *peer)
{
    char labels[96];
    snprintf(labels, sizeof labels, "peer=\"%s\",outcome=\"ok\"", peer);
    return metrics_value("shop_http_client_calls_total", labels);
}

/* Recovery undoes a stale PENDING order; the order's late saga tries to make
 * it CREATED while recovery's coupon restore is under way: it must lose, and
 * the order ends FAILED (before the fix, CREATED with nothing reserved). */
START_TEST(test_recovery_claims_before_restoring)
{
    order_create_req rq = {.user_id = 1, .user_coupon_id = 5, .n_lines = 1,
                           .lines = {{.item_id = 3, .quantity = 2}}};
    int64_t id = 0;
    bool won = true;
    int64_t stale_s = time_now_ms() / 1000 - 600;
    ck_assert_int_eq(order_store_insert_pending(app.db, &rq, stale_s, NULL, NULL, &id, NULL, NULL),
                     SHOP_OK);
    int64_t coupon_calls = calls("coupon"), item_calls = calls("item");
    set_gate(GATE_COUPON_RESTORE);
    pthread_t t;
    ck_assert_int_eq(pthread_create(&t, NULL, run_round, NULL), 0);
    ck_assert_int_eq(wait_arrived(), id);
    /* The saga's PENDING -> CREATED, while the coupon is being given back. */
    order_rec o;
    ck_assert_int_eq(order_store_get(app.db, id, &o), SHOP_OK);
    ck_assert_int_eq(o.status, ORDER_PENDING);
    o.lines[0].unit_price = 500;
    o.total_amount = o.final_amount = 1000;
    o.updated_at = time_now_ms() / 1000;
    ck_assert_int_eq(order_store_mark_created(app.db, &o, "{}", NULL, NULL, &won), SHOP_OK);
    ck_assert_msg(!won, "the saga made order %lld CREATED while recovery gave back its coupon",
                  (long long)id);
    release();
    pthread_join(t, NULL);
    ck_assert_int_eq(order_store_get(app.db, id, &o), SHOP_OK);
    ck_assert_int_eq(o.status, ORDER_FAILED);
    ck_assert_int_eq(o.total_amount, 0);
    ck_assert_int_eq(fake.coupon_restores, 1);
    ck_assert_int_eq(fake.stock_restores, 1);
    /* Calls are counted by peer name, not URL. */
    ck_assert_int_eq(calls("coupon") - coupon_calls, 1);
    ck_assert_int_eq(calls("item") - item_calls, 1);
    /* The round purged idempotency keys and noted when; the next round
     * within the hour does not purge again. */
    int64_t purged = atomic_load(&app.idem_purged_ms);
    ck_assert_int_gt(purged, 0);
    time_sleep_ms(5);
    order_recovery_round(&app, NULL);
    ck_assert_int_eq(atomic_load(&app.idem_purged_ms), purged);
    /* Nothing left for recovery: the FAILED order is not undone twice. */
    ck_assert_int_eq(fake.coupon_restores, 1);
    ck_assert_int_eq(fake.stock_restores, 1);
}
END_TEST

typedef struct create_run {
    order_create_req rq;
    order_rec order;
    order_fail fail;
    char *reply;
    shop_err err;
} create_run;

static void *run_create(void *arg)
{
    create_run *r = arg;
    r->err = order_saga_create(&app, &r->rq, NULL, "rid-saga", &r->order, &r->reply, &r->fail);
    return NULL;
}

/* The live saga whose CREATED loses to recovery's claim gives back the stock
 * it reserved and answers 503; the order stays PENDING (claimed) for
 * recovery to fail. */
START_TEST(test_saga_that_loses_to_the_claim_restores_and_answers_503)
{
    create_run r = {.rq = {.user_id = 1, .n_lines = 1, .lines = {{.item_id = 3, .quantity = 2}}}};
    bool won = false;
    int64_t user_calls = calls("user");
    set_gate(GATE_RESERVE);
    pthread_t t;
    ck_assert_int_eq(pthread_create(&t, NULL, run_create, &r), 0);
    int64_t id = wait_arrived();
    ck_assert_int_gt(id, 0);
    ck_assert_int_eq(order_store_claim_undo(app.db, id, &won), SHOP_OK);
    ck_assert(won);
    release();
    pthread_join(t, NULL);
    ck_assert_int_ne(r.err, SHOP_OK);
    ck_assert_ptr_null(r.reply);
    ck_assert_ptr_null(r.fail.peer);
    ck_assert_str_eq(r.fail.code, "SERVICE_UNAVAILABLE");
    ck_assert_int_eq(r.order.id, id);
    ck_assert_int_eq(fake.stock_restores, 1);
    ck_assert_int_eq(fake.coupon_restores, 0);
    order_rec o;
    ck_assert_int_eq(order_store_get(app.db, id, &o), SHOP_OK);
    ck_assert_int_eq(o.status, ORDER_PENDING);
    ck_assert(o.undoing);
    ck_assert_int_eq(o.total_amount, 0);
    ck_assert_int_eq(calls("user") - user_calls, 1);
    order_fail_release(&r.fail);
}
END_TEST

Suite *order_saga_suite(void);

Suite *order_saga_suite(void)
{
    Suite *s = suite_create("order_saga");
    TCase *tc = tcase_create("saga");
    tcase_add_checked_fixture(tc, setup, teardown);
    tcase_set_timeout(tc, 30);
    tcase_add_test(tc, test_recovery_claims_before_restoring);
    tcase_add_test(tc, test_saga_that_loses_to_the_claim_restores_and_answers_503);
    suite_add_tcase(s, tc);
    return s;
}
