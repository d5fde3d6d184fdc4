/* test_forwarded.c - client address behind trusted proxies, and its bucket (http/forwarded.c). */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>
#include <sys/socket.h>

#include <cmocka.h>

#include "config.h"
#include "http/forwarded.h"

/* 127.0.0.1/32, 10.0.0.0/8, ::1/128 */
static const struct cidr proxies[] = {
        {AF_INET, {127, 0, 0, 1}, 32},
        {AF_INET, {10}, 8},
        {AF_INET6, {0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 1}, 128},
};
#define NPROXIES (sizeof(proxies) / sizeof(proxies[0]))

static char out[FWD_ADDR_MAX];

static const char *xff(const char *peer, const char *h)
{
	fwd_client_address(peer, h, NULL, proxies, NPROXIES, out, sizeof(out));
	return out;
}

static const char *fwd(const char *peer, const char *h)
{
	fwd_client_address(peer, NULL, h, proxies, NPROXIES, out, sizeof(out));
	return out;
}

static void test_untrusted_peer_is_the_client(void **state)
{
	(void)state;
	assert_int_equal(fwd_client_address("192.0.2.1", "198.51.100.7", NULL, proxies, NPROXIES,
	                                    out, sizeof(out)),
	                 FWD_PEER);
	assert_string_equal(out, "192.0.2.1");
	/* no TRUSTED_PROXIES at all */
	fwd_client_address("127.0.0.1", "198.51.100.7", NULL, proxies, 0, out, sizeof(out));
	assert_string_equal(out, "127.0.0.1");
	/* trusted peer, no header */
	assert_int_equal(
	        fwd_client_address("127.0.0.1", NULL, NULL, proxies, NPROXIES, out, sizeof(out)),
	        FWD_PEER);
	assert_string_equal(out, "127.0.0.1");
	/* a peer that is not an address (no socket address) stays as it is */
	assert_string_equal(xff("unknown", "198.51.100.7"), "unknown");
	/* the peer in IPv4-mapped form is the IPv4 address, trusted as such */
	assert_string_equal(xff("::ffff:127.0.0.1", "198.51.100.7"), "198.51.100.7");
	assert_string_equal(xff("::ffff:192.0.2.9", "198.51.100.7"), "192.0.2.9");
}

static void test_xff_walk_from_the_right(void **state)
{
	(void)state;
	assert_int_equal(fwd_client_address("127.0.0.1", "198.51.100.7", NULL, proxies, NPROXIES,
	                                    out, sizeof(out)),
	                 FWD_XFF);
	assert_string_equal(out, "198.51.100.7");
	/* the client's own forged entries on the left are never read */
	assert_string_equal(xff("127.0.0.1", "1.1.1.1, 2.2.2.2, 198.51.100.7"), "198.51.100.7");
	/* trusted hops are skipped */
	assert_string_equal(xff("127.0.0.1", "1.1.1.1, 198.51.100.7, 10.1.2.3, 10.9.9.9"),
	                    "198.51.100.7");
	/* two lines joined (HAProxy's second line): the right one decides */
	assert_string_equal(xff("127.0.0.1", "6.6.6.6, 198.51.100.7"), "198.51.100.7");
	/* all trusted: the leftmost */
	assert_string_equal(xff("127.0.0.1", "10.0.0.5, 10.0.0.6"), "10.0.0.5");
	/* empty elements and whitespace are ignored */
	assert_string_equal(xff("127.0.0.1", " 198.51.100.7 ,,\t, "), "198.51.100.7");
	assert_string_equal(xff("127.0.0.1", " , "), "127.0.0.1");
	/* ports and brackets (Azure style), IPv6, mapped */
	assert_string_equal(xff("127.0.0.1", "198.51.100.7:4711"), "198.51.100.7");
	assert_string_equal(xff("127.0.0.1", "[2001:DB8::1]:443"), "2001:db8::1");
	assert_string_equal(xff("127.0.0.1", "2001:db8:0:0::1"), "2001:db8::1");
	assert_string_equal(xff("127.0.0.1", "::ffff:198.51.100.7"), "198.51.100.7");
	assert_string_equal(xff("::1", "::ffff:10.0.0.1, 198.51.100.7, ::1"), "198.51.100.7");
}

static void test_xff_malformed_hop_is_the_client_never_the_proxy(void **state)
{
	(void)state;
	assert_string_equal(xff("127.0.0.1", "garbage"), "unknown");
	assert_string_equal(xff("127.0.0.1", "198.51.100.7, garbage, 10.0.0.1"), "unknown");
	/* a garbage entry left of the real client is never reached */
	assert_string_equal(xff("127.0.0.1", "garbage, 198.51.100.7"), "198.51.100.7");
	assert_string_equal(xff("127.0.0.1", "_hidden, 10.0.0.1"), "_hidden");
	assert_string_equal(xff("127.0.0.1", "_h:_port"), "_h");
	assert_string_equal(xff("127.0.0.1", "_"), "unknown");
	assert_string_equal(xff("127.0.0.1", "_a$b"), "unknown");
	assert_string_equal(xff("127.0.0.1", "1.2.3.4:99999"), "unknown");
	assert_string_equal(xff("127.0.0.1", "1.2.3.4:"), "unknown");
	assert_string_equal(xff("127.0.0.1", "01.2.3.4"), "unknown");
	assert_string_equal(xff("127.0.0.1", "[1.2.3.4]"), "unknown");
	assert_string_equal(xff("127.0.0.1", "fe80::1%eth0"), "unknown");
	assert_string_equal(xff("127.0.0.1", "2001:db8::1:80:x"), "unknown");
	assert_string_equal(xff("127.0.0.1", "[2001:db8::1"), "unknown");
	assert_string_equal(
	        xff("127.0.0.1",
	            "1111111111111111111111111111111111111111111111111111111111111111111111"),
	        "unknown");
}

static void test_forwarded_header(void **state)
{
	(void)state;
	assert_int_equal(fwd_client_address("127.0.0.1", NULL, "for=198.51.100.7", proxies,
	                                    NPROXIES, out, sizeof(out)),
	                 FWD_FORWARDED);
	assert_string_equal(out, "198.51.100.7");
	assert_string_equal(fwd("127.0.0.1", "for=\"[2001:db8:cafe::17]:4711\""),
	                    "2001:db8:cafe::17");
	assert_string_equal(fwd("127.0.0.1", "For=\"198.51.100.7:80\";proto=https;by=10.0.0.1"),
	                    "198.51.100.7");
	assert_string_equal(fwd("127.0.0.1", "for=1.1.1.1, for=198.51.100.7;proto=http, "
	                                     "for=10.0.0.2, for=\"[::1]\""),
	                    "198.51.100.7");
	assert_string_equal(fwd("127.0.0.1", "proto=http; for=198.51.100.7 ; by=_x"),
	                    "198.51.100.7");
	/* a comma inside a quoted string does not split */
	assert_string_equal(fwd("127.0.0.1", "for=198.51.100.7;host=\"a,b\""), "198.51.100.7");
	/* escapes inside quotes */
	assert_string_equal(fwd("127.0.0.1", "for=\"\\198.51.100.7\""), "198.51.100.7");
	/* a client's unterminated quote on the left cannot swallow the proxy's element */
	assert_string_equal(fwd("127.0.0.1", "for=\"6.6.6.6, for=198.51.100.7"), "198.51.100.7");
	assert_string_equal(fwd("127.0.0.1", "for=\"6.6.6.6, for=\"198.51.100.7\""),
	                    "198.51.100.7");
}

static void test_forwarded_not_an_address(void **state)
{
	(void)state;
	assert_string_equal(fwd("127.0.0.1", "for=unknown"), "unknown");
	assert_string_equal(fwd("127.0.0.1", "for=_gazonk, for=10.0.0.1"), "_gazonk");
	assert_string_equal(fwd("127.0.0.1", "for=\"_gazonk:_p\""), "_gazonk");
	assert_string_equal(fwd("127.0.0.1", "proto=https"), "unknown");             /* no for= */
	assert_string_equal(fwd("127.0.0.1", "for=1.2.3.4;for=5.6.7.8"), "unknown"); /* twice */
	assert_string_equal(fwd("127.0.0.1", "for=\"1.2.3.4"), "unknown"); /* unterminated */
	assert_string_equal(fwd("127.0.0.1", "for=1.2.3.4 junk"), "unknown");
	assert_string_equal(fwd("127.0.0.1", "=1.2.3.4"), "unknown");
	assert_string_equal(fwd("127.0.0.1", "for="), "unknown");
	assert_string_equal(fwd("127.0.0.1", "for=\"\""), "unknown");
	assert_string_equal(fwd("127.0.0.1", "for"), "unknown");
	assert_string_equal(fwd("127.0.0.1", ", ,"), "127.0.0.1"); /* no element at all */
}

static void test_xff_wins_over_forwarded(void **state)
{
	(void)state;
	assert_int_equal(fwd_client_address("127.0.0.1", "198.51.100.7", "for=203.0.113.9", proxies,
	                                    NPROXIES, out, sizeof(out)),
	                 FWD_XFF);
	assert_string_equal(out, "198.51.100.7");
}

static void test_mapped_cidr_and_parse(void **state)
{
	const struct cidr mapped[] = {
	        {AF_INET6, {0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0xff, 0xff, 10}, 104}};
	unsigned char a[16];
	int family;

	(void)state;
	assert_int_equal(fwd_parse_ip("10.1.2.3", 8, &family, a), 0);
	assert_int_equal(family, AF_INET);
	assert_true(fwd_trusted(mapped, 1, family, a));
	assert_int_equal(fwd_parse_ip("11.1.2.3", 8, &family, a), 0);
	assert_false(fwd_trusted(mapped, 1, family, a));
	/* len is honoured: no reading past it */
	assert_int_equal(fwd_parse_ip("10.1.2.3999", 8, &family, a), 0);
	assert_int_equal(fwd_parse_ip("", 0, &family, a), -1);
	assert_int_equal(fwd_parse_ip("1.2\0.3.4", 8, &family, a), -1);
}

static void test_bucket(void **state)
{
	static const struct {
		const char *client;
		int prefix;
		const char *bucket;
	} cases[] = {
	        {"198.51.100.7", 64, "198.51.100.7"},
	        {"2001:db8:1:2:aaaa:bbbb:cccc:dddd", 64, "2001:db8:1:2::/64"},
	        {"2001:db8:1:2::1", 64, "2001:db8:1:2::/64"},
	        {"2001:db8:1:3::1", 64, "2001:db8:1:3::/64"},
	        {"2001:db8:1:2:aaaa:bbbb:cccc:dddd", 56, "2001:db8:1::/56"},
	        {"2001:db8:ffff:ffff::1", 33, "2001:db8:8000::/33"},
	        {"2001:db8::1", 128, "2001:db8::1"},
	        {"::ffff:198.51.100.7", 64, "198.51.100.7"},
	        {"unknown", 64, "unknown"},
	        {"_gazonk", 64, "_gazonk"},
	};
	char b[FWD_ADDR_MAX];
	size_t i;

	(void)state;
	for (i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		fwd_bucket(cases[i].client, cases[i].prefix, b, sizeof(b));
		assert_string_equal(b, cases[i].bucket);
	}
	/* truncation, never overflow */
	fwd_bucket("2001:db8:1:2::1", 64, b, 8);
	assert_string_equal(b, "2001:db");
}

int main(void)
{
	const struct CMUnitTest tests[] = {
	        cmocka_unit_test(test_untrusted_peer_is_the_client),
	        cmocka_unit_test(test_xff_walk_from_the_right),
	        cmocka_unit_test(test_xff_malformed_hop_is_the_client_never_the_proxy),
	        cmocka_unit_test(test_forwarded_header),
	        cmocka_unit_test(test_forwarded_not_an_address),
	        cmocka_unit_test(test_xff_wins_over_forwarded),
	        cmocka_unit_test(test_mapped_cidr_and_parse),
	        cmocka_unit_test(test_bucket),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
