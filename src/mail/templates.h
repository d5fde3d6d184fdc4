/*
 * mail/templates.h - what an email says.
 *
 * mail_render() fills the subject, text and HTML of one kind of email from
 * a template and a few variables.  Templates are compiled in and may be
 * overridden, file by file, from EMAIL_TEMPLATES_DIR (<kind>.subject,
 * <kind>.txt, <kind>.html).  {{placeholder}} values are escaped for the
 * part they land in: HTML-escaped in the HTML part, control characters
 * removed in the text part and the subject.  Pure functions of their
 * inputs apart from reading template files, so they are unit-tested
 * directly (tests/unit/test_templates.c).
 *
 * Links are built only from FRONTEND_URL (mail_link), never from anything a
 * request says about its own host.
 */
#ifndef AUTH_MAIL_TEMPLATES_H
#define AUTH_MAIL_TEMPLATES_H

#include <stddef.h>

#define MAIL_TEMPLATE_MAX (64 * 1024) /* bytes of one template file */
#define MAIL_SUBJECT_MAX  400         /* bytes of a subject after substitution */

enum mail_kind {
	MAIL_VERIFY_EMAIL,
	MAIL_PASSWORD_RESET,
	MAIL_PASSWORD_CHANGED,
	MAIL_ACCOUNT_EXISTS, /* REGISTER_SILENT: a sign-up attempt with a registered address */
	MAIL_KIND__COUNT
};

/* The file-name stem of a kind: "verify_email", "password_reset", ... */
const char *mail_kind_name(enum mail_kind kind);

/* Placeholder values; NULL renders as "". */
struct mail_vars {
	const char *app_name;  /* {{app_name}} */
	const char *link;      /* {{link}} */
	const char *full_name; /* {{full_name}}: user data, never trusted */
	const char *expires;   /* {{expires}}, e.g. "48 hours" */
	const char *email;     /* {{email}} */
};

enum mail_escape {
	MAIL_ESC_TEXT,   /* control characters -> space */
	MAIL_ESC_HTML,   /* & < > " ' escaped, control characters -> space */
	MAIL_ESC_HEADER, /* control characters -> space (a header is one line) */
};

/*
 * Replace every {{name}} (blanks around name allowed) of a known
 * placeholder with its escaped value; unknown placeholders stay as they
 * are.  Only the values are escaped, never the template.  Returns a
 * malloc'ed string.
 */
char *mail_substitute(const char *tpl, const struct mail_vars *v, enum mail_escape esc);

/* One rendered email, every member malloc'ed. */
struct mail_content {
	char *subject; /* one line, UTF-8, not yet encoded */
	char *text;
	char *html;
};

/*
 * Render kind with v.  templates_dir (may be NULL) overrides the built-in
 * templates file by file; a file that cannot be read is logged and the
 * built-in one used, so rendering itself never fails.
 */
void mail_render(const char *templates_dir, enum mail_kind kind, const struct mail_vars *v,
                 struct mail_content *out);
void mail_content_free(struct mail_content *c);

/*
 * Start-up check of EMAIL_TEMPLATES_DIR: a readable directory whose
 * template files, where present, are readable regular files of at most
 * MAIL_TEMPLATE_MAX bytes.  0 (and *overrides = how many files override a
 * built-in template), or -1 with a message in err.
 */
int mail_templates_check(const char *dir, int *overrides, char *err, size_t errlen);

/* base + path + "?token=" + token (percent-encoded).  malloc'ed. */
char *mail_link(const char *base, const char *path, const char *token);

#endif
