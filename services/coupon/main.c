/* coupon-service: coupons, their issue to users, and their use by orders.
 * Reads the configuration, opens (and seeds) its database, serves its routes
 * until SIGTERM. */
#include <stdio.h>
#include <stdlib.h>

#include <curl/curl.h>

#include "config.h"
#include "coupon_store.h"
#include "http_client.h"
#include "http_server.h"
#include "log.h"
#include "routes.h"
#include "timeutil.h"

int main(void)
{
    int rc = EXIT_FAILURE;
    db *d = NULL;
    char *path = NULL, *internal = NULL;
    http_server *srv = NULL;
    char user_default[64];

    log_init("coupon");
    curl_global_init(CURL_GLOBAL_ALL);
    http_client_init();
    int64_t base = config_int("SHOP_PORT_BASE", 8080, 1, 65535 - 6);
    snprintf(user_default, sizeof user_default, "http://127.0.0.1:%lld", (long long)base + 2);
    coupon_app app = {.user_url = config_str("USER_URL", user_default)};

    path = config_db_path("COUPON_DB_PATH", "coupon.db");
    if (coupon_store_open(path, &d) != 0)
        goto out;
    app.db = d;
    if (config_bool("SHOP_SEED", true) && coupon_store_is_empty(d)) {
        if (coupon_store_seed(d) != SHOP_OK) {
            log_error(NULL, "seeding %s failed", path);
            goto out;
        }
        log_info(NULL, "seeded %s", path);
    }
    app.keys_purged_at = time_now_ms() / 1000;
    if (coupon_store_idem_purge(d, app.keys_purged_at) != SHOP_OK)
        goto out;
    internal = config_secret("SHOP_INTERNAL_TOKEN");
    http_server_config cfg = {
        .service = "coupon",
        .port = config_port("COUPON_PORT", 3),
        .routes = coupon_routes,
        .n_routes = coupon_n_routes,
        .app = &app,
        .internal_token = internal,
    };
    http_install_signal_handlers();
    srv = http_server_start(&cfg);
    if (srv == NULL)
        goto out;
    log_info(NULL, "listening port=%d user_url=%s", http_server_port(srv), app.user_url);
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
