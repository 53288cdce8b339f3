/* One line per event on stderr, key=value, with the service and request id. */
#ifndef SHOP_LOG_H
#define SHOP_LOG_H

typedef enum log_level { LOG_DEBUG, LOG_INFO, LOG_WARN, LOG_ERROR } log_level;

/* Names the program in every line. Call once in main before threads start.
 * SHOP_LOG_LEVEL (debug|info|warn|error, default info) sets the threshold. */
void log_init(const char *service);

/* Writes "ts=... level=... service=... rid=... msg="..."" plus a newline.
 * rid may be NULL. The message is printf-formatted; quotes and control
 * characters in it are escaped so that a line is always one line. */
void log_msg(log_level level, const char *rid, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));

#define log_info(rid, ...) log_msg(LOG_INFO, (rid), __VA_ARGS__)
#define log_warn(rid, ...) log_msg(LOG_WARN, (rid), __VA_ARGS__)
#define log_error(rid, ...) log_msg(LOG_ERROR, (rid), __VA_ARGS__)
#define log_debug(rid, ...) log_msg(LOG_DEBUG, (rid), __VA_ARGS__)

#endif
