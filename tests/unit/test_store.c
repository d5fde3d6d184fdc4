/*
 * test_store.c - every store operation on a temporary SQLite database: the
 * pool (sizes, timeout, waiters), transactions, users (conflicts, list
 * filter/paging/escaping, over-long values), sessions, refresh-token spend
 * races, one-time tokens, the outbox life cycle, the audit log, cascades.
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

#define NOW 1800000000LL

struct fx {
	char dir[64];
	char path[128];
	struct config cfg;
	struct store *st;
	struct store_conn *c;
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
	snprintf(f->dir, sizeof(f->dir), "/tmp/test_store-XXXXXX");
	assert_non_null(mkdtemp(f->dir));
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
	f->st = store_open(&f->cfg, err, sizeof(err));
	if (!f->st)
		fail_msg("store_open: %s", err);
	f->c = store_acquire(f->st);
	assert_non_null(f->c);
	assert_int_equal(store_migrate_up(f->c, &applied, NULL), STORE_OK);
	assert_true(applied >= 1);
	*state = f;
	return 0;
}

static int teardown(void **state)
{
	struct fx *f = *state;

	if (f->c)
		store_release(f->st, f->c);
	store_close(f->st);
	fx_free(f);
	return 0;
}

/* ---- helpers ---- */

static void mkid(char out[STORE_ID_LEN], int n)
{
	snprintf(out, STORE_ID_LEN, "00000000-0000-4000-8000-%012d", n);
}

static void mkhash(char out[STORE_TOKHASH_LEN], int n)
{
	snprintf(out, STORE_TOKHASH_LEN, "%064x", (unsigned)n);
}

static struct user mkuser(int n, const char *email, int64_t created)
{
	struct user u;

	memset(&u, 0, sizeof(u));
	mkid(u.id, n);
	snprintf(u.email, sizeof(u.email), "%s", email);
	snprintf(u.password_hash, sizeof(u.password_hash),
	         "$2b$12$abcdefghijklmnopqrstuuvwxyzABCDEFGHIJKLMNOPQRSTUVWXY%02d", n % 100);
	snprintf(u.full_name, sizeof(u.full_name), "User %d", n);
	u.has_full_name = true;
	u.is_active = true;
	u.is_verified = false;
	snprintf(u.roles, sizeof(u.roles), "user");
	u.created_at = created;
	u.updated_at = created;
	u.password_changed_at = 0;
	return u;
}

static struct user add_user(struct store_conn *c, int n, const char *email)
{
	struct user u = mkuser(n, email, NOW + n);

	assert_int_equal(store_user_insert(c, &u), STORE_OK);
	return u;
}

static struct session mksession(int n, const char *user_id, int64_t created, int64_t expires)
{
	struct session s;

	memset(&s, 0, sizeof(s));
	mkid(s.id, 1000 + n);
	snprintf(s.user_id, sizeof(s.user_id), "%s", user_id);
	snprintf(s.user_agent, sizeof(s.user_agent), "agent/%d", n);
	snprintf(s.ip, sizeof(s.ip), "192.0.2.%d", n);
	s.created_at = created;
	s.last_used_at = created;
	s.expires_at = expires;
	return s;
}

static struct refresh_token mkrefresh(int n, const struct session *s, const char *parent)
{
	struct refresh_token t;

	memset(&t, 0, sizeof(t));
	mkhash(t.token_hash, n);
	snprintf(t.session_id, sizeof(t.session_id), "%s", s->id);
	snprintf(t.user_id, sizeof(t.user_id), "%s", s->user_id);
	snprintf(t.parent_hash, sizeof(t.parent_hash), "%s", parent ? parent : "");
	t.issued_at = NOW;
	t.expires_at = NOW + 86400;
	return t;
}

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

static void assert_user_equal(const struct user *a, const struct user *b)
{
	assert_string_equal(a->id, b->id);
	assert_string_equal(a->email, b->email);
	assert_string_equal(a->password_hash, b->password_hash);
	assert_int_equal(a->has_full_name, b->has_full_name);
	assert_string_equal(a->full_name, b->full_name);
	assert_int_equal(a->is_active, b->is_active);
	assert_int_equal(a->is_verified, b->is_verified);
	assert_string_equal(a->roles, b->roles);
	assert_int_equal(a->created_at, b->created_at);
	assert_int_equal(a->updated_at, b->updated_at);
	assert_int_equal(a->password_changed_at, b->password_changed_at);
}

static void assert_session_equal(const struct session *a, const struct session *b)
{
	assert_string_equal(a->id, b->id);
	assert_string_equal(a->user_id, b->user_id);
	assert_string_equal(a->user_agent, b->user_agent);
	assert_string_equal(a->ip, b->ip);
	assert_int_equal(a->created_at, b->created_at);
	assert_int_equal(a->last_used_at, b->last_used_at);
	assert_int_equal(a->expires_at, b->expires_at);
	assert_int_equal(a->revoked_at, b->revoked_at);
}

static void assert_refresh_equal(const struct refresh_token *a, const struct refresh_token *b)
{
	assert_string_equal(a->token_hash, b->token_hash);
	assert_string_equal(a->session_id, b->session_id);
	assert_string_equal(a->user_id, b->user_id);
	assert_string_equal(a->parent_hash, b->parent_hash);
	assert_int_equal(a->issued_at, b->issued_at);
	assert_int_equal(a->expires_at, b->expires_at);
	assert_int_equal(a->spent_at, b->spent_at);
	assert_string_equal(a->replaced_by, b->replaced_by);
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

	assert_string_equal(store_kind(f->st), "sqlite");
	store_pool_stats(f->st, &ps);
	assert_int_equal(ps.size, 2);
	assert_int_equal(ps.in_use, 1);
	assert_int_equal(ps.idle, 1);
	assert_int_equal(ps.waiting, 0);
	assert_int_equal(store_ping(f->c), STORE_OK);
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

static void test_transactions(void **state)
{
	struct fx *f = *state;
	struct user u = mkuser(1, "tx@example.org", NOW), got;
	struct store_conn *c2;

	assert_int_equal(store_begin(f->c), STORE_OK);
	assert_int_equal(store_begin(f->c), STORE_ERROR); /* not nested */
	assert_int_equal(store_user_insert(f->c, &u), STORE_OK);
	assert_int_equal(store_user_by_id(f->c, u.id, &got), STORE_OK);
	store_rollback(f->c);
	assert_int_equal(store_user_by_id(f->c, u.id, &got), STORE_NOT_FOUND);

	assert_int_equal(store_commit(f->c), STORE_ERROR); /* no transaction */
	store_rollback(f->c);                              /* harmless */

	assert_int_equal(store_begin(f->c), STORE_OK);
	assert_int_equal(store_user_insert(f->c, &u), STORE_OK);
	assert_int_equal(store_commit(f->c), STORE_OK);
	c2 = store_acquire(f->st);
	assert_non_null(c2);
	assert_int_equal(store_user_by_id(c2, u.id, &got), STORE_OK);
	store_release(f->st, c2);
}

static void test_release_rolls_back_open_transaction(void **state)
{
	struct fx *f = *state;
	struct user u = mkuser(2, "dangling@example.org", NOW), got;
	struct store_conn *c2;

	assert_int_equal(store_begin(f->c), STORE_OK);
	assert_int_equal(store_user_insert(f->c, &u), STORE_OK);
	store_release(f->st, f->c);
	f->c = NULL;
	c2 = store_acquire(f->st);
	assert_non_null(c2);
	assert_int_equal(store_user_by_id(c2, u.id, &got), STORE_NOT_FOUND);
	/* and the write lock is free again */
	assert_int_equal(store_begin(c2), STORE_OK);
	assert_int_equal(store_commit(c2), STORE_OK);
	f->c = c2;
}

/* ---- users ---- */

static void test_user_roundtrip(void **state)
{
	struct fx *f = *state;
	struct user u = mkuser(1, "alice@example.org", NOW), got;

	u.is_verified = true;
	u.password_changed_at = NOW + 5;
	snprintf(u.roles, sizeof(u.roles), "user,admin");
	assert_int_equal(store_user_insert(f->c, &u), STORE_OK);

	assert_int_equal(store_user_by_id(f->c, u.id, &got), STORE_OK);
	assert_user_equal(&u, &got);
	memset(&got, 0x55, sizeof(got));
	assert_int_equal(store_user_by_email(f->c, "alice@example.org", &got), STORE_OK);
	assert_string_equal(got.id, u.id);
	assert_string_equal(got.full_name, "User 1");
	assert_true(got.has_full_name);
	assert_true(got.is_active);
	assert_true(got.is_verified);
	assert_string_equal(got.roles, "user,admin");
	assert_int_equal(got.created_at, NOW);
	assert_int_equal(got.password_changed_at, NOW + 5);

	/* No full name, no password change: NULLs, read back as unset. */
	u = mkuser(2, "bob@example.org", NOW);
	u.has_full_name = false;
	u.full_name[0] = '\0';
	u.is_active = false;
	assert_int_equal(store_user_insert(f->c, &u), STORE_OK);
	assert_int_equal(store_user_by_id(f->c, u.id, &got), STORE_OK);
	assert_false(got.has_full_name);
	assert_string_equal(got.full_name, "");
	assert_false(got.is_active);
	assert_int_equal(got.password_changed_at, 0);
	assert_int_equal(raw_scalar(f->path, "SELECT count(*) FROM users WHERE full_name IS NULL "
	                                     "AND password_changed_at IS NULL"),
	                 1);
}

static void test_user_conflicts(void **state)
{
	struct fx *f = *state;
	struct user a = add_user(f->c, 1, "dup@example.org");
	struct user b = mkuser(2, "dup@example.org", NOW), got;

	assert_int_equal(store_user_insert(f->c, &b), STORE_CONFLICT); /* same email */
	snprintf(b.email, sizeof(b.email), "DUP@Example.org");
	assert_int_equal(store_user_insert(f->c, &b), STORE_CONFLICT); /* case-insensitive too */
	b = mkuser(1, "other@example.org", NOW);
	assert_int_equal(store_user_insert(f->c, &b), STORE_CONFLICT); /* same id */
	assert_int_equal(store_user_by_email(f->c, "other@example.org", &got), STORE_NOT_FOUND);

	/* Update onto a taken email. */
	b = add_user(f->c, 3, "third@example.org");
	snprintf(b.email, sizeof(b.email), "%s", a.email);
	assert_int_equal(store_user_update(f->c, &b), STORE_CONFLICT);
	assert_int_equal(store_user_by_id(f->c, b.id, &got), STORE_OK);
	assert_string_equal(got.email, "third@example.org");
}

static void test_user_not_found(void **state)
{
	struct fx *f = *state;
	struct user u = mkuser(9, "ghost@example.org", NOW), got;

	memset(&got, 0x55, sizeof(got));
	assert_int_equal(store_user_by_id(f->c, u.id, &got), STORE_NOT_FOUND);
	assert_string_equal(got.id, ""); /* output cleared */
	assert_int_equal(store_user_by_email(f->c, u.email, &got), STORE_NOT_FOUND);
	assert_int_equal(store_user_update(f->c, &u), STORE_NOT_FOUND);
	assert_int_equal(store_user_delete(f->c, u.id), STORE_NOT_FOUND);
}

static void test_user_update(void **state)
{
	struct fx *f = *state;
	struct user u = add_user(f->c, 1, "carol@example.org"), got;
	int64_t created = u.created_at;

	snprintf(u.email, sizeof(u.email), "carol.new@example.org");
	snprintf(u.password_hash, sizeof(u.password_hash), "$2b$12$newhash");
	u.has_full_name = false;
	u.full_name[0] = '\0';
	u.is_active = false;
	u.is_verified = true;
	snprintf(u.roles, sizeof(u.roles), "user,admin");
	u.created_at = 1; /* not mutable: ignored */
	u.updated_at = NOW + 100;
	u.password_changed_at = NOW + 100;
	assert_int_equal(store_user_update(f->c, &u), STORE_OK);

	assert_int_equal(store_user_by_id(f->c, u.id, &got), STORE_OK);
	assert_string_equal(got.email, "carol.new@example.org");
	assert_string_equal(got.password_hash, "$2b$12$newhash");
	assert_false(got.has_full_name);
	assert_false(got.is_active);
	assert_true(got.is_verified);
	assert_string_equal(got.roles, "user,admin");
	assert_int_equal(got.created_at, created);
	assert_int_equal(got.updated_at, NOW + 100);
	assert_int_equal(got.password_changed_at, NOW + 100);
	assert_int_equal(store_user_by_email(f->c, "carol@example.org", &got), STORE_NOT_FOUND);
}

static void test_user_delete_cascades(void **state)
{
	struct fx *f = *state;
	struct user a = add_user(f->c, 1, "gone@example.org");
	struct user b = add_user(f->c, 2, "stays@example.org"), ugot;
	struct session sa = mksession(1, a.id, NOW, NOW + 1000);
	struct session sb = mksession(2, b.id, NOW, NOW + 1000), sgot;
	struct refresh_token ta = mkrefresh(1, &sa, NULL), tb = mkrefresh(2, &sb, NULL), tgot;
	struct onetime_token oa = {.created_at = NOW, .expires_at = NOW + 100};
	char uid[STORE_ID_LEN];

	assert_int_equal(store_session_insert(f->c, &sa), STORE_OK);
	assert_int_equal(store_session_insert(f->c, &sb), STORE_OK);
	assert_int_equal(store_refresh_insert(f->c, &ta), STORE_OK);
	assert_int_equal(store_refresh_insert(f->c, &tb), STORE_OK);
	mkhash(oa.token_hash, 77);
	snprintf(oa.user_id, sizeof(oa.user_id), "%s", a.id);
	snprintf(oa.purpose, sizeof(oa.purpose), ONETIME_PASSWORD_RESET);
	assert_int_equal(store_onetime_insert(f->c, &oa), STORE_OK);
	assert_int_equal(store_audit(f->c, "login_ok", a.id, "192.0.2.1", "ua", NULL, NOW),
	                 STORE_OK);

	assert_int_equal(store_user_delete(f->c, a.id), STORE_OK);
	assert_int_equal(store_user_by_id(f->c, a.id, &ugot), STORE_NOT_FOUND);
	assert_int_equal(store_session_by_id(f->c, sa.id, &sgot), STORE_NOT_FOUND);
	assert_int_equal(store_refresh_by_hash(f->c, ta.token_hash, &tgot), STORE_NOT_FOUND);
	assert_int_equal(
	        store_onetime_consume(f->c, oa.token_hash, ONETIME_PASSWORD_RESET, NOW, uid),
	        STORE_NOT_FOUND);
	assert_int_equal(raw_scalar(f->path, "SELECT count(*) FROM one_time_tokens"), 0);
	/* The audit trail outlives the user. */
	assert_int_equal(raw_scalar(f->path,
	                            "SELECT count(*) FROM audit_events "
	                            "WHERE user_id = '00000000-0000-4000-8000-000000000001'"),
	                 1);
	/* The other user's rows are untouched. */
	assert_int_equal(store_user_by_id(f->c, b.id, &ugot), STORE_OK);
	assert_int_equal(store_session_by_id(f->c, sb.id, &sgot), STORE_OK);
	assert_int_equal(store_refresh_by_hash(f->c, tb.token_hash, &tgot), STORE_OK);
	assert_int_equal(store_user_delete(f->c, a.id), STORE_NOT_FOUND);
}

static void test_user_list_paging(void **state)
{
	struct fx *f = *state;
	struct user *v = NULL;
	size_t n = 99;
	int64_t total = -1;
	struct user u;

	/* Created out of id order; 4 and 5 share a created_at (then ordered by id). */
	u = mkuser(3, "c@example.org", NOW + 10);
	assert_int_equal(store_user_insert(f->c, &u), STORE_OK);
	u = mkuser(1, "a@example.org", NOW + 20);
	assert_int_equal(store_user_insert(f->c, &u), STORE_OK);
	u = mkuser(5, "e@other.net", NOW + 30);
	assert_int_equal(store_user_insert(f->c, &u), STORE_OK);
	u = mkuser(4, "d@Example.org.test", NOW + 30);
	snprintf(u.email, sizeof(u.email), "d@example.org.test");
	assert_int_equal(store_user_insert(f->c, &u), STORE_OK);
	u = mkuser(2, "b@other.net", NOW + 40);
	assert_int_equal(store_user_insert(f->c, &u), STORE_OK);

	assert_int_equal(store_user_list(f->c, 100, 0, NULL, &v, &n, &total), STORE_OK);
	assert_int_equal(n, 5);
	assert_int_equal(total, 5);
	assert_string_equal(v[0].email, "c@example.org");
	assert_string_equal(v[1].email, "a@example.org");
	assert_string_equal(v[2].email, "d@example.org.test"); /* id ...04 before ...05 */
	assert_string_equal(v[3].email, "e@other.net");
	assert_string_equal(v[4].email, "b@other.net");
	assert_string_equal(v[0].full_name, "User 3");
	free(v);

	assert_int_equal(store_user_list(f->c, 2, 1, NULL, &v, &n, &total), STORE_OK);
	assert_int_equal(n, 2);
	assert_int_equal(total, 5);
	assert_string_equal(v[0].email, "a@example.org");
	assert_string_equal(v[1].email, "d@example.org.test");
	free(v);

	assert_int_equal(store_user_list(f->c, 10, 50, NULL, &v, &n, &total), STORE_OK);
	assert_int_equal(n, 0);
	assert_int_equal(total, 5);
	free(v);

	assert_int_equal(store_user_list(f->c, 0, 0, NULL, &v, &n, &total), STORE_OK);
	assert_int_equal(n, 0);
	assert_int_equal(total, 5);
	free(v);

	/* Case-insensitive substring; total counts all matches, not the page. */
	assert_int_equal(store_user_list(f->c, 1, 1, "EXAMPLE.ORG", &v, &n, &total), STORE_OK);
	assert_int_equal(n, 1);
	assert_int_equal(total, 3);
	assert_string_equal(v[0].email, "a@example.org");
	free(v);

	assert_int_equal(store_user_list(f->c, 10, 0, "nobody", &v, &n, &total), STORE_OK);
	assert_int_equal(n, 0);
	assert_int_equal(total, 0);
	free(v);

	assert_int_equal(store_user_list(f->c, -1, 0, NULL, &v, &n, &total), STORE_ERROR);
	assert_int_equal(store_user_list(f->c, 1, -1, NULL, &v, &n, &total), STORE_ERROR);
}

static int list_count(struct store_conn *c, const char *filter, char first[STORE_EMAIL_LEN])
{
	struct user *v = NULL;
	size_t n = 0;
	int64_t total = -1;

	assert_int_equal(store_user_list(c, 100, 0, filter, &v, &n, &total), STORE_OK);
	assert_int_equal((int64_t)n, total);
	if (first)
		snprintf(first, STORE_EMAIL_LEN, "%s", n ? v[0].email : "");
	free(v);
	return (int)n;
}

static void test_user_list_escapes_like_wildcards(void **state)
{
	struct fx *f = *state;
	char first[STORE_EMAIL_LEN];

	add_user(f->c, 1, "a_b@x.io");
	add_user(f->c, 2, "axb@x.io");
	add_user(f->c, 3, "p%q@x.io");
	add_user(f->c, 4, "pzzq@x.io");
	add_user(f->c, 5, "s\\t@x.io");
	add_user(f->c, 6, "st@x.io");

	assert_int_equal(list_count(f->c, "", NULL), 6);
	assert_int_equal(list_count(f->c, "_", first), 1);
	assert_string_equal(first, "a_b@x.io");
	assert_int_equal(list_count(f->c, "A_B", first), 1);
	assert_string_equal(first, "a_b@x.io");
	assert_int_equal(list_count(f->c, "%", first), 1);
	assert_string_equal(first, "p%q@x.io");
	assert_int_equal(list_count(f->c, "p%q", NULL), 1);
	assert_int_equal(list_count(f->c, "\\", first), 1);
	assert_string_equal(first, "s\\t@x.io");
	assert_int_equal(list_count(f->c, "s\\t", NULL), 1);
	assert_int_equal(list_count(f->c, "st@", first), 1);
	assert_string_equal(first, "st@x.io");
	assert_int_equal(list_count(f->c, "'", NULL), 0);
	assert_int_equal(list_count(f->c, "@X.IO", NULL), 6);
}

static void test_user_list_inside_transaction(void **state)
{
	struct fx *f = *state;

	assert_int_equal(store_begin(f->c), STORE_OK);
	add_user(f->c, 1, "in-tx@example.org");
	assert_int_equal(list_count(f->c, "in-tx", NULL), 1); /* sees its own write */
	store_rollback(f->c);
	assert_int_equal(list_count(f->c, "in-tx", NULL), 0);
}

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

	assert_int_equal(store_user_by_id(f->c, "long-one", &got), STORE_ERROR);
	assert_int_equal(store_user_list(f->c, 10, 0, NULL, &v, &n, &total), STORE_ERROR);
	assert_null(v);
	assert_int_equal(n, 0);

	/* Exactly the buffer's capacity minus the NUL still fits. */
	longmail[STORE_EMAIL_LEN - 1] = '\0';
	snprintf(sql, sizeof(sql), "UPDATE users SET email = '%s' WHERE id = 'long-one'", longmail);
	raw_exec(f->path, sql);
	assert_int_equal(store_user_by_id(f->c, "long-one", &got), STORE_OK);
	assert_int_equal(strlen(got.email), STORE_EMAIL_LEN - 1);
}

static void test_missing_arguments(void **state)
{
	struct fx *f = *state;
	struct user u;
	char uid[STORE_ID_LEN];

	assert_int_equal(store_user_by_id(f->c, NULL, &u), STORE_ERROR);
	assert_int_equal(store_user_by_id(NULL, "x", &u), STORE_ERROR);
	assert_int_equal(store_user_insert(f->c, NULL), STORE_ERROR);
	assert_int_equal(store_onetime_consume(f->c, NULL, "p", NOW, uid), STORE_ERROR);
	assert_int_equal(store_ping(NULL), STORE_ERROR);
	assert_null(store_acquire(NULL));
	store_release(f->st, NULL); /* no-op */
	outbox_msg_free(NULL);
}

/* ---- sessions ---- */

static void test_sessions(void **state)
{
	struct fx *f = *state;
	struct user a = add_user(f->c, 1, "s@example.org");
	struct user b = add_user(f->c, 2, "t@example.org");
	struct session s1 = mksession(1, a.id, NOW, NOW + 1000);
	struct session s2 = mksession(2, a.id, NOW + 10, NOW + 1000);
	struct session s3 = mksession(3, a.id, NOW - 2000, NOW); /* expired at NOW */
	struct session s4 = mksession(4, a.id, NOW + 20, NOW + 1000);
	struct session s5 = mksession(5, b.id, NOW, NOW + 1000);
	struct session got, *v = NULL, dup;
	size_t n = 0;

	s4.revoked_at = NOW + 21;
	assert_int_equal(store_session_insert(f->c, &s1), STORE_OK);
	assert_int_equal(store_session_insert(f->c, &s2), STORE_OK);
	assert_int_equal(store_session_insert(f->c, &s3), STORE_OK);
	assert_int_equal(store_session_insert(f->c, &s4), STORE_OK);
	assert_int_equal(store_session_insert(f->c, &s5), STORE_OK);
	dup = mksession(1, b.id, NOW, NOW + 1);
	assert_int_equal(store_session_insert(f->c, &dup), STORE_CONFLICT);

	assert_int_equal(store_session_by_id(f->c, s4.id, &got), STORE_OK);
	assert_session_equal(&got, &s4);
	assert_int_equal(store_session_by_id(f->c, "nope", &got), STORE_NOT_FOUND);

	assert_int_equal(store_session_list_active(f->c, a.id, NOW, &v, &n), STORE_OK);
	assert_int_equal(n, 2); /* newest first; s3 expired, s4 revoked, s5 not a's */
	assert_string_equal(v[0].id, s2.id);
	assert_string_equal(v[1].id, s1.id);
	assert_string_equal(v[1].user_agent, "agent/1");
	assert_string_equal(v[1].ip, "192.0.2.1");
	free(v);

	assert_int_equal(store_session_touch(f->c, s1.id, NOW + 50), STORE_OK);
	assert_int_equal(store_session_by_id(f->c, s1.id, &got), STORE_OK);
	assert_int_equal(got.last_used_at, NOW + 50);
	assert_int_equal(store_session_touch(f->c, "nope", NOW), STORE_NOT_FOUND);
	assert_int_equal(store_session_touch(f->c, s4.id, NOW), STORE_NOT_FOUND); /* revoked */

	/* Revoke: owner checked, once only, active sessions only. */
	assert_int_equal(store_session_revoke(f->c, s1.id, b.id, NOW + 60), STORE_NOT_FOUND);
	assert_int_equal(store_session_revoke(f->c, s1.id, a.id, NOW + 60), STORE_OK);
	assert_int_equal(store_session_revoke(f->c, s1.id, a.id, NOW + 61), STORE_NOT_FOUND);
	assert_int_equal(store_session_by_id(f->c, s1.id, &got), STORE_OK);
	assert_int_equal(got.revoked_at, NOW + 60);
	assert_int_equal(store_session_revoke(f->c, s3.id, a.id, NOW + 60), STORE_NOT_FOUND);
	assert_int_equal(store_session_revoke(f->c, "nope", NULL, NOW), STORE_NOT_FOUND);
	assert_int_equal(store_session_revoke(f->c, s2.id, NULL, NOW + 62), STORE_OK);

	assert_int_equal(store_session_list_active(f->c, a.id, NOW, &v, &n), STORE_OK);
	assert_int_equal(n, 0);
	free(v);
	assert_int_equal(store_session_list_active(f->c, b.id, NOW, &v, &n), STORE_OK);
	assert_int_equal(n, 1);
	free(v);
}

static void test_session_revoke_all(void **state)
{
	struct fx *f = *state;
	struct user a = add_user(f->c, 1, "ra@example.org");
	struct user b = add_user(f->c, 2, "rb@example.org");
	struct session s[4] = {
	        mksession(1, a.id, NOW, NOW + 1000),
	        mksession(2, a.id, NOW + 1, NOW + 1000),
	        mksession(3, a.id, NOW + 2, NOW + 1000),
	        mksession(4, b.id, NOW, NOW + 1000),
	};
	struct session *v = NULL, got;
	size_t n = 0;

	for (int i = 0; i < 4; i++)
		assert_int_equal(store_session_insert(f->c, &s[i]), STORE_OK);

	assert_int_equal(store_session_revoke_all(f->c, a.id, s[1].id, NOW + 5), STORE_OK);
	assert_int_equal(store_session_list_active(f->c, a.id, NOW, &v, &n), STORE_OK);
	assert_int_equal(n, 1);
	assert_string_equal(v[0].id, s[1].id);
	free(v);
	assert_int_equal(store_session_by_id(f->c, s[0].id, &got), STORE_OK);
	assert_int_equal(got.revoked_at, NOW + 5);

	assert_int_equal(store_session_revoke_all(f->c, a.id, NULL, NOW + 6), STORE_OK);
	assert_int_equal(store_session_list_active(f->c, a.id, NOW, &v, &n), STORE_OK);
	assert_int_equal(n, 0);
	free(v);
	/* Already revoked ones keep their first revocation time. */
	assert_int_equal(store_session_by_id(f->c, s[0].id, &got), STORE_OK);
	assert_int_equal(got.revoked_at, NOW + 5);
	/* Another user's session is untouched. */
	assert_int_equal(store_session_list_active(f->c, b.id, NOW, &v, &n), STORE_OK);
	assert_int_equal(n, 1);
	free(v);
	/* Nothing to revoke is not an error. */
	assert_int_equal(store_session_revoke_all(f->c, "nobody", NULL, NOW), STORE_OK);
}

static void test_foreign_keys_enforced(void **state)
{
	struct fx *f = *state;
	struct user a = add_user(f->c, 1, "fk@example.org");
	struct session s = mksession(1, "00000000-0000-4000-8000-999999999999", NOW, NOW + 10);
	struct session ok = mksession(2, a.id, NOW, NOW + 10);
	struct refresh_token t;

	assert_int_equal(store_session_insert(f->c, &s), STORE_NOT_FOUND);
	assert_int_equal(store_session_insert(f->c, &ok), STORE_OK);
	t = mkrefresh(1, &s, NULL); /* session that does not exist */
	snprintf(t.user_id, sizeof(t.user_id), "%s", a.id);
	assert_int_equal(store_refresh_insert(f->c, &t), STORE_NOT_FOUND);
}

/* ---- refresh tokens ---- */

static void test_refresh_tokens(void **state)
{
	struct fx *f = *state;
	struct user a = add_user(f->c, 1, "r@example.org");
	struct session s = mksession(1, a.id, NOW, NOW + 1000);
	struct refresh_token root = mkrefresh(1, &s, NULL), child, got;
	char unknown[STORE_TOKHASH_LEN];

	assert_int_equal(store_session_insert(f->c, &s), STORE_OK);
	assert_int_equal(store_refresh_insert(f->c, &root), STORE_OK);
	assert_int_equal(store_refresh_insert(f->c, &root), STORE_CONFLICT);
	child = mkrefresh(2, &s, root.token_hash);
	assert_int_equal(store_refresh_insert(f->c, &child), STORE_OK);

	memset(&got, 0x55, sizeof(got));
	assert_int_equal(store_refresh_by_hash(f->c, root.token_hash, &got), STORE_OK);
	assert_refresh_equal(&got, &root);
	assert_string_equal(got.parent_hash, "");
	assert_string_equal(got.replaced_by, "");
	assert_int_equal(got.spent_at, 0);
	assert_int_equal(store_refresh_by_hash(f->c, child.token_hash, &got), STORE_OK);
	assert_string_equal(got.parent_hash, root.token_hash);

	assert_int_equal(store_refresh_spend(f->c, root.token_hash, child.token_hash, NOW + 3),
	                 STORE_OK);
	assert_int_equal(store_refresh_by_hash(f->c, root.token_hash, &got), STORE_OK);
	assert_int_equal(got.spent_at, NOW + 3);
	assert_string_equal(got.replaced_by, child.token_hash);

	/* Second spend loses and changes nothing. */
	assert_int_equal(store_refresh_spend(f->c, root.token_hash, "other", NOW + 9),
	                 STORE_CONFLICT);
	assert_int_equal(store_refresh_by_hash(f->c, root.token_hash, &got), STORE_OK);
	assert_int_equal(got.spent_at, NOW + 3);
	assert_string_equal(got.replaced_by, child.token_hash);

	mkhash(unknown, 4242);
	assert_int_equal(store_refresh_spend(f->c, unknown, NULL, NOW), STORE_NOT_FOUND);
	assert_int_equal(store_refresh_by_hash(f->c, unknown, &got), STORE_NOT_FOUND);
	/* Spending without a successor (logout) is allowed. */
	assert_int_equal(store_refresh_spend(f->c, child.token_hash, NULL, NOW + 4), STORE_OK);
	assert_int_equal(store_refresh_by_hash(f->c, child.token_hash, &got), STORE_OK);
	assert_string_equal(got.replaced_by, "");
}

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
	struct user a = add_user(f->c, 1, "race@example.org");
	struct session s = mksession(1, a.id, NOW, NOW + 1000);
	struct store_conn *c2 = store_acquire(f->st);
	pthread_barrier_t bar;

	assert_non_null(c2);
	assert_int_equal(store_session_insert(f->c, &s), STORE_OK);
	assert_int_equal(pthread_barrier_init(&bar, NULL, 2), 0);
	for (int i = 0; i < 25; i++) {
		struct refresh_token t = mkrefresh(100 + i, &s, NULL);
		struct racer r1 = {f->c, t.token_hash, &bar, STORE_ERROR};
		struct racer r2 = {c2, t.token_hash, &bar, STORE_ERROR};
		pthread_t th1, th2;

		assert_int_equal(store_refresh_insert(f->c, &t), STORE_OK);
		assert_int_equal(pthread_create(&th1, NULL, racer_main, &r1), 0);
		assert_int_equal(pthread_create(&th2, NULL, racer_main, &r2), 0);
		pthread_join(th1, NULL);
		pthread_join(th2, NULL);
		assert_true((r1.rc == STORE_OK && r2.rc == STORE_CONFLICT) ||
		            (r1.rc == STORE_CONFLICT && r2.rc == STORE_OK));
	}
	pthread_barrier_destroy(&bar);
	store_release(f->st, c2);
}

/* ---- one-time tokens ---- */

static void test_onetime_tokens(void **state)
{
	struct fx *f = *state;
	struct user a = add_user(f->c, 1, "ot@example.org");
	struct onetime_token t = {.created_at = NOW, .expires_at = NOW + 3600};
	struct onetime_token e = {.created_at = NOW - 100, .expires_at = NOW};
	char uid[STORE_ID_LEN];

	mkhash(t.token_hash, 1);
	snprintf(t.user_id, sizeof(t.user_id), "%s", a.id);
	snprintf(t.purpose, sizeof(t.purpose), ONETIME_VERIFY_EMAIL);
	assert_int_equal(store_onetime_insert(f->c, &t), STORE_OK);
	assert_int_equal(store_onetime_insert(f->c, &t), STORE_CONFLICT);

	/* Wrong purpose: nothing consumed. */
	assert_int_equal(
	        store_onetime_consume(f->c, t.token_hash, ONETIME_PASSWORD_RESET, NOW, uid),
	        STORE_NOT_FOUND);
	assert_string_equal(uid, "");
	assert_int_equal(store_onetime_consume(f->c, t.token_hash, ONETIME_VERIFY_EMAIL, NOW, uid),
	                 STORE_OK);
	assert_string_equal(uid, a.id);
	assert_int_equal(store_onetime_consume(f->c, t.token_hash, ONETIME_VERIFY_EMAIL, NOW, uid),
	                 STORE_NOT_FOUND);
	assert_int_equal(raw_scalar(f->path, "SELECT used_at FROM one_time_tokens"), NOW);

	/* Expired: expires_at == now is already too late. */
	mkhash(e.token_hash, 2);
	snprintf(e.user_id, sizeof(e.user_id), "%s", a.id);
	snprintf(e.purpose, sizeof(e.purpose), ONETIME_PASSWORD_RESET);
	assert_int_equal(store_onetime_insert(f->c, &e), STORE_OK);
	assert_int_equal(
	        store_onetime_consume(f->c, e.token_hash, ONETIME_PASSWORD_RESET, NOW, uid),
	        STORE_NOT_FOUND);
	assert_int_equal(
	        store_onetime_consume(f->c, e.token_hash, ONETIME_PASSWORD_RESET, NOW - 1, uid),
	        STORE_OK);

	mkhash(e.token_hash, 3);
	assert_int_equal(
	        store_onetime_consume(f->c, e.token_hash, ONETIME_PASSWORD_RESET, NOW, uid),
	        STORE_NOT_FOUND);
	/* FK: a token for a user that does not exist. */
	snprintf(e.user_id, sizeof(e.user_id), "no-such-user");
	assert_int_equal(store_onetime_insert(f->c, &e), STORE_NOT_FOUND);
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
	struct user u = add_user(f->c, 1, "keep@example.org"), got;

	raw_exec(f->path,
	         "INSERT INTO users (id, email, password_hash, is_active, is_verified, "
	         "roles, created_at, updated_at) VALUES ('an-id-that-is-much-longer-than-a-"
	         "uuid-ever-is', 'long@x.io', 'h', 1, 0, 'user', 1, 1);"
	         "INSERT INTO one_time_tokens (token_hash, user_id, purpose, created_at, "
	         "expires_at) VALUES ('tok', 'an-id-that-is-much-longer-than-a-uuid-ever-is', "
	         "'verify_email', 1, 1900000000)");

	assert_int_equal(store_onetime_consume(f->c, "tok", ONETIME_VERIFY_EMAIL, NOW, uid),
	                 STORE_ERROR);
	assert_string_equal(uid, "");
	assert_int_equal(raw_scalar(f->path, "SELECT used_at IS NULL FROM one_time_tokens"), 1);

	assert_int_equal(store_begin(f->c), STORE_OK);
	u.is_verified = true;
	assert_int_equal(store_user_update(f->c, &u), STORE_OK);
	assert_int_equal(store_onetime_consume(f->c, "tok", ONETIME_VERIFY_EMAIL, NOW, uid),
	                 STORE_ERROR);
	assert_int_equal(store_commit(f->c), STORE_OK); /* the rest of the transaction stands */
	assert_int_equal(raw_scalar(f->path, "SELECT used_at IS NULL FROM one_time_tokens"), 1);
	assert_int_equal(store_user_by_id(f->c, u.id, &got), STORE_OK);
	assert_true(got.is_verified);
}

/* ---- outbox ---- */

static void test_outbox_lifecycle(void **state)
{
	struct fx *f = *state;
	struct outbox_msg m = {0}, m2 = {0};
	int64_t pending = -1, id1, id2;

	assert_int_equal(store_outbox_pending(f->c, &pending), STORE_OK);
	assert_int_equal(pending, 0);
	assert_int_equal(store_outbox_claim(f->c, NOW, NOW + 60, &m), STORE_NOT_FOUND);

	assert_int_equal(store_outbox_add(f->c, "one@example.org", "Subject 1", "text 1",
	                                  "<p>html 1</p>", NOW),
	                 STORE_OK);
	assert_int_equal(
	        store_outbox_add(f->c, "two@example.org", "Subject 2", "text 2", NULL, NOW + 1),
	        STORE_OK);
	assert_int_equal(store_outbox_pending(f->c, &pending), STORE_OK);
	assert_int_equal(pending, 2);

	/* Not due before its time. */
	assert_int_equal(store_outbox_claim(f->c, NOW - 1, NOW + 60, &m), STORE_NOT_FOUND);

	/* Oldest first, then the next one, then none (both claimed). */
	assert_int_equal(store_outbox_claim(f->c, NOW + 1, NOW + 60, &m), STORE_OK);
	assert_string_equal(m.recipient, "one@example.org");
	assert_string_equal(m.subject, "Subject 1");
	assert_string_equal(m.body_text, "text 1");
	assert_string_equal(m.body_html, "<p>html 1</p>");
	assert_int_equal(m.created_at, NOW);
	assert_int_equal(m.attempts, 0);
	id1 = m.id;
	outbox_msg_free(&m);
	assert_null(m.recipient);

	assert_int_equal(store_outbox_claim(f->c, NOW + 1, NOW + 60, &m2), STORE_OK);
	assert_string_equal(m2.recipient, "two@example.org");
	assert_null(m2.body_html);
	id2 = m2.id;
	assert_true(id2 > id1);
	outbox_msg_free(&m2);
	assert_int_equal(store_outbox_claim(f->c, NOW + 2, NOW + 60, &m), STORE_NOT_FOUND);

	/* A claim that ran out (sender died) can be taken again. */
	assert_int_equal(store_outbox_claim(f->c, NOW + 61, NOW + 120, &m), STORE_OK);
	assert_int_equal(m.id, id1);
	outbox_msg_free(&m);

	assert_int_equal(store_outbox_sent(f->c, id1, NOW + 62), STORE_OK);
	assert_int_equal(store_outbox_pending(f->c, &pending), STORE_OK);
	assert_int_equal(pending, 1);

	/* Failure with retry: claimable again at next_attempt, attempts counted. */
	assert_int_equal(
	        store_outbox_failed(f->c, id2, "421 try later", NOW + 300, false, NOW + 63),
	        STORE_OK);
	assert_int_equal(raw_scalar(f->path, "SELECT claimed_until IS NULL AND failed_at IS NULL "
	                                     "AND last_error = '421 try later' FROM email_outbox "
	                                     "WHERE id = 2"),
	                 1);
	assert_int_equal(store_outbox_claim(f->c, NOW + 299, NOW + 400, &m), STORE_NOT_FOUND);
	assert_int_equal(store_outbox_claim(f->c, NOW + 300, NOW + 400, &m), STORE_OK);
	assert_int_equal(m.id, id2);
	assert_int_equal(m.attempts, 1);
	outbox_msg_free(&m);
	assert_int_equal(store_outbox_pending(f->c, &pending), STORE_OK);
	assert_int_equal(pending, 1);

	/* Giving up: no longer pending nor claimable. */
	assert_int_equal(
	        store_outbox_failed(f->c, id2, "550 no such user", NOW + 999, true, NOW + 301),
	        STORE_OK);
	assert_int_equal(store_outbox_pending(f->c, &pending), STORE_OK);
	assert_int_equal(pending, 0);
	assert_int_equal(store_outbox_claim(f->c, NOW + 5000, NOW + 6000, &m), STORE_NOT_FOUND);
	assert_int_equal(raw_scalar(f->path, "SELECT failed_at FROM email_outbox WHERE id = 2"),
	                 NOW + 301);
	assert_int_equal(raw_scalar(f->path, "SELECT attempts FROM email_outbox WHERE id = 2"), 2);

	/* Unknown ids. */
	assert_int_equal(store_outbox_sent(f->c, 999, NOW), STORE_NOT_FOUND);
	assert_int_equal(store_outbox_failed(f->c, 999, "x", NOW, false, NOW), STORE_NOT_FOUND);
}

static void test_outbox_claim_inside_transaction(void **state)
{
	struct fx *f = *state;
	struct outbox_msg m = {0};

	assert_int_equal(store_outbox_add(f->c, "x@example.org", "s", "t", NULL, NOW), STORE_OK);
	assert_int_equal(store_begin(f->c), STORE_OK);
	assert_int_equal(store_outbox_claim(f->c, NOW, NOW + 60, &m), STORE_OK);
	outbox_msg_free(&m);
	assert_int_equal(store_outbox_claim(f->c, NOW, NOW + 60, &m), STORE_NOT_FOUND);
	store_rollback(f->c); /* the claim goes with the transaction */
	assert_int_equal(store_outbox_claim(f->c, NOW, NOW + 60, &m), STORE_OK);
	outbox_msg_free(&m);
}

/* ---- audit ---- */

static void test_audit(void **state)
{
	struct fx *f = *state;

	assert_int_equal(store_audit(f->c, "login_failed", NULL, "198.51.100.7", "curl/8",
	                             "unknown email", NOW),
	                 STORE_OK);
	assert_int_equal(store_audit(f->c, "logout", "some-user", NULL, NULL, NULL, NOW + 1),
	                 STORE_OK);
	assert_int_equal(raw_scalar(f->path, "SELECT count(*) FROM audit_events"), 2);
	assert_int_equal(raw_scalar(f->path,
	                            "SELECT count(*) FROM audit_events WHERE "
	                            "event = 'login_failed' AND user_id IS NULL AND "
	                            "ip = '198.51.100.7' AND user_agent = 'curl/8' AND "
	                            "detail = 'unknown email' AND created_at = 1800000000"),
	                 1);
	assert_int_equal(raw_scalar(f->path,
	                            "SELECT count(*) FROM audit_events WHERE "
	                            "user_id = 'some-user' AND ip IS NULL AND detail IS NULL"),
	                 1);
	assert_int_equal(store_audit(f->c, NULL, NULL, NULL, NULL, NULL, NOW), STORE_ERROR);
}

#define T(fn) cmocka_unit_test_setup_teardown(fn, setup, teardown)

int main(void)
{
	const struct CMUnitTest tests[] = {
	        T(test_open_kind_and_stats),
	        cmocka_unit_test(test_open_postgres_backend),
	        cmocka_unit_test(test_open_bad_path),
	        T(test_open_sets_wal),
	        cmocka_unit_test(test_pool_min_size),
	        cmocka_unit_test(test_pool_acquire_timeout),
	        cmocka_unit_test(test_pool_waiter_gets_released_conn),
	        T(test_transactions),
	        T(test_release_rolls_back_open_transaction),
	        T(test_user_roundtrip),
	        T(test_user_conflicts),
	        T(test_user_not_found),
	        T(test_user_update),
	        T(test_user_delete_cascades),
	        T(test_user_list_paging),
	        T(test_user_list_escapes_like_wildcards),
	        T(test_user_list_inside_transaction),
	        T(test_overlong_value_is_an_error),
	        T(test_missing_arguments),
	        T(test_sessions),
	        T(test_session_revoke_all),
	        T(test_foreign_keys_enforced),
	        T(test_refresh_tokens),
	        T(test_refresh_spend_race),
	        T(test_onetime_tokens),
	        T(test_onetime_failed_consume_leaves_token_unused),
	        T(test_outbox_lifecycle),
	        T(test_outbox_claim_inside_transaction),
	        T(test_audit),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
