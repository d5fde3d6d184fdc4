/*
 * url.h - parsing of DATABASE_URL and REDIS_URL.
 *
 * DATABASE_URL: sqlite:///relative.db, sqlite:////abs/path.db,
 * postgresql://, postgres://, postgresql+asyncpg://, postgresql+psycopg://
 * (any "+driver" suffix is dropped; query parameters such as sslmode are kept
 * and passed to libpq).  REDIS_URL: redis://[:password@]host[:port][/db].
 * Each parsed URL also carries a redacted form (password replaced by ***)
 * that is safe to print.
 */
#ifndef AUTH_URL_H
#define AUTH_URL_H

#include <stddef.h>

enum db_kind { DB_SQLITE, DB_POSTGRES };

struct db_url {
	enum db_kind kind;
	char *sqlite_path; /* DB_SQLITE: file path ("./auth.db", "/abs.db") */
	char *pg_conninfo; /* DB_POSTGRES: a postgresql:// URI libpq accepts */
	char *redacted;    /* printable form */
};

struct redis_url {
	char *host;
	int port;       /* default 6379 */
	char *password; /* NULL when none */
	char *username; /* NULL when none (Redis 6 ACL user) */
	int db;         /* default 0 */
	char *redacted;
};

/*
 * Parse; returns 0 or -1 with a short reason (static string) in *why.
 * On success the struct owns heap strings: free with the matching _free.
 */
int db_url_parse(const char *s, struct db_url *out, const char **why);
void db_url_free(struct db_url *u);
int redis_url_parse(const char *s, struct redis_url *out, const char **why);
void redis_url_free(struct redis_url *u);

#endif
