/*
 * auth/secret.c - SECRET_KEY, or the secret derived from the signing key
 * (see secret.h).
 *
 * Moved out of auth/keys.c unchanged: the same HKDF labels, the same DER
 * input and the same 32-byte output, so deployments without SECRET_KEY
 * keep the secret (and the stored refresh tokens) they had.  Every buffer
 * that held secret material is wiped before it is freed.
 */
#include "auth/secret.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <openssl/core_names.h>
#include <openssl/crypto.h>
#include <openssl/err.h>
#include <openssl/kdf.h>

#include "arena.h"
#include "log.h"

/* Fixed HKDF labels: changing them changes every derived secret. */
#define SECRET_HKDF_SALT "auth-service/secret-key"
#define SECRET_HKDF_INFO "auth-service SECRET_KEY derived from RSA private key v1"

int secret_derive(EVP_PKEY *pk, unsigned char out[SECRET_DERIVED_LEN])
{
	char digest[] = "SHA256";
	char salt[] = SECRET_HKDF_SALT;
	char info[] = SECRET_HKDF_INFO;
	unsigned char *der = NULL;
	EVP_KDF *kdf = NULL;
	EVP_KDF_CTX *kctx = NULL;
	OSSL_PARAM params[5];
	int derlen, ret = -1;

	derlen = i2d_PrivateKey(pk, &der);
	if (derlen <= 0)
		goto done;
	kdf = EVP_KDF_fetch(NULL, "HKDF", NULL);
	if (kdf == NULL)
		goto done;
	kctx = EVP_KDF_CTX_new(kdf);
	if (kctx == NULL)
		goto done;
	params[0] = OSSL_PARAM_construct_utf8_string(OSSL_KDF_PARAM_DIGEST, digest, 0);
	params[1] = OSSL_PARAM_construct_octet_string(OSSL_KDF_PARAM_KEY, der, (size_t)derlen);
	params[2] = OSSL_PARAM_construct_octet_string(OSSL_KDF_PARAM_SALT, salt, strlen(salt));
	params[3] = OSSL_PARAM_construct_octet_string(OSSL_KDF_PARAM_INFO, info, strlen(info));
	params[4] = OSSL_PARAM_construct_end();
	if (EVP_KDF_derive(kctx, out, SECRET_DERIVED_LEN, params) != 1)
		goto done;
	ret = 0;
done:
	if (der)
		OPENSSL_clear_free(der, (size_t)derlen);
	EVP_KDF_CTX_free(kctx);
	EVP_KDF_free(kdf);
	ERR_clear_error();
	return ret;
}

int secret_load(struct secret *s, const struct config *cfg, EVP_PKEY *priv, char *err,
                size_t errlen)
{
	size_t len = cfg->secret_key ? cfg->secret_key_len : 0;

	memset(s, 0, sizeof(*s));
	if (cfg->secret_key && len == 0)
		len = strlen(cfg->secret_key);
	if (len > 0) {
		s->bytes = xmalloc(len);
		memcpy(s->bytes, cfg->secret_key, len);
		s->len = len;
		return 0;
	}
	if (cfg->environment == ENV_PRODUCTION) {
		if (err && errlen)
			snprintf(err, errlen, "%s",
			         "SECRET_KEY is required in production (at least 32 random "
			         "bytes, e.g. the output of: openssl rand -base64 48)");
		return -1;
	}
	s->bytes = xmalloc(SECRET_DERIVED_LEN);
	s->len = SECRET_DERIVED_LEN;
	if (priv == NULL || secret_derive(priv, s->bytes) < 0) {
		secret_free(s);
		if (err && errlen)
			snprintf(err, errlen, "%s",
			         "cannot derive the server secret from the private key");
		return -1;
	}
	s->derived = true;
	log_warning("SECRET_KEY is not set: using a secret derived from the signing key (stable "
	            "across restarts and instances); set SECRET_KEY outside development");
	return 0;
}

void secret_free(struct secret *s)
{
	if (s == NULL)
		return;
	if (s->bytes) {
		OPENSSL_cleanse(s->bytes, s->len);
		free(s->bytes);
	}
	memset(s, 0, sizeof(*s));
}
