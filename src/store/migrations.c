/*
 * store/migrations.c - the schema migrations, embedded in the binary, and
 * the runner behind `auth-service migrate [up|down N|status]`.
 *
 * A migration is a numbered step with an up and a down script per SQL
 * dialect (struct migration).  The scripts are C string constants, so the
 * binary carries its schema and needs no files at run time.  Most SQL here
 * is portable between SQLite 3.35+ and PostgreSQL 13+; where it is not (the
 * auto-increment ids) the text is built from one macro with the dialect's
 * piece, so the two variants cannot drift apart.
 *
 * Applied steps are rows of schema_migrations(version, name, applied_at).
 * Each step runs in its own transaction together with the insertion (up) or
 * deletion (down) of its row, so a failed step leaves neither half a schema
 * nor a row claiming it.  Before anything, the runner takes the backend's
 * migration lock (a PostgreSQL advisory lock; nothing on SQLite, where each
 * step's BEGIN IMMEDIATE serialises runners) and, inside each step's
 * transaction, checks again that the step is still pending, so two
 * processes migrating at once apply every step exactly once.
 *
 * `down N` checks everything first (N >= 1, N steps applied, all of them
 * known to this binary) and changes nothing when the request cannot be
 * carried out in full.  Status and version only read: they do not create
 * schema_migrations.
 *
 * Messages for the operator go to the FILE given by the caller (the CLI
 * passes stdout); with no FILE, problems go to the log instead.
 *
 * Writing a new step: append it with the next number, never edit a
 * released one; no BEGIN/COMMIT in the scripts; on SQLite, a table rebuild
 * cannot switch foreign_keys off inside the transaction, use
 * PRAGMA defer_foreign_keys=ON instead.
 */
#include "store/migrations.h"

#include <stdarg.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "log.h"
#include "arena.h"
#include "store/driver.h"

/*
 * ---- 0001 initial_schema: SPEC section 3 ----
 *
 * users.email is unique twice over: exactly (the look-up index) and as
 * lower(email), so the database itself keeps emails unique
 * case-insensitively even if a caller forgot to normalise (SQLite's lower()
 * folds ASCII only; PostgreSQL's folds all of Unicode).  Times are BIGINT
 * Unix seconds, NULL when unset; booleans are SMALLINT 0/1 (portable).
 * audit_events.user_id has no foreign key: the audit trail outlives users.
 */

#define M0001_UP(AUTO_ID)                                                                          \
	"CREATE TABLE users (\n"                                                                   \
	"    id VARCHAR(36) NOT NULL PRIMARY KEY,\n"                                               \
	"    email VARCHAR(320) NOT NULL UNIQUE,\n"                                                \
	"    password_hash VARCHAR(128) NOT NULL,\n"                                               \
	"    full_name VARCHAR(255) NULL,\n"                                                       \
	"    is_active SMALLINT NOT NULL DEFAULT 1 CHECK (is_active IN (0, 1)),\n"                 \
	"    is_verified SMALLINT NOT NULL DEFAULT 0 CHECK (is_verified IN (0, 1)),\n"             \
	"    roles VARCHAR(255) NOT NULL DEFAULT 'user',\n"                                        \
	"    created_at BIGINT NOT NULL,\n"                                                        \
	"    updated_at BIGINT NOT NULL,\n"                                                        \
	"    password_changed_at BIGINT NULL\n"                                                    \
	");\n"                                                                                     \
	"CREATE INDEX ix_users_created_at ON users (created_at, id);\n"                            \
	"CREATE UNIQUE INDEX ux_users_email_lower ON users (lower(email));\n"                      \
	"\n"                                                                                       \
	"CREATE TABLE sessions (\n"                                                                \
	"    id VARCHAR(36) NOT NULL PRIMARY KEY,\n"                                               \
	"    user_id VARCHAR(36) NOT NULL REFERENCES users (id) ON DELETE CASCADE,\n"              \
	"    user_agent VARCHAR(255) NOT NULL DEFAULT '',\n"                                       \
	"    ip VARCHAR(63) NOT NULL DEFAULT '',\n"                                                \
	"    created_at BIGINT NOT NULL,\n"                                                        \
	"    last_used_at BIGINT NOT NULL,\n"                                                      \
	"    expires_at BIGINT NOT NULL,\n"                                                        \
	"    revoked_at BIGINT NULL\n"                                                             \
	");\n"                                                                                     \
	"CREATE INDEX ix_sessions_user_id ON sessions (user_id);\n"                                \
	"\n"                                                                                       \
	"CREATE TABLE refresh_tokens (\n"                                                          \
	"    token_hash CHAR(64) NOT NULL PRIMARY KEY,\n"                                          \
	"    session_id VARCHAR(36) NOT NULL REFERENCES sessions (id) ON DELETE CASCADE,\n"        \
	"    user_id VARCHAR(36) NOT NULL REFERENCES users (id) ON DELETE CASCADE,\n"              \
	"    parent_hash CHAR(64) NULL,\n"                                                         \
	"    issued_at BIGINT NOT NULL,\n"                                                         \
	"    expires_at BIGINT NOT NULL,\n"                                                        \
	"    spent_at BIGINT NULL,\n"                                                              \
	"    replaced_by CHAR(64) NULL\n"                                                          \
	");\n"                                                                                     \
	"CREATE INDEX ix_refresh_tokens_session_id ON refresh_tokens (session_id);\n"              \
	"CREATE INDEX ix_refresh_tokens_user_id ON refresh_tokens (user_id);\n"                    \
	"\n"                                                                                       \
	"CREATE TABLE one_time_tokens (\n"                                                         \
	"    token_hash CHAR(64) NOT NULL PRIMARY KEY,\n"                                          \
	"    user_id VARCHAR(36) NOT NULL REFERENCES users (id) ON DELETE CASCADE,\n"              \
	"    purpose VARCHAR(31) NOT NULL,\n"                                                      \
	"    created_at BIGINT NOT NULL,\n"                                                        \
	"    expires_at BIGINT NOT NULL,\n"                                                        \
	"    used_at BIGINT NULL\n"                                                                \
	");\n"                                                                                     \
	"CREATE INDEX ix_one_time_tokens_user_id ON one_time_tokens (user_id);\n"                  \
	"\n"                                                                                       \
	"CREATE TABLE email_outbox (\n"                                                            \
	"    id " AUTO_ID ",\n"                                                                    \
	"    recipient VARCHAR(320) NOT NULL,\n"                                                   \
	"    subject TEXT NOT NULL,\n"                                                             \
	"    body_text TEXT NOT NULL,\n"                                                           \
	"    body_html TEXT NULL,\n"                                                               \
	"    created_at BIGINT NOT NULL,\n"                                                        \
	"    attempts INTEGER NOT NULL DEFAULT 0,\n"                                               \
	"    next_attempt_at BIGINT NOT NULL,\n"                                                   \
	"    claimed_until BIGINT NULL,\n"                                                         \
	"    sent_at BIGINT NULL,\n"                                                               \
	"    failed_at BIGINT NULL,\n"                                                             \
	"    last_error TEXT NULL\n"                                                               \
	");\n"                                                                                     \
	"CREATE INDEX ix_email_outbox_due ON email_outbox (next_attempt_at, id)\n"                 \
	"    WHERE sent_at IS NULL AND failed_at IS NULL;\n"                                       \
	"\n"                                                                                       \
	"CREATE TABLE audit_events (\n"                                                            \
	"    id " AUTO_ID ",\n"                                                                    \
	"    event VARCHAR(64) NOT NULL,\n"                                                        \
	"    user_id VARCHAR(36) NULL,\n"                                                          \
	"    ip VARCHAR(63) NULL,\n"                                                               \
	"    user_agent VARCHAR(255) NULL,\n"                                                      \
	"    detail TEXT NULL,\n"                                                                  \
	"    created_at BIGINT NOT NULL\n"                                                         \
	");\n"                                                                                     \
	"CREATE INDEX ix_audit_events_user_id ON audit_events (user_id, created_at);\n"            \
	"CREATE INDEX ix_audit_events_created_at ON audit_events (created_at);\n"

/* Children before parents; indexes go with their tables. */
static const char m0001_down[] = "DROP TABLE audit_events;\n"
                                 "DROP TABLE email_outbox;\n"
                                 "DROP TABLE one_time_tokens;\n"
                                 "DROP TABLE refresh_tokens;\n"
                                 "DROP TABLE sessions;\n"
                                 "DROP TABLE users;\n";

static const char m0001_up_sqlite[] = M0001_UP("INTEGER PRIMARY KEY AUTOINCREMENT");
static const char m0001_up_pg[] = M0001_UP("BIGINT GENERATED BY DEFAULT AS IDENTITY PRIMARY KEY");

static const struct migration builtin[] = {
        {1, "initial_schema", m0001_up_sqlite, m0001_up_pg, m0001_down, m0001_down},
};

const struct migration *migrations_builtin(size_t *n)
{
	*n = sizeof(builtin) / sizeof(builtin[0]);
	return builtin;
}

/* Portable: created by the runner before anything else (under the lock). */
static const char schema_migrations_ddl[] = "CREATE TABLE IF NOT EXISTS schema_migrations (\n"
                                            "    version INTEGER NOT NULL PRIMARY KEY,\n"
                                            "    name VARCHAR(63) NOT NULL,\n"
                                            "    applied_at BIGINT NOT NULL\n"
                                            ");\n";

/* ---- schema_migrations rows ---- */

#define STORE_MIGRATION_NAME_LEN 64

/* One row of schema_migrations. */
struct store_migration_row {
	int version;
	char name[STORE_MIGRATION_NAME_LEN];
	int64_t applied_at;
};

/* Asked first, so that status and version never fail (nor write) on a fresh database. */
static const struct store_sql table_exists_sql = {
        ST_MIG_TABLE_EXISTS, "schema_migrations lookup",
        "SELECT 1 FROM sqlite_master WHERE type = 'table' AND name = 'schema_migrations'",
        "SELECT 1 WHERE to_regclass('schema_migrations') IS NOT NULL"};
static const struct store_sql list_sql = {
        ST_MIG_LIST, "list schema_migrations",
        "SELECT version, name, applied_at FROM schema_migrations ORDER BY version"};
static const struct store_sql record_sql = {
        ST_MIG_RECORD, "record migration",
        "INSERT INTO schema_migrations (version, name, applied_at) VALUES (?1, ?2, ?3)"};
static const struct store_sql forget_sql = {ST_MIG_FORGET, "forget migration",
                                            "DELETE FROM schema_migrations WHERE version = ?1"};

/* Rows ordered by version; *rows malloc'ed (free()), NULL when none or no table yet. */
static enum store_rc applied_versions(struct store_conn *c, struct store_migration_row **rows,
                                      size_t *n)
{
	struct store_migration_row *v = NULL;
	size_t len = 0, cap = 0;
	struct query q;
	enum store_rc rc;

	*rows = NULL;
	*n = 0;
	q_open(&q, c, &table_exists_sql);
	rc = q_one(&q, NULL, NULL);
	if (rc != STORE_OK)
		return rc == STORE_NOT_FOUND ? STORE_OK : rc; /* no table: nothing applied */
	q_open(&q, c, &list_sql);
	while (q_step(&q) == STORE_OK) {
		v = store_grow(v, len, &cap, sizeof(*v));
		v[len].version = (int)q_col_i64(&q, 0, "schema_migrations.version");
		q_col_text(&q, 1, v[len].name, sizeof(v[len].name), "schema_migrations.name");
		v[len++].applied_at = q_col_i64(&q, 2, "schema_migrations.applied_at");
	}
	if (q_end(&q) != STORE_OK) {
		free(v);
		return q.rc;
	}
	*rows = v;
	*n = len;
	return STORE_OK;
}

static enum store_rc record_migration(struct store_conn *c, int version, const char *name,
                                      int64_t applied_at)
{
	struct query q;

	q_open(&q, c, &record_sql);
	q_i64(&q, version);
	q_text(&q, name);
	q_i64(&q, applied_at);
	return q_exec(&q);
}

/* NOT_FOUND when the version has no row. */
static enum store_rc forget_migration(struct store_conn *c, int version)
{
	struct query q;

	q_open(&q, c, &forget_sql);
	q_i64(&q, version);
	return q_change(&q);
}

/* ---- helpers ---- */

static void say(FILE *out, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
static void complain(FILE *out, const char *fmt, ...) __attribute__((format(printf, 2, 3)));

static void say(FILE *out, const char *fmt, ...)
{
	va_list ap;

	if (!out)
		return;
	va_start(ap, fmt);
	vfprintf(out, fmt, ap);
	va_end(ap);
	fputc('\n', out);
}

/* A problem the operator must read: to out when given, else to the log. */
static void complain(FILE *out, const char *fmt, ...)
{
	char msg[512];
	va_list ap;

	va_start(ap, fmt);
	vsnprintf(msg, sizeof(msg), fmt, ap);
	va_end(ap);
	if (out)
		fprintf(out, "error: %s\n", msg);
	else
		log_error("migrations: %s", msg);
}

static const char *up_sql(const struct store_conn *c, const struct migration *m)
{
	return c->drv->kind == DB_POSTGRES ? m->up_pg : m->up_sqlite;
}

static const char *down_sql(const struct store_conn *c, const struct migration *m)
{
	return c->drv->kind == DB_POSTGRES ? m->down_pg : m->down_sqlite;
}

/* The list is well formed for this backend: numbers increase, all scripts exist. */
static bool list_ok(const struct store_conn *c, const struct migration *list, size_t n, FILE *out)
{
	int prev = 0;

	for (size_t i = 0; i < n; i++) {
		const struct migration *m = &list[i];
		if (m->version <= prev) {
			complain(out, "migration list out of order at version %d", m->version);
			return false;
		}
		if (!m->name || !m->name[0] || strlen(m->name) >= STORE_MIGRATION_NAME_LEN) {
			complain(out, "migration %04d has no name or one longer than %d bytes",
			         m->version, STORE_MIGRATION_NAME_LEN - 1);
			return false;
		}
		if (!up_sql(c, m) || !down_sql(c, m)) {
			complain(out, "migration %04d %s has no %s script", m->version, m->name,
			         c->drv->name);
			return false;
		}
		prev = m->version;
	}
	return true;
}

static const struct migration *find(const struct migration *list, size_t n, int version)
{
	for (size_t i = 0; i < n; i++)
		if (list[i].version == version)
			return &list[i];
	return NULL;
}

static const struct store_migration_row *find_row(const struct store_migration_row *rows, size_t n,
                                                  int version)
{
	for (size_t i = 0; i < n; i++)
		if (rows[i].version == version)
			return &rows[i];
	return NULL;
}

/* Whether version has a row, as seen now (inside the step's transaction). */
static enum store_rc is_applied(struct store_conn *c, int version, bool *yes)
{
	struct store_migration_row *rows = NULL;
	size_t n = 0;
	enum store_rc rc = applied_versions(c, &rows, &n);

	*yes = rc == STORE_OK && find_row(rows, n, version) != NULL;
	free(rows);
	return rc;
}

static void format_time(int64_t t, char *buf, size_t len)
{
	time_t tt = (time_t)t;
	struct tm tm;

	if (!gmtime_r(&tt, &tm) || strftime(buf, len, "%Y-%m-%dT%H:%M:%SZ", &tm) == 0)
		snprintf(buf, len, "@%lld", (long long)t);
}

static bool preconditions(struct store_conn *c, const struct migration *list, size_t n, FILE *out)
{
	if (!c || (!list && n > 0)) {
		log_error("migrations: called without a connection or a list");
		return false;
	}
	if (c->drv->in_transaction(c)) {
		complain(out, "migrations cannot run inside an open transaction");
		return false;
	}
	return list_ok(c, list, n, out);
}

/* ---- one step, in its own transaction ---- */

enum step_dir { STEP_UP, STEP_DOWN };

/* *done: false when a concurrent runner did the step first. */
static enum store_rc run_step(struct store_conn *c, const struct migration *m, enum step_dir dir,
                              bool *done, FILE *out)
{
	const struct store_driver *drv = c->drv;
	bool applied = false;
	enum store_rc rc;

	*done = false;
	rc = drv->begin(c);
	if (rc != STORE_OK)
		goto fail;
	rc = is_applied(c, m->version, &applied);
	if (rc != STORE_OK)
		goto fail;
	if (applied != (dir == STEP_DOWN)) {
		drv->rollback(c); /* someone else got there first */
		return STORE_OK;
	}
	if (dir == STEP_UP) {
		rc = drv->exec_script(c, up_sql(c, m));
		if (rc == STORE_OK)
			rc = record_migration(c, m->version, m->name, (int64_t)time(NULL));
	} else {
		rc = drv->exec_script(c, down_sql(c, m));
		if (rc == STORE_OK)
			rc = forget_migration(c, m->version);
	}
	if (rc != STORE_OK)
		goto fail;
	rc = drv->commit(c);
	if (rc != STORE_OK)
		goto fail;
	*done = true;
	return STORE_OK;

fail:
	drv->rollback(c);
	if (dir == STEP_UP)
		complain(out,
		         "migration %04d %s failed (details in the log); nothing of it was applied",
		         m->version, m->name);
	else
		complain(out,
		         "rolling back migration %04d %s failed (details in the log); it is still "
		         "applied",
		         m->version, m->name);
	return rc == STORE_OK || rc == STORE_NOT_FOUND || rc == STORE_CONFLICT ? STORE_ERROR : rc;
}

/* ---- the runners ---- */

enum store_rc migrations_version(struct store_conn *c, const struct migration *list, size_t n,
                                 int *current, int *latest)
{
	struct store_migration_row *rows = NULL;
	size_t nrows = 0;
	enum store_rc rc;

	if (current)
		*current = 0;
	if (latest)
		*latest = 0;
	if (!c || !current || !latest || (!list && n > 0)) {
		log_error("migrations: version query with a missing argument");
		return STORE_ERROR;
	}
	rc = applied_versions(c, &rows, &nrows);
	if (rc != STORE_OK)
		return rc;
	*current = nrows > 0 ? rows[nrows - 1].version : 0;
	*latest = n > 0 ? list[n - 1].version : 0;
	free(rows);
	return STORE_OK;
}

enum store_rc migrations_up(struct store_conn *c, const struct migration *list, size_t n,
                            int *applied, FILE *out)
{
	struct store_migration_row *rows = NULL;
	size_t nrows = 0;
	int count = 0;
	enum store_rc rc;

	if (applied)
		*applied = 0;
	if (!preconditions(c, list, n, out))
		return STORE_ERROR;
	rc = c->drv->lock_migrations(c);
	if (rc != STORE_OK) {
		complain(out, "cannot take the migration lock");
		return rc;
	}
	rc = c->drv->exec_script(c, schema_migrations_ddl);
	if (rc != STORE_OK) {
		complain(out, "cannot create the schema_migrations table");
		goto out;
	}
	rc = applied_versions(c, &rows, &nrows);
	if (rc != STORE_OK)
		goto out;

	for (size_t i = 0; i < n; i++) {
		bool done;
		if (find_row(rows, nrows, list[i].version))
			continue;
		rc = run_step(c, &list[i], STEP_UP, &done, out);
		if (rc != STORE_OK)
			goto out;
		if (done) {
			count++;
			say(out, "applied %04d %s", list[i].version, list[i].name);
		}
	}
	if (nrows > 0 && n > 0 && rows[nrows - 1].version > list[n - 1].version)
		say(out, "note: the database is at version %d, newer than this binary's %d",
		    rows[nrows - 1].version, list[n - 1].version);
	else if (count == 0)
		say(out, "schema is up to date (version %d)", n > 0 ? list[n - 1].version : 0);
	rc = STORE_OK;
out:
	c->drv->unlock_migrations(c);
	free(rows);
	if (applied)
		*applied = count;
	return rc;
}

enum store_rc migrations_down(struct store_conn *c, const struct migration *list, size_t n,
                              int steps, FILE *out)
{
	struct store_migration_row *rows = NULL;
	size_t nrows = 0;
	enum store_rc rc;

	if (!preconditions(c, list, n, out))
		return STORE_ERROR;
	if (steps < 1) {
		complain(out, "migrate down needs a number of steps of at least 1 (got %d)", steps);
		return STORE_ERROR;
	}
	rc = c->drv->lock_migrations(c);
	if (rc != STORE_OK) {
		complain(out, "cannot take the migration lock");
		return rc;
	}
	rc = applied_versions(c, &rows, &nrows);
	if (rc != STORE_OK)
		goto out;
	if ((size_t)steps > nrows) {
		complain(out,
		         "cannot roll back %d migration(s): only %zu applied; nothing was changed",
		         steps, nrows);
		rc = STORE_ERROR;
		goto out;
	}
	/* Every step to undo must be known here before the first is undone. */
	for (int i = 0; i < steps; i++) {
		const struct store_migration_row *r = &rows[nrows - 1 - (size_t)i];
		if (!find(list, n, r->version)) {
			complain(out,
			         "migration %04d %s is applied but unknown to this binary: roll "
			         "it back with the release that applied it; nothing was changed",
			         r->version, r->name);
			rc = STORE_ERROR;
			goto out;
		}
	}
	for (int i = 0; i < steps; i++) {
		const struct migration *m = find(list, n, rows[nrows - 1 - (size_t)i].version);
		bool done;
		rc = run_step(c, m, STEP_DOWN, &done, out);
		if (rc != STORE_OK)
			goto out;
		if (done)
			say(out, "rolled back %04d %s", m->version, m->name);
	}
	say(out, "schema is at version %d",
	    (size_t)steps < nrows ? rows[nrows - 1 - (size_t)steps].version : 0);
	rc = STORE_OK;
out:
	c->drv->unlock_migrations(c);
	free(rows);
	return rc;
}

enum store_rc migrations_status(struct store_conn *c, const struct migration *list, size_t n,
                                FILE *out)
{
	struct store_migration_row *rows = NULL;
	size_t nrows = 0;
	enum store_rc rc;
	int width = 0;
	char when[32];

	if (!c || (!list && n > 0)) {
		log_error("migrations: status without a connection or a list");
		return STORE_ERROR;
	}
	rc = applied_versions(c, &rows, &nrows);
	if (rc != STORE_OK)
		return rc;
	if (!out)
		goto done;
	for (size_t i = 0; i < n; i++)
		if ((int)strlen(list[i].name) > width)
			width = (int)strlen(list[i].name);
	for (size_t i = 0; i < nrows; i++)
		if ((int)strlen(rows[i].name) > width)
			width = (int)strlen(rows[i].name);

	for (size_t i = 0; i < n; i++) {
		const struct store_migration_row *r = find_row(rows, nrows, list[i].version);
		if (r) {
			format_time(r->applied_at, when, sizeof(when));
			fprintf(out, "%04d %-*s  applied %s\n", list[i].version, width,
			        list[i].name, when);
		} else {
			fprintf(out, "%04d %-*s  pending\n", list[i].version, width, list[i].name);
		}
	}
	for (size_t i = 0; i < nrows; i++) {
		if (find(list, n, rows[i].version))
			continue;
		format_time(rows[i].applied_at, when, sizeof(when));
		fprintf(out, "%04d %-*s  applied %s (unknown to this binary)\n", rows[i].version,
		        width, rows[i].name, when);
	}
done:
	free(rows);
	return STORE_OK;
}

/* ---- store.h entry points: the built-in list ---- */

enum store_rc store_schema_version(struct store_conn *c, int *current, int *latest)
{
	size_t n;
	const struct migration *list = migrations_builtin(&n);

	return migrations_version(c, list, n, current, latest);
}

enum store_rc store_migrate_up(struct store_conn *c, int *applied, FILE *out)
{
	size_t n;
	const struct migration *list = migrations_builtin(&n);

	return migrations_up(c, list, n, applied, out);
}

enum store_rc store_migrate_down(struct store_conn *c, int n_steps, FILE *out)
{
	size_t n;
	const struct migration *list = migrations_builtin(&n);

	return migrations_down(c, list, n, n_steps, out);
}

enum store_rc store_migrate_status(struct store_conn *c, FILE *out)
{
	size_t n;
	const struct migration *list = migrations_builtin(&n);

	return migrations_status(c, list, n, out);
}
