/* Error codes of the shop and their HTTP statuses: the one table from a
 * problem code (API.md) to a status and title, and the problem+json renderer. */
#ifndef SHOP_PROBLEM_H
#define SHOP_PROBLEM_H

#include <stddef.h>

/* Project-wide result of an action. Predicates return bool instead. */
typedef enum shop_err {
    SHOP_OK = 0,
    SHOP_EINVAL,     /* the caller sent something we refuse (400) */
    SHOP_ENOTFOUND,  /* the thing asked for does not exist (404) */
    SHOP_ECONFLICT,  /* the state forbids it (409) */
    SHOP_EUPSTREAM,  /* a peer could not be reached (503) */
    SHOP_ETIMEOUT,   /* a peer did not answer in time (504) */
    SHOP_EDB,        /* SQLite failed (500) */
    SHOP_ENOMEM,     /* allocation failed (500) */
} shop_err;

/* The HTTP status a problem code answers with, e.g. "OUT_OF_STOCK" -> 409.
 * Returns 500 for a code that is not in the table. */
int problem_status(const char *code);

/* The reason phrase for an HTTP status ("Conflict"); "Error" if unknown. */
const char *problem_title(int status);

/* Renders an RFC 9457 problem document:
 * {"type":"about:blank","title":..,"status":..,"code":..,"detail":..}.
 * detail may be NULL (then omitted). Returns a malloc'd NUL-terminated string
 * the caller frees with free(3), or NULL when out of memory. */
char *problem_render(int status, const char *code, const char *detail);

#endif
