/*
 * api/openapi.c - GET /openapi.json: the OpenAPI 3.1 document of this API.
 *
 * docs/openapi.json is compiled into the binary at build time (meson runs
 * scripts/embed.py, which turns the file into the byte array below), so the
 * document always matches the binary and no file is needed at run time.
 * The first request parses it once, sets info.title and info.version from
 * APP_NAME and APP_VERSION (the values in the JSON file are only defaults),
 * and keeps the serialised text; every later request copies that text from
 * memory on the HTTP thread.  The text lives until the process exits.
 */
#include <jansson.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdlib.h>
#include <string.h>

#include "api/api.h"
#include "app.h"
#include "config.h"
#include "log.h"

/* Generated from docs/openapi.json by scripts/embed.py (meson.build). */
extern const unsigned char openapi_json[];
extern const size_t openapi_json_len;

static pthread_mutex_t build_lock = PTHREAD_MUTEX_INITIALIZER;
static _Atomic(char *) document;

/* The served text: the embedded document with APP_NAME / APP_VERSION; NULL on failure. */
static char *build(const struct config *cfg)
{
	json_error_t err;
	json_t *doc, *info;
	char *text;

	doc = json_loadb((const char *)openapi_json, openapi_json_len, 0, &err);
	if (!doc) {
		log_error("embedded openapi.json: line %d: %s", err.line, err.text);
		return NULL;
	}
	info = json_object_get(doc, "info");
	if (json_is_object(info)) {
		json_object_set_new(info, "title", json_string(cfg->app_name));
		json_object_set_new(info, "version", json_string(cfg->app_version));
	}
	text = json_dumps(doc, JSON_COMPACT | JSON_PRESERVE_ORDER);
	json_decref(doc);
	return text;
}

void api_openapi(struct req *r, struct resp *rs)
{
	char *text = atomic_load_explicit(&document, memory_order_acquire);

	if (!text) {
		pthread_mutex_lock(&build_lock);
		text = atomic_load_explicit(&document, memory_order_relaxed);
		if (!text) {
			text = build(r->app->cfg);
			atomic_store_explicit(&document, text, memory_order_release);
		}
		pthread_mutex_unlock(&build_lock);
	}
	if (!text) {
		resp_detail(rs, 500, "Internal Server Error");
		return;
	}
	resp_body(rs, 200, "application/json", text, strlen(text));
	resp_header(rs, "Cache-Control", "public, max-age=300");
}
