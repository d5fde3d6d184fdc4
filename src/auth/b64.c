/*
 * b64.c - base64url and standard base64.
 *
 * The 6-bit value <-> character mappings are computed with arithmetic and
 * masks instead of table look-ups, so that encoding or decoding secret
 * material (refresh tokens, the private-key PEM) does not index memory by
 * secret data.  Decoding accumulates an error flag and checks it once per
 * call; the only data-dependent branches are on malformed input, which is
 * rejected as a whole anyway.
 */
#include "auth/b64.h"

#include <limits.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "arena.h"

/*
 * Each term is -1 (all ones) when lo <= c <= hi and 0 otherwise: both
 * (lo - 1 - c) and (c - hi - 1) are negative only inside the range, and c
 * is a byte so the AND of a negative and a non-negative value stays below
 * 256 and shifts to 0.
 */
#define IN_RANGE(c, lo, hi) ((((lo)-1 - (c)) & ((c) - (hi)-1)) >> 8)

/* 0..63 for a base64url character, -1 otherwise. */
static int dec_url(int c)
{
	int v = -1;

	v += IN_RANGE(c, 'A', 'Z') & (c - 'A' + 1);
	v += IN_RANGE(c, 'a', 'z') & (c - 'a' + 27);
	v += IN_RANGE(c, '0', '9') & (c - '0' + 53);
	v += IN_RANGE(c, '-', '-') & 63;
	v += IN_RANGE(c, '_', '_') & 64;
	return v;
}

/* 0..63 for a standard base64 character, -1 otherwise. */
static int dec_std(int c)
{
	int v = -1;

	v += IN_RANGE(c, 'A', 'Z') & (c - 'A' + 1);
	v += IN_RANGE(c, 'a', 'z') & (c - 'a' + 27);
	v += IN_RANGE(c, '0', '9') & (c - '0' + 53);
	v += IN_RANGE(c, '+', '+') & 63;
	v += IN_RANGE(c, '/', '/') & 64;
	return v;
}

/*
 * The character for v in 0..63 of the alphabet A-Z a-z 0-9 c62 c63
 * (base64url: '-' '_', standard base64: '+' '/').
 */
static char enc64(unsigned int v, int c62, int c63)
{
	int d = (int)v;
	int c = 'A' + d;

	/* Each step moves the offset on when d passes a range boundary. */
	c += ((25 - d) >> 8) & ('a' - 26 - 'A');
	c += ((51 - d) >> 8) & (('0' - 52) - ('a' - 26));
	c += ((61 - d) >> 8) & ((c62 - 62) - ('0' - 52));
	c += ((62 - d) >> 8) & ((c63 - 63) - (c62 - 62));
	return (char)c;
}

/*
 * Encode n bytes into out[0..outcap) with the alphabet ending in c62 c63,
 * '=' padded when pad; NUL-terminates, returns the length without the NUL,
 * or -1 when out is too small.
 */
static ssize_t encode(const unsigned char *in, size_t n, char *out, size_t outcap, int c62, int c63,
                      bool pad)
{
	size_t i, o = 0;
	uint32_t w;

	if (n > (SIZE_MAX / 4) - 2 || n > (size_t)(SSIZE_MAX / 2))
		return -1;
	if (outcap < (pad ? B64STD_ENCODED_LEN(n) : B64URL_ENCODED_LEN(n)) + 1)
		return -1;

	for (i = 0; i + 3 <= n; i += 3) {
		w = (uint32_t)in[i] << 16 | (uint32_t)in[i + 1] << 8 | in[i + 2];
		out[o++] = enc64((w >> 18) & 63, c62, c63);
		out[o++] = enc64((w >> 12) & 63, c62, c63);
		out[o++] = enc64((w >> 6) & 63, c62, c63);
		out[o++] = enc64(w & 63, c62, c63);
	}
	if (n - i == 1) {
		w = (uint32_t)in[i] << 16;
		out[o++] = enc64((w >> 18) & 63, c62, c63);
		out[o++] = enc64((w >> 12) & 63, c62, c63);
		if (pad) {
			out[o++] = '=';
			out[o++] = '=';
		}
	} else if (n - i == 2) {
		w = (uint32_t)in[i] << 16 | (uint32_t)in[i + 1] << 8;
		out[o++] = enc64((w >> 18) & 63, c62, c63);
		out[o++] = enc64((w >> 12) & 63, c62, c63);
		out[o++] = enc64((w >> 6) & 63, c62, c63);
		if (pad)
			out[o++] = '=';
	}
	out[o] = '\0';
	return (ssize_t)o;
}

ssize_t b64url_encode(const unsigned char *in, size_t n, char *out, size_t outcap)
{
	return encode(in, n, out, outcap, '-', '_', false);
}

ssize_t b64std_encode(const unsigned char *in, size_t n, char *out, size_t outcap)
{
	return encode(in, n, out, outcap, '+', '/', true);
}

ssize_t b64url_decode(const char *in, size_t n, unsigned char *out, size_t outcap)
{
	size_t i, o = 0, rem = n % 4, need;
	uint32_t w;
	int bad = 0, a, b, c, d;

	if (rem == 1 || n > (size_t)SSIZE_MAX)
		return -1;
	need = (n / 4) * 3 + (rem ? rem - 1 : 0);
	if (need > outcap)
		return -1;
	for (i = 0; i + 4 <= n; i += 4) {
		a = dec_url((unsigned char)in[i]);
		b = dec_url((unsigned char)in[i + 1]);
		c = dec_url((unsigned char)in[i + 2]);
		d = dec_url((unsigned char)in[i + 3]);
		bad |= a | b | c | d;
		w = (uint32_t)(a & 63) << 18 | (uint32_t)(b & 63) << 12 | (uint32_t)(c & 63) << 6 |
		    (uint32_t)(d & 63);
		out[o++] = (unsigned char)(w >> 16);
		out[o++] = (unsigned char)(w >> 8);
		out[o++] = (unsigned char)w;
	}
	if (rem >= 2) {
		a = dec_url((unsigned char)in[i]);
		b = dec_url((unsigned char)in[i + 1]);
		c = rem == 3 ? dec_url((unsigned char)in[i + 2]) : 0;
		bad |= a | b | c;
		w = (uint32_t)(a & 63) << 18 | (uint32_t)(b & 63) << 12 | (uint32_t)(c & 63) << 6;
		/* Bits below the last whole byte must be zero (canonical form). */
		if (rem == 2 && (w & 0xffff))
			bad = -1;
		if (rem == 3 && (w & 0xff))
			bad = -1;
		out[o++] = (unsigned char)(w >> 16);
		if (rem == 3)
			out[o++] = (unsigned char)(w >> 8);
	}
	if (bad < 0) {
		if (o)
			memset(out, 0, o);
		return -1;
	}
	return (ssize_t)o;
}

static int is_b64_space(int c)
{
	return c == ' ' || c == '\t' || c == '\r' || c == '\n' || c == '\v' || c == '\f';
}

ssize_t b64std_decode(const char *in, size_t n, unsigned char *out, size_t outcap)
{
	size_t i, o = 0, pad = 0;
	uint32_t acc = 0;
	int q = 0, bad = 0, v, c;

	if (n > (size_t)SSIZE_MAX)
		return -1;
	for (i = 0; i < n; i++) {
		c = (unsigned char)in[i];
		if (is_b64_space(c))
			continue;
		if (c == '=') {
			pad++;
			continue;
		}
		if (pad) /* data after padding */
			goto fail;
		v = dec_std(c);
		bad |= v;
		acc = acc << 6 | (uint32_t)(v & 63);
		if (++q == 4) {
			if (outcap - o < 3)
				goto fail;
			out[o++] = (unsigned char)(acc >> 16);
			out[o++] = (unsigned char)(acc >> 8);
			out[o++] = (unsigned char)acc;
			q = 0;
			acc = 0;
		}
	}
	switch (q) {
	case 0:
		if (pad)
			goto fail;
		break;
	case 2:
		if ((pad != 0 && pad != 2) || (acc & 0xf) || outcap - o < 1)
			goto fail;
		out[o++] = (unsigned char)(acc >> 4);
		break;
	case 3:
		if ((pad != 0 && pad != 1) || (acc & 0x3) || outcap - o < 2)
			goto fail;
		out[o++] = (unsigned char)(acc >> 10);
		out[o++] = (unsigned char)(acc >> 2);
		break;
	default:
		goto fail;
	}
	if (bad < 0)
		goto fail;
	return (ssize_t)o;
fail:
	if (o)
		memset(out, 0, o);
	return -1;
}

char *b64url_encode_alloc(const unsigned char *in, size_t n)
{
	size_t cap;
	char *out;

	if (n > SIZE_MAX / 2)
		return NULL;
	cap = B64URL_ENCODED_LEN(n) + 1;
	out = xmalloc(cap);
	if (b64url_encode(in, n, out, cap) < 0) {
		free(out);
		return NULL;
	}
	return out;
}

unsigned char *b64url_decode_alloc(const char *in, size_t n, size_t *outlen)
{
	size_t cap;
	unsigned char *out;
	ssize_t r;

	if (n > SIZE_MAX / 2)
		return NULL;
	cap = B64_DECODED_MAX(n);
	out = xmalloc(cap + 1);
	r = b64url_decode(in, n, out, cap);
	if (r < 0) {
		free(out);
		return NULL;
	}
	out[r] = '\0';
	*outlen = (size_t)r;
	return out;
}

unsigned char *b64std_decode_alloc(const char *in, size_t n, size_t *outlen)
{
	size_t cap;
	unsigned char *out;
	ssize_t r;

	if (n > SIZE_MAX / 2)
		return NULL;
	cap = B64_DECODED_MAX(n);
	out = xmalloc(cap + 1);
	r = b64std_decode(in, n, out, cap);
	if (r < 0) {
		free(out);
		return NULL;
	}
	out[r] = '\0';
	*outlen = (size_t)r;
	return out;
}
