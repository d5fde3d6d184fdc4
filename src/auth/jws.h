/*
 * jws.h - RS256 compact JWS for access tokens (RFC 7515, RFC 9068).
 *
 * Signing uses the current key of a struct keys; verification accepts
 * only alg RS256 with a kid that names the current or a previous key, and
 * checks the signature before any claim is trusted.  The verifier is
 * strict about everything it reads (segment count, base64url form,
 * duplicate JSON members, sizes) and must never crash on any input.
 */
#ifndef AUTH_JWS_H
#define AUTH_JWS_H

#include <stddef.h>
#include <stdint.h>

#include <jansson.h>

#include "auth/keys.h"

#define JWS_MAX_TOKEN 8192 /* longer tokens are rejected unread */

/*
 * Sign claims (a JSON object, serialised compactly in its insertion order)
 * under the header {"alg":"RS256","typ":"at+jwt","kid":<current kid>}.
 * Returns the compact token (malloc'ed, caller frees) or NULL on error
 * (claims not an object, token over JWS_MAX_TOKEN, library failure).
 */
char *jws_sign(const struct keys *k, json_t *claims);

/*
 * Verify token[0..len) at time `now` (Unix seconds) with `leeway` seconds
 * of clock skew allowed:
 *   - exactly three strict-base64url segments, at most JWS_MAX_TOKEN bytes;
 *   - header a JSON object without duplicate members, alg exactly "RS256",
 *     kid one of ours, typ (if present) "at+jwt", no "crit";
 *   - a valid RS256 signature by the key kid names;
 *   - claims a JSON object without duplicate members, with numeric exp >
 *     now - leeway, numeric nbf (if present) <= now + leeway, numeric iat,
 *     iss == issuer, non-empty string sub and jti, and, when audience is
 *     not NULL, aud equal to it or an array containing it.
 * Returns 0 and, if claims_out != NULL, the claims (caller json_decref's);
 * or -1 with *why (if why != NULL) a static reason for the logs.
 */
int jws_verify(const struct keys *k, const char *token, size_t len, int64_t now, int leeway,
               const char *issuer, const char *audience, json_t **claims_out, const char **why);

#endif
