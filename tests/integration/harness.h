/* Integration-test harness: starts the real binaries on loopback ports picked
 * per run, with temp data, and talks HTTP to them as a client would. */
#ifndef SHOP_HARNESS_H
#define SHOP_HARNESS_H

#include <stdbool.h>
#include <sys/types.h>

#include <cjson/cJSON.h>

typedef struct svc_proc {
    pid_t pid;
    int port;
    char name[32];
    char log_path[512];
} svc_proc;

typedef struct hresp {
    long status;            /* HTTP status, or 0 on a transport error */
    char *body;             /* NUL-terminated (malloc'd) */
    cJSON *json;            /* parsed body, or NULL */
    char content_type[128];
    char headers[4096];     /* raw response header block */
    long ms;                /* how long the call took */
} hresp;

/* A TCP port on 127.0.0.1 that was free a moment ago. */
int harness_free_port(void);

/* A fresh temp directory (malloc'd path; removed by harness_rmdir). */
char *harness_tmpdir(void);
void harness_rmdir(char *dir); /* rm -rf dir, then free(dir) */

/* The directory of the binaries: $SHOP_BIN_DIR, default "build/bin". */
const char *harness_bin_dir(void);

/* Starts <bin dir>/<binary> with the current environment plus env
 * ("K=V" strings, NULL-terminated; may be NULL), stdout and stderr to
 * p->log_path (set it first, or it goes to /tmp). Waits up to 15 s for
 * GET /health/live on port to answer 200. p->port must be set by the
 * caller (it must match the port env given). Returns false if it never
 * came up. */
bool harness_start(svc_proc *p, const char *binary, const char *const *env);

/* SIGTERM and wait (SIGKILL after 5 s). Returns milliseconds it took to exit.
 * Works from a forked test on a process its parent started (an unchecked
 * fixture): then the process stays a zombie until the parent reaps it.
 * A process started inside a test must be stopped inside that test, or it
 * outlives the test. */
long harness_stop(svc_proc *p);

/* kill -9 and reap. */
void harness_kill9(svc_proc *p);

/* One HTTP request to 127.0.0.1:port. body may be NULL. headers is a
 * NULL-terminated list of "Name: value" lines, or NULL. out may be NULL.
 * Returns the status (0 on transport error). Timeout 30 s. */
long harness_req(const char *method, int port, const char *path, const char *body,
                 const char *const *headers, hresp *out);
void hresp_free(hresp *r);

/* Shorthand: GET port+path, returns the parsed JSON (caller cJSON_Deletes) or
 * NULL; *status gets the status when status is non-NULL. */
cJSON *harness_get_json(int port, const char *path, long *status);

/* Integer member of a JSON object, or -1 when absent (for assertions). */
long long harness_int(const cJSON *obj, const char *name);

/* True when the raw response headers contain name (case-insensitive)
 * with value (exact, case-sensitive) when value is non-NULL. */
bool harness_has_header(const hresp *r, const char *name, const char *value);

#endif
