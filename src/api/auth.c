/*
 * api/auth.c - /api/v1/auth: register, login, refresh, logout, sessions.
 *
 * The two grants (password and refresh token) are written once here and
 * shared with /oauth/token, which only changes the error body shape.
 *
 * Refresh rotation (RFC 9700 section 4.14): every refresh spends the
 * presented token (a conditional UPDATE, so of two concurrent uses exactly
 * one spends it) and issues a successor in the same session.  A spent
 * token presented again within REFRESH_TOKEN_REUSE_INTERVAL_SECONDS is a
 * client retry and gets a fresh pair in the same session; later, it is
 * treated as theft and the whole session is revoked.
 */
#include <stdio.h>
#include <string.h>

#include "api/api.h"
#include "app.h"
#include "auth/password.h"
#include "auth/tokens.h"
#include "cache/cache.h"
#include "config.h"
#include "http/form.h"
#include "log.h"
#include "metrics.h"

#define MAX_TOKEN_LEN 256
/* REGISTER_SILENT's one answer, for new and already registered emails alike. */
#define REGISTER_SILENT_DETAIL "Registration received: check your email to continue"

/* ---- password grant ---- */

enum grant_rc api_password_grant(struct req *r, struct resp *rs, const char *email,
                                 const char *password)
{
	const struct config *cfg = r->app->cfg;
	char norm[STORE_EMAIL_LEN];
	struct user u;
	struct store_conn *c;
	enum store_rc rc;
	enum grant_rc grc = GRANT_ANSWERED;
	int ok;

	if (!api_email_normalize(email, norm)) {
		password_dummy_verify(password, cfg->password_bcrypt_rounds);
		return GRANT_BAD_CREDENTIALS;
	}
	if (!api_rate_login_allowed(r, rs, norm))
		return GRANT_ANSWERED;
	if (!(c = api_db(r, rs)))
		return GRANT_ANSWERED;
	rc = store_user_by_email(c, norm, &u);
	if (rc < 0) {
		api_store_failed(rs, rc);
		goto out;
	}
	if (rc == STORE_NOT_FOUND) {
		/* Same bcrypt work as a real check: no timing oracle for unknown emails. */
		password_dummy_verify(password, cfg->password_bcrypt_rounds);
		api_rate_login_failed(r, norm);
		metrics_login(r->app->metrics, LOGIN_FAILED);
		api_audit(r, c, "login_failed", NULL, "unknown account");
		grc = GRANT_BAD_CREDENTIALS;
		goto out;
	}
	ok = password_verify(password, u.password_hash);
	if (ok < 0) {
		log_msg(LOG_ERROR, r->request_id, "unusable password hash for user %s", u.id);
		ok = 0;
	}
	if (!ok) {
		api_rate_login_failed(r, norm);
		metrics_login(r->app->metrics, LOGIN_FAILED);
		api_audit(r, c, "login_failed", u.id, "wrong password");
		grc = GRANT_BAD_CREDENTIALS;
		goto out;
	}
	if (!u.is_active) {
		metrics_login(r->app->metrics, LOGIN_DISABLED);
		api_audit(r, c, "login_refused", u.id, "account disabled");
		grc = GRANT_DISABLED;
		goto out;
	}
	if (cfg->require_email_verification && !u.is_verified) {
		metrics_login(r->app->metrics, LOGIN_UNVERIFIED);
		api_audit(r, c, "login_refused", u.id, "email not verified");
		grc = GRANT_UNVERIFIED;
		goto out;
	}
	if (password_needs_rehash(u.password_hash, cfg->password_bcrypt_rounds)) {
		char fresh[128];
		if (password_hash(password, cfg->password_bcrypt_rounds, fresh) == 0 &&
		    strlen(fresh) < sizeof(u.password_hash)) {
			snprintf(u.password_hash, sizeof(u.password_hash), "%s", fresh);
			u.updated_at = api_now();
			if (store_user_update(c, &u) == STORE_OK)
				log_msg(LOG_INFO, r->request_id,
				        "password hash of user %s upgraded", u.id);
		}
	}
	api_rate_login_succeeded(r, norm);
	metrics_login(r->app->metrics, LOGIN_OK);
	grc = api_issue_session(r, rs, c, &u) ? GRANT_OK : GRANT_ANSWERED;
out:
	api_db_done(r, c);
	return grc;
}

/* ---- refresh grant ---- */

/* rotate()'s answer when a concurrent request spent the token first. */
#define ROTATE_LOST_RACE ((enum grant_rc)100)

/* Insert a successor of `parent` in its session and answer with the new pair. */
static enum grant_rc rotate(struct req *r, struct resp *rs, struct store_conn *c,
                            const struct refresh_token *parent, const struct session *s,
                            const struct user *u, bool spend)
{
	const struct config *cfg = r->app->cfg;
	struct refresh_token t = {0};
	char token[44];
	int64_t now = api_now();
	enum store_rc rc;

	if (token_random(token) != 0) {
		resp_detail(rs, 500, "Internal Server Error");
		return GRANT_ANSWERED;
	}
	api_token_hash(r, token, t.token_hash);
	snprintf(t.session_id, sizeof(t.session_id), "%s", s->id);
	snprintf(t.user_id, sizeof(t.user_id), "%s", u->id);
	snprintf(t.parent_hash, sizeof(t.parent_hash), "%s", parent->token_hash);
	t.issued_at = now;
	t.expires_at = now + (int64_t)cfg->refresh_token_expire_days * 86400;
	if (t.expires_at > s->expires_at)
		t.expires_at = s->expires_at;

	if ((rc = store_begin(c)) != STORE_OK)
		goto fail;
	if (spend) {
		rc = store_refresh_spend(c, parent->token_hash, t.token_hash, now);
		if (rc == STORE_CONFLICT) {
			/* Lost the race with a concurrent use of the same token. */
			store_rollback(c);
			return ROTATE_LOST_RACE; /* caller re-evaluates it as spent */
		}
		if (rc != STORE_OK) {
			store_rollback(c);
			goto fail;
		}
	}
	if ((rc = store_refresh_insert(c, &t)) != STORE_OK ||
	    (rc = store_session_touch(c, s->id, now)) != STORE_OK) {
		store_rollback(c);
		goto fail;
	}
	if ((rc = store_commit(c)) != STORE_OK)
		goto fail;
	api_token_response(r, rs, u, s->id, token, t.expires_at);
	return GRANT_OK;
fail:
	api_store_failed(rs, rc);
	return GRANT_ANSWERED;
}

/* A spent token came back: grace retry, or theft. */
static enum grant_rc spent_again(struct req *r, struct resp *rs, struct store_conn *c,
                                 const struct refresh_token *t, const struct session *s,
                                 const struct user *u, int64_t spent_at)
{
	int interval = r->app->cfg->refresh_token_reuse_interval_seconds;
	int64_t now = api_now();

	if (interval > 0 && now - spent_at <= interval)
		return rotate(r, rs, c, t, s, u, false);
	if (store_begin(c) == STORE_OK) {
		if (store_session_revoke(c, s->id, NULL, now) >= 0) {
			api_audit(r, c, "refresh_reuse_detected", u->id, s->id);
			store_commit(c);
		} else {
			store_rollback(c);
		}
	}
	metrics_event(r->app->metrics, EV_REFRESH_REUSE);
	log_msg(LOG_WARNING, r->request_id,
	        "refresh token reuse detected: session %s of user %s revoked", s->id, u->id);
	return GRANT_BAD_REFRESH;
}

enum grant_rc api_refresh_grant(struct req *r, struct resp *rs, const char *refresh_token)
{
	char hash[STORE_TOKHASH_LEN];
	struct refresh_token t;
	struct session s;
	struct user u;
	struct store_conn *c;
	enum store_rc rc;
	enum grant_rc grc = GRANT_BAD_REFRESH;
	int64_t now = api_now();
	size_t len = strlen(refresh_token);

	if (len == 0 || len > MAX_TOKEN_LEN)
		return GRANT_BAD_REFRESH;
	api_token_hash(r, refresh_token, hash);
	if (!(c = api_db(r, rs)))
		return GRANT_ANSWERED;
	rc = store_refresh_by_hash(c, hash, &t);
	if (rc == STORE_OK)
		rc = store_session_by_id(c, t.session_id, &s);
	if (rc == STORE_OK)
		rc = store_user_by_id(c, t.user_id, &u);
	if (rc < 0) {
		api_store_failed(rs, rc);
		grc = GRANT_ANSWERED;
		goto out;
	}
	if (rc != STORE_OK || t.expires_at <= now || s.revoked_at || s.expires_at <= now ||
	    !u.is_active)
		goto out;
	if (t.spent_at) {
		grc = spent_again(r, rs, c, &t, &s, &u, t.spent_at);
		goto out;
	}
	grc = rotate(r, rs, c, &t, &s, &u, true);
	if (grc == ROTATE_LOST_RACE)
		grc = spent_again(r, rs, c, &t, &s, &u, now);
out:
	api_db_done(r, c);
	return grc;
}

/* ---- handlers ---- */

/*
 * POST /register.  SPEC's answer is 201 + the user, or 409 for a taken
 * email.  With REGISTER_SILENT both become the same 202, the password is
 * hashed either way (equal bcrypt work), and the owner of a taken address
 * is told by email instead (docs/security.md, "Enumeration").
 */
void api_register(struct req *r, struct resp *rs)
{
	const struct config *cfg = r->app->cfg;
	struct verr v = {0};
	json_t *body = req_json(r, rs);
	const char *email, *password, *full_name;
	struct user u = {0};
	struct store_conn *c = NULL;
	enum store_rc rc;
	char hash[128];

	if (!body)
		return;
	if (!api_rate_ip(r, rs))
		goto out;
	email = json_field_str(body, "email", true, &v);
	password = json_field_str(body, "password", true, &v);
	full_name = json_field_str(body, "full_name", false, &v);
	if (email && !api_email_normalize(email, u.email))
		verr_add(&v, "body", "email", "value is not a valid email address", "value_error");
	if (password)
		api_password_valid(r, "password", password, &v);
	if (full_name && !api_full_name_ok(full_name))
		verr_add(&v, "body", "full_name",
		         "full_name must be at most 255 bytes without control characters",
		         "value_error");
	if (verr_any(&v)) {
		verr_respond(&v, rs);
		goto out;
	}
	if (password_hash(password, cfg->password_bcrypt_rounds, hash) != 0 ||
	    strlen(hash) >= sizeof(u.password_hash) || uuid_v4(u.id) != 0) {
		resp_detail(rs, 500, "Internal Server Error");
		goto out;
	}
	snprintf(u.password_hash, sizeof(u.password_hash), "%s", hash);
	if (full_name) {
		snprintf(u.full_name, sizeof(u.full_name), "%s", full_name);
		u.has_full_name = true;
	}
	u.is_active = true;
	u.is_verified = false;
	snprintf(u.roles, sizeof(u.roles), "user");
	u.created_at = u.updated_at = u.password_changed_at = api_now();

	if (!(c = api_db(r, rs)))
		goto out;
	if ((rc = store_begin(c)) != STORE_OK) {
		api_store_failed(rs, rc);
		goto out;
	}
	rc = store_user_insert(c, &u);
	if (rc == STORE_CONFLICT) {
		store_rollback(c);
		if (!cfg->register_silent) {
			resp_detail(rs, 409, "Email already registered");
			goto out;
		}
		if ((rc = account_register_existing(r, c, u.email)) != STORE_OK) {
			api_store_failed(rs, rc);
			goto out;
		}
		resp_detail(rs, 202, REGISTER_SILENT_DETAIL);
		goto out;
	}
	if (rc != STORE_OK) {
		store_rollback(c);
		api_store_failed(rs, rc);
		goto out;
	}
	api_audit(r, c, "user_registered", u.id, NULL);
	/* account.c: the verification email, in the same transaction as the user. */
	if ((rc = account_enqueue_verification(r, c, &u)) != STORE_OK) {
		store_rollback(c);
		api_store_failed(rs, rc);
		goto out;
	}
	if ((rc = store_commit(c)) != STORE_OK) {
		store_rollback(c);
		api_store_failed(rs, rc);
		goto out;
	}
	if (cfg->register_silent)
		resp_detail(rs, 202, REGISTER_SILENT_DETAIL);
	else
		resp_json(rs, 201, api_user_json(&u));
out:
	verr_free(&v);
	api_db_done(r, c);
	json_decref(body);
}

/* Email and password from a JSON body or the OAuth2 password form. */
static bool login_input(struct req *r, struct resp *rs, const char **email, const char **password,
                        json_t **body)
{
	struct verr v = {0};

	*body = NULL;
	if (form_is_form_type(req_header(r, "Content-Type"))) {
		struct form f;
		const char *why;
		if (form_parse(r->arena, r->body, r->body_len, &f, &why) != 0) {
			verr_add(&v, "body", NULL, why, "value_error");
			verr_respond(&v, rs);
			return false;
		}
		*email = form_get(&f, "username");
		*password = form_get(&f, "password");
		if (!*email)
			verr_add(&v, "body", "username", "Field required", "missing");
		if (!*password)
			verr_add(&v, "body", "password", "Field required", "missing");
	} else {
		if (!(*body = req_json(r, rs)))
			return false;
		*email = json_field_str(*body, "email", true, &v);
		*password = json_field_str(*body, "password", true, &v);
	}
	if (verr_any(&v)) {
		verr_respond(&v, rs);
		json_decref(*body);
		*body = NULL;
		return false;
	}
	return true;
}

void api_login(struct req *r, struct resp *rs)
{
	const char *email, *password;
	json_t *body;

	if (!api_rate_ip(r, rs) || !login_input(r, rs, &email, &password, &body))
		return;
	switch (api_password_grant(r, rs, email, password)) {
	case GRANT_OK:
	case GRANT_ANSWERED:
		break;
	case GRANT_DISABLED:
		resp_detail(rs, 403, "Account disabled");
		break;
	case GRANT_UNVERIFIED:
		resp_detail(rs, 403, "Email not verified");
		break;
	default:
		resp_detail(rs, 401, "Incorrect email or password");
		resp_header(rs, "WWW-Authenticate", "Bearer");
		break;
	}
	json_decref(body);
}

void api_refresh(struct req *r, struct resp *rs)
{
	struct verr v = {0};
	json_t *body = req_json(r, rs);
	const char *token;

	if (!body)
		return;
	token = json_field_str(body, "refresh_token", true, &v);
	if (verr_any(&v)) {
		verr_respond(&v, rs);
	} else {
		enum grant_rc grc = api_refresh_grant(r, rs, token);
		if (grc != GRANT_OK && grc != GRANT_ANSWERED) {
			resp_detail(rs, 401, "Invalid or expired refresh token");
			resp_header(rs, "WWW-Authenticate", "Bearer error=\"invalid_token\"");
		}
	}
	verr_free(&v);
	json_decref(body);
}

void api_logout(struct req *r, struct resp *rs)
{
	struct principal p;
	struct store_conn *c;
	json_t *body = NULL;
	const char *rt = NULL;
	int64_t now = api_now();

	if (!(c = api_db(r, rs)))
		return;
	if (!api_authenticate(r, rs, c, &p))
		goto out;
	if (r->body_len > 0) {
		struct verr v = {0};
		if (!(body = req_json(r, rs)))
			goto out;
		rt = json_field_str(body, "refresh_token", false, &v);
		if (verr_any(&v)) {
			verr_respond(&v, rs);
			goto out;
		}
	}
	if (cache_deny_jti(r->app->cache, p.jti, p.exp, now) != 0) {
		api_unavailable(rs, "Revocation store unavailable, retry later");
		goto out;
	}
	store_session_revoke(c, p.session.id, p.user.id, now);
	if (rt && strlen(rt) <= MAX_TOKEN_LEN) {
		char hash[STORE_TOKHASH_LEN];
		struct refresh_token t;
		api_token_hash(r, rt, hash);
		if (store_refresh_by_hash(c, hash, &t) == STORE_OK &&
		    strcmp(t.user_id, p.user.id) == 0)
			store_session_revoke(c, t.session_id, p.user.id, now);
	}
	api_audit(r, c, "logout", p.user.id, p.session.id);
	resp_empty(rs, 204);
out:
	json_decref(body);
	api_db_done(r, c);
}

void api_logout_all(struct req *r, struct resp *rs)
{
	struct principal p;
	struct store_conn *c;
	int64_t now = api_now();
	enum store_rc rc;

	if (!(c = api_db(r, rs)))
		return;
	if (!api_authenticate(r, rs, c, &p))
		goto out;
	if (api_revoke_user_tokens(r, p.user.id, now) != 0 ||
	    cache_deny_jti(r->app->cache, p.jti, p.exp, now) != 0) {
		api_unavailable(rs, "Revocation store unavailable, retry later");
		goto out;
	}
	rc = store_session_revoke_all(c, p.user.id, NULL, now);
	if (rc < 0) {
		api_store_failed(rs, rc);
		goto out;
	}
	api_audit(r, c, "logout_all", p.user.id, NULL);
	resp_empty(rs, 204);
out:
	api_db_done(r, c);
}

void api_sessions_list(struct req *r, struct resp *rs)
{
	const struct config *cfg = r->app->cfg;
	struct principal p;
	struct store_conn *c;
	struct session *list = NULL;
	size_t n = 0, i;
	enum store_rc rc;
	json_t *arr;

	if (!(c = api_db(r, rs)))
		return;
	if (!api_authenticate(r, rs, c, &p))
		goto out;
	rc = store_session_list_active(c, p.user.id, api_now(), &list, &n);
	if (rc != STORE_OK) {
		api_store_failed(rs, rc);
		goto out;
	}
	arr = json_array();
	for (i = 0; i < n; i++) {
		const struct session *s = &list[i];
		int64_t exp = s->last_used_at + (int64_t)cfg->refresh_token_expire_days * 86400;
		char created[32], used[32], expires[32];
		json_t *o = json_object();

		if (exp > s->expires_at)
			exp = s->expires_at;
		api_iso_time(s->created_at, created);
		api_iso_time(s->last_used_at, used);
		api_iso_time(exp, expires);
		json_object_set_new(o, "id", json_string(s->id));
		json_object_set_new(o, "created_at", json_string(created));
		json_object_set_new(o, "last_used_at", json_string(used));
		json_object_set_new(o, "expires_at", json_string(expires));
		json_object_set_new(o, "user_agent",
		                    s->user_agent[0] ? json_string(s->user_agent) : json_null());
		json_object_set_new(o, "ip", s->ip[0] ? json_string(s->ip) : json_null());
		json_object_set_new(o, "current", json_boolean(strcmp(s->id, p.session.id) == 0));
		json_array_append_new(arr, o);
	}
	resp_json(rs, 200, arr);
out:
	free(list);
	api_db_done(r, c);
}

void api_session_delete(struct req *r, struct resp *rs)
{
	struct principal p;
	struct store_conn *c;
	const char *id = r->params[0];
	enum store_rc rc = STORE_NOT_FOUND;

	if (!(c = api_db(r, rs)))
		return;
	if (!api_authenticate(r, rs, c, &p))
		goto out;
	if (strlen(id) < STORE_ID_LEN)
		rc = store_session_revoke(c, id, p.user.id, api_now());
	if (rc == STORE_NOT_FOUND) {
		resp_detail(rs, 404, "Session not found");
	} else if (rc != STORE_OK) {
		api_store_failed(rs, rc);
	} else {
		api_audit(r, c, "session_revoked", p.user.id, id);
		resp_empty(rs, 204);
	}
out:
	api_db_done(r, c);
}
