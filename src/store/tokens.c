/*
 * store/tokens.c - refresh tokens and one-time tokens (e-mail verification,
 * password reset), written once over the driver (store/driver.h).  Both are
 * stored only as their HMAC, hex (CHAR(64)); PostgreSQL reads those columns
 * back ::text so that blank padding never shows.
 *
 * Spending and consuming are single UPDATE statements whose WHERE holds
 * the condition (unspent; unused, unexpired, of that purpose), so of two
 * racing callers exactly one changes the row: on SQLite the writers
 * serialise on the database lock, on PostgreSQL (READ COMMITTED) the second
 * waits for the first and re-checks the row.  A spend that changed nothing
 * then looks the token up to tell "spent already" (CONFLICT) from "no such
 * token" (NOT_FOUND).  A consume runs in an atomic section (driver
 * savepoint()), so a user id that cannot be read leaves the token unused.
 */
#include <string.h>

#include "store/driver.h"

#define REFRESH_COLS                                                                               \
	"token_hash, session_id, user_id, parent_hash, issued_at, expires_at, spent_at, "          \
	"replaced_by"
#define BY_HASH " FROM refresh_tokens WHERE token_hash = ?1"

static const struct store_sql refresh_insert_sql = {ST_REFRESH_INSERT, "insert refresh token",
                                                    "INSERT INTO refresh_tokens (" REFRESH_COLS
                                                    ") VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8)"};
static const struct store_sql refresh_by_hash_sql = {
        ST_REFRESH_BY_HASH, "read refresh token", "SELECT " REFRESH_COLS BY_HASH,
        "SELECT token_hash::text, session_id, user_id, parent_hash::text, issued_at, "
        "expires_at, spent_at, replaced_by::text" BY_HASH};
static const struct store_sql refresh_spend_sql = {
        ST_REFRESH_SPEND, "spend refresh token",
        "UPDATE refresh_tokens SET spent_at = ?3, replaced_by = ?2 "
        "WHERE token_hash = ?1 AND spent_at IS NULL"};
static const struct store_sql refresh_exists_sql = {ST_REFRESH_EXISTS, "look up refresh token",
                                                    "SELECT 1" BY_HASH};
static const struct store_sql onetime_insert_sql = {
        ST_ONETIME_INSERT, "insert one-time token",
        "INSERT INTO one_time_tokens (token_hash, user_id, purpose, created_at, expires_at, "
        "used_at) VALUES (?1, ?2, ?3, ?4, ?5, ?6)"};
static const struct store_sql onetime_consume_sql = {
        ST_ONETIME_CONSUME, "consume one-time token",
        "UPDATE one_time_tokens SET used_at = ?3 WHERE token_hash = ?1 AND purpose = ?2 "
        "AND used_at IS NULL AND expires_at > ?3 RETURNING user_id",
        "UPDATE one_time_tokens SET used_at = ?3::bigint WHERE token_hash = ?1 AND purpose = ?2 "
        "AND used_at IS NULL AND expires_at > ?3::bigint RETURNING user_id"};

/* ---- refresh tokens ---- */

static void read_refresh(struct query *q, void *out)
{
	struct refresh_token *t = out;

	q_col_text(q, 0, t->token_hash, sizeof(t->token_hash), "refresh_tokens.token_hash");
	q_col_text(q, 1, t->session_id, sizeof(t->session_id), "refresh_tokens.session_id");
	q_col_text(q, 2, t->user_id, sizeof(t->user_id), "refresh_tokens.user_id");
	q_col_text(q, 3, t->parent_hash, sizeof(t->parent_hash), "refresh_tokens.parent_hash");
	t->issued_at = q_col_i64(q, 4, "refresh_tokens.issued_at");
	t->expires_at = q_col_i64(q, 5, "refresh_tokens.expires_at");
	t->spent_at = q_col_i64(q, 6, "refresh_tokens.spent_at");
	q_col_text(q, 7, t->replaced_by, sizeof(t->replaced_by), "refresh_tokens.replaced_by");
}

enum store_rc store_refresh_insert(struct store_conn *c, const struct refresh_token *t)
{
	struct query q;

	CHECK("store_refresh_insert", c && t);
	q_open(&q, c, &refresh_insert_sql);
	q_text(&q, t->token_hash);
	q_text(&q, t->session_id);
	q_text(&q, t->user_id);
	q_opt_text(&q, t->parent_hash);
	q_i64(&q, t->issued_at);
	q_i64(&q, t->expires_at);
	q_opt_time(&q, t->spent_at);
	q_opt_text(&q, t->replaced_by);
	return q_exec(&q);
}

enum store_rc store_refresh_by_hash(struct store_conn *c, const char *hash,
                                    struct refresh_token *out)
{
	struct query q;

	CHECK("store_refresh_by_hash", c && hash && out);
	memset(out, 0, sizeof(*out));
	q_open(&q, c, &refresh_by_hash_sql);
	q_text(&q, hash);
	return q_one(&q, read_refresh, out);
}

enum store_rc store_refresh_spend(struct store_conn *c, const char *hash, const char *replaced_by,
                                  int64_t now)
{
	struct query q;
	enum store_rc rc;

	CHECK("store_refresh_spend", c && hash);
	q_open(&q, c, &refresh_spend_sql);
	q_text(&q, hash);
	q_opt_text(&q, replaced_by);
	q_i64(&q, now);
	rc = q_change(&q);
	if (rc != STORE_NOT_FOUND)
		return rc;
	/* Nothing changed: spent already (CONFLICT) or no such token (NOT_FOUND). */
	q_open(&q, c, &refresh_exists_sql);
	q_text(&q, hash);
	rc = q_one(&q, NULL, NULL);
	return rc == STORE_OK ? STORE_CONFLICT : rc;
}

/* ---- one-time tokens ---- */

enum store_rc store_onetime_insert(struct store_conn *c, const struct onetime_token *t)
{
	struct query q;

	CHECK("store_onetime_insert", c && t);
	q_open(&q, c, &onetime_insert_sql);
	q_text(&q, t->token_hash);
	q_text(&q, t->user_id);
	q_text(&q, t->purpose);
	q_i64(&q, t->created_at);
	q_i64(&q, t->expires_at);
	q_opt_time(&q, t->used_at);
	return q_exec(&q);
}

static void read_consumed(struct query *q, void *user_id)
{
	q_col_text(q, 0, user_id, STORE_ID_LEN, "one_time_tokens.user_id");
}

enum store_rc store_onetime_consume(struct store_conn *c, const char *hash, const char *purpose,
                                    int64_t now, char user_id[STORE_ID_LEN])
{
	struct query q;
	enum store_rc rc;
	bool own;

	CHECK("store_onetime_consume", c && hash && purpose && user_id);
	memset(user_id, 0, STORE_ID_LEN);
	rc = c->drv->savepoint(c, &own);
	if (rc != STORE_OK)
		return rc;
	q_open(&q, c, &onetime_consume_sql);
	q_text(&q, hash);
	q_text(&q, purpose);
	q_i64(&q, now);
	rc = c->drv->release(c, own, q_one(&q, read_consumed, user_id));
	if (rc != STORE_OK)
		user_id[0] = '\0';
	return rc;
}
