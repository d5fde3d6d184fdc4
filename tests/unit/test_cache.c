/*
 * test_cache.c - the in-process revocation / rate-limit store.
 *
 * The full-table tests use a small table (memcache_create_sized) and
 * check cache/memory.c's promises: bounded work per insert, expired
 * entries reclaimed, a live deny-list entry never dropped, and a flood of
 * rate-limit counters never refusing a revocation.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>

#include <cmocka.h>

#include "arena.h"
#include "cache/backend.h"
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

/* Keys past the cache's key size are hashed, never cut: long emails do not share counters. */
static void test_long_keys_do_not_share_counters(void **state)
{
	struct cache *c = open_mem();
	char a[400], b[400];
	int64_t n = 0;
	int reset = 0;

	(void)state;
	memset(a, 'x', sizeof(a) - 1);
	a[sizeof(a) - 1] = '\0';
	memcpy(b, a, sizeof(a));
	a[sizeof(a) - 2] = 'a';
	b[sizeof(b) - 2] = 'b';
	assert_int_equal(cache_rate_hit(c, a, 60, 100, &n, &reset), 0);
	assert_int_equal(cache_rate_hit(c, a, 60, 100, &n, &reset), 0);
	assert_int_equal(n, 2);
	assert_int_equal(cache_rate_hit(c, b, 60, 100, &n, &reset), 0);
	assert_int_equal(n, 1);
	assert_int_equal(cache_rate_peek(c, a, 100, &n, &reset), 0);
	assert_int_equal(n, 2);
	assert_int_equal(cache_rate_clear(c, a), 0);
	assert_int_equal(cache_rate_peek(c, a, 100, &n, &reset), 0);
	assert_int_equal(n, 0);
	assert_int_equal(cache_rate_peek(c, b, 100, &n, &reset), 0);
	assert_int_equal(n, 1);
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

static struct cache *open_sized(size_t capacity)
{
	struct cache *c = xcalloc(1, sizeof(*c));

	c->be = &memcache_backend;
	c->impl = memcache_create_sized(capacity);
	return c;
}

static struct memcache_stats stats(struct cache *c)
{
	struct memcache_stats st;

	memcache_stats(c->impl, &st);
	return st;
}

static bool is_denied(struct cache *c, const char *jti, int64_t now)
{
	bool denied = false;
	int64_t rb;

	assert_int_equal(cache_token_state(c, jti, "u", now, &denied, &rb), 0);
	return denied;
}

/* Fill with live rate-limit counters until the table refuses one; how many went in. */
static int fill_with_counters(struct cache *c, const char *prefix, int window, int64_t now)
{
	char key[64];
	int64_t n;
	int reset, i;

	for (i = 0;; i++) {
		snprintf(key, sizeof(key), "%s%d", prefix, i);
		if (cache_rate_hit(c, key, window, now, &n, &reset) != 0)
			return i;
		assert_int_equal(n, 1);
		assert_true(i < 10000000);
	}
}

static void test_counter_flood_never_refuses_a_revocation(void **state)
{
	struct cache *c = open_sized(64);
	char jti[32];
	int64_t n;
	int reset, i, in;

	(void)state;
	in = fill_with_counters(c, "login:flood:", 600, 1000);
	assert_int_equal(in, 64 - 64 / 8);
	/* counters already in still count (no eviction, no reset of a window) */
	assert_int_equal(cache_rate_hit(c, "login:flood:0", 600, 1001, &n, &reset), 0);
	assert_int_equal(n, 2);
	/* the reserve takes revocation entries */
	for (i = 0; i < 64 / 8; i++) {
		snprintf(jti, sizeof(jti), "jti-%d", i);
		assert_int_equal(cache_deny_jti(c, jti, 2000, 1001), 0);
	}
	/* now the table is full of live entries: writes fail (callers answer 503) */
	assert_int_equal(cache_deny_jti(c, "one-too-many", 2000, 1001), -1);
	assert_int_equal(cache_rate_hit(c, "login:new", 60, 1001, &n, &reset), -1);
	assert_int_equal(stats(c).count, 64);
	/* and every deny-listed jti is still there, however hard the table is pushed */
	for (i = 0; i < 1000; i++) {
		char key[32];
		snprintf(key, sizeof(key), "push-%d", i);
		assert_int_equal(cache_rate_hit(c, key, 60, 1002, &n, &reset), -1);
	}
	for (i = 0; i < 64 / 8; i++) {
		snprintf(jti, sizeof(jti), "jti-%d", i);
		assert_true(is_denied(c, jti, 1999));
	}
	/* until they expire */
	for (i = 0; i < 64 / 8; i++) {
		snprintf(jti, sizeof(jti), "jti-%d", i);
		assert_false(is_denied(c, jti, 2000));
	}
	cache_close(c);
}

static void test_full_table_reclaims_expired_entries(void **state)
{
	struct cache *c = open_sized(1024);
	char key[32];
	int64_t n;
	int reset, i, in;

	(void)state;
	in = fill_with_counters(c, "ip:old-", 10, 100); /* all expire at 110 */
	assert_int_equal(in, 1024 - 1024 / 8);
	assert_int_equal(cache_deny_jti(c, "live", 10000, 100), 0);
	/* later, every insert succeeds: the expired ones (old and new) make room */
	for (i = 0; i < 5000; i++) {
		snprintf(key, sizeof(key), "ip:new-%d", i);
		assert_int_equal(cache_rate_hit(c, key, 2, 200 + i / 100, &n, &reset), 0);
		assert_int_equal(n, 1);
		assert_int_equal(reset, 2);
		assert_true(stats(c).count <= 1024);
	}
	assert_true(stats(c).reclaimed >= (size_t)in);
	assert_int_equal(stats(c).refused, 1); /* only the one that ended the fill */
	assert_true(is_denied(c, "live", 300));
	cache_close(c);
}

static void test_insert_work_is_bounded_when_full(void **state)
{
	struct cache *c = open_sized(200000);
	int64_t n;
	int reset, i;
	char key[32];
	struct memcache_stats st;

	(void)state;
	fill_with_counters(c, "rl-", 3600, 1000);
	assert_int_equal(cache_deny_jti(c, "j", 5000, 1000), 0);
	for (i = 0; i < 2000; i++) {
		snprintf(key, sizeof(key), "more-%d", i);
		assert_int_equal(cache_rate_hit(c, key, 60, 1001, &n, &reset), -1);
	}
	st = stats(c);
	assert_int_equal(st.refused, 2000 + 1);
	/* far less than a sweep of the table: one bounded step, a chain's worth over */
	assert_true(st.max_examined < 2048);
	assert_true(is_denied(c, "j", 4999));
	cache_close(c);
}

static void test_deny_entries_survive_churn(void **state)
{
	struct cache *c = open_sized(512);
	char key[32];
	int64_t n, now;
	int reset, i;

	(void)state;
	/* deny-listed jtis with staggered expiries, then heavy counter churn over time */
	for (i = 0; i < 40; i++) {
		snprintf(key, sizeof(key), "jti-%d", i);
		assert_int_equal(cache_deny_jti(c, key, 1000 + 50 * i, 1000), 0);
	}
	for (now = 1000; now < 3100; now++) {
		for (i = 0; i < 20; i++) {
			snprintf(key, sizeof(key), "c-%lld-%d", (long long)now, i);
			cache_rate_hit(c, key, 5, now, &n, &reset); /* may be refused: no matter */
		}
		if (now % 25 == 0)
			for (i = 0; i < 40; i++) {
				snprintf(key, sizeof(key), "jti-%d", i);
				assert_true(is_denied(c, key, now) == (now < 1000 + 50 * i));
			}
		assert_true(stats(c).count <= 512);
	}
	cache_close(c);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
	        cmocka_unit_test(test_deny_and_expiry),
	        cmocka_unit_test(test_revoke_before),
	        cmocka_unit_test(test_rate),
	        cmocka_unit_test(test_long_keys_do_not_share_counters),
	        cmocka_unit_test(test_many_keys_swept),
	        cmocka_unit_test(test_counter_flood_never_refuses_a_revocation),
	        cmocka_unit_test(test_full_table_reclaims_expired_entries),
	        cmocka_unit_test(test_insert_work_is_bounded_when_full),
	        cmocka_unit_test(test_deny_entries_survive_churn),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
