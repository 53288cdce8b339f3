/* Figures of a load run: latency samples with percentiles (nearest rank),
 * and counters of answers by a text key ("POST /api/orders 409 OUT_OF_STOCK").
 * Each client thread fills its own; the main thread merges them at the end. */
#ifndef LOAD_STATS_H
#define LOAD_STATS_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

/* Latency samples in microseconds. Zero-initialise before use. */
typedef struct load_lat {
    int64_t *us;
    size_t n, cap;
    bool sorted;
} load_lat;

/* Adds one sample. Returns false when out of memory (the sample is lost). */
bool load_lat_add(load_lat *l, int64_t us);

/* Appends every sample of from to into. Returns false when out of memory. */
bool load_lat_merge(load_lat *into, const load_lat *from);

/* The p-th percentile (0 < p <= 100) by nearest rank: the smallest sample
 * such that at least p% of the samples are <= it. Sorts l first. Returns 0
 * for no samples. */
int64_t load_lat_percentile(load_lat *l, double p);

/* The largest sample, or 0. */
int64_t load_lat_max(load_lat *l);

void load_lat_release(load_lat *l);

/* Counters by key. Zero-initialise before use. */
typedef struct load_count_entry {
    char *key;
    int64_t n;
} load_count_entry;

typedef struct load_counts {
    load_count_entry *e;
    size_t n, cap;
} load_counts;

/* Adds by to key's counter (creating it). Returns false when out of memory. */
bool load_counts_add(load_counts *c, const char *key, int64_t by);

/* The counter of key, 0 when absent. */
int64_t load_counts_get(const load_counts *c, const char *key);

/* Adds every counter of from to into. */
bool load_counts_merge(load_counts *into, const load_counts *from);

/* Sorts the entries by key (for printing). */
void load_counts_sort(load_counts *c);

void load_counts_release(load_counts *c);

#endif
