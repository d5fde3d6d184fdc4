/*
 * metrics.h - Prometheus metrics: counters and histograms kept in memory,
 * rendered as text exposition format by GET /metrics.
 *
 * Recording is lock-free (relaxed atomics in fixed arrays indexed by
 * route and status code), so observing a request costs a few atomic adds
 * on the HTTP thread.  Gauges (pools, outbox) are read when
 * /metrics is rendered.
 */
#ifndef AUTH_METRICS_H
#define AUTH_METRICS_H

#include <stddef.h>

struct route;
struct app;
struct metrics;

enum metric_login {
	LOGIN_OK,
	LOGIN_FAILED,
	LOGIN_DISABLED,
	LOGIN_UNVERIFIED,
	LOGIN_RATE_LIMITED,
	LOGIN__COUNT
};

enum metric_event {
	EV_REFRESH_REUSE, /* refresh token reuse detected */
	EV_RATE_LIMITED,  /* 429 answers */
	EV_SLOW_CLIENT,   /* connections closed at the header or body deadline */
	EV__COUNT
};

/* routes: the route table (requests are labelled by its templates). */
struct metrics *metrics_create(const struct route *routes, size_t n);
void metrics_free(struct metrics *m);

/* One finished request; route NULL for unmatched paths. */
void metrics_observe(struct metrics *m, const struct route *route, const char *method, int status,
                     double seconds);
void metrics_login(struct metrics *m, enum metric_login result);
void metrics_event(struct metrics *m, enum metric_event ev);

/* Render everything (gauges read from app) as a malloc'ed string. */
char *metrics_render(struct metrics *m, const struct app *app, size_t *len);

#endif
