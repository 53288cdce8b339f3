/* Prometheus metrics, kept once for every program: counters, gauges and
 * histograms identified by name and a label string, rendered in the text
 * exposition format by GET /metrics. The request path takes no lock: a
 * series is found in a lock-free table and updated with atomics; only the
 * first use of a new series takes a mutex to insert it. */
#ifndef SHOP_METRICS_H
#define SHOP_METRICS_H

#include <stdint.h>

typedef enum metric_type { METRIC_COUNTER, METRIC_GAUGE, METRIC_HISTOGRAM } metric_type;

/* Declares a metric family (its # HELP and # TYPE lines). Call before
 * threads start; a family not declared is rendered as untyped. */
void metrics_describe(const char *name, metric_type type, const char *help);

/* Adds v to counter name{labels}. labels is the inside of the braces, e.g.
 * "route=\"/items/{id}\",method=\"GET\"", or "" for none; values must
 * already be escaped (ours are route patterns and fixed words). */
void metrics_count(const char *name, const char *labels, uint64_t v);

/* Sets gauge name{labels} to v. */
void metrics_gauge(const char *name, const char *labels, int64_t v);

/* Records one observation of seconds in histogram name{labels}. */
void metrics_observe(const char *name, const char *labels, double seconds);

/* The current value of counter or gauge name{labels} (0 when unseen); for
 * histograms, the observation count. For tests. */
int64_t metrics_value(const char *name, const char *labels);

/* Renders every series plus process metrics (RSS, threads, uptime) in the
 * Prometheus text format. Returns a malloc'd string (free(3)) or NULL. */
char *metrics_render(void);

#endif
