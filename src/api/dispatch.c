/*
 * api/dispatch.c - from a matched route to its endpoint, in one place.
 *
 * Every pooled route of the table (routes.c) names api_dispatch as its
 * http handler and a struct endpoint as its ctx: the handler function, who
 * may call it (enum api_auth) and which rate limit it counts toward (enum
 * api_rate).  The dispatcher applies that policy in order of cost:
 *
 *   1. the rate limit (one cache round trip);
 *   2. for AUTH_USER / AUTH_ADMIN: the token's signature and claims and
 *      the revocation store (authn_token, no database), then a database
 *      connection and the user + session rows (authn_load), then the admin
 *      role;
 *   3. the endpoint, with a struct call holding the principal, the
 *      connection (public endpoints borrow one with call_db() when they
 *      get that far), the decoded body and the validation errors;
 *   4. one cleanup: connection back to the pool, body and errors freed.
 *
 * So no handler repeats a prologue, and a flood of bad tokens costs CPU
 * and a cache lookup but never holds a database connection.  api_tx() is
 * the one begin / step / commit helper with a single error exit.
 */
#include <stdlib.h>
#include <string.h>

#include "api/api.h"
#include "app.h"
#include "auth/roles.h"
#include "log.h"

struct store_conn *call_db(struct call *k)
{
	if (!k->db && !(k->db = store_acquire(k->r->app->store)))
		api_unavailable(k->rs, "Database unavailable, retry later");
	return k->db;
}

void call_db_done(struct call *k)
{
	if (k->db)
		store_release(k->r->app->store, k->db);
	k->db = NULL;
}

json_t *call_body(struct call *k)
{
	if (!k->body)
		k->body = req_json(k->r, k->rs);
	return k->body;
}

const char *call_str(struct call *k, const char *field, bool required)
{
	return json_field_str(k->body, field, required, &k->v);
}

bool call_invalid(struct call *k)
{
	if (verr_any(&k->v)) {
		verr_respond(&k->v, k->rs);
		return true;
	}
	if (k->ep->rate == RATE_IP_VALID && !k->rate_counted) {
		k->rate_counted = true;
		return !api_rate_ip(k->r, k->rs);
	}
	return false;
}

enum store_rc api_tx(struct call *k, api_step step, void *arg)
{
	struct store_conn *c = call_db(k);
	enum store_rc rc;

	if (!c)
		return STORE_UNAVAILABLE; /* answered */
	if ((rc = store_begin(c)) == STORE_OK && (rc = step(k, arg)) == STORE_OK &&
	    (rc = store_commit(c)) != STORE_OK)
		resp_reset(k->rs); /* whatever the step answered did not happen */
	if (rc == STORE_OK)
		return rc;
	store_rollback(c);
	if (k->rs->status != 0)
		return rc;
	switch (rc) {
	case STORE_NOT_FOUND:
		resp_detail(k->rs, 404, "Not Found");
		break;
	case STORE_CONFLICT:
		resp_detail(k->rs, 409, "Conflict");
		break;
	default:
		api_store_failed(k->rs, rc);
		break;
	}
	return rc;
}

/* The policy checks before the endpoint; false when rs was answered. */
static bool admit(struct call *k, const struct endpoint *ep, struct principal *p)
{
	if (ep->rate == RATE_IP && !api_rate_ip(k->r, k->rs))
		return false;
	if (ep->auth == AUTH_NONE)
		return true;
	if (!authn_token(k->r, k->rs, p) || !call_db(k) || !authn_load(k->rs, k->db, p))
		return false;
	if (ep->auth == AUTH_ADMIN && !roles_has(p->user.roles, "admin")) {
		resp_detail(k->rs, 403, "Admin privileges required");
		return false;
	}
	k->p = p;
	return true;
}

/*
 * {"detail": "..."} -> {"error": ..., "error_description": "..."} for a
 * route whose clients expect RFC 6749 errors.  RFC 6749 names no code for
 * an overloaded or failing token endpoint; the authorization endpoint's
 * temporarily_unavailable and server_error (4.1.2.1) are what OAuth
 * libraries understand.
 */
static void oauth_shape(struct resp *rs)
{
	json_t *doc, *detail, *o;
	const char *code;

	if (rs->status < 400 || !rs->body)
		return;
	doc = json_loadb(rs->body, rs->body_len, 0, NULL);
	detail = json_object_get(doc, "detail");
	if (json_is_string(detail) && !json_object_get(doc, "error")) {
		code = rs->status == 500                        ? "server_error"
		       : rs->status == 429 || rs->status == 503 ? "temporarily_unavailable"
		                                                : "invalid_request";
		o = json_pack("{s:s,s:O}", "error", code, "error_description", detail);
		json_decref(doc);
		free(rs->body);
		rs->body = json_dumps(o, JSON_COMPACT);
		rs->body_len = rs->body ? strlen(rs->body) : 0;
		json_decref(o);
		return;
	}
	json_decref(doc);
}

void api_dispatch(struct req *r, struct resp *rs)
{
	const struct endpoint *ep = r->route_ctx;
	struct principal p;
	struct call k = {.ep = ep, .r = r, .rs = rs};

	if (!ep || !ep->fn) {
		log_msg(LOG_ERROR, r->request_id, "route %s has no endpoint", r->route);
		api_internal_error(rs);
		return;
	}
	if (admit(&k, ep, &p))
		ep->fn(&k);
	if (ep->oauth_errors)
		oauth_shape(rs);
	call_db_done(&k);
	json_decref(k.body);
	verr_free(&k.v);
}
