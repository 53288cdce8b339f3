/* Configuration from the environment, with defaults. */
#include "config.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

const char *config_str(const char *name, const char *def)
{
    const char *v = getenv(name);
    return (v != NULL && v[0] != '\0') ? v : def;
}

int64_t config_int(const char *name, int64_t def, int64_t min, int64_t max)
{
    const char *v = config_str(name, NULL);
    if (v == NULL)
        return def;
    char *end = NULL;
    errno = 0;
    long long n = strtoll(v, &end, 10);
    if (errno != 0 || end == v || *end != '\0' || n < min || n > max) {
        fprintf(stderr, "config: %s=%s is not an integer in %lld..%lld\n", name, v,
                (long long)min, (long long)max);
        exit(2);
    }
    return n;
}

bool config_bool(const char *name, bool def)
{
    const char *v = config_str(name, NULL);
    if (v == NULL)
        return def;
    if (!strcmp(v, "1") || !strcmp(v, "true") || !strcmp(v, "yes"))
        return true;
    if (!strcmp(v, "0") || !strcmp(v, "false") || !strcmp(v, "no"))
        return false;
    fprintf(stderr, "config: %s=%s is not a boolean (1/0, true/false, yes/no)\n", name, v);
    exit(2);
}

static char *read_secret_file(const char *var, const char *path)
{
    FILE *f = fopen(path, "rb");
    char *buf = NULL;
    if (f == NULL)
        goto fail;
    buf = calloc(1, 4097);
    if (buf == NULL)
        goto fail;
    size_t n = fread(buf, 1, 4096, f);
    if (ferror(f))
        goto fail;
    fclose(f);
    if (n > 0 && buf[n - 1] == '\n')
        buf[--n] = '\0';
    if (n > 0 && buf[n - 1] == '\r')
        buf[--n] = '\0';
    return buf;
fail:
    fprintf(stderr, "config: cannot read %s=%s: %s\n", var, path, strerror(errno));
    free(buf);
    if (f != NULL)
        fclose(f);
    exit(2);
}

char *config_secret(const char *name)
{
    char file_var[128];
    snprintf(file_var, sizeof file_var, "%s_FILE", name);
    const char *path = config_str(file_var, NULL);
    if (path != NULL)
        return read_secret_file(file_var, path);
    const char *v = config_str(name, NULL);
    return v != NULL ? strdup(v) : NULL;
}

int config_port(const char *port_env, int offset)
{
    int64_t base = config_int("SHOP_PORT_BASE", 8080, 1, 65535 - 6);
    return (int)config_int(port_env, base + offset, 0, 65535);
}

char *config_db_path(const char *db_env, const char *file)
{
    const char *explicit_path = config_str(db_env, NULL);
    if (explicit_path != NULL)
        return strdup(explicit_path);
    const char *dir = config_str("SHOP_DATA_DIR", "./data");
    if (mkdir(dir, 0755) != 0 && errno != EEXIST)
        fprintf(stderr, "config: cannot create %s: %s\n", dir, strerror(errno));
    size_t len = strlen(dir) + strlen(file) + 2;
    char *path = malloc(len);
    if (path != NULL)
        snprintf(path, len, "%s/%s", dir, file);
    return path;
}
