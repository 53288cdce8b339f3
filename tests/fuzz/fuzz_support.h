/* What every libFuzzer harness of tests/fuzz shares: the entry points'
 * prototypes, reading typed values off the fuzz input, the check that aborts
 * (so libFuzzer keeps the input as a crash) when a property fails, the
 * handling of defects already reported to the owners, and an independent
 * reading of request bodies (the "spec") that the services' own validators
 * are compared with. */
#ifndef FUZZ_SUPPORT_H
#define FUZZ_SUPPORT_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include <cjson/cJSON.h>

#include "json.h"

/* libFuzzer's entry points (defined by each harness). */
int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);
int LLVMFuzzerInitialize(int *argc, char ***argv);

/* ------------------------------------------------------------ input */

/* The unread rest of a fuzz input. */
typedef struct fuzz_in {
    const uint8_t *p;
    size_t n;
} fuzz_in;

/* The next byte, or 0 when the input is used up. */
uint8_t fuzz_u8(fuzz_in *in);

/* The next 8 bytes as an int64 (missing bytes read as 0). */
int64_t fuzz_i64(fuzz_in *in);

/* A value in [lo, hi] (lo <= hi): one selector byte picks lo, hi, their
 * neighbours, 0, 1 or a value from the next 8 bytes, so the edges of every
 * range come up often. */
int64_t fuzz_range(fuzz_in *in, int64_t lo, int64_t hi);

/* The bytes up to the next NUL (or the end), at most max of them, as a
 * malloc'd NUL-terminated string the caller frees. OUT: *len when non-NULL. */
char *fuzz_str(fuzz_in *in, size_t max, size_t *len);

/* A malloc'd NUL-terminated copy of the whole rest of the input (bytes after
 * an embedded NUL are lost to C string functions). */
char *fuzz_rest(fuzz_in *in, size_t *len);

/* ----------------------------------------------------------- checks */

/* Prints "fuzz: property failed: <message>" and aborts. */
void fuzz_fail(const char *fmt, ...) __attribute__((format(printf, 1, 2), noreturn));

#define FUZZ_CHECK(cond, ...)                                                                      \
    do {                                                                                           \
        if (!(cond))                                                                               \
            fuzz_fail(__VA_ARGS__);                                                                \
    } while (0)

/* A property that a defect already reported to the owner of the code breaks
 * (id is one of the ids in fuzz_support.c's table). When it fails it is
 * counted and printed once per id, and the run goes on, so CI stays green
 * until the owner fixes it; with FUZZ_STRICT=1 it aborts like FUZZ_CHECK.
 * An unknown id aborts. */
void fuzz_known(const char *id, bool ok, const char *fmt, ...) __attribute__((format(printf, 3, 4)));

/* True when s[0..len) is well-formed UTF-8 (RFC 3629) without NUL bytes;
 * written apart from common/json.c so it can serve as its oracle. */
bool fuzz_utf8_valid(const char *s, size_t len);

/* ------------------------------------------------------ body spec */

/* How the spec reads one member of a request body. */
typedef enum spec_kind {
    SPEC_INT,       /* required integer in [min, max] */
    SPEC_INT_OPT,   /* integer in [min, max], or absent, or null */
    SPEC_STR,       /* required string of min..max bytes */
    SPEC_REF,       /* required ref: 1..64 of [A-Za-z0-9:._-] */
    SPEC_ENUM,      /* required string, one of values (NULL-ended) */
    SPEC_TIME,      /* required RFC 3339 string (1..64 bytes), epoch in [min, max] */
    SPEC_LINES,     /* required array of min..max line objects (see below) */
    SPEC_DISCOUNT,  /* integer in the range of the body's discountType */
    SPEC_RATE_OPT,  /* number in 0.0..1.0, or absent, or null */
} spec_kind;

typedef struct spec_field {
    const char *name;
    spec_kind kind;
    int64_t min, max;
    const char *const *values; /* SPEC_ENUM */
    /* SPEC_LINES: each line {"itemId":1..JSON_INT_MAX,"quantity":1..qty_max}
     * plus "unitPrice":0..price_max when price_max > 0; itemIds distinct
     * when distinct. */
    int64_t qty_max, price_max;
    bool distinct;
} spec_field;

typedef struct spec_route {
    const char *name; /* "POST /items" */
    const spec_field *fields;
    size_t n_fields;
    /* A rule across fields, or NULL: true when it holds; else *field names
     * the member it is reported on. Only asked when every field is valid. */
    bool (*rule)(const cJSON *body, const char **field);
} spec_route;

/* Reads body by the spec. Returns true when every member is valid; else
 * false with *failing (a bit per field of route, plus bit 31 for the rule)
 * saying which are not. */
bool spec_check(const spec_route *route, const cJSON *body, uint32_t *failing);

/* The integer member name of obj by the spec's reading (no json.c): true
 * with *out when it is an integral number within +-JSON_INT_MAX. */
bool spec_int_value(const cJSON *obj, const char *name, int64_t *out);

/* Checks an error of a route's validator: non-empty, naming a member of the
 * route that the spec also finds invalid (or the body itself, or a repeated
 * member name), in valid UTF-8. Aborts when it does not. */
void spec_check_error(const spec_route *route, const json_err *err, uint32_t failing);

/* One route of a body harness: the spec and the service's validator, which
 * returns whether it accepted body and checks what it read itself (values
 * within ranges, equal to the spec's reading). */
typedef struct body_route {
    const spec_route *spec;
    bool (*validate)(const cJSON *body, json_err *err);
} body_route;

/* The body harness: the first byte picks one of routes, the rest is the body;
 * json_parse_object then the route's validator, compared with spec_check.
 * Aborts on any disagreement. */
void fuzz_bodies(const body_route *routes, size_t n, const uint8_t *data, size_t size);

#endif
