/* TEMPORARY (until the store branch lands). */
#include <stdio.h>
#include <string.h>
#include "api/store_shim.h"
enum store_rc store_user_lock(struct store_conn *c, const char *id, struct user *out)
{
	return store_user_by_id(c, id, out);
}
static enum store_rc finish(struct store_conn *c, struct user *u, struct user *out)
{
	enum store_rc rc = store_user_update(c, u);
	if (rc == STORE_OK && out)
		*out = *u;
	return rc;
}
enum store_rc store_user_set_password(struct store_conn *c, const char *id, const char *hash,
                                      int64_t now, struct user *out)
{
	struct user u;
	enum store_rc rc = store_user_by_id(c, id, &u);
	if (rc != STORE_OK)
		return rc;
	snprintf(u.password_hash, sizeof(u.password_hash), "%s", hash);
	u.password_changed_at = u.updated_at = now;
	return finish(c, &u, out);
}
enum store_rc store_user_rehash(struct store_conn *c, const char *id, const char *old_hash,
                                const char *new_hash)
{
	struct user u;
	enum store_rc rc = store_user_by_id(c, id, &u);
	if (rc != STORE_OK)
		return rc;
	if (strcmp(u.password_hash, old_hash) != 0)
		return STORE_CONFLICT;
	snprintf(u.password_hash, sizeof(u.password_hash), "%s", new_hash);
	return finish(c, &u, NULL);
}
enum store_rc store_user_set_name(struct store_conn *c, const char *id, const char *full_name,
                                  int64_t now, struct user *out)
{
	struct user u;
	enum store_rc rc = store_user_by_id(c, id, &u);
	if (rc != STORE_OK)
		return rc;
	snprintf(u.full_name, sizeof(u.full_name), "%s", full_name ? full_name : "");
	u.has_full_name = full_name != NULL;
	u.updated_at = now;
	return finish(c, &u, out);
}
enum store_rc store_user_set_flags(struct store_conn *c, const char *id, int is_active,
                                   int is_verified, int64_t now, struct user *out)
{
	struct user u;
	enum store_rc rc = store_user_by_id(c, id, &u);
	if (rc != STORE_OK)
		return rc;
	if (is_active >= 0)
		u.is_active = is_active;
	if (is_verified >= 0)
		u.is_verified = is_verified;
	u.updated_at = now;
	return finish(c, &u, out);
}
enum store_rc store_user_set_roles(struct store_conn *c, const char *id, const char *roles,
                                   int64_t now, struct user *out)
{
	struct user u;
	enum store_rc rc = store_user_by_id(c, id, &u);
	if (rc != STORE_OK)
		return rc;
	snprintf(u.roles, sizeof(u.roles), "%s", roles);
	u.updated_at = now;
	return finish(c, &u, out);
}
