/*
 * store/users.c - the users table: insert, look-ups, the column-scoped
 * writes, delete and the admin list, each written once over the driver
 * (store/driver.h).
 *
 * Column-scoped writes.  Each store_user_set_* is a single UPDATE of its
 * own columns (plus updated_at), so two requests changing different things
 * of one user (an admin disabling the account while its owner renames
 * himself) cannot overwrite each other's change with a stale copy, as a
 * read-modify-write of the whole row would.  They answer the row as it is
 * after the update (RETURNING, read into `out` when given) and
 * STORE_NOT_FOUND when no row matched.  store_user_rehash is conditional on
 * the old hash (WHERE password_hash = old), so a password change that
 * happened in between wins.  A decision that depends on the row (check the
 * current password, then set a new one) takes store_user_lock inside a
 * transaction: SELECT ... FOR UPDATE on PostgreSQL; on SQLite store_begin's
 * BEGIN IMMEDIATE already holds the write lock, so a plain read does.
 *
 * The list reads the count and the page in one statement, hence one
 * snapshot on both databases: a count subquery LEFT JOINed with the page,
 * so that an empty page is one row whose user columns are NULL.  The e-mail
 * filter is a LIKE pattern built here (like_pattern), escaped with '\'.
 */
#include <stdlib.h>
#include <string.h>

#include "arena.h"
#include "log.h"
#include "store/driver.h"

#define USER_COLS                                                                                  \
	"id, email, password_hash, full_name, is_active, is_verified, roles, created_at, "         \
	"updated_at, password_changed_at"
#define BY_ID         " FROM users WHERE id = ?1"
#define SET_RETURNING " WHERE id = ?1 RETURNING " USER_COLS

static const struct store_sql insert_sql = {ST_USER_INSERT, "insert user",
                                            "INSERT INTO users (" USER_COLS
                                            ") VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10)"};
static const struct store_sql by_id_sql = {ST_USER_BY_ID, "read user", "SELECT " USER_COLS BY_ID};
static const struct store_sql by_email_sql = {ST_USER_BY_EMAIL, "read user",
                                              "SELECT " USER_COLS " FROM users WHERE email = ?1"};
static const struct store_sql lock_sql = {ST_USER_LOCK, "lock user", "SELECT " USER_COLS BY_ID,
                                          "SELECT " USER_COLS BY_ID " FOR UPDATE"};
static const struct store_sql exists_sql = {ST_USER_EXISTS, "look up user", "SELECT 1" BY_ID};
static const struct store_sql update_sql = {
        ST_USER_UPDATE, "update user",
        "UPDATE users SET email = ?2, password_hash = ?3, full_name = ?4, is_active = ?5, "
        "is_verified = ?6, roles = ?7, updated_at = ?8, password_changed_at = ?9 WHERE id = ?1"};
static const struct store_sql set_password_sql = {
        ST_USER_SET_PASSWORD, "set user password",
        "UPDATE users SET password_hash = ?2, password_changed_at = ?3, updated_at = "
        "?3" SET_RETURNING};
static const struct store_sql rehash_sql = {
        ST_USER_REHASH, "rehash user password",
        "UPDATE users SET password_hash = ?3 WHERE id = ?1 AND password_hash = ?2"};
static const struct store_sql set_name_sql = {
        ST_USER_SET_NAME, "set user name",
        "UPDATE users SET full_name = ?2, updated_at = ?3" SET_RETURNING};
static const struct store_sql set_flags_sql = {
        ST_USER_SET_FLAGS, "set user flags",
        "UPDATE users SET is_active = coalesce(?2, is_active), "
        "is_verified = coalesce(?3, is_verified), updated_at = ?4" SET_RETURNING};
static const struct store_sql set_roles_sql = {
        ST_USER_SET_ROLES, "set user roles",
        "UPDATE users SET roles = ?2, updated_at = ?3" SET_RETURNING};
static const struct store_sql delete_sql = {ST_USER_DELETE, "delete user", "DELETE" BY_ID};

#define USER_LIST(MATCHES, PAGE)                                                                   \
	"SELECT c.total, p.id, p.email, p.password_hash, p.full_name, p.is_active, "               \
	"p.is_verified, p.roles, p.created_at, p.updated_at, p.password_changed_at "               \
	"FROM (SELECT count(*) AS total FROM users WHERE " MATCHES ") c "                          \
	"LEFT JOIN (SELECT " USER_COLS " FROM users WHERE " MATCHES                                \
	" ORDER BY created_at, id " PAGE ") p ON true ORDER BY p.created_at, p.id"
static const struct store_sql list_sql = {
        ST_USER_LIST, "list users",
        USER_LIST("(?1 IS NULL OR lower(email) LIKE ?1 ESCAPE '\\')", "LIMIT ?2 OFFSET ?3"),
        USER_LIST("(?1::text IS NULL OR lower(email) LIKE ?1 ESCAPE E'\\\\')",
                  "LIMIT ?2::bigint OFFSET ?3::bigint")};

/* A row in USER_COLS order, from column q->base on. */
static void read_user(struct query *q, void *out)
{
	struct user *u = out;

	q_col_text(q, 0, u->id, sizeof(u->id), "users.id");
	q_col_text(q, 1, u->email, sizeof(u->email), "users.email");
	q_col_text(q, 2, u->password_hash, sizeof(u->password_hash), "users.password_hash");
	u->has_full_name = !q_col_null(q, 3);
	q_col_text(q, 3, u->full_name, sizeof(u->full_name), "users.full_name");
	u->is_active = q_col_i64(q, 4, "users.is_active") != 0;
	u->is_verified = q_col_i64(q, 5, "users.is_verified") != 0;
	q_col_text(q, 6, u->roles, sizeof(u->roles), "users.roles");
	u->created_at = q_col_i64(q, 7, "users.created_at");
	u->updated_at = q_col_i64(q, 8, "users.updated_at");
	u->password_changed_at = q_col_i64(q, 9, "users.password_changed_at");
}

/* ?1..?10 in USER_COLS order (the full update: ?1..?9, without created_at). */
static void bind_user(struct query *q, const struct user *u, bool with_created)
{
	q_text(q, u->id);
	q_text(q, u->email);
	q_text(q, u->password_hash);
	q_text(q, u->has_full_name ? u->full_name : NULL);
	q_bool(q, u->is_active);
	q_bool(q, u->is_verified);
	q_text(q, u->roles);
	if (with_created)
		q_i64(q, u->created_at);
	q_i64(q, u->updated_at);
	q_opt_time(q, u->password_changed_at);
}

enum store_rc store_user_insert(struct store_conn *c, const struct user *u)
{
	struct query q;

	CHECK("store_user_insert", c && u);
	q_open(&q, c, &insert_sql);
	bind_user(&q, u, true);
	return q_exec(&q);
}

/* One user by a text key (?1). */
static enum store_rc user_by(struct store_conn *c, const struct store_sql *sql, const char *key,
                             struct user *out)
{
	struct query q;

	memset(out, 0, sizeof(*out));
	q_open(&q, c, sql);
	q_text(&q, key);
	return q_one(&q, read_user, out);
}

enum store_rc store_user_by_id(struct store_conn *c, const char *id, struct user *out)
{
	CHECK("store_user_by_id", c && id && out);
	return user_by(c, &by_id_sql, id, out);
}

enum store_rc store_user_by_email(struct store_conn *c, const char *email, struct user *out)
{
	CHECK("store_user_by_email", c && email && out);
	return user_by(c, &by_email_sql, email, out);
}

enum store_rc store_user_lock(struct store_conn *c, const char *id, struct user *out)
{
	CHECK("store_user_lock", c && id && out);
	if (!c->drv->in_transaction(c)) {
		log_error("store: store_user_lock outside a transaction (the lock would not last)");
		return STORE_ERROR;
	}
	return user_by(c, &lock_sql, id, out);
}

/* Deprecated: writes every mutable column; use the store_user_set_* functions. */
enum store_rc store_user_update(struct store_conn *c, const struct user *u)
{
	struct query q;

	CHECK("store_user_update", c && u);
	q_open(&q, c, &update_sql);
	bind_user(&q, u, false);
	return q_change(&q);
}

/*
 * Finish a set_* UPDATE ... RETURNING: the row into out (when given),
 * NOT_FOUND when none.  Read into a scratch record first: the bound id may
 * point into *out (store_user_set_password(c, u.id, ..., &u)).
 */
static enum store_rc set_returning(struct query *q, struct user *out)
{
	struct user scratch;
	enum store_rc rc;

	memset(&scratch, 0, sizeof(scratch));
	rc = q_one(q, read_user, &scratch);
	if (rc == STORE_OK && out)
		*out = scratch;
	return rc;
}

enum store_rc store_user_set_password(struct store_conn *c, const char *id, const char *hash,
                                      int64_t now, struct user *out)
{
	struct query q;

	CHECK("store_user_set_password", c && id && hash);
	q_open(&q, c, &set_password_sql);
	q_text(&q, id);
	q_text(&q, hash);
	q_i64(&q, now);
	return set_returning(&q, out);
}

enum store_rc store_user_rehash(struct store_conn *c, const char *id, const char *old_hash,
                                const char *new_hash)
{
	struct query q;
	enum store_rc rc;

	CHECK("store_user_rehash", c && id && old_hash && new_hash);
	q_open(&q, c, &rehash_sql);
	q_text(&q, id);
	q_text(&q, old_hash);
	q_text(&q, new_hash);
	rc = q_change(&q);
	if (rc != STORE_NOT_FOUND)
		return rc;
	/* Nothing changed: the hash changed meanwhile (CONFLICT) or no such user. */
	q_open(&q, c, &exists_sql);
	q_text(&q, id);
	rc = q_one(&q, NULL, NULL);
	return rc == STORE_OK ? STORE_CONFLICT : rc;
}

enum store_rc store_user_set_name(struct store_conn *c, const char *id, const char *full_name,
                                  int64_t now, struct user *out)
{
	struct query q;

	CHECK("store_user_set_name", c && id);
	q_open(&q, c, &set_name_sql);
	q_text(&q, id);
	q_text(&q, full_name);
	q_i64(&q, now);
	return set_returning(&q, out);
}

/* -1: NULL, which keeps the column (coalesce); 0/1 set it. */
static void bind_flag(struct query *q, int v)
{
	if (v < 0)
		q_null(q);
	else
		q_bool(q, v);
}

enum store_rc store_user_set_flags(struct store_conn *c, const char *id, int is_active,
                                   int is_verified, int64_t now, struct user *out)
{
	struct query q;

	CHECK("store_user_set_flags", c && id);
	if (is_active < -1 || is_active > 1 || is_verified < -1 || is_verified > 1) {
		log_error("store: store_user_set_flags with is_active %d, is_verified %d "
		          "(each must be -1, 0 or 1)",
		          is_active, is_verified);
		return STORE_ERROR;
	}
	q_open(&q, c, &set_flags_sql);
	q_text(&q, id);
	bind_flag(&q, is_active);
	bind_flag(&q, is_verified);
	q_i64(&q, now);
	return set_returning(&q, out);
}

enum store_rc store_user_set_roles(struct store_conn *c, const char *id, const char *roles,
                                   int64_t now, struct user *out)
{
	struct query q;

	CHECK("store_user_set_roles", c && id && roles);
	q_open(&q, c, &set_roles_sql);
	q_text(&q, id);
	q_text(&q, roles);
	q_i64(&q, now);
	return set_returning(&q, out);
}

enum store_rc store_user_delete(struct store_conn *c, const char *id)
{
	struct query q;

	CHECK("store_user_delete", c && id);
	q_open(&q, c, &delete_sql);
	q_text(&q, id);
	return q_change(&q);
}

/*
 * "%" + filter with LIKE's wildcards and the escape character escaped +
 * "%", ASCII-lower-cased (stored emails are lower-case).  malloc'ed.
 */
static char *like_pattern(const char *filter)
{
	size_t len = strlen(filter), j = 0;
	char *p = xmalloc(2 * len + 3);

	p[j++] = '%';
	for (size_t i = 0; i < len; i++) {
		char ch = filter[i];
		if (ch == '%' || ch == '_' || ch == '\\')
			p[j++] = '\\';
		p[j++] = (ch >= 'A' && ch <= 'Z') ? (char)(ch - 'A' + 'a') : ch;
	}
	p[j++] = '%';
	p[j] = '\0';
	return p;
}

enum store_rc store_user_list(struct store_conn *c, int limit, int offset, const char *email_filter,
                              struct user **out, size_t *n, int64_t *total)
{
	struct query q;
	struct user *v = NULL;
	size_t len = 0, cap = 0;
	char *pattern = NULL;
	enum store_rc rc;

	CHECK("store_user_list", c && out && n && total);
	*out = NULL;
	*n = 0;
	*total = 0;
	if (limit < 0 || offset < 0) {
		log_error("store: store_user_list with limit %d, offset %d (both must be >= 0)",
		          limit, offset);
		return STORE_ERROR;
	}
	if (email_filter)
		pattern = like_pattern(email_filter);
	q_open(&q, c, &list_sql);
	q_text(&q, pattern);
	q_i64(&q, limit);
	q_i64(&q, offset);
	while (q_step(&q) == STORE_OK) {
		q.base = 0;
		*total = q_col_i64(&q, 0, "count(*)");
		q.base = 1;
		if (q_col_null(&q, 0))
			continue; /* the empty page's single row */
		v = store_grow(v, len, &cap, sizeof(*v));
		read_user(&q, &v[len++]);
	}
	rc = q_end(&q);
	free(pattern);
	if (rc != STORE_OK) {
		free(v);
		*total = 0;
		return rc;
	}
	*out = v;
	*n = len;
	return STORE_OK;
}
