/*
 * store/postgres.c - the PostgreSQL backend of the store (libpq), for
 * production: several replicas on one database.
 *
 * Connections.  Each pooled connection is one PGconn opened with
 * PQconnectdbParams: defaults first (connect_timeout=5, TCP keepalives,
 * tcp_user_timeout, client_encoding=UTF8, application name), then the
 * DATABASE_URL expanded as "dbname", so anything the URL sets itself
 * (sslmode, a longer connect_timeout...) wins.  After connecting, the session
 * gets a statement_timeout and an idle_in_transaction_session_timeout.  Every
 * command is sent asynchronously and its answer awaited with poll() up to a
 * client-side deadline a little beyond the statement timeout, so a server that
 * stops answering (host gone, process frozen) costs a request at most that
 * long, never a hung worker.
 *
 * Broken connections.  A connection-level failure (the connection is no
 * longer CONNECTION_OK, SQLSTATE class 08, 57P01..57P03 shutdown / start-up,
 * any FATAL error, the client deadline) answers STORE_UNAVAILABLE and marks
 * the connection broken: usable() then reports false and the pool closes it
 * on release.  Before each operation outside a transaction, a zero-timeout
 * poll() on the socket notices a server that closed the connection while it
 * sat idle in the pool (PostgreSQL restarted); such a connection, or one
 * marked broken, is re-opened on the spot with PQreset, so the first request
 * after a restart succeeds.  Inside a transaction nothing is re-opened: the
 * transaction is lost, every operation answers STORE_UNAVAILABLE until the
 * caller rolls back.  Nothing is ever retried after a statement was sent.
 *
 * Statements.  The SQL is the constant table stmt_defs[] below; a connection
 * prepares a statement (PQsendPrepare, named "s<n>") the first time it needs
 * it and runs it with PQsendQueryPrepared after that.  Values travel as
 * out-of-line text parameters with explicit lengths, never inside the SQL;
 * optional ones as SQL NULL (`$n::text IS NULL` where SQLite says `?n IS
 * NULL`).  CHAR(64) token hashes are read back as ::text, so blank padding
 * never shows.  Transaction control and migration scripts use the simple
 * protocol (PQsendQuery), which accepts several statements.
 *
 * Atomicity.  The conditional updates are single statements whose WHERE
 * holds the condition (refresh spend, one-time consume): under READ
 * COMMITTED a second writer waits for the first and re-checks the row, so of
 * two racing callers exactly one succeeds.  The outbox claim locks its row
 * with SELECT ... FOR UPDATE SKIP LOCKED, so concurrent senders on several
 * instances take different messages.  The user list reads page and count in
 * one statement (one snapshot).  Consume and claim run in their own
 * transaction when the caller has none, in a savepoint otherwise, so a
 * result that cannot be read leaves nothing changed.
 *
 * Errors: SQLSTATE 23505 -> STORE_CONFLICT, 23503 -> STORE_NOT_FOUND,
 * connection failures, statement / lock timeouts (57014, 55P03),
 * serialisation failures and deadlocks (40001, 40P01) and insufficient
 * resources (class 53) -> STORE_UNAVAILABLE, anything else -> STORE_ERROR,
 * logged with the SQLSTATE and the primary message only (the DETAIL line of
 * a constraint violation would quote the values).  The URL is only ever
 * printed in its redacted form.
 *
 * Migrations: the runner's lock is a session-level
 * pg_advisory_lock(MIGRATION_LOCK_KEY), so replicas starting together
 * migrate one after the other; while it is held the statement timeout and
 * the client deadline are lifted (a migration, or the wait for another
 * replica's, may take long).  applied_versions() checks
 * to_regclass('schema_migrations') first, so it never fails (and never
 * aborts an open transaction) on a database that has no such table yet.
 */
#include <errno.h>
#include <inttypes.h>
#include <libpq-fe.h>
#include <poll.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "arena.h"
#include "log.h"
#include "store/backend.h"

#define STATEMENT_TIMEOUT_MS  10000
#define IDLE_IN_TX_TIMEOUT_MS 60000
/* Client-side bound on one command: the server's own timeout plus a margin. */
#define CLIENT_TIMEOUT_MS  (STATEMENT_TIMEOUT_MS + 5000)
#define MIN_SERVER_VERSION 130000

/* pg_advisory_lock key of the migration runner: "authmig1" as a big-endian int64. */
#define MIGRATION_LOCK_KEY "7022647185815201585"

#define MAX_PARAMS 10

/* ---- the statements ---- */

enum stmt_id {
	ST_PING,

	ST_MIG_TABLE_EXISTS,
	ST_MIG_LIST,
	ST_MIG_RECORD,
	ST_MIG_FORGET,

	ST_USER_INSERT,
	ST_USER_BY_ID,
	ST_USER_BY_EMAIL,
	ST_USER_UPDATE,
	ST_USER_DELETE,
	ST_USER_LIST,

	ST_SESSION_INSERT,
	ST_SESSION_BY_ID,
	ST_SESSION_LIST_ACTIVE,
	ST_SESSION_TOUCH,
	ST_SESSION_REVOKE,
	ST_SESSION_REVOKE_ALL,

	ST_REFRESH_INSERT,
	ST_REFRESH_BY_HASH,
	ST_REFRESH_SPEND,

	ST_ONETIME_INSERT,
	ST_ONETIME_CONSUME,

	ST_OUTBOX_ADD,
	ST_OUTBOX_CLAIM,
	ST_OUTBOX_SENT,
	ST_OUTBOX_FAILED,
	ST_OUTBOX_PENDING,

	ST_AUDIT,

	ST_COUNT
};

struct stmt_def {
	const char *sql;
	int nparams;
};

#define USER_COLS                                                                                  \
	"id, email, password_hash, full_name, is_active, is_verified, roles, created_at, "         \
	"updated_at, password_changed_at"
#define SESSION_COLS "id, user_id, user_agent, ip, created_at, last_used_at, expires_at, revoked_at"
#define REFRESH_COLS                                                                               \
	"token_hash, session_id, user_id, parent_hash, issued_at, expires_at, spent_at, "          \
	"replaced_by"
/* CHAR(64) columns read as text: no blank padding. */
#define REFRESH_READ_COLS                                                                          \
	"token_hash::text, session_id, user_id, parent_hash::text, issued_at, expires_at, "        \
	"spent_at, replaced_by::text"
#define EMAIL_MATCHES "($1::text IS NULL OR lower(email) LIKE $1 ESCAPE E'\\\\')"

static const struct stmt_def stmt_defs[ST_COUNT] = {
        [ST_PING] = {"SELECT 1", 0},

        [ST_MIG_TABLE_EXISTS] = {"SELECT to_regclass('schema_migrations') IS NOT NULL", 0},
        [ST_MIG_LIST] = {"SELECT version, name, applied_at FROM schema_migrations "
                         "ORDER BY version",
                         0},
        [ST_MIG_RECORD] = {"INSERT INTO schema_migrations (version, name, applied_at) "
                           "VALUES ($1, $2, $3)",
                           3},
        [ST_MIG_FORGET] = {"DELETE FROM schema_migrations WHERE version = $1", 1},

        [ST_USER_INSERT] = {"INSERT INTO users (" USER_COLS ") "
                            "VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10)",
                            10},
        [ST_USER_BY_ID] = {"SELECT " USER_COLS " FROM users WHERE id = $1", 1},
        [ST_USER_BY_EMAIL] = {"SELECT " USER_COLS " FROM users WHERE email = $1", 1},
        [ST_USER_UPDATE] = {"UPDATE users SET email = $2, password_hash = $3, full_name = $4, "
                            "is_active = $5, is_verified = $6, roles = $7, updated_at = $8, "
                            "password_changed_at = $9 WHERE id = $1",
                            9},
        [ST_USER_DELETE] = {"DELETE FROM users WHERE id = $1", 1},
        /* Count and page in one statement, hence one snapshot; an empty page is
         * one row whose user columns are NULL. */
        [ST_USER_LIST] = {"SELECT c.total, p.id, p.email, p.password_hash, p.full_name, "
                          "p.is_active, p.is_verified, p.roles, p.created_at, p.updated_at, "
                          "p.password_changed_at "
                          "FROM (SELECT count(*) AS total FROM users WHERE " EMAIL_MATCHES
                          ") c LEFT JOIN LATERAL (SELECT " USER_COLS
                          " FROM users WHERE " EMAIL_MATCHES
                          " ORDER BY created_at, id LIMIT $2::bigint OFFSET $3::bigint) p "
                          "ON true ORDER BY p.created_at, p.id",
                          3},

        [ST_SESSION_INSERT] = {"INSERT INTO sessions (" SESSION_COLS ") "
                               "VALUES ($1, $2, $3, $4, $5, $6, $7, $8)",
                               8},
        [ST_SESSION_BY_ID] = {"SELECT " SESSION_COLS " FROM sessions WHERE id = $1", 1},
        [ST_SESSION_LIST_ACTIVE] = {"SELECT " SESSION_COLS " FROM sessions WHERE user_id = $1 "
                                    "AND revoked_at IS NULL AND expires_at > $2 "
                                    "ORDER BY created_at DESC, id",
                                    2},
        [ST_SESSION_TOUCH] = {"UPDATE sessions SET last_used_at = $2 "
                              "WHERE id = $1 AND revoked_at IS NULL",
                              2},
        [ST_SESSION_REVOKE] = {"UPDATE sessions SET revoked_at = $3::bigint WHERE id = $1 "
                               "AND ($2::text IS NULL OR user_id = $2) AND revoked_at IS NULL "
                               "AND expires_at > $3::bigint",
                               3},
        [ST_SESSION_REVOKE_ALL] = {"UPDATE sessions SET revoked_at = $3 WHERE user_id = $1 "
                                   "AND ($2::text IS NULL OR id <> $2) AND revoked_at IS NULL",
                                   3},

        [ST_REFRESH_INSERT] = {"INSERT INTO refresh_tokens (" REFRESH_COLS ") "
                               "VALUES ($1, $2, $3, $4, $5, $6, $7, $8)",
                               8},
        [ST_REFRESH_BY_HASH] = {"SELECT " REFRESH_READ_COLS
                                " FROM refresh_tokens WHERE token_hash = $1",
                                1},
        /* Spend, and tell "spent already" from "no such token", in one statement. */
        [ST_REFRESH_SPEND] = {"WITH spent AS (UPDATE refresh_tokens SET spent_at = $3, "
                              "replaced_by = $2 WHERE token_hash = $1 AND spent_at IS NULL "
                              "RETURNING 1) "
                              "SELECT (SELECT count(*) FROM spent), "
                              "EXISTS (SELECT 1 FROM refresh_tokens WHERE token_hash = $1)",
                              3},

        [ST_ONETIME_INSERT] = {"INSERT INTO one_time_tokens (token_hash, user_id, purpose, "
                               "created_at, expires_at, used_at) VALUES ($1, $2, $3, $4, $5, $6)",
                               6},
        [ST_ONETIME_CONSUME] = {"UPDATE one_time_tokens SET used_at = $3::bigint "
                                "WHERE token_hash = $1 AND purpose = $2 AND used_at IS NULL "
                                "AND expires_at > $3::bigint RETURNING user_id",
                                3},

        [ST_OUTBOX_ADD] = {"INSERT INTO email_outbox (recipient, subject, body_text, body_html, "
                           "created_at, attempts, next_attempt_at) "
                           "VALUES ($1, $2, $3, $4, $5::bigint, 0, $5::bigint)",
                           5},
        [ST_OUTBOX_CLAIM] = {"UPDATE email_outbox SET claimed_until = $2 WHERE id = ("
                             "SELECT id FROM email_outbox WHERE sent_at IS NULL "
                             "AND failed_at IS NULL AND next_attempt_at <= $1::bigint "
                             "AND (claimed_until IS NULL OR claimed_until < $1::bigint) "
                             "ORDER BY id LIMIT 1 FOR UPDATE SKIP LOCKED) "
                             "RETURNING id, recipient, subject, body_text, body_html, "
                             "created_at, attempts",
                             2},
        [ST_OUTBOX_SENT] = {"UPDATE email_outbox SET sent_at = $2, claimed_until = NULL "
                            "WHERE id = $1",
                            2},
        [ST_OUTBOX_FAILED] = {"UPDATE email_outbox SET attempts = attempts + 1, "
                              "last_error = $2, next_attempt_at = $3, failed_at = $4, "
                              "claimed_until = NULL WHERE id = $1",
                              4},
        [ST_OUTBOX_PENDING] = {"SELECT count(*) FROM email_outbox "
                               "WHERE sent_at IS NULL AND failed_at IS NULL",
                               0},

        [ST_AUDIT] = {"INSERT INTO audit_events (event, user_id, ip, user_agent, detail, "
                      "created_at) VALUES ($1, $2, $3, $4, $5, $6)",
                      6},
};

struct pg_conn {
	PGconn *conn;
	const struct config *cfg;
	bool prepared[ST_COUNT];
	bool broken;   /* a connection-level failure: re-open before the next use */
	bool tx_open;  /* the caller's transaction (store_begin) is open */
	bool mig_lock; /* the migration lock is held: no timeouts */
};

static struct pg_conn *pq(struct store_conn *c)
{
	return c->impl;
}

/* ---- small helpers ---- */

static int64_t mono_ms(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

/* A libpq message on one line (they end in "\n" and may hold several lines). */
static void one_line(const char *msg, char *out, size_t len)
{
	size_t j = 0;
	bool space = false;

	if (!msg)
		msg = "";
	for (size_t i = 0; msg[i] && j + 1 < len; i++) {
		char ch = msg[i];
		if (ch == '\n' || ch == '\r' || ch == '\t' || ch == ' ') {
			space = j > 0;
			continue;
		}
		if (space && j + 2 < len)
			out[j++] = ' ';
		space = false;
		out[j++] = ch;
	}
	out[j] = '\0';
}

/* The URL as it may be printed (password replaced by ***). */
static const char *where(const struct config *cfg)
{
	return cfg->db.redacted ? cfg->db.redacted : "DATABASE_URL";
}

/* ---- waiting for answers ---- */

/* 1: the socket is readable (or in error), 0: deadline passed, -1: no socket. */
static int wait_readable(struct pg_conn *p, int64_t deadline)
{
	struct pollfd pfd = {.fd = PQsocket(p->conn), .events = POLLIN};

	if (pfd.fd < 0)
		return -1;
	for (;;) {
		int timeout = -1, rc;

		if (deadline >= 0) {
			int64_t left = deadline - mono_ms();
			if (left <= 0)
				return 0;
			timeout = left > 60000 ? 60000 : (int)left;
		}
		rc = poll(&pfd, 1, timeout);
		if (rc > 0)
			return 1;
		if (rc < 0 && errno != EINTR)
			return -1;
		if (rc == 0 && deadline < 0)
			continue;
	}
}

static bool is_error(const PGresult *r)
{
	ExecStatusType st = PQresultStatus(r);

	return st != PGRES_COMMAND_OK && st != PGRES_TUPLES_OK && st != PGRES_EMPTY_QUERY;
}

/*
 * Await the answer to the command in flight: its last result, or its first
 * error.  NULL when no result came back (the connection is then broken).
 */
static PGresult *collect(struct pg_conn *p, const char *what)
{
	int64_t deadline = p->mig_lock ? -1 : mono_ms() + CLIENT_TIMEOUT_MS;
	PGresult *keep = NULL, *r;

	for (;;) {
		while (PQisBusy(p->conn)) {
			int w = wait_readable(p, deadline);
			if (w == 0) {
				log_warning(
				        "store: postgresql: %s: no answer from %s within %d ms; "
				        "dropping the connection",
				        what, where(p->cfg), CLIENT_TIMEOUT_MS);
				p->broken = true;
				PQclear(keep);
				return NULL;
			}
			if (w < 0 || !PQconsumeInput(p->conn)) {
				/* Lost: PQgetResult reports it without blocking. */
				p->broken = true;
				break;
			}
		}
		r = PQgetResult(p->conn);
		if (!r)
			break;
		if (keep && is_error(keep)) {
			PQclear(r);
		} else {
			PQclear(keep);
			keep = r;
		}
		if (p->broken && PQstatus(p->conn) != CONNECTION_OK && !PQisBusy(p->conn)) {
			/* Nothing more will come on a dead connection. */
			while ((r = PQgetResult(p->conn)))
				PQclear(r);
			break;
		}
	}
	return keep;
}

/* ---- errors ---- */

static bool sqlstate_is(const char *state, const char *want)
{
	return state && strcmp(state, want) == 0;
}

/* Whether a failure means the connection itself is gone. */
static bool connection_failure(struct pg_conn *p, const PGresult *r)
{
	const char *state = r ? PQresultErrorField(r, PG_DIAG_SQLSTATE) : NULL;
	const char *sev = r ? PQresultErrorField(r, PG_DIAG_SEVERITY_NONLOCALIZED) : NULL;

	if (p->broken || PQstatus(p->conn) != CONNECTION_OK || !r)
		return true;
	if (state && strncmp(state, "08", 2) == 0)
		return true;
	if (sqlstate_is(state, "57P01") || sqlstate_is(state, "57P02") ||
	    sqlstate_is(state, "57P03"))
		return true;
	return sev && (strcmp(sev, "FATAL") == 0 || strcmp(sev, "PANIC") == 0);
}

/* Map a failed command (r may be NULL) to a store_rc, logging real errors. */
static enum store_rc fail(struct pg_conn *p, const PGresult *r, const char *what)
{
	const char *state = r ? PQresultErrorField(r, PG_DIAG_SQLSTATE) : NULL;
	const char *prim = r ? PQresultErrorField(r, PG_DIAG_MESSAGE_PRIMARY) : NULL;
	char msg[256];

	if (connection_failure(p, r)) {
		bool known = p->broken && !r; /* reported already (deadline, lost before) */
		p->broken = true;
		one_line(prim ? prim : PQerrorMessage(p->conn), msg, sizeof(msg));
		if (!known || msg[0])
			log_warning("store: postgresql: %s: connection to %s lost (%s): %s", what,
			            where(p->cfg), state ? state : "no SQLSTATE",
			            msg[0] ? msg : "no answer");
		return STORE_UNAVAILABLE;
	}
	one_line(prim ? prim : PQresultErrorMessage(r), msg, sizeof(msg));
	if (sqlstate_is(state, "23505")) {
		log_debug("store: postgresql: %s: %s", what, msg);
		return STORE_CONFLICT;
	}
	if (sqlstate_is(state, "23503")) {
		log_debug("store: postgresql: %s: %s", what, msg);
		return STORE_NOT_FOUND;
	}
	if (sqlstate_is(state, "57014") || sqlstate_is(state, "55P03") ||
	    sqlstate_is(state, "40001") || sqlstate_is(state, "40P01") ||
	    (state && strncmp(state, "53", 2) == 0)) {
		log_warning("store: postgresql: %s: %s (SQLSTATE %s)", what, msg, state);
		return STORE_UNAVAILABLE;
	}
	if (!state) {
		/* A client-side failure with the connection still up: do not trust it. */
		p->broken = true;
		log_error("store: postgresql: %s: %s", what, msg);
		return STORE_ERROR;
	}
	log_error("store: postgresql: %s: %s (SQLSTATE %s)", what, msg, state);
	return STORE_ERROR;
}

/* ---- connections ---- */

/* Server notices ("relation already exists, skipping") go to the log, not stderr. */
static void on_notice(void *arg, const char *message)
{
	char msg[256];

	(void)arg;
	one_line(message, msg, sizeof(msg));
	log_debug("store: postgresql: %s", msg);
}

static PGconn *open_conn(const struct config *cfg)
{
	/* Defaults first: the URL, expanded from "dbname", overrides any of them. */
	static const char *const keys[] = {"connect_timeout",  "keepalives",
	                                   "keepalives_idle",  "keepalives_interval",
	                                   "keepalives_count", "tcp_user_timeout",
	                                   "client_encoding",  "fallback_application_name",
	                                   "dbname",           NULL};
	const char *vals[] = {
	        "5", "1", "5", "2", "3", "10000", "UTF8", "auth-service", cfg->db.pg_conninfo,
	        NULL};

	return PQconnectdbParams(keys, vals, 1);
}

/* Run a simple-protocol command (may hold several statements). */
static enum store_rc exec_simple(struct pg_conn *p, const char *sql, const char *what)
{
	PGresult *r;
	enum store_rc rc;

	if (p->broken || PQstatus(p->conn) != CONNECTION_OK)
		return fail(p, NULL, what);
	if (!PQsendQuery(p->conn, sql))
		return fail(p, NULL, what);
	r = collect(p, what);
	if (r && !is_error(r)) {
		PQclear(r);
		return STORE_OK;
	}
	rc = fail(p, r, what);
	PQclear(r);
	return rc;
}

/* Session settings of a new (or re-opened) connection; -1 with a reason. */
static int setup_session(struct pg_conn *p, char *err, size_t errlen)
{
	char sql[160];
	int version = PQserverVersion(p->conn);

	if (version < MIN_SERVER_VERSION) {
		/* 90624 is 9.6.24, 120003 is 12.3 */
		snprintf(err, errlen, "PostgreSQL at %s is version %d.%d; 13 or newer is required",
		         where(p->cfg), version / 10000,
		         version >= 100000 ? version % 10000 : version / 100 % 100);
		return -1;
	}
	snprintf(sql, sizeof(sql),
	         "SET statement_timeout = %d; SET idle_in_transaction_session_timeout = %d",
	         STATEMENT_TIMEOUT_MS, IDLE_IN_TX_TIMEOUT_MS);
	if (exec_simple(p, sql, "session settings") != STORE_OK) {
		snprintf(err, errlen, "PostgreSQL at %s refused the session settings (see the log)",
		         where(p->cfg));
		return -1;
	}
	return 0;
}

static void pg_disconnect(void *impl)
{
	struct pg_conn *p = impl;

	if (!p)
		return;
	PQfinish(p->conn);
	free(p);
}

static void *pg_connect(const struct config *cfg, char *err, size_t errlen)
{
	struct pg_conn *p = NULL;
	char msg[256];

	if (!cfg->db.pg_conninfo || !cfg->db.pg_conninfo[0]) {
		snprintf(err, errlen,
		         "no PostgreSQL URL (DATABASE_URL=postgresql://user:password@host/db)");
		return NULL;
	}
	if (!PQisthreadsafe()) {
		snprintf(err, errlen, "the libpq library was built without thread support");
		return NULL;
	}
	p = xcalloc(1, sizeof(*p));
	p->cfg = cfg;
	p->conn = open_conn(cfg);
	if (!p->conn) {
		snprintf(err, errlen, "cannot connect to PostgreSQL at %s: out of memory",
		         where(cfg));
		goto fail;
	}
	if (PQstatus(p->conn) != CONNECTION_OK) {
		one_line(PQerrorMessage(p->conn), msg, sizeof(msg));
		snprintf(err, errlen, "cannot connect to PostgreSQL at %s: %s", where(cfg), msg);
		goto fail;
	}
	PQsetNoticeProcessor(p->conn, on_notice, NULL); /* kept across PQreset */
	if (setup_session(p, err, errlen) != 0)
		goto fail;
	return p;

fail:
	pg_disconnect(p);
	return NULL;
}

/*
 * Whether the server closed the connection while it sat idle (a cheap
 * check: one poll() when nothing arrived).  A server that goes away sends
 * its goodbye (an error message) and then closes: the first read may take
 * only the message, so keep reading while there is something to read.
 */
static bool peer_gone(struct pg_conn *p)
{
	struct pollfd pfd = {.fd = PQsocket(p->conn), .events = POLLIN};

	for (int round = 0; round < 8; round++) {
		int rc;

		if (pfd.fd < 0)
			return true;
		do
			rc = poll(&pfd, 1, 0);
		while (rc < 0 && errno == EINTR);
		if (rc < 0)
			return true;
		if (rc == 0)
			return false;
		if (pfd.revents & (POLLERR | POLLNVAL))
			return true;
		if (!PQconsumeInput(p->conn) || PQstatus(p->conn) != CONNECTION_OK)
			return true;
		pfd.fd = PQsocket(p->conn);
	}
	return false; /* a chatty server, not a closed one */
}

/* Re-open a broken connection in place (outside any transaction). */
static enum store_rc revive(struct pg_conn *p)
{
	char msg[256];

	if (p->mig_lock) {
		log_warning(
		        "store: postgresql: the connection holding the migration lock was lost");
		return STORE_UNAVAILABLE;
	}
	PQreset(p->conn);
	memset(p->prepared, 0, sizeof(p->prepared));
	if (PQstatus(p->conn) != CONNECTION_OK) {
		one_line(PQerrorMessage(p->conn), msg, sizeof(msg));
		log_warning("store: postgresql: cannot reconnect to %s: %s", where(p->cfg), msg);
		p->broken = true;
		return STORE_UNAVAILABLE;
	}
	p->broken = false;
	if (setup_session(p, msg, sizeof(msg)) != 0) {
		log_warning("store: postgresql: %s", msg);
		p->broken = true;
		return STORE_UNAVAILABLE;
	}
	log_info("store: postgresql: reconnected to %s", where(p->cfg));
	return STORE_OK;
}

/*
 * Before an operation: a live connection, re-opened if it broke while idle.
 * Inside a transaction nothing is re-opened (the transaction is gone).
 */
static enum store_rc ready(struct pg_conn *p)
{
	if (!p->broken && PQstatus(p->conn) == CONNECTION_OK) {
		if (p->tx_open || PQtransactionStatus(p->conn) != PQTRANS_IDLE)
			return STORE_OK;
		if (!peer_gone(p))
			return STORE_OK;
	}
	p->broken = true;
	if (p->tx_open) {
		log_warning("store: postgresql: the connection to %s was lost inside a transaction",
		            where(p->cfg));
		return STORE_UNAVAILABLE;
	}
	return revive(p);
}

static bool pg_usable(struct store_conn *c)
{
	struct pg_conn *p = pq(c);

	return !p->broken && PQstatus(p->conn) == CONNECTION_OK &&
	       PQtransactionStatus(p->conn) == PQTRANS_IDLE && !peer_gone(p);
}

/* ---- parameters ---- */

struct params {
	int n;
	bool overflow;
	const char *v[MAX_PARAMS];
	int len[MAX_PARAMS];
	char num[MAX_PARAMS][24];
};

static void p_text(struct params *q, const char *s)
{
	if (q->n >= MAX_PARAMS) {
		q->overflow = true;
		return;
	}
	q->v[q->n] = s;
	q->len[q->n] = s ? (int)strlen(s) : 0;
	q->n++;
}

/* Optional string: NULL or "" is stored as NULL. */
static void p_opt_text(struct params *q, const char *s)
{
	p_text(q, s && s[0] ? s : NULL);
}

static void p_i64(struct params *q, int64_t x)
{
	if (q->n >= MAX_PARAMS) {
		q->overflow = true;
		return;
	}
	snprintf(q->num[q->n], sizeof(q->num[q->n]), "%" PRId64, x);
	p_text(q, q->num[q->n]);
}

/* Optional time: 0 is stored as NULL. */
static void p_opt_time(struct params *q, int64_t x)
{
	if (x)
		p_i64(q, x);
	else
		p_text(q, NULL);
}

/* ---- running statements ---- */

static enum store_rc prepare(struct pg_conn *p, enum stmt_id id, const char *name)
{
	PGresult *r;
	enum store_rc rc;

	if (!PQsendPrepare(p->conn, name, stmt_defs[id].sql, stmt_defs[id].nparams, NULL))
		return fail(p, NULL, "prepare");
	r = collect(p, "prepare");
	if (r && !is_error(r)) {
		PQclear(r);
		p->prepared[id] = true;
		return STORE_OK;
	}
	rc = fail(p, r, "prepare");
	if (rc == STORE_ERROR)
		log_error("store: postgresql: the statement was \"%s\"", stmt_defs[id].sql);
	PQclear(r);
	return rc;
}

/*
 * Run a prepared statement.  *res: its result on STORE_OK (caller
 * PQclear()s), NULL otherwise.
 */
static enum store_rc run_stmt(struct pg_conn *p, enum stmt_id id, const struct params *q,
                              const char *what, PGresult **res)
{
	char name[16];
	PGresult *r = NULL;
	enum store_rc rc;
	int attempt = 0;

	*res = NULL;
	if (q->overflow || q->n != stmt_defs[id].nparams) {
		log_error("store: postgresql: %s: %d parameter(s) given, the statement takes %d",
		          what, q->n, stmt_defs[id].nparams);
		return STORE_ERROR;
	}
	rc = ready(p);
	if (rc != STORE_OK)
		return rc;
	snprintf(name, sizeof(name), "s%d", (int)id);
again:
	if (!p->prepared[id]) {
		rc = prepare(p, id, name);
		if (rc != STORE_OK)
			return rc;
	}
	if (!PQsendQueryPrepared(p->conn, name, q->n, q->v, q->len, NULL, 0))
		return fail(p, NULL, what);
	r = collect(p, what);
	if (r && !is_error(r)) {
		*res = r;
		return STORE_OK;
	}
	/* The server forgot the statement (DISCARD ALL by a proxy): prepare again once. */
	if (r && sqlstate_is(PQresultErrorField(r, PG_DIAG_SQLSTATE), "26000") && attempt++ == 0 &&
	    PQtransactionStatus(p->conn) == PQTRANS_IDLE) {
		PQclear(r);
		p->prepared[id] = false;
		goto again;
	}
	rc = fail(p, r, what);
	PQclear(r);
	return rc;
}

/* A statement that returns no rows. */
static enum store_rc run(struct pg_conn *p, enum stmt_id id, const struct params *q,
                         const char *what)
{
	PGresult *r;
	enum store_rc rc = run_stmt(p, id, q, what, &r);

	PQclear(r);
	return rc;
}

/* An UPDATE/DELETE: NOT_FOUND when it changed no row. */
static enum store_rc run_change(struct pg_conn *p, enum stmt_id id, const struct params *q,
                                const char *what)
{
	PGresult *r;
	enum store_rc rc = run_stmt(p, id, q, what, &r);

	if (rc == STORE_OK && strcmp(PQcmdTuples(r), "0") == 0)
		rc = STORE_NOT_FOUND;
	PQclear(r);
	return rc;
}

/* ---- reading rows into fixed buffers, failing (never truncating) on overflow ---- */

struct reader {
	const PGresult *r;
	int row;
	int base; /* column offset */
	bool bad;
};

static bool r_null(struct reader *rd, int col)
{
	return PQgetisnull(rd->r, rd->row, rd->base + col);
}

static void r_text(struct reader *rd, int col, char *dst, size_t cap, const char *what)
{
	int len;

	dst[0] = '\0';
	if (rd->bad || r_null(rd, col))
		return;
	len = PQgetlength(rd->r, rd->row, rd->base + col);
	if (len < 0 || (size_t)len >= cap) {
		log_error("store: postgresql: %s holds %d bytes, more than the %zu this record has "
		          "room for",
		          what, len, cap - 1);
		rd->bad = true;
		return;
	}
	memcpy(dst, PQgetvalue(rd->r, rd->row, rd->base + col), (size_t)len);
	dst[len] = '\0';
}

/* A malloc'ed copy of a text column; NULL for SQL NULL. */
static char *r_dup(struct reader *rd, int col)
{
	int len;
	char *v;

	if (rd->bad || r_null(rd, col))
		return NULL;
	len = PQgetlength(rd->r, rd->row, rd->base + col);
	if (len < 0) {
		rd->bad = true;
		return NULL;
	}
	v = xmalloc((size_t)len + 1);
	memcpy(v, PQgetvalue(rd->r, rd->row, rd->base + col), (size_t)len);
	v[len] = '\0';
	return v;
}

/* An integer column; NULL reads as 0. */
static int64_t r_i64(struct reader *rd, int col, const char *what)
{
	const char *s;
	char *end;
	long long v;

	if (rd->bad || r_null(rd, col))
		return 0;
	s = PQgetvalue(rd->r, rd->row, rd->base + col);
	errno = 0;
	v = strtoll(s, &end, 10);
	if (errno != 0 || end == s || *end != '\0') {
		log_error("store: postgresql: %s is not an integer", what);
		rd->bad = true;
		return 0;
	}
	return (int64_t)v;
}

/* A boolean column ("t"/"f"). */
static bool r_bool(struct reader *rd, int col)
{
	return !rd->bad && !r_null(rd, col) && PQgetvalue(rd->r, rd->row, rd->base + col)[0] == 't';
}

/* At most one row expected: read it with fn, NOT_FOUND when none. */
static enum store_rc one_row(const PGresult *r, int base, void (*fn)(struct reader *, void *),
                             void *out)
{
	struct reader rd = {r, 0, base, false};

	if (PQntuples(r) < 1)
		return STORE_NOT_FOUND;
	fn(&rd, out);
	return rd.bad ? STORE_ERROR : STORE_OK;
}

/* ---- local atomicity for multi-statement operations ---- */

enum local_tx { LTX_OWN, LTX_SAVEPOINT };

static enum store_rc local_begin(struct pg_conn *p, enum local_tx *how)
{
	enum store_rc rc = ready(p);

	if (rc != STORE_OK)
		return rc;
	if (!p->tx_open && PQtransactionStatus(p->conn) == PQTRANS_IDLE) {
		*how = LTX_OWN;
		return exec_simple(p, "BEGIN", "begin");
	}
	*how = LTX_SAVEPOINT;
	return exec_simple(p, "SAVEPOINT store_local", "savepoint");
}

/* Commit (ok) or undo (!ok) what happened since local_begin; rc or the end's error. */
static enum store_rc local_end(struct pg_conn *p, enum local_tx how, enum store_rc rc)
{
	bool ok = rc == STORE_OK || rc == STORE_NOT_FOUND;
	enum store_rc end;

	if (p->broken || PQstatus(p->conn) != CONNECTION_OK)
		return rc == STORE_OK || rc == STORE_NOT_FOUND ? STORE_UNAVAILABLE : rc;
	if (how == LTX_OWN) {
		if (ok && PQtransactionStatus(p->conn) == PQTRANS_INTRANS) {
			end = exec_simple(p, "COMMIT", "commit");
			if (end == STORE_OK)
				return rc;
		} else {
			end = ok ? STORE_ERROR : rc;
		}
		if (!p->broken && PQtransactionStatus(p->conn) != PQTRANS_IDLE)
			exec_simple(p, "ROLLBACK", "rollback");
		return end;
	}
	if (!ok || PQtransactionStatus(p->conn) == PQTRANS_INERROR) {
		end = exec_simple(p, "ROLLBACK TO SAVEPOINT store_local", "rollback to savepoint");
		if (end != STORE_OK)
			return rc == STORE_OK ? end : rc;
		if (ok)
			rc = STORE_ERROR;
	}
	end = exec_simple(p, "RELEASE SAVEPOINT store_local", "release savepoint");
	return end == STORE_OK ? rc : end;
}

/* ---- transactions ---- */

static enum store_rc pg_begin(struct store_conn *c)
{
	struct pg_conn *p = pq(c);
	enum store_rc rc = ready(p);

	if (rc == STORE_OK)
		rc = exec_simple(p, "BEGIN", "begin");
	if (rc == STORE_OK)
		p->tx_open = true;
	return rc;
}

static void pg_rollback(struct store_conn *c)
{
	struct pg_conn *p = pq(c);

	p->tx_open = false;
	if (p->broken || PQstatus(p->conn) != CONNECTION_OK)
		return;
	if (PQtransactionStatus(p->conn) == PQTRANS_INTRANS ||
	    PQtransactionStatus(p->conn) == PQTRANS_INERROR)
		exec_simple(p, "ROLLBACK", "rollback");
}

static enum store_rc pg_commit(struct store_conn *c)
{
	struct pg_conn *p = pq(c);
	PGTransactionStatusType ts;
	PGresult *r;
	enum store_rc rc;

	if (p->broken || PQstatus(p->conn) != CONNECTION_OK) {
		p->tx_open = false;
		log_warning("store: postgresql: commit: the connection to %s was lost; the "
		            "transaction is gone",
		            where(p->cfg));
		return STORE_UNAVAILABLE;
	}
	ts = PQtransactionStatus(p->conn);
	if (ts == PQTRANS_INERROR) {
		/* COMMIT would answer ROLLBACK: a statement of it failed before. */
		log_error("store: postgresql: commit of a transaction in which a statement failed; "
		          "rolled back");
		pg_rollback(c);
		return STORE_ERROR;
	}
	if (!PQsendQuery(p->conn, "COMMIT")) {
		rc = fail(p, NULL, "commit");
		goto out;
	}
	r = collect(p, "commit");
	if (r && !is_error(r) && strcmp(PQcmdStatus(r), "COMMIT") == 0) {
		PQclear(r);
		rc = STORE_OK;
	} else if (r && !is_error(r)) {
		log_error("store: postgresql: commit answered \"%s\"", PQcmdStatus(r));
		PQclear(r);
		rc = STORE_ERROR;
	} else {
		rc = fail(p, r, "commit");
		PQclear(r);
	}
out:
	pg_rollback(c); /* only does something when the commit failed half way */
	return rc;
}

static bool pg_in_transaction(struct store_conn *c)
{
	struct pg_conn *p = pq(c);
	PGTransactionStatusType ts;

	if (p->tx_open)
		return true;
	if (p->broken || PQstatus(p->conn) != CONNECTION_OK)
		return false;
	ts = PQtransactionStatus(p->conn);
	return ts == PQTRANS_INTRANS || ts == PQTRANS_INERROR;
}

static enum store_rc pg_ping(struct store_conn *c)
{
	struct params q = {0};

	return run(pq(c), ST_PING, &q, "ping");
}

/* ---- migration primitives ---- */

static enum store_rc pg_exec_script(struct store_conn *c, const char *sql)
{
	struct pg_conn *p = pq(c);
	enum store_rc rc = ready(p);

	if (rc != STORE_OK)
		return rc;
	rc = exec_simple(p, sql, "migration script");
	return rc == STORE_CONFLICT || rc == STORE_NOT_FOUND ? STORE_ERROR : rc;
}

static enum store_rc pg_applied_versions(struct store_conn *c, struct store_migration_row **rows,
                                         size_t *n)
{
	struct pg_conn *p = pq(c);
	struct params q = {0};
	struct store_migration_row *v = NULL;
	PGresult *r = NULL;
	enum store_rc rc;
	int nt;

	*rows = NULL;
	*n = 0;
	rc = run_stmt(p, ST_MIG_TABLE_EXISTS, &q, "schema_migrations lookup", &r);
	if (rc != STORE_OK)
		return rc;
	if (PQntuples(r) != 1 || PQgetisnull(r, 0, 0) || PQgetvalue(r, 0, 0)[0] != 't') {
		PQclear(r);
		return STORE_OK; /* no table: nothing applied */
	}
	PQclear(r);

	rc = run_stmt(p, ST_MIG_LIST, &q, "list schema_migrations", &r);
	if (rc != STORE_OK)
		return rc;
	nt = PQntuples(r);
	if (nt > 0)
		v = xcalloc((size_t)nt, sizeof(*v));
	for (int i = 0; i < nt; i++) {
		struct reader rd = {r, i, 0, false};
		v[i].version = (int)r_i64(&rd, 0, "schema_migrations.version");
		r_text(&rd, 1, v[i].name, sizeof(v[i].name), "schema_migrations.name");
		v[i].applied_at = r_i64(&rd, 2, "schema_migrations.applied_at");
		if (rd.bad) {
			rc = STORE_ERROR;
			goto out;
		}
	}
	*rows = v;
	*n = (size_t)nt;
	v = NULL;
out:
	PQclear(r);
	free(v);
	return rc;
}

static enum store_rc pg_record_migration(struct store_conn *c, int version, const char *name,
                                         int64_t applied_at)
{
	struct params q = {0};

	p_i64(&q, version);
	p_text(&q, name);
	p_i64(&q, applied_at);
	return run(pq(c), ST_MIG_RECORD, &q, "record migration");
}

static enum store_rc pg_forget_migration(struct store_conn *c, int version)
{
	struct params q = {0};

	p_i64(&q, version);
	return run_change(pq(c), ST_MIG_FORGET, &q, "forget migration");
}

static enum store_rc pg_lock_migrations(struct store_conn *c)
{
	struct pg_conn *p = pq(c);
	enum store_rc rc = ready(p);
	char sql[64];

	if (rc != STORE_OK)
		return rc;
	/* Waiting for another replica's migration, and migrating, may take long. */
	rc = exec_simple(p, "SET statement_timeout = 0", "lift the statement timeout");
	if (rc != STORE_OK)
		return rc;
	p->mig_lock = true;
	rc = exec_simple(p, "SELECT pg_advisory_lock(" MIGRATION_LOCK_KEY ")",
	                 "take the migration lock");
	if (rc != STORE_OK) {
		p->mig_lock = false;
		if (!p->broken) {
			snprintf(sql, sizeof(sql), "SET statement_timeout = %d",
			         STATEMENT_TIMEOUT_MS);
			exec_simple(p, sql, "restore the statement timeout");
		}
	}
	return rc;
}

static void pg_unlock_migrations(struct store_conn *c)
{
	struct pg_conn *p = pq(c);
	char sql[128];

	if (!p->mig_lock)
		return;
	p->mig_lock = false;
	if (p->broken || PQstatus(p->conn) != CONNECTION_OK)
		return; /* the lock went with the session */
	if (exec_simple(p, "SELECT pg_advisory_unlock(" MIGRATION_LOCK_KEY ")",
	                "release the migration lock") != STORE_OK) {
		p->broken = true; /* never hand out a connection that may still hold it */
		return;
	}
	snprintf(sql, sizeof(sql), "SET statement_timeout = %d", STATEMENT_TIMEOUT_MS);
	exec_simple(p, sql, "restore the statement timeout");
}

/* ---- users ---- */

static void read_user(struct reader *rd, struct user *u)
{
	r_text(rd, 0, u->id, sizeof(u->id), "users.id");
	r_text(rd, 1, u->email, sizeof(u->email), "users.email");
	r_text(rd, 2, u->password_hash, sizeof(u->password_hash), "users.password_hash");
	u->has_full_name = !r_null(rd, 3);
	r_text(rd, 3, u->full_name, sizeof(u->full_name), "users.full_name");
	u->is_active = r_i64(rd, 4, "users.is_active") != 0;
	u->is_verified = r_i64(rd, 5, "users.is_verified") != 0;
	r_text(rd, 6, u->roles, sizeof(u->roles), "users.roles");
	u->created_at = r_i64(rd, 7, "users.created_at");
	u->updated_at = r_i64(rd, 8, "users.updated_at");
	u->password_changed_at = r_i64(rd, 9, "users.password_changed_at");
}

static void read_user_cb(struct reader *rd, void *out)
{
	read_user(rd, out);
}

/* $1..$10 in USER_COLS order (the update: $1..$9 without created_at). */
static void params_user(struct params *q, const struct user *u, bool with_created)
{
	p_text(q, u->id);
	p_text(q, u->email);
	p_text(q, u->password_hash);
	p_text(q, u->has_full_name ? u->full_name : NULL);
	p_i64(q, u->is_active ? 1 : 0);
	p_i64(q, u->is_verified ? 1 : 0);
	p_text(q, u->roles);
	if (with_created)
		p_i64(q, u->created_at);
	p_i64(q, u->updated_at);
	p_opt_time(q, u->password_changed_at);
}

static enum store_rc pg_user_insert(struct store_conn *c, const struct user *u)
{
	struct params q = {0};

	params_user(&q, u, true);
	return run(pq(c), ST_USER_INSERT, &q, "insert user");
}

static enum store_rc user_by(struct pg_conn *p, enum stmt_id id, const char *key, struct user *out)
{
	struct params q = {0};
	PGresult *r;
	enum store_rc rc;

	p_text(&q, key);
	rc = run_stmt(p, id, &q, "read user", &r);
	if (rc != STORE_OK)
		return rc;
	rc = one_row(r, 0, read_user_cb, out);
	PQclear(r);
	return rc;
}

static enum store_rc pg_user_by_id(struct store_conn *c, const char *id, struct user *out)
{
	return user_by(pq(c), ST_USER_BY_ID, id, out);
}

static enum store_rc pg_user_by_email(struct store_conn *c, const char *email, struct user *out)
{
	return user_by(pq(c), ST_USER_BY_EMAIL, email, out);
}

static enum store_rc pg_user_update(struct store_conn *c, const struct user *u)
{
	struct params q = {0};

	params_user(&q, u, false);
	return run_change(pq(c), ST_USER_UPDATE, &q, "update user");
}

static enum store_rc pg_user_delete(struct store_conn *c, const char *id)
{
	struct params q = {0};

	p_text(&q, id);
	return run_change(pq(c), ST_USER_DELETE, &q, "delete user");
}

static enum store_rc pg_user_list(struct store_conn *c, int limit, int offset, const char *pattern,
                                  struct user **out, size_t *n, int64_t *total)
{
	struct params q = {0};
	struct user *v = NULL;
	size_t len = 0;
	PGresult *r = NULL;
	enum store_rc rc;
	int nt;

	p_text(&q, pattern);
	p_i64(&q, limit);
	p_i64(&q, offset);
	rc = run_stmt(pq(c), ST_USER_LIST, &q, "list users", &r);
	if (rc != STORE_OK)
		goto out;
	nt = PQntuples(r);
	if (nt < 1) {
		log_error("store: postgresql: list users: no count row");
		rc = STORE_ERROR;
		goto out;
	}
	{
		struct reader rd = {r, 0, 0, false};
		*total = r_i64(&rd, 0, "count(*)");
		if (rd.bad) {
			rc = STORE_ERROR;
			goto out;
		}
	}
	v = xcalloc((size_t)nt, sizeof(*v));
	for (int i = 0; i < nt; i++) {
		struct reader rd = {r, i, 1, false};
		if (r_null(&rd, 0))
			continue; /* the empty page's single row */
		read_user(&rd, &v[len]);
		if (rd.bad) {
			rc = STORE_ERROR;
			goto out;
		}
		len++;
	}
	if (len > 0) {
		*out = v;
		v = NULL;
	}
	*n = len;
out:
	PQclear(r);
	free(v);
	if (rc != STORE_OK) {
		*out = NULL;
		*n = 0;
		*total = 0;
	}
	return rc;
}

/* ---- sessions ---- */

static void read_session(struct reader *rd, void *out)
{
	struct session *x = out;

	r_text(rd, 0, x->id, sizeof(x->id), "sessions.id");
	r_text(rd, 1, x->user_id, sizeof(x->user_id), "sessions.user_id");
	r_text(rd, 2, x->user_agent, sizeof(x->user_agent), "sessions.user_agent");
	r_text(rd, 3, x->ip, sizeof(x->ip), "sessions.ip");
	x->created_at = r_i64(rd, 4, "sessions.created_at");
	x->last_used_at = r_i64(rd, 5, "sessions.last_used_at");
	x->expires_at = r_i64(rd, 6, "sessions.expires_at");
	x->revoked_at = r_i64(rd, 7, "sessions.revoked_at");
}

static enum store_rc pg_session_insert(struct store_conn *c, const struct session *x)
{
	struct params q = {0};

	p_text(&q, x->id);
	p_text(&q, x->user_id);
	p_text(&q, x->user_agent);
	p_text(&q, x->ip);
	p_i64(&q, x->created_at);
	p_i64(&q, x->last_used_at);
	p_i64(&q, x->expires_at);
	p_opt_time(&q, x->revoked_at);
	return run(pq(c), ST_SESSION_INSERT, &q, "insert session");
}

static enum store_rc pg_session_by_id(struct store_conn *c, const char *id, struct session *out)
{
	struct params q = {0};
	PGresult *r;
	enum store_rc rc;

	p_text(&q, id);
	rc = run_stmt(pq(c), ST_SESSION_BY_ID, &q, "read session", &r);
	if (rc != STORE_OK)
		return rc;
	rc = one_row(r, 0, read_session, out);
	PQclear(r);
	return rc;
}

static enum store_rc pg_session_list_active(struct store_conn *c, const char *user_id, int64_t now,
                                            struct session **out, size_t *n)
{
	struct params q = {0};
	struct session *v = NULL;
	PGresult *r = NULL;
	enum store_rc rc;
	int nt;

	p_text(&q, user_id);
	p_i64(&q, now);
	rc = run_stmt(pq(c), ST_SESSION_LIST_ACTIVE, &q, "list sessions", &r);
	if (rc != STORE_OK)
		return rc;
	nt = PQntuples(r);
	if (nt > 0)
		v = xcalloc((size_t)nt, sizeof(*v));
	for (int i = 0; i < nt; i++) {
		struct reader rd = {r, i, 0, false};
		read_session(&rd, &v[i]);
		if (rd.bad) {
			rc = STORE_ERROR;
			goto out;
		}
	}
	*out = v;
	*n = (size_t)nt;
	v = NULL;
out:
	PQclear(r);
	free(v);
	return rc;
}

static enum store_rc pg_session_touch(struct store_conn *c, const char *id, int64_t now)
{
	struct params q = {0};

	p_text(&q, id);
	p_i64(&q, now);
	return run_change(pq(c), ST_SESSION_TOUCH, &q, "touch session");
}

static enum store_rc pg_session_revoke(struct store_conn *c, const char *id, const char *user_id,
                                       int64_t now)
{
	struct params q = {0};

	p_text(&q, id);
	p_text(&q, user_id);
	p_i64(&q, now);
	return run_change(pq(c), ST_SESSION_REVOKE, &q, "revoke session");
}

static enum store_rc pg_session_revoke_all(struct store_conn *c, const char *user_id,
                                           const char *except_id, int64_t now)
{
	struct params q = {0};

	p_text(&q, user_id);
	p_opt_text(&q, except_id);
	p_i64(&q, now);
	return run(pq(c), ST_SESSION_REVOKE_ALL, &q, "revoke sessions");
}

/* ---- refresh tokens ---- */

static void read_refresh(struct reader *rd, void *out)
{
	struct refresh_token *t = out;

	r_text(rd, 0, t->token_hash, sizeof(t->token_hash), "refresh_tokens.token_hash");
	r_text(rd, 1, t->session_id, sizeof(t->session_id), "refresh_tokens.session_id");
	r_text(rd, 2, t->user_id, sizeof(t->user_id), "refresh_tokens.user_id");
	r_text(rd, 3, t->parent_hash, sizeof(t->parent_hash), "refresh_tokens.parent_hash");
	t->issued_at = r_i64(rd, 4, "refresh_tokens.issued_at");
	t->expires_at = r_i64(rd, 5, "refresh_tokens.expires_at");
	t->spent_at = r_i64(rd, 6, "refresh_tokens.spent_at");
	r_text(rd, 7, t->replaced_by, sizeof(t->replaced_by), "refresh_tokens.replaced_by");
}

static enum store_rc pg_refresh_insert(struct store_conn *c, const struct refresh_token *t)
{
	struct params q = {0};

	p_text(&q, t->token_hash);
	p_text(&q, t->session_id);
	p_text(&q, t->user_id);
	p_opt_text(&q, t->parent_hash);
	p_i64(&q, t->issued_at);
	p_i64(&q, t->expires_at);
	p_opt_time(&q, t->spent_at);
	p_opt_text(&q, t->replaced_by);
	return run(pq(c), ST_REFRESH_INSERT, &q, "insert refresh token");
}

static enum store_rc pg_refresh_by_hash(struct store_conn *c, const char *hash,
                                        struct refresh_token *out)
{
	struct params q = {0};
	PGresult *r;
	enum store_rc rc;

	p_text(&q, hash);
	rc = run_stmt(pq(c), ST_REFRESH_BY_HASH, &q, "read refresh token", &r);
	if (rc != STORE_OK)
		return rc;
	rc = one_row(r, 0, read_refresh, out);
	PQclear(r);
	return rc;
}

static enum store_rc pg_refresh_spend(struct store_conn *c, const char *hash,
                                      const char *replaced_by, int64_t now)
{
	struct params q = {0};
	PGresult *r;
	enum store_rc rc;
	struct reader rd;
	int64_t changed;
	bool exists;

	p_text(&q, hash);
	p_opt_text(&q, replaced_by);
	p_i64(&q, now);
	rc = run_stmt(pq(c), ST_REFRESH_SPEND, &q, "spend refresh token", &r);
	if (rc != STORE_OK)
		return rc;
	rd = (struct reader){r, 0, 0, false};
	if (PQntuples(r) != 1) {
		log_error("store: postgresql: spend refresh token: no answer row");
		PQclear(r);
		return STORE_ERROR;
	}
	changed = r_i64(&rd, 0, "spent count");
	exists = r_bool(&rd, 1);
	PQclear(r);
	if (rd.bad)
		return STORE_ERROR;
	if (changed > 0)
		return STORE_OK;
	/* Nothing changed: spent already (CONFLICT) or no such token (NOT_FOUND). */
	return exists ? STORE_CONFLICT : STORE_NOT_FOUND;
}

/* ---- one-time tokens ---- */

static enum store_rc pg_onetime_insert(struct store_conn *c, const struct onetime_token *t)
{
	struct params q = {0};

	p_text(&q, t->token_hash);
	p_text(&q, t->user_id);
	p_text(&q, t->purpose);
	p_i64(&q, t->created_at);
	p_i64(&q, t->expires_at);
	p_opt_time(&q, t->used_at);
	return run(pq(c), ST_ONETIME_INSERT, &q, "insert one-time token");
}

struct consumed {
	char *user_id;
};

static void read_consumed(struct reader *rd, void *out)
{
	struct consumed *x = out;

	r_text(rd, 0, x->user_id, STORE_ID_LEN, "one_time_tokens.user_id");
}

static enum store_rc pg_onetime_consume(struct store_conn *c, const char *hash, const char *purpose,
                                        int64_t now, char user_id[STORE_ID_LEN])
{
	struct pg_conn *p = pq(c);
	struct consumed x = {user_id};
	struct params q = {0};
	PGresult *r = NULL;
	enum local_tx how;
	enum store_rc rc;

	/* In a transaction of its own: a user id that does not fit must not leave it used. */
	rc = local_begin(p, &how);
	if (rc != STORE_OK)
		return rc;
	p_text(&q, hash);
	p_text(&q, purpose);
	p_i64(&q, now);
	rc = run_stmt(p, ST_ONETIME_CONSUME, &q, "consume one-time token", &r);
	if (rc == STORE_OK)
		rc = one_row(r, 0, read_consumed, &x);
	PQclear(r);
	rc = local_end(p, how, rc);
	if (rc != STORE_OK)
		user_id[0] = '\0';
	return rc;
}

/* ---- email outbox ---- */

static enum store_rc pg_outbox_add(struct store_conn *c, const char *recipient, const char *subject,
                                   const char *body_text, const char *body_html, int64_t now)
{
	struct params q = {0};

	p_text(&q, recipient);
	p_text(&q, subject);
	p_text(&q, body_text);
	p_text(&q, body_html);
	p_i64(&q, now);
	return run(pq(c), ST_OUTBOX_ADD, &q, "add outbox message");
}

static void read_outbox(struct reader *rd, void *out)
{
	struct outbox_msg *m = out;

	m->id = r_i64(rd, 0, "email_outbox.id");
	m->recipient = r_dup(rd, 1);
	m->subject = r_dup(rd, 2);
	m->body_text = r_dup(rd, 3);
	m->body_html = r_dup(rd, 4);
	m->created_at = r_i64(rd, 5, "email_outbox.created_at");
	m->attempts = (int)r_i64(rd, 6, "email_outbox.attempts");
	if (!rd->bad && (!m->recipient || !m->subject || !m->body_text)) {
		log_error("store: postgresql: outbox message %" PRId64
		          " lacks a recipient, subject or body",
		          m->id);
		rd->bad = true;
	}
}

static enum store_rc pg_outbox_claim(struct store_conn *c, int64_t now, int64_t claim_until,
                                     struct outbox_msg *out)
{
	struct pg_conn *p = pq(c);
	struct params q = {0};
	PGresult *r = NULL;
	enum local_tx how;
	enum store_rc rc;

	rc = local_begin(p, &how);
	if (rc != STORE_OK)
		return rc;
	p_i64(&q, now);
	p_i64(&q, claim_until);
	rc = run_stmt(p, ST_OUTBOX_CLAIM, &q, "claim outbox message", &r);
	if (rc == STORE_OK)
		rc = one_row(r, 0, read_outbox, out);
	PQclear(r);
	rc = local_end(p, how, rc);
	if (rc != STORE_OK)
		outbox_msg_free(out);
	return rc;
}

static enum store_rc pg_outbox_sent(struct store_conn *c, int64_t id, int64_t now)
{
	struct params q = {0};

	p_i64(&q, id);
	p_i64(&q, now);
	return run_change(pq(c), ST_OUTBOX_SENT, &q, "mark outbox message sent");
}

static enum store_rc pg_outbox_failed(struct store_conn *c, int64_t id, const char *error,
                                      int64_t next_attempt, bool give_up, int64_t now)
{
	struct params q = {0};

	p_i64(&q, id);
	p_opt_text(&q, error);
	p_i64(&q, next_attempt);
	p_opt_time(&q, give_up ? now : 0);
	return run_change(pq(c), ST_OUTBOX_FAILED, &q, "record outbox failure");
}

static enum store_rc pg_outbox_pending(struct store_conn *c, int64_t *pending)
{
	struct params q = {0};
	PGresult *r;
	enum store_rc rc;
	struct reader rd;

	rc = run_stmt(pq(c), ST_OUTBOX_PENDING, &q, "count pending outbox messages", &r);
	if (rc != STORE_OK)
		return rc;
	rd = (struct reader){r, 0, 0, false};
	if (PQntuples(r) == 1)
		*pending = r_i64(&rd, 0, "count(*)");
	else
		rd.bad = true;
	PQclear(r);
	return rd.bad ? STORE_ERROR : STORE_OK;
}

/* ---- audit ---- */

static enum store_rc pg_audit(struct store_conn *c, const char *event, const char *user_id,
                              const char *ip, const char *user_agent, const char *detail,
                              int64_t now)
{
	struct params q = {0};

	p_text(&q, event);
	p_opt_text(&q, user_id);
	p_opt_text(&q, ip);
	p_opt_text(&q, user_agent);
	p_opt_text(&q, detail);
	p_i64(&q, now);
	return run(pq(c), ST_AUDIT, &q, "write audit event");
}

const struct store_backend store_backend_postgres = {
        .name = "postgresql",
        .kind = DB_POSTGRES,
        .min_pool_size = 1,
        .overflow = true,

        .connect = pg_connect,
        .disconnect = pg_disconnect,
        .usable = pg_usable,
        .ping = pg_ping,

        .begin = pg_begin,
        .commit = pg_commit,
        .rollback = pg_rollback,
        .in_transaction = pg_in_transaction,

        .exec_script = pg_exec_script,
        .applied_versions = pg_applied_versions,
        .record_migration = pg_record_migration,
        .forget_migration = pg_forget_migration,
        .lock_migrations = pg_lock_migrations,
        .unlock_migrations = pg_unlock_migrations,

        .user_insert = pg_user_insert,
        .user_by_id = pg_user_by_id,
        .user_by_email = pg_user_by_email,
        .user_update = pg_user_update,
        .user_delete = pg_user_delete,
        .user_list = pg_user_list,

        .session_insert = pg_session_insert,
        .session_by_id = pg_session_by_id,
        .session_list_active = pg_session_list_active,
        .session_touch = pg_session_touch,
        .session_revoke = pg_session_revoke,
        .session_revoke_all = pg_session_revoke_all,

        .refresh_insert = pg_refresh_insert,
        .refresh_by_hash = pg_refresh_by_hash,
        .refresh_spend = pg_refresh_spend,

        .onetime_insert = pg_onetime_insert,
        .onetime_consume = pg_onetime_consume,

        .outbox_add = pg_outbox_add,
        .outbox_claim = pg_outbox_claim,
        .outbox_sent = pg_outbox_sent,
        .outbox_failed = pg_outbox_failed,
        .outbox_pending = pg_outbox_pending,

        .audit = pg_audit,
};
