/*
 * store/outbox.c - the e-mail outbox table (mail/outbox.c is its sender),
 * written once over the driver (store/driver.h).
 *
 * A claim is one UPDATE of the oldest due, unclaimed message that sets
 * claimed_until and returns the message, run in an atomic section (driver
 * savepoint()) so that a message that cannot be read stays unclaimed.  On
 * SQLite the section's BEGIN IMMEDIATE serialises senders; on PostgreSQL
 * the inner SELECT takes its row FOR UPDATE SKIP LOCKED, so concurrent
 * senders on several instances take different messages instead of waiting
 * for each other.
 */
#include <inttypes.h>
#include <stdlib.h>
#include <string.h>

#include "log.h"
#include "store/driver.h"

#define CLAIM(DUE, LOCK)                                                                           \
	"UPDATE email_outbox SET claimed_until = ?2 WHERE id = (SELECT id FROM email_outbox "      \
	"WHERE sent_at IS NULL AND failed_at IS NULL AND " DUE " ORDER BY id LIMIT 1" LOCK ") "    \
	"RETURNING id, recipient, subject, body_text, body_html, created_at, attempts"

static const struct store_sql add_sql = {
        ST_OUTBOX_ADD, "add outbox message",
        "INSERT INTO email_outbox (recipient, subject, body_text, body_html, created_at, "
        "attempts, next_attempt_at) VALUES (?1, ?2, ?3, ?4, ?5, 0, ?5)",
        "INSERT INTO email_outbox (recipient, subject, body_text, body_html, created_at, "
        "attempts, next_attempt_at) VALUES (?1, ?2, ?3, ?4, ?5::bigint, 0, ?5::bigint)"};
static const struct store_sql claim_sql = {
        ST_OUTBOX_CLAIM, "claim outbox message",
        CLAIM("next_attempt_at <= ?1 AND (claimed_until IS NULL OR claimed_until < ?1)", ""),
        CLAIM("next_attempt_at <= ?1::bigint "
              "AND (claimed_until IS NULL OR claimed_until < ?1::bigint)",
              " FOR UPDATE SKIP LOCKED")};
static const struct store_sql sent_sql = {
        ST_OUTBOX_SENT, "mark outbox message sent",
        "UPDATE email_outbox SET sent_at = ?2, claimed_until = NULL WHERE id = ?1"};
static const struct store_sql failed_sql = {
        ST_OUTBOX_FAILED, "record outbox failure",
        "UPDATE email_outbox SET attempts = attempts + 1, last_error = ?2, next_attempt_at = ?3, "
        "failed_at = ?4, claimed_until = NULL WHERE id = ?1"};
static const struct store_sql pending_sql = {
        ST_OUTBOX_PENDING, "count pending outbox messages",
        "SELECT count(*) FROM email_outbox WHERE sent_at IS NULL AND failed_at IS NULL"};

enum store_rc store_outbox_add(struct store_conn *c, const char *recipient, const char *subject,
                               const char *body_text, const char *body_html, int64_t now)
{
	struct query q;

	CHECK("store_outbox_add", c && recipient && subject && body_text);
	q_open(&q, c, &add_sql);
	q_text(&q, recipient);
	q_text(&q, subject);
	q_text(&q, body_text);
	q_text(&q, body_html);
	q_i64(&q, now);
	return q_exec(&q);
}

static void read_outbox(struct query *q, void *out)
{
	struct outbox_msg *m = out;

	m->id = q_col_i64(q, 0, "email_outbox.id");
	m->recipient = q_col_dup(q, 1, "email_outbox.recipient");
	m->subject = q_col_dup(q, 2, "email_outbox.subject");
	m->body_text = q_col_dup(q, 3, "email_outbox.body_text");
	m->body_html = q_col_dup(q, 4, "email_outbox.body_html");
	m->created_at = q_col_i64(q, 5, "email_outbox.created_at");
	m->attempts = (int)q_col_i64(q, 6, "email_outbox.attempts");
	if (q->rc == STORE_OK && (!m->recipient || !m->subject || !m->body_text)) {
		log_error("store: outbox message %" PRId64 " lacks a recipient, subject or body",
		          m->id);
		q->rc = STORE_ERROR;
	}
}

enum store_rc store_outbox_claim(struct store_conn *c, int64_t now, int64_t claim_until,
                                 struct outbox_msg *out)
{
	struct query q;
	enum store_rc rc;
	bool own;

	CHECK("store_outbox_claim", c && out);
	memset(out, 0, sizeof(*out));
	rc = c->drv->savepoint(c, &own); /* BEGIN IMMEDIATE on SQLite unless inside the caller's */
	if (rc != STORE_OK)
		return rc;
	q_open(&q, c, &claim_sql);
	q_i64(&q, now);
	q_i64(&q, claim_until);
	rc = c->drv->release(c, own, q_one(&q, read_outbox, out));
	if (rc != STORE_OK)
		outbox_msg_free(out);
	return rc;
}

enum store_rc store_outbox_sent(struct store_conn *c, int64_t id, int64_t now)
{
	struct query q;

	CHECK("store_outbox_sent", c);
	q_open(&q, c, &sent_sql);
	q_i64(&q, id);
	q_i64(&q, now);
	return q_change(&q);
}

enum store_rc store_outbox_failed(struct store_conn *c, int64_t id, const char *error,
                                  int64_t next_attempt, bool give_up, int64_t now)
{
	struct query q;

	CHECK("store_outbox_failed", c);
	q_open(&q, c, &failed_sql);
	q_i64(&q, id);
	q_opt_text(&q, error);
	q_i64(&q, next_attempt);
	q_opt_time(&q, give_up ? now : 0);
	return q_change(&q);
}

static void read_count(struct query *q, void *out)
{
	*(int64_t *)out = q_col_i64(q, 0, "count(*)");
}

enum store_rc store_outbox_pending(struct store_conn *c, int64_t *pending)
{
	struct query q;
	enum store_rc rc;

	CHECK("store_outbox_pending", c && pending);
	*pending = 0;
	q_open(&q, c, &pending_sql);
	rc = q_one(&q, read_count, pending);
	return rc == STORE_NOT_FOUND ? STORE_ERROR : rc; /* count(*) always has a row */
}

void outbox_msg_free(struct outbox_msg *m)
{
	if (!m)
		return;
	free(m->recipient);
	free(m->subject);
	free(m->body_text);
	free(m->body_html);
	memset(m, 0, sizeof(*m));
}
