/*
 * store_contract.h - store tests written once and run on every backend:
 * test_store.c (SQLite) and test_store_pg.c (PostgreSQL) list
 * STORE_CONTRACT_TESTS with their own fixtures.  Record helpers shared by
 * those programs live here too.
 *
 * A backend's fixture struct starts with a struct contract_fx (a migrated
 * store and one acquired connection); contract_scalar() is the backend's
 * way to read one integer from the database behind the store's back.
 */
#ifndef AUTH_TESTS_STORE_CONTRACT_H
#define AUTH_TESTS_STORE_CONTRACT_H

#include <stdint.h>

#include "store/store.h"

#define NOW 1800000000LL

struct contract_fx {
	struct store *st;
	struct store_conn *c;
};

/* Provided by each backend's test program. */
int64_t contract_scalar(void **state, const char *sql);

/* ---- records ---- */

void mkid(char out[STORE_ID_LEN], int n);
void mkhash(char out[STORE_TOKHASH_LEN], int n);
struct user mkuser(int n, const char *email, int64_t created);
struct user add_user(struct store_conn *c, int n, const char *email);
struct session mksession(int n, const char *user_id, int64_t created, int64_t expires);
struct refresh_token mkrefresh(int n, const struct session *s, const char *parent);
void assert_user_equal(const struct user *a, const struct user *b);
void assert_session_equal(const struct session *a, const struct session *b);
void assert_refresh_equal(const struct refresh_token *a, const struct refresh_token *b);

/* ---- the tests ---- */

void test_transactions(void **state);
void test_release_rolls_back_open_transaction(void **state);
void test_user_roundtrip(void **state);
void test_user_conflicts(void **state);
void test_user_not_found(void **state);
void test_user_update(void **state);
void test_user_delete_cascades(void **state);
void test_user_list_paging(void **state);
void test_user_list_escapes_like_wildcards(void **state);
void test_user_list_inside_transaction(void **state);
void test_missing_arguments(void **state);
void test_refresh_tokens(void **state);
void test_outbox_lifecycle(void **state);
void test_outbox_claim_inside_transaction(void **state);
void test_audit(void **state);
void test_user_set_password(void **state);
void test_user_rehash(void **state);
void test_user_set_name(void **state);
void test_user_set_flags_and_roles(void **state);
void test_user_lock(void **state);
void test_user_column_writes_not_found(void **state);

#define CONTRACT_TEST(t, s, td) cmocka_unit_test_setup_teardown(t, s, td)
#define STORE_CONTRACT_TESTS(s, td)                                                                \
	CONTRACT_TEST(test_transactions, s, td),                                                   \
	        CONTRACT_TEST(test_release_rolls_back_open_transaction, s, td),                    \
	        CONTRACT_TEST(test_user_roundtrip, s, td),                                         \
	        CONTRACT_TEST(test_user_conflicts, s, td),                                         \
	        CONTRACT_TEST(test_user_not_found, s, td), CONTRACT_TEST(test_user_update, s, td), \
	        CONTRACT_TEST(test_user_delete_cascades, s, td),                                   \
	        CONTRACT_TEST(test_user_list_paging, s, td),                                       \
	        CONTRACT_TEST(test_user_list_escapes_like_wildcards, s, td),                       \
	        CONTRACT_TEST(test_user_list_inside_transaction, s, td),                           \
	        CONTRACT_TEST(test_missing_arguments, s, td),                                      \
	        CONTRACT_TEST(test_refresh_tokens, s, td),                                         \
	        CONTRACT_TEST(test_outbox_lifecycle, s, td),                                       \
	        CONTRACT_TEST(test_outbox_claim_inside_transaction, s, td),                        \
	        CONTRACT_TEST(test_audit, s, td), CONTRACT_TEST(test_user_set_password, s, td),    \
	        CONTRACT_TEST(test_user_rehash, s, td), CONTRACT_TEST(test_user_set_name, s, td),  \
	        CONTRACT_TEST(test_user_set_flags_and_roles, s, td),                               \
	        CONTRACT_TEST(test_user_lock, s, td),                                              \
	        CONTRACT_TEST(test_user_column_writes_not_found, s, td)

#endif
