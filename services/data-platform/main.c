/* data-platform: the stub of the external data platform: configuration
 * (port, database, faults at start), the database and the HTTP server, until
 * SIGTERM. It does not check X-Internal-Token: it stands for an outside
 * system. */
#include <stdlib.h>

#include <curl/curl.h>

#include "config.h"
#include "dataplatform_logic.h"
#include "dataplatform_store.h"
#include "db.h"
#include "http_client.h"
#include "http_server.h"
#include "log.h"
#include "routes.h"

int main(void)
{
    int rc = EXIT_FAILURE;
    db *d = NULL;
    char *path = NULL;
    http_server *srv = NULL;
    dataplatform_app app;
    bool app_ready = false;
    double fail_rate = 0.0;

    log_init("data-platform");
    curl_global_init(CURL_GLOBAL_ALL);
    http_client_init();
    const char *rate_text = config_str("DATA_PLATFORM_FAIL_RATE", NULL);
    if (rate_text != NULL && !dataplatform_parse_rate(rate_text, &fail_rate)) {
        log_error(NULL, "DATA_PLATFORM_FAIL_RATE=%s: must be a number in 0.0..1.0", rate_text);
        goto out;
    }
    int64_t delay_ms = config_int("DATA_PLATFORM_DELAY_MS", 0, 0, DATAPLATFORM_DELAY_MAX_MS);
    path = config_db_path("DATA_PLATFORM_DB_PATH", "data-platform.db");
    if (db_open(path, dataplatform_store_migrations, dataplatform_store_n_migrations, &d) != 0)
        goto out;
    if (dataplatform_app_init(&app, d, fail_rate, delay_ms) != 0)
        goto out;
    app_ready = true;
    http_server_config cfg = {
        .service = "data-platform",
        .port = config_port("DATA_PLATFORM_PORT", 6),
        .routes = dataplatform_routes,
        .n_routes = dataplatform_n_routes,
        .app = &app,
        .internal_token = NULL, /* an external system: no internal token */
    };
    http_install_signal_handlers();
    srv = http_server_start(&cfg);
    if (srv == NULL)
        goto out;
    log_info(NULL, "listening port=%d failRate=%g delayMs=%lld", http_server_port(srv), fail_rate,
             (long long)delay_ms);
    http_wait_for_stop_signal();
    rc = EXIT_SUCCESS;
out:
    http_server_stop(srv);
    if (app_ready)
        dataplatform_app_release(&app);
    db_close(d);
    http_client_cleanup();
    curl_global_cleanup();
    free(path);
    return rc;
}
