/* order-service: owns orders and runs their sagas (create, cancel, pay) against
 * item, user and coupon services, with a recovery thread that finishes or
 * undoes what a crash left. Configures, opens the store, serves the routes of
 * routes.c until SIGTERM. */
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>

#include <curl/curl.h>

#include "config.h"
#include "db.h"
#include "http_client.h"
#include "http_server.h"
#include "log.h"
#include "order_saga.h"
#include "order_store.h"
#include "routes.h"

/* The URL of a peer: env name, else http://127.0.0.1:<SHOP_PORT_BASE+offset>.
 * buf holds the default. */
static const char *peer_url(const char *name, int offset, char *buf, size_t len)
{
    int64_t base = config_int("SHOP_PORT_BASE", 8080, 1, 65535 - 6);
    snprintf(buf, len, "http://127.0.0.1:%lld", (long long)(base + offset));
    return config_str(name, buf);
}

int main(void)
{
    int status = EXIT_FAILURE;
    char *path = NULL;
    char *internal = NULL;
    char item_buf[64], user_buf[64], coupon_buf[64], payment_buf[64];
    http_server *srv = NULL;
    order_recovery *recovery = NULL;
    order_app app = {.db = NULL};

    log_init("order");
    curl_global_init(CURL_GLOBAL_ALL);
    http_client_init();
    app.item_url = peer_url("ITEM_URL", 1, item_buf, sizeof item_buf);
    app.user_url = peer_url("USER_URL", 2, user_buf, sizeof user_buf);
    app.coupon_url = peer_url("COUPON_URL", 3, coupon_buf, sizeof coupon_buf);
    app.payment_url = peer_url("PAYMENT_URL", 5, payment_buf, sizeof payment_buf);
    app.call_timeout_ms = (long)config_int("SHOP_CALL_TIMEOUT_MS", 5000, 1, 600000);
    app.saga_deadline_ms = (long)config_int("SHOP_SAGA_DEADLINE_MS", 8000, 1, 600000);
    app.payment_ttl_s = config_int("ORDER_PAYMENT_TTL_S", 900, 1, 10LL * 365 * 86400);
    app.recovery_interval_ms = config_int("ORDER_RECOVERY_INTERVAL_MS", 2000, 1, 3600000);
    path = config_db_path("ORDER_DB_PATH", "order.db");
    if (order_store_open(path, &app.db) != 0)
        goto out;
    order_saga_metrics_init();
    internal = config_secret("SHOP_INTERNAL_TOKEN");
    http_server_config cfg = {
        .service = "order",
        .port = config_port("ORDER_PORT", 4),
        .routes = order_routes,
        .n_routes = order_n_routes,
        .app = &app,
        .internal_token = internal,
    };
    http_install_signal_handlers();
    srv = http_server_start(&cfg);
    if (srv == NULL)
        goto out;
    log_info(NULL, "listening port=%d db=%s item=%s user=%s coupon=%s", http_server_port(srv), path,
             app.item_url, app.user_url, app.coupon_url);
    recovery = order_recovery_start(&app);
    if (recovery == NULL) {
        log_error(NULL, "cannot start the recovery thread");
        goto out;
    }
    http_wait_for_stop_signal();
    log_info(NULL, "stopping");
    status = EXIT_SUCCESS;
out:
    order_recovery_stop(recovery);
    http_server_stop(srv);
    db_close(app.db);
    http_client_cleanup();
    curl_global_cleanup();
    free(internal);
    free(path);
    return status;
}
