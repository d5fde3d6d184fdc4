/*
 * auth/roles.c - role lists (see roles.h for the canonical form).
 */
#include "auth/roles.h"

#include <string.h>

bool roles_name_ok(const char *s, size_t len)
{
	size_t i;

	if (len < 1 || len > ROLE_NAME_MAX || s[0] < 'a' || s[0] > 'z')
		return false;
	for (i = 0; i < len; i++)
		if (!((s[i] >= 'a' && s[i] <= 'z') || (s[i] >= '0' && s[i] <= '9') || s[i] == '_' ||
		      s[i] == '-'))
			return false;
	return true;
}

/* The next name of csv at *p: its start and length; false at the end. */
static bool next_name(const char **p, const char **name, size_t *len)
{
	while (**p == ',')
		(*p)++;
	if (!**p)
		return false;
	*name = *p;
	*len = strcspn(*p, ",");
	*p += *len;
	return true;
}

bool roles_has(const char *csv, const char *role)
{
	size_t want = strlen(role), len;
	const char *p = csv, *name;

	while (next_name(&p, &name, &len))
		if (len == want && memcmp(name, role, len) == 0)
			return true;
	return false;
}

json_t *roles_json(const char *csv)
{
	json_t *a = json_array();
	const char *p = csv, *name;
	size_t len;

	while (a && next_name(&p, &name, &len))
		if (json_array_append_new(a, json_stringn(name, len)) != 0) {
			json_decref(a);
			return NULL;
		}
	return a;
}

int roles_from_json(const json_t *arr, char *out, size_t outlen, const char **why)
{
	size_t i, used = 0, len;
	const json_t *el;

	out[0] = '\0';
	if (!json_is_array(arr) || json_array_size(arr) > ROLES_MAX) {
		*why = "Input should be a list of at most 8 role names";
		return -1;
	}
	json_array_foreach(arr, i, el)
	{
		const char *s = json_string_value(el);

		len = s ? json_string_length(el) : 0;
		if (!s || !roles_name_ok(s, len) || strlen(s) != len) {
			*why = "Role names are 1-32 characters of a-z, 0-9, _ and -, starting with "
			       "a letter";
			return -1;
		}
		if (roles_has(out, s))
			continue;
		if (used + (used ? 1 : 0) + len >= outlen) {
			*why = "The role names are too long together";
			out[0] = '\0';
			return -1;
		}
		if (used)
			out[used++] = ',';
		memcpy(out + used, s, len);
		used += len;
		out[used] = '\0';
	}
	return 0;
}
