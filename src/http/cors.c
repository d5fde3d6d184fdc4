/*
 * http/cors.c - CORS answers for the configured origins (see cors.h).
 */
#include "http/cors.h"

#include <string.h>
#include <strings.h>

#include "config.h"
#include "http/json.h"

#define CORS_METHODS "GET, POST, PATCH, DELETE, OPTIONS"
#define CORS_MAX_AGE "600"

bool cors_origin_allowed(const struct config *cfg, const char *origin)
{
	size_t i;

	if (!origin || !*origin)
		return false;
	if (cfg->cors_any)
		return true;
	for (i = 0; i < cfg->n_cors_origins; i++)
		if (strcmp(cfg->cors_origins[i], origin) == 0)
			return true;
	return false;
}

bool cors_is_preflight(const struct req *r)
{
	return strcmp(r->method, "OPTIONS") == 0 && req_header(r, "Origin") &&
	       req_header(r, "Access-Control-Request-Method");
}

static void allow_origin(const struct config *cfg, const char *origin, struct resp *rs)
{
	if (cfg->cors_any) {
		resp_header(rs, "Access-Control-Allow-Origin", "*");
		return;
	}
	resp_header(rs, "Access-Control-Allow-Origin", origin);
	resp_header(rs, "Access-Control-Allow-Credentials", "true");
}

static bool method_ok(const char *m)
{
	static const char *const methods[] = {"GET", "HEAD", "POST", "PATCH", "DELETE", "OPTIONS"};
	size_t i;

	for (i = 0; i < sizeof(methods) / sizeof(methods[0]); i++)
		if (strcmp(methods[i], m) == 0)
			return true;
	return false;
}

/* Only plain header-name characters may be echoed back. */
static bool header_list_ok(const char *s)
{
	for (; *s; s++) {
		char c = *s;
		if (!((c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') ||
		      c == '-' || c == '_' || c == ',' || c == ' '))
			return false;
	}
	return true;
}

void cors_preflight(const struct config *cfg, const struct req *r, struct resp *rs)
{
	const char *origin = req_header(r, "Origin");
	const char *method = req_header(r, "Access-Control-Request-Method");
	const char *hdrs = req_header(r, "Access-Control-Request-Headers");

	if (!cors_origin_allowed(cfg, origin) || !method_ok(method) ||
	    (hdrs && (!header_list_ok(hdrs) || strlen(hdrs) > 512))) {
		resp_body(rs, 400, "text/plain; charset=utf-8", "Disallowed CORS request",
		          strlen("Disallowed CORS request"));
		return;
	}
	resp_empty(rs, 200);
	allow_origin(cfg, origin, rs);
	resp_header(rs, "Access-Control-Allow-Methods", CORS_METHODS);
	resp_header(rs, "Access-Control-Allow-Headers",
	            hdrs && *hdrs ? hdrs : "Authorization, Content-Type, X-Request-ID");
	resp_header(rs, "Access-Control-Max-Age", CORS_MAX_AGE);
}

void cors_decorate(const struct config *cfg, const struct req *r, struct resp *rs)
{
	const char *origin = req_header(r, "Origin");

	if (!cors_origin_allowed(cfg, origin))
		return;
	allow_origin(cfg, origin, rs);
	resp_header(rs, "Access-Control-Expose-Headers", "X-Request-ID, Retry-After");
}
