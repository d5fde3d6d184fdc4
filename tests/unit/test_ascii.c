/* test_ascii.c - locale-free character classes and hex digits (src/ascii.[ch]). */
#include <setjmp.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>

#include <cmocka.h>

#include "ascii.h"

static void test_is_alnum(void **state)
{
	(void)state;
	for (int c = 0; c < 256; c++) {
		bool want =
		        (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9');

		assert_int_equal(ascii_is_alnum((char)c), want);
	}
}

static void test_is_ctl(void **state)
{
	(void)state;
	for (int c = 0; c < 256; c++)
		assert_int_equal(ascii_is_ctl((char)c), c < 0x20 || c == 0x7f);
}

static void test_hex_value(void **state)
{
	static const char digits[] = "0123456789abcdef";
	int hits = 0;

	(void)state;
	for (int i = 0; i < 16; i++) {
		assert_int_equal(ascii_hex_value(digits[i]), i);
		if (i >= 10)
			assert_int_equal(ascii_hex_value((char)(digits[i] - 'a' + 'A')), i);
	}
	for (int c = 0; c < 256; c++)
		if (ascii_hex_value((char)c) >= 0)
			hits++;
	assert_int_equal(hits, 22); /* 0-9, a-f, A-F and nothing else */
	assert_int_equal(ascii_hex_value('g'), -1);
	assert_int_equal(ascii_hex_value('\0'), -1);
	assert_int_equal(ascii_hex_value((char)0xc3), -1);
}

static void test_hex_byte(void **state)
{
	(void)state;
	assert_int_equal(ascii_hex_byte("00"), 0);
	assert_int_equal(ascii_hex_byte("2F"), 0x2f);
	assert_int_equal(ascii_hex_byte("2f"), 0x2f);
	assert_int_equal(ascii_hex_byte("ff"), 255);
	assert_int_equal(ascii_hex_byte("7g"), -1);
	assert_int_equal(ascii_hex_byte("g7"), -1);
	assert_int_equal(ascii_hex_byte("+1"), -1);
	assert_int_equal(ascii_hex_byte(""), -1); /* stops at the NUL: s[1] is not read */
}

static void test_hex_encode(void **state)
{
	static const unsigned char in[] = {0x00, 0x0f, 0xa5, 0xff};
	char out[9];

	(void)state;
	ascii_hex_encode(in, sizeof(in), out, false);
	assert_string_equal(out, "000fa5ff");
	ascii_hex_encode(in, sizeof(in), out, true);
	assert_string_equal(out, "000FA5FF");
	ascii_hex_encode(in, 0, out, true);
	assert_string_equal(out, "");
	for (int c = 0; c < 256; c++) {
		unsigned char b = (unsigned char)c;

		ascii_hex_encode(&b, 1, out, c & 1);
		assert_int_equal(ascii_hex_byte(out), c);
	}
}

int main(void)
{
	const struct CMUnitTest tests[] = {
	        cmocka_unit_test(test_is_alnum),   cmocka_unit_test(test_is_ctl),
	        cmocka_unit_test(test_hex_value),  cmocka_unit_test(test_hex_byte),
	        cmocka_unit_test(test_hex_encode),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
