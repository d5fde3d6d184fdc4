/*
 * http/form.c - application/x-www-form-urlencoded decoding (see form.h).
 */
#include "http/form.h"

#include <string.h>
#include <strings.h>

#include "arena.h"
#include "ascii.h"

/* Decode one component; NULL on a bad escape or a decoded NUL. */
static char *decode(struct arena *a, const char *s, size_t n)
{
	char *out = arena_alloc(a, n + 1);
	size_t i, j = 0;

	for (i = 0; i < n; i++) {
		char c = s[i];
		if (c == '+') {
			out[j++] = ' ';
		} else if (c == '%') {
			int v;
			if (i + 2 >= n)
				return NULL;
			v = ascii_hex_byte(s + i + 1);
			if (v <= 0) /* a bad escape, or %00 */
				return NULL;
			out[j++] = (char)v;
			i += 2;
		} else if (c == '\0') {
			return NULL;
		} else {
			out[j++] = c;
		}
	}
	out[j] = '\0';
	return out;
}

int form_parse(struct arena *a, const char *buf, size_t len, struct form *out, const char **why)
{
	size_t pos = 0;

	out->n = 0;
	while (pos < len) {
		const char *pair = buf + pos;
		const char *amp = memchr(pair, '&', len - pos);
		size_t plen = amp ? (size_t)(amp - pair) : len - pos;
		const char *eq = memchr(pair, '=', plen);
		char *name, *value;
		size_t i;

		pos += plen + 1;
		if (plen == 0)
			continue;
		if (!eq) {
			*why = "form field without '='";
			return -1;
		}
		name = decode(a, pair, (size_t)(eq - pair));
		value = decode(a, eq + 1, plen - (size_t)(eq - pair) - 1);
		if (!name || !value) {
			*why = "malformed percent-encoding in form body";
			return -1;
		}
		if (name[0] == '\0') {
			*why = "form field with an empty name";
			return -1;
		}
		for (i = 0; i < out->n; i++) {
			if (strcmp(out->fields[i].name, name) == 0) {
				*why = "form field repeated";
				return -1;
			}
		}
		if (out->n == FORM_MAX_FIELDS) {
			*why = "too many form fields";
			return -1;
		}
		out->fields[out->n].name = name;
		out->fields[out->n].value = value;
		out->n++;
	}
	return 0;
}

const char *form_get(const struct form *f, const char *name)
{
	size_t i;

	for (i = 0; i < f->n; i++)
		if (strcmp(f->fields[i].name, name) == 0)
			return f->fields[i].value;
	return NULL;
}

int form_is_form_type(const char *ct)
{
	const char *t = "application/x-www-form-urlencoded";
	size_t n = strlen(t);

	if (!ct)
		return 0;
	while (*ct == ' ')
		ct++;
	if (strncasecmp(ct, t, n) != 0)
		return 0;
	ct += n;
	while (*ct == ' ')
		ct++;
	return *ct == '\0' || *ct == ';';
}
