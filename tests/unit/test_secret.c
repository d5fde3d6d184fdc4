/*
 * test_secret.c - the server secret (auth/secret.c): SECRET_KEY taken as
 * configured, production refusing to run without it, and the derivation
 * from the private key pinned to a known value, so that a change that
 * would invalidate the stored tokens of existing deployments fails here.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>

#include <cmocka.h>
#include <openssl/bio.h>
#include <openssl/pem.h>

#include "auth/secret.h"

/* A fixed 2048-bit test key (PKCS#8), used nowhere else. */
static const char PINNED_PEM[] =
        "-----BEGIN PRIVATE KEY-----\n"
        "MIIEvAIBADANBgkqhkiG9w0BAQEFAASCBKYwggSiAgEAAoIBAQCZCBuszgQej6Td\n"
        "WX3iqvkYxSkvKnNonE60cOUttnvhlBBIAnWruS99m4fiRSLwZURmdffyeVVc1FHC\n"
        "0RJcBlgptvisHc4OgHrS8QpO5X4pwqkO+GPVYyU5ANsm6LVZr0O4kg/1b0xMNtPR\n"
        "35vMMkW3Pglsk1XpgMqeMQot2AhtOWDYmxGa1wQsQKL6ThiWTfUmYyXTzBZo59fF\n"
        "sWZlCm7Lek64Ugwx6D7WB7Q43MKyM0k74LT6H7TEVtdhr0SW2jhzmA98njUd9gGX\n"
        "3eBDnivqs7vl8wX01JUJpRF7sSjeMyA5vUxK3VpciRbB+NIJMP/MgFVmQk+K+bzy\n"
        "YmxzN9wzAgMBAAECggEARBsure6WOL+3IOgGNY3gBJ0ioiIjcMg34uhnpruTUKaj\n"
        "xFiL5BwrvZwtko8waIq5MVyJN/m1+vVnWevQXvJX5GDRNVCidyPJBf5OlyRdzNoc\n"
        "gVQcokhYtZDi9+MTatGsswUWYyXgb/7qsHnzDaLGEjJi4VaFIsG160dp/1MpFOqH\n"
        "NlaHjRTm2vIn1GHOxvxWoNIS0h+9gGauONkedl9zEI4VAn65o/ic5ybM1CwKlxkA\n"
        "mnU8x5v/HP4Crv+/gHbYgobsZNjWMQ/MaskMR4RjrdKgs5sD3eVEl0Bc7Uq8Y5pH\n"
        "420EZf1uyxhB54MqQQcfWKS+uQqPPG58f6e+iolP2QKBgQDIB0gEBZdVDlPU5DjZ\n"
        "e96NCr3//NDuF337HnjkqDa0zGwiMTS75AXZV2im8liKD8DSA/WKd0SQVa4/LPD8\n"
        "pTqystGCjTAWXxsa2G5VCpqwiZtxhVFKyoqpBAk04TKi/Oc4WIa/boMPe4WrghV6\n"
        "L7RQEQ/48z8wWuXXJ9HOAf35nwKBgQDD2km92NP5BVuku58G8Nb6qmgE09w9QAHN\n"
        "+2y3+/PLRP1Tae7kBkduG2HDDpleAYhL/MoBGjfUj698xNdKjHty9Uarcj/81Pkr\n"
        "TxXiwo2CDEeV3eQ0TEW0Z/A+HpU5I7BfTYFMDQ7Y0RClXUghykFt6ko6/jjucu9V\n"
        "RGoagNm87QKBgGuElm4q/zQl9mO5pOEqFu8jNgvSPg+sqvf/YiYuUPGP7BPY9SqF\n"
        "n6s6s7MBExxq6U8595LNFxqqI3Yr1wFGYy3ItpsA/zcXOf+NFIk7oPiBjv9PFOop\n"
        "wqyk0boNzmUTocmEtDFT2rjIwYn160t5NufOtBIx1eZNBbxH2BtusLCrAoGAYaHJ\n"
        "rOgQE01GeAJHrlAU+vRD0lRCsA3eWG6DrdvdlnEXz6M5QVaX+R2RSIlYjvI4nZiw\n"
        "oogNWNsf4hTGNhV93LrEtebIWyNX6u0LvfS6UiAI936bqi5zeRFvQ6g/PzK5U2jx\n"
        "kZXY1uCxaZ3svVtz7nUi9/GPM977zAfE1N1yrakCgYAboTSgMRzTHIpzTh3P9ZQg\n"
        "hIYU8uYG6zryq3UKXURsD4LxlCyCbKWgjm7C3iHAyNbPGEECW5l0phSg7qKNFH1E\n"
        "z+fvMH0MubNluIc5aWWxjrYFN0/wLPDCrl0/QbiM1DRB9hPhzu6CsFFe99+dn9O9\n"
        "XkHJsROBVQ0cxQ2HwHJgEQ==\n"
        "-----END PRIVATE KEY-----\n";

/*
 * HKDF-SHA256(key = DER of PINNED_PEM, salt "auth-service/secret-key",
 * info "auth-service SECRET_KEY derived from RSA private key v1"), as the
 * code before the move to secret.c computed it; openssl kdf agrees:
 *   openssl rsa -in k.pem -traditional -outform DER -out k.der
 *   openssl kdf -keylen 32 -kdfopt digest:SHA256
 *     -kdfopt hexkey:$(xxd -p k.der | tr -d '\n')
 *     -kdfopt salt:auth-service/secret-key
 *     -kdfopt "info:auth-service SECRET_KEY derived from RSA private key v1" HKDF
 *   (one command line).
 */
static const unsigned char PINNED_SECRET[SECRET_DERIVED_LEN] = {
        0x62, 0xdd, 0xeb, 0x0a, 0xef, 0x51, 0x58, 0xa3, 0x3d, 0x98, 0x24,
        0x7a, 0x4f, 0x2c, 0x9e, 0x64, 0x2f, 0x6e, 0x54, 0x2f, 0x59, 0xf0,
        0x88, 0x96, 0xeb, 0x31, 0x56, 0x56, 0xb3, 0xc6, 0x26, 0x68};

static EVP_PKEY *pinned_key(void)
{
	BIO *bio = BIO_new_mem_buf(PINNED_PEM, -1);
	EVP_PKEY *pk;

	assert_non_null(bio);
	pk = PEM_read_bio_PrivateKey(bio, NULL, NULL, NULL);
	BIO_free(bio);
	assert_non_null(pk);
	return pk;
}

static void cfg_init(struct config *cfg, enum app_env env)
{
	memset(cfg, 0, sizeof(*cfg));
	cfg->environment = env;
}

static void test_derive_pinned(void **state)
{
	EVP_PKEY *pk = pinned_key();
	unsigned char out[SECRET_DERIVED_LEN];

	(void)state;
	assert_int_equal(secret_derive(pk, out), 0);
	assert_memory_equal(out, PINNED_SECRET, SECRET_DERIVED_LEN);
	EVP_PKEY_free(pk);
}

/* Without SECRET_KEY every environment but production derives the secret. */
static void test_derived_outside_production(void **state)
{
	static const enum app_env envs[] = {ENV_DEVELOPMENT, ENV_TEST, ENV_STAGING};
	EVP_PKEY *pk = pinned_key();
	struct config cfg;
	struct secret s;
	char err[256];

	(void)state;
	for (size_t i = 0; i < sizeof(envs) / sizeof(envs[0]); i++) {
		cfg_init(&cfg, envs[i]);
		assert_int_equal(secret_load(&s, &cfg, pk, err, sizeof(err)), 0);
		assert_true(s.derived);
		assert_int_equal(s.len, SECRET_DERIVED_LEN);
		assert_memory_equal(s.bytes, PINNED_SECRET, SECRET_DERIVED_LEN);
		secret_free(&s);
		assert_null(s.bytes);
		assert_int_equal(s.len, 0);
	}
	/* No key to derive from: an error, not an empty secret. */
	cfg_init(&cfg, ENV_DEVELOPMENT);
	assert_int_equal(secret_load(&s, &cfg, NULL, err, sizeof(err)), -1);
	assert_non_null(strstr(err, "cannot derive"));
	assert_null(s.bytes);
	EVP_PKEY_free(pk);
}

static void test_configured(void **state)
{
	char secret[] = "a-configured-secret\0with-a-NUL-of-32-bytes+";
	EVP_PKEY *pk = pinned_key();
	struct config cfg;
	struct secret s;
	char err[256];

	(void)state;
	/* SECRET_KEY wins over the key in every environment, bytes as configured. */
	cfg_init(&cfg, ENV_PRODUCTION);
	cfg.secret_key = secret;
	cfg.secret_key_len = sizeof(secret) - 1;
	assert_int_equal(secret_load(&s, &cfg, pk, err, sizeof(err)), 0);
	assert_false(s.derived);
	assert_int_equal(s.len, sizeof(secret) - 1);
	assert_memory_equal(s.bytes, secret, s.len);
	secret_free(&s);

	/* A length of 0 with a value means "up to the NUL". */
	cfg_init(&cfg, ENV_DEVELOPMENT);
	cfg.secret_key = secret;
	assert_int_equal(secret_load(&s, &cfg, NULL, err, sizeof(err)), 0);
	assert_false(s.derived);
	assert_int_equal(s.len, strlen(secret));
	assert_memory_equal(s.bytes, secret, s.len);
	secret_free(&s);
	secret_free(&s); /* twice is harmless */
	secret_free(NULL);
	EVP_PKEY_free(pk);
}

/* Production never falls back to a derived secret. */
static void test_production_requires_secret_key(void **state)
{
	EVP_PKEY *pk = pinned_key();
	char empty[] = "";
	struct config cfg;
	struct secret s;
	char err[256];

	(void)state;
	cfg_init(&cfg, ENV_PRODUCTION);
	assert_int_equal(secret_load(&s, &cfg, pk, err, sizeof(err)), -1);
	assert_non_null(strstr(err, "SECRET_KEY is required in production"));
	assert_null(s.bytes);
	assert_false(s.derived);
	cfg.secret_key = empty; /* set but empty is unset */
	assert_int_equal(secret_load(&s, &cfg, pk, err, sizeof(err)), -1);
	assert_null(s.bytes);
	EVP_PKEY_free(pk);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
	        cmocka_unit_test(test_derive_pinned),
	        cmocka_unit_test(test_derived_outside_production),
	        cmocka_unit_test(test_configured),
	        cmocka_unit_test(test_production_requires_secret_key),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
