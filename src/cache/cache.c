/*
 * cache/cache.c - key naming and dispatch to the configured backend.
 *
 * Keys: "deny:<jti>", "rvk:<user id>", "rl:<limit>:<subject>".  The
 * meaning of each operation lives here once; backends only store integers
 * with expiry and count.
 */
#include "cache/cache.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <openssl/sha.h>

#include "arena.h"
#include "ascii.h"
#include "cache/backend.h"
#include "config.h"

#define KEY_MAX 256

/*
 * "rl:<key>", or "rl:#<SHA-256 of key in hex>" when that would not fit:
 * a long subject (rl:login:<address>:<a 320-byte email>) is never cut,
 * so two long keys never share one counter.
 */
static void rate_key(const char *key, char k[KEY_MAX])
{
	unsigned char md[32];

	if (strlen(key) + 3 < KEY_MAX) {
		snprintf(k, KEY_MAX, "rl:%s", key);
		return;
	}
	SHA256((const unsigned char *)key, strlen(key), md);
	memcpy(k, "rl:#", 4);
	ascii_hex_encode(md, sizeof(md), k + 4, false);
}

struct cache *cache_open(const struct config *cfg, char *err, size_t errlen)
{
	struct cache *c = xcalloc(1, sizeof(*c));

	if (cfg->redis_url) {
		c->be = &rediscache_backend;
		c->impl = rediscache_create(cfg, err, errlen);
		if (!c->impl) {
			free(c);
			return NULL;
		}
		return c;
	}
	c->be = &memcache_backend;
	c->impl = memcache_create();
	return c;
}

void cache_close(struct cache *c)
{
	if (!c)
		return;
	c->be->close(c->impl);
	free(c);
}

const char *cache_kind(const struct cache *c)
{
	return c->be->kind;
}

int cache_ping(struct cache *c)
{
	return c->be->ping(c->impl);
}

int cache_deny_jti(struct cache *c, const char *jti, int64_t exp, int64_t now)
{
	char key[KEY_MAX];

	if (exp <= now)
		return 0; /* already expired: nothing to remember */
	snprintf(key, sizeof(key), "deny:%s", jti);
	return c->be->set(c->impl, key, 1, exp, now);
}

int cache_revoke_user_before(struct cache *c, const char *user_id, int64_t t, int64_t ttl,
                             int64_t now)
{
	char key[KEY_MAX];

	snprintf(key, sizeof(key), "rvk:%s", user_id);
	return c->be->set(c->impl, key, t, now + ttl, now);
}

int cache_token_state(struct cache *c, const char *jti, const char *user_id, int64_t now,
                      bool *denied, int64_t *revoked_before)
{
	char k1[KEY_MAX], k2[KEY_MAX];
	int64_t v1 = 0, v2 = 0;

	snprintf(k1, sizeof(k1), "deny:%s", jti);
	snprintf(k2, sizeof(k2), "rvk:%s", user_id);
	if (c->be->get2(c->impl, k1, k2, now, &v1, &v2) != 0)
		return -1;
	*denied = v1 != 0;
	*revoked_before = v2;
	return 0;
}

int cache_rate_hit(struct cache *c, const char *key, int window, int64_t now, int64_t *count,
                   int *reset_in)
{
	char k[KEY_MAX];

	rate_key(key, k);
	return c->be->incr(c->impl, k, window, now, count, reset_in);
}

int cache_rate_peek(struct cache *c, const char *key, int64_t now, int64_t *count, int *reset_in)
{
	char k[KEY_MAX];

	rate_key(key, k);
	return c->be->peek(c->impl, k, now, count, reset_in);
}

int cache_rate_clear(struct cache *c, const char *key)
{
	char k[KEY_MAX];

	rate_key(key, k);
	return c->be->del(c->impl, k);
}
