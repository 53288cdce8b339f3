/* One line per event on stderr, key=value, with the service and request id. */
#include "log.h"

#include <stdarg.h>
#include <stdio.h>
#include <string.h>
#include <time.h>

#include "config.h"
#include "timeutil.h"

static const char *log_service = "shop";
static log_level log_threshold = LOG_INFO;

static const char *const level_names[] = {"debug", "info", "warn", "error"};

void log_init(const char *service)
{
    log_service = service;
    const char *lvl = config_str("SHOP_LOG_LEVEL", "info");
    for (int i = 0; i < 4; i++)
        if (strcmp(lvl, level_names[i]) == 0)
            log_threshold = (log_level)i;
}

void log_msg(log_level level, const char *rid, const char *fmt, ...)
{
    if (level < log_threshold)
        return;
    char msg[1024];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(msg, sizeof msg, fmt, ap);
    va_end(ap);

    /* Escape so that one event is always one line. */
    char esc[2 * sizeof msg];
    size_t j = 0;
    for (size_t i = 0; msg[i] != '\0' && j + 2 < sizeof esc; i++) {
        unsigned char c = (unsigned char)msg[i];
        if (c == '"' || c == '\\') {
            esc[j++] = '\\';
            esc[j++] = (char)c;
        } else if (c < 0x20 || c == 0x7f) {
            esc[j++] = '?';
        } else {
            esc[j++] = (char)c;
        }
    }
    esc[j] = '\0';

    int64_t ms = time_now_ms();
    time_t secs = (time_t)(ms / 1000);
    struct tm tm;
    gmtime_r(&secs, &tm);
    char ts[32];
    strftime(ts, sizeof ts, "%Y-%m-%dT%H:%M:%S", &tm);
    /* One fprintf per line: stdio locks the stream, so lines never interleave. */
    fprintf(stderr, "ts=%s.%03dZ level=%s service=%s rid=%s msg=\"%s\"\n", ts, (int)(ms % 1000),
            level_names[level], log_service, rid != NULL ? rid : "-", esc);
}
