/* Configuration from the environment, with defaults (12-factor style). */
#ifndef SHOP_CONFIG_H
#define SHOP_CONFIG_H

#include <stdbool.h>
#include <stdint.h>

/* The value of env NAME, or def when unset or empty. Never frees anything. */
const char *config_str(const char *name, const char *def);

/* Env NAME as an integer in [min, max], or def when unset or empty.
 * A value that is not such an integer stops the program with a message:
 * a typo in configuration must not silently become a default. */
int64_t config_int(const char *name, int64_t def, int64_t min, int64_t max);

/* Env NAME as a boolean ("1"/"true"/"yes" or "0"/"false"/"no"), else def. */
bool config_bool(const char *name, bool def);

/* A secret: the contents of the file named by NAME_FILE (one trailing newline
 * stripped) when that is set, else env NAME, else NULL. An unreadable file
 * stops the program. Returns a malloc'd string (free(3)) or NULL. */
char *config_secret(const char *name);

/* The port of a program: env port_env when set, else SHOP_PORT_BASE (default
 * 8080) + offset. */
int config_port(const char *port_env, int offset);

/* A database path: env db_env when set, else $SHOP_DATA_DIR/<file>
 * (SHOP_DATA_DIR defaults to ./data; the directory is created). Returns a
 * malloc'd string (free(3)). */
char *config_db_path(const char *db_env, const char *file);

#endif
