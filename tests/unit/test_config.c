/*
 * test_config.c - unit tests for configuration loading: every variable's
 * good and bad values, the error-line format, defaults and derived values,
 * the staging/production refusals, redaction in errors and in
 * config_print(), the two seed .env files (tests/fixtures/env.*), and
 * config_load() itself with ENV_FILE, ./.env and the real environment.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cmocka.h>

#include "config.h"
#include "dotenv.h"
#include "tmppath.h"

#define SECRET32 "0123456789abcdef0123456789abcdef"

/* ---- a fake environment: "NAME=value" lists, extra over base, then a file ---- */

struct fake_env {
	const char *const *extra;
	const char *const *base;
	const struct dotenv *file;
};

#define ENV(...) ((const char *const[]){__VA_ARGS__, NULL})

static const char *find_pair(const char *const *pairs, const char *name)
{
	size_t n = strlen(name);
	const char *found = NULL;

	for (; pairs && *pairs; pairs++)
		if (strncmp(*pairs, name, n) == 0 && (*pairs)[n] == '=')
			found = *pairs + n + 1; /* the last one wins */
	return found;
}

static const char *fake_lookup(const char *name, void *ctx)
{
	const struct fake_env *f = ctx;
	const char *v = find_pair(f->extra, name);

	if (!v)
		v = find_pair(f->base, name);
	if (!v && f->file)
		v = dotenv_get(f->file, name);
	return v;
}

static int load2(struct config *cfg, struct config_errors *errs, const char *const *base,
                 const char *const *extra)
{
	struct fake_env f = {.extra = extra, .base = base};

	return config_load_with(cfg, fake_lookup, &f, errs);
}

static int load(struct config *cfg, struct config_errors *errs, const char *const *pairs)
{
	return load2(cfg, errs, pairs, NULL);
}

/* Load and insist on success, showing the first error otherwise. */
static void load_ok2(struct config *cfg, const char *const *base, const char *const *extra)
{
	struct config_errors errs;
	int rc = load2(cfg, &errs, base, extra);

	if (rc != 0 || errs.n != 0)
		fail_msg("load failed (%zu errors): %s", errs.n, errs.n ? errs.lines[0] : "?");
	config_errors_free(&errs);
}

static void load_ok(struct config *cfg, const char *const *pairs)
{
	load_ok2(cfg, pairs, NULL);
}

/*
 * Load and insist on exactly one error line starting with `prefix`;
 * returns a copy of the line (caller frees).
 */
static char *one_error2(const char *const *base, const char *const *extra, const char *prefix)
{
	struct config cfg;
	struct config_errors errs;
	char *line;

	assert_int_equal(load2(&cfg, &errs, base, extra), -1);
	if (errs.n != 1)
		fail_msg("expected 1 error, got %zu (first: %s)", errs.n,
		         errs.n ? errs.lines[0] : "-");
	if (strncmp(errs.lines[0], prefix, strlen(prefix)) != 0)
		fail_msg("error line \"%s\" does not start with \"%s\"", errs.lines[0], prefix);
	/* One line per problem, always with an example. */
	assert_null(strchr(errs.lines[0], '\n'));
	assert_non_null(strstr(errs.lines[0], "(example: "));
	line = strdup(errs.lines[0]);
	config_errors_free(&errs);
	config_free(&cfg);
	return line;
}

static char *one_error(const char *const *pairs, const char *prefix)
{
	return one_error2(pairs, NULL, prefix);
}

static void expect_error(const char *const *pairs, const char *prefix)
{
	free(one_error(pairs, prefix));
}

/*
 * The example in an error line "... (example: NAME=VALUE)" must itself be
 * accepted in development.
 */
static void example_is_valid(const char *line)
{
	const char *ex = strstr(line, "(example: ");
	char pair[512];
	size_t n;
	struct config cfg;

	assert_non_null(ex);
	ex += strlen("(example: ");
	n = strlen(ex);
	assert_true(n > 2 && ex[n - 1] == ')');
	assert_true(n - 1 < sizeof(pair));
	memcpy(pair, ex, n - 1);
	pair[n - 1] = '\0';
	assert_non_null(strchr(pair, '='));
	load_ok(&cfg, ENV(pair));
	config_free(&cfg);
}

/* ---- defaults ---- */

static void test_defaults(void **state)
{
	struct config cfg;
	long ncpu = sysconf(_SC_NPROCESSORS_ONLN);

	(void)state;
	load_ok(&cfg, NULL);
	assert_string_equal(cfg.app_name, "Auth Service");
	assert_string_equal(cfg.app_version, AUTH_VERSION);
	assert_false(cfg.debug);
	assert_int_equal(cfg.environment, ENV_DEVELOPMENT);
	assert_string_equal(cfg.host, "0.0.0.0");
	assert_int_equal(cfg.port, 8000);
	assert_int_equal(cfg.workers, ncpu < 1 ? 1 : ncpu > 1024 ? 1024 : ncpu);
	assert_int_equal(cfg.log_level, LOG_INFO);
	assert_int_equal(cfg.log_format, LOG_FORMAT_TEXT);
	assert_string_equal(cfg.database_url, "sqlite:///./auth.db");
	assert_int_equal(cfg.db.kind, DB_SQLITE);
	assert_string_equal(cfg.db.sqlite_path, "./auth.db");
	assert_int_equal(cfg.database_pool_size, 10);
	assert_int_equal(cfg.database_max_overflow, 5);
	assert_int_equal(cfg.database_pool_timeout, 30);
	assert_null(cfg.redis_url);
	assert_null(cfg.redis.host);
	assert_null(cfg.secret_key);
	assert_int_equal(cfg.secret_key_len, 0);
	assert_string_equal(cfg.rsa_private_key_path, "./keys/private.pem");
	assert_null(cfg.rsa_private_key_content);
	assert_null(cfg.rsa_public_key_id);
	assert_int_equal(cfg.n_rsa_previous_public_keys, 0);
	assert_string_equal(cfg.jwt_issuer, "http://localhost:8000");
	assert_null(cfg.jwt_audience);
	assert_int_equal(cfg.access_token_expire_minutes, 15);
	assert_int_equal(cfg.refresh_token_expire_days, 7);
	assert_int_equal(cfg.session_max_lifetime_days, 30);
	assert_int_equal(cfg.refresh_token_reuse_interval_seconds, 10);
	assert_int_equal(cfg.password_bcrypt_rounds, 12);
	assert_int_equal(cfg.password_min_length, 8);
	assert_int_equal(cfg.email_verify_expire_hours, 48);
	assert_int_equal(cfg.password_reset_expire_minutes, 60);
	assert_false(cfg.require_email_verification);
	assert_false(cfg.register_silent);
	assert_string_equal(cfg.frontend_url, "http://localhost:3000");
	assert_null(cfg.smtp_host);
	assert_int_equal(cfg.smtp_port, 587);
	assert_null(cfg.smtp_user);
	assert_null(cfg.smtp_password);
	assert_string_equal(cfg.smtp_from, "noreply@localhost");
	assert_null(cfg.smtp_ca_file);
	assert_null(cfg.email_templates_dir);
	assert_int_equal(cfg.n_cors_origins, 0);
	assert_false(cfg.cors_any);
	assert_int_equal(cfg.n_trusted_proxies, 0);
	assert_int_equal(cfg.rate_limit_login_per_minute, 10);
	assert_int_equal(cfg.rate_limit_ip_per_minute, 100);
	assert_int_equal(cfg.rate_limit_account_per_hour, 100);
	assert_int_equal(cfg.http_header_timeout_seconds, 20);
	assert_int_equal(cfg.http_body_timeout_seconds, 30);
	assert_int_equal(cfg.http_max_connections, 4096);
	assert_int_equal(cfg.http_max_connections_per_ip, 256);
	assert_int_equal(cfg.shutdown_timeout_seconds, 20);
	assert_false(config_is_strict(&cfg));
	config_free(&cfg);
}

static void test_empty_value_means_unset(void **state)
{
	struct config cfg;

	(void)state;
	load_ok(&cfg, ENV("PORT=", "SMTP_HOST=", "APP_NAME=", "DEBUG=", "CORS_ORIGINS="));
	assert_int_equal(cfg.port, 8000);
	assert_null(cfg.smtp_host);
	assert_string_equal(cfg.app_name, "Auth Service");
	assert_false(cfg.debug);
	assert_int_equal(cfg.n_cors_origins, 0);
	config_free(&cfg);
}

/* ---- integers ---- */

struct int_var {
	const char *name;
	size_t off;
	int lo, hi, def;
};

#define IV(n, f, lo, hi, def)                                                                      \
	{                                                                                          \
		n, offsetof(struct config, f), lo, hi, def                                         \
	}

static const struct int_var int_vars[] = {
        IV("PORT", port, 1, 65535, 8000),
        IV("WORKERS", workers, 1, 1024, -1),
        IV("DATABASE_POOL_SIZE", database_pool_size, 1, 1000, 10),
        IV("DATABASE_MAX_OVERFLOW", database_max_overflow, 0, 1000, 5),
        IV("DATABASE_POOL_TIMEOUT", database_pool_timeout, 1, 3600, 30),
        IV("ACCESS_TOKEN_EXPIRE_MINUTES", access_token_expire_minutes, 1, 1440, 15),
        IV("REFRESH_TOKEN_EXPIRE_DAYS", refresh_token_expire_days, 1, 365, 7),
        IV("SESSION_MAX_LIFETIME_DAYS", session_max_lifetime_days, 1, 3650, 30),
        IV("REFRESH_TOKEN_REUSE_INTERVAL_SECONDS", refresh_token_reuse_interval_seconds, 0, 300,
           10),
        IV("PASSWORD_BCRYPT_ROUNDS", password_bcrypt_rounds, 4, 31, 12),
        IV("PASSWORD_MIN_LENGTH", password_min_length, 1, 128, 8),
        IV("EMAIL_VERIFY_EXPIRE_HOURS", email_verify_expire_hours, 1, 720, 48),
        IV("PASSWORD_RESET_EXPIRE_MINUTES", password_reset_expire_minutes, 1, 1440, 60),
        IV("SMTP_PORT", smtp_port, 1, 65535, 587),
        IV("RATE_LIMIT_LOGIN_PER_MINUTE", rate_limit_login_per_minute, 1, 100000, 10),
        IV("RATE_LIMIT_IP_PER_MINUTE", rate_limit_ip_per_minute, 1, 1000000, 100),
        IV("RATE_LIMIT_ACCOUNT_PER_HOUR", rate_limit_account_per_hour, 1, 1000000, 100),
        IV("RATE_LIMIT_IPV6_PREFIX", rate_limit_ipv6_prefix, 32, 128, 64),
        IV("HTTP_HEADER_TIMEOUT_SECONDS", http_header_timeout_seconds, 1, 300, 20),
        IV("HTTP_BODY_TIMEOUT_SECONDS", http_body_timeout_seconds, 1, 600, 30),
        IV("HTTP_MAX_CONNECTIONS", http_max_connections, 1, 1000000, 4096),
        IV("HTTP_MAX_CONNECTIONS_PER_IP", http_max_connections_per_ip, 0, 1000000, 256),
        IV("SHUTDOWN_TIMEOUT_SECONDS", shutdown_timeout_seconds, 1, 3600, 20),
};

static int int_field(const struct config *cfg, const struct int_var *iv)
{
	return *(const int *)((const char *)cfg + iv->off);
}

static void test_int_good_values(void **state)
{
	(void)state;
	for (size_t i = 0; i < sizeof(int_vars) / sizeof(int_vars[0]); i++) {
		const struct int_var *iv = &int_vars[i];
		int goods[] = {iv->lo, iv->hi, (iv->lo + iv->hi) / 2};
		struct config cfg;
		char pair[96];

		if (iv->def >= 0) {
			load_ok(&cfg, NULL);
			assert_int_equal(int_field(&cfg, iv), iv->def);
			config_free(&cfg);
		}
		for (size_t g = 0; g < 3; g++) {
			snprintf(pair, sizeof(pair), "%s=%d", iv->name, goods[g]);
			load_ok(&cfg, ENV(pair));
			assert_int_equal(int_field(&cfg, iv), goods[g]);
			config_free(&cfg);
		}
		/* An explicit plus sign is still a number. */
		snprintf(pair, sizeof(pair), "%s=+%d", iv->name, iv->hi);
		load_ok(&cfg, ENV(pair));
		assert_int_equal(int_field(&cfg, iv), iv->hi);
		config_free(&cfg);
	}
}

static void test_int_bad_values(void **state)
{
	(void)state;
	for (size_t i = 0; i < sizeof(int_vars) / sizeof(int_vars[0]); i++) {
		const struct int_var *iv = &int_vars[i];
		char below[24], above[24];
		const char *bads[] = {"abc", "12abc", "1.5", " 12",
		                      "12 ", "0x10",  "1e3", "99999999999999999999",
		                      "-",   "+",     "--1", "4294967297",
		                      below, above};

		snprintf(below, sizeof(below), "%d", iv->lo - 1);
		snprintf(above, sizeof(above), "%d", iv->hi + 1);
		for (size_t b = 0; b < sizeof(bads) / sizeof(bads[0]); b++) {
			char pair[96], prefix[160], *line;

			snprintf(pair, sizeof(pair), "%s=%s", iv->name, bads[b]);
			snprintf(prefix, sizeof(prefix),
			         "%s: \"%s\" is not a number between %d and %d (example: %s=",
			         iv->name, bads[b], iv->lo, iv->hi, iv->name);
			line = one_error(ENV(pair), prefix);
			example_is_valid(line);
			free(line);
		}
	}
}

static void test_port_error_line_exact(void **state)
{
	char *line;

	(void)state;
	line = one_error(ENV("PORT=abc"), "PORT:");
	assert_string_equal(
	        line, "PORT: \"abc\" is not a number between 1 and 65535 (example: PORT=8000)");
	free(line);
}

static void test_error_value_is_quoted_safely(void **state)
{
	char *line;
	char longv[300];

	(void)state;
	line = one_error(ENV("PORT=8\n0\"0\\"), "PORT:");
	assert_string_equal(line, "PORT: \"8\\x0a0\\\"0\\\\\" is not a number between 1 and 65535 "
	                          "(example: PORT=8000)");
	free(line);
	memset(longv, '9', sizeof(longv) - 1);
	longv[sizeof(longv) - 1] = '\0';
	{
		char pair[320];

		snprintf(pair, sizeof(pair), "WORKERS=%s", longv);
		line = one_error(ENV(pair), "WORKERS: \"999");
		assert_non_null(strstr(line, "...\" is not a number"));
		assert_true(strlen(line) < 200);
		free(line);
	}
}

static void test_workers_default_is_cpu_count(void **state)
{
	struct config cfg;
	long n = sysconf(_SC_NPROCESSORS_ONLN);

	(void)state;
	load_ok(&cfg, NULL);
	assert_true(cfg.workers >= 1 && cfg.workers <= 1024);
	assert_int_equal(cfg.workers, n < 1 ? 1 : n > 1024 ? 1024 : n);
	config_free(&cfg);
	load_ok(&cfg, ENV("WORKERS=3"));
	assert_int_equal(cfg.workers, 3);
	config_free(&cfg);
}

/* ---- booleans and enums ---- */

static void test_parse_bool(void **state)
{
	static const char *const yes[] = {"true", "True", "TRUE", "1", "yes", "YES", "Yes"};
	static const char *const no[] = {"false", "False", "FALSE", "0", "no", "NO", "nO"};
	static const char *const bad[] = {"",  "maybe", "2",     "on",    "off", "y",
	                                  "n", "truee", " true", "true ", "t",   "-1"};
	bool b;

	(void)state;
	for (size_t i = 0; i < sizeof(yes) / sizeof(yes[0]); i++) {
		b = false;
		assert_int_equal(config_parse_bool(yes[i], &b), 0);
		assert_true(b);
	}
	for (size_t i = 0; i < sizeof(no) / sizeof(no[0]); i++) {
		b = true;
		assert_int_equal(config_parse_bool(no[i], &b), 0);
		assert_false(b);
	}
	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++)
		assert_int_equal(config_parse_bool(bad[i], &b), -1);
	assert_int_equal(config_parse_bool(NULL, &b), -1);
}

static void test_bool_vars(void **state)
{
	struct config cfg;
	char *line;

	(void)state;
	load_ok(&cfg, ENV("DEBUG=True", "REQUIRE_EMAIL_VERIFICATION=yes", "REGISTER_SILENT=1"));
	assert_true(cfg.debug);
	assert_true(cfg.require_email_verification);
	assert_true(cfg.register_silent);
	config_free(&cfg);
	load_ok(&cfg, ENV("DEBUG=0", "REQUIRE_EMAIL_VERIFICATION=FALSE"));
	assert_false(cfg.debug);
	assert_false(cfg.require_email_verification);
	config_free(&cfg);

	line = one_error(ENV("DEBUG=maybe"), "DEBUG: \"maybe\" is not a boolean");
	assert_non_null(strstr(line, "true/false, 1/0 or yes/no"));
	example_is_valid(line);
	free(line);
	line = one_error(ENV("REQUIRE_EMAIL_VERIFICATION=on"),
	                 "REQUIRE_EMAIL_VERIFICATION: \"on\" is not a boolean");
	example_is_valid(line);
	free(line);
	line = one_error(ENV("REGISTER_SILENT=quiet"),
	                 "REGISTER_SILENT: \"quiet\" is not a boolean");
	example_is_valid(line);
	free(line);
}

static void test_environment_values(void **state)
{
	static const struct {
		const char *v;
		enum app_env e;
		bool strict;
	} ok[] = {{"development", ENV_DEVELOPMENT, false},
	          {"Development", ENV_DEVELOPMENT, false},
	          {"test", ENV_TEST, false},
	          {"TEST", ENV_TEST, false},
	          {"staging", ENV_STAGING, true},
	          {"production", ENV_PRODUCTION, true},
	          {"PRODUCTION", ENV_PRODUCTION, true}};
	char *line;

	(void)state;
	for (size_t i = 0; i < sizeof(ok) / sizeof(ok[0]); i++) {
		struct config cfg;
		char pair[64];

		snprintf(pair, sizeof(pair), "ENVIRONMENT=%s", ok[i].v);
		/* Strict environments need a key and, in production, a secret. */
		load_ok(&cfg, ENV(pair, "RSA_PRIVATE_KEY_CONTENT=eA==", "SECRET_KEY=" SECRET32));
		assert_int_equal(cfg.environment, ok[i].e);
		assert_int_equal(config_is_strict(&cfg), ok[i].strict);
		config_free(&cfg);
	}
	assert_string_equal(config_env_name(ENV_DEVELOPMENT), "development");
	assert_string_equal(config_env_name(ENV_TEST), "test");
	assert_string_equal(config_env_name(ENV_STAGING), "staging");
	assert_string_equal(config_env_name(ENV_PRODUCTION), "production");

	line = one_error(ENV("ENVIRONMENT=prod"),
	                 "ENVIRONMENT: \"prod\" is not one of development, test, staging, "
	                 "production (example: ENVIRONMENT=");
	free(line);
	expect_error(ENV("ENVIRONMENT=dev"), "ENVIRONMENT: \"dev\"");
}

static void test_log_level_and_format(void **state)
{
	static const struct {
		const char *v;
		enum log_level l;
	} lv[] = {{"DEBUG", LOG_DEBUG},
	          {"info", LOG_INFO},
	          {"Warning", LOG_WARNING},
	          {"ERROR", LOG_ERROR},
	          {"critical", LOG_CRITICAL}};
	struct config cfg;
	char *line;

	(void)state;
	for (size_t i = 0; i < sizeof(lv) / sizeof(lv[0]); i++) {
		char pair[64];

		snprintf(pair, sizeof(pair), "LOG_LEVEL=%s", lv[i].v);
		load_ok(&cfg, ENV(pair));
		assert_int_equal(cfg.log_level, lv[i].l);
		config_free(&cfg);
	}
	load_ok(&cfg, ENV("LOG_FORMAT=json"));
	assert_int_equal(cfg.log_format, LOG_FORMAT_JSON);
	config_free(&cfg);
	load_ok(&cfg, ENV("LOG_FORMAT=TEXT"));
	assert_int_equal(cfg.log_format, LOG_FORMAT_TEXT);
	config_free(&cfg);

	line = one_error(
	        ENV("LOG_LEVEL=verbose"),
	        "LOG_LEVEL: \"verbose\" is not one of DEBUG, INFO, WARNING, ERROR, CRITICAL "
	        "(example: LOG_LEVEL=");
	example_is_valid(line);
	free(line);
	line = one_error(ENV("LOG_FORMAT=xml"),
	                 "LOG_FORMAT: \"xml\" is not one of text, json (example: LOG_FORMAT=");
	example_is_valid(line);
	free(line);
}

/* ---- strings ---- */

static void test_plain_strings(void **state)
{
	struct config cfg;

	(void)state;
	load_ok(&cfg, ENV("APP_NAME=My Auth", "APP_VERSION=2.3.4", "RSA_PUBLIC_KEY_ID=key-2025",
	                  "JWT_AUDIENCE=https://api.example.com", "SMTP_USER=mailer",
	                  "SMTP_CA_FILE=/etc/ssl/ca.pem", "EMAIL_TEMPLATES_DIR=/srv/tpl",
	                  "RSA_PRIVATE_KEY_PATH=/run/secrets/key.pem",
	                  "JWT_ISSUER=https://auth.example.com"));
	assert_string_equal(cfg.app_name, "My Auth");
	assert_string_equal(cfg.app_version, "2.3.4");
	assert_string_equal(cfg.rsa_public_key_id, "key-2025");
	assert_string_equal(cfg.jwt_audience, "https://api.example.com");
	assert_string_equal(cfg.smtp_user, "mailer");
	assert_string_equal(cfg.smtp_ca_file, "/etc/ssl/ca.pem");
	assert_string_equal(cfg.email_templates_dir, "/srv/tpl");
	assert_string_equal(cfg.rsa_private_key_path, "/run/secrets/key.pem");
	assert_string_equal(cfg.jwt_issuer, "https://auth.example.com");
	config_free(&cfg);

	/* Control characters would break log lines and mail headers. */
	static const char *const names[] = {"APP_NAME",
	                                    "APP_VERSION",
	                                    "RSA_PUBLIC_KEY_ID",
	                                    "JWT_AUDIENCE",
	                                    "JWT_ISSUER",
	                                    "SMTP_USER",
	                                    "SMTP_FROM",
	                                    "SMTP_CA_FILE",
	                                    "EMAIL_TEMPLATES_DIR",
	                                    "RSA_PRIVATE_KEY_PATH"};
	for (size_t i = 0; i < sizeof(names) / sizeof(names[0]); i++) {
		char pair[96], prefix[96], *line;

		snprintf(pair, sizeof(pair), "%s=a\r\nBcc: x", names[i]);
		snprintf(prefix, sizeof(prefix), "%s: \"a\\x0d\\x0aBcc: x\" contains control",
		         names[i]);
		line = one_error(ENV(pair), prefix);
		example_is_valid(line);
		free(line);
	}
}

static void test_host(void **state)
{
	static const char *const good[] = {"0.0.0.0",
	                                   "127.0.0.1",
	                                   "::",
	                                   "::1",
	                                   "localhost",
	                                   "auth.internal",
	                                   "my_host-1.example.com"};
	static const char *const bad[] = {"a b",  "host:80", "[::1]",   "-lead",
	                                  ".dot", "ho$t",    "http://x"};
	struct config cfg;

	(void)state;
	for (size_t i = 0; i < sizeof(good) / sizeof(good[0]); i++) {
		char pair[64];

		snprintf(pair, sizeof(pair), "HOST=%s", good[i]);
		load_ok(&cfg, ENV(pair));
		assert_string_equal(cfg.host, good[i]);
		config_free(&cfg);
	}
	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		char pair[64], prefix[96], *line;

		snprintf(pair, sizeof(pair), "HOST=%s", bad[i]);
		snprintf(prefix, sizeof(prefix), "HOST: \"%s\" is not an IP address or host name",
		         bad[i]);
		line = one_error(ENV(pair), prefix);
		example_is_valid(line);
		free(line);
	}
	expect_error(ENV("SMTP_HOST=smtp example"), "SMTP_HOST: \"smtp example\" is not an IP");
}

static void test_derived_defaults(void **state)
{
	struct config cfg;

	(void)state;
	load_ok(&cfg, ENV("PORT=9001"));
	assert_string_equal(cfg.jwt_issuer, "http://localhost:9001");
	config_free(&cfg);
	load_ok(&cfg, ENV("PORT=9001", "JWT_ISSUER=https://id.example.com"));
	assert_string_equal(cfg.jwt_issuer, "https://id.example.com");
	config_free(&cfg);

	load_ok(&cfg, ENV("SMTP_USER=noreply@example.com"));
	assert_string_equal(cfg.smtp_from, "noreply@example.com");
	config_free(&cfg);
	load_ok(&cfg, ENV("SMTP_USER=apikey", "SMTP_FROM=Auth <auth@example.com>"));
	assert_string_equal(cfg.smtp_from, "Auth <auth@example.com>");
	config_free(&cfg);
	load_ok(&cfg, NULL);
	assert_string_equal(cfg.smtp_from, "noreply@localhost");
	config_free(&cfg);
}

static void test_frontend_url(void **state)
{
	static const struct {
		const char *in, *out;
	} good[] = {{"http://localhost:3000", "http://localhost:3000"},
	            {"https://app.example.com", "https://app.example.com"},
	            {"https://app.example.com/", "https://app.example.com"},
	            {"HTTPS://app.example.com//", "HTTPS://app.example.com"},
	            {"https://example.com/app/", "https://example.com/app"},
	            {"http://[::1]:8080", "http://[::1]:8080"}};
	static const char *const bad[] = {
	        "ftp://example.com", "localhost:3000", "app.example.com",     "https://",
	        "https://:80",       "https://x:0",    "https://x:99999",     "https://x?next=1",
	        "https://x/#frag",   "https://x/a b",  "javascript:alert(1)", "https://[zz]"};
	struct config cfg;

	(void)state;
	for (size_t i = 0; i < sizeof(good) / sizeof(good[0]); i++) {
		char pair[96];

		snprintf(pair, sizeof(pair), "FRONTEND_URL=%s", good[i].in);
		load_ok(&cfg, ENV(pair));
		assert_string_equal(cfg.frontend_url, good[i].out);
		config_free(&cfg);
	}
	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		char pair[96], prefix[96], *line;

		snprintf(pair, sizeof(pair), "FRONTEND_URL=%s", bad[i]);
		snprintf(prefix, sizeof(prefix), "FRONTEND_URL: \"%s\"", bad[i]);
		line = one_error(ENV(pair), prefix);
		example_is_valid(line);
		free(line);
	}
}

/* ---- URLs ---- */

static void test_database_url(void **state)
{
	struct config cfg;
	char *line;

	(void)state;
	load_ok(&cfg, ENV("DATABASE_URL=postgresql+asyncpg://user:pw@db.example.com/auth"));
	assert_int_equal(cfg.db.kind, DB_POSTGRES);
	assert_string_equal(cfg.db.pg_conninfo, "postgresql://user:pw@db.example.com/auth");
	assert_string_equal(cfg.db.redacted, "postgresql://user:***@db.example.com/auth");
	assert_string_equal(cfg.database_url, "postgresql+asyncpg://user:pw@db.example.com/auth");
	config_free(&cfg);
	load_ok(&cfg, ENV("DATABASE_URL=postgres://u@h/db?sslmode=require"));
	assert_string_equal(cfg.db.pg_conninfo, "postgresql://u@h/db?sslmode=require");
	config_free(&cfg);
	load_ok(&cfg, ENV("DATABASE_URL=sqlite:////var/lib/auth/auth.db"));
	assert_int_equal(cfg.db.kind, DB_SQLITE);
	assert_string_equal(cfg.db.sqlite_path, "/var/lib/auth/auth.db");
	config_free(&cfg);
	load_ok(&cfg, ENV("DATABASE_URL=sqlite:///data.db"));
	assert_string_equal(cfg.db.sqlite_path, "data.db");
	config_free(&cfg);

	line = one_error(ENV("DATABASE_URL=mysql://root:hunter2@h/db"),
	                 "DATABASE_URL: the URL has an unsupported scheme");
	assert_null(strstr(line, "hunter2"));
	example_is_valid(line);
	free(line);
	line = one_error(ENV("DATABASE_URL=postgresql://root:hun@ter2@h/db"), "DATABASE_URL: ");
	assert_null(strstr(line, "hun"));
	assert_null(strstr(line, "ter2"));
	free(line);
	expect_error(ENV("DATABASE_URL=sqlite:///"), "DATABASE_URL: the URL has an empty");
	expect_error(ENV("DATABASE_URL=garbage"), "DATABASE_URL: the URL is not of the form");
}

static void test_redis_url(void **state)
{
	struct config cfg;
	char *line;

	(void)state;
	load_ok(&cfg, ENV("REDIS_URL=redis://:p%40ss@cache:6380/2"));
	assert_string_equal(cfg.redis_url, "redis://:p%40ss@cache:6380/2");
	assert_string_equal(cfg.redis.host, "cache");
	assert_int_equal(cfg.redis.port, 6380);
	assert_int_equal(cfg.redis.db, 2);
	assert_string_equal(cfg.redis.password, "p@ss");
	assert_string_equal(cfg.redis.redacted, "redis://:***@cache:6380/2");
	config_free(&cfg);

	line = one_error(ENV("REDIS_URL=rediss://:topsecret@cache:6380/0"),
	                 "REDIS_URL: the URL uses rediss://");
	assert_non_null(strstr(line, "TLS"));
	assert_null(strstr(line, "topsecret"));
	example_is_valid(line);
	free(line);
	line = one_error(ENV("REDIS_URL=redis://:topsecret@cache:99999/0"), "REDIS_URL: ");
	assert_null(strstr(line, "topsecret"));
	free(line);
}

/* ---- secrets ---- */

static void test_secret_key_bytes_and_length(void **state)
{
	struct config cfg;

	(void)state;
	load_ok(&cfg, ENV("SECRET_KEY=" SECRET32 "xyz"));
	assert_int_equal(cfg.secret_key_len, 35);
	assert_memory_equal(cfg.secret_key, SECRET32 "xyz", 35);
	config_free(&cfg);
	/* Short keys are fine outside production. */
	load_ok(&cfg, ENV("SECRET_KEY=short"));
	assert_int_equal(cfg.secret_key_len, 5);
	config_free(&cfg);
}

/* ---- lists ---- */

static void test_previous_public_keys(void **state)
{
	struct config cfg;

	(void)state;
	load_ok(&cfg, ENV("RSA_PREVIOUS_PUBLIC_KEYS= ./keys/a.pem , /etc/b.pem,,"));
	assert_int_equal(cfg.n_rsa_previous_public_keys, 2);
	assert_string_equal(cfg.rsa_previous_public_keys[0], "./keys/a.pem");
	assert_string_equal(cfg.rsa_previous_public_keys[1], "/etc/b.pem");
	config_free(&cfg);
	load_ok(&cfg, ENV("RSA_PREVIOUS_PUBLIC_KEYS=one.pem"));
	assert_int_equal(cfg.n_rsa_previous_public_keys, 1);
	assert_string_equal(cfg.rsa_previous_public_keys[0], "one.pem");
	config_free(&cfg);
	expect_error(ENV("RSA_PREVIOUS_PUBLIC_KEYS=a.pem,b\x01.pem"),
	             "RSA_PREVIOUS_PUBLIC_KEYS: \"b\\x01.pem\" contains control characters");
}

static void test_cors_origins(void **state)
{
	struct config cfg;
	struct config_errors errs;

	(void)state;
	load_ok(&cfg,
	        ENV("CORS_ORIGINS=http://localhost:3000, https://App.Example.com ,"
	            "https://a.example.com:443,http://b.example.com:80,https://c.example.com:8443,"
	            "http://[::1]:3000"));
	assert_int_equal(cfg.n_cors_origins, 6);
	assert_false(cfg.cors_any);
	assert_string_equal(cfg.cors_origins[0], "http://localhost:3000");
	assert_string_equal(cfg.cors_origins[1], "https://app.example.com");
	assert_string_equal(cfg.cors_origins[2], "https://a.example.com");
	assert_string_equal(cfg.cors_origins[3], "http://b.example.com");
	assert_string_equal(cfg.cors_origins[4], "https://c.example.com:8443");
	assert_string_equal(cfg.cors_origins[5], "http://[::1]:3000");
	config_free(&cfg);

	load_ok(&cfg, ENV("CORS_ORIGINS=*"));
	assert_true(cfg.cors_any);
	assert_int_equal(cfg.n_cors_origins, 0);
	config_free(&cfg);
	load_ok(&cfg, ENV("CORS_ORIGINS=*,https://x.example.com", "ENVIRONMENT=staging",
	                  "RSA_PRIVATE_KEY_CONTENT=eA=="));
	assert_true(cfg.cors_any);
	assert_int_equal(cfg.n_cors_origins, 1);
	config_free(&cfg);

	static const char *const bad[] = {"https://a.example.com/",
	                                  "https://a.example.com/path",
	                                  "ftp://a.example.com",
	                                  "a.example.com",
	                                  "null",
	                                  "https://",
	                                  "https://a.example.com:0",
	                                  "https://a.example.com:65536",
	                                  "https://a.example.com?x",
	                                  "https://a b.com",
	                                  "**"};
	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		char pair[96], prefix[128], *line;

		snprintf(pair, sizeof(pair), "CORS_ORIGINS=https://ok.example.com,%s", bad[i]);
		snprintf(prefix, sizeof(prefix), "CORS_ORIGINS: \"%s\" is not an origin", bad[i]);
		line = one_error(ENV(pair), prefix);
		example_is_valid(line);
		free(line);
	}
	/* Every bad entry is reported, not just the first. */
	assert_int_equal(load(&cfg, &errs, ENV("CORS_ORIGINS=x,https://ok.example.com,y/")), -1);
	assert_int_equal(errs.n, 2);
	assert_non_null(strstr(errs.lines[0], "\"x\""));
	assert_non_null(strstr(errs.lines[1], "\"y/\""));
	config_errors_free(&errs);
	config_free(&cfg);
}

static void test_trusted_proxies(void **state)
{
	struct config cfg;
	static const unsigned char v4net[4] = {10, 0, 0, 0};
	static const unsigned char v4host[4] = {192, 168, 1, 7};
	static const unsigned char v6loop[16] = {[15] = 1};
	static const unsigned char v6net[16] = {0x20, 0x01, 0x0d, 0xb8};
	static const unsigned char masked[4] = {172, 16, 0, 0};

	(void)state;
	load_ok(&cfg, ENV("TRUSTED_PROXIES=10.0.0.0/8, 192.168.1.7 ,::1,2001:db8::/32,"
	                  "172.16.99.1/12,0.0.0.0/0"));
	assert_int_equal(cfg.n_trusted_proxies, 6);
	assert_int_equal(cfg.trusted_proxies[0].family, AF_INET);
	assert_int_equal(cfg.trusted_proxies[0].prefix, 8);
	assert_memory_equal(cfg.trusted_proxies[0].addr, v4net, 4);
	assert_int_equal(cfg.trusted_proxies[1].family, AF_INET);
	assert_int_equal(cfg.trusted_proxies[1].prefix, 32);
	assert_memory_equal(cfg.trusted_proxies[1].addr, v4host, 4);
	assert_int_equal(cfg.trusted_proxies[2].family, AF_INET6);
	assert_int_equal(cfg.trusted_proxies[2].prefix, 128);
	assert_memory_equal(cfg.trusted_proxies[2].addr, v6loop, 16);
	assert_int_equal(cfg.trusted_proxies[3].family, AF_INET6);
	assert_int_equal(cfg.trusted_proxies[3].prefix, 32);
	assert_memory_equal(cfg.trusted_proxies[3].addr, v6net, 16);
	/* Host bits beyond the prefix are cleared. */
	assert_int_equal(cfg.trusted_proxies[4].prefix, 12);
	assert_memory_equal(cfg.trusted_proxies[4].addr, masked, 4);
	assert_int_equal(cfg.trusted_proxies[5].prefix, 0);
	config_free(&cfg);

	static const char *const bad[] = {"10.0.0.0/33", "::1/129",    "abc",      "10.0.0.0/",
	                                  "10.0.0.0/8x", "1.2.3.4/-1", "10.0.0/8", "/8",
	                                  "10.0.0.0/ 8", "1.2.3.4.5"};
	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		char pair[96], prefix[128], *line;

		snprintf(pair, sizeof(pair), "TRUSTED_PROXIES=127.0.0.1,%s", bad[i]);
		snprintf(prefix, sizeof(prefix),
		         "TRUSTED_PROXIES: \"%s\" is not an IP address or CIDR", bad[i]);
		line = one_error(ENV(pair), prefix);
		example_is_valid(line);
		free(line);
	}
}

/* ---- collecting errors ---- */

static void test_all_problems_collected_in_table_order(void **state)
{
	struct config cfg;
	struct config_errors errs;

	(void)state;
	assert_int_equal(load(&cfg, &errs,
	                      ENV("SHUTDOWN_TIMEOUT_SECONDS=0", "PORT=abc", "LOG_LEVEL=verbose",
	                          "WORKERS=0", "DEBUG=perhaps")),
	                 -1);
	assert_int_equal(errs.n, 5);
	assert_true(strncmp(errs.lines[0], "DEBUG: ", 7) == 0);
	assert_true(strncmp(errs.lines[1], "PORT: ", 6) == 0);
	assert_true(strncmp(errs.lines[2], "WORKERS: ", 9) == 0);
	assert_true(strncmp(errs.lines[3], "LOG_LEVEL: ", 11) == 0);
	assert_true(strncmp(errs.lines[4], "SHUTDOWN_TIMEOUT_SECONDS: ", 26) == 0);
	config_errors_free(&errs);
	assert_null(errs.lines);
	assert_int_equal(errs.n, 0);
	config_free(&cfg);

	/* errs may be NULL: the result alone tells failure. */
	assert_int_equal(config_load_with(&cfg, fake_lookup,
	                                  &(struct fake_env){.base = ENV("PORT=x")}, NULL),
	                 -1);
	config_free(&cfg);
	/* A NULL look-up means "nothing set". */
	assert_int_equal(config_load_with(&cfg, NULL, NULL, NULL), 0);
	assert_int_equal(cfg.port, 8000);
	config_free(&cfg);
}

/* ---- production and staging ---- */

/* A production configuration that passes every refusal. */
static const char *const prod_env[] = {
        "ENVIRONMENT=production",
        "SECRET_KEY=" SECRET32,
        "RSA_PRIVATE_KEY_CONTENT=LS0tLS1CRUdJTiBQUklWQVRFIEtFWS0tLS0tCg==",
        "CORS_ORIGINS=https://app.example.com",
        "SMTP_HOST=smtp.example.com",
        "SMTP_PORT=587",
        "SMTP_PASSWORD=smtp-secret-value",
        NULL,
};

static void test_production_accepts_safe_config(void **state)
{
	struct config cfg;

	(void)state;
	load_ok(&cfg, prod_env);
	assert_int_equal(cfg.environment, ENV_PRODUCTION);
	assert_true(config_is_strict(&cfg));
	config_free(&cfg);
	load_ok2(&cfg, prod_env, ENV("SMTP_PORT=465", "PASSWORD_BCRYPT_ROUNDS=10"));
	config_free(&cfg);
	/* A non-TLS port matters only when SMTP is used. */
	load_ok2(&cfg, prod_env, ENV("SMTP_HOST=", "SMTP_PORT=25"));
	config_free(&cfg);
}

static void test_production_refusals(void **state)
{
	char *line;

	(void)state;
	line = one_error2(prod_env, ENV("DEBUG=True"), "DEBUG: true is refused in production");
	example_is_valid(line);
	free(line);

	line = one_error2(prod_env, ENV("SECRET_KEY="),
	                  "SECRET_KEY: missing; production requires at least 32 bytes");
	free(line);
	line = one_error2(prod_env, ENV("SECRET_KEY=this-is-a-secret-of-31-bytes-xx"),
	                  "SECRET_KEY: is 31 bytes long; production requires at least 32");
	assert_null(strstr(line, "this-is-a-secret"));
	free(line);

	line = one_error2(
	        prod_env,
	        ENV("RSA_PRIVATE_KEY_CONTENT=", "RSA_PRIVATE_KEY_PATH=/nonexistent/key.pem"),
	        "RSA_PRIVATE_KEY_PATH: no signing key");
	assert_non_null(strstr(line, "\"/nonexistent/key.pem\""));
	assert_non_null(strstr(line, "production refuses a generated development key"));
	free(line);
	/* The default path does not exist in the test's directory either. */
	expect_error(ENV("ENVIRONMENT=production", "SECRET_KEY=" SECRET32),
	             "RSA_PRIVATE_KEY_PATH: no signing key");
	/* A directory is not a key file. */
	line = one_error2(prod_env, ENV("RSA_PRIVATE_KEY_CONTENT=", "RSA_PRIVATE_KEY_PATH=/tmp"),
	                  "RSA_PRIVATE_KEY_PATH: no signing key");
	free(line);

	line = one_error2(prod_env, ENV("CORS_ORIGINS=*"),
	                  "CORS_ORIGINS: \"*\" is refused in production");
	example_is_valid(line);
	free(line);
	free(one_error2(prod_env, ENV("CORS_ORIGINS=https://a.example.com,*"),
	                "CORS_ORIGINS: \"*\" is refused in production"));

	line = one_error2(prod_env, ENV("SMTP_PORT=25"),
	                  "SMTP_PORT: 25 sends mail without TLS, refused in production");
	example_is_valid(line);
	free(line);
	free(one_error2(prod_env, ENV("SMTP_PORT=2525"), "SMTP_PORT: 2525 sends mail without TLS"));

	line = one_error2(prod_env, ENV("PASSWORD_BCRYPT_ROUNDS=9"),
	                  "PASSWORD_BCRYPT_ROUNDS: 9 is below the production minimum of 10");
	example_is_valid(line);
	free(line);
}

static void test_production_reports_every_refusal(void **state)
{
	struct config cfg;
	struct config_errors errs;
	const char *const expect[] = {"DEBUG: ",
	                              "SECRET_KEY: ",
	                              "RSA_PRIVATE_KEY_PATH: ",
	                              "PASSWORD_BCRYPT_ROUNDS: ",
	                              "SMTP_PORT: ",
	                              "CORS_ORIGINS: "};

	(void)state;
	assert_int_equal(load(&cfg, &errs,
	                      ENV("ENVIRONMENT=production", "DEBUG=yes", "SECRET_KEY=tooshort",
	                          "RSA_PRIVATE_KEY_PATH=/nonexistent.pem", "CORS_ORIGINS=*",
	                          "SMTP_HOST=mail.example.com", "SMTP_PORT=25",
	                          "PASSWORD_BCRYPT_ROUNDS=4", "SMTP_PASSWORD=hunter2hunter2")),
	                 -1);
	assert_int_equal(errs.n, 6);
	for (size_t i = 0; i < 6; i++) {
		bool found = false;

		for (size_t k = 0; k < errs.n; k++)
			found |= strncmp(errs.lines[k], expect[i], strlen(expect[i])) == 0;
		if (!found)
			fail_msg("no error line for %s", expect[i]);
		assert_null(strstr(errs.lines[i], "tooshort"));
		assert_null(strstr(errs.lines[i], "hunter2"));
	}
	config_errors_free(&errs);
	config_free(&cfg);
}

static void test_invalid_values_are_not_reported_twice(void **state)
{
	struct config cfg;
	struct config_errors errs;

	(void)state;
	/* A bad SMTP_PORT or rounds value is one problem, not also a policy one. */
	assert_int_equal(
	        load2(&cfg, &errs, prod_env, ENV("SMTP_PORT=x", "PASSWORD_BCRYPT_ROUNDS=2")), -1);
	assert_int_equal(errs.n, 2);
	assert_non_null(strstr(errs.lines[0], "is not a number"));
	assert_non_null(strstr(errs.lines[1], "is not a number"));
	config_errors_free(&errs);
	config_free(&cfg);
}

static void test_key_file_satisfies_production(void **state)
{
	char path[64];
	int fd = tmp_file(path, sizeof(path), "/tmp/test_config_key_");
	char pair[96];
	struct config cfg;

	(void)state;
	assert_true(fd >= 0);
	close(fd);
	snprintf(pair, sizeof(pair), "RSA_PRIVATE_KEY_PATH=%s", path);
	load_ok2(&cfg, prod_env, ENV("RSA_PRIVATE_KEY_CONTENT=", pair));
	assert_null(cfg.rsa_private_key_content);
	assert_string_equal(cfg.rsa_private_key_path, path);
	config_free(&cfg);
	unlink(path);
}

static void test_staging_needs_key_only(void **state)
{
	struct config cfg;
	char *line;

	(void)state;
	line = one_error(ENV("ENVIRONMENT=staging", "RSA_PRIVATE_KEY_PATH=/nonexistent.pem"),
	                 "RSA_PRIVATE_KEY_PATH: no signing key");
	assert_non_null(strstr(line, "staging refuses a generated development key"));
	free(line);
	/* The other refusals are production-only. */
	load_ok(&cfg, ENV("ENVIRONMENT=staging", "RSA_PRIVATE_KEY_CONTENT=eA==", "DEBUG=true",
	                  "CORS_ORIGINS=*", "SMTP_HOST=mail", "SMTP_PORT=25",
	                  "PASSWORD_BCRYPT_ROUNDS=4", "SECRET_KEY=short"));
	assert_true(cfg.debug);
	assert_true(cfg.cors_any);
	config_free(&cfg);
	/* development and test accept all of it, with no key at all. */
	load_ok(&cfg, ENV("ENVIRONMENT=development", "DEBUG=true", "CORS_ORIGINS=*",
	                  "SMTP_HOST=mail", "SMTP_PORT=25", "PASSWORD_BCRYPT_ROUNDS=4",
	                  "RSA_PRIVATE_KEY_PATH=/nonexistent.pem"));
	config_free(&cfg);
	load_ok(&cfg,
	        ENV("ENVIRONMENT=test", "CORS_ORIGINS=*", "RSA_PRIVATE_KEY_PATH=/nonexistent.pem"));
	config_free(&cfg);
}

/* ---- printing ---- */

static char *print_to_string(const struct config *cfg)
{
	char *buf = NULL;
	size_t len = 0;
	FILE *f = open_memstream(&buf, &len);

	assert_non_null(f);
	config_print(cfg, f);
	fclose(f);
	return buf;
}

static void test_print_full_and_redacted(void **state)
{
	struct config cfg;
	char *out;
	static const char expect[] =
	        "APP_NAME=Auth Service\n"
	        "APP_VERSION=1.0.0\n"
	        "DEBUG=false\n"
	        "ENVIRONMENT=development\n"
	        "HOST=0.0.0.0\n"
	        "PORT=8000\n"
	        "WORKERS=4\n"
	        "LOG_LEVEL=INFO\n"
	        "LOG_FORMAT=json\n"
	        "DATABASE_URL=postgresql://user:***@db:5432/auth?sslmode=require&password=***\n"
	        "DATABASE_POOL_SIZE=10\n"
	        "DATABASE_MAX_OVERFLOW=5\n"
	        "DATABASE_POOL_TIMEOUT=30\n"
	        "REDIS_URL=redis://:***@cache:6379/1\n"
	        "SECRET_KEY=***\n"
	        "RSA_PRIVATE_KEY_PATH=./keys/private.pem\n"
	        "RSA_PRIVATE_KEY_CONTENT=***\n"
	        "RSA_PUBLIC_KEY_ID=(unset)\n"
	        "RSA_PREVIOUS_PUBLIC_KEYS=old1.pem,old2.pem\n"
	        "JWT_ISSUER=http://localhost:8000\n"
	        "JWT_AUDIENCE=(unset)\n"
	        "ACCESS_TOKEN_EXPIRE_MINUTES=15\n"
	        "REFRESH_TOKEN_EXPIRE_DAYS=7\n"
	        "SESSION_MAX_LIFETIME_DAYS=30\n"
	        "REFRESH_TOKEN_REUSE_INTERVAL_SECONDS=10\n"
	        "PASSWORD_BCRYPT_ROUNDS=12\n"
	        "PASSWORD_MIN_LENGTH=8\n"
	        "EMAIL_VERIFY_EXPIRE_HOURS=48\n"
	        "PASSWORD_RESET_EXPIRE_MINUTES=60\n"
	        "REQUIRE_EMAIL_VERIFICATION=true\n"
	        "REGISTER_SILENT=false\n"
	        "FRONTEND_URL=http://localhost:3000\n"
	        "SMTP_HOST=smtp.example.com\n"
	        "SMTP_PORT=587\n"
	        "SMTP_SECURITY=starttls\n"
	        "SMTP_USER=mailer\n"
	        "SMTP_PASSWORD=***\n"
	        "SMTP_FROM=mailer\n"
	        "SMTP_CA_FILE=(unset)\n"
	        "EMAIL_TEMPLATES_DIR=(unset)\n"
	        "OUTBOX_RETRY_BASE_SECONDS=30\n"
	        "OUTBOX_POLL_SECONDS=5\n"
	        "CORS_ORIGINS=*,https://app.example.com\n"
	        "TRUSTED_PROXIES=10.0.0.0/8,::1/128\n"
	        "RATE_LIMIT_LOGIN_PER_MINUTE=10\n"
	        "RATE_LIMIT_IP_PER_MINUTE=100\n"
	        "RATE_LIMIT_ACCOUNT_PER_HOUR=100\n"
	        "RATE_LIMIT_IPV6_PREFIX=64\n"
	        "HTTP_HEADER_TIMEOUT_SECONDS=20\n"
	        "HTTP_BODY_TIMEOUT_SECONDS=30\n"
	        "HTTP_MAX_CONNECTIONS=4096\n"
	        "HTTP_MAX_CONNECTIONS_PER_IP=256\n"
	        "SHUTDOWN_TIMEOUT_SECONDS=20\n";

	(void)state;
	load_ok(&cfg,
	        ENV("APP_VERSION=1.0.0", "WORKERS=4", "LOG_FORMAT=json",
	            "DATABASE_URL=postgresql://user:dbpass1@db:5432/"
	            "auth?sslmode=require&password=qpass2",
	            "REDIS_URL=redis://:redispass3@cache:6379/1", "SECRET_KEY=" SECRET32,
	            "RSA_PRIVATE_KEY_CONTENT=cGVtLWNvbnRlbnQ=",
	            "RSA_PREVIOUS_PUBLIC_KEYS=old1.pem,old2.pem", "REQUIRE_EMAIL_VERIFICATION=1",
	            "SMTP_HOST=smtp.example.com", "SMTP_USER=mailer", "SMTP_PASSWORD=smtppass4",
	            "CORS_ORIGINS=*,https://app.example.com", "TRUSTED_PROXIES=10.0.0.0/8,::1"));
	out = print_to_string(&cfg);
	assert_string_equal(out, expect);
	assert_null(strstr(out, "dbpass1"));
	assert_null(strstr(out, "qpass2"));
	assert_null(strstr(out, "redispass3"));
	assert_null(strstr(out, "smtppass4"));
	assert_null(strstr(out, "0123456789abcdef"));
	assert_null(strstr(out, "cGVt"));
	free(out);
	config_free(&cfg);
}

static void test_print_defaults_unset(void **state)
{
	struct config cfg;
	char *out;

	(void)state;
	load_ok(&cfg, NULL);
	out = print_to_string(&cfg);
	assert_non_null(strstr(out, "\nDATABASE_URL=sqlite:///./auth.db\n"));
	assert_non_null(strstr(out, "\nREDIS_URL=(unset)\n"));
	assert_non_null(strstr(out, "\nSECRET_KEY=(unset)\n"));
	assert_non_null(strstr(out, "\nSMTP_PASSWORD=(unset)\n"));
	assert_non_null(strstr(out, "\nRSA_PRIVATE_KEY_CONTENT=(unset)\n"));
	assert_non_null(strstr(out, "\nCORS_ORIGINS=(unset)\n"));
	assert_non_null(strstr(out, "\nTRUSTED_PROXIES=(unset)\n"));
	assert_non_null(strstr(out, "\nSMTP_FROM=noreply@localhost\n"));
	assert_true(strncmp(out, "APP_NAME=Auth Service\nAPP_VERSION=" AUTH_VERSION "\n", 35) == 0);
	free(out);
	config_free(&cfg);

	/* A zeroed struct prints without crashing. */
	memset(&cfg, 0, sizeof(cfg));
	out = print_to_string(&cfg);
	assert_non_null(strstr(out, "APP_NAME=(unset)\n"));
	free(out);
}

/* ---- freeing ---- */

static void test_free_is_safe(void **state)
{
	struct config cfg;
	struct config_errors errs = {0};

	(void)state;
	memset(&cfg, 0, sizeof(cfg));
	config_free(&cfg);
	config_free(&cfg);
	config_free(NULL);
	config_errors_free(&errs);
	config_errors_free(NULL);

	/* A failed load leaves a partially filled struct that frees cleanly. */
	assert_int_equal(load(&cfg, &errs,
	                      ENV("DATABASE_URL=mysql://x", "REDIS_URL=rediss://h",
	                          "CORS_ORIGINS=https://a.example.com,bad", "PORT=0")),
	                 -1);
	assert_int_equal(errs.n, 4);
	config_errors_free(&errs);
	config_free(&cfg);
	assert_null(cfg.database_url);
	assert_null(cfg.cors_origins);
	config_free(&cfg);
}

/* ---- the seed files ---- */

/*
 * tests/fixtures/NAME.  __FILE__ is relative to the build directory, which
 * is meson's working directory for tests; when run by hand from elsewhere,
 * the build directory is found from the executable (BUILD/tests/unit/x).
 */
static char *fixture_path(const char *name)
{
	char dir[1024], exe[1024], *slash, *path;
	size_t n;
	ssize_t len;

	snprintf(dir, sizeof(dir), "%s", __FILE__);
	slash = strrchr(dir, '/');
	if (slash)
		*slash = '\0';
	else
		snprintf(dir, sizeof(dir), ".");
	n = strlen(dir) + strlen(name) + sizeof(exe) + 32;
	path = malloc(n);
	snprintf(path, n, "%s/../fixtures/%s", dir, name);
	if (access(path, R_OK) == 0 || dir[0] == '/')
		return path;
	len = readlink("/proc/self/exe", exe, sizeof(exe) - 1);
	if (len > 0) {
		exe[len] = '\0';
		for (int up = 0; up < 3 && (slash = strrchr(exe, '/')); up++)
			*slash = '\0';
		snprintf(path, n, "%s/%s/../fixtures/%s", exe, dir, name);
	}
	if (access(path, R_OK) != 0)
		fail_msg("fixture %s not found", path);
	return path;
}

static void load_fixture(const char *name, struct dotenv *file)
{
	char *path = fixture_path(name);
	size_t bad = 0;

	if (dotenv_load_file(path, file, &bad) != 0)
		fail_msg("%s does not parse (line %zu)", path, bad);
	free(path);
}

static void test_seed_development_env(void **state)
{
	struct dotenv file;
	struct config cfg;
	struct config_errors errs;
	struct fake_env f = {0};

	(void)state;
	load_fixture("env.development", &file);
	assert_int_equal(file.n, 18);
	f.file = &file;
	assert_int_equal(config_load_with(&cfg, fake_lookup, &f, &errs), 0);
	assert_int_equal(errs.n, 0);
	assert_true(cfg.debug);
	assert_int_equal(cfg.environment, ENV_DEVELOPMENT);
	assert_string_equal(cfg.app_version, "1.0.0");
	assert_int_equal(cfg.port, 8000);
	assert_int_equal(cfg.db.kind, DB_POSTGRES);
	assert_string_equal(cfg.db.pg_conninfo,
	                    "postgresql://user:password@localhost:5432/auth_db");
	assert_string_equal(cfg.db.redacted, "postgresql://user:***@localhost:5432/auth_db");
	assert_int_equal(cfg.database_pool_size, 10);
	assert_int_equal(cfg.database_max_overflow, 5);
	assert_string_equal(cfg.rsa_private_key_path, "./keys/private.pem");
	assert_int_equal(cfg.access_token_expire_minutes, 15);
	assert_int_equal(cfg.refresh_token_expire_days, 7);
	assert_int_equal(cfg.password_bcrypt_rounds, 12);
	assert_string_equal(cfg.smtp_host, "smtp.gmail.com");
	assert_int_equal(cfg.smtp_port, 587);
	assert_string_equal(cfg.smtp_user, "noreply@example.com");
	assert_string_equal(cfg.smtp_password, "your-app-password");
	assert_string_equal(cfg.smtp_from, "noreply@example.com");
	assert_int_equal(cfg.n_cors_origins, 2);
	assert_string_equal(cfg.cors_origins[0], "http://localhost:3000");
	assert_string_equal(cfg.cors_origins[1], "http://localhost:3001");
	assert_string_equal(cfg.jwt_issuer, "http://localhost:8000");
	config_free(&cfg);
	dotenv_free(&file);
}

static void test_seed_production_env(void **state)
{
	struct dotenv file;
	struct config cfg;
	struct config_errors errs;
	struct fake_env f = {0};

	(void)state;
	load_fixture("env.production", &file);
	assert_int_equal(file.n, 17);
	f.file = &file;

	/* As written, without the operator's SECRET_KEY, production refuses it. */
	assert_int_equal(config_load_with(&cfg, fake_lookup, &f, &errs), -1);
	assert_int_equal(errs.n, 1);
	assert_true(strncmp(errs.lines[0], "SECRET_KEY: missing", 19) == 0);
	assert_null(strstr(errs.lines[0], "sendgrid-api-key"));
	config_errors_free(&errs);
	config_free(&cfg);

	/* With the placeholders filled in, it loads. */
	f.extra = ENV("SECRET_KEY=" SECRET32,
	              "RSA_PRIVATE_KEY_CONTENT=LS0tLS1CRUdJTiBQUklWQVRFIEtFWS0tLS0tCg==");
	assert_int_equal(config_load_with(&cfg, fake_lookup, &f, &errs), 0);
	assert_int_equal(errs.n, 0);
	assert_int_equal(cfg.environment, ENV_PRODUCTION);
	assert_false(cfg.debug);
	assert_int_equal(cfg.port, 3000);
	assert_string_equal(cfg.jwt_issuer, "http://localhost:3000");
	assert_int_equal(cfg.db.kind, DB_POSTGRES);
	assert_string_equal(cfg.db.pg_conninfo, "postgresql://user:password@db.example.com/auth");
	assert_string_equal(cfg.db.redacted, "postgresql://user:***@db.example.com/auth");
	assert_int_equal(cfg.database_pool_size, 20);
	assert_int_equal(cfg.database_max_overflow, 10);
	assert_string_equal(cfg.rsa_public_key_id, "production");
	assert_string_equal(cfg.smtp_host, "smtp.sendgrid.net");
	assert_string_equal(cfg.smtp_from, "apikey");
	assert_int_equal(cfg.secret_key_len, 32);
	assert_int_equal(cfg.n_cors_origins, 2);
	assert_string_equal(cfg.cors_origins[0], "https://app.example.com");
	assert_string_equal(cfg.cors_origins[1], "https://www.example.com");
	config_free(&cfg);

	/* The placeholder key content is enough for config (keys checks it later). */
	f.extra = ENV("SECRET_KEY=" SECRET32);
	assert_int_equal(config_load_with(&cfg, fake_lookup, &f, &errs), 0);
	assert_string_equal(cfg.rsa_private_key_content, "base64-encoded-private-key");
	config_free(&cfg);
	dotenv_free(&file);
}

/* ---- config_load(): the real environment, ENV_FILE and ./.env ---- */

static const char *const all_names[] = {"APP_NAME",
                                        "APP_VERSION",
                                        "DEBUG",
                                        "ENVIRONMENT",
                                        "HOST",
                                        "PORT",
                                        "WORKERS",
                                        "LOG_LEVEL",
                                        "LOG_FORMAT",
                                        "DATABASE_URL",
                                        "DATABASE_POOL_SIZE",
                                        "DATABASE_MAX_OVERFLOW",
                                        "DATABASE_POOL_TIMEOUT",
                                        "REDIS_URL",
                                        "SECRET_KEY",
                                        "RSA_PRIVATE_KEY_PATH",
                                        "RSA_PRIVATE_KEY_CONTENT",
                                        "RSA_PUBLIC_KEY_ID",
                                        "RSA_PREVIOUS_PUBLIC_KEYS",
                                        "JWT_ISSUER",
                                        "JWT_AUDIENCE",
                                        "ACCESS_TOKEN_EXPIRE_MINUTES",
                                        "REFRESH_TOKEN_EXPIRE_DAYS",
                                        "SESSION_MAX_LIFETIME_DAYS",
                                        "REFRESH_TOKEN_REUSE_INTERVAL_SECONDS",
                                        "PASSWORD_BCRYPT_ROUNDS",
                                        "PASSWORD_MIN_LENGTH",
                                        "EMAIL_VERIFY_EXPIRE_HOURS",
                                        "PASSWORD_RESET_EXPIRE_MINUTES",
                                        "REQUIRE_EMAIL_VERIFICATION",
                                        "REGISTER_SILENT",
                                        "FRONTEND_URL",
                                        "SMTP_HOST",
                                        "SMTP_PORT",
                                        "SMTP_SECURITY",
                                        "SMTP_USER",
                                        "SMTP_PASSWORD",
                                        "SMTP_FROM",
                                        "SMTP_CA_FILE",
                                        "EMAIL_TEMPLATES_DIR",
                                        "OUTBOX_RETRY_BASE_SECONDS",
                                        "OUTBOX_POLL_SECONDS",
                                        "CORS_ORIGINS",
                                        "TRUSTED_PROXIES",
                                        "RATE_LIMIT_LOGIN_PER_MINUTE",
                                        "RATE_LIMIT_IP_PER_MINUTE",
                                        "RATE_LIMIT_ACCOUNT_PER_HOUR",
                                        "RATE_LIMIT_IPV6_PREFIX",
                                        "HTTP_HEADER_TIMEOUT_SECONDS",
                                        "HTTP_BODY_TIMEOUT_SECONDS",
                                        "HTTP_MAX_CONNECTIONS",
                                        "HTTP_MAX_CONNECTIONS_PER_IP",
                                        "SHUTDOWN_TIMEOUT_SECONDS",
                                        "ENV_FILE"};

static void clear_environment(void)
{
	for (size_t i = 0; i < sizeof(all_names) / sizeof(all_names[0]); i++)
		unsetenv(all_names[i]);
}

static void test_print_lists_every_variable_in_order(void **state)
{
	struct config cfg;
	char *out, *p;
	size_t i = 0;

	(void)state;
	load_ok(&cfg, NULL);
	out = print_to_string(&cfg);
	/* all_names is the SPEC table order (plus ENV_FILE, which is not printed). */
	for (p = out; *p; i++) {
		size_t n = strlen(all_names[i]);
		char *nl = strchr(p, '\n');

		assert_true(i < sizeof(all_names) / sizeof(all_names[0]) - 1);
		assert_non_null(nl);
		if (strncmp(p, all_names[i], n) != 0 || p[n] != '=')
			fail_msg("line %zu is \"%.*s\", expected %s=", i, (int)(nl - p), p,
			         all_names[i]);
		p = nl + 1;
	}
	assert_int_equal(i, sizeof(all_names) / sizeof(all_names[0]) - 1);
	free(out);
	config_free(&cfg);
}

static char *write_temp(const char *dir, const char *content)
{
	char *path = malloc(strlen(dir) + 32);
	FILE *f;

	sprintf(path, "%s/env.test", dir);
	f = fopen(path, "w");
	assert_non_null(f);
	fputs(content, f);
	fclose(f);
	return path;
}

static void test_config_load_env_file_and_environment(void **state)
{
	char dir[64];
	struct config cfg;
	struct config_errors errs;
	char *path;

	(void)state;
	assert_non_null(tmp_dir(dir, sizeof(dir), "/tmp/test_config_"));
	clear_environment();
	path = write_temp(dir, "APP_NAME=From File\nPORT=7000\nexport LOG_LEVEL=debug\n"
	                       "SMTP_USER='file user'\nDEBUG=yes\n");
	setenv("ENV_FILE", path, 1);
	setenv("PORT", "9002", 1); /* the environment wins over the file */
	setenv("DEBUG", "", 1);    /* set but empty: still wins, and means the default */

	assert_int_equal(config_load(&cfg, &errs), 0);
	assert_int_equal(errs.n, 0);
	assert_string_equal(cfg.app_name, "From File");
	assert_int_equal(cfg.port, 9002);
	assert_int_equal(cfg.log_level, LOG_DEBUG);
	assert_string_equal(cfg.smtp_user, "file user");
	assert_false(cfg.debug);
	assert_string_equal(cfg.jwt_issuer, "http://localhost:9002");
	config_free(&cfg);

	/* A bad value in the environment is reported like any other. */
	setenv("PORT", "70000", 1);
	assert_int_equal(config_load(&cfg, &errs), -1);
	assert_int_equal(errs.n, 1);
	assert_string_equal(
	        errs.lines[0],
	        "PORT: \"70000\" is not a number between 1 and 65535 (example: PORT=8000)");
	config_errors_free(&errs);
	config_free(&cfg);
	unsetenv("PORT");

	/* A bad line in the file names the file and the line. */
	unlink(path);
	free(path);
	path = write_temp(dir, "A=1\nthis is not an assignment\n");
	assert_int_equal(config_load(&cfg, &errs), -1);
	assert_int_equal(errs.n, 1);
	assert_true(strncmp(errs.lines[0], "ENV_FILE: \"", 11) == 0);
	assert_non_null(strstr(errs.lines[0], "line 2 is not a KEY=value"));
	config_errors_free(&errs);
	config_free(&cfg);

	/* ENV_FILE naming a missing file is an error. */
	unlink(path);
	assert_int_equal(config_load(&cfg, &errs), -1);
	assert_int_equal(errs.n, 1);
	assert_true(strncmp(errs.lines[0], "ENV_FILE: \"", 11) == 0);
	assert_non_null(strstr(errs.lines[0], "does not exist"));
	config_errors_free(&errs);
	config_free(&cfg);
	/* errs may be NULL here too. */
	assert_int_equal(config_load(&cfg, NULL), -1);
	config_free(&cfg);

	free(path);
	rmdir(dir);
	clear_environment();
}

static void test_config_load_dot_env_in_cwd(void **state)
{
	char dir[64];
	char old[4096];
	struct config cfg;
	struct config_errors errs;
	FILE *f;

	(void)state;
	assert_non_null(getcwd(old, sizeof(old)));
	assert_non_null(tmp_dir(dir, sizeof(dir), "/tmp/test_config_"));
	assert_int_equal(chdir(dir), 0);
	clear_environment();

	/* No ./.env at all is fine: defaults. */
	assert_int_equal(config_load(&cfg, &errs), 0);
	assert_int_equal(errs.n, 0);
	assert_int_equal(cfg.port, 8000);
	config_free(&cfg);

	f = fopen(".env", "w");
	assert_non_null(f);
	fputs("# local settings\nPORT=8123\nENVIRONMENT=production\n", f);
	fclose(f);
	assert_int_equal(config_load(&cfg, &errs), -1);
	/* Production without SECRET_KEY and key: both refusals, from ./.env values. */
	assert_int_equal(cfg.port, 8123);
	assert_int_equal(cfg.environment, ENV_PRODUCTION);
	assert_int_equal(errs.n, 2);
	config_errors_free(&errs);
	config_free(&cfg);

	setenv("ENVIRONMENT", "development", 1);
	assert_int_equal(config_load(&cfg, &errs), 0);
	assert_int_equal(cfg.port, 8123);
	assert_int_equal(cfg.environment, ENV_DEVELOPMENT);
	config_free(&cfg);

	f = fopen(".env", "w");
	assert_non_null(f);
	fputs("PORT=1\nBROKEN LINE\n", f);
	fclose(f);
	assert_int_equal(config_load(&cfg, &errs), -1);
	assert_int_equal(errs.n, 1);
	assert_string_equal(errs.lines[0],
	                    "ENV_FILE: \".env\" line 2 is not a KEY=value assignment "
	                    "(example: PORT=8000)");
	config_errors_free(&errs);
	config_free(&cfg);

	unlink(".env");
	assert_int_equal(chdir(old), 0);
	rmdir(dir);
	clear_environment();
}

int main(void)
{
	const struct CMUnitTest tests[] = {
	        cmocka_unit_test(test_defaults),
	        cmocka_unit_test(test_empty_value_means_unset),
	        cmocka_unit_test(test_int_good_values),
	        cmocka_unit_test(test_int_bad_values),
	        cmocka_unit_test(test_port_error_line_exact),
	        cmocka_unit_test(test_error_value_is_quoted_safely),
	        cmocka_unit_test(test_workers_default_is_cpu_count),
	        cmocka_unit_test(test_parse_bool),
	        cmocka_unit_test(test_bool_vars),
	        cmocka_unit_test(test_environment_values),
	        cmocka_unit_test(test_log_level_and_format),
	        cmocka_unit_test(test_plain_strings),
	        cmocka_unit_test(test_host),
	        cmocka_unit_test(test_derived_defaults),
	        cmocka_unit_test(test_frontend_url),
	        cmocka_unit_test(test_database_url),
	        cmocka_unit_test(test_redis_url),
	        cmocka_unit_test(test_secret_key_bytes_and_length),
	        cmocka_unit_test(test_previous_public_keys),
	        cmocka_unit_test(test_cors_origins),
	        cmocka_unit_test(test_trusted_proxies),
	        cmocka_unit_test(test_all_problems_collected_in_table_order),
	        cmocka_unit_test(test_production_accepts_safe_config),
	        cmocka_unit_test(test_production_refusals),
	        cmocka_unit_test(test_production_reports_every_refusal),
	        cmocka_unit_test(test_invalid_values_are_not_reported_twice),
	        cmocka_unit_test(test_key_file_satisfies_production),
	        cmocka_unit_test(test_staging_needs_key_only),
	        cmocka_unit_test(test_print_full_and_redacted),
	        cmocka_unit_test(test_print_defaults_unset),
	        cmocka_unit_test(test_print_lists_every_variable_in_order),
	        cmocka_unit_test(test_free_is_safe),
	        cmocka_unit_test(test_seed_development_env),
	        cmocka_unit_test(test_seed_production_env),
	        cmocka_unit_test(test_config_load_env_file_and_environment),
	        cmocka_unit_test(test_config_load_dot_env_in_cwd),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
