/* item-service's pure rules: request validation for lines and new items, and
 * the verdict on whether looked-up lines can be served. */
#include "item_logic.h"

#include <stdio.h>

/* Reads one line object (index i) into line. */
static bool parse_line(const cJSON *el, int i, item_line *line, json_err *err)
{
    char what[48];
    if (!cJSON_IsObject(el)) {
        snprintf(err->msg, sizeof err->msg, "items[%d]: must be an object", i);
        return false;
    }
    const cJSON *id = cJSON_GetObjectItemCaseSensitive(el, "itemId");
    snprintf(what, sizeof what, "items[%d].itemId", i);
    if (!json_item_int(id, what, 1, JSON_INT_MAX, &line->item_id, err))
        return false;
    const cJSON *qty = cJSON_GetObjectItemCaseSensitive(el, "quantity");
    snprintf(what, sizeof what, "items[%d].quantity", i);
    if (!json_item_int(qty, what, 1, ITEM_MAX_QUANTITY, &line->quantity, err))
        return false;
    line->unit_price = 0;
    line->stock = 0;
    line->known = false;
    return true;
}

bool item_logic_parse_lines(const cJSON *body, item_line *lines, int *n_lines, json_err *err)
{
    const cJSON *arr = NULL;
    if (!json_get_array(body, "items", 1, ITEM_MAX_LINES, &arr, err))
        return false;
    int n = 0;
    const cJSON *el = NULL;
    cJSON_ArrayForEach(el, arr)
    {
        if (n >= ITEM_MAX_LINES) { /* json_get_array already bounds it */
            snprintf(err->msg, sizeof err->msg, "items: at most %d lines", ITEM_MAX_LINES);
            return false;
        }
        if (!parse_line(el, n, &lines[n], err))
            return false;
        n++;
    }
    int dup = item_logic_find_duplicate(lines, n);
    if (dup >= 0) {
        snprintf(err->msg, sizeof err->msg, "items[%d].itemId: item %lld appears more than once",
                 dup, (long long)lines[dup].item_id);
        return false;
    }
    *n_lines = n;
    return true;
}

bool item_logic_parse_draft(const cJSON *body, item_draft *out, json_err *err)
{
    return json_get_string(body, "name", 1, ITEM_NAME_MAX, &out->name, err) &&
           json_get_int(body, "price", 0, ITEM_PRICE_MAX, &out->price, err) &&
           json_get_int(body, "stock", 0, ITEM_STOCK_MAX, &out->stock, err);
}

int item_logic_find_duplicate(const item_line *lines, int n)
{
    /* At most 50 lines: the quadratic scan is 1,225 comparisons. */
    for (int i = 1; i < n; i++)
        for (int j = 0; j < i; j++)
            if (lines[i].item_id == lines[j].item_id)
                return i;
    return -1;
}

item_outcome item_logic_check_stock(const item_line *lines, int n, int *failed)
{
    for (int i = 0; i < n; i++) {
        if (!lines[i].known) {
            *failed = i;
            return ITEM_NOT_FOUND;
        }
    }
    for (int i = 0; i < n; i++) {
        if (lines[i].stock < lines[i].quantity) {
            *failed = i;
            return ITEM_OUT_OF_STOCK;
        }
    }
    *failed = -1;
    return ITEM_OK;
}
