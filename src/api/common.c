/*
 * api/common.c - helpers shared by the handlers: time formatting, the user
 * representation, email normalisation, the failure answers, audit events,
 * and issuing token pairs.
 */
#include <ctype.h>
#include <stdio.h>
#include <string.h>
#include <time.h>

#include "api/api.h"
#include "app.h"
#include "auth/keys.h"
#include "auth/roles.h"
#include "cache/cache.h"
#include "auth/password.h"
#include "auth/tokens.h"
#include "config.h"
#include "log.h"

int64_t api_now(void)
{
	return (int64_t)time(NULL);
}

void api_iso_time(int64_t t, char out[32])
{
	time_t tt = (time_t)t;
	struct tm tm;

	gmtime_r(&tt, &tm);
	strftime(out, 32, "%Y-%m-%dT%H:%M:%SZ", &tm);
}

json_t *api_user_json(const struct user *u)
{
	json_t *o = json_object();
	char created[32], updated[32];

	api_iso_time(u->created_at, created);
	api_iso_time(u->updated_at, updated);
	json_object_set_new(o, "id", json_string(u->id));
	json_object_set_new(o, "email", json_string(u->email));
	json_object_set_new(o, "full_name",
	                    u->has_full_name ? json_string(u->full_name) : json_null());
	json_object_set_new(o, "is_active", json_boolean(u->is_active));
	json_object_set_new(o, "is_verified", json_boolean(u->is_verified));
	json_object_set_new(o, "roles", roles_json(u->roles));
	json_object_set_new(o, "created_at", json_string(created));
	json_object_set_new(o, "updated_at", json_string(updated));
	return o;
}

/*
 * A pragmatic address check (the one a signup form needs, not RFC 5322's
 * full grammar): local@domain, ASCII, no spaces or control characters,
 * local part <= 64, total <= 254, domain of dot-separated labels of
 * letters, digits and hyphens with at least one dot.
 */
bool api_email_normalize(const char *in, char out[STORE_EMAIL_LEN])
{
	const char *start = in, *end, *at = NULL, *p;
	size_t len, i, label = 0;
	bool dot = false;

	while (*start && isspace((unsigned char)*start))
		start++;
	end = start + strlen(start);
	while (end > start && isspace((unsigned char)end[-1]))
		end--;
	len = (size_t)(end - start);
	if (len < 3 || len > 254)
		return false;
	for (p = start; p < end; p++) {
		unsigned char c = (unsigned char)*p;
		if (c <= 0x20 || c >= 0x7f || c == '"' || c == '(' || c == ')' || c == ',' ||
		    c == ':' || c == ';' || c == '<' || c == '>' || c == '[' || c == ']' ||
		    c == '\\')
			return false;
		if (c == '@') {
			if (at)
				return false;
			at = p;
		}
	}
	if (!at || at == start || at - start > 64 || at + 1 == end)
		return false;
	if (start[0] == '.' || at[-1] == '.')
		return false;
	for (p = start; p + 1 < at; p++)
		if (p[0] == '.' && p[1] == '.')
			return false;
	for (p = at + 1; p < end; p++) {
		unsigned char c = (unsigned char)*p;
		if (c == '.') {
			if (label == 0 || p[-1] == '-')
				return false;
			dot = true;
			label = 0;
		} else if (isalnum(c) || (c == '-' && label > 0)) {
			if (++label > 63)
				return false;
		} else {
			return false;
		}
	}
	if (!dot || label == 0 || end[-1] == '-')
		return false;
	for (i = 0; i < len; i++)
		out[i] = (char)tolower((unsigned char)start[i]);
	out[len] = '\0';
	return true;
}

void api_unavailable(struct resp *rs, const char *detail)
{
	resp_detail(rs, 503, detail);
	resp_header(rs, "Retry-After", "1");
}

void api_internal_error(struct resp *rs)
{
	resp_detail(rs, 500, "Internal Server Error");
}

void api_store_failed(struct resp *rs, enum store_rc rc)
{
	if (rc == STORE_UNAVAILABLE)
		api_unavailable(rs, "Database unavailable, retry later");
	else
		api_internal_error(rs);
}

void api_user_agent(const struct req *r, char out[STORE_UA_LEN])
{
	const char *ua = req_header(r, "User-Agent");
	size_t i = 0;

	if (ua)
		for (; ua[i] && i < STORE_UA_LEN - 1; i++)
			out[i] = (ua[i] >= 0x20 && ua[i] < 0x7f) ? ua[i] : '?';
	out[i] = '\0';
}

void api_audit(struct call *k, const char *event, const char *user_id, const char *detail)
{
	struct req *r = k->r;
	char ua[STORE_UA_LEN];

	api_user_agent(r, ua);
	if (!k->db ||
	    store_audit(k->db, event, user_id, r->client_ip, ua, detail, api_now()) != STORE_OK)
		log_msg(LOG_ERROR, r->request_id, "audit: cannot record %s", event);
	else
		log_msg(LOG_INFO, r->request_id, "audit: %s user=%s client=%s", event,
		        user_id ? user_id : "-", r->client_ip);
}

bool api_password_valid(const struct req *r, const char *field, const char *pw, struct verr *v)
{
	const char *why = NULL;

	if (password_check(pw, strlen(pw), r->app->cfg->password_min_length, &why) == 0)
		return true;
	verr_add(v, "body", field, why, "value_error");
	return false;
}

bool api_current_password_ok(struct call *k, const char *password)
{
	const char *email = k->p->user.email;

	if (!api_rate_login_allowed(k->r, k->rs, email))
		return false;
	if (password_verify(password, k->p->user.password_hash) == 1)
		return true;
	api_rate_login_failed(k->r, email);
	resp_detail(k->rs, 400, "Incorrect password");
	return false;
}

void api_token_response(struct req *r, struct resp *rs, const struct user *u,
                        const char *session_id, const char *refresh_token, int64_t refresh_exp)
{
	const struct config *cfg = r->app->cfg;
	int64_t now = api_now(), exp = 0;
	char jti[37];
	char *at = access_token_issue(r->app->keys, cfg, u->id, session_id, u->email,
	                              u->is_verified, u->roles, now, jti, &exp);
	json_t *body;

	if (!at) {
		log_msg(LOG_ERROR, r->request_id, "cannot sign access token");
		resp_detail(rs, 500, "Internal Server Error");
		return;
	}
	body = json_object();
	json_object_set_new(body, "access_token", json_string(at));
	json_object_set_new(body, "refresh_token", json_string(refresh_token));
	json_object_set_new(body, "token_type", json_string("bearer"));
	json_object_set_new(body, "expires_in", json_integer(exp - now));
	json_object_set_new(body, "refresh_expires_in", json_integer(refresh_exp - now));
	free(at);
	resp_json(rs, 200, body);
	resp_header(rs, "Cache-Control", "no-store");
	resp_header(rs, "Pragma", "no-cache");
}

struct new_session {
	const struct user *u;
	struct session s;
	struct refresh_token t;
};

static enum store_rc insert_session(struct call *k, void *arg)
{
	struct new_session *n = arg;
	enum store_rc rc;

	if ((rc = store_session_insert(k->db, &n->s)) == STORE_OK &&
	    (rc = store_refresh_insert(k->db, &n->t)) == STORE_OK)
		api_audit(k, "login_succeeded", n->u->id, NULL);
	return rc;
}

bool api_issue_session(struct call *k, const struct user *u)
{
	const struct config *cfg = k->r->app->cfg;
	struct new_session n = {.u = u};
	char token[44];
	int64_t now = api_now();

	if (uuid_v4(n.s.id) != 0 || token_random(token) != 0) {
		api_internal_error(k->rs);
		return false;
	}
	snprintf(n.s.user_id, sizeof(n.s.user_id), "%s", u->id);
	api_user_agent(k->r, n.s.user_agent);
	snprintf(n.s.ip, sizeof(n.s.ip), "%s", k->r->client_ip);
	n.s.created_at = n.s.last_used_at = now;
	n.s.expires_at = now + (int64_t)cfg->session_max_lifetime_days * 86400;

	api_token_hash(k->r, token, n.t.token_hash);
	snprintf(n.t.session_id, sizeof(n.t.session_id), "%s", n.s.id);
	snprintf(n.t.user_id, sizeof(n.t.user_id), "%s", u->id);
	n.t.issued_at = now;
	n.t.expires_at = now + (int64_t)cfg->refresh_token_expire_days * 86400;
	if (n.t.expires_at > n.s.expires_at)
		n.t.expires_at = n.s.expires_at;

	if (api_tx(k, insert_session, &n) != STORE_OK)
		return false;
	api_token_response(k->r, k->rs, u, n.s.id, token, n.t.expires_at);
	return true;
}

bool api_full_name_ok(const char *name)
{
	size_t n = strlen(name), i;

	if (n >= STORE_NAME_LEN)
		return false;
	for (i = 0; i < n; i++)
		if ((unsigned char)name[i] < 0x20 || name[i] == 0x7f)
			return false;
	return true;
}

int api_revoke_user_tokens(struct req *r, const char *user_id, int64_t now)
{
	/* Long enough to outlive every access token issued before now. */
	int64_t ttl = (int64_t)r->app->cfg->access_token_expire_minutes * 60 + 120;

	return cache_revoke_user_before(r->app->cache, user_id, now, ttl, now);
}

void api_token_hash(const struct req *r, const char *token, char out[STORE_TOKHASH_LEN])
{
	size_t len = 0;
	const unsigned char *secret = keys_secret(r->app->keys, &len);

	token_hash(secret, len, token, out);
}
