/* The common saga log: the saga_steps row it writes (what becomes NULL, the
 * payment_id rule of each service's table), the step row of a service's
 * step struct, and what a call's result comes to in a step. */
#include <check.h>
#include <stdio.h>
#include <string.h>

#include "db.h"
#include "harness.h"
#include "saga_log.h"
#include "timeutil.h"

static const char *const order_schema[] = {SAGA_LOG_SCHEMA("")};
static const char *const payment_schema[] = {SAGA_LOG_SCHEMA(" NOT NULL")};
static char *dir;
static db *d;

static void open_with(const char *const *schema)
{
    char path[512];
    dir = harness_tmpdir();
    snprintf(path, sizeof path, "%s/saga.db", dir);
    ck_assert_int_eq(db_open(path, schema, 1, &d), 0);
}

static void setup_order(void)
{
    open_with(order_schema);
}

static void setup_payment(void)
{
    open_with(payment_schema);
}

static void teardown(void)
{
    db_close(d);
    harness_rmdir(dir);
}

/* Inserts row in a transaction of its own. Returns saga_log_insert's answer
 * (the transaction is committed on 0, rolled back otherwise). */
static int insert(const saga_log_row *row)
{
    db_conn *w = db_begin_write(d);
    ck_assert_ptr_nonnull(w);
    int rc = saga_log_insert(w, row);
    if (rc == 0)
        ck_assert_int_eq(db_commit(d, w), 0);
    else
        db_rollback(d, w);
    return rc;
}

/* The row with the highest id, every column as text ("NULL" for NULL),
 * joined by '|'. */
static void last_row(char *out, size_t len)
{
    static const char sql[] = "SELECT order_id, payment_id, at_us, step, peer, http_status, error, "
                              "duration_ms, request_id, compensation FROM saga_steps "
                              "ORDER BY id DESC LIMIT 1";
    db_conn *r = db_reader(d);
    sqlite3_stmt *st = db_prepare(r, sql);
    ck_assert_ptr_nonnull(st);
    ck_assert_int_eq(sqlite3_step(st), SQLITE_ROW);
    size_t at = 0;
    out[0] = '\0';
    for (int i = 0; i < 10; i++) {
        const char *v = sqlite3_column_type(st, i) == SQLITE_NULL
                            ? "NULL"
                            : (const char *)sqlite3_column_text(st, i);
        at += (size_t)snprintf(out + at, len - at, "%s%s", i > 0 ? "|" : "", v);
        ck_assert_uint_lt(at, len);
    }
    db_stmt_done(st);
    db_reader_done(d, r);
}

static int64_t count_rows(void)
{
    db_conn *r = db_reader(d);
    sqlite3_stmt *st = db_prepare(r, "SELECT count(*) FROM saga_steps");
    ck_assert_int_eq(sqlite3_step(st), SQLITE_ROW);
    int64_t n = sqlite3_column_int64(st, 0);
    db_stmt_done(st);
    db_reader_done(d, r);
    return n;
}

START_TEST(a_call_is_written_whole)
{
    char got[512];
    const int64_t payment = 9;
    saga_log_row row = {.order_id = 7,
                        .payment_id = &payment,
                        .at_us = 1764000000123456LL,
                        .step = "recovery.stock.restore",
                        .peer = "item",
                        .http_status = 409,
                        .error = "OUT_OF_STOCK",
                        .duration_ms = 12,
                        .request_id = "rid-1",
                        .compensation = true};
    ck_assert_int_eq(insert(&row), 0);
    last_row(got, sizeof got);
    ck_assert_str_eq(got, "7|9|1764000000123456|recovery.stock.restore|item|409|OUT_OF_STOCK|12|"
                          "rid-1|1");
}
END_TEST

START_TEST(absent_parts_are_null)
{
    char got[512];
    /* A state change of our own: no payment, peer, status, error. */
    saga_log_row row = {.order_id = 3,
                        .at_us = 5,
                        .step = "order.created",
                        .peer = "",
                        .error = "",
                        .request_id = ""};
    ck_assert_int_eq(insert(&row), 0);
    last_row(got, sizeof got);
    ck_assert_str_eq(got, "3|NULL|5|order.created|NULL|NULL|NULL|0|NULL|0");
    /* NULL strings are written as NULL as well. */
    saga_log_row bare = {.order_id = 4, .at_us = 6, .step = "order.paid"};
    ck_assert_int_eq(insert(&bare), 0);
    last_row(got, sizeof got);
    ck_assert_str_eq(got, "4|NULL|6|order.paid|NULL|NULL|NULL|0|NULL|0");
    ck_assert_int_eq(count_rows(), 2);
}
END_TEST

START_TEST(the_table_checks_its_rows)
{
    saga_log_row row = {.order_id = 3, .at_us = 5, .step = "x", .duration_ms = -1};
    ck_assert_int_eq(insert(&row), -1); /* CHECK (duration_ms >= 0) */
    ck_assert_int_eq(count_rows(), 0);
}
END_TEST

START_TEST(payment_steps_need_their_payment)
{
    char got[512];
    const int64_t payment = 0; /* a value, not NULL: the table takes it */
    saga_log_row row = {.order_id = 3, .at_us = 5, .step = "payment.pending"};
    ck_assert_int_eq(insert(&row), -1); /* payment_id NOT NULL */
    ck_assert_int_eq(count_rows(), 0);
    row.payment_id = &payment;
    ck_assert_int_eq(insert(&row), 0);
    last_row(got, sizeof got);
    ck_assert_str_eq(got, "3|0|5|payment.pending|NULL|NULL|NULL|0|NULL|0");
}
END_TEST

/* A step type with the members SAGA_LOG_ROW reads, as the services have. */
typedef struct test_step {
    int64_t at_us;
    int64_t payment_id;
    char step[16];
    char peer[8];
    int http_status;
    char error[16];
    int64_t duration_ms;
    char request_id[8];
    bool compensation;
} test_step;

START_TEST(row_of_a_service_step)
{
    test_step st = {.at_us = 11,
                    .payment_id = 5,
                    .step = "balance.refund",
                    .peer = "user",
                    .http_status = 200,
                    .error = "",
                    .duration_ms = 4,
                    .request_id = "r",
                    .compensation = true};
    saga_log_row row = SAGA_LOG_ROW(&st, 8, &st.payment_id);
    ck_assert_int_eq(row.order_id, 8);
    ck_assert_ptr_eq(row.payment_id, &st.payment_id);
    ck_assert_int_eq(row.at_us, 11);
    ck_assert_ptr_eq(row.step, st.step);
    ck_assert_ptr_eq(row.peer, st.peer);
    ck_assert_int_eq(row.http_status, 200);
    ck_assert_ptr_eq(row.error, st.error);
    ck_assert_int_eq(row.duration_ms, 4);
    ck_assert_ptr_eq(row.request_id, st.request_id);
    ck_assert(row.compensation);
    row = SAGA_LOG_ROW(&st, 8, NULL);
    ck_assert_ptr_null(row.payment_id);
}
END_TEST

/* A reply of status with body json (taken; may be NULL). */
static http_result reply(long status, cJSON *json)
{
    http_result r;
    memset(&r, 0, sizeof r);
    r.transport = HTTP_T_OK;
    r.status = status;
    r.json = json;
    return r;
}

START_TEST(what_a_call_came_to)
{
    http_result r;
    memset(&r, 0, sizeof r);
    r.transport = HTTP_T_TIMEOUT;
    r.status = 200; /* not a reply: ignored */
    ck_assert_str_eq(saga_log_call_error(&r, true), "timeout");
    ck_assert_int_eq(saga_log_call_status(&r), 0);
    r.transport = HTTP_T_UNAVAILABLE;
    ck_assert_str_eq(saga_log_call_error(&r, true), "unavailable");
    ck_assert_int_eq(saga_log_call_status(&r), 0);

    r = reply(200, NULL);
    ck_assert_ptr_null(saga_log_call_error(&r, true));
    ck_assert_str_eq(saga_log_call_error(&r, false), "bad reply");
    ck_assert_int_eq(saga_log_call_status(&r), 200);
    r = reply(299, NULL);
    ck_assert_str_eq(saga_log_call_error(&r, false), "bad reply");

    cJSON *problem = cJSON_CreateObject();
    cJSON_AddStringToObject(problem, "code", "OUT_OF_STOCK");
    r = reply(409, problem);
    /* Not a 2xx: readable does not matter, the code does. */
    ck_assert_str_eq(saga_log_call_error(&r, true), "OUT_OF_STOCK");
    ck_assert_str_eq(saga_log_call_error(&r, false), "OUT_OF_STOCK");
    ck_assert_int_eq(saga_log_call_status(&r), 409);
    r.status = 300;
    ck_assert_str_eq(saga_log_call_error(&r, true), "OUT_OF_STOCK");
    cJSON_Delete(problem);

    r = reply(503, NULL); /* no problem body: no code */
    ck_assert_ptr_null(saga_log_call_error(&r, false));
    ck_assert_int_eq(saga_log_call_status(&r), 503);
}
END_TEST

START_TEST(steps_are_timed_by_the_wall_clock)
{
    int64_t before_ms = time_now_ms();
    int64_t at_us = saga_log_now_us();
    int64_t after_ms = time_now_ms();
    ck_assert_int_ge(at_us, before_ms * 1000);
    ck_assert_int_lt(at_us, (after_ms + 1) * 1000);
}
END_TEST

Suite *saga_log_suite(void)
{
    Suite *s = suite_create("saga_log");
    TCase *order = tcase_create("order table");
    tcase_add_checked_fixture(order, setup_order, teardown);
    tcase_add_test(order, a_call_is_written_whole);
    tcase_add_test(order, absent_parts_are_null);
    tcase_add_test(order, the_table_checks_its_rows);
    suite_add_tcase(s, order);
    TCase *payment = tcase_create("payment table");
    tcase_add_checked_fixture(payment, setup_payment, teardown);
    tcase_add_test(payment, payment_steps_need_their_payment);
    suite_add_tcase(s, payment);
    TCase *pure = tcase_create("pure");
    tcase_add_test(pure, row_of_a_service_step);
    tcase_add_test(pure, what_a_call_came_to);
    tcase_add_test(pure, steps_are_timed_by_the_wall_clock);
    suite_add_tcase(s, pure);
    return s;
}
