/*
 * http/router.h - method + path -> handler.
 *
 * Routes are templates with {name} segments ("/api/v1/users/{id}").  A path
 * matches a template when every literal segment is equal and every {name}
 * segment is a non-empty segment.  router_match() tells apart "no such path"
 * (404) from "path exists, method does not" (405 with the Allow list).
 */
#ifndef AUTH_ROUTER_H
#define AUTH_ROUTER_H

#include <stddef.h>

#include "http/http.h"

/* Where a handler runs. */
enum route_pool {
	POOL_INLINE, /* on the HTTP thread: only for work that cannot block */
	POOL_PROBE,  /* readiness checks: own small pool, never behind traffic */
	POOL_DB,     /* database / cache work */
	POOL_CPU,    /* bcrypt-bound work (login, register, password changes) */
	POOL__COUNT
};

/* Route flags. */
enum {
	/*
	 * The handler answers during the drain too, on the HTTP thread (it must
	 * not block once shutdown has begun): readiness, which reports 503.
	 * Every other pooled route is answered 503 + Retry-After by the server.
	 */
	ROUTE_ANSWERS_DRAINING = 1u << 0,
};

struct route {
	const char *method;  /* "GET", "POST", ... */
	const char *pattern; /* "/api/v1/users/{id}" */
	http_handler handler;
	enum route_pool pool;
	unsigned flags; /* ROUTE_* */
	const void *
	        ctx; /* opaque to the HTTP layer: the handler's per-route policy (req->route_ctx) */
};

enum router_result { ROUTER_FOUND, ROUTER_NOT_FOUND, ROUTER_METHOD_NOT_ALLOWED };

struct router;

/* The table is not copied: it must outlive the router. */
struct router *router_create(const struct route *routes, size_t n);
void router_free(struct router *rt);

/*
 * Match method + path.  On ROUTER_FOUND, *out is the route and params[0..*n)
 * point into `scratch` (a copy of path the caller provides, at least
 * strlen(path)+1 bytes, which is modified).  On ROUTER_METHOD_NOT_ALLOWED,
 * allow (size allow_len) receives "GET, POST" style text.
 */
enum router_result router_match(const struct router *rt, const char *method, const char *path,
                                char *scratch, const struct route **out,
                                const char *params[HTTP_MAX_PARAMS], size_t *n, char *allow,
                                size_t allow_len);

/* Iterate routes (for /openapi.json cross-checks). */
size_t router_count(const struct router *rt);
const struct route *router_at(const struct router *rt, size_t i);

#endif
