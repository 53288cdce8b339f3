/* Fuzzes what a service does with a peer's reply once libcurl has it
 * (common/http_client.c after the transfer): the body parsed with
 * json_parse_any when the Content-Type says JSON, then http_result_code and
 * http_result_err on an http_result built here. The header parsing itself
 * (header_value, static) is fuzzed through a real transfer by
 * fuzz_http_client.c. */
#include <stdlib.h>
#include <string.h>

#include "fuzz_support.h"
#include "http_client.h"

static shop_err expected_err(const http_result *r)
{
    if (r->transport == HTTP_T_TIMEOUT)
        return SHOP_ETIMEOUT;
    if (r->transport != HTTP_T_OK || r->status >= 500)
        return SHOP_EUPSTREAM;
    if (r->status >= 200 && r->status <= 299)
        return SHOP_OK;
    if (r->status == 404)
        return SHOP_ENOTFOUND;
    if (r->status == 409)
        return SHOP_ECONFLICT;
    return SHOP_EINVAL;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    fuzz_in in = {data, size};
    http_result r;
    memset(&r, 0, sizeof r);
    r.transport = (http_transport)(fuzz_u8(&in) % 3);
    r.status = (long)fuzz_range(&in, 0, 999);
    char *ctype = fuzz_str(&in, sizeof r.content_type - 1, NULL);
    memcpy(r.content_type, ctype, strlen(ctype) + 1);
    free(ctype);
    r.body = fuzz_rest(&in, &r.body_len);
    /* As http_client_do ends a transfer. */
    if (r.transport == HTTP_T_OK && strstr(r.content_type, "json") != NULL)
        r.json = json_parse_any(r.body, r.body_len, NULL);
    const char *code = http_result_code(&r);
    FUZZ_CHECK(code != NULL, "http_result_code returned NULL");
    const cJSON *c = r.json != NULL ? cJSON_GetObjectItemCaseSensitive(r.json, "code") : NULL;
    if (cJSON_IsString(c) && cJSON_IsObject(r.json))
        FUZZ_CHECK(code == c->valuestring, "code is not the reply's");
    else
        FUZZ_CHECK(code[0] == '\0', "a code \"%s\" from a reply without one", code);
    shop_err e = http_result_err(&r);
    FUZZ_CHECK(e == expected_err(&r), "http_result_err %d for transport %d status %ld", (int)e,
               (int)r.transport, r.status);
    http_result_free(&r);
    FUZZ_CHECK(r.body == NULL && r.json == NULL, "http_result_free left pointers");
    http_result_free(&r); /* twice is harmless */
    return 0;
}
