/*
 * http/forwarded.h - the client address behind trusted proxies, and its
 * rate-limit bucket.
 *
 * Pure functions over strings and the TRUSTED_PROXIES list, so that the
 * unit tests and the fuzzer drive them without a server.  The server joins
 * every X-Forwarded-For line (and every Forwarded line) of a request in
 * order, with ", ", and hands them here (docs/security.md, "Review
 * findings (issue 13)").
 */
#ifndef AUTH_HTTP_FORWARDED_H
#define AUTH_HTTP_FORWARDED_H

#include <stdbool.h>
#include <stddef.h>

struct cidr;

/* Room for any client address or bucket text, NUL included. */
#define FWD_ADDR_MAX 64

/* Where fwd_client_address took the address from. */
enum fwd_source {
	FWD_PEER,      /* the TCP peer: untrusted, or no forwarding header */
	FWD_XFF,       /* X-Forwarded-For */
	FWD_FORWARDED, /* RFC 7239 Forwarded (only when X-Forwarded-For is absent) */
};

/*
 * Parse an IP literal of len bytes: dotted IPv4, or IPv6 (optionally in
 * brackets), either optionally followed by ":port" (IPv6 only inside
 * brackets).  An IPv4-mapped IPv6 address (::ffff:a.b.c.d) comes back as
 * the IPv4 address.  addr gets 4 (AF_INET) or 16 (AF_INET6) bytes.
 * Returns 0, or -1 when s is not an address.
 */
int fwd_parse_ip(const char *s, size_t len, int *family, unsigned char addr[16]);

/* True when the address is inside one of the n CIDRs (mapped CIDRs too). */
bool fwd_trusted(const struct cidr *list, size_t n, int family, const unsigned char *addr);

/*
 * The client address of a request into out (FWD_ADDR_MAX bytes is always
 * enough; shorter buffers truncate).  peer: the TCP peer as text.  xff /
 * forwarded: every X-Forwarded-For / Forwarded line joined with ", ", or
 * NULL when the request has none.
 *
 * Untrusted peer (or no TRUSTED_PROXIES): the peer.  Otherwise the hops
 * are walked from the right past trusted addresses; the first untrusted
 * one is the client.  All trusted: the leftmost.  A hop that is not an
 * address (RFC 7239 "unknown" or an obfuscated "_id", a missing for=, junk)
 * stops the walk and is the client: it is named by its token when that is
 * an RFC 7239 obfuscated identifier, else "unknown" - never by the address
 * of a proxy, so a bad entry cannot put every user in the proxy's bucket.
 * Empty list elements are ignored (RFC 9110 section 5.6.1).  Addresses
 * come out in inet_ntop form, IPv4-mapped IPv6 as IPv4.
 */
enum fwd_source fwd_client_address(const char *peer, const char *xff, const char *forwarded,
                                   const struct cidr *trusted, size_t n_trusted, char *out,
                                   size_t outlen);

/*
 * The rate-limit bucket of a client address into out: an IPv4 address as
 * itself, an IPv6 address as its network of v6_prefix bits
 * ("2001:db8:1:2::/64"; the plain address for 128), anything else (a
 * "unknown" or obfuscated client) as itself.
 */
void fwd_bucket(const char *client, int v6_prefix, char *out, size_t outlen);

#endif
