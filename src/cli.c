/*
 * cli.c - the administrative subcommands: migrate, check-config,
 * healthcheck, and the usage text.  `serve` lives in serve.c.
 */
#include "cli.h"

#include <curl/curl.h>
#include <errno.h>
#include <limits.h>
#include <stdlib.h>
#include <string.h>

#include "api/api.h"
#include "auth/keys.h"
#include "auth/password.h"
#include "auth/tokens.h"
#include "config.h"
#include "log.h"
#include "store/store.h"

#include <termios.h>
#include <time.h>
#include <unistd.h>

void cli_usage(FILE *out)
{
	fputs("usage: auth-service [COMMAND] [ARGS]\n"
	      "\n"
	      "commands:\n"
	      "  serve                         run the HTTP server (default)\n"
	      "  migrate up                    apply pending schema migrations\n"
	      "  migrate down N                roll back the N most recent migrations\n"
	      "  migrate status                list migrations and whether they are applied\n"
	      "  check-config                  validate the configuration and print it\n"
	      "  healthcheck [--url URL]       exit 0 when /api/v1/health answers 200\n"
	      "  keys generate [--out PATH] [--bits 2048|3072|4096]\n"
	      "                                write a new RSA private key (PEM, mode 0600)\n"
	      "  users create --email E [--admin]\n"
	      "                                create an account; password from stdin or a prompt\n"
	      "\n"
	      "options:\n"
	      "  -h, --help                    show this help\n"
	      "  -V, --version                 show the version\n"
	      "\n"
	      "Configuration comes from the environment and ./.env (or ENV_FILE);\n"
	      "see docs/configuration.md.\n",
	      out);
}

static int parse_count(const char *s, int *out)
{
	char *end;
	long v;

	errno = 0;
	v = strtol(s, &end, 10);
	if (errno || *s == '\0' || *end != '\0' || v < 1 || v > 10000)
		return -1;
	*out = (int)v;
	return 0;
}

int cmd_migrate(const struct config *cfg, int argc, char **argv)
{
	const char *action = argc > 0 ? argv[0] : "up";
	struct store *st;
	struct store_conn *c;
	char err[512];
	int n = 0, rc = 1, applied = 0;

	if (strcmp(action, "up") == 0 && argc <= 1) {
	} else if (strcmp(action, "status") == 0 && argc == 1) {
	} else if (strcmp(action, "down") == 0 && argc == 2 && parse_count(argv[1], &n) == 0) {
	} else {
		fputs("usage: auth-service migrate [up | down N | status]\n", stderr);
		return 2;
	}
	st = store_open(cfg, err, sizeof(err));
	if (!st) {
		fprintf(stderr, "migrate: %s\n", err);
		return 1;
	}
	c = store_acquire(st);
	if (!c) {
		fprintf(stderr, "migrate: database unavailable\n");
		goto out;
	}
	if (strcmp(action, "up") == 0) {
		if (store_migrate_up(c, &applied, stdout) == STORE_OK) {
			printf("%d migration(s) applied\n", applied);
			rc = 0;
		}
	} else if (strcmp(action, "down") == 0) {
		rc = store_migrate_down(c, n, stdout) == STORE_OK ? 0 : 1;
	} else {
		rc = store_migrate_status(c, stdout) == STORE_OK ? 0 : 1;
	}
	store_release(st, c);
	if (rc != 0)
		fprintf(stderr, "migrate %s failed (details above)\n", action);
out:
	store_close(st);
	return rc;
}

int cmd_check_config(const struct config *cfg)
{
	config_print(cfg, stdout);
	puts("configuration OK");
	return 0;
}

static size_t discard(void *p, size_t size, size_t n, void *ud)
{
	(void)p;
	(void)ud;
	return size * n;
}

int cmd_healthcheck(const struct config *cfg, int argc, char **argv)
{
	char url[512];
	CURL *curl;
	CURLcode cc;
	long status = 0;

	if (argc == 2 && strcmp(argv[0], "--url") == 0) {
		snprintf(url, sizeof(url), "%s", argv[1]);
	} else if (argc == 0) {
		/* The server may listen on 0.0.0.0 or ::; probe it through loopback. */
		const char *h = cfg->host;
		if (strcmp(h, "0.0.0.0") == 0 || strcmp(h, "::") == 0 || strcmp(h, "") == 0)
			h = "127.0.0.1";
		snprintf(url, sizeof(url), "http://%s%s%s:%d/api/v1/health",
		         strchr(h, ':') ? "[" : "", h, strchr(h, ':') ? "]" : "", cfg->port);
	} else {
		fputs("usage: auth-service healthcheck [--url URL]\n", stderr);
		return 2;
	}
	if (curl_global_init(CURL_GLOBAL_DEFAULT) != CURLE_OK)
		return 1;
	curl = curl_easy_init();
	if (!curl) {
		curl_global_cleanup();
		return 1;
	}
	curl_easy_setopt(curl, CURLOPT_URL, url);
	curl_easy_setopt(curl, CURLOPT_PROTOCOLS_STR, "http,https");
	curl_easy_setopt(curl, CURLOPT_TIMEOUT, 5L);
	curl_easy_setopt(curl, CURLOPT_NOSIGNAL, 1L);
	curl_easy_setopt(curl, CURLOPT_WRITEFUNCTION, discard);
	cc = curl_easy_perform(curl);
	if (cc == CURLE_OK)
		curl_easy_getinfo(curl, CURLINFO_RESPONSE_CODE, &status);
	curl_easy_cleanup(curl);
	curl_global_cleanup();
	if (status == 200) {
		printf("healthy: %s\n", url);
		return 0;
	}
	if (cc != CURLE_OK)
		fprintf(stderr, "unhealthy: %s: %s\n", url, curl_easy_strerror(cc));
	else
		fprintf(stderr, "unhealthy: %s answered %ld\n", url, status);
	return 1;
}

int cmd_keys(int argc, char **argv)
{
	const char *out = "./keys/private.pem";
	int bits = 2048, i;
	char err[512];

	if (argc < 1 || strcmp(argv[0], "generate") != 0)
		goto usage;
	for (i = 1; i < argc; i++) {
		if (strcmp(argv[i], "--out") == 0 && i + 1 < argc) {
			out = argv[++i];
		} else if (strcmp(argv[i], "--bits") == 0 && i + 1 < argc) {
			i++;
			if (strcmp(argv[i], "2048") && strcmp(argv[i], "3072") &&
			    strcmp(argv[i], "4096"))
				goto usage;
			bits = atoi(argv[i]);
		} else {
			goto usage;
		}
	}
	if (keys_generate_file(out, bits, err, sizeof(err)) != 0) {
		fprintf(stderr, "keys generate: %s\n", err);
		return 1;
	}
	printf("wrote a %d-bit RSA private key to %s (mode 0600)\n", bits, out);
	return 0;
usage:
	fputs("usage: auth-service keys generate [--out PATH] [--bits 2048|3072|4096]\n", stderr);
	return 2;
}

/* Read a password: a prompt without echo on a terminal, else one line of stdin. */
static int read_password(char *buf, size_t len)
{
	struct termios old, quiet;
	bool tty = isatty(STDIN_FILENO);
	size_t n;

	if (tty) {
		fputs("Password: ", stderr);
		if (tcgetattr(STDIN_FILENO, &old) != 0)
			return -1;
		quiet = old;
		quiet.c_lflag &= ~(tcflag_t)ECHO;
		tcsetattr(STDIN_FILENO, TCSAFLUSH, &quiet);
	}
	if (!fgets(buf, (int)len, stdin))
		buf[0] = '\0';
	if (tty) {
		tcsetattr(STDIN_FILENO, TCSAFLUSH, &old);
		fputc('\n', stderr);
	}
	n = strlen(buf);
	if (n && buf[n - 1] == '\n')
		buf[--n] = '\0';
	if (n && buf[n - 1] == '\r')
		buf[--n] = '\0';
	return n ? 0 : -1;
}

int cmd_users(const struct config *cfg, int argc, char **argv)
{
	const char *email = NULL, *why = NULL;
	bool admin = false;
	struct user u = {0};
	struct store *st = NULL;
	struct store_conn *c = NULL;
	char password[1024], err[512];
	enum store_rc rc;
	int i, ret = 1;

	if (argc < 1 || strcmp(argv[0], "create") != 0)
		goto usage;
	for (i = 1; i < argc; i++) {
		if (strcmp(argv[i], "--email") == 0 && i + 1 < argc)
			email = argv[++i];
		else if (strcmp(argv[i], "--admin") == 0)
			admin = true;
		else
			goto usage;
	}
	if (!email)
		goto usage;
	if (!api_email_normalize(email, u.email)) {
		fprintf(stderr, "users create: \"%s\" is not a valid email address\n", email);
		return 1;
	}
	if (read_password(password, sizeof(password)) != 0) {
		fputs("users create: no password given (stdin or prompt)\n", stderr);
		return 1;
	}
	if (password_check(password, strlen(password), cfg->password_min_length, &why) != 0) {
		fprintf(stderr, "users create: %s\n", why);
		goto out;
	}
	if (uuid_v4(u.id) != 0 ||
	    password_hash(password, cfg->password_bcrypt_rounds, u.password_hash) != 0) {
		fputs("users create: cannot hash the password\n", stderr);
		goto out;
	}
	u.is_active = true;
	u.is_verified = true; /* created by an operator */
	snprintf(u.roles, sizeof(u.roles), "%s", admin ? "user,admin" : "user");
	u.created_at = u.updated_at = u.password_changed_at = (int64_t)time(NULL);

	st = store_open(cfg, err, sizeof(err));
	if (!st) {
		fprintf(stderr, "users create: %s\n", err);
		goto out;
	}
	c = store_acquire(st);
	if (!c) {
		fputs("users create: database unavailable\n", stderr);
		goto out;
	}
	rc = store_user_insert(c, &u);
	if (rc == STORE_CONFLICT) {
		fprintf(stderr, "users create: %s is already registered\n", u.email);
	} else if (rc != STORE_OK) {
		fputs("users create: cannot store the user (is the schema migrated? run "
		      "`auth-service migrate up`)\n",
		      stderr);
	} else {
		store_audit(c, "user_created_cli", u.id, NULL, NULL, admin ? "admin" : NULL,
		            u.created_at);
		printf("created user %s <%s>%s\n", u.id, u.email, admin ? " with role admin" : "");
		ret = 0;
	}
out:
	explicit_bzero(password, sizeof(password));
	if (c)
		store_release(st, c);
	if (st)
		store_close(st);
	return ret;
usage:
	fputs("usage: auth-service users create --email EMAIL [--admin]\n", stderr);
	return 2;
}
