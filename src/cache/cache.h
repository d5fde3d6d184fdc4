/*
 * cache/cache.h - the revocation and rate-limit store.
 *
 * What must be shared by every instance but need not be durable: the
 * deny-list of access-token ids (until the token would have expired
 * anyway), the per-user "tokens issued before T are revoked" time, and
 * rate-limit counters.  Two implementations: in-process (cache/memory.c,
 * valid for a single instance) and Redis (cache/redis.c).
 *
 * Every function returns 0 on success and -1 when the store cannot be
 * reached.  Callers fail closed on -1: a token whose revocation state is
 * unknown is refused (503), never accepted.
 */
#ifndef AUTH_CACHE_H
#define AUTH_CACHE_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

struct config;
struct cache;

struct cache *cache_open(const struct config *cfg, char *err, size_t errlen);
void cache_close(struct cache *c);
const char *cache_kind(const struct cache *c); /* "in-process" or "redis" */
int cache_ping(struct cache *c);

/* Deny-list a token id until `exp` (Unix seconds). */
int cache_deny_jti(struct cache *c, const char *jti, int64_t exp, int64_t now);

/* Revoke every token of user issued before `t`; kept for ttl seconds. */
int cache_revoke_user_before(struct cache *c, const char *user_id, int64_t t, int64_t ttl,
                             int64_t now);

/*
 * Both checks of an access token in one round trip: *denied when jti is
 * deny-listed; *revoked_before = the user's revocation time or 0.
 */
int cache_token_state(struct cache *c, const char *jti, const char *user_id, int64_t now,
                      bool *denied, int64_t *revoked_before);

/*
 * Fixed-window counter: add one hit to key and return the count in the
 * current window and the seconds until it resets.
 */
int cache_rate_hit(struct cache *c, const char *key, int window, int64_t now, int64_t *count,
                   int *reset_in);
/* Read without counting (0 when absent). */
int cache_rate_peek(struct cache *c, const char *key, int64_t now, int64_t *count, int *reset_in);
int cache_rate_clear(struct cache *c, const char *key);

#endif
