/*
 * bench/mhd_ceiling.c - the HTTP library's own ceiling: a minimal
 * libmicrohttpd server answering every request with a constant JSON body,
 * started with the SAME daemon flags and options as src/http/server.c
 * (internal polling thread + epoll + suspend/resume, thread pool of
 * WORKERS, 32 KiB connection memory, 15 s timeout, 4096 connections,
 * 256 per address, address reuse, a completion callback).  Keep the two
 * in step when server.c changes.
 *
 *   mhd_ceiling PORT [WORKERS]        listens on 127.0.0.1 until SIGTERM/SIGINT
 *
 * Not part of the service build: bench/run compiles it with cc.
 */
#include <microhttpd.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <arpa/inet.h>
#include <netinet/in.h>

#define BODY "{\"status\":\"ok\",\"version\":\"0.1.0\"}"

static struct MHD_Response *ok;
static int marker;

static enum MHD_Result on_request(void *cls, struct MHD_Connection *conn, const char *url,
                                  const char *method, const char *version, const char *upload_data,
                                  size_t *upload_data_size, void **con_cls)
{
	(void)cls, (void)url, (void)method, (void)version, (void)upload_data;
	if (!*con_cls) { /* first call: headers only, as in the service */
		*con_cls = &marker;
		return MHD_YES;
	}
	if (*upload_data_size) {
		*upload_data_size = 0;
		return MHD_YES;
	}
	return MHD_queue_response(conn, MHD_HTTP_OK, ok);
}

static void on_completed(void *cls, struct MHD_Connection *conn, void **con_cls,
                         enum MHD_RequestTerminationCode toe)
{
	(void)cls, (void)conn, (void)toe;
	*con_cls = NULL;
}

int main(int argc, char **argv)
{
	struct sockaddr_in sa;
	struct MHD_Daemon *d;
	sigset_t sigs;
	int sig, port, workers;

	if (argc < 2) {
		fprintf(stderr, "usage: mhd_ceiling PORT [WORKERS]\n");
		return 2;
	}
	port = atoi(argv[1]);
	workers = argc > 2 ? atoi(argv[2]) : 1;
	sigemptyset(&sigs);
	sigaddset(&sigs, SIGTERM);
	sigaddset(&sigs, SIGINT);
	pthread_sigmask(SIG_BLOCK, &sigs, NULL);
	signal(SIGPIPE, SIG_IGN);

	ok = MHD_create_response_from_buffer(strlen(BODY), (void *)BODY, MHD_RESPMEM_PERSISTENT);
	MHD_add_response_header(ok, MHD_HTTP_HEADER_CONTENT_TYPE, "application/json");
	memset(&sa, 0, sizeof(sa));
	sa.sin_family = AF_INET;
	sa.sin_port = htons((uint16_t)port);
	sa.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
	d = MHD_start_daemon(MHD_USE_INTERNAL_POLLING_THREAD | MHD_USE_EPOLL |
	                             MHD_ALLOW_SUSPEND_RESUME | MHD_USE_ERROR_LOG,
	                     (uint16_t)port, NULL, NULL, on_request, NULL, MHD_OPTION_SOCK_ADDR,
	                     (struct sockaddr *)&sa, MHD_OPTION_THREAD_POOL_SIZE,
	                     (unsigned int)workers, MHD_OPTION_CONNECTION_MEMORY_LIMIT,
	                     (size_t)(32 * 1024), MHD_OPTION_CONNECTION_TIMEOUT, (unsigned int)15,
	                     MHD_OPTION_CONNECTION_LIMIT, (unsigned int)4096,
	                     MHD_OPTION_PER_IP_CONNECTION_LIMIT, (unsigned int)256,
	                     MHD_OPTION_LISTENING_ADDRESS_REUSE, (unsigned int)1,
	                     MHD_OPTION_NOTIFY_COMPLETED, on_completed, NULL, MHD_OPTION_END);
	if (!d) {
		fprintf(stderr, "mhd_ceiling: cannot listen on 127.0.0.1:%d\n", port);
		return 1;
	}
	fprintf(stderr, "mhd_ceiling: listening on http://127.0.0.1:%d (workers=%d)\n", port,
	        workers);
	sigwait(&sigs, &sig);
	MHD_stop_daemon(d);
	MHD_destroy_response(ok);
	return 0;
}
