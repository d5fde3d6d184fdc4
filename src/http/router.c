/*
 * http/router.c - method + path -> route, with {name} path parameters.
 *
 * The table is small (a few dozen routes) and static, so matching is a
 * linear scan comparing segment by segment, with no allocation: the
 * caller's scratch copy of the path is cut at '/' in place and parameters
 * point into it.  When the path matches some routes but none with the
 * request's method, the result is 405 and the Allow list names the methods
 * that would have matched (HEAD is implied by GET, as HTTP says).
 */
#include "http/router.h"

#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "arena.h"

#define MAX_SEGMENTS 16

struct router {
	const struct route *routes;
	size_t n;
};

struct router *router_create(const struct route *routes, size_t n)
{
	struct router *rt = xcalloc(1, sizeof(*rt));
	rt->routes = routes;
	rt->n = n;
	return rt;
}

void router_free(struct router *rt)
{
	free(rt);
}

size_t router_count(const struct router *rt)
{
	return rt->n;
}

const struct route *router_at(const struct router *rt, size_t i)
{
	return i < rt->n ? &rt->routes[i] : NULL;
}

/* Split "/a/b/c" into segments in place; -1 when there are too many or an empty one. */
static int split(char *path, char *seg[MAX_SEGMENTS])
{
	int n = 0;
	char *p = path;

	if (*p != '/')
		return -1;
	if (p[1] == '\0')
		return 0; /* "/" */
	while (*p == '/') {
		*p++ = '\0';
		if (n == MAX_SEGMENTS || *p == '\0' || *p == '/')
			return -1; /* too deep, trailing slash or "//" */
		seg[n++] = p;
		while (*p && *p != '/')
			p++;
	}
	return n;
}

/* Does the pattern match the segments?  Fills params when it does. */
static bool pattern_match(const char *pat, char *seg[], int nseg,
                          const char *params[HTTP_MAX_PARAMS], size_t *np)
{
	int i = 0;
	size_t nparam = 0;
	const char *p = pat;

	if (strcmp(pat, "/") == 0)
		return nseg == 0;
	while (*p == '/') {
		const char *end;
		size_t len;

		p++;
		end = strchr(p, '/');
		len = end ? (size_t)(end - p) : strlen(p);
		if (i >= nseg)
			return false;
		if (len >= 2 && p[0] == '{' && p[len - 1] == '}') {
			if (nparam == HTTP_MAX_PARAMS)
				return false;
			params[nparam++] = seg[i];
		} else if (strlen(seg[i]) != len || memcmp(seg[i], p, len) != 0) {
			return false;
		}
		i++;
		p += len;
	}
	if (i != nseg)
		return false;
	*np = nparam;
	return true;
}

static void allow_add(char *allow, size_t len, const char *method)
{
	size_t used = strlen(allow);

	/* Skip duplicates (two routes with one method cannot happen, but be safe). */
	if (strstr(allow, method))
		return;
	snprintf(allow + used, len - used, "%s%s", used ? ", " : "", method);
}

enum router_result router_match(const struct router *rt, const char *method, const char *path,
                                char *scratch, const struct route **out,
                                const char *params[HTTP_MAX_PARAMS], size_t *n, char *allow,
                                size_t allow_len)
{
	char *seg[MAX_SEGMENTS];
	int nseg;
	size_t i;
	bool path_known = false;
	bool head = strcmp(method, "HEAD") == 0;

	*out = NULL;
	*n = 0;
	if (allow_len)
		allow[0] = '\0';
	strcpy(scratch, path);
	nseg = split(scratch, seg);
	if (nseg < 0)
		return ROUTER_NOT_FOUND;

	for (i = 0; i < rt->n; i++) {
		const struct route *r = &rt->routes[i];
		const char *pp[HTTP_MAX_PARAMS];
		size_t np = 0;

		if (!pattern_match(r->pattern, seg, nseg, pp, &np))
			continue;
		path_known = true;
		if (strcmp(r->method, method) == 0 || (head && strcmp(r->method, "GET") == 0)) {
			*out = r;
			memcpy(params, pp, sizeof(pp[0]) * np);
			*n = np;
			return ROUTER_FOUND;
		}
	}
	if (!path_known)
		return ROUTER_NOT_FOUND;
	for (i = 0; i < rt->n; i++) {
		const char *pp[HTTP_MAX_PARAMS];
		size_t np;

		if (pattern_match(rt->routes[i].pattern, seg, nseg, pp, &np)) {
			allow_add(allow, allow_len, rt->routes[i].method);
			if (strcmp(rt->routes[i].method, "GET") == 0)
				allow_add(allow, allow_len, "HEAD");
		}
	}
	if (rt->n && allow_len)
		allow_add(allow, allow_len, "OPTIONS");
	return ROUTER_METHOD_NOT_ALLOWED;
}
