/*
 * http/server.h - the libmicrohttpd daemon: limits, pools, shutdown.
 *
 * WORKERS polling threads (epoll) parse HTTP and answer inline routes
 * directly.  Routes bound to a worker pool are suspended, handed to the
 * pool, and resumed when the handler has filled its response, so slow work
 * never occupies a thread that parses HTTP.
 */
#ifndef AUTH_SERVER_H
#define AUTH_SERVER_H

#include <stddef.h>
#include <stdint.h>

struct app;
struct router;
struct server;

#define HTTP_MAX_BODY (64 * 1024)

struct server *server_start(struct app *app, const struct router *rt, char *err, size_t errlen);
uint16_t server_port(const struct server *s);

/* Stop accepting new connections (existing ones are served until drained). */
void server_quiesce(struct server *s);

/* Wait until no request is in flight; 0 when drained, -1 on timeout. */
int server_drain(struct server *s, int timeout_seconds);

/* Stop the daemon and free it.  Only after a successful drain. */
void server_stop(struct server *s);

/* Requests currently being handled (for /metrics). */
long server_in_flight(const struct server *s);

#endif
