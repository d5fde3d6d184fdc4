/*
 * fuzz_json.c - libFuzzer target for JSON request decoding (http/json.c).
 *
 * Input: the first line is the request's Content-Type header value, the
 * rest is the body.  The whole input also goes through json_parse_object()
 * directly, so bodies that start with a newline reach the parser too.
 *
 * Besides "never crash, never leak", the target checks the decoder's
 * promises: an accepted body is an object, no deeper than JSON_MAX_DEPTH,
 * and a failure always leaves a 415 or 422 answer with a JSON body.  The
 * field helpers and the FastAPI-shaped 422 rendering run on every object.
 */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include <jansson.h>

#include "arena.h"
#include "http/http.h"
#include "http/json.h"

/* Depth of nested objects/arrays: a scalar is 0, {} and [] are 1. */
static int depth(json_t *v)
{
	int max = 0, d;
	const char *key;
	json_t *item;
	size_t i;

	if (json_is_object(v)) {
		json_object_foreach(v, key, item)
		{
			(void)key;
			d = depth(item);
			if (d > max)
				max = d;
		}
		return max + 1;
	}
	if (json_is_array(v)) {
		json_array_foreach(v, i, item)
		{
			d = depth(item);
			if (d > max)
				max = d;
		}
		return max + 1;
	}
	return 0;
}

/* What a handler does with a decoded body: read fields, maybe answer 422. */
static void use_object(json_t *obj)
{
	struct verr v = {0};
	struct resp rs = {0};
	bool b;

	if (!json_is_object(obj) || depth(obj) > JSON_MAX_DEPTH)
		abort();
	(void)json_field_str(obj, "email", true, &v);
	(void)json_field_str(obj, "password", true, &v);
	(void)json_field_str(obj, "full_name", false, &v);
	(void)json_field_bool(obj, "is_active", &b, &v);
	if (verr_any(&v)) {
		verr_respond(&v, &rs);
		if (rs.status != 422 || rs.body == NULL)
			abort();
	}
	verr_free(&v);
	resp_reset(&rs);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	const char *buf = (const char *)data;
	const char *nl = memchr(buf, '\n', size);
	const char *err = NULL;
	struct http_kv header;
	struct req r = {0};
	struct resp rs = {0};
	json_t *obj;
	char *body;

	/* 1. The parser alone, on the whole input. */
	obj = json_parse_object(buf, size, &err);
	if (obj)
		use_object(obj);
	else if (err == NULL)
		abort();
	json_decref(obj);

	/* 2. req_json on a request as the server builds it. */
	r.arena = arena_create();
	header.name = "Content-Type";
	header.value = arena_strndup(r.arena, buf, nl ? (size_t)(nl - buf) : size);
	r.headers = &header;
	r.n_headers = 1;
	r.method = "POST";
	r.path = "/api/v1/auth/register";
	r.body_len = nl ? size - (size_t)(nl + 1 - buf) : 0;
	body = arena_alloc(r.arena, r.body_len + 1);
	if (r.body_len)
		memcpy(body, nl + 1, r.body_len);
	r.body = body;

	obj = req_json(&r, &rs);
	if (obj) {
		if (rs.status != 0)
			abort();
		use_object(obj);
		json_decref(obj);
	} else if ((rs.status != 415 && rs.status != 422) || rs.body == NULL) {
		abort();
	}
	resp_reset(&rs);
	arena_destroy(r.arena);
	return 0;
}
