/*
 * api/account.c - /api/v1/auth: email verification, password reset and
 * password change (the flows that send email).
 *
 * Every email is written to the outbox (mail/outbox.h) in the same
 * transaction as the one-time token it carries, so there is never a token
 * without its email nor an email for a rolled-back account; the sender
 * thread delivers it later, and a request never waits for SMTP.
 *
 * One-time tokens are token_random() (256 bits), stored only as
 * api_token_hash() (HMAC under SECRET_KEY), and consumed with
 * store_onetime_consume(), a conditional update: of two concurrent uses
 * exactly one succeeds.  Links come from FRONTEND_URL only.
 *
 * password/forgot answers the same 202 body whether or not the address
 * belongs to an account, after the same work (token minted, email
 * rendered, one write transaction); only a known, active account gets a
 * token and an email.  Emails per account are throttled (MAIL_PER_HOUR),
 * so the endpoints cannot be used to flood someone's mailbox; per-address
 * request limits are the rate limiter's job.
 */
#include <stdio.h>
#include <string.h>

#include "api/api.h"
#include "app.h"
#include "auth/password.h"
#include "auth/tokens.h"
#include "cache/cache.h"
#include "config.h"
#include "log.h"
#include "mail/message.h"
#include "mail/outbox.h"

#define MAX_TOKEN_LEN 256
#define MAIL_PER_HOUR 5 /* emails of one purpose per account per hour */
#define MAIL_WINDOW   3600

#define INVALID_TOKEN "Invalid or expired token"
#define FORGOT_DETAIL "If an account with that email exists, a password reset link has been sent"

/* ---- helpers ---- */

/* "48 hours", "1 hour", "60 minutes" */
static void duration_text(int n, const char *unit, char out[32])
{
	snprintf(out, 32, "%d %s%s", n, unit, n == 1 ? "" : "s");
}

/* Render kind for u and add it to the outbox (inside the caller's transaction). */
static enum store_rc enqueue_mail(struct req *r, struct store_conn *c, const struct user *u,
                                  enum mail_kind kind, const char *link, const char *expires)
{
	const struct config *cfg = r->app->cfg;
	struct mail_vars v = {
	        .app_name = cfg->app_name,
	        .link = link,
	        .full_name = u->has_full_name && u->full_name[0] ? u->full_name : u->email,
	        .expires = expires,
	        .email = u->email,
	};
	struct mail_content m;
	enum store_rc rc;

	mail_render(cfg->email_templates_dir, kind, &v, &m);
	rc = store_outbox_add(c, u->email, m.subject, m.text, m.html, api_now());
	mail_content_free(&m);
	return rc;
}

/*
 * Mint a one-time token for u (inside the caller's transaction) and
 * enqueue the email that carries its link.
 */
static enum store_rc issue_and_mail(struct req *r, struct store_conn *c, const struct user *u,
                                    const char *purpose, int64_t ttl, enum mail_kind kind,
                                    const char *path, const char *expires)
{
	struct onetime_token t = {0};
	char token[TOKEN_RANDOM_LEN + 1];
	char *link;
	enum store_rc rc;

	if (token_random(token) != 0)
		return STORE_ERROR;
	api_token_hash(r, token, t.token_hash);
	snprintf(t.user_id, sizeof(t.user_id), "%s", u->id);
	snprintf(t.purpose, sizeof(t.purpose), "%s", purpose);
	t.created_at = api_now();
	t.expires_at = t.created_at + ttl;
	link = mail_link(r->app->cfg->frontend_url, path, token);
	explicit_bzero(token, sizeof(token));
	rc = store_onetime_insert(c, &t);
	if (rc == STORE_OK)
		rc = enqueue_mail(r, c, u, kind, link, expires);
	explicit_bzero(link, strlen(link));
	free(link);
	return rc;
}

enum store_rc account_enqueue_verification(struct req *r, struct store_conn *c,
                                           const struct user *u)
{
	int hours = r->app->cfg->email_verify_expire_hours;
	char expires[32];
	enum store_rc rc;

	duration_text(hours, "hour", expires);
	rc = issue_and_mail(r, c, u, ONETIME_VERIFY_EMAIL, (int64_t)hours * 3600, MAIL_VERIFY_EMAIL,
	                    "/verify-email", expires);
	/*
	 * The caller commits next; the sender re-checks shortly after a
	 * notification, so notifying before the commit is enough.
	 */
	if (rc == STORE_OK)
		outbox_notify();
	return rc;
}

static enum store_rc enqueue_password_changed(struct req *r, struct store_conn *c,
                                              const struct user *u)
{
	return enqueue_mail(r, c, u, MAIL_PASSWORD_CHANGED, r->app->cfg->frontend_url, NULL);
}

/*
 * Count one email of `purpose` to user_id; true when the account is over
 * MAIL_PER_HOUR (*retry_after = seconds until the window resets).  An
 * unreachable counter store does not block mail: it is logged.
 */
static bool mail_throttled(struct req *r, const char *purpose, const char *user_id,
                           int *retry_after)
{
	char key[96];
	int64_t count = 0;
	int reset = 0;

	snprintf(key, sizeof(key), "mail:%s:%s", purpose, user_id);
	if (cache_rate_hit(r->app->cache, key, MAIL_WINDOW, api_now(), &count, &reset) != 0) {
		log_msg(LOG_WARNING, r->request_id,
		        "email throttle unavailable (cache); not applied");
		return false;
	}
	*retry_after = reset > 0 ? reset : 1;
	return count > MAIL_PER_HOUR;
}

enum store_rc account_register_existing(struct req *r, struct store_conn *c, const char *email)
{
	struct user u;
	enum store_rc rc;
	int retry_after = 0;

	/* NOT_FOUND: deleted meanwhile, nothing to tell. */
	if ((rc = store_user_by_email(c, email, &u)) != STORE_OK)
		return rc == STORE_NOT_FOUND ? STORE_OK : rc;
	if (mail_throttled(r, "account_exists", u.id, &retry_after))
		return STORE_OK; /* the owner has been told this hour; the answer stays the same */
	if ((rc = store_begin(c)) != STORE_OK)
		return rc;
	api_audit(r, c, "register_existing_email", u.id, NULL);
	if ((rc = enqueue_mail(r, c, &u, MAIL_ACCOUNT_EXISTS, r->app->cfg->frontend_url, NULL)) !=
	            STORE_OK ||
	    (rc = store_commit(c)) != STORE_OK) {
		store_rollback(c);
		return rc;
	}
	outbox_notify();
	return STORE_OK;
}

/* The token field of a body: present, a string, of a sane length; else NULL. */
static const char *token_field(json_t *body, struct verr *v)
{
	const char *t = json_field_str(body, "token", true, v);

	if (t && (t[0] == '\0' || strlen(t) > MAX_TOKEN_LEN))
		return "";
	return t;
}

/* ---- POST /api/v1/auth/verify-email ---- */

void api_verify_email(struct req *r, struct resp *rs)
{
	struct verr v = {0};
	json_t *body = req_json(r, rs);
	struct store_conn *c = NULL;
	char hash[STORE_TOKHASH_LEN], user_id[STORE_ID_LEN];
	const char *token;
	struct user u;
	int64_t now = api_now();
	enum store_rc rc;

	if (!body)
		return;
	token = token_field(body, &v);
	if (verr_any(&v)) {
		verr_respond(&v, rs);
		goto out;
	}
	if (!token[0]) {
		resp_detail(rs, 400, INVALID_TOKEN);
		goto out;
	}
	api_token_hash(r, token, hash);
	if (!(c = api_db(r, rs)))
		goto out;
	if ((rc = store_begin(c)) != STORE_OK) {
		api_store_failed(rs, rc);
		goto out;
	}
	rc = store_onetime_consume(c, hash, ONETIME_VERIFY_EMAIL, now, user_id);
	if (rc == STORE_OK)
		rc = store_user_by_id(c, user_id, &u);
	if (rc == STORE_NOT_FOUND) {
		store_rollback(c);
		resp_detail(rs, 400, INVALID_TOKEN);
		goto out;
	}
	if (rc == STORE_OK && !u.is_verified) {
		u.is_verified = true;
		u.updated_at = now;
		rc = store_user_update(c, &u);
	}
	if (rc != STORE_OK) {
		store_rollback(c);
		api_store_failed(rs, rc);
		goto out;
	}
	api_audit(r, c, "email_verified", u.id, NULL);
	if ((rc = store_commit(c)) != STORE_OK) {
		store_rollback(c);
		api_store_failed(rs, rc);
		goto out;
	}
	resp_json(rs, 200, api_user_json(&u));
out:
	verr_free(&v);
	api_db_done(r, c);
	json_decref(body);
}

/* ---- POST /api/v1/auth/verify-email/resend ---- */

void api_verify_email_resend(struct req *r, struct resp *rs)
{
	struct principal p;
	struct store_conn *c;
	enum store_rc rc;
	int retry_after = 0;
	char ra[16];

	if (!api_rate_ip(r, rs))
		return;
	if (!(c = api_db(r, rs)))
		return;
	if (!api_authenticate(r, rs, c, &p))
		goto out;
	if (p.user.is_verified) {
		resp_json(rs, 202, json_pack("{s:s}", "detail", "Email already verified"));
		goto out;
	}
	if (mail_throttled(r, ONETIME_VERIFY_EMAIL, p.user.id, &retry_after)) {
		snprintf(ra, sizeof(ra), "%d", retry_after);
		resp_detail(rs, 429, "Too many verification emails requested, try again later");
		resp_header(rs, "Retry-After", ra);
		goto out;
	}
	if ((rc = store_begin(c)) != STORE_OK) {
		api_store_failed(rs, rc);
		goto out;
	}
	if ((rc = account_enqueue_verification(r, c, &p.user)) != STORE_OK) {
		store_rollback(c);
		api_store_failed(rs, rc);
		goto out;
	}
	api_audit(r, c, "verification_email_requested", p.user.id, NULL);
	if ((rc = store_commit(c)) != STORE_OK) {
		store_rollback(c);
		api_store_failed(rs, rc);
		goto out;
	}
	outbox_notify();
	resp_json(rs, 202, json_pack("{s:s}", "detail", "Verification email sent"));
out:
	api_db_done(r, c);
}

/* ---- POST /api/v1/auth/password/forgot ---- */

void api_password_forgot(struct req *r, struct resp *rs)
{
	const struct config *cfg = r->app->cfg;
	struct verr v = {0};
	json_t *body = req_json(r, rs);
	struct store_conn *c = NULL;
	const char *email;
	char norm[STORE_EMAIL_LEN], expires[32];
	struct user u;
	bool known = false;
	int retry_after = 0;
	enum store_rc rc;

	if (!body)
		return;
	email = json_field_str(body, "email", true, &v);
	if (email && !api_email_normalize(email, norm))
		verr_add(&v, "body", "email", "value is not a valid email address", "value_error");
	if (verr_any(&v)) {
		verr_respond(&v, rs);
		goto out;
	}
	if (!api_rate_ip(r, rs))
		goto out;
	if (!(c = api_db(r, rs)))
		goto out;
	rc = store_user_by_email(c, norm, &u);
	if (rc < 0) {
		api_store_failed(rs, rc);
		goto out;
	}
	known = rc == STORE_OK && u.is_active;
	if (known && mail_throttled(r, ONETIME_PASSWORD_RESET, u.id, &retry_after)) {
		log_msg(LOG_WARNING, r->request_id,
		        "password reset for user %s throttled: more than %d emails this hour", u.id,
		        MAIL_PER_HOUR);
		known = false;
	}
	duration_text(cfg->password_reset_expire_minutes, "minute", expires);
	if ((rc = store_begin(c)) != STORE_OK) {
		api_store_failed(rs, rc);
		goto out;
	}
	if (known) {
		rc = issue_and_mail(r, c, &u, ONETIME_PASSWORD_RESET,
		                    (int64_t)cfg->password_reset_expire_minutes * 60,
		                    MAIL_PASSWORD_RESET, "/reset-password", expires);
	} else {
		/* The same work for an unknown address: a token and an email nobody gets. */
		struct user ghost = {0};
		struct mail_content m;
		char token[TOKEN_RANDOM_LEN + 1] = "", hash[STORE_TOKHASH_LEN], *link;

		snprintf(ghost.email, sizeof(ghost.email), "%s", norm);
		if (token_random(token) == 0)
			api_token_hash(r, token, hash);
		link = mail_link(cfg->frontend_url, "/reset-password", token);
		mail_render(
		        cfg->email_templates_dir, MAIL_PASSWORD_RESET,
		        &(struct mail_vars){cfg->app_name, link, ghost.email, expires, ghost.email},
		        &m);
		mail_content_free(&m);
		free(link);
		explicit_bzero(token, sizeof(token));
		rc = STORE_OK;
	}
	if (rc != STORE_OK) {
		store_rollback(c);
		api_store_failed(rs, rc);
		goto out;
	}
	api_audit(r, c, "password_reset_requested", known ? u.id : NULL,
	          known ? NULL : "no email sent (unknown, disabled or throttled account)");
	if ((rc = store_commit(c)) != STORE_OK) {
		store_rollback(c);
		api_store_failed(rs, rc);
		goto out;
	}
	if (known)
		outbox_notify();
	resp_json(rs, 202, json_pack("{s:s}", "detail", FORGOT_DETAIL));
out:
	verr_free(&v);
	api_db_done(r, c);
	json_decref(body);
}

/* ---- POST /api/v1/auth/password/reset ---- */

void api_password_reset(struct req *r, struct resp *rs)
{
	const struct config *cfg = r->app->cfg;
	struct verr v = {0};
	json_t *body = req_json(r, rs);
	struct store_conn *c = NULL;
	const char *token, *pw;
	char hash[STORE_TOKHASH_LEN], user_id[STORE_ID_LEN], pwhash[PASSWORD_HASH_MAX];
	struct user u;
	int64_t now;
	enum store_rc rc;

	if (!body)
		return;
	token = token_field(body, &v);
	pw = json_field_str(body, "new_password", true, &v);
	if (pw)
		api_password_valid(r, "new_password", pw, &v);
	if (verr_any(&v)) {
		verr_respond(&v, rs);
		goto out;
	}
	if (!token[0]) {
		resp_detail(rs, 400, INVALID_TOKEN);
		goto out;
	}
	/* bcrypt before the transaction: no write lock is held while it runs. */
	if (password_hash(pw, cfg->password_bcrypt_rounds, pwhash) != 0 ||
	    strlen(pwhash) >= sizeof(u.password_hash)) {
		resp_detail(rs, 500, "Internal Server Error");
		goto out;
	}
	api_token_hash(r, token, hash);
	if (!(c = api_db(r, rs)))
		goto out;
	now = api_now();
	if ((rc = store_begin(c)) != STORE_OK) {
		api_store_failed(rs, rc);
		goto out;
	}
	rc = store_onetime_consume(c, hash, ONETIME_PASSWORD_RESET, now, user_id);
	if (rc == STORE_OK)
		rc = store_user_by_id(c, user_id, &u);
	if (rc == STORE_NOT_FOUND || (rc == STORE_OK && !u.is_active)) {
		store_rollback(c);
		resp_detail(rs, 400, INVALID_TOKEN);
		goto out;
	}
	if (rc == STORE_OK) {
		snprintf(u.password_hash, sizeof(u.password_hash), "%s", pwhash);
		u.password_changed_at = u.updated_at = now;
		u.is_verified = true; /* the reset link reached this address */
		rc = store_user_update(c, &u);
	}
	if (rc == STORE_OK)
		rc = store_session_revoke_all(c, u.id, NULL, now);
	if (rc == STORE_OK)
		rc = enqueue_password_changed(r, c, &u);
	if (rc != STORE_OK) {
		store_rollback(c);
		api_store_failed(rs, rc == STORE_NOT_FOUND ? STORE_ERROR : rc);
		goto out;
	}
	/* Fail closed: without the revocation the reset does not happen. */
	if (api_revoke_user_tokens(r, u.id, now) != 0) {
		store_rollback(c);
		api_unavailable(rs, "Revocation store unavailable, retry later");
		goto out;
	}
	api_audit(r, c, "password_reset", u.id, NULL);
	if ((rc = store_commit(c)) != STORE_OK) {
		store_rollback(c);
		api_store_failed(rs, rc);
		goto out;
	}
	outbox_notify();
	resp_empty(rs, 204);
out:
	explicit_bzero(pwhash, sizeof(pwhash));
	verr_free(&v);
	api_db_done(r, c);
	json_decref(body);
}

/* ---- POST /api/v1/auth/password/change ---- */

void api_password_change(struct req *r, struct resp *rs)
{
	const struct config *cfg = r->app->cfg;
	struct principal p;
	struct verr v = {0};
	json_t *body = NULL;
	struct store_conn *c;
	const char *current, *pw;
	char pwhash[PASSWORD_HASH_MAX] = "";
	struct user u;
	int64_t now;
	enum store_rc rc;

	if (!(c = api_db(r, rs)))
		return;
	if (!api_authenticate(r, rs, c, &p) || !(body = req_json(r, rs)))
		goto out;
	current = json_field_str(body, "current_password", true, &v);
	pw = json_field_str(body, "new_password", true, &v);
	if (pw)
		api_password_valid(r, "new_password", pw, &v);
	if (verr_any(&v)) {
		verr_respond(&v, rs);
		goto out;
	}
	if (password_verify(current, p.user.password_hash) != 1) {
		api_audit(r, c, "password_change_failed", p.user.id, "wrong current password");
		resp_detail(rs, 400, "Incorrect password");
		goto out;
	}
	if (password_hash(pw, cfg->password_bcrypt_rounds, pwhash) != 0 ||
	    strlen(pwhash) >= sizeof(u.password_hash)) {
		resp_detail(rs, 500, "Internal Server Error");
		goto out;
	}
	now = api_now();
	if ((rc = store_begin(c)) != STORE_OK) {
		api_store_failed(rs, rc);
		goto out;
	}
	/* Re-read inside the transaction: write only the password over fresh data. */
	rc = store_user_by_id(c, p.user.id, &u);
	if (rc == STORE_OK && strcmp(u.password_hash, p.user.password_hash) != 0) {
		/* Changed by a concurrent request since we checked it. */
		store_rollback(c);
		resp_detail(rs, 400, "Incorrect password");
		goto out;
	}
	if (rc == STORE_OK) {
		snprintf(u.password_hash, sizeof(u.password_hash), "%s", pwhash);
		u.password_changed_at = u.updated_at = now;
		rc = store_user_update(c, &u);
	}
	if (rc == STORE_OK)
		rc = store_session_revoke_all(c, u.id, p.session.id, now);
	if (rc == STORE_OK)
		rc = enqueue_password_changed(r, c, &u);
	if (rc != STORE_OK) {
		store_rollback(c);
		api_store_failed(rs, rc == STORE_NOT_FOUND ? STORE_ERROR : rc);
		goto out;
	}
	api_audit(r, c, "password_changed", u.id, NULL);
	if ((rc = store_commit(c)) != STORE_OK) {
		store_rollback(c);
		api_store_failed(rs, rc);
		goto out;
	}
	outbox_notify();
	resp_empty(rs, 204);
out:
	explicit_bzero(pwhash, sizeof(pwhash));
	verr_free(&v);
	json_decref(body);
	api_db_done(r, c);
}
