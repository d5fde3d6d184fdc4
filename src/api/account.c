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
static enum store_rc enqueue_mail(struct call *k, const struct user *u, enum mail_kind kind,
                                  const char *link, const char *expires)
{
	const struct config *cfg = k->r->app->cfg;
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
	rc = store_outbox_add(k->db, u->email, m.subject, m.text, m.html, api_now());
	mail_content_free(&m);
	return rc;
}

/*
 * Mint a one-time token for u (inside the caller's transaction) and
 * enqueue the email that carries its link.
 */
static enum store_rc issue_and_mail(struct call *k, const struct user *u, const char *purpose,
                                    int64_t ttl, enum mail_kind kind, const char *path,
                                    const char *expires)
{
	struct onetime_token t = {0};
	char token[TOKEN_RANDOM_LEN + 1];
	char *link;
	enum store_rc rc;

	if (token_random(token) != 0)
		return STORE_ERROR;
	api_token_hash(k->r, token, t.token_hash);
	snprintf(t.user_id, sizeof(t.user_id), "%s", u->id);
	snprintf(t.purpose, sizeof(t.purpose), "%s", purpose);
	t.created_at = api_now();
	t.expires_at = t.created_at + ttl;
	link = mail_link(k->r->app->cfg->frontend_url, path, token);
	explicit_bzero(token, sizeof(token));
	rc = store_onetime_insert(k->db, &t);
	if (rc == STORE_OK)
		rc = enqueue_mail(k, u, kind, link, expires);
	explicit_bzero(link, strlen(link));
	free(link);
	return rc;
}

enum store_rc account_enqueue_verification(struct call *k, const struct user *u)
{
	int hours = k->r->app->cfg->email_verify_expire_hours;
	char expires[32];
	enum store_rc rc;

	duration_text(hours, "hour", expires);
	rc = issue_and_mail(k, u, ONETIME_VERIFY_EMAIL, (int64_t)hours * 3600, MAIL_VERIFY_EMAIL,
	                    "/verify-email", expires);
	/*
	 * The caller commits next; the sender re-checks shortly after a
	 * notification, so notifying before the commit is enough.
	 */
	if (rc == STORE_OK)
		outbox_notify();
	return rc;
}

static enum store_rc enqueue_password_changed(struct call *k, const struct user *u)
{
	return enqueue_mail(k, u, MAIL_PASSWORD_CHANGED, k->r->app->cfg->frontend_url, NULL);
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

static enum store_rc tell_existing(struct call *k, void *arg)
{
	const struct user *u = arg;

	api_audit(k, "register_existing_email", u->id, NULL);
	return enqueue_mail(k, u, MAIL_ACCOUNT_EXISTS, k->r->app->cfg->frontend_url, NULL);
}

enum store_rc account_register_existing(struct call *k, const char *email)
{
	struct user u;
	enum store_rc rc;
	int retry_after = 0;

	if (!call_db(k))
		return STORE_UNAVAILABLE;
	/* NOT_FOUND: deleted meanwhile, nothing to tell. */
	if ((rc = store_user_by_email(k->db, email, &u)) != STORE_OK) {
		if (rc == STORE_NOT_FOUND)
			return STORE_OK;
		api_store_failed(k->rs, rc);
		return rc;
	}
	if (mail_throttled(k->r, "account_exists", u.id, &retry_after))
		return STORE_OK; /* the owner has been told this hour; the answer stays the same */
	if ((rc = api_tx(k, tell_existing, &u)) == STORE_OK)
		outbox_notify();
	return rc;
}

/* The token field of the body: present, a string, of a sane length; else "". */
static const char *token_field(struct call *k)
{
	const char *t = call_str(k, "token", true);

	if (t && (t[0] == '\0' || strlen(t) > MAX_TOKEN_LEN))
		return "";
	return t;
}

/* ---- POST /api/v1/auth/verify-email ---- */

struct verification {
	char hash[STORE_TOKHASH_LEN];
	struct user u;
};

static enum store_rc verify_step(struct call *k, void *arg)
{
	struct verification *x = arg;
	char user_id[STORE_ID_LEN];
	int64_t now = api_now();
	enum store_rc rc;

	rc = store_onetime_consume(k->db, x->hash, ONETIME_VERIFY_EMAIL, now, user_id);
	if (rc == STORE_OK)
		rc = store_user_lock(k->db, user_id, &x->u);
	if (rc == STORE_OK && !x->u.is_verified)
		rc = store_user_set_flags(k->db, user_id, -1, 1, now, &x->u);
	if (rc == STORE_NOT_FOUND)
		resp_detail(k->rs, 400, INVALID_TOKEN);
	if (rc == STORE_OK)
		api_audit(k, "email_verified", x->u.id, NULL);
	return rc;
}

void api_verify_email(struct call *k)
{
	struct verification x;
	const char *token;

	if (!call_body(k))
		return;
	token = token_field(k);
	if (call_invalid(k))
		return;
	if (!token[0]) {
		resp_detail(k->rs, 400, INVALID_TOKEN);
		return;
	}
	api_token_hash(k->r, token, x.hash);
	if (api_tx(k, verify_step, &x) == STORE_OK)
		resp_json(k->rs, 200, api_user_json(&x.u));
}

/* ---- POST /api/v1/auth/verify-email/resend ---- */

static enum store_rc resend_step(struct call *k, void *arg)
{
	enum store_rc rc = account_enqueue_verification(k, &k->p->user);

	(void)arg;
	if (rc == STORE_OK)
		api_audit(k, "verification_email_requested", k->p->user.id, NULL);
	return rc;
}

void api_verify_email_resend(struct call *k)
{
	int retry_after = 0;
	char ra[16];

	if (k->p->user.is_verified) {
		resp_json(k->rs, 202, json_pack("{s:s}", "detail", "Email already verified"));
		return;
	}
	if (mail_throttled(k->r, ONETIME_VERIFY_EMAIL, k->p->user.id, &retry_after)) {
		snprintf(ra, sizeof(ra), "%d", retry_after);
		resp_detail(k->rs, 429, "Too many verification emails requested, try again later");
		resp_header(k->rs, "Retry-After", ra);
		return;
	}
	if (api_tx(k, resend_step, NULL) != STORE_OK)
		return;
	outbox_notify();
	resp_json(k->rs, 202, json_pack("{s:s}", "detail", "Verification email sent"));
}

/* ---- POST /api/v1/auth/password/forgot ---- */

struct forgot {
	const char *email; /* normalised */
	struct user u;
	bool known; /* an active account that gets a link */
};

static enum store_rc forgot_step(struct call *k, void *arg)
{
	const struct config *cfg = k->r->app->cfg;
	struct forgot *x = arg;
	char expires[32];
	enum store_rc rc = STORE_OK;

	duration_text(cfg->password_reset_expire_minutes, "minute", expires);
	if (x->known) {
		rc = issue_and_mail(k, &x->u, ONETIME_PASSWORD_RESET,
		                    (int64_t)cfg->password_reset_expire_minutes * 60,
		                    MAIL_PASSWORD_RESET, "/reset-password", expires);
	} else {
		/* The same work for an unknown address: a token and an email nobody gets. */
		struct mail_content m;
		char token[TOKEN_RANDOM_LEN + 1] = "", hash[STORE_TOKHASH_LEN], *link;

		if (token_random(token) == 0)
			api_token_hash(k->r, token, hash);
		link = mail_link(cfg->frontend_url, "/reset-password", token);
		mail_render(cfg->email_templates_dir, MAIL_PASSWORD_RESET,
		            &(struct mail_vars){cfg->app_name, link, x->email, expires, x->email},
		            &m);
		mail_content_free(&m);
		free(link);
		explicit_bzero(token, sizeof(token));
	}
	if (rc == STORE_OK)
		api_audit(k, "password_reset_requested", x->known ? x->u.id : NULL,
		          x->known ? NULL
		                   : "no email sent (unknown, disabled or throttled account)");
	return rc;
}

void api_password_forgot(struct call *k)
{
	struct forgot x = {0};
	const char *email;
	char norm[STORE_EMAIL_LEN];
	int retry_after = 0;
	enum store_rc rc;

	if (!call_body(k))
		return;
	email = call_str(k, "email", true);
	if (email && !api_email_normalize(email, norm))
		verr_add(&k->v, "body", "email", "value is not a valid email address",
		         "value_error");
	if (call_invalid(k) || !call_db(k))
		return;
	x.email = norm;
	rc = store_user_by_email(k->db, norm, &x.u);
	if (rc < 0) {
		api_store_failed(k->rs, rc);
		return;
	}
	x.known = rc == STORE_OK && x.u.is_active;
	if (x.known && mail_throttled(k->r, ONETIME_PASSWORD_RESET, x.u.id, &retry_after)) {
		log_msg(LOG_WARNING, k->r->request_id,
		        "password reset for user %s throttled: more than %d emails this hour",
		        x.u.id, MAIL_PER_HOUR);
		x.known = false;
	}
	if (api_tx(k, forgot_step, &x) != STORE_OK)
		return;
	if (x.known)
		outbox_notify();
	resp_json(k->rs, 202, json_pack("{s:s}", "detail", FORGOT_DETAIL));
}

/* ---- POST /api/v1/auth/password/reset ---- */

struct reset {
	char hash[STORE_TOKHASH_LEN];
	char pwhash[PASSWORD_HASH_MAX];
};

static enum store_rc reset_step(struct call *k, void *arg)
{
	struct reset *x = arg;
	char user_id[STORE_ID_LEN];
	struct user u;
	int64_t now = api_now();
	enum store_rc rc;

	rc = store_onetime_consume(k->db, x->hash, ONETIME_PASSWORD_RESET, now, user_id);
	if (rc == STORE_OK)
		rc = store_user_lock(k->db, user_id, &u);
	if (rc == STORE_NOT_FOUND || (rc == STORE_OK && !u.is_active)) {
		resp_detail(k->rs, 400, INVALID_TOKEN);
		return STORE_NOT_FOUND;
	}
	if (rc == STORE_OK)
		rc = store_user_set_password(k->db, user_id, x->pwhash, now, &u);
	if (rc == STORE_OK && !u.is_verified) /* the reset link reached this address */
		rc = store_user_set_flags(k->db, user_id, -1, 1, now, &u);
	if (rc == STORE_OK)
		rc = store_session_revoke_all(k->db, user_id, NULL, now);
	if (rc == STORE_NOT_FOUND)
		rc = STORE_OK;
	if (rc == STORE_OK)
		rc = enqueue_password_changed(k, &u);
	if (rc == STORE_NOT_FOUND)
		rc = STORE_ERROR; /* the row was locked: not an outcome of the request */
	if (rc != STORE_OK)
		return rc;
	/* Fail closed: without the revocation the reset does not happen. */
	if (api_revoke_user_tokens(k->r, user_id, now) != 0) {
		api_unavailable(k->rs, "Revocation store unavailable, retry later");
		return STORE_UNAVAILABLE;
	}
	api_audit(k, "password_reset", user_id, NULL);
	return STORE_OK;
}

void api_password_reset(struct call *k)
{
	const struct config *cfg = k->r->app->cfg;
	struct reset x = {0};
	const char *token, *pw;

	if (!call_body(k))
		return;
	token = token_field(k);
	pw = call_str(k, "new_password", true);
	if (pw)
		api_password_valid(k->r, "new_password", pw, &k->v);
	if (call_invalid(k))
		return;
	if (!token[0]) {
		resp_detail(k->rs, 400, INVALID_TOKEN);
		return;
	}
	/* bcrypt before the transaction: no write lock is held while it runs. */
	if (password_hash(pw, cfg->password_bcrypt_rounds, x.pwhash) != 0 ||
	    strlen(x.pwhash) >= STORE_HASH_LEN) {
		api_internal_error(k->rs);
		goto out;
	}
	api_token_hash(k->r, token, x.hash);
	if (api_tx(k, reset_step, &x) != STORE_OK)
		goto out;
	outbox_notify();
	resp_empty(k->rs, 204);
out:
	explicit_bzero(&x, sizeof(x));
}

/* ---- POST /api/v1/auth/password/change ---- */

struct change {
	char pwhash[PASSWORD_HASH_MAX];
};

static enum store_rc change_step(struct call *k, void *arg)
{
	const struct principal *p = k->p;
	struct change *x = arg;
	struct user u;
	int64_t now = api_now();
	enum store_rc rc;

	/* Locked and re-read: the hash we verified must still be the current one. */
	rc = store_user_lock(k->db, p->user.id, &u);
	if (rc == STORE_OK && strcmp(u.password_hash, p->user.password_hash) != 0) {
		/* Changed by a concurrent request since we checked it. */
		resp_detail(k->rs, 400, "Incorrect password");
		return STORE_CONFLICT;
	}
	if (rc == STORE_OK)
		rc = store_user_set_password(k->db, u.id, x->pwhash, now, &u);
	if (rc == STORE_OK)
		rc = store_session_revoke_all(k->db, u.id, p->session.id, now);
	if (rc == STORE_NOT_FOUND) /* no other session: nothing to revoke */
		rc = STORE_OK;
	if (rc == STORE_OK)
		rc = enqueue_password_changed(k, &u);
	if (rc == STORE_NOT_FOUND)
		rc = STORE_ERROR;
	if (rc == STORE_OK)
		api_audit(k, "password_changed", u.id, NULL);
	return rc;
}

void api_password_change(struct call *k)
{
	const struct config *cfg = k->r->app->cfg;
	struct change x = {0};
	const char *current, *pw;

	if (!call_body(k))
		return;
	current = call_str(k, "current_password", true);
	pw = call_str(k, "new_password", true);
	if (pw)
		api_password_valid(k->r, "new_password", pw, &k->v);
	if (call_invalid(k))
		return;
	if (!api_current_password_ok(k, current)) {
		if (k->rs->status == 400)
			api_audit(k, "password_change_failed", k->p->user.id,
			          "wrong current password");
		return;
	}
	if (password_hash(pw, cfg->password_bcrypt_rounds, x.pwhash) != 0 ||
	    strlen(x.pwhash) >= STORE_HASH_LEN) {
		api_internal_error(k->rs);
		goto out;
	}
	if (api_tx(k, change_step, &x) != STORE_OK)
		goto out;
	outbox_notify();
	resp_empty(k->rs, 204);
out:
	explicit_bzero(&x, sizeof(x));
}
