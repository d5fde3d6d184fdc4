/*
 * mail/mime.c - RFC 5322 / MIME wire format of an email (see mime.h).
 *
 * Design decisions:
 *   - A message is built from stored content each time it is sent, so a
 *     retry sends the same words with a fresh Date and the same
 *     Message-ID.
 *   - Header values are checked or cleaned here once more, whatever the
 *     templates did, so even content written to the outbox by something
 *     else cannot add a header.
 *   - Both bodies are quoted-printable: 7-bit clean, lines of at most 76
 *     characters, readable in the raw.  The MIME boundary starts with "=_",
 *     which quoted-printable output can never contain.
 *   - Non-ASCII header text becomes RFC 2047 "B" encoded-words; the base64
 *     is auth/b64's (b64std_encode).  Encoded-words are never wrapped
 *     inside (RFC 2047 forbids it): long text is split into several words
 *     folded with CRLF SP.
 *   - Strings grow in a struct buf (buf.h) on the abort-on-OOM allocator,
 *     so no function here fails for lack of memory.
 */
#include "mail/mime.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "ascii.h"
#include "auth/b64.h"
#include "buf.h"

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
		name[i] = ascii_is_ctl(nb[i]) ? ' ' : nb[i];
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
		buf_append_char(&clean, ascii_is_ctl(*p) ? ' ' : *p);
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
