/*
 * auth/secret.h - the server secret.
 *
 * The server secret keys the HMACs under which refresh, reset and
 * verification tokens are stored (auth/tokens.c).  It is SECRET_KEY when
 * configured; otherwise, outside production, it is derived (HKDF-SHA256)
 * from the RSA private key, so that it is stable across restarts and
 * identical on every instance sharing the key.  Production refuses to
 * start without SECRET_KEY.
 *
 * The derivation is fixed: changing its labels or its input encoding
 * changes every derived secret and so invalidates every stored token of a
 * deployment that runs without SECRET_KEY.  tests/unit/test_secret.c pins
 * it to a known value.
 *
 * auth/keys.c loads the secret with the key set (keys_load) and hands it
 * out through keys_secret(); nothing else needs this header.
 */
#ifndef AUTH_SECRET_H
#define AUTH_SECRET_H

#include <stdbool.h>
#include <stddef.h>

#include <openssl/evp.h>

#include "config.h"

#define SECRET_DERIVED_LEN 32

struct secret {
	unsigned char *bytes; /* malloc'ed; wiped when freed */
	size_t len;
	bool derived; /* true: derived from the private key, SECRET_KEY unset */
};

/*
 * Fill s from cfg->secret_key (secret_key_len bytes, or up to the NUL when
 * that is 0), or, when SECRET_KEY is unset and the environment is not
 * production, derive it from priv with a warning in the log.  Returns 0,
 * or -1 with a one-line message in err (s left empty).
 */
int secret_load(struct secret *s, const struct config *cfg, EVP_PKEY *priv, char *err,
                size_t errlen);

/*
 * HKDF-SHA256 over the private key's DER encoding (i2d_PrivateKey: PKCS#1
 * RSAPrivateKey for an RSA key) with fixed salt and info.  Returns 0 or -1.
 */
int secret_derive(EVP_PKEY *pk, unsigned char out[SECRET_DERIVED_LEN]);

/* Wipe and free the secret; s is left empty.  NULL-safe. */
void secret_free(struct secret *s);

#endif
