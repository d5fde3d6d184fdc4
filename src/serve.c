/*
 * serve.c - `auth-service serve`: assemble the application and run it.
 *
 * Start-up order: signals blocked (so every thread inherits the mask and
 * only the main thread receives SIGTERM/SIGINT, through sigwait), store
 * opened and schema checked (migrated automatically in development and
 * test, refused when behind in staging and production), worker pools,
 * router, listener.  Then the main thread waits for a signal and runs the
 * drain: readiness flips to 503, the listener stops accepting, in-flight
 * requests finish within SHUTDOWN_TIMEOUT_SECONDS, pools and the store
 * close, exit 0.
 */
#include <sched.h>
#include <signal.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "api/api.h"
#include "app.h"
#include "auth/keys.h"
#include "cache/cache.h"
#include "cli.h"
#include "config.h"
#include "http/router.h"
#include "http/server.h"
#include "log.h"
#include "mail/outbox.h"
#include "metrics.h"
#include "store/store.h"
#include "workpool.h"

#define PROBE_THREADS        1
#define PROBE_QUEUE          64
#define DB_QUEUE_PER_THREAD  64
#define CPU_QUEUE_PER_THREAD 32
#define CPU_NICE             10 /* bcrypt yields the core to HTTP threads (health p99 under a login flood) */

/* Bring the schema up to date, or refuse to run on an old one. */
static int check_schema(const struct config *cfg, struct store *st)
{
	struct store_conn *c = store_acquire(st);
	int current = 0, latest = 0, applied = 0, rc = -1;

	if (!c) {
		log_error("database unavailable at start-up (%s)", cfg->db.redacted);
		return -1;
	}
	if (store_schema_version(c, &current, &latest) != STORE_OK)
		goto out;
	if (current == latest) {
		rc = 0;
	} else if (current > latest) {
		log_error("database schema is at version %d, newer than this build (%d): run the "
		          "matching release or `auth-service migrate down %d` with the newer one",
		          current, latest, current - latest);
	} else if (config_is_strict(cfg)) {
		log_error("database schema is at version %d, this build needs %d: run "
		          "`auth-service migrate up` before starting the service",
		          current, latest);
	} else if (store_migrate_up(c, &applied, NULL) == STORE_OK) {
		log_info("applied %d migration(s): schema at version %d", applied, latest);
		rc = 0;
	}
out:
	store_release(st, c);
	return rc;
}

static int start_pools(struct app *app)
{
	const struct config *cfg = app->cfg;
	cpu_set_t set;
	long ncpu = sched_getaffinity(0, sizeof(set), &set) == 0 ? CPU_COUNT(&set)
	                                                         : sysconf(_SC_NPROCESSORS_ONLN);
	int db_threads = cfg->database_pool_size + cfg->database_max_overflow;

	if (ncpu < 1)
		ncpu = 1;
	app->pools[POOL_PROBE] = workpool_create("probe", PROBE_THREADS, PROBE_QUEUE, 0);
	app->pools[POOL_DB] =
	        workpool_create("db", db_threads, db_threads * DB_QUEUE_PER_THREAD, 0);
	app->pools[POOL_CPU] =
	        workpool_create("cpu", (int)ncpu, (int)ncpu * CPU_QUEUE_PER_THREAD, CPU_NICE);
	return app->pools[POOL_PROBE] && app->pools[POOL_DB] && app->pools[POOL_CPU] ? 0 : -1;
}

static void stop_pools(struct app *app)
{
	int i;

	for (i = 0; i < POOL__COUNT; i++) {
		workpool_destroy(app->pools[i]);
		app->pools[i] = NULL;
	}
}

int cmd_serve(const struct config *cfg)
{
	struct app app = {0};
	struct router *router = NULL;
	struct server *srv = NULL;
	sigset_t sigs;
	char err[512];
	int sig = 0, rc = 1;

	sigemptyset(&sigs);
	sigaddset(&sigs, SIGTERM);
	sigaddset(&sigs, SIGINT);
	pthread_sigmask(SIG_BLOCK, &sigs, NULL);
	signal(SIGPIPE, SIG_IGN);

	app.cfg = cfg;
	app.started_at = time(NULL);
	atomic_init(&app.shutting_down, false);

	app.keys = keys_load(cfg, err, sizeof(err));
	if (!app.keys) {
		log_error("%s", err);
		return 1;
	}
	app.cache = cache_open(cfg, err, sizeof(err));
	if (!app.cache) {
		log_error("REDIS_URL: %s", err);
		goto out;
	}
	app.store = store_open(cfg, err, sizeof(err));
	if (!app.store) {
		log_error("DATABASE_URL: %s", err);
		goto out;
	}
	if (check_schema(cfg, app.store) != 0)
		goto out;
	if (start_pools(&app) != 0) {
		log_error("cannot start worker threads");
		goto out;
	}
	/* mail: the outbox sender (docs/email.md); stopped after the HTTP server. */
	if (outbox_start(&app) != 0)
		goto out;
	router = router_create(api_routes, api_routes_count);
	app.metrics = metrics_create(api_routes, api_routes_count);
	srv = server_start(&app, router, err, sizeof(err));
	if (!srv) {
		log_error("%s", err);
		goto out;
	}
	log_info("%s %s starting: environment=%s database=%s cache=%s workers=%d listening on "
	         "http://%s:%u",
	         cfg->app_name, cfg->app_version, config_env_name(cfg->environment),
	         store_kind(app.store), cache_kind(app.cache), cfg->workers, cfg->host,
	         server_port(srv));

	if (sigwait(&sigs, &sig) != 0)
		sig = SIGTERM;
	log_info("received %s: draining (up to %d s)", sig == SIGINT ? "SIGINT" : "SIGTERM",
	         cfg->shutdown_timeout_seconds);
	atomic_store(&app.shutting_down, true);
	server_quiesce(srv);
	if (server_drain(srv, cfg->shutdown_timeout_seconds) != 0) {
		log_warning("shutdown timeout: %ld request(s) still in flight are abandoned",
		            server_in_flight(srv));
		fflush(stdout);
		_exit(0);
	}
	server_stop(srv);
	srv = NULL;
	outbox_stop(); /* mail: after the last request that could enqueue */
	log_info("drained; stopped");
	rc = 0;
out:
	server_stop(srv);
	outbox_stop(); /* mail: no-op unless started */
	stop_pools(&app);
	router_free(router);
	metrics_free(app.metrics);
	if (app.store)
		store_close(app.store);
	cache_close(app.cache);
	keys_free(app.keys);
	return rc;
}
