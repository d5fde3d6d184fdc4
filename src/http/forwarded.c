/*
 * http/forwarded.c - client address from X-Forwarded-For / Forwarded
 * (RFC 7239) behind TRUSTED_PROXIES, and its rate-limit bucket.
 *
 * Design decisions (docs/security.md, "Review findings (issue 13)"):
 *
 *   - Every line of the header counts: the server joins them in order, so
 *     a proxy that appends a second X-Forwarded-For line (HAProxy) is read
 *     like one that merges into the first (nginx).
 *   - The list is split from the right.  Only the entries up to the first
 *     untrusted one are ever used, and all of them were written by trusted
 *     proxies, so whatever a client put further left (an unterminated
 *     quote in a Forwarded header, say) cannot change how they are split.
 *   - The first untrusted hop from the right is the client.  A hop that is
 *     not an address stops the walk too (it cannot be shown to be a
 *     trusted proxy) and is the client; it is named by its RFC 7239
 *     obfuscated identifier ("_abc") when it has one, else "unknown".  The
 *     proxy's own address is never the answer for such a hop: that would
 *     put every user behind the proxy in one rate-limit bucket.
 *   - Forwarded is read only when X-Forwarded-For is absent: a proxy that
 *     writes one of them passes the other through from the client.
 *   - IPv4-mapped IPv6 (::ffff:a.b.c.d) is the IPv4 address, everywhere.
 */
#include "http/forwarded.h"

#include <arpa/inet.h>
#include <stdio.h>
#include <string.h>
#include <strings.h>
#include <sys/socket.h>

#include "config.h"

#define IP_TEXT_MAX 63 /* longest literal accepted, brackets and port included */

static bool is_ows(char c)
{
	return c == ' ' || c == '\t';
}

/* RFC 9110 tchar */
static bool is_tchar(char c)
{
	return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') ||
	       (c != '\0' && strchr("!#$%&'*+-.^_`|~", c) != NULL);
}

/* RFC 7239 obfnode / obfport characters after the leading '_' */
static bool is_obfchar(char c)
{
	return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') ||
	       c == '.' || c == '_' || c == '-';
}

/* ":port" (1-5 digits, <= 65535) or an obfuscated port (":_abc"). */
static bool valid_port(const char *p)
{
	size_t n = 0;
	unsigned long v = 0;

	if (*p != ':')
		return false;
	p++;
	if (*p == '_') {
		for (p++; is_obfchar(*p); p++)
			n++;
		return n > 0 && *p == '\0';
	}
	for (; *p >= '0' && *p <= '9'; p++, n++)
		v = v * 10 + (unsigned long)(*p - '0');
	return n >= 1 && n <= 5 && *p == '\0' && v <= 65535;
}

static void unmap_v4(int *family, unsigned char addr[16])
{
	static const unsigned char prefix[12] = {0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0xff, 0xff};

	if (*family == AF_INET6 && memcmp(addr, prefix, sizeof(prefix)) == 0) {
		memmove(addr, addr + 12, 4);
		memset(addr + 4, 0, 12);
		*family = AF_INET;
	}
}

int fwd_parse_ip(const char *s, size_t len, int *family, unsigned char addr[16])
{
	char buf[IP_TEXT_MAX + 1];
	char *colon;

	if (len == 0 || len > IP_TEXT_MAX || memchr(s, '\0', len))
		return -1;
	memcpy(buf, s, len);
	buf[len] = '\0';
	memset(addr, 0, 16);
	if (buf[0] == '[') {
		char *close = strchr(buf, ']');
		if (!close || (close[1] != '\0' && !valid_port(close + 1)))
			return -1;
		*close = '\0';
		if (inet_pton(AF_INET6, buf + 1, addr) != 1)
			return -1;
		*family = AF_INET6;
	} else if ((colon = strchr(buf, ':')) && !strchr(colon + 1, ':')) {
		/* a.b.c.d:port (one colon cannot be IPv6) */
		if (!valid_port(colon))
			return -1;
		*colon = '\0';
		if (inet_pton(AF_INET, buf, addr) != 1)
			return -1;
		*family = AF_INET;
	} else if (colon) {
		if (inet_pton(AF_INET6, buf, addr) != 1)
			return -1;
		*family = AF_INET6;
	} else {
		if (inet_pton(AF_INET, buf, addr) != 1)
			return -1;
		*family = AF_INET;
	}
	unmap_v4(family, addr);
	return 0;
}

static bool prefix_match(const unsigned char *a, const unsigned char *b, int bits)
{
	int i;

	for (i = 0; bits > 0; i++, bits -= 8) {
		unsigned char mask = bits >= 8 ? 0xff : (unsigned char)(0xff << (8 - bits));
		if ((a[i] & mask) != (b[i] & mask))
			return false;
	}
	return true;
}

bool fwd_trusted(const struct cidr *list, size_t n, int family, const unsigned char *addr)
{
	static const unsigned char mapped[12] = {0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0xff, 0xff};
	size_t i;

	for (i = 0; i < n; i++) {
		const struct cidr *c = &list[i];
		if (c->family == family && prefix_match(addr, c->addr, c->prefix))
			return true;
		/* ::ffff:10.0.0.0/104 in TRUSTED_PROXIES covers 10.0.0.0/8 */
		if (family == AF_INET && c->family == AF_INET6 && c->prefix >= 96 &&
		    memcmp(c->addr, mapped, sizeof(mapped)) == 0 &&
		    prefix_match(addr, c->addr + 12, c->prefix - 96))
			return true;
	}
	return false;
}

static void put_ip(int family, const unsigned char *addr, char *out, size_t outlen)
{
	char text[INET6_ADDRSTRLEN];

	if (!inet_ntop(family, addr, text, sizeof(text)))
		snprintf(text, sizeof(text), "unknown");
	snprintf(out, outlen, "%s", text);
}

/* The name of a hop that is not an address: its obfuscated identifier, or "unknown". */
static void put_non_address(const char *v, size_t len, char *out, size_t outlen)
{
	size_t n = 1;

	if (len >= 2 && len < FWD_ADDR_MAX && v[0] == '_') {
		while (n < len && is_obfchar(v[n]))
			n++;
		/* an obfuscated port after it is allowed and dropped */
		if (n > 1 && (n == len || v[n] == ':')) {
			snprintf(out, outlen, "%.*s", (int)n, v);
			return;
		}
	}
	snprintf(out, outlen, "unknown");
}

/* A list read element by element from its right end. */
struct rlist {
	const char *s;
	size_t pos; /* s[0..pos) is still unread */
	bool done;
	bool quotes; /* Forwarded: commas inside quoted strings do not split */
};

/* True when s[i] is preceded by an odd number of backslashes. */
static bool escaped(const char *s, size_t i)
{
	size_t n = 0;

	while (i > 0 && s[i - 1] == '\\') {
		n++;
		i--;
	}
	return n % 2 == 1;
}

/* The next element from the right, OWS trimmed (maybe empty); false at the end. */
static bool rlist_prev(struct rlist *l, const char **el, size_t *len)
{
	size_t i, end;
	bool inq = false;

	if (l->done)
		return false;
	end = l->pos;
	for (i = end; i > 0; i--) {
		char c = l->s[i - 1];
		if (l->quotes && c == '"' && !escaped(l->s, i - 1))
			inq = !inq;
		else if (c == ',' && !inq)
			break;
	}
	if (i == 0)
		l->done = true;
	else
		l->pos = i - 1;
	while (i < end && is_ows(l->s[i]))
		i++;
	while (end > i && is_ows(l->s[end - 1]))
		end--;
	*el = l->s + i;
	*len = end - i;
	return true;
}

/*
 * The for= value of one Forwarded element (quotes and escapes removed)
 * into val.  Returns false when the element has none, has it twice, or
 * is not well-formed: such a hop is not an address.
 */
static bool forwarded_for(const char *e, size_t n, char *val, size_t cap, size_t *vlen)
{
	size_t i = 0;
	bool found = false;

	for (;;) {
		size_t name = i, name_len, len = 0;
		bool is_for;

		while (i < n && is_ows(e[i]))
			i++;
		name = i;
		while (i < n && is_tchar(e[i]))
			i++;
		name_len = i - name;
		if (name_len == 0 || i >= n || e[i] != '=')
			return false;
		i++;
		is_for = name_len == 3 && strncasecmp(e + name, "for", 3) == 0;
		if (is_for && found)
			return false; /* RFC 7239 section 4: at most once per element */
		if (i < n && e[i] == '"') {
			for (i++; i < n && e[i] != '"'; i++) {
				if (e[i] == '\\' && i + 1 < n)
					i++;
				if (is_for && len + 1 < cap)
					val[len] = e[i];
				len++;
			}
			if (i >= n)
				return false; /* unterminated */
			i++;
		} else {
			for (; i < n && is_tchar(e[i]); i++) {
				if (is_for && len + 1 < cap)
					val[len] = e[i];
				len++;
			}
		}
		if (is_for) {
			if (len == 0 || len + 1 >= cap)
				return false;
			val[len] = '\0';
			*vlen = len;
			found = true;
		}
		while (i < n && is_ows(e[i]))
			i++;
		if (i == n)
			return found;
		if (e[i] != ';')
			return false;
		i++;
	}
}

enum fwd_source fwd_client_address(const char *peer, const char *xff, const char *forwarded,
                                   const struct cidr *trusted, size_t n_trusted, char *out,
                                   size_t outlen)
{
	struct rlist l = {0};
	enum fwd_source src;
	unsigned char addr[16], last[16];
	int family, last_family = 0;
	const char *el;
	size_t len;

	if (outlen == 0)
		return FWD_PEER;
	if (fwd_parse_ip(peer, strlen(peer), &family, addr) != 0) {
		snprintf(out, outlen, "%s", peer);
		return FWD_PEER;
	}
	put_ip(family, addr, out, outlen);
	if (!n_trusted || !fwd_trusted(trusted, n_trusted, family, addr))
		return FWD_PEER;
	if (xff) {
		l.s = xff;
		src = FWD_XFF;
	} else if (forwarded) {
		l.s = forwarded;
		l.quotes = true;
		src = FWD_FORWARDED;
	} else {
		return FWD_PEER;
	}
	l.pos = strlen(l.s);
	while (rlist_prev(&l, &el, &len)) {
		char val[FWD_ADDR_MAX];
		const char *v = el;
		size_t vlen = len;

		if (len == 0)
			continue; /* empty list element */
		if (l.quotes) {
			if (!forwarded_for(el, len, val, sizeof(val), &vlen)) {
				put_non_address("", 0, out, outlen);
				return src;
			}
			v = val;
		}
		if (fwd_parse_ip(v, vlen, &family, addr) != 0) {
			put_non_address(v, vlen, out, outlen);
			return src;
		}
		if (!fwd_trusted(trusted, n_trusted, family, addr)) {
			put_ip(family, addr, out, outlen);
			return src;
		}
		memcpy(last, addr, sizeof(last));
		last_family = family;
	}
	if (!last_family)
		return FWD_PEER;                /* a header with no element at all */
	put_ip(last_family, last, out, outlen); /* every hop trusted: the leftmost */
	return src;
}

void fwd_bucket(const char *client, int v6_prefix, char *out, size_t outlen)
{
	unsigned char addr[16];
	char text[INET6_ADDRSTRLEN];
	int family, bits, i;

	if (outlen == 0)
		return;
	if (fwd_parse_ip(client, strlen(client), &family, addr) != 0) {
		snprintf(out, outlen, "%s", client);
		return;
	}
	if (family == AF_INET || v6_prefix >= 128 || v6_prefix < 0) {
		put_ip(family, addr, out, outlen);
		return;
	}
	for (i = 0, bits = v6_prefix; i < 16; i++, bits -= 8) {
		if (bits <= 0)
			addr[i] = 0;
		else if (bits < 8)
			addr[i] &= (unsigned char)(0xff << (8 - bits));
	}
	if (!inet_ntop(AF_INET6, addr, text, sizeof(text)))
		snprintf(text, sizeof(text), "unknown");
	snprintf(out, outlen, "%s/%d", text, v6_prefix);
}
