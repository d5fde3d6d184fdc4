/* test_buf.c - the growable buffer: appends, growth, printf, take and free. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "buf.h"

static void test_empty_take(void **state)
{
	struct buf b = BUF_INIT;
	char *s;

	(void)state;
	s = buf_take(&b);
	assert_non_null(s);
	assert_string_equal(s, "");
	assert_null(b.p);
	assert_int_equal(b.len, 0);
	free(s);
	buf_free(&b); /* an empty buffer frees nothing */
}

static void test_append(void **state)
{
	struct buf b;
	char *s;

	(void)state;
	buf_init(&b);
	buf_append(&b, "abcdef", 3);
	buf_append_str(&b, "-x-");
	buf_append_char(&b, 'z');
	buf_append(&b, NULL, 0);
	assert_int_equal(b.len, 7);
	assert_string_equal(b.p, "abc-x-z");
	s = buf_take(&b);
	assert_string_equal(s, "abc-x-z");
	assert_null(b.p);
	assert_int_equal(b.len, 0);
	assert_int_equal(b.cap, 0);
	free(s);

	/* The buffer is reusable after buf_take. */
	buf_append_str(&b, "again");
	assert_string_equal(b.p, "again");
	buf_free(&b);
	assert_null(b.p);
}

/* Bytes with NULs inside keep their length; the result stays terminated. */
static void test_binary(void **state)
{
	static const char bytes[] = {'a', '\0', 'b'};
	struct buf b = BUF_INIT;

	(void)state;
	buf_append(&b, bytes, sizeof(bytes));
	assert_int_equal(b.len, 3);
	assert_memory_equal(b.p, bytes, 3);
	assert_int_equal(b.p[3], '\0');
	buf_free(&b);
}

static void test_growth(void **state)
{
	struct buf b = BUF_INIT;
	size_t i;

	(void)state;
	for (i = 0; i < 100000; i++)
		buf_append_char(&b, (char)('a' + i % 26));
	assert_int_equal(b.len, 100000);
	assert_true(b.cap > b.len);
	for (i = 0; i < 100000; i++)
		assert_int_equal(b.p[i], 'a' + i % 26);
	assert_int_equal(b.p[100000], '\0');
	buf_free(&b);
}

static void test_reserve(void **state)
{
	struct buf b = BUF_INIT;
	char *before;

	(void)state;
	buf_reserve(&b, 1000);
	assert_non_null(b.p);
	assert_true(b.cap >= 1001);
	assert_string_equal(b.p, ""); /* reserved, still "" */
	before = b.p;
	for (int i = 0; i < 1000; i++)
		buf_append_char(&b, 'x');
	assert_ptr_equal(b.p, before); /* no reallocation within the reservation */
	assert_int_equal(b.len, 1000);
	buf_free(&b);
}

static void test_appendf(void **state)
{
	struct buf b = BUF_INIT;
	char big[3000];

	(void)state;
	buf_appendf(&b, "%s=%d;", "n", 42);
	buf_appendf(&b, "%s", "");
	assert_string_equal(b.p, "n=42;");
	assert_int_equal(b.len, 5);

	/* Longer than any fixed scratch buffer: never truncated. */
	memset(big, 'q', sizeof(big) - 1);
	big[sizeof(big) - 1] = '\0';
	buf_appendf(&b, "[%s]", big);
	assert_int_equal(b.len, 5 + 2 + sizeof(big) - 1);
	assert_int_equal(b.p[5], '[');
	assert_int_equal(b.p[b.len - 1], ']');
	assert_int_equal(b.p[b.len], '\0');
	assert_int_equal(strspn(b.p + 6, "q"), sizeof(big) - 1);
	buf_free(&b);

	/* printf into an empty buffer gives a buffer, "" into one gives "". */
	buf_appendf(&b, "%s", "");
	assert_non_null(b.p);
	assert_string_equal(b.p, "");
	buf_free(&b);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
	        cmocka_unit_test(test_empty_take), cmocka_unit_test(test_append),
	        cmocka_unit_test(test_binary),     cmocka_unit_test(test_growth),
	        cmocka_unit_test(test_reserve),    cmocka_unit_test(test_appendf),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
