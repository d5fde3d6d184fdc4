/*
 * http/connlimit.c - open connections per client bucket (see connlimit.h).
 *
 * A chained hash table, bucket string -> count, under one mutex.  The
 * server takes it twice per connection (opened, closed), never per
 * request, so one lock is enough.  Design decisions:
 *
 *   - An entry exists only while its count is above zero: release removes
 *     it at zero.  The table holds at most one entry per open connection
 *     (HTTP_MAX_CONNECTIONS in all), whatever the number of addresses seen.
 *   - The slot array doubles when the entries outnumber it (chains stay
 *     short) and never shrinks: its size follows the peak of open
 *     connections, which HTTP_MAX_CONNECTIONS bounds.
 *   - The hash is 64-bit FNV-1a started from a per-table random basis, so
 *     a client cannot choose bucket strings that share one chain offline;
 *     the chain length is bounded by the open connections anyway.
 */
#include "http/connlimit.h"

#include <openssl/rand.h>
#include <pthread.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "arena.h"

#define INITIAL_SLOTS 64 /* a power of 2 */

struct entry {
	struct entry *next;
	uint64_t hash;
	unsigned count;
	char key[];
};

struct connlimit {
	pthread_mutex_t lock;
	struct entry **slots;
	size_t nslots; /* a power of 2 */
	size_t entries;
	unsigned max;
	uint64_t basis;
};

static uint64_t hash_key(const struct connlimit *cl, const char *s)
{
	uint64_t h = cl->basis;

	for (; *s; s++) {
		h ^= (unsigned char)*s;
		h *= 1099511628211ull;
	}
	return h;
}

struct connlimit *connlimit_create(unsigned max_per_bucket)
{
	struct connlimit *cl = xcalloc(1, sizeof(*cl));

	if (RAND_bytes((unsigned char *)&cl->basis, sizeof(cl->basis)) != 1)
		cl->basis = 14695981039346656037ull ^ (uint64_t)(uintptr_t)cl;
	cl->nslots = INITIAL_SLOTS;
	cl->slots = xcalloc(cl->nslots, sizeof(*cl->slots));
	cl->max = max_per_bucket;
	pthread_mutex_init(&cl->lock, NULL);
	return cl;
}

void connlimit_free(struct connlimit *cl)
{
	struct entry *e, *next;
	size_t i;

	if (!cl)
		return;
	for (i = 0; i < cl->nslots; i++)
		for (e = cl->slots[i]; e; e = next) {
			next = e->next;
			free(e);
		}
	free(cl->slots);
	pthread_mutex_destroy(&cl->lock);
	free(cl);
}

/* The link that points at bucket's entry (*link NULL: no entry).  Lock held. */
static struct entry **find(struct connlimit *cl, const char *bucket, uint64_t h)
{
	struct entry **link = &cl->slots[h & (cl->nslots - 1)];

	while (*link && ((*link)->hash != h || strcmp((*link)->key, bucket) != 0))
		link = &(*link)->next;
	return link;
}

/* Double the slot array.  Lock held. */
static void grow(struct connlimit *cl)
{
	size_t n = cl->nslots * 2, i;
	struct entry **slots = xcalloc(n, sizeof(*slots)), *e, *next;

	for (i = 0; i < cl->nslots; i++)
		for (e = cl->slots[i]; e; e = next) {
			next = e->next;
			e->next = slots[e->hash & (n - 1)];
			slots[e->hash & (n - 1)] = e;
		}
	free(cl->slots);
	cl->slots = slots;
	cl->nslots = n;
}

bool connlimit_acquire(struct connlimit *cl, const char *bucket)
{
	uint64_t h = hash_key(cl, bucket);
	struct entry **link, *e;
	bool ok = false;
	size_t len;

	pthread_mutex_lock(&cl->lock);
	link = find(cl, bucket, h);
	if (*link) {
		if ((*link)->count < cl->max) {
			(*link)->count++;
			ok = true;
		}
	} else if (cl->max > 0) {
		len = strlen(bucket);
		e = xmalloc(sizeof(*e) + len + 1);
		memcpy(e->key, bucket, len + 1);
		e->hash = h;
		e->count = 1;
		e->next = NULL;
		*link = e;
		if (++cl->entries > cl->nslots)
			grow(cl);
		ok = true;
	}
	pthread_mutex_unlock(&cl->lock);
	return ok;
}

void connlimit_release(struct connlimit *cl, const char *bucket)
{
	uint64_t h = hash_key(cl, bucket);
	struct entry **link, *dead = NULL;

	pthread_mutex_lock(&cl->lock);
	link = find(cl, bucket, h);
	if (*link && --(*link)->count == 0) {
		dead = *link;
		*link = dead->next;
		cl->entries--;
	}
	pthread_mutex_unlock(&cl->lock);
	free(dead);
}

unsigned connlimit_count(struct connlimit *cl, const char *bucket)
{
	uint64_t h = hash_key(cl, bucket);
	struct entry **link;
	unsigned n;

	pthread_mutex_lock(&cl->lock);
	link = find(cl, bucket, h);
	n = *link ? (*link)->count : 0;
	pthread_mutex_unlock(&cl->lock);
	return n;
}

size_t connlimit_entries(struct connlimit *cl)
{
	size_t n;

	pthread_mutex_lock(&cl->lock);
	n = cl->entries;
	pthread_mutex_unlock(&cl->lock);
	return n;
}
