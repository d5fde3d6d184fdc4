/*
 * dotenv.h - a .env file parser.
 *
 * Accepts what python-dotenv accepts in practice: KEY=value lines, blank
 * lines, # comments, an optional "export " prefix, single-quoted (literal)
 * and double-quoted (with \n, \", \\ escapes) values, and unquoted values
 * with trailing " # comment" stripped and surrounding spaces trimmed.
 * Lines that are not assignments are reported, not guessed at.
 */
#ifndef AUTH_DOTENV_H
#define AUTH_DOTENV_H

#include <stddef.h>

struct dotenv_entry {
	char *key;
	char *value;
};

struct dotenv {
	struct dotenv_entry *entries;
	size_t n;
};

/*
 * Parse a buffer (need not be NUL-terminated).  Returns 0, or -1 with the
 * 1-based number of the first bad line in *bad_line.  On success `out` owns
 * its strings: free with dotenv_free.  Later duplicates override earlier ones.
 */
int dotenv_parse(const char *buf, size_t len, struct dotenv *out, size_t *bad_line);

/* Read and parse a file.  Returns 0, 1 when the file does not exist, -1 on error. */
int dotenv_load_file(const char *path, struct dotenv *out, size_t *bad_line);

/* Value of key or NULL. */
const char *dotenv_get(const struct dotenv *env, const char *key);

void dotenv_free(struct dotenv *env);

#endif
