/*
 * store/sessions.c - the sessions table (one login: a refresh-token
 * family), written once over the driver (store/driver.h).
 *
 * Revocation is an UPDATE whose WHERE holds the condition (still active,
 * optionally owned by the given user), so "no such active session" is
 * simply no changed row: STORE_NOT_FOUND.  PostgreSQL needs the types of
 * the parameters used in `IS NULL` tests and in two places spelled out,
 * hence its own text for those statements.
 */
#include <stdlib.h>
#include <string.h>

#include "store/driver.h"

#define SESSION_COLS "id, user_id, user_agent, ip, created_at, last_used_at, expires_at, revoked_at"

static const struct store_sql insert_sql = {ST_SESSION_INSERT, "insert session",
                                            "INSERT INTO sessions (" SESSION_COLS ") "
                                            "VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8)"};
static const struct store_sql by_id_sql = {ST_SESSION_BY_ID, "read session",
                                           "SELECT " SESSION_COLS " FROM sessions WHERE id = ?1"};
static const struct store_sql list_active_sql = {
        ST_SESSION_LIST_ACTIVE, "list sessions",
        "SELECT " SESSION_COLS " FROM sessions WHERE user_id = ?1 AND revoked_at IS NULL "
        "AND expires_at > ?2 ORDER BY created_at DESC, id"};
static const struct store_sql touch_sql = {
        ST_SESSION_TOUCH, "touch session",
        "UPDATE sessions SET last_used_at = ?2 WHERE id = ?1 AND revoked_at IS NULL"};
static const struct store_sql revoke_sql = {
        ST_SESSION_REVOKE, "revoke session",
        "UPDATE sessions SET revoked_at = ?3 WHERE id = ?1 AND (?2 IS NULL OR user_id = ?2) "
        "AND revoked_at IS NULL AND expires_at > ?3",
        "UPDATE sessions SET revoked_at = ?3::bigint WHERE id = ?1 "
        "AND (?2::text IS NULL OR user_id = ?2) AND revoked_at IS NULL "
        "AND expires_at > ?3::bigint"};
static const struct store_sql revoke_all_sql = {
        ST_SESSION_REVOKE_ALL, "revoke sessions",
        "UPDATE sessions SET revoked_at = ?3 WHERE user_id = ?1 AND (?2 IS NULL OR id <> ?2) "
        "AND revoked_at IS NULL",
        "UPDATE sessions SET revoked_at = ?3 WHERE user_id = ?1 "
        "AND (?2::text IS NULL OR id <> ?2) AND revoked_at IS NULL"};

static void read_session(struct query *q, void *out)
{
	struct session *x = out;

	q_col_text(q, 0, x->id, sizeof(x->id), "sessions.id");
	q_col_text(q, 1, x->user_id, sizeof(x->user_id), "sessions.user_id");
	q_col_text(q, 2, x->user_agent, sizeof(x->user_agent), "sessions.user_agent");
	q_col_text(q, 3, x->ip, sizeof(x->ip), "sessions.ip");
	x->created_at = q_col_i64(q, 4, "sessions.created_at");
	x->last_used_at = q_col_i64(q, 5, "sessions.last_used_at");
	x->expires_at = q_col_i64(q, 6, "sessions.expires_at");
	x->revoked_at = q_col_i64(q, 7, "sessions.revoked_at");
}

enum store_rc store_session_insert(struct store_conn *c, const struct session *s)
{
	struct query q;

	CHECK("store_session_insert", c && s);
	q_open(&q, c, &insert_sql);
	q_text(&q, s->id);
	q_text(&q, s->user_id);
	q_text(&q, s->user_agent);
	q_text(&q, s->ip);
	q_i64(&q, s->created_at);
	q_i64(&q, s->last_used_at);
	q_i64(&q, s->expires_at);
	q_opt_time(&q, s->revoked_at);
	return q_exec(&q);
}

enum store_rc store_session_by_id(struct store_conn *c, const char *id, struct session *out)
{
	struct query q;

	CHECK("store_session_by_id", c && id && out);
	memset(out, 0, sizeof(*out));
	q_open(&q, c, &by_id_sql);
	q_text(&q, id);
	return q_one(&q, read_session, out);
}

enum store_rc store_session_list_active(struct store_conn *c, const char *user_id, int64_t now,
                                        struct session **out, size_t *n)
{
	struct query q;
	struct session *v = NULL;
	size_t len = 0, cap = 0;

	CHECK("store_session_list_active", c && user_id && out && n);
	*out = NULL;
	*n = 0;
	q_open(&q, c, &list_active_sql);
	q_text(&q, user_id);
	q_i64(&q, now);
	while (q_step(&q) == STORE_OK) {
		v = store_grow(v, len, &cap, sizeof(*v));
		read_session(&q, &v[len++]);
	}
	if (q_end(&q) != STORE_OK) {
		free(v);
		return q.rc;
	}
	*out = v;
	*n = len;
	return STORE_OK;
}

enum store_rc store_session_touch(struct store_conn *c, const char *id, int64_t now)
{
	struct query q;

	CHECK("store_session_touch", c && id);
	q_open(&q, c, &touch_sql);
	q_text(&q, id);
	q_i64(&q, now);
	return q_change(&q);
}

enum store_rc store_session_revoke(struct store_conn *c, const char *id, const char *user_id,
                                   int64_t now)
{
	struct query q;

	CHECK("store_session_revoke", c && id);
	q_open(&q, c, &revoke_sql);
	q_text(&q, id);
	q_text(&q, user_id);
	q_i64(&q, now);
	return q_change(&q);
}

enum store_rc store_session_revoke_all(struct store_conn *c, const char *user_id,
                                       const char *except_id, int64_t now)
{
	struct query q;

	CHECK("store_session_revoke_all", c && user_id);
	q_open(&q, c, &revoke_all_sql);
	q_text(&q, user_id);
	q_opt_text(&q, except_id);
	q_i64(&q, now);
	return q_exec(&q);
}
