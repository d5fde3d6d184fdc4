/*
 * mail/templates.c - what an email says: built-in and overriding templates,
 * {{placeholder}} substitution, links (see templates.h).
 *
 * Design decisions:
 *   - Content is rendered once, when a request enqueues the email; the
 *     outbox stores the result and mail/mime.c wraps it at send time.
 *   - Escaping is per part and applies to the substituted values only:
 *     the HTML part gets &<>"' escaped, the text part and subject get
 *     control characters replaced by spaces.  The template text itself is
 *     trusted (compiled in, or an operator's EMAIL_TEMPLATES_DIR file).
 *   - A template file that cannot be used at send time is logged and the
 *     built-in one used, so rendering never fails; mail_templates_check()
 *     refuses such a directory at start-up instead.
 *   - Strings grow in a struct buf (buf.h) on the abort-on-OOM allocator,
 *     so no function here fails for lack of memory.
 */
#include "mail/templates.h"

#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "arena.h"
#include "ascii.h"
#include "buf.h"
#include "log.h"

/* ---- built-in templates ---- */

struct tpl {
	const char *subject;
	const char *text;
	const char *html;
};

#define HTML_HEAD                                                                                  \
	"<!DOCTYPE html>\n<html>\n<head><meta "                                                    \
	"charset=\"utf-8\"><title>{{app_name}}</title></head>\n"                                   \
	"<body style=\"font-family: sans-serif; line-height: 1.5; color: #222;\">\n"
#define HTML_TAIL "<p style=\"color: #777; font-size: small;\">{{app_name}}</p>\n</body>\n</html>\n"

static const struct tpl builtin[MAIL_KIND__COUNT] = {
        [MAIL_VERIFY_EMAIL] =
                {
                        .subject = "Verify your email address for {{app_name}}",
                        .text = "Hello {{full_name}},\n"
                                "\n"
                                "please confirm the email address of your {{app_name}} account "
                                "by opening this link:\n"
                                "\n"
                                "{{link}}\n"
                                "\n"
                                "The link expires in {{expires}} and works once. If you did not "
                                "create an account, ignore this email.\n"
                                "\n"
                                "-- \n"
                                "{{app_name}}\n",
                        .html = HTML_HEAD
                        "<p>Hello {{full_name}},</p>\n"
                        "<p>please confirm the email address of your {{app_name}} account:</p>\n"
                        "<p><a href=\"{{link}}\">Verify my email address</a></p>\n"
                        "<p>Or copy this link into your browser:<br>{{link}}</p>\n"
                        "<p>The link expires in {{expires}} and works once. If you did not "
                        "create an account, ignore this email.</p>\n" HTML_TAIL,
                },
        [MAIL_PASSWORD_RESET] =
                {
                        .subject = "Reset your {{app_name}} password",
                        .text = "Hello {{full_name}},\n"
                                "\n"
                                "someone asked to reset the password of your {{app_name}} "
                                "account. To choose a new password, open this link:\n"
                                "\n"
                                "{{link}}\n"
                                "\n"
                                "The link expires in {{expires}} and works once. If you did not "
                                "ask for it, ignore this email: your password stays as it is.\n"
                                "\n"
                                "-- \n"
                                "{{app_name}}\n",
                        .html = HTML_HEAD
                        "<p>Hello {{full_name}},</p>\n"
                        "<p>someone asked to reset the password of your {{app_name}} "
                        "account.</p>\n"
                        "<p><a href=\"{{link}}\">Choose a new password</a></p>\n"
                        "<p>Or copy this link into your browser:<br>{{link}}</p>\n"
                        "<p>The link expires in {{expires}} and works once. If you did not ask "
                        "for it, ignore this email: your password stays as it is.</p>\n" HTML_TAIL,
                },
        [MAIL_PASSWORD_CHANGED] =
                {
                        .subject = "Your {{app_name}} password was changed",
                        .text = "Hello {{full_name}},\n"
                                "\n"
                                "the password of your {{app_name}} account ({{email}}) was just "
                                "changed, and your other sessions were signed out.\n"
                                "\n"
                                "If this was not you, reset your password at once from "
                                "{{link}} and contact us.\n"
                                "\n"
                                "-- \n"
                                "{{app_name}}\n",
                        .html = HTML_HEAD
                        "<p>Hello {{full_name}},</p>\n"
                        "<p>the password of your {{app_name}} account ({{email}}) was just "
                        "changed, and your other sessions were signed out.</p>\n"
                        "<p>If this was not you, reset your password at once from "
                        "<a href=\"{{link}}\">{{link}}</a> and contact us.</p>\n" HTML_TAIL,
                },
        [MAIL_ACCOUNT_EXISTS] =
                {
                        .subject = "Sign-up attempt with your {{app_name}} email address",
                        .text = "Hello {{full_name}},\n"
                                "\n"
                                "someone tried to create a {{app_name}} account with your "
                                "address ({{email}}), which already has one. Nothing was "
                                "changed.\n"
                                "\n"
                                "If it was you, sign in at {{link}} - or use \"Forgot "
                                "password\" there if you do not remember it. If it was not you, "
                                "ignore this email.\n"
                                "\n"
                                "-- \n"
                                "{{app_name}}\n",
                        .html = HTML_HEAD
                        "<p>Hello {{full_name}},</p>\n"
                        "<p>someone tried to create a {{app_name}} account with your address "
                        "({{email}}), which already has one. Nothing was changed.</p>\n"
                        "<p>If it was you, sign in at <a href=\"{{link}}\">{{link}}</a> - or "
                        "use \"Forgot password\" there if you do not remember it. If it was "
                        "not you, ignore this email.</p>\n" HTML_TAIL,
                },
};

static const char *const kind_names[MAIL_KIND__COUNT] = {
        [MAIL_VERIFY_EMAIL] = "verify_email",
        [MAIL_PASSWORD_RESET] = "password_reset",
        [MAIL_PASSWORD_CHANGED] = "password_changed",
        [MAIL_ACCOUNT_EXISTS] = "account_exists",
};

/* The three parts of a template, by file extension. */
enum part { PART_SUBJECT, PART_TEXT, PART_HTML, PART__COUNT };
static const char *const part_ext[PART__COUNT] = {"subject", "txt", "html"};

const char *mail_kind_name(enum mail_kind kind)
{
	return (unsigned)kind < MAIL_KIND__COUNT ? kind_names[kind] : "?";
}

/* ---- substitution ---- */

static void put_escaped(struct buf *b, const char *s, enum mail_escape esc)
{
	for (; s && *s; s++) {
		unsigned char c = (unsigned char)*s;

		if (ascii_is_ctl((char)c)) {
			buf_append_char(b, ' ');
			continue;
		}
		if (esc == MAIL_ESC_HTML) {
			switch (c) {
			case '&':
				buf_append_str(b, "&amp;");
				continue;
			case '<':
				buf_append_str(b, "&lt;");
				continue;
			case '>':
				buf_append_str(b, "&gt;");
				continue;
			case '"':
				buf_append_str(b, "&quot;");
				continue;
			case '\'':
				buf_append_str(b, "&#39;");
				continue;
			default:
				break;
			}
		}
		buf_append_char(b, (char)c);
	}
}

/* The value of placeholder name[0..n), or false when it is not one. */
static bool lookup_var(const struct mail_vars *v, const char *name, size_t n, const char **out)
{
	static const struct {
		const char *name;
		size_t off;
	} known[] = {
	        {"app_name", offsetof(struct mail_vars, app_name)},
	        {"link", offsetof(struct mail_vars, link)},
	        {"full_name", offsetof(struct mail_vars, full_name)},
	        {"expires", offsetof(struct mail_vars, expires)},
	        {"email", offsetof(struct mail_vars, email)},
	};

	for (size_t i = 0; i < sizeof(known) / sizeof(known[0]); i++)
		if (strlen(known[i].name) == n && memcmp(known[i].name, name, n) == 0) {
			*out = *(const char *const *)((const char *)v + known[i].off);
			return true;
		}
	return false;
}

char *mail_substitute(const char *tpl, const struct mail_vars *v, enum mail_escape esc)
{
	struct buf b = BUF_INIT;
	const char *p = tpl;

	while (*p) {
		const char *open = strstr(p, "{{"), *close, *name, *end, *val;

		if (!open) {
			buf_append_str(&b, p);
			break;
		}
		buf_append(&b, p, (size_t)(open - p));
		close = strstr(open + 2, "}}");
		if (!close) {
			buf_append_str(&b, open);
			break;
		}
		name = open + 2;
		end = close;
		while (name < end && (*name == ' ' || *name == '\t'))
			name++;
		while (end > name && (end[-1] == ' ' || end[-1] == '\t'))
			end--;
		if (lookup_var(v, name, (size_t)(end - name), &val))
			put_escaped(&b, val, esc);
		else
			buf_append(&b, open, (size_t)(close + 2 - open));
		p = close + 2;
	}
	return buf_take(&b);
}

/* ---- template files ---- */

/*
 * Read dir/<kind>.<ext>: 1 with *out malloc'ed, 0 when there is no such
 * file, -1 with err filled when it exists but cannot be used.
 */
static int read_template(const char *dir, enum mail_kind kind, enum part part, char **out,
                         char *err, size_t errlen)
{
	char path[PATH_MAX];
	struct stat st;
	char *buf = NULL;
	size_t got = 0;
	int fd = -1, rc = -1, n;

	*out = NULL;
	n = snprintf(path, sizeof(path), "%s/%s.%s", dir, kind_names[kind], part_ext[part]);
	if (n < 0 || (size_t)n >= sizeof(path)) {
		snprintf(err, errlen, "EMAIL_TEMPLATES_DIR: path too long");
		return -1;
	}
	fd = open(path, O_RDONLY | O_CLOEXEC);
	if (fd < 0) {
		if (errno == ENOENT)
			return 0;
		snprintf(err, errlen, "EMAIL_TEMPLATES_DIR: cannot open %s: %s", path,
		         strerror(errno));
		return -1;
	}
	if (fstat(fd, &st) != 0 || !S_ISREG(st.st_mode)) {
		snprintf(err, errlen, "EMAIL_TEMPLATES_DIR: %s is not a regular file", path);
		goto out;
	}
	if (st.st_size > MAIL_TEMPLATE_MAX) {
		snprintf(err, errlen, "EMAIL_TEMPLATES_DIR: %s is larger than %d bytes", path,
		         MAIL_TEMPLATE_MAX);
		goto out;
	}
	buf = xmalloc((size_t)st.st_size + 1);
	while (got < (size_t)st.st_size) {
		ssize_t r = read(fd, buf + got, (size_t)st.st_size - got);

		if (r < 0 && errno == EINTR)
			continue;
		if (r <= 0)
			break;
		got += (size_t)r;
	}
	if (got != (size_t)st.st_size) {
		snprintf(err, errlen, "EMAIL_TEMPLATES_DIR: cannot read %s", path);
		goto out;
	}
	buf[got] = '\0';
	if (strlen(buf) != got) {
		snprintf(err, errlen, "EMAIL_TEMPLATES_DIR: %s contains a NUL byte", path);
		goto out;
	}
	*out = buf;
	buf = NULL;
	rc = 1;
out:
	free(buf);
	close(fd);
	return rc;
}

int mail_templates_check(const char *dir, int *overrides, char *err, size_t errlen)
{
	struct stat st;

	*overrides = 0;
	if (!dir)
		return 0;
	if (stat(dir, &st) != 0 || !S_ISDIR(st.st_mode) || access(dir, R_OK | X_OK) != 0) {
		snprintf(err, errlen, "EMAIL_TEMPLATES_DIR: %s is not a readable directory", dir);
		return -1;
	}
	for (int k = 0; k < MAIL_KIND__COUNT; k++)
		for (int p = 0; p < PART__COUNT; p++) {
			char *text;
			int rc = read_template(dir, (enum mail_kind)k, (enum part)p, &text, err,
			                       errlen);

			if (rc < 0)
				return -1;
			if (rc > 0)
				(*overrides)++;
			free(text);
		}
	return 0;
}

/* The template of one part: the file's when there is one, else the built-in. */
static char *template_of(const char *dir, enum mail_kind kind, enum part part)
{
	const char *def = part == PART_SUBJECT ? builtin[kind].subject
	                  : part == PART_TEXT  ? builtin[kind].text
	                                       : builtin[kind].html;
	char err[PATH_MAX + 128], *text = NULL;

	if (dir) {
		int rc = read_template(dir, kind, part, &text, err, sizeof(err));

		if (rc > 0) {
			if (part == PART_SUBJECT) /* the first line only */
				text[strcspn(text, "\r\n")] = '\0';
			return text;
		}
		if (rc < 0)
			log_error("email template: %s; using the built-in %s.%s", err,
			          kind_names[kind], part_ext[part]);
	}
	return xstrdup(def);
}

/* Cut s to at most max bytes without splitting a UTF-8 sequence. */
static void utf8_cut(char *s, size_t max)
{
	size_t n = strlen(s);

	if (n <= max)
		return;
	n = max;
	while (n > 0 && ((unsigned char)s[n] & 0xc0) == 0x80)
		n--;
	s[n] = '\0';
}

void mail_render(const char *templates_dir, enum mail_kind kind, const struct mail_vars *v,
                 struct mail_content *out)
{
	char *t;

	memset(out, 0, sizeof(*out));
	if ((unsigned)kind >= MAIL_KIND__COUNT)
		kind = MAIL_VERIFY_EMAIL;
	t = template_of(templates_dir, kind, PART_SUBJECT);
	out->subject = mail_substitute(t, v, MAIL_ESC_HEADER);
	free(t);
	utf8_cut(out->subject, MAIL_SUBJECT_MAX);
	t = template_of(templates_dir, kind, PART_TEXT);
	out->text = mail_substitute(t, v, MAIL_ESC_TEXT);
	free(t);
	t = template_of(templates_dir, kind, PART_HTML);
	out->html = mail_substitute(t, v, MAIL_ESC_HTML);
	free(t);
}

void mail_content_free(struct mail_content *c)
{
	if (!c)
		return;
	free(c->subject);
	free(c->text);
	free(c->html);
	memset(c, 0, sizeof(*c));
}

/* ---- links ---- */

char *mail_link(const char *base, const char *path, const char *token)
{
	struct buf b = BUF_INIT;

	buf_append_str(&b, base);
	buf_append_str(&b, path);
	buf_append_str(&b, "?token=");
	for (const char *p = token; *p; p++) {
		unsigned char c = (unsigned char)*p;

		if (ascii_is_alnum((char)c) || c == '-' || c == '_' || c == '.' || c == '~') {
			buf_append_char(&b, (char)c);
		} else {
			char pct[4] = "%";

			ascii_hex_encode(&c, 1, pct + 1, true);
			buf_append(&b, pct, 3);
		}
	}
	return buf_take(&b);
}
