/*
 * fuzz_dotenv.c - libFuzzer target for the .env parser (dotenv.c).
 *
 * The whole input is the file's content (not NUL-terminated: the parser
 * must respect the length).  On success every key must be a valid name
 * ([A-Za-z_][A-Za-z0-9_]*), keys must be unique (later duplicates
 * override), and dotenv_get() must return each entry's own value; on
 * failure the reported line must exist in the input.
 */
#include <stdbool.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "arena.h"
#include "dotenv.h"

static bool valid_key(const char *k)
{
	if (!((*k >= 'A' && *k <= 'Z') || (*k >= 'a' && *k <= 'z') || *k == '_'))
		return false;
	for (k++; *k; k++)
		if (!((*k >= 'A' && *k <= 'Z') || (*k >= 'a' && *k <= 'z') || *k == '_' ||
		      (*k >= '0' && *k <= '9')))
			return false;
	return true;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	/* A private copy, so a read past `size` is caught by ASan. */
	char *buf = xmalloc(size ? size : 1);
	struct dotenv env;
	size_t bad = 0, lines = 1, i, j;

	memcpy(buf, data, size);
	for (i = 0; i < size; i++)
		lines += buf[i] == '\n';
	if (dotenv_parse(buf, size, &env, &bad) == 0) {
		for (i = 0; i < env.n; i++) {
			if (!valid_key(env.entries[i].key) || env.entries[i].value == NULL)
				abort();
			for (j = 0; j < i; j++)
				if (strcmp(env.entries[i].key, env.entries[j].key) == 0)
					abort();
			if (dotenv_get(&env, env.entries[i].key) != env.entries[i].value)
				abort();
		}
		(void)dotenv_get(&env, "DATABASE_URL");
		dotenv_free(&env);
	} else if (bad < 1 || bad > lines || env.n != 0 || env.entries != NULL) {
		abort();
	}
	free(buf);
	return 0;
}
