/*
 * api/authn.c - Bearer authentication for the API's own endpoints.
 *
 * The dispatcher (dispatch.c) runs it for routes declared AUTH_USER or
 * AUTH_ADMIN, in two steps so that a flood of bad tokens never holds a
 * database connection: authn_token() needs none, authn_load() runs on a
 * connection borrowed only after the token passed.
 *
 * A resource server checks our tokens offline (signature + claims); this
 * service also knows about revocation, so its own endpoints check, in
 * order of cost: signature and claims (jws_verify), the deny-list and the
 * user's revoked-before time (one cache round trip), then the user and the
 * session in the database (active user, live session).  The session check
 * closes the gap the one-second resolution of `iat` leaves: a token
 * minted in the same second as a logout-all still dies with its session.
 * Unknown revocation state fails closed (503).
 */
#include <string.h>
#include <strings.h>

#include "api/api.h"
#include "app.h"
#include "auth/jws.h"
#include "cache/cache.h"
#include "config.h"
#include "log.h"

#define LEEWAY_SECONDS 60

static void unauthorized(struct resp *rs, bool token_sent)
{
	resp_detail(rs, 401, token_sent ? "Could not validate credentials" : "Not authenticated");
	resp_header(rs, "WWW-Authenticate",
	            token_sent ? "Bearer error=\"invalid_token\"" : "Bearer");
}

json_t *api_verify_access_token(struct req *r, const char *token)
{
	const struct config *cfg = r->app->cfg;
	const char *why = NULL;
	json_t *claims = NULL;

	if (jws_verify(r->app->keys, token, strlen(token), api_now(), LEEWAY_SECONDS,
	               cfg->jwt_issuer, cfg->jwt_audience, &claims, &why) != 0) {
		log_msg(LOG_DEBUG, r->request_id, "token refused: %s", why ? why : "?");
		return NULL;
	}
	return claims;
}

/* The token after "Bearer " (scheme case-insensitive), or NULL. */
static const char *bearer_token(const struct req *r)
{
	const char *h = req_header(r, "Authorization");

	if (!h || strncasecmp(h, "Bearer ", 7) != 0)
		return NULL;
	h += 7;
	while (*h == ' ')
		h++;
	return *h ? h : NULL;
}

bool authn_token(struct req *r, struct resp *rs, struct principal *p)
{
	const char *token = bearer_token(r);
	json_t *claims;
	const char *sub, *sid, *jti;
	bool denied = false, ok = false;
	int64_t revoked_before = 0;

	memset(p, 0, sizeof(*p));
	if (!token) {
		unauthorized(rs, req_header(r, "Authorization") != NULL);
		return false;
	}
	if (!(claims = api_verify_access_token(r, token))) {
		unauthorized(rs, true);
		return false;
	}
	sub = json_string_value(json_object_get(claims, "sub"));
	sid = json_string_value(json_object_get(claims, "sid"));
	jti = json_string_value(json_object_get(claims, "jti"));
	if (!sub || !sid || !jti || strlen(jti) >= sizeof(p->jti) ||
	    strlen(sub) >= sizeof(p->user.id) || strlen(sid) >= sizeof(p->session.id)) {
		unauthorized(rs, true);
		goto out;
	}
	snprintf(p->jti, sizeof(p->jti), "%s", jti);
	snprintf(p->user.id, sizeof(p->user.id), "%s", sub);
	snprintf(p->session.id, sizeof(p->session.id), "%s", sid);
	p->iat = json_integer_value(json_object_get(claims, "iat"));
	p->exp = json_integer_value(json_object_get(claims, "exp"));

	if (cache_token_state(r->app->cache, p->jti, p->user.id, api_now(), &denied,
	                      &revoked_before) != 0) {
		api_unavailable(rs, "Revocation store unavailable, retry later");
		goto out;
	}
	if (denied || (revoked_before && p->iat < revoked_before)) {
		unauthorized(rs, true);
		goto out;
	}
	ok = true;
out:
	json_decref(claims);
	return ok;
}

bool authn_load(struct resp *rs, struct store_conn *c, struct principal *p)
{
	char sub[STORE_ID_LEN], sid[STORE_ID_LEN];
	enum store_rc rc;

	/* The store zeroes its output records: copy the ids out first. */
	snprintf(sub, sizeof(sub), "%s", p->user.id);
	snprintf(sid, sizeof(sid), "%s", p->session.id);
	rc = store_user_by_id(c, sub, &p->user);
	if (rc == STORE_OK)
		rc = store_session_by_id(c, sid, &p->session);
	if (rc < 0) {
		api_store_failed(rs, rc);
		return false;
	}
	if (rc != STORE_OK || !p->user.is_active || p->session.revoked_at != 0 ||
	    p->session.expires_at <= api_now() || strcmp(p->session.user_id, p->user.id) != 0) {
		unauthorized(rs, true);
		return false;
	}
	return true;
}
