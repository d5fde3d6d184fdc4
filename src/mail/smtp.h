/*
 * mail/smtp.h - an SMTP submission client on libcurl.
 *
 * Security follows SMTP_SECURITY (derived from SMTP_PORT when unset):
 * starttls (587) upgrades with STARTTLS and fails rather than continue in
 * clear text when the server does not offer it; tls (465) speaks TLS from
 * the first byte (smtps://); none (other ports) is plain text and is refused
 * by the production guard in config.c.  Certificates are always verified
 * (peer and host name), against SMTP_CA_FILE when set, else the system
 * store.  AUTH uses SMTP_USER / SMTP_PASSWORD when SMTP_USER is set.
 * Timeouts: 10 s to connect, 30 s for one message in all.
 *
 * A client is used by one thread at a time.  It keeps its libcurl handle,
 * so consecutive messages reuse the connection while it stays open.
 * Nothing here ever logs: error texts are libcurl's and the server's
 * replies, never credentials (no CURLOPT_VERBOSE).
 */
#ifndef AUTH_MAIL_SMTP_H
#define AUTH_MAIL_SMTP_H

#include <stdatomic.h>
#include <stdbool.h>
#include <stddef.h>

struct config;
struct smtp_client;

#define SMTP_CONNECT_TIMEOUT 10 /* seconds */
#define SMTP_TOTAL_TIMEOUT   30 /* seconds, one message */

/* libcurl's process-wide set-up and tear-down (call once, from serve). */
int smtp_global_init(void);
void smtp_global_cleanup(void);

/*
 * The URL the client connects to: smtp://host:port or smtps://host:port
 * (IPv6 literals bracketed), with "/<helo domain>" when helo is not NULL.
 * -1 when it does not fit.
 */
int smtp_url(const struct config *cfg, const char *helo, char *out, size_t outlen);

/*
 * A client for cfg's server.  abort_flag (may be NULL): while it is true,
 * a transfer that has not yet sent any byte of the message is abandoned
 * (shutdown); once message bytes flow it runs to its end.  NULL on failure.
 */
struct smtp_client *smtp_client_create(const struct config *cfg, const atomic_bool *abort_flag);
void smtp_client_free(struct smtp_client *c);

enum smtp_rc {
	SMTP_SENT = 0,     /* the server accepted the message (250 after DATA) */
	SMTP_FAILED = -1,  /* not accepted: retry later */
	SMTP_ABORTED = -2, /* abandoned before any message byte was sent (abort_flag) */
};

/*
 * Send msg[0..len) (a complete RFC 5322 message, CRLF line ends) from
 * envelope sender `from` to `to`.  err receives a one-line reason on
 * failure.
 */
enum smtp_rc smtp_send(struct smtp_client *c, const char *from, const char *to, const char *msg,
                       size_t len, char *err, size_t errlen);

#endif
