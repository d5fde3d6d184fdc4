/*
 * store/sqlite.c - the SQLite backend of the store (the embedded default).
 *
 * Each pooled connection is one sqlite3 handle opened in multi-thread mode
 * (SQLITE_OPEN_NOMUTEX): the pool guarantees that a handle is used by one
 * thread at a time, so SQLite's own per-handle mutex would only cost time.
 * Every connection sets up, in order: extended result codes, a busy timeout
 * of 5 s (a writer waits for another writer instead of failing at once),
 * journal_mode=WAL (readers never block the writer; checked, because some
 * file systems refuse it), foreign_keys=ON (checked: cascades depend on it)
 * and synchronous=NORMAL (durable across application crashes; WAL keeps the
 * database consistent across power loss).  In-memory databases are refused:
 * each pooled connection would see a different, empty database.
 *
 * SQL statements are the constant table stmt_sql[] below.  Each connection
 * prepares a statement the first time it needs it (SQLITE_PREPARE_PERSISTENT)
 * and keeps it; after every use it is reset and its bindings cleared, so a
 * cached statement never holds a read snapshot or a lock between calls.
 *
 * Atomicity: store_begin is BEGIN IMMEDIATE, which takes the write lock up
 * front; a deferred transaction that reads and then writes can fail with
 * SQLITE_BUSY without waiting when another writer slips in between.  The
 * conditional updates (refresh spend, one-time consume, outbox claim) are
 * single UPDATE statements whose WHERE clause holds the condition, so of two
 * racing callers exactly one changes the row.  Operations made of several
 * statements run in their own transaction when the caller has none, inside
 * a savepoint otherwise (local_begin / local_end).
 *
 * Errors: SQLITE_CONSTRAINT_UNIQUE/PRIMARYKEY -> STORE_CONFLICT,
 * SQLITE_CONSTRAINT_FOREIGNKEY -> STORE_NOT_FOUND, SQLITE_BUSY/LOCKED (the
 * busy timeout expired) -> STORE_UNAVAILABLE, anything else -> STORE_ERROR,
 * logged with SQLite's message (which names columns, never values).
 */
#include <sqlite3.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "arena.h"
#include "log.h"
#include "store/backend.h"

#define BUSY_TIMEOUT_MS 5000

/* ---- the statements ---- */

enum stmt_id {
	ST_PING,
	ST_BEGIN_IMMEDIATE,
	ST_BEGIN_DEFERRED,
	ST_COMMIT,
	ST_ROLLBACK,
	ST_SAVEPOINT,
	ST_RELEASE,
	ST_ROLLBACK_TO,

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
	ST_USER_COUNT,

	ST_SESSION_INSERT,
	ST_SESSION_BY_ID,
	ST_SESSION_LIST_ACTIVE,
	ST_SESSION_TOUCH,
	ST_SESSION_REVOKE,
	ST_SESSION_REVOKE_ALL,

	ST_REFRESH_INSERT,
	ST_REFRESH_BY_HASH,
	ST_REFRESH_SPEND,
	ST_REFRESH_EXISTS,

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

#define USER_COLS                                                                                  \
	"id, email, password_hash, full_name, is_active, is_verified, roles, created_at, "         \
	"updated_at, password_changed_at"
#define SESSION_COLS "id, user_id, user_agent, ip, created_at, last_used_at, expires_at, revoked_at"
#define REFRESH_COLS                                                                               \
	"token_hash, session_id, user_id, parent_hash, issued_at, expires_at, spent_at, "          \
	"replaced_by"
#define EMAIL_MATCHES "(?1 IS NULL OR lower(email) LIKE ?1 ESCAPE '\\')"

static const char *const stmt_sql[ST_COUNT] = {
        [ST_PING] = "SELECT 1 FROM sqlite_master LIMIT 1",
        [ST_BEGIN_IMMEDIATE] = "BEGIN IMMEDIATE",
        [ST_BEGIN_DEFERRED] = "BEGIN DEFERRED",
        [ST_COMMIT] = "COMMIT",
        [ST_ROLLBACK] = "ROLLBACK",
        [ST_SAVEPOINT] = "SAVEPOINT store_local",
        [ST_RELEASE] = "RELEASE store_local",
        [ST_ROLLBACK_TO] = "ROLLBACK TO store_local",

        [ST_MIG_TABLE_EXISTS] = "SELECT 1 FROM sqlite_master WHERE type = 'table' AND name = "
                                "'schema_migrations'",
        [ST_MIG_LIST] = "SELECT version, name, applied_at FROM schema_migrations ORDER BY version",
        [ST_MIG_RECORD] = "INSERT INTO schema_migrations (version, name, applied_at) "
                          "VALUES (?1, ?2, ?3)",
        [ST_MIG_FORGET] = "DELETE FROM schema_migrations WHERE version = ?1",

        [ST_USER_INSERT] = "INSERT INTO users (" USER_COLS ") "
                           "VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10)",
        [ST_USER_BY_ID] = "SELECT " USER_COLS " FROM users WHERE id = ?1",
        [ST_USER_BY_EMAIL] = "SELECT " USER_COLS " FROM users WHERE email = ?1",
        [ST_USER_UPDATE] = "UPDATE users SET email = ?2, password_hash = ?3, full_name = ?4, "
                           "is_active = ?5, is_verified = ?6, roles = ?7, updated_at = ?8, "
                           "password_changed_at = ?9 WHERE id = ?1",
        [ST_USER_DELETE] = "DELETE FROM users WHERE id = ?1",
        [ST_USER_LIST] = "SELECT " USER_COLS " FROM users WHERE " EMAIL_MATCHES
                         " ORDER BY created_at, id LIMIT ?2 OFFSET ?3",
        [ST_USER_COUNT] = "SELECT count(*) FROM users WHERE " EMAIL_MATCHES,

        [ST_SESSION_INSERT] = "INSERT INTO sessions (" SESSION_COLS ") "
                              "VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8)",
        [ST_SESSION_BY_ID] = "SELECT " SESSION_COLS " FROM sessions WHERE id = ?1",
        [ST_SESSION_LIST_ACTIVE] = "SELECT " SESSION_COLS " FROM sessions WHERE user_id = ?1 "
                                   "AND revoked_at IS NULL AND expires_at > ?2 "
                                   "ORDER BY created_at DESC, id",
        [ST_SESSION_TOUCH] = "UPDATE sessions SET last_used_at = ?2 "
                             "WHERE id = ?1 AND revoked_at IS NULL",
        [ST_SESSION_REVOKE] = "UPDATE sessions SET revoked_at = ?3 WHERE id = ?1 "
                              "AND (?2 IS NULL OR user_id = ?2) AND revoked_at IS NULL "
                              "AND expires_at > ?3",
        [ST_SESSION_REVOKE_ALL] = "UPDATE sessions SET revoked_at = ?3 WHERE user_id = ?1 "
                                  "AND (?2 IS NULL OR id <> ?2) AND revoked_at IS NULL",

        [ST_REFRESH_INSERT] = "INSERT INTO refresh_tokens (" REFRESH_COLS ") "
                              "VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8)",
        [ST_REFRESH_BY_HASH] = "SELECT " REFRESH_COLS " FROM refresh_tokens WHERE token_hash = ?1",
        [ST_REFRESH_SPEND] = "UPDATE refresh_tokens SET spent_at = ?3, replaced_by = ?2 "
                             "WHERE token_hash = ?1 AND spent_at IS NULL",
        [ST_REFRESH_EXISTS] = "SELECT 1 FROM refresh_tokens WHERE token_hash = ?1",

        [ST_ONETIME_INSERT] = "INSERT INTO one_time_tokens (token_hash, user_id, purpose, "
                              "created_at, expires_at, used_at) VALUES (?1, ?2, ?3, ?4, ?5, ?6)",
        [ST_ONETIME_CONSUME] = "UPDATE one_time_tokens SET used_at = ?3 WHERE token_hash = ?1 "
                               "AND purpose = ?2 AND used_at IS NULL AND expires_at > ?3 "
                               "RETURNING user_id",

        [ST_OUTBOX_ADD] =
                "INSERT INTO email_outbox (recipient, subject, body_text, body_html, "
                "created_at, attempts, next_attempt_at) VALUES (?1, ?2, ?3, ?4, ?5, 0, ?5)",
        [ST_OUTBOX_CLAIM] =
                "UPDATE email_outbox SET claimed_until = ?2 WHERE id = ("
                "SELECT id FROM email_outbox WHERE sent_at IS NULL AND failed_at IS NULL "
                "AND next_attempt_at <= ?1 "
                "AND (claimed_until IS NULL OR claimed_until < ?1) "
                "ORDER BY id LIMIT 1) "
                "RETURNING id, recipient, subject, body_text, body_html, created_at, "
                "attempts",
        [ST_OUTBOX_SENT] =
                "UPDATE email_outbox SET sent_at = ?2, claimed_until = NULL WHERE id = ?1",
        [ST_OUTBOX_FAILED] = "UPDATE email_outbox SET attempts = attempts + 1, last_error = ?2, "
                             "next_attempt_at = ?3, failed_at = ?4, claimed_until = NULL "
                             "WHERE id = ?1",
        [ST_OUTBOX_PENDING] = "SELECT count(*) FROM email_outbox "
                              "WHERE sent_at IS NULL AND failed_at IS NULL",

        [ST_AUDIT] =
                "INSERT INTO audit_events (event, user_id, ip, user_agent, detail, created_at) "
                "VALUES (?1, ?2, ?3, ?4, ?5, ?6)",
};

struct sqlite_conn {
	sqlite3 *db;
	sqlite3_stmt *stmts[ST_COUNT];
};

static struct sqlite_conn *sq(struct store_conn *c)
{
	return c->impl;
}

/* ---- errors ---- */

/* Map a failed SQLite call to a store_rc, logging real errors. */
static enum store_rc fail(struct sqlite_conn *s, int rc, const char *what)
{
	switch (rc) {
	case SQLITE_CONSTRAINT_UNIQUE:
	case SQLITE_CONSTRAINT_PRIMARYKEY:
		log_debug("store: sqlite: %s: %s", what, sqlite3_errmsg(s->db));
		return STORE_CONFLICT;
	case SQLITE_CONSTRAINT_FOREIGNKEY:
		log_debug("store: sqlite: %s: %s", what, sqlite3_errmsg(s->db));
		return STORE_NOT_FOUND;
	}
	switch (rc & 0xff) {
	case SQLITE_BUSY:
	case SQLITE_LOCKED:
		log_warning("store: sqlite: %s: database locked for more than %d ms: %s", what,
		            BUSY_TIMEOUT_MS, sqlite3_errmsg(s->db));
		return STORE_UNAVAILABLE;
	default:
		log_error("store: sqlite: %s: %s (code %d)", what, sqlite3_errmsg(s->db), rc);
		return STORE_ERROR;
	}
}

/* ---- statement cache ---- */

/* The cached statement for id, prepared on first use; NULL (logged) on error. */
static sqlite3_stmt *stmt(struct sqlite_conn *s, enum stmt_id id)
{
	int rc;

	if (s->stmts[id])
		return s->stmts[id];
	rc = sqlite3_prepare_v3(s->db, stmt_sql[id], -1, SQLITE_PREPARE_PERSISTENT, &s->stmts[id],
	                        NULL);
	if (rc != SQLITE_OK) {
		log_error("store: sqlite: cannot prepare \"%s\": %s", stmt_sql[id],
		          sqlite3_errmsg(s->db));
		sqlite3_finalize(s->stmts[id]);
		s->stmts[id] = NULL;
	}
	return s->stmts[id];
}

/* Give a cached statement back: no snapshot, no lock, no bound values kept. */
static void done(sqlite3_stmt *st)
{
	if (st) {
		sqlite3_reset(st);
		sqlite3_clear_bindings(st);
	}
}

/*
 * Binding with a sticky error, so that a statement's binds read as one
 * block and are checked once.
 */
struct binder {
	sqlite3_stmt *st;
	int rc;
};

static void b_text(struct binder *b, int i, const char *v)
{
	if (b->rc != SQLITE_OK)
		return;
	b->rc = v ? sqlite3_bind_text(b->st, i, v, -1, SQLITE_STATIC) : sqlite3_bind_null(b->st, i);
}

/* Optional string: NULL or "" is stored as NULL. */
static void b_opt_text(struct binder *b, int i, const char *v)
{
	b_text(b, i, v && v[0] ? v : NULL);
}

static void b_i64(struct binder *b, int i, int64_t v)
{
	if (b->rc == SQLITE_OK)
		b->rc = sqlite3_bind_int64(b->st, i, v);
}

/* Optional time: 0 is stored as NULL. */
static void b_opt_time(struct binder *b, int i, int64_t v)
{
	if (b->rc != SQLITE_OK)
		return;
	b->rc = v ? sqlite3_bind_int64(b->st, i, v) : sqlite3_bind_null(b->st, i);
}

/* Reading columns into fixed buffers, failing (never truncating) on overflow. */
struct reader {
	sqlite3_stmt *st;
	bool bad;
};

static void r_text(struct reader *r, int col, char *dst, size_t cap, const char *what)
{
	const unsigned char *p;
	int len;

	dst[0] = '\0';
	if (r->bad || sqlite3_column_type(r->st, col) == SQLITE_NULL)
		return;
	p = sqlite3_column_text(r->st, col);
	len = sqlite3_column_bytes(r->st, col);
	if (!p || len < 0) {
		log_error("store: sqlite: cannot read %s (out of memory)", what);
		r->bad = true;
		return;
	}
	if ((size_t)len >= cap) {
		log_error(
		        "store: sqlite: %s holds %d bytes, more than the %zu this record has room "
		        "for",
		        what, len, cap - 1);
		r->bad = true;
		return;
	}
	memcpy(dst, p, (size_t)len);
	dst[len] = '\0';
}

/* A malloc'ed copy of a text column; NULL for SQL NULL. */
static char *r_dup(struct reader *r, int col, const char *what)
{
	const unsigned char *p;
	int len;
	char *v;

	if (r->bad || sqlite3_column_type(r->st, col) == SQLITE_NULL)
		return NULL;
	p = sqlite3_column_text(r->st, col);
	len = sqlite3_column_bytes(r->st, col);
	if (!p || len < 0) {
		log_error("store: sqlite: cannot read %s (out of memory)", what);
		r->bad = true;
		return NULL;
	}
	v = xmalloc((size_t)len + 1);
	memcpy(v, p, (size_t)len);
	v[len] = '\0';
	return v;
}

static int64_t r_i64(struct reader *r, int col)
{
	return sqlite3_column_int64(r->st, col); /* NULL reads as 0 */
}

/* Run a statement that returns no rows. */
static enum store_rc run(struct sqlite_conn *s, sqlite3_stmt *st, const char *what)
{
	int rc = sqlite3_step(st);
	enum store_rc out = rc == SQLITE_DONE ? STORE_OK : fail(s, rc, what);

	done(st);
	return out;
}

static enum store_rc run_id(struct sqlite_conn *s, enum stmt_id id, const char *what)
{
	sqlite3_stmt *st = stmt(s, id);

	return st ? run(s, st, what) : STORE_ERROR;
}

/* Run an UPDATE/DELETE: NOT_FOUND when it changed no row. */
static enum store_rc run_change(struct sqlite_conn *s, sqlite3_stmt *st, const char *what)
{
	enum store_rc rc = run(s, st, what);

	if (rc == STORE_OK && sqlite3_changes(s->db) == 0)
		rc = STORE_NOT_FOUND;
	return rc;
}

/* ---- local atomicity for multi-statement operations ---- */

enum local_tx { LTX_OWN, LTX_SAVEPOINT };

static enum store_rc local_begin(struct sqlite_conn *s, bool write, enum local_tx *how)
{
	if (sqlite3_get_autocommit(s->db)) {
		*how = LTX_OWN;
		return run_id(s, write ? ST_BEGIN_IMMEDIATE : ST_BEGIN_DEFERRED, "begin");
	}
	*how = LTX_SAVEPOINT;
	return run_id(s, ST_SAVEPOINT, "savepoint");
}

/* Commit (ok) or undo (!ok) what happened since local_begin; returns rc or the end's error. */
static enum store_rc local_end(struct sqlite_conn *s, enum local_tx how, enum store_rc rc)
{
	bool ok = rc == STORE_OK || rc == STORE_NOT_FOUND;
	enum store_rc end;

	if (how == LTX_OWN) {
		if (sqlite3_get_autocommit(s->db))
			return rc == STORE_OK ? STORE_ERROR : rc; /* SQLite rolled back already */
		if (ok) {
			end = run_id(s, ST_COMMIT, "commit");
			if (end == STORE_OK)
				return rc;
		} else {
			end = rc;
		}
		if (!sqlite3_get_autocommit(s->db))
			run_id(s, ST_ROLLBACK, "rollback");
		return end;
	}
	if (!ok)
		run_id(s, ST_ROLLBACK_TO, "rollback to savepoint");
	end = run_id(s, ST_RELEASE, "release savepoint");
	return end == STORE_OK ? rc : end;
}

/* ---- connections ---- */

static void sqlite_disconnect(void *impl);

/* Run a one-row PRAGMA and copy its text answer. */
static int pragma_text(sqlite3 *db, const char *sql, char *out, size_t outlen)
{
	sqlite3_stmt *st = NULL;
	int rc = sqlite3_prepare_v2(db, sql, -1, &st, NULL);

	out[0] = '\0';
	if (rc == SQLITE_OK) {
		rc = sqlite3_step(st);
		if (rc == SQLITE_ROW) {
			const unsigned char *v = sqlite3_column_text(st, 0);
			snprintf(out, outlen, "%s", v ? (const char *)v : "");
			rc = SQLITE_OK;
		} else if (rc == SQLITE_DONE) {
			rc = SQLITE_OK;
		}
	}
	sqlite3_finalize(st);
	return rc;
}

static void *sqlite_connect(const struct config *cfg, char *err, size_t errlen)
{
	struct sqlite_conn *s = NULL;
	const char *path = cfg->db.sqlite_path;
	char *msg = NULL;
	char val[32];
	int rc;

	if (!path || !path[0]) {
		snprintf(err, errlen, "no SQLite database path (DATABASE_URL=sqlite:///path.db)");
		return NULL;
	}
	if (strcmp(path, ":memory:") == 0 || strncmp(path, "file:", 5) == 0) {
		snprintf(err, errlen,
		         "SQLite database path \"%s\" is not a plain file path: in-memory and URI "
		         "databases are not supported (use e.g. sqlite:///./auth.db)",
		         path);
		return NULL;
	}
	if (!sqlite3_threadsafe()) {
		snprintf(err, errlen, "the SQLite library was built without thread support");
		return NULL;
	}

	s = xcalloc(1, sizeof(*s));
	rc = sqlite3_open_v2(path, &s->db,
	                     SQLITE_OPEN_READWRITE | SQLITE_OPEN_CREATE | SQLITE_OPEN_NOMUTEX,
	                     NULL);
	if (rc != SQLITE_OK) {
		snprintf(err, errlen, "cannot open SQLite database %s: %s", path,
		         s->db ? sqlite3_errmsg(s->db) : sqlite3_errstr(rc));
		goto fail;
	}
	sqlite3_extended_result_codes(s->db, 1);
	sqlite3_busy_timeout(s->db, BUSY_TIMEOUT_MS);

	/*
	 * Switching a new file to WAL needs an exclusive lock, and SQLite skips
	 * the busy handler for it (waiting could deadlock), so two processes
	 * opening a fresh database together see SQLITE_BUSY at once: retry
	 * for as long as the busy timeout would have waited.
	 */
	for (int waited = 0;; waited += 10) {
		rc = pragma_text(s->db, "PRAGMA journal_mode=WAL", val, sizeof(val));
		if ((rc & 0xff) != SQLITE_BUSY || waited >= BUSY_TIMEOUT_MS)
			break;
		nanosleep(&(struct timespec){0, 10 * 1000 * 1000}, NULL);
	}
	if (rc != SQLITE_OK) {
		snprintf(err, errlen, "cannot use SQLite database %s: %s", path,
		         sqlite3_errmsg(s->db));
		goto fail;
	}
	if (strcmp(val, "wal") != 0) {
		snprintf(err, errlen,
		         "SQLite database %s: WAL journal mode refused (journal_mode is \"%s\"); "
		         "put the file on a local file system",
		         path, val);
		goto fail;
	}
	rc = sqlite3_exec(s->db, "PRAGMA foreign_keys=ON; PRAGMA synchronous=NORMAL;", NULL, NULL,
	                  &msg);
	if (rc != SQLITE_OK) {
		snprintf(err, errlen, "SQLite database %s: %s", path,
		         msg ? msg : sqlite3_errstr(rc));
		goto fail;
	}
	rc = pragma_text(s->db, "PRAGMA foreign_keys", val, sizeof(val));
	if (rc != SQLITE_OK || strcmp(val, "1") != 0) {
		snprintf(err, errlen, "the SQLite library does not enforce foreign keys");
		goto fail;
	}
	return s;

fail:
	sqlite3_free(msg);
	sqlite_disconnect(s);
	return NULL;
}

static void sqlite_disconnect(void *impl)
{
	struct sqlite_conn *s = impl;

	if (!s)
		return;
	for (int i = 0; i < ST_COUNT; i++)
		sqlite3_finalize(s->stmts[i]);
	if (sqlite3_close(s->db) != SQLITE_OK)
		log_error("store: sqlite: closing a connection: %s", sqlite3_errmsg(s->db));
	free(s);
}

static bool sqlite_usable(struct store_conn *c)
{
	return sq(c)->db != NULL;
}

static enum store_rc sqlite_ping(struct store_conn *c)
{
	struct sqlite_conn *s = sq(c);
	sqlite3_stmt *st = stmt(s, ST_PING);
	enum store_rc out = STORE_ERROR;
	int rc;

	if (!st)
		return STORE_ERROR;
	rc = sqlite3_step(st);
	out = (rc == SQLITE_ROW || rc == SQLITE_DONE) ? STORE_OK : fail(s, rc, "ping");
	done(st);
	return out;
}

/* ---- transactions ---- */

static enum store_rc sqlite_begin(struct store_conn *c)
{
	return run_id(sq(c), ST_BEGIN_IMMEDIATE, "begin");
}

static enum store_rc sqlite_commit(struct store_conn *c)
{
	struct sqlite_conn *s = sq(c);
	enum store_rc rc = run_id(s, ST_COMMIT, "commit");

	if (rc != STORE_OK && !sqlite3_get_autocommit(s->db))
		run_id(s, ST_ROLLBACK, "rollback");
	return rc;
}

static void sqlite_rollback(struct store_conn *c)
{
	struct sqlite_conn *s = sq(c);

	if (!sqlite3_get_autocommit(s->db))
		run_id(s, ST_ROLLBACK, "rollback");
}

static bool sqlite_in_transaction(struct store_conn *c)
{
	return !sqlite3_get_autocommit(sq(c)->db);
}

/* ---- migration primitives ---- */

static enum store_rc sqlite_exec_script(struct store_conn *c, const char *sql)
{
	struct sqlite_conn *s = sq(c);
	char *msg = NULL;
	int rc = sqlite3_exec(s->db, sql, NULL, NULL, &msg);

	if (rc == SQLITE_OK)
		return STORE_OK;
	log_error("store: sqlite: migration script failed: %s", msg ? msg : sqlite3_errstr(rc));
	sqlite3_free(msg);
	return (rc & 0xff) == SQLITE_BUSY ? STORE_UNAVAILABLE : STORE_ERROR;
}

static enum store_rc sqlite_applied_versions(struct store_conn *c,
                                             struct store_migration_row **rows, size_t *n)
{
	struct sqlite_conn *s = sq(c);
	struct store_migration_row *v = NULL;
	size_t len = 0, cap = 0;
	enum store_rc out = STORE_ERROR;
	sqlite3_stmt *st;
	int rc;

	*rows = NULL;
	*n = 0;
	st = stmt(s, ST_MIG_TABLE_EXISTS);
	if (!st)
		return STORE_ERROR;
	rc = sqlite3_step(st);
	done(st);
	if (rc == SQLITE_DONE)
		return STORE_OK; /* no table: nothing applied */
	if (rc != SQLITE_ROW)
		return fail(s, rc, "schema_migrations lookup");

	st = stmt(s, ST_MIG_LIST);
	if (!st)
		return STORE_ERROR;
	while ((rc = sqlite3_step(st)) == SQLITE_ROW) {
		struct reader r = {st, false};
		if (len == cap) {
			cap = cap ? 2 * cap : 8;
			v = xrealloc(v, cap * sizeof(*v));
		}
		memset(&v[len], 0, sizeof(v[len]));
		v[len].version = (int)r_i64(&r, 0);
		r_text(&r, 1, v[len].name, sizeof(v[len].name), "schema_migrations.name");
		v[len].applied_at = r_i64(&r, 2);
		if (r.bad)
			goto out;
		len++;
	}
	if (rc != SQLITE_DONE) {
		out = fail(s, rc, "list schema_migrations");
		goto out;
	}
	*rows = v;
	*n = len;
	v = NULL;
	out = STORE_OK;
out:
	done(st);
	free(v);
	return out;
}

static enum store_rc sqlite_record_migration(struct store_conn *c, int version, const char *name,
                                             int64_t applied_at)
{
	struct sqlite_conn *s = sq(c);
	struct binder b = {stmt(s, ST_MIG_RECORD), SQLITE_OK};

	if (!b.st)
		return STORE_ERROR;
	b_i64(&b, 1, version);
	b_text(&b, 2, name);
	b_i64(&b, 3, applied_at);
	if (b.rc != SQLITE_OK) {
		done(b.st);
		return fail(s, b.rc, "bind schema_migrations row");
	}
	return run(s, b.st, "record migration");
}

static enum store_rc sqlite_forget_migration(struct store_conn *c, int version)
{
	struct sqlite_conn *s = sq(c);
	struct binder b = {stmt(s, ST_MIG_FORGET), SQLITE_OK};

	if (!b.st)
		return STORE_ERROR;
	b_i64(&b, 1, version);
	if (b.rc != SQLITE_OK) {
		done(b.st);
		return fail(s, b.rc, "bind schema_migrations version");
	}
	return run_change(s, b.st, "forget migration");
}

static enum store_rc sqlite_lock_migrations(struct store_conn *c)
{
	(void)c; /* each migration's BEGIN IMMEDIATE serialises runners */
	return STORE_OK;
}

static void sqlite_unlock_migrations(struct store_conn *c)
{
	(void)c;
}

/* ---- users ---- */

static void read_user(struct reader *r, struct user *u)
{
	r_text(r, 0, u->id, sizeof(u->id), "users.id");
	r_text(r, 1, u->email, sizeof(u->email), "users.email");
	r_text(r, 2, u->password_hash, sizeof(u->password_hash), "users.password_hash");
	u->has_full_name = sqlite3_column_type(r->st, 3) != SQLITE_NULL;
	r_text(r, 3, u->full_name, sizeof(u->full_name), "users.full_name");
	u->is_active = r_i64(r, 4) != 0;
	u->is_verified = r_i64(r, 5) != 0;
	r_text(r, 6, u->roles, sizeof(u->roles), "users.roles");
	u->created_at = r_i64(r, 7);
	u->updated_at = r_i64(r, 8);
	u->password_changed_at = r_i64(r, 9);
}

/* Binds ?1..?10 in USER_COLS order (the update uses ?1..?9 without created_at). */
static void bind_user(struct binder *b, const struct user *u, bool with_created)
{
	int i = 1;

	b_text(b, i++, u->id);
	b_text(b, i++, u->email);
	b_text(b, i++, u->password_hash);
	b_text(b, i++, u->has_full_name ? u->full_name : NULL);
	b_i64(b, i++, u->is_active ? 1 : 0);
	b_i64(b, i++, u->is_verified ? 1 : 0);
	b_text(b, i++, u->roles);
	if (with_created)
		b_i64(b, i++, u->created_at);
	b_i64(b, i++, u->updated_at);
	b_opt_time(b, i, u->password_changed_at);
}

/* Step a statement expected to return at most one row, read by fn. */
static enum store_rc one_row(struct sqlite_conn *s, sqlite3_stmt *st, const char *what,
                             void (*fn)(struct reader *, void *), void *out)
{
	struct reader r = {st, false};
	enum store_rc rc;
	int step = sqlite3_step(st);

	if (step == SQLITE_ROW) {
		fn(&r, out);
		rc = r.bad ? STORE_ERROR : STORE_OK;
		/* Run to completion: an UPDATE ... RETURNING finishes its work here. */
		while ((step = sqlite3_step(st)) == SQLITE_ROW)
			;
		if (step != SQLITE_DONE && rc == STORE_OK)
			rc = fail(s, step, what);
	} else if (step == SQLITE_DONE) {
		rc = STORE_NOT_FOUND;
	} else {
		rc = fail(s, step, what);
	}
	done(st);
	return rc;
}

static void read_user_cb(struct reader *r, void *out)
{
	read_user(r, out);
}

/* Bind failure: give the statement back and report. */
static enum store_rc bind_failed(struct sqlite_conn *s, struct binder *b, const char *what)
{
	done(b->st);
	return fail(s, b->rc, what);
}

static enum store_rc sqlite_user_insert(struct store_conn *c, const struct user *u)
{
	struct sqlite_conn *s = sq(c);
	struct binder b = {stmt(s, ST_USER_INSERT), SQLITE_OK};

	if (!b.st)
		return STORE_ERROR;
	bind_user(&b, u, true);
	if (b.rc != SQLITE_OK)
		return bind_failed(s, &b, "bind user");
	return run(s, b.st, "insert user");
}

static enum store_rc user_by(struct sqlite_conn *s, enum stmt_id id, const char *key,
                             struct user *out)
{
	struct binder b = {stmt(s, id), SQLITE_OK};

	if (!b.st)
		return STORE_ERROR;
	b_text(&b, 1, key);
	if (b.rc != SQLITE_OK)
		return bind_failed(s, &b, "bind user key");
	return one_row(s, b.st, "read user", read_user_cb, out);
}

static enum store_rc sqlite_user_by_id(struct store_conn *c, const char *id, struct user *out)
{
	return user_by(sq(c), ST_USER_BY_ID, id, out);
}

static enum store_rc sqlite_user_by_email(struct store_conn *c, const char *email, struct user *out)
{
	return user_by(sq(c), ST_USER_BY_EMAIL, email, out);
}

static enum store_rc sqlite_user_update(struct store_conn *c, const struct user *u)
{
	struct sqlite_conn *s = sq(c);
	struct binder b = {stmt(s, ST_USER_UPDATE), SQLITE_OK};

	if (!b.st)
		return STORE_ERROR;
	bind_user(&b, u, false);
	if (b.rc != SQLITE_OK)
		return bind_failed(s, &b, "bind user");
	return run_change(s, b.st, "update user");
}

static enum store_rc sqlite_user_delete(struct store_conn *c, const char *id)
{
	struct sqlite_conn *s = sq(c);
	struct binder b = {stmt(s, ST_USER_DELETE), SQLITE_OK};

	if (!b.st)
		return STORE_ERROR;
	b_text(&b, 1, id);
	if (b.rc != SQLITE_OK)
		return bind_failed(s, &b, "bind user id");
	return run_change(s, b.st, "delete user");
}

/* The page and the count, read in one snapshot. */
static enum store_rc user_list_in_tx(struct sqlite_conn *s, int limit, int offset,
                                     const char *pattern, struct user **out, size_t *n,
                                     int64_t *total)
{
	struct user *v = NULL;
	size_t len = 0, cap = 0;
	enum store_rc out_rc = STORE_ERROR;
	struct binder b = {stmt(s, ST_USER_COUNT), SQLITE_OK};
	int rc;

	if (!b.st)
		return STORE_ERROR;
	b_text(&b, 1, pattern);
	if (b.rc != SQLITE_OK)
		return bind_failed(s, &b, "bind user filter");
	rc = sqlite3_step(b.st);
	if (rc != SQLITE_ROW) {
		out_rc = fail(s, rc, "count users");
		done(b.st);
		return out_rc;
	}
	*total = sqlite3_column_int64(b.st, 0);
	done(b.st);

	b = (struct binder){stmt(s, ST_USER_LIST), SQLITE_OK};
	if (!b.st)
		return STORE_ERROR;
	b_text(&b, 1, pattern);
	b_i64(&b, 2, limit);
	b_i64(&b, 3, offset);
	if (b.rc != SQLITE_OK)
		return bind_failed(s, &b, "bind user page");
	while ((rc = sqlite3_step(b.st)) == SQLITE_ROW) {
		struct reader r = {b.st, false};
		if (len == cap) {
			cap = cap ? 2 * cap : 16;
			v = xrealloc(v, cap * sizeof(*v));
		}
		memset(&v[len], 0, sizeof(v[len]));
		read_user(&r, &v[len]);
		if (r.bad)
			goto out;
		len++;
	}
	if (rc != SQLITE_DONE) {
		out_rc = fail(s, rc, "list users");
		goto out;
	}
	*out = v;
	*n = len;
	v = NULL;
	out_rc = STORE_OK;
out:
	done(b.st);
	free(v);
	if (out_rc != STORE_OK)
		*total = 0;
	return out_rc;
}

static enum store_rc sqlite_user_list(struct store_conn *c, int limit, int offset,
                                      const char *pattern, struct user **out, size_t *n,
                                      int64_t *total)
{
	struct sqlite_conn *s = sq(c);
	enum local_tx how;
	enum store_rc rc = local_begin(s, false, &how);

	if (rc != STORE_OK)
		return rc;
	rc = user_list_in_tx(s, limit, offset, pattern, out, n, total);
	rc = local_end(s, how, rc);
	if (rc != STORE_OK) {
		free(*out);
		*out = NULL;
		*n = 0;
		*total = 0;
	}
	return rc;
}

/* ---- sessions ---- */

static void read_session(struct reader *r, void *out)
{
	struct session *x = out;

	r_text(r, 0, x->id, sizeof(x->id), "sessions.id");
	r_text(r, 1, x->user_id, sizeof(x->user_id), "sessions.user_id");
	r_text(r, 2, x->user_agent, sizeof(x->user_agent), "sessions.user_agent");
	r_text(r, 3, x->ip, sizeof(x->ip), "sessions.ip");
	x->created_at = r_i64(r, 4);
	x->last_used_at = r_i64(r, 5);
	x->expires_at = r_i64(r, 6);
	x->revoked_at = r_i64(r, 7);
}

static enum store_rc sqlite_session_insert(struct store_conn *c, const struct session *x)
{
	struct sqlite_conn *s = sq(c);
	struct binder b = {stmt(s, ST_SESSION_INSERT), SQLITE_OK};

	if (!b.st)
		return STORE_ERROR;
	b_text(&b, 1, x->id);
	b_text(&b, 2, x->user_id);
	b_text(&b, 3, x->user_agent);
	b_text(&b, 4, x->ip);
	b_i64(&b, 5, x->created_at);
	b_i64(&b, 6, x->last_used_at);
	b_i64(&b, 7, x->expires_at);
	b_opt_time(&b, 8, x->revoked_at);
	if (b.rc != SQLITE_OK)
		return bind_failed(s, &b, "bind session");
	return run(s, b.st, "insert session");
}

static enum store_rc sqlite_session_by_id(struct store_conn *c, const char *id, struct session *out)
{
	struct sqlite_conn *s = sq(c);
	struct binder b = {stmt(s, ST_SESSION_BY_ID), SQLITE_OK};

	if (!b.st)
		return STORE_ERROR;
	b_text(&b, 1, id);
	if (b.rc != SQLITE_OK)
		return bind_failed(s, &b, "bind session id");
	return one_row(s, b.st, "read session", read_session, out);
}

static enum store_rc sqlite_session_list_active(struct store_conn *c, const char *user_id,
                                                int64_t now, struct session **out, size_t *n)
{
	struct sqlite_conn *s = sq(c);
	struct binder b = {stmt(s, ST_SESSION_LIST_ACTIVE), SQLITE_OK};
	struct session *v = NULL;
	size_t len = 0, cap = 0;
	enum store_rc out_rc = STORE_ERROR;
	int rc;

	if (!b.st)
		return STORE_ERROR;
	b_text(&b, 1, user_id);
	b_i64(&b, 2, now);
	if (b.rc != SQLITE_OK)
		return bind_failed(s, &b, "bind session list");
	while ((rc = sqlite3_step(b.st)) == SQLITE_ROW) {
		struct reader r = {b.st, false};
		if (len == cap) {
			cap = cap ? 2 * cap : 8;
			v = xrealloc(v, cap * sizeof(*v));
		}
		memset(&v[len], 0, sizeof(v[len]));
		read_session(&r, &v[len]);
		if (r.bad)
			goto out;
		len++;
	}
	if (rc != SQLITE_DONE) {
		out_rc = fail(s, rc, "list sessions");
		goto out;
	}
	*out = v;
	*n = len;
	v = NULL;
	out_rc = STORE_OK;
out:
	done(b.st);
	free(v);
	return out_rc;
}

static enum store_rc sqlite_session_touch(struct store_conn *c, const char *id, int64_t now)
{
	struct sqlite_conn *s = sq(c);
	struct binder b = {stmt(s, ST_SESSION_TOUCH), SQLITE_OK};

	if (!b.st)
		return STORE_ERROR;
	b_text(&b, 1, id);
	b_i64(&b, 2, now);
	if (b.rc != SQLITE_OK)
		return bind_failed(s, &b, "bind session touch");
	return run_change(s, b.st, "touch session");
}

static enum store_rc sqlite_session_revoke(struct store_conn *c, const char *id,
                                           const char *user_id, int64_t now)
{
	struct sqlite_conn *s = sq(c);
	struct binder b = {stmt(s, ST_SESSION_REVOKE), SQLITE_OK};

	if (!b.st)
		return STORE_ERROR;
	b_text(&b, 1, id);
	b_text(&b, 2, user_id);
	b_i64(&b, 3, now);
	if (b.rc != SQLITE_OK)
		return bind_failed(s, &b, "bind session revoke");
	return run_change(s, b.st, "revoke session");
}

static enum store_rc sqlite_session_revoke_all(struct store_conn *c, const char *user_id,
                                               const char *except_id, int64_t now)
{
	struct sqlite_conn *s = sq(c);
	struct binder b = {stmt(s, ST_SESSION_REVOKE_ALL), SQLITE_OK};

	if (!b.st)
		return STORE_ERROR;
	b_text(&b, 1, user_id);
	b_opt_text(&b, 2, except_id);
	b_i64(&b, 3, now);
	if (b.rc != SQLITE_OK)
		return bind_failed(s, &b, "bind session revoke-all");
	return run(s, b.st, "revoke sessions");
}

/* ---- refresh tokens ---- */

static void read_refresh(struct reader *r, void *out)
{
	struct refresh_token *t = out;

	r_text(r, 0, t->token_hash, sizeof(t->token_hash), "refresh_tokens.token_hash");
	r_text(r, 1, t->session_id, sizeof(t->session_id), "refresh_tokens.session_id");
	r_text(r, 2, t->user_id, sizeof(t->user_id), "refresh_tokens.user_id");
	r_text(r, 3, t->parent_hash, sizeof(t->parent_hash), "refresh_tokens.parent_hash");
	t->issued_at = r_i64(r, 4);
	t->expires_at = r_i64(r, 5);
	t->spent_at = r_i64(r, 6);
	r_text(r, 7, t->replaced_by, sizeof(t->replaced_by), "refresh_tokens.replaced_by");
}

static enum store_rc sqlite_refresh_insert(struct store_conn *c, const struct refresh_token *t)
{
	struct sqlite_conn *s = sq(c);
	struct binder b = {stmt(s, ST_REFRESH_INSERT), SQLITE_OK};

	if (!b.st)
		return STORE_ERROR;
	b_text(&b, 1, t->token_hash);
	b_text(&b, 2, t->session_id);
	b_text(&b, 3, t->user_id);
	b_opt_text(&b, 4, t->parent_hash);
	b_i64(&b, 5, t->issued_at);
	b_i64(&b, 6, t->expires_at);
	b_opt_time(&b, 7, t->spent_at);
	b_opt_text(&b, 8, t->replaced_by);
	if (b.rc != SQLITE_OK)
		return bind_failed(s, &b, "bind refresh token");
	return run(s, b.st, "insert refresh token");
}

static enum store_rc sqlite_refresh_by_hash(struct store_conn *c, const char *hash,
                                            struct refresh_token *out)
{
	struct sqlite_conn *s = sq(c);
	struct binder b = {stmt(s, ST_REFRESH_BY_HASH), SQLITE_OK};

	if (!b.st)
		return STORE_ERROR;
	b_text(&b, 1, hash);
	if (b.rc != SQLITE_OK)
		return bind_failed(s, &b, "bind refresh hash");
	return one_row(s, b.st, "read refresh token", read_refresh, out);
}

static void read_nothing(struct reader *r, void *out)
{
	(void)r;
	(void)out;
}

static enum store_rc sqlite_refresh_spend(struct store_conn *c, const char *hash,
                                          const char *replaced_by, int64_t now)
{
	struct sqlite_conn *s = sq(c);
	struct binder b = {stmt(s, ST_REFRESH_SPEND), SQLITE_OK};
	enum store_rc rc;

	if (!b.st)
		return STORE_ERROR;
	b_text(&b, 1, hash);
	b_opt_text(&b, 2, replaced_by);
	b_i64(&b, 3, now);
	if (b.rc != SQLITE_OK)
		return bind_failed(s, &b, "bind refresh spend");
	rc = run_change(s, b.st, "spend refresh token");
	if (rc != STORE_NOT_FOUND)
		return rc;

	/* Nothing changed: spent already (CONFLICT) or no such token (NOT_FOUND). */
	b = (struct binder){stmt(s, ST_REFRESH_EXISTS), SQLITE_OK};
	if (!b.st)
		return STORE_ERROR;
	b_text(&b, 1, hash);
	if (b.rc != SQLITE_OK)
		return bind_failed(s, &b, "bind refresh hash");
	rc = one_row(s, b.st, "look up refresh token", read_nothing, NULL);
	return rc == STORE_OK ? STORE_CONFLICT : rc;
}

/* ---- one-time tokens ---- */

static enum store_rc sqlite_onetime_insert(struct store_conn *c, const struct onetime_token *t)
{
	struct sqlite_conn *s = sq(c);
	struct binder b = {stmt(s, ST_ONETIME_INSERT), SQLITE_OK};

	if (!b.st)
		return STORE_ERROR;
	b_text(&b, 1, t->token_hash);
	b_text(&b, 2, t->user_id);
	b_text(&b, 3, t->purpose);
	b_i64(&b, 4, t->created_at);
	b_i64(&b, 5, t->expires_at);
	b_opt_time(&b, 6, t->used_at);
	if (b.rc != SQLITE_OK)
		return bind_failed(s, &b, "bind one-time token");
	return run(s, b.st, "insert one-time token");
}

struct consumed {
	char *user_id;
};

static void read_consumed(struct reader *r, void *out)
{
	struct consumed *x = out;

	r_text(r, 0, x->user_id, STORE_ID_LEN, "one_time_tokens.user_id");
}

static enum store_rc sqlite_onetime_consume(struct store_conn *c, const char *hash,
                                            const char *purpose, int64_t now,
                                            char user_id[STORE_ID_LEN])
{
	struct sqlite_conn *s = sq(c);
	struct consumed x = {user_id};
	struct binder b;
	enum local_tx how;
	enum store_rc rc;

	/* In a savepoint: a user id that does not fit must not leave the token used. */
	rc = local_begin(s, true, &how);
	if (rc != STORE_OK)
		return rc;
	b = (struct binder){stmt(s, ST_ONETIME_CONSUME), SQLITE_OK};
	if (!b.st) {
		rc = STORE_ERROR;
	} else {
		b_text(&b, 1, hash);
		b_text(&b, 2, purpose);
		b_i64(&b, 3, now);
		if (b.rc != SQLITE_OK)
			rc = bind_failed(s, &b, "bind one-time consume");
		else
			rc = one_row(s, b.st, "consume one-time token", read_consumed, &x);
	}
	rc = local_end(s, how, rc);
	if (rc != STORE_OK)
		user_id[0] = '\0';
	return rc;
}

/* ---- email outbox ---- */

static enum store_rc sqlite_outbox_add(struct store_conn *c, const char *recipient,
                                       const char *subject, const char *body_text,
                                       const char *body_html, int64_t now)
{
	struct sqlite_conn *s = sq(c);
	struct binder b = {stmt(s, ST_OUTBOX_ADD), SQLITE_OK};

	if (!b.st)
		return STORE_ERROR;
	b_text(&b, 1, recipient);
	b_text(&b, 2, subject);
	b_text(&b, 3, body_text);
	b_text(&b, 4, body_html);
	b_i64(&b, 5, now);
	if (b.rc != SQLITE_OK)
		return bind_failed(s, &b, "bind outbox message");
	return run(s, b.st, "add outbox message");
}

static void read_outbox(struct reader *r, void *out)
{
	struct outbox_msg *m = out;

	m->id = r_i64(r, 0);
	m->recipient = r_dup(r, 1, "email_outbox.recipient");
	m->subject = r_dup(r, 2, "email_outbox.subject");
	m->body_text = r_dup(r, 3, "email_outbox.body_text");
	m->body_html = r_dup(r, 4, "email_outbox.body_html");
	m->created_at = r_i64(r, 5);
	m->attempts = (int)r_i64(r, 6);
	if (!r->bad && (!m->recipient || !m->subject || !m->body_text)) {
		log_error("store: sqlite: outbox message %lld lacks a recipient, subject or body",
		          (long long)m->id);
		r->bad = true;
	}
}

static enum store_rc sqlite_outbox_claim(struct store_conn *c, int64_t now, int64_t claim_until,
                                         struct outbox_msg *out)
{
	struct sqlite_conn *s = sq(c);
	struct binder b;
	enum local_tx how;
	enum store_rc rc;

	rc = local_begin(s, true, &how); /* BEGIN IMMEDIATE unless inside the caller's */
	if (rc != STORE_OK)
		return rc;
	b = (struct binder){stmt(s, ST_OUTBOX_CLAIM), SQLITE_OK};
	if (!b.st) {
		rc = STORE_ERROR;
	} else {
		b_i64(&b, 1, now);
		b_i64(&b, 2, claim_until);
		if (b.rc != SQLITE_OK)
			rc = bind_failed(s, &b, "bind outbox claim");
		else
			rc = one_row(s, b.st, "claim outbox message", read_outbox, out);
	}
	rc = local_end(s, how, rc);
	if (rc != STORE_OK)
		outbox_msg_free(out);
	return rc;
}

static enum store_rc sqlite_outbox_sent(struct store_conn *c, int64_t id, int64_t now)
{
	struct sqlite_conn *s = sq(c);
	struct binder b = {stmt(s, ST_OUTBOX_SENT), SQLITE_OK};

	if (!b.st)
		return STORE_ERROR;
	b_i64(&b, 1, id);
	b_i64(&b, 2, now);
	if (b.rc != SQLITE_OK)
		return bind_failed(s, &b, "bind outbox sent");
	return run_change(s, b.st, "mark outbox message sent");
}

static enum store_rc sqlite_outbox_failed(struct store_conn *c, int64_t id, const char *error,
                                          int64_t next_attempt, bool give_up, int64_t now)
{
	struct sqlite_conn *s = sq(c);
	struct binder b = {stmt(s, ST_OUTBOX_FAILED), SQLITE_OK};

	if (!b.st)
		return STORE_ERROR;
	b_i64(&b, 1, id);
	b_opt_text(&b, 2, error);
	b_i64(&b, 3, next_attempt);
	b_opt_time(&b, 4, give_up ? now : 0);
	if (b.rc != SQLITE_OK)
		return bind_failed(s, &b, "bind outbox failure");
	return run_change(s, b.st, "record outbox failure");
}

static enum store_rc sqlite_outbox_pending(struct store_conn *c, int64_t *pending)
{
	struct sqlite_conn *s = sq(c);
	sqlite3_stmt *st = stmt(s, ST_OUTBOX_PENDING);
	enum store_rc out;
	int rc;

	if (!st)
		return STORE_ERROR;
	rc = sqlite3_step(st);
	if (rc == SQLITE_ROW) {
		*pending = sqlite3_column_int64(st, 0);
		out = STORE_OK;
	} else {
		out = fail(s, rc, "count pending outbox messages");
	}
	done(st);
	return out;
}

/* ---- audit ---- */

static enum store_rc sqlite_audit(struct store_conn *c, const char *event, const char *user_id,
                                  const char *ip, const char *user_agent, const char *detail,
                                  int64_t now)
{
	struct sqlite_conn *s = sq(c);
	struct binder b = {stmt(s, ST_AUDIT), SQLITE_OK};

	if (!b.st)
		return STORE_ERROR;
	b_text(&b, 1, event);
	b_opt_text(&b, 2, user_id);
	b_opt_text(&b, 3, ip);
	b_opt_text(&b, 4, user_agent);
	b_opt_text(&b, 5, detail);
	b_i64(&b, 6, now);
	if (b.rc != SQLITE_OK)
		return bind_failed(s, &b, "bind audit event");
	return run(s, b.st, "write audit event");
}

const struct store_backend store_backend_sqlite = {
        .name = "sqlite",
        .kind = DB_SQLITE,
        .min_pool_size = 2,
        .overflow = false,

        .connect = sqlite_connect,
        .disconnect = sqlite_disconnect,
        .usable = sqlite_usable,
        .ping = sqlite_ping,

        .begin = sqlite_begin,
        .commit = sqlite_commit,
        .rollback = sqlite_rollback,
        .in_transaction = sqlite_in_transaction,

        .exec_script = sqlite_exec_script,
        .applied_versions = sqlite_applied_versions,
        .record_migration = sqlite_record_migration,
        .forget_migration = sqlite_forget_migration,
        .lock_migrations = sqlite_lock_migrations,
        .unlock_migrations = sqlite_unlock_migrations,

        .user_insert = sqlite_user_insert,
        .user_by_id = sqlite_user_by_id,
        .user_by_email = sqlite_user_by_email,
        .user_update = sqlite_user_update,
        .user_delete = sqlite_user_delete,
        .user_list = sqlite_user_list,

        .session_insert = sqlite_session_insert,
        .session_by_id = sqlite_session_by_id,
        .session_list_active = sqlite_session_list_active,
        .session_touch = sqlite_session_touch,
        .session_revoke = sqlite_session_revoke,
        .session_revoke_all = sqlite_session_revoke_all,

        .refresh_insert = sqlite_refresh_insert,
        .refresh_by_hash = sqlite_refresh_by_hash,
        .refresh_spend = sqlite_refresh_spend,

        .onetime_insert = sqlite_onetime_insert,
        .onetime_consume = sqlite_onetime_consume,

        .outbox_add = sqlite_outbox_add,
        .outbox_claim = sqlite_outbox_claim,
        .outbox_sent = sqlite_outbox_sent,
        .outbox_failed = sqlite_outbox_failed,
        .outbox_pending = sqlite_outbox_pending,

        .audit = sqlite_audit,
};
