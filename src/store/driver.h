/*
 * store/driver.h - the internal contract between the store's operations and
 * a database driver (store/sqlite.c, store/postgres.c).
 *
 * The store is layered in three:
 *
 *  - store.c: the connection pool, transactions and ping, the argument
 *    check shared by every public function.
 *  - the entity files (users.c, sessions.c, tokens.c, outbox.c, audit.c,
 *    and the schema_migrations rows in migrations.c): every store_*
 *    operation written once, as SQL (struct store_sql) plus the code that
 *    binds its values and reads its rows through the query helpers below.
 *  - a driver: one constant table of primitives (struct store_driver) over
 *    a private per-connection state hung on store_conn->impl: connecting,
 *    a per-connection statement cache, binding and reading values, error
 *    mapping, transactions and the migration primitives.  A driver knows
 *    no table.
 *
 * SQL is written once with SQLite's numbered placeholders ?1, ?2...; the
 * PostgreSQL driver turns them into $1, $2... when it first prepares a
 * statement (outside quoted literals).  Where the dialects differ, the
 * PostgreSQL text sits next to the SQLite one in the same struct store_sql
 * (.pg; NULL means "the same").  Nothing outside src/store/ includes this
 * header, except the store's own unit tests.
 *
 * Rules every driver follows, so that callers never see which one runs:
 *
 *  - Return codes: a unique / primary-key violation is STORE_CONFLICT; a
 *    foreign-key violation (the referenced row is gone, e.g. a user deleted
 *    while logging in) is STORE_NOT_FOUND; a lost connection, a lock wait
 *    that timed out or a server that refuses connections is
 *    STORE_UNAVAILABLE; anything else is STORE_ERROR and is logged with
 *    log_error() naming the statement (never with values that could be
 *    secrets).  CONFLICT and NOT_FOUND are ordinary outcomes, not logged as
 *    errors.
 *  - One statement at a time per connection: prepare, bind, step, read,
 *    finish, then the next one.
 *  - savepoint()/release() make an operation of several steps atomic: its
 *    own transaction when the caller has none, a savepoint inside the
 *    caller's otherwise.  On failure the caller's transaction is still
 *    open and the caller rolls it back.
 *  - commit(): on failure the transaction has been rolled back.
 *    rollback(): safe to call when no transaction is open.
 *  - lock_migrations() serialises concurrent migration runners
 *    (pg_advisory_lock on PostgreSQL; a no-op on SQLite, where every
 *    migration transaction starts with BEGIN IMMEDIATE and the runner
 *    re-checks inside it).
 *
 * Conventions of the entity files (kept by the query helpers): a time of 0
 * and an empty optional string are written as SQL NULL and read back as 0 /
 * ""; booleans are SMALLINT 0/1 in both schemas; reads never truncate: a
 * value longer than the record's buffer is STORE_ERROR.
 */
#ifndef AUTH_STORE_DRIVER_H
#define AUTH_STORE_DRIVER_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <time.h>

#include "config.h"
#include "store/store.h"

/* A pooled connection: what store_acquire() hands out. */
struct store_conn {
	const struct store_driver *drv;
	void *impl;        /* driver-private state (struct sqlite_conn, struct pg_conn) */
	time_t idle_since; /* CLOCK_MONOTONIC seconds when last returned to the pool */
};

/* Every statement the store runs: the index of its per-connection cache slot. */
enum stmt_id {
	ST_PING,
	/* SQLite caches its transaction statements too (PostgreSQL sends them as text). */
	ST_TX_BEGIN,
	ST_TX_COMMIT,
	ST_TX_ROLLBACK,
	ST_TX_SAVEPOINT,
	ST_TX_RELEASE,
	ST_TX_ROLLBACK_TO,

	ST_MIG_TABLE_EXISTS,
	ST_MIG_LIST,
	ST_MIG_RECORD,
	ST_MIG_FORGET,

	ST_USER_INSERT,
	ST_USER_BY_ID,
	ST_USER_BY_EMAIL,
	ST_USER_LOCK,
	ST_USER_EXISTS,
	ST_USER_UPDATE,
	ST_USER_SET_PASSWORD,
	ST_USER_REHASH,
	ST_USER_SET_NAME,
	ST_USER_SET_FLAGS,
	ST_USER_SET_ROLES,
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

/* One statement: a cache slot, a name for log lines, the SQL per dialect. */
struct store_sql {
	enum stmt_id id;
	const char *name; /* what it does: "insert user" */
	const char *sql;  /* SQLite, with ?N placeholders; PostgreSQL's too unless pg is set */
	const char *pg;   /* PostgreSQL where the dialects differ (still ?N), or NULL */
};

struct store_driver {
	const char *name;  /* store_kind(): "sqlite" or "postgresql" */
	enum db_kind kind; /* picks the SQL dialect of a statement or migration step */
	int min_pool_size; /* persistent connections at least (SQLite: 2) */
	bool overflow;     /* honour DATABASE_MAX_OVERFLOW */

	/*
	 * Open one connection for cfg (which outlives the store).  Returns the
	 * private state, or NULL with a one-line reason in err (no secrets:
	 * never print the PostgreSQL URL, use cfg->db.redacted).
	 */
	void *(*connect)(const struct config *cfg, char *err, size_t errlen);
	void (*disconnect)(void *impl);
	/* False when the connection is broken and must not go back to the pool. */
	bool (*usable)(struct store_conn *c);

	/* The caller's transaction (not nested).  begin takes the write lock on SQLite. */
	enum store_rc (*begin)(struct store_conn *c);
	enum store_rc (*commit)(struct store_conn *c);
	void (*rollback)(struct store_conn *c);
	bool (*in_transaction)(struct store_conn *c);
	/* An atomic section: *own tells release() whether it began a transaction. */
	enum store_rc (*savepoint)(struct store_conn *c, bool *own);
	/* Keep (rc OK or NOT_FOUND) or undo the section; returns rc or the end's error. */
	enum store_rc (*release)(struct store_conn *c, bool own, enum store_rc rc);

	/* Statements: the cached one for sql->id becomes the connection's current one. */
	enum store_rc (*prepare)(struct store_conn *c, const struct store_sql *sql);
	/* Parameter i (1-based) of the current statement; v NULL binds SQL NULL. */
	enum store_rc (*bind_text)(struct store_conn *c, int i, const char *v);
	enum store_rc (*bind_i64)(struct store_conn *c, int i, int64_t v);
	/* The next row: *row false when done (run at the first step on PostgreSQL). */
	enum store_rc (*step)(struct store_conn *c, bool *row);
	/* Columns (0-based) of the current row. */
	bool (*col_null)(struct store_conn *c, int col);
	const char *(*col_text)(struct store_conn *c, int col, size_t *len); /* NULL: no memory */
	bool (*col_i64)(struct store_conn *c, int col, int64_t *v); /* false: not a number */
	/* Rows changed by the current statement (once it is done). */
	int64_t (*changes)(struct store_conn *c);
	/* Give the current statement back: no snapshot, no lock, no values kept. */
	void (*finish)(struct store_conn *c);

	/* Migration primitives (store/migrations.c). */
	enum store_rc (*exec_script)(struct store_conn *c, const char *sql);
	enum store_rc (*lock_migrations)(struct store_conn *c);
	void (*unlock_migrations)(struct store_conn *c);
};

/* The primitives of a driver table, from its functions named <prefix>_<member>. */
#define STORE_DRIVER_PRIMITIVES(p)                                                                 \
	.connect = p##_connect, .disconnect = p##_disconnect, .usable = p##_usable,                \
	.begin = p##_begin, .commit = p##_commit, .rollback = p##_rollback,                        \
	.in_transaction = p##_in_transaction, .savepoint = p##_savepoint, .release = p##_release,  \
	.prepare = p##_prepare, .bind_text = p##_bind_text, .bind_i64 = p##_bind_i64,              \
	.step = p##_step, .col_null = p##_col_null, .col_text = p##_col_text,                      \
	.col_i64 = p##_col_i64, .changes = p##_changes, .finish = p##_finish,                      \
	.exec_script = p##_exec_script, .lock_migrations = p##_lock_migrations,                    \
	.unlock_migrations = p##_unlock_migrations

extern const struct store_driver store_driver_sqlite;
extern const struct store_driver store_driver_postgres;

/* The SQL text of a statement for this connection's dialect. */
static inline const char *store_sql_text(const struct store_conn *c, const struct store_sql *s)
{
	return c->drv->kind == DB_POSTGRES && s->pg ? s->pg : s->sql;
}

/* ---- argument checks (store.c), at the top of every public function ---- */

bool store_args_ok(const char *op, bool ok);

#define CHECK(op, cond)                                                                            \
	do {                                                                                       \
		if (!store_args_ok((op), (cond)))                                                  \
			return STORE_ERROR;                                                        \
	} while (0)

/* ---- query helpers (store/query.c), what the entity files are written in ---- */

/*
 * One statement being run.  The first failure sticks: later binds and
 * reads do nothing and every step answers it, so an operation reads as one
 * straight block and checks once, at the end.
 */
struct query {
	struct store_conn *c;
	const struct store_sql *sql;
	enum store_rc rc; /* STORE_OK while all went well */
	int nbound;       /* parameters bound so far: the next is ?(nbound + 1) */
	int base;         /* column offset of the reads (a record after other columns) */
	bool open;        /* prepared: q_end() must give it back */
};

void q_open(struct query *q, struct store_conn *c, const struct store_sql *sql);
/* The next parameter. */
void q_text(struct query *q, const char *v);     /* NULL: SQL NULL */
void q_opt_text(struct query *q, const char *v); /* NULL or "": SQL NULL */
void q_i64(struct query *q, int64_t v);
void q_opt_time(struct query *q, int64_t v); /* 0: SQL NULL */
void q_bool(struct query *q, bool v);        /* SMALLINT 0/1 */
void q_null(struct query *q);

/* The next row: STORE_OK (a row to read), STORE_NOT_FOUND (done), or the failure. */
enum store_rc q_step(struct query *q);
/* Columns of the current row, at q->base + col.  NULL reads as "" / 0. */
bool q_col_null(struct query *q, int col);
void q_col_text(struct query *q, int col, char *dst, size_t cap, const char *what);
char *q_col_dup(struct query *q, int col, const char *what); /* malloc'ed; NULL for NULL */
int64_t q_col_i64(struct query *q, int col, const char *what);

/* Give the statement back; the outcome so far (OK, or the first failure). */
enum store_rc q_end(struct query *q);
/* Run to the end (rows ignored) and q_end(). */
enum store_rc q_exec(struct query *q);
/* q_exec(), and NOT_FOUND when the statement changed no row. */
enum store_rc q_change(struct query *q);
/*
 * At most one row: read it with fn (NULL: just tell whether there is one),
 * run to the end (an UPDATE ... RETURNING finishes there), q_end().
 * NOT_FOUND when there is no row.
 */
enum store_rc q_one(struct query *q, void (*fn)(struct query *, void *), void *out);

/* Grow a malloc'ed array of `size`-byte elements to hold len + 1; the new one zeroed. */
void *store_grow(void *v, size_t len, size_t *cap, size_t size);

#endif
