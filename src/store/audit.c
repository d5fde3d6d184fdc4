/*
 * store/audit.c - the audit log of security events (SPEC section 3),
 * written once over the driver (store/driver.h).  Append-only: the store
 * never reads it back.  audit_events.user_id has no foreign key, so the
 * trail outlives the users it names; the optional fields are NULL when
 * absent or empty.
 */
#include "store/driver.h"

static const struct store_sql audit_sql = {
        ST_AUDIT, "write audit event",
        "INSERT INTO audit_events (event, user_id, ip, user_agent, detail, created_at) "
        "VALUES (?1, ?2, ?3, ?4, ?5, ?6)"};

enum store_rc store_audit(struct store_conn *c, const char *event, const char *user_id,
                          const char *ip, const char *user_agent, const char *detail, int64_t now)
{
	struct query q;

	CHECK("store_audit", c && event);
	q_open(&q, c, &audit_sql);
	q_text(&q, event);
	q_opt_text(&q, user_id);
	q_opt_text(&q, ip);
	q_opt_text(&q, user_agent);
	q_opt_text(&q, detail);
	q_i64(&q, now);
	return q_exec(&q);
}
