/*
 * store/store.c - driver selection, the connection pool, transactions and
 * ping, and the argument check (store_args_ok, the CHECK macro of
 * store/driver.h) that every public store_* function starts with.  The
 * operations themselves live in the entity files (users.c, sessions.c,
 * tokens.c, outbox.c, audit.c), written once over the driver.
 *
 * The pool is a mutex, a condition variable and a stack of idle
 * connections.  A store keeps `size` persistent connections (opened by
 * store_open, so a bad path or an unreachable server fails at start-up) and,
 * when the backend allows it, up to `max_overflow` extra ones opened under
 * burst and closed once they have sat idle for OVERFLOW_IDLE_SECONDS while
 * the pool is above its size (checked whenever a connection comes back, so
 * a sustained load keeps them: closing on every release made a third of
 * all requests pay for a new PostgreSQL backend and a SCRAM handshake).  SQLite gets
 * DATABASE_POOL_SIZE connections (at least 2) and no overflow: its writers serialise on one lock
 * anyway, and more connections only add lock waiting.
 *
 * store_acquire() takes an idle connection (most recently used first, so
 * that idle ones can be recognised and cached pages stay warm), or opens a
 * new one when the pool is below its limit, or waits on the condition
 * variable up to DATABASE_POOL_TIMEOUT seconds (CLOCK_MONOTONIC, immune to
 * wall-clock jumps) and then returns NULL: the caller answers 503.
 * Connections are opened and closed outside the mutex, so a slow server
 * never blocks the other borrowers.  A connection that the backend reports
 * unusable is closed on release and replaced lazily on a later acquire; one
 * released with a transaction still open is rolled back first.
 *
 * Gauges (store_pool_stats): size = connections open now, in_use = lent
 * out, idle = ready in the pool, waiting = threads blocked in acquire.
 *
 * The config passed to store_open must outlive the store (it is the
 * process's immutable configuration); lazy connects read it.
 */
#include "store/store.h"

#include <errno.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "arena.h"
#include "config.h"
#include "log.h"
#include "store/driver.h"

struct store {
	const struct store_driver *drv;
	const struct config *cfg;

	pthread_mutex_t mu;
	pthread_cond_t cv;
	struct store_conn **idle; /* stack, capacity `limit` */
	int n_idle;
	int n_open; /* idle + lent out */
	int n_in_use;
	int n_waiting;
	int size;    /* persistent connections */
	int limit;   /* size + overflow */
	int timeout; /* seconds */
};

static const struct store_driver *driver_for(enum db_kind kind, char *err, size_t errlen)
{
	switch (kind) {
	case DB_SQLITE:
		return &store_driver_sqlite;
	case DB_POSTGRES:
		return &store_driver_postgres;
	}
	snprintf(err, errlen, "unknown database kind %d", (int)kind);
	return NULL;
}

static struct store_conn *conn_open(struct store *st, char *err, size_t errlen)
{
	struct store_conn *c;
	void *impl = st->drv->connect(st->cfg, err, errlen);

	if (!impl)
		return NULL;
	c = xcalloc(1, sizeof(*c));
	c->drv = st->drv;
	c->impl = impl;
	return c;
}

#define OVERFLOW_IDLE_SECONDS 30

static time_t mono_seconds(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return ts.tv_sec;
}

/*
 * With st->mu held: when the pool is above its persistent size, take the
 * least recently used idle connection (the bottom of the stack) if it has
 * been idle long enough.  The caller closes it outside the lock.
 */
static struct store_conn *evict_idle_overflow(struct store *st, time_t now, int max_idle)
{
	struct store_conn *victim;

	if (st->n_open <= st->size || st->n_idle == 0 || now - st->idle[0]->idle_since < max_idle)
		return NULL;
	victim = st->idle[0];
	memmove(&st->idle[0], &st->idle[1], sizeof(st->idle[0]) * (size_t)(st->n_idle - 1));
	st->n_idle--;
	st->n_open--;
	return victim;
}

static void conn_close(struct store_conn *c)
{
	if (!c)
		return;
	c->drv->disconnect(c->impl);
	free(c);
}

struct store *store_open(const struct config *cfg, char *err, size_t errlen)
{
	const struct store_driver *drv;
	struct store *st = NULL;
	pthread_condattr_t ca;
	bool mu_ok = false, cv_ok = false;
	char dummy[1];

	if (!err || errlen == 0) {
		err = dummy;
		errlen = sizeof(dummy);
	}
	err[0] = '\0';
	if (!cfg) {
		snprintf(err, errlen, "no configuration");
		return NULL;
	}
	drv = driver_for(cfg->db.kind, err, errlen);
	if (!drv)
		return NULL;

	st = xcalloc(1, sizeof(*st));
	st->drv = drv;
	st->cfg = cfg;
	st->size = cfg->database_pool_size > drv->min_pool_size ? cfg->database_pool_size
	                                                        : drv->min_pool_size;
	st->limit = st->size;
	if (drv->overflow && cfg->database_max_overflow > 0)
		st->limit += cfg->database_max_overflow;
	st->timeout = cfg->database_pool_timeout > 0 ? cfg->database_pool_timeout : 0;
	st->idle = xcalloc((size_t)st->limit, sizeof(*st->idle));

	if (pthread_mutex_init(&st->mu, NULL) != 0) {
		snprintf(err, errlen, "cannot create the pool mutex");
		goto fail;
	}
	mu_ok = true;
	if (pthread_condattr_init(&ca) != 0) {
		snprintf(err, errlen, "cannot create the pool condition variable");
		goto fail;
	}
	if (pthread_condattr_setclock(&ca, CLOCK_MONOTONIC) != 0 ||
	    pthread_cond_init(&st->cv, &ca) != 0) {
		pthread_condattr_destroy(&ca);
		snprintf(err, errlen, "cannot create the pool condition variable");
		goto fail;
	}
	pthread_condattr_destroy(&ca);
	cv_ok = true;

	/* Persistent connections up front: configuration errors show at start-up. */
	while (st->n_open < st->size) {
		struct store_conn *c = conn_open(st, err, errlen);
		if (!c)
			goto fail;
		st->idle[st->n_idle++] = c;
		st->n_open++;
	}
	return st;

fail:
	while (st->n_idle > 0)
		conn_close(st->idle[--st->n_idle]);
	if (cv_ok)
		pthread_cond_destroy(&st->cv);
	if (mu_ok)
		pthread_mutex_destroy(&st->mu);
	free(st->idle);
	free(st);
	return NULL;
}

void store_close(struct store *st)
{
	if (!st)
		return;
	pthread_mutex_lock(&st->mu);
	if (st->n_in_use > 0 || st->n_waiting > 0)
		log_error("store: closing the pool with %d connection(s) still in use and %d "
		          "waiter(s); they must be released first",
		          st->n_in_use, st->n_waiting);
	pthread_mutex_unlock(&st->mu);
	while (st->n_idle > 0)
		conn_close(st->idle[--st->n_idle]);
	pthread_cond_destroy(&st->cv);
	pthread_mutex_destroy(&st->mu);
	free(st->idle);
	free(st);
}

const char *store_kind(const struct store *st)
{
	return st ? st->drv->name : "none";
}

static struct timespec deadline_after(int seconds)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	ts.tv_sec += seconds;
	return ts;
}

struct store_conn *store_acquire(struct store *st)
{
	struct timespec deadline;
	struct store_conn *c = NULL;
	char err[256];
	bool open_new = false;

	if (!st)
		return NULL;
	deadline = deadline_after(st->timeout);
	pthread_mutex_lock(&st->mu);
	for (;;) {
		if (st->n_idle > 0) {
			c = st->idle[--st->n_idle];
			st->n_in_use++;
			break;
		}
		if (st->n_open < st->limit) {
			/* Reserve the slot now, connect without holding the lock. */
			st->n_open++;
			st->n_in_use++;
			open_new = true;
			break;
		}
		st->n_waiting++;
		int rc = pthread_cond_timedwait(&st->cv, &st->mu, &deadline);
		st->n_waiting--;
		if (rc == ETIMEDOUT && st->n_idle == 0 && st->n_open >= st->limit)
			break;
		if (rc != 0 && rc != ETIMEDOUT)
			break;
	}
	pthread_mutex_unlock(&st->mu);

	if (open_new) {
		c = conn_open(st, err, sizeof(err));
		if (!c) {
			log_error("store: cannot open a database connection: %s", err);
			pthread_mutex_lock(&st->mu);
			st->n_open--;
			st->n_in_use--;
			pthread_cond_signal(&st->cv);
			pthread_mutex_unlock(&st->mu);
		}
	} else if (!c) {
		log_warning("store: no database connection free within %d s (pool of %d)",
		            st->timeout, st->limit);
	}
	return c;
}

void store_release(struct store *st, struct store_conn *c)
{
	struct store_conn *victim;
	time_t now = mono_seconds();
	bool drop = false;

	if (!st || !c)
		return;
	if (c->drv->in_transaction(c)) {
		log_error("store: connection released inside a transaction; rolling it back");
		c->drv->rollback(c);
	}
	if (!c->drv->usable(c))
		drop = true;

	pthread_mutex_lock(&st->mu);
	st->n_in_use--;
	if (drop) {
		st->n_open--;
	} else {
		c->idle_since = now;
		st->idle[st->n_idle++] = c;
		c = NULL;
	}
	victim = evict_idle_overflow(st, now, OVERFLOW_IDLE_SECONDS);
	pthread_cond_signal(&st->cv);
	pthread_mutex_unlock(&st->mu);

	conn_close(c); /* a broken connection, outside the lock */
	conn_close(victim);
}

void store_pool_trim(struct store *st, int max_idle_seconds)
{
	struct store_conn *victim;
	time_t now = mono_seconds();

	if (!st)
		return;
	do {
		pthread_mutex_lock(&st->mu);
		victim = evict_idle_overflow(st, now, max_idle_seconds);
		pthread_mutex_unlock(&st->mu);
		conn_close(victim);
	} while (victim);
}

void store_pool_stats(struct store *st, struct store_pool_stats *out)
{
	if (!out)
		return;
	memset(out, 0, sizeof(*out));
	if (!st)
		return;
	pthread_mutex_lock(&st->mu);
	out->size = st->n_open;
	out->in_use = st->n_in_use;
	out->idle = st->n_idle;
	out->waiting = st->n_waiting;
	pthread_mutex_unlock(&st->mu);
}

/* ---- argument checks, ping and transactions ---- */

bool store_args_ok(const char *op, bool ok)
{
	if (!ok)
		log_error("store: %s called with a missing argument", op);
	return ok;
}

static const struct store_sql ping_sql = {ST_PING, "ping", "SELECT 1 FROM sqlite_master LIMIT 1",
                                          "SELECT 1"};

enum store_rc store_ping(struct store_conn *c)
{
	struct query q;
	enum store_rc rc;

	CHECK("store_ping", c);
	q_open(&q, c, &ping_sql);
	rc = q_one(&q, NULL, NULL);
	return rc == STORE_NOT_FOUND ? STORE_OK : rc; /* an empty SQLite database has no row */
}

enum store_rc store_begin(struct store_conn *c)
{
	CHECK("store_begin", c);
	if (c->drv->in_transaction(c)) {
		log_error("store: store_begin inside a transaction (transactions do not nest)");
		return STORE_ERROR;
	}
	return c->drv->begin(c);
}

enum store_rc store_commit(struct store_conn *c)
{
	CHECK("store_commit", c);
	if (!c->drv->in_transaction(c)) {
		log_error("store: store_commit without a transaction");
		return STORE_ERROR;
	}
	return c->drv->commit(c);
}

void store_rollback(struct store_conn *c)
{
	if (c && c->drv->in_transaction(c))
		c->drv->rollback(c);
}
