/* The whole shop for an integration suite (stack.h). */
#include "stack.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <check.h>

static const struct {
    const char *binary;
    const char *port_env;
    const char *url_env;
    const char *db_env; /* NULL: no database */
    const char *db_file;
} progs[STACK_N_PROGS] = {
    [STACK_DP] = {"data-platform", "DATA_PLATFORM_PORT", "DATA_PLATFORM_URL",
                  "DATA_PLATFORM_DB_PATH", "data-platform.db"},
    [STACK_ITEM] = {"item-service", "ITEM_PORT", "ITEM_URL", "ITEM_DB_PATH", "item.db"},
    [STACK_USER] = {"user-service", "USER_PORT", "USER_URL", "USER_DB_PATH", "user.db"},
    [STACK_COUPON] = {"coupon-service", "COUPON_PORT", "COUPON_URL", "COUPON_DB_PATH", "coupon.db"},
    [STACK_ORDER] = {"order-service", "ORDER_PORT", "ORDER_URL", "ORDER_DB_PATH", "order.db"},
    [STACK_PAYMENT] = {"payment-service", "PAYMENT_PORT", "PAYMENT_URL", "PAYMENT_DB_PATH",
                       "payment.db"},
    [STACK_GW] = {"api-gateway", "GATEWAY_PORT", "GATEWAY_URL", NULL, NULL},
};

/* Appends each "K=V" of list (NULL-ended, may be NULL) to s's environment. */
static void add_env(shop_stack *s, size_t *n, const char *const *list)
{
    for (const char *const *e = list; e != NULL && *e != NULL; e++) {
        ck_assert_uint_lt(*n, STACK_ENV_MAX);
        snprintf(s->env_buf[(*n)++], sizeof s->env_buf[0], "%s", *e);
    }
}

const char *const *stack_env(shop_stack *s, const char *const *extra)
{
    size_t n = 0;
    for (int i = 0; i < STACK_N_PROGS; i++) {
        snprintf(s->env_buf[n++], sizeof s->env_buf[0], "%s=%d", progs[i].port_env,
                 s->procs[i].port);
        snprintf(s->env_buf[n++], sizeof s->env_buf[0], "%s=http://127.0.0.1:%d", progs[i].url_env,
                 s->procs[i].port);
        if (progs[i].db_env != NULL)
            snprintf(s->env_buf[n++], sizeof s->env_buf[0], "%s=%s/%s", progs[i].db_env,
                     s->data_dir, progs[i].db_file);
    }
    snprintf(s->env_buf[n++], sizeof s->env_buf[0], "SHOP_DATA_DIR=%s", s->data_dir);
    snprintf(s->env_buf[n++], sizeof s->env_buf[0], "SHOP_ADMIN_TOKEN=%s", STACK_ADMIN_TOKEN);
    snprintf(s->env_buf[n++], sizeof s->env_buf[0], "SHOP_INTERNAL_TOKEN=%s", STACK_INTERNAL_TOKEN);
    add_env(s, &n, s->own_env);
    add_env(s, &n, extra);
    for (size_t i = 0; i < n; i++)
        s->env[i] = s->env_buf[i];
    s->env[n] = NULL;
    return s->env;
}

void stack_up(shop_stack *s)
{
    s->data_dir = harness_tmpdir();
    ck_assert_ptr_nonnull(s->data_dir);
    memset(s->procs, 0, sizeof s->procs);
    for (int i = 0; i < STACK_N_PROGS; i++) {
        bool taken;
        do { /* distinct ports: the kernel may hand one out twice */
            s->procs[i].port = harness_free_port();
            taken = false;
            for (int j = 0; j < i; j++)
                taken = taken || s->procs[j].port == s->procs[i].port;
        } while (taken);
        snprintf(s->procs[i].log_path, sizeof s->procs[i].log_path, "%s/%s.log", s->data_dir,
                 progs[i].binary);
    }
    const char *const *env = stack_env(s, NULL);
    for (int i = 0; i < STACK_N_PROGS; i++)
        ck_assert_msg(harness_start(&s->procs[i], progs[i].binary, env), "%s did not start (%s)",
                      progs[i].binary, s->procs[i].log_path);
}

void stack_down(shop_stack *s)
{
    for (int i = STACK_N_PROGS - 1; i >= 0; i--)
        harness_stop(&s->procs[i]);
    if (getenv("SHOP_IT_KEEP") != NULL)
        fprintf(stderr, "%s: data and logs kept in %s\n", s->suite, s->data_dir);
    else
        harness_rmdir(s->data_dir);
    s->data_dir = NULL;
}
