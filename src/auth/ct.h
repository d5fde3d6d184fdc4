/*
 * ct.h - constant-time comparisons for secrets.
 *
 * Use these, never memcmp/strcmp, whenever one side is a secret or derived
 * from one (password hashes, token hashes, HMACs): the time taken must not
 * depend on where the first differing byte is.
 */
#ifndef AUTH_CT_H
#define AUTH_CT_H

#include <stdbool.h>
#include <stddef.h>

/* True when a[0..n) == b[0..n); time depends only on n. */
bool ct_equal(const void *a, const void *b, size_t n);

/*
 * True when the NUL-terminated strings are equal.  The contents are compared
 * in constant time, but the lengths are compared first and a length
 * mismatch returns early: the length of a secret leaks, its bytes do not.
 * That is acceptable for the fixed-length values compared here (bcrypt
 * output, hex HMACs).  NULL never equals anything.
 */
bool ct_streq(const char *a, const char *b);

#endif
