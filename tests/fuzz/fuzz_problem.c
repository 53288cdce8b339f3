/* Fuzzes the problem+json renderer, problem_render (common/problem.h), with
 * any status, code and detail, directly and as http_reply_problem feeds it
 * (the detail printed into 512 bytes): the body must be a JSON object that
 * reads back with exactly what went in, in valid UTF-8. Also problem_status
 * and problem_title on any input. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "fuzz_support.h"
#include "problem.h"

static void check_render(int status, const char *code, const char *detail, bool raw_input)
{
    char *text = problem_render(status, code, detail);
    FUZZ_CHECK(text != NULL, "problem_render returned NULL");
    size_t len = strlen(text);
    bool utf8 = fuzz_utf8_valid(text, len);
    if (!utf8) {
        /* Details are made valid UTF-8 (U+FFFD for bad bytes); only a code
         * that was not UTF-8 itself may do that, and codes are ours. */
        FUZZ_CHECK(!fuzz_utf8_valid(code, strlen(code)), "problem body is not UTF-8 (status %d): %s",
                   status, text);
        (void)raw_input;
        free(text);
        return;
    }
    json_err err;
    cJSON *doc = json_parse_object(text, len, &err);
    FUZZ_CHECK(doc != NULL, "problem body is no JSON object (%s): %s", err.msg, text);
    int64_t st = 0;
    FUZZ_CHECK(json_peek_int(doc, "status", &st) && st == status, "status %lld != %d",
               (long long)st, status);
    const char *s = json_peek_string(doc, "type");
    FUZZ_CHECK(s != NULL && strcmp(s, "about:blank") == 0, "type");
    s = json_peek_string(doc, "title");
    FUZZ_CHECK(s != NULL && strcmp(s, problem_title(status)) == 0, "title");
    s = json_peek_string(doc, "code");
    FUZZ_CHECK(s != NULL && strcmp(s, code) == 0, "code");
    s = json_peek_string(doc, "detail");
    /* A valid UTF-8 detail is kept as it is; an invalid one comes out valid. */
    FUZZ_CHECK(detail == NULL ? s == NULL
                              : s != NULL && fuzz_utf8_valid(s, strlen(s)) &&
                                    (!fuzz_utf8_valid(detail, strlen(detail)) || strcmp(s, detail) == 0),
               "detail");
    FUZZ_CHECK(cJSON_GetArraySize(doc) == (detail == NULL ? 4 : 5), "extra members");
    cJSON_Delete(doc);
    free(text);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    fuzz_in in = {data, size};
    uint8_t mode = fuzz_u8(&in);
    int status = (int)fuzz_range(&in, -1000, 1000);
    char *code = fuzz_str(&in, 64, NULL);
    char *detail = fuzz_rest(&in, NULL);
    /* The table: every status is an HTTP error status or 500. */
    int by_code = problem_status(code);
    FUZZ_CHECK(by_code >= 400 && by_code <= 599, "problem_status(%s) = %d", code, by_code);
    FUZZ_CHECK(problem_title(status) != NULL && problem_title(status)[0] != '\0', "title");
    switch (mode % 3) {
    case 0:
        check_render(status, code, detail, true);
        break;
    case 1:
        check_render(status, code, NULL, true);
        break;
    default: {
        /* As http_reply_problem does for "no route for <raw path>": a detail
         * that was UTF-8 must stay so after the 512-byte cut. */
        char cut[512];
        snprintf(cut, sizeof cut, "no route for %s", detail);
        bool was_utf8 = fuzz_utf8_valid(detail, strlen(detail));
        char *text = problem_render(problem_status("NOT_FOUND"), "NOT_FOUND", cut);
        FUZZ_CHECK(text != NULL, "problem_render returned NULL");
        if (was_utf8)
            fuzz_known("detail-cut-utf8", fuzz_utf8_valid(text, strlen(text)),
                       "a UTF-8 path of %zu bytes gives a 404 body that is not UTF-8",
                       strlen(detail));
        free(text);
        if (was_utf8 && fuzz_utf8_valid(cut, strlen(cut)))
            check_render(404, "NOT_FOUND", cut, false);
        break;
    }
    }
    free(code);
    free(detail);
    return 0;
}
