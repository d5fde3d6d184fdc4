/*
 * jws.c - RS256 compact JWS signing and verification with OpenSSL EVP.
 *
 * RSASSA-PKCS1-v1_5 with SHA-256 (RFC 7518 3.3) through EVP_DigestSign /
 * EVP_DigestVerify.  Verification decodes the three segments into one
 * heap buffer bounded by the token length, checks the header, verifies the
 * signature with the key its kid selects, and only then parses and checks
 * the claims.  The algorithm is never taken from the token: it must be
 * RS256, so alg "none", HMAC-with-the-public-key and algorithm-swap tricks
 * are rejected before any key is touched.
 */
#include "auth/jws.h"

#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include <openssl/err.h>
#include <openssl/evp.h>

#include "arena.h"
#include "auth/b64.h"

char *jws_sign(const struct keys *k, json_t *claims)
{
	EVP_PKEY *priv = k ? keys_private(k) : NULL;
	EVP_MD_CTX *mctx = NULL;
	json_t *header = NULL;
	char *hjson = NULL, *cjson = NULL, *out = NULL;
	unsigned char *sig = NULL;
	size_t hlen, clen, total, pos, siglen;
	ssize_t r;
	int keysize;

	if (priv == NULL || !json_is_object(claims))
		return NULL;
	header = json_pack("{s:s, s:s, s:s}", "alg", "RS256", "typ", "at+jwt", "kid", keys_kid(k));
	if (header == NULL)
		goto fail;
	hjson = json_dumps(header, JSON_COMPACT | JSON_PRESERVE_ORDER);
	cjson = json_dumps(claims, JSON_COMPACT | JSON_PRESERVE_ORDER);
	keysize = EVP_PKEY_get_size(priv);
	if (hjson == NULL || cjson == NULL || keysize <= 0)
		goto fail;
	hlen = strlen(hjson);
	clen = strlen(cjson);
	if (hlen > JWS_MAX_TOKEN || clen > JWS_MAX_TOKEN)
		goto fail;
	siglen = (size_t)keysize;
	total = B64URL_ENCODED_LEN(hlen) + 1 + B64URL_ENCODED_LEN(clen) + 1 +
	        B64URL_ENCODED_LEN(siglen);
	if (total > JWS_MAX_TOKEN)
		goto fail;
	out = xmalloc(total + 1);
	r = b64url_encode((const unsigned char *)hjson, hlen, out, total + 1);
	if (r < 0)
		goto fail;
	pos = (size_t)r;
	out[pos++] = '.';
	r = b64url_encode((const unsigned char *)cjson, clen, out + pos, total + 1 - pos);
	if (r < 0)
		goto fail;
	pos += (size_t)r;

	sig = xmalloc(siglen);
	mctx = EVP_MD_CTX_new();
	if (mctx == NULL || EVP_DigestSignInit(mctx, NULL, EVP_sha256(), NULL, priv) != 1 ||
	    EVP_DigestSign(mctx, sig, &siglen, (const unsigned char *)out, pos) != 1)
		goto fail;
	out[pos++] = '.';
	if (b64url_encode(sig, siglen, out + pos, total + 1 - pos) < 0)
		goto fail;
	goto done;
fail:
	free(out);
	out = NULL;
	ERR_clear_error();
done:
	EVP_MD_CTX_free(mctx);
	free(sig);
	free(hjson);
	free(cjson);
	json_decref(header);
	return out;
}

/* Decode one segment into buf (capacity cap); -1 on any deviation. */
static ssize_t segment(const char *s, size_t n, unsigned char *buf, size_t cap)
{
	if (n == 0)
		return -1;
	return b64url_decode(s, n, buf, cap);
}

static bool typ_ok(const json_t *typ)
{
	const char *s;

	/* Required: RFC 9068 section 4 has us refuse tokens not typed as access tokens. */
	if (typ == NULL || !json_is_string(typ))
		return false;
	s = json_string_value(typ);
	/* RFC 9068 4; media types compare case-insensitively (RFC 7515 4.1.9). */
	return strcasecmp(s, "at+jwt") == 0 || strcasecmp(s, "application/at+jwt") == 0;
}

static bool nonempty_string(const json_t *v)
{
	return json_is_string(v) && json_string_length(v) > 0;
}

static bool aud_ok(const json_t *aud, const char *audience)
{
	size_t i;
	json_t *v;

	if (audience == NULL)
		return true;
	if (json_is_string(aud))
		return strcmp(json_string_value(aud), audience) == 0;
	if (!json_is_array(aud))
		return false;
	json_array_foreach(aud, i, v)
	{
		if (json_is_string(v) && strcmp(json_string_value(v), audience) == 0)
			return true;
	}
	return false;
}

/* Claim checks after the signature has been verified. */
static const char *check_claims(const json_t *claims, int64_t now, int leeway, const char *issuer,
                                const char *audience)
{
	const json_t *exp = json_object_get(claims, "exp");
	const json_t *nbf = json_object_get(claims, "nbf");
	const json_t *iat = json_object_get(claims, "iat");
	const json_t *iss = json_object_get(claims, "iss");
	double lo = (double)now - (double)leeway, hi = (double)now + (double)leeway;

	if (!json_is_number(exp) || !json_is_number(iat))
		return "Token lacks exp or iat";
	if (json_number_value(exp) <= lo)
		return "Token has expired";
	if (nbf != NULL && (!json_is_number(nbf) || json_number_value(nbf) > hi))
		return "Token is not yet valid";
	if (issuer == NULL || !json_is_string(iss) || strcmp(json_string_value(iss), issuer) != 0)
		return "Invalid token issuer";
	if (!aud_ok(json_object_get(claims, "aud"), audience))
		return "Invalid token audience";
	if (!nonempty_string(json_object_get(claims, "sub")) ||
	    !nonempty_string(json_object_get(claims, "jti")))
		return "Token lacks sub or jti";
	return NULL;
}

int jws_verify(const struct keys *k, const char *token, size_t len, int64_t now, int leeway,
               const char *issuer, const char *audience, json_t **claims_out, const char **why)
{
	const char *reason = "Malformed token";
	const char *d1, *d2, *kid;
	size_t hn, pn, sn, hcap, pcap, scap;
	unsigned char *buf = NULL, *hb, *pb, *sb;
	ssize_t hlen, plen, slen;
	json_t *header = NULL, *claims = NULL, *alg;
	EVP_MD_CTX *mctx = NULL;
	EVP_PKEY *pk;
	json_error_t jerr;

	if (claims_out)
		*claims_out = NULL;
	if (k == NULL || token == NULL || len == 0)
		goto fail;
	if (len > JWS_MAX_TOKEN) {
		reason = "Token too large";
		goto fail;
	}
	if (leeway < 0)
		leeway = 0;

	/* Exactly three segments: two dots, and no third. */
	d1 = memchr(token, '.', len);
	if (d1 == NULL)
		goto fail;
	d2 = memchr(d1 + 1, '.', len - (size_t)(d1 + 1 - token));
	if (d2 == NULL || memchr(d2 + 1, '.', len - (size_t)(d2 + 1 - token)) != NULL)
		goto fail;
	hn = (size_t)(d1 - token);
	pn = (size_t)(d2 - d1 - 1);
	sn = len - (size_t)(d2 + 1 - token);

	hcap = B64_DECODED_MAX(hn);
	pcap = B64_DECODED_MAX(pn);
	scap = B64_DECODED_MAX(sn);
	buf = xmalloc(hcap + pcap + scap + 3);
	hb = buf;
	pb = hb + hcap + 1;
	sb = pb + pcap + 1;
	hlen = segment(token, hn, hb, hcap);
	plen = segment(d1 + 1, pn, pb, pcap);
	slen = segment(d2 + 1, sn, sb, scap);
	if (hlen < 0 || plen < 0 || slen < 0)
		goto fail;

	/* Header. */
	header = json_loadb((const char *)hb, (size_t)hlen, JSON_REJECT_DUPLICATES, &jerr);
	if (!json_is_object(header))
		goto fail;
	alg = json_object_get(header, "alg");
	if (!json_is_string(alg) || strcmp(json_string_value(alg), "RS256") != 0) {
		reason = "Unsupported token algorithm";
		goto fail;
	}
	if (json_object_get(header, "crit") != NULL) {
		reason = "Unsupported critical token header";
		goto fail;
	}
	if (!typ_ok(json_object_get(header, "typ"))) {
		reason = "Unsupported token type";
		goto fail;
	}
	kid = json_string_value(json_object_get(header, "kid"));
	pk = kid ? keys_find_public(k, kid) : NULL;
	if (pk == NULL) {
		reason = "Unknown token signing key";
		goto fail;
	}

	/* Signature over the ASCII of header '.' payload, before any claim. */
	reason = "Invalid token signature";
	if (EVP_PKEY_get_size(pk) <= 0 || (size_t)slen != (size_t)EVP_PKEY_get_size(pk))
		goto fail;
	mctx = EVP_MD_CTX_new();
	if (mctx == NULL || EVP_DigestVerifyInit(mctx, NULL, EVP_sha256(), NULL, pk) != 1 ||
	    EVP_DigestVerify(mctx, sb, (size_t)slen, (const unsigned char *)token,
	                     (size_t)(d2 - token)) != 1)
		goto fail;

	/* Claims. */
	reason = "Malformed token claims";
	claims = json_loadb((const char *)pb, (size_t)plen, JSON_REJECT_DUPLICATES, &jerr);
	if (!json_is_object(claims))
		goto fail;
	reason = check_claims(claims, now, leeway, issuer, audience);
	if (reason != NULL)
		goto fail;

	if (claims_out) {
		*claims_out = claims;
		claims = NULL;
	}
	if (why)
		*why = NULL;
	EVP_MD_CTX_free(mctx);
	json_decref(header);
	json_decref(claims);
	free(buf);
	return 0;
fail:
	if (why)
		*why = reason;
	ERR_clear_error();
	EVP_MD_CTX_free(mctx);
	json_decref(header);
	json_decref(claims);
	free(buf);
	return -1;
}
