/*
 * fuzz_forwarded.c - libFuzzer target for the client address behind
 * trusted proxies (http/forwarded.c).  The first byte chooses the header
 * (even: X-Forwarded-For, odd: Forwarded); the rest, cut at its first NUL,
 * is its joined value, from a trusted peer (127.0.0.1).
 *
 * The answer must be "unknown", an RFC 7239 obfuscated identifier, or an
 * address in canonical form (it parses back to itself); never longer than
 * the buffer.  Appending a trusted proxy's own hop on the right must not
 * change a forwarded answer (the walk passes trusted proxies).  Its
 * bucket must come out for every prefix length, "/N" on IPv6 networks.
 */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>

#include "arena.h"
#include "config.h"
#include "http/forwarded.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static const struct cidr proxies[] = {
        {AF_INET, {127, 0, 0, 1}, 32},
        {AF_INET, {10}, 8},
        {AF_INET6, {0x20, 0x01, 0x0d, 0xb8}, 32},
};
#define NPROXIES (sizeof(proxies) / sizeof(proxies[0]))

static enum fwd_source client(bool forwarded, const char *h, char *out)
{
	return fwd_client_address("127.0.0.1", forwarded ? NULL : h, forwarded ? h : NULL, proxies,
	                          NPROXIES, out, FWD_ADDR_MAX);
}

static void check_name(const char *c)
{
	unsigned char addr[16];
	char again[FWD_ADDR_MAX];
	int family;
	size_t n = strlen(c);

	if (n == 0 || n >= FWD_ADDR_MAX)
		abort();
	if (strcmp(c, "unknown") == 0)
		return;
	if (c[0] == '_') {
		if (n < 2 || strspn(c + 1, "abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ"
		                           "0123456789._-") != n - 1)
			abort();
		return;
	}
	if (fwd_parse_ip(c, n, &family, addr) != 0)
		abort();
	fwd_bucket(c, 128, again, sizeof(again)); /* canonical form: itself */
	if (strcmp(again, c) != 0)
		abort();
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	char out[FWD_ADDR_MAX], out2[FWD_ADDR_MAX], bucket[FWD_ADDR_MAX];
	bool forwarded;
	char *h, *longer;
	size_t n;
	enum fwd_source src;
	int prefix;

	if (size == 0)
		return 0;
	forwarded = data[0] & 1;
	h = xmalloc(size);
	memcpy(h, data + 1, size - 1);
	h[size - 1] = '\0';
	n = strlen(h);

	src = client(forwarded, h, out);
	check_name(out);
	if (src != FWD_PEER) {
		const char *hop = forwarded ? ", for=10.0.0.1" : ", 10.0.0.1";
		longer = xmalloc(n + strlen(hop) + 1);
		memcpy(longer, h, n);
		strcpy(longer + n, hop);
		client(forwarded, longer, out2);
		if (strcmp(out, out2) != 0)
			abort();
		free(longer);
	}
	for (prefix = 32; prefix <= 128; prefix += 16) {
		fwd_bucket(out, prefix, bucket, sizeof(bucket));
		if (strlen(bucket) >= FWD_ADDR_MAX)
			abort();
		if (strchr(out, ':') && out[0] != '_' && prefix < 128 && !strchr(bucket, '/'))
			abort();
	}
	free(h);
	return 0;
}
