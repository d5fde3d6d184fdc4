/*
 * api/api.h - the HTTP API: the route table, its handlers, and the helpers
 * they share (api/common.c, api/authn.c).
 *
 * One file per resource (health.c, wellknown.c, auth.c, users.c, admin.c,
 * oauth.c).  Handlers only see struct req / struct resp (http/http.h) and
 * reach storage, keys and caches through req->app; nothing here knows
 * about libmicrohttpd.
 */
#ifndef AUTH_API_H
#define AUTH_API_H

#include <jansson.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "http/json.h"
#include "http/router.h"
#include "store/store.h"

/* The service's routes, in the order /openapi.json lists them. */
extern const struct route api_routes[];
extern const size_t api_routes_count;

/* ---- handlers ---- */

/* health.c */
void api_health(struct req *r, struct resp *rs);
void api_ready(struct req *r, struct resp *rs);
void api_metrics(struct req *r, struct resp *rs);
/* wellknown.c */
void api_jwks(struct req *r, struct resp *rs);
void api_openid_configuration(struct req *r, struct resp *rs);
/* openapi.c */
void api_openapi(struct req *r, struct resp *rs);
/* auth.c */
void api_register(struct req *r, struct resp *rs);
void api_login(struct req *r, struct resp *rs);
void api_refresh(struct req *r, struct resp *rs);
void api_logout(struct req *r, struct resp *rs);
void api_logout_all(struct req *r, struct resp *rs);
void api_sessions_list(struct req *r, struct resp *rs);
void api_session_delete(struct req *r, struct resp *rs);
/* users.c */
void api_me_get(struct req *r, struct resp *rs);
void api_me_patch(struct req *r, struct resp *rs);
void api_me_delete(struct req *r, struct resp *rs);
/* admin.c */
void api_admin_users_list(struct req *r, struct resp *rs);
void api_admin_user_get(struct req *r, struct resp *rs);
void api_admin_user_patch(struct req *r, struct resp *rs);
void api_admin_user_delete(struct req *r, struct resp *rs);
/* oauth.c */
void api_oauth_token(struct req *r, struct resp *rs);
void api_oauth_revoke(struct req *r, struct resp *rs);
/* account.c: email verification, password reset and change (docs/email.md) */
void api_verify_email(struct req *r, struct resp *rs);
void api_verify_email_resend(struct req *r, struct resp *rs);
void api_password_forgot(struct req *r, struct resp *rs);
void api_password_reset(struct req *r, struct resp *rs);
void api_password_change(struct req *r, struct resp *rs);
/*
 * Mint an email-verification token for u and enqueue its email, inside the
 * caller's open transaction (register calls it right before committing).
 */
enum store_rc account_enqueue_verification(struct req *r, struct store_conn *c,
                                           const struct user *u);
/*
 * REGISTER_SILENT: register met an already registered email.  Tell its
 * owner by email (at most MAIL_PER_HOUR times an hour) in a transaction of
 * its own; the caller then answers exactly as for a new account.
 */
enum store_rc account_register_existing(struct req *r, struct store_conn *c, const char *email);

/* ---- shared helpers (common.c) ---- */

int64_t api_now(void);
/* "2026-11-29T07:00:00Z" */
void api_iso_time(int64_t t, char out[32]);
/* The public representation of a user. */
json_t *api_user_json(const struct user *u);
/* roles "user,admin" -> ["user","admin"] */
json_t *api_roles_json(const char *csv);
bool api_has_role(const char *csv, const char *role);

/* Trim, lower-case and check an email address; false when it is not one. */
bool api_email_normalize(const char *in, char out[STORE_EMAIL_LEN]);

/* Borrow a database connection or answer 503 + Retry-After (returns NULL). */
struct store_conn *api_db(struct req *r, struct resp *rs);
void api_db_done(struct req *r, struct store_conn *c);
/* Answer a storage failure: 503 + Retry-After when unavailable, else 500. */
void api_store_failed(struct resp *rs, enum store_rc rc);
void api_unavailable(struct resp *rs, const char *detail);

/* Record an audit event (failures are logged, never fatal to the request). */
void api_audit(struct req *r, struct store_conn *c, const char *event, const char *user_id,
               const char *detail);

/* Copy a header value safe for storage (printable ASCII, bounded). */
void api_user_agent(const struct req *r, char out[STORE_UA_LEN]);

/*
 * Sign u in: one transaction creates the session and its first refresh
 * token and records the audit event; then answer 200 with a token pair.
 * Returns false (rs answered) on a storage failure.
 */
bool api_issue_session(struct req *r, struct resp *rs, struct store_conn *c, const struct user *u);

/*
 * Mint an access token + the given refresh token into a JSON token
 * response with no-store headers.
 */
void api_token_response(struct req *r, struct resp *rs, const struct user *u,
                        const char *session_id, const char *refresh_token, int64_t refresh_exp);

/* full_name rule: at most 255 bytes, no control characters. */
bool api_full_name_ok(const char *name);

/*
 * Revoke every access token of the user issued before now (logout-all,
 * password change/reset, disabling).  -1 when the revocation store is down.
 */
int api_revoke_user_tokens(struct req *r, const char *user_id, int64_t now);

/* HMAC(SECRET_KEY, token) in hex: how refresh and one-time tokens are stored. */
void api_token_hash(const struct req *r, const char *token, char out[STORE_TOKHASH_LEN]);

/* Check a new password against the configured rules; records the problem in v. */
bool api_password_valid(const struct req *r, const char *field, const char *pw, struct verr *v);

/* ---- rate limits (ratelimit.c): false means rs was answered (429 / 503) ---- */

bool api_rate_ip(struct req *r, struct resp *rs);
bool api_rate_login_allowed(struct req *r, struct resp *rs, const char *email);
void api_rate_login_failed(struct req *r, const char *email);
void api_rate_login_succeeded(struct req *r, const char *email);

/* ---- the two grants, shared by /auth and /oauth (auth.c) ---- */

enum grant_rc {
	GRANT_OK,              /* rs holds the 200 token response */
	GRANT_ANSWERED,        /* rs holds a 5xx (storage unavailable, ...) */
	GRANT_BAD_CREDENTIALS, /* unknown email or wrong password: same answer */
	GRANT_DISABLED,        /* correct password, account disabled */
	GRANT_UNVERIFIED,      /* correct password, email not verified (when required) */
	GRANT_BAD_REFRESH,     /* unknown, expired, revoked or reused refresh token */
};

enum grant_rc api_password_grant(struct req *r, struct resp *rs, const char *email,
                                 const char *password);
enum grant_rc api_refresh_grant(struct req *r, struct resp *rs, const char *refresh_token);

/* ---- authentication (authn.c) ---- */

struct principal {
	struct user user;
	struct session session;
	char jti[64];
	int64_t iat;
	int64_t exp;
};

/*
 * Authenticate the Bearer token of r: signature, claims, deny-list,
 * revocation time, user active, session active.  true with *p filled, or
 * false with rs answered (401 + WWW-Authenticate, or 503 when the
 * revocation store or database is unavailable).
 */
bool api_authenticate(struct req *r, struct resp *rs, struct store_conn *c, struct principal *p);

/*
 * Verify an access token string without the database (for /oauth/revoke).
 * Returns claims (caller decrefs) or NULL.
 */
json_t *api_verify_access_token(struct req *r, const char *token);

#endif
