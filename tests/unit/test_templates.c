/*
 * test_templates.c - email content (mail/templates.c): placeholder
 * substitution and per-part escaping, built-in and overriding templates,
 * the start-up check of EMAIL_TEMPLATES_DIR, and links.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cmocka.h>

#include "mail/templates.h"
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

/* ---- links ---- */

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

int main(void)
{
	const struct CMUnitTest tests[] = {
	        cmocka_unit_test(test_substitute),
	        cmocka_unit_test(test_escaping_per_part),
	        cmocka_unit_test(test_render_builtin),
	        cmocka_unit_test(test_render_overrides),
	        cmocka_unit_test(test_templates_check_refusals),
	        cmocka_unit_test(test_link),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
