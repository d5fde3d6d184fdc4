/*
 * http/json.h - JSON request decoding and FastAPI-shaped responses.
 *
 * Decoding is strict: UTF-8 only, duplicate keys rejected, nesting depth
 * bounded, the top level must be an object.  Errors are answered the way
 * FastAPI does: {"detail": "message"} for plain errors and 422 with
 * {"detail": [{"loc": [...], "msg": ..., "type": ...}]} for validation.
 */
#ifndef AUTH_JSON_H
#define AUTH_JSON_H

#include <jansson.h>
#include <stdbool.h>

#include "http/http.h"

#define JSON_MAX_DEPTH 16

/* Validation errors collected while checking a body. */
struct verr {
	json_t *list; /* array of {"loc","msg","type"} or NULL while empty */
};

void verr_add(struct verr *v, const char *where, const char *field, const char *msg,
              const char *type);
bool verr_any(const struct verr *v);
/* Answer 422 with the collected list (and free it). */
void verr_respond(struct verr *v, struct resp *rs);
void verr_free(struct verr *v);

/*
 * Parse a buffer as a JSON object.  Returns the object (caller decrefs) or
 * NULL with *err_msg set to a short reason (static string).
 */
json_t *json_parse_object(const char *buf, size_t len, const char **err_msg);

/*
 * Decode the request body as a JSON object.  On failure fills rs (415 for a
 * non-JSON Content-Type, 422 json_invalid for bad JSON) and returns NULL.
 */
json_t *req_json(const struct req *r, struct resp *rs);

/*
 * Field helpers for a decoded object.  Each returns the value or NULL and,
 * when `required` and missing, or present with the wrong type, records the
 * FastAPI-style error in v.
 */
const char *json_field_str(json_t *obj, const char *field, bool required, struct verr *v);
int json_field_bool(json_t *obj, const char *field, bool *out,
                    struct verr *v); /* 1 set, 0 absent, -1 bad */

/* Responses. */
void resp_json(struct resp *rs, int status, json_t *body); /* steals body */
void resp_detail(struct resp *rs, int status, const char *detail);
void resp_empty(struct resp *rs, int status);

#endif
