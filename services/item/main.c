/* item-service: owns items and their stock, and the per-order stock
 * reservations the order saga deducts and restores. Configures, opens and
 * seeds the store, serves the routes of routes.c until SIGTERM. */
#include <stdbool.h>
#include <stdlib.h>

#include <curl/curl.h>

#include "config.h"
#include "db.h"
#include "http_client.h"
#include "http_server.h"
#include "item_store.h"
#include "log.h"
#include "routes.h"

int main(void)
{
    int status = EXIT_FAILURE;
    char *path = NULL;
    char *internal = NULL;
    http_server *srv = NULL;
    item_app app = {.db = NULL};

    log_init("item");
    curl_global_init(CURL_GLOBAL_ALL);
    http_client_init();
    path = config_db_path("ITEM_DB_PATH", "item.db");
    if (item_store_open(path, &app.db) != 0)
        goto out;
    if (config_bool("SHOP_SEED", true)) {
        bool seeded = false;
        if (item_store_seed_if_empty(app.db, &seeded) != 0)
            goto out;
        if (seeded)
            log_info(NULL, "seeded demo items");
    }
    internal = config_secret("SHOP_INTERNAL_TOKEN");
    http_server_config cfg = {
        .service = "item",
        .port = config_port("ITEM_PORT", 1),
        .routes = item_routes,
        .n_routes = item_n_routes,
        .app = &app,
        .internal_token = internal,
    };
    http_install_signal_handlers();
    srv = http_server_start(&cfg);
    if (srv == NULL)
        goto out;
    log_info(NULL, "listening port=%d db=%s", http_server_port(srv), path);
    http_wait_for_stop_signal();
    log_info(NULL, "stopping");
    status = EXIT_SUCCESS;
out:
    http_server_stop(srv);
    db_close(app.db);
    http_client_cleanup();
    curl_global_cleanup();
    free(internal);
    free(path);
    return status;
}
