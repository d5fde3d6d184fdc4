/*
 * cli.h - the subcommands of the auth-service binary.
 *
 * main.c parses the command line and loads the configuration; each cmd_*
 * function gets the validated configuration and its own arguments (after
 * the subcommand name) and returns the process exit status.  Exit codes:
 * 0 success, 1 failure, 2 usage error.
 */
#ifndef AUTH_CLI_H
#define AUTH_CLI_H

#include <stdio.h>

struct config;

int cmd_serve(const struct config *cfg); /* serve.c */
int cmd_migrate(const struct config *cfg, int argc, char **argv);
int cmd_check_config(const struct config *cfg);
int cmd_healthcheck(const struct config *cfg, int argc, char **argv);
int cmd_keys(int argc, char **argv); /* needs no configuration */
int cmd_users(const struct config *cfg, int argc, char **argv);

void cli_usage(FILE *out);

#endif
