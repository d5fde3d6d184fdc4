/*
 * config.h - the service's configuration: one immutable struct.
 *
 * Values come from the process environment first, then from a .env file
 * (./.env or the file named by ENV_FILE) for variables the environment does
 * not set.  Everything is parsed and validated once, at start-up; a bad value
 * produces one line naming the variable, the problem and a good example.
 * After config_load() succeeds the struct is never written again, so every
 * thread may read it without locking.
 */
#ifndef AUTH_CONFIG_H
#define AUTH_CONFIG_H

#include <stdbool.h>
#include <stddef.h>
#include <stdio.h>

#include "url.h"

enum app_env { ENV_DEVELOPMENT, ENV_TEST, ENV_STAGING, ENV_PRODUCTION };
enum log_level { LOG_DEBUG, LOG_INFO, LOG_WARNING, LOG_ERROR, LOG_CRITICAL };
enum log_format { LOG_FORMAT_TEXT, LOG_FORMAT_JSON };
/* SMTP_SECURITY; unset (SMTP_SECURITY_AUTO) is derived from SMTP_PORT at load. */
enum smtp_security {
	SMTP_SECURITY_AUTO = 0,
	SMTP_SECURITY_STARTTLS, /* smtp:// + STARTTLS required (587) */
	SMTP_SECURITY_TLS,      /* smtps://, implicit TLS (465) */
	SMTP_SECURITY_NONE,     /* plain text (other ports; refused in production) */
};

/* One entry of TRUSTED_PROXIES, e.g. 10.0.0.0/8 or ::1/128. */
struct cidr {
	int family; /* AF_INET or AF_INET6 */
	unsigned char addr[16];
	int prefix;
};

struct config {
	char *app_name;
	char *app_version;
	bool debug;
	enum app_env environment;

	char *host;
	int port;
	int workers;

	enum log_level log_level;
	enum log_format log_format;

	char *database_url;     /* raw value, holds a password: never print */
	struct db_url db;       /* parsed DATABASE_URL */
	int database_pool_size; /* persistent connections */
	int database_max_overflow;
	int database_pool_timeout; /* seconds */

	char *redis_url;        /* NULL: in-process store */
	struct redis_url redis; /* valid when redis_url != NULL */

	char *secret_key; /* NULL: derived from the signing key (not production) */
	size_t secret_key_len;

	char *rsa_private_key_path;
	char *rsa_private_key_content;   /* base64 of a PEM; wins over the path */
	char *rsa_public_key_id;         /* NULL: RFC 7638 thumbprint */
	char **rsa_previous_public_keys; /* paths */
	size_t n_rsa_previous_public_keys;

	char *jwt_issuer;   /* default http://localhost:PORT */
	char *jwt_audience; /* NULL: no aud claim */
	int access_token_expire_minutes;
	int refresh_token_expire_days;
	int session_max_lifetime_days;
	int refresh_token_reuse_interval_seconds;

	int password_bcrypt_rounds;
	int password_min_length;
	int email_verify_expire_hours;
	int password_reset_expire_minutes;
	bool require_email_verification;
	bool register_silent; /* register answers 202 alike for new and existing emails */

	char *frontend_url;
	char *smtp_host; /* NULL: emails go to the log */
	int smtp_port;
	enum smtp_security smtp_security; /* never AUTO after config_load */
	char *smtp_user;
	char *smtp_password;
	char *smtp_from;
	char *smtp_ca_file;
	char *email_templates_dir;
	int outbox_retry_base_seconds; /* first retry delay, doubled per attempt */
	int outbox_poll_seconds;       /* sender's idle poll interval */

	char **cors_origins; /* exact origins */
	size_t n_cors_origins;
	bool cors_any; /* "*" was given (never in production) */

	struct cidr *trusted_proxies;
	size_t n_trusted_proxies;

	int rate_limit_login_per_minute;
	int rate_limit_ip_per_minute;
	int rate_limit_account_per_hour; /* failed logins per account, all addresses */
	int rate_limit_ipv6_prefix;      /* IPv6 clients share a bucket per this network */
	int http_header_timeout_seconds; /* request line + headers must arrive within this */
	int http_body_timeout_seconds;   /* a body must arrive within this */
	int http_max_connections;        /* open connections, in total */
	int http_max_connections_per_ip; /* per peer address; 0 or TRUSTED_PROXIES set: none */
	int shutdown_timeout_seconds;
};

/* Problems found while loading: one human-readable line each. */
struct config_errors {
	char **lines;
	size_t n;
};

/*
 * Look-up function for a variable: returns its value or NULL.  The default
 * one (config_load) reads the environment, then the .env file.
 */
typedef const char *(*config_lookup_fn)(const char *name, void *ctx);

/*
 * Load and validate from the process environment and .env / ENV_FILE.
 * Returns 0 on success; -1 with errs filled (caller frees with
 * config_errors_free) otherwise.  cfg must be freed with config_free either
 * way.
 */
int config_load(struct config *cfg, struct config_errors *errs);

/* Same, with an explicit look-up (used by tests and fuzzers). */
int config_load_with(struct config *cfg, config_lookup_fn lookup, void *ctx,
                     struct config_errors *errs);

/* Print the effective configuration, secrets redacted, one NAME=value per line. */
void config_print(const struct config *cfg, FILE *out);

void config_free(struct config *cfg);
void config_errors_free(struct config_errors *errs);

const char *config_env_name(enum app_env env);
bool config_is_strict(const struct config *cfg);             /* staging or production */
const char *config_smtp_security_name(enum smtp_security s); /* "starttls", "tls", "none" */

/* Parse a boolean the way SPEC section 2 says: true/false/1/0/yes/no, any case. */
int config_parse_bool(const char *s, bool *out);

#endif
