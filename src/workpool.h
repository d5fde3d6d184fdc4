/*
 * workpool.h - bounded pools of worker threads for slow work.
 *
 * Database queries, bcrypt and anything else that may block run here, never
 * on the threads that parse HTTP.  Each pool has a fixed number of threads
 * and a bounded queue; workpool_submit() refuses (returns -1) when the queue
 * is full so the caller can answer 503 + Retry-After instead of piling up.
 */
#ifndef AUTH_WORKPOOL_H
#define AUTH_WORKPOOL_H

#include <stddef.h>

struct workpool;

typedef void (*workpool_fn)(void *job);

/*
 * threads >= 1, queue_cap >= 1.  nice_incr > 0 lowers the threads'
 * scheduling priority (Linux per-thread nice), so CPU-bound work such as
 * bcrypt yields to the HTTP threads.  Returns NULL on failure.
 */
struct workpool *workpool_create(const char *name, int threads, int queue_cap, int nice_incr);

/* Queue fn(job).  0 on success, -1 when the queue is full or shutting down. */
int workpool_submit(struct workpool *wp, workpool_fn fn, void *job);

/* Gauges for /metrics. */
struct workpool_stats {
	const char *name;
	int threads;
	int busy;
	int queued;
	int queue_cap;
	unsigned long long rejected;
};
void workpool_stats(struct workpool *wp, struct workpool_stats *out);

/* Run every queued job, then join the threads and free the pool. */
void workpool_destroy(struct workpool *wp);

#endif
