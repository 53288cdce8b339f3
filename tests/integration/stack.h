/* The whole shop for an integration suite: the seven programs started on
 * loopback ports picked per run, with temp data, tied together by the
 * environment each gets (every port, URL and database path, the tokens).
 * A suite keeps one shop_stack and brings it up and down in an unchecked
 * fixture (in the parent), so the forked tests inherit the ports. */
#ifndef SHOP_STACK_H
#define SHOP_STACK_H

#include "harness.h"

#define STACK_ADMIN_TOKEN "it-admin-token"
#define STACK_INTERNAL_TOKEN "it-internal-token"

/* The programs, in start order (the gateway last). */
enum {
    STACK_DP,
    STACK_ITEM,
    STACK_USER,
    STACK_COUPON,
    STACK_ORDER,
    STACK_PAYMENT,
    STACK_GW,
    STACK_N_PROGS
};

/* Entries of an environment: port, URL and database path of each program,
 * four of the stack's own, and room for the suite's. */
#define STACK_ENV_MAX (4 * STACK_N_PROGS + 8)

typedef struct shop_stack {
    /* Set by the suite. */
    const char *suite;          /* names it when SHOP_IT_KEEP keeps the data */
    const char *const *own_env; /* "K=V" every program also gets (NULL-ended), or NULL */
    /* Set by stack_up. */
    svc_proc procs[STACK_N_PROGS]; /* by STACK_DP.. */
    char *data_dir;                /* the databases and the programs' logs */
    char env_buf[STACK_ENV_MAX][600];
    const char *env[STACK_ENV_MAX + 1];
} shop_stack;

/* Picks distinct ports and a fresh data directory and starts every program
 * with stack_env(s, NULL), asserting each came up. */
void stack_up(shop_stack *s);

/* Stops every program (the gateway first) and removes the data directory,
 * or keeps it and says where when SHOP_IT_KEEP is set. */
void stack_down(shop_stack *s);

/* The environment of a program of s (NULL-ended, in s: valid until the next
 * call): every program's port, URL and database path, SHOP_DATA_DIR, the
 * admin and internal tokens, s->own_env, then extra (NULL-ended, may be
 * NULL; a later entry overrides an earlier one of the same name). */
const char *const *stack_env(shop_stack *s, const char *const *extra);

#endif
