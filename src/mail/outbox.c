/*
 * mail/outbox.c - the background sender of the email outbox.
 *
 * One thread.  It sleeps on a condition variable (woken by outbox_notify()
 * or after OUTBOX_POLL_SECONDS), then drains: claim the oldest due message
 * (store_outbox_claim sets a lease of OUTBOX_LEASE_SECONDS, so another
 * instance does not take it), give the database connection back, send,
 * borrow a connection again and record the outcome.  No connection is held
 * while SMTP talks.
 *
 * Delivery guarantees (docs/email.md):
 *   - at least once: a message leaves the table only marked sent or given
 *     up; a crash mid-send leaves its lease to expire and the message is
 *     claimed again;
 *   - never twice once accepted: store_outbox_sent runs right after the
 *     server's 250.  If that write fails the id is remembered and retried,
 *     and this process will not send the message again.  The one window
 *     left is a crash (or a lost reply) between the server's acceptance and
 *     that write; the Message-ID is stable across attempts so a receiving
 *     system can recognise a duplicate.
 *   - failures back off exponentially (OUTBOX_RETRY_BASE_SECONDS * 2^n,
 *     capped at one hour) and a message is given up OUTBOX_MAX_AGE_SECONDS
 *     after it was written.
 *
 * A request that enqueues inside a transaction may notify before its
 * commit (registration does); the sender then re-checks a few times at a
 * short interval so the message is not left for the next poll.
 *
 * With SMTP_HOST unset (development) "sending" writes the text part, link
 * included, to the log.  In staging and production the tokens in such
 * links are redacted, as a token in a log is a credential in a log.
 */
#include "mail/outbox.h"

#include <errno.h>
#include <limits.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "app.h"
#include "arena.h"
#include "buf.h"
#include "config.h"
#include "log.h"
#include "mail/message.h"
#include "mail/smtp.h"
#include "store/store.h"

#define QUICK_RECHECKS   4 /* after a notification that found nothing due */
#define QUICK_RECHECK_MS 250
#define MARK_TRIES       3    /* store_outbox_sent attempts before remembering the id */
#define UNMARKED_MAX     64   /* accepted-but-not-marked ids remembered */
#define LOG_CHUNK        1500 /* bytes of a body per log line (development mode) */

static struct {
	pthread_mutex_t lock;
	pthread_cond_t cond; /* CLOCK_MONOTONIC, set up by outbox_start */
	bool started;
	bool kicked;
	bool curl_ready;
	pthread_t thread;
	atomic_bool stop;
	atomic_uint_fast64_t sent, retried, failed;
	atomic_int_fast64_t pending; /* backlog seen by the last drain pass; -1 unknown */
} ob = {.lock = PTHREAD_MUTEX_INITIALIZER, .pending = -1};

/* The sender thread's own state (not shared). */
struct sender {
	const struct app *app;
	const struct config *cfg;
	struct smtp_client *client; /* while a drain pass lasts */
	char from_addr[MAIL_ADDR_MAX];
	int64_t unmarked[UNMARKED_MAX];
	int n_unmarked;
};

int64_t outbox_next_attempt(int64_t now, int64_t created_at, int attempts, int base,
                            int64_t max_age, bool *give_up)
{
	int64_t delay = base > 0 ? base : 1, limit = created_at + max_age;

	*give_up = now >= limit;
	if (*give_up)
		return now;
	for (int i = 0; i < attempts && delay < OUTBOX_RETRY_MAX_SECONDS; i++)
		delay *= 2;
	if (delay > OUTBOX_RETRY_MAX_SECONDS)
		delay = OUTBOX_RETRY_MAX_SECONDS;
	return now + delay < limit ? now + delay : limit;
}

void outbox_stats(struct outbox_stats *out)
{
	out->sent = atomic_load(&ob.sent);
	out->retried = atomic_load(&ob.retried);
	out->failed = atomic_load(&ob.failed);
	out->pending = atomic_load(&ob.pending);
}

void outbox_notify(void)
{
	pthread_mutex_lock(&ob.lock);
	if (ob.started) {
		ob.kicked = true;
		pthread_cond_signal(&ob.cond);
	}
	pthread_mutex_unlock(&ob.lock);
}

/* "a***@example.com": enough to follow a message in the log, not a directory. */
static void mask_addr(const char *addr, char *out, size_t outlen)
{
	const char *at = strrchr(addr, '@');

	snprintf(out, outlen, "%c***%s", addr[0] ? addr[0] : '?', at ? at : "");
}

/* ---- recording outcomes ---- */

static bool unmarked_has(const struct sender *s, int64_t id)
{
	for (int i = 0; i < s->n_unmarked; i++)
		if (s->unmarked[i] == id)
			return true;
	return false;
}

static void unmarked_drop(struct sender *s, int64_t id)
{
	for (int i = 0; i < s->n_unmarked; i++)
		if (s->unmarked[i] == id) {
			s->unmarked[i] = s->unmarked[--s->n_unmarked];
			return;
		}
}

/* store_outbox_sent with a few tries; true when recorded. */
static bool mark_sent(struct sender *s, int64_t id)
{
	for (int i = 0; i < MARK_TRIES; i++) {
		struct store_conn *c = store_acquire(s->app->store);
		enum store_rc rc = STORE_UNAVAILABLE;

		if (c) {
			rc = store_outbox_sent(c, id, (int64_t)time(NULL));
			store_release(s->app->store, c);
		}
		if (rc == STORE_OK || rc == STORE_NOT_FOUND)
			return true;
		if (i + 1 < MARK_TRIES)
			sleep(1);
	}
	return false;
}

static void record_sent(struct sender *s, const struct outbox_msg *m, const char *to_masked)
{
	atomic_fetch_add(&ob.sent, 1);
	log_info("outbox: message %lld to %s sent (attempt %d)", (long long)m->id, to_masked,
	         m->attempts + 1);
	if (mark_sent(s, m->id)) {
		unmarked_drop(s, m->id);
		return;
	}
	log_error("outbox: message %lld was accepted but cannot be marked sent; this process will "
	          "not send it again and keeps trying to record it",
	          (long long)m->id);
	if (!unmarked_has(s, m->id) && s->n_unmarked < UNMARKED_MAX)
		s->unmarked[s->n_unmarked++] = m->id;
}

static void record_failure(struct sender *s, const struct outbox_msg *m, const char *to_masked,
                           const char *err)
{
	int64_t now = (int64_t)time(NULL), next;
	bool give_up;
	struct store_conn *c;
	enum store_rc rc = STORE_UNAVAILABLE;

	next = outbox_next_attempt(now, m->created_at, m->attempts,
	                           s->cfg->outbox_retry_base_seconds, OUTBOX_MAX_AGE_SECONDS,
	                           &give_up);
	if ((c = store_acquire(s->app->store))) {
		rc = store_outbox_failed(c, m->id, err, next, give_up, now);
		store_release(s->app->store, c);
	}
	if (rc != STORE_OK)
		log_error("outbox: cannot record the failure of message %lld; it is retried when "
		          "its claim expires",
		          (long long)m->id);
	if (give_up) {
		atomic_fetch_add(&ob.failed, 1);
		log_error("outbox: message %lld to %s given up after %d attempt(s) over %lld s: %s",
		          (long long)m->id, to_masked, m->attempts + 1,
		          (long long)(now - m->created_at), err);
	} else {
		atomic_fetch_add(&ob.retried, 1);
		log_warning("outbox: message %lld to %s failed (attempt %d), retry in %lld s: %s",
		            (long long)m->id, to_masked, m->attempts + 1, (long long)(next - now),
		            err);
	}
}

/* Give a claimed message back at once (shutdown before any byte was sent). */
static void release_claim(struct sender *s, const struct outbox_msg *m)
{
	struct store_conn *c = store_acquire(s->app->store);
	int64_t now = (int64_t)time(NULL);

	if (c) {
		store_outbox_failed(c, m->id, "interrupted by shutdown", now, false, now);
		store_release(s->app->store, c);
	}
	log_info("outbox: message %lld left for the next run (shutting down)", (long long)m->id);
}

/* ---- delivery ---- */

/* text with every occurrence of what replaced by with (a new string). */
static char *replace_all(const char *text, const char *what, const char *with)
{
	struct buf b;
	const char *p;
	size_t n = strlen(what);

	buf_init(&b);
	while (n && (p = strstr(text, what))) {
		buf_append(&b, text, (size_t)(p - text));
		buf_append_str(&b, with);
		text = p + n;
	}
	buf_append_str(&b, text);
	return buf_take(&b);
}

/*
 * SMTP_HOST unset: the text part goes to the log.  In development, link
 * and recipient included; in staging and production (where this is a
 * misconfiguration, not a workflow) the token and the address are masked.
 */
static void deliver_to_log(const struct sender *s, const struct outbox_msg *m)
{
	bool strict = config_is_strict(s->cfg);
	char to[MAIL_ADDR_MAX + 8];
	char *text;
	size_t len, off = 0;
	int parts, part = 1;

	if (strict) {
		mask_addr(m->recipient, to, sizeof(to));
		text = replace_all(m->body_text, m->recipient, to);
	} else {
		snprintf(to, sizeof(to), "%s", m->recipient);
		text = xstrdup(m->body_text);
	}
	if (strict) {
		/* A token in a log is a credential in a log: keep the link's shape only. */
		for (char *p = strstr(text, "token="); p; p = strstr(p, "token=")) {
			char *v = p + 6;
			size_t n = strspn(v, "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz"
			                     "0123456789-_.~%");

			memset(v, '*', n);
			p = v + n;
		}
	}
	len = strlen(text);
	parts = (int)((len + LOG_CHUNK - 1) / LOG_CHUNK);
	if (parts == 0)
		parts = 1;
	log_info("outbox: email %lld not sent (SMTP_HOST unset%s): To: %s Subject: %s",
	         (long long)m->id, strict ? "" : ", development mode", to, m->subject);
	do {
		size_t n = len - off < LOG_CHUNK ? len - off : LOG_CHUNK;

		while (off + n < len && n > 1 && ((unsigned char)text[off + n] & 0xc0) == 0x80)
			n--;
		log_info("outbox: email %lld text [%d/%d]:\n%.*s", (long long)m->id, part++, parts,
		         (int)n, text + off);
		off += n;
	} while (off < len);
	free(text);
}

static enum smtp_rc deliver_smtp(struct sender *s, const struct outbox_msg *m, char *err,
                                 size_t errlen)
{
	const struct config *cfg = s->cfg;
	char id[64];
	const char *why = NULL;
	size_t len = 0;
	char *msg;
	enum smtp_rc rc;
	struct mail_msg mm = {
	        .from = cfg->smtp_from,
	        .from_name = cfg->app_name,
	        .to = m->recipient,
	        .subject = m->subject,
	        .text = m->body_text,
	        .html = m->body_html,
	        .date = (int64_t)time(NULL),
	        .id = id,
	};

	/* Stable across attempts: the same message keeps the same Message-ID. */
	snprintf(id, sizeof(id), "%lld.%lld.outbox", (long long)m->created_at, (long long)m->id);
	msg = mail_build(&mm, &len, &why);
	if (!msg) {
		snprintf(err, errlen, "cannot build the message: %s", why);
		return SMTP_FAILED;
	}
	if (!s->client)
		s->client = smtp_client_create(cfg, &ob.stop);
	if (!s->client) {
		snprintf(err, errlen, "cannot set up the SMTP client");
		rc = SMTP_FAILED;
	} else {
		rc = smtp_send(s->client, s->from_addr, m->recipient, msg, len, err, errlen);
		if (rc != SMTP_SENT) { /* start the next attempt on a fresh connection */
			smtp_client_free(s->client);
			s->client = NULL;
		}
	}
	explicit_bzero(msg, len); /* it carries a one-time token */
	free(msg);
	return rc;
}

static void process(struct sender *s, const struct outbox_msg *m)
{
	char err[512] = "", to[MAIL_ADDR_MAX + 8];
	enum smtp_rc rc;

	mask_addr(m->recipient, to, sizeof(to));
	if (!s->cfg->smtp_host) {
		deliver_to_log(s, m);
		rc = SMTP_SENT;
	} else {
		rc = deliver_smtp(s, m, err, sizeof(err));
	}
	switch (rc) {
	case SMTP_SENT:
		record_sent(s, m, to);
		break;
	case SMTP_ABORTED:
		release_claim(s, m);
		break;
	case SMTP_FAILED:
		record_failure(s, m, to, err);
		break;
	}
}

/* Send everything due; returns how many messages were claimed. */
static int drain(struct sender *s)
{
	int handled = 0;

	while (!atomic_load(&ob.stop)) {
		struct outbox_msg m = {0};
		struct store_conn *c = store_acquire(s->app->store);
		int64_t now = (int64_t)time(NULL);
		enum store_rc rc;

		if (!c) {
			log_warning("outbox: database unavailable; retrying in %d s",
			            s->cfg->outbox_poll_seconds);
			break;
		}
		rc = store_outbox_claim(c, now, now + OUTBOX_LEASE_SECONDS, &m);
		if (rc == STORE_NOT_FOUND) {
			/* Nothing due: refresh the backlog gauge /metrics shows. */
			int64_t pending = -1;
			if (store_outbox_pending(c, &pending) != STORE_OK)
				pending = -1;
			atomic_store(&ob.pending, pending);
		}
		store_release(s->app->store, c);
		if (rc == STORE_NOT_FOUND)
			break;
		if (rc != STORE_OK) {
			log_error("outbox: cannot claim a message; retrying in %d s",
			          s->cfg->outbox_poll_seconds);
			break;
		}
		handled++;
		if (unmarked_has(s, m.id)) { /* accepted earlier: record it, never resend */
			if (mark_sent(s, m.id))
				unmarked_drop(s, m.id);
		} else {
			process(s, &m);
		}
		outbox_msg_free(&m);
	}
	/* Idle: close the SMTP connection rather than let the server time it out. */
	smtp_client_free(s->client);
	s->client = NULL;
	return handled;
}

static void deadline_in(struct timespec *ts, long ms)
{
	clock_gettime(CLOCK_MONOTONIC, ts);
	ts->tv_sec += ms / 1000;
	ts->tv_nsec += (ms % 1000) * 1000000L;
	if (ts->tv_nsec >= 1000000000L) {
		ts->tv_sec++;
		ts->tv_nsec -= 1000000000L;
	}
}

static void *sender_main(void *arg)
{
	struct sender *s = arg;
	int quick = 0;

	pthread_mutex_lock(&ob.lock);
	while (!atomic_load(&ob.stop)) {
		bool kicked = ob.kicked;
		struct timespec ts;
		int found;

		ob.kicked = false;
		pthread_mutex_unlock(&ob.lock);
		found = drain(s);
		if (kicked)
			quick = QUICK_RECHECKS;
		else if (quick > 0 && !found)
			quick--;
		deadline_in(&ts,
		            quick > 0 ? QUICK_RECHECK_MS : s->cfg->outbox_poll_seconds * 1000L);
		pthread_mutex_lock(&ob.lock);
		while (!ob.kicked && !atomic_load(&ob.stop))
			if (pthread_cond_timedwait(&ob.cond, &ob.lock, &ts) == ETIMEDOUT)
				break;
	}
	pthread_mutex_unlock(&ob.lock);
	smtp_client_free(s->client);
	free(s);
	return NULL;
}

/* ---- start and stop ---- */

static int check_mail_config(const struct config *cfg, char from_addr[MAIL_ADDR_MAX])
{
	char name[MAIL_NAME_MAX], err[PATH_MAX + 128];
	int overrides = 0;

	if (mail_templates_check(cfg->email_templates_dir, &overrides, err, sizeof(err)) != 0) {
		log_error("%s", err);
		return -1;
	}
	if (overrides)
		log_info("email: %d template file(s) from %s override the built-in templates",
		         overrides, cfg->email_templates_dir);
	if (mail_from_parse(cfg->smtp_from, from_addr, name) != 0) {
		log_error("SMTP_FROM: \"%s\" is not an address or \"Name <address>\" (example: "
		          "SMTP_FROM=noreply@example.com)",
		          cfg->smtp_from);
		return -1;
	}
	if (!strchr(from_addr, '@'))
		log_warning("SMTP_FROM: \"%s\" has no domain; most servers refuse such a sender "
		            "(set SMTP_FROM=noreply@your-domain)",
		            from_addr);
	return 0;
}

int outbox_start(const struct app *app)
{
	const struct config *cfg = app->cfg;
	struct sender *s;
	pthread_condattr_t ca;

	pthread_mutex_lock(&ob.lock);
	if (ob.started) {
		pthread_mutex_unlock(&ob.lock);
		return 0;
	}
	pthread_mutex_unlock(&ob.lock);

	s = xcalloc(1, sizeof(*s));
	s->app = app;
	s->cfg = cfg;
	if (check_mail_config(cfg, s->from_addr) != 0)
		goto fail;
	if (cfg->smtp_host) {
		if (smtp_global_init() != 0) {
			log_error("email: cannot initialise libcurl");
			goto fail;
		}
		ob.curl_ready = true;
		log_info("email: SMTP %s:%d security=%s%s; retry base %d s", cfg->smtp_host,
		         cfg->smtp_port, config_smtp_security_name(cfg->smtp_security),
		         cfg->smtp_user ? " with AUTH" : "", cfg->outbox_retry_base_seconds);
	} else if (config_is_strict(cfg)) {
		log_warning("email: SMTP_HOST is unset in %s: emails are NOT delivered, only "
		            "logged with their tokens redacted",
		            config_env_name(cfg->environment));
	} else {
		log_info("email: SMTP_HOST unset: emails are written to the log (development)");
	}

	pthread_condattr_init(&ca);
	pthread_condattr_setclock(&ca, CLOCK_MONOTONIC);
	pthread_cond_init(&ob.cond, &ca);
	pthread_condattr_destroy(&ca);
	atomic_store(&ob.stop, false);
	ob.kicked = true; /* mail left by an earlier run goes out at once */
	if (pthread_create(&ob.thread, NULL, sender_main, s) != 0) {
		log_error("email: cannot start the outbox sender thread");
		pthread_cond_destroy(&ob.cond);
		goto fail;
	}
	pthread_mutex_lock(&ob.lock);
	ob.started = true;
	pthread_mutex_unlock(&ob.lock);
	return 0;
fail:
	if (ob.curl_ready) {
		smtp_global_cleanup();
		ob.curl_ready = false;
	}
	free(s);
	return -1;
}

void outbox_stop(void)
{
	pthread_mutex_lock(&ob.lock);
	if (!ob.started) {
		pthread_mutex_unlock(&ob.lock);
		return;
	}
	ob.started = false;
	atomic_store(&ob.stop, true);
	pthread_cond_broadcast(&ob.cond);
	pthread_mutex_unlock(&ob.lock);
	pthread_join(ob.thread, NULL);
	pthread_cond_destroy(&ob.cond);
	if (ob.curl_ready) {
		smtp_global_cleanup();
		ob.curl_ready = false;
	}
	log_info("email: outbox sender stopped");
}
