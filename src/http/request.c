/*
 * http/request.c - accessors for struct req and struct resp (http/http.h).
 *
 * Kept apart from the server so that handlers, unit tests and fuzzers can
 * build requests and responses without a running libmicrohttpd daemon.
 */
#include "http/http.h"

#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "arena.h"

const char *req_header(const struct req *r, const char *name)
{
	size_t i;

	for (i = 0; i < r->n_headers; i++)
		if (strcasecmp(r->headers[i].name, name) == 0)
			return r->headers[i].value;
	return NULL;
}

const char *req_query(const struct req *r, const char *name)
{
	size_t i;

	for (i = 0; i < r->n_query; i++)
		if (strcmp(r->query[i].name, name) == 0)
			return r->query[i].value;
	return NULL;
}

void resp_header(struct resp *rs, const char *name, const char *value)
{
	if (rs->n_headers >= HTTP_MAX_RESP_HEADERS)
		return;
	rs->headers[rs->n_headers].name = xstrdup(name);
	rs->headers[rs->n_headers].value = xstrdup(value);
	rs->n_headers++;
}

void resp_body(struct resp *rs, int status, const char *content_type, const char *buf, size_t len)
{
	free(rs->body);
	rs->body = xmalloc(len + 1);
	memcpy(rs->body, buf, len);
	rs->body[len] = '\0';
	rs->body_len = len;
	rs->status = status;
	rs->content_type = content_type;
}

void resp_reset(struct resp *rs)
{
	size_t i;

	free(rs->body);
	for (i = 0; i < rs->n_headers; i++) {
		free(rs->headers[i].name);
		free(rs->headers[i].value);
	}
	memset(rs, 0, sizeof(*rs));
}
