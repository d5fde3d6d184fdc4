/*
 * fuzz_form.c - libFuzzer target for application/x-www-form-urlencoded
 * decoding (http/form.c): the OAuth2 password form on /login and the
 * bodies of /oauth/token and /oauth/revoke.
 *
 * The whole input is the body.  On success the target checks form.h's
 * promises: at most FORM_MAX_FIELDS fields, every name non-empty and
 * unique, every value a C string (no decoded NUL can hide a suffix), and
 * form_get() finds each field.  The input, cut at its first NUL, is also
 * tried as a Content-Type value.
 */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "arena.h"
#include "http/form.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct arena *a = arena_create();
	struct form f;
	const char *why = NULL;
	char *ct;
	size_t i, j;

	if (form_parse(a, (const char *)data, size, &f, &why) == 0) {
		if (f.n > FORM_MAX_FIELDS)
			abort();
		for (i = 0; i < f.n; i++) {
			if (f.fields[i].name[0] == '\0' || f.fields[i].value == NULL)
				abort();
			for (j = 0; j < i; j++)
				if (strcmp(f.fields[i].name, f.fields[j].name) == 0)
					abort();
			if (form_get(&f, f.fields[i].name) != f.fields[i].value)
				abort();
		}
		(void)form_get(&f, "grant_type");
		(void)form_get(&f, "username");
		(void)form_get(&f, "password");
	} else if (why == NULL) {
		abort();
	}

	ct = arena_strndup(a, (const char *)data, size);
	(void)form_is_form_type(ct);
	arena_destroy(a);
	return 0;
}
