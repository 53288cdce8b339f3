/* payment-service: configuration, the payments database, the settler and
 * outbox threads, and the HTTP server, until SIGTERM. */
#include <stdio.h>
#include <stdlib.h>

#include <curl/curl.h>

#include "config.h"
#include "db.h"
#include "http_client.h"
#include "http_server.h"
#include "log.h"
#include "payment_saga.h"
#include "payment_store.h"
#include "payment_worker.h"
#include "routes.h"

/* Env name as a URL, else http://127.0.0.1:<port>. */
static void peer_url(char *out, size_t len, const char *name, int64_t port)
{
    const char *v = config_str(name, NULL);
    if (v != NULL)
        snprintf(out, len, "%s", v);
    else
        snprintf(out, len, "http://127.0.0.1:%lld", (long long)port);
}

int main(void)
{
    int rc = EXIT_FAILURE;
    db *d = NULL;
    char *path = NULL, *internal = NULL;
    http_server *srv = NULL;
    payment_workers *workers = NULL;
    payment_app app = {0};

    log_init("payment");
    curl_global_init(CURL_GLOBAL_ALL);
    http_client_init();
    int64_t base = config_int("SHOP_PORT_BASE", 8080, 1, 65535 - 6);
    peer_url(app.user_url, sizeof app.user_url, "USER_URL", base + 2);
    peer_url(app.order_url, sizeof app.order_url, "ORDER_URL", base + 4);
    peer_url(app.data_platform_url, sizeof app.data_platform_url, "DATA_PLATFORM_URL", base + 6);
    app.saga_deadline_ms = config_int("SHOP_SAGA_DEADLINE_MS", 8000, 1, 600000);
    app.call_timeout_ms = config_int("SHOP_CALL_TIMEOUT_MS", 5000, 1, 600000);
    app.settle_interval_ms = config_int("PAYMENT_SETTLE_INTERVAL_MS", 2000, 10, 3600000);
    app.outbox_max_backoff_ms = config_int("PAYMENT_OUTBOX_MAX_BACKOFF_MS", 5000, 1, 3600000);

    path = config_db_path("PAYMENT_DB_PATH", "payment.db");
    if (db_open(path, payment_store_migrations, payment_store_n_migrations, &d) != 0)
        goto out;
    app.db = d;
    /* Before any thread: every saga, settler and outbox series from 0. */
    payment_saga_metrics_init();
    payment_workers_metrics_init();
    internal = config_secret("SHOP_INTERNAL_TOKEN");
    http_server_config cfg = {
        .service = "payment",
        .port = config_port("PAYMENT_PORT", 5),
        .routes = payment_routes,
        .n_routes = payment_n_routes,
        .app = &app,
        .internal_token = internal,
    };
    http_install_signal_handlers();
    workers = payment_workers_start(&app);
    if (workers == NULL)
        goto out;
    app.workers = workers;
    srv = http_server_start(&cfg);
    if (srv == NULL)
        goto out;
    log_info(NULL, "listening port=%d user=%s order=%s data-platform=%s", http_server_port(srv),
             app.user_url, app.order_url, app.data_platform_url);
    http_wait_for_stop_signal();
    rc = EXIT_SUCCESS;
out:
    /* Threads first hear the stop, then handlers drain (they may still wake
     * the outbox worker), then the threads are joined and freed. */
    payment_workers_signal_stop(workers);
    http_server_stop(srv);
    payment_workers_stop(workers);
    db_close(d);
    http_client_cleanup();
    curl_global_cleanup();
    free(internal);
    free(path);
    return rc;
}
