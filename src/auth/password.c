/*
 * password.c - password rules and bcrypt via libxcrypt.
 *
 * crypt_r() needs a struct crypt_data of about 32 KiB; it is calloc'ed per
 * call (worker threads may have small stacks) and wiped before it is freed
 * because it holds password-derived state.  Salts come from RAND_bytes and
 * are formatted by crypt_gensalt_rn().  There is no process-wide mutable
 * state: the timing dummy is a constant hash with the cost patched in.
 */
#include "auth/password.h"

#include <crypt.h>
#include <stdio.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include <openssl/crypto.h>
#include <openssl/rand.h>

#include "auth/ct.h"

#define BCRYPT_LEN 60 /* "$2b$" + "NN$" + 22 salt + 31 hash characters */

/* "Password must be at least N characters" for N = 0..72, all static. */
#define TOO_SHORT(n) "Password must be at least " #n " characters"
#define TOO_SHORT_DECADE(d)                                                                        \
	TOO_SHORT(d##0), TOO_SHORT(d##1), TOO_SHORT(d##2), TOO_SHORT(d##3), TOO_SHORT(d##4),       \
	        TOO_SHORT(d##5), TOO_SHORT(d##6), TOO_SHORT(d##7), TOO_SHORT(d##8),                \
	        TOO_SHORT(d##9)

static const char *const too_short_msgs[] = {
        TOO_SHORT_DECADE(),  TOO_SHORT_DECADE(1), TOO_SHORT_DECADE(2), TOO_SHORT_DECADE(3),
        TOO_SHORT_DECADE(4), TOO_SHORT_DECADE(5), TOO_SHORT_DECADE(6), TOO_SHORT(70),
        TOO_SHORT(71),       TOO_SHORT(72),
};

/*
 * Count the code points of s[0..n) if it is well-formed UTF-8 (RFC 3629:
 * shortest form only, no surrogates, nothing above U+10FFFF).  Returns the
 * count or -1.
 */
static long utf8_count(const unsigned char *s, size_t n)
{
	size_t i = 0, k, len;
	long count = 0;
	uint32_t cp;

	while (i < n) {
		unsigned int c = s[i];

		if (c < 0x80) {
			i++;
			count++;
			continue;
		}
		if (c >= 0xc2 && c <= 0xdf) {
			len = 2;
			cp = c & 0x1f;
		} else if (c >= 0xe0 && c <= 0xef) {
			len = 3;
			cp = c & 0x0f;
		} else if (c >= 0xf0 && c <= 0xf4) {
			len = 4;
			cp = c & 0x07;
		} else {
			return -1; /* continuation byte, C0/C1 overlong lead, F5..FF */
		}
		if (n - i < len)
			return -1;
		for (k = 1; k < len; k++) {
			if ((s[i + k] & 0xc0) != 0x80)
				return -1;
			cp = cp << 6 | (s[i + k] & 0x3f);
		}
		if ((len == 3 && cp < 0x800) || (len == 4 && cp < 0x10000))
			return -1; /* overlong */
		if (cp > 0x10ffff || (cp >= 0xd800 && cp <= 0xdfff))
			return -1;
		i += len;
		count++;
	}
	return count;
}

int password_check(const char *pw, size_t len, int min_len, const char **why)
{
	const char *msg = NULL;
	long cps;

	if (pw == NULL) {
		msg = "Password is required";
		goto out;
	}
	if (memchr(pw, '\0', len) != NULL) {
		msg = "Password must not contain NUL characters";
		goto out;
	}
	cps = utf8_count((const unsigned char *)pw, len);
	if (cps < 0) {
		msg = "Password must be valid UTF-8";
		goto out;
	}
	if (len > PASSWORD_MAX_BYTES) {
		msg = "Password must be at most 72 bytes (bcrypt limit)";
		goto out;
	}
	if (min_len > 0 && cps < min_len) {
		if ((size_t)min_len < sizeof(too_short_msgs) / sizeof(too_short_msgs[0]))
			msg = too_short_msgs[min_len];
		else
			msg = "Password is too short";
		goto out;
	}
out:
	if (why)
		*why = msg;
	return msg ? -1 : 0;
}

static bool rounds_ok(int rounds)
{
	return rounds >= PASSWORD_MIN_ROUNDS && rounds <= PASSWORD_MAX_ROUNDS;
}

/* The 2-character variant ('a', 'b', 'y') and cost of a well-formed hash. */
static bool parse_bcrypt(const char *hash, char *variant, int *rounds)
{
	size_t i;

	if (hash == NULL || strlen(hash) != BCRYPT_LEN)
		return false;
	if (hash[0] != '$' || hash[1] != '2' || hash[3] != '$' || hash[6] != '$')
		return false;
	if (hash[2] != 'a' && hash[2] != 'b' && hash[2] != 'y')
		return false;
	if (hash[4] < '0' || hash[4] > '9' || hash[5] < '0' || hash[5] > '9')
		return false;
	for (i = 7; i < BCRYPT_LEN; i++) {
		char c = hash[i];
		if (!((c >= 'A' && c <= 'Z') || (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') ||
		      c == '.' || c == '/'))
			return false;
	}
	if (variant)
		*variant = hash[2];
	if (rounds)
		*rounds = (hash[4] - '0') * 10 + (hash[5] - '0');
	return rounds_ok((hash[4] - '0') * 10 + (hash[5] - '0'));
}

int password_hash(const char *pw, int rounds, char out[PASSWORD_HASH_MAX])
{
	unsigned char rbytes[16];
	char salt[64];
	struct crypt_data *cd = NULL;
	const char *h;
	int ret = -1;

	out[0] = '\0';
	if (pw == NULL || !rounds_ok(rounds) || strlen(pw) > PASSWORD_MAX_BYTES)
		return -1;
	if (RAND_bytes(rbytes, sizeof(rbytes)) != 1)
		goto done;
	if (crypt_gensalt_rn("$2b$", (unsigned long)rounds, (const char *)rbytes, sizeof(rbytes),
	                     salt, sizeof(salt)) == NULL)
		goto done;
	cd = calloc(1, sizeof(*cd));
	if (cd == NULL)
		goto done;
	h = crypt_r(pw, salt, cd);
	if (h == NULL || h[0] == '*' || !parse_bcrypt(h, NULL, NULL))
		goto done;
	memcpy(out, h, BCRYPT_LEN + 1);
	ret = 0;
done:
	OPENSSL_cleanse(rbytes, sizeof(rbytes));
	if (cd) {
		OPENSSL_cleanse(cd, sizeof(*cd));
		free(cd);
	}
	return ret;
}

int password_verify(const char *pw, const char *hash)
{
	struct crypt_data *cd;
	const char *h;
	int ret = -1;

	if (pw == NULL || !parse_bcrypt(hash, NULL, NULL))
		return -1;
	if (strlen(pw) > PASSWORD_MAX_BYTES)
		return 0;
	cd = calloc(1, sizeof(*cd));
	if (cd == NULL)
		return -1;
	h = crypt_r(pw, hash, cd);
	if (h == NULL || h[0] == '*' || strlen(h) != BCRYPT_LEN)
		goto done;
	ret = ct_equal(h, hash, BCRYPT_LEN) ? 1 : 0;
done:
	OPENSSL_cleanse(cd, sizeof(*cd));
	free(cd);
	return ret;
}

int password_hash_rounds(const char *hash)
{
	int rounds;

	return parse_bcrypt(hash, NULL, &rounds) ? rounds : -1;
}

bool password_needs_rehash(const char *hash, int rounds)
{
	char variant;
	int cost;

	if (!parse_bcrypt(hash, &variant, &cost))
		return true;
	return variant != 'b' || cost < rounds;
}

int password_dummy_verify(const char *pw, int rounds)
{
	/*
	 * A well-formed $2b$ hash (salt and digest of a fixed string, made once
	 * with Python's bcrypt) with the cost patched in: bcrypt's work depends
	 * only on the cost field, so verifying against it takes as long as a
	 * real check at that cost, and nothing has to be hashed at start-up.
	 */
	static const char tail[] = "nXhmqGR1tozCeYi.zmkfk.kR1fFxZT7MQ3TG4UCcTwhmCibqiB5yO";
	char hash[PASSWORD_HASH_MAX];

	if (!rounds_ok(rounds))
		return -1;
	snprintf(hash, sizeof(hash), "$2b$%02d$%s", rounds, tail);
	(void)password_verify(pw ? pw : "", hash);
	return 0;
}
