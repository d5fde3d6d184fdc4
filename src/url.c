/*
 * url.c - parsing of DATABASE_URL and REDIS_URL.
 *
 * Both parsers validate the whole string before building anything, so a
 * URL that is accepted here is one libpq / hiredis will understand the same
 * way: percent-encoding must be well formed, an '@' inside credentials must
 * be encoded (libpq splits at the first '@', most other parsers at the
 * last, so an unencoded one is ambiguous), ports are 1..65535 and IPv6
 * hosts are bracketed.  Reasons for a refusal are static strings that never
 * contain any part of the input: the URL may hold a password.
 *
 * The redacted form of every URL replaces its password (and a libpq
 * `password` / `sslpassword` query parameter) with ***.
 */
#include "url.h"

#include <limits.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "arena.h"
#include "ascii.h"
#include "buf.h"

#define SCHEME_MAX 32

static char *xstrndup_(const char *s, size_t n)
{
	char *p = xmalloc(n + 1);

	memcpy(p, s, n);
	p[n] = '\0';
	return p;
}

/* Control characters, spaces and non-ASCII bytes have no place in a URL. */
static bool url_chars_ok(const char *s)
{
	for (; *s; s++) {
		unsigned char c = (unsigned char)*s;

		if (c <= 0x20 || c >= 0x7f)
			return false;
	}
	return true;
}

/* Every '%' in s[0..n) is followed by two hex digits. */
static bool pct_ok(const char *s, size_t n)
{
	for (size_t i = 0; i < n; i++) {
		if (s[i] != '%')
			continue;
		if (i + 2 >= n)
			return false;
		if (ascii_hex_byte(s + i + 1) < 0)
			return false;
		i += 2;
	}
	return true;
}

/* Percent-decode s[0..n); NULL when malformed or when it decodes a NUL. */
static char *pct_decode(const char *s, size_t n)
{
	char *out = xmalloc(n + 1);
	size_t o = 0;

	for (size_t i = 0; i < n; i++) {
		if (s[i] != '%') {
			out[o++] = s[i];
			continue;
		}
		if (i + 2 >= n || ascii_hex_byte(s + i + 1) < 0)
			goto bad;
		out[o] = (char)ascii_hex_byte(s + i + 1);
		if (out[o] == '\0')
			goto bad;
		o++;
		i += 2;
	}
	out[o] = '\0';
	return out;
bad:
	free(out);
	return NULL;
}

/* Parse a decimal port "1".."65535" from s[0..n); -1 when invalid. */
static int parse_port(const char *s, size_t n)
{
	int v = 0;

	if (n == 0 || n > 5)
		return -1;
	for (size_t i = 0; i < n; i++) {
		if (s[i] < '0' || s[i] > '9')
			return -1;
		v = v * 10 + (s[i] - '0');
	}
	return v >= 1 && v <= 65535 ? v : -1;
}

static size_t count_char(const char *s, size_t n, char c)
{
	size_t k = 0;

	for (size_t i = 0; i < n; i++)
		k += s[i] == c;
	return k;
}

/*
 * Split "scheme://rest".  Copies the scheme, lower-cased and without any
 * "+driver" suffix, into buf and returns rest; NULL when s is not of that
 * shape.
 */
static const char *split_scheme(const char *s, char *buf, size_t bufsz)
{
	size_t i = 0;
	bool plus = false;

	if (!((s[0] >= 'a' && s[0] <= 'z') || (s[0] >= 'A' && s[0] <= 'Z')))
		return NULL;
	for (; s[i] && s[i] != ':'; i++) {
		char c = s[i];

		if (c == '+') {
			/* The driver name after '+' must itself be a word. */
			if (plus || !s[i + 1] || s[i + 1] == ':')
				return NULL;
			plus = true;
			continue;
		}
		if (!ascii_is_alnum(c) && c != '_' && c != '-' && c != '.')
			return NULL;
		if (!plus) {
			if (i + 1 >= bufsz)
				return NULL;
			buf[i] = (char)((c >= 'A' && c <= 'Z') ? c - 'A' + 'a' : c);
			buf[i + 1] = '\0';
		}
	}
	if (strncmp(s + i, "://", 3) != 0)
		return NULL;
	return s + i + 3;
}

/*
 * One host[:port] of a libpq host list: a name, an IPv4 address, a
 * bracketed IPv6 address or empty (the default Unix socket).
 */
static bool pg_host_ok(const char *s, size_t n)
{
	size_t i = 0;

	if (n > 0 && s[0] == '[') {
		for (i = 1; i < n && s[i] != ']'; i++)
			if (ascii_hex_value(s[i]) < 0 && s[i] != ':' && s[i] != '.')
				return false;
		if (i >= n || i == 1)
			return false;
		i++; /* over ']' */
	} else {
		for (; i < n && s[i] != ':'; i++)
			if (!ascii_is_alnum(s[i]) && s[i] != '.' && s[i] != '-' && s[i] != '_' &&
			    s[i] != '%')
				return false;
	}
	if (i == n)
		return true;
	if (s[i] != ':')
		return false;
	return parse_port(s + i + 1, n - i - 1) > 0;
}

static bool is_secret_param(const char *s, size_t n)
{
	return (n == 8 && memcmp(s, "password", 8) == 0) ||
	       (n == 11 && memcmp(s, "sslpassword", 11) == 0);
}

/*
 * postgresql://[user[:password]@][host[:port][,...]][/dbname][?k=v&...]
 * `rest` is what follows "://".
 */
static int parse_postgres(const char *rest, struct db_url *out, const char **why)
{
	const char *auth_end = rest + strcspn(rest, "/?");
	const char *at = NULL, *hosts, *path, *query;
	struct buf red = BUF_INIT, conn = BUF_INIT;
	bool any_host = false;

	if (!url_chars_ok(rest)) {
		*why = "contains spaces, control or non-ASCII characters (percent-encode them)";
		return -1;
	}
	if (strchr(rest, '#')) {
		*why = "contains '#': percent-encode it (%23), e.g. in the password";
		return -1;
	}
	if (!pct_ok(rest, strlen(rest))) {
		*why = "has a malformed percent-escape (use %XX with two hex digits)";
		return -1;
	}
	if (count_char(rest, (size_t)(auth_end - rest), '@') > 1) {
		*why = "has more than one '@': percent-encode '@' in the user name or password "
		       "(%40)";
		return -1;
	}
	at = memchr(rest, '@', (size_t)(auth_end - rest));
	hosts = at ? at + 1 : rest;

	/* Host list: comma-separated host[:port], each may be empty. */
	for (const char *h = hosts; h <= auth_end;) {
		const char *e = memchr(h, ',', (size_t)(auth_end - h));

		if (!e)
			e = auth_end;
		if (!pg_host_ok(h, (size_t)(e - h))) {
			*why = "has an invalid host or port (ports are 1..65535, IPv6 hosts in "
			       "[brackets])";
			return -1;
		}
		any_host |= e > h;
		h = e + 1;
	}

	path = auth_end;
	query = path + strcspn(path, "?");
	if (*query) {
		/* Every parameter is key=value with a non-empty key. */
		for (const char *q = query + 1; *q;) {
			size_t n = strcspn(q, "&");
			const char *eq = memchr(q, '=', n);

			if (n > 0 && (!eq || eq == q)) {
				*why = "has a query parameter that is not key=value";
				return -1;
			}
			q += n;
			if (*q)
				q++;
		}
	}
	if (!any_host && query - path <= 1 && query[0] == '\0') {
		*why = "names no host and no database";
		return -1;
	}

	buf_append_str(&conn, "postgresql://");
	buf_append_str(&conn, rest);

	buf_append_str(&red, "postgresql://");
	if (at) {
		const char *colon = memchr(rest, ':', (size_t)(at - rest));

		if (colon) {
			buf_append(&red, rest, (size_t)(colon - rest));
			buf_append_str(&red, ":***@");
		} else {
			buf_append(&red, rest, (size_t)(at - rest) + 1);
		}
	}
	buf_append(&red, hosts, (size_t)(query - hosts));
	if (*query) {
		const char *q = query + 1;

		buf_append_str(&red, "?");
		while (*q) {
			size_t n = strcspn(q, "&");
			const char *eq = memchr(q, '=', n);

			if (eq && is_secret_param(q, (size_t)(eq - q))) {
				buf_append(&red, q, (size_t)(eq - q) + 1);
				buf_append_str(&red, "***");
			} else {
				buf_append(&red, q, n);
			}
			q += n;
			if (*q) {
				buf_append_str(&red, "&");
				q++;
			}
		}
	}
	out->kind = DB_POSTGRES;
	out->pg_conninfo = buf_take(&conn);
	out->redacted = buf_take(&red);
	return 0;
}

/* sqlite:///relative/path or sqlite:////absolute/path; `rest` follows "://". */
static int parse_sqlite(const char *rest, struct db_url *out, const char **why)
{
	const char *path;
	size_t n;

	if (rest[0] != '/') {
		*why = "sqlite URLs have no host: use sqlite:///relative.db or "
		       "sqlite:////absolute/path.db";
		return -1;
	}
	path = rest + 1;
	n = strlen(path);
	if (n == 0) {
		*why = "has an empty sqlite file path";
		return -1;
	}
	for (size_t i = 0; i < n; i++) {
		unsigned char c = (unsigned char)path[i];

		if (c < 0x20 || c == 0x7f) {
			*why = "has control characters in the sqlite file path";
			return -1;
		}
	}
	if (strchr(path, '?')) {
		*why = "has query parameters, which sqlite URLs do not support";
		return -1;
	}
	if (path[n - 1] == '/') {
		*why = "has a sqlite path that names a directory, not a file";
		return -1;
	}
	out->kind = DB_SQLITE;
	out->sqlite_path = xstrdup(path);
	out->redacted = xmalloc(n + sizeof("sqlite:///"));
	memcpy(out->redacted, "sqlite:///", sizeof("sqlite:///") - 1);
	memcpy(out->redacted + sizeof("sqlite:///") - 1, path, n + 1);
	return 0;
}

int db_url_parse(const char *s, struct db_url *out, const char **why)
{
	char scheme[SCHEME_MAX] = "";
	const char *rest, *dummy;
	int rc;

	if (!why)
		why = &dummy;
	memset(out, 0, sizeof(*out));
	if (!s || !*s) {
		*why = "is empty";
		return -1;
	}
	rest = split_scheme(s, scheme, sizeof(scheme));
	if (!rest) {
		*why = "is not of the form scheme://...";
		return -1;
	}
	if (strcmp(scheme, "postgresql") == 0 || strcmp(scheme, "postgres") == 0) {
		rc = parse_postgres(rest, out, why);
	} else if (strcmp(scheme, "sqlite") == 0) {
		rc = parse_sqlite(rest, out, why);
	} else {
		*why = "has an unsupported scheme (use postgresql://, postgres:// or sqlite:///)";
		rc = -1;
	}
	if (rc < 0)
		db_url_free(out);
	return rc;
}

void db_url_free(struct db_url *u)
{
	if (!u)
		return;
	free(u->sqlite_path);
	free(u->pg_conninfo);
	free(u->redacted);
	memset(u, 0, sizeof(*u));
}

/* Parse the optional "/db" part: "", "/" or "/N" with N a non-negative int. */
static int parse_redis_db(const char *s, int *db)
{
	long v = 0;

	*db = 0;
	if (*s == '\0')
		return 0;
	s++; /* the '/' */
	if (*s == '\0')
		return 0;
	for (; *s; s++) {
		if (*s < '0' || *s > '9')
			return -1;
		v = v * 10 + (*s - '0');
		if (v > INT_MAX)
			return -1;
	}
	*db = (int)v;
	return 0;
}

static int redis_fail(struct redis_url *out, const char **why, const char *reason)
{
	*why = reason;
	redis_url_free(out);
	return -1;
}

int redis_url_parse(const char *s, struct redis_url *out, const char **why)
{
	char scheme[SCHEME_MAX] = "";
	const char *rest, *auth_end, *at, *hp, *port_s = NULL, *dummy;
	const char *user_s = NULL;
	size_t user_n = 0, host_n;
	bool v6 = false;
	struct buf red = BUF_INIT;
	char num[16];

	if (!why)
		why = &dummy;
	memset(out, 0, sizeof(*out));
	if (!s || !*s)
		return redis_fail(out, why, "is empty");
	rest = split_scheme(s, scheme, sizeof(scheme));
	if (!rest || memchr(s, '+', (size_t)(rest - s)))
		return redis_fail(out, why, "is not of the form redis://host:port/db");
	if (strcmp(scheme, "rediss") == 0)
		return redis_fail(out, why,
		                  "uses rediss:// (TLS), which is not supported: use redis:// on a "
		                  "private network or through a TLS tunnel");
	if (strcmp(scheme, "redis") != 0)
		return redis_fail(out, why, "has an unsupported scheme (use redis://)");
	if (!url_chars_ok(rest))
		return redis_fail(out, why,
		                  "contains spaces, control or non-ASCII characters "
		                  "(percent-encode them)");
	if (strpbrk(rest, "?#"))
		return redis_fail(
		        out, why,
		        "has a query or fragment: use redis://[[user]:password@]host[:port]"
		        "[/db] and percent-encode ? and # in the password");

	auth_end = rest + strcspn(rest, "/");
	if (count_char(rest, (size_t)(auth_end - rest), '@') > 1)
		return redis_fail(
		        out, why,
		        "has more than one '@': percent-encode '@' in the password (%40)");
	at = memchr(rest, '@', (size_t)(auth_end - rest));
	hp = rest;
	if (at) {
		const char *colon = memchr(rest, ':', (size_t)(at - rest));

		if (!colon)
			return redis_fail(out, why,
			                  "has credentials without ':': write them as "
			                  "[user]:password@");
		if (colon > rest) {
			out->username = pct_decode(rest, (size_t)(colon - rest));
			if (!out->username)
				return redis_fail(
				        out, why,
				        "has a malformed percent-escape in the user name");
			user_s = rest;
			user_n = (size_t)(colon - rest);
		}
		if (at > colon + 1) {
			out->password = pct_decode(colon + 1, (size_t)(at - colon - 1));
			if (!out->password)
				return redis_fail(out, why,
				                  "has a malformed percent-escape in the password");
		}
		hp = at + 1;
	}

	/* host[:port], the host maybe a bracketed IPv6 address. */
	if (*hp == '[') {
		const char *close = memchr(hp, ']', (size_t)(auth_end - hp));

		if (!close || close == hp + 1)
			return redis_fail(out, why, "has an unterminated or empty [IPv6] host");
		for (const char *c = hp + 1; c < close; c++)
			if (ascii_hex_value(*c) < 0 && *c != ':' && *c != '.')
				return redis_fail(out, why, "has an invalid [IPv6] host");
		out->host = xstrndup_(hp + 1, (size_t)(close - hp - 1));
		v6 = true;
		if (close + 1 < auth_end) {
			if (close[1] != ':')
				return redis_fail(out, why, "has text after the [IPv6] host");
			port_s = close + 2;
		}
	} else {
		const char *colon = memchr(hp, ':', (size_t)(auth_end - hp));

		host_n = (size_t)((colon ? colon : auth_end) - hp);
		if (host_n == 0)
			return redis_fail(out, why, "has no host");
		if (colon && memchr(colon + 1, ':', (size_t)(auth_end - colon - 1)))
			return redis_fail(out, why, "has an IPv6 host not in [brackets]");
		for (size_t i = 0; i < host_n; i++)
			if (!ascii_is_alnum(hp[i]) && hp[i] != '.' && hp[i] != '-' && hp[i] != '_')
				return redis_fail(out, why, "has an invalid host name");
		out->host = xstrndup_(hp, host_n);
		if (colon)
			port_s = colon + 1;
	}
	out->port = 6379;
	if (port_s) {
		out->port = parse_port(port_s, (size_t)(auth_end - port_s));
		if (out->port < 0)
			return redis_fail(out, why, "has a port that is not a number in 1..65535");
	}
	if (parse_redis_db(auth_end, &out->db) < 0)
		return redis_fail(out, why, "has a database that is not a non-negative number");

	buf_append_str(&red, "redis://");
	if (user_s)
		buf_append(&red, user_s, user_n);
	if (out->password)
		buf_append_str(&red, ":***");
	if (user_s || out->password)
		buf_append_str(&red, "@");
	if (v6)
		buf_append_str(&red, "[");
	buf_append_str(&red, out->host);
	if (v6)
		buf_append_str(&red, "]");
	snprintf(num, sizeof(num), ":%d", out->port);
	buf_append_str(&red, num);
	snprintf(num, sizeof(num), "/%d", out->db);
	buf_append_str(&red, num);
	out->redacted = buf_take(&red);
	return 0;
}

void redis_url_free(struct redis_url *u)
{
	if (!u)
		return;
	free(u->host);
	free(u->password);
	free(u->username);
	free(u->redacted);
	memset(u, 0, sizeof(*u));
}
