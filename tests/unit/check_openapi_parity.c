/* Route parity between the gateway and docs/openapi.yaml: every route of
 * the gateway's table under /api/ or /health (plus GET /health/live, which
 * the common server answers for every program) is an operation of the
 * document, and every operation of the document is such a route, with the
 * same path pattern and method. The document is read from the copy embedded
 * in the gateway, so the test sees what GET /api/openapi.yaml serves. The
 * YAML is read with a line scanner: path keys at two spaces under the
 * top-level `paths:`, methods at four. */
#include <ctype.h>
#include <stdio.h>
#include <string.h>

#include <check.h>

#include "../../api-gateway/gateway_ui.h"
#include "../../api-gateway/routes.h"
#include "http_server.h"

#define MAX_OPS 128
#define OP_PATH_MAX 160

typedef struct doc_op {
    char method[8]; /* upper case, as the route table has it */
    char path[OP_PATH_MAX];
} doc_op;

/* The routes the common server answers itself, which the document lists. */
static const doc_op builtin_ops[] = {{"GET", "/health/live"}};

static const char *const http_methods[] = {"get",   "put",  "post",    "delete",
                                           "patch", "head", "options", "trace"};

/* Copies the key of a "  key:" line (indent spaces exactly, no quotes or
 * with single/double quotes) into out. Returns false when the line is not
 * such a key line. */
static bool key_at(const char *line, size_t len, size_t indent, char *out, size_t out_len)
{
    if (len <= indent + 1)
        return false;
    for (size_t i = 0; i < indent; i++)
        if (line[i] != ' ')
            return false;
    const char *k = line + indent;
    size_t klen = len - indent;
    while (klen > 0 && (k[klen - 1] == ' ' || k[klen - 1] == '\r'))
        klen--;
    if (k[0] == ' ' || k[0] == '#' || klen < 2 || k[klen - 1] != ':')
        return false;
    klen--;
    if (klen >= 2 && (k[0] == '\'' || k[0] == '"') && k[klen - 1] == k[0]) {
        k++;
        klen -= 2;
    }
    if (klen == 0 || klen >= out_len)
        return false;
    memcpy(out, k, klen);
    out[klen] = '\0';
    return true;
}

/* Scans yaml (len bytes) for the operations under `paths:`. OUT: ops, *n.
 * Returns false when there are more than max or a path is too long. */
static bool scan_paths(const char *yaml, size_t len, doc_op *ops, size_t max, size_t *n)
{
    bool in_paths = false;
    char path[OP_PATH_MAX] = "";
    *n = 0;
    for (size_t at = 0; at < len;) {
        const char *line = yaml + at;
        const char *nl = memchr(line, '\n', len - at);
        size_t line_len = nl != NULL ? (size_t)(nl - line) : len - at;
        at += line_len + 1;
        char key[OP_PATH_MAX];
        if (line_len > 0 && line[0] != ' ' && line[0] != '#') { /* a top-level key */
            in_paths = line_len >= 6 && strncmp(line, "paths:", 6) == 0;
            path[0] = '\0';
            continue;
        }
        if (!in_paths)
            continue;
        if (key_at(line, line_len, 2, key, sizeof key)) {
            snprintf(path, sizeof path, "%s", key[0] == '/' ? key : "");
            continue;
        }
        if (path[0] == '\0' || !key_at(line, line_len, 4, key, sizeof key))
            continue;
        for (size_t m = 0; m < sizeof http_methods / sizeof http_methods[0]; m++) {
            if (strcmp(key, http_methods[m]) != 0)
                continue;
            if (*n == max)
                return false;
            for (size_t c = 0; key[c] != '\0'; c++)
                ops[*n].method[c] = (char)toupper((unsigned char)key[c]);
            ops[*n].method[strlen(key)] = '\0';
            snprintf(ops[*n].path, sizeof ops[*n].path, "%s", path);
            (*n)++;
        }
    }
    return true;
}

/* The operations of the embedded document. */
static size_t doc_ops(doc_op *ops)
{
    const gateway_ui_file *doc = gateway_ui_find("openapi.yaml");
    size_t n = 0;
    ck_assert_msg(doc != NULL, "docs/openapi.yaml is not embedded in the gateway");
    ck_assert(scan_paths((const char *)doc->data, doc->len, ops, MAX_OPS, &n));
    return n;
}

/* The gateway's documented routes: under /api/ or /health, plus the
 * built-ins. */
static size_t table_ops(doc_op *ops)
{
    size_t n = 0;
    for (size_t i = 0; i < gateway_n_routes; i++) {
        const http_route *r = &gateway_routes[i];
        if (strncmp(r->pattern, "/api/", 5) != 0 && strncmp(r->pattern, "/health", 7) != 0)
            continue;
        ck_assert_uint_lt(n, MAX_OPS);
        snprintf(ops[n].method, sizeof ops[n].method, "%s", r->method);
        snprintf(ops[n].path, sizeof ops[n].path, "%s", r->pattern);
        n++;
    }
    for (size_t i = 0; i < sizeof builtin_ops / sizeof builtin_ops[0]; i++)
        ops[n++] = builtin_ops[i];
    return n;
}

static bool has_op(const doc_op *ops, size_t n, const doc_op *op)
{
    for (size_t i = 0; i < n; i++)
        if (strcmp(ops[i].method, op->method) == 0 && strcmp(ops[i].path, op->path) == 0)
            return true;
    return false;
}

START_TEST(test_scanner_reads_paths_and_methods)
{
    static const char yaml[] = "openapi: 3.1.0\n"
                               "info:\n"
                               "  title: t\n"
                               "paths:\n"
                               "  /a:\n"
                               "    get:\n"
                               "      summary: x\n"
                               "      parameters:\n"
                               "        - name: get\n"
                               "    post:\n"
                               "  '/b/{id}':\n"
                               "    # a comment\n"
                               "    parameters: []\n"
                               "    patch:\n"
                               "    delete:\r\n"
                               "components:\n"
                               "  /c:\n"
                               "    get:\n";
    doc_op ops[8];
    size_t n = 0;
    ck_assert(scan_paths(yaml, sizeof yaml - 1, ops, 8, &n));
    ck_assert_uint_eq(n, 4);
    ck_assert_str_eq(ops[0].method, "GET");
    ck_assert_str_eq(ops[0].path, "/a");
    ck_assert_str_eq(ops[1].method, "POST");
    ck_assert_str_eq(ops[1].path, "/a");
    ck_assert_str_eq(ops[2].method, "PATCH");
    ck_assert_str_eq(ops[2].path, "/b/{id}");
    ck_assert_str_eq(ops[3].method, "DELETE");
    ck_assert_str_eq(ops[3].path, "/b/{id}");
    ck_assert(!scan_paths(yaml, sizeof yaml - 1, ops, 3, &n));
}
END_TEST

START_TEST(test_document_is_openapi_3_1)
{
    const gateway_ui_file *doc = gateway_ui_find("openapi.yaml");
    ck_assert_ptr_nonnull(doc);
    ck_assert_int_eq(strncmp((const char *)doc->data, "openapi: 3.1.", 13), 0);
}
END_TEST

START_TEST(test_every_route_is_documented)
{
    doc_op doc[MAX_OPS], table[MAX_OPS];
    size_t n_doc = doc_ops(doc), n_table = table_ops(table);
    ck_assert_uint_gt(n_table, 20);
    for (size_t i = 0; i < n_table; i++)
        ck_assert_msg(has_op(doc, n_doc, &table[i]), "%s %s is served but not in docs/openapi.yaml",
                      table[i].method, table[i].path);
}
END_TEST

START_TEST(test_every_documented_route_is_served)
{
    doc_op doc[MAX_OPS], table[MAX_OPS];
    size_t n_doc = doc_ops(doc), n_table = table_ops(table);
    for (size_t i = 0; i < n_doc; i++)
        ck_assert_msg(has_op(table, n_table, &doc[i]),
                      "%s %s is in docs/openapi.yaml but not in the gateway's route table",
                      doc[i].method, doc[i].path);
    /* No operation twice, so the counts match too. */
    for (size_t i = 0; i < n_doc; i++)
        for (size_t j = i + 1; j < n_doc; j++)
            ck_assert_msg(strcmp(doc[i].method, doc[j].method) != 0 ||
                              strcmp(doc[i].path, doc[j].path) != 0,
                          "%s %s twice", doc[i].method, doc[i].path);
    ck_assert_uint_eq(n_doc, n_table);
}
END_TEST

Suite *openapi_parity_suite(void)
{
    Suite *s = suite_create("openapi_parity");
    TCase *tc = tcase_create("parity");
    tcase_add_test(tc, test_scanner_reads_paths_and_methods);
    tcase_add_test(tc, test_document_is_openapi_3_1);
    tcase_add_test(tc, test_every_route_is_documented);
    tcase_add_test(tc, test_every_documented_route_is_served);
    suite_add_tcase(s, tc);
    return s;
}
