/* Fuzzes item-service's request bodies: POST /items (item_logic_parse_draft),
 * POST /stock/check (item_logic_parse_lines) and POST /reservations
 * (orderId, then item_logic_parse_lines, as handle_deduct reads it), each
 * after json_parse_object, compared with the spec's independent reading. */
#include <string.h>

#include "fuzz_support.h"
#include "../../services/item/item_logic.h"

static const spec_field draft_fields[] = {
    {.name = "name", .kind = SPEC_STR, .min = 1, .max = ITEM_NAME_MAX},
    {.name = "price", .kind = SPEC_INT, .min = 0, .max = ITEM_PRICE_MAX},
    {.name = "stock", .kind = SPEC_INT, .min = 0, .max = ITEM_STOCK_MAX},
};
static const spec_route draft_spec = {"POST /items", draft_fields, 3, NULL};

#define LINES_FIELD                                                                                \
    {.name = "items", .kind = SPEC_LINES, .min = 1, .max = ITEM_MAX_LINES,                         \
     .qty_max = ITEM_MAX_QUANTITY, .distinct = true}

static const spec_field check_fields[] = {LINES_FIELD};
static const spec_route check_spec = {"POST /stock/check", check_fields, 1, NULL};

static const spec_field deduct_fields[] = {
    {.name = "orderId", .kind = SPEC_INT, .min = 1, .max = JSON_INT_MAX},
    LINES_FIELD,
};
static const spec_route deduct_spec = {"POST /reservations", deduct_fields, 2, NULL};

static bool validate_draft(const cJSON *body, json_err *err)
{
    item_draft d;
    if (!item_logic_parse_draft(body, &d, err))
        return false;
    int64_t price, stock;
    FUZZ_CHECK(d.name != NULL && strlen(d.name) >= 1 && strlen(d.name) <= ITEM_NAME_MAX,
               "draft name length %zu", d.name ? strlen(d.name) : 0);
    FUZZ_CHECK(spec_int_value(body, "price", &price) && price == d.price, "draft price %lld",
               (long long)d.price);
    FUZZ_CHECK(spec_int_value(body, "stock", &stock) && stock == d.stock, "draft stock %lld",
               (long long)d.stock);
    return true;
}

/* Checks parsed lines against the JSON they came from. */
static void check_lines(const cJSON *body, const item_line *lines, int n)
{
    const cJSON *items = cJSON_GetObjectItemCaseSensitive(body, "items");
    FUZZ_CHECK(n >= 1 && n <= ITEM_MAX_LINES && n == cJSON_GetArraySize(items), "n_lines %d", n);
    for (int i = 0; i < n; i++) {
        const cJSON *el = cJSON_GetArrayItem(items, i);
        int64_t id, qty;
        FUZZ_CHECK(spec_int_value(el, "itemId", &id) && id == lines[i].item_id && id >= 1,
                   "line %d itemId %lld", i, (long long)lines[i].item_id);
        FUZZ_CHECK(spec_int_value(el, "quantity", &qty) && qty == lines[i].quantity &&
                       qty >= 1 && qty <= ITEM_MAX_QUANTITY,
                   "line %d quantity %lld", i, (long long)lines[i].quantity);
    }
    FUZZ_CHECK(item_logic_find_duplicate(lines, n) == -1, "accepted lines repeat an item");
}

static bool validate_check(const cJSON *body, json_err *err)
{
    item_line lines[ITEM_MAX_LINES];
    int n = -1;
    if (!item_logic_parse_lines(body, lines, &n, err))
        return false;
    check_lines(body, lines, n);
    /* The stock verdict on what was read: every outcome names a real line. */
    for (int i = 0; i < n; i++) {
        lines[i].known = (lines[i].item_id % 7) != 0;
        lines[i].stock = lines[i].item_id % 1500;
    }
    int failed = -2;
    item_outcome o = item_logic_check_stock(lines, n, &failed);
    FUZZ_CHECK((o == ITEM_OK && failed == -1) ||
                   ((o == ITEM_NOT_FOUND || o == ITEM_OUT_OF_STOCK) && failed >= 0 && failed < n),
               "check_stock outcome %d failed %d", (int)o, failed);
    return true;
}

static bool validate_deduct(const cJSON *body, json_err *err)
{
    item_line lines[ITEM_MAX_LINES];
    int64_t order_id;
    int n = -1;
    if (!json_get_int(body, "orderId", 1, JSON_INT_MAX, &order_id, err) ||
        !item_logic_parse_lines(body, lines, &n, err))
        return false;
    check_lines(body, lines, n);
    return true;
}

static const body_route routes[] = {
    {&draft_spec, validate_draft},
    {&check_spec, validate_check},
    {&deduct_spec, validate_deduct},
};

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    fuzz_bodies(routes, sizeof routes / sizeof routes[0], data, size);
    return 0;
}
