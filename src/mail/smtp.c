/*
 * mail/smtp.c - SMTP submission through libcurl (smtp:// and smtps://).
 *
 * One easy handle per client, configured once with everything that does
 * not change between messages (URL, TLS policy, credentials, timeouts)
 * and given the envelope and the message for each send.  Keeping the
 * handle keeps libcurl's connection cache, so a burst of messages shares
 * one TLS session; the outbox frees the client when it goes idle.
 *
 * STARTTLS is CURLUSESSL_ALL: if the server does not offer it, libcurl
 * fails with CURLE_USE_SSL_FAILED before MAIL FROM, so no credential and
 * no message ever crosses in clear text.  Only smtp and smtps are allowed
 * as protocols, and signals are off (threads).
 */
#include "mail/smtp.h"

#include <curl/curl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "arena.h"
#include "config.h"

struct upload {
	const char *p;
	size_t left;
	bool started; /* the first byte of the message has been handed to libcurl */
};

struct smtp_client {
	CURL *curl;
	const atomic_bool *abort_flag;
	struct upload up;
	char errbuf[CURL_ERROR_SIZE];
};

int smtp_global_init(void)
{
	return curl_global_init(CURL_GLOBAL_DEFAULT) == CURLE_OK ? 0 : -1;
}

void smtp_global_cleanup(void)
{
	curl_global_cleanup();
}

int smtp_url(const struct config *cfg, const char *helo, char *out, size_t outlen)
{
	const char *scheme = cfg->smtp_security == SMTP_SECURITY_TLS ? "smtps" : "smtp";
	bool v6 = strchr(cfg->smtp_host, ':') != NULL;
	int n;

	n = snprintf(out, outlen, "%s://%s%s%s:%d%s%s", scheme, v6 ? "[" : "", cfg->smtp_host,
	             v6 ? "]" : "", cfg->smtp_port, helo ? "/" : "", helo ? helo : "");
	return n < 0 || (size_t)n >= outlen ? -1 : 0;
}

static size_t read_cb(char *buf, size_t size, size_t nitems, void *arg)
{
	struct upload *u = arg;
	size_t n = size * nitems;

	if (n > u->left)
		n = u->left;
	if (n) {
		memcpy(buf, u->p, n);
		u->p += n;
		u->left -= n;
		u->started = true;
	}
	return n;
}

static int progress_cb(void *arg, curl_off_t dltotal, curl_off_t dlnow, curl_off_t ultotal,
                       curl_off_t ulnow)
{
	struct smtp_client *c = arg;

	(void)dltotal;
	(void)dlnow;
	(void)ultotal;
	(void)ulnow;
	/* Abandon only what has not started: a half-sent message must finish. */
	return c->abort_flag && atomic_load(c->abort_flag) && !c->up.started;
}

/* The From domain for EHLO, when it is a plain host name. */
static void helo_domain(const char *from, char *out, size_t outlen)
{
	const char *at = strrchr(from, '@');
	size_t n;

	out[0] = '\0';
	if (!at)
		return;
	at++;
	n = strspn(at, "abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789.-");
	if (n == 0 || at[n] != '\0' || n >= outlen)
		return;
	memcpy(out, at, n);
	out[n] = '\0';
}

struct smtp_client *smtp_client_create(const struct config *cfg, const atomic_bool *abort_flag)
{
	struct smtp_client *c;
	char url[600], helo[256], from_addr[330];
	const char *lt = strrchr(cfg->smtp_from, '<');
	CURL *h;
	bool ok = true;

	if (!cfg->smtp_host)
		return NULL;
	/* EHLO with the From domain (deliverability); libcurl's default otherwise. */
	snprintf(from_addr, sizeof(from_addr), "%s", lt ? lt + 1 : cfg->smtp_from);
	from_addr[strcspn(from_addr, ">")] = '\0';
	helo_domain(from_addr, helo, sizeof(helo));
	if (smtp_url(cfg, helo[0] ? helo : NULL, url, sizeof(url)) != 0)
		return NULL;
	h = curl_easy_init();
	if (!h)
		return NULL;
	c = xcalloc(1, sizeof(*c));
	c->curl = h;
	c->abort_flag = abort_flag;

	ok = ok && curl_easy_setopt(h, CURLOPT_URL, url) == CURLE_OK;
#if LIBCURL_VERSION_NUM >= 0x075500
	ok = ok && curl_easy_setopt(h, CURLOPT_PROTOCOLS_STR, "smtp,smtps") == CURLE_OK;
#else
	ok = ok && curl_easy_setopt(h, CURLOPT_PROTOCOLS,
	                            (long)(CURLPROTO_SMTP | CURLPROTO_SMTPS)) == CURLE_OK;
#endif
	ok = ok && curl_easy_setopt(h, CURLOPT_NOSIGNAL, 1L) == CURLE_OK;
	ok = ok && curl_easy_setopt(h, CURLOPT_ERRORBUFFER, c->errbuf) == CURLE_OK;
	ok = ok &&
	     curl_easy_setopt(h, CURLOPT_CONNECTTIMEOUT, (long)SMTP_CONNECT_TIMEOUT) == CURLE_OK;
	ok = ok && curl_easy_setopt(h, CURLOPT_TIMEOUT, (long)SMTP_TOTAL_TIMEOUT) == CURLE_OK;
	ok = ok && curl_easy_setopt(h, CURLOPT_USE_SSL,
	                            (long)(cfg->smtp_security == SMTP_SECURITY_NONE
	                                           ? CURLUSESSL_NONE
	                                           : CURLUSESSL_ALL)) == CURLE_OK;
	ok = ok && curl_easy_setopt(h, CURLOPT_SSL_VERIFYPEER, 1L) == CURLE_OK;
	ok = ok && curl_easy_setopt(h, CURLOPT_SSL_VERIFYHOST, 2L) == CURLE_OK;
	ok = ok &&
	     curl_easy_setopt(h, CURLOPT_SSLVERSION, (long)CURL_SSLVERSION_TLSv1_2) == CURLE_OK;
	if (cfg->smtp_ca_file)
		ok = ok && curl_easy_setopt(h, CURLOPT_CAINFO, cfg->smtp_ca_file) == CURLE_OK;
	if (cfg->smtp_user) {
		ok = ok && curl_easy_setopt(h, CURLOPT_USERNAME, cfg->smtp_user) == CURLE_OK;
		ok = ok &&
		     curl_easy_setopt(h, CURLOPT_PASSWORD,
		                      cfg->smtp_password ? cfg->smtp_password : "") == CURLE_OK;
	}
	ok = ok && curl_easy_setopt(h, CURLOPT_UPLOAD, 1L) == CURLE_OK;
	ok = ok && curl_easy_setopt(h, CURLOPT_READFUNCTION, read_cb) == CURLE_OK;
	ok = ok && curl_easy_setopt(h, CURLOPT_READDATA, &c->up) == CURLE_OK;
	ok = ok && curl_easy_setopt(h, CURLOPT_NOPROGRESS, 0L) == CURLE_OK;
	ok = ok && curl_easy_setopt(h, CURLOPT_XFERINFOFUNCTION, progress_cb) == CURLE_OK;
	ok = ok && curl_easy_setopt(h, CURLOPT_XFERINFODATA, c) == CURLE_OK;
	if (!ok) {
		smtp_client_free(c);
		return NULL;
	}
	return c;
}

void smtp_client_free(struct smtp_client *c)
{
	if (!c)
		return;
	curl_easy_cleanup(c->curl);
	free(c);
}

enum smtp_rc smtp_send(struct smtp_client *c, const char *from, const char *to, const char *msg,
                       size_t len, char *err, size_t errlen)
{
	char env_from[340], env_to[340];
	struct curl_slist *rcpt = NULL;
	enum smtp_rc rc = SMTP_FAILED;
	long code = 0;
	CURLcode cc;

	err[0] = '\0';
	if (snprintf(env_from, sizeof(env_from), "<%s>", from) >= (int)sizeof(env_from) ||
	    snprintf(env_to, sizeof(env_to), "<%s>", to) >= (int)sizeof(env_to)) {
		snprintf(err, errlen, "address too long");
		return SMTP_FAILED;
	}
	rcpt = curl_slist_append(NULL, env_to);
	if (!rcpt) {
		snprintf(err, errlen, "out of memory");
		return SMTP_FAILED;
	}
	c->up = (struct upload){msg, len, false};
	c->errbuf[0] = '\0';
	if (curl_easy_setopt(c->curl, CURLOPT_MAIL_FROM, env_from) != CURLE_OK ||
	    curl_easy_setopt(c->curl, CURLOPT_MAIL_RCPT, rcpt) != CURLE_OK ||
	    curl_easy_setopt(c->curl, CURLOPT_INFILESIZE_LARGE, (curl_off_t)len) != CURLE_OK) {
		snprintf(err, errlen, "cannot configure libcurl");
		goto out;
	}
	cc = curl_easy_perform(c->curl);
	curl_easy_getinfo(c->curl, CURLINFO_RESPONSE_CODE, &code);
	if (cc == CURLE_OK) {
		rc = SMTP_SENT;
	} else {
		rc = cc == CURLE_ABORTED_BY_CALLBACK ? SMTP_ABORTED : SMTP_FAILED;
		if (code > 0)
			snprintf(err, errlen, "%s (last SMTP reply %ld)",
			         c->errbuf[0] ? c->errbuf : curl_easy_strerror(cc), code);
		else
			snprintf(err, errlen, "%s",
			         c->errbuf[0] ? c->errbuf : curl_easy_strerror(cc));
	}
out:
	/* The list is freed now: do not leave libcurl a dangling pointer. */
	curl_easy_setopt(c->curl, CURLOPT_MAIL_RCPT, (struct curl_slist *)NULL);
	curl_slist_free_all(rcpt);
	return rc;
}
