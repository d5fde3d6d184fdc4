/*
 * store/postgres.c - the PostgreSQL driver of the store (libpq), for
 * production: several replicas on one database.  Connections, the statement
 * cache, values, errors and transactions; the operations themselves are
 * written once, over this driver, in the entity files (store/driver.h).
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
 * on release.  Before each statement outside a transaction, a zero-timeout
 * poll() on the socket notices a server that closed the connection while it
 * sat idle in the pool (PostgreSQL restarted); such a connection, or one
 * marked broken, is re-opened on the spot with PQreset, so the first request
 * after a restart succeeds.  Inside a transaction nothing is re-opened: the
 * transaction is lost, every operation answers STORE_UNAVAILABLE until the
 * caller rolls back.  Nothing is ever retried after a statement was sent.
 *
 * Statements.  The first time a connection runs a statement it rewrites the
 * store's ?N placeholders to $N (outside quoted literals), counts its
 * parameters and prepares it (PQsendPrepare, named "s<id>"); after that it
 * runs it with PQsendQueryPrepared.  A statement runs at its first step();
 * the whole result is then read row by row.  Values travel as out-of-line
 * text parameters with explicit lengths, never inside the SQL; optional
 * ones as SQL NULL.  Transaction control and migration scripts use the
 * simple protocol (PQsendQuery), which accepts several statements.
 *
 * Atomicity.  An atomic section (savepoint()) is a transaction of its own
 * when the caller has none, a SAVEPOINT inside the caller's otherwise; a
 * section whose statement failed (the transaction is then aborted) is
 * rolled back to its savepoint, so the caller's transaction stays usable.
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
 * replica's, may take long).
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
#include "store/driver.h"

#define STATEMENT_TIMEOUT_MS  10000
#define IDLE_IN_TX_TIMEOUT_MS 60000
/* Client-side bound on one command: the server's own timeout plus a margin. */
#define CLIENT_TIMEOUT_MS  (STATEMENT_TIMEOUT_MS + 5000)
#define MIN_SERVER_VERSION 130000

/* pg_advisory_lock key of the migration runner: "authmig1" as a big-endian int64. */
#define MIGRATION_LOCK_KEY "7022647185815201585"

#define MAX_PARAMS 10

/* A statement in a connection's cache. */
struct pg_stmt {
	char *sql;     /* with $N placeholders; NULL until first used */
	int nparams;   /* the highest $N */
	bool prepared; /* on this session (forgotten by PQreset) */
};

struct pg_conn {
	PGconn *conn;
	const struct config *cfg;
	struct pg_stmt stmts[ST_COUNT];
	bool broken;   /* a connection-level failure: re-open before the next use */
	bool tx_open;  /* the caller's transaction (store_begin) is open */
	bool mig_lock; /* the migration lock is held: no timeouts */

	/* The statement being run: its parameters, then its result. */
	const struct store_sql *cur;
	int n;
	const char *v[MAX_PARAMS];
	int len[MAX_PARAMS];
	char num[MAX_PARAMS][24];
	PGresult *res;
	int row;
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
	PQclear(p->res);
	PQfinish(p->conn);
	for (int i = 0; i < ST_COUNT; i++)
		free(p->stmts[i].sql);
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
	for (int i = 0; i < ST_COUNT; i++)
		p->stmts[i].prepared = false;
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

/* ---- statements ---- */

/* The statement's text with ?N turned into $N outside quotes; *nparams = the highest N. */
static char *dollar_params(const char *sql, int *nparams)
{
	char *out = xstrdup(sql);
	bool quoted = false;

	*nparams = 0;
	for (char *p = out; *p; p++) {
		if (*p == '\'')
			quoted = !quoted;
		else if (!quoted && *p == '?' && p[1] >= '0' && p[1] <= '9') {
			int n = atoi(p + 1);
			*p = '$';
			if (n > *nparams)
				*nparams = n;
		}
	}
	return out;
}

static enum store_rc pg_prepare(struct store_conn *c, const struct store_sql *sql)
{
	struct pg_conn *p = pq(c);
	struct pg_stmt *s = &p->stmts[sql->id];

	if (p->cur) {
		log_error("store: postgresql: %s started while %s is running", sql->name,
		          p->cur->name);
		return STORE_ERROR;
	}
	if (!s->sql)
		s->sql = dollar_params(store_sql_text(c, sql), &s->nparams);
	p->cur = sql;
	p->n = 0;
	p->res = NULL;
	p->row = -1;
	return STORE_OK;
}

static enum store_rc pg_bind_text(struct store_conn *c, int i, const char *v)
{
	struct pg_conn *p = pq(c);

	if (i < 1 || i > MAX_PARAMS) {
		log_error("store: postgresql: %s: parameter %d of at most %d", p->cur->name, i,
		          MAX_PARAMS);
		return STORE_ERROR;
	}
	p->v[i - 1] = v;
	p->len[i - 1] = v ? (int)strlen(v) : 0;
	if (i > p->n)
		p->n = i;
	return STORE_OK;
}

static enum store_rc pg_bind_i64(struct store_conn *c, int i, int64_t v)
{
	struct pg_conn *p = pq(c);

	if (i < 1 || i > MAX_PARAMS)
		return pg_bind_text(c, i, NULL); /* reports it */
	snprintf(p->num[i - 1], sizeof(p->num[i - 1]), "%" PRId64, v);
	return pg_bind_text(c, i, p->num[i - 1]);
}

/* Prepare the current statement on this session. */
static enum store_rc prepare(struct pg_conn *p, struct pg_stmt *s, const char *name)
{
	PGresult *r;
	enum store_rc rc;

	if (!PQsendPrepare(p->conn, name, s->sql, s->nparams, NULL))
		return fail(p, NULL, "prepare");
	r = collect(p, "prepare");
	if (r && !is_error(r)) {
		PQclear(r);
		s->prepared = true;
		return STORE_OK;
	}
	rc = fail(p, r, "prepare");
	if (rc == STORE_ERROR)
		log_error("store: postgresql: the statement was \"%s\"", s->sql);
	PQclear(r);
	return rc;
}

/* Run the current statement; its result in p->res on STORE_OK. */
static enum store_rc execute(struct pg_conn *p)
{
	struct pg_stmt *s = &p->stmts[p->cur->id];
	const char *what = p->cur->name;
	char name[16];
	PGresult *r = NULL;
	enum store_rc rc;
	int attempt = 0;

	if (p->n != s->nparams) {
		log_error("store: postgresql: %s: %d parameter(s) given, the statement takes %d",
		          what, p->n, s->nparams);
		return STORE_ERROR;
	}
	rc = ready(p);
	if (rc != STORE_OK)
		return rc;
	snprintf(name, sizeof(name), "s%d", (int)p->cur->id);
again:
	if (!s->prepared) {
		rc = prepare(p, s, name);
		if (rc != STORE_OK)
			return rc;
	}
	if (!PQsendQueryPrepared(p->conn, name, p->n, p->v, p->len, NULL, 0))
		return fail(p, NULL, what);
	r = collect(p, what);
	if (r && !is_error(r)) {
		p->res = r;
		return STORE_OK;
	}
	/* The server forgot the statement (DISCARD ALL by a proxy): prepare again once. */
	if (r && sqlstate_is(PQresultErrorField(r, PG_DIAG_SQLSTATE), "26000") && attempt++ == 0 &&
	    PQtransactionStatus(p->conn) == PQTRANS_IDLE) {
		PQclear(r);
		s->prepared = false;
		goto again;
	}
	rc = fail(p, r, what);
	PQclear(r);
	return rc;
}

static enum store_rc pg_step(struct store_conn *c, bool *row)
{
	struct pg_conn *p = pq(c);
	enum store_rc rc = p->res ? STORE_OK : execute(p);

	if (rc == STORE_OK && p->row < PQntuples(p->res))
		p->row++;
	*row = rc == STORE_OK && p->row < PQntuples(p->res);
	return rc;
}

static bool pg_col_null(struct store_conn *c, int col)
{
	return PQgetisnull(pq(c)->res, pq(c)->row, col);
}

static const char *pg_col_text(struct store_conn *c, int col, size_t *len)
{
	int n = PQgetlength(pq(c)->res, pq(c)->row, col);

	*len = n > 0 ? (size_t)n : 0;
	return n >= 0 ? PQgetvalue(pq(c)->res, pq(c)->row, col) : NULL;
}

static bool pg_col_i64(struct store_conn *c, int col, int64_t *v)
{
	const char *s = PQgetvalue(pq(c)->res, pq(c)->row, col);
	char *end;
	long long x;

	errno = 0;
	x = strtoll(s, &end, 10);
	*v = (int64_t)x;
	return errno == 0 && end != s && *end == '\0';
}

static int64_t pg_changes(struct store_conn *c)
{
	struct pg_conn *p = pq(c);

	return p->res ? strtoll(PQcmdTuples(p->res), NULL, 10) : 0;
}

static void pg_finish(struct store_conn *c)
{
	struct pg_conn *p = pq(c);

	PQclear(p->res);
	p->res = NULL;
	p->cur = NULL;
}

/* ---- atomic sections ---- */

static enum store_rc pg_savepoint(struct store_conn *c, bool *own)
{
	struct pg_conn *p = pq(c);
	enum store_rc rc = ready(p);

	if (rc != STORE_OK)
		return rc;
	if (!p->tx_open && PQtransactionStatus(p->conn) == PQTRANS_IDLE) {
		*own = true;
		return exec_simple(p, "BEGIN", "begin");
	}
	*own = false;
	return exec_simple(p, "SAVEPOINT store_local", "savepoint");
}

/* Commit (ok) or undo (!ok) what happened since local_begin; rc or the end's error. */
static enum store_rc pg_release(struct store_conn *c, bool own, enum store_rc rc)
{
	struct pg_conn *p = pq(c);
	bool ok = rc == STORE_OK || rc == STORE_NOT_FOUND;
	enum store_rc end;

	if (p->broken || PQstatus(p->conn) != CONNECTION_OK)
		return rc == STORE_OK || rc == STORE_NOT_FOUND ? STORE_UNAVAILABLE : rc;
	if (own) {
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

/* Persistent connections at least 1. */
const struct store_driver store_driver_postgres = {STORE_DRIVER_PRIMITIVES(pg),
                                                   .name = "postgresql", .kind = DB_POSTGRES,
                                                   .min_pool_size = 1, .overflow = true};
