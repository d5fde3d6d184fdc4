/*
 * test_dotenv.c - unit tests for the .env parser: the accepted syntax, the
 * bad lines it reports by number, file loading, and a deterministic
 * random-input pass that must never crash (run it under ASan/UBSan).
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <cmocka.h>

#include "dotenv.h"
#include "tmppath.h"

/* Parse a NUL-terminated string; fail the test when the result differs. */
static void parse_ok(const char *text, struct dotenv *env)
{
	size_t bad = 99;

	assert_int_equal(dotenv_parse(text, strlen(text), env, &bad), 0);
	assert_int_equal(bad, 0);
}

static size_t parse_bad(const char *text)
{
	struct dotenv env;
	size_t bad = 0;

	assert_int_equal(dotenv_parse(text, strlen(text), &env, &bad), -1);
	assert_int_equal(env.n, 0);
	assert_null(env.entries);
	return bad;
}

static void test_basic_assignments(void **state)
{
	struct dotenv env;

	(void)state;
	parse_ok("A=1\nB=two words\nC=\n", &env);
	assert_int_equal(env.n, 3);
	assert_string_equal(dotenv_get(&env, "A"), "1");
	assert_string_equal(dotenv_get(&env, "B"), "two words");
	assert_string_equal(dotenv_get(&env, "C"), "");
	assert_null(dotenv_get(&env, "D"));
	assert_null(dotenv_get(&env, "a"));
	dotenv_free(&env);
	assert_int_equal(env.n, 0);
	assert_null(env.entries);
}

static void test_comments_and_blank_lines(void **state)
{
	struct dotenv env;

	(void)state;
	parse_ok("# Application\n\n   \n\t# indented comment\nAPP_NAME=Auth Service\n#X=1\n", &env);
	assert_int_equal(env.n, 1);
	assert_string_equal(dotenv_get(&env, "APP_NAME"), "Auth Service");
	assert_null(dotenv_get(&env, "X"));
	dotenv_free(&env);
}

static void test_export_prefix_and_spacing(void **state)
{
	struct dotenv env;

	(void)state;
	parse_ok("export A=1\nexport\tB = 2 \n  C\t=\t3\t\nexport=4\nexportX=5\n", &env);
	assert_string_equal(dotenv_get(&env, "A"), "1");
	assert_string_equal(dotenv_get(&env, "B"), "2");
	assert_string_equal(dotenv_get(&env, "C"), "3");
	/* "export" alone is an ordinary key, and so is a key that starts with it. */
	assert_string_equal(dotenv_get(&env, "export"), "4");
	assert_string_equal(dotenv_get(&env, "exportX"), "5");
	assert_int_equal(env.n, 5);
	dotenv_free(&env);
}

static void test_inline_comments(void **state)
{
	struct dotenv env;

	(void)state;
	parse_ok("A=value # a comment\nB=pa#ss\nC=#notcomment\nD= # only a comment\n"
	         "E=x\t# tab comment\nF='q # kept' # gone\nG=\"h # kept\"\n",
	         &env);
	assert_string_equal(dotenv_get(&env, "A"), "value");
	assert_string_equal(dotenv_get(&env, "B"), "pa#ss");
	assert_string_equal(dotenv_get(&env, "C"), "#notcomment");
	assert_string_equal(dotenv_get(&env, "D"), "");
	assert_string_equal(dotenv_get(&env, "E"), "x");
	assert_string_equal(dotenv_get(&env, "F"), "q # kept");
	assert_string_equal(dotenv_get(&env, "G"), "h # kept");
	dotenv_free(&env);
}

static void test_single_quotes_are_literal(void **state)
{
	struct dotenv env;

	(void)state;
	parse_ok("A='  spaced  '\nB='a\\nb'\nC='say \"hi\"'\nD=''\n", &env);
	assert_string_equal(dotenv_get(&env, "A"), "  spaced  ");
	assert_string_equal(dotenv_get(&env, "B"), "a\\nb");
	assert_string_equal(dotenv_get(&env, "C"), "say \"hi\"");
	assert_string_equal(dotenv_get(&env, "D"), "");
	dotenv_free(&env);
}

static void test_double_quote_escapes(void **state)
{
	struct dotenv env;

	(void)state;
	parse_ok("A=\"l1\\nl2\"\nB=\"q\\\"q\"\nC=\"back\\\\slash\"\nD=\"tab\\tx\"\n"
	         "E=\"keep\\$x\"\nF=\"\"\nG=\"it\\'s\"\n",
	         &env);
	assert_string_equal(dotenv_get(&env, "A"), "l1\nl2");
	assert_string_equal(dotenv_get(&env, "B"), "q\"q");
	assert_string_equal(dotenv_get(&env, "C"), "back\\slash");
	assert_string_equal(dotenv_get(&env, "D"), "tab\tx");
	assert_string_equal(dotenv_get(&env, "E"), "keep\\$x");
	assert_string_equal(dotenv_get(&env, "F"), "");
	assert_string_equal(dotenv_get(&env, "G"), "it's");
	dotenv_free(&env);
}

static void test_multiline_quoted_value(void **state)
{
	struct dotenv env;

	(void)state;
	parse_ok("KEY=\"-----BEGIN-----\nabc\n-----END-----\"\nNEXT=1\nS='a\r\nb'\n", &env);
	assert_string_equal(dotenv_get(&env, "KEY"), "-----BEGIN-----\nabc\n-----END-----");
	assert_string_equal(dotenv_get(&env, "NEXT"), "1");
	assert_string_equal(dotenv_get(&env, "S"), "a\nb");
	dotenv_free(&env);
	/* Line numbers keep counting through a multi-line value. */
	assert_int_equal(parse_bad("A=\"x\ny\nz\"\nB=1\nbroken\n"), 5);
}

static void test_crlf_bom_and_no_final_newline(void **state)
{
	struct dotenv env;

	(void)state;
	parse_ok("\xEF\xBB\xBF"
	         "A=1\r\nB=two \r\n\r\nC=\"q\"\r\nD=last",
	         &env);
	assert_string_equal(dotenv_get(&env, "A"), "1");
	assert_string_equal(dotenv_get(&env, "B"), "two");
	assert_string_equal(dotenv_get(&env, "C"), "q");
	assert_string_equal(dotenv_get(&env, "D"), "last");
	assert_int_equal(env.n, 4);
	dotenv_free(&env);
}

static void test_duplicates_later_wins(void **state)
{
	struct dotenv env;

	(void)state;
	parse_ok("A=1\nB=x\nA=2\n", &env);
	assert_int_equal(env.n, 2);
	assert_string_equal(dotenv_get(&env, "A"), "2");
	dotenv_free(&env);
}

static void test_bad_lines_are_numbered(void **state)
{
	(void)state;
	assert_int_equal(parse_bad("A=1\nnot an assignment\n"), 2);
	assert_int_equal(parse_bad("\n\n\nJUSTKEY\n"), 4);
	assert_int_equal(parse_bad("1ABC=x\n"), 1);
	assert_int_equal(parse_bad("A-B=x\n"), 1);
	assert_int_equal(parse_bad("=value\n"), 1);
	assert_int_equal(parse_bad("A=1\nB=\"unterminated\nC=3\n"), 2);
	assert_int_equal(parse_bad("A='unterminated"), 1);
	assert_int_equal(parse_bad("A=\"x\" trailing\n"), 1);
	assert_int_equal(parse_bad("A='x'y\n"), 1);
	assert_int_equal(parse_bad("export\n"), 1);
	assert_int_equal(parse_bad("export \n"), 1);
	assert_int_equal(parse_bad("A=1\r\nB\r\n"), 2);
	assert_int_equal(parse_bad("A=\"ends in backslash\\"), 1);
}

static void test_nul_bytes_rejected(void **state)
{
	static const char in1[] = "A=1\nB=x\0y\n";
	static const char in2[] = "A=\"x\0\"\n";
	static const char in3[] = "#c\0mment\nA=1\n";
	struct dotenv env;
	size_t bad = 0;

	(void)state;
	assert_int_equal(dotenv_parse(in1, sizeof(in1) - 1, &env, &bad), -1);
	assert_int_equal(bad, 2);
	assert_int_equal(dotenv_parse(in2, sizeof(in2) - 1, &env, &bad), -1);
	assert_int_equal(bad, 1);
	/* Inside a comment a NUL is harmless. */
	assert_int_equal(dotenv_parse(in3, sizeof(in3) - 1, &env, &bad), 0);
	assert_string_equal(dotenv_get(&env, "A"), "1");
	dotenv_free(&env);
}

static void test_not_nul_terminated_buffer(void **state)
{
	struct dotenv env;
	char *buf = malloc(5);

	(void)state;
	memcpy(buf, "A=abc", 5); /* no terminator: ASan catches any over-read */
	assert_int_equal(dotenv_parse(buf, 5, &env, NULL), 0);
	assert_string_equal(dotenv_get(&env, "A"), "abc");
	dotenv_free(&env);
	memcpy(buf, "A=\"ab", 5);
	assert_int_equal(dotenv_parse(buf, 5, &env, NULL), -1);
	memcpy(buf, "A=x \\", 5);
	assert_int_equal(dotenv_parse(buf, 5, &env, NULL), 0);
	assert_string_equal(dotenv_get(&env, "A"), "x \\");
	dotenv_free(&env);
	free(buf);
}

static void test_empty_input_and_null_safety(void **state)
{
	struct dotenv env;
	struct dotenv zero = {0};

	(void)state;
	assert_int_equal(dotenv_parse("", 0, &env, NULL), 0);
	assert_int_equal(env.n, 0);
	/*
	 * Regression (clang UBSan, build-fuzz): a NULL buffer used to be
	 * offset by its length before the NULL check ("applying zero offset to
	 * null pointer").  Both lengths must be answered without touching it.
	 */
	assert_int_equal(dotenv_parse(NULL, 0, &env, NULL), 0);
	assert_int_equal(env.n, 0);
	assert_null(env.entries);
	assert_int_equal(dotenv_parse(NULL, 5, &env, NULL), -1);
	assert_int_equal(env.n, 0);
	assert_null(dotenv_get(NULL, "A"));
	assert_null(dotenv_get(&zero, "A"));
	dotenv_free(&zero);
	dotenv_free(NULL);
}

static void test_entry_limit(void **state)
{
	size_t cap = 5000 * 12, len = 0;
	char *buf = malloc(cap);
	struct dotenv env;
	size_t bad = 0;

	(void)state;
	for (int i = 0; i < 5000; i++)
		len += (size_t)snprintf(buf + len, cap - len, "K%d=v\n", i);
	assert_int_equal(dotenv_parse(buf, len, &env, &bad), -1);
	assert_int_equal(bad, 4097);
	/* Duplicates do not count against the limit. */
	len = 0;
	for (int i = 0; i < 5000; i++)
		len += (size_t)snprintf(buf + len, cap - len, "K%d=v\n", i % 10);
	assert_int_equal(dotenv_parse(buf, len, &env, &bad), 0);
	assert_int_equal(env.n, 10);
	dotenv_free(&env);
	free(buf);
}

static char *write_temp(const char *content, size_t len)
{
	char *path = malloc(64);
	int fd = path ? tmp_file(path, 64, "/tmp/test_dotenv_") : -1;

	assert_true(fd >= 0);
	assert_int_equal(write(fd, content, len), (ssize_t)len);
	close(fd);
	return path;
}

static void test_load_file(void **state)
{
	struct dotenv env;
	size_t bad = 0;
	char *path;

	(void)state;
	path = write_temp("X=1\nY='two'\n", 12);
	assert_int_equal(dotenv_load_file(path, &env, &bad), 0);
	assert_string_equal(dotenv_get(&env, "X"), "1");
	assert_string_equal(dotenv_get(&env, "Y"), "two");
	dotenv_free(&env);
	unlink(path);
	free(path);

	path = write_temp("X=1\n\nbad line\n", 15);
	assert_int_equal(dotenv_load_file(path, &env, &bad), -1);
	assert_int_equal(bad, 3);
	unlink(path);
	free(path);

	assert_int_equal(dotenv_load_file("/nonexistent/dir/.env", &env, &bad), 1);
	assert_int_equal(env.n, 0);
	/* A directory is not a .env file. */
	assert_int_equal(dotenv_load_file("/tmp", &env, &bad), -1);
	assert_int_equal(bad, 0);
}

static void test_load_file_too_large(void **state)
{
	size_t len = 1024 * 1024 + 10;
	char *big = malloc(len);
	struct dotenv env;
	size_t bad = 7;
	char *path;

	(void)state;
	memset(big, '#', len);
	path = write_temp(big, len);
	assert_int_equal(dotenv_load_file(path, &env, &bad), -1);
	assert_int_equal(bad, 0);
	unlink(path);
	free(path);
	free(big);
}

/* Deterministic pseudo-random inputs biased towards .env syntax. */
static void test_random_inputs_never_crash(void **state)
{
	static const char alphabet[] = "AZ_az09=#'\"\\ \t\r\nexport\0\xEF\xBB\xBF";
	uint32_t seed = 12345;

	(void)state;
	for (int round = 0; round < 20000; round++) {
		size_t len, i;
		char *buf;
		struct dotenv env;
		size_t bad = 0;
		int rc;

		seed = seed * 1103515245u + 12345u;
		len = (seed >> 16) % 96;
		buf = malloc(len ? len : 1);
		for (i = 0; i < len; i++) {
			seed = seed * 1103515245u + 12345u;
			buf[i] = (seed >> 24) & 1 ? alphabet[(seed >> 16) % (sizeof(alphabet) - 1)]
			                          : (char)(seed >> 16);
		}
		rc = dotenv_parse(buf, len, &env, &bad);
		assert_true(rc == 0 || rc == -1);
		if (rc == 0) {
			assert_int_equal(bad, 0);
			for (i = 0; i < env.n; i++) {
				assert_non_null(env.entries[i].key);
				assert_non_null(env.entries[i].value);
				assert_ptr_equal(dotenv_get(&env, env.entries[i].key),
				                 env.entries[i].value);
			}
		} else {
			assert_true(bad >= 1);
			assert_int_equal(env.n, 0);
		}
		dotenv_free(&env);
		free(buf);
	}
}

int main(void)
{
	const struct CMUnitTest tests[] = {
	        cmocka_unit_test(test_basic_assignments),
	        cmocka_unit_test(test_comments_and_blank_lines),
	        cmocka_unit_test(test_export_prefix_and_spacing),
	        cmocka_unit_test(test_inline_comments),
	        cmocka_unit_test(test_single_quotes_are_literal),
	        cmocka_unit_test(test_double_quote_escapes),
	        cmocka_unit_test(test_multiline_quoted_value),
	        cmocka_unit_test(test_crlf_bom_and_no_final_newline),
	        cmocka_unit_test(test_duplicates_later_wins),
	        cmocka_unit_test(test_bad_lines_are_numbered),
	        cmocka_unit_test(test_nul_bytes_rejected),
	        cmocka_unit_test(test_not_nul_terminated_buffer),
	        cmocka_unit_test(test_empty_input_and_null_safety),
	        cmocka_unit_test(test_entry_limit),
	        cmocka_unit_test(test_load_file),
	        cmocka_unit_test(test_load_file_too_large),
	        cmocka_unit_test(test_random_inputs_never_crash),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
