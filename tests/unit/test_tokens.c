/*
 * test_tokens.c - random tokens, token hashing (HMAC-SHA256), UUIDv4 and
 * the claims of an issued access token.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>

#include <cmocka.h>
#include <jansson.h>

#include "auth/b64.h"
#include "auth/jws.h"
#include "auth/keys.h"
#include "auth/tokens.h"
#include "keyfixture.h"

#define NOW ((int64_t)1700000000)

struct fx {
	char *dir;
	struct keys *k;
	struct config cfg;
};

static char issuer[] = "http://localhost:8000";
static char audience[] = "auth-service-clients";

static int setup(void **state)
{
	struct fx *f = calloc(1, sizeof(*f));
	char err[512];

	f->dir = fx_tmpdir();
	f->cfg.environment = ENV_TEST;
	f->cfg.rsa_private_key_path = fx_path(f->dir, "keys/private.pem"); /* generated */
	f->cfg.jwt_issuer = issuer;
	f->cfg.access_token_expire_minutes = 15;
	f->k = keys_load(&f->cfg, err, sizeof(err));
	*state = f;
	return f->k ? 0 : -1;
}

static int teardown(void **state)
{
	struct fx *f = *state;

	keys_free(f->k);
	fx_rm_rf(f->dir);
	free(f->cfg.rsa_private_key_path);
	free(f->dir);
	free(f);
	return 0;
}

static bool all_in(const char *s, const char *set)
{
	return strspn(s, set) == strlen(s);
}

static void test_token_random(void **state)
{
	static char seen[200][TOKEN_RANDOM_LEN + 1];
	unsigned char raw[64];
	size_t rawlen;
	int i, j;

	(void)state;
	for (i = 0; i < 200; i++) {
		assert_int_equal(token_random(seen[i]), 0);
		assert_int_equal(strlen(seen[i]), 43);
		assert_true(all_in(seen[i], "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz"
		                            "0123456789-_"));
		/* It is canonical base64url of exactly 32 bytes (256 bits). */
		rawlen = (size_t)b64url_decode(seen[i], 43, raw, sizeof(raw));
		assert_int_equal(rawlen, 32);
		for (j = 0; j < i; j++)
			assert_string_not_equal(seen[i], seen[j]);
	}
}

static void test_token_hash(void **state)
{
	char out[TOKEN_HASH_LEN + 1], out2[TOKEN_HASH_LEN + 1];

	(void)state;
	token_hash((const unsigned char *)"key", 3, "The quick brown fox jumps over the lazy dog",
	           out);
	assert_string_equal(out,
	                    "f7bc83f430538424b13298e6aa6fb143ef4d59a14946175997479dbc2d1a3cd8");
	/* RFC 4231 test case 2. */
	token_hash((const unsigned char *)"Jefe", 4, "what do ya want for nothing?", out);
	assert_string_equal(out,
	                    "5bdcc146bf60754e6a042426089575c75a003f089d2739839dec58b964ec3843");
	token_hash((const unsigned char *)"", 0, "", out);
	assert_string_equal(out,
	                    "b613679a0814d9ec772f95d778c35fc5ff1697c493715653c6c712144292c5ad");
	/* Keyed: another secret gives another hash. */
	token_hash((const unsigned char *)"Jefe2", 5, "what do ya want for nothing?", out2);
	assert_string_not_equal(out, out2);
	assert_int_equal(strlen(out2), 64);
	assert_true(all_in(out2, "0123456789abcdef"));
}

static void check_uuid(const char *u)
{
	size_t i;

	assert_int_equal(strlen(u), 36);
	for (i = 0; i < 36; i++) {
		if (i == 8 || i == 13 || i == 18 || i == 23)
			assert_int_equal(u[i], '-');
		else
			assert_non_null(strchr("0123456789abcdef", u[i]));
	}
	assert_int_equal(u[14], '4');           /* version 4 */
	assert_non_null(strchr("89ab", u[19])); /* variant 10xx */
}

static void test_uuid_v4(void **state)
{
	static char seen[300][UUID_LEN + 1];
	int i, j, variants[4] = {0};

	(void)state;
	for (i = 0; i < 300; i++) {
		assert_int_equal(uuid_v4(seen[i]), 0);
		check_uuid(seen[i]);
		variants[strchr("89ab", seen[i][19]) - "89ab"]++;
		for (j = 0; j < i; j++)
			assert_string_not_equal(seen[i], seen[j]);
	}
	/* The other variant bits are random: each of 8, 9, a, b shows up. */
	for (i = 0; i < 4; i++)
		assert_true(variants[i] > 0);
}

static void test_access_token_claims(void **state)
{
	struct fx *f = *state;
	char jti[UUID_LEN + 1] = "", *tok;
	unsigned char *hdr;
	size_t hl;
	int64_t exp = 0;
	json_t *c = NULL, *roles, *want_hdr, *got_hdr;
	const char *why = NULL, *key;
	json_t *v;
	static const char *const order[] = {"iss",  "sub", "aud", "iat",   "nbf",
	                                    "exp",  "jti", "sid", "email", "email_verified",
	                                    "roles"};
	size_t i = 0;

	f->cfg.jwt_audience = audience;
	tok = access_token_issue(f->k, &f->cfg, "3f1c-user", "9a2b-session", "ann@example.com",
	                         true, "user,admin", NOW, jti, &exp);
	f->cfg.jwt_audience = NULL;
	assert_non_null(tok);
	assert_int_equal(exp, NOW + 15 * 60);
	check_uuid(jti);

	assert_int_equal(jws_verify(f->k, tok, strlen(tok), NOW, 0, issuer, audience, &c, &why), 0);
	assert_string_equal(json_string_value(json_object_get(c, "iss")), issuer);
	assert_string_equal(json_string_value(json_object_get(c, "sub")), "3f1c-user");
	assert_string_equal(json_string_value(json_object_get(c, "aud")), audience);
	assert_int_equal(json_integer_value(json_object_get(c, "iat")), NOW);
	assert_int_equal(json_integer_value(json_object_get(c, "nbf")), NOW);
	assert_int_equal(json_integer_value(json_object_get(c, "exp")), NOW + 900);
	assert_string_equal(json_string_value(json_object_get(c, "jti")), jti);
	assert_string_equal(json_string_value(json_object_get(c, "sid")), "9a2b-session");
	assert_string_equal(json_string_value(json_object_get(c, "email")), "ann@example.com");
	assert_true(json_is_true(json_object_get(c, "email_verified")));
	roles = json_object_get(c, "roles");
	assert_int_equal(json_array_size(roles), 2);
	assert_string_equal(json_string_value(json_array_get(roles, 0)), "user");
	assert_string_equal(json_string_value(json_array_get(roles, 1)), "admin");
	assert_int_equal(json_object_size(c), 11);
	json_object_foreach(c, key, v)
	{
		assert_string_equal(key, order[i]);
		i++;
	}
	json_decref(c);

	/* The header is the RFC 9068 one with our kid. */
	hdr = b64url_decode_alloc(tok, (size_t)(strchr(tok, '.') - tok), &hl);
	got_hdr = json_loads((char *)hdr, 0, NULL);
	want_hdr = json_pack("{s:s, s:s, s:s}", "alg", "RS256", "typ", "at+jwt", "kid",
	                     keys_kid(f->k));
	assert_true(json_equal(got_hdr, want_hdr));
	json_decref(got_hdr);
	json_decref(want_hdr);
	free(hdr);

	/* Expired once exp has passed. */
	assert_int_equal(
	        jws_verify(f->k, tok, strlen(tok), NOW + 900, 0, issuer, audience, NULL, NULL), -1);
	free(tok);
}

static void test_access_token_without_audience(void **state)
{
	struct fx *f = *state;
	char jti1[UUID_LEN + 1], jti2[UUID_LEN + 1], *t1, *t2;
	json_t *c = NULL;

	t1 = access_token_issue(f->k, &f->cfg, "u1", "s1", "bob@example.com", false, NULL, NOW,
	                        jti1, NULL);
	t2 = access_token_issue(f->k, &f->cfg, "u1", "s1", "bob@example.com", false, NULL, NOW,
	                        jti2, NULL);
	assert_non_null(t1);
	assert_non_null(t2);
	assert_string_not_equal(jti1, jti2); /* unique jti per token */
	assert_string_not_equal(t1, t2);
	assert_int_equal(jws_verify(f->k, t1, strlen(t1), NOW, 0, issuer, NULL, &c, NULL), 0);
	assert_null(json_object_get(c, "aud"));
	assert_true(json_is_false(json_object_get(c, "email_verified")));
	assert_int_equal(json_array_size(json_object_get(c, "roles")), 0);
	assert_true(json_is_array(json_object_get(c, "roles")));
	/* A verifier that requires an audience refuses it. */
	assert_int_equal(jws_verify(f->k, t1, strlen(t1), NOW, 0, issuer, audience, NULL, NULL),
	                 -1);
	json_decref(c);
	free(t1);
	free(t2);
}

static void test_access_token_bad_input(void **state)
{
	struct fx *f = *state;
	struct config cfg = f->cfg;

	assert_null(access_token_issue(f->k, &cfg, NULL, "s", "e", false, "", NOW, NULL, NULL));
	assert_null(access_token_issue(NULL, &cfg, "u", "s", "e", false, "", NOW, NULL, NULL));
	cfg.jwt_issuer = NULL;
	assert_null(access_token_issue(f->k, &cfg, "u", "s", "e", false, "", NOW, NULL, NULL));
	cfg = f->cfg;
	cfg.access_token_expire_minutes = 0;
	assert_null(access_token_issue(f->k, &cfg, "u", "s", "e", false, "", NOW, NULL, NULL));
	/* Invalid UTF-8 cannot be put in a JSON claim. */
	assert_null(
	        access_token_issue(f->k, &f->cfg, "u", "s", "bad\xff", false, "", NOW, NULL, NULL));
}

int main(void)
{
	const struct CMUnitTest tests[] = {
	        cmocka_unit_test(test_token_random),
	        cmocka_unit_test(test_token_hash),
	        cmocka_unit_test(test_uuid_v4),
	        cmocka_unit_test(test_access_token_claims),
	        cmocka_unit_test(test_access_token_without_audience),
	        cmocka_unit_test(test_access_token_bad_input),
	};
	return cmocka_run_group_tests(tests, setup, teardown);
}
