/*
 * test_mime.c - the wire format of an email (mail/mime.c): address checks,
 * dates, RFC 2047 encoded-words, quoted-printable, and whole messages that
 * no header value can extend.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include <cmocka.h>

#include "auth/b64.h"
#include "mail/mime.h"

/* ---- helpers ---- */

/* Number of header lines (before the first empty line) starting with name. */
static int header_count(const char *msg, const char *name)
{
	size_t n = strlen(name);
	int count = 0;
	const char *p = msg;

	while (*p && strncmp(p, "\r\n", 2) != 0) {
		if (strncasecmp(p, name, n) == 0)
			count++;
		p = strstr(p, "\r\n");
		if (!p)
			break;
		p += 2;
	}
	return count;
}

/* Every line ends in CRLF (no bare CR or LF) and is at most max characters. */
static void assert_crlf_lines(const char *msg, size_t max)
{
	const char *p = msg;

	while (*p) {
		const char *e = strstr(p, "\r\n");

		assert_non_null(e);
		for (const char *q = p; q < e; q++)
			assert_true(*q != '\r' && *q != '\n');
		if ((size_t)(e - p) > max)
			fail_msg("line longer than %zu: %.*s", max, (int)(e - p), p);
		p = e + 2;
	}
}

/* Decode one "=?UTF-8?B?...?=" word into out (NUL-terminated). */
static void decode_word(const char *w, size_t n, char *out, size_t outcap)
{
	size_t len = 0;
	unsigned char *raw;

	assert_true(n >= 12);
	assert_memory_equal(w, "=?UTF-8?B?", 10);
	assert_memory_equal(w + n - 2, "?=", 2);
	raw = b64std_decode_alloc(w + 10, n - 12, &len);
	assert_non_null(raw);
	assert_true(len < outcap);
	memcpy(out, raw, len);
	out[len] = '\0';
	free(raw);
}

/* Decode a folded sequence of encoded-words back to the text. */
static char *decode_words(const char *enc)
{
	static char out[4096];
	size_t o = 0;
	const char *p = enc;

	out[0] = '\0';
	while (*p) {
		size_t n = strcspn(p, "\r");
		char word[512];

		assert_true(n <= 75); /* RFC 2047: an encoded-word is at most 75 characters */
		decode_word(p, n, word, sizeof(word));
		/* Each word holds whole UTF-8 characters: its first byte is not a continuation. */
		assert_true(((unsigned char)word[0] & 0xc0) != 0x80);
		memcpy(out + o, word, strlen(word) + 1);
		o += strlen(word);
		p += n;
		if (*p) {
			assert_memory_equal(p, "\r\n ", 3);
			p += 3;
		}
	}
	return out;
}
/* ---- addresses ---- */

static void test_addresses(void **state)
{
	char addr[MAIL_ADDR_MAX], name[MAIL_NAME_MAX];

	(void)state;
	assert_true(mail_addr_ok("a@example.com", true));
	assert_true(mail_addr_ok("first.last+tag@sub.example.co", true));
	assert_true(mail_addr_ok("apikey", false));
	assert_false(mail_addr_ok("apikey", true));
	assert_false(mail_addr_ok("", false));
	assert_false(mail_addr_ok("a@b@c", true));
	assert_false(mail_addr_ok("@example.com", true));
	assert_false(mail_addr_ok("a@", true));
	assert_false(mail_addr_ok("a b@example.com", true));
	assert_false(mail_addr_ok("a@example.com\r\nBcc: x@y", true));
	assert_false(mail_addr_ok("a@example.com>", true));
	assert_false(mail_addr_ok("\"a\"@example.com", true));
	assert_false(mail_addr_ok("caf\xc3\xa9@example.com", true));

	assert_int_equal(mail_from_parse("noreply@example.com", addr, name), 0);
	assert_string_equal(addr, "noreply@example.com");
	assert_string_equal(name, "");
	assert_int_equal(mail_from_parse("Acme Auth <auth@example.com>", addr, name), 0);
	assert_string_equal(addr, "auth@example.com");
	assert_string_equal(name, "Acme Auth");
	assert_int_equal(mail_from_parse("\"Acme, Inc.\" <a@example.com>  ", addr, name), 0);
	assert_string_equal(name, "Acme, Inc.");
	assert_int_equal(mail_from_parse("apikey", addr, name), 0);
	assert_string_equal(addr, "apikey");
	assert_int_equal(mail_from_parse("not an address", addr, name), -1);
	assert_int_equal(mail_from_parse("Name <a@example.com> trailing", addr, name), -1);
	assert_int_equal(mail_from_parse("Name <a@example.com", addr, name), -1);
	assert_int_equal(mail_from_parse("Name <a b@example.com>", addr, name), -1);
}

/* ---- header values ---- */

static void test_date(void **state)
{
	char d[MAIL_DATE_LEN];

	(void)state;
	mail_date(0, d);
	assert_string_equal(d, "Thu, 01 Jan 1970 00:00:00 +0000");
	mail_date(1700000000, d);
	assert_string_equal(d, "Tue, 14 Nov 2023 22:13:20 +0000");
	mail_date(1772323200, d); /* 2026-03-01 */
	assert_string_equal(d, "Sun, 01 Mar 2026 00:00:00 +0000");
}

static void test_header_encode(void **state)
{
	char *e;
	char longer[600] = "";

	(void)state;
	e = mail_header_encode("Verify your email for Acme");
	assert_string_equal(e, "Verify your email for Acme");
	free(e);
	/* Control characters become spaces: a value stays one line. */
	e = mail_header_encode("Hi\r\nBcc: victim@example.com");
	assert_string_equal(e, "Hi  Bcc: victim@example.com");
	free(e);
	/* Non-ASCII: encoded-words that decode to the original. */
	e = mail_header_encode("V\xc3\xa9rifiez votre adresse \xe2\x80\x94 M\xc3\xbcller GmbH");
	assert_memory_equal(e, "=?UTF-8?B?", 10);
	assert_string_equal(decode_words(e),
	                    "V\xc3\xa9rifiez votre adresse \xe2\x80\x94 M\xc3\xbcller GmbH");
	free(e);
	/* Something that looks like an encoded-word is encoded, not passed through. */
	e = mail_header_encode("=?UTF-8?B?SGk=?=");
	assert_string_equal(decode_words(e), "=?UTF-8?B?SGk=?=");
	free(e);
	/* Long: folded words, none longer than 75, none splitting a character. */
	for (int i = 0; i < 40; i++)
		strcat(longer, "\xe6\x97\xa5\xe6\x9c\xac "); /* 7 bytes each */
	e = mail_header_encode(longer);
	assert_non_null(strstr(e, "\r\n "));
	assert_string_equal(decode_words(e), longer);
	free(e);
	/* Control characters inside non-ASCII text are replaced before encoding. */
	e = mail_header_encode("\xc3\xa9\r\nBcc: x");
	assert_string_equal(decode_words(e), "\xc3\xa9  Bcc: x");
	free(e);
}

static void test_quoted_printable(void **state)
{
	char *q, line[200];

	(void)state;
	q = mail_qp_encode("a=b\n");
	assert_string_equal(q, "a=3Db\r\n");
	free(q);
	q = mail_qp_encode("trailing space \nand tab\t\nend");
	assert_string_equal(q, "trailing space=20\r\nand tab=09\r\nend\r\n");
	free(q);
	q = mail_qp_encode("caf\xc3\xa9\r\n.dot\n");
	assert_string_equal(q, "caf=C3=A9\r\n=2Edot\r\n");
	free(q);
	q = mail_qp_encode("a\n\nb\n");
	assert_string_equal(q, "a\r\n\r\nb\r\n");
	free(q);
	/* Long lines get soft breaks; no line exceeds 76 characters. */
	memset(line, 'x', 150);
	line[150] = '\0';
	q = mail_qp_encode(line);
	assert_crlf_lines(q, 76);
	assert_non_null(strstr(q, "=\r\n"));
	free(q);
	/* An escape is never split by a soft break. */
	for (int i = 0; i < 60; i++)
		memcpy(line + i * 2, "\xc3\xa9", 2);
	line[120] = '\0';
	q = mail_qp_encode(line);
	assert_crlf_lines(q, 76);
	for (const char *p = q; (p = strstr(p, "=\r\n")); p += 3)
		assert_true(p[-1] == '9' || p[-1] == '3'); /* ends after "=A9" or "=C3" */
	free(q);
}

/* ---- whole messages ---- */

static struct mail_msg sample(void)
{
	return (struct mail_msg){
	        .from = "noreply@mail.example.com",
	        .from_name = "Acme Auth",
	        .to = "eve@example.com",
	        .subject = "Verify your email address for Acme Auth",
	        .text = "Hello,\nopen https://app.example.com/verify-email?token=abc\n",
	        .html = "<p>Hello,</p>\n<p><a href=\"https://app.example.com/\">x</a></p>\n",
	        .date = 1700000000,
	        .id = "1700000000.42.outbox",
	};
}

static void test_build(void **state)
{
	struct mail_msg m = sample();
	const char *why = NULL;
	size_t len = 0;
	char *msg;

	(void)state;
	msg = mail_build(&m, &len, &why);
	assert_non_null(msg);
	assert_int_equal(len, strlen(msg));
	assert_crlf_lines(msg, 998);
	assert_non_null(strstr(msg, "From: \"Acme Auth\" <noreply@mail.example.com>\r\n"));
	assert_non_null(strstr(msg, "\r\nTo: eve@example.com\r\n"));
	assert_non_null(strstr(msg, "\r\nSubject: Verify your email address for Acme Auth\r\n"));
	assert_non_null(strstr(msg, "\r\nDate: Tue, 14 Nov 2023 22:13:20 +0000\r\n"));
	assert_non_null(strstr(msg, "\r\nMessage-ID: <1700000000.42.outbox@mail.example.com>\r\n"));
	assert_non_null(strstr(msg, "\r\nMIME-Version: 1.0\r\n"));
	assert_non_null(strstr(msg, "Content-Type: multipart/alternative; "
	                            "boundary=\"=_auth_1700000000.42.outbox\"\r\n"));
	assert_non_null(strstr(msg, "--=_auth_1700000000.42.outbox\r\nContent-Type: text/plain; "
	                            "charset=UTF-8\r\n"));
	assert_non_null(strstr(msg, "--=_auth_1700000000.42.outbox\r\nContent-Type: text/html; "
	                            "charset=UTF-8\r\n"));
	assert_non_null(strstr(msg, "--=_auth_1700000000.42.outbox--\r\n"));
	/* quoted-printable bodies: the link's '=' is escaped. */
	assert_non_null(strstr(msg, "verify-email?token=3Dabc\r\n"));
	assert_non_null(strstr(msg, "<a href=3D\"https://app.example.com/\">"));
	for (const char *h = "From:\0To:\0Subject:\0Date:\0Message-ID:\0MIME-Version:\0"; *h;
	     h += strlen(h) + 1)
		assert_int_equal(header_count(msg, h), 1);
	free(msg);

	/* A display name in SMTP_FROM wins over from_name; non-ASCII ones are encoded. */
	m.from = "Acme <a@example.com>";
	msg = mail_build(&m, &len, &why);
	assert_non_null(strstr(msg, "From: \"Acme\" <a@example.com>\r\n"));
	free(msg);
	m.from = "a@example.com";
	m.from_name = "M\xc3\xbcller \"Auth\"";
	msg = mail_build(&m, &len, &why);
	assert_non_null(strstr(msg, "From: =?UTF-8?B?"));
	free(msg);
	m.from_name = "Say \"hi\"";
	msg = mail_build(&m, &len, &why);
	assert_non_null(strstr(msg, "From: \"Say \\\"hi\\\"\" <a@example.com>\r\n"));
	free(msg);

	/* No HTML: a single text/plain part. */
	m = sample();
	m.html = NULL;
	msg = mail_build(&m, &len, &why);
	assert_null(strstr(msg, "multipart"));
	assert_non_null(strstr(msg, "Content-Type: text/plain; charset=UTF-8\r\n"));
	free(msg);
	/* A From without a domain still gets a Message-ID. */
	m.from = "apikey";
	msg = mail_build(&m, &len, &why);
	assert_non_null(strstr(msg, "Message-ID: <1700000000.42.outbox@localhost>\r\n"));
	free(msg);
}

static void test_build_refuses_injection(void **state)
{
	struct mail_msg m = sample();
	const char *why = NULL;
	size_t len;
	char *msg;

	(void)state;
	/* Subject and display name: cleaned, never a second header. */
	m.subject = "Hello\r\nBcc: victim@example.com";
	m.from_name = "Evil\r\nCc: x@y.z";
	msg = mail_build(&m, &len, &why);
	assert_non_null(msg);
	assert_int_equal(header_count(msg, "Bcc:"), 0);
	assert_int_equal(header_count(msg, "Cc:"), 0);
	assert_non_null(strstr(msg, "Subject: Hello  Bcc: victim@example.com\r\n"));
	assert_crlf_lines(msg, 998);
	free(msg);
	/* Non-ASCII subject with CRLF: encoded, and the decoded text has no CRLF. */
	m = sample();
	m.subject = "V\xc3\xa9rifier\r\nBcc: x@y.z";
	msg = mail_build(&m, &len, &why);
	assert_int_equal(header_count(msg, "Bcc:"), 0);
	assert_non_null(strstr(msg, "Subject: =?UTF-8?B?"));
	free(msg);

	/* Recipient, From and id: refused outright. */
	m = sample();
	m.to = "eve@example.com\r\nBcc: victim@example.com";
	assert_null(mail_build(&m, &len, &why));
	assert_non_null(strstr(why, "recipient"));
	m = sample();
	m.to = "eve@example.com, other@example.com";
	assert_null(mail_build(&m, &len, &why));
	m = sample();
	m.from = "a@example.com\nBcc: x@y";
	assert_null(mail_build(&m, &len, &why));
	assert_non_null(strstr(why, "SMTP_FROM"));
	m = sample();
	m.id = "1>\r\nBcc: x";
	assert_null(mail_build(&m, &len, &why));
}

int main(void)
{
	const struct CMUnitTest tests[] = {
	        cmocka_unit_test(test_addresses),
	        cmocka_unit_test(test_date),
	        cmocka_unit_test(test_header_encode),
	        cmocka_unit_test(test_quoted_printable),
	        cmocka_unit_test(test_build),
	        cmocka_unit_test(test_build_refuses_injection),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
