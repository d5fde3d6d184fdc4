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
	if (!verr_any(&k->v))
		return false;
	verr_respond(&k->v, k->rs);
	return true;
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

void api_dispatch(struct req *r, struct resp *rs)
{
	const struct endpoint *ep = r->route_ctx;
	struct principal p;
	struct call k = {.r = r, .rs = rs};

	if (!ep || !ep->fn) {
		log_msg(LOG_ERROR, r->request_id, "route %s has no endpoint", r->route);
		api_internal_error(rs);
		return;
	}
	if (admit(&k, ep, &p))
		ep->fn(&k);
	call_db_done(&k);
	json_decref(k.body);
	verr_free(&k.v);
}
