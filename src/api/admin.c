/*
 * api/admin.c - /api/v1/admin/users: list, read, change and delete
 * accounts.  Every handler first authenticates and requires the "admin"
 * role (403 otherwise).  Disabling an account revokes its sessions and
 * outstanding access tokens at once.
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "api/api.h"
#include "app.h"

#define LIST_DEFAULT 50
#define LIST_MAX     100
#define MAX_ROLES    8
#define ROLE_MAX_LEN 32

/* Borrow a connection and check the caller is an authenticated admin. */
static struct store_conn *admin_begin(struct req *r, struct resp *rs, struct principal *p)
{
	struct store_conn *c = api_db(r, rs);

	if (!c)
		return NULL;
	if (!api_authenticate(r, rs, c, p)) {
		api_db_done(r, c);
		return NULL;
	}
	if (!api_has_role(p->user.roles, "admin")) {
		resp_detail(rs, 403, "Admin privileges required");
		api_db_done(r, c);
		return NULL;
	}
	return c;
}

/* Parse an optional non-negative integer query argument. */
static bool query_int(const struct req *r, const char *name, int def, int min, int max, int *out,
                      struct verr *v)
{
	const char *s = req_query(r, name);
	char *end;
	long val;

	*out = def;
	if (!s)
		return true;
	errno = 0;
	val = strtol(s, &end, 10);
	if (errno || !*s || *end || val < min || val > max) {
		char msg[96];
		snprintf(msg, sizeof(msg), "Input should be an integer between %d and %d", min,
		         max);
		verr_add(v, "query", name, msg, "int_parsing");
		return false;
	}
	*out = (int)val;
	return true;
}

void api_admin_users_list(struct req *r, struct resp *rs)
{
	struct principal p;
	struct store_conn *c;
	struct verr v = {0};
	struct user *list = NULL;
	size_t n = 0, i;
	int64_t total = 0;
	int limit, offset;
	const char *email = req_query(r, "email");
	enum store_rc rc;
	json_t *items, *body;

	if (!(c = admin_begin(r, rs, &p)))
		return;
	query_int(r, "limit", LIST_DEFAULT, 1, LIST_MAX, &limit, &v);
	query_int(r, "offset", 0, 0, 1000000000, &offset, &v);
	if (email && strlen(email) >= STORE_EMAIL_LEN)
		verr_add(&v, "query", "email", "String should have at most 320 characters",
		         "string_too_long");
	if (verr_any(&v)) {
		verr_respond(&v, rs);
		goto out;
	}
	rc = store_user_list(c, limit, offset, email && *email ? email : NULL, &list, &n, &total);
	if (rc != STORE_OK) {
		api_store_failed(rs, rc);
		goto out;
	}
	items = json_array();
	for (i = 0; i < n; i++)
		json_array_append_new(items, api_user_json(&list[i]));
	body = json_object();
	json_object_set_new(body, "items", items);
	json_object_set_new(body, "total", json_integer(total));
	resp_json(rs, 200, body);
out:
	free(list);
	verr_free(&v);
	api_db_done(r, c);
}

/* Load the user named by the path, answering 404 when there is none. */
static bool target_user(struct req *r, struct resp *rs, struct store_conn *c, struct user *u)
{
	const char *id = r->params[0];
	enum store_rc rc = STORE_NOT_FOUND;

	if (strlen(id) < STORE_ID_LEN)
		rc = store_user_by_id(c, id, u);
	if (rc == STORE_OK)
		return true;
	if (rc == STORE_NOT_FOUND)
		resp_detail(rs, 404, "User not found");
	else
		api_store_failed(rs, rc);
	return false;
}

void api_admin_user_get(struct req *r, struct resp *rs)
{
	struct principal p;
	struct store_conn *c;
	struct user u;

	if (!(c = admin_begin(r, rs, &p)))
		return;
	if (target_user(r, rs, c, &u))
		resp_json(rs, 200, api_user_json(&u));
	api_db_done(r, c);
}

/* ["user","admin"] -> "user,admin"; false (v filled) when invalid. */
static bool roles_csv(json_t *arr, char out[STORE_ROLES_LEN], struct verr *v)
{
	size_t i, used = 0;
	json_t *el;

	out[0] = '\0';
	if (!json_is_array(arr) || json_array_size(arr) > MAX_ROLES) {
		verr_add(v, "body", "roles", "Input should be a list of at most 8 role names",
		         "list_type");
		return false;
	}
	json_array_foreach(arr, i, el)
	{
		const char *s = json_string_value(el);
		size_t len = s ? strlen(s) : 0, k;
		bool ok = len >= 1 && len <= ROLE_MAX_LEN && s[0] >= 'a' && s[0] <= 'z';

		for (k = 0; ok && k < len; k++)
			ok = (s[k] >= 'a' && s[k] <= 'z') || (s[k] >= '0' && s[k] <= '9') ||
			     s[k] == '_' || s[k] == '-';
		if (!ok) {
			verr_add(v, "body", "roles",
			         "Role names are 1-32 characters of a-z, 0-9, _ and -, starting "
			         "with a letter",
			         "value_error");
			return false;
		}
		if (api_has_role(out, s))
			continue;
		used += (size_t)snprintf(out + used, STORE_ROLES_LEN - used, "%s%s",
		                         used ? "," : "", s);
	}
	return true;
}

void api_admin_user_patch(struct req *r, struct resp *rs)
{
	struct principal p;
	struct store_conn *c;
	struct verr v = {0};
	struct user u;
	json_t *body = NULL, *roles;
	bool active, verified, was_active;
	int has_active, has_verified;
	char csv[STORE_ROLES_LEN], detail[STORE_ROLES_LEN + 32];
	int64_t now = api_now();
	enum store_rc rc;

	if (!(c = admin_begin(r, rs, &p)))
		return;
	if (!(body = req_json(r, rs)) || !target_user(r, rs, c, &u))
		goto out;
	has_active = json_field_bool(body, "is_active", &active, &v);
	has_verified = json_field_bool(body, "is_verified", &verified, &v);
	roles = json_object_get(body, "roles");
	if (roles)
		roles_csv(roles, csv, &v);
	if (verr_any(&v)) {
		verr_respond(&v, rs);
		goto out;
	}
	was_active = u.is_active;
	if (has_active == 1)
		u.is_active = active;
	if (has_verified == 1)
		u.is_verified = verified;
	if (was_active && !u.is_active && api_revoke_user_tokens(r, u.id, now) != 0) {
		api_unavailable(rs, "Revocation store unavailable, retry later");
		goto out;
	}
	if ((rc = store_begin(c)) != STORE_OK)
		goto fail;
	if (roles && strcmp(csv, u.roles) != 0) {
		snprintf(detail, sizeof(detail), "roles: %s -> %s", u.roles, csv);
		snprintf(u.roles, sizeof(u.roles), "%s", csv);
		api_audit(r, c, "role_changed", u.id, detail);
	}
	u.updated_at = now;
	if ((rc = store_user_update(c, &u)) != STORE_OK)
		goto rollback;
	if (was_active && !u.is_active) {
		if ((rc = store_session_revoke_all(c, u.id, NULL, now)) < 0)
			goto rollback;
		api_audit(r, c, "account_disabled", u.id, p.user.id);
	} else if (!was_active && u.is_active) {
		api_audit(r, c, "account_enabled", u.id, p.user.id);
	}
	if ((rc = store_commit(c)) != STORE_OK)
		goto fail;
	resp_json(rs, 200, api_user_json(&u));
	goto out;
rollback:
	store_rollback(c);
fail:
	api_store_failed(rs, rc);
out:
	verr_free(&v);
	json_decref(body);
	api_db_done(r, c);
}

void api_admin_user_delete(struct req *r, struct resp *rs)
{
	struct principal p;
	struct store_conn *c;
	struct user u;
	enum store_rc rc;

	if (!(c = admin_begin(r, rs, &p)))
		return;
	if (!target_user(r, rs, c, &u))
		goto out;
	if (api_revoke_user_tokens(r, u.id, api_now() + 1) != 0) {
		api_unavailable(rs, "Revocation store unavailable, retry later");
		goto out;
	}
	if ((rc = store_begin(c)) != STORE_OK || (rc = store_user_delete(c, u.id)) != STORE_OK) {
		store_rollback(c);
		api_store_failed(rs, rc);
		goto out;
	}
	api_audit(r, c, "account_deleted", u.id, p.user.id);
	if ((rc = store_commit(c)) != STORE_OK) {
		api_store_failed(rs, rc);
		goto out;
	}
	resp_empty(rs, 204);
out:
	api_db_done(r, c);
}
