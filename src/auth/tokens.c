/*
 * tokens.c - random tokens, token hashing, UUIDs and access-token claims.
 *
 * All randomness comes from RAND_bytes (OpenSSL's CSPRNG, seeded from the
 * OS); raw random bytes are wiped once encoded.
 */
#include "auth/tokens.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <openssl/crypto.h>
#include <openssl/evp.h>
#include <openssl/hmac.h>
#include <openssl/rand.h>

#include "ascii.h"
#include "auth/b64.h"
#include "auth/jws.h"
#include "auth/roles.h"
#include "log.h"

int token_random(char out[TOKEN_RANDOM_LEN + 1])
{
	unsigned char raw[32];
	int ret = -1;

	out[0] = '\0';
	if (RAND_bytes(raw, sizeof(raw)) != 1)
		goto done;
	if (b64url_encode(raw, sizeof(raw), out, TOKEN_RANDOM_LEN + 1) != TOKEN_RANDOM_LEN)
		goto done;
	ret = 0;
done:
	OPENSSL_cleanse(raw, sizeof(raw));
	return ret;
}

void token_hash(const unsigned char *secret, size_t secret_len, const char *token,
                char out[TOKEN_HASH_LEN + 1])
{
	unsigned char mac[EVP_MAX_MD_SIZE];
	unsigned int maclen = 0;
	static const unsigned char empty[1];

	if (secret_len > INT32_MAX ||
	    HMAC(EVP_sha256(), secret_len ? secret : empty, (int)secret_len,
	         (const unsigned char *)token, strlen(token), mac, &maclen) == NULL ||
	    maclen != 32) {
		log_msg(LOG_CRITICAL, NULL, "HMAC-SHA256 failed: the crypto library is unusable");
		abort();
	}
	ascii_hex_encode(mac, 32, out, false);
	OPENSSL_cleanse(mac, sizeof(mac));
}

int uuid_v4(char out[UUID_LEN + 1])
{
	unsigned char b[16];

	out[0] = '\0';
	if (RAND_bytes(b, sizeof(b)) != 1)
		return -1;
	b[6] = (unsigned char)((b[6] & 0x0f) | 0x40); /* version 4 */
	b[8] = (unsigned char)((b[8] & 0x3f) | 0x80); /* variant 10 */
	snprintf(out, UUID_LEN + 1,
	         "%02x%02x%02x%02x-%02x%02x-%02x%02x-%02x%02x-%02x%02x%02x%02x%02x%02x", b[0], b[1],
	         b[2], b[3], b[4], b[5], b[6], b[7], b[8], b[9], b[10], b[11], b[12], b[13], b[14],
	         b[15]);
	return 0;
}

char *access_token_issue(const struct keys *k, const struct config *cfg, const char *user_id,
                         const char *session_id, const char *email, bool email_verified,
                         const char *roles_csv, int64_t now, char jti_out[UUID_LEN + 1],
                         int64_t *exp_out)
{
	char jti[UUID_LEN + 1];
	json_t *claims = NULL, *roles = NULL;
	char *token = NULL;
	int64_t exp;
	int ok = 1;

	if (k == NULL || cfg == NULL || cfg->jwt_issuer == NULL || user_id == NULL ||
	    cfg->access_token_expire_minutes <= 0)
		return NULL;
	if (uuid_v4(jti) < 0)
		return NULL;
	exp = now + (int64_t)cfg->access_token_expire_minutes * 60;
	roles = roles_json(roles_csv ? roles_csv : "");
	claims = json_object();
	if (claims == NULL || roles == NULL)
		goto done;

	/* Insertion order is the serialisation order: RFC 9068's, roughly. */
	ok &= json_object_set_new(claims, "iss", json_string(cfg->jwt_issuer)) == 0;
	ok &= json_object_set_new(claims, "sub", json_string(user_id)) == 0;
	if (cfg->jwt_audience && *cfg->jwt_audience)
		ok &= json_object_set_new(claims, "aud", json_string(cfg->jwt_audience)) == 0;
	ok &= json_object_set_new(claims, "iat", json_integer((json_int_t)now)) == 0;
	ok &= json_object_set_new(claims, "nbf", json_integer((json_int_t)now)) == 0;
	ok &= json_object_set_new(claims, "exp", json_integer((json_int_t)exp)) == 0;
	ok &= json_object_set_new(claims, "jti", json_string(jti)) == 0;
	if (session_id)
		ok &= json_object_set_new(claims, "sid", json_string(session_id)) == 0;
	if (email)
		ok &= json_object_set_new(claims, "email", json_string(email)) == 0;
	ok &= json_object_set_new(claims, "email_verified", json_boolean(email_verified)) == 0;
	ok &= json_object_set(claims, "roles", roles) == 0;
	if (!ok)
		goto done;
	token = jws_sign(k, claims);
	if (token == NULL)
		goto done;
	if (jti_out)
		memcpy(jti_out, jti, sizeof(jti));
	if (exp_out)
		*exp_out = exp;
done:
	json_decref(roles);
	json_decref(claims);
	return token;
}
