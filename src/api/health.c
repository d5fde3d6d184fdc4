/*
 * api/health.c - liveness and readiness probes.
 *
 * /health answers from memory: the process is alive.  /ready checks what
 * a request needs (the database, and the revocation store) and turns 503
 * the moment shutdown begins, so a load balancer stops sending traffic
 * before the listener closes.  /metrics renders the Prometheus counters
 * (metrics.c) from memory.
 */
#include <jansson.h>
#include <stdatomic.h>
#include <stdlib.h>
#include <string.h>

#include "api/api.h"
#include "app.h"
#include "cache/cache.h"
#include "config.h"
#include "http/json.h"
#include "metrics.h"
#include "store/store.h"

void api_health(struct req *r, struct resp *rs)
{
	json_t *body = json_object();

	json_object_set_new(body, "status", json_string("ok"));
	json_object_set_new(body, "version", json_string(r->app->cfg->app_version));
	resp_json(rs, 200, body);
}

static const char *check_database(const struct app *app)
{
	struct store_conn *c = store_acquire(app->store);
	enum store_rc rc;

	if (!c)
		return "error";
	rc = store_ping(c);
	store_release(app->store, c);
	return rc == STORE_OK ? "ok" : "error";
}

void api_ready(struct req *r, struct resp *rs)
{
	const struct app *app = r->app;
	const char *db = check_database(app);
	const char *cache = cache_ping(app->cache) == 0 ? cache_kind(app->cache) : "error";
	bool ok = !atomic_load(&((struct app *)app)->shutting_down) && strcmp(db, "ok") == 0 &&
	          strcmp(cache, "error") != 0;
	json_t *checks = json_object();
	json_t *body = json_object();

	json_object_set_new(checks, "database", json_string(db));
	json_object_set_new(checks, "redis",
	                    json_string(strcmp(cache, "redis") == 0 ? "ok" : cache));
	if (ok) {
		json_object_set_new(body, "status", json_string("ready"));
		json_object_set_new(body, "checks", checks);
		resp_json(rs, 200, body);
		return;
	}
	json_object_set_new(body, "detail", json_string("Service not ready"));
	json_object_set_new(body, "checks", checks);
	resp_json(rs, 503, body);
	resp_header(rs, "Retry-After", "5");
}

void api_metrics(struct req *r, struct resp *rs)
{
	size_t len = 0;
	char *text = metrics_render(r->app->metrics, r->app, &len);

	free(rs->body);
	rs->body = text;
	rs->body_len = len;
	rs->status = 200;
	rs->content_type = "text/plain; version=0.0.4; charset=utf-8";
}
