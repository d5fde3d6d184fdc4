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

/* ---- the route table's policy and the dispatcher (dispatch.c) ---- */

/* Who may call a route.  The dispatcher checks it before the handler runs. */
enum api_auth {
	AUTH_NONE,  /* public */
	AUTH_USER,  /* a valid, unrevoked access token of an active user, live session */
	AUTH_ADMIN, /* AUTH_USER whose user has the role "admin" (else 403) */
};

/* Which request-rate limit a route counts toward (ratelimit.c). */
enum api_rate {
	RATE_NONE,
	RATE_IP, /* RATE_LIMIT_IP_PER_MINUTE: the credential endpoints */
	/* RATE_IP, counted once the body is valid (the first call_invalid() that
	 * finds no error): a malformed request never creates a counter. */
	RATE_IP_VALID,
};

struct principal;
struct call;

/* An endpoint handler: sees only validated policy (auth, rate) and the call. */
typedef void (*api_fn)(struct call *k);

/* The policy of one route: struct route.ctx of every dispatched route. */
struct endpoint {
	api_fn fn;
	enum api_auth auth;
	enum api_rate rate;
	/* Errors in the RFC 6749 5.2 shape {"error", "error_description"}, also the
	 * dispatcher's own (429, 503) and the 500s: /oauth/token. */
	bool oauth_errors;
};

/*
 * One request on its way through a handler.  Everything here is owned by
 * the dispatcher and released by it when the handler returns: the
 * database connection (borrowed at most once, by call_db() or, on
 * authenticated routes, by the dispatcher after the token checks), the
 * decoded JSON body and the validation errors.
 */
struct call {
	const struct endpoint *ep;
	struct req *r;
	struct resp *rs;
	const struct principal *p; /* AUTH_USER / AUTH_ADMIN: the caller; else NULL */
	struct store_conn *db;     /* NULL until borrowed */
	json_t *body;              /* NULL until call_body() */
	struct verr v;             /* validation errors; call_invalid() answers them */
	bool rate_counted;         /* RATE_IP_VALID: counted */
};

/*
 * The http_handler of every route with an endpoint: rate limit, then
 * authentication (signature, claims and the revocation store first; a
 * database connection only once the token is good), then the endpoint.
 */
void api_dispatch(struct req *r, struct resp *rs);

/* The call's connection (borrowed on first use), or NULL with 503 answered. */
struct store_conn *call_db(struct call *k);
/* Give the connection back early (before slow work); call_db() borrows anew. */
void call_db_done(struct call *k);
/* The request body as a JSON object (decoded once), or NULL with 415/422 answered. */
json_t *call_body(struct call *k);
/* A string field of the body (see json_field_str); errors collect in k->v. */
const char *call_str(struct call *k, const char *field, bool required);
/*
 * True (and 422 answered) when validation errors were collected; on a
 * RATE_IP_VALID route the first call that finds none counts the request
 * (true with 429 / 503 answered when it is over the limit).
 */
bool call_invalid(struct call *k);

/*
 * One transaction with a single error exit: begin, step(k, arg), commit.
 * When the step returns anything but STORE_OK, or the commit fails, the
 * transaction is rolled back; a step that answered an outcome of its own
 * (400, 404 ...) keeps that answer, otherwise the result is answered here:
 * NOT_FOUND 404, CONFLICT 409, UNAVAILABLE 503 + Retry-After, ERROR 500.
 * A response set by a step whose commit then fails is replaced.  Returns
 * the result.
 */
typedef enum store_rc (*api_step)(struct call *k, void *arg);
enum store_rc api_tx(struct call *k, api_step step, void *arg);

/* ---- handlers ---- */

/* health.c (plain http handlers: inline or on the probe pool) */
void api_health(struct req *r, struct resp *rs);
void api_ready(struct req *r, struct resp *rs);
void api_metrics(struct req *r, struct resp *rs);
/* wellknown.c */
void api_jwks(struct req *r, struct resp *rs);
void api_openid_configuration(struct req *r, struct resp *rs);
/* openapi.c */
void api_openapi(struct req *r, struct resp *rs);
/* auth.c */
void api_register(struct call *k);
void api_login(struct call *k);
void api_refresh(struct call *k);
void api_logout(struct call *k);
void api_logout_all(struct call *k);
void api_sessions_list(struct call *k);
void api_session_delete(struct call *k);
/* users.c */
void api_me_get(struct call *k);
void api_me_patch(struct call *k);
void api_me_delete(struct call *k);
/* admin.c */
void api_admin_users_list(struct call *k);
void api_admin_user_get(struct call *k);
void api_admin_user_patch(struct call *k);
void api_admin_user_delete(struct call *k);
/* oauth.c */
void api_oauth_token(struct call *k);
void api_oauth_revoke(struct call *k);
/* account.c: email verification, password reset and change (docs/email.md) */
void api_verify_email(struct call *k);
void api_verify_email_resend(struct call *k);
void api_password_forgot(struct call *k);
void api_password_reset(struct call *k);
void api_password_change(struct call *k);
/*
 * Mint an email-verification token for u and enqueue its email, inside the
 * caller's open transaction (register calls it right before committing).
 */
enum store_rc account_enqueue_verification(struct call *k, const struct user *u);
/*
 * REGISTER_SILENT: register met an already registered email.  Tell its
 * owner by email (at most MAIL_PER_HOUR times an hour) in a transaction of
 * its own; the caller then answers exactly as for a new account.
 */
enum store_rc account_register_existing(struct call *k, const char *email);

/* ---- shared helpers (common.c) ---- */

int64_t api_now(void);
/* "2026-11-29T07:00:00Z" */
void api_iso_time(int64_t t, char out[32]);
/* The public representation of a user. */
json_t *api_user_json(const struct user *u);

/* Trim, lower-case and check an email address; false when it is not one. */
bool api_email_normalize(const char *in, char out[STORE_EMAIL_LEN]);

/* Answer a storage failure: 503 + Retry-After when unavailable, else 500. */
void api_store_failed(struct resp *rs, enum store_rc rc);
void api_unavailable(struct resp *rs, const char *detail);
void api_internal_error(struct resp *rs);

/*
 * Record an audit event on the call's connection (inside its transaction
 * when one is open).  Failures are logged, never fatal to the request.
 */
void api_audit(struct call *k, const char *event, const char *user_id, const char *detail);

/* Copy a header value safe for storage (printable ASCII, bounded). */
void api_user_agent(const struct req *r, char out[STORE_UA_LEN]);

/*
 * Sign u in: one transaction creates the session and its first refresh
 * token and records the audit event; then answer 200 with a token pair.
 * Returns false (rs answered) on a storage failure.
 */
bool api_issue_session(struct call *k, const struct user *u);

/*
 * Mint an access token + the given refresh token into a JSON token
 * response with no-store headers.
 */
void api_token_response(struct req *r, struct resp *rs, const struct user *u,
                        const char *session_id, const char *refresh_token, int64_t refresh_exp);

/*
 * The caller's current password (password/change, DELETE /users/me), under
 * the same per-address + account and per-account caps as login: a stolen
 * access token does not buy unlimited guesses.  False with 400 "Incorrect
 * password" (counted as a failed login) or 429 answered.
 */
bool api_current_password_ok(struct call *k, const char *password);

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

enum grant_rc api_password_grant(struct call *k, const char *email, const char *password);
enum grant_rc api_refresh_grant(struct call *k, const char *refresh_token);

/* ---- authentication (authn.c) ---- */

struct principal {
	struct user user;
	struct session session;
	char jti[64];
	int64_t iat;
	int64_t exp;
};

/*
 * The checks that need no database: a Bearer token with a good signature
 * and claims (jws_verify), not deny-listed, not issued before the user's
 * revocation time (one cache round trip).  true with p->jti, iat, exp,
 * user.id and session.id set; else false with rs answered (401 +
 * WWW-Authenticate, or 503 when the revocation store is unavailable).
 */
bool authn_token(struct req *r, struct resp *rs, struct principal *p);
/*
 * The rest, on a borrowed connection: the user exists and is active, the
 * session is the user's, not revoked, not past its absolute lifetime.
 */
bool authn_load(struct resp *rs, struct store_conn *c, struct principal *p);

/*
 * Verify an access token string without the database (for /oauth/revoke).
 * Returns claims (caller decrefs) or NULL.
 */
json_t *api_verify_access_token(struct req *r, const char *token);

#endif
