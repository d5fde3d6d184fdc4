/* test_cache.c - the in-process revocation / rate-limit store. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>

#include <cmocka.h>

#include "cache/cache.h"
#include "config.h"

static struct cache *open_mem(void)
{
	struct config cfg;
	char err[128];

	memset(&cfg, 0, sizeof(cfg));
	return cache_open(&cfg, err, sizeof(err));
}

static void test_deny_and_expiry(void **state)
{
	struct cache *c = open_mem();
	bool denied = true;
	int64_t rb = -1;

	(void)state;
	assert_non_null(c);
	assert_string_equal(cache_kind(c), "in-process");
	assert_int_equal(cache_ping(c), 0);
	assert_int_equal(cache_token_state(c, "j1", "u1", 1000, &denied, &rb), 0);
	assert_false(denied);
	assert_int_equal(rb, 0);
	assert_int_equal(cache_deny_jti(c, "j1", 1100, 1000), 0);
	assert_int_equal(cache_token_state(c, "j1", "u1", 1050, &denied, &rb), 0);
	assert_true(denied);
	assert_int_equal(cache_token_state(c, "j2", "u1", 1050, &denied, &rb), 0);
	assert_false(denied);
	/* after exp the entry is gone */
	assert_int_equal(cache_token_state(c, "j1", "u1", 1100, &denied, &rb), 0);
	assert_false(denied);
	cache_close(c);
}

static void test_revoke_before(void **state)
{
	struct cache *c = open_mem();
	bool denied;
	int64_t rb = 0;

	(void)state;
	assert_int_equal(cache_revoke_user_before(c, "u1", 5000, 900, 5000), 0);
	assert_int_equal(cache_token_state(c, "x", "u1", 5001, &denied, &rb), 0);
	assert_int_equal(rb, 5000);
	assert_int_equal(cache_token_state(c, "x", "u2", 5001, &denied, &rb), 0);
	assert_int_equal(rb, 0);
	assert_int_equal(cache_token_state(c, "x", "u1", 5900, &denied, &rb), 0);
	assert_int_equal(rb, 0);
	cache_close(c);
}

static void test_rate(void **state)
{
	struct cache *c = open_mem();
	int64_t n = 0;
	int reset = 0, i;

	(void)state;
	for (i = 1; i <= 5; i++) {
		assert_int_equal(cache_rate_hit(c, "login:1.2.3.4", 60, 100, &n, &reset), 0);
		assert_int_equal(n, i);
	}
	assert_int_equal(reset, 60);
	assert_int_equal(cache_rate_peek(c, "login:1.2.3.4", 130, &n, &reset), 0);
	assert_int_equal(n, 5);
	assert_int_equal(reset, 30);
	/* new window */
	assert_int_equal(cache_rate_hit(c, "login:1.2.3.4", 60, 160, &n, &reset), 0);
	assert_int_equal(n, 1);
	assert_int_equal(cache_rate_clear(c, "login:1.2.3.4"), 0);
	assert_int_equal(cache_rate_peek(c, "login:1.2.3.4", 161, &n, &reset), 0);
	assert_int_equal(n, 0);
	cache_close(c);
}

static void test_many_keys_swept(void **state)
{
	struct cache *c = open_mem();
	char key[32];
	int64_t n;
	int reset, i;

	(void)state;
	for (i = 0; i < 20000; i++) {
		snprintf(key, sizeof(key), "k%d", i);
		assert_int_equal(cache_rate_hit(c, key, 1, i / 100, &n, &reset), 0);
		assert_int_equal(n, 1);
	}
	cache_close(c);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
	        cmocka_unit_test(test_deny_and_expiry),
	        cmocka_unit_test(test_revoke_before),
	        cmocka_unit_test(test_rate),
	        cmocka_unit_test(test_many_keys_swept),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
