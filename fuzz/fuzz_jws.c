/*
 * fuzz_jws.c - libFuzzer target for access-token verification
 * (auth/jws.c, with auth/b64.c and jansson underneath).
 *
 * The key set is built once, at start-up, the way the service builds it:
 * keys_load() on a config with environment=test and
 * RSA_PRIVATE_KEY_CONTENT holding the base64 of a PEM key generated here
 * (kid "fuzz-kid"), plus one RSA_PREVIOUS_PUBLIC_KEYS entry written to a
 * temporary file (kid: its RFC 7638 thumbprint), so rotation is covered.
 *
 * Input: a 5-byte prefix, then the payload.
 *   byte 0, bits 0-1: mode
 *     0, 3  the payload is a token, verified as it is (forgery attempts);
 *     1     the payload is "<header JSON>\n<claims JSON>": the target signs
 *           them with the key the header's kid names, so the claim checks
 *           behind the signature are reached; an accepted token must
 *           satisfy every rule of jws.h, re-checked here independently;
 *     2     the payload is claims JSON, signed by jws_sign(); then one byte
 *           of the token (bytes 2-3: position, byte 4: XOR mask) is changed
 *           and verification must fail (no second spelling of a token).
 *   byte 0, bit 2: an audience is required.
 *   byte 1: leeway in seconds (0..120).
 */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <unistd.h>

#include <jansson.h>
#include <openssl/evp.h>
#include <openssl/pem.h>

#include "arena.h"
#include "auth/b64.h"
#include "auth/jws.h"
#include "auth/keys.h"
#include "config.h"
#include "../tests/unit/tmppath.h"

#define NOW      1700000000LL
#define ISSUER   "https://auth.example.com"
#define AUDIENCE "api://fuzz"
#define KID      "fuzz-kid"

static struct keys *keys;
static EVP_PKEY *cur_pk, *prev_pk;
static char prev_kid[KEYS_THUMBPRINT_LEN + 1];

/* A PEM rendering of pk (private or public), malloc'ed and NUL-terminated. */
static char *pem_of(EVP_PKEY *pk, int private)
{
	BIO *b = BIO_new(BIO_s_mem());
	char *data, *out;
	long n;

	if (b == NULL || (private ? PEM_write_bio_PrivateKey(b, pk, NULL, NULL, 0, NULL, NULL)
	                          : PEM_write_bio_PUBKEY(b, pk)) != 1)
		abort();
	n = BIO_get_mem_data(b, &data);
	out = xmalloc((size_t)n + 1);
	memcpy(out, data, (size_t)n);
	out[n] = '\0';
	BIO_free(b);
	return out;
}

static void cleanup(void)
{
	keys_free(keys);
	EVP_PKEY_free(cur_pk);
	EVP_PKEY_free(prev_pk);
}

int LLVMFuzzerInitialize(int *argc, char ***argv);

int LLVMFuzzerInitialize(int *argc, char ***argv)
{
	char path[64];
	char *pem, *prev_path = path;
	struct config cfg = {0};
	char err[512];
	int fd, n;

	(void)argc;
	(void)argv;
	cur_pk = EVP_RSA_gen(2048);
	prev_pk = EVP_RSA_gen(2048);
	if (cur_pk == NULL || prev_pk == NULL || keys_thumbprint(prev_pk, prev_kid) < 0)
		abort();

	/* RSA_PRIVATE_KEY_CONTENT: base64 of the PEM, as an operator sets it. */
	pem = pem_of(cur_pk, 1);
	cfg.rsa_private_key_content = xmalloc(strlen(pem) * 2 + 8);
	n = EVP_EncodeBlock((unsigned char *)cfg.rsa_private_key_content,
	                    (const unsigned char *)pem, (int)strlen(pem));
	cfg.rsa_private_key_content[n] = '\0';
	free(pem);

	/* One previous public key, from a file as RSA_PREVIOUS_PUBLIC_KEYS names it. */
	pem = pem_of(prev_pk, 0);
	fd = tmp_file(path, sizeof(path), "/tmp/fuzz-jws-prev-");
	if (fd < 0 || write(fd, pem, strlen(pem)) != (ssize_t)strlen(pem))
		abort();
	close(fd);
	free(pem);
	cfg.rsa_previous_public_keys = &prev_path;
	cfg.n_rsa_previous_public_keys = 1;

	cfg.environment = ENV_TEST;
	cfg.rsa_public_key_id = KID;
	keys = keys_load(&cfg, err, sizeof(err));
	unlink(path);
	free(cfg.rsa_private_key_content);
	if (keys == NULL) {
		fprintf(stderr, "fuzz_jws: keys_load: %s\n", err);
		abort();
	}
	atexit(cleanup);
	return 0;
}

/* b64url(header) '.' b64url(claims) '.' b64url(RS256 signature by pk). */
static char *sign_raw(EVP_PKEY *pk, const char *h, size_t hn, const char *c, size_t cn, size_t *len)
{
	char *eh = b64url_encode_alloc((const unsigned char *)h, hn);
	char *ec = b64url_encode_alloc((const unsigned char *)c, cn);
	unsigned char sig[1024];
	size_t siglen = sizeof(sig);
	EVP_MD_CTX *m = EVP_MD_CTX_new();
	char *input, *es, *tok;

	input = xmalloc(strlen(eh) + strlen(ec) + 2);
	sprintf(input, "%s.%s", eh, ec);
	if (m == NULL || EVP_DigestSignInit(m, NULL, EVP_sha256(), NULL, pk) != 1 ||
	    EVP_DigestSign(m, sig, &siglen, (const unsigned char *)input, strlen(input)) != 1)
		abort();
	EVP_MD_CTX_free(m);
	es = b64url_encode_alloc(sig, siglen);
	tok = xmalloc(strlen(input) + strlen(es) + 2);
	*len = (size_t)sprintf(tok, "%s.%s", input, es);
	free(eh);
	free(ec);
	free(es);
	free(input);
	return tok;
}

static bool str_is(const json_t *v, const char *s)
{
	return json_is_string(v) && strcmp(json_string_value(v), s) == 0;
}

static bool nonempty(const json_t *v)
{
	return json_is_string(v) && json_string_length(v) > 0;
}

/* jws.h's rules for an accepted token, checked apart from jws.c. */
static void check_accepted(const char *hjson, size_t hn, json_t *claims, int leeway,
                           const char *aud)
{
	json_t *h = json_loadb(hjson, hn, JSON_REJECT_DUPLICATES, NULL);
	json_t *typ, *a, *nbf;
	bool aud_found = aud == NULL;
	size_t i;

	if (!json_is_object(h) || !str_is(json_object_get(h, "alg"), "RS256") ||
	    json_object_get(h, "crit") != NULL)
		abort();
	if (!str_is(json_object_get(h, "kid"), KID) && !str_is(json_object_get(h, "kid"), prev_kid))
		abort();
	typ = json_object_get(h, "typ");
	if (!json_is_string(typ) || (strcasecmp(json_string_value(typ), "at+jwt") != 0 &&
	                             strcasecmp(json_string_value(typ), "application/at+jwt") != 0))
		abort();
	json_decref(h);

	if (!json_is_object(claims) || !json_is_number(json_object_get(claims, "exp")) ||
	    !json_is_number(json_object_get(claims, "iat")))
		abort();
	if (json_number_value(json_object_get(claims, "exp")) <= (double)(NOW - leeway))
		abort();
	nbf = json_object_get(claims, "nbf");
	if (nbf && (!json_is_number(nbf) || json_number_value(nbf) > (double)(NOW + leeway)))
		abort();
	if (!str_is(json_object_get(claims, "iss"), ISSUER) ||
	    !nonempty(json_object_get(claims, "sub")) || !nonempty(json_object_get(claims, "jti")))
		abort();
	a = json_object_get(claims, "aud");
	if (aud && str_is(a, aud))
		aud_found = true;
	for (i = 0; aud && json_is_array(a) && i < json_array_size(a); i++)
		if (str_is(json_array_get(a, i), aud))
			aud_found = true;
	if (!aud_found)
		abort();
}

/* Mode 1: sign header + claims from the input with the key the kid names. */
static void signed_pair(const char *p, size_t n, int leeway, const char *aud)
{
	const char *nl = memchr(p, '\n', n);
	size_t hn, cn, len;
	json_t *h, *claims = NULL;
	EVP_PKEY *pk = cur_pk;
	char *tok;

	if (nl == NULL)
		return;
	hn = (size_t)(nl - p);
	cn = n - hn - 1;
	h = json_loadb(p, hn, 0, NULL);
	if (str_is(json_object_get(h, "kid"), prev_kid))
		pk = prev_pk;
	json_decref(h);
	tok = sign_raw(pk, p, hn, nl + 1, cn, &len);
	if (jws_verify(keys, tok, len, NOW, leeway, ISSUER, aud, &claims, NULL) == 0) {
		check_accepted(p, hn, claims, leeway, aud);
		json_decref(claims);
	} else if (claims != NULL) {
		abort();
	}
	free(tok);
}

/* Mode 2: a token of ours, then the same token with one byte changed. */
static void mutated(const char *p, size_t n, unsigned pos, unsigned char mask, int leeway,
                    const char *aud)
{
	json_t *claims = json_loadb(p, n, JSON_REJECT_DUPLICATES, NULL), *out = NULL;
	char *tok;
	size_t len;

	if (!json_is_object(claims)) {
		json_decref(claims);
		return;
	}
	tok = jws_sign(keys, claims);
	json_decref(claims);
	if (tok == NULL)
		return;
	len = strlen(tok);
	if (jws_verify(keys, tok, len, NOW, leeway, ISSUER, aud, &out, NULL) == 0)
		json_decref(out);
	tok[pos % len] ^= (char)(mask ? mask : 1);
	if (jws_verify(keys, tok, len, NOW, leeway, ISSUER, aud, NULL, NULL) == 0)
		abort(); /* a changed token was accepted */
	if (jws_verify(keys, tok, len - 1, NOW, leeway, ISSUER, aud, NULL, NULL) == 0)
		abort();
	free(tok);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	const char *p = (const char *)data + 5;
	const char *aud, *why = NULL;
	json_t *claims = NULL;
	size_t n;
	int leeway;

	if (size < 5)
		return 0;
	n = size - 5;
	aud = (data[0] & 4) ? AUDIENCE : NULL;
	leeway = data[1] % 121;
	switch (data[0] & 3) {
	case 1:
		signed_pair(p, n, leeway, aud);
		break;
	case 2:
		mutated(p, n, (unsigned)data[2] << 8 | data[3], data[4], leeway, aud);
		break;
	default:
		/* Nothing here is signed by us: it must never be accepted. */
		if (jws_verify(keys, p, n, NOW, leeway, ISSUER, aud, &claims, &why) == 0)
			abort();
		if (claims != NULL || why == NULL)
			abort();
		break;
	}
	return 0;
}
