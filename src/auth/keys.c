/*
 * keys.c - loading, generating and publishing the RSA signing keys.
 *
 * PEM parsing goes through OpenSSL's OSSL_DECODER, which reads PKCS#1
 * ("RSA PRIVATE KEY" / "RSA PUBLIC KEY"), PKCS#8 ("PRIVATE KEY") and SPKI
 * ("PUBLIC KEY") alike.  A passphrase callback that always fails makes an
 * encrypted key an error instead of a terminal prompt.  Buffers that held
 * private key material are wiped before they are freed.
 *
 * Everything derived from the keys (kids, the JWKS text) is computed here
 * once, so the request path only reads.  The server secret is loaded with
 * the keys (it may be derived from the private key) but lives in
 * auth/secret.c; keys_secret() hands it out.
 */
#include "auth/keys.h"

#include <errno.h>
#include <fcntl.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include <jansson.h>
#include <openssl/bio.h>
#include <openssl/core_names.h>
#include <openssl/crypto.h>
#include <openssl/decoder.h>
#include <openssl/err.h>
#include <openssl/pem.h>
#include <openssl/rsa.h>

#include "arena.h"
#include "ascii.h"
#include "auth/b64.h"
#include "auth/secret.h"
#include "log.h"

#define KEY_FILE_MAX  (1024 * 1024) /* a PEM key is a few KiB */
#define KEYS_MAX_BITS 16384
#define DEV_KEY_BITS  2048

struct pubkey {
	EVP_PKEY *pk;
	char *kid;
};

struct keys {
	EVP_PKEY *priv;
	char *kid;
	struct pubkey *prev;
	size_t n_prev;
	char *jwks;
	struct secret secret; /* auth/secret.c */
	bool generated;
};

static void seterr(char *err, size_t errlen, const char *fmt, ...)
        __attribute__((format(printf, 3, 4)));

static void seterr(char *err, size_t errlen, const char *fmt, ...)
{
	va_list ap;

	if (err == NULL || errlen == 0)
		return;
	va_start(ap, fmt);
	vsnprintf(err, errlen, fmt, ap);
	va_end(ap);
}

/* OpenSSL's reason for the last failure; clears the thread's error queue. */
static const char *ossl_reason(void)
{
	unsigned long e = ERR_peek_last_error();
	const char *r = e ? ERR_reason_error_string(e) : NULL;

	ERR_clear_error();
	return r ? r : "unrecognised or malformed key";
}

static const char *env_name(enum app_env env)
{
	switch (env) {
	case ENV_DEVELOPMENT:
		return "development";
	case ENV_TEST:
		return "test";
	case ENV_STAGING:
		return "staging";
	case ENV_PRODUCTION:
		return "production";
	}
	return "this environment";
}

static void wipe_free(void *p, size_t n)
{
	if (p) {
		OPENSSL_cleanse(p, n);
		free(p);
	}
}

/*
 * Read a whole regular file of at most KEY_FILE_MAX bytes into a
 * NUL-terminated heap buffer.  Returns 0, or -1 with errno set (EFBIG: too
 * large, EINVAL: not a regular file).
 */
static int read_file(const char *path, unsigned char **out, size_t *outlen)
{
	struct stat st;
	unsigned char *buf = NULL;
	size_t len = 0, cap;
	ssize_t r;
	int fd, saved;

	fd = open(path, O_RDONLY | O_CLOEXEC);
	if (fd < 0)
		return -1;
	if (fstat(fd, &st) != 0)
		goto fail;
	if (!S_ISREG(st.st_mode)) {
		errno = EINVAL;
		goto fail;
	}
	if (st.st_size > KEY_FILE_MAX) {
		errno = EFBIG;
		goto fail;
	}
	cap = (size_t)st.st_size;
	buf = xmalloc(cap + 1);
	while (len < cap) {
		r = read(fd, buf + len, cap - len);
		if (r < 0 && errno == EINTR)
			continue;
		if (r < 0)
			goto fail;
		if (r == 0)
			break;
		len += (size_t)r;
	}
	close(fd);
	buf[len] = '\0';
	*out = buf;
	*outlen = len;
	return 0;
fail:
	saved = errno;
	close(fd);
	wipe_free(buf, len);
	errno = saved;
	return -1;
}

static int no_passphrase(char *pass, size_t size, size_t *len, const OSSL_PARAM params[], void *arg)
{
	(void)pass;
	(void)size;
	(void)params;
	(void)arg;
	*len = 0;
	return 0;
}

/* Decode the first PEM key in data; selection is EVP_PKEY_KEYPAIR or _PUBLIC_KEY. */
static EVP_PKEY *decode_pem(const unsigned char *data, size_t len, int selection)
{
	OSSL_DECODER_CTX *dctx;
	EVP_PKEY *pk = NULL;

	dctx = OSSL_DECODER_CTX_new_for_pkey(&pk, "PEM", NULL, NULL, selection, NULL, NULL);
	if (dctx == NULL)
		return NULL;
	OSSL_DECODER_CTX_set_passphrase_cb(dctx, no_passphrase, NULL);
	if (OSSL_DECODER_from_data(dctx, &data, &len) != 1) {
		EVP_PKEY_free(pk);
		pk = NULL;
	}
	OSSL_DECODER_CTX_free(dctx);
	return pk;
}

static bool has_bn_param(const EVP_PKEY *pk, const char *name)
{
	BIGNUM *bn = NULL;
	bool ok = EVP_PKEY_get_bn_param(pk, name, &bn) == 1 && bn != NULL && !BN_is_zero(bn);

	BN_clear_free(bn);
	return ok;
}

/* Is pk an RSA key of an acceptable size?  `what` names its origin. */
static int check_rsa(const EVP_PKEY *pk, const char *what, char *err, size_t errlen)
{
	int bits;

	if (!EVP_PKEY_is_a(pk, "RSA")) {
		seterr(err, errlen, "%s: the key is %s, not RSA (RS256 needs an RSA key)", what,
		       EVP_PKEY_get0_type_name(pk) ? EVP_PKEY_get0_type_name(pk) : "unknown");
		return -1;
	}
	bits = EVP_PKEY_get_bits(pk);
	if (bits < KEYS_MIN_BITS || bits > KEYS_MAX_BITS) {
		seterr(err, errlen, "%s: the RSA key has %d bits; use %d to %d (e.g. 2048 or 3072)",
		       what, bits, KEYS_MIN_BITS, KEYS_MAX_BITS);
		return -1;
	}
	return 0;
}

/* Parse a PEM private key and check it is a consistent RSA key pair. */
static EVP_PKEY *load_private_pem(const unsigned char *pem, size_t len, const char *what, char *err,
                                  size_t errlen)
{
	EVP_PKEY_CTX *pctx = NULL;
	EVP_PKEY *pk;

	pk = decode_pem(pem, len, EVP_PKEY_KEYPAIR);
	if (pk == NULL) {
		seterr(err, errlen,
		       "%s: not a usable PEM private key (%s); expected an unencrypted "
		       "\"BEGIN RSA PRIVATE KEY\" or \"BEGIN PRIVATE KEY\" block",
		       what, ossl_reason());
		return NULL;
	}
	if (check_rsa(pk, what, err, errlen) < 0)
		goto fail;
	if (!has_bn_param(pk, OSSL_PKEY_PARAM_RSA_D)) {
		seterr(err, errlen, "%s: this is a public key; the private key is needed", what);
		goto fail;
	}
	pctx = EVP_PKEY_CTX_new_from_pkey(NULL, pk, NULL);
	if (pctx == NULL || EVP_PKEY_pairwise_check(pctx) != 1) {
		seterr(err, errlen, "%s: the RSA key is inconsistent (%s)", what, ossl_reason());
		goto fail;
	}
	EVP_PKEY_CTX_free(pctx);
	return pk;
fail:
	EVP_PKEY_CTX_free(pctx);
	EVP_PKEY_free(pk);
	ERR_clear_error();
	return NULL;
}

/* base64url of an RSA parameter, big-endian without leading zero bytes. */
static char *bn_param_b64(const EVP_PKEY *pk, const char *name)
{
	BIGNUM *bn = NULL;
	unsigned char *bin = NULL;
	char *out = NULL;
	int n;

	if (EVP_PKEY_get_bn_param(pk, name, &bn) != 1 || bn == NULL)
		goto done;
	n = BN_num_bytes(bn);
	if (n <= 0)
		goto done;
	bin = xmalloc((size_t)n);
	if (BN_bn2bin(bn, bin) != n)
		goto done;
	out = b64url_encode_alloc(bin, (size_t)n);
done:
	free(bin);
	BN_free(bn);
	ERR_clear_error();
	return out;
}

int keys_thumbprint(const EVP_PKEY *pk, char out[KEYS_THUMBPRINT_LEN + 1])
{
	unsigned char md[32];
	char *n = NULL, *e = NULL, *json = NULL;
	size_t cap;
	int len, ret = -1;

	if (pk == NULL || !EVP_PKEY_is_a(pk, "RSA"))
		return -1;
	n = bn_param_b64(pk, OSSL_PKEY_PARAM_RSA_N);
	e = bn_param_b64(pk, OSSL_PKEY_PARAM_RSA_E);
	if (n == NULL || e == NULL)
		goto done;
	/* RFC 7638 3.2: required members only, sorted, no whitespace. */
	cap = strlen(n) + strlen(e) + 32;
	json = xmalloc(cap);
	len = snprintf(json, cap, "{\"e\":\"%s\",\"kty\":\"RSA\",\"n\":\"%s\"}", e, n);
	if (len < 0 || (size_t)len >= cap)
		goto done;
	if (EVP_Digest(json, (size_t)len, md, NULL, EVP_sha256(), NULL) != 1)
		goto done;
	if (b64url_encode(md, sizeof(md), out, KEYS_THUMBPRINT_LEN + 1) != KEYS_THUMBPRINT_LEN)
		goto done;
	ret = 0;
done:
	free(n);
	free(e);
	free(json);
	return ret;
}

/* The public JWK of pk under kid, members in the order of SPEC 5. */
static json_t *jwk_object(const EVP_PKEY *pk, const char *kid)
{
	char *n = bn_param_b64(pk, OSSL_PKEY_PARAM_RSA_N);
	char *e = bn_param_b64(pk, OSSL_PKEY_PARAM_RSA_E);
	json_t *o = NULL;

	if (n && e)
		o = json_pack("{s:s, s:s, s:s, s:s, s:s, s:s}", "kty", "RSA", "use", "sig", "alg",
		              "RS256", "kid", kid, "n", n, "e", e);
	free(n);
	free(e);
	return o;
}

static char *build_jwks(const struct keys *k)
{
	json_t *arr = json_array(), *doc = NULL, *jwk;
	char *s = NULL;
	size_t i;

	if (arr == NULL)
		return NULL;
	jwk = jwk_object(k->priv, k->kid);
	if (jwk == NULL || json_array_append_new(arr, jwk) != 0)
		goto done;
	for (i = 0; i < k->n_prev; i++) {
		jwk = jwk_object(k->prev[i].pk, k->prev[i].kid);
		if (jwk == NULL || json_array_append_new(arr, jwk) != 0)
			goto done;
	}
	doc = json_object();
	if (doc == NULL || json_object_set_new(doc, "keys", arr) != 0)
		goto done;
	arr = NULL;
	s = json_dumps(doc, JSON_COMPACT | JSON_PRESERVE_ORDER);
done:
	json_decref(arr);
	json_decref(doc);
	return s;
}

/* Create the missing directories above path, each with mode 0700. */
static int mkdir_parents(const char *path, char *err, size_t errlen)
{
	char *p = xstrdup(path), *s;
	int ret = 0;

	for (s = p + 1; *s; s++) {
		if (*s != '/')
			continue;
		*s = '\0';
		if (mkdir(p, 0700) != 0 && errno != EEXIST) {
			seterr(err, errlen, "cannot create directory %s: %s", p, strerror(errno));
			ret = -1;
			break;
		}
		*s = '/';
	}
	free(p);
	return ret;
}

/*
 * Write pk to path as PKCS#8 PEM, mode 0600.  The file is created with
 * O_EXCL, so an existing file (or symlink) is never overwritten or
 * followed.  Returns 0, -1 with err set, or -2 when path already exists.
 */
static int write_key_file(const char *path, EVP_PKEY *pk, char *err, size_t errlen)
{
	BIO *mem = NULL;
	char *data = NULL;
	long len;
	size_t off = 0;
	ssize_t w;
	int fd = -1, ret = -1;

	mem = BIO_new(BIO_s_secmem());
	if (mem == NULL || PEM_write_bio_PrivateKey(mem, pk, NULL, NULL, 0, NULL, NULL) != 1) {
		seterr(err, errlen, "cannot encode the key: %s", ossl_reason());
		goto done;
	}
	len = BIO_get_mem_data(mem, &data);
	if (len <= 0) {
		seterr(err, errlen, "cannot encode the key");
		goto done;
	}
	fd = open(path, O_WRONLY | O_CREAT | O_EXCL | O_NOFOLLOW | O_CLOEXEC, 0600);
	if (fd < 0) {
		if (errno == EEXIST) {
			seterr(err, errlen, "%s already exists; refusing to overwrite it", path);
			ret = -2;
		} else {
			seterr(err, errlen, "cannot create %s: %s", path, strerror(errno));
		}
		goto done;
	}
	while (off < (size_t)len) {
		w = write(fd, data + off, (size_t)len - off);
		if (w < 0 && errno == EINTR)
			continue;
		if (w <= 0) {
			seterr(err, errlen, "cannot write %s: %s", path, strerror(errno));
			goto unlink;
		}
		off += (size_t)w;
	}
	if (fsync(fd) != 0) {
		seterr(err, errlen, "cannot write %s: %s", path, strerror(errno));
		goto unlink;
	}
	if (close(fd) != 0) {
		fd = -1;
		seterr(err, errlen, "cannot write %s: %s", path, strerror(errno));
		goto unlink;
	}
	fd = -1;
	ret = 0;
	goto done;
unlink:
	unlink(path);
done:
	if (fd >= 0)
		close(fd);
	BIO_free(mem);
	ERR_clear_error();
	return ret;
}

int keys_generate_file(const char *path, int bits, char *err, size_t errlen)
{
	struct stat st;
	EVP_PKEY *pk = NULL;
	int ret = -1;

	if (path == NULL || *path == '\0') {
		seterr(err, errlen, "no output path given (e.g. --out ./keys/private.pem)");
		return -1;
	}
	if (bits != 2048 && bits != 3072 && bits != 4096) {
		seterr(err, errlen, "--bits must be 2048, 3072 or 4096, not %d", bits);
		return -1;
	}
	if (lstat(path, &st) == 0) {
		seterr(err, errlen, "%s already exists; refusing to overwrite it", path);
		return -1;
	}
	if (mkdir_parents(path, err, errlen) < 0)
		return -1;
	pk = EVP_RSA_gen((unsigned int)bits);
	if (pk == NULL) {
		seterr(err, errlen, "RSA key generation failed: %s", ossl_reason());
		goto done;
	}
	if (write_key_file(path, pk, err, errlen) != 0)
		goto done;
	ret = 0;
done:
	EVP_PKEY_free(pk);
	return ret;
}

/* RSA_PRIVATE_KEY_CONTENT: base64 of a PEM (a raw PEM is accepted too). */
static EVP_PKEY *load_from_content(const char *content, char *err, size_t errlen)
{
	const char *what = "RSA_PRIVATE_KEY_CONTENT";
	const char *p = content;
	unsigned char *pem;
	size_t len;
	EVP_PKEY *pk;

	while (*p == ' ' || *p == '\t' || *p == '\r' || *p == '\n')
		p++;
	if (strncmp(p, "-----BEGIN", 10) == 0)
		return load_private_pem((const unsigned char *)p, strlen(p), what, err, errlen);
	pem = b64std_decode_alloc(content, strlen(content), &len);
	if (pem == NULL) {
		seterr(err, errlen,
		       "%s is not valid base64; it must be the base64 of a PEM private key "
		       "(e.g. the output of: base64 -w0 private.pem)",
		       what);
		return NULL;
	}
	pk = load_private_pem(pem, len, what, err, errlen);
	wipe_free(pem, len);
	return pk;
}

int keys_check_content(const char *content, char *err, size_t errlen)
{
	EVP_PKEY *pk = load_from_content(content, err, errlen);

	if (!pk)
		return -1;
	EVP_PKEY_free(pk);
	return 0;
}

/* Generate a development key at path; -2 when someone else created it first. */
static int generate_dev_key(struct keys *k, const char *path, char *err, size_t errlen)
{
	char msg[512];
	EVP_PKEY *pk = NULL;
	int r = -1;

	msg[0] = '\0';
	if (mkdir_parents(path, msg, sizeof(msg)) < 0)
		goto fail;
	pk = EVP_RSA_gen(DEV_KEY_BITS);
	if (pk == NULL) {
		snprintf(msg, sizeof(msg), "RSA key generation failed: %s", ossl_reason());
		goto fail;
	}
	r = write_key_file(path, pk, msg, sizeof(msg));
	if (r != 0)
		goto fail;
	log_warning("RSA_PRIVATE_KEY_PATH %s did not exist: generated a new %d-bit development "
	            "key there (mode 0600). Tokens signed with it are only trusted by this setup; "
	            "provide your own key (auth-service keys generate) outside development",
	            path, DEV_KEY_BITS);
	k->priv = pk;
	k->generated = true;
	return 0;
fail:
	EVP_PKEY_free(pk);
	if (r != -2)
		seterr(err, errlen,
		       "RSA_PRIVATE_KEY_PATH: %s does not exist and a development key could not "
		       "be created there: %s",
		       path, msg);
	return r;
}

static int load_current(struct keys *k, const struct config *cfg, char *err, size_t errlen)
{
	const char *path = cfg->rsa_private_key_path;
	char what[512];
	unsigned char *buf;
	size_t len;
	int attempt, r;

	if (cfg->rsa_private_key_content && *cfg->rsa_private_key_content) {
		k->priv = load_from_content(cfg->rsa_private_key_content, err, errlen);
		return k->priv ? 0 : -1;
	}
	if (path == NULL || *path == '\0') {
		seterr(err, errlen,
		       "RSA_PRIVATE_KEY_PATH is empty: set it to a PEM private key file "
		       "(e.g. ./keys/private.pem) or set RSA_PRIVATE_KEY_CONTENT");
		return -1;
	}
	snprintf(what, sizeof(what), "RSA_PRIVATE_KEY_PATH (%s)", path);
	for (attempt = 0; attempt < 3; attempt++) {
		if (read_file(path, &buf, &len) == 0) {
			k->priv = load_private_pem(buf, len, what, err, errlen);
			wipe_free(buf, len);
			return k->priv ? 0 : -1;
		}
		if (errno != ENOENT) {
			seterr(err, errlen, "%s: cannot read the key file: %s", what,
			       errno == EFBIG ? "file too large for a PEM key" : strerror(errno));
			return -1;
		}
		if (cfg->environment != ENV_DEVELOPMENT && cfg->environment != ENV_TEST) {
			seterr(err, errlen,
			       "%s: no such file; in %s a signing key must be provided: set "
			       "RSA_PRIVATE_KEY_PATH to a PEM private key or "
			       "RSA_PRIVATE_KEY_CONTENT "
			       "to its base64 (create one with: auth-service keys generate --out "
			       "%s)",
			       what, env_name(cfg->environment), path);
			return -1;
		}
		r = generate_dev_key(k, path, err, errlen);
		if (r != -2)
			return r;
		/* Another process created it between our read and write: let it finish. */
		nanosleep(&(struct timespec){.tv_sec = 0, .tv_nsec = 200 * 1000 * 1000}, NULL);
	}
	seterr(err, errlen, "%s: the key file keeps appearing and disappearing", what);
	return -1;
}

static bool kid_taken(const struct keys *k, const char *kid)
{
	size_t i;

	if (k->kid && strcmp(k->kid, kid) == 0)
		return true;
	for (i = 0; i < k->n_prev; i++)
		if (strcmp(k->prev[i].kid, kid) == 0)
			return true;
	return false;
}

/*
 * "path" or "path=kid": a previous key keeps a custom RSA_PUBLIC_KEY_ID it
 * was published under.  Splits at the last '=' into path (copied to buf)
 * and *kid; false when the kid is not 1-128 characters of A-Z a-z 0-9 . _ -
 */
bool keys_previous_item(const char *item, char *buf, size_t buflen, const char **kid)
{
	const char *eq = strrchr(item, '=');
	size_t n, i;

	*kid = NULL;
	if (!eq) {
		snprintf(buf, buflen, "%s", item);
		return true;
	}
	n = (size_t)(eq - item);
	snprintf(buf, buflen, "%.*s", (int)n, item);
	*kid = eq + 1;
	if (strlen(*kid) < 1 || strlen(*kid) > 128)
		return false;
	for (i = 0; (*kid)[i]; i++) {
		char c = (*kid)[i];
		if (!ascii_is_alnum(c) && c != '.' && c != '_' && c != '-')
			return false;
	}
	return true;
}

static int load_previous(struct keys *k, const struct config *cfg, char *err, size_t errlen)
{
	char what[512], kid[129], path[4096];
	const char *custom;
	unsigned char *buf;
	size_t i, len;
	EVP_PKEY *pk;

	if (cfg->n_rsa_previous_public_keys == 0)
		return 0;
	k->prev = xcalloc(cfg->n_rsa_previous_public_keys, sizeof(*k->prev));
	for (i = 0; i < cfg->n_rsa_previous_public_keys; i++) {
		const char *item = cfg->rsa_previous_public_keys[i];

		snprintf(what, sizeof(what), "RSA_PREVIOUS_PUBLIC_KEYS (%s)", item ? item : "");
		if (item == NULL || !keys_previous_item(item, path, sizeof(path), &custom)) {
			seterr(err, errlen,
			       "%s: the key id after '=' must be 1-128 characters of A-Z a-z 0-9 . "
			       "_ "
			       "- (example: /keys/old.pem=2026-01)",
			       what);
			return -1;
		}
		if (*path == '\0') {
			seterr(err, errlen, "%s: empty path in the list", what);
			return -1;
		}
		if (read_file(path, &buf, &len) != 0) {
			seterr(err, errlen, "%s: cannot read the key file: %s", what,
			       errno == EFBIG ? "file too large for a PEM key" : strerror(errno));
			return -1;
		}
		pk = decode_pem(buf, len, EVP_PKEY_PUBLIC_KEY);
		wipe_free(buf, len);
		if (pk == NULL) {
			seterr(err, errlen,
			       "%s: not a PEM public key (%s); expected a \"BEGIN PUBLIC KEY\" or "
			       "\"BEGIN RSA PUBLIC KEY\" block",
			       what, ossl_reason());
			return -1;
		}
		if (check_rsa(pk, what, err, errlen) < 0 || keys_thumbprint(pk, kid) < 0) {
			if (err && errlen && !*err)
				seterr(err, errlen, "%s: cannot compute the key id", what);
			EVP_PKEY_free(pk);
			return -1;
		}
		if (custom)
			snprintf(kid, sizeof(kid), "%s", custom);
		if (kid_taken(k, kid)) {
			log_warning("%s: same key id %s as another key; listed once", what, kid);
			EVP_PKEY_free(pk);
			continue;
		}
		k->prev[k->n_prev].pk = pk;
		k->prev[k->n_prev].kid = xstrdup(kid);
		k->n_prev++;
	}
	return 0;
}

struct keys *keys_load(const struct config *cfg, char *err, size_t errlen)
{
	char kid[KEYS_THUMBPRINT_LEN + 1];
	struct keys *k;

	seterr(err, errlen, "%s", "");
	if (cfg == NULL) {
		seterr(err, errlen, "no configuration");
		return NULL;
	}
	k = xcalloc(1, sizeof(*k));
	if (load_current(k, cfg, err, errlen) < 0)
		goto fail;
	if (cfg->rsa_public_key_id && *cfg->rsa_public_key_id) {
		k->kid = xstrdup(cfg->rsa_public_key_id);
	} else {
		if (keys_thumbprint(k->priv, kid) < 0) {
			seterr(err, errlen, "cannot compute the RFC 7638 thumbprint of the key");
			goto fail;
		}
		k->kid = xstrdup(kid);
	}
	if (load_previous(k, cfg, err, errlen) < 0)
		goto fail;
	k->jwks = build_jwks(k);
	if (k->jwks == NULL) {
		seterr(err, errlen,
		       "cannot build the JWKS document (RSA_PUBLIC_KEY_ID must be valid UTF-8)");
		goto fail;
	}
	if (secret_load(&k->secret, cfg, k->priv, err, errlen) < 0)
		goto fail;
	ERR_clear_error();
	return k;
fail:
	keys_free(k);
	ERR_clear_error();
	return NULL;
}

void keys_free(struct keys *k)
{
	size_t i;

	if (k == NULL)
		return;
	EVP_PKEY_free(k->priv);
	free(k->kid);
	for (i = 0; i < k->n_prev; i++) {
		EVP_PKEY_free(k->prev[i].pk);
		free(k->prev[i].kid);
	}
	free(k->prev);
	free(k->jwks);
	secret_free(&k->secret);
	free(k);
}

const char *keys_jwks(const struct keys *k)
{
	return k->jwks;
}

const char *keys_kid(const struct keys *k)
{
	return k->kid;
}

EVP_PKEY *keys_private(const struct keys *k)
{
	return k->priv;
}

EVP_PKEY *keys_find_public(const struct keys *k, const char *kid)
{
	size_t i;

	if (k == NULL || kid == NULL)
		return NULL;
	if (strcmp(kid, k->kid) == 0)
		return k->priv;
	for (i = 0; i < k->n_prev; i++)
		if (strcmp(kid, k->prev[i].kid) == 0)
			return k->prev[i].pk;
	return NULL;
}

const unsigned char *keys_secret(const struct keys *k, size_t *len)
{
	if (len)
		*len = k->secret.len;
	return k->secret.bytes;
}

bool keys_secret_derived(const struct keys *k)
{
	return k->secret.derived;
}

bool keys_generated(const struct keys *k)
{
	return k->generated;
}
