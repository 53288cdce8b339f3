/* api-gateway: the public entry point. Reads its configuration, serves the
 * public route table (routes.c) and forwards each request to its service. */
#include <stdlib.h>

#include <curl/curl.h>

#include "config.h"
#include "http_client.h"
#include "http_server.h"
#include "log.h"
#include "routes.h"

int main(void)
{
    int rc = EXIT_FAILURE;
    gateway_app app;
    http_server *srv = NULL;

    log_init("api-gateway");
    curl_global_init(CURL_GLOBAL_ALL);
    http_client_init_sized(GATEWAY_CLIENT_CONNECTIONS);
    if (gateway_app_init(&app) != 0)
        goto out;
    if (app.admin_token == NULL)
        log_warn(NULL, "SHOP_ADMIN_TOKEN is not set: admin routes answer 403 ADMIN_DISABLED");

    http_server_config cfg = {
        .service = "api-gateway",
        .port = config_port("GATEWAY_PORT", 0),
        .num_threads = (int)config_int("GATEWAY_THREADS", 1500, 2, HTTP_MAX_THREADS), /* public */
        .routes = gateway_routes,
        .n_routes = gateway_n_routes,
        .app = &app,
        .internal_token = NULL, /* public: clients carry no internal token */
    };
    http_install_signal_handlers();
    srv = http_server_start(&cfg);
    if (srv == NULL)
        goto out_release;
    log_info(NULL, "listening port=%d item=%s user=%s coupon=%s order=%s payment=%s",
             http_server_port(srv), app.url[GATEWAY_ITEM], app.url[GATEWAY_USER],
             app.url[GATEWAY_COUPON], app.url[GATEWAY_ORDER], app.url[GATEWAY_PAYMENT]);
    http_wait_for_stop_signal();
    http_server_stop(srv);
    rc = EXIT_SUCCESS;
out_release:
    gateway_app_release(&app);
out:
    http_client_cleanup();
    curl_global_cleanup();
    return rc;
}
