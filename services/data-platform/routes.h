/* The data-platform stub's HTTP side: its route table and the state the
 * handlers share (the database and the fault settings). */
#ifndef DATAPLATFORM_ROUTES_H
#define DATAPLATFORM_ROUTES_H

#include <pthread.h>
#include <stddef.h>
#include <stdint.h>

#include "db.h"
#include "http_server.h"

typedef struct dataplatform_app {
    db *db;
    pthread_mutex_t mu; /* guards the three fields below */
    double fail_rate;   /* share of POST /orders answered 503 */
    int64_t delay_ms;   /* wait before answering POST /orders */
    uint64_t random;    /* state of dataplatform_random_next */
} dataplatform_app;

/* Initialises app's lock and fault settings (rate 0..1, delay 0..60000).
 * Returns 0 or -1. */
int dataplatform_app_init(dataplatform_app *app, db *d, double fail_rate, int64_t delay_ms);

/* Destroys app's lock. Accepts NULL. */
void dataplatform_app_release(dataplatform_app *app);

extern const http_route dataplatform_routes[];
extern const size_t dataplatform_n_routes;

#endif
