/*
 * store/query.c - the query helpers the entity files are written in (see
 * store/driver.h): a statement with a sticky error, positional binding of
 * the store's value conventions (0 / "" as NULL, booleans as 0/1), and
 * reading columns into fixed buffers without ever truncating.
 *
 * These functions only call the driver's primitives, so every rule about
 * values and records lives here once instead of once per database.
 */
#include <stdlib.h>
#include <string.h>

#include "arena.h"
#include "log.h"
#include "store/driver.h"

void q_open(struct query *q, struct store_conn *c, const struct store_sql *sql)
{
	*q = (struct query){.c = c, .sql = sql};
	q->rc = c->drv->prepare(c, sql);
	q->open = q->rc == STORE_OK;
}

void q_text(struct query *q, const char *v)
{
	int i = ++q->nbound;

	if (q->rc == STORE_OK)
		q->rc = q->c->drv->bind_text(q->c, i, v);
}

void q_opt_text(struct query *q, const char *v)
{
	q_text(q, v && v[0] ? v : NULL);
}

void q_null(struct query *q)
{
	q_text(q, NULL);
}

void q_i64(struct query *q, int64_t v)
{
	int i = ++q->nbound;

	if (q->rc == STORE_OK)
		q->rc = q->c->drv->bind_i64(q->c, i, v);
}

void q_opt_time(struct query *q, int64_t v)
{
	if (v)
		q_i64(q, v);
	else
		q_null(q);
}

void q_bool(struct query *q, bool v)
{
	q_i64(q, v ? 1 : 0);
}

enum store_rc q_step(struct query *q)
{
	bool row = false;

	if (q->rc != STORE_OK)
		return q->rc;
	q->rc = q->c->drv->step(q->c, &row);
	if (q->rc != STORE_OK)
		return q->rc; /* a failure, sticky (a foreign-key violation is NOT_FOUND too) */
	return row ? STORE_OK : STORE_NOT_FOUND;
}

bool q_col_null(struct query *q, int col)
{
	return q->rc != STORE_OK || q->c->drv->col_null(q->c, q->base + col);
}

/* The text of a non-NULL column, or NULL (q->rc set) when it cannot be read. */
static const char *col_text(struct query *q, int col, size_t *len, const char *what)
{
	const char *p = q->c->drv->col_text(q->c, q->base + col, len);

	if (!p) {
		log_error("store: %s: %s: cannot read %s (out of memory)", q->c->drv->name,
		          q->sql->name, what);
		q->rc = STORE_ERROR;
	}
	return p;
}

void q_col_text(struct query *q, int col, char *dst, size_t cap, const char *what)
{
	const char *p;
	size_t len;

	dst[0] = '\0';
	if (q_col_null(q, col) || !(p = col_text(q, col, &len, what)))
		return;
	if (len >= cap) {
		log_error(
		        "store: %s: %s holds %zu bytes, more than the %zu this record has room for",
		        q->c->drv->name, what, len, cap - 1);
		q->rc = STORE_ERROR;
		return;
	}
	memcpy(dst, p, len);
	dst[len] = '\0';
}

char *q_col_dup(struct query *q, int col, const char *what)
{
	const char *p;
	size_t len;
	char *v;

	if (q_col_null(q, col) || !(p = col_text(q, col, &len, what)))
		return NULL;
	v = xmalloc(len + 1);
	memcpy(v, p, len);
	v[len] = '\0';
	return v;
}

int64_t q_col_i64(struct query *q, int col, const char *what)
{
	int64_t v = 0;

	if (q_col_null(q, col))
		return 0;
	if (!q->c->drv->col_i64(q->c, q->base + col, &v)) {
		log_error("store: %s: %s is not an integer", q->c->drv->name, what);
		q->rc = STORE_ERROR;
		return 0;
	}
	return v;
}

enum store_rc q_end(struct query *q)
{
	if (q->open)
		q->c->drv->finish(q->c);
	q->open = false;
	return q->rc;
}

enum store_rc q_exec(struct query *q)
{
	while (q_step(q) == STORE_OK)
		;
	return q_end(q);
}

enum store_rc q_change(struct query *q)
{
	while (q_step(q) == STORE_OK)
		;
	if (q->rc == STORE_OK && q->c->drv->changes(q->c) == 0)
		q->rc = STORE_NOT_FOUND;
	return q_end(q);
}

enum store_rc q_one(struct query *q, void (*fn)(struct query *, void *), void *out)
{
	enum store_rc rc = q_step(q);

	if (rc == STORE_OK && fn)
		fn(q, out);
	if (rc == STORE_OK) {
		while (q_step(q) == STORE_OK)
			;
	}
	q_end(q);
	return q->rc != STORE_OK ? q->rc : rc;
}

void *store_grow(void *v, size_t len, size_t *cap, size_t size)
{
	if (len == *cap) {
		*cap = *cap ? 2 * *cap : 8;
		v = xrealloc(v, *cap * size);
	}
	memset((char *)v + len * size, 0, size);
	return v;
}
