/*
 * test_keys.c - key loading (PKCS#1, PKCS#8, base64 content), development
 * key generation, production refusal, kids (RFC 7638), JWKS with previous
 * keys, that keys_load() loads the server secret (its policy and derivation
 * are tested in test_secret.c), and `keys generate`.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>
#include <sys/stat.h>

#include <cmocka.h>
#include <jansson.h>
#include <openssl/core_names.h>
#include <openssl/param_build.h>

#include "auth/b64.h"
#include "auth/keys.h"
#include "keyfixture.h"

struct fx {
	char *dir;
	EVP_PKEY *a, *b, *c; /* 2048-bit keys */
};

static int setup(void **state)
{
	struct fx *f = calloc(1, sizeof(*f));

	f->dir = fx_tmpdir();
	f->a = fx_rsa(2048);
	f->b = fx_rsa(2048);
	f->c = fx_rsa(2048);
	*state = f;
	return 0;
}

static int teardown(void **state)
{
	struct fx *f = *state;

	fx_rm_rf(f->dir);
	free(f->dir);
	EVP_PKEY_free(f->a);
	EVP_PKEY_free(f->b);
	EVP_PKEY_free(f->c);
	free(f);
	return 0;
}

static void cfg_init(struct config *cfg, enum app_env env, char *path)
{
	memset(cfg, 0, sizeof(*cfg));
	cfg->environment = env;
	cfg->rsa_private_key_path = path;
}

static char *write_key(struct fx *f, const char *name, EVP_PKEY *pk, enum fx_format fmt)
{
	char *p = fx_path(f->dir, name);

	fx_write_pem(p, pk, fmt);
	return p;
}

/* Standard base64 with a line break every 76 characters, like base64(1). */
static char *b64_lines(const char *s)
{
	size_t n = strlen(s), enc = 4 * ((n + 2) / 3);
	unsigned char *tmp = malloc(enc + 1);
	char *out = malloc(enc + enc / 76 + 2);
	size_t i, o = 0;

	EVP_EncodeBlock(tmp, (const unsigned char *)s, (int)n);
	for (i = 0; i < enc; i++) {
		out[o++] = (char)tmp[i];
		if (i % 76 == 75)
			out[o++] = '\n';
	}
	out[o++] = '\n';
	out[o] = '\0';
	free(tmp);
	return out;
}

static void test_load_pkcs1(void **state)
{
	struct fx *f = *state;
	char *path = write_key(f, "pkcs1.pem", f->a, FX_PRIV_PKCS1);
	char *pem = fx_read(path), tp[KEYS_THUMBPRINT_LEN + 1], err[512];
	struct config cfg;
	struct keys *k;
	size_t slen = 0;

	assert_non_null(strstr(pem, "-----BEGIN RSA PRIVATE KEY-----"));
	cfg_init(&cfg, ENV_DEVELOPMENT, path);
	k = keys_load(&cfg, err, sizeof(err));
	assert_non_null(k);
	assert_int_equal(keys_thumbprint(f->a, tp), 0);
	assert_string_equal(keys_kid(k), tp);
	assert_false(keys_generated(k));
	assert_true(keys_secret_derived(k));
	assert_non_null(keys_secret(k, &slen));
	assert_int_equal(slen, 32);
	assert_int_equal(EVP_PKEY_eq(keys_private(k), f->a), 1);
	assert_ptr_equal(keys_find_public(k, tp), keys_private(k));
	assert_null(keys_find_public(k, "nope"));
	assert_null(keys_find_public(k, NULL));
	keys_free(k);
	free(pem);
	free(path);
}

/* The same key as PKCS#8 has the same kid and the same derived secret. */
static void test_load_pkcs8_same_identity(void **state)
{
	struct fx *f = *state;
	char *p1 = write_key(f, "same1.pem", f->a, FX_PRIV_PKCS1);
	char *p8 = write_key(f, "same8.pem", f->a, FX_PRIV_PKCS8);
	char *pem = fx_read(p8), err[512];
	struct config cfg;
	struct keys *k1, *k8, *kb;
	const unsigned char *s1, *s8, *sb;
	size_t l1, l8, lb;
	char *pb = write_key(f, "other.pem", f->b, FX_PRIV_PKCS8);

	assert_non_null(strstr(pem, "-----BEGIN PRIVATE KEY-----"));
	cfg_init(&cfg, ENV_DEVELOPMENT, p1);
	k1 = keys_load(&cfg, err, sizeof(err));
	cfg.rsa_private_key_path = p8;
	k8 = keys_load(&cfg, err, sizeof(err));
	cfg.rsa_private_key_path = pb;
	kb = keys_load(&cfg, err, sizeof(err));
	assert_non_null(k1);
	assert_non_null(k8);
	assert_non_null(kb);
	assert_string_equal(keys_kid(k1), keys_kid(k8));
	assert_string_not_equal(keys_kid(k1), keys_kid(kb));
	s1 = keys_secret(k1, &l1);
	s8 = keys_secret(k8, &l8);
	sb = keys_secret(kb, &lb);
	assert_int_equal(l1, l8);
	assert_memory_equal(s1, s8, l1);
	assert_memory_not_equal(s1, sb, l1); /* a different key, a different secret */
	keys_free(k1);
	keys_free(k8);
	keys_free(kb);
	free(pem);
	free(p1);
	free(p8);
	free(pb);
}

static void test_load_content(void **state)
{
	struct fx *f = *state;
	char *pem = fx_pem(f->a, FX_PRIV_PKCS1), *b64 = b64_lines(pem);
	char *missing = fx_path(f->dir, "never-created.pem"), err[512];
	char tp[KEYS_THUMBPRINT_LEN + 1], secret[] = "0123456789abcdef0123456789abcdef!";
	struct config cfg;
	struct keys *k;
	struct stat st;

	assert_int_equal(keys_thumbprint(f->a, tp), 0);
	/* Content wins over a path that does not exist, even in production. */
	cfg_init(&cfg, ENV_PRODUCTION, missing);
	cfg.secret_key = secret;
	cfg.secret_key_len = strlen(secret);
	cfg.rsa_private_key_content = b64;
	k = keys_load(&cfg, err, sizeof(err));
	assert_non_null(k);
	assert_string_equal(keys_kid(k), tp);
	assert_int_not_equal(stat(missing, &st), 0);
	keys_free(k);

	/* A raw PEM pasted instead of its base64 works too. */
	cfg.rsa_private_key_content = pem;
	k = keys_load(&cfg, err, sizeof(err));
	assert_non_null(k);
	assert_string_equal(keys_kid(k), tp);
	keys_free(k);
	free(pem);
	free(b64);
	free(missing);
}

static void test_content_bad(void **state)
{
	char err[512], notb64[] = "this is not base64!", notpem[] = "aGVsbG8gd29ybGQ=";
	struct config cfg;

	(void)state;
	cfg_init(&cfg, ENV_DEVELOPMENT, NULL);
	cfg.rsa_private_key_content = notb64;
	assert_null(keys_load(&cfg, err, sizeof(err)));
	assert_non_null(strstr(err, "RSA_PRIVATE_KEY_CONTENT"));
	assert_non_null(strstr(err, "base64"));
	cfg.rsa_private_key_content = notpem;
	err[0] = '\0';
	assert_null(keys_load(&cfg, err, sizeof(err)));
	assert_non_null(strstr(err, "RSA_PRIVATE_KEY_CONTENT"));
}

static void test_dev_generates_key(void **state)
{
	struct fx *f = *state;
	char *sub = fx_path(f->dir, "gen"), *sub2 = fx_path(f->dir, "gen/keys");
	char *path = fx_path(f->dir, "gen/keys/private.pem"), *pem, err[512], kid[64];
	struct config cfg;
	struct keys *k;
	struct stat st;

	cfg_init(&cfg, ENV_DEVELOPMENT, path);
	k = keys_load(&cfg, err, sizeof(err));
	assert_non_null(k);
	assert_true(keys_generated(k));
	assert_int_equal(EVP_PKEY_get_bits(keys_private(k)), 2048);
	assert_int_equal(stat(path, &st), 0);
	assert_true(S_ISREG(st.st_mode));
	assert_int_equal(st.st_mode & 0777, 0600);
	assert_int_equal(stat(sub, &st), 0);
	assert_int_equal(st.st_mode & 0777, 0700);
	assert_int_equal(stat(sub2, &st), 0);
	assert_int_equal(st.st_mode & 0777, 0700);
	pem = fx_read(path);
	assert_int_equal(strncmp(pem, "-----BEGIN PRIVATE KEY-----\n", 28), 0);
	free(pem);
	snprintf(kid, sizeof(kid), "%s", keys_kid(k));
	keys_free(k);

	/* Next start: the same key is loaded, not regenerated. */
	k = keys_load(&cfg, err, sizeof(err));
	assert_non_null(k);
	assert_false(keys_generated(k));
	assert_string_equal(keys_kid(k), kid);
	keys_free(k);

	/* The test environment generates too. */
	free(path);
	path = fx_path(f->dir, "gen/test.pem");
	cfg_init(&cfg, ENV_TEST, path);
	k = keys_load(&cfg, err, sizeof(err));
	assert_non_null(k);
	assert_true(keys_generated(k));
	keys_free(k);
	free(path);
	free(sub);
	free(sub2);
}

static void test_strict_envs_require_key(void **state)
{
	struct fx *f = *state;
	char *path = fx_path(f->dir, "prod/private.pem"), *dir = fx_path(f->dir, "prod");
	char err[1024], secret[] = "0123456789abcdef0123456789abcdef!";
	enum app_env envs[] = {ENV_STAGING, ENV_PRODUCTION};
	struct config cfg;
	struct stat st;
	size_t i;

	for (i = 0; i < 2; i++) {
		cfg_init(&cfg, envs[i], path);
		cfg.secret_key = secret;
		cfg.secret_key_len = strlen(secret);
		err[0] = '\0';
		assert_null(keys_load(&cfg, err, sizeof(err)));
		assert_non_null(strstr(err, "RSA_PRIVATE_KEY_PATH"));
		assert_non_null(strstr(err, "RSA_PRIVATE_KEY_CONTENT"));
		assert_non_null(strstr(err, path));
		assert_int_not_equal(stat(path, &st), 0);
		assert_int_not_equal(stat(dir, &st), 0);
	}
	cfg.rsa_private_key_path = NULL;
	assert_null(keys_load(&cfg, err, sizeof(err)));
	assert_non_null(strstr(err, "RSA_PRIVATE_KEY_PATH"));
	free(path);
	free(dir);
}

static void expect_rejected(struct fx *f, const char *name, const char *text, const char *needle)
{
	char *path = fx_path(f->dir, name), err[1024];
	struct config cfg;

	fx_write(path, text);
	cfg_init(&cfg, ENV_DEVELOPMENT, path);
	err[0] = '\0';
	assert_null(keys_load(&cfg, err, sizeof(err)));
	assert_non_null(strstr(err, "RSA_PRIVATE_KEY_PATH"));
	if (strstr(err, needle) == NULL)
		fail_msg("error \"%s\" lacks \"%s\"", err, needle);
	free(path);
}

static void test_rejects_unsuitable_keys(void **state)
{
	struct fx *f = *state;
	EVP_PKEY *small = fx_rsa(1024), *ec = EVP_EC_gen("P-256");
	char *pem;
	BIO *b;
	long n;
	char *data;

	pem = fx_pem(small, FX_PRIV_PKCS8);
	expect_rejected(f, "small.pem", pem, "1024 bits");
	free(pem);
	assert_non_null(ec);
	b = BIO_new(BIO_s_mem());
	assert_int_equal(PEM_write_bio_PrivateKey(b, ec, NULL, NULL, 0, NULL, NULL), 1);
	n = BIO_get_mem_data(b, &data);
	pem = strndup(data, (size_t)n);
	BIO_free(b);
	expect_rejected(f, "ec.pem", pem, "not RSA");
	free(pem);
	pem = fx_pem(f->a, FX_PUB_SPKI);
	expect_rejected(f, "pub-as-priv.pem", pem, "private key");
	free(pem);
	expect_rejected(f, "garbage.pem",
	                "-----BEGIN PRIVATE KEY-----\nAAAA\n-----END PRIVATE KEY-----\n",
	                "PEM private key");
	expect_rejected(f, "empty.pem", "", "PEM private key");

	/* An encrypted key is an error, never a passphrase prompt. */
	b = BIO_new(BIO_s_mem());
	assert_int_equal(
	        PEM_write_bio_PKCS8PrivateKey(b, f->a, EVP_aes_256_cbc(), "pass", 4, NULL, NULL),
	        1);
	n = BIO_get_mem_data(b, &data);
	pem = strndup(data, (size_t)n);
	BIO_free(b);
	assert_non_null(strstr(pem, "ENCRYPTED"));
	expect_rejected(f, "encrypted.pem", pem, "unencrypted");
	free(pem);
	EVP_PKEY_free(small);
	EVP_PKEY_free(ec);
}

static void test_kid_override(void **state)
{
	struct fx *f = *state;
	char *path = write_key(f, "kid.pem", f->a, FX_PRIV_PKCS8), err[512], kid[] = "key-2024-01";
	char tp[KEYS_THUMBPRINT_LEN + 1];
	struct config cfg;
	struct keys *k;

	cfg_init(&cfg, ENV_DEVELOPMENT, path);
	cfg.rsa_public_key_id = kid;
	k = keys_load(&cfg, err, sizeof(err));
	assert_non_null(k);
	assert_string_equal(keys_kid(k), "key-2024-01");
	assert_non_null(strstr(keys_jwks(k), "\"kid\":\"key-2024-01\""));
	assert_non_null(keys_find_public(k, "key-2024-01"));
	assert_int_equal(keys_thumbprint(f->a, tp), 0);
	assert_null(keys_find_public(k, tp));
	keys_free(k);
	free(path);
}

/* keys_load() loads the secret with the keys and fails when it cannot. */
static void test_keys_secret(void **state)
{
	struct fx *f = *state;
	char *path = write_key(f, "secret.pem", f->a, FX_PRIV_PKCS8), err[512];
	char secret[] = "a-configured-secret-of-at-least-32-bytes";
	const unsigned char *s;
	struct config cfg;
	struct keys *k;
	size_t n;

	cfg_init(&cfg, ENV_PRODUCTION, path);
	cfg.secret_key = secret;
	cfg.secret_key_len = strlen(secret);
	k = keys_load(&cfg, err, sizeof(err));
	assert_non_null(k);
	assert_false(keys_secret_derived(k));
	s = keys_secret(k, &n);
	assert_int_equal(n, strlen(secret));
	assert_memory_equal(s, secret, n);
	keys_free(k);

	/* Production never falls back to a derived secret. */
	cfg.secret_key = NULL;
	cfg.secret_key_len = 0;
	assert_null(keys_load(&cfg, err, sizeof(err)));
	assert_non_null(strstr(err, "SECRET_KEY"));
	free(path);
}

/* Build a public EVP_PKEY from base64url n and e. */
static EVP_PKEY *pkey_from_ne(const char *n64, const char *e64)
{
	unsigned char *n, *e;
	size_t nl, el;
	BIGNUM *bn = NULL, *be = NULL;
	OSSL_PARAM_BLD *bld = OSSL_PARAM_BLD_new();
	OSSL_PARAM *params;
	EVP_PKEY_CTX *ctx = EVP_PKEY_CTX_new_from_name(NULL, "RSA", NULL);
	EVP_PKEY *pk = NULL;

	n = b64url_decode_alloc(n64, strlen(n64), &nl);
	e = b64url_decode_alloc(e64, strlen(e64), &el);
	assert_non_null(n);
	assert_non_null(e);
	bn = BN_bin2bn(n, (int)nl, NULL);
	be = BN_bin2bn(e, (int)el, NULL);
	OSSL_PARAM_BLD_push_BN(bld, OSSL_PKEY_PARAM_RSA_N, bn);
	OSSL_PARAM_BLD_push_BN(bld, OSSL_PKEY_PARAM_RSA_E, be);
	params = OSSL_PARAM_BLD_to_param(bld);
	assert_int_equal(EVP_PKEY_fromdata_init(ctx), 1);
	assert_int_equal(EVP_PKEY_fromdata(ctx, &pk, EVP_PKEY_PUBLIC_KEY, params), 1);
	OSSL_PARAM_free(params);
	OSSL_PARAM_BLD_free(bld);
	EVP_PKEY_CTX_free(ctx);
	BN_free(bn);
	BN_free(be);
	free(n);
	free(e);
	return pk;
}

/* RFC 7638 section 3.1: the example key and its thumbprint. */
static void test_rfc7638_thumbprint(void **state)
{
	static const char n64[] =
	        "0vx7agoebGcQSuuPiLJXZptN9nndrQmbXEps2aiAFbWhM78LhWx4cbbfAAtVT86zwu1RK7aPFFxuhDR1L6"
	        "tSoc_"
	        "BJECPebWKRXjBZCiFV4n3oknjhMstn64tZ_2W-5JsGY4Hc5n9yBXArwl93lqt7_RN5w6Cf0h4QyQ5v-"
	        "65YGjQR0_"
	        "FDW2QvzqY368QQMicAtaSqzs8KJZgnYb9c7d0zgdAZHzu6qMQvRL5hajrn1n91CbOpbISD08qNLyrdkt-"
	        "bFTWhAI4vMQFh6WeZu0fM4lFd2NcRwr3XPksINHaQ-G_xBniIqbw0Ls1jF44-csFCur-"
	        "kEgU8awapJzKnqDKgw";
	char tp[KEYS_THUMBPRINT_LEN + 1];
	EVP_PKEY *pk;

	(void)state;
	pk = pkey_from_ne(n64, "AQAB");
	assert_int_equal(keys_thumbprint(pk, tp), 0);
	assert_string_equal(tp, "NzbLsXh8uDCcd-6MNwXF4W_7noWXFZAfHkxZsRGC9Xs");
	EVP_PKEY_free(pk);
	assert_int_equal(keys_thumbprint(NULL, tp), -1);
}

/* n of pk as base64url of the minimal big-endian bytes. */
static char *n_b64(EVP_PKEY *pk)
{
	BIGNUM *bn = NULL;
	unsigned char buf[1024];
	int len;

	assert_int_equal(EVP_PKEY_get_bn_param(pk, OSSL_PKEY_PARAM_RSA_N, &bn), 1);
	len = BN_bn2bin(bn, buf);
	BN_free(bn);
	assert_int_not_equal(buf[0], 0);
	return b64url_encode_alloc(buf, (size_t)len);
}

static void check_jwk(json_t *jwk, EVP_PKEY *pk, const char *kid)
{
	char *n = n_b64(pk);
	const char *key;
	json_t *v;
	size_t i = 0;
	static const char *const order[] = {"kty", "use", "alg", "kid", "n", "e"};

	assert_true(json_is_object(jwk));
	assert_int_equal(json_object_size(jwk), 6);
	json_object_foreach(jwk, key, v)
	{
		assert_string_equal(key, order[i]);
		i++;
	}
	assert_string_equal(json_string_value(json_object_get(jwk, "kty")), "RSA");
	assert_string_equal(json_string_value(json_object_get(jwk, "use")), "sig");
	assert_string_equal(json_string_value(json_object_get(jwk, "alg")), "RS256");
	assert_string_equal(json_string_value(json_object_get(jwk, "kid")), kid);
	assert_string_equal(json_string_value(json_object_get(jwk, "n")), n);
	assert_string_equal(json_string_value(json_object_get(jwk, "e")), "AQAB");
	free(n);
}

static void test_jwks_with_previous_keys(void **state)
{
	struct fx *f = *state;
	char *cur = write_key(f, "cur.pem", f->a, FX_PRIV_PKCS8);
	char *pb = write_key(f, "prev-b.pem", f->b, FX_PUB_SPKI);
	char *pc = write_key(f, "prev-c.pem", f->c, FX_PUB_PKCS1);
	char *pemc = fx_read(pc), *prev[2] = {pb, pc}, err[512];
	char ta[KEYS_THUMBPRINT_LEN + 1], tb[KEYS_THUMBPRINT_LEN + 1], tc[KEYS_THUMBPRINT_LEN + 1];
	struct config cfg;
	struct keys *k;
	json_t *doc, *arr;

	assert_non_null(strstr(pemc, "-----BEGIN RSA PUBLIC KEY-----"));
	keys_thumbprint(f->a, ta);
	keys_thumbprint(f->b, tb);
	keys_thumbprint(f->c, tc);
	cfg_init(&cfg, ENV_DEVELOPMENT, cur);
	cfg.rsa_previous_public_keys = prev;
	cfg.n_rsa_previous_public_keys = 2;
	k = keys_load(&cfg, err, sizeof(err));
	if (k == NULL)
		fail_msg("keys_load: %s", err);
	assert_memory_equal(keys_jwks(k), "{\"keys\":[{\"kty\":\"RSA\",\"use\":\"sig\",", 34);
	doc = json_loads(keys_jwks(k), 0, NULL);
	assert_non_null(doc);
	assert_int_equal(json_object_size(doc), 1);
	arr = json_object_get(doc, "keys");
	assert_int_equal(json_array_size(arr), 3);
	check_jwk(json_array_get(arr, 0), f->a, ta); /* current first */
	check_jwk(json_array_get(arr, 1), f->b, tb);
	check_jwk(json_array_get(arr, 2), f->c, tc);
	json_decref(doc);
	assert_string_equal(keys_kid(k), ta);
	assert_int_equal(EVP_PKEY_eq(keys_find_public(k, tb), f->b), 1);
	assert_int_equal(EVP_PKEY_eq(keys_find_public(k, tc), f->c), 1);
	keys_free(k);
	free(cur);
	free(pb);
	free(pc);
	free(pemc);
}

/* "path=kid": a previous key keeps the custom kid it was published under. */
static void test_previous_key_with_custom_kid(void **state)
{
	struct fx *f = *state;
	char *cur = write_key(f, "cur3.pem", f->a, FX_PRIV_PKCS8);
	char *pb = write_key(f, "prev-kid.pem", f->b, FX_PUB_SPKI);
	char item[1024], bad[1024], *prev[1] = {item}, err[512];
	struct config cfg;
	struct keys *k;
	json_t *doc, *jwk;

	snprintf(item, sizeof(item), "%s=2026-01_old.key", pb);
	cfg_init(&cfg, ENV_DEVELOPMENT, cur);
	cfg.rsa_previous_public_keys = prev;
	cfg.n_rsa_previous_public_keys = 1;
	k = keys_load(&cfg, err, sizeof(err));
	if (k == NULL)
		fail_msg("keys_load: %s", err);
	assert_int_equal(EVP_PKEY_eq(keys_find_public(k, "2026-01_old.key"), f->b), 1);
	doc = json_loads(keys_jwks(k), 0, NULL);
	jwk = json_array_get(json_object_get(doc, "keys"), 1);
	assert_string_equal(json_string_value(json_object_get(jwk, "kid")), "2026-01_old.key");
	json_decref(doc);
	keys_free(k);

	/* A kid that is not a kid is refused with the variable named. */
	snprintf(bad, sizeof(bad), "%s=no spaces", pb);
	prev[0] = bad;
	assert_null(keys_load(&cfg, err, sizeof(err)));
	assert_non_null(strstr(err, "RSA_PREVIOUS_PUBLIC_KEYS"));
	assert_non_null(strstr(err, "key id"));
	snprintf(bad, sizeof(bad), "%s=", pb);
	assert_null(keys_load(&cfg, err, sizeof(err)));
	free(cur);
	free(pb);
}

static void test_previous_key_errors(void **state)
{
	struct fx *f = *state;
	char *cur = write_key(f, "cur2.pem", f->a, FX_PRIV_PKCS8);
	char *dup = write_key(f, "dup.pem", f->a, FX_PUB_SPKI);
	char *missing = fx_path(f->dir, "missing-prev.pem"), *prev[2], err[512];
	EVP_PKEY *small = fx_rsa(1024);
	char *ps = write_key(f, "small-pub.pem", small, FX_PUB_SPKI);
	char *junk = fx_path(f->dir, "junk.pem");
	struct config cfg;
	struct keys *k;
	json_t *doc;

	cfg_init(&cfg, ENV_DEVELOPMENT, cur);
	cfg.rsa_previous_public_keys = prev;
	cfg.n_rsa_previous_public_keys = 1;

	prev[0] = missing;
	assert_null(keys_load(&cfg, err, sizeof(err)));
	assert_non_null(strstr(err, "RSA_PREVIOUS_PUBLIC_KEYS"));
	assert_non_null(strstr(err, missing));

	prev[0] = ps;
	assert_null(keys_load(&cfg, err, sizeof(err)));
	assert_non_null(strstr(err, "1024 bits"));

	fx_write(junk, "not a key\n");
	prev[0] = junk;
	assert_null(keys_load(&cfg, err, sizeof(err)));
	assert_non_null(strstr(err, "PEM public key"));

	/* The current key listed again as previous appears once. */
	prev[0] = dup;
	k = keys_load(&cfg, err, sizeof(err));
	assert_non_null(k);
	doc = json_loads(keys_jwks(k), 0, NULL);
	assert_int_equal(json_array_size(json_object_get(doc, "keys")), 1);
	json_decref(doc);
	keys_free(k);
	EVP_PKEY_free(small);
	free(cur);
	free(dup);
	free(missing);
	free(ps);
	free(junk);
}

static void test_generate_file(void **state)
{
	struct fx *f = *state;
	char *path = fx_path(f->dir, "cli/out/private.pem"), *before, *after, err[512];
	struct config cfg;
	struct keys *k;
	struct stat st;

	assert_int_equal(keys_generate_file(path, 2048, err, sizeof(err)), 0);
	assert_int_equal(stat(path, &st), 0);
	assert_int_equal(st.st_mode & 0777, 0600);
	before = fx_read(path);
	assert_int_equal(strncmp(before, "-----BEGIN PRIVATE KEY-----", 27), 0);

	/* Never overwrite. */
	assert_int_equal(keys_generate_file(path, 2048, err, sizeof(err)), -1);
	assert_non_null(strstr(err, "already exists"));
	after = fx_read(path);
	assert_string_equal(before, after);

	cfg_init(&cfg, ENV_PRODUCTION, path);
	cfg.secret_key = before; /* any 32+ bytes */
	cfg.secret_key_len = strlen(before);
	k = keys_load(&cfg, err, sizeof(err));
	assert_non_null(k);
	assert_int_equal(EVP_PKEY_get_bits(keys_private(k)), 2048);
	keys_free(k);

	assert_int_equal(keys_generate_file(path, 1024, err, sizeof(err)), -1);
	assert_non_null(strstr(err, "2048, 3072 or 4096"));
	assert_int_equal(keys_generate_file("", 2048, err, sizeof(err)), -1);
	free(before);
	free(after);
	free(path);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
	        cmocka_unit_test(test_load_pkcs1),
	        cmocka_unit_test(test_load_pkcs8_same_identity),
	        cmocka_unit_test(test_load_content),
	        cmocka_unit_test(test_content_bad),
	        cmocka_unit_test(test_dev_generates_key),
	        cmocka_unit_test(test_strict_envs_require_key),
	        cmocka_unit_test(test_rejects_unsuitable_keys),
	        cmocka_unit_test(test_kid_override),
	        cmocka_unit_test(test_keys_secret),
	        cmocka_unit_test(test_rfc7638_thumbprint),
	        cmocka_unit_test(test_jwks_with_previous_keys),
	        cmocka_unit_test(test_previous_key_with_custom_kid),
	        cmocka_unit_test(test_previous_key_errors),
	        cmocka_unit_test(test_generate_file),
	};
	return cmocka_run_group_tests(tests, setup, teardown);
}
