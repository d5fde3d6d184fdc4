/*
 * test_ct.c - constant-time comparisons (results only; timing is
 * CRYPTO_memcmp's job).
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>

#include <cmocka.h>

#include "auth/ct.h"

static void test_equal(void **state)
{
	unsigned char a[64], b[64];
	size_t i;

	(void)state;
	for (i = 0; i < sizeof(a); i++)
		a[i] = b[i] = (unsigned char)i;
	assert_true(ct_equal(a, b, sizeof(a)));
	assert_true(ct_equal(a, b, 0));
	for (i = 0; i < sizeof(a); i++) {
		b[i] ^= 0x01;
		assert_false(ct_equal(a, b, sizeof(a)));
		assert_true(ct_equal(a, b, i)); /* prefix before the difference */
		b[i] ^= 0x01;
	}
	b[63] ^= 0x80;
	assert_false(ct_equal(a, b, 64));
}

static void test_streq(void **state)
{
	(void)state;
	assert_true(ct_streq("", ""));
	assert_true(ct_streq("abc", "abc"));
	assert_false(ct_streq("abc", "abd"));
	assert_false(ct_streq("abc", "Abc"));
	assert_false(ct_streq("abc", "abcd"));
	assert_false(ct_streq("abcd", "abc"));
	assert_false(ct_streq("", "a"));
	assert_false(ct_streq(NULL, "a"));
	assert_false(ct_streq("a", NULL));
	assert_false(ct_streq(NULL, NULL));
}

int main(void)
{
	const struct CMUnitTest tests[] = {
	        cmocka_unit_test(test_equal),
	        cmocka_unit_test(test_streq),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
