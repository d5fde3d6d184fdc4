/*
 * mail/message.h - what an email says and how it is put on the wire.
 *
 * Two halves, both pure functions of their inputs (no I/O except reading
 * template files), so they are unit-tested directly:
 *
 *   - content: mail_render() fills the subject, text and HTML of one kind
 *     of email from a template and a few variables.  Templates are compiled
 *     in and may be overridden, file by file, from EMAIL_TEMPLATES_DIR
 *     (<kind>.subject, <kind>.txt, <kind>.html).  {{placeholder}} values are
 *     escaped for the part they land in: HTML-escaped in the HTML part,
 *     control characters removed in the text part and the subject.
 *
 *   - wire format: mail_build() turns stored content into an RFC 5322
 *     message: multipart/alternative (text + HTML, quoted-printable,
 *     UTF-8), Subject as RFC 2047 encoded-words when it is not plain
 *     ASCII, Date, Message-ID at the From domain, MIME-Version.  No header
 *     value can carry CR or LF: recipient and From are refused when they
 *     hold anything but printable ASCII, the subject and display name have
 *     control characters replaced.  Lines end in CRLF.
 *
 * Links are built only from FRONTEND_URL (mail_link), never from anything a
 * request says about its own host.
 */
#ifndef AUTH_MAIL_MESSAGE_H
#define AUTH_MAIL_MESSAGE_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#define MAIL_TEMPLATE_MAX (64 * 1024) /* bytes of one template file */
#define MAIL_SUBJECT_MAX  400         /* bytes of a subject after substitution */
#define MAIL_ADDR_MAX     321         /* address + NUL (RFC 5321) */
#define MAIL_NAME_MAX     256         /* display name + NUL */
#define MAIL_DATE_LEN     40

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

/*
 * An address safe in a header and an SMTP command: 1..320 bytes of
 * printable ASCII without blanks or any of ()<>[],;:\" ; with need_at,
 * exactly one '@' with something on both sides.
 */
bool mail_addr_ok(const char *addr, bool need_at);

/*
 * Split SMTP_FROM ("addr" or "Display Name <addr>") into the address and
 * the display name ("" when there is none).  -1 when the address is not
 * mail_addr_ok(addr, false) or the parts do not fit.
 */
int mail_from_parse(const char *from, char addr[MAIL_ADDR_MAX], char name[MAIL_NAME_MAX]);

/* RFC 5322 date in UTC: "Tue, 03 Feb 2026 04:05:06 +0000". */
void mail_date(int64_t t, char out[MAIL_DATE_LEN]);

/*
 * A header value: control characters replaced by spaces, then, when it
 * holds non-ASCII bytes or "=?", RFC 2047 "B" encoded-words of at most 75
 * characters folded with CRLF SP, never splitting a UTF-8 sequence.
 * malloc'ed.
 */
char *mail_header_encode(const char *value);

/* Quoted-printable (RFC 2045), CRLF line ends, lines <= 76 characters.  malloc'ed. */
char *mail_qp_encode(const char *text);

struct mail_msg {
	const char *from;      /* SMTP_FROM */
	const char *from_name; /* display name when SMTP_FROM has none (APP_NAME); may be NULL */
	const char *to;        /* the recipient's address */
	const char *subject;
	const char *text;
	const char *html; /* NULL: a single text/plain part */
	int64_t date;
	const char *id; /* left part of the Message-ID: [A-Za-z0-9.-], stable per message */
};

/*
 * Build the whole message (headers + body, CRLF).  Returns it malloc'ed
 * with *len, or NULL with *why set (static text) when From or To is not an
 * acceptable address or id is malformed.
 */
char *mail_build(const struct mail_msg *m, size_t *len, const char **why);

#endif
