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
#include <stdlib.h>
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

/* A failed login: counted, measured and audited the same way for every cause. */
static void login_failed(struct call *k, const char *email, const char *user_id, const char *why)
{
	api_rate_login_failed(k->r, email);
	metrics_login(k->r->app->metrics, LOGIN_FAILED);
	api_audit(k, "login_failed", user_id, why);
}

/*
 * Upgrade a hash of fewer rounds than configured.  Only the hash column is
 * written, and only while it is still the one just verified: a password
 * change made meanwhile wins, and nothing else read earlier is written back.
 */
static void upgrade_hash(struct call *k, const struct user *u, const char *password)
{
	int rounds = k->r->app->cfg->password_bcrypt_rounds;
	char fresh[PASSWORD_HASH_MAX];

	if (!password_needs_rehash(u->password_hash, rounds))
		return;
	if (password_hash(password, rounds, fresh) == 0 && strlen(fresh) < STORE_HASH_LEN &&
	    store_user_rehash(k->db, u->id, u->password_hash, fresh) == STORE_OK)
		log_msg(LOG_INFO, k->r->request_id, "password hash of user %s upgraded", u->id);
	explicit_bzero(fresh, sizeof(fresh));
}

enum grant_rc api_password_grant(struct call *k, const char *email, const char *password)
{
	const struct config *cfg = k->r->app->cfg;
	char norm[STORE_EMAIL_LEN];
	struct user u;
	enum store_rc rc;
	int ok;

	if (!api_email_normalize(email, norm)) {
		password_dummy_verify(password, cfg->password_bcrypt_rounds);
		return GRANT_BAD_CREDENTIALS;
	}
	if (!api_rate_login_allowed(k->r, k->rs, norm) || !call_db(k))
		return GRANT_ANSWERED;
	rc = store_user_by_email(k->db, norm, &u);
	if (rc < 0) {
		api_store_failed(k->rs, rc);
		return GRANT_ANSWERED;
	}
	if (rc == STORE_NOT_FOUND) {
		/* Same bcrypt work as a real check: no timing oracle for unknown emails. */
		password_dummy_verify(password, cfg->password_bcrypt_rounds);
		login_failed(k, norm, NULL, "unknown account");
		return GRANT_BAD_CREDENTIALS;
	}
	ok = password_verify(password, u.password_hash);
	if (ok < 0)
		log_msg(LOG_ERROR, k->r->request_id, "unusable password hash for user %s", u.id);
	if (ok != 1) {
		login_failed(k, norm, u.id, "wrong password");
		return GRANT_BAD_CREDENTIALS;
	}
	if (!u.is_active) {
		metrics_login(k->r->app->metrics, LOGIN_DISABLED);
		api_audit(k, "login_refused", u.id, "account disabled");
		return GRANT_DISABLED;
	}
	if (cfg->require_email_verification && !u.is_verified) {
		metrics_login(k->r->app->metrics, LOGIN_UNVERIFIED);
		api_audit(k, "login_refused", u.id, "email not verified");
		return GRANT_UNVERIFIED;
	}
	upgrade_hash(k, &u, password);
	api_rate_login_succeeded(k->r, norm);
	metrics_login(k->r->app->metrics, LOGIN_OK);
	return api_issue_session(k, &u) ? GRANT_OK : GRANT_ANSWERED;
}

/* ---- refresh grant ---- */

/* One rotation: spend the parent (unless a grace retry) and insert its successor. */
struct rotation {
	const struct refresh_token *parent;
	const struct session *s;
	struct refresh_token t;
	bool spend;
};

static enum store_rc rotate_step(struct call *k, void *arg)
{
	struct rotation *x = arg;
	enum store_rc rc = STORE_OK;

	/* CONFLICT: a concurrent use of the same token spent it first. */
	if (x->spend)
		rc = store_refresh_spend(k->db, x->parent->token_hash, x->t.token_hash,
		                         x->t.issued_at);
	if (rc == STORE_OK)
		rc = store_refresh_insert(k->db, &x->t);
	if (rc == STORE_OK)
		rc = store_session_touch(k->db, x->s->id, x->t.issued_at);
	return rc;
}

/*
 * Insert a successor of `parent` in its session and answer with the new
 * pair: STORE_OK.  Nothing is answered for STORE_CONFLICT (a concurrent
 * request spent the parent first) and STORE_NOT_FOUND (the session was
 * revoked or deleted meanwhile, e.g. by a racing logout); anything else
 * has been answered.
 */
static enum store_rc rotate(struct call *k, const struct refresh_token *parent,
                            const struct session *s, const struct user *u, bool spend)
{
	const struct config *cfg = k->r->app->cfg;
	struct rotation x = {.parent = parent, .s = s, .spend = spend};
	char token[44];
	enum store_rc rc;

	if (token_random(token) != 0) {
		api_internal_error(k->rs);
		return STORE_ERROR;
	}
	api_token_hash(k->r, token, x.t.token_hash);
	snprintf(x.t.session_id, sizeof(x.t.session_id), "%s", s->id);
	snprintf(x.t.user_id, sizeof(x.t.user_id), "%s", u->id);
	snprintf(x.t.parent_hash, sizeof(x.t.parent_hash), "%s", parent->token_hash);
	x.t.issued_at = api_now();
	x.t.expires_at = x.t.issued_at + (int64_t)cfg->refresh_token_expire_days * 86400;
	if (x.t.expires_at > s->expires_at)
		x.t.expires_at = s->expires_at;

	rc = api_tx(k, rotate_step, &x);
	if (rc == STORE_CONFLICT || rc == STORE_NOT_FOUND)
		resp_reset(k->rs); /* not an answer: the caller decides */
	else if (rc == STORE_OK)
		api_token_response(k->r, k->rs, u, s->id, token, x.t.expires_at);
	return rc;
}

/* rotate()'s result as the grant's. */
static enum grant_rc grant_of(enum store_rc rc)
{
	if (rc == STORE_OK)
		return GRANT_OK;
	return rc == STORE_NOT_FOUND ? GRANT_BAD_REFRESH : GRANT_ANSWERED;
}

static enum store_rc revoke_family(struct call *k, void *arg)
{
	const struct session *s = arg;
	enum store_rc rc = store_session_revoke(k->db, s->id, NULL, api_now());

	if (rc == STORE_OK || rc == STORE_NOT_FOUND) {
		api_audit(k, "refresh_reuse_detected", s->user_id, s->id);
		return STORE_OK;
	}
	return rc;
}

/* A spent token came back: grace retry, or theft. */
static enum grant_rc spent_again(struct call *k, const struct refresh_token *t,
                                 const struct session *s, const struct user *u, int64_t spent_at)
{
	int interval = k->r->app->cfg->refresh_token_reuse_interval_seconds;

	if (interval > 0 && api_now() - spent_at <= interval)
		return grant_of(rotate(k, t, s, u, false));
	/* Theft: the family dies.  Its failure is logged; the answer is 401 either way. */
	api_tx(k, revoke_family, (void *)s);
	resp_reset(k->rs);
	metrics_event(k->r->app->metrics, EV_REFRESH_REUSE);
	log_msg(LOG_WARNING, k->r->request_id,
	        "refresh token reuse detected: session %s of user %s revoked", s->id, u->id);
	return GRANT_BAD_REFRESH;
}

enum grant_rc api_refresh_grant(struct call *k, const char *refresh_token)
{
	char hash[STORE_TOKHASH_LEN];
	struct refresh_token t;
	struct session s;
	struct user u;
	enum store_rc rc;
	int64_t now = api_now();
	size_t len = strlen(refresh_token);

	if (len == 0 || len > MAX_TOKEN_LEN)
		return GRANT_BAD_REFRESH;
	api_token_hash(k->r, refresh_token, hash);
	if (!call_db(k))
		return GRANT_ANSWERED;
	rc = store_refresh_by_hash(k->db, hash, &t);
	if (rc == STORE_OK)
		rc = store_session_by_id(k->db, t.session_id, &s);
	if (rc == STORE_OK)
		rc = store_user_by_id(k->db, t.user_id, &u);
	if (rc < 0) {
		api_store_failed(k->rs, rc);
		return GRANT_ANSWERED;
	}
	if (rc != STORE_OK || t.expires_at <= now || s.revoked_at || s.expires_at <= now ||
	    !u.is_active)
		return GRANT_BAD_REFRESH;
	if (t.spent_at)
		return spent_again(k, &t, &s, &u, t.spent_at);
	rc = rotate(k, &t, &s, &u, true);
	if (rc == STORE_CONFLICT)
		return spent_again(k, &t, &s, &u, now);
	return grant_of(rc);
}

/* ---- handlers ---- */

struct registration {
	struct user u;
	bool taken; /* the email belongs to an account already */
};

static enum store_rc register_step(struct call *k, void *arg)
{
	struct registration *g = arg;
	enum store_rc rc = store_user_insert(k->db, &g->u);

	if (rc == STORE_CONFLICT) {
		g->taken = true;
		resp_detail(k->rs, 409, "Email already registered");
		return rc;
	}
	if (rc != STORE_OK)
		return rc;
	api_audit(k, "user_registered", g->u.id, NULL);
	/* account.c: the verification email, in the same transaction as the user. */
	return account_enqueue_verification(k, &g->u);
}

/*
 * POST /register.  SPEC's answer is 201 + the user, or 409 for a taken
 * email.  With REGISTER_SILENT both become the same 202, the password is
 * hashed either way (equal bcrypt work), and the owner of a taken address
 * is told by email instead (docs/security.md, "Enumeration").
 */
void api_register(struct call *k)
{
	const struct config *cfg = k->r->app->cfg;
	const char *email, *password, *full_name;
	struct registration g = {0};
	struct user *u = &g.u;
	char hash[PASSWORD_HASH_MAX];
	enum store_rc rc;

	if (!call_body(k))
		return;
	email = call_str(k, "email", true);
	password = call_str(k, "password", true);
	full_name = call_str(k, "full_name", false);
	if (email && !api_email_normalize(email, u->email))
		verr_add(&k->v, "body", "email", "value is not a valid email address",
		         "value_error");
	if (password)
		api_password_valid(k->r, "password", password, &k->v);
	if (full_name && !api_full_name_ok(full_name))
		verr_add(&k->v, "body", "full_name",
		         "full_name must be at most 255 bytes without control characters",
		         "value_error");
	if (call_invalid(k))
		return;
	if (password_hash(password, cfg->password_bcrypt_rounds, hash) != 0 ||
	    strlen(hash) >= sizeof(u->password_hash) || uuid_v4(u->id) != 0) {
		api_internal_error(k->rs);
		return;
	}
	snprintf(u->password_hash, sizeof(u->password_hash), "%s", hash);
	if (full_name) {
		snprintf(u->full_name, sizeof(u->full_name), "%s", full_name);
		u->has_full_name = true;
	}
	u->is_active = true;
	u->is_verified = false;
	snprintf(u->roles, sizeof(u->roles), "user");
	u->created_at = u->updated_at = u->password_changed_at = api_now();

	rc = api_tx(k, register_step, &g);
	if (rc == STORE_CONFLICT && g.taken && cfg->register_silent) {
		resp_reset(k->rs);
		if ((rc = account_register_existing(k, u->email)) != STORE_OK)
			return; /* answered */
	} else if (rc != STORE_OK) {
		return; /* answered */
	}
	if (cfg->register_silent)
		resp_detail(k->rs, 202, REGISTER_SILENT_DETAIL);
	else
		resp_json(k->rs, 201, api_user_json(u));
}

/* Email and password from a JSON body or the OAuth2 password form. */
static bool login_input(struct call *k, const char **email, const char **password)
{
	if (form_is_form_type(req_header(k->r, "Content-Type"))) {
		struct form f;
		const char *why;
		if (form_parse(k->r->arena, k->r->body, k->r->body_len, &f, &why) != 0) {
			verr_add(&k->v, "body", NULL, why, "value_error");
			return !call_invalid(k);
		}
		*email = form_get(&f, "username");
		*password = form_get(&f, "password");
		if (!*email)
			verr_add(&k->v, "body", "username", "Field required", "missing");
		if (!*password)
			verr_add(&k->v, "body", "password", "Field required", "missing");
	} else {
		if (!call_body(k))
			return false;
		*email = call_str(k, "email", true);
		*password = call_str(k, "password", true);
	}
	return !call_invalid(k);
}

void api_login(struct call *k)
{
	const char *email = NULL, *password = NULL;

	if (!login_input(k, &email, &password))
		return;
	switch (api_password_grant(k, email, password)) {
	case GRANT_OK:
	case GRANT_ANSWERED:
		break;
	case GRANT_DISABLED:
		resp_detail(k->rs, 403, "Account disabled");
		break;
	case GRANT_UNVERIFIED:
		resp_detail(k->rs, 403, "Email not verified");
		break;
	default:
		resp_detail(k->rs, 401, "Incorrect email or password");
		resp_header(k->rs, "WWW-Authenticate", "Bearer");
		break;
	}
}

void api_refresh(struct call *k)
{
	const char *token;
	enum grant_rc grc;

	if (!call_body(k))
		return;
	token = call_str(k, "refresh_token", true);
	if (call_invalid(k))
		return;
	grc = api_refresh_grant(k, token);
	if (grc != GRANT_OK && grc != GRANT_ANSWERED) {
		resp_detail(k->rs, 401, "Invalid or expired refresh token");
		resp_header(k->rs, "WWW-Authenticate", "Bearer error=\"invalid_token\"");
	}
}

void api_logout(struct call *k)
{
	const struct principal *p = k->p;
	const char *rt = NULL;
	int64_t now = api_now();

	if (k->r->body_len > 0) {
		if (!call_body(k))
			return;
		rt = call_str(k, "refresh_token", false);
		if (call_invalid(k))
			return;
	}
	if (cache_deny_jti(k->r->app->cache, p->jti, p->exp, now) != 0) {
		api_unavailable(k->rs, "Revocation store unavailable, retry later");
		return;
	}
	store_session_revoke(k->db, p->session.id, p->user.id, now);
	if (rt && strlen(rt) <= MAX_TOKEN_LEN) {
		char hash[STORE_TOKHASH_LEN];
		struct refresh_token t;
		api_token_hash(k->r, rt, hash);
		if (store_refresh_by_hash(k->db, hash, &t) == STORE_OK &&
		    strcmp(t.user_id, p->user.id) == 0)
			store_session_revoke(k->db, t.session_id, p->user.id, now);
	}
	api_audit(k, "logout", p->user.id, p->session.id);
	resp_empty(k->rs, 204);
}

void api_logout_all(struct call *k)
{
	const struct principal *p = k->p;
	int64_t now = api_now();
	enum store_rc rc;

	if (api_revoke_user_tokens(k->r, p->user.id, now) != 0 ||
	    cache_deny_jti(k->r->app->cache, p->jti, p->exp, now) != 0) {
		api_unavailable(k->rs, "Revocation store unavailable, retry later");
		return;
	}
	if ((rc = store_session_revoke_all(k->db, p->user.id, NULL, now)) < 0) {
		api_store_failed(k->rs, rc);
		return;
	}
	api_audit(k, "logout_all", p->user.id, NULL);
	resp_empty(k->rs, 204);
}

static json_t *session_json(const struct config *cfg, const struct session *s, bool current)
{
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
	json_object_set_new(o, "current", json_boolean(current));
	return o;
}

void api_sessions_list(struct call *k)
{
	struct session *list = NULL;
	size_t n = 0, i;
	enum store_rc rc;
	json_t *arr;

	rc = store_session_list_active(k->db, k->p->user.id, api_now(), &list, &n);
	if (rc != STORE_OK) {
		api_store_failed(k->rs, rc);
		return;
	}
	arr = json_array();
	for (i = 0; i < n; i++)
		json_array_append_new(arr, session_json(k->r->app->cfg, &list[i],
		                                        strcmp(list[i].id, k->p->session.id) == 0));
	free(list);
	resp_json(k->rs, 200, arr);
}

void api_session_delete(struct call *k)
{
	const char *id = k->r->params[0];
	enum store_rc rc = STORE_NOT_FOUND;

	if (strlen(id) < STORE_ID_LEN)
		rc = store_session_revoke(k->db, id, k->p->user.id, api_now());
	if (rc == STORE_NOT_FOUND) {
		resp_detail(k->rs, 404, "Session not found");
	} else if (rc != STORE_OK) {
		api_store_failed(k->rs, rc);
	} else {
		api_audit(k, "session_revoked", k->p->user.id, id);
		resp_empty(k->rs, 204);
	}
}
