/*
 * api/admin.c - /api/v1/admin/users: list, read, change and delete
 * accounts.  The routes are AUTH_ADMIN: the dispatcher has checked the
 * caller's token and "admin" role (403 otherwise) before these run.
 * Disabling an account revokes its sessions and outstanding access tokens
 * at once.  A change is column-scoped (only what the body names is
 * written) and decided on the target row locked inside its transaction.
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "api/api.h"
#include "app.h"
#include "auth/roles.h"

#define LIST_DEFAULT 50
#define LIST_MAX     100

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

void api_admin_users_list(struct call *k)
{
	struct user *list = NULL;
	size_t n = 0, i;
	int64_t total = 0;
	int limit, offset;
	const char *email = req_query(k->r, "email");
	enum store_rc rc;
	json_t *items, *body;

	query_int(k->r, "limit", LIST_DEFAULT, 1, LIST_MAX, &limit, &k->v);
	query_int(k->r, "offset", 0, 0, 1000000000, &offset, &k->v);
	if (email && strlen(email) >= STORE_EMAIL_LEN)
		verr_add(&k->v, "query", "email", "String should have at most 320 characters",
		         "string_too_long");
	if (call_invalid(k))
		return;
	rc = store_user_list(k->db, limit, offset, email && *email ? email : NULL, &list, &n,
	                     &total);
	if (rc != STORE_OK) {
		api_store_failed(k->rs, rc);
		return;
	}
	items = json_array();
	for (i = 0; i < n; i++)
		json_array_append_new(items, api_user_json(&list[i]));
	free(list);
	body = json_object();
	json_object_set_new(body, "items", items);
	json_object_set_new(body, "total", json_integer(total));
	resp_json(k->rs, 200, body);
}

/* The target's id from the path; NULL (404 answered) when it cannot be one. */
static const char *target_id(struct call *k)
{
	const char *id = k->r->params[0];

	if (strlen(id) < STORE_ID_LEN)
		return id;
	resp_detail(k->rs, 404, "User not found");
	return NULL;
}

/* Answer 404 for a missing target, else a storage failure. */
static void target_failed(struct call *k, enum store_rc rc)
{
	if (rc == STORE_NOT_FOUND)
		resp_detail(k->rs, 404, "User not found");
	else
		api_store_failed(k->rs, rc);
}

void api_admin_user_get(struct call *k)
{
	const char *id = target_id(k);
	struct user u;
	enum store_rc rc;

	if (!id)
		return;
	if ((rc = store_user_by_id(k->db, id, &u)) != STORE_OK)
		target_failed(k, rc);
	else
		resp_json(k->rs, 200, api_user_json(&u));
}

struct admin_patch {
	const char *id;
	int is_active, is_verified; /* -1: not in the body */
	bool set_roles;
	char roles[STORE_ROLES_LEN];
	struct user u; /* the result */
};

static enum store_rc patch_step(struct call *k, void *arg)
{
	struct admin_patch *x = arg;
	struct user before;
	int64_t now = api_now();
	enum store_rc rc;
	bool disabling;

	if ((rc = store_user_lock(k->db, x->id, &before)) != STORE_OK) {
		target_failed(k, rc);
		return rc;
	}
	disabling = before.is_active && x->is_active == 0;
	/* Fail closed: an account is not disabled while its tokens stay good. */
	if (disabling && api_revoke_user_tokens(k->r, x->id, now) != 0) {
		api_unavailable(k->rs, "Revocation store unavailable, retry later");
		return STORE_UNAVAILABLE;
	}
	x->u = before;
	if (x->set_roles && strcmp(x->roles, before.roles) != 0) {
		char detail[2 * STORE_ROLES_LEN + 16];
		snprintf(detail, sizeof(detail), "roles: %s -> %s", before.roles, x->roles);
		if ((rc = store_user_set_roles(k->db, x->id, x->roles, now, &x->u)) != STORE_OK)
			return rc;
		api_audit(k, "role_changed", x->id, detail);
	}
	if (x->is_active >= 0 || x->is_verified >= 0) {
		rc = store_user_set_flags(k->db, x->id, x->is_active, x->is_verified, now, &x->u);
		if (rc != STORE_OK)
			return rc;
	}
	if (disabling) {
		if ((rc = store_session_revoke_all(k->db, x->id, NULL, now)) < 0)
			return rc;
		api_audit(k, "account_disabled", x->id, k->p->user.id);
	} else if (!before.is_active && x->is_active == 1) {
		api_audit(k, "account_enabled", x->id, k->p->user.id);
	}
	return STORE_OK;
}

void api_admin_user_patch(struct call *k)
{
	struct admin_patch x = {.is_active = -1, .is_verified = -1};
	json_t *roles;
	bool flag;
	const char *why = NULL;

	if (!(x.id = target_id(k)) || !call_body(k))
		return;
	if (json_field_bool(k->body, "is_active", &flag, &k->v) == 1)
		x.is_active = flag;
	if (json_field_bool(k->body, "is_verified", &flag, &k->v) == 1)
		x.is_verified = flag;
	if ((roles = json_object_get(k->body, "roles"))) {
		x.set_roles = true;
		if (roles_from_json(roles, x.roles, sizeof(x.roles), &why) != 0)
			verr_add(&k->v, "body", "roles", why,
			         json_is_array(roles) ? "value_error" : "list_type");
	}
	if (call_invalid(k))
		return;
	if (api_tx(k, patch_step, &x) == STORE_OK)
		resp_json(k->rs, 200, api_user_json(&x.u));
}

static enum store_rc delete_step(struct call *k, void *arg)
{
	const char *id = arg;
	enum store_rc rc = store_user_delete(k->db, id);

	if (rc == STORE_NOT_FOUND)
		resp_detail(k->rs, 404, "User not found");
	if (rc == STORE_OK)
		api_audit(k, "account_deleted", id, k->p->user.id);
	return rc;
}

void api_admin_user_delete(struct call *k)
{
	const char *id = target_id(k);
	struct user u;
	enum store_rc rc;

	if (!id)
		return;
	if ((rc = store_user_by_id(k->db, id, &u)) != STORE_OK) {
		target_failed(k, rc);
		return;
	}
	if (api_revoke_user_tokens(k->r, id, api_now() + 1) != 0) {
		api_unavailable(k->rs, "Revocation store unavailable, retry later");
		return;
	}
	if (api_tx(k, delete_step, (void *)id) == STORE_OK)
		resp_empty(k->rs, 204);
}
