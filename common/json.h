/* cJSON helpers that validate while they read, following the number and string
 * rules of API.md, and return a field-named error for a 400. */
#ifndef SHOP_JSON_H
#define SHOP_JSON_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include <cjson/cJSON.h>

#define JSON_INT_MAX 999999999999999LL /* largest integer cJSON keeps exact */
#define JSON_ERR_LEN 200
#define JSON_MAX_DEPTH 64 /* arrays and objects inside each other */

/* Why a request body was refused; msg names the field ("items[2].quantity:
 * must be an integer in 1..1000"). */
typedef struct json_err {
    char msg[JSON_ERR_LEN];
} json_err;

/* Parses a request body of len bytes (need not be NUL-terminated) that must be
 * a JSON object: valid UTF-8, no U+0000, no repeated member name at any depth,
 * at most JSON_MAX_DEPTH levels of nesting, nothing after the value. Returns the root (free with cJSON_Delete) or NULL
 * with err filled. */
cJSON *json_parse_object(const char *body, size_t len, json_err *err);

/* Like json_parse_object for any JSON value (used for replies from peers). */
cJSON *json_parse_any(const char *body, size_t len, json_err *err);

/* A required integer member in [min, max]: a JSON number that is integral and
 * within 0..JSON_INT_MAX in magnitude. OUT: *out. Returns false with err. */
bool json_get_int(const cJSON *obj, const char *name, int64_t min, int64_t max,
                  int64_t *out, json_err *err);

/* As json_get_int, but a missing or null member is allowed: then *present is
 * false and *out untouched. */
bool json_get_int_opt(const cJSON *obj, const char *name, int64_t min, int64_t max,
                      int64_t *out, bool *present, json_err *err);

/* Validates an array element (or any item) as an integer in [min, max];
 * what names it in the error ("items[3].quantity"). */
bool json_item_int(const cJSON *item, const char *what, int64_t min, int64_t max,
                   int64_t *out, json_err *err);

/* A required string member of min_len..max_len bytes. *out points into obj. */
bool json_get_string(const cJSON *obj, const char *name, size_t min_len, size_t max_len,
                     const char **out, json_err *err);

/* A required array member with min..max elements. *out points into obj. */
bool json_get_array(const cJSON *obj, const char *name, int min, int max,
                    const cJSON **out, json_err *err);

/* A required boolean member. */
bool json_get_bool(const cJSON *obj, const char *name, bool *out, json_err *err);

/* Reads an integer from a peer's reply without error reporting: true when
 * member name is an integral number in range. */
bool json_peek_int(const cJSON *obj, const char *name, int64_t *out);

/* The string member name of a peer's reply, or NULL. */
const char *json_peek_string(const cJSON *obj, const char *name);

/* Adds an integer member (exact up to JSON_INT_MAX). Returns false when out of
 * memory. */
bool json_add_int(cJSON *obj, const char *name, int64_t v);

/* Adds the integer v, or null when v <= 0 (for optional ids). */
bool json_add_id_or_null(cJSON *obj, const char *name, int64_t v);

/* Renders item unformatted. Returns a malloc'd string (free(3)) or NULL. */
char *json_print(const cJSON *item);

#endif
