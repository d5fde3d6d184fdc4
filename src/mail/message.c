/*
 * mail/message.c - email templates and RFC 5322 / MIME message building.
 *
 * Design decisions:
 *   - Content is rendered when a request enqueues the email (the outbox
 *     stores subject, text and HTML), and wrapped into MIME only when the
 *     sender sends it, so a retry sends the same words with a fresh Date
 *     and the same Message-ID.
 *   - Escaping is per part and applies to the substituted values only:
 *     the HTML part gets &<>"' escaped, the text part and subject get
 *     control characters replaced by spaces.  Header values are checked or
 *     cleaned once more in mail_build(), so even content written to the
 *     outbox by something else cannot add a header.
 *   - Both bodies are quoted-printable: 7-bit clean, lines of at most 76
 *     characters, readable in the raw.  The MIME boundary starts with "=_",
 *     which quoted-printable output can never contain.
 *   - Strings grow in a struct buf (buf.h) on the abort-on-OOM
 *     allocator, so no function here fails for lack of memory.
 */
#include "mail/message.h"

#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "arena.h"
#include "ascii.h"
#include "auth/b64.h"
#include "buf.h"
#include "log.h"

static bool is_ctl(unsigned char c)
{
	return c < 0x20 || c == 0x7f;
}

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

		if (is_ctl(c)) {
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

/* ---- addresses and header values ---- */

bool mail_addr_ok(const char *addr, bool need_at)
{
	size_t n = strlen(addr);
	const char *at = NULL;

	if (n == 0 || n >= MAIL_ADDR_MAX)
		return false;
	for (const char *p = addr; *p; p++) {
		unsigned char c = (unsigned char)*p;

		if (c <= 0x20 || c >= 0x7f || strchr("()<>[],;:\\\"", c))
			return false;
		if (c == '@') {
			if (at)
				return false;
			at = p;
		}
	}
	if (need_at && (!at || at == addr || at[1] == '\0'))
		return false;
	return true;
}

int mail_from_parse(const char *from, char addr[MAIL_ADDR_MAX], char name[MAIL_NAME_MAX])
{
	const char *lt = strrchr(from, '<'), *gt;
	const char *nb, *ne;
	size_t n;

	addr[0] = name[0] = '\0';
	if (!lt) {
		nb = from;
		while (*nb == ' ')
			nb++;
		ne = nb + strlen(nb);
		while (ne > nb && ne[-1] == ' ')
			ne--;
		n = (size_t)(ne - nb);
		if (n >= MAIL_ADDR_MAX)
			return -1;
		memcpy(addr, nb, n);
		addr[n] = '\0';
		return mail_addr_ok(addr, false) ? 0 : -1;
	}
	gt = strchr(lt, '>');
	if (!gt)
		return -1;
	for (const char *p = gt + 1; *p; p++)
		if (*p != ' ')
			return -1;
	n = (size_t)(gt - lt - 1);
	if (n >= MAIL_ADDR_MAX)
		return -1;
	memcpy(addr, lt + 1, n);
	addr[n] = '\0';
	if (!mail_addr_ok(addr, false))
		return -1;
	/* The display name, without blanks and surrounding quotes. */
	nb = from;
	ne = lt;
	while (nb < ne && *nb == ' ')
		nb++;
	while (ne > nb && ne[-1] == ' ')
		ne--;
	if (ne - nb >= 2 && *nb == '"' && ne[-1] == '"') {
		nb++;
		ne--;
	}
	n = (size_t)(ne - nb);
	if (n >= MAIL_NAME_MAX) { /* cut, but not inside a UTF-8 sequence */
		n = MAIL_NAME_MAX - 1;
		while (n > 0 && ((unsigned char)nb[n] & 0xc0) == 0x80)
			n--;
	}
	for (size_t i = 0; i < n; i++)
		name[i] = is_ctl((unsigned char)nb[i]) ? ' ' : nb[i];
	name[n] = '\0';
	return 0;
}

void mail_date(int64_t t, char out[MAIL_DATE_LEN])
{
	static const char *const days[] = {"Sun", "Mon", "Tue", "Wed", "Thu", "Fri", "Sat"};
	static const char *const months[] = {"Jan", "Feb", "Mar", "Apr", "May", "Jun",
	                                     "Jul", "Aug", "Sep", "Oct", "Nov", "Dec"};
	time_t tt = (time_t)t;
	struct tm tm;

	gmtime_r(&tt, &tm);
	snprintf(out, MAIL_DATE_LEN, "%s, %02d %s %04d %02d:%02d:%02d +0000", days[tm.tm_wday % 7],
	         tm.tm_mday, months[tm.tm_mon % 12], tm.tm_year + 1900, tm.tm_hour, tm.tm_min,
	         tm.tm_sec);
}

/*
 * Bytes of raw text per encoded-word: 42 bytes are 56 base64 characters,
 * plus "=?UTF-8?B?" and "?=" 68, so "Subject: " + one word stays within 78.
 */
#define EW_RAW_MAX 42

char *mail_header_encode(const char *value)
{
	struct buf clean = BUF_INIT, b = BUF_INIT;
	bool plain = true;
	const unsigned char *s;
	char *text, word[B64STD_ENCODED_LEN(EW_RAW_MAX) + 1];
	size_t n, i = 0;

	for (const char *p = value; *p; p++)
		buf_append_char(&clean, is_ctl((unsigned char)*p) ? ' ' : *p);
	n = clean.len;
	text = buf_take(&clean);
	for (i = 0; i < n; i++)
		if ((unsigned char)text[i] >= 0x80)
			plain = false;
	if (strstr(text, "=?"))
		plain = false;
	if (plain)
		return text;

	s = (const unsigned char *)text;
	i = 0;
	while (i < n) {
		size_t take = n - i < EW_RAW_MAX ? n - i : EW_RAW_MAX;

		/* Never end a word inside a UTF-8 sequence. */
		if (i + take < n)
			while (take > 1 && (s[i + take] & 0xc0) == 0x80)
				take--;
		if (i > 0)
			buf_append_str(&b, "\r\n ");
		b64std_encode(s + i, take, word, sizeof(word));
		buf_append_str(&b, "=?UTF-8?B?");
		buf_append_str(&b, word);
		buf_append_str(&b, "?=");
		i += take;
	}
	free(text);
	return buf_take(&b);
}

/* ---- quoted-printable ---- */

#define QP_LINE_MAX 76

char *mail_qp_encode(const char *text)
{
	struct buf b = BUF_INIT;
	const char *p = text;

	while (*p) {
		size_t len = strcspn(p, "\n"), col = 0;

		if (len > 0 && p[len - 1] == '\r')
			len--;
		for (size_t i = 0; i < len; i++) {
			unsigned char c = (unsigned char)p[i];
			char tok[4];
			size_t tn;
			bool last = i + 1 == len;

			if ((c >= 33 && c <= 126 && c != '=' && !(c == '.' && i == 0)) ||
			    ((c == ' ' || c == '\t') && !last)) {
				tok[0] = (char)c;
				tn = 1;
			} else {
				tok[0] = '=';
				ascii_hex_encode(&c, 1, tok + 1, true);
				tn = 3;
			}
			/* Leave room for the '=' of a soft line break. */
			if (col + tn > QP_LINE_MAX - 1) {
				buf_append_str(&b, "=\r\n");
				col = 0;
			}
			buf_append(&b, tok, tn);
			col += tn;
		}
		buf_append_str(&b, "\r\n");
		p += strcspn(p, "\n");
		if (*p == '\n')
			p++;
	}
	return buf_take(&b);
}

/* ---- the message ---- */

static bool id_ok(const char *id)
{
	size_t n = strlen(id);

	if (n == 0 || n > 128)
		return false;
	for (const char *p = id; *p; p++)
		if (!ascii_is_alnum(*p) && *p != '.' && *p != '-')
			return false;
	return true;
}

/* The domain of addr for the Message-ID: letters, digits, '.', '-'; else "localhost". */
static void id_domain(const char *addr, char *out, size_t outlen)
{
	const char *at = strrchr(addr, '@');

	snprintf(out, outlen, "%s", at && at[1] ? at + 1 : "localhost");
	for (char *p = out; *p; p++)
		if (!ascii_is_alnum(*p) && *p != '.' && *p != '-') {
			snprintf(out, outlen, "localhost");
			return;
		}
}

/* The display name as a quoted-string, or encoded-words when not ASCII. */
static void put_display_name(struct buf *b, const char *name)
{
	char *enc = mail_header_encode(name);

	if (strncmp(enc, "=?", 2) == 0) {
		buf_append_str(b, enc);
	} else {
		buf_append_char(b, '"');
		for (const char *p = enc; *p; p++) {
			if (*p == '"' || *p == '\\')
				buf_append_char(b, '\\');
			buf_append_char(b, *p);
		}
		buf_append_char(b, '"');
	}
	free(enc);
}

static void put_part(struct buf *b, const char *boundary, const char *type, const char *body)
{
	char *qp = mail_qp_encode(body);

	buf_appendf(b, "--%s\r\n", boundary);
	buf_appendf(b, "Content-Type: %s; charset=UTF-8\r\n", type);
	buf_append_str(b, "Content-Transfer-Encoding: quoted-printable\r\n\r\n");
	buf_append_str(b, qp);
	free(qp);
}

char *mail_build(const struct mail_msg *m, size_t *len, const char **why)
{
	char addr[MAIL_ADDR_MAX], name[MAIL_NAME_MAX], date[MAIL_DATE_LEN], domain[MAIL_ADDR_MAX];
	char boundary[160], *subject;
	struct buf b = BUF_INIT;

	if (mail_from_parse(m->from, addr, name) != 0) {
		*why = "SMTP_FROM is not a usable address";
		return NULL;
	}
	if (!mail_addr_ok(m->to, true)) {
		*why = "recipient is not a usable address";
		return NULL;
	}
	if (!id_ok(m->id)) {
		*why = "malformed Message-ID";
		return NULL;
	}
	if (!name[0] && m->from_name)
		snprintf(name, sizeof(name), "%s", m->from_name);
	id_domain(addr, domain, sizeof(domain));
	mail_date(m->date, date);
	snprintf(boundary, sizeof(boundary), "=_auth_%s", m->id);

	buf_append_str(&b, "From: ");
	if (name[0]) {
		put_display_name(&b, name);
		buf_appendf(&b, " <%s>\r\n", addr);
	} else {
		buf_appendf(&b, "%s\r\n", addr);
	}
	buf_appendf(&b, "To: %s\r\n", m->to);
	subject = mail_header_encode(m->subject);
	buf_append_str(&b, "Subject: ");
	buf_append_str(&b, subject);
	buf_append_str(&b, "\r\n");
	free(subject);
	buf_appendf(&b, "Date: %s\r\n", date);
	buf_appendf(&b, "Message-ID: <%s@%s>\r\n", m->id, domain);
	buf_append_str(&b, "MIME-Version: 1.0\r\n");
	buf_append_str(&b, "Auto-Submitted: auto-generated\r\n");
	if (m->html) {
		buf_appendf(&b, "Content-Type: multipart/alternative; boundary=\"%s\"\r\n\r\n",
		            boundary);
		buf_append_str(&b, "This is a multi-part message in MIME format.\r\n\r\n");
		put_part(&b, boundary, "text/plain", m->text);
		put_part(&b, boundary, "text/html", m->html);
		buf_appendf(&b, "--%s--\r\n", boundary);
	} else {
		char *qp = mail_qp_encode(m->text);

		buf_append_str(&b, "Content-Type: text/plain; charset=UTF-8\r\n");
		buf_append_str(&b, "Content-Transfer-Encoding: quoted-printable\r\n\r\n");
		buf_append_str(&b, qp);
		free(qp);
	}
	*len = b.len;
	return buf_take(&b);
}
