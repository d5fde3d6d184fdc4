/*
 * http/server.c - libmicrohttpd integration (see server.h).
 *
 * One struct exchange per request, created on libmicrohttpd's first
 * callback and freed by its completion callback; it owns the request's
 * arena, body buffer and response.  The request path:
 *
 *   headers in  -> Content-Length > 64 KiB? 413 at once
 *   body chunks -> appended (and counted) up to 64 KiB
 *   complete    -> struct req built (headers, query, client address,
 *                  request id copied into the arena), CORS preflight,
 *                  router -> 404 / 405 / route
 *   route       -> POOL_INLINE: handler runs here, response queued
 *                  otherwise: connection suspended, job submitted to
 *                  the route's pool (503 + Retry-After when its queue is
 *                  full); the worker runs the handler and resumes the
 *                  connection; the next callback queues the response.
 *
 * Common headers (X-Request-ID, Cache-Control default, nosniff, Vary,
 * CORS) are added in one place, respond(), so no handler can forget them.
 *
 * Slow clients.  libmicrohttpd closes a connection after CONNECTION_TIMEOUT
 * seconds without a byte.  A body must be complete within
 * HTTP_BODY_TIMEOUT_SECONDS of its headers, else the connection is closed
 * (logged as 408).  Request line + headers must be complete within
 * HTTP_HEADER_TIMEOUT_SECONDS of the connection opening or of the previous
 * response: every connection has a struct conn_watch (its libmicrohttpd
 * socket context) on a list that the reaper thread scans twice a second,
 * shutting down the socket of one over the deadline.  The watch leaves the
 * list in the CLOSED notification, which libmicrohttpd sends after the
 * last request's completion callback and before it closes the descriptor,
 * so neither the reaper (holding the list lock) nor on_completed touches a
 * freed watch or a reused descriptor.
 *
 * Connections per address.  HTTP_MAX_CONNECTIONS_PER_IP is ours, not
 * libmicrohttpd's (which keys on the full address, so one IPv6 /64 would
 * get that many per address): the STARTED notification counts the
 * connection against the rate-limit bucket of its TCP peer (fwd_bucket:
 * an IPv4 address, an IPv6 network of RATE_LIMIT_IPV6_PREFIX bits; never
 * a forwarding header, none has been read yet) in http/connlimit.c.  Over
 * the cap the watch is marked refused and the socket shut down, as the
 * reaper does; on_request answers MHD_NO for anything read from it before
 * libmicrohttpd sees end-of-stream, so it gets no answer.  CLOSED releases
 * the count.  No cap with TRUSTED_PROXIES (every connection comes from a
 * proxy) or with HTTP_MAX_CONNECTIONS_PER_IP=0.
 */
#include "http/server.h"

#include <arpa/inet.h>
#include <errno.h>
#include <microhttpd.h>
#include <netdb.h>
#include <openssl/rand.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#include "app.h"
#include "arena.h"
#include "config.h"
#include "http/connlimit.h"
#include "http/cors.h"
#include "http/forwarded.h"
#include "http/http.h"
#include "http/json.h"
#include "http/router.h"
#include "log.h"
#include "metrics.h"
#include "workpool.h"

#define MAX_HEADERS        100 /* header fields: more is a JSON 431 */
#define MAX_QUERY          32
#define CONNECTION_MEMORY  (32 * 1024) /* bounds request line + headers */
#define CONNECTION_TIMEOUT 15          /* seconds of inactivity */
#define RETRY_AFTER        "1"
#define DRAIN_SETTLE_MS    200  /* quiet time the drain waits for unread requests */
#define MAX_HEADER_BYTES   8192 /* header fields, names + values: more is a JSON 431 */
#define MAX_TARGET_BYTES   8192 /* path + query: more is a JSON 414 */
#define REAPER_TICK_MS     500
#define HEADERS_TOO_LARGE  "Request header fields too large (limit 100 fields, 8 KiB)"
#define TARGET_TOO_LONG    "Request target too long (limit 8 KiB)"

/* A connection, as the header deadline sees it. */
struct conn_watch {
	struct conn_watch *prev, *next; /* server.watch list, under watch_lock */
	int fd;
	_Atomic int64_t waiting_ms; /* since when headers are awaited; 0: a request is in */
	bool counted;               /* bucket holds a connlimit count, released at CLOSED */
	bool refused;               /* over the per-address cap: shut down, never answered */
	char bucket[FWD_ADDR_MAX];  /* the peer's bucket (per-address cap) */
};

struct server {
	struct MHD_Daemon *daemon;
	struct app *app;
	const struct router *router;
	uint16_t port;
	atomic_long in_flight;
	pthread_mutex_t drain_lock;
	pthread_cond_t drained;
	/* the header deadline: every open connection, and the thread that enforces it */
	pthread_mutex_t watch_lock;
	pthread_cond_t watch_wake;
	struct conn_watch watch; /* list head (circular) */
	int64_t header_timeout_ms;
	double body_timeout_ms;
	bool reaper_started, reaper_stop;
	pthread_t reaper;
	struct connlimit *per_ip; /* open connections per peer bucket; NULL: no cap */
};

enum ex_state { EX_READING, EX_QUEUED, EX_DONE };

struct exchange {
	struct server *srv;
	struct MHD_Connection *conn;
	struct arena *arena;
	struct req req;
	struct resp resp;
	const struct route *route;
	char *body;
	size_t body_len;
	bool too_large;
	bool queued;    /* a response has been handed to libmicrohttpd */
	bool preflight; /* answered by cors_preflight: no second set of CORS headers */
	enum ex_state state;
	struct timespec start;
	struct conn_watch *watch; /* the connection's, NULL if it has none */
};

static double ms_since(const struct timespec *t0)
{
	struct timespec t1;

	clock_gettime(CLOCK_MONOTONIC, &t1);
	return (double)(t1.tv_sec - t0->tv_sec) * 1e3 + (double)(t1.tv_nsec - t0->tv_nsec) / 1e6;
}

static int64_t now_ms(void)
{
	struct timespec t;

	clock_gettime(CLOCK_MONOTONIC, &t);
	return (int64_t)t.tv_sec * 1000 + t.tv_nsec / 1000000;
}

/* The TCP peer of conn as text (inet_ntop form) into out; "unknown" without one. */
static void peer_address(struct MHD_Connection *conn, char *out, size_t outlen)
{
	const union MHD_ConnectionInfo *ci =
	        MHD_get_connection_info(conn, MHD_CONNECTION_INFO_CLIENT_ADDRESS);
	const struct sockaddr *sa = ci ? ci->client_addr : NULL;

	snprintf(out, outlen, "unknown");
	if (sa && sa->sa_family == AF_INET)
		inet_ntop(AF_INET, &((const struct sockaddr_in *)sa)->sin_addr, out,
		          (socklen_t)outlen);
	else if (sa && sa->sa_family == AF_INET6)
		inet_ntop(AF_INET6, &((const struct sockaddr_in6 *)sa)->sin6_addr, out,
		          (socklen_t)outlen);
}

/*
 * Count a new connection against its peer's bucket.  Over the cap: the
 * watch is marked refused and the socket shut down (libmicrohttpd sees
 * end-of-stream and closes it).
 */
static void count_connection(struct server *s, struct MHD_Connection *conn, struct conn_watch *w)
{
	char peer[INET6_ADDRSTRLEN];

	if (!s->per_ip)
		return;
	peer_address(conn, peer, sizeof(peer));
	fwd_bucket(peer, s->app->cfg->rate_limit_ipv6_prefix, w->bucket, sizeof(w->bucket));
	if (connlimit_acquire(s->per_ip, w->bucket)) {
		w->counted = true;
		return;
	}
	w->refused = true;
	atomic_store(&w->waiting_ms, 0); /* not the reaper's: no slow-client count */
	shutdown(w->fd, SHUT_RDWR);
	log_msg(LOG_DEBUG, NULL, "http: connection from %s refused: %d open from %s", peer,
	        s->app->cfg->http_max_connections_per_ip, w->bucket);
}

/* ---- the header deadline ---- */

static void on_connection(void *cls, struct MHD_Connection *conn, void **socket_context,
                          enum MHD_ConnectionNotificationCode toe)
{
	struct server *s = cls;
	struct conn_watch *w = *socket_context;

	if (toe == MHD_CONNECTION_NOTIFY_STARTED) {
		const union MHD_ConnectionInfo *ci =
		        MHD_get_connection_info(conn, MHD_CONNECTION_INFO_CONNECTION_FD);
		if (!ci)
			return;
		w = xcalloc(1, sizeof(*w));
		w->fd = ci->connect_fd;
		atomic_store(&w->waiting_ms, now_ms());
		count_connection(s, conn, w);
		pthread_mutex_lock(&s->watch_lock);
		w->next = s->watch.next;
		w->prev = &s->watch;
		s->watch.next->prev = w;
		s->watch.next = w;
		pthread_mutex_unlock(&s->watch_lock);
		*socket_context = w;
	} else if (toe == MHD_CONNECTION_NOTIFY_CLOSED && w) {
		pthread_mutex_lock(&s->watch_lock);
		w->prev->next = w->next;
		w->next->prev = w->prev;
		pthread_mutex_unlock(&s->watch_lock);
		if (w->counted)
			connlimit_release(s->per_ip, w->bucket);
		free(w);
		*socket_context = NULL;
	}
}

static void *reaper_main(void *arg)
{
	struct server *s = arg;
	struct timespec until;

	pthread_mutex_lock(&s->watch_lock);
	while (!s->reaper_stop) {
		int64_t now;
		int closed = 0;

		clock_gettime(CLOCK_REALTIME, &until);
		until.tv_nsec += REAPER_TICK_MS * 1000000L;
		if (until.tv_nsec >= 1000000000L) {
			until.tv_sec++;
			until.tv_nsec -= 1000000000L;
		}
		pthread_cond_timedwait(&s->watch_wake, &s->watch_lock, &until);
		now = now_ms();
		for (struct conn_watch *w = s->watch.next; w != &s->watch; w = w->next) {
			int64_t since = atomic_load(&w->waiting_ms);
			if (since != 0 && now - since > s->header_timeout_ms) {
				/* libmicrohttpd sees end-of-stream and closes it. */
				shutdown(w->fd, SHUT_RDWR);
				atomic_store(&w->waiting_ms, 0);
				closed++;
				if (s->app->metrics)
					metrics_event(s->app->metrics, EV_SLOW_CLIENT);
			}
		}
		if (closed)
			log_msg(LOG_INFO, NULL,
			        "http: closed %d connection(s): request headers not complete in "
			        "%lld s",
			        closed, (long long)(s->header_timeout_ms / 1000));
	}
	pthread_mutex_unlock(&s->watch_lock);
	return NULL;
}

/* ---- client address and request id ---- */

/*
 * The client address and its rate-limit bucket (http/forwarded.c): every
 * X-Forwarded-For line counts, joined in order, and every Forwarded line.
 */
static const char *header_lines(struct exchange *ex, const char *name)
{
	const struct req *r = &ex->req;
	size_t i, len = 0, n = 0;
	char *out, *p;

	for (i = 0; i < r->n_headers; i++)
		if (strcasecmp(r->headers[i].name, name) == 0) {
			len += strlen(r->headers[i].value) + 2;
			n++;
		}
	if (n == 0)
		return NULL;
	p = out = arena_alloc(ex->arena, len + 1);
	for (i = 0; i < r->n_headers; i++)
		if (strcasecmp(r->headers[i].name, name) == 0)
			p += sprintf(p, "%s%s", p == out ? "" : ", ", r->headers[i].value);
	*p = '\0';
	return out;
}

static void client_address(struct exchange *ex, const char *peer)
{
	const struct config *cfg = ex->srv->app->cfg;
	char *ip = arena_alloc(ex->arena, FWD_ADDR_MAX),
	     *bucket = arena_alloc(ex->arena, FWD_ADDR_MAX);

	fwd_client_address(peer, header_lines(ex, "X-Forwarded-For"), header_lines(ex, "Forwarded"),
	                   cfg->trusted_proxies, cfg->n_trusted_proxies, ip, FWD_ADDR_MAX);
	fwd_bucket(ip, cfg->rate_limit_ipv6_prefix, bucket, FWD_ADDR_MAX);
	ex->req.client_ip = ip;
	ex->req.client_bucket = bucket;
}

static bool request_id_sane(const char *s)
{
	size_t n = 0;

	for (; s[n]; n++) {
		char c = s[n];
		if (!((c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') ||
		      c == '-' || c == '_' || c == '.' || c == ':'))
			return false;
	}
	return n >= 1 && n <= 128;
}

/*
 * A new id: 16 hex digits drawn once per thread from the CSPRNG, then a
 * per-thread counter.  Unique across threads and restarts without a CSPRNG
 * call per request; request ids are correlation handles, not secrets.
 */
static const char *request_id(struct exchange *ex)
{
	static _Thread_local unsigned long long prefix, counter;
	static _Thread_local int seeded;
	const char *given = req_header(&ex->req, "X-Request-ID");
	char *out;

	if (given && request_id_sane(given))
		return given;
	if (!seeded) {
		if (RAND_bytes((unsigned char *)&prefix, sizeof(prefix)) != 1)
			prefix = (unsigned long long)(uintptr_t)&prefix ^
			         (unsigned long long)time(NULL);
		seeded = 1;
	}
	out = arena_alloc(ex->arena, 33);
	snprintf(out, 33, "%016llx%016llx", prefix, ++counter);
	return out;
}

/* ---- building struct req ---- */

struct kv_collect {
	struct arena *arena;
	struct http_kv *kv;
	size_t n, cap;
	size_t total, bytes; /* all fields seen, and their names + values */
};

static enum MHD_Result collect_kv(void *cls, enum MHD_ValueKind kind, const char *key,
                                  const char *value)
{
	struct kv_collect *c = cls;
	size_t klen = key ? strlen(key) : 0, vlen = value ? strlen(value) : 0;

	(void)kind;
	c->total++;
	c->bytes += klen + vlen;
	if (c->n == c->cap || !key)
		return MHD_YES;
	c->kv[c->n].name = arena_strndup(c->arena, key, klen);
	c->kv[c->n].value = arena_strndup(c->arena, value ? value : "", vlen);
	c->n++;
	return MHD_YES;
}

/*
 * Build ex->req.  Returns 0, or the status for a request whose headers or
 * target are over our limits (431 / 414, answered in JSON by the caller).
 */
static int build_req(struct exchange *ex, const char *method, const char *url)
{
	struct req *r = &ex->req;
	struct kv_collect hc = {ex->arena, NULL, 0, MAX_HEADERS, 0, 0};
	struct kv_collect qc = {ex->arena, NULL, 0, MAX_QUERY, 0, 0};
	char peer[INET6_ADDRSTRLEN];

	r->arena = ex->arena;
	r->app = ex->srv->app;
	r->method = arena_strdup(ex->arena, method);
	r->path = arena_strdup(ex->arena, url);
	hc.kv = arena_alloc(ex->arena, sizeof(struct http_kv) * MAX_HEADERS);
	MHD_get_connection_values(ex->conn, MHD_HEADER_KIND, collect_kv, &hc);
	r->headers = hc.kv;
	r->n_headers = hc.n;
	qc.kv = arena_alloc(ex->arena, sizeof(struct http_kv) * MAX_QUERY);
	MHD_get_connection_values(ex->conn, MHD_GET_ARGUMENT_KIND, collect_kv, &qc);
	r->query = qc.kv;
	r->n_query = qc.n;

	peer_address(ex->conn, peer, sizeof(peer));
	client_address(ex, peer);
	r->request_id = request_id(ex);
	if (hc.total > MAX_HEADERS || hc.bytes > MAX_HEADER_BYTES)
		return 431;
	if (strlen(url) + qc.bytes + qc.total * 2 > MAX_TARGET_BYTES)
		return 414;
	return 0;
}

/* ---- responding ---- */

static enum MHD_Result respond(struct exchange *ex)
{
	struct resp *rs = &ex->resp;
	struct MHD_Response *mr;
	enum MHD_Result ret;
	bool has_cache_control = false;
	size_t i;

	if (ex->req.request_id && !ex->preflight)
		cors_decorate(ex->srv->app->cfg, &ex->req, rs);
	if (rs->body) {
		mr = MHD_create_response_from_buffer(rs->body_len, rs->body, MHD_RESPMEM_MUST_FREE);
		rs->body = NULL;
	} else {
		mr = MHD_create_response_from_buffer(0, NULL, MHD_RESPMEM_PERSISTENT);
	}
	if (!mr)
		return MHD_NO;
	for (i = 0; i < rs->n_headers; i++) {
		if (strcasecmp(rs->headers[i].name, "Cache-Control") == 0)
			has_cache_control = true;
		MHD_add_response_header(mr, rs->headers[i].name, rs->headers[i].value);
	}
	if (rs->body_len || rs->content_type)
		MHD_add_response_header(mr, MHD_HTTP_HEADER_CONTENT_TYPE,
		                        rs->content_type ? rs->content_type : "application/json");
	if (!has_cache_control)
		MHD_add_response_header(mr, MHD_HTTP_HEADER_CACHE_CONTROL, "no-store");
	MHD_add_response_header(mr, "X-Content-Type-Options", "nosniff");
	MHD_add_response_header(mr, MHD_HTTP_HEADER_VARY, "Origin");
	if (ex->req.request_id)
		MHD_add_response_header(mr, "X-Request-ID", ex->req.request_id);
	if (atomic_load(&ex->srv->app->shutting_down))
		MHD_add_response_header(mr, MHD_HTTP_HEADER_CONNECTION, "close");
	ret = MHD_queue_response(ex->conn, (unsigned int)rs->status, mr);
	MHD_destroy_response(mr);
	ex->state = EX_DONE;
	ex->queued = true;
	return ret;
}

static void run_job(void *arg)
{
	struct exchange *ex = arg;

	ex->route->handler(&ex->req, &ex->resp);
	if (ex->resp.status == 0)
		resp_detail(&ex->resp, 500, "Internal Server Error");
	ex->state = EX_DONE;
	MHD_resume_connection(ex->conn);
}

/* Everything is in: route and run (or dispatch) the request. */
static enum MHD_Result dispatch(struct exchange *ex)
{
	struct req *r = &ex->req;
	struct app *app = ex->srv->app;
	char allow[128];
	char *scratch;
	enum router_result rr;
	struct workpool *wp;

	if (ex->too_large) {
		resp_detail(&ex->resp, 413, "Request body too large (limit 64 KiB)");
		return respond(ex);
	}
	r->body = ex->body ? ex->body : "";
	r->body_len = ex->body_len;

	if (cors_is_preflight(r)) {
		ex->preflight = true;
		cors_preflight(app->cfg, r, &ex->resp);
		return respond(ex);
	}
	scratch = arena_alloc(ex->arena, strlen(r->path) + 1);
	rr = router_match(ex->srv->router, r->method, r->path, scratch, &ex->route, r->params,
	                  &r->n_params, allow, sizeof(allow));
	if (rr == ROUTER_NOT_FOUND) {
		resp_detail(&ex->resp, 404, "Not Found");
		return respond(ex);
	}
	if (rr == ROUTER_METHOD_NOT_ALLOWED) {
		if (strcmp(r->method, "OPTIONS") == 0)
			resp_empty(&ex->resp, 204);
		else
			resp_detail(&ex->resp, 405, "Method Not Allowed");
		resp_header(&ex->resp, "Allow", allow);
		return respond(ex);
	}
	r->route = ex->route->pattern;
	r->route_ctx = ex->route->ctx;

	wp = ex->route->pool == POOL_INLINE ? NULL : app->pools[ex->route->pool];
	if (wp && atomic_load(&app->shutting_down)) {
		/*
		 * Draining: a request arriving on a kept-alive connection after
		 * SIGTERM is not in flight; answer it here rather than suspend a
		 * connection the daemon is about to close.  (in_flight was raised
		 * before this check, so the drain cannot miss a request that saw
		 * the flag still down.)
		 */
		if (ex->route->flags & ROUTE_ANSWERS_DRAINING) {
			ex->route->handler(r, &ex->resp);
		} else {
			resp_detail(&ex->resp, 503, "Service shutting down, retry later");
			resp_header(&ex->resp, "Retry-After", RETRY_AFTER);
		}
		return respond(ex);
	}
	if (!wp) {
		ex->route->handler(r, &ex->resp);
		if (ex->resp.status == 0)
			resp_detail(&ex->resp, 500, "Internal Server Error");
		return respond(ex);
	}
	ex->state = EX_QUEUED;
	MHD_suspend_connection(ex->conn);
	if (workpool_submit(wp, run_job, ex) != 0) {
		resp_detail(&ex->resp, 503, "Service overloaded, retry later");
		resp_header(&ex->resp, "Retry-After", RETRY_AFTER);
		ex->state = EX_DONE;
		MHD_resume_connection(ex->conn);
	}
	return MHD_YES;
}

static enum MHD_Result on_request(void *cls, struct MHD_Connection *conn, const char *url,
                                  const char *method, const char *version, const char *upload_data,
                                  size_t *upload_data_size, void **con_cls)
{
	struct server *srv = cls;
	struct exchange *ex = *con_cls;

	(void)version;
	if (!ex) {
		const union MHD_ConnectionInfo *ci =
		        MHD_get_connection_info(conn, MHD_CONNECTION_INFO_SOCKET_CONTEXT);
		struct conn_watch *w = ci ? ci->socket_context : NULL;
		const char *cl;
		int over;

		if (w && w->refused)
			return MHD_NO; /* over the per-address cap: closed, no answer */
		ex = xcalloc(1, sizeof(*ex));
		ex->srv = srv;
		ex->conn = conn;
		ex->arena = arena_create();
		clock_gettime(CLOCK_MONOTONIC, &ex->start);
		atomic_fetch_add(&srv->in_flight, 1);
		*con_cls = ex;
		if ((ex->watch = w))
			atomic_store(&w->waiting_ms, 0); /* headers are in */
		if ((over = build_req(ex, method, url)) != 0) {
			resp_detail(&ex->resp, over,
			            over == 431 ? HEADERS_TOO_LARGE : TARGET_TOO_LONG);
			resp_header(&ex->resp, MHD_HTTP_HEADER_CONNECTION, "close");
			return respond(ex);
		}
		cl = MHD_lookup_connection_value(conn, MHD_HEADER_KIND,
		                                 MHD_HTTP_HEADER_CONTENT_LENGTH);
		if (cl && strtoull(cl, NULL, 10) > HTTP_MAX_BODY) {
			ex->too_large = true;
			return dispatch(ex); /* answer before reading the body */
		}
		return MHD_YES;
	}
	if (ex->queued) {
		*upload_data_size = 0; /* answered early (413): discard the rest */
		return MHD_YES;
	}
	if (ex->state == EX_DONE)
		return respond(ex);
	if (ex->state != EX_READING)
		return MHD_YES;
	if (*upload_data_size && ms_since(&ex->start) > srv->body_timeout_ms) {
		/*
		 * A slow-body client: close the connection.  libmicrohttpd 0.9.75
		 * cannot queue a response in the middle of a body, so none is
		 * sent; the access log records the request as 408.
		 */
		ex->resp.status = 408;
		if (srv->app->metrics)
			metrics_event(srv->app->metrics, EV_SLOW_CLIENT);
		return MHD_NO;
	}
	if (*upload_data_size) {
		size_t n = *upload_data_size;
		if (!ex->too_large && ex->body_len + n <= HTTP_MAX_BODY) {
			ex->body = xrealloc(ex->body, ex->body_len + n + 1);
			memcpy(ex->body + ex->body_len, upload_data, n);
			ex->body_len += n;
			ex->body[ex->body_len] = '\0';
		} else {
			ex->too_large = true;
		}
		*upload_data_size = 0;
		return MHD_YES;
	}
	return dispatch(ex);
}

static void on_completed(void *cls, struct MHD_Connection *conn, void **con_cls,
                         enum MHD_RequestTerminationCode toe)
{
	struct server *srv = cls;
	struct exchange *ex = *con_cls;
	double duration;
	int status;

	(void)conn;
	if (!ex)
		return;
	if (ex->watch)
		atomic_store(&ex->watch->waiting_ms, now_ms()); /* the next request's clock */
	status = ex->resp.status;
	if (toe != MHD_REQUEST_TERMINATED_COMPLETED_OK && status == 0)
		status = 499; /* client went away before an answer */
	duration = ms_since(&ex->start);
	log_access(ex->req.method ? ex->req.method : "-", ex->req.path ? ex->req.path : "-", status,
	           duration, ex->req.request_id ? ex->req.request_id : "-",
	           ex->req.client_ip ? ex->req.client_ip : "-");
	if (srv->app->metrics)
		metrics_observe(srv->app->metrics, ex->route, ex->req.method, status,
		                duration / 1e3);
	resp_reset(&ex->resp);
	free(ex->body);
	arena_destroy(ex->arena);
	free(ex);
	*con_cls = NULL;
	if (atomic_fetch_sub(&srv->in_flight, 1) == 1) {
		pthread_mutex_lock(&srv->drain_lock);
		pthread_cond_broadcast(&srv->drained);
		pthread_mutex_unlock(&srv->drain_lock);
	}
}

static void on_mhd_error(void *cls, const char *fmt, va_list ap)
{
	char buf[512];

	(void)cls;
	vsnprintf(buf, sizeof(buf), fmt, ap);
	buf[strcspn(buf, "\n")] = '\0';
	log_msg(LOG_DEBUG, NULL, "http: %s", buf);
}

static int resolve(const char *host, uint16_t port, struct sockaddr_storage *ss, socklen_t *len)
{
	struct addrinfo hints = {0}, *res = NULL;
	char portbuf[8];
	int rc;

	hints.ai_family = AF_UNSPEC;
	hints.ai_socktype = SOCK_STREAM;
	hints.ai_flags = AI_PASSIVE | AI_NUMERICSERV;
	snprintf(portbuf, sizeof(portbuf), "%u", port);
	rc = getaddrinfo(host, portbuf, &hints, &res);
	if (rc != 0 || !res)
		return -1;
	memcpy(ss, res->ai_addr, res->ai_addrlen);
	*len = res->ai_addrlen;
	freeaddrinfo(res);
	return 0;
}

struct server *server_start(struct app *app, const struct router *rt, char *err, size_t errlen)
{
	const struct config *cfg = app->cfg;
	struct server *s = xcalloc(1, sizeof(*s));
	struct sockaddr_storage ss;
	socklen_t sslen;
	unsigned int flags;
	const union MHD_DaemonInfo *di;

	s->app = app;
	s->router = rt;
	pthread_mutex_init(&s->drain_lock, NULL);
	pthread_cond_init(&s->drained, NULL);
	pthread_mutex_init(&s->watch_lock, NULL);
	pthread_cond_init(&s->watch_wake, NULL);
	s->watch.next = s->watch.prev = &s->watch;
	s->header_timeout_ms = (int64_t)cfg->http_header_timeout_seconds * 1000;
	s->body_timeout_ms = cfg->http_body_timeout_seconds * 1000.0;
	if (cfg->http_max_connections_per_ip > 0 && cfg->n_trusted_proxies == 0)
		s->per_ip = connlimit_create((unsigned)cfg->http_max_connections_per_ip);
	if (resolve(cfg->host, (uint16_t)cfg->port, &ss, &sslen) != 0) {
		snprintf(err, errlen, "HOST: cannot resolve \"%s\"", cfg->host);
		goto fail;
	}
	flags = MHD_USE_INTERNAL_POLLING_THREAD | MHD_USE_EPOLL | MHD_ALLOW_SUSPEND_RESUME |
	        MHD_USE_ERROR_LOG;
	if (ss.ss_family == AF_INET6)
		flags |= MHD_USE_IPv6;
	s->daemon = MHD_start_daemon(
	        flags, (uint16_t)cfg->port, NULL, NULL, on_request, s, MHD_OPTION_SOCK_ADDR,
	        (struct sockaddr *)&ss, MHD_OPTION_THREAD_POOL_SIZE,
	        (unsigned int)(cfg->workers > 1 ? cfg->workers : 0), /* 1: no pool, one thread */
	        MHD_OPTION_CONNECTION_MEMORY_LIMIT, (size_t)CONNECTION_MEMORY,
	        MHD_OPTION_CONNECTION_TIMEOUT, (unsigned int)CONNECTION_TIMEOUT,
	        MHD_OPTION_CONNECTION_LIMIT, (unsigned int)cfg->http_max_connections,
	        MHD_OPTION_PER_IP_CONNECTION_LIMIT, (unsigned int)0, /* ours: per_ip */
	        MHD_OPTION_LISTENING_ADDRESS_REUSE, (unsigned int)1, MHD_OPTION_NOTIFY_COMPLETED,
	        on_completed, s, MHD_OPTION_NOTIFY_CONNECTION, on_connection, s,
	        MHD_OPTION_EXTERNAL_LOGGER, on_mhd_error, NULL, MHD_OPTION_END);
	if (!s->daemon) {
		snprintf(err, errlen, "cannot listen on %s:%d: %s", cfg->host, cfg->port,
		         errno ? strerror(errno) : "libmicrohttpd refused to start");
		goto fail;
	}
	di = MHD_get_daemon_info(s->daemon, MHD_DAEMON_INFO_BIND_PORT);
	s->port = di ? di->port : (uint16_t)cfg->port;
	if (pthread_create(&s->reaper, NULL, reaper_main, s) != 0) {
		snprintf(err, errlen, "cannot start the connection reaper thread");
		MHD_stop_daemon(s->daemon);
		goto fail;
	}
	s->reaper_started = true;
	return s;
fail:
	connlimit_free(s->per_ip);
	pthread_cond_destroy(&s->watch_wake);
	pthread_mutex_destroy(&s->watch_lock);
	pthread_cond_destroy(&s->drained);
	pthread_mutex_destroy(&s->drain_lock);
	free(s);
	return NULL;
}

uint16_t server_port(const struct server *s)
{
	return s->port;
}

long server_in_flight(const struct server *s)
{
	return atomic_load(&((struct server *)s)->in_flight);
}

void server_quiesce(struct server *s)
{
	MHD_socket fd = MHD_quiesce_daemon(s->daemon);
	if (fd != MHD_INVALID_SOCKET)
		close(fd);
}

int server_drain(struct server *s, int timeout_seconds)
{
	struct timespec deadline, now;
	int rc = 0;

	clock_gettime(CLOCK_REALTIME, &deadline);
	deadline.tv_sec += timeout_seconds;
	pthread_mutex_lock(&s->drain_lock);
	for (;;) {
		while (atomic_load(&s->in_flight) > 0 && rc == 0)
			rc = pthread_cond_timedwait(&s->drained, &s->drain_lock, &deadline);
		if (rc != 0)
			break;
		/*
		 * Idle for a moment: a request a client sent on a kept-alive
		 * connection just before the signal may still sit unread in the
		 * socket buffer; give the event loop DRAIN_SETTLE_MS to pick it up
		 * before the daemon closes the connections.
		 */
		pthread_mutex_unlock(&s->drain_lock);
		nanosleep(&(struct timespec){0, DRAIN_SETTLE_MS * 1000000L}, NULL);
		pthread_mutex_lock(&s->drain_lock);
		clock_gettime(CLOCK_REALTIME, &now);
		if (atomic_load(&s->in_flight) == 0 || now.tv_sec > deadline.tv_sec)
			break;
	}
	pthread_mutex_unlock(&s->drain_lock);
	return atomic_load(&s->in_flight) > 0 ? -1 : 0;
}

void server_stop(struct server *s)
{
	if (!s)
		return;
	if (s->reaper_started) {
		pthread_mutex_lock(&s->watch_lock);
		s->reaper_stop = true;
		pthread_cond_signal(&s->watch_wake);
		pthread_mutex_unlock(&s->watch_lock);
		pthread_join(s->reaper, NULL);
	}
	MHD_stop_daemon(s->daemon);
	connlimit_free(s->per_ip);
	pthread_cond_destroy(&s->watch_wake);
	pthread_mutex_destroy(&s->watch_lock);
	pthread_cond_destroy(&s->drained);
	pthread_mutex_destroy(&s->drain_lock);
	free(s);
}
