/*
 * http/http.h - the request and response a handler sees.
 *
 * The server copies everything a handler may need (method, path, query,
 * headers, body, client address, request id) into a struct req whose memory
 * lives in the request's arena, so a handler runs the same on an HTTP thread
 * or on a worker pool and never touches libmicrohttpd.  A handler fills a
 * struct resp; the server turns it into the wire response and adds the
 * common headers (X-Request-ID, CORS, nosniff).
 */
#ifndef AUTH_HTTP_H
#define AUTH_HTTP_H

#include <stdbool.h>
#include <stddef.h>

struct arena;
struct app;

#define HTTP_MAX_PARAMS       4
#define HTTP_MAX_RESP_HEADERS 12

struct http_kv {
	const char *name;
	const char *value;
};

struct req {
	struct arena *arena;
	const struct app *app;

	const char *method;
	const char *path;      /* without the query string */
	const char *route;     /* the route's template, e.g. /api/v1/admin/users/{id} */
	const void *route_ctx; /* the matched route's ctx (struct route) */
	const char *request_id;
	const char *client_ip;     /* after TRUSTED_PROXIES handling */
	const char *client_bucket; /* its rate-limit key: IPv6 by RATE_LIMIT_IPV6_PREFIX */

	struct http_kv *headers; /* names as received */
	size_t n_headers;
	struct http_kv *query; /* decoded query arguments */
	size_t n_query;
	const char *params[HTTP_MAX_PARAMS]; /* path parameters, in order */
	size_t n_params;

	const char *body; /* NUL-terminated copy, may contain NULs */
	size_t body_len;
};

struct resp {
	int status;
	char *body; /* malloc'ed, owned by resp; NULL for none */
	size_t body_len;
	const char *content_type; /* static string; default application/json */
	struct {
		char *name; /* malloc'ed */
		char *value;
	} headers[HTTP_MAX_RESP_HEADERS];
	size_t n_headers;
};

/* Case-insensitive header look-up; NULL when absent. */
const char *req_header(const struct req *r, const char *name);
/* Query argument look-up; NULL when absent. */
const char *req_query(const struct req *r, const char *name);

/* Add a response header (copied).  Silently ignores overflow past the cap. */
void resp_header(struct resp *rs, const char *name, const char *value);
/* Replace the body with a copy of buf. */
void resp_body(struct resp *rs, int status, const char *content_type, const char *buf, size_t len);
void resp_reset(struct resp *rs);

/* A handler: fills rs.  Runs on the pool its route names. */
typedef void (*http_handler)(struct req *r, struct resp *rs);

#endif
