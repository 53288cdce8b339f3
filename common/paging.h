/* The paging of the list routes (API.md: ?afterId=&limit=, answered as
 * {"items":[...],"nextAfterId":n|null}): rows in id order after afterId, at
 * most limit of them. A route reads limit + 1 rows: the one more says
 * whether a next page exists. */
#ifndef SHOP_PAGING_H
#define SHOP_PAGING_H

#include <stddef.h>
#include <stdint.h>

#include <cjson/cJSON.h>

#include "http_server.h"

/* One page asked for. */
typedef struct paging {
    int64_t after_id; /* rows with a larger id; 0: from the start */
    int64_t limit;    /* at most this many rows shown */
} paging;

/* Reads ?afterId= (an integer in 0..JSON_INT_MAX, default 0) and ?limit=
 * (1..limit_max, default limit_default) of req. OUT: *out. Returns false
 * after answering 400 INVALID_REQUEST naming the parameter. */
bool paging_query(http_req *req, int64_t limit_max, int64_t limit_default, paging *out);

/* A row's JSON (a new object, or NULL when out of memory) and its id, for
 * paging_render; row points at one element of the caller's array. */
typedef cJSON *paging_render_fn(const void *row);
typedef int64_t paging_id_fn(const void *row);

/* The page {"<name>":[...],"nextAfterId":n|null} of n rows read (rows, an
 * array of elements of row_size bytes) for a page of limit (>= 1): the first
 * limit rows rendered by render; when more than limit were read,
 * nextAfterId is the id of the last row shown, else null. Returns a new
 * object (caller cJSON_Deletes), or NULL when out of memory. */
cJSON *paging_render(const char *name, const void *rows, size_t row_size, size_t n, size_t limit,
                     paging_render_fn *render, paging_id_fn *id);

#endif
