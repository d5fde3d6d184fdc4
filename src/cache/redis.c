/*
 * cache/redis.c - the Redis cache backend (hiredis).
 *
 * Shared by every instance of the service: the deny-list, the per-user
 * revocation times and the rate-limit counters live in one Redis, under
 * keys prefixed "auth:" so the service can share a Redis with others.
 *
 * hiredis contexts are not thread-safe, so the backend keeps a small pool:
 * a borrower owns one context for the length of one operation.  Contexts
 * are opened lazily (connect timeout 1 s, then AUTH [user] password and
 * SELECT db, or PING) and carry a 1 s command timeout, so a dead or hung
 * Redis costs a request at most about a second and never blocks it for
 * good.  A context that saw an I/O or protocol error is freed together
 * with every idle one (they are likely dead too, e.g. after a Redis
 * restart); the next borrow simply connects again, so recovery needs no
 * service restart.  A reused context found closed by the peer is retried
 * once on a fresh connection.  After a failed connect, new attempts wait
 * RETRY_AFTER_MS, failing at once meanwhile, so an unreachable Redis does
 * not make every request pay the connect timeout.
 *
 * Every failure returns -1 and callers fail closed.  Up/down transitions
 * are logged once each, with the redacted URL (never the password).
 *
 * Expiry: SET ... EX (expires_at - now), relative to the caller's clock, so
 * a clock difference between this host and Redis does not shift lifetimes;
 * an expiry already past deletes the key.  Counters: one Lua script does
 * INCR, sets the window on a new key (or on one that lost its TTL) and
 * returns the count and TTL, atomically and in one round trip (EVALSHA,
 * EVAL when the script cache was flushed, e.g. after a restart).
 */
#include <errno.h>
#include <inttypes.h>
#include <limits.h>
#include <pthread.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <hiredis/hiredis.h>
#include <openssl/evp.h>

#include "arena.h"
#include "cache/backend.h"
#include "config.h"
#include "log.h"

#define KEY_PREFIX         "auth:"
#define PREFIXED_KEY_MAX   512
#define CONNECT_TIMEOUT_MS 1000
#define COMMAND_TIMEOUT_MS 1000
#define BORROW_TIMEOUT_MS  2000
#define RETRY_AFTER_MS     250
#define POOL_MIN           2
#define POOL_MAX           1024

/*
 * KEYS[1] = counter, ARGV[1] = window (seconds).  Returns {count, ttl}.
 * A key without expiry (ttl < 0: created by something else, or an EXPIRE
 * that never happened) gets the window too, so no counter lives forever.
 */
static const char incr_script[] = "local n = redis.call('INCR', KEYS[1])\n"
                                  "local ttl = redis.call('TTL', KEYS[1])\n"
                                  "if n == 1 or ttl < 0 then\n"
                                  "  redis.call('EXPIRE', KEYS[1], ARGV[1])\n"
                                  "  ttl = tonumber(ARGV[1])\n"
                                  "end\n"
                                  "return {n, ttl}\n";

struct rediscache {
	pthread_mutex_t lock;
	pthread_cond_t returned; /* a context went back to idle or was freed */
	redisContext **idle;     /* connected, not borrowed */
	size_t n_idle;
	size_t open; /* idle + borrowed + being connected */
	size_t max;
	int64_t retry_at_ms; /* monotonic: no new connect before this */
	bool down;           /* the last connect failed (for logging) */

	char *host;
	int port;
	char *username; /* NULL: plain AUTH password */
	char *password; /* NULL: no AUTH */
	int db;
	char *redacted; /* printable URL */
	char incr_sha[2 * 20 + 1];
};

static int64_t mono_ms(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

static struct timeval ms_to_tv(int ms)
{
	struct timeval tv = {.tv_sec = ms / 1000, .tv_usec = (ms % 1000) * 1000};

	return tv;
}

/* "auth:" + key into buf; -1 when it does not fit. */
static int prefixed(char *buf, size_t len, const char *key)
{
	int n = snprintf(buf, len, KEY_PREFIX "%s", key);

	return n < 0 || (size_t)n >= len ? -1 : 0;
}

/* A whole decimal int64, nothing else. */
static int parse_int64(const char *s, size_t len, int64_t *out)
{
	char buf[32], *end;
	long long v;

	if (len == 0 || len >= sizeof(buf))
		return -1;
	memcpy(buf, s, len);
	buf[len] = '\0';
	errno = 0;
	v = strtoll(buf, &end, 10);
	if (errno != 0 || *end != '\0')
		return -1;
	*out = v;
	return 0;
}

static bool reply_is_status(const redisReply *r, const char *text)
{
	return r && r->type == REDIS_REPLY_STATUS && strcmp(r->str, text) == 0;
}

/*
 * Open, authenticate and select.  Returns the context, or NULL with a
 * printable reason in why (hiredis and Redis error texts never hold the
 * password).
 */
static redisContext *rc_connect(const struct rediscache *rc, char *why, size_t whylen)
{
	redisContext *ctx;
	redisReply *r = NULL;

	ctx = redisConnectWithTimeout(rc->host, rc->port, ms_to_tv(CONNECT_TIMEOUT_MS));
	if (!ctx) {
		snprintf(why, whylen, "out of memory");
		return NULL;
	}
	if (ctx->err) {
		snprintf(why, whylen, "%s", ctx->errstr);
		goto fail;
	}
	if (redisSetTimeout(ctx, ms_to_tv(COMMAND_TIMEOUT_MS)) != REDIS_OK) {
		snprintf(why, whylen, "cannot set the command timeout: %s", ctx->errstr);
		goto fail;
	}
	(void)redisEnableKeepAlive(ctx); /* best effort: timeouts already bound us */

	if (rc->password) {
		const char *argv[3];
		int argc = 0;

		argv[argc++] = "AUTH";
		if (rc->username)
			argv[argc++] = rc->username;
		argv[argc++] = rc->password;
		r = redisCommandArgv(ctx, argc, argv, NULL);
		if (!r) {
			snprintf(why, whylen, "AUTH: %s", ctx->errstr);
			goto fail;
		}
		if (!reply_is_status(r, "OK")) {
			snprintf(why, whylen, "AUTH refused: %s",
			         r->type == REDIS_REPLY_ERROR ? r->str : "unexpected reply");
			goto fail;
		}
		freeReplyObject(r);
		r = NULL;
	}
	/* SELECT, or PING, also proves that no AUTH was needed after all. */
	if (rc->db != 0)
		r = redisCommand(ctx, "SELECT %d", rc->db);
	else
		r = redisCommand(ctx, "PING");
	if (!r) {
		snprintf(why, whylen, "%s", ctx->errstr);
		goto fail;
	}
	if (!reply_is_status(r, rc->db != 0 ? "OK" : "PONG")) {
		snprintf(why, whylen, "%s refused: %s", rc->db != 0 ? "SELECT" : "PING",
		         r->type == REDIS_REPLY_ERROR ? r->str : "unexpected reply");
		goto fail;
	}
	freeReplyObject(r);
	return ctx;

fail:
	freeReplyObject(r);
	redisFree(ctx);
	return NULL;
}

/* Free every idle context; caller holds the lock. */
static void drop_idle_locked(struct rediscache *rc)
{
	while (rc->n_idle > 0) {
		redisFree(rc->idle[--rc->n_idle]);
		rc->open--;
	}
}

/*
 * Take a context: an idle one (*reused = true) or a new connection.
 * Returns -1 when none can be had (Redis unreachable, or the pool stayed
 * exhausted for BORROW_TIMEOUT_MS).
 */
static int borrow(struct rediscache *rc, redisContext **out, bool *reused)
{
	struct timespec deadline;
	redisContext *ctx;
	char why[256];
	bool was_down;

	clock_gettime(CLOCK_MONOTONIC, &deadline);
	deadline.tv_sec += BORROW_TIMEOUT_MS / 1000;
	deadline.tv_nsec += (BORROW_TIMEOUT_MS % 1000) * 1000000L;
	if (deadline.tv_nsec >= 1000000000L) {
		deadline.tv_sec++;
		deadline.tv_nsec -= 1000000000L;
	}

	pthread_mutex_lock(&rc->lock);
	while (rc->n_idle == 0 && rc->open >= rc->max) {
		if (pthread_cond_timedwait(&rc->returned, &rc->lock, &deadline) == ETIMEDOUT &&
		    rc->n_idle == 0 && rc->open >= rc->max) {
			pthread_mutex_unlock(&rc->lock);
			log_warning("cache: all %zu Redis connections stayed busy for %d ms",
			            rc->max, BORROW_TIMEOUT_MS);
			return -1;
		}
	}
	if (rc->n_idle > 0) {
		*out = rc->idle[--rc->n_idle];
		*reused = true;
		pthread_mutex_unlock(&rc->lock);
		return 0;
	}
	if (mono_ms() < rc->retry_at_ms) {
		pthread_mutex_unlock(&rc->lock);
		return -1;
	}
	rc->open++; /* reserve the slot, connect without the lock */
	pthread_mutex_unlock(&rc->lock);

	ctx = rc_connect(rc, why, sizeof(why));

	pthread_mutex_lock(&rc->lock);
	was_down = rc->down;
	if (!ctx) {
		rc->open--;
		rc->retry_at_ms = mono_ms() + RETRY_AFTER_MS;
		rc->down = true;
		pthread_cond_signal(&rc->returned);
	} else {
		rc->down = false;
	}
	pthread_mutex_unlock(&rc->lock);

	if (!ctx) {
		if (!was_down)
			log_warning("cache: Redis at %s is unavailable (%s): revocation checks "
			            "and rate limits fail closed until it is back",
			            rc->redacted, why);
		return -1;
	}
	if (was_down)
		log_info("cache: Redis at %s is reachable again", rc->redacted);
	*out = ctx;
	*reused = false;
	return 0;
}

/* Give a context back; a broken one is freed with every idle one. */
static void give_back(struct rediscache *rc, redisContext *ctx, bool broken)
{
	pthread_mutex_lock(&rc->lock);
	if (broken) {
		redisFree(ctx);
		rc->open--;
		drop_idle_locked(rc);
		pthread_cond_broadcast(&rc->returned);
	} else {
		rc->idle[rc->n_idle++] = ctx;
		pthread_cond_signal(&rc->returned);
	}
	pthread_mutex_unlock(&rc->lock);
}

/*
 * One exchange on a borrowed context: returns 0, or -1 on any failure
 * (I/O errors are visible in ctx->err; the caller handles the context).
 */
typedef int (*exchange_fn)(struct rediscache *rc, redisContext *ctx, void *arg);

static int with_context(struct rediscache *rc, exchange_fn fn, void *arg)
{
	int attempt;

	for (attempt = 0; attempt < 2; attempt++) {
		redisContext *ctx;
		bool reused, peer_closed;
		int rv, saved_errno;

		if (borrow(rc, &ctx, &reused) != 0)
			return -1;
		rv = fn(rc, ctx, arg);
		saved_errno = errno;
		if (!ctx->err) {
			give_back(rc, ctx, false);
			return rv;
		}
		/*
		 * A reused context the server has closed (restart, idle timeout):
		 * the command never ran there, so one retry on a fresh
		 * connection is safe.  A timeout is not retried.
		 */
		peer_closed = ctx->err == REDIS_ERR_EOF ||
		              (ctx->err == REDIS_ERR_IO &&
		               (saved_errno == ECONNRESET || saved_errno == EPIPE));
		log_debug("cache: Redis connection dropped: %s", ctx->errstr);
		give_back(rc, ctx, true);
		if (!(reused && peer_closed))
			return -1;
	}
	return -1;
}

void *rediscache_create(const struct config *cfg, char *err, size_t errlen)
{
	struct rediscache *rc;
	unsigned char md[EVP_MAX_MD_SIZE];
	unsigned int mdlen = 0, i;
	long max;
	redisContext *ctx;
	bool reused;

	if (!cfg->redis_url || !cfg->redis.host || !cfg->redis.redacted) {
		snprintf(err, errlen, "REDIS_URL is not parsed");
		return NULL;
	}
	if (!EVP_Digest(incr_script, strlen(incr_script), md, &mdlen, EVP_sha1(), NULL) ||
	    mdlen != 20) {
		snprintf(err, errlen, "cannot compute SHA-1 of the rate-limit script");
		return NULL;
	}

	rc = xcalloc(1, sizeof(*rc));
	for (i = 0; i < mdlen; i++)
		snprintf(rc->incr_sha + 2 * i, 3, "%02x", md[i]);

	max = (long)cfg->workers + cfg->database_pool_size + cfg->database_max_overflow;
	if (max < POOL_MIN)
		max = POOL_MIN;
	if (max > POOL_MAX)
		max = POOL_MAX;
	rc->max = (size_t)max;
	rc->idle = xcalloc(rc->max, sizeof(*rc->idle));

	rc->host = xstrdup(cfg->redis.host);
	rc->port = cfg->redis.port;
	rc->username = cfg->redis.username ? xstrdup(cfg->redis.username) : NULL;
	rc->password = cfg->redis.password ? xstrdup(cfg->redis.password) : NULL;
	rc->db = cfg->redis.db;
	rc->redacted = xstrdup(cfg->redis.redacted);

	{
		pthread_condattr_t ca;

		pthread_condattr_init(&ca);
		pthread_condattr_setclock(&ca, CLOCK_MONOTONIC);
		pthread_cond_init(&rc->returned, &ca);
		pthread_condattr_destroy(&ca);
	}
	pthread_mutex_init(&rc->lock, NULL);

	/*
	 * Warm one connection.  Redis down at start is not fatal: operations
	 * fail closed until it is back, and borrow() has logged a warning.
	 */
	if (borrow(rc, &ctx, &reused) == 0)
		give_back(rc, ctx, false);
	return rc;
}

static void rc_close(void *impl)
{
	struct rediscache *rc = impl;

	if (!rc)
		return;
	pthread_mutex_lock(&rc->lock);
	drop_idle_locked(rc);
	pthread_mutex_unlock(&rc->lock);
	pthread_cond_destroy(&rc->returned);
	pthread_mutex_destroy(&rc->lock);
	free(rc->idle);
	free(rc->host);
	free(rc->username);
	if (rc->password) {
		memset(rc->password, 0, strlen(rc->password));
		free(rc->password);
	}
	free(rc->redacted);
	free(rc);
}

static int ex_ping(struct rediscache *rc, redisContext *ctx, void *arg)
{
	redisReply *r;
	int rv;

	(void)rc;
	(void)arg;
	r = redisCommand(ctx, "PING");
	rv = reply_is_status(r, "PONG") ? 0 : -1;
	freeReplyObject(r);
	return rv;
}

static int rc_ping(void *impl)
{
	return with_context(impl, ex_ping, NULL);
}

struct set_arg {
	const char *key;
	int64_t value;
	int64_t ttl; /* <= 0: delete */
};

static int ex_set(struct rediscache *rc, redisContext *ctx, void *arg)
{
	const struct set_arg *a = arg;
	redisReply *r;
	int rv = -1;

	(void)rc;
	if (a->ttl > 0) {
		r = redisCommand(ctx, "SET %s %lld EX %lld", a->key, (long long)a->value,
		                 (long long)a->ttl);
		rv = reply_is_status(r, "OK") ? 0 : -1;
	} else {
		r = redisCommand(ctx, "DEL %s", a->key);
		rv = r && r->type == REDIS_REPLY_INTEGER ? 0 : -1;
	}
	freeReplyObject(r);
	return rv;
}

static int rc_set(void *impl, const char *key, int64_t value, int64_t expires_at, int64_t now)
{
	char k[PREFIXED_KEY_MAX];
	struct set_arg a = {.key = k, .value = value};

	if (prefixed(k, sizeof(k), key) != 0)
		return -1;
	/* an expiry already past: the key must not exist afterwards */
	a.ttl = expires_at > now ? expires_at - now : 0;
	return with_context(impl, ex_set, &a);
}

struct get2_arg {
	const char *k1, *k2;
	int64_t v1, v2;
};

/* An MGET element: nil -> 0, a decimal string -> its value, else -1. */
static int element_value(const redisReply *e, int64_t *v)
{
	if (e->type == REDIS_REPLY_NIL) {
		*v = 0;
		return 0;
	}
	if (e->type == REDIS_REPLY_STRING)
		return parse_int64(e->str, e->len, v);
	return -1;
}

static int ex_get2(struct rediscache *rc, redisContext *ctx, void *arg)
{
	struct get2_arg *a = arg;
	redisReply *r;
	int rv = -1;

	(void)rc;
	r = redisCommand(ctx, "MGET %s %s", a->k1, a->k2);
	if (!r || r->type != REDIS_REPLY_ARRAY || r->elements != 2)
		goto out;
	if (element_value(r->element[0], &a->v1) != 0 || element_value(r->element[1], &a->v2) != 0)
		goto out;
	rv = 0;
out:
	freeReplyObject(r);
	return rv;
}

static int rc_get2(void *impl, const char *k1, const char *k2, int64_t now, int64_t *v1,
                   int64_t *v2)
{
	char p1[PREFIXED_KEY_MAX], p2[PREFIXED_KEY_MAX];
	struct get2_arg a = {.k1 = p1, .k2 = p2};

	(void)now; /* Redis expires keys itself */
	if (prefixed(p1, sizeof(p1), k1) != 0 || prefixed(p2, sizeof(p2), k2) != 0)
		return -1;
	if (with_context(impl, ex_get2, &a) != 0)
		return -1;
	*v1 = a.v1;
	*v2 = a.v2;
	return 0;
}

struct incr_arg {
	const char *key;
	int window;
	int64_t count, ttl;
};

static int ex_incr(struct rediscache *rc, redisContext *ctx, void *arg)
{
	struct incr_arg *a = arg;
	redisReply *r;
	int rv = -1;

	r = redisCommand(ctx, "EVALSHA %s 1 %s %d", rc->incr_sha, a->key, a->window);
	if (r && r->type == REDIS_REPLY_ERROR && strncmp(r->str, "NOSCRIPT", 8) == 0) {
		/* script cache empty (new or restarted Redis): send the body */
		freeReplyObject(r);
		r = redisCommand(ctx, "EVAL %s 1 %s %d", incr_script, a->key, a->window);
	}
	if (!r || r->type != REDIS_REPLY_ARRAY || r->elements != 2 ||
	    r->element[0]->type != REDIS_REPLY_INTEGER ||
	    r->element[1]->type != REDIS_REPLY_INTEGER) {
		if (r && r->type == REDIS_REPLY_ERROR)
			log_warning("cache: rate-limit script failed: %s", r->str);
		goto out;
	}
	a->count = r->element[0]->integer;
	a->ttl = r->element[1]->integer;
	rv = 0;
out:
	freeReplyObject(r);
	return rv;
}

static int rc_incr(void *impl, const char *key, int window, int64_t now, int64_t *count,
                   int *reset_in)
{
	char k[PREFIXED_KEY_MAX];
	struct incr_arg a = {.key = k, .window = window > 0 ? window : 1};

	(void)now; /* the window runs on Redis's clock */
	if (prefixed(k, sizeof(k), key) != 0)
		return -1;
	if (with_context(impl, ex_incr, &a) != 0)
		return -1;
	*count = a.count;
	*reset_in = a.ttl < 0 ? 0 : a.ttl > INT_MAX ? INT_MAX : (int)a.ttl;
	return 0;
}

struct peek_arg {
	const char *key;
	int64_t count, ttl;
};

/* GET and TTL pipelined: one round trip. */
static int ex_peek(struct rediscache *rc, redisContext *ctx, void *arg)
{
	struct peek_arg *a = arg;
	redisReply *get = NULL, *ttl = NULL;
	void *reply;
	int rv = -1;

	(void)rc;
	if (redisAppendCommand(ctx, "GET %s", a->key) != REDIS_OK ||
	    redisAppendCommand(ctx, "TTL %s", a->key) != REDIS_OK)
		goto out;
	/* read both replies, whatever the first, so the stream stays in step */
	if (redisGetReply(ctx, &reply) != REDIS_OK)
		goto out;
	get = reply;
	if (redisGetReply(ctx, &reply) != REDIS_OK)
		goto out;
	ttl = reply;
	if (!get || !ttl || ttl->type != REDIS_REPLY_INTEGER || element_value(get, &a->count) != 0)
		goto out;
	a->ttl = ttl->integer;
	if (a->ttl == -2) /* expired between the two commands */
		a->count = 0;
	rv = 0;
out:
	freeReplyObject(get);
	freeReplyObject(ttl);
	return rv;
}

static int rc_peek(void *impl, const char *key, int64_t now, int64_t *count, int *reset_in)
{
	char k[PREFIXED_KEY_MAX];
	struct peek_arg a = {.key = k};

	(void)now;
	if (prefixed(k, sizeof(k), key) != 0)
		return -1;
	if (with_context(impl, ex_peek, &a) != 0)
		return -1;
	*count = a.count;
	*reset_in = a.ttl < 0 ? 0 : a.ttl > INT_MAX ? INT_MAX : (int)a.ttl;
	return 0;
}

static int ex_del(struct rediscache *rc, redisContext *ctx, void *arg)
{
	redisReply *r;
	int rv;

	(void)rc;
	r = redisCommand(ctx, "DEL %s", (const char *)arg);
	rv = r && r->type == REDIS_REPLY_INTEGER ? 0 : -1;
	freeReplyObject(r);
	return rv;
}

static int rc_del(void *impl, const char *key)
{
	char k[PREFIXED_KEY_MAX];

	if (prefixed(k, sizeof(k), key) != 0)
		return -1;
	return with_context(impl, ex_del, k);
}

const struct cache_backend rediscache_backend = {
        .kind = "redis",
        .close = rc_close,
        .ping = rc_ping,
        .set = rc_set,
        .get2 = rc_get2,
        .incr = rc_incr,
        .peek = rc_peek,
        .del = rc_del,
};
