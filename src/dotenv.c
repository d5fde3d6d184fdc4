/*
 * dotenv.c - a .env file parser.
 *
 * The input is untrusted text of any shape (it is fuzzed), so the parser
 * walks the buffer with an explicit cursor and never reads past `len`; the
 * buffer need not be NUL-terminated and a NUL byte anywhere is a bad line
 * (it could not survive as a C string).  Grammar, per logical line:
 *
 *   [spaces] [export <spaces>] KEY [spaces] = [spaces] VALUE [spaces] [# comment]
 *
 * KEY is [A-Za-z_][A-Za-z0-9_]*.  VALUE is one of
 *   'literal'      no escapes; may span lines
 *   "escaped"      \n \r \t \" \' \\ decoded, other backslashes kept; may span lines
 *   unquoted       up to the end of the line; a '#' preceded by a space or
 *                  tab starts a comment; surrounding spaces are trimmed
 * Blank lines and lines whose first non-blank character is '#' are skipped.
 * Anything else (a line without '=', text after a closing quote, an
 * unterminated quote) is reported by its 1-based line number, never guessed
 * at.  A UTF-8 byte-order mark and CRLF line ends are accepted.  Files are
 * limited to 1 MiB and 4096 distinct keys, which bounds the work any input
 * can cause.
 */
#include "dotenv.h"

#include <errno.h>
#include <fcntl.h>
#include <stdbool.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "arena.h"
#include "buf.h"

/* A .env file is a few kilobytes; anything this large is a mistake. */
#define DOTENV_MAX_FILE (1024 * 1024)
/* Bounds the quadratic duplicate check: no real file comes near it. */
#define DOTENV_MAX_ENTRIES 4096

struct cursor {
	const char *p;
	const char *end;
	size_t line; /* 1-based number of the line p is on */
};

static bool is_blank(char c)
{
	return c == ' ' || c == '\t';
}

static bool is_key_start(char c)
{
	return (c >= 'A' && c <= 'Z') || (c >= 'a' && c <= 'z') || c == '_';
}

static bool is_key_char(char c)
{
	return is_key_start(c) || (c >= '0' && c <= '9');
}

static void skip_blanks(struct cursor *c)
{
	while (c->p < c->end && is_blank(*c->p))
		c->p++;
}

/* True at the end of a line: end of input, "\n" or "\r\n". */
static bool at_eol(const struct cursor *c)
{
	if (c->p >= c->end || *c->p == '\n')
		return true;
	return *c->p == '\r' && (c->p + 1 >= c->end || c->p[1] == '\n');
}

/* Step over the line end the cursor is on (at_eol must be true). */
static void next_line(struct cursor *c)
{
	if (c->p < c->end && *c->p == '\r')
		c->p++;
	if (c->p < c->end && *c->p == '\n') {
		c->p++;
		c->line++;
	}
}

/* Skip to and over the end of the current line. */
static void skip_line(struct cursor *c)
{
	while (c->p < c->end && *c->p != '\n')
		c->p++;
	next_line(c);
}

/*
 * After a closing quote: only blanks and an optional comment may follow.
 * Returns false when anything else does.
 */
static bool finish_after_quote(struct cursor *c)
{
	skip_blanks(c);
	if (c->p < c->end && *c->p == '#') {
		skip_line(c);
		return true;
	}
	if (!at_eol(c))
		return false;
	next_line(c);
	return true;
}

/* Read a quoted value; the cursor is on the opening quote. */
static int read_quoted(struct cursor *c, struct buf *val)
{
	char q = *c->p++;

	while (c->p < c->end) {
		char ch = *c->p++;

		if (ch == '\0')
			return -1;
		if (ch == q)
			return finish_after_quote(c) ? 0 : -1;
		if (ch == '\n')
			c->line++;
		if (ch == '\r' && c->p < c->end && *c->p == '\n')
			continue; /* CRLF inside a multi-line value: keep only LF */
		if (ch == '\\' && q == '"' && c->p < c->end) {
			char e = *c->p;
			char out;

			switch (e) {
			case 'n':
				out = '\n';
				break;
			case 'r':
				out = '\r';
				break;
			case 't':
				out = '\t';
				break;
			case '"':
			case '\'':
			case '\\':
				out = e;
				break;
			default:
				/* Unknown escape: keep the backslash, as python-dotenv does. */
				buf_append_char(val, ch);
				continue;
			}
			c->p++;
			buf_append_char(val, out);
			continue;
		}
		buf_append_char(val, ch);
	}
	return -1; /* unterminated */
}

/*
 * Read an unquoted value up to the end of the line.  `eq` points just after
 * the '=': a '#' with a blank before it (even one of the blanks between '='
 * and the value) starts a comment, so "KEY= # note" is empty while
 * "KEY=#abc" is "#abc".
 */
static int read_unquoted(struct cursor *c, const char *eq, struct buf *val)
{
	const char *start = c->p;
	const char *stop;

	while (!at_eol(c)) {
		if (*c->p == '\0')
			return -1;
		if (*c->p == '#' && c->p > eq && is_blank(c->p[-1]))
			break;
		c->p++;
	}
	stop = c->p;
	/* The blanks before '=' were skipped by the caller; trim the tail. */
	while (stop > start && is_blank(stop[-1]))
		stop--;
	for (const char *s = start; s < stop; s++)
		buf_append_char(val, *s);
	if (!at_eol(c))
		skip_line(c); /* over the comment */
	else
		next_line(c);
	return 0;
}

/* Add or replace key (later duplicates win); takes ownership of both. */
static int set_entry(struct dotenv *env, size_t *cap, char *key, char *value)
{
	for (size_t i = 0; i < env->n; i++) {
		if (strcmp(env->entries[i].key, key) == 0) {
			free(env->entries[i].value);
			env->entries[i].value = value;
			free(key);
			return 0;
		}
	}
	if (env->n == DOTENV_MAX_ENTRIES) {
		free(key);
		free(value);
		return -1;
	}
	if (env->n == *cap) {
		*cap = *cap ? *cap * 2 : 16;
		env->entries = xrealloc(env->entries, *cap * sizeof(*env->entries));
	}
	env->entries[env->n].key = key;
	env->entries[env->n].value = value;
	env->n++;
	return 0;
}

/*
 * Parse one logical line starting at the cursor.  Returns 1 for an
 * assignment (key/value set), 0 for a blank or comment line, -1 when bad.
 */
static int parse_line(struct cursor *c, char **key, char **value)
{
	const char *k, *eq;
	struct buf val = BUF_INIT;
	int rc;

	skip_blanks(c);
	if (at_eol(c)) {
		next_line(c);
		return 0;
	}
	if (*c->p == '#') {
		skip_line(c);
		return 0;
	}
	if (c->end - c->p >= 7 && memcmp(c->p, "export", 6) == 0 && is_blank(c->p[6])) {
		c->p += 6;
		skip_blanks(c);
	}
	if (c->p >= c->end || !is_key_start(*c->p))
		return -1;
	k = c->p;
	while (c->p < c->end && is_key_char(*c->p))
		c->p++;
	*key = xmalloc((size_t)(c->p - k) + 1);
	memcpy(*key, k, (size_t)(c->p - k));
	(*key)[c->p - k] = '\0';

	skip_blanks(c);
	if (c->p >= c->end || *c->p != '=')
		goto bad;
	eq = ++c->p;
	skip_blanks(c);
	if (c->p < c->end && (*c->p == '"' || *c->p == '\''))
		rc = read_quoted(c, &val);
	else
		rc = read_unquoted(c, eq, &val);
	if (rc < 0)
		goto bad;
	*value = buf_take(&val);
	return 1;
bad:
	buf_free(&val);
	free(*key);
	*key = NULL;
	return -1;
}

int dotenv_parse(const char *buf, size_t len, struct dotenv *out, size_t *bad_line)
{
	struct cursor c = {.line = 1};
	size_t cap = 0;

	out->entries = NULL;
	out->n = 0;
	if (bad_line)
		*bad_line = 0;
	if (!buf)
		return len ? -1 : 0;
	/* Only now: NULL + 0 is undefined behaviour in C (clang's UBSan reports it). */
	c.p = buf;
	c.end = buf + len;
	if (len >= 3 && memcmp(buf, "\xEF\xBB\xBF", 3) == 0)
		c.p += 3;

	while (c.p < c.end) {
		size_t line = c.line;
		char *key = NULL, *value = NULL;
		int rc = parse_line(&c, &key, &value);

		if (rc > 0)
			rc = set_entry(out, &cap, key, value);
		if (rc < 0) {
			if (bad_line)
				*bad_line = line;
			dotenv_free(out);
			return -1;
		}
	}
	return 0;
}

int dotenv_load_file(const char *path, struct dotenv *out, size_t *bad_line)
{
	struct stat st;
	char *buf = NULL;
	size_t got = 0;
	int fd, rc = -1;

	out->entries = NULL;
	out->n = 0;
	if (bad_line)
		*bad_line = 0;
	fd = open(path, O_RDONLY | O_CLOEXEC);
	if (fd < 0)
		return errno == ENOENT ? 1 : -1;
	if (fstat(fd, &st) < 0)
		goto out;
	if (!S_ISREG(st.st_mode)) {
		errno = EINVAL;
		goto out;
	}
	if (st.st_size > DOTENV_MAX_FILE) {
		errno = EFBIG;
		goto out;
	}
	/* Read to EOF but never beyond the limit, whatever fstat said. */
	buf = xmalloc(DOTENV_MAX_FILE + 1);
	for (;;) {
		ssize_t r = read(fd, buf + got, DOTENV_MAX_FILE + 1 - got);

		if (r < 0) {
			if (errno == EINTR)
				continue;
			goto out;
		}
		if (r == 0)
			break;
		got += (size_t)r;
		if (got > DOTENV_MAX_FILE) {
			errno = EFBIG;
			goto out;
		}
	}
	rc = dotenv_parse(buf, got, out, bad_line);
	if (rc < 0)
		errno = EINVAL;
out:
	free(buf);
	close(fd);
	return rc;
}

const char *dotenv_get(const struct dotenv *env, const char *key)
{
	if (!env || !key)
		return NULL;
	for (size_t i = 0; i < env->n; i++)
		if (strcmp(env->entries[i].key, key) == 0)
			return env->entries[i].value;
	return NULL;
}

void dotenv_free(struct dotenv *env)
{
	if (!env)
		return;
	for (size_t i = 0; i < env->n; i++) {
		free(env->entries[i].key);
		free(env->entries[i].value);
	}
	free(env->entries);
	env->entries = NULL;
	env->n = 0;
}
