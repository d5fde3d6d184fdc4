/*
 * api/oauth.c - OAuth 2.0 endpoints for standard clients.
 *
 * /oauth/token (RFC 6749): the password and refresh_token grants for
 * public clients (no client authentication; client_id accepted and
 * ignored), form-encoded, with section 5.1 success and section 5.2 error
 * bodies.  /oauth/revoke (RFC 7009): revokes a refresh token (its whole
 * session) or an access token (deny-listed until it expires), and answers
 * 200 whether or not the token was valid, so it reveals nothing.
 */
#include <string.h>

#include "api/api.h"
#include "app.h"
#include "cache/cache.h"
#include "http/form.h"

static void oauth_error(struct resp *rs, int status, const char *error, const char *description)
{
	json_t *o = json_object();

	json_object_set_new(o, "error", json_string(error));
	json_object_set_new(o, "error_description", json_string(description));
	resp_json(rs, status, o);
	resp_header(rs, "Cache-Control", "no-store");
	resp_header(rs, "Pragma", "no-cache");
}

/* Decode the form body, or answer invalid_request. */
static bool oauth_form(struct req *r, struct resp *rs, struct form *f)
{
	const char *why = "request body must be application/x-www-form-urlencoded";

	if (!form_is_form_type(req_header(r, "Content-Type")) ||
	    form_parse(r->arena, r->body, r->body_len, f, &why) != 0) {
		oauth_error(rs, 400, "invalid_request", why);
		return false;
	}
	return true;
}

void api_oauth_token(struct call *k)
{
	struct resp *rs = k->rs;
	struct form f;
	const char *grant, *a, *b;
	enum grant_rc grc;

	if (!oauth_form(k->r, rs, &f))
		return;
	grant = form_get(&f, "grant_type");
	if (!grant) {
		oauth_error(rs, 400, "invalid_request", "grant_type is required");
		return;
	}
	if (strcmp(grant, "password") == 0) {
		a = form_get(&f, "username");
		b = form_get(&f, "password");
		if (!a || !b) {
			oauth_error(rs, 400, "invalid_request",
			            "username and password are required");
			return;
		}
		grc = api_password_grant(k, a, b);
	} else if (strcmp(grant, "refresh_token") == 0) {
		a = form_get(&f, "refresh_token");
		if (!a) {
			oauth_error(rs, 400, "invalid_request", "refresh_token is required");
			return;
		}
		grc = api_refresh_grant(k, a);
	} else {
		oauth_error(rs, 400, "unsupported_grant_type",
		            "supported grant types: password, refresh_token");
		return;
	}
	switch (grc) {
	case GRANT_OK:
	case GRANT_ANSWERED:
		break;
	case GRANT_DISABLED:
		oauth_error(rs, 400, "invalid_grant", "Account disabled");
		break;
	case GRANT_UNVERIFIED:
		oauth_error(rs, 400, "invalid_grant", "Email not verified");
		break;
	case GRANT_BAD_REFRESH:
		oauth_error(rs, 400, "invalid_grant", "Invalid or expired refresh token");
		break;
	default:
		oauth_error(rs, 400, "invalid_grant", "Incorrect email or password");
		break;
	}
}

/* Revoke a refresh token's session; false when it is not one of ours. */
static bool revoke_refresh(struct call *k, const char *token)
{
	char hash[STORE_TOKHASH_LEN];
	struct refresh_token t;

	if (strlen(token) > 256)
		return false;
	api_token_hash(k->r, token, hash);
	if (store_refresh_by_hash(k->db, hash, &t) != STORE_OK)
		return false;
	if (store_session_revoke(k->db, t.session_id, t.user_id, api_now()) == STORE_OK)
		api_audit(k, "token_revoked", t.user_id, t.session_id);
	return true;
}

/* Deny-list an access token; -1 when the revocation store is down. */
static int revoke_access(struct req *r, const char *token)
{
	json_t *claims = api_verify_access_token(r, token);
	const char *jti;
	int rc = 0;

	if (!claims)
		return 0;
	jti = json_string_value(json_object_get(claims, "jti"));
	if (jti)
		rc = cache_deny_jti(r->app->cache, jti,
		                    json_integer_value(json_object_get(claims, "exp")), api_now());
	json_decref(claims);
	return rc;
}

void api_oauth_revoke(struct call *k)
{
	struct req *r = k->r;
	struct resp *rs = k->rs;
	struct form f;
	const char *token;

	if (!oauth_form(r, rs, &f))
		return;
	token = form_get(&f, "token");
	if (!token) {
		oauth_error(rs, 400, "invalid_request", "token is required");
		return;
	}
	/*
	 * The hint only orders the search (RFC 7009 2.1): an access token is a
	 * JWS (it has dots), a refresh token never does, so each kind is tried
	 * where it can match and a wrong hint changes nothing.
	 */
	(void)form_get(&f, "token_type_hint");
	if (strchr(token, '.')) {
		if (revoke_access(r, token) != 0) {
			api_unavailable(rs, "Revocation store unavailable, retry later");
			return;
		}
	} else {
		if (!call_db(k))
			return;
		revoke_refresh(k, token);
	}
	resp_empty(rs, 200);
	resp_header(rs, "Cache-Control", "no-store");
}
