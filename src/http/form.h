/*
 * http/form.h - application/x-www-form-urlencoded decoding.
 *
 * Used for the OAuth2 password form on /login and for /oauth/token and
 * /oauth/revoke (RFC 6749 appendix B).  Strict: malformed percent escapes
 * and repeated parameters are errors (RFC 6749 section 3.1 says a parameter
 * must not be included more than once), decoded values must not contain
 * NUL.  Everything is allocated in the request's arena.
 */
#ifndef AUTH_FORM_H
#define AUTH_FORM_H

#include <stddef.h>

#include "http/http.h"

struct arena;

#define FORM_MAX_FIELDS 32

struct form {
	struct http_kv fields[FORM_MAX_FIELDS];
	size_t n;
};

/* 0 on success, -1 with a static reason in *why. */
int form_parse(struct arena *a, const char *buf, size_t len, struct form *out, const char **why);
const char *form_get(const struct form *f, const char *name);

/* Is this request's Content-Type application/x-www-form-urlencoded? */
int form_is_form_type(const char *content_type);

#endif
