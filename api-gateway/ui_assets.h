/* The files the gateway serves itself (the shop console, the API reference
 * page, Redoc, docs/openapi.yaml), embedded in the binary: the build turns
 * them into byte arrays with api-gateway/embed_ui.sh (the Makefile's UI
 * block), so the gateway needs no files beside it, in a container or not. */
#ifndef GATEWAY_UI_ASSETS_H
#define GATEWAY_UI_ASSETS_H

#include <stddef.h>

/* One embedded file: its name (path under api-gateway/ui/, or
 * "openapi.yaml") and its bytes; data[len] is a NUL not counted in len. */
typedef struct gateway_ui_file {
    const char *name;
    const unsigned char *data;
    size_t len;
} gateway_ui_file;

/* Defined in the generated $(BUILD)/gen/ui_assets.c. */
extern const gateway_ui_file gateway_ui_files[];
extern const size_t gateway_n_ui_files;

#endif
