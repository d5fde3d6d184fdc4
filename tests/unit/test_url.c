/*
 * test_url.c - unit tests for DATABASE_URL and REDIS_URL parsing: accepted
 * forms, normalisation (driver suffix, sqlite paths), refusals with a
 * reason, percent-decoding and redaction of passwords.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "url.h"

static void db_ok(const char *in, struct db_url *u)
{
	const char *why = NULL;

	if (db_url_parse(in, u, &why) != 0)
		fail_msg("%s refused: %s", in, why ? why : "(no reason)");
}

static const char *db_bad(const char *in)
{
	struct db_url u;
	const char *why = NULL;

	if (db_url_parse(in, &u, &why) == 0)
		fail_msg("%s accepted", in);
	assert_non_null(why);
	assert_true(strlen(why) > 5);
	/* The struct is left empty, ready for db_url_free. */
	assert_null(u.sqlite_path);
	assert_null(u.pg_conninfo);
	assert_null(u.redacted);
	db_url_free(&u);
	return why;
}

static void check_pg(const char *in, const char *conninfo, const char *redacted)
{
	struct db_url u;

	db_ok(in, &u);
	assert_int_equal(u.kind, DB_POSTGRES);
	assert_null(u.sqlite_path);
	assert_string_equal(u.pg_conninfo, conninfo);
	assert_string_equal(u.redacted, redacted);
	db_url_free(&u);
	assert_null(u.pg_conninfo);
}

static void check_sqlite(const char *in, const char *path, const char *redacted)
{
	struct db_url u;

	db_ok(in, &u);
	assert_int_equal(u.kind, DB_SQLITE);
	assert_null(u.pg_conninfo);
	assert_string_equal(u.sqlite_path, path);
	assert_string_equal(u.redacted, redacted);
	db_url_free(&u);
}

static void test_postgres_forms(void **state)
{
	(void)state;
	check_pg("postgresql://user:password@localhost:5432/auth_db",
	         "postgresql://user:password@localhost:5432/auth_db",
	         "postgresql://user:***@localhost:5432/auth_db");
	check_pg("postgres://u:p@h/db", "postgresql://u:p@h/db", "postgresql://u:***@h/db");
	check_pg("postgresql+asyncpg://user:password@db.example.com/auth",
	         "postgresql://user:password@db.example.com/auth",
	         "postgresql://user:***@db.example.com/auth");
	check_pg("postgresql+psycopg://u:p@h/db", "postgresql://u:p@h/db",
	         "postgresql://u:***@h/db");
	check_pg("postgresql+psycopg2://u@h:6543/db", "postgresql://u@h:6543/db",
	         "postgresql://u@h:6543/db");
	check_pg("POSTGRESQL://h/db", "postgresql://h/db", "postgresql://h/db");
	check_pg("postgresql://h", "postgresql://h", "postgresql://h");
	/* Unix socket default, host list, IPv6. */
	check_pg("postgresql:///auth", "postgresql:///auth", "postgresql:///auth");
	check_pg("postgresql://u:p@h1:5432,h2:5433/db", "postgresql://u:p@h1:5432,h2:5433/db",
	         "postgresql://u:***@h1:5432,h2:5433/db");
	check_pg("postgresql://u:p@[::1]:5432/db", "postgresql://u:p@[::1]:5432/db",
	         "postgresql://u:***@[::1]:5432/db");
	check_pg("postgresql://%2Fvar%2Frun%2Fpostgresql/db",
	         "postgresql://%2Fvar%2Frun%2Fpostgresql/db",
	         "postgresql://%2Fvar%2Frun%2Fpostgresql/db");
	/* Percent-encoded credentials are passed through to libpq untouched. */
	check_pg("postgresql://u:p%40ss%3Aw@h/db", "postgresql://u:p%40ss%3Aw@h/db",
	         "postgresql://u:***@h/db");
	check_pg("postgresql://:pw@h/db", "postgresql://:pw@h/db", "postgresql://:***@h/db");
}

static void test_postgres_query_kept_and_redacted(void **state)
{
	(void)state;
	check_pg("postgresql+asyncpg://u:p@h/db?sslmode=require&connect_timeout=5",
	         "postgresql://u:p@h/db?sslmode=require&connect_timeout=5",
	         "postgresql://u:***@h/db?sslmode=require&connect_timeout=5");
	check_pg("postgresql://h/db?user=u&password=secret&sslpassword=s2&sslmode=verify-full",
	         "postgresql://h/db?user=u&password=secret&sslpassword=s2&sslmode=verify-full",
	         "postgresql://h/db?user=u&password=***&sslpassword=***&sslmode=verify-full");
	check_pg("postgresql://?host=/tmp&dbname=x", "postgresql://?host=/tmp&dbname=x",
	         "postgresql://?host=/tmp&dbname=x");
}

static void test_postgres_refused(void **state)
{
	(void)state;
	db_bad("postgresql://");
	db_bad("postgresql:///");
	db_bad("postgresql://u:p@/");
	assert_non_null(strstr(db_bad("postgresql://user:p@ss@host/db"), "'@'"));
	db_bad("postgresql://user:pass#word@host/db");  /* unencoded '#' */
	db_bad("postgresql://user:pa ss@host/db");      /* space */
	db_bad("postgresql://user:pass@host:0/db");     /* port 0 */
	db_bad("postgresql://user:pass@host:65536/db"); /* port too large */
	db_bad("postgresql://user:pass@host:54x/db");   /* port garbage */
	db_bad("postgresql://user:pass@host:/db");      /* empty port */
	db_bad("postgresql://user:pass@ho$t/db");       /* bad host char */
	db_bad("postgresql://user:pass@[::1/db");       /* unterminated bracket */
	db_bad("postgresql://user:pass@[]/db");         /* empty bracket */
	db_bad("postgresql://u:p@h/db?sslmode");        /* param without '=' */
	db_bad("postgresql://u:p@h/db?=x");             /* empty param name */
	db_bad("postgresql://u:p%4@h/db");              /* bad escape */
	db_bad("postgresql://u:p%zz@h/db");             /* bad escape */
	db_bad("postgresql://u:p@h/db%");               /* bad escape at end */
	db_bad("postgresql://u:p@h/d\xc3\xa9");         /* non-ASCII */
	db_bad("postgresql+://u:p@h/db");               /* empty driver */
	db_bad("postgresql+a+b://u:p@h/db");            /* two drivers */
}

static void test_sqlite_paths(void **state)
{
	(void)state;
	check_sqlite("sqlite:///./auth.db", "./auth.db", "sqlite:///./auth.db");
	check_sqlite("sqlite:///relative.db", "relative.db", "sqlite:///relative.db");
	check_sqlite("sqlite:///data/sub/x.db", "data/sub/x.db", "sqlite:///data/sub/x.db");
	check_sqlite("sqlite:////abs/path.db", "/abs/path.db", "sqlite:////abs/path.db");
	check_sqlite("sqlite+aiosqlite:///./auth.db", "./auth.db", "sqlite:///./auth.db");
	check_sqlite("SQLite:////var/lib/auth/auth.db", "/var/lib/auth/auth.db",
	             "sqlite:////var/lib/auth/auth.db");
}

static void test_sqlite_refused(void **state)
{
	(void)state;
	db_bad("sqlite://");              /* empty path */
	db_bad("sqlite:///");             /* empty path */
	db_bad("sqlite:////");            /* the root directory */
	db_bad("sqlite:///data/");        /* a directory */
	db_bad("sqlite://host/x.db");     /* a host */
	db_bad("sqlite:///x.db?mode=ro"); /* query */
	db_bad("sqlite:///x\n.db");       /* control character */
}

static void test_db_garbage(void **state)
{
	(void)state;
	db_bad("");
	db_bad(NULL);
	db_bad("mysql://u:p@h/db");
	db_bad("mongodb://h/db");
	db_bad("redis://h");
	db_bad("postgresql:/h/db");
	db_bad("postgresql//h/db");
	db_bad("localhost:5432");
	db_bad("just garbage");
	db_bad("://h/db");
	db_bad("1postgres://h/db");
	db_bad("post gres://h/db");
	/* The reason never quotes the input (it may hold a password). */
	assert_null(strstr(db_bad("mysql://u:hunter2@h/db"), "hunter2"));
	assert_null(strstr(db_bad("postgresql://u:hun@ter2@h/db"), "ter2"));
}

static void redis_ok(const char *in, struct redis_url *u)
{
	const char *why = NULL;

	if (redis_url_parse(in, u, &why) != 0)
		fail_msg("%s refused: %s", in, why ? why : "(no reason)");
}

static const char *redis_bad(const char *in)
{
	struct redis_url u;
	const char *why = NULL;

	if (redis_url_parse(in, &u, &why) == 0)
		fail_msg("%s accepted", in);
	assert_non_null(why);
	assert_null(u.host);
	assert_null(u.password);
	assert_null(u.username);
	assert_null(u.redacted);
	redis_url_free(&u);
	return why;
}

static void test_redis_forms(void **state)
{
	struct redis_url u;

	(void)state;
	redis_ok("redis://localhost", &u);
	assert_string_equal(u.host, "localhost");
	assert_int_equal(u.port, 6379);
	assert_int_equal(u.db, 0);
	assert_null(u.password);
	assert_null(u.username);
	assert_string_equal(u.redacted, "redis://localhost:6379/0");
	redis_url_free(&u);
	assert_null(u.host);

	redis_ok("redis://:s3cret@redis.internal:6380/2", &u);
	assert_string_equal(u.host, "redis.internal");
	assert_int_equal(u.port, 6380);
	assert_int_equal(u.db, 2);
	assert_string_equal(u.password, "s3cret");
	assert_null(u.username);
	assert_string_equal(u.redacted, "redis://:***@redis.internal:6380/2");
	redis_url_free(&u);

	redis_ok("redis://app:pw@10.0.0.5:1/", &u);
	assert_string_equal(u.username, "app");
	assert_string_equal(u.password, "pw");
	assert_string_equal(u.host, "10.0.0.5");
	assert_int_equal(u.port, 1);
	assert_int_equal(u.db, 0);
	assert_string_equal(u.redacted, "redis://app:***@10.0.0.5:1/0");
	redis_url_free(&u);

	redis_ok("REDIS://[::1]:65535/15", &u);
	assert_string_equal(u.host, "::1");
	assert_int_equal(u.port, 65535);
	assert_int_equal(u.db, 15);
	assert_string_equal(u.redacted, "redis://[::1]:65535/15");
	redis_url_free(&u);

	/* Any non-negative database number: servers may configure more than 16. */
	redis_ok("redis://h/99", &u);
	assert_int_equal(u.db, 99);
	redis_url_free(&u);

	redis_ok("redis://[fe80::1]/3", &u);
	assert_string_equal(u.host, "fe80::1");
	assert_int_equal(u.port, 6379);
	assert_int_equal(u.db, 3);
	redis_url_free(&u);

	/* An empty password is no password. */
	redis_ok("redis://:@h", &u);
	assert_null(u.password);
	assert_null(u.username);
	assert_string_equal(u.redacted, "redis://h:6379/0");
	redis_url_free(&u);
}

static void test_redis_password_decoding(void **state)
{
	struct redis_url u;

	(void)state;
	redis_ok("redis://:p%40ss%3Aw%2Fo%23rd%25@h:6379/0", &u);
	assert_string_equal(u.password, "p@ss:w/o#rd%");
	assert_string_equal(u.redacted, "redis://:***@h:6379/0");
	assert_null(strstr(u.redacted, "p%40"));
	redis_url_free(&u);

	redis_ok("redis://us%65r:a:b@h", &u); /* a ':' in the password is fine */
	assert_string_equal(u.username, "user");
	assert_string_equal(u.password, "a:b");
	assert_string_equal(u.redacted, "redis://us%65r:***@h:6379/0");
	redis_url_free(&u);

	redis_bad("redis://:p%zz@h");
	redis_bad("redis://:p%4@h");
	redis_bad("redis://:p%@h");
	redis_bad("redis://:p%00x@h"); /* would truncate the password */
	redis_bad("redis://u%zz:p@h");
}

static void test_redis_refused(void **state)
{
	const char *why;

	(void)state;
	why = redis_bad("rediss://:pw@h:6380/0");
	assert_non_null(strstr(why, "TLS"));
	redis_bad("");
	redis_bad(NULL);
	redis_bad("redis://");
	redis_bad("redis://:pw@");
	redis_bad("redis://:pw@/0");
	redis_bad("redis://h:0");
	redis_bad("redis://h:65536");
	redis_bad("redis://h:");
	redis_bad("redis://h:63x9");
	redis_bad("redis://h:6379/-1");
	redis_bad("redis://h:6379/x");
	redis_bad("redis://h:6379/1/2");
	redis_bad("redis://h:6379/99999999999");
	redis_bad("redis://h?db=1");
	redis_bad("redis://:pass#word@h");
	redis_bad("redis://:p@ss@h");
	redis_bad("redis://password@h"); /* credentials must be [user]:password */
	redis_bad("redis://::1:6379");   /* unbracketed IPv6 */
	redis_bad("redis://[::1");
	redis_bad("redis://[]:6379");
	redis_bad("redis://[::1]x");
	redis_bad("redis://[zz::1]");
	redis_bad("redis://h o/0");
	redis_bad("redis://h$/0");
	redis_bad("redis+tls://h");
	redis_bad("unix:///tmp/redis.sock");
	redis_bad("http://h:6379");
	redis_bad("localhost:6379");
	assert_null(strstr(redis_bad("redis://:hunter2@h:0"), "hunter2"));
}

static void test_free_zeroed(void **state)
{
	struct db_url d = {0};
	struct redis_url r = {0};

	(void)state;
	db_url_free(&d);
	db_url_free(&d);
	db_url_free(NULL);
	redis_url_free(&r);
	redis_url_free(NULL);
	assert_null(d.redacted);
	assert_null(r.redacted);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
	        cmocka_unit_test(test_postgres_forms),
	        cmocka_unit_test(test_postgres_query_kept_and_redacted),
	        cmocka_unit_test(test_postgres_refused),
	        cmocka_unit_test(test_sqlite_paths),
	        cmocka_unit_test(test_sqlite_refused),
	        cmocka_unit_test(test_db_garbage),
	        cmocka_unit_test(test_redis_forms),
	        cmocka_unit_test(test_redis_password_decoding),
	        cmocka_unit_test(test_redis_refused),
	        cmocka_unit_test(test_free_zeroed),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
