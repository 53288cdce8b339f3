/* The afterId/limit paging of the list routes (paging.h). */
#include "paging.h"

#include "json.h"

bool paging_query(http_req *req, int64_t limit_max, int64_t limit_default, paging *out)
{
    out->after_id = 0;
    out->limit = limit_default;
    if (!http_query_int(req, "afterId", 0, JSON_INT_MAX, 0, &out->after_id)) {
        http_reply_problem(req, "INVALID_REQUEST", "afterId: must be an integer in 0..%lld",
                           JSON_INT_MAX);
        return false;
    }
    if (!http_query_int(req, "limit", 1, limit_max, limit_default, &out->limit)) {
        http_reply_problem(req, "INVALID_REQUEST", "limit: must be an integer in 1..%lld",
                           (long long)limit_max);
        return false;
    }
    return true;
}

cJSON *paging_render(const char *name, const void *rows, size_t row_size, size_t n, size_t limit,
                     paging_render_fn *render, paging_id_fn *id)
{
    const char *at = rows;
    cJSON *page = cJSON_CreateObject();
    cJSON *items = cJSON_AddArrayToObject(page, name);
    if (page == NULL || items == NULL)
        goto fail;
    for (size_t i = 0; i < n && i < limit; i++) {
        cJSON *row = render(at + i * row_size);
        if (row == NULL || !cJSON_AddItemToArray(items, row)) {
            cJSON_Delete(row);
            goto fail;
        }
    }
    if (!json_add_id_or_null(page, "nextAfterId", n > limit ? id(at + (limit - 1) * row_size) : 0))
        goto fail;
    return page;
fail:
    cJSON_Delete(page);
    return NULL;
}
