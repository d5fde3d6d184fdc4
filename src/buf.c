/*
 * buf.c - the growable byte buffer (see buf.h).
 *
 * Capacity starts at 64 bytes and doubles, so appending n bytes one at a
 * time costs O(n) copies in all.  A size that would overflow size_t is
 * treated like an out-of-memory condition: the process aborts rather than
 * wrapping round to a small allocation.
 */
#include "buf.h"

#include <stdarg.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "arena.h"

#define BUF_MIN_CAP 64

void buf_init(struct buf *b)
{
	b->p = NULL;
	b->len = b->cap = 0;
}

void buf_reserve(struct buf *b, size_t n)
{
	size_t need, cap;

	if (n > SIZE_MAX - 1 - b->len) {
		fputs("fatal: buffer size overflow\n", stderr);
		abort();
	}
	need = b->len + n + 1;
	if (need <= b->cap)
		return;
	cap = b->cap ? b->cap : BUF_MIN_CAP;
	while (cap < need)
		cap = cap > SIZE_MAX / 2 ? need : cap * 2;
	b->p = xrealloc(b->p, cap);
	b->cap = cap;
	b->p[b->len] = '\0'; /* a fresh buffer holds "" */
}

void buf_append(struct buf *b, const void *data, size_t n)
{
	buf_reserve(b, n);
	if (n)
		memcpy(b->p + b->len, data, n);
	b->len += n;
	b->p[b->len] = '\0';
}

void buf_append_str(struct buf *b, const char *s)
{
	buf_append(b, s, strlen(s));
}

void buf_append_char(struct buf *b, char c)
{
	buf_append(b, &c, 1);
}

void buf_appendf(struct buf *b, const char *fmt, ...)
{
	va_list ap, again;
	int n;

	buf_reserve(b, 0);
	va_start(ap, fmt);
	va_copy(again, ap);
	n = vsnprintf(b->p + b->len, b->cap - b->len, fmt, ap);
	va_end(ap);
	if (n > 0 && (size_t)n >= b->cap - b->len) {
		buf_reserve(b, (size_t)n);
		n = vsnprintf(b->p + b->len, b->cap - b->len, fmt, again);
	}
	va_end(again);
	if (n > 0)
		b->len += (size_t)n;
	else
		b->p[b->len] = '\0'; /* an encoding error writes nothing */
}

char *buf_take(struct buf *b)
{
	char *s;

	buf_reserve(b, 0);
	s = b->p;
	buf_init(b);
	return s;
}

void buf_free(struct buf *b)
{
	free(b->p);
	buf_init(b);
}
