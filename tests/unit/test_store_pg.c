/*
 * test_store_pg.c - the store on a real PostgreSQL server: the shared
 * contract (store_contract.c, also run on SQLite by test_store.c), the
 * remaining operations with PostgreSQL-specific checks, conflicts and
 * foreign keys, the refresh-spend race between two connections, the outbox
 * claim with SKIP LOCKED, the pool (overflow, timeout = the 503 path), the
 * migration runner (up / down / status, a failing step, the advisory lock
 * with concurrent runners), connection failures (unreachable server,
 * connect timeout, a frozen backend, an administrator terminating
 * connections) and recovery after PostgreSQL is stopped and started again.
 *
 * The server: TEST_PG_URL (an admin database, set by scripts/test) when
 * given; otherwise the program starts a throwaway cluster of its own (initdb
 * into a temporary folder as the `postgres` user when run as root, pg_ctl on
 * a free loopback port) and deletes it at the end, so the test always runs
 * for real.  Every run works in a fresh database t_<random>, and every test
 * in a fresh public schema.  The stop/start test needs a server it may stop:
 * the program's own cluster (started for it when TEST_PG_URL is set).
 */
#include <errno.h>
#include <fcntl.h>
#include <ftw.h>
#include <glob.h>
#include <netinet/in.h>
#include <pthread.h>
#include <pwd.h>
#include <setjmp.h>
#include <signal.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include <cmocka.h>
#include <libpq-fe.h>

#include "config.h"
#include "store/driver.h"
#include "store/migrations.h"
#include "store/store.h"
#include "store_contract.h"
#include "url.h"
#include "tmppath.h"

/* ---- throwaway clusters ---- */

struct cluster {
	bool inited;
	bool running;
	char dir[64];
	char pw[40];
	int port;
	char admin_url[256]; /* its "postgres" database */
};

static struct {
	char bin[256];       /* PostgreSQL's bin directory, "" = PATH */
	struct cluster own;  /* ours: may be stopped and started */
	char admin_url[512]; /* where t_<random> is created */
	char db_name[32];
	char db_url[512];     /* t_<random> */
	char own_db_url[512]; /* t_<random> on the own cluster (outage tests) */
	bool own_db_created;
} G;

static double mono_now(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

static void random_hex(char *out, size_t bytes)
{
	unsigned char b[32];
	int fd = open("/dev/urandom", O_RDONLY);

	assert_true(bytes <= sizeof(b));
	assert_true(fd >= 0);
	assert_int_equal(read(fd, b, bytes), (ssize_t)bytes);
	close(fd);
	for (size_t i = 0; i < bytes; i++)
		sprintf(out + 2 * i, "%02x", b[i]);
}

static int free_port(void)
{
	struct sockaddr_in a = {.sin_family = AF_INET, .sin_addr.s_addr = htonl(INADDR_LOOPBACK)};
	socklen_t len = sizeof(a);
	int fd = socket(AF_INET, SOCK_STREAM, 0), port;

	assert_true(fd >= 0);
	assert_int_equal(bind(fd, (struct sockaddr *)&a, sizeof(a)), 0);
	assert_int_equal(getsockname(fd, (struct sockaddr *)&a, &len), 0);
	port = ntohs(a.sin_port);
	close(fd);
	return port;
}

static void find_pg_bin(void)
{
	const char *env = getenv("TEST_PG_BIN");
	glob_t g;
	int best = -1;

	G.bin[0] = '\0';
	if (env && env[0]) {
		snprintf(G.bin, sizeof(G.bin), "%s", env);
		return;
	}
	if (glob("/usr/lib/postgresql/*/bin/pg_ctl", 0, NULL, &g) != 0)
		return;
	for (size_t i = 0; i < g.gl_pathc; i++) {
		int v = atoi(g.gl_pathv[i] + strlen("/usr/lib/postgresql/"));
		if (v > best) {
			best = v;
			snprintf(G.bin, sizeof(G.bin), "%.*s", (int)(strlen(g.gl_pathv[i]) - 7),
			         g.gl_pathv[i]);
		}
	}
	globfree(&g);
}

/* Run a PostgreSQL program (as `postgres` when we are root); its exit status. */
static int pg_prog(const char *log, const char *prog, ...)
{
	const char *argv[32];
	char path[320];
	int argc = 0, status;
	va_list ap;
	pid_t pid;

	if (G.bin[0])
		snprintf(path, sizeof(path), "%s/%s", G.bin, prog);
	else
		snprintf(path, sizeof(path), "%s", prog);
	if (geteuid() == 0) {
		argv[argc++] = "runuser";
		argv[argc++] = "-u";
		argv[argc++] = "postgres";
		argv[argc++] = "--";
	}
	argv[argc++] = path;
	va_start(ap, prog);
	for (const char *a; (a = va_arg(ap, const char *)) && argc < 31;)
		argv[argc++] = a;
	va_end(ap);
	argv[argc] = NULL;

	pid = fork();
	assert_true(pid >= 0);
	if (pid == 0) {
		int fd = open(log ? log : "/dev/null", O_WRONLY | O_CREAT | O_APPEND, 0644);
		if (fd >= 0) {
			dup2(fd, 1);
			dup2(fd, 2);
			close(fd);
		}
		execvp(argv[0], (char *const *)argv);
		_exit(127);
	}
	while (waitpid(pid, &status, 0) < 0 && errno == EINTR)
		;
	return WIFEXITED(status) ? WEXITSTATUS(status) : 128;
}

static void give_to_postgres(const char *path)
{
	struct passwd *pw;

	if (geteuid() != 0)
		return;
	pw = getpwnam("postgres");
	if (!pw)
		fail_msg("running as root but there is no `postgres` user for initdb");
	assert_int_equal(chown(path, pw->pw_uid, pw->pw_gid), 0);
}

static void cluster_start(struct cluster *c)
{
	char data[128], log[128], opts[256];

	snprintf(data, sizeof(data), "%s/data", c->dir);
	snprintf(log, sizeof(log), "%s/pg.log", c->dir);
	snprintf(opts, sizeof(opts),
	         "-p %d -k %s -c listen_addresses=127.0.0.1 -c fsync=off -c max_connections=200",
	         c->port, c->dir);
	if (pg_prog(NULL, "pg_ctl", "-D", data, "-l", log, "-w", "-t", "60", "-o", opts, "start",
	            NULL) != 0)
		fail_msg("pg_ctl start failed (log in %s)", log);
	c->running = true;
}

static void cluster_stop(struct cluster *c, const char *mode)
{
	char data[128];

	snprintf(data, sizeof(data), "%s/data", c->dir);
	if (pg_prog(NULL, "pg_ctl", "-D", data, "-m", mode, "-w", "-t", "60", "stop", NULL) != 0)
		fail_msg("pg_ctl stop failed");
	c->running = false;
}

static void cluster_init(struct cluster *c)
{
	char data[128], pwfile[128], log[128];
	FILE *f;

	if (c->inited)
		return;
	assert_non_null(tmp_dir(c->dir, sizeof(c->dir), "/tmp/test_store_pg-"));
	assert_int_equal(chmod(c->dir, 0755), 0);
	give_to_postgres(c->dir);
	c->inited = true;
	snprintf(c->pw, sizeof(c->pw), "pw-");
	random_hex(c->pw + 3, 8);
	snprintf(pwfile, sizeof(pwfile), "%s/pw", c->dir);
	f = fopen(pwfile, "w");
	assert_non_null(f);
	fprintf(f, "%s\n", c->pw);
	fclose(f);
	give_to_postgres(pwfile);
	snprintf(data, sizeof(data), "%s/data", c->dir);
	snprintf(log, sizeof(log), "%s/initdb.log", c->dir);
	if (pg_prog(log, "initdb", "-D", data, "-U", "auth", "--pwfile", pwfile,
	            "--auth=scram-sha-256", "-E", "UTF8", "--no-sync", NULL) != 0)
		fail_msg("initdb failed (log in %s)", log);
	c->port = free_port();
	cluster_start(c);
	snprintf(c->admin_url, sizeof(c->admin_url), "postgresql://auth:%s@127.0.0.1:%d/postgres",
	         c->pw, c->port);
}

static int rm_entry(const char *path, const struct stat *sb, int flag, struct FTW *ftw)
{
	(void)sb;
	(void)flag;
	(void)ftw;
	return remove(path);
}

static void cluster_destroy(struct cluster *c)
{
	char data[128];

	if (!c->inited)
		return;
	if (c->running) {
		snprintf(data, sizeof(data), "%s/data", c->dir);
		pg_prog(NULL, "pg_ctl", "-D", data, "-m", "immediate", "-w", "stop", NULL);
		c->running = false;
	}
	nftw(c->dir, rm_entry, 16, FTW_DEPTH | FTW_PHYS);
	c->inited = false;
}

/* ---- plain libpq, for setting up and checking behind the store's back ---- */

static void quiet(void *arg, const char *message)
{
	(void)arg;
	(void)message;
}

static PGconn *raw_connect(const char *url)
{
	PGconn *a = PQconnectdb(url);

	if (PQstatus(a) != CONNECTION_OK)
		fail_msg("connect: %s", PQerrorMessage(a));
	PQsetNoticeProcessor(a, quiet, NULL);
	return a;
}

static void sql_exec(const char *url, const char *sql)
{
	PGconn *a = raw_connect(url);
	PGresult *r = PQexec(a, sql);
	ExecStatusType st = PQresultStatus(r);

	if (st != PGRES_COMMAND_OK && st != PGRES_TUPLES_OK)
		fail_msg("%s: %s", sql, PQresultErrorMessage(r));
	PQclear(r);
	PQfinish(a);
}

/* One value: integers as such, booleans as 1/0, no row or NULL as -1. */
static int64_t sql_scalar(const char *url, const char *sql)
{
	PGconn *a = raw_connect(url);
	PGresult *r = PQexec(a, sql);
	int64_t v = -1;

	if (PQresultStatus(r) != PGRES_TUPLES_OK)
		fail_msg("%s: %s", sql, PQresultErrorMessage(r));
	if (PQntuples(r) > 0 && !PQgetisnull(r, 0, 0)) {
		const char *s = PQgetvalue(r, 0, 0);
		v = strcmp(s, "t") == 0 ? 1 : strcmp(s, "f") == 0 ? 0 : strtoll(s, NULL, 10);
	}
	PQclear(r);
	PQfinish(a);
	return v;
}

static int64_t raw_scalar(const char *sql)
{
	return sql_scalar(G.db_url, sql);
}

static void raw_exec(const char *sql)
{
	sql_exec(G.db_url, sql);
}

/* url with its database name replaced by name (query parameters kept). */
static void with_dbname(const char *url, const char *name, char *out, size_t len)
{
	const char *hosts = strstr(url, "://");
	const char *slash, *query;

	assert_non_null(hosts);
	hosts += 3;
	slash = hosts + strcspn(hosts, "/?");
	query = slash + strcspn(slash, "?");
	snprintf(out, len, "%.*s/%s%s", (int)(slash - url), url, name, query);
}

static int group_setup(void **state)
{
	const char *env = getenv("TEST_PG_URL");
	char sql[96];

	(void)state;
	signal(SIGPIPE, SIG_IGN);
	find_pg_bin();
	if (env && env[0]) {
		snprintf(G.admin_url, sizeof(G.admin_url), "%s", env);
	} else {
		cluster_init(&G.own);
		snprintf(G.admin_url, sizeof(G.admin_url), "%s", G.own.admin_url);
	}
	snprintf(G.db_name, sizeof(G.db_name), "t_");
	random_hex(G.db_name + 2, 6);
	snprintf(sql, sizeof(sql), "CREATE DATABASE %s", G.db_name);
	sql_exec(G.admin_url, sql);
	with_dbname(G.admin_url, G.db_name, G.db_url, sizeof(G.db_url));
	printf("# PostgreSQL: %s database %s\n",
	       env && env[0] ? "TEST_PG_URL" : "own throwaway cluster", G.db_name);
	return 0;
}

static int group_teardown(void **state)
{
	char sql[96];

	(void)state;
	snprintf(sql, sizeof(sql), "DROP DATABASE IF EXISTS %s WITH (FORCE)", G.db_name);
	if (G.own.inited && !G.own.running)
		cluster_start(&G.own);
	sql_exec(G.admin_url, sql);
	cluster_destroy(&G.own);
	return 0;
}

/* The own cluster, with a database of its own, for the tests that stop it. */
static const char *own_db_url(void)
{
	char sql[96];

	if (G.own_db_created)
		return G.own_db_url;
	cluster_init(&G.own);
	if (strcmp(G.admin_url, G.own.admin_url) == 0) {
		snprintf(G.own_db_url, sizeof(G.own_db_url), "%s", G.db_url);
	} else {
		snprintf(sql, sizeof(sql), "CREATE DATABASE %s", G.db_name);
		sql_exec(G.own.admin_url, sql);
		with_dbname(G.own.admin_url, G.db_name, G.own_db_url, sizeof(G.own_db_url));
	}
	G.own_db_created = true;
	return G.own_db_url;
}

/* ---- the per-test fixture ---- */

struct fx {
	struct contract_fx k; /* first: what the contract tests see */
	struct config cfg;
	bool cfg_set;
};

int64_t contract_scalar(void **state, const char *sql)
{
	(void)state;
	return raw_scalar(sql);
}

static void fx_config(struct fx *f, const char *url, int pool_size, int overflow, int timeout)
{
	const char *why = NULL;

	if (f->cfg_set)
		db_url_free(&f->cfg.db);
	memset(&f->cfg, 0, sizeof(f->cfg));
	f->cfg.environment = ENV_TEST;
	if (db_url_parse(url, &f->cfg.db, &why) != 0)
		fail_msg("db_url_parse: %s", why);
	f->cfg_set = true;
	f->cfg.database_pool_size = pool_size;
	f->cfg.database_max_overflow = overflow;
	f->cfg.database_pool_timeout = timeout;
}

static struct fx *fx_new(void)
{
	struct fx *f = calloc(1, sizeof(*f));

	assert_non_null(f);
	return f;
}

static void fx_free(struct fx *f)
{
	if (f->k.c)
		store_release(f->k.st, f->k.c);
	store_close(f->k.st);
	if (f->cfg_set)
		db_url_free(&f->cfg.db);
	free(f);
}

static void reset_schema(const char *url)
{
	sql_exec(url, "DROP SCHEMA public CASCADE; CREATE SCHEMA public");
}

static void fx_open(struct fx *f)
{
	char err[512];

	f->k.st = store_open(&f->cfg, err, sizeof(err));
	if (!f->k.st)
		fail_msg("store_open: %s", err);
	f->k.c = store_acquire(f->k.st);
	assert_non_null(f->k.c);
}

/* Fresh schema, migrated. */
static int setup(void **state)
{
	struct fx *f = fx_new();
	int applied = -1;

	reset_schema(G.db_url);
	fx_config(f, G.db_url, 2, 2, 2);
	fx_open(f);
	assert_int_equal(store_migrate_up(f->k.c, &applied, NULL), STORE_OK);
	assert_int_equal(applied, 1);
	*state = f;
	return 0;
}

/* Fresh, empty schema (migration tests). */
static int setup_empty(void **state)
{
	struct fx *f = fx_new();

	reset_schema(G.db_url);
	fx_config(f, G.db_url, 4, 2, 5);
	fx_open(f);
	*state = f;
	return 0;
}

static int teardown(void **state)
{
	fx_free(*state);
	return 0;
}

/* ---- record helpers ---- */

/* Backends of our store on the test database, as the server sees them. */
static int64_t our_backends(const char *url, const char *db)
{
	char sql[256];

	snprintf(sql, sizeof(sql),
	         "SELECT count(*) FROM pg_stat_activity WHERE datname = '%s' "
	         "AND application_name = 'auth-service'",
	         db);
	return sql_scalar(url, sql);
}

static void wait_backends(const char *url, const char *db, int64_t want)
{
	for (int i = 0; i < 300 && our_backends(url, db) != want; i++)
		usleep(10000);
	assert_int_equal(our_backends(url, db), want);
}

/* ---- opening ---- */

static void test_open_kind_and_stats(void **state)
{
	struct fx *f = *state;
	struct store_pool_stats ps;

	assert_string_equal(store_kind(f->k.st), "postgresql");
	store_pool_stats(f->k.st, &ps);
	assert_int_equal(ps.size, 2);
	assert_int_equal(ps.in_use, 1);
	assert_int_equal(ps.idle, 1);
	assert_int_equal(ps.waiting, 0);
	assert_int_equal(store_ping(f->k.c), STORE_OK);
	/* Both persistent connections are open on the server, with our name. */
	wait_backends(G.admin_url, G.db_name, 2);
}

static void test_open_url_forms(void **state)
{
	const char *forms[] = {"postgresql+asyncpg://", "postgresql+psycopg://", "postgres://"};
	char url[700], base[600];
	const char *rest = strstr(G.db_url, "://") + 3;

	(void)state;
	for (size_t i = 0; i < sizeof(forms) / sizeof(forms[0]); i++) {
		struct fx *f = fx_new();

		snprintf(base, sizeof(base), "%s%s", forms[i], rest);
		snprintf(url, sizeof(url), "%s%ssslmode=disable&application_name=x", base,
		         strchr(base, '?') ? "&" : "?");
		fx_config(f, url, 1, 0, 2);
		fx_open(f);
		assert_int_equal(store_ping(f->k.c), STORE_OK);
		fx_free(f);
	}
}

static void test_open_unreachable_fails_clearly(void **state)
{
	struct fx *f = fx_new();
	char url[256], err[512] = "";
	double t0;

	(void)state;
	snprintf(url, sizeof(url), "postgresql://auth:S3cretPassw0rd@127.0.0.1:%d/auth",
	         free_port());
	fx_config(f, url, 2, 0, 2);
	t0 = mono_now();
	assert_null(store_open(&f->cfg, err, sizeof(err)));
	assert_true(mono_now() - t0 < 3.0);
	assert_non_null(
	        strstr(err, "cannot connect to PostgreSQL at postgresql://auth:***@127.0.0.1:"));
	assert_null(strstr(err, "S3cretPassw0rd"));
	assert_null(strchr(err, '\n'));
	fx_free(f);
}

static void test_open_wrong_password(void **state)
{
	struct fx *f = fx_new();
	char url[600], err[512] = "";
	const char *at = strchr(strstr(G.db_url, "://") + 3, '@');

	(void)state;
	assert_non_null(at);
	snprintf(url, sizeof(url), "postgresql://auth:Wr0ngPassw0rd%s", at);
	fx_config(f, url, 1, 0, 2);
	assert_null(store_open(&f->cfg, err, sizeof(err)));
	assert_non_null(strstr(err, "password authentication failed"));
	assert_non_null(strstr(err, "auth:***@"));
	assert_null(strstr(err, "Wr0ngPassw0rd"));
	fx_free(f);
}

/* A server that accepts TCP connections and never answers: connect_timeout. */
static void test_connect_timeout(void **state)
{
	struct sockaddr_in a = {.sin_family = AF_INET, .sin_addr.s_addr = htonl(INADDR_LOOPBACK)};
	socklen_t len = sizeof(a);
	int fd = socket(AF_INET, SOCK_STREAM, 0);
	struct fx *f = fx_new();
	char url[256], err[512] = "";
	double t0, dt;

	(void)state;
	assert_true(fd >= 0);
	assert_int_equal(bind(fd, (struct sockaddr *)&a, sizeof(a)), 0);
	assert_int_equal(listen(fd, 16), 0);
	assert_int_equal(getsockname(fd, (struct sockaddr *)&a, &len), 0);
	snprintf(url, sizeof(url), "postgresql://auth:pw@127.0.0.1:%d/auth?sslmode=disable",
	         ntohs(a.sin_port));
	fx_config(f, url, 1, 0, 2);
	t0 = mono_now();
	assert_null(store_open(&f->cfg, err, sizeof(err)));
	dt = mono_now() - t0;
	close(fd);
	assert_true(dt >= 4.0);
	assert_true(dt < 9.0);
	assert_non_null(strstr(err, "cannot connect to PostgreSQL at"));
	fx_free(f);
}

/* ---- pool ---- */

static void test_pool_overflow_and_timeout(void **state)
{
	struct fx *f = fx_new();
	struct store_pool_stats ps;
	struct store_conn *c[5];
	double t0, dt;

	(void)state;
	reset_schema(G.db_url);
	fx_config(f, G.db_url, 2, 2, 1); /* 2 persistent + 2 overflow, 1 s timeout */
	fx_open(f);
	store_release(f->k.st, f->k.c);
	f->k.c = NULL;
	store_pool_stats(f->k.st, &ps);
	assert_int_equal(ps.size, 2);
	assert_int_equal(ps.idle, 2);

	for (int i = 0; i < 4; i++) {
		c[i] = store_acquire(f->k.st);
		assert_non_null(c[i]);
		assert_int_equal(store_ping(c[i]), STORE_OK);
		for (int j = 0; j < i; j++)
			assert_ptr_not_equal(c[i], c[j]);
	}
	store_pool_stats(f->k.st, &ps);
	assert_int_equal(ps.size, 4);
	assert_int_equal(ps.in_use, 4);
	wait_backends(G.admin_url, G.db_name, 4);

	/* Pool and overflow exhausted: NULL after DATABASE_POOL_TIMEOUT (the 503 path). */
	t0 = mono_now();
	c[4] = store_acquire(f->k.st);
	dt = mono_now() - t0;
	assert_null(c[4]);
	assert_true(dt >= 0.9);
	assert_true(dt < 3.0);

	/* Released overflow connections stay for reuse under sustained load ... */
	for (int i = 0; i < 4; i++)
		store_release(f->k.st, c[i]);
	store_pool_stats(f->k.st, &ps);
	assert_int_equal(ps.size, 4);
	assert_int_equal(ps.idle, 4);
	c[0] = store_acquire(f->k.st);
	store_release(f->k.st, c[0]);
	store_pool_stats(f->k.st, &ps);
	assert_int_equal(ps.size, 4);
	/* ... and are closed once idle (0 s here; 30 s on release in service). */
	store_pool_trim(f->k.st, 0);
	store_pool_stats(f->k.st, &ps);
	assert_int_equal(ps.size, 2);
	assert_int_equal(ps.idle, 2);
	assert_int_equal(ps.in_use, 0);
	wait_backends(G.admin_url, G.db_name, 2);
	fx_free(f);
}

static void test_pool_min_size(void **state)
{
	struct fx *f = fx_new();
	struct store_pool_stats ps;

	(void)state;
	fx_config(f, G.db_url, 0, 0, 1);
	fx_open(f);
	store_pool_stats(f->k.st, &ps);
	assert_int_equal(ps.size, 1);
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
	struct store_conn *b;
	struct waiter w = {0};
	pthread_t th;
	int i;

	(void)state;
	fx_config(f, G.db_url, 2, 0, 10);
	fx_open(f);
	w.st = f->k.st;
	b = store_acquire(f->k.st);
	assert_non_null(b);
	assert_int_equal(pthread_create(&th, NULL, waiter_main, &w), 0);
	for (i = 0; i < 500; i++) {
		store_pool_stats(f->k.st, &ps);
		if (ps.waiting == 1)
			break;
		usleep(10000);
	}
	assert_int_equal(ps.waiting, 1);
	store_release(f->k.st, b);
	pthread_join(th, NULL);
	assert_ptr_equal(w.got, b);
	assert_true(w.waited < 5.0);
	store_release(f->k.st, w.got);
	fx_free(f);
}

/* ---- transactions ---- */

/* A statement failed inside the transaction: commit reports it, nothing is kept. */
static void test_commit_after_failed_statement(void **state)
{
	struct fx *f = *state;
	struct user a = add_user(f->k.c, 1, "first@example.org");
	struct user b = mkuser(2, "second@example.org", NOW), dup = mkuser(3, a.email, NOW), got;

	assert_int_equal(store_begin(f->k.c), STORE_OK);
	assert_int_equal(store_user_insert(f->k.c, &b), STORE_OK);
	assert_int_equal(store_user_insert(f->k.c, &dup), STORE_CONFLICT);
	assert_int_equal(store_commit(f->k.c), STORE_ERROR);
	assert_int_equal(store_user_by_id(f->k.c, b.id, &got), STORE_NOT_FOUND);
	assert_int_equal(store_ping(f->k.c), STORE_OK);
	/* Rolled back by the caller instead: the connection is fine afterwards too. */
	assert_int_equal(store_begin(f->k.c), STORE_OK);
	assert_int_equal(store_user_insert(f->k.c, &dup), STORE_CONFLICT);
	store_rollback(f->k.c);
	assert_int_equal(store_user_insert(f->k.c, &b), STORE_OK);
}

/* ---- users ---- */

static void test_overlong_value_is_an_error(void **state)
{
	struct fx *f = *state;
	struct user got, *v = NULL;
	size_t n = 0;
	int64_t total = 0;
	char sql[1024];
	char longmail[400];

	/* The schema cannot hold it; a widened column can, and the store must refuse it. */
	raw_exec("ALTER TABLE users ALTER COLUMN email TYPE TEXT");
	memset(longmail, 'a', sizeof(longmail) - 1);
	longmail[sizeof(longmail) - 1] = '\0';
	snprintf(sql, sizeof(sql),
	         "INSERT INTO users (id, email, password_hash, is_active, is_verified, roles, "
	         "created_at, updated_at) VALUES ('long-one', '%s', 'h', 1, 0, 'user', 1, 1)",
	         longmail);
	raw_exec(sql);

	assert_int_equal(store_user_by_id(f->k.c, "long-one", &got), STORE_ERROR);
	assert_int_equal(store_user_list(f->k.c, 10, 0, NULL, &v, &n, &total), STORE_ERROR);
	assert_null(v);
	assert_int_equal(n, 0);
	assert_int_equal(total, 0);

	longmail[STORE_EMAIL_LEN - 1] = '\0';
	snprintf(sql, sizeof(sql), "UPDATE users SET email = '%s' WHERE id = 'long-one'", longmail);
	raw_exec(sql);
	assert_int_equal(store_user_by_id(f->k.c, "long-one", &got), STORE_OK);
	assert_int_equal(strlen(got.email), STORE_EMAIL_LEN - 1);

	/* Writing a value longer than the column: an error, never a truncation. */
	got = mkuser(8, "y@example.org", NOW);
	memset(got.full_name, 'n', sizeof(got.full_name) - 1);
	got.full_name[sizeof(got.full_name) - 1] = '\0'; /* 255 bytes: fits VARCHAR(255) */
	assert_int_equal(store_user_insert(f->k.c, &got), STORE_OK);
	raw_exec("ALTER TABLE users ALTER COLUMN full_name TYPE VARCHAR(10) "
	         "USING left(full_name, 10)");
	got = mkuser(9, "z@example.org", NOW);
	snprintf(got.full_name, sizeof(got.full_name), "eleven char");
	assert_int_equal(store_user_insert(f->k.c, &got), STORE_ERROR);
	snprintf(got.full_name, sizeof(got.full_name), "ten chars!");
	assert_int_equal(store_user_insert(f->k.c, &got), STORE_OK);
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
	dup = s1;
	assert_int_equal(store_session_insert(f->k.c, &dup), STORE_CONFLICT);

	assert_int_equal(store_session_by_id(f->k.c, s1.id, &got), STORE_OK);
	assert_session_equal(&got, &s1);
	assert_int_equal(store_session_by_id(f->k.c, s4.id, &got), STORE_OK);
	assert_session_equal(&got, &s4);
	mkid(dup.id, 4242);
	assert_int_equal(store_session_by_id(f->k.c, dup.id, &got), STORE_NOT_FOUND);

	/* Active: not revoked, not expired; newest first. */
	assert_int_equal(store_session_list_active(f->k.c, a.id, NOW, &v, &n), STORE_OK);
	assert_int_equal(n, 2);
	assert_string_equal(v[0].id, s2.id);
	assert_string_equal(v[1].id, s1.id);
	free(v);
	assert_int_equal(store_session_list_active(f->k.c, "nobody", NOW, &v, &n), STORE_OK);
	assert_int_equal(n, 0);
	free(v);

	assert_int_equal(store_session_touch(f->k.c, s1.id, NOW + 50), STORE_OK);
	assert_int_equal(store_session_by_id(f->k.c, s1.id, &got), STORE_OK);
	assert_int_equal(got.last_used_at, NOW + 50);
	assert_int_equal(store_session_touch(f->k.c, s4.id, NOW + 50),
	                 STORE_NOT_FOUND); /* revoked */
	assert_int_equal(store_session_touch(f->k.c, dup.id, NOW), STORE_NOT_FOUND);

	/* Revoke: owner checked when given; only active ones; NULL owner = any. */
	assert_int_equal(store_session_revoke(f->k.c, s1.id, b.id, NOW + 60), STORE_NOT_FOUND);
	assert_int_equal(store_session_revoke(f->k.c, s1.id, a.id, NOW + 60), STORE_OK);
	assert_int_equal(store_session_revoke(f->k.c, s1.id, a.id, NOW + 61), STORE_NOT_FOUND);
	assert_int_equal(store_session_by_id(f->k.c, s1.id, &got), STORE_OK);
	assert_int_equal(got.revoked_at, NOW + 60);
	assert_int_equal(store_session_revoke(f->k.c, s3.id, a.id, NOW + 60), STORE_NOT_FOUND);
	assert_int_equal(store_session_revoke(f->k.c, s2.id, NULL, NOW + 62), STORE_OK);
	assert_int_equal(store_session_list_active(f->k.c, a.id, NOW, &v, &n), STORE_OK);
	assert_int_equal(n, 0);
	free(v);
}

static void test_session_revoke_all(void **state)
{
	struct fx *f = *state;
	struct user a = add_user(f->k.c, 1, "ra@example.org");
	struct user b = add_user(f->k.c, 2, "rb@example.org");
	struct session s[4], got, *v = NULL;
	struct session other = mksession(9, b.id, NOW, NOW + 1000);
	size_t n = 0;

	for (int i = 0; i < 4; i++) {
		s[i] = mksession(i + 1, a.id, NOW + i, NOW + 1000);
		assert_int_equal(store_session_insert(f->k.c, &s[i]), STORE_OK);
	}
	assert_int_equal(store_session_insert(f->k.c, &other), STORE_OK);
	assert_int_equal(store_session_revoke(f->k.c, s[0].id, NULL, NOW + 5), STORE_OK);

	assert_int_equal(store_session_revoke_all(f->k.c, a.id, s[2].id, NOW + 10), STORE_OK);
	assert_int_equal(store_session_list_active(f->k.c, a.id, NOW, &v, &n), STORE_OK);
	assert_int_equal(n, 1);
	assert_string_equal(v[0].id, s[2].id);
	free(v);
	assert_int_equal(store_session_revoke_all(f->k.c, a.id, NULL, NOW + 11), STORE_OK);
	assert_int_equal(store_session_list_active(f->k.c, a.id, NOW, &v, &n), STORE_OK);
	assert_int_equal(n, 0);
	free(v);
	assert_int_equal(store_session_by_id(f->k.c, s[0].id, &got), STORE_OK);
	assert_int_equal(got.revoked_at, NOW + 5);
	assert_int_equal(store_session_by_id(f->k.c, s[1].id, &got), STORE_OK);
	assert_int_equal(got.revoked_at, NOW + 10);
	assert_int_equal(store_session_list_active(f->k.c, b.id, NOW, &v, &n), STORE_OK);
	assert_int_equal(n, 1);
	free(v);
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
	t = mkrefresh(1, &s, NULL);
	snprintf(t.user_id, sizeof(t.user_id), "%s", a.id);
	assert_int_equal(store_refresh_insert(f->k.c, &t), STORE_NOT_FOUND);
	/* Inside a transaction, as at login with the user deleted meanwhile. */
	assert_int_equal(store_begin(f->k.c), STORE_OK);
	assert_int_equal(store_session_insert(f->k.c, &s), STORE_NOT_FOUND);
	store_rollback(f->k.c);
}

/* ---- refresh tokens ---- */

struct racer {
	struct store_conn *c;
	const char *hash;
	pthread_barrier_t *bar;
	bool in_tx;
	enum store_rc rc;
};

static void *racer_main(void *arg)
{
	struct racer *r = arg;

	pthread_barrier_wait(r->bar);
	if (r->in_tx) {
		/* As rotate() does it: spend inside a transaction, then commit. */
		r->rc = store_begin(r->c);
		if (r->rc == STORE_OK)
			r->rc = store_refresh_spend(r->c, r->hash, NULL, NOW + 1);
		if (r->rc == STORE_OK)
			r->rc = store_commit(r->c);
		else
			store_rollback(r->c);
	} else {
		r->rc = store_refresh_spend(r->c, r->hash, NULL, NOW + 1);
	}
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
	for (int i = 0; i < 40; i++) {
		struct refresh_token t = mkrefresh(100 + i, &s, NULL);
		struct racer r1 = {f->k.c, t.token_hash, &bar, i % 2 == 0, STORE_ERROR};
		struct racer r2 = {c2, t.token_hash, &bar, i % 4 < 2, STORE_ERROR};
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
	assert_int_equal(raw_scalar("SELECT used_at FROM one_time_tokens"), NOW);

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
	snprintf(e.user_id, sizeof(e.user_id), "no-such-user");
	assert_int_equal(store_onetime_insert(f->k.c, &e), STORE_NOT_FOUND);

	/* Inside the caller's transaction, and rolled back with it. */
	mkhash(t.token_hash, 4);
	assert_int_equal(store_onetime_insert(f->k.c, &t), STORE_OK);
	assert_int_equal(store_begin(f->k.c), STORE_OK);
	assert_int_equal(
	        store_onetime_consume(f->k.c, t.token_hash, ONETIME_VERIFY_EMAIL, NOW, uid),
	        STORE_OK);
	store_rollback(f->k.c);
	assert_int_equal(
	        store_onetime_consume(f->k.c, t.token_hash, ONETIME_VERIFY_EMAIL, NOW, uid),
	        STORE_OK);
}

static void test_onetime_failed_consume_leaves_token_unused(void **state)
{
	struct fx *f = *state;
	char uid[STORE_ID_LEN];
	struct user u = add_user(f->k.c, 1, "keep@example.org"), got;

	raw_exec("ALTER TABLE one_time_tokens DROP CONSTRAINT one_time_tokens_user_id_fkey;"
	         "ALTER TABLE one_time_tokens ALTER COLUMN user_id TYPE TEXT;"
	         "INSERT INTO one_time_tokens (token_hash, user_id, purpose, created_at, "
	         "expires_at) VALUES ('tok', 'an-id-that-is-much-longer-than-a-uuid-ever-is', "
	         "'verify_email', 1, 1900000000)");

	assert_int_equal(store_onetime_consume(f->k.c, "tok", ONETIME_VERIFY_EMAIL, NOW, uid),
	                 STORE_ERROR);
	assert_string_equal(uid, "");
	assert_int_equal(raw_scalar("SELECT used_at IS NULL FROM one_time_tokens"), 1);

	assert_int_equal(store_begin(f->k.c), STORE_OK);
	u.is_verified = true;
	assert_int_equal(store_user_update(f->k.c, &u), STORE_OK);
	assert_int_equal(store_onetime_consume(f->k.c, "tok", ONETIME_VERIFY_EMAIL, NOW, uid),
	                 STORE_ERROR);
	assert_int_equal(store_commit(f->k.c), STORE_OK); /* the rest of the transaction stands */
	assert_int_equal(raw_scalar("SELECT used_at IS NULL FROM one_time_tokens"), 1);
	assert_int_equal(store_user_by_id(f->k.c, u.id, &got), STORE_OK);
	assert_true(got.is_verified);
}

/* store_user_lock is SELECT ... FOR UPDATE: a concurrent write of the row waits for the holder. */
struct renamer {
	struct store_conn *c;
	const char *id;
	int done;
	enum store_rc rc;
};

static void *renamer_main(void *arg)
{
	struct renamer *r = arg;

	r->rc = store_user_set_name(r->c, r->id, "Second", NOW + 2, NULL);
	__atomic_store_n(&r->done, 1, __ATOMIC_SEQ_CST);
	return NULL;
}

static void test_user_lock_blocks_writers(void **state)
{
	struct fx *f = *state;
	struct user u = add_user(f->k.c, 1, "locked@example.org"), got;
	struct renamer r = {store_acquire(f->k.st), u.id, 0, STORE_ERROR};
	pthread_t th;

	assert_non_null(r.c);
	assert_int_equal(store_begin(f->k.c), STORE_OK);
	assert_int_equal(store_user_lock(f->k.c, u.id, &got), STORE_OK);
	assert_int_equal(pthread_create(&th, NULL, renamer_main, &r), 0);
	usleep(300000);
	assert_int_equal(__atomic_load_n(&r.done, __ATOMIC_SEQ_CST), 0); /* still waiting */
	assert_int_equal(store_user_set_name(f->k.c, u.id, "First", NOW + 1, NULL), STORE_OK);
	assert_int_equal(store_commit(f->k.c), STORE_OK);
	pthread_join(th, NULL);
	assert_int_equal(r.rc, STORE_OK);
	store_release(f->k.st, r.c);
	assert_int_equal(store_user_by_id(f->k.c, u.id, &got), STORE_OK);
	assert_string_equal(got.full_name, "Second"); /* applied after the holder's commit */
	assert_int_equal(got.updated_at, NOW + 2);
}

/* ---- outbox ---- */

/* A claim in progress (row locked) is skipped by another connection, without waiting. */
static void test_outbox_claim_skip_locked(void **state)
{
	struct fx *f = *state;
	struct store_conn *c2 = store_acquire(f->k.st);
	struct outbox_msg m1 = {0}, m2 = {0};
	double t0;

	assert_non_null(c2);
	assert_int_equal(store_outbox_add(f->k.c, "a@example.org", "s", "t", NULL, NOW), STORE_OK);
	assert_int_equal(store_outbox_add(f->k.c, "b@example.org", "s", "t", NULL, NOW), STORE_OK);

	assert_int_equal(store_begin(f->k.c), STORE_OK);
	assert_int_equal(store_outbox_claim(f->k.c, NOW, NOW + 60, &m1), STORE_OK);
	t0 = mono_now();
	assert_int_equal(store_outbox_claim(c2, NOW, NOW + 60, &m2), STORE_OK);
	assert_true(mono_now() - t0 < 1.0); /* skipped the locked row, did not wait */
	assert_true(m1.id != m2.id);
	assert_string_equal(m2.recipient, "b@example.org");
	outbox_msg_free(&m2);
	assert_int_equal(store_outbox_claim(c2, NOW, NOW + 60, &m2), STORE_NOT_FOUND);

	store_rollback(f->k.c); /* the first claim is undone: claimable again */
	assert_int_equal(store_outbox_claim(c2, NOW, NOW + 60, &m2), STORE_OK);
	assert_int_equal(m2.id, m1.id);
	outbox_msg_free(&m1);
	outbox_msg_free(&m2);
	store_release(f->k.st, c2);
}

#define CLAIMERS 4
#define MESSAGES 60

struct claimer {
	struct store_conn *c;
	pthread_barrier_t *bar;
	int64_t ids[MESSAGES];
	int n;
	enum store_rc last;
};

static void *claimer_main(void *arg)
{
	struct claimer *k = arg;
	struct outbox_msg m;

	pthread_barrier_wait(k->bar);
	for (;;) {
		memset(&m, 0, sizeof(m));
		k->last = store_outbox_claim(k->c, NOW, NOW + 600, &m);
		if (k->last != STORE_OK)
			break;
		if (k->n < MESSAGES)
			k->ids[k->n] = m.id;
		k->n++;
		outbox_msg_free(&m);
	}
	return NULL;
}

static void test_outbox_concurrent_claims_distinct(void **state)
{
	struct fx *f = *state;
	struct claimer k[CLAIMERS];
	pthread_t th[CLAIMERS];
	pthread_barrier_t bar;
	struct store_conn *extra[CLAIMERS - 1];
	char seen[MESSAGES + 1] = {0};
	int total = 0;

	for (int i = 0; i < MESSAGES; i++)
		assert_int_equal(store_outbox_add(f->k.c, "m@example.org", "s", "t", NULL, NOW),
		                 STORE_OK);
	assert_int_equal(pthread_barrier_init(&bar, NULL, CLAIMERS), 0);
	for (int i = 0; i < CLAIMERS; i++) {
		memset(&k[i], 0, sizeof(k[i]));
		k[i].bar = &bar;
		k[i].c = i == 0 ? f->k.c : (extra[i - 1] = store_acquire(f->k.st));
		assert_non_null(k[i].c);
		assert_int_equal(pthread_create(&th[i], NULL, claimer_main, &k[i]), 0);
	}
	for (int i = 0; i < CLAIMERS; i++)
		pthread_join(th[i], NULL);
	for (int i = 0; i < CLAIMERS; i++) {
		assert_int_equal(k[i].last, STORE_NOT_FOUND);
		for (int j = 0; j < k[i].n && j < MESSAGES; j++) {
			assert_true(k[i].ids[j] >= 1 && k[i].ids[j] <= MESSAGES);
			assert_int_equal(seen[k[i].ids[j]], 0); /* never claimed twice */
			seen[k[i].ids[j]] = 1;
		}
		total += k[i].n;
	}
	assert_int_equal(total, MESSAGES);
	for (int i = 0; i < CLAIMERS - 1; i++)
		store_release(f->k.st, extra[i]);
	pthread_barrier_destroy(&bar);
}

/* ---- audit ---- */

/* ---- migrations ---- */

struct capture {
	char *buf;
	size_t len;
	FILE *f;
};

static FILE *cap_open(struct capture *c)
{
	c->buf = NULL;
	c->len = 0;
	c->f = open_memstream(&c->buf, &c->len);
	assert_non_null(c->f);
	return c->f;
}

static const char *cap_text(struct capture *c)
{
	fflush(c->f);
	return c->buf;
}

static void cap_close(struct capture *c)
{
	fclose(c->f);
	free(c->buf);
}

static bool table_exists(const char *name)
{
	char sql[128];

	snprintf(sql, sizeof(sql), "SELECT to_regclass('%s') IS NOT NULL", name);
	return raw_scalar(sql) == 1;
}

static const char *const tables[] = {"users",           "sessions",     "refresh_tokens",
                                     "one_time_tokens", "email_outbox", "audit_events"};

static void test_migrations_fresh_status_writes_nothing(void **state)
{
	struct fx *f = *state;
	struct capture cap;
	int current = -1, latest = -1;

	assert_int_equal(store_schema_version(f->k.c, &current, &latest), STORE_OK);
	assert_int_equal(current, 0);
	assert_int_equal(latest, 1);
	assert_int_equal(store_migrate_status(f->k.c, cap_open(&cap)), STORE_OK);
	assert_non_null(strstr(cap_text(&cap), "0001 initial_schema  pending"));
	cap_close(&cap);
	assert_false(table_exists("schema_migrations"));

	/* Inside an open transaction: no error, and the transaction is still usable. */
	assert_int_equal(store_begin(f->k.c), STORE_OK);
	assert_int_equal(store_schema_version(f->k.c, &current, &latest), STORE_OK);
	assert_int_equal(current, 0);
	assert_int_equal(store_ping(f->k.c), STORE_OK);
	assert_int_equal(store_commit(f->k.c), STORE_OK);
	assert_false(table_exists("schema_migrations"));

	/* The runner refuses to start inside a transaction. */
	assert_int_equal(store_begin(f->k.c), STORE_OK);
	assert_int_equal(store_migrate_up(f->k.c, NULL, NULL), STORE_ERROR);
	store_rollback(f->k.c);
}

static void test_migrations_up_down_status(void **state)
{
	struct fx *f = *state;
	struct capture cap;
	struct user u = mkuser(1, "m@example.org", NOW), got;
	int applied = -1, current = -1, latest = -1;

	assert_int_equal(store_migrate_up(f->k.c, &applied, cap_open(&cap)), STORE_OK);
	assert_int_equal(applied, 1);
	assert_non_null(strstr(cap_text(&cap), "applied 0001 initial_schema"));
	cap_close(&cap);
	for (size_t i = 0; i < sizeof(tables) / sizeof(tables[0]); i++)
		assert_true(table_exists(tables[i]));
	assert_int_equal(raw_scalar("SELECT count(*) FROM schema_migrations WHERE version = 1 "
	                            "AND name = 'initial_schema' AND applied_at > 1600000000"),
	                 1);
	assert_int_equal(store_user_insert(f->k.c, &u), STORE_OK);

	assert_int_equal(store_migrate_up(f->k.c, &applied, cap_open(&cap)), STORE_OK);
	assert_int_equal(applied, 0);
	assert_non_null(strstr(cap_text(&cap), "schema is up to date (version 1)"));
	cap_close(&cap);
	assert_int_equal(store_migrate_status(f->k.c, cap_open(&cap)), STORE_OK);
	assert_non_null(strstr(cap_text(&cap), "0001 initial_schema  applied 20"));
	cap_close(&cap);

	assert_int_equal(store_migrate_down(f->k.c, 2, cap_open(&cap)), STORE_ERROR);
	assert_non_null(strstr(cap_text(&cap), "only 1 applied; nothing was changed"));
	cap_close(&cap);
	assert_true(table_exists("users"));

	assert_int_equal(store_migrate_down(f->k.c, 1, cap_open(&cap)), STORE_OK);
	assert_non_null(strstr(cap_text(&cap), "rolled back 0001 initial_schema"));
	cap_close(&cap);
	for (size_t i = 0; i < sizeof(tables) / sizeof(tables[0]); i++)
		assert_false(table_exists(tables[i]));
	assert_int_equal(raw_scalar("SELECT count(*) FROM schema_migrations"), 0);
	assert_int_equal(store_schema_version(f->k.c, &current, &latest), STORE_OK);
	assert_int_equal(current, 0);
	/* No table: a prepared statement fails cleanly. */
	assert_int_equal(store_user_by_id(f->k.c, u.id, &got), STORE_ERROR);

	/* Up again; statements prepared before the tables were re-created still work. */
	assert_int_equal(store_migrate_up(f->k.c, &applied, NULL), STORE_OK);
	assert_int_equal(applied, 1);
	assert_int_equal(store_user_insert(f->k.c, &u), STORE_OK);
	assert_int_equal(store_user_by_id(f->k.c, u.id, &got), STORE_OK);
}

static const struct migration step1 = {1,
                                       "first",
                                       "CREATE TABLE m_one (x INTEGER)",
                                       "CREATE TABLE m_one (x INTEGER)",
                                       "DROP TABLE m_one",
                                       "DROP TABLE m_one"};
static const struct migration step2_bad = {
        2,
        "second",
        "CREATE TABLE m_two (x INTEGER); SELECT * FROM no_such_table",
        "CREATE TABLE m_two (x INTEGER); INSERT INTO m_one VALUES (1); SELECT * FROM no_such",
        "DROP TABLE m_two",
        "DROP TABLE m_two"};

static void test_migration_failing_step_rolled_back(void **state)
{
	struct fx *f = *state;
	struct migration list[2] = {step1, step2_bad};
	struct capture cap;
	int applied = -1, current = -1, latest = -1;

	assert_int_equal(migrations_up(f->k.c, list, 2, &applied, cap_open(&cap)), STORE_ERROR);
	assert_non_null(strstr(cap_text(&cap), "migration 0002 second failed"));
	cap_close(&cap);
	assert_int_equal(applied, 1);
	assert_true(table_exists("m_one"));
	assert_false(table_exists("m_two"));
	assert_int_equal(raw_scalar("SELECT count(*) FROM m_one"), 0);
	assert_int_equal(migrations_version(f->k.c, list, 2, &current, &latest), STORE_OK);
	assert_int_equal(current, 1);
	assert_int_equal(latest, 2);
	/* The connection is clean afterwards: no transaction, no lock. */
	assert_int_equal(store_ping(f->k.c), STORE_OK);
	assert_int_equal(raw_scalar("SELECT count(*) FROM pg_locks WHERE locktype = 'advisory'"),
	                 0);
}

struct migrator {
	struct store_conn *c;
	pthread_barrier_t *bar;
	int applied;
	enum store_rc rc;
	volatile int done;
};

static void *migrator_main(void *arg)
{
	struct migrator *m = arg;

	if (m->bar)
		pthread_barrier_wait(m->bar);
	m->rc = store_migrate_up(m->c, &m->applied, NULL);
	__atomic_store_n(&m->done, 1, __ATOMIC_SEQ_CST);
	return NULL;
}

/* Replicas starting together: the advisory lock lets exactly one apply. */
static void test_migrations_concurrent_runners(void **state)
{
	struct fx *f = *state;
	struct migrator m[4];
	pthread_t th[4];
	pthread_barrier_t bar;
	int sum = 0;

	assert_int_equal(pthread_barrier_init(&bar, NULL, 4), 0);
	for (int i = 0; i < 4; i++) {
		memset(&m[i], 0, sizeof(m[i]));
		m[i].bar = &bar;
		m[i].c = i == 0 ? f->k.c : store_acquire(f->k.st);
		assert_non_null(m[i].c);
	}
	for (int i = 0; i < 4; i++)
		assert_int_equal(pthread_create(&th[i], NULL, migrator_main, &m[i]), 0);
	for (int i = 0; i < 4; i++)
		pthread_join(th[i], NULL);
	for (int i = 0; i < 4; i++) {
		assert_int_equal(m[i].rc, STORE_OK);
		sum += m[i].applied;
	}
	assert_int_equal(sum, 1);
	assert_int_equal(raw_scalar("SELECT count(*) FROM schema_migrations"), 1);
	for (int i = 1; i < 4; i++)
		store_release(f->k.st, m[i].c);
	pthread_barrier_destroy(&bar);
}

/* While one runner holds the lock, another waits for it. */
static void test_migration_lock_excludes(void **state)
{
	struct fx *f = *state;
	struct migrator m = {0};
	pthread_t th;

	m.c = store_acquire(f->k.st);
	assert_non_null(m.c);
	assert_int_equal(f->k.c->drv->lock_migrations(f->k.c), STORE_OK);
	assert_int_equal(raw_scalar("SELECT count(*) FROM pg_locks WHERE locktype = 'advisory' "
	                            "AND granted"),
	                 1);
	assert_int_equal(pthread_create(&th, NULL, migrator_main, &m), 0);
	usleep(500000);
	assert_int_equal(__atomic_load_n(&m.done, __ATOMIC_SEQ_CST), 0); /* still waiting */
	assert_int_equal(raw_scalar("SELECT count(*) FROM pg_locks WHERE locktype = 'advisory' "
	                            "AND NOT granted"),
	                 1);
	f->k.c->drv->unlock_migrations(f->k.c);
	pthread_join(th, NULL);
	assert_int_equal(m.rc, STORE_OK);
	assert_int_equal(m.applied, 1);
	assert_int_equal(raw_scalar("SELECT count(*) FROM pg_locks WHERE locktype = 'advisory'"),
	                 0);
	store_release(f->k.st, m.c);
	/* The lock holder's connection is back to normal and reusable. */
	assert_int_equal(store_ping(f->k.c), STORE_OK);
}

/* ---- connection failures and recovery ---- */

/* The backend pids of our connections (for terminating or freezing them). */
static int our_pids(const char *admin_url, const char *db, int *pids, int max)
{
	char sql[256];
	PGconn *a = raw_connect(admin_url);
	PGresult *r;
	int n;

	snprintf(sql, sizeof(sql),
	         "SELECT pid FROM pg_stat_activity WHERE datname = '%s' "
	         "AND application_name = 'auth-service' ORDER BY pid",
	         db);
	r = PQexec(a, sql);
	assert_int_equal(PQresultStatus(r), PGRES_TUPLES_OK);
	n = PQntuples(r);
	for (int i = 0; i < n && i < max; i++)
		pids[i] = atoi(PQgetvalue(r, i, 0));
	PQclear(r);
	PQfinish(a);
	return n;
}

static void terminate_ours(const char *admin_url, const char *db)
{
	char sql[320];

	snprintf(
	        sql, sizeof(sql),
	        "SELECT pg_terminate_backend(pid, 5000) FROM pg_stat_activity WHERE datname = '%s' "
	        "AND application_name = 'auth-service'",
	        db);
	sql_exec(admin_url, sql);
	wait_backends(admin_url, db, 0);
}

/* An administrator (or a failover) ends every connection: 57P01. */
static void test_terminated_connections_recover(void **state)
{
	struct fx *f = *state;
	struct user u = add_user(f->k.c, 1, "term@example.org"),
	            v = mkuser(2, "v@example.org", NOW);
	struct user got;
	struct store_conn *c2;

	/* Idle connections, ours and the pooled one: re-opened before the next use. */
	terminate_ours(G.admin_url, G.db_name);
	assert_int_equal(store_user_by_id(f->k.c, u.id, &got), STORE_OK);
	c2 = store_acquire(f->k.st);
	assert_non_null(c2);
	assert_int_equal(store_ping(c2), STORE_OK);
	store_release(f->k.st, c2);

	/* Inside a transaction: the transaction is lost, and said so until rolled back. */
	assert_int_equal(store_begin(f->k.c), STORE_OK);
	assert_int_equal(store_user_insert(f->k.c, &v), STORE_OK);
	terminate_ours(G.admin_url, G.db_name);
	assert_int_equal(store_user_by_id(f->k.c, u.id, &got), STORE_UNAVAILABLE);
	assert_int_equal(store_ping(f->k.c), STORE_UNAVAILABLE);
	assert_int_equal(store_commit(f->k.c), STORE_UNAVAILABLE);
	store_rollback(f->k.c);
	assert_int_equal(store_user_by_id(f->k.c, v.id, &got), STORE_NOT_FOUND); /* reconnected */

	/* Lost inside a transaction and released: the pool drops it, nothing leaks. */
	assert_int_equal(store_begin(f->k.c), STORE_OK);
	terminate_ours(G.admin_url, G.db_name);
	assert_int_equal(store_user_insert(f->k.c, &v), STORE_UNAVAILABLE);
	store_release(f->k.st, f->k.c);
	f->k.c = store_acquire(f->k.st);
	assert_non_null(f->k.c);
	assert_int_equal(store_user_insert(f->k.c, &v), STORE_OK);
}

/* A backend that stops answering (frozen host): bounded by the client deadline. */
static void test_frozen_backend_is_bounded(void **state)
{
	const char *url = own_db_url();
	struct fx *f = fx_new();
	struct user got;
	int pids[4], n;
	double t0, dt;

	(void)state;
	reset_schema(url);
	fx_config(f, url, 1, 0, 2);
	fx_open(f);
	assert_int_equal(store_migrate_up(f->k.c, NULL, NULL), STORE_OK);
	n = our_pids(G.own.admin_url, G.db_name, pids, 4);
	assert_int_equal(n, 1);
	assert_int_equal(kill(pids[0], SIGSTOP), 0); /* our own cluster's backend */
	t0 = mono_now();
	assert_int_equal(store_user_by_id(f->k.c, "x", &got), STORE_UNAVAILABLE);
	dt = mono_now() - t0;
	kill(pids[0], SIGCONT);
	assert_true(dt >= 14.0);
	assert_true(dt < 20.0); /* below the default DATABASE_POOL_TIMEOUT of 30 s */
	/* The frozen connection is not reused: a fresh one serves the next request. */
	store_release(f->k.st, f->k.c);
	f->k.c = store_acquire(f->k.st);
	assert_non_null(f->k.c);
	assert_int_equal(store_user_by_id(f->k.c, "x", &got), STORE_NOT_FOUND);
	fx_free(f);
}

static int outage_teardown(void **state)
{
	struct fx *f = *state;

	if (G.own.inited && !G.own.running)
		cluster_start(&G.own);
	if (f)
		fx_free(f);
	return 0;
}

static int outage_setup(void **state)
{
	const char *url = own_db_url();
	struct fx *f = fx_new();
	int applied;

	reset_schema(url);
	fx_config(f, url, 2, 1, 3);
	fx_open(f);
	assert_int_equal(store_migrate_up(f->k.c, &applied, NULL), STORE_OK);
	*state = f;
	return 0;
}

/* PostgreSQL stopped while the service runs, then started again. */
static void test_outage_and_recovery(void **state)
{
	struct fx *f = *state;
	struct user u = add_user(f->k.c, 1, "outage@example.org"), got;
	struct store_pool_stats ps;
	struct store_conn *held, *c;
	struct store *st2;
	char err[512] = "";
	double t0;

	held = store_acquire(f->k.st); /* the second persistent connection */
	assert_non_null(held);
	assert_int_equal(store_ping(held), STORE_OK);

	cluster_stop(&G.own, "immediate");

	/* Operations fail fast with UNAVAILABLE (the 503 path), no hang. */
	t0 = mono_now();
	assert_int_equal(store_user_by_id(f->k.c, u.id, &got), STORE_UNAVAILABLE);
	assert_int_equal(store_ping(f->k.c), STORE_UNAVAILABLE);
	assert_int_equal(store_begin(f->k.c), STORE_UNAVAILABLE);
	assert_false(f->k.c->drv->in_transaction(f->k.c));
	assert_true(mono_now() - t0 < 3.0);

	/* Released broken: dropped by the pool; new ones cannot be opened yet. */
	store_release(f->k.st, f->k.c);
	f->k.c = NULL;
	store_pool_stats(f->k.st, &ps);
	assert_int_equal(ps.size, 1);
	t0 = mono_now();
	c = store_acquire(f->k.st);
	assert_null(c);
	assert_true(mono_now() - t0 < 3.0);
	store_pool_stats(f->k.st, &ps);
	assert_int_equal(ps.size, 1);

	/* Opening a store now fails clearly, naming the redacted URL. */
	st2 = store_open(&f->cfg, err, sizeof(err));
	assert_null(st2);
	assert_non_null(strstr(err, "cannot connect to PostgreSQL at postgresql://auth:***@"));
	assert_null(strstr(err, G.own.pw));

	cluster_start(&G.own);

	/* Same store, no restart: new connections, and the held one re-opens in place. */
	f->k.c = store_acquire(f->k.st);
	assert_non_null(f->k.c);
	assert_int_equal(store_user_by_id(f->k.c, u.id, &got), STORE_OK);
	assert_string_equal(got.email, "outage@example.org");
	assert_int_equal(store_ping(held), STORE_OK);
	assert_int_equal(store_user_by_id(held, u.id, &got), STORE_OK);
	store_release(f->k.st, held);
	store_pool_stats(f->k.st, &ps);
	assert_int_equal(ps.size, 2);
	assert_int_equal(ps.idle, 1);
}

/* Stopped during a transaction, restarted before the caller notices. */
static void test_restart_inside_transaction(void **state)
{
	struct fx *f = *state;
	struct user u = mkuser(1, "half@example.org", NOW), got;

	assert_int_equal(store_begin(f->k.c), STORE_OK);
	assert_int_equal(store_user_insert(f->k.c, &u), STORE_OK);
	cluster_stop(&G.own, "fast");
	cluster_start(&G.own);
	assert_int_equal(store_audit(f->k.c, "x", NULL, NULL, NULL, NULL, NOW), STORE_UNAVAILABLE);
	assert_int_equal(store_commit(f->k.c), STORE_UNAVAILABLE);
	store_rollback(f->k.c);
	assert_int_equal(store_user_by_id(f->k.c, u.id, &got), STORE_NOT_FOUND);
	assert_int_equal(store_user_insert(f->k.c, &u), STORE_OK);
}

#define T(fn)  cmocka_unit_test_setup_teardown(fn, setup, teardown)
#define TE(fn) cmocka_unit_test_setup_teardown(fn, setup_empty, teardown)
#define TO(fn) cmocka_unit_test_setup_teardown(fn, outage_setup, outage_teardown)

int main(void)
{
	const struct CMUnitTest tests[] = {
	        STORE_CONTRACT_TESTS(setup, teardown),
	        T(test_open_kind_and_stats),
	        cmocka_unit_test(test_open_url_forms),
	        cmocka_unit_test(test_open_unreachable_fails_clearly),
	        cmocka_unit_test(test_open_wrong_password),
	        cmocka_unit_test(test_connect_timeout),
	        cmocka_unit_test(test_pool_overflow_and_timeout),
	        cmocka_unit_test(test_pool_min_size),
	        cmocka_unit_test(test_pool_waiter_gets_released_conn),
	        T(test_commit_after_failed_statement),
	        T(test_overlong_value_is_an_error),
	        T(test_sessions),
	        T(test_session_revoke_all),
	        T(test_foreign_keys_enforced),
	        T(test_refresh_spend_race),
	        T(test_onetime_tokens),
	        T(test_onetime_failed_consume_leaves_token_unused),
	        T(test_user_lock_blocks_writers),
	        T(test_outbox_claim_skip_locked),
	        T(test_outbox_concurrent_claims_distinct),
	        TE(test_migrations_fresh_status_writes_nothing),
	        TE(test_migrations_up_down_status),
	        TE(test_migration_failing_step_rolled_back),
	        TE(test_migrations_concurrent_runners),
	        TE(test_migration_lock_excludes),
	        T(test_terminated_connections_recover),
	        cmocka_unit_test(test_frozen_backend_is_bounded),
	        TO(test_outage_and_recovery),
	        TO(test_restart_inside_transaction),
	};

	return cmocka_run_group_tests(tests, group_setup, group_teardown);
}
