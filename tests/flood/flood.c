/* flood: holds idle, kept-alive-then-idle and slowloris connections against a
 * server for a while (replacing those the server closes, so the pressure
 * stays constant) and reports how many the server closed and after how
 * long. Usage: --help. */
#include <errno.h>
#include <getopt.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "flood_conn.h"

static volatile sig_atomic_t interrupted;

static void on_signal(int sig)
{
    (void)sig;
    interrupted = 1;
}

static void usage(FILE *out)
{
    fprintf(out, "usage: flood --port P [--host A] [--idle N] [--kept N] [--slow N] [--seconds D]\n"
                 "             [--interval-ms MS] [--no-reconnect] [--every S]\n"
                 "  --idle N        connections that connect and send nothing (default 1000)\n"
                 "  --kept N        connections that send one GET /health/live, then idle (0)\n"
                 "  --slow N        slowloris: one header byte per interval, never done (100)\n"
                 "  --seconds D     how long to hold them (default 30)\n"
                 "  --interval-ms   slowloris pace (default 1000)\n"
                 "  --no-reconnect  do not replace connections the server closed\n"
                 "  --every S       print the counts every S seconds (default 5; 0: never)\n"
                 "Prints 'flood: holding ...' once every connection is open, then one\n"
                 "'flood-result kind=...' line per kind at the end.\n"
                 "exit: 0 done, 1 cannot start, 2 usage, 3 not every connection could be\n"
                 "opened within 15 s (the flood went on anyway)\n");
}

static bool parse_int(const char *s, long lo, long hi, int *out)
{
    char *end;
    errno = 0;
    long v = strtol(s, &end, 10);
    if (errno != 0 || end == s || *end != '\0' || v < lo || v > hi)
        return false;
    *out = (int)v;
    return true;
}

static void print_counts(const flood_stats *st)
{
    printf("flood: %5.1f s:", (double)st->elapsed_ms / 1000);
    for (int k = 0; k < FLOOD_N_KINDS; k++) {
        const flood_kind_stats *s = &st->k[k];
        if (s->opened + s->connect_failed == 0)
            continue;
        printf("  %s open %ld closed %ld failed %ld", flood_kind_name((flood_kind)k), s->open_now,
               s->closed, s->connect_failed);
    }
    printf("\n");
    fflush(stdout);
}

static void print_result(const flood_stats *st)
{
    for (int k = 0; k < FLOOD_N_KINDS; k++) {
        const flood_kind_stats *s = &st->k[k];
        if (s->opened + s->connect_failed == 0)
            continue;
        printf("flood-result kind=%s opened=%ld closed_by_server=%ld answered=%ld "
               "open_at_end=%ld connect_failed=%ld life_ms_min=%ld life_ms_p50=%ld "
               "life_ms_max=%ld first_close_ms=%ld last_close_ms=%ld bytes_sent=%ld\n",
               flood_kind_name((flood_kind)k), s->opened, s->closed, s->answered, s->open_now,
               s->connect_failed, s->life_min_ms, s->life_p50_ms, s->life_max_ms, s->first_close_ms,
               s->last_close_ms, s->bytes_sent);
    }
    fflush(stdout);
}

static void sleep_ms(long ms)
{
    struct timespec ts = {.tv_sec = ms / 1000, .tv_nsec = (ms % 1000) * 1000000L};
    nanosleep(&ts, NULL);
}

int main(int argc, char **argv)
{
    static const struct option longs[] = {
        {"port", required_argument, NULL, 'p'},
        {"host", required_argument, NULL, 'H'},
        {"idle", required_argument, NULL, 'i'},
        {"kept", required_argument, NULL, 'k'},
        {"slow", required_argument, NULL, 's'},
        {"seconds", required_argument, NULL, 'd'},
        {"interval-ms", required_argument, NULL, 'b'},
        {"no-reconnect", no_argument, NULL, 'n'},
        {"every", required_argument, NULL, 'e'},
        {"help", no_argument, NULL, 'h'},
        {NULL, 0, NULL, 0},
    };
    flood_opts o = {.n = {[FLOOD_IDLE] = 1000, [FLOOD_SLOW] = 100},
                    .reconnect = true,
                    .byte_interval_ms = 1000};
    int seconds = 30, every = 5, ch;
    while ((ch = getopt_long(argc, argv, "", longs, NULL)) != -1) {
        bool ok = true;
        switch (ch) {
        case 'p':
            ok = parse_int(optarg, 1, 65535, &o.port);
            break;
        case 'H':
            o.host = optarg;
            break;
        case 'i':
            ok = parse_int(optarg, 0, 100000, &o.n[FLOOD_IDLE]);
            break;
        case 'k':
            ok = parse_int(optarg, 0, 100000, &o.n[FLOOD_KEPT]);
            break;
        case 's':
            ok = parse_int(optarg, 0, 100000, &o.n[FLOOD_SLOW]);
            break;
        case 'd':
            ok = parse_int(optarg, 1, 86400, &seconds);
            break;
        case 'b':
            ok = parse_int(optarg, 1, 600000, &o.byte_interval_ms);
            break;
        case 'n':
            o.reconnect = false;
            break;
        case 'e':
            ok = parse_int(optarg, 0, 86400, &every);
            break;
        case 'h':
            usage(stdout);
            return 0;
        default:
            ok = false;
            break;
        }
        if (!ok) {
            usage(stderr);
            return 2;
        }
    }
    if (optind != argc || o.port == 0) {
        usage(stderr);
        return 2;
    }
    struct sigaction sa = {.sa_handler = on_signal};
    sigaction(SIGINT, &sa, NULL);
    sigaction(SIGTERM, &sa, NULL);
    long total = (long)o.n[0] + o.n[1] + o.n[2];
    long nofile = flood_raise_nofile();
    if (nofile < total + 16) {
        fprintf(stderr, "flood: %ld connections need more open files than the limit %ld\n", total,
                nofile);
        return 1;
    }
    flood *f = flood_start(&o);
    if (f == NULL) {
        fprintf(stderr, "flood: cannot start (host %s?)\n", o.host ? o.host : "127.0.0.1");
        return 1;
    }
    int rc = 0;
    flood_stats st;
    if (!flood_wait_open(f, 15000)) {
        /* The server cannot take them all: keep trying, as an attacker would. */
        flood_snapshot(f, &st);
        fprintf(stderr, "flood: not every connection could be opened within 15 s\n");
        print_counts(&st);
        rc = 3;
    } else {
        flood_snapshot(f, &st);
        printf("flood: holding %ld idle, %ld kept, %ld slow connections to %s:%d after %ld ms\n",
               (long)o.n[FLOOD_IDLE], (long)o.n[FLOOD_KEPT], (long)o.n[FLOOD_SLOW],
               o.host ? o.host : "127.0.0.1", o.port, st.elapsed_ms);
        fflush(stdout);
    }
    long next_print = every * 1000L;
    while (!interrupted) {
        flood_snapshot(f, &st);
        if (st.elapsed_ms >= seconds * 1000L)
            break;
        if (every > 0 && st.elapsed_ms >= next_print) {
            print_counts(&st);
            next_print += every * 1000L;
        }
        sleep_ms(100);
    }
    flood_stop(f, &st);
    print_counts(&st);
    print_result(&st);
    return rc;
}
