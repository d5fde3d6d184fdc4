/*
 * ascii.c - locale-free ASCII character classes and hex digits (see ascii.h).
 */
#include "ascii.h"

bool ascii_is_alnum(char c)
{
	return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9');
}

bool ascii_is_ctl(char c)
{
	return (unsigned char)c < 0x20 || c == 0x7f;
}

int ascii_hex_value(char c)
{
	if (c >= '0' && c <= '9')
		return c - '0';
	if (c >= 'a' && c <= 'f')
		return c - 'a' + 10;
	if (c >= 'A' && c <= 'F')
		return c - 'A' + 10;
	return -1;
}

int ascii_hex_byte(const char *s)
{
	int hi = ascii_hex_value(s[0]), lo;

	if (hi < 0)
		return -1;
	lo = ascii_hex_value(s[1]);
	if (lo < 0)
		return -1;
	return hi * 16 + lo;
}

void ascii_hex_encode(const unsigned char *in, size_t n, char *out, bool upper)
{
	const char *digits = upper ? "0123456789ABCDEF" : "0123456789abcdef";

	for (size_t i = 0; i < n; i++) {
		out[2 * i] = digits[in[i] >> 4];
		out[2 * i + 1] = digits[in[i] & 15];
	}
	out[2 * n] = '\0';
}
