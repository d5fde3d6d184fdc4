/*
 * buf.h - one growable byte buffer for building strings.
 *
 * The long-lived string builders of the tree (MIME messages, decoded .env
 * values, redacted URLs, the /metrics text) all use this one buffer; a
 * request builds its short strings in its arena instead (arena.h).
 *
 * Memory comes from the abort-on-OOM wrappers of arena.h, so no function
 * here fails: appending either succeeds or ends the process.  The contents
 * are always NUL-terminated once anything has been appended, and len never
 * counts the NUL, so the bytes may contain NULs of their own.
 *
 * Ownership: buf_take() hands the string (malloc'ed, never NULL) to the
 * caller, who frees it with free(), and leaves the buffer empty for reuse;
 * buf_free() drops whatever the buffer holds.
 */
#ifndef AUTH_BUF_H
#define AUTH_BUF_H

#include <stddef.h>

struct buf {
	char *p;    /* NULL until the first byte is reserved */
	size_t len; /* bytes in p, without the terminating NUL */
	size_t cap; /* bytes allocated at p */
};

#define BUF_INIT                                                                                   \
	{                                                                                          \
		NULL, 0, 0                                                                         \
	}

void buf_init(struct buf *b);
/* Make room for n more bytes (plus the NUL) without further allocation. */
void buf_reserve(struct buf *b, size_t n);
void buf_append(struct buf *b, const void *data, size_t n);
void buf_append_str(struct buf *b, const char *s);
void buf_append_char(struct buf *b, char c);
/* printf-style append; the output is never truncated. */
void buf_appendf(struct buf *b, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
/* The contents as a malloc'ed string ("" when empty, never NULL); b is left empty. */
char *buf_take(struct buf *b);
void buf_free(struct buf *b);

#endif
