/*
 * http/json.c - strict JSON request decoding and FastAPI-shaped answers.
 *
 * jansson does the parsing with JSON_REJECT_DUPLICATES; before that a
 * single linear scan bounds the nesting depth (jansson's own limit is
 * 2048, far above anything a request here needs) so a deeply nested body
 * costs nothing.  Errors mirror FastAPI/pydantic so clients written for
 * the original service keep working: 422 with a "detail" list for bad
 * input, {"detail": "..."} for everything else.
 */
#include "http/json.h"

#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "arena.h"

void verr_add(struct verr *v, const char *where, const char *field, const char *msg,
              const char *type)
{
	json_t *loc, *e;

	if (!v->list)
		v->list = json_array();
	loc = json_array();
	json_array_append_new(loc, json_string(where));
	if (field)
		json_array_append_new(loc, json_string(field));
	e = json_object();
	json_object_set_new(e, "loc", loc);
	json_object_set_new(e, "msg", json_string(msg));
	json_object_set_new(e, "type", json_string(type));
	json_array_append_new(v->list, e);
}

bool verr_any(const struct verr *v)
{
	return v->list && json_array_size(v->list) > 0;
}

void verr_respond(struct verr *v, struct resp *rs)
{
	json_t *body = json_object();

	json_object_set_new(body, "detail", v->list ? v->list : json_array());
	v->list = NULL;
	resp_json(rs, 422, body);
}

void verr_free(struct verr *v)
{
	json_decref(v->list);
	v->list = NULL;
}

/* Max nesting of [ and { outside strings; -1 for unbalanced input. */
static int nesting_depth(const char *buf, size_t len)
{
	int depth = 0, max = 0;
	bool in_str = false;
	size_t i;

	for (i = 0; i < len; i++) {
		char c = buf[i];
		if (in_str) {
			if (c == '\\')
				i++;
			else if (c == '"')
				in_str = false;
			continue;
		}
		if (c == '"')
			in_str = true;
		else if (c == '{' || c == '[') {
			if (++depth > max)
				max = depth;
			if (max > JSON_MAX_DEPTH)
				return max;
		} else if (c == '}' || c == ']')
			depth--;
	}
	return max;
}

json_t *json_parse_object(const char *buf, size_t len, const char **err_msg)
{
	json_error_t jerr;
	json_t *root;

	if (len == 0) {
		*err_msg = "empty body";
		return NULL;
	}
	if (nesting_depth(buf, len) > JSON_MAX_DEPTH) {
		*err_msg = "JSON nested too deeply";
		return NULL;
	}
	root = json_loadb(buf, len, JSON_REJECT_DUPLICATES, &jerr);
	if (!root) {
		*err_msg = json_error_code(&jerr) == json_error_duplicate_key
		                   ? "duplicate key in JSON object"
		                   : "JSON decode error";
		return NULL;
	}
	if (!json_is_object(root)) {
		json_decref(root);
		*err_msg = "JSON body must be an object";
		return NULL;
	}
	return root;
}

/* Is the Content-Type application/json (parameters such as charset allowed)? */
static bool is_json_type(const char *ct)
{
	size_t n = strlen("application/json");

	if (!ct)
		return false;
	while (*ct == ' ')
		ct++;
	if (strncasecmp(ct, "application/json", n) != 0)
		return false;
	ct += n;
	while (*ct == ' ')
		ct++;
	return *ct == '\0' || *ct == ';';
}

json_t *req_json(const struct req *r, struct resp *rs)
{
	const char *why = NULL;
	json_t *obj;
	struct verr v = {0};

	if (!is_json_type(req_header(r, "Content-Type"))) {
		resp_detail(rs, 415, "Content-Type must be application/json");
		return NULL;
	}
	obj = json_parse_object(r->body, r->body_len, &why);
	if (obj)
		return obj;
	if (r->body_len == 0)
		verr_add(&v, "body", NULL, "Field required", "missing");
	else
		verr_add(&v, "body", NULL, why, "json_invalid");
	verr_respond(&v, rs);
	return NULL;
}

const char *json_field_str(json_t *obj, const char *field, bool required, struct verr *v)
{
	json_t *val = json_object_get(obj, field);

	if (!val || json_is_null(val)) {
		if (required)
			verr_add(v, "body", field, "Field required", "missing");
		return NULL;
	}
	if (!json_is_string(val)) {
		verr_add(v, "body", field, "Input should be a valid string", "string_type");
		return NULL;
	}
	if (strlen(json_string_value(val)) != json_string_length(val)) {
		verr_add(v, "body", field, "String must not contain NUL characters", "string_type");
		return NULL;
	}
	return json_string_value(val);
}

int json_field_bool(json_t *obj, const char *field, bool *out, struct verr *v)
{
	json_t *val = json_object_get(obj, field);

	if (!val)
		return 0;
	if (!json_is_boolean(val)) {
		verr_add(v, "body", field, "Input should be a valid boolean", "bool_type");
		return -1;
	}
	*out = json_is_true(val);
	return 1;
}

void resp_json(struct resp *rs, int status, json_t *body)
{
	char *s = json_dumps(body, JSON_COMPACT | JSON_PRESERVE_ORDER);

	json_decref(body);
	free(rs->body);
	rs->body = s ? s : xstrdup("{}");
	rs->body_len = strlen(rs->body);
	rs->status = status;
	rs->content_type = "application/json";
}

void resp_detail(struct resp *rs, int status, const char *detail)
{
	json_t *body = json_object();

	json_object_set_new(body, "detail", json_string(detail));
	resp_json(rs, status, body);
}

void resp_empty(struct resp *rs, int status)
{
	free(rs->body);
	rs->body = NULL;
	rs->body_len = 0;
	rs->status = status;
	rs->content_type = NULL;
}
