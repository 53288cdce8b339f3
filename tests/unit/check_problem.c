/* Problem codes, statuses and rendering; config; RFC 3339 times. */
#include <check.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "config.h"
#include "problem.h"
#include "timeutil.h"

START_TEST(codes_map_to_statuses)
{
    ck_assert_int_eq(problem_status("INVALID_REQUEST"), 400);
    ck_assert_int_eq(problem_status("INSUFFICIENT_BALANCE"), 402);
    ck_assert_int_eq(problem_status("FORBIDDEN"), 403);
    ck_assert_int_eq(problem_status("ORDER_NOT_FOUND"), 404);
    ck_assert_int_eq(problem_status("OUT_OF_STOCK"), 409);
    ck_assert_int_eq(problem_status("PAYLOAD_TOO_LARGE"), 413);
    ck_assert_int_eq(problem_status("IDEMPOTENCY_KEY_REUSED"), 422);
    ck_assert_int_eq(problem_status("SERVICE_UNAVAILABLE"), 503);
    ck_assert_int_eq(problem_status("UPSTREAM_TIMEOUT"), 504);
    ck_assert_int_eq(problem_status("NO_SUCH_CODE"), 500);
}
END_TEST

START_TEST(render)
{
    char *text = problem_render(409, "OUT_OF_STOCK", "item 3: 2 left, 5 asked");
    ck_assert_str_eq(text, "{\"type\":\"about:blank\",\"title\":\"Conflict\",\"status\":409,"
                           "\"code\":\"OUT_OF_STOCK\",\"detail\":\"item 3: 2 left, 5 asked\"}");
    free(text);
    text = problem_render(404, "NOT_FOUND", NULL);
    ck_assert_str_eq(text, "{\"type\":\"about:blank\",\"title\":\"Not Found\",\"status\":404,"
                           "\"code\":\"NOT_FOUND\"}");
    free(text);
    /* Quotes in a detail stay inside the string. */
    text = problem_render(400, "INVALID_REQUEST", "name: \"x\"\n");
    ck_assert_ptr_nonnull(strstr(text, "\"detail\":\"name: \\\"x\\\"\\n\""));
    free(text);
}
END_TEST

/* Details may quote request bytes or be cut inside a character: the body
 * stays valid UTF-8 (found by the fuzzer). */
START_TEST(render_keeps_utf8_valid)
{
    char *text = problem_render(404, "NOT_FOUND", "no route for /a\xff\xc3");
    ck_assert_ptr_nonnull(strstr(text, "\"detail\":\"no route for /a\xef\xbf\xbd\xef\xbf\xbd\""));
    free(text);
    text = problem_render(400, "INVALID_REQUEST", "caf\xc3\xa9 \xea\xb0\x80 \xed\xa0\x80");
    ck_assert_ptr_nonnull(strstr(text, "caf\xc3\xa9 \xea\xb0\x80 \xef\xbf\xbd\xef\xbf\xbd\xef\xbf\xbd\""));
    free(text);
}
END_TEST

START_TEST(config_values)
{
    setenv("T_INT", "42", 1);
    ck_assert_int_eq(config_int("T_INT", 7, 0, 100), 42);
    ck_assert_int_eq(config_int("T_UNSET_INT", 7, 0, 100), 7);
    setenv("T_EMPTY", "", 1);
    ck_assert_str_eq(config_str("T_EMPTY", "def"), "def");
    setenv("T_BOOL", "no", 1);
    ck_assert(!config_bool("T_BOOL", true));
    setenv("SHOP_PORT_BASE", "9000", 1);
    unsetenv("T_PORT");
    ck_assert_int_eq(config_port("T_PORT", 3), 9003);
    setenv("T_PORT", "1234", 1);
    ck_assert_int_eq(config_port("T_PORT", 3), 1234);
    /* NAME_FILE wins over NAME, with one trailing newline stripped. */
    char tmpl[] = "/tmp/shop-secret-XXXXXX";
    int fd = mkstemp(tmpl);
    ck_assert(write(fd, "from-file\n", 10) == 10);
    close(fd);
    setenv("T_TOKEN", "from-env", 1);
    char *s = config_secret("T_TOKEN");
    ck_assert_str_eq(s, "from-env");
    free(s);
    setenv("T_TOKEN_FILE", tmpl, 1);
    s = config_secret("T_TOKEN");
    ck_assert_str_eq(s, "from-file");
    free(s);
    unlink(tmpl);
    ck_assert_ptr_null(config_secret("T_NO_TOKEN"));
}
END_TEST

START_TEST(bad_config_stops_the_program)
{
    setenv("T_BAD", "12x", 1);
    config_int("T_BAD", 1, 0, 100);
}
END_TEST

START_TEST(unreadable_secret_file_stops_the_program)
{
    setenv("T_SECRET_FILE", "/nonexistent/secret", 1);
    config_secret("T_SECRET");
}
END_TEST

START_TEST(rfc3339)
{
    int64_t t = 0;
    char buf[TIME_RFC3339_LEN];
    ck_assert(time_parse_rfc3339("2026-11-24T12:00:00Z", &t));
    ck_assert_int_eq(t, 1795521600LL);
    time_format_rfc3339(t, buf);
    ck_assert_str_eq(buf, "2026-11-24T12:00:00Z");
    ck_assert(time_parse_rfc3339("2026-11-24T21:00:00+09:00", &t));
    ck_assert_int_eq(t, 1795521600LL);
    ck_assert(time_parse_rfc3339("2024-02-29T00:00:00.123Z", &t));
    ck_assert(!time_parse_rfc3339("2023-02-29T00:00:00Z", &t));
    ck_assert(!time_parse_rfc3339("2026-13-01T00:00:00Z", &t));
    ck_assert(!time_parse_rfc3339("2026-11-24 12:00:00Z", &t));
    ck_assert(!time_parse_rfc3339("2026-11-24T12:00:00", &t));
    ck_assert(!time_parse_rfc3339("2026-11-24T12:00:00Zjunk", &t));
    ck_assert(!time_parse_rfc3339("", &t));
    ck_assert(time_parse_rfc3339("1970-01-01T00:00:00Z", &t));
    ck_assert_int_eq(t, 0);
    /* Four-digit years that stay four digits in UTC (found by the fuzzer). */
    ck_assert(time_parse_rfc3339("9999-12-31T23:59:59Z", &t));
    ck_assert_int_eq(t, TIME_MAX_EPOCH_S);
    ck_assert(!time_parse_rfc3339("9999-12-31T23:59:59-23:59", &t));
    ck_assert(!time_parse_rfc3339("1970-01-01T00:00:00+00:01", &t));
    time_format_rfc3339(TIME_MAX_EPOCH_S + 1000000, buf);
    ck_assert_str_eq(buf, "9999-12-31T23:59:59Z");
    time_format_rfc3339(-5, buf);
    ck_assert_str_eq(buf, "1970-01-01T00:00:00Z");
}
END_TEST

Suite *problem_suite(void)
{
    Suite *s = suite_create("problem");
    TCase *tc = tcase_create("codes");
    tcase_add_test(tc, codes_map_to_statuses);
    tcase_add_test(tc, render);
    tcase_add_test(tc, render_keeps_utf8_valid);
    tcase_add_test(tc, config_values);
    tcase_add_exit_test(tc, bad_config_stops_the_program, 2);
    tcase_add_exit_test(tc, unreadable_secret_file_stops_the_program, 2);
    tcase_add_test(tc, rfc3339);
    suite_add_tcase(s, tc);
    return s;
}
