/*
 * http/cors.h - CORS for the configured origins only (SPEC section 4).
 *
 * Exact-match origins from CORS_ORIGINS get Access-Control-Allow-Origin
 * echoed with credentials allowed; "*" (never in production) answers "*"
 * without credentials.  Any other origin gets no CORS headers at all, and
 * a preflight from it is refused with 400, as Starlette's middleware does.
 * Every response carries Vary: Origin so caches keep answers apart.
 */
#ifndef AUTH_CORS_H
#define AUTH_CORS_H

#include <stdbool.h>

#include "http/http.h"

struct config;

bool cors_origin_allowed(const struct config *cfg, const char *origin);

/* Is this request a preflight (OPTIONS + Origin + Access-Control-Request-Method)? */
bool cors_is_preflight(const struct req *r);

/* Answer a preflight completely (200 or 400). */
void cors_preflight(const struct config *cfg, const struct req *r, struct resp *rs);

/* Add the CORS headers of a simple/actual request to rs. */
void cors_decorate(const struct config *cfg, const struct req *r, struct resp *rs);

#endif
