/*
 * cache/memory.c - the in-process cache backend.
 *
 * A chained hash table (FNV-1a) of key -> (int64 value, expiry) under one
 * mutex.  Expired entries are dropped when met and by a full sweep every
 * SWEEP_EVERY insertions, so memory follows the live set.  The table is
 * bounded (MAX_ENTRIES): when it is full even after a sweep, writes fail
 * and callers fail closed rather than letting an attacker grow memory
 * without limit.  Valid for one instance only; /ready says "in-process".
 */
#include <pthread.h>
#include <stdlib.h>
#include <string.h>

#include "arena.h"
#include "cache/backend.h"

#define NBUCKETS    4096
#define SWEEP_EVERY 4096
#define MAX_ENTRIES 1000000

struct entry {
	struct entry *next;
	int64_t value;
	int64_t expires_at;
	char key[];
};

struct memcache {
	pthread_mutex_t lock;
	struct entry *buckets[NBUCKETS];
	size_t count;
	size_t inserts;
};

static uint32_t fnv1a(const char *s)
{
	uint32_t h = 2166136261u;

	for (; *s; s++) {
		h ^= (unsigned char)*s;
		h *= 16777619u;
	}
	return h;
}

void *memcache_create(void)
{
	struct memcache *m = xcalloc(1, sizeof(*m));

	pthread_mutex_init(&m->lock, NULL);
	return m;
}

static void mc_close(void *impl)
{
	struct memcache *m = impl;
	size_t i;

	for (i = 0; i < NBUCKETS; i++) {
		struct entry *e = m->buckets[i], *next;
		for (; e; e = next) {
			next = e->next;
			free(e);
		}
	}
	pthread_mutex_destroy(&m->lock);
	free(m);
}

static int mc_ping(void *impl)
{
	(void)impl;
	return 0;
}

static void sweep(struct memcache *m, int64_t now)
{
	size_t i;

	for (i = 0; i < NBUCKETS; i++) {
		struct entry **pp = &m->buckets[i];
		while (*pp) {
			struct entry *e = *pp;
			if (e->expires_at <= now) {
				*pp = e->next;
				free(e);
				m->count--;
			} else {
				pp = &e->next;
			}
		}
	}
}

/* Live entry for key (expired ones are unlinked on the way), or NULL. */
static struct entry *lookup(struct memcache *m, const char *key, int64_t now)
{
	struct entry **pp = &m->buckets[fnv1a(key) % NBUCKETS];

	while (*pp) {
		struct entry *e = *pp;
		if (e->expires_at <= now) {
			*pp = e->next;
			free(e);
			m->count--;
			continue;
		}
		if (strcmp(e->key, key) == 0)
			return e;
		pp = &e->next;
	}
	return NULL;
}

static struct entry *insert(struct memcache *m, const char *key, int64_t now)
{
	size_t len = strlen(key);
	struct entry *e;
	uint32_t b;

	if (++m->inserts % SWEEP_EVERY == 0 || m->count >= MAX_ENTRIES)
		sweep(m, now);
	if (m->count >= MAX_ENTRIES)
		return NULL;
	e = xmalloc(sizeof(*e) + len + 1);
	memcpy(e->key, key, len + 1);
	b = fnv1a(key) % NBUCKETS;
	e->next = m->buckets[b];
	m->buckets[b] = e;
	m->count++;
	return e;
}

static int mc_set(void *impl, const char *key, int64_t value, int64_t expires_at, int64_t now)
{
	struct memcache *m = impl;
	struct entry *e;
	int rc = 0;

	pthread_mutex_lock(&m->lock);
	e = lookup(m, key, now);
	if (!e)
		e = insert(m, key, now);
	if (e) {
		e->value = value;
		e->expires_at = expires_at;
	} else {
		rc = -1;
	}
	pthread_mutex_unlock(&m->lock);
	return rc;
}

static int mc_get2(void *impl, const char *k1, const char *k2, int64_t now, int64_t *v1,
                   int64_t *v2)
{
	struct memcache *m = impl;
	struct entry *e;

	pthread_mutex_lock(&m->lock);
	e = lookup(m, k1, now);
	*v1 = e ? e->value : 0;
	e = lookup(m, k2, now);
	*v2 = e ? e->value : 0;
	pthread_mutex_unlock(&m->lock);
	return 0;
}

static int mc_incr(void *impl, const char *key, int window, int64_t now, int64_t *count,
                   int *reset_in)
{
	struct memcache *m = impl;
	struct entry *e;
	int rc = 0;

	pthread_mutex_lock(&m->lock);
	e = lookup(m, key, now);
	if (!e) {
		e = insert(m, key, now);
		if (e) {
			e->value = 0;
			e->expires_at = now + window;
		}
	}
	if (e) {
		e->value++;
		*count = e->value;
		*reset_in = (int)(e->expires_at - now);
	} else {
		rc = -1;
	}
	pthread_mutex_unlock(&m->lock);
	return rc;
}

static int mc_peek(void *impl, const char *key, int64_t now, int64_t *count, int *reset_in)
{
	struct memcache *m = impl;
	struct entry *e;

	pthread_mutex_lock(&m->lock);
	e = lookup(m, key, now);
	*count = e ? e->value : 0;
	*reset_in = e ? (int)(e->expires_at - now) : 0;
	pthread_mutex_unlock(&m->lock);
	return 0;
}

static int mc_del(void *impl, const char *key)
{
	struct memcache *m = impl;
	struct entry **pp;

	pthread_mutex_lock(&m->lock);
	pp = &m->buckets[fnv1a(key) % NBUCKETS];
	while (*pp) {
		struct entry *e = *pp;
		if (strcmp(e->key, key) == 0) {
			*pp = e->next;
			free(e);
			m->count--;
			break;
		}
		pp = &e->next;
	}
	pthread_mutex_unlock(&m->lock);
	return 0;
}

const struct cache_backend memcache_backend = {
        .kind = "in-process",
        .close = mc_close,
        .ping = mc_ping,
        .set = mc_set,
        .get2 = mc_get2,
        .incr = mc_incr,
        .peek = mc_peek,
        .del = mc_del,
};
