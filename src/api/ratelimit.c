/*
 * api/ratelimit.c - the rate limits of SPEC section 2, and one more.
 *
 * RATE_LIMIT_IP_PER_MINUTE counts every request to a credential endpoint
 * (login, register, password/forgot, verify-email/resend, /oauth/token)
 * per client address.  RATE_LIMIT_LOGIN_PER_MINUTE counts failed logins
 * per client address + account; it is checked before any bcrypt work, so a
 * credential-stuffing run is cut off cheaply, and cleared by a successful
 * login.  RATE_LIMIT_ACCOUNT_PER_HOUR counts failed logins per account
 * from every address (ASVS 2.2.1: a botnet spreading guesses over many
 * addresses still gets at most that many per hour); it is not cleared by
 * a success, so guesses cannot be "laundered" between the owner's logins.
 * Counters are fixed windows in the cache (Redis in production, so
 * replicas share them) and answer 429 with Retry-After.  When the cache
 * cannot be reached the request is refused with 503: the limits fail
 * closed like the revocation checks.
 */
#include <stdio.h>

#include "api/api.h"
#include "app.h"
#include "cache/cache.h"
#include "config.h"
#include "log.h"
#include "metrics.h"

#define WINDOW         60
#define ACCOUNT_WINDOW 3600

static void too_many(struct req *r, struct resp *rs, int reset_in, const char *detail)
{
	char secs[16];

	metrics_event(r->app->metrics, EV_RATE_LIMITED);
	snprintf(secs, sizeof(secs), "%d", reset_in > 0 ? reset_in : 1);
	resp_detail(rs, 429, detail);
	resp_header(rs, "Retry-After", secs);
}

bool api_rate_ip(struct req *r, struct resp *rs)
{
	char key[96];
	int64_t count = 0;
	int reset_in = 0;

	snprintf(key, sizeof(key), "ip:%s", r->client_bucket);
	if (cache_rate_hit(r->app->cache, key, WINDOW, api_now(), &count, &reset_in) != 0) {
		api_unavailable(rs, "Rate-limit store unavailable, retry later");
		return false;
	}
	if (count > r->app->cfg->rate_limit_ip_per_minute) {
		log_msg(LOG_WARNING, r->request_id, "rate limit: %s over %d requests/minute",
		        r->client_ip, r->app->cfg->rate_limit_ip_per_minute);
		too_many(r, rs, reset_in, "Too many requests, retry later");
		return false;
	}
	return true;
}

static void login_key(const struct req *r, const char *email, char *key, size_t len)
{
	snprintf(key, len, "login:%s:%s", r->client_bucket, email);
}

static void account_key(const char *email, char *key, size_t len)
{
	snprintf(key, len, "acct:%s", email);
}

bool api_rate_login_allowed(struct req *r, struct resp *rs, const char *email)
{
	const struct config *cfg = r->app->cfg;
	char key[STORE_EMAIL_LEN + 96], akey[STORE_EMAIL_LEN + 16];
	int64_t count = 0, acount = 0;
	int reset_in = 0, areset_in = 0;

	login_key(r, email, key, sizeof(key));
	account_key(email, akey, sizeof(akey));
	if (cache_rate_peek(r->app->cache, key, api_now(), &count, &reset_in) != 0 ||
	    cache_rate_peek(r->app->cache, akey, api_now(), &acount, &areset_in) != 0) {
		api_unavailable(rs, "Rate-limit store unavailable, retry later");
		return false;
	}
	if (count >= cfg->rate_limit_login_per_minute) {
		log_msg(LOG_WARNING, r->request_id, "rate limit: failed logins from %s",
		        r->client_ip);
		metrics_login(r->app->metrics, LOGIN_RATE_LIMITED);
		too_many(r, rs, reset_in, "Too many failed login attempts, retry later");
		return false;
	}
	if (acount >= cfg->rate_limit_account_per_hour) {
		/* No email in the log (personal data): its login_failed audit events name it. */
		log_msg(LOG_WARNING, r->request_id,
		        "rate limit: an account is over %d failed logins/hour (from all addresses)",
		        cfg->rate_limit_account_per_hour);
		metrics_login(r->app->metrics, LOGIN_RATE_LIMITED);
		too_many(r, rs, areset_in, "Too many failed login attempts, retry later");
		return false;
	}
	return true;
}

void api_rate_login_failed(struct req *r, const char *email)
{
	char key[STORE_EMAIL_LEN + 96];
	int64_t count;
	int reset_in;

	login_key(r, email, key, sizeof(key));
	cache_rate_hit(r->app->cache, key, WINDOW, api_now(), &count, &reset_in);
	account_key(email, key, sizeof(key));
	cache_rate_hit(r->app->cache, key, ACCOUNT_WINDOW, api_now(), &count, &reset_in);
}

void api_rate_login_succeeded(struct req *r, const char *email)
{
	char key[STORE_EMAIL_LEN + 96];

	login_key(r, email, key, sizeof(key));
	cache_rate_clear(r->app->cache, key);
}
