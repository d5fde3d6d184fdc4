/*
 * workpool.c - fixed-size thread pools with a bounded FIFO queue.
 *
 * A ring buffer of queue_cap jobs guarded by one mutex and two condition
 * variables.  Submitting never blocks: a full queue is refused at once, so
 * an overloaded service sheds load (503 + Retry-After) instead of queueing
 * without bound.  workpool_destroy() lets the threads finish every queued
 * job before joining them, which is what graceful shutdown needs.
 */
#include "workpool.h"

#include <pthread.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <unistd.h>

#include "arena.h"
#include "log.h"

struct job {
	workpool_fn fn;
	void *arg;
};

struct workpool {
	char name[32];
	pthread_mutex_t lock;
	pthread_cond_t has_work;
	struct job *ring;
	int cap, head, count;
	int nthreads, busy;
	unsigned long long rejected;
	int stopping;
	int nice_incr;
	pthread_t *threads;
};

static void *worker_main(void *arg)
{
	struct workpool *wp = arg;

	if (wp->nice_incr > 0 && setpriority(PRIO_PROCESS, (id_t)gettid(), wp->nice_incr) != 0)
		log_warning("workpool %s: cannot lower thread priority", wp->name);
	pthread_mutex_lock(&wp->lock);
	for (;;) {
		while (wp->count == 0 && !wp->stopping)
			pthread_cond_wait(&wp->has_work, &wp->lock);
		if (wp->count == 0 && wp->stopping)
			break;
		struct job j = wp->ring[wp->head];
		wp->head = (wp->head + 1) % wp->cap;
		wp->count--;
		wp->busy++;
		pthread_mutex_unlock(&wp->lock);
		j.fn(j.arg);
		pthread_mutex_lock(&wp->lock);
		wp->busy--;
	}
	pthread_mutex_unlock(&wp->lock);
	return NULL;
}

struct workpool *workpool_create(const char *name, int threads, int queue_cap, int nice_incr)
{
	struct workpool *wp;
	int i;

	if (threads < 1 || queue_cap < 1)
		return NULL;
	wp = xcalloc(1, sizeof(*wp));
	snprintf(wp->name, sizeof(wp->name), "%s", name);
	pthread_mutex_init(&wp->lock, NULL);
	pthread_cond_init(&wp->has_work, NULL);
	wp->ring = xcalloc((size_t)queue_cap, sizeof(struct job));
	wp->cap = queue_cap;
	wp->nice_incr = nice_incr;
	wp->threads = xcalloc((size_t)threads, sizeof(pthread_t));
	for (i = 0; i < threads; i++) {
		if (pthread_create(&wp->threads[i], NULL, worker_main, wp) != 0) {
			log_error("workpool %s: cannot start thread %d", name, i);
			break;
		}
		wp->nthreads++;
	}
	if (wp->nthreads == 0) {
		workpool_destroy(wp);
		return NULL;
	}
	return wp;
}

int workpool_submit(struct workpool *wp, workpool_fn fn, void *job)
{
	int rc = -1;

	pthread_mutex_lock(&wp->lock);
	if (!wp->stopping && wp->count < wp->cap) {
		wp->ring[(wp->head + wp->count) % wp->cap] = (struct job){fn, job};
		wp->count++;
		pthread_cond_signal(&wp->has_work);
		rc = 0;
	} else {
		wp->rejected++;
	}
	pthread_mutex_unlock(&wp->lock);
	return rc;
}

void workpool_stats(struct workpool *wp, struct workpool_stats *out)
{
	pthread_mutex_lock(&wp->lock);
	out->name = wp->name;
	out->threads = wp->nthreads;
	out->busy = wp->busy;
	out->queued = wp->count;
	out->queue_cap = wp->cap;
	out->rejected = wp->rejected;
	pthread_mutex_unlock(&wp->lock);
}

void workpool_destroy(struct workpool *wp)
{
	int i;

	if (!wp)
		return;
	pthread_mutex_lock(&wp->lock);
	wp->stopping = 1;
	pthread_cond_broadcast(&wp->has_work);
	pthread_mutex_unlock(&wp->lock);
	for (i = 0; i < wp->nthreads; i++)
		pthread_join(wp->threads[i], NULL);
	pthread_cond_destroy(&wp->has_work);
	pthread_mutex_destroy(&wp->lock);
	free(wp->threads);
	free(wp->ring);
	free(wp);
}
