/*
 * fuzz_config.c - libFuzzer target for configuration loading and
 * validation (config.c, with url.c and the key-content check of
 * auth/keys.c), the code behind `serve` start-up and `check-config`.
 *
 * Input: NAME=value lines, the environment as config_load_with() sees it
 * (first definition wins, values cut at a NUL like real environment
 * strings).  Each input is loaded and printed as check-config prints it.
 *
 * Checked beyond "no crash, no leak":
 *   - the result agrees with the error list, and each error is one line;
 *   - secrets never reach the output: the load is repeated with the values
 *     of SECRET_KEY, SMTP_PASSWORD and RSA_PRIVATE_KEY_CONTENT replaced by
 *     other text of the same length, and the error lines and the printed
 *     configuration must come out byte for byte the same.
 */
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "arena.h"
#include "auth/keys.h"
#include "config.h"

#define MAX_VARS 64

struct vars {
	char *name[MAX_VARS];
	char *value[MAX_VARS];
	size_t n;
};

static const char *const secrets[] = {"SECRET_KEY", "SMTP_PASSWORD", "RSA_PRIVATE_KEY_CONTENT"};

static const char *lookup(const char *name, void *ctx)
{
	const struct vars *v = ctx;

	for (size_t i = 0; i < v->n; i++)
		if (strcmp(v->name[i], name) == 0)
			return v->value[i];
	return NULL;
}

static bool is_secret(const char *name)
{
	for (size_t i = 0; i < sizeof(secrets) / sizeof(secrets[0]); i++)
		if (strcmp(name, secrets[i]) == 0)
			return true;
	return false;
}

/* Load through the look-up; returns everything a user would see, malloc'ed. */
static char *load_and_render(struct vars *v, size_t *len)
{
	struct config cfg;
	struct config_errors errs = {0};
	char *out = NULL, err[256];
	size_t outlen = 0;
	FILE *f = open_memstream(&out, &outlen);
	int rc;

	if (f == NULL)
		abort();
	rc = config_load_with(&cfg, lookup, v, &errs);
	if ((rc == 0) != (errs.n == 0))
		abort();
	for (size_t i = 0; i < errs.n; i++) {
		if (strchr(errs.lines[i], '\n') != NULL)
			abort(); /* one problem, one line */
		fprintf(f, "error: %s\n", errs.lines[i]);
	}
	config_print(&cfg, f);
	(void)config_is_strict(&cfg);
	if (cfg.rsa_private_key_content) /* check-config validates it */
		fprintf(f, "key: %d\n",
		        keys_check_content(cfg.rsa_private_key_content, err, sizeof(err)));
	config_free(&cfg);
	config_errors_free(&errs);
	fclose(f);
	*len = outlen;
	return out;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	const char *p = (const char *)data, *end = p + size;
	struct vars v = {0};
	char *a, *b;
	size_t alen, blen;
	bool any_secret = false;

	while (p < end && v.n < MAX_VARS) {
		const char *nl = memchr(p, '\n', (size_t)(end - p));
		const char *e = nl ? nl : end;
		const char *eq = memchr(p, '=', (size_t)(e - p));

		if (eq) {
			v.name[v.n] = xmalloc((size_t)(eq - p) + 1);
			memcpy(v.name[v.n], p, (size_t)(eq - p));
			v.name[v.n][eq - p] = '\0';
			v.value[v.n] = xmalloc((size_t)(e - eq));
			memcpy(v.value[v.n], eq + 1, (size_t)(e - eq - 1));
			v.value[v.n][e - eq - 1] = '\0';
			v.n++;
		}
		p = nl ? nl + 1 : end;
	}

	a = load_and_render(&v, &alen);
	/* The same input with every secret's text swapped for other text. */
	for (size_t i = 0; i < v.n; i++) {
		if (!is_secret(v.name[i]) || lookup(v.name[i], &v) != v.value[i])
			continue;
		for (char *c = v.value[i]; *c; c++)
			*c = *c == 'x' ? 'y' : 'x';
		any_secret = true;
	}
	if (any_secret) {
		b = load_and_render(&v, &blen);
		/* RSA_PRIVATE_KEY_CONTENT's check result may differ; compare up to it. */
		if (strstr(a, "\nkey: "))
			alen = (size_t)(strstr(a, "\nkey: ") - a);
		if (strstr(b, "\nkey: "))
			blen = (size_t)(strstr(b, "\nkey: ") - b);
		if (alen != blen || memcmp(a, b, alen) != 0)
			abort(); /* a secret's value changed what the operator sees */
		free(b);
	}
	free(a);
	for (size_t i = 0; i < v.n; i++) {
		free(v.name[i]);
		free(v.value[i]);
	}
	return 0;
}
