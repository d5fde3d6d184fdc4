/*
 * store/backend.h - the internal contract between store.c and a database
 * backend (store/sqlite.c now, store/postgres.c later).
 *
 * store.c owns everything that does not depend on the database: the
 * connection pool, argument checks and the public store_* names.  A backend
 * is one constant table of function pointers (struct store_backend) plus a
 * private per-connection state it allocates in connect() and hangs on
 * store_conn->impl.  Nothing outside src/store/ includes this header.
 *
 * Rules every backend follows, so that callers never see which one runs:
 *
 *  - Return codes: a unique / primary-key violation is STORE_CONFLICT; a
 *    foreign-key violation (the referenced row is gone, e.g. a user deleted
 *    while logging in) is STORE_NOT_FOUND; a lost connection, a lock wait
 *    that timed out or a server that refuses connections is
 *    STORE_UNAVAILABLE; anything else is STORE_ERROR and is logged with
 *    log_error() (never with values that could be secrets).  CONFLICT and
 *    NOT_FOUND are ordinary outcomes and are not logged as errors.
 *  - Arguments have been checked by store.c: connection, required strings
 *    and output pointers are non-NULL; output records are zeroed.
 *  - Optional values: a time of 0 and an empty optional string
 *    (parent_hash, replaced_by, full_name when !has_full_name, the audit
 *    fields) are written as SQL NULL and read back as 0 / "".
 *  - Reads never truncate: a database value longer than the fixed buffer of
 *    the record is STORE_ERROR.
 *  - An operation that needs several statements to be atomic (outbox claim,
 *    user list + count) makes itself atomic: its own transaction when the
 *    caller has none, a savepoint (or simply the caller's transaction)
 *    otherwise.  On failure the caller's transaction is still open and the
 *    caller rolls it back.
 *  - commit(): on failure the transaction has been rolled back.
 *    rollback(): safe to call when no transaction is open.
 *  - Migration primitives: applied_versions() reports zero rows (not an
 *    error) when schema_migrations does not exist yet, so that status and
 *    version queries never write.  lock_migrations() serialises concurrent
 *    runners (pg_advisory_lock on PostgreSQL; a no-op on SQLite, where every
 *    migration transaction starts with BEGIN IMMEDIATE and the runner
 *    re-checks inside it).
 */
#ifndef AUTH_STORE_BACKEND_H
#define AUTH_STORE_BACKEND_H

#include <stdbool.h>
#include <time.h>
#include <stddef.h>
#include <stdint.h>

#include "config.h"
#include "store/store.h"

/* A pooled connection: what store_acquire() hands out. */
struct store_conn {
	const struct store_backend *be;
	void *impl;        /* backend-private state (struct sqlite_conn, struct pg_conn) */
	time_t idle_since; /* CLOCK_MONOTONIC seconds when last returned to the pool */
};

#define STORE_MIGRATION_NAME_LEN 64

/* One row of schema_migrations. */
struct store_migration_row {
	int version;
	char name[STORE_MIGRATION_NAME_LEN];
	int64_t applied_at;
};

struct store_backend {
	const char *name;  /* store_kind(): "sqlite" or "postgresql" */
	enum db_kind kind; /* picks the SQL dialect of a migration step */
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
	enum store_rc (*ping)(struct store_conn *c);

	/* Transactions (not nested).  begin takes the write lock on SQLite. */
	enum store_rc (*begin)(struct store_conn *c);
	enum store_rc (*commit)(struct store_conn *c);
	void (*rollback)(struct store_conn *c);
	bool (*in_transaction)(struct store_conn *c);

	/* Migration primitives (used by store/migrations.c only). */
	enum store_rc (*exec_script)(struct store_conn *c, const char *sql);
	/* Rows ordered by version; *rows malloc'ed (free()), NULL when none. */
	enum store_rc (*applied_versions)(struct store_conn *c, struct store_migration_row **rows,
	                                  size_t *n);
	enum store_rc (*record_migration)(struct store_conn *c, int version, const char *name,
	                                  int64_t applied_at);
	/* NOT_FOUND when the version has no row. */
	enum store_rc (*forget_migration)(struct store_conn *c, int version);
	enum store_rc (*lock_migrations)(struct store_conn *c);
	void (*unlock_migrations)(struct store_conn *c);

	/* The operations of store.h, same contracts. */
	enum store_rc (*user_insert)(struct store_conn *c, const struct user *u);
	enum store_rc (*user_by_id)(struct store_conn *c, const char *id, struct user *out);
	enum store_rc (*user_by_email)(struct store_conn *c, const char *email, struct user *out);
	enum store_rc (*user_update)(struct store_conn *c, const struct user *u);
	enum store_rc (*user_delete)(struct store_conn *c, const char *id);
	/* email_pattern: already a LIKE pattern ("%...%", lower-case, escaped
	 * with '\'), or NULL for all users; limit, offset >= 0. */
	enum store_rc (*user_list)(struct store_conn *c, int limit, int offset,
	                           const char *email_pattern, struct user **out, size_t *n,
	                           int64_t *total);

	enum store_rc (*session_insert)(struct store_conn *c, const struct session *s);
	enum store_rc (*session_by_id)(struct store_conn *c, const char *id, struct session *out);
	enum store_rc (*session_list_active)(struct store_conn *c, const char *user_id, int64_t now,
	                                     struct session **out, size_t *n);
	enum store_rc (*session_touch)(struct store_conn *c, const char *id, int64_t now);
	/* user_id NULL: any owner. */
	enum store_rc (*session_revoke)(struct store_conn *c, const char *id, const char *user_id,
	                                int64_t now);
	enum store_rc (*session_revoke_all)(struct store_conn *c, const char *user_id,
	                                    const char *except_id, int64_t now);

	enum store_rc (*refresh_insert)(struct store_conn *c, const struct refresh_token *t);
	enum store_rc (*refresh_by_hash)(struct store_conn *c, const char *hash,
	                                 struct refresh_token *out);
	enum store_rc (*refresh_spend)(struct store_conn *c, const char *hash,
	                               const char *replaced_by, int64_t now);

	enum store_rc (*onetime_insert)(struct store_conn *c, const struct onetime_token *t);
	enum store_rc (*onetime_consume)(struct store_conn *c, const char *hash,
	                                 const char *purpose, int64_t now,
	                                 char user_id[STORE_ID_LEN]);

	enum store_rc (*outbox_add)(struct store_conn *c, const char *recipient,
	                            const char *subject, const char *body_text,
	                            const char *body_html, int64_t now);
	enum store_rc (*outbox_claim)(struct store_conn *c, int64_t now, int64_t claim_until,
	                              struct outbox_msg *out);
	enum store_rc (*outbox_sent)(struct store_conn *c, int64_t id, int64_t now);
	enum store_rc (*outbox_failed)(struct store_conn *c, int64_t id, const char *error,
	                               int64_t next_attempt, bool give_up, int64_t now);
	enum store_rc (*outbox_pending)(struct store_conn *c, int64_t *pending);

	enum store_rc (*audit)(struct store_conn *c, const char *event, const char *user_id,
	                       const char *ip, const char *user_agent, const char *detail,
	                       int64_t now);
};

/* The backends.  store_backend_postgres is defined by store/postgres.c. */
extern const struct store_backend store_backend_sqlite;
extern const struct store_backend store_backend_postgres;

#endif
