/*
 * b64.h - base64url (RFC 4648 section 5) and standard base64 codecs.
 *
 * base64url is what JOSE uses: no padding, and the decoder is strict so
 * that every byte string has exactly one accepted encoding (a JWS cannot be
 * altered into a second valid spelling).  Standard base64 is decoded to
 * read RSA_PRIVATE_KEY_CONTENT, a base64 PEM an operator pasted somewhere,
 * so that decoder tolerates whitespace, line breaks and missing padding;
 * it is encoded (padded, one unbroken line) for RFC 2047 encoded-words in
 * email headers (mail/mime.c).
 *
 * All functions take lengths with their buffers, write at most outcap
 * bytes and return the number of bytes produced or -1; nothing is written
 * past outcap even on malformed input.
 */
#ifndef AUTH_B64_H
#define AUTH_B64_H

#include <stddef.h>
#include <sys/types.h>

/* Characters of the unpadded base64url encoding of n bytes (without NUL). */
#define B64URL_ENCODED_LEN(n) ((((n) / 3) * 4) + (((n) % 3) ? ((n) % 3) + 1 : 0))
/* Characters of the padded standard base64 encoding of n bytes (without NUL). */
#define B64STD_ENCODED_LEN(n) ((((n) + 2) / 3) * 4)
/* An upper bound on the bytes that n base64 characters decode to. */
#define B64_DECODED_MAX(n) ((((n) + 3) / 4) * 3)

/*
 * Encode n bytes as unpadded base64url and NUL-terminate.  outcap must be
 * at least B64URL_ENCODED_LEN(n) + 1.  Returns the length without the NUL,
 * or -1 when out is too small.
 */
ssize_t b64url_encode(const unsigned char *in, size_t n, char *out, size_t outcap);

/*
 * Strict base64url decode of in[0..n): only [A-Za-z0-9_-], no padding, no
 * whitespace; n % 4 == 1 and non-zero unused trailing bits are rejected.
 * Returns the decoded length or -1 (malformed input or outcap too small).
 */
ssize_t b64url_decode(const char *in, size_t n, unsigned char *out, size_t outcap);

/*
 * Encode n bytes as padded standard base64 (RFC 4648 section 4) on one
 * line and NUL-terminate.  outcap must be at least B64STD_ENCODED_LEN(n) +
 * 1.  Returns the length without the NUL, or -1 when out is too small.
 */
ssize_t b64std_encode(const unsigned char *in, size_t n, char *out, size_t outcap);

/*
 * Lenient standard base64 decode (alphabet A-Za-z0-9+/): ASCII whitespace
 * anywhere is skipped, '=' padding is optional but must be correct when
 * present, unused trailing bits must be zero.  Returns length or -1.
 */
ssize_t b64std_decode(const char *in, size_t n, unsigned char *out, size_t outcap);

/* Heap variants (abort on out-of-memory); caller frees.  NULL on bad input. */
char *b64url_encode_alloc(const unsigned char *in, size_t n);
unsigned char *b64url_decode_alloc(const char *in, size_t n, size_t *outlen);
unsigned char *b64std_decode_alloc(const char *in, size_t n, size_t *outlen);

#endif
