/* The table from problem code to HTTP status, and the problem+json renderer. */
#include "problem.h"

#include <stdbool.h>
#include <stdlib.h>
#include <string.h>

#include <cjson/cJSON.h>

typedef struct problem_code {
    const char *code;
    int status;
} problem_code;

/* Every code of API.md and docs/internal-api.md, with its status. */
static const problem_code problem_codes[] = {
    {"INVALID_REQUEST", 400},
    {"UNAUTHORIZED", 401},
    {"INSUFFICIENT_BALANCE", 402},
    {"FORBIDDEN", 403},
    {"ADMIN_DISABLED", 403},
    {"NOT_FOUND", 404},
    {"ITEM_NOT_FOUND", 404},
    {"USER_NOT_FOUND", 404},
    {"COUPON_NOT_FOUND", 404},
    {"ORDER_NOT_FOUND", 404},
    {"PAYMENT_NOT_FOUND", 404},
    {"METHOD_NOT_ALLOWED", 405},
    {"OUT_OF_STOCK", 409},
    {"BALANCE_LIMIT", 409},
    {"COUPON_SOLD_OUT", 409},
    {"COUPON_ALREADY_ISSUED", 409},
    {"COUPON_NOT_USABLE", 409},
    {"ORDER_NOT_PAYABLE", 409},
    {"ORDER_ALREADY_PAID", 409},
    {"ORDER_NOT_CANCELLABLE", 409},
    {"ORDER_RELEASED", 409},
    {"DEBIT_VOIDED", 409},
    {"IDEMPOTENCY_KEY_IN_USE", 409},
    {"PAYLOAD_TOO_LARGE", 413},
    {"IDEMPOTENCY_KEY_REUSED", 422},
    {"INTERNAL", 500},
    {"BAD_GATEWAY", 502},
    {"SERVICE_UNAVAILABLE", 503},
    {"UPSTREAM_TIMEOUT", 504},
};

int problem_status(const char *code)
{
    for (size_t i = 0; i < sizeof problem_codes / sizeof problem_codes[0]; i++)
        if (strcmp(problem_codes[i].code, code) == 0)
            return problem_codes[i].status;
    return 500;
}

const char *problem_title(int status)
{
    switch (status) {
    case 200: return "OK";
    case 201: return "Created";
    case 400: return "Bad Request";
    case 401: return "Unauthorized";
    case 402: return "Payment Required";
    case 403: return "Forbidden";
    case 404: return "Not Found";
    case 405: return "Method Not Allowed";
    case 408: return "Request Timeout";
    case 409: return "Conflict";
    case 411: return "Length Required";
    case 413: return "Content Too Large";
    case 414: return "URI Too Long";
    case 422: return "Unprocessable Content";
    case 429: return "Too Many Requests";
    case 431: return "Request Header Fields Too Large";
    case 500: return "Internal Server Error";
    case 501: return "Not Implemented";
    case 502: return "Bad Gateway";
    case 503: return "Service Unavailable";
    case 504: return "Gateway Timeout";
    default: return "Error";
    }
}

/* A copy of s with every byte that does not start a valid UTF-8 sequence
 * replaced by U+FFFD: details may quote request bytes (a path, a method) or
 * be cut by a fixed buffer inside a character. Returns NULL when out of
 * memory (free(3) the result). */
static char *utf8_sanitized(const char *s)
{
    size_t len = strlen(s);
    char *out = malloc(3 * len + 1), *o = out;
    if (out == NULL)
        return NULL;
    for (size_t i = 0; i < len;) {
        unsigned char c = (unsigned char)s[i];
        size_t n = c < 0x80 ? 0 : (c & 0xE0) == 0xC0 ? 1 : (c & 0xF0) == 0xE0 ? 2 : (c & 0xF8) == 0xF0 ? 3 : 4;
        unsigned cp = n == 0 ? c : n == 1 ? (c & 0x1Fu) : n == 2 ? (c & 0x0Fu) : (c & 0x07u);
        bool ok = n < 4 && i + n < len;
        for (size_t k = 1; ok && k <= n; k++) {
            ok = i + k < len && ((unsigned char)s[i + k] & 0xC0) == 0x80;
            cp = (cp << 6) | ((unsigned char)s[i + k] & 0x3Fu);
        }
        ok = ok && !(n == 1 && cp < 0x80) && !(n == 2 && cp < 0x800) &&
             !(n == 3 && cp < 0x10000) && cp <= 0x10FFFF && !(cp >= 0xD800 && cp <= 0xDFFF);
        if (ok) {
            memcpy(o, s + i, n + 1);
            o += n + 1;
            i += n + 1;
        } else {
            memcpy(o, "\xEF\xBF\xBD", 3);
            o += 3;
            i++;
        }
    }
    *o = '\0';
    return out;
}

char *problem_render(int status, const char *code, const char *detail)
{
    char *out = NULL, *clean = NULL;
    cJSON *doc = cJSON_CreateObject();
    if (doc == NULL)
        return NULL;
    if (!cJSON_AddStringToObject(doc, "type", "about:blank") ||
        !cJSON_AddStringToObject(doc, "title", problem_title(status)) ||
        !cJSON_AddNumberToObject(doc, "status", status) ||
        !cJSON_AddStringToObject(doc, "code", code))
        goto out;
    if (detail != NULL && ((clean = utf8_sanitized(detail)) == NULL ||
                           !cJSON_AddStringToObject(doc, "detail", clean)))
        goto out;
    out = cJSON_PrintUnformatted(doc);
out:
    free(clean);
    cJSON_Delete(doc);
    return out;
}
