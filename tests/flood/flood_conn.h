/* The flood engine: hostile-but-legal TCP clients held against a server (idle
 * connections that send nothing, connections that send one request and then
 * idle, slowloris connections that send one header byte per interval), run
 * by one poll thread, with a record of when the server closed each one. Used
 * by the flood tool (tests/flood/flood.c) and the it_flood Check suite. */
#ifndef SHOP_FLOOD_CONN_H
#define SHOP_FLOOD_CONN_H

#include <stdbool.h>
#include <stdint.h>

/* What a connection does once connected. */
typedef enum flood_kind {
    FLOOD_IDLE, /* sends nothing: the server's request timeout closes it */
    FLOOD_KEPT, /* sends GET /health/live, reads the reply, then idles:
                 * the keep-alive timeout closes it */
    FLOOD_SLOW, /* slowloris: one byte of a header that never ends per
                 * interval: the request timeout (total header time) closes it */
    FLOOD_N_KINDS,
} flood_kind;

typedef struct flood_opts {
    const char *host; /* IPv4 address; default "127.0.0.1" */
    int port;
    int n[FLOOD_N_KINDS]; /* how many of each kind to hold */
    int byte_interval_ms; /* slowloris pace; default 1000 */
    bool reconnect;       /* replace a connection the server closed, so the
                           * pressure stays constant */
    int max_connecting;   /* connects in flight at once; default 256 */
} flood_opts;

/* What happened to the connections of one kind so far. Times in ms. */
typedef struct flood_kind_stats {
    long opened;         /* connections established */
    long connect_failed; /* refused, reset or not established within 10 s */
    long closed;         /* closed by the server (EOF or reset) */
    long answered;       /* of those, how many got bytes first (a reply,
                          * civetweb's 400 to a slowloris) */
    long open_now;       /* established and not closed */
    /* How long the server let a closed connection live: from established
     * (FLOOD_IDLE, FLOOD_SLOW) or from the reply (FLOOD_KEPT) to the close. */
    long life_min_ms, life_p50_ms, life_max_ms;
    long first_close_ms, last_close_ms; /* since flood_start; -1: none yet */
    long bytes_sent;
} flood_kind_stats;

typedef struct flood_stats {
    flood_kind_stats k[FLOOD_N_KINDS];
    long elapsed_ms;
} flood_stats;

typedef struct flood flood;

/* Starts the poll thread, which opens the connections at once (at most
 * max_connecting connects in flight). Returns NULL when the thread or memory
 * cannot be had. Release with flood_stop. */
flood *flood_start(const flood_opts *opts);

/* Waits until every connection asked for has been established once (or its
 * connect failed), at most timeout_ms. Returns true when all were
 * established. */
bool flood_wait_open(flood *f, int timeout_ms);

/* Copies the statistics so far into out. */
void flood_snapshot(flood *f, flood_stats *out);

/* Stops the thread, closes what is still open (not counted as server
 * closes), fills out (when non-NULL) and frees f. Accepts NULL. */
void flood_stop(flood *f, flood_stats *out);

/* "idle", "kept", "slow". */
const char *flood_kind_name(flood_kind k);

/* Raises the soft open-files limit to the hard one, so that a flood of
 * thousands of sockets fits. Returns the soft limit now in force. */
long flood_raise_nofile(void);

#endif
