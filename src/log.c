/*
 * log.c - leveled logging to stdout, as text or JSON lines.
 *
 * The level and format are set once by log_init() before threads start and
 * only read afterwards.  Each line is formatted into a local buffer and
 * written with one locked fwrite + fflush, so lines from different threads
 * never interleave and a crash loses at most the line being written.
 * JSON output escapes every string with jansson, so a message can never
 * break the line structure (log injection).
 */
#include "log.h"

#include <jansson.h>
#include <pthread.h>
#include <stdio.h>
#include <string.h>
#include <sys/time.h>
#include <time.h>

static enum log_level min_level = LOG_INFO;
static enum log_format out_format = LOG_FORMAT_TEXT;
static pthread_mutex_t out_lock = PTHREAD_MUTEX_INITIALIZER;

static const char *const level_names[] = {"DEBUG", "INFO", "WARNING", "ERROR", "CRITICAL"};

void log_init(enum log_level level, enum log_format format)
{
	min_level = level;
	out_format = format;
}

int log_enabled(enum log_level level)
{
	return level >= min_level;
}

static void timestamp(char *buf, size_t len)
{
	struct timeval tv;
	struct tm tm;

	gettimeofday(&tv, NULL);
	gmtime_r(&tv.tv_sec, &tm);
	snprintf(buf, len, "%04d-%02d-%02dT%02d:%02d:%02d.%03ldZ", tm.tm_year + 1900, tm.tm_mon + 1,
	         tm.tm_mday, tm.tm_hour, tm.tm_min, tm.tm_sec, (long)(tv.tv_usec / 1000));
}

static void emit(const char *line, size_t len)
{
	pthread_mutex_lock(&out_lock);
	fwrite(line, 1, len, stdout);
	fflush(stdout);
	pthread_mutex_unlock(&out_lock);
}

/* Replace control characters so one message is always one line. */
static void sanitize(char *s)
{
	for (; *s; s++)
		if ((unsigned char)*s < 0x20 && *s != '\t')
			*s = ' ';
}

static void emit_json(json_t *obj)
{
	char *s = json_dumps(obj, JSON_COMPACT | JSON_PRESERVE_ORDER | JSON_REAL_PRECISION(6));
	if (s) {
		size_t n = strlen(s);
		pthread_mutex_lock(&out_lock);
		fwrite(s, 1, n, stdout);
		fputc('\n', stdout);
		fflush(stdout);
		pthread_mutex_unlock(&out_lock);
		free(s);
	}
	json_decref(obj);
}

void log_msg(enum log_level level, const char *request_id, const char *fmt, ...)
{
	char msg[2048], ts[64], line[2400];
	va_list ap;
	int n;

	if (level < min_level)
		return;
	va_start(ap, fmt);
	vsnprintf(msg, sizeof(msg), fmt, ap);
	va_end(ap);
	timestamp(ts, sizeof(ts));

	if (out_format == LOG_FORMAT_JSON) {
		json_t *o = json_object();
		json_object_set_new(o, "ts", json_string(ts));
		json_object_set_new(o, "level", json_string(level_names[level]));
		json_object_set_new(o, "msg", json_string(msg));
		if (request_id)
			json_object_set_new(o, "request_id", json_string(request_id));
		emit_json(o);
		return;
	}
	sanitize(msg);
	if (request_id)
		n = snprintf(line, sizeof(line), "%s %-7s [%s] %s\n", ts, level_names[level],
		             request_id, msg);
	else
		n = snprintf(line, sizeof(line), "%s %-7s %s\n", ts, level_names[level], msg);
	if (n < 0)
		return;
	if ((size_t)n >= sizeof(line)) {
		n = sizeof(line) - 1;
		line[n - 1] = '\n';
	}
	emit(line, (size_t)n);
}

void log_access(const char *method, const char *path, int status, double duration_ms,
                const char *request_id, const char *client)
{
	if (LOG_INFO < min_level)
		return;
	if (out_format == LOG_FORMAT_JSON) {
		char ts[64];
		json_t *o = json_object();
		timestamp(ts, sizeof(ts));
		json_object_set_new(o, "ts", json_string(ts));
		json_object_set_new(o, "level", json_string("INFO"));
		json_object_set_new(o, "msg", json_string("request"));
		json_object_set_new(o, "method", json_string(method));
		/* Paths come from the wire: jansson refuses invalid UTF-8, keep a marker. */
		json_t *p = json_string(path);
		json_object_set_new(o, "path", p ? p : json_string("(invalid utf-8)"));
		json_object_set_new(o, "status", json_integer(status));
		json_object_set_new(o, "duration_ms", json_real(duration_ms));
		json_object_set_new(o, "request_id", json_string(request_id));
		json_object_set_new(o, "client", json_string(client));
		emit_json(o);
		return;
	}
	log_msg(LOG_INFO, request_id, "%s %s %d %.3fms client=%s", method, path, status,
	        duration_ms, client);
}
