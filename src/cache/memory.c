/*
 * cache/memory.c - the in-process cache backend.
 *
 * A chained hash table (FNV-1a) of key -> (int64 value, expiry) under one
 * mutex, which every authentication takes (the deny-list check), so no
 * operation may hold it long:
 *
 *   - Expired entries are dropped when a look-up meets them, and by an
 *     incremental sweep: each insert examines the next few buckets from a
 *     rotating cursor (SWEEP_BUCKETS, stopping once SWEEP_ENTRIES entries
 *     were examined), so the whole table is swept every count/SWEEP_ENTRIES
 *     inserts and no insert pays for a full sweep.  A full table gets one
 *     bigger, still bounded step (FULL_SWEEP_*) before a write is refused.
 *   - Unlinked entries are freed after the mutex is released.
 *
 * The table is bounded (capacity, MAX_ENTRIES in production).  When it is
 * full of live entries a write fails and the caller fails closed (503):
 * a live entry is never evicted, so a deny-listed jti or a user's
 * revocation time cannot be pushed out by a flood, and a rate-limit
 * counter cannot be flushed to reset an attacker's window.  Rate-limit
 * counters (incr), which any unauthenticated client can create, may only
 * fill the table up to capacity - capacity/RESERVE_DIV; the rest is kept
 * for revocation writes (set: logout, logout-all, password change), so a
 * flood of counters refuses more counters (503 on the credential
 * endpoints) but never a logout.  Valid for one instance only; /ready says
 * "in-process".
 */
#include <pthread.h>
#include <stdlib.h>
#include <string.h>

#include "arena.h"
#include "cache/backend.h"

#define MAX_ENTRIES        1000000
#define RESERVE_DIV        8 /* 1/8 of the table is kept for revocation entries */
#define CHAIN_TARGET       8 /* buckets = capacity / this, rounded up to a power of 2 */
#define MAX_BUCKETS        (1u << 17)
#define SWEEP_BUCKETS      16 /* per insert */
#define SWEEP_ENTRIES      32
#define FULL_SWEEP_BUCKETS 1024 /* once more, when the table is full */
#define FULL_SWEEP_ENTRIES 512

struct entry {
	struct entry *next;
	int64_t value;
	int64_t expires_at;
	char key[];
};

struct memcache {
	pthread_mutex_t lock;
	struct entry **buckets;
	size_t nbuckets;    /* a power of 2 */
	size_t capacity;    /* entries in all */
	size_t rl_capacity; /* entries while a rate-limit counter is inserted */
	size_t count;
	size_t cursor; /* the incremental sweep's next bucket */
	struct memcache_stats stats;
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

void *memcache_create_sized(size_t capacity)
{
	struct memcache *m = xcalloc(1, sizeof(*m));
	size_t want = capacity / CHAIN_TARGET;

	if (capacity < RESERVE_DIV)
		capacity = RESERVE_DIV;
	m->nbuckets = 16;
	while (m->nbuckets < want && m->nbuckets < MAX_BUCKETS)
		m->nbuckets *= 2;
	m->buckets = xcalloc(m->nbuckets, sizeof(*m->buckets));
	m->capacity = capacity;
	m->rl_capacity = capacity - capacity / RESERVE_DIV;
	m->stats.capacity = capacity;
	pthread_mutex_init(&m->lock, NULL);
	return m;
}

void *memcache_create(void)
{
	return memcache_create_sized(MAX_ENTRIES);
}

void memcache_stats(void *impl, struct memcache_stats *out)
{
	struct memcache *m = impl;

	pthread_mutex_lock(&m->lock);
	*out = m->stats;
	out->count = m->count;
	pthread_mutex_unlock(&m->lock);
}

static void free_chain(struct entry *e)
{
	struct entry *next;

	for (; e; e = next) {
		next = e->next;
		free(e);
	}
}

static void mc_close(void *impl)
{
	struct memcache *m = impl;
	size_t i;

	for (i = 0; i < m->nbuckets; i++)
		free_chain(m->buckets[i]);
	free(m->buckets);
	pthread_mutex_destroy(&m->lock);
	free(m);
}

static int mc_ping(void *impl)
{
	(void)impl;
	return 0;
}

/*
 * One bounded step of the incremental sweep: from the cursor, at most
 * max_buckets buckets, stopping once max_entries entries were examined.
 * Expired entries go on *dead (freed by the caller after unlocking).
 */
static void sweep_step(struct memcache *m, int64_t now, size_t max_buckets, size_t max_entries,
                       struct entry **dead)
{
	size_t b, examined = 0;

	for (b = 0; b < max_buckets && b < m->nbuckets && examined < max_entries; b++) {
		struct entry **pp = &m->buckets[m->cursor];
		while (*pp) {
			struct entry *e = *pp;
			examined++;
			if (e->expires_at <= now) {
				*pp = e->next;
				e->next = *dead;
				*dead = e;
				m->count--;
				m->stats.reclaimed++;
			} else {
				pp = &e->next;
			}
		}
		m->cursor = (m->cursor + 1) & (m->nbuckets - 1);
	}
	if (examined > m->stats.max_examined)
		m->stats.max_examined = examined;
}

/* Live entry for key (expired ones are moved to *dead on the way), or NULL. */
static struct entry *lookup(struct memcache *m, const char *key, int64_t now, struct entry **dead)
{
	struct entry **pp = &m->buckets[fnv1a(key) & (m->nbuckets - 1)];

	while (*pp) {
		struct entry *e = *pp;
		if (e->expires_at <= now) {
			*pp = e->next;
			e->next = *dead;
			*dead = e;
			m->count--;
			m->stats.reclaimed++;
			continue;
		}
		if (strcmp(e->key, key) == 0)
			return e;
		pp = &e->next;
	}
	return NULL;
}

/*
 * A new entry for key, or NULL when the table is full of live entries
 * (limit: m->capacity for revocation entries, m->rl_capacity for
 * rate-limit counters).  The allocation happens under the lock but is one
 * malloc; the sweep step is bounded.
 */
static struct entry *insert(struct memcache *m, const char *key, int64_t now, size_t limit,
                            struct entry **dead)
{
	size_t len = strlen(key);
	struct entry *e;
	uint32_t b;

	sweep_step(m, now, SWEEP_BUCKETS, SWEEP_ENTRIES, dead);
	if (m->count >= limit)
		sweep_step(m, now, FULL_SWEEP_BUCKETS, FULL_SWEEP_ENTRIES, dead);
	if (m->count >= limit) {
		m->stats.refused++;
		return NULL;
	}
	e = xmalloc(sizeof(*e) + len + 1);
	memcpy(e->key, key, len + 1);
	b = fnv1a(key) & (m->nbuckets - 1);
	e->next = m->buckets[b];
	m->buckets[b] = e;
	m->count++;
	return e;
}

static int mc_set(void *impl, const char *key, int64_t value, int64_t expires_at, int64_t now)
{
	struct memcache *m = impl;
	struct entry *e, *dead = NULL;
	int rc = 0;

	pthread_mutex_lock(&m->lock);
	e = lookup(m, key, now, &dead);
	if (!e)
		e = insert(m, key, now, m->capacity, &dead);
	if (e) {
		e->value = value;
		e->expires_at = expires_at;
	} else {
		rc = -1;
	}
	pthread_mutex_unlock(&m->lock);
	free_chain(dead);
	return rc;
}

static int mc_get2(void *impl, const char *k1, const char *k2, int64_t now, int64_t *v1,
                   int64_t *v2)
{
	struct memcache *m = impl;
	struct entry *e, *dead = NULL;

	pthread_mutex_lock(&m->lock);
	e = lookup(m, k1, now, &dead);
	*v1 = e ? e->value : 0;
	e = lookup(m, k2, now, &dead);
	*v2 = e ? e->value : 0;
	pthread_mutex_unlock(&m->lock);
	free_chain(dead);
	return 0;
}

static int mc_incr(void *impl, const char *key, int window, int64_t now, int64_t *count,
                   int *reset_in)
{
	struct memcache *m = impl;
	struct entry *e, *dead = NULL;
	int rc = 0;

	pthread_mutex_lock(&m->lock);
	e = lookup(m, key, now, &dead);
	if (!e) {
		e = insert(m, key, now, m->rl_capacity, &dead);
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
	free_chain(dead);
	return rc;
}

static int mc_peek(void *impl, const char *key, int64_t now, int64_t *count, int *reset_in)
{
	struct memcache *m = impl;
	struct entry *e, *dead = NULL;

	pthread_mutex_lock(&m->lock);
	e = lookup(m, key, now, &dead);
	*count = e ? e->value : 0;
	*reset_in = e ? (int)(e->expires_at - now) : 0;
	pthread_mutex_unlock(&m->lock);
	free_chain(dead);
	return 0;
}

static int mc_del(void *impl, const char *key)
{
	struct memcache *m = impl;
	struct entry **pp, *gone = NULL;

	pthread_mutex_lock(&m->lock);
	pp = &m->buckets[fnv1a(key) & (m->nbuckets - 1)];
	while (*pp) {
		struct entry *e = *pp;
		if (strcmp(e->key, key) == 0) {
			*pp = e->next;
			e->next = NULL;
			gone = e;
			m->count--;
			break;
		}
		pp = &e->next;
	}
	pthread_mutex_unlock(&m->lock);
	free(gone);
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
