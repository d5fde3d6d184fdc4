/*
 * store/store.h - the storage interface the api layer uses.
 *
 * One interface, two databases: SQLite (store/sqlite.c, the embedded
 * default) and PostgreSQL (store/postgres.c), each a driver under the
 * operations, which are written once per table (store/users.c, sessions.c,
 * tokens.c, outbox.c, audit.c; see store/driver.h).  Handlers borrow a connection from the
 * store's pool with store_acquire() for the duration of one request, wrap
 * multi-row changes in store_begin()/store_commit(), and give it back with
 * store_release().  Nothing above this header knows which backend runs.
 *
 * Records use fixed-size buffers so that ownership is never a question;
 * the api layer validates lengths before anything reaches the store.
 * Times are Unix seconds (int64).  0 in an optional time field means "unset"
 * (stored as NULL).
 *
 * Every function returns a store_rc.  STORE_UNAVAILABLE means the database
 * could not be reached or no connection was free within
 * DATABASE_POOL_TIMEOUT: the caller answers 503 + Retry-After.
 */
#ifndef AUTH_STORE_H
#define AUTH_STORE_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>

struct config;

enum store_rc {
	STORE_OK = 0,
	STORE_NOT_FOUND = 1,   /* no such row */
	STORE_CONFLICT = 2,    /* unique violation, or a conditional update lost the race */
	STORE_ERROR = -1,      /* anything else (logged by the store) */
	STORE_UNAVAILABLE = -2 /* database down or pool exhausted */
};

#define STORE_ID_LEN      37  /* UUID text + NUL */
#define STORE_EMAIL_LEN   321 /* RFC 5321 limit + NUL */
#define STORE_HASH_LEN    129 /* password hash (bcrypt is 60) */
#define STORE_NAME_LEN    256 /* full_name, UTF-8 bytes */
#define STORE_ROLES_LEN   256 /* comma-separated role names */
#define STORE_TOKHASH_LEN 65  /* hex HMAC-SHA256 + NUL */
#define STORE_UA_LEN      256
#define STORE_IP_LEN      64

struct user {
	char id[STORE_ID_LEN];
	char email[STORE_EMAIL_LEN]; /* normalised: trimmed, lower-case */
	char password_hash[STORE_HASH_LEN];
	char full_name[STORE_NAME_LEN];
	bool has_full_name;
	bool is_active;
	bool is_verified;
	char roles[STORE_ROLES_LEN]; /* "user" or "user,admin" */
	int64_t created_at;
	int64_t updated_at;
	int64_t password_changed_at;
};

/* A login session: one refresh-token family. */
struct session {
	char id[STORE_ID_LEN];
	char user_id[STORE_ID_LEN];
	char user_agent[STORE_UA_LEN];
	char ip[STORE_IP_LEN];
	int64_t created_at;
	int64_t last_used_at;
	int64_t expires_at; /* absolute cap: created_at + SESSION_MAX_LIFETIME_DAYS */
	int64_t revoked_at; /* 0: active */
};

struct refresh_token {
	char token_hash[STORE_TOKHASH_LEN]; /* HMAC(SECRET_KEY, token), hex */
	char session_id[STORE_ID_LEN];
	char user_id[STORE_ID_LEN];
	char parent_hash[STORE_TOKHASH_LEN]; /* "" for the first of a family */
	int64_t issued_at;
	int64_t expires_at;
	int64_t spent_at; /* 0: unused */
	char replaced_by[STORE_TOKHASH_LEN];
};

/* Purposes of one-time tokens. */
#define ONETIME_VERIFY_EMAIL   "verify_email"
#define ONETIME_PASSWORD_RESET "password_reset"

struct onetime_token {
	char token_hash[STORE_TOKHASH_LEN];
	char user_id[STORE_ID_LEN];
	char purpose[32];
	int64_t created_at;
	int64_t expires_at;
	int64_t used_at;
};

struct outbox_msg {
	int64_t id;
	char *recipient; /* malloc'ed by the store, freed by outbox_msg_free */
	char *subject;
	char *body_text;
	char *body_html;
	int64_t created_at;
	int attempts;
};

struct store;
struct store_conn;

/* Open the backend named by cfg->db and its connection pool. */
struct store *store_open(const struct config *cfg, char *err, size_t errlen);
void store_close(struct store *st);
const char *store_kind(const struct store *st); /* "sqlite" or "postgresql" */

/* Borrow a connection (waits up to DATABASE_POOL_TIMEOUT). NULL: unavailable. */
struct store_conn *store_acquire(struct store *st);
void store_release(struct store *st, struct store_conn *c);

/* Pool gauges for /metrics. */
struct store_pool_stats {
	int size;
	int in_use;
	int idle;
	int waiting;
};
void store_pool_stats(struct store *st, struct store_pool_stats *out);
/*
 * Close overflow connections (those above DATABASE_POOL_SIZE) idle for at
 * least max_idle_seconds.  store_release does this with 30 s on its own.
 */
void store_pool_trim(struct store *st, int max_idle_seconds);

/* Liveness of the database for /ready. */
enum store_rc store_ping(struct store_conn *c);

/* Transactions (not nested).  store_begin takes the write lock on SQLite. */
enum store_rc store_begin(struct store_conn *c);
enum store_rc store_commit(struct store_conn *c);
void store_rollback(struct store_conn *c);

/* ---- migrations (store/migrations.c holds the numbered steps) ---- */

/* Latest version the binary knows and the version the database is at. */
enum store_rc store_schema_version(struct store_conn *c, int *current, int *latest);
/* Apply every pending migration; *applied = how many.  Messages to out. */
enum store_rc store_migrate_up(struct store_conn *c, int *applied, FILE *out);
/* Roll back the n most recent migrations. */
enum store_rc store_migrate_down(struct store_conn *c, int n, FILE *out);
/* Print "version name applied|pending [at time]" lines. */
enum store_rc store_migrate_status(struct store_conn *c, FILE *out);

/* ---- users ---- */

enum store_rc store_user_insert(struct store_conn *c,
                                const struct user *u); /* CONFLICT: email taken */
enum store_rc store_user_by_id(struct store_conn *c, const char *id, struct user *out);
enum store_rc store_user_by_email(struct store_conn *c, const char *email, struct user *out);
/*
 * Deprecated: writes every mutable column of u (matched by id), so two
 * concurrent read-modify-writes lose one change.  Use the column-scoped
 * writes below; this goes once its callers have moved to them.
 */
enum store_rc store_user_update(struct store_conn *c, const struct user *u);

/*
 * Column-scoped writes: each is one UPDATE of its own columns only.  out
 * may be NULL, else it receives the row as it is after the update.
 * STORE_NOT_FOUND when no user has that id.
 */
/* Lock and read a user for a read-decides-write inside an open transaction:
 * SELECT ... FOR UPDATE on PostgreSQL; a plain read on SQLite (store_begin took the write lock). */
enum store_rc store_user_lock(struct store_conn *c, const char *id, struct user *out);
/* New password: password_hash, password_changed_at = now, updated_at = now. */
enum store_rc store_user_set_password(struct store_conn *c, const char *id, const char *hash,
                                      int64_t now, struct user *out);
/* Re-hash at login: password_hash only, and only while it still equals old_hash (a password
 * change in between wins); STORE_CONFLICT when it no longer does. updated_at unchanged. */
enum store_rc store_user_rehash(struct store_conn *c, const char *id, const char *old_hash,
                                const char *new_hash);
/* full_name (NULL clears it), updated_at = now. */
enum store_rc store_user_set_name(struct store_conn *c, const char *id, const char *full_name,
                                  int64_t now, struct user *out);
/* is_active / is_verified: -1 keeps the column, 0/1 set it; updated_at = now. */
enum store_rc store_user_set_flags(struct store_conn *c, const char *id, int is_active,
                                   int is_verified, int64_t now, struct user *out);
/* roles (comma-separated, already validated), updated_at = now. */
enum store_rc store_user_set_roles(struct store_conn *c, const char *id, const char *roles,
                                   int64_t now, struct user *out);
/* Deletes the user and, by cascade, its sessions and tokens. */
enum store_rc store_user_delete(struct store_conn *c, const char *id);
/*
 * Page of users ordered by created_at, id.  email_filter: case-insensitive
 * substring or NULL.  *out is malloc'ed (free()), *n its length.
 */
enum store_rc store_user_list(struct store_conn *c, int limit, int offset, const char *email_filter,
                              struct user **out, size_t *n, int64_t *total);

/* ---- sessions ---- */

enum store_rc store_session_insert(struct store_conn *c, const struct session *s);
enum store_rc store_session_by_id(struct store_conn *c, const char *id, struct session *out);
/* Sessions not revoked and not past expires_at; *out malloc'ed. */
enum store_rc store_session_list_active(struct store_conn *c, const char *user_id, int64_t now,
                                        struct session **out, size_t *n);
enum store_rc store_session_touch(struct store_conn *c, const char *id, int64_t now);
/* NOT_FOUND when no active session with that id (and user) exists. */
enum store_rc store_session_revoke(struct store_conn *c, const char *id, const char *user_id,
                                   int64_t now);
/* Revoke every active session of the user except except_id (may be NULL). */
enum store_rc store_session_revoke_all(struct store_conn *c, const char *user_id,
                                       const char *except_id, int64_t now);

/* ---- refresh tokens ---- */

enum store_rc store_refresh_insert(struct store_conn *c, const struct refresh_token *t);
enum store_rc store_refresh_by_hash(struct store_conn *c, const char *hash,
                                    struct refresh_token *out);
/*
 * Mark spent if (and only if) still unspent: atomic, so of two concurrent
 * calls exactly one gets STORE_OK and the other STORE_CONFLICT.
 */
enum store_rc store_refresh_spend(struct store_conn *c, const char *hash, const char *replaced_by,
                                  int64_t now);

/* ---- one-time tokens (email verification, password reset) ---- */

enum store_rc store_onetime_insert(struct store_conn *c, const struct onetime_token *t);
/*
 * Consume atomically: succeeds once for an unused, unexpired token of that
 * purpose and writes its user id to user_id; NOT_FOUND otherwise.
 */
enum store_rc store_onetime_consume(struct store_conn *c, const char *hash, const char *purpose,
                                    int64_t now, char user_id[STORE_ID_LEN]);

/* ---- email outbox ---- */

enum store_rc store_outbox_add(struct store_conn *c, const char *recipient, const char *subject,
                               const char *body_text, const char *body_html, int64_t now);
/*
 * Claim the oldest due message (next_attempt_at <= now, unsent, not claimed
 * by another sender until claim_until).  NOT_FOUND when none is due.
 */
enum store_rc store_outbox_claim(struct store_conn *c, int64_t now, int64_t claim_until,
                                 struct outbox_msg *out);
enum store_rc store_outbox_sent(struct store_conn *c, int64_t id, int64_t now);
/* Record a failure: retry at next_attempt, or give up when give_up. */
enum store_rc store_outbox_failed(struct store_conn *c, int64_t id, const char *error,
                                  int64_t next_attempt, bool give_up, int64_t now);
enum store_rc store_outbox_pending(struct store_conn *c, int64_t *pending);
void outbox_msg_free(struct outbox_msg *m);

/* ---- audit log ---- */

enum store_rc store_audit(struct store_conn *c, const char *event, const char *user_id,
                          const char *ip, const char *user_agent, const char *detail, int64_t now);

#endif
