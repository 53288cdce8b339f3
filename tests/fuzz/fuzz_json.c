/* Fuzzes the JSON reader every service parses bodies and replies with
 * (common/json.h): json_parse_any and json_parse_object against oracles
 * written apart from them (UTF-8, no escaped U+0000, no repeated member name,
 * one value and nothing after it), a print/parse round trip of what they
 * accept, and the json_get_* getters on every member of an accepted object
 * against the spec's reading. */
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "fuzz_support.h"

/* True when the text escapes U+0000 inside a string: "\u0000" after an odd
 * run of backslashes. */
static bool oracle_escapes_nul(const char *s, size_t len)
{
    for (size_t i = 0; i + 6 <= len; i++) {
        if (memcmp(s + i, "\\u0000", 6) != 0)
            continue;
        size_t run = 0;
        while (run < i && s[i - 1 - run] == '\\')
            run++;
        if (run % 2 == 0)
            return true;
    }
    return false;
}

/* How deep arrays and objects nest in the tree (a scalar: 0), counted as
 * json.c counts them against JSON_MAX_DEPTH. */
static int tree_depth(const cJSON *item)
{
    if (!cJSON_IsArray(item) && !cJSON_IsObject(item))
        return 0;
    int deepest = 0;
    for (const cJSON *c = item->child; c != NULL; c = c->next) {
        int d = tree_depth(c);
        if (d > deepest)
            deepest = d;
    }
    return 1 + deepest;
}

/* Finds a repeated member name anywhere in the tree; checks every string. */
static bool tree_dup_or_bad(const cJSON *item, bool *bad_utf8)
{
    bool dup = false;
    for (const cJSON *c = item->child; c != NULL; c = c->next) {
        if (cJSON_IsObject(item)) {
            if (!fuzz_utf8_valid(c->string, strlen(c->string)))
                *bad_utf8 = true;
            for (const cJSON *d = c->next; d != NULL; d = d->next)
                if (strcmp(c->string, d->string) == 0)
                    dup = true;
        }
        if (cJSON_IsString(c) && !fuzz_utf8_valid(c->valuestring, strlen(c->valuestring)))
            *bad_utf8 = true;
        if (tree_dup_or_bad(c, bad_utf8))
            dup = true;
    }
    return dup;
}

/* True when a number of the tree is not finite ("1e999"): cJSON prints
 * those as null, so they do not survive a round trip (and no getter takes
 * them). */
static bool has_nonfinite(const cJSON *item)
{
    if (cJSON_IsNumber(item) && !isfinite(item->valuedouble))
        return true;
    for (const cJSON *c = item->child; c != NULL; c = c->next)
        if (has_nonfinite(c))
            return true;
    return false;
}

/* Every getter on member m of obj agrees with the spec's reading. */
static void check_getters(const cJSON *obj, const cJSON *m)
{
    const char *name = m->string;
    json_err err;
    int64_t v = 0, spec = 0;
    bool present = false;
    bool spec_int = spec_int_value(obj, name, &spec);
    bool got = json_get_int(obj, name, -JSON_INT_MAX, JSON_INT_MAX, &v, &err);
    FUZZ_CHECK(got == spec_int && (!got || v == spec), "json_get_int(%s) %d/%d", name, got,
               spec_int);
    got = json_get_int(obj, name, 1, 1000, &v, &err);
    FUZZ_CHECK(got == (spec_int && spec >= 1 && spec <= 1000), "json_get_int(%s, 1..1000)", name);
    got = json_get_int_opt(obj, name, 0, JSON_INT_MAX, &v, &present, &err);
    FUZZ_CHECK(present == !cJSON_IsNull(m), "json_get_int_opt(%s) present", name);
    FUZZ_CHECK(got == (cJSON_IsNull(m) || (spec_int && spec >= 0)), "json_get_int_opt(%s)", name);
    int64_t peek = 0;
    FUZZ_CHECK(json_peek_int(obj, name, &peek) == spec_int && (!spec_int || peek == spec),
               "json_peek_int(%s)", name);
    const char *s = NULL;
    got = json_get_string(obj, name, 0, 200, &s, &err);
    FUZZ_CHECK(got == (cJSON_IsString(m) && strlen(m->valuestring) <= 200), "json_get_string(%s)",
               name);
    FUZZ_CHECK((json_peek_string(obj, name) != NULL) == cJSON_IsString(m), "json_peek_string(%s)",
               name);
    const cJSON *arr = NULL;
    got = json_get_array(obj, name, 0, 50, &arr, &err);
    FUZZ_CHECK(got == (cJSON_IsArray(m) && cJSON_GetArraySize(m) <= 50), "json_get_array(%s)",
               name);
    bool b;
    FUZZ_CHECK(json_get_bool(obj, name, &b, &err) == cJSON_IsBool(m), "json_get_bool(%s)", name);
    if (cJSON_IsArray(m)) {
        const cJSON *el;
        cJSON_ArrayForEach(el, m)
        {
            int64_t ev = 0, es = 0;
            bool ok = json_item_int(el, "items[0].quantity", 0, JSON_INT_MAX, &ev, &err);
            cJSON wrap = {.type = cJSON_Object, .child = (cJSON *)el};
            bool sok = false;
            if (el->string == NULL) {
                /* spec_int_value reads members; hand it a one-member view. */
                cJSON tmp = *el;
                tmp.next = tmp.prev = NULL;
                tmp.string = (char *)"x";
                wrap.child = &tmp;
                sok = spec_int_value(&wrap, "x", &es) && es >= 0;
            }
            FUZZ_CHECK(ok == sok && (!ok || ev == es), "json_item_int on an element");
            if (!ok)
                FUZZ_CHECK(strncmp(err.msg, "items[0].quantity: ", 19) == 0,
                           "json_item_int error \"%s\"", err.msg);
        }
    }
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    const char *text = (const char *)data;
    json_err err;
    memset(&err, 0, sizeof err);
    cJSON *any = json_parse_any(text, size, &err);
    if (any == NULL) {
        FUZZ_CHECK(err.msg[0] != '\0', "refused without a reason");
        fuzz_known("detail-cut-utf8", fuzz_utf8_valid(err.msg, strlen(err.msg)),
                   "parse error is not UTF-8: \"%s\"", err.msg);
        /* Refusing valid, duplicate-free JSON would be a bug: raw cJSON must
         * refuse it too, or the text breaks one of the extra rules (no
         * duplicate names, UTF-8, no \u0000, JSON_MAX_DEPTH). */
        char *copy = malloc(size + 1);
        memcpy(copy, data, size);
        copy[size] = '\0';
        cJSON *raw = cJSON_ParseWithLengthOpts(copy, size + 1, NULL, 1);
        if (raw != NULL) {
            bool bad = false;
            bool dup = tree_dup_or_bad(raw, &bad);
            FUZZ_CHECK(dup || bad || !fuzz_utf8_valid(text, size) ||
                           oracle_escapes_nul(text, size) || tree_depth(raw) > JSON_MAX_DEPTH,
                       "json_parse_any refuses JSON that breaks no rule: %s", err.msg);
            cJSON_Delete(raw);
        }
        free(copy);
        return 0;
    }
    FUZZ_CHECK(fuzz_utf8_valid(text, size), "accepted invalid UTF-8");
    FUZZ_CHECK(!oracle_escapes_nul(text, size), "accepted an escaped U+0000");
    bool bad = false;
    FUZZ_CHECK(!tree_dup_or_bad(any, &bad), "accepted a repeated member name");
    FUZZ_CHECK(!bad, "a string of the tree is not UTF-8");
    /* Round trip: what we print, we read back the same. */
    if (!has_nonfinite(any)) {
        char *printed = json_print(any);
        FUZZ_CHECK(printed != NULL, "json_print failed");
        cJSON *again = json_parse_any(printed, strlen(printed), &err);
        FUZZ_CHECK(again != NULL && cJSON_Compare(any, again, 1),
                   "printed form \"%.200s\" reads back differently (%s)", printed,
                   again == NULL ? err.msg : "not equal");
        cJSON_Delete(again);
        free(printed);
    }
    cJSON *obj = json_parse_object(text, size, &err);
    FUZZ_CHECK((obj != NULL) == cJSON_IsObject(any), "json_parse_object disagrees with _any");
    if (obj != NULL) {
        const cJSON *m;
        cJSON_ArrayForEach(m, obj)
            check_getters(obj, m);
        int64_t v;
        if (cJSON_GetObjectItemCaseSensitive(obj, "\x01" "absent") == NULL)
            FUZZ_CHECK(!json_get_int(obj, "\x01" "absent", 0, 1, &v, &err) &&
                           strcmp(err.msg, "\x01" "absent: required") == 0,
                       "absent member: \"%s\"", err.msg);
    }
    cJSON_Delete(obj);
    cJSON_Delete(any);
    return 0;
}
