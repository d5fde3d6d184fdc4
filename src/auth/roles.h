/*
 * auth/roles.h - role lists: the one parser and validator.
 *
 * A user's roles are stored as one comma-separated string ("user,admin")
 * in canonical form: names of 1-32 characters of a-z, 0-9, '_' and '-',
 * starting with a letter, no spaces, no duplicates, at most ROLES_MAX of
 * them, and short enough for STORE_ROLES_LEN.  Everything that writes a
 * role list goes through roles_from_json() (or writes a constant), so the
 * reader needs no trimming: the token's "roles" claim, the API's JSON and
 * the admin check all read the same names.
 */
#ifndef AUTH_ROLES_H
#define AUTH_ROLES_H

#include <jansson.h>
#include <stdbool.h>
#include <stddef.h>

#define ROLES_MAX     8
#define ROLE_NAME_MAX 32

/* True when s[0..len) is a valid role name. */
bool roles_name_ok(const char *s, size_t len);

/* True when the canonical list csv contains role. */
bool roles_has(const char *csv, const char *role);

/* ["user","admin"] (new reference; NULL only when out of memory). */
json_t *roles_json(const char *csv);

/*
 * A JSON array of role names -> canonical csv (duplicates dropped, order
 * kept) in out (size outlen).  0 on success; -1 with *why set (a message
 * for the caller's 422) when arr is not a list of valid names, has more
 * than ROLES_MAX, or does not fit.
 */
int roles_from_json(const json_t *arr, char *out, size_t outlen, const char **why);

#endif
