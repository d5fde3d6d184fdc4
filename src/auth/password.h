/*
 * password.h - password rules, bcrypt hashing and verification.
 *
 * Hashes are bcrypt "$2b$" (libxcrypt's crypt_r); "$2a$" and "$2y$" hashes
 * imported from other systems verify too, and password_needs_rehash()
 * tells the login path when to upgrade one.  bcrypt only reads 72 bytes,
 * so longer passwords are refused everywhere instead of being silently
 * truncated.  All functions are thread-safe; hashing and verifying cost a
 * full bcrypt computation and belong on a worker pool, never on an I/O
 * thread.
 */
#ifndef AUTH_PASSWORD_H
#define AUTH_PASSWORD_H

#include <stdbool.h>
#include <stddef.h>

#define PASSWORD_MAX_BYTES  72  /* bcrypt reads no more */
#define PASSWORD_HASH_MAX   128 /* buffer size for a hash string */
#define PASSWORD_MIN_ROUNDS 4
#define PASSWORD_MAX_ROUNDS 31

/*
 * Check pw[0..len) against the password rules: no NUL bytes, valid UTF-8
 * (no overlong forms, surrogates or code points above U+10FFFF), at most
 * PASSWORD_MAX_BYTES bytes and at least min_len code points.  Returns 0, or
 * -1 with *why (if why != NULL) set to a static message fit for a user,
 * e.g. "Password must be at least 8 characters".
 */
int password_check(const char *pw, size_t len, int min_len, const char **why);

/*
 * Hash the NUL-terminated pw with bcrypt $2b$ at cost `rounds` (4..31) and a
 * fresh 16-byte salt from the OpenSSL CSPRNG.  out receives the 60-char hash.
 * Returns 0, or -1 (bad rounds, pw longer than 72 bytes, library failure).
 */
int password_hash(const char *pw, int rounds, char out[PASSWORD_HASH_MAX]);

/*
 * Verify the NUL-terminated pw against a $2a$/$2b$/$2y$ hash; the result is
 * compared in constant time.  Returns 1 on match, 0 on mismatch (also for
 * a pw over 72 bytes, which no hash of ours can match), -1 when the hash is
 * not a well-formed bcrypt hash or the library fails.
 */
int password_verify(const char *pw, const char *hash);

/* The cost of a bcrypt hash ("$2b$12$..." -> 12), or -1 if it is not one. */
int password_hash_rounds(const char *hash);

/*
 * True when the hash should be replaced at the next successful login: its
 * cost is below `rounds`, it is not "$2b$", or it cannot be parsed.
 */
bool password_needs_rehash(const char *hash, int rounds);

/*
 * Timing equaliser for logins with an unknown email: spends exactly one
 * bcrypt verification of cost `rounds` (the same work password_verify does
 * for a real account) and returns 0.  The dummy hash it verifies against
 * is computed once per process and cost, under a mutex, so the first call
 * for a cost also pays one hash; warm it at start-up with
 * password_dummy_verify("", rounds).  Returns -1 only for bad rounds.
 */
int password_dummy_verify(const char *pw, int rounds);

#endif
