/*
 * arena.h - a per-request memory arena.
 *
 * Everything a request allocates for itself (copied headers, parsed
 * parameters, strings built by handlers) comes from its arena and is
 * released at once when the request ends: no per-field frees, no leaks on
 * error paths.  Allocation never fails silently: on out-of-memory the
 * process aborts, like kore's wrappers.
 */
#ifndef AUTH_ARENA_H
#define AUTH_ARENA_H

#include <stddef.h>

struct arena;

struct arena *arena_create(void);
void arena_destroy(struct arena *a);

void *arena_alloc(struct arena *a, size_t n); /* zeroed, 16-byte aligned */
char *arena_strdup(struct arena *a, const char *s);
char *arena_strndup(struct arena *a, const char *s, size_t n);
char *arena_sprintf(struct arena *a, const char *fmt, ...) __attribute__((format(printf, 2, 3)));

/* Abort-on-OOM wrappers for long-lived allocations. */
void *xmalloc(size_t n);
void *xcalloc(size_t n, size_t size);
void *xrealloc(void *p, size_t n);
char *xstrdup(const char *s);

#endif
