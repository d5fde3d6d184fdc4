/*
 * store/migrations.h - the numbered schema migrations and their runner.
 *
 * The public entry points are store_schema_version / store_migrate_up /
 * store_migrate_down / store_migrate_status in store/store.h; they run the
 * built-in list.  The runner functions below take the list explicitly so
 * that tests can run it on lists of their own (a step that fails, a
 * database ahead of the binary).
 */
#ifndef AUTH_STORE_MIGRATIONS_H
#define AUTH_STORE_MIGRATIONS_H

#include <stddef.h>
#include <stdio.h>

#include "store/store.h"

/*
 * One step.  The PostgreSQL text may be the very same string as the SQLite
 * one when the SQL is portable.  A step's scripts must not contain
 * transaction statements: the runner wraps each step in one transaction
 * together with its schema_migrations row.
 */
struct migration {
	int version; /* 1, 2, 3... strictly increasing */
	const char *name;
	const char *up_sqlite;
	const char *up_pg;
	const char *down_sqlite;
	const char *down_pg;
};

/* The migrations built into this binary, oldest first. */
const struct migration *migrations_builtin(size_t *n);

/* Runners on an explicit list (see the store_* equivalents in store.h). */
enum store_rc migrations_version(struct store_conn *c, const struct migration *list, size_t n,
                                 int *current, int *latest);
enum store_rc migrations_up(struct store_conn *c, const struct migration *list, size_t n,
                            int *applied, FILE *out);
enum store_rc migrations_down(struct store_conn *c, const struct migration *list, size_t n,
                              int steps, FILE *out);
enum store_rc migrations_status(struct store_conn *c, const struct migration *list, size_t n,
                                FILE *out);

#endif
