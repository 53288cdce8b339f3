/* user-service: owns users, their prepaid balances and the ledger of every
 * balance change. Reads its configuration, opens and seeds its database,
 * and serves the routes of routes.c until SIGTERM. */
#include <stdlib.h>

#include <curl/curl.h>

#include "config.h"
#include "db.h"
#include "http_client.h"
#include "http_server.h"
#include "log.h"
#include "routes.h"
#include "timeutil.h"
#include "user_store.h"

int main(void)
{
    int rc = EXIT_FAILURE;
    char *path = NULL, *internal = NULL;
    db *d = NULL;
    http_server *srv = NULL;

    log_init("user");
    curl_global_init(CURL_GLOBAL_ALL);
    http_client_init();
    path = config_db_path("USER_DB_PATH", "user.db");
    if (db_open(path, user_migrations, user_n_migrations, &d) != 0)
        goto out;
    if (config_bool("SHOP_SEED", true) && user_store_seed(d) != 0)
        goto out;
    user_app app = {.db = d, .keys_purged_at = time_now_ms() / 1000};
    if (user_store_idem_purge(d, app.keys_purged_at) != USER_OK)
        goto out;
    internal = config_secret("SHOP_INTERNAL_TOKEN");
    http_server_config cfg = {
        .service = "user",
        .port = config_port("USER_PORT", 2),
        .routes = user_routes,
        .n_routes = user_n_routes,
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
    http_server_stop(srv);
    rc = EXIT_SUCCESS;
out:
    db_close(d);
    http_client_cleanup();
    curl_global_cleanup();
    free(internal);
    free(path);
    return rc;
}
