/*
 * main.c - command-line entry point: parse the subcommand, load the
 * configuration, dispatch to cli.c / serve.c.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "auth/keys.h"
#include "cli.h"
#include "config.h"
#include "log.h"

static int is_flag(const char *a, const char *s, const char *l)
{
	return strcmp(a, s) == 0 || strcmp(a, l) == 0;
}

int main(int argc, char **argv)
{
	struct config cfg = {0};
	struct config_errors errs = {0};
	const char *cmd = argc > 1 ? argv[1] : "serve";
	int i, rc, sub_argc = argc > 2 ? argc - 2 : 0;
	char **sub_argv = argv + 2;
	size_t e;
	int key_error = 0;
	char key_why[512];

	for (i = 1; i < argc; i++) {
		if (is_flag(argv[i], "-h", "--help")) {
			cli_usage(stdout);
			return 0;
		}
		if (is_flag(argv[i], "-V", "--version")) {
			printf("auth-service %s\n", AUTH_VERSION);
			return 0;
		}
	}
	if (strcmp(cmd, "keys") == 0)
		return cmd_keys(sub_argc, sub_argv);
	if (strcmp(cmd, "serve") != 0 && strcmp(cmd, "migrate") != 0 &&
	    strcmp(cmd, "check-config") != 0 && strcmp(cmd, "healthcheck") != 0 &&
	    strcmp(cmd, "users") != 0) {
		fprintf(stderr, "auth-service: unknown command or option '%s'\n\n", cmd);
		cli_usage(stderr);
		return 2;
	}
	if ((strcmp(cmd, "serve") == 0 || strcmp(cmd, "check-config") == 0) && sub_argc > 0) {
		fprintf(stderr, "auth-service %s: unexpected argument '%s'\n\n", cmd, sub_argv[0]);
		cli_usage(stderr);
		return 2;
	}

	rc = config_load(&cfg, &errs);
	if (strcmp(cmd, "check-config") == 0 && cfg.rsa_private_key_content &&
	    keys_check_content(cfg.rsa_private_key_content, key_why, sizeof(key_why)) != 0)
		key_error = 1; /* only a real parse tells a placeholder from a key */
	if (rc != 0 || key_error) {
		for (e = 0; e < errs.n; e++)
			fprintf(stderr, "config error: %s\n", errs.lines[e]);
		if (key_error)
			fprintf(stderr,
			        "config error: RSA_PRIVATE_KEY_CONTENT: %s (example: "
			        "RSA_PRIVATE_KEY_CONTENT=$(base64 -w0 keys/private.pem))\n",
			        key_why);
		fprintf(stderr, "%zu configuration problem(s); see docs/configuration.md\n",
		        errs.n + (size_t)key_error);
		config_errors_free(&errs);
		config_free(&cfg);
		return 1;
	}
	/* DEBUG=true: more detail in the logs (never in responses). */
	log_init(cfg.debug ? LOG_DEBUG : cfg.log_level, cfg.log_format);

	if (strcmp(cmd, "serve") == 0)
		rc = cmd_serve(&cfg);
	else if (strcmp(cmd, "migrate") == 0)
		rc = cmd_migrate(&cfg, sub_argc, sub_argv);
	else if (strcmp(cmd, "users") == 0)
		rc = cmd_users(&cfg, sub_argc, sub_argv);
	else if (strcmp(cmd, "check-config") == 0)
		rc = cmd_check_config(&cfg);
	else
		rc = cmd_healthcheck(&cfg, sub_argc, sub_argv);
	config_free(&cfg);
	return rc;
}
