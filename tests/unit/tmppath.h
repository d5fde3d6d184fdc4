/*
 * tmppath.h - unique temporary files and directories for the unit tests
 * (and the fuzz targets): mkstemp / mkdtemp on "<prefix>" followed by the
 * six pattern characters those functions replace.  The caller owns the
 * buffer and removes what was created.
 */
#ifndef AUTH_TESTS_TMPPATH_H
#define AUTH_TESTS_TMPPATH_H

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define TMP_PATTERN_LEN 6

/* prefix + the pattern into buf; 0, or -1 when it does not fit. */
static inline int tmp_template(char *buf, size_t len, const char *prefix)
{
	int n = snprintf(buf, len, "%s", prefix);

	if (n < 0 || (size_t)n + TMP_PATTERN_LEN >= len)
		return -1;
	memset(buf + n, 'X', TMP_PATTERN_LEN);
	buf[n + TMP_PATTERN_LEN] = '\0';
	return 0;
}

/* A new directory "<prefix>??????" (mode 0700); buf holds its path.  NULL on failure. */
static inline char *tmp_dir(char *buf, size_t len, const char *prefix)
{
	return tmp_template(buf, len, prefix) == 0 ? mkdtemp(buf) : NULL;
}

/* A new file "<prefix>??????" opened read-write (mode 0600); its descriptor, or -1. */
static inline int tmp_file(char *buf, size_t len, const char *prefix)
{
	return tmp_template(buf, len, prefix) == 0 ? mkstemp(buf) : -1;
}

#endif
