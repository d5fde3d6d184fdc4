/*
 * test_cache_redis.c - the Redis revocation / rate-limit store, against a
 * real Redis.
 *
 * TEST_REDIS_URL (redis://:password@127.0.0.1:port/0) names a Redis to use;
 * unset, the program starts its own throwaway redis-server on a free
 * loopback port in a temporary folder and kills it at the end, so the
 * tests always run for real.  The fault tests (Redis down at start,
 * stopped, restarted) always use servers of their own.
 */
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <ftw.h>
#include <inttypes.h>
#include <netinet/in.h>
#include <pthread.h>
#include <setjmp.h>
#include <signal.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/prctl.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include <cmocka.h>
#include <hiredis/hiredis.h>

#include "cache/cache.h"
#include "config.h"
#include "url.h"
#include "tmppath.h"

#define SERVER_PASSWORD  "pw"
#define START_TIMEOUT_MS 10000

/* A redis-server started by this program. */
struct server {
	pid_t pid;
	int port;
	char dir[64];
};

static struct {
	struct redis_url url; /* the Redis the functional tests use */
	bool own;             /* url points at main_srv */
	struct server main_srv;
	bool can_spawn;      /* redis-server is on PATH */
	struct server fault; /* the current fault test's own server */
	char tag[32];        /* per-run key prefix, so runs never collide */
} G;

static char redis_url_flag[] = "redis://(test)";

static int64_t mono_ms(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

static void sleep_ms(int ms)
{
	struct timespec ts = {.tv_sec = ms / 1000, .tv_nsec = (long)(ms % 1000) * 1000000L};

	nanosleep(&ts, NULL);
}

static bool on_path(const char *prog)
{
	const char *path = getenv("PATH");
	char buf[4096];

	if (!path)
		path = "/usr/local/bin:/usr/bin:/bin";
	while (*path) {
		size_t n = strcspn(path, ":");

		snprintf(buf, sizeof(buf), "%.*s/%s", (int)n, path, prog);
		if (n > 0 && access(buf, X_OK) == 0)
			return true;
		path += n;
		if (*path == ':')
			path++;
	}
	return false;
}

/* A loopback port nobody listens on right now. */
static int free_port(void)
{
	struct sockaddr_in sa = {.sin_family = AF_INET};
	socklen_t len = sizeof(sa);
	int fd, port = -1;

	sa.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
	fd = socket(AF_INET, SOCK_STREAM, 0);
	if (fd < 0)
		return -1;
	if (bind(fd, (struct sockaddr *)&sa, sizeof(sa)) == 0 &&
	    getsockname(fd, (struct sockaddr *)&sa, &len) == 0)
		port = ntohs(sa.sin_port);
	close(fd);
	return port;
}

/* Connect to url directly (AUTH, SELECT); NULL when that fails. */
static redisContext *raw_connect(const struct redis_url *u)
{
	struct timeval tv = {1, 0};
	redisContext *ctx = redisConnectWithTimeout(u->host, u->port, tv);
	redisReply *r = NULL;

	if (!ctx || ctx->err)
		goto fail;
	redisSetTimeout(ctx, tv);
	if (u->password) {
		r = u->username ? redisCommand(ctx, "AUTH %s %s", u->username, u->password)
		                : redisCommand(ctx, "AUTH %s", u->password);
		if (!r || r->type == REDIS_REPLY_ERROR)
			goto fail;
		freeReplyObject(r);
	}
	r = redisCommand(ctx, "SELECT %d", u->db);
	if (!r || r->type == REDIS_REPLY_ERROR)
		goto fail;
	freeReplyObject(r);
	return ctx;
fail:
	freeReplyObject(r);
	if (ctx)
		redisFree(ctx);
	return NULL;
}

static void server_url(const struct server *s, struct redis_url *u)
{
	char buf[128];
	const char *why = NULL;

	snprintf(buf, sizeof(buf), "redis://:%s@127.0.0.1:%d/0", SERVER_PASSWORD, s->port);
	if (redis_url_parse(buf, u, &why) != 0) {
		fprintf(stderr, "bad test URL: %s\n", why);
		abort();
	}
}

/* The server answers PING (after AUTH). */
static bool server_pings(const struct server *s)
{
	struct redis_url u;
	redisContext *ctx;
	redisReply *r;
	bool ok = false;

	server_url(s, &u);
	ctx = raw_connect(&u);
	if (ctx) {
		r = redisCommand(ctx, "PING");
		ok = r && r->type == REDIS_REPLY_STATUS && strcmp(r->str, "PONG") == 0;
		freeReplyObject(r);
		redisFree(ctx);
	}
	redis_url_free(&u);
	return ok;
}

/*
 * Start redis-server on s->port (0: a free one) in s->dir (created when
 * empty) and wait until it answers.  Returns 0 or -1.
 */
static int server_start(struct server *s)
{
	bool pick = s->port == 0;
	int attempt;

	if (!s->dir[0]) {
		if (!tmp_dir(s->dir, sizeof(s->dir), "/tmp/test_cache_redis.")) {
			s->dir[0] = '\0';
			return -1;
		}
	}
	for (attempt = 0; attempt < 3; attempt++) {
		char port[16], log[128];
		int64_t deadline;
		int status;

		if (pick)
			s->port = free_port();
		if (s->port <= 0)
			return -1;
		snprintf(port, sizeof(port), "%d", s->port);
		snprintf(log, sizeof(log), "%s/redis.log", s->dir);
		s->pid = fork();
		if (s->pid < 0)
			return -1;
		if (s->pid == 0) {
			int fd = open(log, O_WRONLY | O_CREAT | O_APPEND, 0600);

			prctl(PR_SET_PDEATHSIG, SIGKILL); /* never outlive the test */
			if (fd >= 0) {
				dup2(fd, 1);
				dup2(fd, 2);
			}
			execlp("redis-server", "redis-server", "--port", port, "--bind",
			       "127.0.0.1", "--save", "", "--appendonly", "no", "--requirepass",
			       SERVER_PASSWORD, "--dir", s->dir, "--daemonize", "no", (char *)NULL);
			_exit(127);
		}
		deadline = mono_ms() + START_TIMEOUT_MS;
		while (mono_ms() < deadline) {
			if (waitpid(s->pid, &status, WNOHANG) == s->pid) {
				s->pid = 0; /* died: port taken? */
				break;
			}
			if (server_pings(s))
				return 0;
			sleep_ms(20);
		}
		if (s->pid > 0) {
			kill(s->pid, SIGKILL);
			waitpid(s->pid, NULL, 0);
			s->pid = 0;
		}
		if (!pick)
			break;
	}
	fprintf(stderr, "redis-server did not start (see %s/redis.log)\n", s->dir);
	return -1;
}

static void server_stop(struct server *s)
{
	if (s->pid > 0) {
		kill(s->pid, SIGKILL);
		waitpid(s->pid, NULL, 0);
		s->pid = 0;
	}
}

static int rm_entry(const char *path, const struct stat *st, int flag, struct FTW *ftw)
{
	(void)st;
	(void)flag;
	(void)ftw;
	return remove(path);
}

static void server_destroy(struct server *s)
{
	server_stop(s);
	if (s->dir[0])
		nftw(s->dir, rm_entry, 8, FTW_DEPTH | FTW_PHYS);
	memset(s, 0, sizeof(*s));
}

static struct cache *open_url(const struct redis_url *u)
{
	struct config cfg;
	char err[256] = "";
	struct cache *c;

	memset(&cfg, 0, sizeof(cfg));
	cfg.redis_url = redis_url_flag;
	cfg.redis = *u; /* the cache copies what it keeps */
	cfg.workers = 4;
	cfg.database_pool_size = 2;
	cfg.database_max_overflow = 1;
	c = cache_open(&cfg, err, sizeof(err));
	if (!c)
		fprintf(stderr, "cache_open: %s\n", err);
	return c;
}

/* A key name unique to this run: "<tag>-<name>". */
static const char *k(char *buf, size_t len, const char *name)
{
	snprintf(buf, len, "%s-%s", G.tag, name);
	return buf;
}

/* One raw command on the functional Redis; the reply or NULL. */
static redisReply *raw(const char *fmt, ...)
{
	redisContext *ctx = raw_connect(&G.url);
	redisReply *r = NULL;
	va_list ap;

	if (!ctx)
		return NULL;
	va_start(ap, fmt);
	r = redisvCommand(ctx, fmt, ap);
	va_end(ap);
	redisFree(ctx);
	return r;
}

static long long raw_integer(const char *cmd, const char *key)
{
	redisReply *r = raw("%s %s", cmd, key);
	long long v = -100;

	if (r && r->type == REDIS_REPLY_INTEGER)
		v = r->integer;
	freeReplyObject(r);
	return v;
}

/* "calls=" of one command in INFO commandstats (0 when never called). */
static long long command_calls(const char *name)
{
	redisReply *r = raw("INFO commandstats");
	char needle[64];
	long long v = -1;
	const char *p;

	if (!r || r->type != REDIS_REPLY_STRING)
		goto out;
	snprintf(needle, sizeof(needle), "cmdstat_%s:calls=", name);
	p = strstr(r->str, needle);
	v = p ? strtoll(p + strlen(needle), NULL, 10) : 0;
out:
	freeReplyObject(r);
	return v;
}

/* ---- functional tests ---- */

static void test_kind_ping_and_prefix(void **state)
{
	struct cache *c = open_url(&G.url);
	char jti[96], key[128];

	(void)state;
	assert_non_null(c);
	assert_string_equal(cache_kind(c), "redis");
	assert_int_equal(cache_ping(c), 0);
	k(jti, sizeof(jti), "prefix-jti");
	assert_int_equal(cache_deny_jti(c, jti, 2000, 1000), 0);
	/* every key lives under "auth:" */
	snprintf(key, sizeof(key), "auth:deny:%s", jti);
	assert_int_equal(raw_integer("EXISTS", key), 1);
	snprintf(key, sizeof(key), "deny:%s", jti);
	assert_int_equal(raw_integer("EXISTS", key), 0);
	cache_close(c);
}

static void test_deny_and_expiry(void **state)
{
	struct cache *c = open_url(&G.url);
	char j1[96], j2[96], j3[96], j4[96], u1[96], key[128];
	bool denied = true;
	int64_t rb = -1, t, deadline;
	long long ttl;

	(void)state;
	assert_non_null(c);
	k(j1, sizeof(j1), "deny-j1");
	k(j2, sizeof(j2), "deny-j2");
	k(j3, sizeof(j3), "deny-j3");
	k(j4, sizeof(j4), "deny-j4");
	k(u1, sizeof(u1), "deny-u1");
	assert_int_equal(cache_token_state(c, j1, u1, 1000, &denied, &rb), 0);
	assert_false(denied);
	assert_int_equal(rb, 0);

	/* the lifetime is exp - now on Redis's clock, whatever `now` is */
	assert_int_equal(cache_deny_jti(c, j1, 1100, 1000), 0);
	assert_int_equal(cache_token_state(c, j1, u1, 1050, &denied, &rb), 0);
	assert_true(denied);
	assert_int_equal(cache_token_state(c, j2, u1, 1050, &denied, &rb), 0);
	assert_false(denied);
	snprintf(key, sizeof(key), "auth:deny:%s", j1);
	ttl = raw_integer("TTL", key);
	assert_true(ttl >= 99 && ttl <= 100);

	/* already expired: nothing stored */
	assert_int_equal(cache_deny_jti(c, j4, 1000, 1000), 0);
	snprintf(key, sizeof(key), "auth:deny:%s", j4);
	assert_int_equal(raw_integer("EXISTS", key), 0);

	/* real expiry: one second */
	t = time(NULL);
	assert_int_equal(cache_deny_jti(c, j3, t + 1, t), 0);
	assert_int_equal(cache_token_state(c, j3, u1, t, &denied, &rb), 0);
	assert_true(denied);
	deadline = mono_ms() + 5000;
	while (denied && mono_ms() < deadline) {
		sleep_ms(50);
		assert_int_equal(cache_token_state(c, j3, u1, time(NULL), &denied, &rb), 0);
	}
	assert_false(denied);
	cache_close(c);
}

static void test_revoke_before(void **state)
{
	struct cache *c = open_url(&G.url);
	char u1[96], u2[96], u3[96], key[128];
	bool denied = true;
	int64_t rb = 0;
	long long ttl;

	(void)state;
	assert_non_null(c);
	k(u1, sizeof(u1), "rvk-u1");
	k(u2, sizeof(u2), "rvk-u2");
	k(u3, sizeof(u3), "rvk-u3");
	assert_int_equal(cache_revoke_user_before(c, u1, 5000, 900, 5000), 0);
	assert_int_equal(cache_token_state(c, "x", u1, 5001, &denied, &rb), 0);
	assert_int_equal(rb, 5000);
	assert_false(denied);
	assert_int_equal(cache_token_state(c, "x", u2, 5001, &denied, &rb), 0);
	assert_int_equal(rb, 0);
	snprintf(key, sizeof(key), "auth:rvk:%s", u1);
	ttl = raw_integer("TTL", key);
	assert_true(ttl >= 899 && ttl <= 900);

	/* a later revocation overwrites value and lifetime */
	assert_int_equal(cache_revoke_user_before(c, u1, 1700000000123LL, 60, 6000), 0);
	assert_int_equal(cache_token_state(c, "x", u1, 6001, &denied, &rb), 0);
	assert_int_equal(rb, 1700000000123LL);
	ttl = raw_integer("TTL", key);
	assert_true(ttl >= 59 && ttl <= 60);

	/* a lifetime already over leaves no key behind */
	assert_int_equal(cache_revoke_user_before(c, u3, 7000, 60, 7000), 0);
	assert_int_equal(cache_revoke_user_before(c, u3, 7000, 0, 7000), 0);
	assert_int_equal(cache_token_state(c, "x", u3, 7000, &denied, &rb), 0);
	assert_int_equal(rb, 0);
	cache_close(c);
}

static void test_token_state_one_call(void **state)
{
	struct cache *c = open_url(&G.url);
	char j[96], u[96], key[128];
	bool denied = false;
	int64_t rb = 0, now = time(NULL);
	long long mget0, get0, mget1, get1;
	redisReply *r;

	(void)state;
	assert_non_null(c);
	k(j, sizeof(j), "both-j");
	k(u, sizeof(u), "both-u");
	assert_int_equal(cache_deny_jti(c, j, now + 600, now), 0);
	assert_int_equal(cache_revoke_user_before(c, u, now - 5, 600, now), 0);

	mget0 = command_calls("mget");
	get0 = command_calls("get");
	assert_true(mget0 >= 0 && get0 >= 0);
	assert_int_equal(cache_token_state(c, j, u, now, &denied, &rb), 0);
	mget1 = command_calls("mget");
	get1 = command_calls("get");
	assert_true(denied);
	assert_int_equal(rb, now - 5);
	/* both keys in a single MGET */
	assert_true(mget1 >= mget0 + 1);
	if (G.own) { /* nobody else talks to our own server */
		assert_int_equal(mget1, mget0 + 1);
		assert_int_equal(get1, get0);
	}

	/* a value that is not a number is an error, never "not revoked" */
	snprintf(key, sizeof(key), "auth:rvk:%s", u);
	r = raw("SET %s garbage EX 60", key);
	assert_non_null(r);
	freeReplyObject(r);
	assert_int_equal(cache_token_state(c, j, u, now, &denied, &rb), -1);
	cache_close(c);
}

static void test_rate_counters(void **state)
{
	struct cache *c = open_url(&G.url);
	char rk[96], rk2[96], key[128];
	int64_t n = 0, deadline;
	int reset = -1, i;
	long long ttl;

	(void)state;
	assert_non_null(c);
	k(rk, sizeof(rk), "login:1.2.3.4");
	k(rk2, sizeof(rk2), "short");
	assert_int_equal(cache_rate_peek(c, rk, 100, &n, &reset), 0);
	assert_int_equal(n, 0);
	assert_int_equal(reset, 0);
	for (i = 1; i <= 5; i++) {
		assert_int_equal(cache_rate_hit(c, rk, 60, 100, &n, &reset), 0);
		assert_int_equal(n, i);
		assert_true(reset >= 58 && reset <= 60);
		if (i == 1)
			assert_int_equal(reset, 60);
	}
	snprintf(key, sizeof(key), "auth:rl:%s", rk);
	ttl = raw_integer("TTL", key);
	assert_true(ttl >= 58 && ttl <= 60);
	assert_int_equal(cache_rate_peek(c, rk, 130, &n, &reset), 0);
	assert_int_equal(n, 5);
	assert_true(reset >= 58 && reset <= 60);
	assert_int_equal(cache_rate_clear(c, rk), 0);
	assert_int_equal(cache_rate_peek(c, rk, 131, &n, &reset), 0);
	assert_int_equal(n, 0);
	assert_int_equal(reset, 0);
	assert_int_equal(raw_integer("EXISTS", key), 0);
	assert_int_equal(cache_rate_hit(c, rk, 60, 132, &n, &reset), 0);
	assert_int_equal(n, 1);

	/* a one-second window really ends, and a new one starts at 1 */
	assert_int_equal(cache_rate_hit(c, rk2, 1, 0, &n, &reset), 0);
	assert_int_equal(cache_rate_hit(c, rk2, 1, 0, &n, &reset), 0);
	assert_int_equal(n, 2);
	deadline = mono_ms() + 5000;
	while (n != 0 && mono_ms() < deadline) {
		sleep_ms(50);
		assert_int_equal(cache_rate_peek(c, rk2, 0, &n, &reset), 0);
	}
	assert_int_equal(n, 0);
	assert_int_equal(cache_rate_hit(c, rk2, 1, 0, &n, &reset), 0);
	assert_int_equal(n, 1);
	cache_close(c);
}

static void test_rate_repair_and_script_flush(void **state)
{
	struct cache *c = open_url(&G.url);
	char rk[96], key[128];
	int64_t n = 0;
	int reset = 0;
	redisReply *r;
	long long ttl;

	(void)state;
	assert_non_null(c);
	k(rk, sizeof(rk), "repair");
	snprintf(key, sizeof(key), "auth:rl:%s", rk);
	/* a counter that somehow lost its expiry gets the window again */
	r = raw("SET %s 7", key);
	assert_non_null(r);
	freeReplyObject(r);
	assert_int_equal(raw_integer("TTL", key), -1);
	assert_int_equal(cache_rate_hit(c, rk, 30, 0, &n, &reset), 0);
	assert_int_equal(n, 8);
	assert_int_equal(reset, 30);
	ttl = raw_integer("TTL", key);
	assert_true(ttl >= 29 && ttl <= 30);

	/* an emptied script cache (as after a restart) is handled */
	r = raw("SCRIPT FLUSH");
	assert_non_null(r);
	assert_int_not_equal(r->type, REDIS_REPLY_ERROR);
	freeReplyObject(r);
	assert_int_equal(cache_rate_hit(c, rk, 30, 0, &n, &reset), 0);
	assert_int_equal(n, 9);
	assert_int_equal(cache_rate_hit(c, rk, 30, 0, &n, &reset), 0);
	assert_int_equal(n, 10);
	cache_close(c);
}

#define HIT_THREADS 8
#define HITS_EACH   50

struct hitter {
	struct cache *c;
	const char *key;
	int64_t counts[HITS_EACH];
	int errors;
};

static void *hit_many(void *arg)
{
	struct hitter *h = arg;
	int i, reset;

	for (i = 0; i < HITS_EACH; i++)
		if (cache_rate_hit(h->c, h->key, 60, 0, &h->counts[i], &reset) != 0)
			h->errors++;
	return NULL;
}

static int cmp_i64(const void *a, const void *b)
{
	int64_t x = *(const int64_t *)a, y = *(const int64_t *)b;

	return (x > y) - (x < y);
}

static void test_rate_concurrent_atomic(void **state)
{
	struct cache *c = open_url(&G.url);
	static struct hitter h[HIT_THREADS];
	static int64_t all[HIT_THREADS * HITS_EACH];
	pthread_t th[HIT_THREADS];
	char rk[96];
	int64_t n = 0;
	int reset, i, j;

	(void)state;
	assert_non_null(c);
	k(rk, sizeof(rk), "concurrent");
	for (i = 0; i < HIT_THREADS; i++) {
		memset(&h[i], 0, sizeof(h[i]));
		h[i].c = c;
		h[i].key = rk;
		assert_int_equal(pthread_create(&th[i], NULL, hit_many, &h[i]), 0);
	}
	for (i = 0; i < HIT_THREADS; i++)
		pthread_join(th[i], NULL);
	for (i = 0; i < HIT_THREADS; i++) {
		assert_int_equal(h[i].errors, 0);
		for (j = 0; j < HITS_EACH; j++)
			all[i * HITS_EACH + j] = h[i].counts[j];
	}
	/* every hit saw a distinct count: exactly 1..N */
	qsort(all, HIT_THREADS * HITS_EACH, sizeof(all[0]), cmp_i64);
	for (i = 0; i < HIT_THREADS * HITS_EACH; i++)
		assert_int_equal(all[i], i + 1);
	assert_int_equal(cache_rate_peek(c, rk, 0, &n, &reset), 0);
	assert_int_equal(n, HIT_THREADS * HITS_EACH);
	cache_close(c);
}

static void test_wrong_password(void **state)
{
	struct redis_url bad = G.url;
	struct cache *c;
	bool denied = false;
	int64_t rb = 0, n = 0, t0;
	int reset = 0;

	(void)state;
	bad.password = (char *)"definitely-not-the-password";
	t0 = mono_ms();
	c = open_url(&bad);
	assert_non_null(c);                  /* not fatal at start ... */
	assert_int_equal(cache_ping(c), -1); /* ... but every operation fails */
	assert_int_equal(cache_token_state(c, "j", "u", 1000, &denied, &rb), -1);
	assert_int_equal(cache_deny_jti(c, "j", 2000, 1000), -1);
	assert_int_equal(cache_revoke_user_before(c, "u", 1000, 60, 1000), -1);
	assert_int_equal(cache_rate_hit(c, "r", 60, 1000, &n, &reset), -1);
	assert_int_equal(cache_rate_peek(c, "r", 1000, &n, &reset), -1);
	assert_int_equal(cache_rate_clear(c, "r"), -1);
	assert_true(mono_ms() - t0 < 2000);
	cache_close(c);
}

/* ---- fault tests: servers of their own ---- */

static void need_spawn(void)
{
	if (!G.can_spawn) {
		/* only possible with TEST_REDIS_URL set */
		print_message("redis-server is not on PATH: fault tests need one of their own\n");
		skip();
	}
}

/* Every operation fails, each within 2 s. */
static void assert_all_fail_fast(struct cache *c)
{
	bool denied = false;
	int64_t rb = 0, n = 0, t;
	int reset = 0;

	t = mono_ms();
	assert_int_equal(cache_ping(c), -1);
	assert_true(mono_ms() - t < 2000);
	t = mono_ms();
	assert_int_equal(cache_token_state(c, "j", "u", 1000, &denied, &rb), -1);
	assert_true(mono_ms() - t < 2000);
	t = mono_ms();
	assert_int_equal(cache_deny_jti(c, "j", 2000, 1000), -1);
	assert_true(mono_ms() - t < 2000);
	t = mono_ms();
	assert_int_equal(cache_rate_hit(c, "r", 60, 1000, &n, &reset), -1);
	assert_true(mono_ms() - t < 2000);
	t = mono_ms();
	assert_int_equal(cache_rate_peek(c, "r", 1000, &n, &reset), -1);
	assert_true(mono_ms() - t < 2000);
}

/* Poll ping until the cache reaches Redis again; true on success. */
static bool wait_cache_up(struct cache *c, int timeout_ms)
{
	int64_t deadline = mono_ms() + timeout_ms;

	while (mono_ms() < deadline) {
		if (cache_ping(c) == 0)
			return true;
		sleep_ms(50);
	}
	return false;
}

static void test_down_at_start_then_up(void **state)
{
	struct server *s = &G.fault;
	struct redis_url u;
	struct cache *c;
	bool denied = true;
	int64_t rb = -1, n = 0, t0;
	int reset = 0;

	(void)state;
	need_spawn();
	s->port = free_port();
	assert_true(s->port > 0);
	server_url(s, &u);
	t0 = mono_ms();
	c = open_url(&u); /* nothing listens yet */
	assert_non_null(c);
	assert_true(mono_ms() - t0 < 2000);
	assert_all_fail_fast(c);

	assert_int_equal(server_start(s), 0);
	assert_true(wait_cache_up(c, 10000));
	assert_int_equal(cache_token_state(c, "j", "u", 1000, &denied, &rb), 0);
	assert_false(denied);
	assert_int_equal(rb, 0);
	assert_int_equal(cache_rate_hit(c, "r", 60, 1000, &n, &reset), 0);
	assert_int_equal(n, 1);
	cache_close(c);
	redis_url_free(&u);
	server_destroy(s);
}

static void test_stop_and_restart(void **state)
{
	struct server *s = &G.fault;
	struct redis_url u;
	struct cache *c;
	bool denied = false;
	int64_t rb = 0, n = 0;
	int reset = 0;

	(void)state;
	need_spawn();
	assert_int_equal(server_start(s), 0);
	server_url(s, &u);
	c = open_url(&u);
	assert_non_null(c);
	assert_int_equal(cache_rate_hit(c, "r", 60, 1000, &n, &reset), 0);
	assert_int_equal(n, 1);
	assert_int_equal(cache_deny_jti(c, "j", 2000, 1000), 0);

	/* stopped: every operation fails closed, quickly */
	server_stop(s);
	assert_all_fail_fast(c);

	/* restarted on the same port: the cache reconnects by itself */
	assert_int_equal(server_start(s), 0);
	assert_true(wait_cache_up(c, 10000));
	assert_int_equal(cache_rate_hit(c, "r", 60, 1000, &n, &reset), 0);
	assert_int_equal(n, 1); /* a fresh server: the old window is gone */
	assert_int_equal(cache_token_state(c, "j", "u", 1000, &denied, &rb), 0);
	assert_false(denied);
	assert_int_equal(cache_deny_jti(c, "j", 2000, 1000), 0);
	assert_int_equal(cache_token_state(c, "j", "u", 1000, &denied, &rb), 0);
	assert_true(denied);
	cache_close(c);
	redis_url_free(&u);
	server_destroy(s);
}

/*
 * A restart between two requests: the pooled connections are dead, yet
 * the very next operation succeeds (a connection the server closed is
 * retried once on a fresh one).
 */
static void test_restart_between_requests(void **state)
{
	struct server *s = &G.fault;
	struct redis_url u;
	struct cache *c;
	bool denied = true;
	int64_t rb = -1, n = 0;
	int reset = 0;

	(void)state;
	need_spawn();
	assert_int_equal(server_start(s), 0);
	server_url(s, &u);
	c = open_url(&u);
	assert_non_null(c);
	assert_int_equal(cache_ping(c), 0);
	assert_int_equal(cache_rate_hit(c, "r", 60, 1000, &n, &reset), 0);

	server_stop(s);
	assert_int_equal(server_start(s), 0);
	assert_int_equal(cache_token_state(c, "j", "u", 1000, &denied, &rb), 0);
	assert_false(denied);
	assert_int_equal(rb, 0);
	assert_int_equal(cache_rate_hit(c, "r", 60, 1000, &n, &reset), 0);
	assert_int_equal(n, 1);
	cache_close(c);
	redis_url_free(&u);
	server_destroy(s);
}

/*
 * A hung Redis (SIGSTOP: the kernel still accepts connections, nothing
 * answers) costs an operation about the command timeout, never a hang.
 */
static void test_hung_server_times_out(void **state)
{
	struct server *s = &G.fault;
	struct redis_url u;
	struct cache *c;
	int64_t n = 0, t;
	int reset = 0;

	(void)state;
	need_spawn();
	assert_int_equal(server_start(s), 0);
	server_url(s, &u);
	c = open_url(&u);
	assert_non_null(c);
	assert_int_equal(cache_ping(c), 0);

	assert_int_equal(kill(s->pid, SIGSTOP), 0);
	/* on the pooled connection: the reply never comes */
	t = mono_ms();
	assert_int_equal(cache_rate_hit(c, "r", 60, 1000, &n, &reset), -1);
	assert_true(mono_ms() - t < 2000);
	/* on a new connection: AUTH never answers */
	t = mono_ms();
	assert_int_equal(cache_ping(c), -1);
	assert_true(mono_ms() - t < 2000);

	assert_int_equal(kill(s->pid, SIGCONT), 0);
	assert_true(wait_cache_up(c, 10000));
	assert_int_equal(cache_rate_hit(c, "r2", 60, 1000, &n, &reset), 0);
	assert_int_equal(n, 1);
	cache_close(c);
	redis_url_free(&u);
	server_destroy(s);
}

/* ---- set-up ---- */

/* After a fault test, even a failed one: its server and folder go. */
static int fault_teardown(void **state)
{
	(void)state;
	server_destroy(&G.fault);
	return 0;
}

static int group_setup(void **state)
{
	const char *env = getenv("TEST_REDIS_URL");

	(void)state;
	signal(SIGPIPE, SIG_IGN); /* as serve does: a dead socket is an error, not a signal */
	snprintf(G.tag, sizeof(G.tag), "t%ld-%ld", (long)getpid(), (long)time(NULL));
	G.can_spawn = on_path("redis-server");
	if (env && *env) {
		const char *why = NULL;

		if (redis_url_parse(env, &G.url, &why) != 0) {
			fprintf(stderr, "TEST_REDIS_URL %s\n", why);
			return -1;
		}
		return 0;
	}
	if (!G.can_spawn) {
		fprintf(stderr, "redis-server is not on PATH and TEST_REDIS_URL is unset\n");
		return -1;
	}
	if (server_start(&G.main_srv) != 0)
		return -1;
	server_url(&G.main_srv, &G.url);
	G.own = true;
	return 0;
}

static int group_teardown(void **state)
{
	(void)state;
	redis_url_free(&G.url);
	if (G.own)
		server_destroy(&G.main_srv);
	return 0;
}

int main(void)
{
	const struct CMUnitTest tests[] = {
	        cmocka_unit_test(test_kind_ping_and_prefix),
	        cmocka_unit_test(test_deny_and_expiry),
	        cmocka_unit_test(test_revoke_before),
	        cmocka_unit_test(test_token_state_one_call),
	        cmocka_unit_test(test_rate_counters),
	        cmocka_unit_test(test_rate_repair_and_script_flush),
	        cmocka_unit_test(test_rate_concurrent_atomic),
	        cmocka_unit_test(test_wrong_password),
	        cmocka_unit_test_teardown(test_down_at_start_then_up, fault_teardown),
	        cmocka_unit_test_teardown(test_stop_and_restart, fault_teardown),
	        cmocka_unit_test_teardown(test_restart_between_requests, fault_teardown),
	        cmocka_unit_test_teardown(test_hung_server_times_out, fault_teardown),
	};
	return cmocka_run_group_tests(tests, group_setup, group_teardown);
}
