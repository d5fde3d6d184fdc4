/*
 * store/sqlite.c - the SQLite driver of the store (the embedded default):
 * connections, the statement cache, values, errors and transactions.  The
 * operations themselves are written once, over this driver, in the entity
 * files (store/driver.h).
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
 * Statements: each connection prepares a statement the first time it needs
 * it (SQLITE_PREPARE_PERSISTENT, cached in its slot by statement id) and
 * keeps it; finish() resets it and clears its bindings, so a cached
 * statement never holds a read snapshot or a lock between calls.  The
 * transaction statements are cached the same way.
 *
 * Atomicity: store_begin is BEGIN IMMEDIATE, which takes the write lock up
 * front; a deferred transaction that reads and then writes can fail with
 * SQLITE_BUSY without waiting when another writer slips in between.  An
 * atomic section (savepoint()) is a BEGIN IMMEDIATE transaction of its own
 * when the caller has none, a SAVEPOINT inside the caller's otherwise.
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
#include "store/driver.h"

#define BUSY_TIMEOUT_MS 5000

struct sqlite_conn {
	sqlite3 *db;
	sqlite3_stmt *stmts[ST_COUNT];
	sqlite3_stmt *cur; /* the statement being run */
	const struct store_sql *cur_sql;
};

static struct sqlite_conn *sq(struct store_conn *c)
{
	return c->impl;
}

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

/* ---- statements ---- */

static enum store_rc sqlite_prepare(struct store_conn *c, const struct store_sql *sql)
{
	struct sqlite_conn *s = sq(c);
	sqlite3_stmt **slot = &s->stmts[sql->id];
	int rc;

	if (s->cur) {
		log_error("store: sqlite: %s started while %s is running", sql->name,
		          s->cur_sql->name);
		return STORE_ERROR;
	}
	if (!*slot) {
		rc = sqlite3_prepare_v3(s->db, sql->sql, -1, SQLITE_PREPARE_PERSISTENT, slot, NULL);
		if (rc != SQLITE_OK) {
			log_error("store: sqlite: cannot prepare \"%s\": %s", sql->sql,
			          sqlite3_errmsg(s->db));
			sqlite3_finalize(*slot);
			*slot = NULL;
			return STORE_ERROR;
		}
	}
	s->cur = *slot;
	s->cur_sql = sql;
	return STORE_OK;
}

static enum store_rc sqlite_bind_text(struct store_conn *c, int i, const char *v)
{
	struct sqlite_conn *s = sq(c);
	int rc = v ? sqlite3_bind_text(s->cur, i, v, -1, SQLITE_STATIC)
	           : sqlite3_bind_null(s->cur, i);

	return rc == SQLITE_OK ? STORE_OK : fail(s, rc, s->cur_sql->name);
}

static enum store_rc sqlite_bind_i64(struct store_conn *c, int i, int64_t v)
{
	struct sqlite_conn *s = sq(c);
	int rc = sqlite3_bind_int64(s->cur, i, v);

	return rc == SQLITE_OK ? STORE_OK : fail(s, rc, s->cur_sql->name);
}

static enum store_rc sqlite_step(struct store_conn *c, bool *row)
{
	struct sqlite_conn *s = sq(c);
	int rc = sqlite3_step(s->cur);

	*row = rc == SQLITE_ROW;
	return rc == SQLITE_ROW || rc == SQLITE_DONE ? STORE_OK : fail(s, rc, s->cur_sql->name);
}

static bool sqlite_col_null(struct store_conn *c, int col)
{
	return sqlite3_column_type(sq(c)->cur, col) == SQLITE_NULL;
}

static const char *sqlite_col_text(struct store_conn *c, int col, size_t *len)
{
	const unsigned char *p = sqlite3_column_text(sq(c)->cur, col);
	int n = sqlite3_column_bytes(sq(c)->cur, col);

	*len = n > 0 ? (size_t)n : 0;
	return p && n >= 0 ? (const char *)p : NULL;
}

static bool sqlite_col_i64(struct store_conn *c, int col, int64_t *v)
{
	*v = sqlite3_column_int64(sq(c)->cur, col);
	return true;
}

static int64_t sqlite_changes(struct store_conn *c)
{
	return sqlite3_changes(sq(c)->db);
}

static void sqlite_finish(struct store_conn *c)
{
	struct sqlite_conn *s = sq(c);

	if (s->cur) {
		sqlite3_reset(s->cur);
		sqlite3_clear_bindings(s->cur);
	}
	s->cur = NULL;
	s->cur_sql = NULL;
}

/* ---- transactions ---- */

static const struct store_sql tx_begin = {ST_TX_BEGIN, "begin", "BEGIN IMMEDIATE"};
static const struct store_sql tx_commit = {ST_TX_COMMIT, "commit", "COMMIT"};
static const struct store_sql tx_rollback = {ST_TX_ROLLBACK, "rollback", "ROLLBACK"};
static const struct store_sql tx_savepoint = {ST_TX_SAVEPOINT, "savepoint",
                                              "SAVEPOINT store_local"};
static const struct store_sql tx_release = {ST_TX_RELEASE, "release savepoint",
                                            "RELEASE store_local"};
static const struct store_sql tx_rollback_to = {ST_TX_ROLLBACK_TO, "rollback to savepoint",
                                                "ROLLBACK TO store_local"};

/* Run a statement without parameters or rows. */
static enum store_rc run(struct store_conn *c, const struct store_sql *sql)
{
	enum store_rc rc = sqlite_prepare(c, sql);
	bool row;

	if (rc == STORE_OK) {
		rc = sqlite_step(c, &row);
		sqlite_finish(c);
	}
	return rc;
}

static bool sqlite_in_transaction(struct store_conn *c)
{
	return !sqlite3_get_autocommit(sq(c)->db);
}

static enum store_rc sqlite_begin(struct store_conn *c)
{
	return run(c, &tx_begin);
}

static enum store_rc sqlite_commit(struct store_conn *c)
{
	enum store_rc rc = run(c, &tx_commit);

	if (rc != STORE_OK && sqlite_in_transaction(c))
		run(c, &tx_rollback);
	return rc;
}

static void sqlite_rollback(struct store_conn *c)
{
	if (sqlite_in_transaction(c))
		run(c, &tx_rollback);
}

static enum store_rc sqlite_savepoint(struct store_conn *c, bool *own)
{
	*own = !sqlite_in_transaction(c);
	return run(c, *own ? &tx_begin : &tx_savepoint);
}

static enum store_rc sqlite_release(struct store_conn *c, bool own, enum store_rc rc)
{
	bool ok = rc == STORE_OK || rc == STORE_NOT_FOUND;
	enum store_rc end;

	if (own) {
		if (!sqlite_in_transaction(c))
			return rc == STORE_OK ? STORE_ERROR : rc; /* SQLite rolled back already */
		if (ok) {
			end = run(c, &tx_commit);
			if (end == STORE_OK)
				return rc;
		} else {
			end = rc;
		}
		if (sqlite_in_transaction(c))
			run(c, &tx_rollback);
		return end;
	}
	if (!ok)
		run(c, &tx_rollback_to);
	end = run(c, &tx_release);
	return end == STORE_OK ? rc : end;
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

static enum store_rc sqlite_lock_migrations(struct store_conn *c)
{
	(void)c; /* each migration's BEGIN IMMEDIATE serialises runners */
	return STORE_OK;
}

static void sqlite_unlock_migrations(struct store_conn *c)
{
	(void)c;
}

/* Persistent connections at least 2; no overflow (writers serialise on one lock). */
const struct store_driver store_driver_sqlite = {STORE_DRIVER_PRIMITIVES(sqlite), .name = "sqlite",
                                                 .kind = DB_SQLITE, .min_pool_size = 2,
                                                 .overflow = false};
