/* cJSON helpers that validate while they read. cJSON holds numbers as doubles
 * and keeps the first of repeated member names, so the strict checks here (no
 * fraction, magnitude within 10^15, no duplicates, valid UTF-8) are what make
 * every program read a body the same way. */
#include "json.h"

#include <math.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static bool fail(json_err *err, const char *fmt, ...) __attribute__((format(printf, 2, 3)));

static bool fail(json_err *err, const char *fmt, ...)
{
    if (err != NULL) {
        va_list ap;
        va_start(ap, fmt);
        int n = vsnprintf(err->msg, sizeof err->msg, fmt, ap);
        va_end(ap);
        /* Cut short: never in the middle of a UTF-8 character (a member
         * name may be long and non-ASCII). */
        if (n >= (int)sizeof err->msg) {
            size_t len = strlen(err->msg);
            size_t start = len;
            while (start > 0 && ((unsigned char)err->msg[start - 1] & 0xC0) == 0x80)
                start--;
            if (start > 0 && (unsigned char)err->msg[start - 1] >= 0xC0) {
                unsigned char lead = (unsigned char)err->msg[start - 1];
                size_t want = lead >= 0xF0 ? 4 : lead >= 0xE0 ? 3 : 2;
                if (len - (start - 1) < want)
                    err->msg[start - 1] = '\0';
            }
        }
    }
    return false;
}

/* True when s[0..len) is well-formed UTF-8 without NUL bytes (RFC 3629:
 * no overlongs, no surrogates, nothing above U+10FFFF). */
static bool utf8_valid(const unsigned char *s, size_t len)
{
    size_t i = 0;
    while (i < len) {
        unsigned char c = s[i];
        size_t n;
        unsigned cp;
        if (c == 0)
            return false;
        if (c < 0x80) {
            i++;
            continue;
        } else if ((c & 0xE0) == 0xC0) {
            n = 1;
            cp = c & 0x1F;
        } else if ((c & 0xF0) == 0xE0) {
            n = 2;
            cp = c & 0x0F;
        } else if ((c & 0xF8) == 0xF0) {
            n = 3;
            cp = c & 0x07;
        } else {
            return false;
        }
        for (size_t k = 1; k <= n; k++) {
            if (i + k >= len || (s[i + k] & 0xC0) != 0x80)
                return false;
            cp = (cp << 6) | (s[i + k] & 0x3F);
        }
        if ((n == 1 && cp < 0x80) || (n == 2 && cp < 0x800) || (n == 3 && cp < 0x10000) ||
            cp > 0x10FFFF || (cp >= 0xD800 && cp <= 0xDFFF))
            return false;
        i += n + 1;
    }
    return true;
}

/* True when a string literal in the JSON text escapes U+0000 (\u0000), which
 * cJSON would silently turn into a truncated C string. */
static bool escapes_nul(const char *s, size_t len)
{
    bool in_string = false;
    for (size_t i = 0; i < len; i++) {
        if (!in_string) {
            in_string = s[i] == '"';
            continue;
        }
        if (s[i] == '\\') {
            if (i + 5 < len && s[i + 1] == 'u' && memcmp(s + i + 2, "0000", 4) == 0)
                return true;
            i++;
        } else if (s[i] == '"') {
            in_string = false;
        }
    }
    return false;
}

/* True when arrays and objects nest deeper than JSON_MAX_DEPTH outside
 * strings. cJSON parses (and deletes and prints) recursively, and civetweb's
 * workers run on 100 KiB stacks: a body of a thousand '[' would overflow
 * them. */
static bool nests_too_deep(const char *s, size_t len)
{
    bool in_string = false;
    int depth = 0;
    for (size_t i = 0; i < len; i++) {
        if (in_string) {
            if (s[i] == '\\')
                i++;
            else if (s[i] == '"')
                in_string = false;
        } else if (s[i] == '"') {
            in_string = true;
        } else if (s[i] == '[' || s[i] == '{') {
            if (++depth > JSON_MAX_DEPTH)
                return true;
        } else if (s[i] == ']' || s[i] == '}') {
            depth--;
        }
    }
    return false;
}

static int cmp_names(const void *a, const void *b)
{
    return strcmp(*(const char *const *)a, *(const char *const *)b);
}

/* Finds a repeated member name in any object of the tree; returns it or NULL. */
static const char *find_duplicate(const cJSON *item)
{
    if (cJSON_IsObject(item)) {
        size_t n = 0;
        for (const cJSON *c = item->child; c != NULL; c = c->next)
            n++;
        if (n > 1) {
            const char **names = malloc(n * sizeof *names);
            if (names == NULL)
                return "(out of memory)";
            size_t i = 0;
            for (const cJSON *c = item->child; c != NULL; c = c->next)
                names[i++] = c->string;
            qsort(names, n, sizeof *names, cmp_names);
            const char *dup = NULL;
            for (i = 1; i < n && dup == NULL; i++)
                if (strcmp(names[i - 1], names[i]) == 0)
                    dup = names[i];
            free(names);
            if (dup != NULL)
                return dup;
        }
    }
    if (cJSON_IsObject(item) || cJSON_IsArray(item))
        for (const cJSON *c = item->child; c != NULL; c = c->next) {
            const char *dup = find_duplicate(c);
            if (dup != NULL)
                return dup;
        }
    return NULL;
}

cJSON *json_parse_any(const char *body, size_t len, json_err *err)
{
    cJSON *root = NULL;
    char *copy = NULL;
    if (!utf8_valid((const unsigned char *)body, len)) {
        fail(err, "body: not valid UTF-8 JSON");
        goto out;
    }
    if (escapes_nul(body, len)) {
        fail(err, "body: strings must not contain U+0000");
        goto out;
    }
    if (nests_too_deep(body, len)) {
        fail(err, "body: nested deeper than %d levels", JSON_MAX_DEPTH);
        goto out;
    }
    copy = malloc(len + 1);
    if (copy == NULL) {
        fail(err, "body: out of memory");
        goto out;
    }
    memcpy(copy, body, len);
    copy[len] = '\0';
    const char *end = NULL;
    /* len + 1: with require_null_terminated, cJSON wants the NUL counted. */
    root = cJSON_ParseWithLengthOpts(copy, len + 1, &end, 1);
    if (root == NULL) {
        fail(err, "body: malformed JSON near byte %zu",
             end != NULL && end >= copy ? (size_t)(end - copy) : (size_t)0);
        goto out;
    }
    const char *dup = find_duplicate(root);
    if (dup != NULL) {
        fail(err, "%s: member name repeated", dup);
        cJSON_Delete(root);
        root = NULL;
    }
out:
    free(copy);
    return root;
}

cJSON *json_parse_object(const char *body, size_t len, json_err *err)
{
    cJSON *root = json_parse_any(body, len, err);
    if (root != NULL && !cJSON_IsObject(root)) {
        fail(err, "body: must be a JSON object");
        cJSON_Delete(root);
        root = NULL;
    }
    return root;
}

/* An integral double within the exact range, as int64. */
static bool as_int(const cJSON *item, int64_t *out)
{
    if (!cJSON_IsNumber(item))
        return false;
    double v = item->valuedouble;
    if (!isfinite(v) || v != floor(v) || fabs(v) > (double)JSON_INT_MAX)
        return false;
    *out = (int64_t)v;
    return true;
}

bool json_item_int(const cJSON *item, const char *what, int64_t min, int64_t max, int64_t *out,
                   json_err *err)
{
    int64_t v;
    if (item == NULL || cJSON_IsNull(item))
        return fail(err, "%s: required", what);
    if (!as_int(item, &v) || v < min || v > max)
        return fail(err, "%s: must be an integer in %lld..%lld", what, (long long)min,
                    (long long)max);
    *out = v;
    return true;
}

bool json_get_int(const cJSON *obj, const char *name, int64_t min, int64_t max, int64_t *out,
                  json_err *err)
{
    return json_item_int(cJSON_GetObjectItemCaseSensitive(obj, name), name, min, max, out, err);
}

bool json_get_int_opt(const cJSON *obj, const char *name, int64_t min, int64_t max, int64_t *out,
                      bool *present, json_err *err)
{
    const cJSON *item = cJSON_GetObjectItemCaseSensitive(obj, name);
    *present = item != NULL && !cJSON_IsNull(item);
    if (!*present)
        return true;
    return json_item_int(item, name, min, max, out, err);
}

bool json_get_string(const cJSON *obj, const char *name, size_t min_len, size_t max_len,
                     const char **out, json_err *err)
{
    const cJSON *item = cJSON_GetObjectItemCaseSensitive(obj, name);
    if (item == NULL || cJSON_IsNull(item))
        return fail(err, "%s: required", name);
    if (!cJSON_IsString(item) || item->valuestring == NULL)
        return fail(err, "%s: must be a string", name);
    size_t len = strlen(item->valuestring);
    if (len < min_len || len > max_len)
        return fail(err, "%s: must be %zu..%zu bytes", name, min_len, max_len);
    *out = item->valuestring;
    return true;
}

bool json_get_array(const cJSON *obj, const char *name, int min, int max, const cJSON **out,
                    json_err *err)
{
    const cJSON *item = cJSON_GetObjectItemCaseSensitive(obj, name);
    if (item == NULL || cJSON_IsNull(item))
        return fail(err, "%s: required", name);
    if (!cJSON_IsArray(item))
        return fail(err, "%s: must be an array", name);
    int n = cJSON_GetArraySize(item);
    if (n < min || n > max)
        return fail(err, "%s: must have %d..%d elements", name, min, max);
    *out = item;
    return true;
}

bool json_get_bool(const cJSON *obj, const char *name, bool *out, json_err *err)
{
    const cJSON *item = cJSON_GetObjectItemCaseSensitive(obj, name);
    if (item == NULL || cJSON_IsNull(item))
        return fail(err, "%s: required", name);
    if (!cJSON_IsBool(item))
        return fail(err, "%s: must be true or false", name);
    *out = cJSON_IsTrue(item);
    return true;
}

bool json_peek_int(const cJSON *obj, const char *name, int64_t *out)
{
    return as_int(cJSON_GetObjectItemCaseSensitive(obj, name), out);
}

const char *json_peek_string(const cJSON *obj, const char *name)
{
    const cJSON *item = cJSON_GetObjectItemCaseSensitive(obj, name);
    return cJSON_IsString(item) ? item->valuestring : NULL;
}

bool json_add_int(cJSON *obj, const char *name, int64_t v)
{
    /* Below 10^15 a double is exact and cJSON prints it with %1.15g as an
     * integer; larger values must never be produced by the shop. */
    return cJSON_AddNumberToObject(obj, name, (double)v) != NULL;
}

bool json_add_id_or_null(cJSON *obj, const char *name, int64_t v)
{
    if (v > 0)
        return json_add_int(obj, name, v);
    return cJSON_AddNullToObject(obj, name) != NULL;
}

char *json_print(const cJSON *item)
{
    return cJSON_PrintUnformatted(item);
}
