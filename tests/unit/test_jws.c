/*
 * test_jws.c - RS256 JWS signing and the verifier's strictness: algorithm
 * confusion (none, HS256 keyed with the public key, RS512), unknown kids,
 * tampering, time claims with leeway, issuer/audience, encoding and
 * structure errors, duplicate members, key rotation, and a mutation sweep.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>

#include <cmocka.h>
#include <jansson.h>
#include <openssl/hmac.h>
#include <openssl/rand.h>

#include "auth/b64.h"
#include "auth/jws.h"
#include "auth/keys.h"
#include "keyfixture.h"

#define NOW    ((int64_t)1700000000)
#define LEEWAY 30
#define ISS    "https://auth.example.com"
#define AUD    "api://orders"

struct fx {
	char *dir;
	EVP_PKEY *a, *b, *c;
	struct keys *k;  /* current a, previous b */
	struct keys *kc; /* an unrelated key set (c) */
	char kid_a[KEYS_THUMBPRINT_LEN + 1], kid_b[KEYS_THUMBPRINT_LEN + 1];
};

static int setup(void **state)
{
	struct fx *f = calloc(1, sizeof(*f));
	char *pa, *pb, *pc, *prev[1], err[512];
	struct config cfg;

	f->dir = fx_tmpdir();
	f->a = fx_rsa(2048);
	f->b = fx_rsa(2048);
	f->c = fx_rsa(2048);
	pa = fx_path(f->dir, "a.pem");
	pb = fx_path(f->dir, "b.pub");
	pc = fx_path(f->dir, "c.pem");
	fx_write_pem(pa, f->a, FX_PRIV_PKCS8);
	fx_write_pem(pb, f->b, FX_PUB_SPKI);
	fx_write_pem(pc, f->c, FX_PRIV_PKCS1);
	memset(&cfg, 0, sizeof(cfg));
	cfg.environment = ENV_TEST;
	cfg.rsa_private_key_path = pa;
	prev[0] = pb;
	cfg.rsa_previous_public_keys = prev;
	cfg.n_rsa_previous_public_keys = 1;
	f->k = keys_load(&cfg, err, sizeof(err));
	cfg.rsa_private_key_path = pc;
	cfg.n_rsa_previous_public_keys = 0;
	f->kc = keys_load(&cfg, err, sizeof(err));
	if (f->k == NULL || f->kc == NULL)
		return -1;
	keys_thumbprint(f->a, f->kid_a);
	keys_thumbprint(f->b, f->kid_b);
	free(pa);
	free(pb);
	free(pc);
	*state = f;
	return 0;
}

static int teardown(void **state)
{
	struct fx *f = *state;

	keys_free(f->k);
	keys_free(f->kc);
	EVP_PKEY_free(f->a);
	EVP_PKEY_free(f->b);
	EVP_PKEY_free(f->c);
	fx_rm_rf(f->dir);
	free(f->dir);
	free(f);
	return 0;
}

static json_t *claims_at(int64_t now)
{
	return json_pack("{s:s, s:s, s:s, s:I, s:I, s:I, s:s, s:s}", "iss", ISS, "sub", "user-1",
	                 "aud", AUD, "iat", (json_int_t)now, "nbf", (json_int_t)now, "exp",
	                 (json_int_t)(now + 900), "jti", "jti-1", "sid", "sid-1");
}

static char *claims_text(int64_t now)
{
	json_t *c = claims_at(now);
	char *s = json_dumps(c, JSON_COMPACT);

	json_decref(c);
	return s;
}

static char *enc(const char *s)
{
	return b64url_encode_alloc((const unsigned char *)s, strlen(s));
}

/* A token for claims_at(NOW), signed by ks. */
static char *sign_now(const struct keys *ks)
{
	json_t *c = claims_at(NOW);
	char *t = jws_sign(ks, c);

	json_decref(c);
	return t;
}

/* header.payload, then a signature made with pk/md, or an empty one. */
static char *raw_token(const char *hdr, const char *payload, EVP_PKEY *pk, const EVP_MD *md)
{
	char *h = enc(hdr), *p = enc(payload), *s = NULL, *out;
	size_t n = strlen(h) + strlen(p) + 2048;
	unsigned char sig[1024];
	size_t siglen = sizeof(sig);
	EVP_MD_CTX *mctx;

	out = malloc(n);
	snprintf(out, n, "%s.%s", h, p);
	if (pk) {
		mctx = EVP_MD_CTX_new();
		assert_int_equal(EVP_DigestSignInit(mctx, NULL, md, NULL, pk), 1);
		assert_int_equal(
		        EVP_DigestSign(mctx, sig, &siglen, (unsigned char *)out, strlen(out)), 1);
		EVP_MD_CTX_free(mctx);
		s = b64url_encode_alloc(sig, siglen);
	}
	strcat(out, ".");
	if (s)
		strcat(out, s);
	free(h);
	free(p);
	free(s);
	return out;
}

static char *hs256_token(const char *hdr, const char *payload, const char *key)
{
	char *h = enc(hdr), *p = enc(payload), *s, *out;
	size_t n = strlen(h) + strlen(p) + 64;
	unsigned char mac[32];
	unsigned int maclen = 0;

	out = malloc(n);
	snprintf(out, n, "%s.%s", h, p);
	HMAC(EVP_sha256(), key, (int)strlen(key), (unsigned char *)out, strlen(out), mac, &maclen);
	s = b64url_encode_alloc(mac, maclen);
	strcat(out, ".");
	strcat(out, s);
	free(h);
	free(p);
	free(s);
	return out;
}

static int verify_full(struct fx *f, const char *tok, size_t len, const char *aud, const char **why)
{
	return jws_verify(f->k, tok, len, NOW, LEEWAY, ISS, aud, NULL, why);
}

static void accepts(struct fx *f, const char *tok, const char *aud)
{
	const char *why = NULL;

	if (verify_full(f, tok, strlen(tok), aud, &why) != 0)
		fail_msg("rejected: %s", why);
}

static void rejects(struct fx *f, const char *tok, const char *aud, const char *want)
{
	const char *why = NULL;
	json_t *claims = (json_t *)&why; /* must be reset to NULL */

	assert_int_equal(jws_verify(f->k, tok, strlen(tok), NOW, LEEWAY, ISS, aud, &claims, &why),
	                 -1);
	assert_null(claims);
	assert_non_null(why);
	if (want && strstr(why, want) == NULL)
		fail_msg("reason \"%s\", expected \"%s\"", why, want);
}

static char *header_a(struct fx *f)
{
	static char buf[128];

	snprintf(buf, sizeof(buf), "{\"alg\":\"RS256\",\"typ\":\"at+jwt\",\"kid\":\"%s\"}",
	         f->kid_a);
	return buf;
}

static void test_round_trip(void **state)
{
	struct fx *f = *state;
	json_t *c = claims_at(NOW), *out = NULL;
	char *tok = jws_sign(f->k, c), *want_hdr, *want_payload, *dot, *text;
	unsigned char *h;
	size_t hl;
	const char *why = "x";

	assert_non_null(tok);
	assert_int_equal(jws_verify(f->k, tok, strlen(tok), NOW, LEEWAY, ISS, AUD, &out, &why), 0);
	assert_null(why);
	assert_non_null(out);
	assert_string_equal(json_string_value(json_object_get(out, "sub")), "user-1");
	assert_true(json_equal(out, c));
	json_decref(out);

	/* The header is exactly this, and the payload the compact claims. */
	dot = strchr(tok, '.');
	h = b64url_decode_alloc(tok, (size_t)(dot - tok), &hl);
	want_hdr = header_a(f);
	assert_string_equal((char *)h, want_hdr);
	free(h);
	text = claims_text(NOW);
	want_payload = enc(text);
	assert_memory_equal(dot + 1, want_payload, strlen(want_payload));
	assert_int_equal(dot[1 + strlen(want_payload)], '.');
	free(want_payload);
	free(text);

	/* Verifiable by the public key alone: a third party's view. */
	assert_int_equal(jws_verify(f->k, tok, strlen(tok), NOW, 0, ISS, NULL, NULL, NULL), 0);
	free(tok);
	json_decref(c);
}

static void test_sign_rejects_bad_input(void **state)
{
	struct fx *f = *state;
	json_t *arr = json_array(), *big = claims_at(NOW);
	char pad[9000];

	assert_null(jws_sign(f->k, NULL));
	assert_null(jws_sign(f->k, arr));
	assert_null(jws_sign(NULL, big));
	memset(pad, 'x', sizeof(pad) - 1);
	pad[sizeof(pad) - 1] = '\0';
	json_object_set_new(big, "pad", json_string(pad));
	assert_null(jws_sign(f->k, big)); /* would exceed JWS_MAX_TOKEN */
	json_decref(arr);
	json_decref(big);
}

static void test_alg_none(void **state)
{
	struct fx *f = *state;
	char *payload = claims_text(NOW), hdr[160], *tok, *good, *sig, *tok2;
	static const char *const algs[] = {"none", "None", "NONE", ""};
	size_t i;

	good = sign_now(f->k);
	sig = strrchr(good, '.') + 1;
	for (i = 0; i < 4; i++) {
		snprintf(hdr, sizeof(hdr), "{\"alg\":\"%s\",\"typ\":\"at+jwt\",\"kid\":\"%s\"}",
		         algs[i], f->kid_a);
		tok = raw_token(hdr, payload, NULL, NULL); /* "h.p." */
		rejects(f, tok, AUD, NULL);
		/* ... even carrying a real RS256 signature of something. */
		tok2 = malloc(strlen(tok) + strlen(sig) + 1);
		strcpy(tok2, tok);
		strcat(tok2, sig);
		rejects(f, tok2, AUD, "algorithm");
		free(tok);
		free(tok2);
	}
	/* No alg at all, or a non-string alg. */
	snprintf(hdr, sizeof(hdr), "{\"typ\":\"at+jwt\",\"kid\":\"%s\"}", f->kid_a);
	tok = raw_token(hdr, payload, f->a, EVP_sha256());
	rejects(f, tok, AUD, "algorithm");
	free(tok);
	snprintf(hdr, sizeof(hdr), "{\"alg\":[\"RS256\"],\"kid\":\"%s\"}", f->kid_a);
	tok = raw_token(hdr, payload, f->a, EVP_sha256());
	rejects(f, tok, AUD, "algorithm");
	free(tok);
	free(good);
	free(payload);
}

/* The classic confusion: HS256 keyed with the public key's PEM or JWKS. */
static void test_hs256_with_public_key(void **state)
{
	struct fx *f = *state;
	char *payload = claims_text(NOW), hdr[160], *tok;
	char *spki = fx_pem(f->a, FX_PUB_SPKI), *pkcs1 = fx_pem(f->a, FX_PUB_PKCS1);
	const char *secrets[] = {spki, pkcs1, keys_jwks(f->k)};
	size_t i;

	snprintf(hdr, sizeof(hdr), "{\"alg\":\"HS256\",\"typ\":\"at+jwt\",\"kid\":\"%s\"}",
	         f->kid_a);
	for (i = 0; i < 3; i++) {
		tok = hs256_token(hdr, payload, secrets[i]);
		rejects(f, tok, AUD, "algorithm");
		free(tok);
	}
	free(spki);
	free(pkcs1);
	free(payload);
}

static void test_other_rsa_algs(void **state)
{
	struct fx *f = *state;
	char *payload = claims_text(NOW), hdr[160], *tok;

	snprintf(hdr, sizeof(hdr), "{\"alg\":\"RS512\",\"typ\":\"at+jwt\",\"kid\":\"%s\"}",
	         f->kid_a);
	tok = raw_token(hdr, payload, f->a, EVP_sha512());
	rejects(f, tok, AUD, "algorithm");
	free(tok);
	snprintf(hdr, sizeof(hdr), "{\"alg\":\"RS384\",\"typ\":\"at+jwt\",\"kid\":\"%s\"}",
	         f->kid_a);
	tok = raw_token(hdr, payload, f->a, EVP_sha384());
	rejects(f, tok, AUD, "algorithm");
	free(tok);
	snprintf(hdr, sizeof(hdr), "{\"alg\":\"rs256\",\"typ\":\"at+jwt\",\"kid\":\"%s\"}",
	         f->kid_a);
	tok = raw_token(hdr, payload, f->a, EVP_sha256());
	rejects(f, tok, AUD, "algorithm");
	free(tok);
	/* RS256 header, but a SHA-512 signature: the signature check catches it. */
	tok = raw_token(header_a(f), payload, f->a, EVP_sha512());
	rejects(f, tok, AUD, "signature");
	free(tok);
	free(payload);
}

static void test_kid(void **state)
{
	struct fx *f = *state;
	json_t *c = claims_at(NOW);
	char *payload = claims_text(NOW), hdr[160], *tok;

	/* Signed by an unrelated key set: its kid is unknown here. */
	tok = jws_sign(f->kc, c);
	rejects(f, tok, AUD, "Unknown");
	assert_int_equal(jws_verify(f->kc, tok, strlen(tok), NOW, LEEWAY, ISS, AUD, NULL, NULL), 0);
	free(tok);
	/* Our kid, someone else's signature. */
	tok = raw_token(header_a(f), payload, f->c, EVP_sha256());
	rejects(f, tok, AUD, "signature");
	free(tok);
	/* Missing, empty, non-string kid. */
	tok = raw_token("{\"alg\":\"RS256\",\"typ\":\"at+jwt\"}", payload, f->a, EVP_sha256());
	rejects(f, tok, AUD, "Unknown");
	free(tok);
	tok = raw_token("{\"alg\":\"RS256\",\"typ\":\"at+jwt\",\"kid\":\"\"}", payload, f->a,
	                EVP_sha256());
	rejects(f, tok, AUD, "Unknown");
	free(tok);
	tok = raw_token("{\"alg\":\"RS256\",\"typ\":\"at+jwt\",\"kid\":7}", payload, f->a,
	                EVP_sha256());
	rejects(f, tok, AUD, "Unknown");
	free(tok);
	snprintf(hdr, sizeof(hdr), "{\"alg\":\"RS256\",\"typ\":\"at+jwt\",\"kid\":\"%s \"}",
	         f->kid_a);
	tok = raw_token(hdr, payload, f->a, EVP_sha256());
	rejects(f, tok, AUD, "Unknown");
	free(tok);
	json_decref(c);
	free(payload);
}

static void test_previous_key(void **state)
{
	struct fx *f = *state;
	char *payload = claims_text(NOW), hdr[160], *tok;

	snprintf(hdr, sizeof(hdr), "{\"alg\":\"RS256\",\"typ\":\"at+jwt\",\"kid\":\"%s\"}",
	         f->kid_b);
	tok = raw_token(hdr, payload, f->b, EVP_sha256());
	accepts(f, tok, AUD);
	free(tok);
	/* The previous key's signature under the current kid is not. */
	tok = raw_token(header_a(f), payload, f->b, EVP_sha256());
	rejects(f, tok, AUD, "signature");
	free(tok);
	/* Nor the current key's signature under the previous kid. */
	tok = raw_token(hdr, payload, f->a, EVP_sha256());
	rejects(f, tok, AUD, "signature");
	free(tok);
	free(payload);
}

static void test_tampering(void **state)
{
	struct fx *f = *state;
	json_t *c = claims_at(NOW);
	char *tok = jws_sign(f->k, c), *evil, *p, *d1, *d2, *forged;
	unsigned char *sig;
	size_t sl;
	size_t n;

	/* Replace the payload by one naming another subject. */
	json_object_set_new(c, "sub", json_string("admin"));
	evil = jws_sign(f->kc, c); /* any validly-encoded payload */
	d1 = strchr(tok, '.');
	d2 = strchr(d1 + 1, '.');
	p = strchr(evil, '.') + 1;
	n = (size_t)(d1 - tok) + 1 + (size_t)(strchr(p, '.') - p) + strlen(d2) + 1;
	forged = malloc(n);
	snprintf(forged, n, "%.*s.%.*s%s", (int)(d1 - tok), tok, (int)(strchr(p, '.') - p), p, d2);
	rejects(f, forged, AUD, "signature");
	free(forged);

	/* Flip one bit of the signature. */
	sig = b64url_decode_alloc(d2 + 1, strlen(d2 + 1), &sl);
	sig[sl / 2] ^= 0x01;
	p = b64url_encode_alloc(sig, sl);
	forged = strdup(tok);
	strcpy(forged + (d2 + 1 - tok), p);
	rejects(f, forged, AUD, "signature");
	free(p);
	/* A signature three bytes short (still canonical base64url). */
	sig[sl / 2] ^= 0x01;
	p = b64url_encode_alloc(sig, sl - 3);
	strcpy(forged + (d2 + 1 - tok), p);
	rejects(f, forged, AUD, "signature");
	free(forged);
	free(p);
	free(sig);
	free(evil);
	free(tok);
	json_decref(c);
}

static char *token_with(struct fx *f, const char *claims_json)
{
	return raw_token(header_a(f), claims_json, f->a, EVP_sha256());
}

static char *claims_times(int64_t iat, int64_t nbf, int64_t exp)
{
	static char buf[512];

	snprintf(buf, sizeof(buf),
	         "{\"iss\":\"" ISS "\",\"sub\":\"u\",\"aud\":\"" AUD "\",\"iat\":%lld,\"nbf\":%lld,"
	         "\"exp\":%lld,\"jti\":\"j\"}",
	         (long long)iat, (long long)nbf, (long long)exp);
	return buf;
}

static void test_time_claims(void **state)
{
	struct fx *f = *state;
	char *tok;

	tok = token_with(f, claims_times(NOW - 1000, NOW - 1000, NOW - 31));
	rejects(f, tok, AUD, "expired");
	free(tok);
	tok = token_with(f, claims_times(NOW - 1000, NOW - 1000, NOW - 30));
	rejects(f, tok, AUD, "expired");
	free(tok);
	tok = token_with(f, claims_times(NOW - 1000, NOW - 1000, NOW - 29)); /* within leeway */
	accepts(f, tok, AUD);
	assert_int_equal(jws_verify(f->k, tok, strlen(tok), NOW, 0, ISS, AUD, NULL, NULL), -1);
	assert_int_equal(jws_verify(f->k, tok, strlen(tok), NOW, -5, ISS, AUD, NULL, NULL), -1);
	free(tok);

	tok = token_with(f, claims_times(NOW, NOW + 31, NOW + 900));
	rejects(f, tok, AUD, "not yet valid");
	free(tok);
	tok = token_with(f, claims_times(NOW, NOW + 29, NOW + 900));
	accepts(f, tok, AUD);
	free(tok);

	/* Fractional NumericDates are numbers too. */
	tok = token_with(f, "{\"iss\":\"" ISS "\",\"sub\":\"u\",\"iat\":1700000000.5,"
	                    "\"exp\":1700000100.25,\"jti\":\"j\"}");
	accepts(f, tok, NULL);
	free(tok);
}

static void test_required_claims(void **state)
{
	struct fx *f = *state;
	static const char *const bad[] = {
	        "{\"iss\":\"" ISS "\",\"sub\":\"u\",\"iat\":1700000000,\"jti\":\"j\"}", /* no exp */
	        "{\"iss\":\"" ISS "\",\"sub\":\"u\",\"exp\":1700000900,\"jti\":\"j\"}", /* no iat */
	        "{\"iss\":\"" ISS
	        "\",\"iat\":1700000000,\"exp\":1700000900,\"jti\":\"j\"}", /* no sub */
	        "{\"iss\":\"" ISS
	        "\",\"sub\":\"u\",\"iat\":1700000000,\"exp\":1700000900}", /* no jti */
	        "{\"iss\":\"" ISS
	        "\",\"sub\":\"\",\"iat\":1700000000,\"exp\":1700000900,\"jti\":\"j\"}",
	        "{\"iss\":\"" ISS
	        "\",\"sub\":1,\"iat\":1700000000,\"exp\":1700000900,\"jti\":\"j\"}",
	        "{\"iss\":\"" ISS "\",\"sub\":\"u\",\"iat\":1700000000,\"exp\":\"1700000900\","
	        "\"jti\":\"j\"}",
	        "{\"iss\":\"" ISS "\",\"sub\":\"u\",\"iat\":1700000000,\"exp\":1700000900,"
	        "\"nbf\":\"0\",\"jti\":\"j\"}",
	        "{\"sub\":\"u\",\"iat\":1700000000,\"exp\":1700000900,\"jti\":\"j\"}", /* no iss */
	        "[1,2,3]",
	        "\"just a string\"",
	        "{\"iss\":\"" ISS "\",\"sub\":\"u\",\"iat\":1700000000,\"exp\":1700000900,"
	        "\"jti\":\"j\",\"sub\":\"admin\"}",   /* duplicate member */
	        "{\"iss\":\"" ISS "\",\"sub\":\"u\"", /* truncated JSON */
	        "{\"iss\":\"" ISS "\",\"sub\":\"u\",\"iat\":1700000000,\"exp\":1700000900,"
	        "\"jti\":\"j\"} trailing",
	};
	size_t i;
	char *tok;

	for (i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		tok = token_with(f, bad[i]);
		rejects(f, tok, NULL, NULL);
		free(tok);
	}
	/* The same shape with everything present passes (so the above can fail). */
	tok = token_with(f, "{\"iss\":\"" ISS "\",\"sub\":\"u\",\"iat\":1700000000,"
	                    "\"exp\":1700000900,\"jti\":\"j\"}");
	accepts(f, tok, NULL);
	free(tok);
}

static void test_issuer(void **state)
{
	struct fx *f = *state;
	char *tok = sign_now(f->k);
	const char *why;

	assert_int_equal(jws_verify(f->k, tok, strlen(tok), NOW, LEEWAY, "https://evil.example.com",
	                            AUD, NULL, &why),
	                 -1);
	assert_non_null(strstr(why, "issuer"));
	assert_int_equal(jws_verify(f->k, tok, strlen(tok), NOW, LEEWAY, ISS "/", AUD, NULL, &why),
	                 -1);
	assert_int_equal(jws_verify(f->k, tok, strlen(tok), NOW, LEEWAY, NULL, AUD, NULL, &why),
	                 -1);
	free(tok);
}

static void test_audience(void **state)
{
	struct fx *f = *state;
	char *tok = sign_now(f->k);
	const char *base = "{\"iss\":\"" ISS "\",\"sub\":\"u\",\"iat\":1700000000,"
	                   "\"exp\":1700000900,\"jti\":\"j\"";
	char buf[512];

	rejects(f, tok, "api://other", "audience");
	accepts(f, tok, AUD);
	accepts(f, tok, NULL); /* aud present, none required: fine */
	free(tok);

	snprintf(buf, sizeof(buf), "%s,\"aud\":[\"x\",\"" AUD "\"]}", base);
	tok = token_with(f, buf);
	accepts(f, tok, AUD);
	rejects(f, tok, "y", "audience");
	free(tok);
	snprintf(buf, sizeof(buf), "%s,\"aud\":[]}", base);
	tok = token_with(f, buf);
	rejects(f, tok, AUD, "audience");
	free(tok);
	snprintf(buf, sizeof(buf), "%s,\"aud\":42}", base);
	tok = token_with(f, buf);
	rejects(f, tok, AUD, "audience");
	free(tok);
	/* No aud while one is required. */
	snprintf(buf, sizeof(buf), "%s}", base);
	tok = token_with(f, buf);
	rejects(f, tok, AUD, "audience");
	accepts(f, tok, NULL);
	free(tok);
}

static void test_header_checks(void **state)
{
	struct fx *f = *state;
	char *payload = claims_text(NOW), hdr[256], *tok;

	/* Duplicate members, including the alg-confusion variant. */
	snprintf(hdr, sizeof(hdr), "{\"alg\":\"RS256\",\"alg\":\"RS256\",\"kid\":\"%s\"}",
	         f->kid_a);
	tok = raw_token(hdr, payload, f->a, EVP_sha256());
	rejects(f, tok, AUD, "Malformed");
	free(tok);
	snprintf(hdr, sizeof(hdr), "{\"alg\":\"HS256\",\"kid\":\"%s\",\"alg\":\"RS256\"}",
	         f->kid_a);
	tok = raw_token(hdr, payload, f->a, EVP_sha256());
	rejects(f, tok, AUD, "Malformed");
	free(tok);
	snprintf(hdr, sizeof(hdr), "{\"alg\":\"RS256\",\"kid\":\"%s\",\"kid\":\"%s\"}", f->kid_a,
	         f->kid_a);
	tok = raw_token(hdr, payload, f->a, EVP_sha256());
	rejects(f, tok, AUD, "Malformed");
	free(tok);

	/* typ: at+jwt is required (RFC 9068 4); absent or anything else is refused. */
	snprintf(hdr, sizeof(hdr), "{\"alg\":\"RS256\",\"kid\":\"%s\"}", f->kid_a);
	tok = raw_token(hdr, payload, f->a, EVP_sha256());
	rejects(f, tok, AUD, "type");
	free(tok);
	snprintf(hdr, sizeof(hdr),
	         "{\"alg\":\"RS256\",\"typ\":\"application/at+jwt\",\"kid\":\"%s\"}", f->kid_a);
	tok = raw_token(hdr, payload, f->a, EVP_sha256());
	accepts(f, tok, AUD);
	free(tok);
	snprintf(hdr, sizeof(hdr), "{\"alg\":\"RS256\",\"typ\":\"JWT\",\"kid\":\"%s\"}", f->kid_a);
	tok = raw_token(hdr, payload, f->a, EVP_sha256());
	rejects(f, tok, AUD, "type");
	free(tok);
	snprintf(hdr, sizeof(hdr), "{\"alg\":\"RS256\",\"typ\":1,\"kid\":\"%s\"}", f->kid_a);
	tok = raw_token(hdr, payload, f->a, EVP_sha256());
	rejects(f, tok, AUD, "type");
	free(tok);

	/* Unknown critical extensions must be refused (RFC 7515 4.1.11). */
	snprintf(hdr, sizeof(hdr),
	         "{\"alg\":\"RS256\",\"kid\":\"%s\",\"crit\":[\"b64\"],\"b64\":false}", f->kid_a);
	tok = raw_token(hdr, payload, f->a, EVP_sha256());
	rejects(f, tok, AUD, "critical");
	free(tok);

	/* Not an object. */
	tok = raw_token("[\"RS256\"]", payload, f->a, EVP_sha256());
	rejects(f, tok, AUD, "Malformed");
	free(tok);
	tok = raw_token("not json", payload, f->a, EVP_sha256());
	rejects(f, tok, AUD, "Malformed");
	free(tok);
	free(payload);
}

static void test_structure_and_encoding(void **state)
{
	struct fx *f = *state;
	char *tok = sign_now(f->k), *t, *d1, *d2;
	size_t n = strlen(tok);

	accepts(f, tok, AUD);
	d1 = strchr(tok, '.');
	d2 = strchr(d1 + 1, '.');
	t = malloc(n + 16);

	/* Two segments. */
	snprintf(t, n + 16, "%.*s", (int)(d2 - tok), tok);
	rejects(f, t, AUD, "Malformed");
	/* Four segments. */
	snprintf(t, n + 16, "%s.", tok);
	rejects(f, t, AUD, "Malformed");
	snprintf(t, n + 16, "%s.AAAA", tok);
	rejects(f, t, AUD, "Malformed");
	/* Empty pieces. */
	rejects(f, "", AUD, "Malformed");
	rejects(f, ".", AUD, "Malformed");
	rejects(f, "..", AUD, "Malformed");
	rejects(f, "...", AUD, "Malformed");
	snprintf(t, n + 16, ".%s", d1 + 1);
	rejects(f, t, AUD, "Malformed");

	/* Padding, the standard alphabet, whitespace. */
	snprintf(t, n + 16, "%.*s=%s", (int)(d1 - tok), tok, d1);
	rejects(f, t, AUD, "Malformed");
	snprintf(t, n + 16, "%s=", tok);
	rejects(f, t, AUD, "Malformed");
	snprintf(t, n + 16, "%s", tok);
	t[2] = '+';
	rejects(f, t, AUD, "Malformed");
	snprintf(t, n + 16, "%s", tok);
	t[d2 - tok + 5] = '/';
	rejects(f, t, AUD, "Malformed");
	snprintf(t, n + 16, " %s", tok);
	rejects(f, t, AUD, "Malformed");
	snprintf(t, n + 16, "%s\n", tok);
	rejects(f, t, AUD, "Malformed");
	/* An embedded NUL inside the given length. */
	memcpy(t, tok, n);
	t[n / 2] = '\0';
	assert_int_equal(verify_full(f, t, n, AUD, NULL), -1);
	free(t);
	free(tok);
}

static void test_size_limit(void **state)
{
	struct fx *f = *state;
	char *big = malloc(JWS_MAX_TOKEN + 2), *tok, *claims;
	const char *why = NULL;

	memset(big, 'A', JWS_MAX_TOKEN + 1);
	big[10] = '.';
	big[20] = '.';
	big[JWS_MAX_TOKEN + 1] = '\0';
	assert_int_equal(verify_full(f, big, JWS_MAX_TOKEN + 1, AUD, &why), -1);
	assert_string_equal(why, "Token too large");
	free(big);

	/* A validly signed token just over the limit is still refused. */
	claims = malloc(7000);
	snprintf(claims, 7000,
	         "{\"iss\":\"" ISS "\",\"sub\":\"u\",\"iat\":1700000000,\"exp\":1700000900,"
	         "\"jti\":\"j\",\"pad\":\"%06000d\"}",
	         0);
	tok = token_with(f, claims);
	assert_true(strlen(tok) > JWS_MAX_TOKEN);
	rejects(f, tok, NULL, "too large");
	free(tok);
	free(claims);
}

/* Every single-character change and every truncation is rejected. */
static void test_mutation_sweep(void **state)
{
	struct fx *f = *state;
	char *tok = sign_now(f->k), *t;
	static const char repl[] = {'A', 'B', 'Q', 'g', '-', '_', '.', '=', '\0', '\xff'};
	size_t n = strlen(tok), i, r;

	t = malloc(n + 1);
	for (i = 0; i < n; i++) {
		for (r = 0; r < sizeof(repl); r++) {
			if (tok[i] == repl[r])
				continue;
			memcpy(t, tok, n + 1);
			t[i] = repl[r];
			if (verify_full(f, t, n, AUD, NULL) != -1)
				fail_msg("mutation at %zu to 0x%02x accepted", i,
				         (unsigned char)repl[r]);
		}
	}
	for (i = 0; i < n; i++)
		assert_int_equal(verify_full(f, tok, i, AUD, NULL), -1);
	assert_int_equal(verify_full(f, tok, n, AUD, NULL), 0);
	free(t);
	free(tok);
}

/* Random junk of random length: never a crash, never accepted. */
static void test_random_garbage(void **state)
{
	struct fx *f = *state;
	static const char alpha[] =
	        "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_...";
	unsigned char rnd[600];
	char t[600];
	int iter;
	size_t len, i;

	for (iter = 0; iter < 3000; iter++) {
		assert_int_equal(RAND_bytes(rnd, sizeof(rnd)), 1);
		len = rnd[0] | (size_t)(rnd[1] & 1) << 8;
		for (i = 0; i < len; i++)
			t[i] = iter % 2 ? alpha[rnd[i + 2] % (sizeof(alpha) - 1)]
			                : (char)rnd[i + 2];
		assert_int_equal(verify_full(f, t, len, AUD, NULL), -1);
	}
	assert_int_equal(jws_verify(NULL, "a.b.c", 5, NOW, 0, ISS, NULL, NULL, NULL), -1);
	assert_int_equal(jws_verify(f->k, NULL, 5, NOW, 0, ISS, NULL, NULL, NULL), -1);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
	        cmocka_unit_test(test_round_trip),
	        cmocka_unit_test(test_sign_rejects_bad_input),
	        cmocka_unit_test(test_alg_none),
	        cmocka_unit_test(test_hs256_with_public_key),
	        cmocka_unit_test(test_other_rsa_algs),
	        cmocka_unit_test(test_kid),
	        cmocka_unit_test(test_previous_key),
	        cmocka_unit_test(test_tampering),
	        cmocka_unit_test(test_time_claims),
	        cmocka_unit_test(test_required_claims),
	        cmocka_unit_test(test_issuer),
	        cmocka_unit_test(test_audience),
	        cmocka_unit_test(test_header_checks),
	        cmocka_unit_test(test_structure_and_encoding),
	        cmocka_unit_test(test_size_limit),
	        cmocka_unit_test(test_mutation_sweep),
	        cmocka_unit_test(test_random_garbage),
	};
	return cmocka_run_group_tests(tests, setup, teardown);
}
