/*
 * tokens.h - minting of opaque tokens, ids and access tokens.
 *
 * Refresh, email-verification and password-reset tokens are 256 random
 * bits from the OpenSSL CSPRNG, base64url-encoded; the database only ever
 * sees token_hash(), an HMAC-SHA256 under the server secret, so a leaked
 * table yields no usable token.  Access tokens are RS256 JWS with RFC 9068
 * claims (see access_token_issue).
 */
#ifndef AUTH_TOKENS_H
#define AUTH_TOKENS_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include <jansson.h>

#include "auth/keys.h"
#include "config.h"

#define TOKEN_RANDOM_LEN 43 /* base64url of 32 bytes */
#define TOKEN_HASH_LEN   64 /* hex of HMAC-SHA256 */
#define UUID_LEN         36

/* 32 random bytes as base64url (43 chars + NUL).  Returns 0, or -1 (RNG failure). */
int token_random(char out[TOKEN_RANDOM_LEN + 1]);

/*
 * out = lowercase hex HMAC-SHA256(secret, token), 64 chars + NUL.  Aborts
 * the process if HMAC fails (a broken crypto library must not produce
 * lookup keys that collide).
 */
void token_hash(const unsigned char *secret, size_t secret_len, const char *token,
                char out[TOKEN_HASH_LEN + 1]);

/* A random (version 4, RFC 9562) UUID, lowercase, 36 chars + NUL.  0 or -1. */
int uuid_v4(char out[UUID_LEN + 1]);

/*
 * Build and sign an access token for user_id in session session_id at time
 * `now`: iss = cfg->jwt_issuer, sub, aud (only when cfg->jwt_audience is
 * set), iat = nbf = now, exp = now + access_token_expire_minutes * 60, a
 * fresh jti (copied to jti_out when not NULL), sid, email, email_verified,
 * and roles as a JSON array built from the canonical comma-separated
 * roles_csv (auth/roles.h; NULL gives []).  *exp_out (if not
 * NULL) receives exp.  Returns the token (caller frees) or NULL.
 */
char *access_token_issue(const struct keys *k, const struct config *cfg, const char *user_id,
                         const char *session_id, const char *email, bool email_verified,
                         const char *roles_csv, int64_t now, char jti_out[UUID_LEN + 1],
                         int64_t *exp_out);

#endif
