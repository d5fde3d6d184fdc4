/*
 * test_store.c - every store operation on a temporary SQLite database: the
 * shared contract (store_contract.c: users, list filter/paging/escaping,
 * cascades, refresh tokens, the outbox life cycle; also run on PostgreSQL
 * by test_store_pg.c), and here the pool (sizes, timeout, waiters),
 * transactions, over-long values, sessions, refresh-token spend races,
 * one-time tokens, the audit log.
 */
#include <pthread.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include <cmocka.h>
#include <sqlite3.h>

#include "config.h"
#include "store/store.h"
#include "store_contract.h"
#include "tmppath.h"

struct fx {
	struct contract_fx k; /* first: what the contract tests see */
	char dir[64];
	char path[128];
	struct config cfg;
};

static void fx_config(struct fx *f, int pool_size, int timeout)
{
	memset(&f->cfg, 0, sizeof(f->cfg));
	f->cfg.environment = ENV_TEST;
	f->cfg.db.kind = DB_SQLITE;
	f->cfg.db.sqlite_path = f->path;
	f->cfg.database_pool_size = pool_size;
	f->cfg.database_max_overflow = 5; /* ignored by SQLite */
	f->cfg.database_pool_timeout = timeout;
}

static struct fx *fx_new(void)
{
	struct fx *f = calloc(1, sizeof(*f));

	assert_non_null(f);
	assert_non_null(tmp_dir(f->dir, sizeof(f->dir), "/tmp/test_store-"));
	snprintf(f->path, sizeof(f->path), "%s/auth.db", f->dir);
	return f;
}

static void fx_free(struct fx *f)
{
	char p[200];

	snprintf(p, sizeof(p), "%s-wal", f->path);
	unlink(p);
	snprintf(p, sizeof(p), "%s-shm", f->path);
	unlink(p);
	unlink(f->path);
	rmdir(f->dir);
	free(f);
}

static int setup(void **state)
{
	struct fx *f = fx_new();
	char err[256];
	int applied = -1;

	fx_config(f, 2, 1);
	f->k.st = store_open(&f->cfg, err, sizeof(err));
	if (!f->k.st)
		fail_msg("store_open: %s", err);
	f->k.c = store_acquire(f->k.st);
	assert_non_null(f->k.c);
	assert_int_equal(store_migrate_up(f->k.c, &applied, NULL), STORE_OK);
	assert_true(applied >= 1);
	*state = f;
	return 0;
}

static int teardown(void **state)
{
	struct fx *f = *state;

	if (f->k.c)
		store_release(f->k.st, f->k.c);
	store_close(f->k.st);
	fx_free(f);
	return 0;
}

/* ---- helpers ---- */

/* A scalar from the database file, read through a connection of our own. */
static int64_t raw_scalar(const char *path, const char *sql)
{
	sqlite3 *db = NULL;
	sqlite3_stmt *st = NULL;
	int64_t v = -1;

	assert_int_equal(sqlite3_open_v2(path, &db, SQLITE_OPEN_READWRITE, NULL), SQLITE_OK);
	sqlite3_busy_timeout(db, 5000);
	if (sqlite3_prepare_v2(db, sql, -1, &st, NULL) != SQLITE_OK)
		fail_msg("prepare %s: %s", sql, sqlite3_errmsg(db));
	if (sqlite3_step(st) == SQLITE_ROW)
		v = sqlite3_column_int64(st, 0);
	sqlite3_finalize(st);
	sqlite3_close(db);
	return v;
}

static void raw_exec(const char *path, const char *sql)
{
	sqlite3 *db = NULL;
	char *msg = NULL;

	assert_int_equal(sqlite3_open_v2(path, &db, SQLITE_OPEN_READWRITE, NULL), SQLITE_OK);
	sqlite3_busy_timeout(db, 5000);
	if (sqlite3_exec(db, sql, NULL, NULL, &msg) != SQLITE_OK)
		fail_msg("exec %s: %s", sql, msg);
	sqlite3_close(db);
}

int64_t contract_scalar(void **state, const char *sql)
{
	struct fx *f = *state;

	return raw_scalar(f->path, sql);
}

static double mono_now(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

/* ---- opening ---- */

static void test_open_kind_and_stats(void **state)
{
	struct fx *f = *state;
	struct store_pool_stats ps;

	assert_string_equal(store_kind(f->k.st), "sqlite");
	store_pool_stats(f->k.st, &ps);
	assert_int_equal(ps.size, 2);
	assert_int_equal(ps.in_use, 1);
	assert_int_equal(ps.idle, 1);
	assert_int_equal(ps.waiting, 0);
	assert_int_equal(store_ping(f->k.c), STORE_OK);
}

/* DB_POSTGRES reaches the PostgreSQL backend (tested for real in test_store_pg.c). */
static void test_open_postgres_backend(void **state)
{
	struct fx *f = fx_new();
	char conninfo[] = "postgresql://auth:pw@127.0.0.1:1/auth";
	char redacted[] = "postgresql://auth:***@127.0.0.1:1/auth";
	char err[512] = "";

	(void)state;
	fx_config(f, 2, 1);
	f->cfg.db.kind = DB_POSTGRES;
	f->cfg.db.pg_conninfo = conninfo;
	f->cfg.db.redacted = redacted;
	assert_null(store_open(&f->cfg, err, sizeof(err)));
	assert_non_null(strstr(err, "cannot connect to PostgreSQL at postgresql://auth:***@"));
	fx_free(f);
}

static void test_open_bad_path(void **state)
{
	struct fx *f = fx_new();
	char err[256] = "";

	(void)state;
	snprintf(f->path, sizeof(f->path), "%s/no/such/dir/auth.db", f->dir);
	fx_config(f, 2, 1);
	assert_null(store_open(&f->cfg, err, sizeof(err)));
	assert_non_null(strstr(err, "cannot open SQLite database"));
	snprintf(f->path, sizeof(f->path), ":memory:");
	assert_null(store_open(&f->cfg, err, sizeof(err)));
	assert_non_null(strstr(err, "in-memory"));
	snprintf(f->path, sizeof(f->path), "%s/auth.db", f->dir);
	fx_free(f);
}

static void test_open_sets_wal(void **state)
{
	struct fx *f = *state;

	/* journal_mode is persistent in the file: the store switched it to WAL. */
	assert_int_equal(
	        raw_scalar(f->path, "SELECT journal_mode = 'wal' FROM pragma_journal_mode"), 1);
	/* foreign_keys is per connection: proven by the cascade and FK tests. */
}

/* ---- pool ---- */

static void test_pool_min_size(void **state)
{
	struct fx *f = fx_new();
	struct store_pool_stats ps;
	struct store *st;
	char err[256];

	(void)state;
	fx_config(f, 1, 1);
	st = store_open(&f->cfg, err, sizeof(err));
	assert_non_null(st);
	store_pool_stats(st, &ps);
	assert_int_equal(ps.size, 2); /* SQLite: at least 2 */
	assert_int_equal(ps.idle, 2);
	store_close(st);

	fx_config(f, 3, 1);
	st = store_open(&f->cfg, err, sizeof(err));
	assert_non_null(st);
	store_pool_stats(st, &ps);
	assert_int_equal(ps.size, 3); /* no overflow on SQLite either */
	store_close(st);
	fx_free(f);
}

static void test_pool_acquire_timeout(void **state)
{
	struct fx *f = fx_new();
	struct store_pool_stats ps;
	struct store_conn *a, *b, *c;
	struct store *st;
	char err[256];
	double t0, dt;

	(void)state;
	fx_config(f, 2, 1);
	st = store_open(&f->cfg, err, sizeof(err));
	assert_non_null(st);
	a = store_acquire(st);
	b = store_acquire(st);
	assert_non_null(a);
	assert_non_null(b);
	assert_ptr_not_equal(a, b);
	store_pool_stats(st, &ps);
	assert_int_equal(ps.in_use, 2);
	assert_int_equal(ps.idle, 0);

	t0 = mono_now();
	c = store_acquire(st);
	dt = mono_now() - t0;
	assert_null(c);
	assert_true(dt >= 0.9);
	assert_true(dt < 3.0);

	store_release(st, b);
	c = store_acquire(st);
	assert_ptr_equal(c, b); /* the one just released, at once */
	store_release(st, c);
	store_release(st, a);
	store_pool_stats(st, &ps);
	assert_int_equal(ps.in_use, 0);
	assert_int_equal(ps.idle, 2);
	assert_int_equal(ps.size, 2);
	store_close(st);
	fx_free(f);
}

struct waiter {
	struct store *st;
	struct store_conn *got;
	double waited;
};

static void *waiter_main(void *arg)
{
	struct waiter *w = arg;
	double t0 = mono_now();

	w->got = store_acquire(w->st);
	w->waited = mono_now() - t0;
	return NULL;
}

static void test_pool_waiter_gets_released_conn(void **state)
{
	struct fx *f = fx_new();
	struct store_pool_stats ps;
	struct store_conn *a, *b;
	struct waiter w;
	pthread_t th;
	char err[256];
	int i;

	(void)state;
	fx_config(f, 2, 10);
	w.st = store_open(&f->cfg, err, sizeof(err));
	assert_non_null(w.st);
	w.got = NULL;
	a = store_acquire(w.st);
	b = store_acquire(w.st);
	assert_non_null(a);
	assert_non_null(b);
	assert_int_equal(pthread_create(&th, NULL, waiter_main, &w), 0);
	for (i = 0; i < 500; i++) {
		store_pool_stats(w.st, &ps);
		if (ps.waiting == 1)
			break;
		usleep(10000);
	}
	assert_int_equal(ps.waiting, 1);
	store_release(w.st, a);
	pthread_join(th, NULL);
	assert_ptr_equal(w.got, a);
	assert_true(w.waited < 5.0); /* woken by the release, not by its 10 s timeout */
	store_release(w.st, w.got);
	store_release(w.st, b);
	store_close(w.st);
	fx_free(f);
}

/* ---- transactions ---- */

/* ---- users ---- */

static void test_overlong_value_is_an_error(void **state)
{
	struct fx *f = *state;
	struct user got, *v = NULL;
	size_t n = 0;
	int64_t total = 0;
	char sql[1024];
	char longmail[400];

	memset(longmail, 'a', sizeof(longmail) - 1);
	longmail[sizeof(longmail) - 1] = '\0';
	snprintf(sql, sizeof(sql),
	         "INSERT INTO users (id, email, password_hash, is_active, is_verified, roles, "
	         "created_at, updated_at) VALUES ('long-one', '%s', 'h', 1, 0, 'user', 1, 1)",
	         longmail);
	raw_exec(f->path, sql);

	assert_int_equal(store_user_by_id(f->k.c, "long-one", &got), STORE_ERROR);
	assert_int_equal(store_user_list(f->k.c, 10, 0, NULL, &v, &n, &total), STORE_ERROR);
	assert_null(v);
	assert_int_equal(n, 0);

	/* Exactly the buffer's capacity minus the NUL still fits. */
	longmail[STORE_EMAIL_LEN - 1] = '\0';
	snprintf(sql, sizeof(sql), "UPDATE users SET email = '%s' WHERE id = 'long-one'", longmail);
	raw_exec(f->path, sql);
	assert_int_equal(store_user_by_id(f->k.c, "long-one", &got), STORE_OK);
	assert_int_equal(strlen(got.email), STORE_EMAIL_LEN - 1);
}

/* ---- sessions ---- */

static void test_sessions(void **state)
{
	struct fx *f = *state;
	struct user a = add_user(f->k.c, 1, "s@example.org");
	struct user b = add_user(f->k.c, 2, "t@example.org");
	struct session s1 = mksession(1, a.id, NOW, NOW + 1000);
	struct session s2 = mksession(2, a.id, NOW + 10, NOW + 1000);
	struct session s3 = mksession(3, a.id, NOW - 2000, NOW); /* expired at NOW */
	struct session s4 = mksession(4, a.id, NOW + 20, NOW + 1000);
	struct session s5 = mksession(5, b.id, NOW, NOW + 1000);
	struct session got, *v = NULL, dup;
	size_t n = 0;

	s4.revoked_at = NOW + 21;
	assert_int_equal(store_session_insert(f->k.c, &s1), STORE_OK);
	assert_int_equal(store_session_insert(f->k.c, &s2), STORE_OK);
	assert_int_equal(store_session_insert(f->k.c, &s3), STORE_OK);
	assert_int_equal(store_session_insert(f->k.c, &s4), STORE_OK);
	assert_int_equal(store_session_insert(f->k.c, &s5), STORE_OK);
	dup = mksession(1, b.id, NOW, NOW + 1);
	assert_int_equal(store_session_insert(f->k.c, &dup), STORE_CONFLICT);

	assert_int_equal(store_session_by_id(f->k.c, s4.id, &got), STORE_OK);
	assert_session_equal(&got, &s4);
	assert_int_equal(store_session_by_id(f->k.c, "nope", &got), STORE_NOT_FOUND);

	assert_int_equal(store_session_list_active(f->k.c, a.id, NOW, &v, &n), STORE_OK);
	assert_int_equal(n, 2); /* newest first; s3 expired, s4 revoked, s5 not a's */
	assert_string_equal(v[0].id, s2.id);
	assert_string_equal(v[1].id, s1.id);
	assert_string_equal(v[1].user_agent, "agent/1");
	assert_string_equal(v[1].ip, "192.0.2.1");
	free(v);

	assert_int_equal(store_session_touch(f->k.c, s1.id, NOW + 50), STORE_OK);
	assert_int_equal(store_session_by_id(f->k.c, s1.id, &got), STORE_OK);
	assert_int_equal(got.last_used_at, NOW + 50);
	assert_int_equal(store_session_touch(f->k.c, "nope", NOW), STORE_NOT_FOUND);
	assert_int_equal(store_session_touch(f->k.c, s4.id, NOW), STORE_NOT_FOUND); /* revoked */

	/* Revoke: owner checked, once only, active sessions only. */
	assert_int_equal(store_session_revoke(f->k.c, s1.id, b.id, NOW + 60), STORE_NOT_FOUND);
	assert_int_equal(store_session_revoke(f->k.c, s1.id, a.id, NOW + 60), STORE_OK);
	assert_int_equal(store_session_revoke(f->k.c, s1.id, a.id, NOW + 61), STORE_NOT_FOUND);
	assert_int_equal(store_session_by_id(f->k.c, s1.id, &got), STORE_OK);
	assert_int_equal(got.revoked_at, NOW + 60);
	assert_int_equal(store_session_revoke(f->k.c, s3.id, a.id, NOW + 60), STORE_NOT_FOUND);
	assert_int_equal(store_session_revoke(f->k.c, "nope", NULL, NOW), STORE_NOT_FOUND);
	assert_int_equal(store_session_revoke(f->k.c, s2.id, NULL, NOW + 62), STORE_OK);

	assert_int_equal(store_session_list_active(f->k.c, a.id, NOW, &v, &n), STORE_OK);
	assert_int_equal(n, 0);
	free(v);
	assert_int_equal(store_session_list_active(f->k.c, b.id, NOW, &v, &n), STORE_OK);
	assert_int_equal(n, 1);
	free(v);
}

static void test_session_revoke_all(void **state)
{
	struct fx *f = *state;
	struct user a = add_user(f->k.c, 1, "ra@example.org");
	struct user b = add_user(f->k.c, 2, "rb@example.org");
	struct session s[4] = {
	        mksession(1, a.id, NOW, NOW + 1000),
	        mksession(2, a.id, NOW + 1, NOW + 1000),
	        mksession(3, a.id, NOW + 2, NOW + 1000),
	        mksession(4, b.id, NOW, NOW + 1000),
	};
	struct session *v = NULL, got;
	size_t n = 0;

	for (int i = 0; i < 4; i++)
		assert_int_equal(store_session_insert(f->k.c, &s[i]), STORE_OK);

	assert_int_equal(store_session_revoke_all(f->k.c, a.id, s[1].id, NOW + 5), STORE_OK);
	assert_int_equal(store_session_list_active(f->k.c, a.id, NOW, &v, &n), STORE_OK);
	assert_int_equal(n, 1);
	assert_string_equal(v[0].id, s[1].id);
	free(v);
	assert_int_equal(store_session_by_id(f->k.c, s[0].id, &got), STORE_OK);
	assert_int_equal(got.revoked_at, NOW + 5);

	assert_int_equal(store_session_revoke_all(f->k.c, a.id, NULL, NOW + 6), STORE_OK);
	assert_int_equal(store_session_list_active(f->k.c, a.id, NOW, &v, &n), STORE_OK);
	assert_int_equal(n, 0);
	free(v);
	/* Already revoked ones keep their first revocation time. */
	assert_int_equal(store_session_by_id(f->k.c, s[0].id, &got), STORE_OK);
	assert_int_equal(got.revoked_at, NOW + 5);
	/* Another user's session is untouched. */
	assert_int_equal(store_session_list_active(f->k.c, b.id, NOW, &v, &n), STORE_OK);
	assert_int_equal(n, 1);
	free(v);
	/* Nothing to revoke is not an error. */
	assert_int_equal(store_session_revoke_all(f->k.c, "nobody", NULL, NOW), STORE_OK);
}

static void test_foreign_keys_enforced(void **state)
{
	struct fx *f = *state;
	struct user a = add_user(f->k.c, 1, "fk@example.org");
	struct session s = mksession(1, "00000000-0000-4000-8000-999999999999", NOW, NOW + 10);
	struct session ok = mksession(2, a.id, NOW, NOW + 10);
	struct refresh_token t;

	assert_int_equal(store_session_insert(f->k.c, &s), STORE_NOT_FOUND);
	assert_int_equal(store_session_insert(f->k.c, &ok), STORE_OK);
	t = mkrefresh(1, &s, NULL); /* session that does not exist */
	snprintf(t.user_id, sizeof(t.user_id), "%s", a.id);
	assert_int_equal(store_refresh_insert(f->k.c, &t), STORE_NOT_FOUND);
}

/* ---- refresh tokens ---- */

struct racer {
	struct store_conn *c;
	const char *hash;
	pthread_barrier_t *bar;
	enum store_rc rc;
};

static void *racer_main(void *arg)
{
	struct racer *r = arg;

	pthread_barrier_wait(r->bar);
	r->rc = store_refresh_spend(r->c, r->hash, NULL, NOW + 1);
	return NULL;
}

static void test_refresh_spend_race(void **state)
{
	struct fx *f = *state;
	struct user a = add_user(f->k.c, 1, "race@example.org");
	struct session s = mksession(1, a.id, NOW, NOW + 1000);
	struct store_conn *c2 = store_acquire(f->k.st);
	pthread_barrier_t bar;

	assert_non_null(c2);
	assert_int_equal(store_session_insert(f->k.c, &s), STORE_OK);
	assert_int_equal(pthread_barrier_init(&bar, NULL, 2), 0);
	for (int i = 0; i < 25; i++) {
		struct refresh_token t = mkrefresh(100 + i, &s, NULL);
		struct racer r1 = {f->k.c, t.token_hash, &bar, STORE_ERROR};
		struct racer r2 = {c2, t.token_hash, &bar, STORE_ERROR};
		pthread_t th1, th2;

		assert_int_equal(store_refresh_insert(f->k.c, &t), STORE_OK);
		assert_int_equal(pthread_create(&th1, NULL, racer_main, &r1), 0);
		assert_int_equal(pthread_create(&th2, NULL, racer_main, &r2), 0);
		pthread_join(th1, NULL);
		pthread_join(th2, NULL);
		assert_true((r1.rc == STORE_OK && r2.rc == STORE_CONFLICT) ||
		            (r1.rc == STORE_CONFLICT && r2.rc == STORE_OK));
	}
	pthread_barrier_destroy(&bar);
	store_release(f->k.st, c2);
}

/* ---- one-time tokens ---- */

static void test_onetime_tokens(void **state)
{
	struct fx *f = *state;
	struct user a = add_user(f->k.c, 1, "ot@example.org");
	struct onetime_token t = {.created_at = NOW, .expires_at = NOW + 3600};
	struct onetime_token e = {.created_at = NOW - 100, .expires_at = NOW};
	char uid[STORE_ID_LEN];

	mkhash(t.token_hash, 1);
	snprintf(t.user_id, sizeof(t.user_id), "%s", a.id);
	snprintf(t.purpose, sizeof(t.purpose), ONETIME_VERIFY_EMAIL);
	assert_int_equal(store_onetime_insert(f->k.c, &t), STORE_OK);
	assert_int_equal(store_onetime_insert(f->k.c, &t), STORE_CONFLICT);

	/* Wrong purpose: nothing consumed. */
	assert_int_equal(
	        store_onetime_consume(f->k.c, t.token_hash, ONETIME_PASSWORD_RESET, NOW, uid),
	        STORE_NOT_FOUND);
	assert_string_equal(uid, "");
	assert_int_equal(
	        store_onetime_consume(f->k.c, t.token_hash, ONETIME_VERIFY_EMAIL, NOW, uid),
	        STORE_OK);
	assert_string_equal(uid, a.id);
	assert_int_equal(
	        store_onetime_consume(f->k.c, t.token_hash, ONETIME_VERIFY_EMAIL, NOW, uid),
	        STORE_NOT_FOUND);
	assert_int_equal(raw_scalar(f->path, "SELECT used_at FROM one_time_tokens"), NOW);

	/* Expired: expires_at == now is already too late. */
	mkhash(e.token_hash, 2);
	snprintf(e.user_id, sizeof(e.user_id), "%s", a.id);
	snprintf(e.purpose, sizeof(e.purpose), ONETIME_PASSWORD_RESET);
	assert_int_equal(store_onetime_insert(f->k.c, &e), STORE_OK);
	assert_int_equal(
	        store_onetime_consume(f->k.c, e.token_hash, ONETIME_PASSWORD_RESET, NOW, uid),
	        STORE_NOT_FOUND);
	assert_int_equal(
	        store_onetime_consume(f->k.c, e.token_hash, ONETIME_PASSWORD_RESET, NOW - 1, uid),
	        STORE_OK);

	mkhash(e.token_hash, 3);
	assert_int_equal(
	        store_onetime_consume(f->k.c, e.token_hash, ONETIME_PASSWORD_RESET, NOW, uid),
	        STORE_NOT_FOUND);
	/* FK: a token for a user that does not exist. */
	snprintf(e.user_id, sizeof(e.user_id), "no-such-user");
	assert_int_equal(store_onetime_insert(f->k.c, &e), STORE_NOT_FOUND);
}

/*
 * A consume whose result does not fit (a user id longer than STORE_ID_LEN)
 * fails and must leave the token unused, on its own and inside a caller's
 * transaction (where only its savepoint is undone).
 */
static void test_onetime_failed_consume_leaves_token_unused(void **state)
{
	struct fx *f = *state;
	char uid[STORE_ID_LEN];
	struct user u = add_user(f->k.c, 1, "keep@example.org"), got;

	raw_exec(f->path,
	         "INSERT INTO users (id, email, password_hash, is_active, is_verified, "
	         "roles, created_at, updated_at) VALUES ('an-id-that-is-much-longer-than-a-"
	         "uuid-ever-is', 'long@x.io', 'h', 1, 0, 'user', 1, 1);"
	         "INSERT INTO one_time_tokens (token_hash, user_id, purpose, created_at, "
	         "expires_at) VALUES ('tok', 'an-id-that-is-much-longer-than-a-uuid-ever-is', "
	         "'verify_email', 1, 1900000000)");

	assert_int_equal(store_onetime_consume(f->k.c, "tok", ONETIME_VERIFY_EMAIL, NOW, uid),
	                 STORE_ERROR);
	assert_string_equal(uid, "");
	assert_int_equal(raw_scalar(f->path, "SELECT used_at IS NULL FROM one_time_tokens"), 1);

	assert_int_equal(store_begin(f->k.c), STORE_OK);
	u.is_verified = true;
	assert_int_equal(store_user_update(f->k.c, &u), STORE_OK);
	assert_int_equal(store_onetime_consume(f->k.c, "tok", ONETIME_VERIFY_EMAIL, NOW, uid),
	                 STORE_ERROR);
	assert_int_equal(store_commit(f->k.c), STORE_OK); /* the rest of the transaction stands */
	assert_int_equal(raw_scalar(f->path, "SELECT used_at IS NULL FROM one_time_tokens"), 1);
	assert_int_equal(store_user_by_id(f->k.c, u.id, &got), STORE_OK);
	assert_true(got.is_verified);
}

/* ---- outbox ---- */

/* ---- audit ---- */

#define T(fn) cmocka_unit_test_setup_teardown(fn, setup, teardown)

int main(void)
{
	const struct CMUnitTest tests[] = {
	        STORE_CONTRACT_TESTS(setup, teardown),
	        T(test_open_kind_and_stats),
	        cmocka_unit_test(test_open_postgres_backend),
	        cmocka_unit_test(test_open_bad_path),
	        T(test_open_sets_wal),
	        cmocka_unit_test(test_pool_min_size),
	        cmocka_unit_test(test_pool_acquire_timeout),
	        cmocka_unit_test(test_pool_waiter_gets_released_conn),
	        T(test_overlong_value_is_an_error),
	        T(test_sessions),
	        T(test_session_revoke_all),
	        T(test_foreign_keys_enforced),
	        T(test_refresh_spend_race),
	        T(test_onetime_tokens),
	        T(test_onetime_failed_consume_leaves_token_unused),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
