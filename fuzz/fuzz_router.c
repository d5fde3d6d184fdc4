/*
 * fuzz_router.c - libFuzzer target for routing (http/router.c) over the
 * service's real route table (api/routes.c).
 *
 * Input: "<METHOD> <path>", cut at the first NUL, as libmicrohttpd hands
 * them over.  Checked: a match names a route whose method is the request's
 * (or GET for HEAD) with at most HTTP_MAX_PARAMS non-empty parameters
 * that contain no '/'; a 405 always comes with an Allow list that ends in
 * OPTIONS and fits the server's 128-byte buffer.
 */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "api/api.h"
#include "arena.h"
#include "http/router.h"

static struct router *router;

static void cleanup(void)
{
	router_free(router);
}

int LLVMFuzzerInitialize(int *argc, char ***argv);

int LLVMFuzzerInitialize(int *argc, char ***argv)
{
	(void)argc;
	(void)argv;
	router = router_create(api_routes, api_routes_count);
	atexit(cleanup);
	return 0;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	char *line = xmalloc(size + 1), *path, *scratch;
	const char *params[HTTP_MAX_PARAMS];
	const struct route *r = NULL;
	char allow[128];
	size_t n = 0, i, alen;
	enum router_result rr;

	memcpy(line, data, size);
	line[size] = '\0';
	path = strchr(line, ' ');
	if (path == NULL) {
		free(line);
		return 0;
	}
	*path++ = '\0';
	scratch = xmalloc(strlen(path) + 1);
	rr = router_match(router, line, path, scratch, &r, params, &n, allow, sizeof(allow));
	switch (rr) {
	case ROUTER_FOUND:
		if (r == NULL || n > HTTP_MAX_PARAMS)
			abort();
		if (strcmp(r->method, line) != 0 &&
		    !(strcmp(line, "HEAD") == 0 && strcmp(r->method, "GET") == 0))
			abort();
		for (i = 0; i < n; i++)
			if (params[i][0] == '\0' || strchr(params[i], '/') != NULL)
				abort();
		break;
	case ROUTER_METHOD_NOT_ALLOWED:
		alen = strlen(allow);
		if (r != NULL || alen < 7 || alen >= sizeof(allow) ||
		    strcmp(allow + alen - 7, "OPTIONS") != 0)
			abort();
		break;
	case ROUTER_NOT_FOUND:
		if (r != NULL)
			abort();
		break;
	}
	free(scratch);
	free(line);
	return 0;
}
