/* test_arena.c - arena allocation: alignment, zeroing, large blocks, strings. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>

#include <cmocka.h>

#include "arena.h"

static void test_alloc(void **state)
{
	struct arena *a = arena_create();
	int i;

	(void)state;
	for (i = 0; i < 1000; i++) {
		unsigned char *p = arena_alloc(a, (size_t)(i % 37) + 1);
		assert_int_equal((uintptr_t)p % 16, 0);
		assert_int_equal(p[0], 0);
		memset(p, 0xab, (size_t)(i % 37) + 1);
	}
	char *big = arena_alloc(a, 100000);
	assert_int_equal(big[99999], 0);
	memset(big, 1, 100000);
	arena_destroy(a);
}

static void test_strings(void **state)
{
	struct arena *a = arena_create();

	(void)state;
	assert_string_equal(arena_strdup(a, "hello"), "hello");
	assert_string_equal(arena_strndup(a, "hello", 3), "hel");
	assert_string_equal(arena_sprintf(a, "%s-%d", "x", 42), "x-42");
	arena_destroy(a);
	arena_destroy(NULL);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
	        cmocka_unit_test(test_alloc),
	        cmocka_unit_test(test_strings),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
