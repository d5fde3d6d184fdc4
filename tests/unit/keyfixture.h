/*
 * keyfixture.h - helpers shared by the key/JWS/token unit tests: temporary
 * directories and RSA keys written as PEM in the various formats, all made
 * with the OpenSSL API (no shell).  Header-only, static inline.
 */
#ifndef AUTH_TEST_KEYFIXTURE_H
#define AUTH_TEST_KEYFIXTURE_H

#include <ftw.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <openssl/bio.h>
#include <openssl/encoder.h>
#include <openssl/evp.h>
#include <openssl/pem.h>

#include "tmppath.h"

static inline char *fx_tmpdir(void)
{
	char tmpl[64];
	char *d = tmp_dir(tmpl, sizeof(tmpl), "/tmp/auth-keys-test-");

	if (d == NULL) {
		perror("mkdtemp");
		abort();
	}
	return strdup(d);
}

static inline int fx_rm_one(const char *path, const struct stat *st, int flag, struct FTW *ftw)
{
	(void)st;
	(void)flag;
	(void)ftw;
	return remove(path);
}

static inline void fx_rm_rf(const char *dir)
{
	if (dir)
		nftw(dir, fx_rm_one, 16, FTW_DEPTH | FTW_PHYS);
}

static inline char *fx_path(const char *dir, const char *name)
{
	size_t n = strlen(dir) + strlen(name) + 2;
	char *p = malloc(n);

	snprintf(p, n, "%s/%s", dir, name);
	return p;
}

static inline EVP_PKEY *fx_rsa(unsigned int bits)
{
	EVP_PKEY *pk = EVP_RSA_gen(bits);

	if (pk == NULL)
		abort();
	return pk;
}

/* Encode pk to a NUL-terminated heap string with the given writer. */
enum fx_format {
	FX_PRIV_PKCS1, /* BEGIN RSA PRIVATE KEY */
	FX_PRIV_PKCS8, /* BEGIN PRIVATE KEY */
	FX_PUB_SPKI,   /* BEGIN PUBLIC KEY */
	FX_PUB_PKCS1,  /* BEGIN RSA PUBLIC KEY */
};

static inline char *fx_pem(EVP_PKEY *pk, enum fx_format f)
{
	BIO *b = BIO_new(BIO_s_mem());
	OSSL_ENCODER_CTX *ectx;
	char *data, *out;
	long n;
	int ok = 0;

	switch (f) {
	case FX_PRIV_PKCS1:
		ok = PEM_write_bio_PrivateKey_traditional(b, pk, NULL, NULL, 0, NULL, NULL);
		break;
	case FX_PRIV_PKCS8:
		ok = PEM_write_bio_PrivateKey(b, pk, NULL, NULL, 0, NULL, NULL);
		break;
	case FX_PUB_SPKI:
		ok = PEM_write_bio_PUBKEY(b, pk);
		break;
	case FX_PUB_PKCS1:
		ectx = OSSL_ENCODER_CTX_new_for_pkey(pk, EVP_PKEY_PUBLIC_KEY, "PEM",
		                                     "type-specific", NULL);
		ok = ectx && OSSL_ENCODER_to_bio(ectx, b);
		OSSL_ENCODER_CTX_free(ectx);
		break;
	}
	if (!ok)
		abort();
	n = BIO_get_mem_data(b, &data);
	out = malloc((size_t)n + 1);
	memcpy(out, data, (size_t)n);
	out[n] = '\0';
	BIO_free(b);
	return out;
}

static inline void fx_write(const char *path, const char *text)
{
	FILE *f = fopen(path, "w");

	if (f == NULL || fputs(text, f) < 0 || fclose(f) != 0)
		abort();
}

static inline void fx_write_pem(const char *path, EVP_PKEY *pk, enum fx_format f)
{
	char *pem = fx_pem(pk, f);

	fx_write(path, pem);
	free(pem);
}

static inline char *fx_read(const char *path)
{
	FILE *f = fopen(path, "r");
	char *buf;
	size_t n;

	if (f == NULL)
		return NULL;
	buf = calloc(1, 65536);
	n = fread(buf, 1, 65535, f);
	buf[n] = '\0';
	fclose(f);
	return buf;
}

#endif
