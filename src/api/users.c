/*
 * api/users.c - /api/v1/users/me: read, rename, delete one's own account.
 *
 * The dispatcher has authenticated the caller (AUTH_USER) before any of
 * these runs; k->p is the user and session, k->db the connection.
 */
#include <stdio.h>
#include <string.h>

#include "api/api.h"
#include "app.h"
#include "auth/password.h"

void api_me_get(struct call *k)
{
	resp_json(k->rs, 200, api_user_json(&k->p->user));
}

void api_me_patch(struct call *k)
{
	const struct user *me = &k->p->user;
	struct user u;
	json_t *fn;
	const char *name = NULL;
	enum store_rc rc;

	if (!call_body(k))
		return;
	fn = json_object_get(k->body, "full_name");
	if (!fn) {
		resp_json(k->rs, 200, api_user_json(me));
		return;
	}
	if (!json_is_null(fn)) {
		name = call_str(k, "full_name", false);
		if (name && !api_full_name_ok(name))
			verr_add(&k->v, "body", "full_name",
			         "full_name must be at most 255 bytes without control characters",
			         "value_error");
	}
	if (call_invalid(k))
		return;
	/* One UPDATE of the name only: nothing read earlier is written back. */
	rc = store_user_set_name(k->db, me->id, name, api_now(), &u);
	if (rc == STORE_NOT_FOUND)
		resp_detail(k->rs, 401, "Could not validate credentials");
	else if (rc != STORE_OK)
		api_store_failed(k->rs, rc);
	else
		resp_json(k->rs, 200, api_user_json(&u));
}

static enum store_rc delete_me(struct call *k, void *arg)
{
	enum store_rc rc = store_user_delete(k->db, k->p->user.id);

	(void)arg;
	if (rc == STORE_OK)
		api_audit(k, "account_deleted", k->p->user.id, "by the user");
	return rc;
}

void api_me_delete(struct call *k)
{
	const char *pw;

	if (!call_body(k))
		return;
	pw = call_str(k, "password", true);
	if (call_invalid(k))
		return;
	if (!api_current_password_ok(k, pw))
		return;
	if (api_revoke_user_tokens(k->r, k->p->user.id, api_now() + 1) != 0) {
		api_unavailable(k->rs, "Revocation store unavailable, retry later");
		return;
	}
	if (api_tx(k, delete_me, NULL) == STORE_OK)
		resp_empty(k->rs, 204);
}
