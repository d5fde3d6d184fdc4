/*
 * api/users.c - /api/v1/users/me: read, rename, delete one's own account.
 */
#include <stdio.h>
#include <string.h>

#include "api/api.h"
#include "app.h"
#include "auth/password.h"
#include "cache/cache.h"

void api_me_get(struct req *r, struct resp *rs)
{
	struct principal p;
	struct store_conn *c;

	if (!(c = api_db(r, rs)))
		return;
	if (api_authenticate(r, rs, c, &p))
		resp_json(rs, 200, api_user_json(&p.user));
	api_db_done(r, c);
}

void api_me_patch(struct req *r, struct resp *rs)
{
	struct principal p;
	struct store_conn *c;
	struct verr v = {0};
	json_t *body = NULL, *fn;
	enum store_rc rc;

	if (!(c = api_db(r, rs)))
		return;
	if (!api_authenticate(r, rs, c, &p) || !(body = req_json(r, rs)))
		goto out;
	fn = json_object_get(body, "full_name");
	if (fn && !json_is_null(fn)) {
		const char *name = json_field_str(body, "full_name", false, &v);
		if (name && !api_full_name_ok(name))
			verr_add(&v, "body", "full_name",
			         "full_name must be at most 255 bytes without control characters",
			         "value_error");
		if (verr_any(&v)) {
			verr_respond(&v, rs);
			goto out;
		}
		snprintf(p.user.full_name, sizeof(p.user.full_name), "%s", name);
		p.user.has_full_name = true;
	} else if (fn) {
		p.user.full_name[0] = '\0';
		p.user.has_full_name = false;
	}
	if (fn) {
		p.user.updated_at = api_now();
		if ((rc = store_user_update(c, &p.user)) != STORE_OK) {
			api_store_failed(rs, rc);
			goto out;
		}
	}
	resp_json(rs, 200, api_user_json(&p.user));
out:
	verr_free(&v);
	json_decref(body);
	api_db_done(r, c);
}

void api_me_delete(struct req *r, struct resp *rs)
{
	struct principal p;
	struct store_conn *c;
	struct verr v = {0};
	json_t *body = NULL;
	const char *pw;
	int64_t now = api_now();
	enum store_rc rc;

	if (!(c = api_db(r, rs)))
		return;
	if (!api_authenticate(r, rs, c, &p) || !(body = req_json(r, rs)))
		goto out;
	pw = json_field_str(body, "password", true, &v);
	if (verr_any(&v)) {
		verr_respond(&v, rs);
		goto out;
	}
	if (password_verify(pw, p.user.password_hash) != 1) {
		resp_detail(rs, 400, "Incorrect password");
		goto out;
	}
	if (api_revoke_user_tokens(r, p.user.id, now + 1) != 0) {
		api_unavailable(rs, "Revocation store unavailable, retry later");
		goto out;
	}
	if ((rc = store_begin(c)) != STORE_OK ||
	    (rc = store_user_delete(c, p.user.id)) != STORE_OK) {
		store_rollback(c);
		api_store_failed(rs, rc);
		goto out;
	}
	api_audit(r, c, "account_deleted", p.user.id, "by the user");
	if ((rc = store_commit(c)) != STORE_OK) {
		api_store_failed(rs, rc);
		goto out;
	}
	resp_empty(rs, 204);
out:
	verr_free(&v);
	json_decref(body);
	api_db_done(r, c);
}
