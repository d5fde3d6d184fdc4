/*
 * test_roles.c - auth/roles: the one role-list parser and validator.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>

#include <cmocka.h>

#include "auth/roles.h"
#include "store/store.h"

static void test_name_rules(void **state)
{
	(void)state;
	assert_true(roles_name_ok("admin", 5));
	assert_true(roles_name_ok("a0_-z", 5));
	assert_false(roles_name_ok("", 0));
	assert_false(roles_name_ok("Admin", 5));
	assert_false(roles_name_ok("0admin", 6));
	assert_false(roles_name_ok(" admin", 6));
	assert_false(roles_name_ok("ad min", 6));
	assert_true(roles_name_ok("abcdefghijabcdefghijabcdefghijab", 32));
	assert_false(roles_name_ok("abcdefghijabcdefghijabcdefghijabc", 33));
}

static void test_has_and_json_agree(void **state)
{
	json_t *a;

	(void)state;
	assert_true(roles_has("user,admin", "admin"));
	assert_true(roles_has("user,admin", "user"));
	assert_false(roles_has("user,admin", "adm"));
	assert_false(roles_has("user,administrator", "admin"));
	assert_false(roles_has("", "user"));
	a = roles_json("user,admin");
	assert_int_equal(json_array_size(a), 2);
	assert_string_equal(json_string_value(json_array_get(a, 0)), "user");
	assert_string_equal(json_string_value(json_array_get(a, 1)), "admin");
	json_decref(a);
	a = roles_json("");
	assert_true(json_is_array(a));
	assert_int_equal(json_array_size(a), 0);
	json_decref(a);
}

static void test_from_json(void **state)
{
	char out[STORE_ROLES_LEN];
	const char *why = NULL;
	json_t *a;

	(void)state;
	a = json_pack("[s,s,s]", "user", "admin", "user");
	assert_int_equal(roles_from_json(a, out, sizeof(out), &why), 0);
	assert_string_equal(out, "user,admin");
	json_decref(a);

	a = json_pack("[s]", " admin");
	assert_int_equal(roles_from_json(a, out, sizeof(out), &why), -1);
	assert_non_null(why);
	json_decref(a);

	a = json_pack("[i]", 3);
	assert_int_equal(roles_from_json(a, out, sizeof(out), &why), -1);
	json_decref(a);

	a = json_pack("{}");
	assert_int_equal(roles_from_json(a, out, sizeof(out), &why), -1);
	json_decref(a);

	a = json_array();
	assert_int_equal(roles_from_json(a, out, sizeof(out), &why), 0);
	assert_string_equal(out, "");
	json_decref(a);
}

/* Eight names of 32 characters do not fit 255 bytes: refused, never cut. */
static void test_too_long_is_refused(void **state)
{
	char out[STORE_ROLES_LEN], name[40];
	const char *why = NULL;
	json_t *a = json_array();
	int i;

	(void)state;
	for (i = 0; i < 8; i++) {
		snprintf(name, sizeof(name), "r%031d", i);
		json_array_append_new(a, json_string(name));
	}
	assert_int_equal(roles_from_json(a, out, sizeof(out), &why), -1);
	assert_string_equal(out, "");
	json_array_remove(a, 7);
	assert_int_equal(roles_from_json(a, out, sizeof(out), &why), 0);
	assert_int_equal(strlen(out), 7 * 32 + 6);
	json_decref(a);

	a = json_pack("[s,s,s,s,s,s,s,s,s]", "a", "b", "c", "d", "e", "f", "g", "h", "i");
	assert_int_equal(roles_from_json(a, out, sizeof(out), &why), -1);
	json_decref(a);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
	        cmocka_unit_test(test_name_rules),
	        cmocka_unit_test(test_has_and_json_agree),
	        cmocka_unit_test(test_from_json),
	        cmocka_unit_test(test_too_long_is_refused),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
