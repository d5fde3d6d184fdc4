/*
 * test_password.c - password rules, bcrypt hashing/verification, rehash
 * decisions and the timing dummy.  Low costs (4-6) keep it fast.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <pthread.h>
#include <string.h>
#include <time.h>

#include <cmocka.h>

#include "auth/password.h"

/* Generated with python3-bcrypt 3.2.2 (and the $2b$ hash re-prefixed to $2y$). */
#define PW1          "correct horse battery staple"
#define HASH_2B      "$2b$05$QiSmdigHEfeMRfogDj6rVOV1SFKb4q.oyAt/hGNzgpf5ByB/FUAeS"
#define HASH_2A      "$2a$05$t1cUfZdN3avnGIOGH3NQceP5ixi3GjKoZno4gcJd8V.mAGCbqScCq"
#define PW2          "p\xc3\xa4ssw\xc3\xb6rd\xe2\x82\xac" /* "pässwörd€" */
#define HASH_2B_UTF8 "$2b$04$3ZOkhq5yqjslm1HxmPAqAO7VFgE/IzUzSkXw5Nb/fJslRe2yc/ZLC"
#define HASH_2Y_UTF8 "$2y$04$3ZOkhq5yqjslm1HxmPAqAO7VFgE/IzUzSkXw5Nb/fJslRe2yc/ZLC"
/* bcrypt of 72 'a's; Python's bcrypt also accepts 73 'a's (truncation). */
#define HASH_72A "$2b$04$cwdDeocQ6fex2xlgTsueT.2cHbDl3tgEKZNey5n6OcO2evLYkwW5K"

static int check(const char *pw, size_t len, const char **why)
{
	return password_check(pw, len, 8, why);
}

static void check_fails(const char *pw, size_t len, const char *want)
{
	const char *why = NULL;

	assert_int_equal(check(pw, len, &why), -1);
	assert_non_null(why);
	assert_string_equal(why, want);
}

static void check_ok(const char *pw, size_t len)
{
	const char *why = "unset";

	assert_int_equal(check(pw, len, &why), 0);
	assert_null(why);
}

static void test_min_length_code_points(void **state)
{
	(void)state;
	check_fails("passwor", 7, "Password must be at least 8 characters");
	check_ok("password", 8);
	/* "pässwör": 7 code points in 9 bytes is too short. */
	check_fails("p\xc3\xa4ssw\xc3\xb6r", 9, "Password must be at least 8 characters");
	/* "pässwörd": 8 code points in 10 bytes is enough. */
	check_ok("p\xc3\xa4ssw\xc3\xb6rd", 10);
	/* 7 x U+20AC (21 bytes) short, 8 x enough; U+1F600 counts as one. */
	check_fails("\xe2\x82\xac\xe2\x82\xac\xe2\x82\xac\xe2\x82\xac\xe2\x82\xac\xe2\x82\xac"
	            "\xe2\x82\xac",
	            21, "Password must be at least 8 characters");
	check_ok("\xe2\x82\xac\xe2\x82\xac\xe2\x82\xac\xe2\x82\xac\xe2\x82\xac\xe2\x82\xac"
	         "\xe2\x82\xac\xe2\x82\xac",
	         24);
	check_fails("abcdef\xf0\x9f\x98\x80", 10, "Password must be at least 8 characters");
	check_ok("abcdefg\xf0\x9f\x98\x80", 11);
}

static void test_min_length_message_uses_setting(void **state)
{
	const char *why = NULL;

	(void)state;
	assert_int_equal(password_check("abcdefghijk", 11, 12, &why), -1);
	assert_string_equal(why, "Password must be at least 12 characters");
	assert_int_equal(password_check("abcdefghijkl", 12, 12, &why), 0);
	assert_int_equal(password_check("a", 1, 70, &why), -1);
	assert_string_equal(why, "Password must be at least 70 characters");
	assert_int_equal(password_check("a", 1, 99, &why), -1);
	assert_string_equal(why, "Password is too short");
}

static void test_max_72_bytes(void **state)
{
	char pw[80];
	char euro[80];
	int i;

	(void)state;
	memset(pw, 'a', sizeof(pw));
	check_ok(pw, 72);
	check_fails(pw, 73, "Password must be at most 72 bytes (bcrypt limit)");
	/* 24 x U+20AC is 72 bytes: fine; one more ASCII byte is not. */
	for (i = 0; i < 24; i++)
		memcpy(euro + 3 * i, "\xe2\x82\xac", 3);
	euro[72] = 'a';
	check_ok(euro, 72);
	check_fails(euro, 73, "Password must be at most 72 bytes (bcrypt limit)");
}

static void test_nul_rejected(void **state)
{
	(void)state;
	check_fails("pass\0word123", 12, "Password must not contain NUL characters");
	check_fails("\0abcdefgh", 9, "Password must not contain NUL characters");
}

static void test_invalid_utf8(void **state)
{
	static const char *const bad[] = {
	        "abcdefgh\x80",             /* lone continuation byte */
	        "abcdefgh\xc0\xaf",         /* overlong '/' (2 bytes) */
	        "abcdefgh\xc1\xbf",         /* overlong (C1 lead) */
	        "abcdefgh\xe0\x80\xaf",     /* overlong '/' (3 bytes) */
	        "abcdefgh\xf0\x80\x80\xaf", /* overlong '/' (4 bytes) */
	        "abcdefgh\xed\xa0\x80",     /* U+D800 surrogate */
	        "abcdefgh\xed\xbf\xbf",     /* U+DFFF surrogate */
	        "abcdefgh\xf4\x90\x80\x80", /* U+110000 */
	        "abcdefgh\xf5\x80\x80\x80", /* F5 lead */
	        "abcdefgh\xff",
	        "abcdefgh\xe2\x82",     /* truncated sequence */
	        "abcdefgh\xe2\x28\xa1", /* bad continuation */
	};
	size_t i;

	(void)state;
	for (i = 0; i < sizeof(bad) / sizeof(bad[0]); i++)
		check_fails(bad[i], strlen(bad[i]), "Password must be valid UTF-8");
	/* Edges that are valid. */
	check_ok("abcdefgh\xed\x9f\xbf", 11);     /* U+D7FF */
	check_ok("abcdefgh\xee\x80\x80", 11);     /* U+E000 */
	check_ok("abcdefgh\xf4\x8f\xbf\xbf", 12); /* U+10FFFF */
	check_ok("abcdefgh\xc2\x80", 10);         /* U+0080 */
}

static void test_hash_and_verify(void **state)
{
	char h1[PASSWORD_HASH_MAX], h2[PASSWORD_HASH_MAX];

	(void)state;
	assert_int_equal(password_hash("s3cret-pass", 4, h1), 0);
	assert_int_equal(strlen(h1), 60);
	assert_memory_equal(h1, "$2b$04$", 7);
	assert_int_equal(password_verify("s3cret-pass", h1), 1);
	assert_int_equal(password_verify("s3cret-pasS", h1), 0);
	assert_int_equal(password_verify("", h1), 0);
	/* A fresh salt each time. */
	assert_int_equal(password_hash("s3cret-pass", 4, h2), 0);
	assert_string_not_equal(h1, h2);
	assert_int_equal(password_verify("s3cret-pass", h2), 1);

	assert_int_equal(password_hash(PW2, 5, h1), 0);
	assert_memory_equal(h1, "$2b$05$", 7);
	assert_int_equal(password_verify(PW2, h1), 1);
}

static void test_hash_rejects(void **state)
{
	char h[PASSWORD_HASH_MAX], pw[80];

	(void)state;
	memset(pw, 'a', 73);
	pw[73] = '\0';
	assert_int_equal(password_hash(pw, 4, h), -1); /* never truncate */
	pw[72] = '\0';
	assert_int_equal(password_hash(pw, 4, h), 0);
	assert_int_equal(password_hash("password", 3, h), -1);
	assert_int_equal(password_hash("password", 32, h), -1);
	assert_int_equal(password_hash(NULL, 4, h), -1);
}

static void test_known_vectors(void **state)
{
	char a72[80];

	(void)state;
	assert_int_equal(password_verify(PW1, HASH_2B), 1);
	assert_int_equal(password_verify(PW1, HASH_2A), 1);
	assert_int_equal(password_verify(PW2, HASH_2B_UTF8), 1);
	assert_int_equal(password_verify(PW2, HASH_2Y_UTF8), 1);
	assert_int_equal(password_verify("correct horse battery stapl", HASH_2B), 0);
	assert_int_equal(password_verify("correct horse battery staplE", HASH_2A), 0);
	assert_int_equal(password_verify("pässwörd", HASH_2Y_UTF8), 0);

	memset(a72, 'a', 73);
	a72[72] = '\0';
	assert_int_equal(password_verify(a72, HASH_72A), 1);
	a72[72] = 'a';
	a72[73] = '\0';
	/* bcrypt would accept this by truncation; we refuse instead. */
	assert_int_equal(password_verify(a72, HASH_72A), 0);
}

static void test_verify_malformed_hash(void **state)
{
	(void)state;
	assert_int_equal(password_verify(PW1, ""), -1);
	assert_int_equal(password_verify(PW1, NULL), -1);
	assert_int_equal(password_verify(PW1, "$2b$05$short"), -1);
	assert_int_equal(password_verify(PW1, "$1$abcdefgh$0123456789abcdefghijkl"), -1);
	assert_int_equal(
	        password_verify(PW1,
	                        "$2x$05$QiSmdigHEfeMRfogDj6rVOV1SFKb4q.oyAt/hGNzgpf5ByB/FUAeS"),
	        -1);
	assert_int_equal(
	        password_verify(PW1,
	                        "$2b$03$QiSmdigHEfeMRfogDj6rVOV1SFKb4q.oyAt/hGNzgpf5ByB/FUAeS"),
	        -1);
	assert_int_equal(password_verify(PW1, HASH_2B "x"), -1);
	assert_int_equal(password_verify(NULL, HASH_2B), -1);
}

static void test_rounds_and_rehash(void **state)
{
	(void)state;
	assert_int_equal(password_hash_rounds(HASH_2B), 5);
	assert_int_equal(password_hash_rounds(HASH_2Y_UTF8), 4);
	assert_int_equal(password_hash_rounds(
	                         "$2b$12$QiSmdigHEfeMRfogDj6rVOV1SFKb4q.oyAt/hGNzgpf5ByB/FUAeS"),
	                 12);
	assert_int_equal(password_hash_rounds("garbage"), -1);
	assert_int_equal(password_hash_rounds(NULL), -1);

	assert_false(password_needs_rehash(HASH_2B, 5));
	assert_false(password_needs_rehash(HASH_2B, 4)); /* stronger than configured: keep */
	assert_true(password_needs_rehash(HASH_2B, 6));
	assert_true(password_needs_rehash(HASH_2A, 5)); /* $2a$ -> $2b$ */
	assert_true(password_needs_rehash(HASH_2Y_UTF8, 4));
	assert_true(password_needs_rehash("garbage", 4));
	assert_true(password_needs_rehash(NULL, 4));
}

static double now_s(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

static void test_dummy_verify(void **state)
{
	char h[PASSWORD_HASH_MAX];
	double t0, real, dummy;
	int i;

	(void)state;
	assert_int_equal(password_dummy_verify("anything", 3), -1);
	assert_int_equal(password_dummy_verify("anything", 32), -1);
	assert_int_equal(password_dummy_verify("anything", 7), 0);
	assert_int_equal(password_dummy_verify("auth-service timing dummy", 7), 0);
	assert_int_equal(password_dummy_verify(NULL, 7), 0);

	/* It costs about what a real verification of that cost costs. */
	assert_int_equal(password_hash("x", 7, h), 0);
	t0 = now_s();
	for (i = 0; i < 3; i++)
		assert_int_equal(password_verify("y", h), 0);
	real = now_s() - t0;
	t0 = now_s();
	for (i = 0; i < 3; i++)
		assert_int_equal(password_dummy_verify("y", 7), 0);
	dummy = now_s() - t0;
	assert_true(dummy > real / 4);
	assert_true(dummy < real * 4);
}

static void *dummy_thread(void *arg)
{
	(void)arg;
	return (void *)(intptr_t)password_dummy_verify("concurrent", 6);
}

/* Many threads racing to fill the same cache slot. */
static void test_dummy_concurrent(void **state)
{
	pthread_t t[8];
	void *ret;
	int i;

	(void)state;
	for (i = 0; i < 8; i++)
		assert_int_equal(pthread_create(&t[i], NULL, dummy_thread, NULL), 0);
	for (i = 0; i < 8; i++) {
		assert_int_equal(pthread_join(t[i], &ret), 0);
		assert_int_equal((intptr_t)ret, 0);
	}
}

int main(void)
{
	const struct CMUnitTest tests[] = {
	        cmocka_unit_test(test_min_length_code_points),
	        cmocka_unit_test(test_min_length_message_uses_setting),
	        cmocka_unit_test(test_max_72_bytes),
	        cmocka_unit_test(test_nul_rejected),
	        cmocka_unit_test(test_invalid_utf8),
	        cmocka_unit_test(test_hash_and_verify),
	        cmocka_unit_test(test_hash_rejects),
	        cmocka_unit_test(test_known_vectors),
	        cmocka_unit_test(test_verify_malformed_hash),
	        cmocka_unit_test(test_rounds_and_rehash),
	        cmocka_unit_test(test_dummy_verify),
	        cmocka_unit_test(test_dummy_concurrent),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
