/* Unit tests of item_logic: request validation of lines and new items, and the
 * verdict on looked-up lines. */
#include <stdio.h>
#include <string.h>

#include <check.h>

#include "../../services/item/item_logic.h"

static cJSON *parse(const char *text)
{
    json_err err;
    cJSON *root = json_parse_object(text, strlen(text), &err);
    ck_assert_msg(root != NULL, "test JSON did not parse: %s", text);
    return root;
}

/* Runs item_logic_parse_lines on text; returns its verdict, err filled. */
static bool lines_of(const char *text, item_line *lines, int *n, json_err *err)
{
    cJSON *root = parse(text);
    memset(err, 0, sizeof *err);
    bool ok = item_logic_parse_lines(root, lines, n, err);
    cJSON_Delete(root);
    return ok;
}

static void assert_lines_refused(const char *text, const char *field)
{
    item_line lines[ITEM_MAX_LINES];
    int n = -7;
    json_err err;
    ck_assert_msg(!lines_of(text, lines, &n, &err), "accepted: %s", text);
    ck_assert_int_eq(n, -7);
    ck_assert_msg(strstr(err.msg, field) != NULL, "detail '%s' does not name '%s'", err.msg, field);
}

START_TEST(test_lines_valid)
{
    item_line lines[ITEM_MAX_LINES];
    int n = 0;
    json_err err;
    ck_assert(lines_of("{\"orderId\":3,\"items\":[{\"itemId\":4,\"quantity\":2},"
                       "{\"itemId\":999999999999999,\"quantity\":1000}]}",
                       lines, &n, &err));
    ck_assert_int_eq(n, 2);
    ck_assert_int_eq(lines[0].item_id, 4);
    ck_assert_int_eq(lines[0].quantity, 2);
    ck_assert_int_eq(lines[1].item_id, 999999999999999LL);
    ck_assert_int_eq(lines[1].quantity, 1000);
    ck_assert(!lines[0].known);
}
END_TEST

START_TEST(test_lines_fifty_is_the_limit)
{
    char buf[4096];
    size_t len = (size_t)snprintf(buf, sizeof buf, "{\"items\":[");
    for (int i = 1; i <= 51; i++)
        len += (size_t)snprintf(buf + len, sizeof buf - len, "%s{\"itemId\":%d,\"quantity\":1}",
                                i > 1 ? "," : "", i);
    snprintf(buf + len, sizeof buf - len, "]}");
    assert_lines_refused(buf, "items");

    /* Drop the 51st line: 50 are fine. */
    char *last = strrchr(buf, '{');
    ck_assert_ptr_nonnull(last);
    snprintf(last - 1, sizeof buf - (size_t)(last - 1 - buf), "]}");
    item_line lines[ITEM_MAX_LINES];
    int n = 0;
    json_err err;
    ck_assert_msg(lines_of(buf, lines, &n, &err), "%s", err.msg);
    ck_assert_int_eq(n, 50);
    ck_assert_int_eq(lines[49].item_id, 50);
}
END_TEST

START_TEST(test_lines_refused)
{
    assert_lines_refused("{}", "items: required");
    assert_lines_refused("{\"items\":null}", "items: required");
    assert_lines_refused("{\"items\":{}}", "items: must be an array");
    assert_lines_refused("{\"items\":[]}", "items: must have 1..50");
    assert_lines_refused("{\"items\":[3]}", "items[0]: must be an object");
    assert_lines_refused("{\"items\":[{\"quantity\":1}]}", "items[0].itemId: required");
    assert_lines_refused("{\"items\":[{\"itemId\":1}]}", "items[0].quantity: required");
    assert_lines_refused("{\"items\":[{\"itemId\":0,\"quantity\":1}]}", "items[0].itemId");
    assert_lines_refused("{\"items\":[{\"itemId\":-1,\"quantity\":1}]}", "items[0].itemId");
    assert_lines_refused("{\"items\":[{\"itemId\":1.5,\"quantity\":1}]}", "items[0].itemId");
    assert_lines_refused("{\"items\":[{\"itemId\":\"3\",\"quantity\":1}]}", "items[0].itemId");
    assert_lines_refused("{\"items\":[{\"itemId\":1e400,\"quantity\":1}]}", "items[0].itemId");
    assert_lines_refused("{\"items\":[{\"itemId\":1000000000000000,\"quantity\":1}]}",
                         "items[0].itemId");
    assert_lines_refused("{\"items\":[{\"itemId\":1,\"quantity\":0}]}", "items[0].quantity");
    assert_lines_refused("{\"items\":[{\"itemId\":1,\"quantity\":1001}]}", "items[0].quantity");
    assert_lines_refused("{\"items\":[{\"itemId\":1,\"quantity\":true}]}", "items[0].quantity");
    assert_lines_refused("{\"items\":[{\"itemId\":1,\"quantity\":1},{\"itemId\":2,\"quantity\":"
                         "2.5}]}",
                         "items[1].quantity");
}
END_TEST

START_TEST(test_lines_duplicate_item)
{
    assert_lines_refused("{\"items\":[{\"itemId\":1,\"quantity\":1},{\"itemId\":2,\"quantity\":1},"
                         "{\"itemId\":1,\"quantity\":3}]}",
                         "items[2].itemId: item 1 appears more than once");
}
END_TEST

START_TEST(test_find_duplicate)
{
    item_line lines[4] = {{.item_id = 5}, {.item_id = 6}, {.item_id = 7}, {.item_id = 6}};
    ck_assert_int_eq(item_logic_find_duplicate(lines, 4), 3);
    ck_assert_int_eq(item_logic_find_duplicate(lines, 3), -1);
    ck_assert_int_eq(item_logic_find_duplicate(lines, 1), -1);
    ck_assert_int_eq(item_logic_find_duplicate(lines, 0), -1);
}
END_TEST

static bool draft_of(const char *text, item_draft *d, json_err *err, char *name_out, size_t cap)
{
    cJSON *root = parse(text);
    bool ok = item_logic_parse_draft(root, d, err);
    if (ok)
        snprintf(name_out, cap, "%s", d->name);
    cJSON_Delete(root);
    return ok;
}

START_TEST(test_draft_valid)
{
    item_draft d;
    json_err err;
    char name[256];
    ck_assert(draft_of("{\"name\":\"Mouse\",\"price\":20000,\"stock\":100}", &d, &err, name,
                       sizeof name));
    ck_assert_str_eq(name, "Mouse");
    ck_assert_int_eq(d.price, 20000);
    ck_assert_int_eq(d.stock, 100);
    ck_assert(draft_of("{\"name\":\"x\",\"price\":0,\"stock\":0}", &d, &err, name, sizeof name));
    ck_assert_int_eq(d.price, 0);
    ck_assert(draft_of("{\"name\":\"x\",\"price\":1000000000,\"stock\":1000000000}", &d, &err, name,
                       sizeof name));
    ck_assert_int_eq(d.price, 1000000000);
    ck_assert_int_eq(d.stock, 1000000000);
}
END_TEST

START_TEST(test_draft_name_bytes)
{
    char text[600], name200[201], name[256];
    memset(name200, 'a', 200);
    name200[200] = '\0';
    item_draft d;
    json_err err;
    snprintf(text, sizeof text, "{\"name\":\"%s\",\"price\":1,\"stock\":1}", name200);
    ck_assert(draft_of(text, &d, &err, name, sizeof name));
    ck_assert_uint_eq(strlen(name), 200);
    snprintf(text, sizeof text, "{\"name\":\"%sb\",\"price\":1,\"stock\":1}", name200);
    ck_assert(!draft_of(text, &d, &err, name, sizeof name));
    ck_assert_ptr_nonnull(strstr(err.msg, "name"));
    /* 100 two-byte characters are 200 bytes; 101 are too many. */
    char *p = text + snprintf(text, sizeof text, "{\"name\":\"");
    for (int i = 0; i < 101; i++)
        p += snprintf(p, sizeof text - (size_t)(p - text), "\xc3\xa9");
    snprintf(p, sizeof text - (size_t)(p - text), "\",\"price\":1,\"stock\":1}");
    ck_assert(!draft_of(text, &d, &err, name, sizeof name));
}
END_TEST

START_TEST(test_draft_refused)
{
    const struct {
        const char *text;
        const char *field;
    } cases[] = {
        {"{\"price\":1,\"stock\":1}", "name: required"},
        {"{\"name\":\"\",\"price\":1,\"stock\":1}", "name"},
        {"{\"name\":7,\"price\":1,\"stock\":1}", "name: must be a string"},
        {"{\"name\":\"a\",\"stock\":1}", "price: required"},
        {"{\"name\":\"a\",\"price\":-1,\"stock\":1}", "price"},
        {"{\"name\":\"a\",\"price\":1000000001,\"stock\":1}", "price"},
        {"{\"name\":\"a\",\"price\":1.5,\"stock\":1}", "price"},
        {"{\"name\":\"a\",\"price\":\"3\",\"stock\":1}", "price"},
        {"{\"name\":\"a\",\"price\":1e400,\"stock\":1}", "price"},
        {"{\"name\":\"a\",\"price\":1}", "stock: required"},
        {"{\"name\":\"a\",\"price\":1,\"stock\":-1}", "stock"},
        {"{\"name\":\"a\",\"price\":1,\"stock\":1000000001}", "stock"},
    };
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        item_draft d;
        json_err err = {{0}};
        char name[256];
        ck_assert_msg(!draft_of(cases[i].text, &d, &err, name, sizeof name), "accepted: %s",
                      cases[i].text);
        ck_assert_msg(strstr(err.msg, cases[i].field) != NULL, "%s: detail '%s' lacks '%s'",
                      cases[i].text, err.msg, cases[i].field);
    }
}
END_TEST

START_TEST(test_check_stock_verdict)
{
    item_line lines[3] = {
        {.item_id = 1, .quantity = 2, .stock = 2, .known = true},
        {.item_id = 2, .quantity = 5, .stock = 4, .known = true},
        {.item_id = 3, .quantity = 1, .stock = 0, .known = false},
    };
    int failed = 99;
    /* The unknown item decides even though a short line stands before it. */
    ck_assert_int_eq(item_logic_check_stock(lines, 3, &failed), ITEM_NOT_FOUND);
    ck_assert_int_eq(failed, 2);
    ck_assert_int_eq(item_logic_check_stock(lines, 2, &failed), ITEM_OUT_OF_STOCK);
    ck_assert_int_eq(failed, 1);
    ck_assert_int_eq(item_logic_check_stock(lines, 1, &failed), ITEM_OK);
    ck_assert_int_eq(failed, -1);
    lines[1].stock = 5; /* exactly enough */
    ck_assert_int_eq(item_logic_check_stock(lines, 2, &failed), ITEM_OK);
}
END_TEST

Suite *item_logic_suite(void);

Suite *item_logic_suite(void)
{
    Suite *s = suite_create("item_logic");
    TCase *tc = tcase_create("core");
    tcase_add_test(tc, test_lines_valid);
    tcase_add_test(tc, test_lines_fifty_is_the_limit);
    tcase_add_test(tc, test_lines_refused);
    tcase_add_test(tc, test_lines_duplicate_item);
    tcase_add_test(tc, test_find_duplicate);
    tcase_add_test(tc, test_draft_valid);
    tcase_add_test(tc, test_draft_name_bytes);
    tcase_add_test(tc, test_draft_refused);
    tcase_add_test(tc, test_check_stock_verdict);
    suite_add_tcase(s, tc);
    return s;
}
