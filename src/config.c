/*
 * config.c - load, validate and print the service's configuration.
 *
 * One table, `vars`, lists every variable in the order of SPEC section 2
 * with its type, its field in struct config, its default and a valid
 * example.  Loading, printing and freeing all walk that table, so a
 * variable cannot be parsed but forgotten by check-config or leaked.
 *
 * Rules that hold for every variable:
 *   - the process environment wins over the .env file (config_load); a
 *     variable that is set but empty counts as unset and takes its default;
 *   - every problem is collected, one line each, formatted
 *     `NAME: <what is wrong> (example: NAME=<good value>)`, and loading goes
 *     on so the operator sees all of them at once;
 *   - a secret's value (SECRET_KEY, SMTP_PASSWORD, RSA_PRIVATE_KEY_CONTENT,
 *     the passwords inside DATABASE_URL / REDIS_URL) never appears in an
 *     error line nor in config_print(); other values are quoted with
 *     control characters escaped and long values cut, so one problem stays
 *     one line.
 * After the per-variable pass come the derived defaults (WORKERS,
 * JWT_ISSUER, SMTP_FROM, SMTP_SECURITY) and the staging/production policy,
 * which skips variables that already failed so one mistake is not reported
 * twice.
 */
#include "config.h"

#include <arpa/inet.h>
#include <fcntl.h>
#include <stdarg.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <unistd.h>

#include "arena.h"
#include "ascii.h"
#include "dotenv.h"

#ifndef AUTH_VERSION
#define AUTH_VERSION "unknown"
#endif

#define ERR_LINE_MAX     1024
#define QUOTE_MAX        64 /* characters of a value echoed in an error */
#define SECRET_KEY_MIN   32
#define PROD_BCRYPT_MIN  10
#define WORKERS_MAX      1024
#define ENV_FILE_DEFAULT ".env"

enum var_type {
	V_STR,        /* char *: printable text */
	V_HOST,       /* char *: IP literal or host name */
	V_HTTP_URL,   /* char *: http(s)://host[:port][/path] */
	V_SECRET,     /* char *: never echoed, printed as *** */
	V_SECRET_KEY, /* secret_key + secret_key_len */
	V_INT,        /* int in [lo, hi] */
	V_BOOL,       /* bool */
	V_ENV,        /* enum app_env */
	V_LEVEL,      /* enum log_level */
	V_FORMAT,     /* enum log_format */
	V_SECURITY,   /* enum smtp_security (email: SMTP_SECURITY) */
	V_DB_URL,     /* database_url + db */
	V_REDIS_URL,  /* redis_url + redis */
	V_PATHS,      /* char ** + count: comma-separated paths */
	V_ORIGINS,    /* char ** + count + cors_any */
	V_CIDRS,      /* struct cidr * + count */
};

struct var {
	const char *name;
	enum var_type type;
	size_t off;          /* the field in struct config */
	const char *def;     /* default, parsed like a value; NULL: unset or derived */
	int lo, hi;          /* V_INT bounds */
	const char *example; /* a valid value, shown in error lines */
};

#define F(field) offsetof(struct config, field)

static const struct var vars[] = {
        {.name = "APP_NAME",
         .type = V_STR,
         .off = F(app_name),
         .def = "Auth Service",
         .example = "Auth Service"},
        {.name = "APP_VERSION",
         .type = V_STR,
         .off = F(app_version),
         .def = AUTH_VERSION,
         .example = "1.0.0"},
        {.name = "DEBUG", .type = V_BOOL, .off = F(debug), .def = "false", .example = "false"},
        {.name = "ENVIRONMENT",
         .type = V_ENV,
         .off = F(environment),
         .def = "development",
         .example = "production"},
        {.name = "HOST", .type = V_HOST, .off = F(host), .def = "0.0.0.0", .example = "0.0.0.0"},
        {.name = "PORT",
         .type = V_INT,
         .off = F(port),
         .def = "8000",
         .lo = 1,
         .hi = 65535,
         .example = "8000"},
        {.name = "WORKERS",
         .type = V_INT,
         .off = F(workers),
         .lo = 1,
         .hi = WORKERS_MAX,
         .example = "4"},
        {.name = "LOG_LEVEL",
         .type = V_LEVEL,
         .off = F(log_level),
         .def = "INFO",
         .example = "INFO"},
        {.name = "LOG_FORMAT",
         .type = V_FORMAT,
         .off = F(log_format),
         .def = "text",
         .example = "json"},
        {.name = "DATABASE_URL",
         .type = V_DB_URL,
         .off = F(db),
         .def = "sqlite:///./auth.db",
         .example = "postgresql://user:password@localhost:5432/auth_db"},
        {.name = "DATABASE_POOL_SIZE",
         .type = V_INT,
         .off = F(database_pool_size),
         .def = "10",
         .lo = 1,
         .hi = 1000,
         .example = "10"},
        {.name = "DATABASE_MAX_OVERFLOW",
         .type = V_INT,
         .off = F(database_max_overflow),
         .def = "5",
         .lo = 0,
         .hi = 1000,
         .example = "5"},
        {.name = "DATABASE_POOL_TIMEOUT",
         .type = V_INT,
         .off = F(database_pool_timeout),
         .def = "30",
         .lo = 1,
         .hi = 3600,
         .example = "30"},
        {.name = "REDIS_URL",
         .type = V_REDIS_URL,
         .off = F(redis),
         .example = "redis://:password@localhost:6379/0"},
        {.name = "SECRET_KEY",
         .type = V_SECRET_KEY,
         .off = F(secret_key),
         .example = "$(openssl rand -hex 32)"},
        {.name = "RSA_PRIVATE_KEY_PATH",
         .type = V_STR,
         .off = F(rsa_private_key_path),
         .def = "./keys/private.pem",
         .example = "./keys/private.pem"},
        {.name = "RSA_PRIVATE_KEY_CONTENT",
         .type = V_SECRET,
         .off = F(rsa_private_key_content),
         .example = "$(base64 -w0 keys/private.pem)"},
        {.name = "RSA_PUBLIC_KEY_ID",
         .type = V_STR,
         .off = F(rsa_public_key_id),
         .example = "2025-01"},
        {.name = "RSA_PREVIOUS_PUBLIC_KEYS",
         .type = V_PATHS,
         .off = F(rsa_previous_public_keys),
         .example = "./keys/2024-public.pem,./keys/2023-public.pem"},
        {.name = "JWT_ISSUER",
         .type = V_STR,
         .off = F(jwt_issuer),
         .example = "https://auth.example.com"},
        {.name = "JWT_AUDIENCE",
         .type = V_STR,
         .off = F(jwt_audience),
         .example = "https://api.example.com"},
        {.name = "ACCESS_TOKEN_EXPIRE_MINUTES",
         .type = V_INT,
         .off = F(access_token_expire_minutes),
         .def = "15",
         .lo = 1,
         .hi = 1440,
         .example = "15"},
        {.name = "REFRESH_TOKEN_EXPIRE_DAYS",
         .type = V_INT,
         .off = F(refresh_token_expire_days),
         .def = "7",
         .lo = 1,
         .hi = 365,
         .example = "7"},
        {.name = "SESSION_MAX_LIFETIME_DAYS",
         .type = V_INT,
         .off = F(session_max_lifetime_days),
         .def = "30",
         .lo = 1,
         .hi = 3650,
         .example = "30"},
        {.name = "REFRESH_TOKEN_REUSE_INTERVAL_SECONDS",
         .type = V_INT,
         .off = F(refresh_token_reuse_interval_seconds),
         .def = "10",
         .lo = 0,
         .hi = 300,
         .example = "10"},
        {.name = "PASSWORD_BCRYPT_ROUNDS",
         .type = V_INT,
         .off = F(password_bcrypt_rounds),
         .def = "12",
         .lo = 4,
         .hi = 31,
         .example = "12"},
        {.name = "PASSWORD_MIN_LENGTH",
         .type = V_INT,
         .off = F(password_min_length),
         .def = "8",
         .lo = 1,
         .hi = 128,
         .example = "8"},
        {.name = "EMAIL_VERIFY_EXPIRE_HOURS",
         .type = V_INT,
         .off = F(email_verify_expire_hours),
         .def = "48",
         .lo = 1,
         .hi = 720,
         .example = "48"},
        {.name = "PASSWORD_RESET_EXPIRE_MINUTES",
         .type = V_INT,
         .off = F(password_reset_expire_minutes),
         .def = "60",
         .lo = 1,
         .hi = 1440,
         .example = "60"},
        {.name = "REQUIRE_EMAIL_VERIFICATION",
         .type = V_BOOL,
         .off = F(require_email_verification),
         .def = "false",
         .example = "true"},
        {.name = "REGISTER_SILENT",
         .type = V_BOOL,
         .off = F(register_silent),
         .def = "false",
         .example = "true"},
        {.name = "FRONTEND_URL",
         .type = V_HTTP_URL,
         .off = F(frontend_url),
         .def = "http://localhost:3000",
         .example = "https://app.example.com"},
        {.name = "SMTP_HOST", .type = V_HOST, .off = F(smtp_host), .example = "smtp.example.com"},
        {.name = "SMTP_PORT",
         .type = V_INT,
         .off = F(smtp_port),
         .def = "587",
         .lo = 1,
         .hi = 65535,
         .example = "587"},
        /* email: SMTP_SECURITY (unset: derived from SMTP_PORT, see derive_defaults) */
        {.name = "SMTP_SECURITY",
         .type = V_SECURITY,
         .off = F(smtp_security),
         .example = "starttls"},
        {.name = "SMTP_USER", .type = V_STR, .off = F(smtp_user), .example = "apikey"},
        {.name = "SMTP_PASSWORD",
         .type = V_SECRET,
         .off = F(smtp_password),
         .example = "your-smtp-password"},
        {.name = "SMTP_FROM", .type = V_STR, .off = F(smtp_from), .example = "noreply@example.com"},
        {.name = "SMTP_CA_FILE",
         .type = V_STR,
         .off = F(smtp_ca_file),
         .example = "/etc/ssl/certs/ca-certificates.crt"},
        {.name = "EMAIL_TEMPLATES_DIR",
         .type = V_STR,
         .off = F(email_templates_dir),
         .example = "./templates"},
        /* email: the outbox sender's timing (docs/email.md) */
        {.name = "OUTBOX_RETRY_BASE_SECONDS",
         .type = V_INT,
         .off = F(outbox_retry_base_seconds),
         .def = "30",
         .lo = 1,
         .hi = 3600,
         .example = "30"},
        {.name = "OUTBOX_POLL_SECONDS",
         .type = V_INT,
         .off = F(outbox_poll_seconds),
         .def = "5",
         .lo = 1,
         .hi = 300,
         .example = "5"},
        {.name = "CORS_ORIGINS",
         .type = V_ORIGINS,
         .off = F(cors_origins),
         .example = "https://app.example.com,https://admin.example.com"},
        {.name = "TRUSTED_PROXIES",
         .type = V_CIDRS,
         .off = F(trusted_proxies),
         .example = "10.0.0.0/8,::1"},
        {.name = "RATE_LIMIT_LOGIN_PER_MINUTE",
         .type = V_INT,
         .off = F(rate_limit_login_per_minute),
         .def = "10",
         .lo = 1,
         .hi = 100000,
         .example = "10"},
        {.name = "RATE_LIMIT_IP_PER_MINUTE",
         .type = V_INT,
         .off = F(rate_limit_ip_per_minute),
         .def = "100",
         .lo = 1,
         .hi = 1000000,
         .example = "100"},
        {.name = "RATE_LIMIT_ACCOUNT_PER_HOUR",
         .type = V_INT,
         .off = F(rate_limit_account_per_hour),
         .def = "100",
         .lo = 1,
         .hi = 1000000,
         .example = "100"},
        {.name = "RATE_LIMIT_IPV6_PREFIX",
         .type = V_INT,
         .off = F(rate_limit_ipv6_prefix),
         .def = "64",
         .lo = 32,
         .hi = 128,
         .example = "64"},
        {.name = "HTTP_HEADER_TIMEOUT_SECONDS",
         .type = V_INT,
         .off = F(http_header_timeout_seconds),
         .def = "20",
         .lo = 1,
         .hi = 300,
         .example = "20"},
        {.name = "HTTP_BODY_TIMEOUT_SECONDS",
         .type = V_INT,
         .off = F(http_body_timeout_seconds),
         .def = "30",
         .lo = 1,
         .hi = 600,
         .example = "30"},
        {.name = "HTTP_MAX_CONNECTIONS",
         .type = V_INT,
         .off = F(http_max_connections),
         .def = "4096",
         .lo = 1,
         .hi = 1000000,
         .example = "4096"},
        {.name = "HTTP_MAX_CONNECTIONS_PER_IP",
         .type = V_INT,
         .off = F(http_max_connections_per_ip),
         .def = "256",
         .lo = 0,
         .hi = 1000000,
         .example = "256"},
        {.name = "SHUTDOWN_TIMEOUT_SECONDS",
         .type = V_INT,
         .off = F(shutdown_timeout_seconds),
         .def = "20",
         .lo = 1,
         .hi = 3600,
         .example = "20"},
};

#define NVARS (sizeof(vars) / sizeof(vars[0]))

static const char *const env_names[] = {"development", "test", "staging", "production"};
static const char *const level_names[] = {"DEBUG", "INFO", "WARNING", "ERROR", "CRITICAL"};
static const char *const format_names[] = {"text", "json"};
/* Indexed by enum smtp_security - 1 (AUTO is never a value). */
static const char *const security_names[] = {"starttls", "tls", "none"};

struct loader {
	config_lookup_fn lookup;
	void *ctx;
	struct config_errors *errs;
	bool failed[NVARS]; /* the variable produced an error line */
};

/* ---- error lines ---- */

static void errs_add(struct config_errors *errs, const char *fmt, ...)
        __attribute__((format(printf, 2, 3)));

static void errs_add(struct config_errors *errs, const char *fmt, ...)
{
	char line[ERR_LINE_MAX];
	va_list ap;

	va_start(ap, fmt);
	vsnprintf(line, sizeof(line), fmt, ap);
	va_end(ap);
	errs->lines = xrealloc(errs->lines, (errs->n + 1) * sizeof(*errs->lines));
	errs->lines[errs->n++] = xstrdup(line);
}

/*
 * Report a problem with variable v: "NAME: <problem> (example: NAME=...)".
 * `problem` is a printf format for the middle part.
 */
static void bad(struct loader *l, const struct var *v, const char *fmt, ...)
        __attribute__((format(printf, 3, 4)));

static void bad(struct loader *l, const struct var *v, const char *fmt, ...)
{
	char problem[ERR_LINE_MAX / 2];
	va_list ap;

	va_start(ap, fmt);
	vsnprintf(problem, sizeof(problem), fmt, ap);
	va_end(ap);
	l->failed[v - vars] = true;
	errs_add(l->errs, "%s: %s (example: %s=%s)", v->name, problem, v->name, v->example);
}

/*
 * Quote s for an error line: "..." with quotes, backslashes and control
 * bytes escaped, cut after QUOTE_MAX characters.  buf must hold
 * QUOTE_MAX * 4 + 8 bytes.
 */
#define QUOTE_BUF (QUOTE_MAX * 4 + 8)

static const char *quote(char *buf, const char *s)
{
	size_t o = 0, i;

	buf[o++] = '"';
	for (i = 0; s[i] && i < QUOTE_MAX; i++) {
		unsigned char c = (unsigned char)s[i];

		if (c == '"' || c == '\\') {
			buf[o++] = '\\';
			buf[o++] = (char)c;
		} else if (c < 0x20 || c == 0x7f) {
			o += (size_t)snprintf(buf + o, 5, "\\x%02x", c);
		} else {
			buf[o++] = (char)c;
		}
	}
	if (s[i]) {
		memcpy(buf + o, "...", 3);
		o += 3;
	}
	buf[o++] = '"';
	buf[o] = '\0';
	return buf;
}

/* ---- small parsers ---- */

static bool has_control(const char *s)
{
	for (; *s; s++)
		if ((unsigned char)*s < 0x20 || *s == 0x7f)
			return true;
	return false;
}

/* Decimal integer in [lo, hi], nothing else around it. */
static int parse_int(const char *s, int lo, int hi, int *out)
{
	bool neg = false;
	long long v = 0;

	if (*s == '-' || *s == '+')
		neg = *s++ == '-';
	if (!*s)
		return -1;
	for (; *s; s++) {
		if (*s < '0' || *s > '9')
			return -1;
		v = v * 10 + (*s - '0');
		if (v > INT32_MAX)
			return -1;
	}
	if (neg)
		v = -v;
	if (v < lo || v > hi)
		return -1;
	*out = (int)v;
	return 0;
}

int config_parse_bool(const char *s, bool *out)
{
	static const char *const yes[] = {"true", "1", "yes"};
	static const char *const no[] = {"false", "0", "no"};

	if (!s)
		return -1;
	for (size_t i = 0; i < 3; i++) {
		if (strcasecmp(s, yes[i]) == 0) {
			*out = true;
			return 0;
		}
		if (strcasecmp(s, no[i]) == 0) {
			*out = false;
			return 0;
		}
	}
	return -1;
}

static int parse_choice(const char *s, const char *const *names, size_t n)
{
	for (size_t i = 0; i < n; i++)
		if (strcasecmp(s, names[i]) == 0)
			return (int)i;
	return -1;
}

/* An IPv4/IPv6 literal or a host name (letters, digits, '-', '_', '.'). */
static bool host_ok(const char *s)
{
	unsigned char addr[16];
	size_t n = strlen(s);

	if (n == 0 || n > 253)
		return false;
	if (inet_pton(AF_INET, s, addr) == 1 || inet_pton(AF_INET6, s, addr) == 1)
		return true;
	if (s[0] == '.' || s[0] == '-')
		return false;
	for (size_t i = 0; i < n; i++)
		if (!ascii_is_alnum(s[i]) && s[i] != '-' && s[i] != '_' && s[i] != '.')
			return false;
	return true;
}

/*
 * Length of the "http(s)://host[:port]" prefix of s, or 0 when s does not
 * start with one.  *port_at is set to the offset of ':' before the port, or
 * 0 when there is none.
 */
static size_t origin_prefix(const char *s, size_t *port_at)
{
	size_t i, h;

	*port_at = 0;
	if (strncasecmp(s, "http://", 7) == 0)
		i = 7;
	else if (strncasecmp(s, "https://", 8) == 0)
		i = 8;
	else
		return 0;
	h = i;
	if (s[i] == '[') {
		char buf[INET6_ADDRSTRLEN];
		unsigned char addr[16];
		const char *close = strchr(s + i, ']');
		size_t n;

		if (!close)
			return 0;
		n = (size_t)(close - (s + i + 1));
		if (n == 0 || n >= sizeof(buf))
			return 0;
		memcpy(buf, s + i + 1, n);
		buf[n] = '\0';
		if (inet_pton(AF_INET6, buf, addr) != 1)
			return 0;
		i += n + 2;
	} else {
		while (ascii_is_alnum(s[i]) || s[i] == '.' || s[i] == '-' || s[i] == '_')
			i++;
		if (i == h || s[h] == '.' || s[h] == '-')
			return 0;
	}
	if (s[i] == ':') {
		int port;
		size_t j = i + 1, n = 0;
		char digits[6];

		while (s[j + n] >= '0' && s[j + n] <= '9' && n < 6)
			n++;
		if (n == 0 || n > 5)
			return 0;
		memcpy(digits, s + j, n);
		digits[n] = '\0';
		if (parse_int(digits, 1, 65535, &port) < 0)
			return 0;
		*port_at = i;
		i = j + n;
	}
	if (s[i] != '\0' && s[i] != '/')
		return 0;
	return i;
}

static void lowercase(char *s)
{
	for (; *s; s++)
		if (*s >= 'A' && *s <= 'Z')
			*s = (char)(*s - 'A' + 'a');
}

/*
 * An exact origin as browsers send it: lower case, no path, no default
 * port.  Returns a new string or NULL when s is not an origin.
 */
static char *normalize_origin(const char *s)
{
	size_t port_at, n = origin_prefix(s, &port_at);
	char *o;

	if (n == 0 || s[n] != '\0')
		return NULL;
	o = xstrdup(s);
	lowercase(o);
	if (port_at) {
		bool https = strncmp(o, "https:", 6) == 0;

		if ((https && strcmp(o + port_at, ":443") == 0) ||
		    (!https && strcmp(o + port_at, ":80") == 0))
			o[port_at] = '\0';
	}
	return o;
}

/* "addr" or "addr/prefix" into c; host bits beyond the prefix are cleared. */
static int parse_cidr(const char *s, struct cidr *c)
{
	char buf[INET6_ADDRSTRLEN];
	const char *slash = strchr(s, '/');
	size_t n = slash ? (size_t)(slash - s) : strlen(s);
	int max;

	memset(c, 0, sizeof(*c));
	if (n == 0 || n >= sizeof(buf))
		return -1;
	memcpy(buf, s, n);
	buf[n] = '\0';
	if (inet_pton(AF_INET, buf, c->addr) == 1) {
		c->family = AF_INET;
		max = 32;
	} else if (inet_pton(AF_INET6, buf, c->addr) == 1) {
		c->family = AF_INET6;
		max = 128;
	} else {
		return -1;
	}
	c->prefix = max;
	if (slash &&
	    (slash[1] < '0' || slash[1] > '9' || parse_int(slash + 1, 0, max, &c->prefix) < 0))
		return -1;
	for (int bit = c->prefix; bit < max; bit++)
		c->addr[bit / 8] &= (unsigned char)~(0x80u >> (bit % 8));
	return 0;
}

/* True when path names a regular file this process can open for reading. */
static bool readable_file(const char *path)
{
	struct stat st;
	int fd = open(path, O_RDONLY | O_CLOEXEC);
	bool ok;

	if (fd < 0)
		return false;
	ok = fstat(fd, &st) == 0 && S_ISREG(st.st_mode);
	close(fd);
	return ok;
}

/* ---- loading ---- */

static const struct var *var_named(const char *name)
{
	for (size_t i = 0; i < NVARS; i++)
		if (strcmp(vars[i].name, name) == 0)
			return &vars[i];
	return NULL;
}

static bool failed(const struct loader *l, const char *name)
{
	return l->failed[var_named(name) - vars];
}

/* The variable's value, NULL when unset or empty. */
static const char *lookup(const struct loader *l, const char *name)
{
	const char *v = l->lookup ? l->lookup(name, l->ctx) : NULL;

	return v && *v ? v : NULL;
}

/*
 * Split a comma-separated list and call item() on each entry with the
 * surrounding blanks trimmed; empty entries are skipped.
 */
static void for_each_item(const char *s, void (*item)(const char *it, void *arg), void *arg)
{
	while (*s) {
		size_t n = strcspn(s, ",");
		const char *b = s, *e = s + n;
		char *it;

		while (b < e && (*b == ' ' || *b == '\t'))
			b++;
		while (e > b && (e[-1] == ' ' || e[-1] == '\t'))
			e--;
		if (e > b) {
			it = xmalloc((size_t)(e - b) + 1);
			memcpy(it, b, (size_t)(e - b));
			it[e - b] = '\0';
			item(it, arg);
			free(it);
		}
		s += n;
		if (*s)
			s++;
	}
}

struct list_ctx {
	struct loader *l;
	const struct var *v;
	struct config *cfg;
};

static void push_str(char ***arr, size_t *n, char *s)
{
	*arr = xrealloc(*arr, (*n + 1) * sizeof(**arr));
	(*arr)[(*n)++] = s;
}

static void path_item(const char *it, void *arg)
{
	struct list_ctx *lc = arg;
	char q[QUOTE_BUF];

	if (has_control(it)) {
		bad(lc->l, lc->v, "%s contains control characters", quote(q, it));
		return;
	}
	push_str(&lc->cfg->rsa_previous_public_keys, &lc->cfg->n_rsa_previous_public_keys,
	         xstrdup(it));
}

static void origin_item(const char *it, void *arg)
{
	struct list_ctx *lc = arg;
	char q[QUOTE_BUF];
	char *o;

	if (strcmp(it, "*") == 0) {
		lc->cfg->cors_any = true;
		return;
	}
	o = normalize_origin(it);
	if (!o) {
		bad(lc->l, lc->v,
		    "%s is not an origin: scheme://host[:port] with http or https and no path",
		    quote(q, it));
		return;
	}
	push_str(&lc->cfg->cors_origins, &lc->cfg->n_cors_origins, o);
}

static void cidr_item(const char *it, void *arg)
{
	struct list_ctx *lc = arg;
	struct config *cfg = lc->cfg;
	char q[QUOTE_BUF];
	struct cidr c;

	if (parse_cidr(it, &c) < 0) {
		bad(lc->l, lc->v, "%s is not an IP address or CIDR (address/prefix)", quote(q, it));
		return;
	}
	cfg->trusted_proxies = xrealloc(
	        cfg->trusted_proxies, (cfg->n_trusted_proxies + 1) * sizeof(*cfg->trusted_proxies));
	cfg->trusted_proxies[cfg->n_trusted_proxies++] = c;
}

static void load_choice(struct loader *l, const struct var *v, const char *val, void *field)
{
	const char *const *names;
	size_t n;
	int i;
	char q[QUOTE_BUF], list[128] = "";

	switch (v->type) {
	case V_ENV:
		names = env_names;
		n = sizeof(env_names) / sizeof(env_names[0]);
		break;
	case V_LEVEL:
		names = level_names;
		n = sizeof(level_names) / sizeof(level_names[0]);
		break;
	case V_SECURITY:
		names = security_names;
		n = sizeof(security_names) / sizeof(security_names[0]);
		break;
	default:
		names = format_names;
		n = sizeof(format_names) / sizeof(format_names[0]);
		break;
	}
	i = parse_choice(val, names, n);
	if (i < 0) {
		for (size_t k = 0; k < n; k++) {
			if (k)
				strncat(list, ", ", sizeof(list) - strlen(list) - 1);
			strncat(list, names[k], sizeof(list) - strlen(list) - 1);
		}
		bad(l, v, "%s is not one of %s", quote(q, val), list);
		return;
	}
	switch (v->type) {
	case V_ENV:
		*(enum app_env *)field = (enum app_env)i;
		break;
	case V_LEVEL:
		*(enum log_level *)field = (enum log_level)i;
		break;
	case V_SECURITY:
		*(enum smtp_security *)field = (enum smtp_security)(i + 1);
		break;
	default:
		*(enum log_format *)field = (enum log_format)i;
		break;
	}
}

/* FRONTEND_URL: an http(s) base URL without query or fragment. */
static void load_http_url(struct loader *l, const struct var *v, const char *val, char **field)
{
	char q[QUOTE_BUF];
	size_t port_at, n;

	if (strncasecmp(val, "http://", 7) != 0 && strncasecmp(val, "https://", 8) != 0) {
		bad(l, v, "%s is not an http:// or https:// URL", quote(q, val));
		return;
	}
	n = origin_prefix(val, &port_at);
	if (n == 0) {
		bad(l, v, "%s has an invalid host or port", quote(q, val));
		return;
	}
	for (const char *p = val + n; *p; p++) {
		unsigned char c = (unsigned char)*p;

		if (c <= 0x20 || c >= 0x7f || c == '?' || c == '#') {
			bad(l, v, "%s must be a base URL: no spaces, query or fragment",
			    quote(q, val));
			return;
		}
	}
	*field = xstrdup(val);
	/* Links are built as FRONTEND_URL + "/path": drop trailing slashes. */
	for (size_t len = strlen(*field); len > n && (*field)[len - 1] == '/'; len--)
		(*field)[len - 1] = '\0';
}

static void load_var(struct loader *l, struct config *cfg, const struct var *v)
{
	void *field = (char *)cfg + v->off;
	const char *val = lookup(l, v->name);
	char q[QUOTE_BUF];
	const char *why = NULL;
	struct list_ctx lc = {l, v, cfg};

	if (!val)
		val = v->def;
	if (!val)
		return; /* unset without default: NULL, or derived later */

	switch (v->type) {
	case V_STR:
		if (has_control(val)) {
			bad(l, v, "%s contains control characters", quote(q, val));
			return;
		}
		*(char **)field = xstrdup(val);
		break;
	case V_HOST:
		if (!host_ok(val)) {
			bad(l, v, "%s is not an IP address or host name", quote(q, val));
			return;
		}
		*(char **)field = xstrdup(val);
		break;
	case V_HTTP_URL:
		load_http_url(l, v, val, field);
		break;
	case V_SECRET:
		*(char **)field = xstrdup(val);
		break;
	case V_SECRET_KEY:
		cfg->secret_key = xstrdup(val);
		cfg->secret_key_len = strlen(val);
		break;
	case V_INT:
		if (parse_int(val, v->lo, v->hi, field) < 0)
			bad(l, v, "%s is not a number between %d and %d", quote(q, val), v->lo,
			    v->hi);
		break;
	case V_BOOL:
		if (config_parse_bool(val, field) < 0)
			bad(l, v, "%s is not a boolean (true/false, 1/0 or yes/no)", quote(q, val));
		break;
	case V_ENV:
	case V_LEVEL:
	case V_FORMAT:
	case V_SECURITY:
		load_choice(l, v, val, field);
		break;
	case V_DB_URL:
		cfg->database_url = xstrdup(val);
		if (db_url_parse(val, &cfg->db, &why) < 0)
			bad(l, v, "the URL %s", why);
		break;
	case V_REDIS_URL:
		cfg->redis_url = xstrdup(val);
		if (redis_url_parse(val, &cfg->redis, &why) < 0)
			bad(l, v, "the URL %s", why);
		break;
	case V_PATHS:
		for_each_item(val, path_item, &lc);
		break;
	case V_ORIGINS:
		for_each_item(val, origin_item, &lc);
		break;
	case V_CIDRS:
		for_each_item(val, cidr_item, &lc);
		break;
	}
}

static void derive_defaults(struct config *cfg)
{
	char buf[64];

	if (cfg->workers == 0) {
		long n = sysconf(_SC_NPROCESSORS_ONLN);

		cfg->workers = n < 1 ? 1 : n > WORKERS_MAX ? WORKERS_MAX : (int)n;
	}
	if (!cfg->jwt_issuer) {
		snprintf(buf, sizeof(buf), "http://localhost:%d", cfg->port);
		cfg->jwt_issuer = xstrdup(buf);
	}
	if (!cfg->smtp_from)
		cfg->smtp_from = xstrdup(cfg->smtp_user ? cfg->smtp_user : "noreply@localhost");
	/* email: SPEC 2's port rule, unless SMTP_SECURITY says otherwise. */
	if (cfg->smtp_security == SMTP_SECURITY_AUTO)
		cfg->smtp_security = cfg->smtp_port == 587   ? SMTP_SECURITY_STARTTLS
		                     : cfg->smtp_port == 465 ? SMTP_SECURITY_TLS
		                                             : SMTP_SECURITY_NONE;
}

/* Staging and production refuse settings that are only safe on a laptop. */
static void check_policy(struct loader *l, const struct config *cfg)
{
	bool prod = cfg->environment == ENV_PRODUCTION;
	const char *env = config_env_name(cfg->environment);
	char q[QUOTE_BUF];

	if (failed(l, "ENVIRONMENT") || !config_is_strict(cfg))
		return;
	if (!cfg->rsa_private_key_content && !failed(l, "RSA_PRIVATE_KEY_PATH") &&
	    !(cfg->rsa_private_key_path && readable_file(cfg->rsa_private_key_path)))
		bad(l, var_named("RSA_PRIVATE_KEY_PATH"),
		    "no signing key: RSA_PRIVATE_KEY_CONTENT is unset and %s is not a readable "
		    "file; %s refuses a generated development key",
		    quote(q, cfg->rsa_private_key_path ? cfg->rsa_private_key_path : ""), env);
	if (!prod)
		return;
	if (cfg->debug && !failed(l, "DEBUG"))
		bad(l, var_named("DEBUG"), "true is refused in production");
	if (!cfg->secret_key)
		bad(l, var_named("SECRET_KEY"), "missing; production requires at least %d bytes",
		    SECRET_KEY_MIN);
	else if (cfg->secret_key_len < SECRET_KEY_MIN)
		bad(l, var_named("SECRET_KEY"),
		    "is %zu bytes long; production requires at least %d", cfg->secret_key_len,
		    SECRET_KEY_MIN);
	if (cfg->cors_any)
		bad(l, var_named("CORS_ORIGINS"),
		    "\"*\" is refused in production; list the exact origins");
	if (cfg->smtp_host && !failed(l, "SMTP_SECURITY") && lookup(l, "SMTP_SECURITY") &&
	    cfg->smtp_security == SMTP_SECURITY_NONE)
		bad(l, var_named("SMTP_SECURITY"),
		    "none sends mail without TLS, refused in production; use starttls or tls");
	else if (cfg->smtp_host && !failed(l, "SMTP_PORT") &&
	         cfg->smtp_security == SMTP_SECURITY_NONE)
		bad(l, var_named("SMTP_PORT"),
		    "%d sends mail without TLS, refused in production; use 587 (STARTTLS) or 465 "
		    "(implicit TLS)",
		    cfg->smtp_port);
	if (!failed(l, "PASSWORD_BCRYPT_ROUNDS") && cfg->password_bcrypt_rounds < PROD_BCRYPT_MIN)
		bad(l, var_named("PASSWORD_BCRYPT_ROUNDS"),
		    "%d is below the production minimum of %d", cfg->password_bcrypt_rounds,
		    PROD_BCRYPT_MIN);
}

/* Fill cfg; errors are appended to errs (which may already hold some). */
static int load(struct config *cfg, config_lookup_fn fn, void *ctx, struct config_errors *errs)
{
	struct loader l = {.lookup = fn, .ctx = ctx, .errs = errs};

	memset(cfg, 0, sizeof(*cfg));
	for (size_t i = 0; i < NVARS; i++)
		load_var(&l, cfg, &vars[i]);
	derive_defaults(cfg);
	check_policy(&l, cfg);
	return errs->n ? -1 : 0;
}

int config_load_with(struct config *cfg, config_lookup_fn lookup, void *ctx,
                     struct config_errors *errs)
{
	struct config_errors local = {0};
	struct config_errors *e = errs ? errs : &local;
	int rc;

	e->lines = NULL;
	e->n = 0;
	rc = load(cfg, lookup, ctx, e);
	config_errors_free(&local);
	return rc;
}

/* config_load's look-up: the environment, then the .env file. */
static const char *env_lookup(const char *name, void *ctx)
{
	const char *v = getenv(name);

	return v ? v : dotenv_get(ctx, name);
}

int config_load(struct config *cfg, struct config_errors *errs)
{
	struct config_errors local = {0};
	struct config_errors *e = errs ? errs : &local;
	const char *env_file = getenv("ENV_FILE");
	bool named = env_file && *env_file;
	const char *path = named ? env_file : ENV_FILE_DEFAULT;
	struct dotenv file = {0};
	size_t bad_line = 0;
	char q[QUOTE_BUF];
	int rc;

	e->lines = NULL;
	e->n = 0;
	rc = dotenv_load_file(path, &file, &bad_line);
	if (rc == 1 && named)
		errs_add(e, "ENV_FILE: %s does not exist (example: ENV_FILE=/etc/auth-service/env)",
		         quote(q, path));
	else if (rc < 0 && bad_line)
		errs_add(e,
		         "ENV_FILE: %s line %zu is not a KEY=value assignment (example: "
		         "PORT=8000)",
		         quote(q, path), bad_line);
	else if (rc < 0)
		errs_add(e,
		         "ENV_FILE: %s cannot be read (a regular file of at most 1 MiB) "
		         "(example: ENV_FILE=/etc/auth-service/env)",
		         quote(q, path));
	rc = load(cfg, env_lookup, &file, e);
	dotenv_free(&file);
	config_errors_free(&local);
	return rc;
}

/* ---- printing ---- */

/* Print s with any control byte replaced, so one variable is one line. */
static void put_clean(FILE *out, const char *s)
{
	for (; *s; s++)
		fputc(((unsigned char)*s < 0x20 || *s == 0x7f) ? '?' : *s, out);
}

static void put_list(FILE *out, char *const *items, size_t n, bool star)
{
	if (!star && n == 0) {
		fputs("(unset)", out);
		return;
	}
	if (star)
		fputs(n ? "*," : "*", out);
	for (size_t i = 0; i < n; i++) {
		if (i)
			fputc(',', out);
		put_clean(out, items[i]);
	}
}

void config_print(const struct config *cfg, FILE *out)
{
	for (size_t i = 0; i < NVARS; i++) {
		const struct var *v = &vars[i];
		const void *field = (const char *)cfg + v->off;
		const char *s;

		fprintf(out, "%s=", v->name);
		switch (v->type) {
		case V_STR:
		case V_HOST:
		case V_HTTP_URL:
			s = *(char *const *)field;
			put_clean(out, s ? s : "(unset)");
			break;
		case V_SECRET:
			fputs(*(char *const *)field ? "***" : "(unset)", out);
			break;
		case V_SECRET_KEY:
			fputs(cfg->secret_key ? "***" : "(unset)", out);
			break;
		case V_INT:
			fprintf(out, "%d", *(const int *)field);
			break;
		case V_BOOL:
			fputs(*(const bool *)field ? "true" : "false", out);
			break;
		case V_ENV:
			fputs(config_env_name(cfg->environment), out);
			break;
		case V_LEVEL:
			fputs((unsigned)cfg->log_level < 5 ? level_names[cfg->log_level] : "?",
			      out);
			break;
		case V_FORMAT:
			fputs((unsigned)cfg->log_format < 2 ? format_names[cfg->log_format] : "?",
			      out);
			break;
		case V_SECURITY:
			fputs(config_smtp_security_name(cfg->smtp_security), out);
			break;
		case V_DB_URL:
			put_clean(out, cfg->db.redacted ? cfg->db.redacted : "(unset)");
			break;
		case V_REDIS_URL:
			put_clean(out, cfg->redis_url && cfg->redis.redacted ? cfg->redis.redacted
			                                                     : "(unset)");
			break;
		case V_PATHS:
			put_list(out, cfg->rsa_previous_public_keys,
			         cfg->n_rsa_previous_public_keys, false);
			break;
		case V_ORIGINS:
			put_list(out, cfg->cors_origins, cfg->n_cors_origins, cfg->cors_any);
			break;
		case V_CIDRS:
			if (cfg->n_trusted_proxies == 0)
				fputs("(unset)", out);
			for (size_t k = 0; k < cfg->n_trusted_proxies; k++) {
				const struct cidr *c = &cfg->trusted_proxies[k];
				char addr[INET6_ADDRSTRLEN];

				if (!inet_ntop(c->family, c->addr, addr, sizeof(addr)))
					strcpy(addr, "?");
				fprintf(out, "%s%s/%d", k ? "," : "", addr, c->prefix);
			}
			break;
		}
		fputc('\n', out);
	}
}

/* ---- freeing and small accessors ---- */

static void free_strv(char **v, size_t n)
{
	for (size_t i = 0; v && i < n; i++)
		free(v[i]);
	free(v);
}

/* Secrets are wiped before their memory goes back to the allocator. */
static void free_secret(char *s)
{
	if (s)
		explicit_bzero(s, strlen(s));
	free(s);
}

void config_free(struct config *cfg)
{
	if (!cfg)
		return;
	for (size_t i = 0; i < NVARS; i++) {
		const struct var *v = &vars[i];
		void *field = (char *)cfg + v->off;

		switch (v->type) {
		case V_STR:
		case V_HOST:
		case V_HTTP_URL:
			free(*(char **)field);
			break;
		case V_SECRET:
		case V_SECRET_KEY:
			free_secret(*(char **)field);
			break;
		case V_DB_URL:
			free(cfg->database_url);
			db_url_free(&cfg->db);
			break;
		case V_REDIS_URL:
			free(cfg->redis_url);
			redis_url_free(&cfg->redis);
			break;
		case V_PATHS:
			free_strv(cfg->rsa_previous_public_keys, cfg->n_rsa_previous_public_keys);
			break;
		case V_ORIGINS:
			free_strv(cfg->cors_origins, cfg->n_cors_origins);
			break;
		case V_CIDRS:
			free(cfg->trusted_proxies);
			break;
		case V_INT:
		case V_BOOL:
		case V_ENV:
		case V_LEVEL:
		case V_FORMAT:
		case V_SECURITY:
			break;
		}
	}
	memset(cfg, 0, sizeof(*cfg));
}

void config_errors_free(struct config_errors *errs)
{
	if (!errs)
		return;
	free_strv(errs->lines, errs->n);
	errs->lines = NULL;
	errs->n = 0;
}

const char *config_env_name(enum app_env env)
{
	return (unsigned)env < sizeof(env_names) / sizeof(env_names[0]) ? env_names[env] : "?";
}

bool config_is_strict(const struct config *cfg)
{
	return cfg->environment == ENV_STAGING || cfg->environment == ENV_PRODUCTION;
}

const char *config_smtp_security_name(enum smtp_security s)
{
	return s >= SMTP_SECURITY_STARTTLS && s <= SMTP_SECURITY_NONE ? security_names[s - 1] : "?";
}
