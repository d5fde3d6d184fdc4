/*
 * cache/backend.h - the vtable behind cache.h, one per implementation.
 */
#ifndef AUTH_CACHE_BACKEND_H
#define AUTH_CACHE_BACKEND_H

#include <stddef.h>

#include "cache/cache.h"

struct cache_backend {
	const char *kind;
	void (*close)(void *impl);
	int (*ping)(void *impl);
	/* set key = value until expires_at (absolute, seconds) */
	int (*set)(void *impl, const char *key, int64_t value, int64_t expires_at, int64_t now);
	/* read two keys at once; absent keys read as 0 */
	int (*get2)(void *impl, const char *k1, const char *k2, int64_t now, int64_t *v1,
	            int64_t *v2);
	/* atomically add one; a new key expires window seconds from now */
	int (*incr)(void *impl, const char *key, int window, int64_t now, int64_t *count,
	            int *reset_in);
	int (*peek)(void *impl, const char *key, int64_t now, int64_t *count, int *reset_in);
	int (*del)(void *impl, const char *key);
};

struct cache {
	const struct cache_backend *be;
	void *impl;
};

/* cache/memory.c: MAX_ENTRIES entries, or capacity (tests use small tables) */
void *memcache_create(void);
void *memcache_create_sized(size_t capacity);

/* What the in-process table has done, for tests and diagnostics. */
struct memcache_stats {
	size_t count;        /* entries now */
	size_t capacity;     /* entries at most */
	size_t max_examined; /* most entries one insert's sweep step examined */
	size_t reclaimed;    /* expired entries dropped */
	size_t refused;      /* inserts refused: the table was full of live entries */
};
void memcache_stats(void *impl, struct memcache_stats *out);
extern const struct cache_backend memcache_backend;

/*
 * cache/redis.c: NULL with a reason in err only when the configuration is
 * unusable; an unreachable Redis is not an error (operations fail closed).
 */
void *rediscache_create(const struct config *cfg, char *err, size_t errlen);
extern const struct cache_backend rediscache_backend;

#endif
