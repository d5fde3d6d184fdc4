/*
 * test_base64url.c - base64url (strict), standard base64 decoding (lenient)
 * and encoding (padded).
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "auth/b64.h"

static const char url_alphabet[] =
        "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_";

static void enc_is(const char *in, const char *want)
{
	char out[64];
	ssize_t n = b64url_encode((const unsigned char *)in, strlen(in), out, sizeof(out));

	assert_int_equal(n, (ssize_t)strlen(want));
	assert_string_equal(out, want);
	assert_int_equal(B64URL_ENCODED_LEN(strlen(in)), strlen(want));
}

static void dec_is(const char *in, const char *want)
{
	unsigned char out[64];
	ssize_t n = b64url_decode(in, strlen(in), out, sizeof(out));

	assert_int_equal(n, (ssize_t)strlen(want));
	assert_memory_equal(out, want, strlen(want));
}

static void dec_rejects(const char *in)
{
	unsigned char out[64];

	assert_int_equal(b64url_decode(in, strlen(in), out, sizeof(out)), -1);
}

static void test_rfc4648_vectors(void **state)
{
	(void)state;
	enc_is("", "");
	enc_is("f", "Zg");
	enc_is("fo", "Zm8");
	enc_is("foo", "Zm9v");
	enc_is("foob", "Zm9vYg");
	enc_is("fooba", "Zm9vYmE");
	enc_is("foobar", "Zm9vYmFy");
	dec_is("", "");
	dec_is("Zg", "f");
	dec_is("Zm8", "fo");
	dec_is("Zm9v", "foo");
	dec_is("Zm9vYg", "foob");
	dec_is("Zm9vYmE", "fooba");
	dec_is("Zm9vYmFy", "foobar");
}

/* Every 6-bit value maps to the RFC 4648 section 5 character, both ways. */
static void test_alphabet(void **state)
{
	unsigned char in[1], back[4];
	char out[8];
	int v;

	(void)state;
	for (v = 0; v < 64; v++) {
		in[0] = (unsigned char)(v << 2);
		assert_int_equal(b64url_encode(in, 1, out, sizeof(out)), 2);
		assert_int_equal(out[0], url_alphabet[v]);
		assert_int_equal(out[1], 'A');
		assert_int_equal(b64url_decode(out, 2, back, sizeof(back)), 1);
		assert_int_equal(back[0], in[0]);
	}
	in[0] = 0xfb;
	assert_int_equal(b64url_encode((const unsigned char *)"\xfb\xff", 2, out, sizeof(out)), 3);
	assert_string_equal(out, "-_8");
}

/* Exactly the 64 alphabet characters are accepted, at every position. */
static void test_decode_charset(void **state)
{
	unsigned char out[8];
	char in[4];
	int c, pos;

	(void)state;
	for (pos = 0; pos < 4; pos++) {
		for (c = 0; c < 256; c++) {
			bool valid = c != 0 && strchr(url_alphabet, c) != NULL;
			memcpy(in, "AAAA", 4);
			in[pos] = (char)c;
			assert_int_equal(b64url_decode(in, 4, out, sizeof(out)), valid ? 3 : -1);
		}
	}
}

static void test_roundtrip_all_lengths(void **state)
{
	unsigned char in[300], back[300];
	char enc[512];
	size_t n, i;
	ssize_t e, d;

	(void)state;
	for (i = 0; i < sizeof(in); i++)
		in[i] = (unsigned char)(i * 7 + 3);
	for (n = 0; n <= sizeof(in); n++) {
		e = b64url_encode(in, n, enc, sizeof(enc));
		assert_int_equal(e, (ssize_t)B64URL_ENCODED_LEN(n));
		assert_int_equal(strlen(enc), (size_t)e);
		assert_null(strpbrk(enc, "=+/"));
		d = b64url_decode(enc, (size_t)e, back, sizeof(back));
		assert_int_equal(d, (ssize_t)n);
		assert_memory_equal(back, in, n);
	}
}

static void test_decode_strictness(void **state)
{
	(void)state;
	dec_rejects("Zg==");     /* padding */
	dec_rejects("Zg=");      /* padding */
	dec_rejects("Zm9v\n");   /* newline */
	dec_rejects("Zm 9v");    /* space */
	dec_rejects("Zm9vYmF+"); /* standard alphabet */
	dec_rejects("Zm9vYmF/");
	dec_rejects("Z");     /* n % 4 == 1 */
	dec_rejects("Zm9vY"); /* n % 4 == 1 */
	dec_rejects("Zh");    /* non-canonical: "f" is Zg */
	dec_rejects("Zm9");   /* non-canonical: "fo" is Zm8 */
	dec_rejects("Zm9vYmF");
}

static void test_decode_embedded_nul(void **state)
{
	unsigned char out[8];

	(void)state;
	assert_int_equal(b64url_decode("Zm\0v", 4, out, sizeof(out)), -1);
}

/* Too-small output buffers fail without writing past outcap. */
static void test_bounds(void **state)
{
	unsigned char out[8];
	char enc[8];

	(void)state;
	memset(out, 0xaa, sizeof(out));
	assert_int_equal(b64url_decode("Zm9vYmFy", 8, out, 5), -1);
	assert_int_equal(out[5], 0xaa);
	assert_int_equal(b64url_decode("Zm9vYmFy", 8, out, 6), 6);
	assert_int_equal(b64url_decode("Zm9vYg", 6, out, 3), -1);

	memset(enc, 0x55, sizeof(enc));
	assert_int_equal(b64url_encode((const unsigned char *)"foo", 3, enc, 4), -1);
	assert_int_equal(b64url_encode((const unsigned char *)"foo", 3, enc, 5), 4);
	assert_int_equal(enc[5], 0x55);

	memset(out, 0xaa, sizeof(out));
	assert_int_equal(b64std_decode("Zm9vYmFy", 8, out, 5), -1);
	assert_int_equal(out[5], 0xaa);
	assert_int_equal(b64std_decode("Zm9vYg==", 8, out, 3), -1);
}

static void std_is(const char *in, const char *want, size_t wantlen)
{
	unsigned char out[64];
	ssize_t n = b64std_decode(in, strlen(in), out, sizeof(out));

	assert_int_equal(n, (ssize_t)wantlen);
	assert_memory_equal(out, want, wantlen);
}

static void std_rejects(const char *in)
{
	unsigned char out[64];

	assert_int_equal(b64std_decode(in, strlen(in), out, sizeof(out)), -1);
}

static void test_std_decode(void **state)
{
	(void)state;
	std_is("Zm9vYmFy", "foobar", 6);
	std_is("Zm9vYg==", "foob", 4);
	std_is("Zm9vYmE=", "fooba", 5);
	std_is("Zm9vYg", "foob", 4); /* padding optional */
	std_is("Zm9v\nYmFy\r\n", "foobar", 6);
	std_is("  Zm9v YmE =\n", "fooba", 5);
	std_is("+/8=", "\xfb\xff", 2);
	std_is("", "", 0);
	std_rejects("Zm9vYg="); /* wrong padding */
	std_rejects("Zm9vY===");
	std_rejects("Zm9vYmE=="); /* too much padding */
	std_rejects("Zm9v=");
	std_rejects("Zg==Zg=="); /* data after padding */
	std_rejects("-_8=");     /* url alphabet */
	std_rejects("Zh==");     /* non-canonical */
	std_rejects("Z");
	std_rejects("Zm9v*");
}

static void std_enc_is(const char *in, size_t n, const char *want)
{
	char out[64];

	assert_int_equal(b64std_encode((const unsigned char *)in, n, out, sizeof(out)),
	                 (ssize_t)strlen(want));
	assert_string_equal(out, want);
	assert_int_equal(B64STD_ENCODED_LEN(n), strlen(want));
}

/* Padded standard base64 (RFC 4648 section 4), as in RFC 2047 encoded-words. */
static void test_std_encode(void **state)
{
	static const char std_alphabet[] =
	        "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
	unsigned char all[48], back[48];
	char out[65];
	size_t n;

	(void)state;
	std_enc_is("", 0, "");
	std_enc_is("f", 1, "Zg==");
	std_enc_is("fo", 2, "Zm8=");
	std_enc_is("foo", 3, "Zm9v");
	std_enc_is("foob", 4, "Zm9vYg==");
	std_enc_is("fooba", 5, "Zm9vYmE=");
	std_enc_is("foobar", 6, "Zm9vYmFy");
	std_enc_is("\xfb\xff", 2, "+/8=");
	std_enc_is("\0\0\0", 3, "AAAA");

	/* Every 6-bit value maps to its character: 48 bytes spell the alphabet. */
	for (size_t i = 0; i < 64; i += 4) {
		unsigned v = (unsigned)i << 18 | (unsigned)(i + 1) << 12 | (unsigned)(i + 2) << 6 |
		             (unsigned)(i + 3);

		all[i / 4 * 3] = (unsigned char)(v >> 16);
		all[i / 4 * 3 + 1] = (unsigned char)(v >> 8);
		all[i / 4 * 3 + 2] = (unsigned char)v;
	}
	assert_int_equal(b64std_encode(all, sizeof(all), out, sizeof(out)), 64);
	assert_string_equal(out, std_alphabet);

	/* Round trip through the lenient decoder at every length. */
	for (n = 0; n <= sizeof(all); n++) {
		assert_int_equal(b64std_encode(all, n, out, sizeof(out)),
		                 (ssize_t)B64STD_ENCODED_LEN(n));
		assert_int_equal(b64std_decode(out, strlen(out), back, sizeof(back)), (ssize_t)n);
		assert_memory_equal(back, all, n);
	}

	/* Too small an output buffer: -1, nothing written past it. */
	memset(out, 'x', sizeof(out));
	assert_int_equal(b64std_encode((const unsigned char *)"foo", 3, out, 4), -1);
	assert_int_equal(b64std_encode((const unsigned char *)"f", 1, out, 4), -1);
	assert_int_equal(b64std_encode((const unsigned char *)"f", 1, out, 5), 4);
	assert_string_equal(out, "Zg==");
}

static void test_alloc_variants(void **state)
{
	unsigned char *d;
	size_t n = 99;
	char *e;

	(void)state;
	e = b64url_encode_alloc((const unsigned char *)"foobar", 6);
	assert_string_equal(e, "Zm9vYmFy");
	free(e);
	d = b64url_decode_alloc("Zm9vYmE", 7, &n);
	assert_non_null(d);
	assert_int_equal(n, 5);
	assert_string_equal((char *)d, "fooba"); /* NUL-terminated for convenience */
	free(d);
	assert_null(b64url_decode_alloc("Zm9vYmE=", 8, &n));
	d = b64std_decode_alloc("Zm9v\nYg==\n", 10, &n);
	assert_non_null(d);
	assert_int_equal(n, 4);
	assert_memory_equal(d, "foob", 4);
	free(d);
	assert_null(b64std_decode_alloc("Zm9v!", 5, &n));
}

int main(void)
{
	const struct CMUnitTest tests[] = {
	        cmocka_unit_test(test_rfc4648_vectors),
	        cmocka_unit_test(test_alphabet),
	        cmocka_unit_test(test_decode_charset),
	        cmocka_unit_test(test_roundtrip_all_lengths),
	        cmocka_unit_test(test_decode_strictness),
	        cmocka_unit_test(test_decode_embedded_nul),
	        cmocka_unit_test(test_bounds),
	        cmocka_unit_test(test_std_decode),
	        cmocka_unit_test(test_std_encode),
	        cmocka_unit_test(test_alloc_variants),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
