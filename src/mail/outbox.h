/*
 * mail/outbox.h - the durable email outbox and its background sender.
 *
 * Requests never talk to SMTP.  A request writes its email into the
 * email_outbox table in the same transaction as the token the email
 * carries (store_outbox_add) and calls outbox_notify() after committing.
 * One sender thread per process claims due messages (store_outbox_claim,
 * with a lease so that several instances never take the same message),
 * sends them (SMTP, or the log when SMTP_HOST is unset), and records the
 * outcome: sent, or failed with an exponential backoff, or given up after
 * OUTBOX_MAX_AGE.  docs/email.md describes the guarantees.
 *
 * The module's state (thread, wake-up condition, counters) is the only
 * process-wide mutable state of the mail code; it is guarded by its own
 * mutex and the counters are atomics.
 */
#ifndef AUTH_MAIL_OUTBOX_H
#define AUTH_MAIL_OUTBOX_H

#include <stdbool.h>
#include <stdint.h>

struct app;

#define OUTBOX_LEASE_SECONDS     120   /* a claim outlives any single send (30 s) */
#define OUTBOX_RETRY_MAX_SECONDS 3600  /* backoff cap */
#define OUTBOX_MAX_AGE_SECONDS   86400 /* give up on a message this old */

/*
 * Check the templates directory, set up libcurl and start the sender
 * thread (serve, before the listener opens).  app must outlive
 * outbox_stop().  0, or -1 after logging why.
 */
int outbox_start(const struct app *app);

/*
 * Stop the sender (serve, during the drain, after the HTTP server has
 * stopped): a message whose bytes are already on their way is finished,
 * one that has not started is left for the next run.  Safe when not
 * started.
 */
void outbox_stop(void);

/* Wake the sender: a request has just committed (or is committing) mail. */
void outbox_notify(void);

/* Counters since start, for /metrics. */
struct outbox_stats {
	uint64_t sent;    /* accepted by SMTP (or written to the log) */
	uint64_t retried; /* failed attempts that will be retried */
	uint64_t failed;  /* messages given up */
	int64_t pending;  /* unsent messages (all instances) at the last idle check; -1 unknown */
};
void outbox_stats(struct outbox_stats *out);

/*
 * Backoff after a failed attempt of a message created at created_at that
 * had failed `attempts` times before: now + base * 2^attempts, capped at
 * OUTBOX_RETRY_MAX_SECONDS and at created_at + max_age.  *give_up when the
 * message is already max_age old (the returned time is then now).
 */
int64_t outbox_next_attempt(int64_t now, int64_t created_at, int attempts, int base,
                            int64_t max_age, bool *give_up);

#endif
