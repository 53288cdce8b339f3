/* Shared parts of the libFuzzer harnesses: input readers, property checks,
 * the table of defects already reported to their owners, and the spec: an
 * independent reading of request bodies (no common/json.c) that each
 * service's validator is compared with. */
#include "fuzz_support.h"

#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "timeutil.h"

/* ------------------------------------------------------------ input */

uint8_t fuzz_u8(fuzz_in *in)
{
    if (in->n == 0)
        return 0;
    in->n--;
    return *in->p++;
}

int64_t fuzz_i64(fuzz_in *in)
{
    uint64_t v = 0;
    for (int i = 0; i < 8; i++)
        v = (v << 8) | fuzz_u8(in);
    return (int64_t)v;
}

int64_t fuzz_range(fuzz_in *in, int64_t lo, int64_t hi)
{
    uint64_t span = (uint64_t)hi - (uint64_t)lo; /* hi - lo without overflow */
    switch (fuzz_u8(in) % 8) {
    case 0:
        return lo;
    case 1:
        return hi;
    case 2:
        return lo < hi ? lo + 1 : lo;
    case 3:
        return lo < hi ? hi - 1 : hi;
    case 4:
        return lo <= 0 && 0 <= hi ? 0 : lo;
    case 5:
        return lo <= 1 && 1 <= hi ? 1 : hi;
    default: {
        uint64_t r = (uint64_t)fuzz_i64(in);
        if (span != UINT64_MAX)
            r %= span + 1;
        return (int64_t)((uint64_t)lo + r);
    }
    }
}

char *fuzz_str(fuzz_in *in, size_t max, size_t *len)
{
    size_t n = 0;
    while (n < in->n && n < max && in->p[n] != 0)
        n++;
    char *s = malloc(n + 1);
    if (s == NULL)
        abort();
    memcpy(s, in->p, n);
    s[n] = '\0';
    in->p += n;
    in->n -= n;
    if (in->n > 0 && in->p[0] == 0 && n < max) { /* the separator */
        in->p++;
        in->n--;
    }
    if (len != NULL)
        *len = n;
    return s;
}

char *fuzz_rest(fuzz_in *in, size_t *len)
{
    char *s = malloc(in->n + 1);
    if (s == NULL)
        abort();
    memcpy(s, in->p, in->n);
    s[in->n] = '\0';
    if (len != NULL)
        *len = in->n;
    in->p += in->n;
    in->n = 0;
    return s;
}

/* ----------------------------------------------------------- checks */

void fuzz_fail(const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    fputs("fuzz: property failed: ", stderr);
    vfprintf(stderr, fmt, ap);
    fputc('\n', stderr);
    va_end(ap);
    abort();
}

/* Defects found by these harnesses and reported to the owner of the code
 * (tests/fuzz/README.md has the details). Remove a line once it is fixed:
 * then its property aborts again. */
typedef struct known_defect {
    const char *id;
    const char *where;
    unsigned long hits;
} known_defect;

static known_defect known_defects[] = {
    {"curl-folded-header-uaf",
     "libcurl 7.88.1 (Debian 12): a reply whose header line starts with a space or tab, on an "
     "easy handle that served a transfer before (http_client.c pools handles), unfolds onto the "
     "previous transfer's freed header: heap-use-after-free (curl issue 11101, fixed in 8.1.0)",
     0},
};

void fuzz_known(const char *id, bool ok, const char *fmt, ...)
{
    known_defect *k = NULL;
    for (size_t i = 0; i < sizeof known_defects / sizeof known_defects[0]; i++)
        if (strcmp(known_defects[i].id, id) == 0)
            k = &known_defects[i];
    if (ok)
        return;
    char msg[1024];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(msg, sizeof msg, fmt, ap);
    va_end(ap);
    const char *strict = getenv("FUZZ_STRICT");
    if (k == NULL || (strict != NULL && strcmp(strict, "1") == 0))
        fuzz_fail("[%s] %s", id, msg);
    if (k->hits++ == 0)
        fprintf(stderr, "fuzz: known defect [%s] (reported: %s): %s\n", id, k->where, msg);
}

bool fuzz_utf8_valid(const char *s, size_t len)
{
    const unsigned char *u = (const unsigned char *)s;
    size_t i = 0;
    while (i < len) {
        unsigned c = u[i];
        size_t need;
        unsigned lo = 0x80, hi = 0xBF; /* range of the first continuation byte */
        if (c == 0)
            return false;
        if (c <= 0x7F) {
            i++;
            continue;
        }
        if (c >= 0xC2 && c <= 0xDF) {
            need = 1;
        } else if (c >= 0xE0 && c <= 0xEF) {
            need = 2;
            if (c == 0xE0)
                lo = 0xA0; /* no overlongs */
            if (c == 0xED)
                hi = 0x9F; /* no surrogates */
        } else if (c >= 0xF0 && c <= 0xF4) {
            need = 3;
            if (c == 0xF0)
                lo = 0x90;
            if (c == 0xF4)
                hi = 0x8F; /* nothing above U+10FFFF */
        } else {
            return false;
        }
        if (len - i - 1 < need)
            return false;
        if (u[i + 1] < lo || u[i + 1] > hi)
            return false;
        for (size_t k = 2; k <= need; k++)
            if (u[i + k] < 0x80 || u[i + k] > 0xBF)
                return false;
        i += need + 1;
    }
    return true;
}

/* ------------------------------------------------------ body spec */

#define SPEC_RULE_BIT 31u

static const cJSON *member(const cJSON *obj, const char *name)
{
    if (obj == NULL || !(obj->type & cJSON_Object))
        return NULL;
    for (const cJSON *c = obj->child; c != NULL; c = c->next)
        if (c->string != NULL && strcmp(c->string, name) == 0)
            return c;
    return NULL;
}

static bool is_null(const cJSON *v)
{
    return v != NULL && (v->type & 0xFF) == cJSON_NULL;
}

/* An integral JSON number within +-JSON_INT_MAX (a NaN fails every test). */
static bool number_int(const cJSON *v, int64_t *out)
{
    if (v == NULL || (v->type & 0xFF) != cJSON_Number)
        return false;
    double d = v->valuedouble;
    if (!(d >= -(double)JSON_INT_MAX && d <= (double)JSON_INT_MAX))
        return false;
    int64_t i = (int64_t)d;
    if ((double)i != d)
        return false;
    *out = i;
    return true;
}

bool spec_int_value(const cJSON *obj, const char *name, int64_t *out)
{
    return number_int(member(obj, name), out);
}

static bool int_in(const cJSON *v, int64_t min, int64_t max)
{
    int64_t i;
    return number_int(v, &i) && i >= min && i <= max;
}

static const char *string_of(const cJSON *v)
{
    if (v == NULL || (v->type & 0xFF) != cJSON_String)
        return NULL;
    return v->valuestring;
}

static bool str_len_in(const cJSON *v, size_t min, size_t max)
{
    const char *s = string_of(v);
    if (s == NULL)
        return false;
    size_t n = strlen(s);
    return n >= min && n <= max;
}

static bool ref_ok(const cJSON *v)
{
    if (!str_len_in(v, 1, 64))
        return false;
    for (const char *p = v->valuestring; *p != '\0'; p++)
        if (!((*p >= 'A' && *p <= 'Z') || (*p >= 'a' && *p <= 'z') || (*p >= '0' && *p <= '9') ||
              strchr(":._-", *p) != NULL))
            return false;
    return true;
}

static bool lines_ok(const spec_field *f, const cJSON *v)
{
    if (v == NULL || (v->type & 0xFF) != cJSON_Array)
        return false;
    int64_t ids[64];
    int64_t n = 0;
    for (const cJSON *line = v->child; line != NULL; line = line->next) {
        int64_t id;
        if (n >= f->max || (line->type & 0xFF) != cJSON_Object)
            return false;
        if (!number_int(member(line, "itemId"), &id) || id < 1 ||
            !int_in(member(line, "quantity"), 1, f->qty_max))
            return false;
        if (f->price_max > 0 && !int_in(member(line, "unitPrice"), 0, f->price_max))
            return false;
        for (int64_t k = 0; f->distinct && k < n; k++)
            if (ids[k] == id)
                return false;
        ids[n++] = id;
    }
    return n >= f->min;
}

static bool field_ok(const spec_field *f, const cJSON *body)
{
    const cJSON *v = member(body, f->name);
    switch (f->kind) {
    case SPEC_INT:
        return int_in(v, f->min, f->max);
    case SPEC_INT_OPT:
        return v == NULL || is_null(v) || int_in(v, f->min, f->max);
    case SPEC_STR:
        return str_len_in(v, (size_t)f->min, (size_t)f->max);
    case SPEC_REF:
        return ref_ok(v);
    case SPEC_ENUM: {
        const char *s = string_of(v);
        for (const char *const *e = f->values; s != NULL && *e != NULL; e++)
            if (strcmp(s, *e) == 0)
                return true;
        return false;
    }
    case SPEC_TIME: {
        int64_t t;
        return str_len_in(v, 1, 64) && time_parse_rfc3339(v->valuestring, &t) && t >= f->min &&
               t <= f->max;
    }
    case SPEC_LINES:
        return lines_ok(f, v);
    case SPEC_DISCOUNT: {
        const char *type = string_of(member(body, "discountType"));
        int64_t max = type != NULL && strcmp(type, "PERCENT") == 0 ? 100 : 1000000000;
        return int_in(v, 1, max);
    }
    case SPEC_RATE_OPT:
        return v == NULL || is_null(v) ||
               ((v->type & 0xFF) == cJSON_Number && v->valuedouble >= 0.0 &&
                v->valuedouble <= 1.0);
    }
    return false;
}

bool spec_check(const spec_route *route, const cJSON *body, uint32_t *failing)
{
    *failing = 0;
    for (size_t i = 0; i < route->n_fields; i++)
        if (!field_ok(&route->fields[i], body))
            *failing |= 1u << i;
    if (*failing == 0 && route->rule != NULL) {
        const char *field = NULL;
        if (!route->rule(body, &field))
            *failing |= 1u << SPEC_RULE_BIT;
    }
    return *failing == 0;
}

static bool ends_with(const char *s, const char *tail)
{
    size_t n = strlen(s), t = strlen(tail);
    return n >= t && strcmp(s + n - t, tail) == 0;
}

void spec_check_error(const spec_route *route, const json_err *err, uint32_t failing)
{
    const char *msg = err->msg;
    size_t len = strnlen(msg, sizeof err->msg);
    FUZZ_CHECK(len > 0 && len < sizeof err->msg, "%s: empty or unterminated error", route->name);
    fuzz_known("detail-cut-utf8", fuzz_utf8_valid(msg, len), "%s: error is not UTF-8: \"%s\"",
               route->name, msg);
    if (ends_with(msg, ": member name repeated") || strncmp(msg, "body: ", 6) == 0)
        return;
    size_t plen = strcspn(msg, ":[");
    bool named = false;
    for (size_t i = 0; i < route->n_fields && !named; i++) {
        const spec_field *f = &route->fields[i];
        if (strlen(f->name) == plen && strncmp(msg, f->name, plen) == 0) {
            named = true;
            FUZZ_CHECK((failing & (1u << i)) != 0 ||
                           ((failing & (1u << SPEC_RULE_BIT)) != 0 && route->rule != NULL),
                       "%s: error \"%s\" names %s, which the spec finds valid (failing 0x%x)",
                       route->name, msg, f->name, failing);
        }
    }
    FUZZ_CHECK(named, "%s: error \"%s\" names no member of the route", route->name, msg);
}

void fuzz_bodies(const body_route *routes, size_t n, const uint8_t *data, size_t size)
{
    if (size == 0)
        return;
    const body_route *r = &routes[data[0] % n];
    const char *body = (const char *)data + 1;
    size_t len = size - 1;
    json_err err;
    memset(&err, 0, sizeof err);
    cJSON *root = json_parse_object(body, len, &err);
    if (root == NULL) {
        size_t elen = strnlen(err.msg, sizeof err.msg);
        FUZZ_CHECK(elen > 0 && elen < sizeof err.msg, "parse error empty or unterminated");
        FUZZ_CHECK(fuzz_utf8_valid(err.msg, elen), "parse error is not UTF-8: \"%s\"", err.msg);
        /* A repeated name of ~180 bytes or more fills the whole message, so
         * it is cut before ": member name repeated", at a character
         * boundary (up to 3 bytes short of the buffer). */
        if (elen >= sizeof err.msg - 4 && strncmp(err.msg, "body: ", 6) != 0)
            return;
        FUZZ_CHECK(strncmp(err.msg, "body: ", 6) == 0 || ends_with(err.msg, ": member name repeated"),
                   "parse error names no field: \"%s\"", err.msg);
        return;
    }
    memset(&err, 0, sizeof err);
    bool ok = r->validate(root, &err);
    uint32_t failing = 0;
    bool spec_ok = spec_check(r->spec, root, &failing);
    FUZZ_CHECK(ok == spec_ok, "%s: validator %s, spec %s (failing 0x%x, error \"%s\")",
               r->spec->name, ok ? "accepts" : "refuses", spec_ok ? "accepts" : "refuses", failing,
               ok ? "" : err.msg);
    if (!ok)
        spec_check_error(r->spec, &err, failing);
    cJSON_Delete(root);
}
