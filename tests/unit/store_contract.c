/*
 * store_contract.c - the store contract tests and record helpers (see
 * store_contract.h).
 */
#include "store_contract.h"

#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

void mkid(char out[STORE_ID_LEN], int n)
{
	snprintf(out, STORE_ID_LEN, "00000000-0000-4000-8000-%012d", n);
}

void mkhash(char out[STORE_TOKHASH_LEN], int n)
{
	snprintf(out, STORE_TOKHASH_LEN, "%064x", (unsigned)n);
}

struct user mkuser(int n, const char *email, int64_t created)
{
	struct user u;

	memset(&u, 0, sizeof(u));
	mkid(u.id, n);
	snprintf(u.email, sizeof(u.email), "%s", email);
	snprintf(u.password_hash, sizeof(u.password_hash),
	         "$2b$12$abcdefghijklmnopqrstuuvwxyzABCDEFGHIJKLMNOPQRSTUVWXY%02d", n % 100);
	snprintf(u.full_name, sizeof(u.full_name), "User %d", n);
	u.has_full_name = true;
	u.is_active = true;
	u.is_verified = false;
	snprintf(u.roles, sizeof(u.roles), "user");
	u.created_at = created;
	u.updated_at = created;
	u.password_changed_at = 0;
	return u;
}

struct user add_user(struct store_conn *c, int n, const char *email)
{
	struct user u = mkuser(n, email, NOW + n);

	assert_int_equal(store_user_insert(c, &u), STORE_OK);
	return u;
}

struct session mksession(int n, const char *user_id, int64_t created, int64_t expires)
{
	struct session s;

	memset(&s, 0, sizeof(s));
	mkid(s.id, 1000 + n);
	snprintf(s.user_id, sizeof(s.user_id), "%s", user_id);
	snprintf(s.user_agent, sizeof(s.user_agent), "agent/%d", n);
	snprintf(s.ip, sizeof(s.ip), "192.0.2.%d", n);
	s.created_at = created;
	s.last_used_at = created;
	s.expires_at = expires;
	return s;
}

struct refresh_token mkrefresh(int n, const struct session *s, const char *parent)
{
	struct refresh_token t;

	memset(&t, 0, sizeof(t));
	mkhash(t.token_hash, n);
	snprintf(t.session_id, sizeof(t.session_id), "%s", s->id);
	snprintf(t.user_id, sizeof(t.user_id), "%s", s->user_id);
	snprintf(t.parent_hash, sizeof(t.parent_hash), "%s", parent ? parent : "");
	t.issued_at = NOW;
	t.expires_at = NOW + 86400;
	return t;
}

void assert_user_equal(const struct user *a, const struct user *b)
{
	assert_string_equal(a->id, b->id);
	assert_string_equal(a->email, b->email);
	assert_string_equal(a->password_hash, b->password_hash);
	assert_int_equal(a->has_full_name, b->has_full_name);
	assert_string_equal(a->full_name, b->full_name);
	assert_int_equal(a->is_active, b->is_active);
	assert_int_equal(a->is_verified, b->is_verified);
	assert_string_equal(a->roles, b->roles);
	assert_int_equal(a->created_at, b->created_at);
	assert_int_equal(a->updated_at, b->updated_at);
	assert_int_equal(a->password_changed_at, b->password_changed_at);
}

void assert_session_equal(const struct session *a, const struct session *b)
{
	assert_string_equal(a->id, b->id);
	assert_string_equal(a->user_id, b->user_id);
	assert_string_equal(a->user_agent, b->user_agent);
	assert_string_equal(a->ip, b->ip);
	assert_int_equal(a->created_at, b->created_at);
	assert_int_equal(a->last_used_at, b->last_used_at);
	assert_int_equal(a->expires_at, b->expires_at);
	assert_int_equal(a->revoked_at, b->revoked_at);
}

void assert_refresh_equal(const struct refresh_token *a, const struct refresh_token *b)
{
	assert_string_equal(a->token_hash, b->token_hash);
	assert_string_equal(a->session_id, b->session_id);
	assert_string_equal(a->user_id, b->user_id);
	assert_string_equal(a->parent_hash, b->parent_hash);
	assert_int_equal(a->issued_at, b->issued_at);
	assert_int_equal(a->expires_at, b->expires_at);
	assert_int_equal(a->spent_at, b->spent_at);
	assert_string_equal(a->replaced_by, b->replaced_by);
}

static int list_count(struct store_conn *c, const char *filter, char first[STORE_EMAIL_LEN])
{
	struct user *v = NULL;
	size_t n = 0;
	int64_t total = -1;

	assert_int_equal(store_user_list(c, 100, 0, filter, &v, &n, &total), STORE_OK);
	assert_int_equal((int64_t)n, total);
	if (first)
		snprintf(first, STORE_EMAIL_LEN, "%s", n ? v[0].email : "");
	free(v);
	return (int)n;
}

void test_release_rolls_back_open_transaction(void **state)
{
	struct contract_fx *f = *state;
	struct user u = mkuser(2, "dangling@example.org", NOW), got;
	struct store_conn *c2;

	assert_int_equal(store_begin(f->c), STORE_OK);
	assert_int_equal(store_user_insert(f->c, &u), STORE_OK);
	store_release(f->st, f->c);
	f->c = NULL;
	c2 = store_acquire(f->st);
	assert_non_null(c2);
	assert_int_equal(store_user_by_id(c2, u.id, &got), STORE_NOT_FOUND);
	/* and the write lock is free again */
	assert_int_equal(store_begin(c2), STORE_OK);
	assert_int_equal(store_commit(c2), STORE_OK);
	f->c = c2;
	assert_int_equal(contract_scalar(state, "SELECT count(*) FROM users"), 0);
}

void test_user_conflicts(void **state)
{
	struct contract_fx *f = *state;
	struct user a = add_user(f->c, 1, "dup@example.org");
	struct user b = mkuser(2, "dup@example.org", NOW), got;

	assert_int_equal(store_user_insert(f->c, &b), STORE_CONFLICT); /* same email */
	snprintf(b.email, sizeof(b.email), "DUP@Example.org");
	assert_int_equal(store_user_insert(f->c, &b), STORE_CONFLICT); /* case-insensitive too */
	b = mkuser(1, "other@example.org", NOW);
	assert_int_equal(store_user_insert(f->c, &b), STORE_CONFLICT); /* same id */
	assert_int_equal(store_user_by_email(f->c, "other@example.org", &got), STORE_NOT_FOUND);

	/* Update onto a taken email. */
	b = add_user(f->c, 3, "third@example.org");
	snprintf(b.email, sizeof(b.email), "%s", a.email);
	assert_int_equal(store_user_update(f->c, &b), STORE_CONFLICT);
	assert_int_equal(store_user_by_id(f->c, b.id, &got), STORE_OK);
	assert_string_equal(got.email, "third@example.org");
}

void test_user_not_found(void **state)
{
	struct contract_fx *f = *state;
	struct user u = mkuser(9, "ghost@example.org", NOW), got;

	memset(&got, 0x55, sizeof(got));
	assert_int_equal(store_user_by_id(f->c, u.id, &got), STORE_NOT_FOUND);
	assert_string_equal(got.id, ""); /* output cleared */
	assert_int_equal(store_user_by_email(f->c, u.email, &got), STORE_NOT_FOUND);
	assert_int_equal(store_user_update(f->c, &u), STORE_NOT_FOUND);
	assert_int_equal(store_user_delete(f->c, u.id), STORE_NOT_FOUND);
}

void test_user_update(void **state)
{
	struct contract_fx *f = *state;
	struct user u = add_user(f->c, 1, "carol@example.org"), got;
	int64_t created = u.created_at;

	snprintf(u.email, sizeof(u.email), "carol.new@example.org");
	snprintf(u.password_hash, sizeof(u.password_hash), "$2b$12$newhash");
	u.has_full_name = false;
	u.full_name[0] = '\0';
	u.is_active = false;
	u.is_verified = true;
	snprintf(u.roles, sizeof(u.roles), "user,admin");
	u.created_at = 1; /* not mutable: ignored */
	u.updated_at = NOW + 100;
	u.password_changed_at = NOW + 100;
	assert_int_equal(store_user_update(f->c, &u), STORE_OK);

	assert_int_equal(store_user_by_id(f->c, u.id, &got), STORE_OK);
	assert_string_equal(got.email, "carol.new@example.org");
	assert_string_equal(got.password_hash, "$2b$12$newhash");
	assert_false(got.has_full_name);
	assert_false(got.is_active);
	assert_true(got.is_verified);
	assert_string_equal(got.roles, "user,admin");
	assert_int_equal(got.created_at, created);
	assert_int_equal(got.updated_at, NOW + 100);
	assert_int_equal(got.password_changed_at, NOW + 100);
	assert_int_equal(store_user_by_email(f->c, "carol@example.org", &got), STORE_NOT_FOUND);
}

void test_user_delete_cascades(void **state)
{
	struct contract_fx *f = *state;
	struct user a = add_user(f->c, 1, "gone@example.org");
	struct user b = add_user(f->c, 2, "stays@example.org"), ugot;
	struct session sa = mksession(1, a.id, NOW, NOW + 1000);
	struct session sb = mksession(2, b.id, NOW, NOW + 1000), sgot;
	struct refresh_token ta = mkrefresh(1, &sa, NULL), tb = mkrefresh(2, &sb, NULL), tgot;
	struct onetime_token oa = {.created_at = NOW, .expires_at = NOW + 100};
	char uid[STORE_ID_LEN];

	assert_int_equal(store_session_insert(f->c, &sa), STORE_OK);
	assert_int_equal(store_session_insert(f->c, &sb), STORE_OK);
	assert_int_equal(store_refresh_insert(f->c, &ta), STORE_OK);
	assert_int_equal(store_refresh_insert(f->c, &tb), STORE_OK);
	mkhash(oa.token_hash, 77);
	snprintf(oa.user_id, sizeof(oa.user_id), "%s", a.id);
	snprintf(oa.purpose, sizeof(oa.purpose), ONETIME_PASSWORD_RESET);
	assert_int_equal(store_onetime_insert(f->c, &oa), STORE_OK);
	assert_int_equal(store_audit(f->c, "login_ok", a.id, "192.0.2.1", "ua", NULL, NOW),
	                 STORE_OK);

	assert_int_equal(store_user_delete(f->c, a.id), STORE_OK);
	assert_int_equal(store_user_by_id(f->c, a.id, &ugot), STORE_NOT_FOUND);
	assert_int_equal(store_session_by_id(f->c, sa.id, &sgot), STORE_NOT_FOUND);
	assert_int_equal(store_refresh_by_hash(f->c, ta.token_hash, &tgot), STORE_NOT_FOUND);
	assert_int_equal(
	        store_onetime_consume(f->c, oa.token_hash, ONETIME_PASSWORD_RESET, NOW, uid),
	        STORE_NOT_FOUND);
	assert_int_equal(contract_scalar(state, "SELECT count(*) FROM one_time_tokens"), 0);
	/* The audit trail outlives the user. */
	assert_int_equal(contract_scalar(state,
	                                 "SELECT count(*) FROM audit_events "
	                                 "WHERE user_id = '00000000-0000-4000-8000-000000000001'"),
	                 1);
	/* The other user's rows are untouched. */
	assert_int_equal(store_user_by_id(f->c, b.id, &ugot), STORE_OK);
	assert_int_equal(store_session_by_id(f->c, sb.id, &sgot), STORE_OK);
	assert_int_equal(store_refresh_by_hash(f->c, tb.token_hash, &tgot), STORE_OK);
	assert_int_equal(store_user_delete(f->c, a.id), STORE_NOT_FOUND);
}

void test_user_list_paging(void **state)
{
	struct contract_fx *f = *state;
	struct user *v = NULL;
	size_t n = 99;
	int64_t total = -1;
	struct user u;

	/* Created out of id order; 4 and 5 share a created_at (then ordered by id). */
	u = mkuser(3, "c@example.org", NOW + 10);
	assert_int_equal(store_user_insert(f->c, &u), STORE_OK);
	u = mkuser(1, "a@example.org", NOW + 20);
	assert_int_equal(store_user_insert(f->c, &u), STORE_OK);
	u = mkuser(5, "e@other.net", NOW + 30);
	assert_int_equal(store_user_insert(f->c, &u), STORE_OK);
	u = mkuser(4, "d@Example.org.test", NOW + 30);
	snprintf(u.email, sizeof(u.email), "d@example.org.test");
	assert_int_equal(store_user_insert(f->c, &u), STORE_OK);
	u = mkuser(2, "b@other.net", NOW + 40);
	assert_int_equal(store_user_insert(f->c, &u), STORE_OK);

	assert_int_equal(store_user_list(f->c, 100, 0, NULL, &v, &n, &total), STORE_OK);
	assert_int_equal(n, 5);
	assert_int_equal(total, 5);
	assert_string_equal(v[0].email, "c@example.org");
	assert_string_equal(v[1].email, "a@example.org");
	assert_string_equal(v[2].email, "d@example.org.test"); /* id ...04 before ...05 */
	assert_string_equal(v[3].email, "e@other.net");
	assert_string_equal(v[4].email, "b@other.net");
	assert_string_equal(v[0].full_name, "User 3");
	assert_int_equal(v[0].created_at, NOW + 10);
	free(v);

	assert_int_equal(store_user_list(f->c, 2, 1, NULL, &v, &n, &total), STORE_OK);
	assert_int_equal(n, 2);
	assert_int_equal(total, 5);
	assert_string_equal(v[0].email, "a@example.org");
	assert_string_equal(v[1].email, "d@example.org.test");
	free(v);

	assert_int_equal(store_user_list(f->c, 10, 50, NULL, &v, &n, &total), STORE_OK);
	assert_int_equal(n, 0);
	assert_int_equal(total, 5);
	free(v);

	assert_int_equal(store_user_list(f->c, 0, 0, NULL, &v, &n, &total), STORE_OK);
	assert_int_equal(n, 0);
	assert_int_equal(total, 5);
	free(v);

	/* Case-insensitive substring; total counts all matches, not the page. */
	assert_int_equal(store_user_list(f->c, 1, 1, "EXAMPLE.ORG", &v, &n, &total), STORE_OK);
	assert_int_equal(n, 1);
	assert_int_equal(total, 3);
	assert_string_equal(v[0].email, "a@example.org");
	free(v);

	assert_int_equal(store_user_list(f->c, 10, 0, "nobody", &v, &n, &total), STORE_OK);
	assert_int_equal(n, 0);
	assert_int_equal(total, 0);
	free(v);

	assert_int_equal(store_user_list(f->c, -1, 0, NULL, &v, &n, &total), STORE_ERROR);
	assert_int_equal(store_user_list(f->c, 1, -1, NULL, &v, &n, &total), STORE_ERROR);
}

void test_user_list_escapes_like_wildcards(void **state)
{
	struct contract_fx *f = *state;
	char first[STORE_EMAIL_LEN];

	add_user(f->c, 1, "a_b@x.io");
	add_user(f->c, 2, "axb@x.io");
	add_user(f->c, 3, "p%q@x.io");
	add_user(f->c, 4, "pzzq@x.io");
	add_user(f->c, 5, "s\\t@x.io");
	add_user(f->c, 6, "st@x.io");

	assert_int_equal(list_count(f->c, "", NULL), 6);
	assert_int_equal(list_count(f->c, "_", first), 1);
	assert_string_equal(first, "a_b@x.io");
	assert_int_equal(list_count(f->c, "A_B", first), 1);
	assert_string_equal(first, "a_b@x.io");
	assert_int_equal(list_count(f->c, "%", first), 1);
	assert_string_equal(first, "p%q@x.io");
	assert_int_equal(list_count(f->c, "p%q", NULL), 1);
	assert_int_equal(list_count(f->c, "\\", first), 1);
	assert_string_equal(first, "s\\t@x.io");
	assert_int_equal(list_count(f->c, "s\\t", NULL), 1);
	assert_int_equal(list_count(f->c, "st@", first), 1);
	assert_string_equal(first, "st@x.io");
	assert_int_equal(list_count(f->c, "'", NULL), 0);
	assert_int_equal(list_count(f->c, "@X.IO", NULL), 6);
}

void test_user_list_inside_transaction(void **state)
{
	struct contract_fx *f = *state;

	assert_int_equal(store_begin(f->c), STORE_OK);
	add_user(f->c, 1, "in-tx@example.org");
	assert_int_equal(list_count(f->c, "in-tx", NULL), 1); /* sees its own write */
	store_rollback(f->c);
	assert_int_equal(list_count(f->c, "in-tx", NULL), 0);
}

void test_missing_arguments(void **state)
{
	struct contract_fx *f = *state;
	struct user u;
	char uid[STORE_ID_LEN];

	assert_int_equal(store_user_by_id(f->c, NULL, &u), STORE_ERROR);
	assert_int_equal(store_user_by_id(NULL, "x", &u), STORE_ERROR);
	assert_int_equal(store_user_insert(f->c, NULL), STORE_ERROR);
	assert_int_equal(store_onetime_consume(f->c, NULL, "p", NOW, uid), STORE_ERROR);
	assert_int_equal(store_ping(NULL), STORE_ERROR);
	assert_null(store_acquire(NULL));
	store_release(f->st, NULL); /* no-op */
	outbox_msg_free(NULL);
}

void test_refresh_tokens(void **state)
{
	struct contract_fx *f = *state;
	struct user a = add_user(f->c, 1, "r@example.org");
	struct session s = mksession(1, a.id, NOW, NOW + 1000);
	struct refresh_token root = mkrefresh(1, &s, NULL), child, got;
	char unknown[STORE_TOKHASH_LEN];

	assert_int_equal(store_session_insert(f->c, &s), STORE_OK);
	assert_int_equal(store_refresh_insert(f->c, &root), STORE_OK);
	assert_int_equal(store_refresh_insert(f->c, &root), STORE_CONFLICT);
	child = mkrefresh(2, &s, root.token_hash);
	assert_int_equal(store_refresh_insert(f->c, &child), STORE_OK);

	memset(&got, 0x55, sizeof(got));
	assert_int_equal(store_refresh_by_hash(f->c, root.token_hash, &got), STORE_OK);
	assert_refresh_equal(&got, &root);
	assert_string_equal(got.parent_hash, "");
	assert_string_equal(got.replaced_by, "");
	assert_int_equal(got.spent_at, 0);
	assert_int_equal(store_refresh_by_hash(f->c, child.token_hash, &got), STORE_OK);
	assert_string_equal(got.parent_hash, root.token_hash);
	assert_int_equal(
	        contract_scalar(state, "SELECT min(length(token_hash)) FROM refresh_tokens"), 64);

	assert_int_equal(store_refresh_spend(f->c, root.token_hash, child.token_hash, NOW + 3),
	                 STORE_OK);
	assert_int_equal(store_refresh_by_hash(f->c, root.token_hash, &got), STORE_OK);
	assert_int_equal(got.spent_at, NOW + 3);
	assert_string_equal(got.replaced_by, child.token_hash);

	/* Second spend loses and changes nothing. */
	assert_int_equal(store_refresh_spend(f->c, root.token_hash, "other", NOW + 9),
	                 STORE_CONFLICT);
	assert_int_equal(store_refresh_by_hash(f->c, root.token_hash, &got), STORE_OK);
	assert_int_equal(got.spent_at, NOW + 3);
	assert_string_equal(got.replaced_by, child.token_hash);

	mkhash(unknown, 4242);
	assert_int_equal(store_refresh_spend(f->c, unknown, NULL, NOW), STORE_NOT_FOUND);
	assert_int_equal(store_refresh_by_hash(f->c, unknown, &got), STORE_NOT_FOUND);
	/* Spending without a successor (logout) is allowed. */
	assert_int_equal(store_refresh_spend(f->c, child.token_hash, NULL, NOW + 4), STORE_OK);
	assert_int_equal(store_refresh_by_hash(f->c, child.token_hash, &got), STORE_OK);
	assert_string_equal(got.replaced_by, "");
}

void test_outbox_lifecycle(void **state)
{
	struct contract_fx *f = *state;
	struct outbox_msg m = {0}, m2 = {0};
	int64_t pending = -1, id1, id2;

	assert_int_equal(store_outbox_pending(f->c, &pending), STORE_OK);
	assert_int_equal(pending, 0);
	assert_int_equal(store_outbox_claim(f->c, NOW, NOW + 60, &m), STORE_NOT_FOUND);

	assert_int_equal(store_outbox_add(f->c, "one@example.org", "Subject 1", "text 1",
	                                  "<p>html 1</p>", NOW),
	                 STORE_OK);
	assert_int_equal(
	        store_outbox_add(f->c, "two@example.org", "Subject 2", "text 2", NULL, NOW + 1),
	        STORE_OK);
	assert_int_equal(store_outbox_pending(f->c, &pending), STORE_OK);
	assert_int_equal(pending, 2);

	/* Not due before its time. */
	assert_int_equal(store_outbox_claim(f->c, NOW - 1, NOW + 60, &m), STORE_NOT_FOUND);

	/* Oldest first, then the next one, then none (both claimed). */
	assert_int_equal(store_outbox_claim(f->c, NOW + 1, NOW + 60, &m), STORE_OK);
	assert_string_equal(m.recipient, "one@example.org");
	assert_string_equal(m.subject, "Subject 1");
	assert_string_equal(m.body_text, "text 1");
	assert_string_equal(m.body_html, "<p>html 1</p>");
	assert_int_equal(m.created_at, NOW);
	assert_int_equal(m.attempts, 0);
	id1 = m.id;
	outbox_msg_free(&m);
	assert_null(m.recipient);

	assert_int_equal(store_outbox_claim(f->c, NOW + 1, NOW + 60, &m2), STORE_OK);
	assert_string_equal(m2.recipient, "two@example.org");
	assert_null(m2.body_html);
	id2 = m2.id;
	assert_true(id2 > id1);
	outbox_msg_free(&m2);
	assert_int_equal(store_outbox_claim(f->c, NOW + 2, NOW + 60, &m), STORE_NOT_FOUND);

	/* A claim that ran out (sender died) can be taken again. */
	assert_int_equal(store_outbox_claim(f->c, NOW + 61, NOW + 120, &m), STORE_OK);
	assert_int_equal(m.id, id1);
	outbox_msg_free(&m);

	assert_int_equal(store_outbox_sent(f->c, id1, NOW + 62), STORE_OK);
	assert_int_equal(store_outbox_pending(f->c, &pending), STORE_OK);
	assert_int_equal(pending, 1);

	/* Failure with retry: claimable again at next_attempt, attempts counted. */
	assert_int_equal(
	        store_outbox_failed(f->c, id2, "421 try later", NOW + 300, false, NOW + 63),
	        STORE_OK);
	assert_int_equal(contract_scalar(state,
	                                 "SELECT claimed_until IS NULL AND failed_at IS NULL "
	                                 "AND last_error = '421 try later' FROM email_outbox "
	                                 "WHERE id = 2"),
	                 1);
	assert_int_equal(store_outbox_claim(f->c, NOW + 299, NOW + 400, &m), STORE_NOT_FOUND);
	assert_int_equal(store_outbox_claim(f->c, NOW + 300, NOW + 400, &m), STORE_OK);
	assert_int_equal(m.id, id2);
	assert_int_equal(m.attempts, 1);
	outbox_msg_free(&m);
	assert_int_equal(store_outbox_pending(f->c, &pending), STORE_OK);
	assert_int_equal(pending, 1);

	/* Giving up: no longer pending nor claimable. */
	assert_int_equal(
	        store_outbox_failed(f->c, id2, "550 no such user", NOW + 999, true, NOW + 301),
	        STORE_OK);
	assert_int_equal(store_outbox_pending(f->c, &pending), STORE_OK);
	assert_int_equal(pending, 0);
	assert_int_equal(store_outbox_claim(f->c, NOW + 5000, NOW + 6000, &m), STORE_NOT_FOUND);
	assert_int_equal(contract_scalar(state, "SELECT failed_at FROM email_outbox WHERE id = 2"),
	                 NOW + 301);
	assert_int_equal(contract_scalar(state, "SELECT attempts FROM email_outbox WHERE id = 2"),
	                 2);

	/* Unknown ids. */
	assert_int_equal(store_outbox_sent(f->c, 999, NOW), STORE_NOT_FOUND);
	assert_int_equal(store_outbox_failed(f->c, 999, "x", NOW, false, NOW), STORE_NOT_FOUND);
}

void test_outbox_claim_inside_transaction(void **state)
{
	struct contract_fx *f = *state;
	struct outbox_msg m = {0};

	assert_int_equal(store_outbox_add(f->c, "x@example.org", "s", "t", NULL, NOW), STORE_OK);
	assert_int_equal(store_begin(f->c), STORE_OK);
	assert_int_equal(store_outbox_claim(f->c, NOW, NOW + 60, &m), STORE_OK);
	outbox_msg_free(&m);
	assert_int_equal(store_outbox_claim(f->c, NOW, NOW + 60, &m), STORE_NOT_FOUND);
	store_rollback(f->c); /* the claim goes with the transaction */
	assert_int_equal(store_outbox_claim(f->c, NOW, NOW + 60, &m), STORE_OK);
	outbox_msg_free(&m);
}

void test_transactions(void **state)
{
	struct contract_fx *f = *state;
	struct user u = mkuser(1, "tx@example.org", NOW), got;
	struct store_conn *c2;

	assert_int_equal(store_begin(f->c), STORE_OK);
	assert_int_equal(store_begin(f->c), STORE_ERROR); /* not nested */
	assert_int_equal(store_user_insert(f->c, &u), STORE_OK);
	assert_int_equal(store_user_by_id(f->c, u.id, &got), STORE_OK);
	c2 = store_acquire(f->st);
	assert_non_null(c2);
	assert_int_equal(store_user_by_id(c2, u.id, &got), STORE_NOT_FOUND); /* not committed */
	store_rollback(f->c);
	assert_int_equal(store_user_by_id(f->c, u.id, &got), STORE_NOT_FOUND);

	assert_int_equal(store_commit(f->c), STORE_ERROR); /* no transaction */
	store_rollback(f->c);                              /* harmless */

	assert_int_equal(store_begin(f->c), STORE_OK);
	assert_int_equal(store_user_insert(f->c, &u), STORE_OK);
	assert_int_equal(store_commit(f->c), STORE_OK);
	assert_int_equal(store_user_by_id(c2, u.id, &got), STORE_OK);
	store_release(f->st, c2);
}

void test_user_roundtrip(void **state)
{
	struct contract_fx *f = *state;
	struct user u = mkuser(1, "alice@example.org", NOW), got;

	u.is_verified = true;
	u.password_changed_at = NOW + 5;
	snprintf(u.roles, sizeof(u.roles), "user,admin");
	snprintf(u.full_name, sizeof(u.full_name), "Zoë O'Brien \"Ω\" \\ %%s");
	assert_int_equal(store_user_insert(f->c, &u), STORE_OK);

	assert_int_equal(store_user_by_id(f->c, u.id, &got), STORE_OK);
	assert_user_equal(&u, &got);
	memset(&got, 0x55, sizeof(got));
	assert_int_equal(store_user_by_email(f->c, "alice@example.org", &got), STORE_OK);
	assert_user_equal(&u, &got);

	u = mkuser(2, "bob@example.org", NOW);
	u.has_full_name = false;
	u.full_name[0] = '\0';
	u.is_active = false;
	assert_int_equal(store_user_insert(f->c, &u), STORE_OK);
	assert_int_equal(store_user_by_id(f->c, u.id, &got), STORE_OK);
	assert_false(got.has_full_name);
	assert_string_equal(got.full_name, "");
	assert_false(got.is_active);
	assert_int_equal(got.password_changed_at, 0);
	assert_int_equal(contract_scalar(state,
	                                 "SELECT count(*) FROM users WHERE full_name IS NULL "
	                                 "AND password_changed_at IS NULL"),
	                 1);
}

void test_audit(void **state)
{
	struct contract_fx *f = *state;

	assert_int_equal(store_audit(f->c, "login_failed", NULL, "198.51.100.7", "curl/8",
	                             "unknown email", NOW),
	                 STORE_OK);
	assert_int_equal(store_audit(f->c, "logout", "some-user", NULL, NULL, NULL, NOW + 1),
	                 STORE_OK);
	assert_int_equal(contract_scalar(state, "SELECT count(*) FROM audit_events"), 2);
	assert_int_equal(contract_scalar(state,
	                                 "SELECT count(*) FROM audit_events WHERE "
	                                 "event = 'login_failed' AND user_id IS NULL AND "
	                                 "ip = '198.51.100.7' AND user_agent = 'curl/8' AND "
	                                 "detail = 'unknown email' AND created_at = 1800000000"),
	                 1);
	assert_int_equal(contract_scalar(state,
	                                 "SELECT count(*) FROM audit_events WHERE "
	                                 "user_id = 'some-user' AND ip IS NULL AND detail IS NULL"),
	                 1);
	assert_int_equal(store_audit(f->c, NULL, NULL, NULL, NULL, NULL, NOW), STORE_ERROR);
}

void test_user_set_password(void **state)
{
	struct contract_fx *f = *state;
	struct user u = add_user(f->c, 1, "pw@example.org"), got, after;

	assert_int_equal(store_user_set_password(f->c, u.id, "$2b$12$fresh", NOW + 50, &got),
	                 STORE_OK);
	assert_string_equal(got.password_hash, "$2b$12$fresh");
	assert_int_equal(got.password_changed_at, NOW + 50);
	assert_int_equal(got.updated_at, NOW + 50);
	assert_string_equal(got.email, u.email); /* the rest as it was */
	assert_string_equal(got.full_name, u.full_name);
	assert_int_equal(got.created_at, u.created_at);
	assert_int_equal(store_user_by_id(f->c, u.id, &after), STORE_OK);
	assert_user_equal(&after, &got);
	/* out may be NULL */
	assert_int_equal(store_user_set_password(f->c, u.id, "$2b$12$again", NOW + 60, NULL),
	                 STORE_OK);
	assert_int_equal(store_user_by_id(f->c, u.id, &after), STORE_OK);
	assert_string_equal(after.password_hash, "$2b$12$again");
	assert_int_equal(after.password_changed_at, NOW + 60);
}

void test_user_rehash(void **state)
{
	struct contract_fx *f = *state;
	struct user u = add_user(f->c, 1, "rehash@example.org"), got;

	assert_int_equal(store_user_rehash(f->c, u.id, u.password_hash, "$2b$13$stronger"),
	                 STORE_OK);
	assert_int_equal(store_user_by_id(f->c, u.id, &got), STORE_OK);
	assert_string_equal(got.password_hash, "$2b$13$stronger");
	assert_int_equal(got.updated_at, u.updated_at); /* unchanged */
	assert_int_equal(got.password_changed_at, 0);

	/* A password change in between wins: the stale re-hash is refused. */
	assert_int_equal(store_user_set_password(f->c, u.id, "$2b$12$changed", NOW + 70, NULL),
	                 STORE_OK);
	assert_int_equal(store_user_rehash(f->c, u.id, "$2b$13$stronger", "$2b$13$stale"),
	                 STORE_CONFLICT);
	assert_int_equal(store_user_by_id(f->c, u.id, &got), STORE_OK);
	assert_string_equal(got.password_hash, "$2b$12$changed");
}

void test_user_set_name(void **state)
{
	struct contract_fx *f = *state;
	struct user u = add_user(f->c, 1, "name@example.org"), got, after;
	const char *name = "Zoë Ångström-Łukasiewicz 山田 🙂";

	assert_int_equal(store_user_set_name(f->c, u.id, name, NOW + 10, &got), STORE_OK);
	assert_true(got.has_full_name);
	assert_string_equal(got.full_name, name);
	assert_int_equal(got.updated_at, NOW + 10);
	assert_int_equal(store_user_by_id(f->c, u.id, &after), STORE_OK);
	assert_string_equal(after.full_name, name); /* multibyte round trip */
	assert_string_equal(after.password_hash, u.password_hash);

	assert_int_equal(store_user_set_name(f->c, u.id, NULL, NOW + 20, NULL), STORE_OK);
	assert_int_equal(store_user_by_id(f->c, u.id, &after), STORE_OK);
	assert_false(after.has_full_name);
	assert_string_equal(after.full_name, "");
	assert_int_equal(after.updated_at, NOW + 20);
	assert_int_equal(
	        contract_scalar(state, "SELECT count(*) FROM users WHERE full_name IS NULL"), 1);
}

void test_user_set_flags_and_roles(void **state)
{
	struct contract_fx *f = *state;
	struct user u = add_user(f->c, 1, "flags@example.org"), got;

	assert_true(u.is_active);
	assert_false(u.is_verified);
	assert_int_equal(store_user_set_flags(f->c, u.id, -1, 1, NOW + 1, &got), STORE_OK);
	assert_true(got.is_active); /* -1 kept it */
	assert_true(got.is_verified);
	assert_int_equal(got.updated_at, NOW + 1);
	assert_int_equal(store_user_set_flags(f->c, u.id, 0, -1, NOW + 2, &got), STORE_OK);
	assert_false(got.is_active);
	assert_true(got.is_verified);
	assert_int_equal(store_user_set_flags(f->c, u.id, 2, 0, NOW, &got), STORE_ERROR);

	/* Each write leaves the others' columns as they are. */
	assert_int_equal(store_user_set_name(f->c, u.id, "Renamed", NOW + 3, &got), STORE_OK);
	assert_false(got.is_active);
	assert_true(got.is_verified);
	assert_int_equal(store_user_set_roles(f->c, u.id, "user,admin", NOW + 4, &got), STORE_OK);
	assert_string_equal(got.roles, "user,admin");
	assert_string_equal(got.full_name, "Renamed");
	assert_false(got.is_active);
	assert_true(got.is_verified);
	assert_string_equal(got.password_hash, u.password_hash);
	assert_int_equal(got.updated_at, NOW + 4);
	assert_int_equal(store_user_set_flags(f->c, u.id, 1, -1, NOW + 5, NULL), STORE_OK);
	assert_int_equal(store_user_by_id(f->c, u.id, &got), STORE_OK);
	assert_true(got.is_active);
	assert_true(got.is_verified);
	assert_string_equal(got.roles, "user,admin");
	assert_string_equal(got.full_name, "Renamed");
	assert_int_equal(store_user_set_roles(f->c, u.id, NULL, NOW, NULL), STORE_ERROR);
}

void test_user_lock(void **state)
{
	struct contract_fx *f = *state;
	struct user u = add_user(f->c, 1, "lock@example.org"), got;
	char missing[STORE_ID_LEN];

	assert_int_equal(store_user_lock(f->c, u.id, &got), STORE_ERROR); /* no transaction */
	assert_int_equal(store_begin(f->c), STORE_OK);
	assert_int_equal(store_user_lock(f->c, u.id, &got), STORE_OK);
	assert_user_equal(&got, &u);
	mkid(missing, 99);
	assert_int_equal(store_user_lock(f->c, missing, &got), STORE_NOT_FOUND);
	/* read-decides-write */
	assert_int_equal(store_user_set_password(f->c, u.id, "$2b$12$locked", NOW + 9, NULL),
	                 STORE_OK);
	assert_int_equal(store_commit(f->c), STORE_OK);
	assert_int_equal(store_user_by_id(f->c, u.id, &got), STORE_OK);
	assert_string_equal(got.password_hash, "$2b$12$locked");
}

void test_user_column_writes_not_found(void **state)
{
	struct contract_fx *f = *state;
	struct user got;
	char id[STORE_ID_LEN];

	add_user(f->c, 1, "present@example.org");
	mkid(id, 42);
	assert_int_equal(store_user_set_password(f->c, id, "h", NOW, &got), STORE_NOT_FOUND);
	assert_int_equal(store_user_rehash(f->c, id, "old", "new"), STORE_NOT_FOUND);
	assert_int_equal(store_user_set_name(f->c, id, "x", NOW, &got), STORE_NOT_FOUND);
	assert_int_equal(store_user_set_flags(f->c, id, 1, 1, NOW, NULL), STORE_NOT_FOUND);
	assert_int_equal(store_user_set_roles(f->c, id, "user", NOW, &got), STORE_NOT_FOUND);
	assert_int_equal(contract_scalar(state, "SELECT count(*) FROM users WHERE updated_at <> "
	                                        "created_at"),
	                 0);
	assert_int_equal(store_user_set_name(NULL, id, "x", NOW, &got), STORE_ERROR);
	assert_int_equal(store_user_rehash(f->c, id, NULL, "new"), STORE_ERROR);
}
