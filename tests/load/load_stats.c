/* Latency percentiles and answer counters for shop-load (see load_stats.h). */
#include "load_stats.h"

#include <math.h>
#include <stdlib.h>
#include <string.h>

bool load_lat_add(load_lat *l, int64_t us)
{
    if (l->n == l->cap) {
        size_t cap = l->cap ? l->cap * 2 : 1024;
        int64_t *grown = realloc(l->us, cap * sizeof *grown);
        if (grown == NULL)
            return false;
        l->us = grown;
        l->cap = cap;
    }
    l->us[l->n++] = us;
    l->sorted = false;
    return true;
}

bool load_lat_merge(load_lat *into, const load_lat *from)
{
    for (size_t i = 0; i < from->n; i++)
        if (!load_lat_add(into, from->us[i]))
            return false;
    return true;
}

static int cmp_i64(const void *a, const void *b)
{
    int64_t x = *(const int64_t *)a, y = *(const int64_t *)b;
    return (x > y) - (x < y);
}

static void lat_sort(load_lat *l)
{
    if (!l->sorted && l->n > 1)
        qsort(l->us, l->n, sizeof *l->us, cmp_i64);
    l->sorted = true;
}

int64_t load_lat_percentile(load_lat *l, double p)
{
    if (l->n == 0)
        return 0;
    lat_sort(l);
    if (p <= 0)
        return l->us[0];
    /* Nearest rank: ceil(p/100 * n), 1-based; the epsilon keeps 95% of 20
     * at rank 19 despite binary fractions. */
    double rank = ceil(p / 100.0 * (double)l->n - 1e-9);
    size_t r = rank < 1 ? 1 : (size_t)rank;
    if (r > l->n)
        r = l->n;
    return l->us[r - 1];
}

int64_t load_lat_max(load_lat *l)
{
    if (l->n == 0)
        return 0;
    lat_sort(l);
    return l->us[l->n - 1];
}

void load_lat_release(load_lat *l)
{
    free(l->us);
    memset(l, 0, sizeof *l);
}

bool load_counts_add(load_counts *c, const char *key, int64_t by)
{
    for (size_t i = 0; i < c->n; i++) {
        if (strcmp(c->e[i].key, key) == 0) {
            c->e[i].n += by;
            return true;
        }
    }
    if (c->n == c->cap) {
        size_t cap = c->cap ? c->cap * 2 : 16;
        load_count_entry *grown = realloc(c->e, cap * sizeof *grown);
        if (grown == NULL)
            return false;
        c->e = grown;
        c->cap = cap;
    }
    char *k = strdup(key);
    if (k == NULL)
        return false;
    c->e[c->n].key = k;
    c->e[c->n].n = by;
    c->n++;
    return true;
}

int64_t load_counts_get(const load_counts *c, const char *key)
{
    for (size_t i = 0; i < c->n; i++)
        if (strcmp(c->e[i].key, key) == 0)
            return c->e[i].n;
    return 0;
}

bool load_counts_merge(load_counts *into, const load_counts *from)
{
    for (size_t i = 0; i < from->n; i++)
        if (!load_counts_add(into, from->e[i].key, from->e[i].n))
            return false;
    return true;
}

static int cmp_entry(const void *a, const void *b)
{
    return strcmp(((const load_count_entry *)a)->key, ((const load_count_entry *)b)->key);
}

void load_counts_sort(load_counts *c)
{
    if (c->n > 1)
        qsort(c->e, c->n, sizeof *c->e, cmp_entry);
}

void load_counts_release(load_counts *c)
{
    for (size_t i = 0; i < c->n; i++)
        free(c->e[i].key);
    free(c->e);
    memset(c, 0, sizeof *c);
}
