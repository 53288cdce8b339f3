/* Prometheus metrics with a lock-free lookup path. */
#include "metrics.h"

#include <pthread.h>
#include <stdarg.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "timeutil.h"

#define METRICS_SLOTS 4096 /* series; a power of two */
#define METRICS_FAMILIES 128
#define METRICS_KEY_LEN 256

/* Histogram buckets in seconds: 1 ms to 10 s. */
static const double bucket_bounds[] = {0.001, 0.0025, 0.005, 0.01, 0.025, 0.05,
                                       0.1,   0.25,   0.5,   1.0,  2.5,   5.0, 10.0};
#define N_BUCKETS (sizeof bucket_bounds / sizeof bucket_bounds[0])

typedef struct series {
    _Atomic(const char *) key; /* "name\0labels", set once, then read-only */
    metric_type type;
    _Atomic int64_t value;      /* counter, gauge; histogram count */
    _Atomic uint64_t sum_us;    /* histogram sum in microseconds */
    _Atomic uint64_t buckets[N_BUCKETS];
} series;

typedef struct family {
    const char *name;
    metric_type type;
    const char *help;
} family;

static series slots[METRICS_SLOTS];
static pthread_mutex_t insert_lock = PTHREAD_MUTEX_INITIALIZER;
static family families[METRICS_FAMILIES];
static int n_families;
static int64_t started_ms;

void metrics_describe(const char *name, metric_type type, const char *help)
{
    if (started_ms == 0)
        started_ms = time_mono_ms();
    if (n_families < METRICS_FAMILIES)
        families[n_families++] = (family){name, type, help};
}

static uint64_t hash(const char *name, const char *labels)
{
    uint64_t h = 1469598103934665603ULL; /* FNV-1a */
    for (const char *p = name; *p; p++)
        h = (h ^ (unsigned char)*p) * 1099511628211ULL;
    h = (h ^ 0xFF) * 1099511628211ULL;
    for (const char *p = labels; *p; p++)
        h = (h ^ (unsigned char)*p) * 1099511628211ULL;
    return h;
}

static bool key_is(const char *key, const char *name, const char *labels)
{
    size_t n = strlen(name);
    return strncmp(key, name, n) == 0 && key[n] == '\0' && strcmp(key + n + 1, labels) == 0;
}

/* Finds or creates the series; NULL when the table is full. */
static series *find(const char *name, const char *labels, metric_type type, bool create)
{
    uint64_t h = hash(name, labels);
    for (int pass = 0; pass < 2; pass++) {
        for (size_t i = 0; i < METRICS_SLOTS; i++) {
            series *s = &slots[(h + i) & (METRICS_SLOTS - 1)];
            const char *key = atomic_load_explicit(&s->key, memory_order_acquire);
            if (key == NULL)
                break; /* not present */
            if (key_is(key, name, labels))
                return s;
        }
        if (!create || pass == 1)
            return NULL;
        /* Insert under the lock, then look again (another thread may have). */
        pthread_mutex_lock(&insert_lock);
        series *found = NULL;
        for (size_t i = 0; i < METRICS_SLOTS && found == NULL; i++) {
            series *s = &slots[(h + i) & (METRICS_SLOTS - 1)];
            const char *key = atomic_load_explicit(&s->key, memory_order_acquire);
            if (key != NULL && key_is(key, name, labels)) {
                found = s;
            } else if (key == NULL) {
                size_t nlen = strlen(name), llen = strlen(labels);
                char *k = malloc(nlen + llen + 2);
                if (k != NULL) {
                    memcpy(k, name, nlen + 1);
                    memcpy(k + nlen + 1, labels, llen + 1);
                    s->type = type;
                    atomic_store_explicit(&s->key, k, memory_order_release);
                    found = s;
                }
                break;
            }
        }
        pthread_mutex_unlock(&insert_lock);
        return found;
    }
    return NULL;
}

void metrics_count(const char *name, const char *labels, uint64_t v)
{
    series *s = find(name, labels, METRIC_COUNTER, true);
    if (s != NULL)
        atomic_fetch_add_explicit(&s->value, (int64_t)v, memory_order_relaxed);
}

void metrics_gauge(const char *name, const char *labels, int64_t v)
{
    series *s = find(name, labels, METRIC_GAUGE, true);
    if (s != NULL)
        atomic_store_explicit(&s->value, v, memory_order_relaxed);
}

void metrics_observe(const char *name, const char *labels, double seconds)
{
    series *s = find(name, labels, METRIC_HISTOGRAM, true);
    if (s == NULL)
        return;
    for (size_t b = 0; b < N_BUCKETS; b++)
        if (seconds <= bucket_bounds[b]) {
            atomic_fetch_add_explicit(&s->buckets[b], 1, memory_order_relaxed);
            break;
        }
    atomic_fetch_add_explicit(&s->sum_us, (uint64_t)(seconds * 1e6), memory_order_relaxed);
    atomic_fetch_add_explicit(&s->value, 1, memory_order_relaxed);
}

int64_t metrics_value(const char *name, const char *labels)
{
    series *s = find(name, labels, METRIC_COUNTER, false);
    return s != NULL ? atomic_load(&s->value) : 0;
}

typedef struct out {
    char *buf;
    size_t len, cap;
    bool failed;
} out;

static void emit(out *o, const char *fmt, ...) __attribute__((format(printf, 2, 3)));

static void emit(out *o, const char *fmt, ...)
{
    for (;;) {
        va_list ap;
        va_start(ap, fmt);
        int n = vsnprintf(o->buf + o->len, o->cap - o->len, fmt, ap);
        va_end(ap);
        if (n < 0) {
            o->failed = true;
            return;
        }
        if ((size_t)n < o->cap - o->len) {
            o->len += (size_t)n;
            return;
        }
        size_t cap = (o->cap + (size_t)n + 1) * 2;
        char *grown = realloc(o->buf, cap);
        if (grown == NULL) {
            o->failed = true;
            return;
        }
        o->buf = grown;
        o->cap = cap;
    }
}

static const char *type_name(metric_type t)
{
    return t == METRIC_COUNTER ? "counter" : t == METRIC_GAUGE ? "gauge" : "histogram";
}

/* Labels with one more appended: {a="1",le="0.5"}. */
static void emit_labels(out *o, const char *labels, const char *extra)
{
    if (labels[0] == '\0' && extra == NULL)
        return;
    emit(o, "{%s%s%s}", labels, labels[0] != '\0' && extra != NULL ? "," : "",
         extra != NULL ? extra : "");
}

static void emit_series(out *o, const char *name, const char *labels, series *s)
{
    if (s->type != METRIC_HISTOGRAM) {
        emit(o, "%s", name);
        emit_labels(o, labels, NULL);
        emit(o, " %lld\n", (long long)atomic_load(&s->value));
        return;
    }
    uint64_t cumulative = 0;
    char le[48];
    for (size_t b = 0; b < N_BUCKETS; b++) {
        cumulative += atomic_load(&s->buckets[b]);
        snprintf(le, sizeof le, "le=\"%g\"", bucket_bounds[b]);
        emit(o, "%s_bucket", name);
        emit_labels(o, labels, le);
        emit(o, " %llu\n", (unsigned long long)cumulative);
    }
    /* +Inf is the count, read last, so buckets never exceed it... read the
     * count first instead would allow bucket > count; take the larger. */
    uint64_t count = (uint64_t)atomic_load(&s->value);
    if (count < cumulative)
        count = cumulative;
    emit(o, "%s_bucket", name);
    emit_labels(o, labels, "le=\"+Inf\"");
    emit(o, " %llu\n%s_sum", (unsigned long long)count, name);
    emit_labels(o, labels, NULL);
    emit(o, " %.6f\n%s_count", (double)atomic_load(&s->sum_us) / 1e6, name);
    emit_labels(o, labels, NULL);
    emit(o, " %llu\n", (unsigned long long)count);
}

/* Resident set size and thread count from /proc/self/status. */
static void process_stats(int64_t *rss_bytes, int64_t *threads)
{
    *rss_bytes = 0;
    *threads = 0;
    FILE *f = fopen("/proc/self/status", "r");
    if (f == NULL)
        return;
    char line[256];
    long long v;
    while (fgets(line, sizeof line, f) != NULL) {
        if (sscanf(line, "VmRSS: %lld kB", &v) == 1)
            *rss_bytes = v * 1024;
        else if (sscanf(line, "Threads: %lld", &v) == 1)
            *threads = v;
    }
    fclose(f);
}

char *metrics_render(void)
{
    out o = {.buf = malloc(16384), .cap = 16384};
    if (o.buf == NULL)
        return NULL;
    o.buf[0] = '\0';
    bool *done = calloc(METRICS_SLOTS, sizeof *done);
    if (done == NULL) {
        free(o.buf);
        return NULL;
    }
    /* Family by family, so each family's samples follow its TYPE line. */
    for (int f = 0; f <= n_families; f++) {
        bool header = false;
        for (size_t i = 0; i < METRICS_SLOTS; i++) {
            const char *key = atomic_load_explicit(&slots[i].key, memory_order_acquire);
            if (key == NULL || done[i])
                continue;
            if (f < n_families && strcmp(key, families[f].name) != 0)
                continue;
            if (f < n_families && !header) {
                emit(&o, "# HELP %s %s\n# TYPE %s %s\n", families[f].name, families[f].help,
                     families[f].name, type_name(families[f].type));
                header = true;
            }
            done[i] = true;
            emit_series(&o, key, key + strlen(key) + 1, &slots[i]);
        }
    }
    free(done);
    int64_t rss, threads;
    process_stats(&rss, &threads);
    emit(&o,
         "# HELP process_resident_memory_bytes Resident memory size in bytes.\n"
         "# TYPE process_resident_memory_bytes gauge\nprocess_resident_memory_bytes %lld\n"
         "# HELP process_threads Threads of this process.\n"
         "# TYPE process_threads gauge\nprocess_threads %lld\n"
         "# HELP process_uptime_seconds Seconds since the program started.\n"
         "# TYPE process_uptime_seconds gauge\nprocess_uptime_seconds %.3f\n",
         (long long)rss, (long long)threads,
         started_ms ? (double)(time_mono_ms() - started_ms) / 1000.0 : 0.0);
    if (o.failed) {
        free(o.buf);
        return NULL;
    }
    return o.buf;
}
