/*
 * app.h - the shared context every handler receives through req->app.
 *
 * Built once by `serve` before the listener opens and read-only afterwards,
 * apart from the members that are explicitly synchronised (atomics, the
 * store's own pool, the cache's own locks).
 */
#ifndef AUTH_APP_H
#define AUTH_APP_H

#include <stdatomic.h>
#include <time.h>

struct config;
struct store;
struct keys;
struct cache;
struct metrics;
struct workpool;

struct app {
	const struct config *cfg;
	struct store *store;
	struct keys *keys;   /* signing and verification keys (may be NULL before issue 3) */
	struct cache *cache; /* revocation + rate limits */
	struct metrics *metrics;
	struct workpool *pools[4]; /* indexed by enum route_pool; [POOL_INLINE] is NULL */
	atomic_bool shutting_down;
	time_t started_at;
};

#endif
