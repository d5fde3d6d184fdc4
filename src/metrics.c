/*
 * metrics.c - in-memory counters and histograms, Prometheus text output.
 *
 * Requests are counted in a fixed [route][status] matrix (the route table
 * is static and the statuses we answer are a known, short list; anything
 * else lands in an "other" column), latency in a fixed [route][bucket]
 * histogram.  Every cell is an atomic updated with relaxed ordering: the
 * numbers are statistics, not synchronisation.  Unmatched paths share one
 * row labelled route="unmatched" so a scanner cannot blow up cardinality.
 */
#include "metrics.h"

#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "app.h"
#include "arena.h"
#include "buf.h"
#include "cache/cache.h"
#include "config.h"
#include "http/router.h"
#include "http/server.h"
#include "mail/outbox.h"
#include "store/store.h"
#include "workpool.h"

static const int statuses[] = {200, 201, 202, 204, 400, 401, 403, 404, 405,
                               408, 409, 413, 415, 422, 429, 499, 500, 503};
#define NSTATUS (sizeof(statuses) / sizeof(statuses[0]) + 1) /* + "other" */

static const double buckets[] = {0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05,
                                 0.1,    0.25,  0.5,    1,     2.5,  5,     10};
#define NBUCKET (sizeof(buckets) / sizeof(buckets[0]))

static const char *const login_names[] = {"success", "failure", "disabled", "unverified",
                                          "rate_limited"};

struct route_stats {
	atomic_ullong by_status[NSTATUS];
	atomic_ullong bucket[NBUCKET]; /* non-cumulative; summed when rendered */
	atomic_ullong count;
	atomic_ullong sum_us;
};

struct metrics {
	const struct route *routes;
	size_t n;
	struct route_stats *rows; /* n + 1: the last is "unmatched" */
	atomic_ullong logins[LOGIN__COUNT];
	atomic_ullong events[EV__COUNT];
};

struct metrics *metrics_create(const struct route *routes, size_t n)
{
	struct metrics *m = xcalloc(1, sizeof(*m));

	m->routes = routes;
	m->n = n;
	m->rows = xcalloc(n + 1, sizeof(struct route_stats));
	return m;
}

void metrics_free(struct metrics *m)
{
	if (!m)
		return;
	free(m->rows);
	free(m);
}

static size_t status_index(int status)
{
	size_t i;

	for (i = 0; i < NSTATUS - 1; i++)
		if (statuses[i] == status)
			return i;
	return NSTATUS - 1;
}

void metrics_observe(struct metrics *m, const struct route *route, const char *method, int status,
                     double seconds)
{
	size_t row = m->n, b;
	struct route_stats *rs;

	(void)method;
	if (route && route >= m->routes && route < m->routes + m->n)
		row = (size_t)(route - m->routes);
	rs = &m->rows[row];
	atomic_fetch_add_explicit(&rs->by_status[status_index(status)], 1, memory_order_relaxed);
	for (b = 0; b < NBUCKET && seconds > buckets[b]; b++)
		;
	if (b < NBUCKET)
		atomic_fetch_add_explicit(&rs->bucket[b], 1, memory_order_relaxed);
	atomic_fetch_add_explicit(&rs->count, 1, memory_order_relaxed);
	atomic_fetch_add_explicit(&rs->sum_us, (unsigned long long)(seconds * 1e6),
	                          memory_order_relaxed);
}

void metrics_login(struct metrics *m, enum metric_login result)
{
	if (m && result < LOGIN__COUNT)
		atomic_fetch_add_explicit(&m->logins[result], 1, memory_order_relaxed);
}

void metrics_event(struct metrics *m, enum metric_event ev)
{
	if (m && ev < EV__COUNT)
		atomic_fetch_add_explicit(&m->events[ev], 1, memory_order_relaxed);
}

static void route_labels(const struct metrics *m, size_t row, const char **route,
                         const char **method)
{
	if (row < m->n) {
		*route = m->routes[row].pattern;
		*method = m->routes[row].method;
	} else {
		*route = "unmatched";
		*method = "any";
	}
}

static void render_requests(struct metrics *m, struct buf *o)
{
	size_t r, s, b;

	buf_appendf(o,
	            "# HELP auth_http_requests_total HTTP requests by route template, method and "
	            "status.\n# TYPE auth_http_requests_total counter\n");
	for (r = 0; r <= m->n; r++) {
		const char *route, *method;
		route_labels(m, r, &route, &method);
		for (s = 0; s < NSTATUS; s++) {
			unsigned long long v = atomic_load_explicit(&m->rows[r].by_status[s],
			                                            memory_order_relaxed);
			if (!v)
				continue;
			if (s < NSTATUS - 1)
				buf_appendf(o,
				            "auth_http_requests_total{route=\"%s\",method=\"%s\","
				            "status=\"%"
				            "d\"} %llu\n",
				            route, method, statuses[s], v);
			else
				buf_appendf(o,
				            "auth_http_requests_total{route=\"%s\",method=\"%s\","
				            "status="
				            "\"other\"} %llu\n",
				            route, method, v);
		}
	}
	buf_appendf(
	        o,
	        "# HELP auth_http_request_duration_seconds Time from the first byte of a request "
	        "to its completion.\n# TYPE auth_http_request_duration_seconds histogram\n");
	for (r = 0; r <= m->n; r++) {
		const char *route, *method;
		unsigned long long cum = 0, count;
		count = atomic_load_explicit(&m->rows[r].count, memory_order_relaxed);
		if (!count)
			continue;
		route_labels(m, r, &route, &method);
		for (b = 0; b < NBUCKET; b++) {
			cum += atomic_load_explicit(&m->rows[r].bucket[b], memory_order_relaxed);
			/* method too: GET/PATCH/DELETE /api/v1/users/me are three series */
			buf_appendf(o,
			            "auth_http_request_duration_seconds_bucket{route=\"%s\",method="
			            "\"%s\","
			            "le=\"%g\"} %llu\n",
			            route, method, buckets[b], cum);
		}
		buf_appendf(o,
		            "auth_http_request_duration_seconds_bucket{route=\"%s\",method=\"%s\","
		            "le=\"+Inf\"} %llu\n",
		            route, method, count);
		buf_appendf(
		        o,
		        "auth_http_request_duration_seconds_sum{route=\"%s\",method=\"%s\"} %.6f\n",
		        route, method,
		        (double)atomic_load_explicit(&m->rows[r].sum_us, memory_order_relaxed) /
		                1e6);
		buf_appendf(o,
		            "auth_http_request_duration_seconds_count{route=\"%s\",method=\"%s\"} "
		            "%llu\n",
		            route, method, count);
	}
}

static void render_pools(const struct app *app, struct buf *o)
{
	struct store_pool_stats sp;
	int i;

	buf_appendf(o, "# HELP auth_worker_pool_threads Threads of each worker pool.\n"
	               "# TYPE auth_worker_pool_threads gauge\n");
	for (i = 0; i < 4; i++) {
		struct workpool_stats ws;
		if (!app->pools[i])
			continue;
		workpool_stats(app->pools[i], &ws);
		buf_appendf(o, "auth_worker_pool_threads{pool=\"%s\"} %d\n", ws.name, ws.threads);
	}
	buf_appendf(o,
	            "# HELP auth_worker_pool_busy Threads of each worker pool running a request.\n"
	            "# TYPE auth_worker_pool_busy gauge\n");
	for (i = 0; i < 4; i++) {
		struct workpool_stats ws;
		if (!app->pools[i])
			continue;
		workpool_stats(app->pools[i], &ws);
		buf_appendf(o, "auth_worker_pool_busy{pool=\"%s\"} %d\n", ws.name, ws.busy);
	}
	buf_appendf(o, "# HELP auth_worker_pool_queued Requests waiting for a worker thread.\n"
	               "# TYPE auth_worker_pool_queued gauge\n");
	for (i = 0; i < 4; i++) {
		struct workpool_stats ws;
		if (!app->pools[i])
			continue;
		workpool_stats(app->pools[i], &ws);
		buf_appendf(o, "auth_worker_pool_queued{pool=\"%s\"} %d\n", ws.name, ws.queued);
	}
	buf_appendf(o,
	            "# HELP auth_worker_pool_rejected_total Requests refused with 503 because the "
	            "pool's queue was full.\n# TYPE auth_worker_pool_rejected_total counter\n");
	for (i = 0; i < 4; i++) {
		struct workpool_stats ws;
		if (!app->pools[i])
			continue;
		workpool_stats(app->pools[i], &ws);
		buf_appendf(o, "auth_worker_pool_rejected_total{pool=\"%s\"} %llu\n", ws.name,
		            ws.rejected);
	}
	if (!app->store)
		return;
	store_pool_stats(app->store, &sp);
	buf_appendf(o,
	            "# HELP auth_db_pool_connections Database connections by state.\n"
	            "# TYPE auth_db_pool_connections gauge\n"
	            "auth_db_pool_connections{state=\"in_use\"} %d\n"
	            "auth_db_pool_connections{state=\"idle\"} %d\n"
	            "# HELP auth_db_pool_waiting Requests waiting for a database connection.\n"
	            "# TYPE auth_db_pool_waiting gauge\n"
	            "auth_db_pool_waiting %d\n",
	            sp.in_use, sp.idle, sp.waiting);
}

/* Outbox counters of this process, and the shared backlog its sender last saw. */
static void render_outbox(struct buf *o)
{
	struct outbox_stats st;

	outbox_stats(&st);
	buf_appendf(
	        o,
	        "# HELP auth_outbox_sent_total Emails accepted by SMTP (or logged in "
	        "development).\n"
	        "# TYPE auth_outbox_sent_total counter\nauth_outbox_sent_total %llu\n"
	        "# HELP auth_outbox_retried_total Failed delivery attempts that will be retried.\n"
	        "# TYPE auth_outbox_retried_total counter\nauth_outbox_retried_total %llu\n"
	        "# HELP auth_outbox_failed_total Emails given up after the maximum age.\n"
	        "# TYPE auth_outbox_failed_total counter\nauth_outbox_failed_total %llu\n",
	        (unsigned long long)st.sent, (unsigned long long)st.retried,
	        (unsigned long long)st.failed);
	if (st.pending >= 0)
		buf_appendf(
		        o,
		        "# HELP auth_outbox_pending Emails waiting to be sent (all instances), as "
		        "of the sender's last idle check.\n"
		        "# TYPE auth_outbox_pending gauge\nauth_outbox_pending %lld\n",
		        (long long)st.pending);
}

char *metrics_render(struct metrics *m, const struct app *app, size_t *len)
{
	struct buf o = BUF_INIT;
	int i;

	buf_reserve(&o, 8192);
	buf_appendf(&o,
	            "# HELP auth_build_info Build and runtime information.\n"
	            "# TYPE auth_build_info gauge\n"
	            "auth_build_info{version=\"%s\",environment=\"%s\",database=\"%s\",cache=\"%"
	            "s\"} 1\n",
	            AUTH_VERSION, config_env_name(app->cfg->environment),
	            app->store ? store_kind(app->store) : "none",
	            app->cache ? cache_kind(app->cache) : "none");
	buf_appendf(
	        &o,
	        "# HELP auth_process_start_time_seconds Start time of the process (Unix time).\n"
	        "# TYPE auth_process_start_time_seconds gauge\n"
	        "auth_process_start_time_seconds %lld\n",
	        (long long)app->started_at);
	render_requests(m, &o);
	buf_appendf(&o, "# HELP auth_logins_total Login attempts (password grant) by result.\n"
	                "# TYPE auth_logins_total counter\n");
	for (i = 0; i < LOGIN__COUNT; i++)
		buf_appendf(&o, "auth_logins_total{result=\"%s\"} %llu\n", login_names[i],
		            atomic_load_explicit(&m->logins[i], memory_order_relaxed));
	buf_appendf(&o,
	            "# HELP auth_refresh_reuse_detected_total Spent refresh tokens presented again "
	            "(sessions revoked).\n# TYPE auth_refresh_reuse_detected_total counter\n"
	            "auth_refresh_reuse_detected_total %llu\n",
	            atomic_load_explicit(&m->events[EV_REFRESH_REUSE], memory_order_relaxed));
	buf_appendf(&o,
	            "# HELP auth_rate_limited_total Requests answered 429.\n"
	            "# TYPE auth_rate_limited_total counter\n"
	            "auth_rate_limited_total %llu\n",
	            atomic_load_explicit(&m->events[EV_RATE_LIMITED], memory_order_relaxed));
	buf_appendf(
	        &o,
	        "# HELP auth_http_slow_clients_closed_total Connections closed because the request "
	        "headers or body did not arrive in time.\n"
	        "# TYPE auth_http_slow_clients_closed_total counter\n"
	        "auth_http_slow_clients_closed_total %llu\n",
	        atomic_load_explicit(&m->events[EV_SLOW_CLIENT], memory_order_relaxed));
	render_pools(app, &o);
	render_outbox(&o);
	*len = o.len;
	return buf_take(&o);
}
