/* test_router.c - route matching, path parameters, 404 vs 405 and Allow. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>

#include <cmocka.h>

#include "http/router.h"

static void h_a(struct req *r, struct resp *rs)
{
	(void)r;
	(void)rs;
}
static void h_b(struct req *r, struct resp *rs)
{
	(void)r;
	(void)rs;
}

static const struct route routes[] = {
        {"GET", "/api/v1/health", h_a, POOL_INLINE},
        {"GET", "/api/v1/admin/users/{id}", h_a, POOL_DB},
        {"PATCH", "/api/v1/admin/users/{id}", h_b, POOL_DB},
        {"DELETE", "/api/v1/auth/sessions/{sid}", h_b, POOL_DB},
        {"POST", "/x/{a}/y/{b}", h_b, POOL_DB},
        {"GET", "/", h_a, POOL_INLINE},
};

struct m {
	enum router_result rr;
	const struct route *route;
	const char *params[HTTP_MAX_PARAMS];
	size_t n;
	char allow[128];
	char scratch[256];
};

static void match(struct router *rt, const char *method, const char *path, struct m *m)
{
	memset(m, 0, sizeof(*m));
	m->rr = router_match(rt, method, path, m->scratch, &m->route, m->params, &m->n, m->allow,
	                     sizeof(m->allow));
}

static void test_literal(void **state)
{
	struct router *rt = router_create(routes, sizeof(routes) / sizeof(routes[0]));
	struct m m;

	(void)state;
	match(rt, "GET", "/api/v1/health", &m);
	assert_int_equal(m.rr, ROUTER_FOUND);
	assert_ptr_equal(m.route, &routes[0]);
	assert_int_equal(m.n, 0);
	match(rt, "HEAD", "/api/v1/health", &m);
	assert_int_equal(m.rr, ROUTER_FOUND);
	match(rt, "GET", "/", &m);
	assert_int_equal(m.rr, ROUTER_FOUND);
	assert_ptr_equal(m.route, &routes[5]);
	router_free(rt);
}

static void test_params(void **state)
{
	struct router *rt = router_create(routes, sizeof(routes) / sizeof(routes[0]));
	struct m m;

	(void)state;
	match(rt, "PATCH", "/api/v1/admin/users/abc-123", &m);
	assert_int_equal(m.rr, ROUTER_FOUND);
	assert_ptr_equal(m.route, &routes[2]);
	assert_int_equal(m.n, 1);
	assert_string_equal(m.params[0], "abc-123");
	match(rt, "POST", "/x/1/y/2", &m);
	assert_int_equal(m.rr, ROUTER_FOUND);
	assert_int_equal(m.n, 2);
	assert_string_equal(m.params[0], "1");
	assert_string_equal(m.params[1], "2");
	router_free(rt);
}

static void test_not_found(void **state)
{
	struct router *rt = router_create(routes, sizeof(routes) / sizeof(routes[0]));
	const char *bad[] = {"/api/v1/healthz",
	                     "/api/v1/health/",
	                     "/api//v1/health",
	                     "/api/v1/admin/users",
	                     "/api/v1/admin/users/1/2",
	                     "api/v1/health",
	                     "",
	                     "/x/1/y",
	                     "/api/v1/admin/users//"};
	struct m m;
	size_t i;

	(void)state;
	for (i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		match(rt, "GET", bad[i], &m);
		assert_int_equal(m.rr, ROUTER_NOT_FOUND);
		assert_null(m.route);
	}
	router_free(rt);
}

static void test_method_not_allowed(void **state)
{
	struct router *rt = router_create(routes, sizeof(routes) / sizeof(routes[0]));
	struct m m;

	(void)state;
	match(rt, "POST", "/api/v1/health", &m);
	assert_int_equal(m.rr, ROUTER_METHOD_NOT_ALLOWED);
	assert_string_equal(m.allow, "GET, HEAD, OPTIONS");
	match(rt, "PUT", "/api/v1/admin/users/7", &m);
	assert_int_equal(m.rr, ROUTER_METHOD_NOT_ALLOWED);
	assert_string_equal(m.allow, "GET, HEAD, PATCH, OPTIONS");
	router_free(rt);
}

static void test_deep_path(void **state)
{
	struct router *rt = router_create(routes, sizeof(routes) / sizeof(routes[0]));
	char path[200];
	struct m m;
	int i;

	(void)state;
	for (i = 0; i < 40; i++)
		memcpy(path + 2 * i, "/a", 2);
	path[80] = '\0';
	match(rt, "GET", path, &m);
	assert_int_equal(m.rr, ROUTER_NOT_FOUND);
	router_free(rt);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
	        cmocka_unit_test(test_literal),   cmocka_unit_test(test_params),
	        cmocka_unit_test(test_not_found), cmocka_unit_test(test_method_not_allowed),
	        cmocka_unit_test(test_deep_path),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
