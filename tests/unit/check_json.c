/* The validating JSON getters: the number and string rules of API.md. */
#include <check.h>
#include <stdio.h>
#include <string.h>

#include "json.h"

static cJSON *parse(const char *text, json_err *err)
{
    return json_parse_object(text, strlen(text), err);
}

static bool get_id(const char *text, int64_t *out, json_err *err)
{
    cJSON *o = parse(text, err);
    if (o == NULL)
        return false;
    bool ok = json_get_int(o, "id", 1, JSON_INT_MAX, out, err);
    cJSON_Delete(o);
    return ok;
}

START_TEST(integers)
{
    json_err err;
    int64_t v = 0;
    ck_assert(get_id("{\"id\":3}", &v, &err));
    ck_assert_int_eq(v, 3);
    ck_assert(get_id("{\"id\":999999999999999}", &v, &err));
    ck_assert_int_eq(v, 999999999999999LL);
    ck_assert(get_id("{\"id\":3.0}", &v, &err)); /* integral */
    const char *bad[] = {"{\"id\":1.5}", "{\"id\":1e400}", "{\"id\":\"3\"}", "{\"id\":-1}",
                         "{\"id\":0}", "{\"id\":9007199254740992}", "{\"id\":1000000000000000}",
                         "{\"id\":null}", "{}", "{\"id\":true}", "{\"id\":[1]}"};
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
        err.msg[0] = '\0';
        ck_assert_msg(!get_id(bad[i], &v, &err), "%s accepted", bad[i]);
        ck_assert_msg(strncmp(err.msg, "id:", 3) == 0, "%s: detail '%s' names no field", bad[i],
                      err.msg);
    }
}
END_TEST

START_TEST(optional_integers)
{
    json_err err;
    int64_t v = 7;
    bool present = true;
    cJSON *o = parse("{\"a\":null,\"b\":5,\"c\":\"x\"}", &err);
    ck_assert_ptr_nonnull(o);
    ck_assert(json_get_int_opt(o, "a", 1, 10, &v, &present, &err));
    ck_assert(!present);
    ck_assert(json_get_int_opt(o, "missing", 1, 10, &v, &present, &err));
    ck_assert(!present);
    ck_assert_int_eq(v, 7);
    ck_assert(json_get_int_opt(o, "b", 1, 10, &v, &present, &err));
    ck_assert(present);
    ck_assert_int_eq(v, 5);
    ck_assert(!json_get_int_opt(o, "b", 6, 10, &v, &present, &err));
    ck_assert(!json_get_int_opt(o, "c", 1, 10, &v, &present, &err));
    cJSON_Delete(o);
}
END_TEST

START_TEST(strings_and_arrays)
{
    json_err err;
    const char *s = NULL;
    const cJSON *arr = NULL;
    cJSON *o = parse("{\"name\":\"Keyboard\",\"empty\":\"\",\"n\":1,\"items\":[1,2,3]}", &err);
    ck_assert_ptr_nonnull(o);
    ck_assert(json_get_string(o, "name", 1, 200, &s, &err));
    ck_assert_str_eq(s, "Keyboard");
    ck_assert(!json_get_string(o, "empty", 1, 200, &s, &err));
    ck_assert(!json_get_string(o, "n", 1, 200, &s, &err));
    ck_assert(!json_get_string(o, "name", 1, 3, &s, &err));
    ck_assert(json_get_array(o, "items", 1, 3, &arr, &err));
    ck_assert(!json_get_array(o, "items", 1, 2, &arr, &err));
    ck_assert(!json_get_array(o, "name", 1, 2, &arr, &err));
    int64_t v;
    ck_assert(json_item_int(cJSON_GetArrayItem(arr, 1), "items[1]", 1, 5, &v, &err));
    ck_assert_int_eq(v, 2);
    ck_assert(!json_item_int(cJSON_GetArrayItem(arr, 2), "items[2]", 1, 2, &v, &err));
    ck_assert_str_eq(err.msg, "items[2]: must be an integer in 1..2");
    cJSON_Delete(o);
}
END_TEST

START_TEST(bodies_refused)
{
    json_err err;
    const char *bad[] = {"", "{", "[1]", "3", "{\"a\":1} x", "{\"a\":1,\"a\":2}",
                         "{\"o\":{\"k\":1,\"k\":1}}", "{\"s\":\"a\\u0000b\"}", "nul"};
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++)
        ck_assert_msg(parse(bad[i], &err) == NULL, "%s accepted", bad[i]);
    /* Bytes that are not UTF-8, and a NUL byte inside the body. */
    ck_assert_ptr_null(json_parse_object("{\"s\":\"\xff\"}", 8, &err));
    ck_assert_ptr_null(json_parse_object("{\"s\":\"\xc0\xaf\"}", 9, &err)); /* overlong */
    ck_assert_ptr_null(json_parse_object("{\"s\":\"\xed\xa0\x80\"}", 10, &err)); /* surrogate */
    ck_assert_ptr_null(json_parse_object("{\"s\":1}\0", 8, &err));
    /* An escaped backslash before u0000 is not an escape of U+0000. */
    cJSON *ok = parse("{\"s\":\"\\\\u0000\",\"k\":\"\xea\xb0\x80\"}", &err);
    ck_assert_ptr_nonnull(ok);
    cJSON_Delete(ok);
    /* Not a body that is cut short: require it to be whole. */
    ck_assert_ptr_null(json_parse_object("{\"a\":1", 6, &err));
}
END_TEST

/* cJSON recurses per level and workers have 100 KiB stacks: deep bodies are
 * refused before cJSON sees them (found by the fuzzer: ~900 levels crashed). */
START_TEST(nesting_is_bounded)
{
    json_err err;
    char body[4096];
    const int depths[] = {1, JSON_MAX_DEPTH, JSON_MAX_DEPTH + 1, 1000};
    for (size_t k = 0; k < sizeof depths / sizeof depths[0]; k++) {
        int depth = depths[k];
        size_t n = 0;
        n += (size_t)snprintf(body + n, sizeof body - n, "{\"a\":");
        for (int i = 1; i < depth; i++)
            body[n++] = '[';
        for (int i = 1; i < depth; i++)
            body[n++] = ']';
        if (depth == 1)
            body[n++] = '1';
        body[n++] = '}';
        cJSON *o = json_parse_object(body, n, &err);
        if (depth <= JSON_MAX_DEPTH)
            ck_assert_msg(o != NULL, "depth %d refused: %s", depth, err.msg);
        else
            ck_assert_msg(o == NULL && strstr(err.msg, "nested") != NULL, "depth %d accepted", depth);
        cJSON_Delete(o);
    }
    /* Brackets inside strings do not count. */
    char s[300] = "{\"s\":\"";
    memset(s + 6, '[', 200);
    strcpy(s + 206, "\"}");
    cJSON *o = json_parse_object(s, strlen(s), &err);
    ck_assert_ptr_nonnull(o);
    cJSON_Delete(o);
}
END_TEST

/* A long non-ASCII member name is cut at a character, not inside one. */
START_TEST(error_text_stays_utf8)
{
    json_err err;
    char body[1024] = "{\"";
    size_t n = 2;
    for (int i = 0; i < 150; i++) {
        body[n++] = '\xc3';
        body[n++] = '\xa9';
    }
    memcpy(body + n, "\":1,\"", 5);
    n += 5;
    for (int i = 0; i < 150; i++) {
        body[n++] = '\xc3';
        body[n++] = '\xa9';
    }
    memcpy(body + n, "\":2}", 4);
    n += 4;
    ck_assert_ptr_null(json_parse_object(body, n, &err));
    size_t len = strlen(err.msg);
    ck_assert_int_gt(len, 100);
    ck_assert_msg(len % 2 == 0, "cut inside a character: %zu bytes", len);
}
END_TEST

START_TEST(printing_is_exact)
{
    cJSON *o = cJSON_CreateObject();
    ck_assert(json_add_int(o, "big", 999999999999999LL));
    ck_assert(json_add_int(o, "money", 1000000000000LL));
    ck_assert(json_add_id_or_null(o, "none", 0));
    char *text = json_print(o);
    ck_assert_str_eq(text, "{\"big\":999999999999999,\"money\":1000000000000,\"none\":null}");
    cJSON_free(text);
    cJSON_Delete(o);
}
END_TEST

Suite *json_suite(void)
{
    Suite *s = suite_create("json");
    TCase *tc = tcase_create("getters");
    tcase_add_test(tc, integers);
    tcase_add_test(tc, optional_integers);
    tcase_add_test(tc, strings_and_arrays);
    tcase_add_test(tc, bodies_refused);
    tcase_add_test(tc, nesting_is_bounded);
    tcase_add_test(tc, error_text_stays_utf8);
    tcase_add_test(tc, printing_is_exact);
    suite_add_tcase(s, tc);
    return s;
}
