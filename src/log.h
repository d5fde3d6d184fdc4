/*
 * log.h - leveled logging to stdout, as text or one JSON object per line.
 *
 * log_init() is called once with the configuration before any thread
 * starts; after that the functions are thread-safe (each line is written
 * with a single fwrite under a lock, so lines never interleave).  Callers
 * must never pass secrets (passwords, tokens, keys) in a message.
 */
#ifndef AUTH_LOG_H
#define AUTH_LOG_H

#include <stdarg.h>
#include <stddef.h>

#include "config.h"

void log_init(enum log_level level, enum log_format format);
int log_enabled(enum log_level level);

/* A message, optionally tagged with a request id (NULL for none). */
void log_msg(enum log_level level, const char *request_id, const char *fmt, ...)
        __attribute__((format(printf, 3, 4)));

#define log_debug(...)   log_msg(LOG_DEBUG, NULL, __VA_ARGS__)
#define log_info(...)    log_msg(LOG_INFO, NULL, __VA_ARGS__)
#define log_warning(...) log_msg(LOG_WARNING, NULL, __VA_ARGS__)
#define log_error(...)   log_msg(LOG_ERROR, NULL, __VA_ARGS__)

/* One access-log line per request. */
void log_access(const char *method, const char *path, int status, double duration_ms,
                const char *request_id, const char *client);

#endif
