/*
 * ct.c - constant-time comparisons, on top of OpenSSL's CRYPTO_memcmp
 * (written so that compilers cannot turn it into an early-exit loop).
 */
#include "auth/ct.h"

#include <string.h>

#include <openssl/crypto.h>

bool ct_equal(const void *a, const void *b, size_t n)
{
	if (n == 0)
		return true;
	return CRYPTO_memcmp(a, b, n) == 0;
}

bool ct_streq(const char *a, const char *b)
{
	size_t la, lb;

	if (a == NULL || b == NULL)
		return false;
	la = strlen(a);
	lb = strlen(b);
	if (la != lb)
		return false;
	return ct_equal(a, b, la);
}
