/*
 * mail/mime.h - how an email is put on the wire.
 *
 * mail_build() turns stored content into an RFC 5322 message:
 * multipart/alternative (text + HTML, quoted-printable, UTF-8), Subject as
 * RFC 2047 encoded-words when it is not plain ASCII, Date, Message-ID at
 * the From domain, MIME-Version.  No header value can carry CR or LF:
 * recipient and From are refused when they hold anything but printable
 * ASCII, the subject and display name have control characters replaced.
 * Lines end in CRLF.  Pure functions of their inputs, unit-tested directly
 * (tests/unit/test_mime.c).
 */
#ifndef AUTH_MAIL_MIME_H
#define AUTH_MAIL_MIME_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#define MAIL_ADDR_MAX 321 /* address + NUL (RFC 5321) */
#define MAIL_NAME_MAX 256 /* display name + NUL */
#define MAIL_DATE_LEN 40

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
