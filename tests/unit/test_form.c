/* test_form.c - application/x-www-form-urlencoded decoding. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>

#include <cmocka.h>

#include "arena.h"
#include "http/form.h"

static int parse(struct arena *a, const char *s, struct form *f, const char **why)
{
	return form_parse(a, s, strlen(s), f, why);
}

static void test_ok(void **state)
{
	struct arena *a = arena_create();
	struct form f;
	const char *why = NULL;

	(void)state;
	assert_int_equal(
	        parse(a, "grant_type=password&username=a%40b.c&password=p+w%26x%3D", &f, &why), 0);
	assert_int_equal(f.n, 3);
	assert_string_equal(form_get(&f, "grant_type"), "password");
	assert_string_equal(form_get(&f, "username"), "a@b.c");
	assert_string_equal(form_get(&f, "password"), "p w&x=");
	assert_null(form_get(&f, "scope"));
	assert_int_equal(parse(a, "", &f, &why), 0);
	assert_int_equal(f.n, 0);
	assert_int_equal(parse(a, "a=&&b=2&", &f, &why), 0);
	assert_string_equal(form_get(&f, "a"), "");
	assert_string_equal(form_get(&f, "b"), "2");
	arena_destroy(a);
}

static void test_bad(void **state)
{
	const char *bad[] = {"a", "a=%", "a=%4", "a=%zz", "a=%00", "a=1&a=2", "=x", "a=1&b"};
	struct arena *a = arena_create();
	struct form f;
	size_t i;

	(void)state;
	for (i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		const char *why = NULL;
		assert_int_equal(parse(a, bad[i], &f, &why), -1);
		assert_non_null(why);
	}
	arena_destroy(a);
}

static void test_content_type(void **state)
{
	(void)state;
	assert_true(form_is_form_type("application/x-www-form-urlencoded"));
	assert_true(form_is_form_type("Application/X-WWW-Form-Urlencoded; charset=UTF-8"));
	assert_false(form_is_form_type("application/json"));
	assert_false(form_is_form_type("application/x-www-form-urlencodedx"));
	assert_false(form_is_form_type(NULL));
}

int main(void)
{
	const struct CMUnitTest tests[] = {
	        cmocka_unit_test(test_ok),
	        cmocka_unit_test(test_bad),
	        cmocka_unit_test(test_content_type),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
