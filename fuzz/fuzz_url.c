/*
 * fuzz_url.c - libFuzzer target for DATABASE_URL and REDIS_URL parsing
 * (url.c).  Both parsers get every input, cut at its first NUL as a value
 * from the environment would be.
 *
 * An accepted URL must come back whole: a redacted form that starts with
 * its scheme; for PostgreSQL a conninfo starting with postgresql://, for
 * SQLite a non-empty path; for Redis a host, a port in 1..65535, a
 * database >= 0 and, when there is a password, "***" in its place in the
 * redacted form.  A refusal must come with a reason.
 */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "arena.h"
#include "url.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	char *s = xmalloc(size + 1);
	const char *why = NULL;
	struct db_url db;
	struct redis_url rd;

	memcpy(s, data, size);
	s[size] = '\0';

	if (db_url_parse(s, &db, &why) == 0) {
		if (db.redacted == NULL)
			abort();
		if (db.kind == DB_POSTGRES &&
		    (db.pg_conninfo == NULL || strncmp(db.pg_conninfo, "postgresql://", 13) != 0 ||
		     strncmp(db.redacted, "postgresql://", 13) != 0))
			abort();
		if (db.kind == DB_SQLITE && (db.sqlite_path == NULL || db.sqlite_path[0] == '\0' ||
		                             strncmp(db.redacted, "sqlite:///", 10) != 0))
			abort();
		db_url_free(&db);
	} else if (why == NULL || db.redacted != NULL) {
		abort();
	}

	why = NULL;
	if (redis_url_parse(s, &rd, &why) == 0) {
		if (rd.host == NULL || rd.host[0] == '\0' || rd.port < 1 || rd.port > 65535 ||
		    rd.db < 0 || rd.redacted == NULL || strncmp(rd.redacted, "redis://", 8) != 0)
			abort();
		if (rd.password && !strstr(rd.redacted, ":***@"))
			abort();
		redis_url_free(&rd);
	} else if (why == NULL || rd.host != NULL || rd.password != NULL) {
		abort();
	}
	free(s);
	return 0;
}
