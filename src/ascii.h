/*
 * ascii.h - locale-free ASCII character classes and hex digits.
 *
 * The parsers of untrusted text (URLs, forms, configuration values, email
 * addresses) must not depend on the C locale, and <ctype.h> takes an int
 * that must be an unsigned char value; these helpers take a plain char,
 * classify bytes >= 0x80 as nothing, and are the one place where the
 * tree spells out what a letter, a digit or a hex digit is.
 */
#ifndef AUTH_ASCII_H
#define AUTH_ASCII_H

#include <stdbool.h>
#include <stddef.h>

/* A-Z a-z 0-9. */
bool ascii_is_alnum(char c);

/* A control character: 0x00-0x1f or 0x7f. */
bool ascii_is_ctl(char c);

/* The value 0..15 of a hex digit (either case), or -1. */
int ascii_hex_value(char c);

/* The byte written as the two hex digits s[0] s[1] (0..255), or -1. */
int ascii_hex_byte(const char *s);

/*
 * Write n bytes as 2n hex digits (upper case when upper, else lower case)
 * and a NUL: out must hold 2 * n + 1 characters.
 */
void ascii_hex_encode(const unsigned char *in, size_t n, char *out, bool upper);

#endif
