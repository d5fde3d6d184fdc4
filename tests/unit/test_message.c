/*
 * test_message.c - email content and wire format (mail/message.c):
 * placeholder substitution and per-part escaping, built-in and overriding
 * templates, links, address checks, RFC 2047 encoded-words,
 * quoted-printable, and whole messages that no header value can extend.
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
#include <sys/stat.h>
#include <unistd.h>

#include <cmocka.h>

#include "auth/b64.h"
#include "mail/message.h"
#include "tmppath.h"

static const struct mail_vars VARS = {
        .app_name = "Acme Auth",
        .link = "https://app.example.com/verify-email?token=abc_DEF-123",
        .full_name = "Eve <script>alert('x')</script> & \"co\"",
        .expires = "48 hours",
        .email = "eve@example.com",
};

/* ---- helpers ---- */

static char *tmpdir(void)
{
	char tmpl[64];
	char *d = tmp_dir(tmpl, sizeof(tmpl), "/tmp/auth-mail-test-");

	assert_non_null(d);
	return strdup(d);
}

static void write_file(const char *dir, const char *name, const char *text)
{
	char path[512];
	FILE *f;

	snprintf(path, sizeof(path), "%s/%s", dir, name);
	f = fopen(path, "w");
	assert_non_null(f);
	fputs(text, f);
	fclose(f);
}

static void rm_rf(const char *dir)
{
	char cmd[600];

	snprintf(cmd, sizeof(cmd), "rm -rf '%s'", dir);
	assert_int_equal(system(cmd), 0);
}

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

/* ---- substitution and escaping ---- */

static void test_substitute(void **state)
{
	char *s;

	(void)state;
	s = mail_substitute("Hi {{full_name}}, {{ app_name }}: {{link}} ({{expires}}) {{email}}",
	                    &(struct mail_vars){"App", "L", "Ann", "1 hour", "a@b.c"},
	                    MAIL_ESC_TEXT);
	assert_string_equal(s, "Hi Ann, App: L (1 hour) a@b.c");
	free(s);
	/* Unknown placeholders and unterminated braces stay as written. */
	s = mail_substitute("{{nope}} {{app_name", &VARS, MAIL_ESC_TEXT);
	assert_string_equal(s, "{{nope}} {{app_name");
	free(s);
	/* NULL values render as nothing; values are not substituted again. */
	s = mail_substitute("[{{link}}][{{full_name}}]",
	                    &(struct mail_vars){.full_name = "{{app_name}}"}, MAIL_ESC_TEXT);
	assert_string_equal(s, "[][{{app_name}}]");
	free(s);
}

static void test_escaping_per_part(void **state)
{
	struct mail_vars v = VARS;
	char *s;

	(void)state;
	s = mail_substitute("<p>{{full_name}}</p>", &v, MAIL_ESC_HTML);
	assert_string_equal(s, "<p>Eve &lt;script&gt;alert(&#39;x&#39;)&lt;/script&gt; &amp; "
	                       "&quot;co&quot;</p>");
	free(s);
	s = mail_substitute("<a href=\"{{link}}\">",
	                    &(struct mail_vars){.link = "https://x/?a=1&b=\"2"}, MAIL_ESC_HTML);
	assert_string_equal(s, "<a href=\"https://x/?a=1&amp;b=&quot;2\">");
	free(s);

	/* CR, LF and other control characters never survive into any part. */
	v.full_name = "Eve\r\nBcc: victim@example.com\x01\x7f";
	for (int esc = MAIL_ESC_TEXT; esc <= MAIL_ESC_HEADER; esc++) {
		s = mail_substitute("Hello {{full_name}}", &v, (enum mail_escape)esc);
		assert_null(strchr(s, '\r'));
		assert_null(strchr(s, '\n'));
		assert_null(strchr(s, '\x01'));
		assert_null(strchr(s, '\x7f'));
		assert_non_null(strstr(s, "Eve  Bcc: victim@example.com"));
		free(s);
	}
	/* The text part keeps the template's own line breaks. */
	s = mail_substitute("a\n{{full_name}}\nb", &v, MAIL_ESC_TEXT);
	assert_int_equal(s[1], '\n');
	free(s);
}

/* ---- rendering ---- */

static void test_render_builtin(void **state)
{
	struct mail_content m;

	(void)state;
	for (int k = 0; k < MAIL_KIND__COUNT; k++) {
		mail_render(NULL, (enum mail_kind)k, &VARS, &m);
		assert_non_null(strstr(m.subject, "Acme Auth"));
		assert_null(strchr(m.subject, '\n'));
		assert_non_null(strstr(m.text, VARS.link));
		assert_non_null(strstr(m.html, VARS.link));
		assert_non_null(strstr(m.text, VARS.full_name)); /* plain text: as is */
		assert_null(strstr(m.html, "<script>"));         /* HTML: escaped */
		assert_non_null(strstr(m.html, "Eve &lt;script&gt;"));
		assert_null(strstr(m.text, "{{"));
		assert_null(strstr(m.html, "{{"));
		mail_content_free(&m);
	}
	mail_render(NULL, MAIL_VERIFY_EMAIL, &VARS, &m);
	assert_string_equal(m.subject, "Verify your email address for Acme Auth");
	assert_non_null(strstr(m.text, "48 hours"));
	mail_content_free(&m);
	mail_render(NULL, MAIL_PASSWORD_RESET, &VARS, &m);
	assert_string_equal(m.subject, "Reset your Acme Auth password");
	mail_content_free(&m);
	mail_render(NULL, MAIL_PASSWORD_CHANGED, &VARS, &m);
	assert_string_equal(m.subject, "Your Acme Auth password was changed");
	assert_non_null(strstr(m.text, "eve@example.com"));
	mail_content_free(&m);
	mail_render(NULL, MAIL_ACCOUNT_EXISTS, &VARS, &m);
	assert_string_equal(m.subject, "Sign-up attempt with your Acme Auth email address");
	assert_non_null(strstr(m.text, "eve@example.com"));
	mail_content_free(&m);
	assert_string_equal(mail_kind_name(MAIL_PASSWORD_RESET), "password_reset");
	assert_string_equal(mail_kind_name(MAIL_ACCOUNT_EXISTS), "account_exists");
}

static void test_render_overrides(void **state)
{
	char *dir = tmpdir();
	struct mail_content m;
	int n = -1;
	char err[512];

	(void)state;
	write_file(dir, "verify_email.txt", "Custom {{app_name}}: {{link}} for {{full_name}}\n");
	write_file(dir, "verify_email.subject", "Welcome to {{app_name}}, {{full_name}}\nsecond\n");
	assert_int_equal(mail_templates_check(dir, &n, err, sizeof(err)), 0);
	assert_int_equal(n, 2);

	mail_render(dir, MAIL_VERIFY_EMAIL, &VARS, &m);
	assert_string_equal(m.text, "Custom Acme Auth: https://app.example.com/verify-email?"
	                            "token=abc_DEF-123 for Eve <script>alert('x')</script> & "
	                            "\"co\"\n");
	/* The subject file's first line only. */
	assert_string_equal(m.subject, "Welcome to Acme Auth, Eve <script>alert('x')</script> & "
	                               "\"co\"");
	/* No HTML file: the built-in one. */
	assert_non_null(strstr(m.html, "Verify my email address"));
	mail_content_free(&m);

	/* Other kinds are untouched. */
	mail_render(dir, MAIL_PASSWORD_RESET, &VARS, &m);
	assert_string_equal(m.subject, "Reset your Acme Auth password");
	mail_content_free(&m);
	rm_rf(dir);
	free(dir);
}

static void test_templates_check_refusals(void **state)
{
	char *dir = tmpdir(), path[600], err[512];
	char *big = malloc(MAIL_TEMPLATE_MAX + 2);
	struct mail_content m;
	int n;

	(void)state;
	assert_int_equal(mail_templates_check(NULL, &n, err, sizeof(err)), 0);
	assert_int_equal(n, 0);
	assert_int_equal(mail_templates_check("/nonexistent/templates", &n, err, sizeof(err)), -1);
	assert_non_null(strstr(err, "EMAIL_TEMPLATES_DIR"));

	/* A directory where a file is expected. */
	snprintf(path, sizeof(path), "%s/password_reset.html", dir);
	assert_int_equal(mkdir(path, 0700), 0);
	assert_int_equal(mail_templates_check(dir, &n, err, sizeof(err)), -1);
	assert_non_null(strstr(err, "password_reset.html"));
	/* Rendering falls back to the built-in template. */
	mail_render(dir, MAIL_PASSWORD_RESET, &VARS, &m);
	assert_non_null(strstr(m.html, "Choose a new password"));
	mail_content_free(&m);
	assert_int_equal(rmdir(path), 0);

	/* Too large. */
	memset(big, 'x', MAIL_TEMPLATE_MAX + 1);
	big[MAIL_TEMPLATE_MAX + 1] = '\0';
	write_file(dir, "password_changed.txt", big);
	assert_int_equal(mail_templates_check(dir, &n, err, sizeof(err)), -1);
	assert_non_null(strstr(err, "larger than"));
	free(big);
	rm_rf(dir);
	free(dir);
}

/* ---- links and addresses ---- */

static void test_link(void **state)
{
	char *l;

	(void)state;
	l = mail_link("https://app.example.com", "/reset-password", "AbC-_9.~");
	assert_string_equal(l, "https://app.example.com/reset-password?token=AbC-_9.~");
	free(l);
	l = mail_link("http://localhost:3000/app", "/verify-email", "a+b/c=&d");
	assert_string_equal(l, "http://localhost:3000/app/verify-email?token=a%2Bb%2Fc%3D%26d");
	free(l);
}

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
	        cmocka_unit_test(test_substitute),
	        cmocka_unit_test(test_escaping_per_part),
	        cmocka_unit_test(test_render_builtin),
	        cmocka_unit_test(test_render_overrides),
	        cmocka_unit_test(test_templates_check_refusals),
	        cmocka_unit_test(test_link),
	        cmocka_unit_test(test_addresses),
	        cmocka_unit_test(test_date),
	        cmocka_unit_test(test_header_encode),
	        cmocka_unit_test(test_quoted_printable),
	        cmocka_unit_test(test_build),
	        cmocka_unit_test(test_build_refuses_injection),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
