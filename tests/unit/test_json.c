/* test_json.c - strict JSON decoding and FastAPI-shaped error bodies. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "http/http.h"
#include "http/json.h"

static json_t *parse(const char *s, const char **why)
{
	return json_parse_object(s, strlen(s), why);
}

static void test_parse_ok(void **state)
{
	const char *why = NULL;
	json_t *o = parse("{\"email\":\"a@b.c\",\"n\":[1,{\"x\":2}]}", &why);

	(void)state;
	assert_non_null(o);
	assert_string_equal(json_string_value(json_object_get(o, "email")), "a@b.c");
	json_decref(o);
}

static void test_parse_rejects(void **state)
{
	const char *bad[] = {"",
	                     "[]",
	                     "\"x\"",
	                     "1",
	                     "{",
	                     "{\"a\":1,\"a\":2}",
	                     "{\"a\":1} x",
	                     "{\"a\":\"\\u0000\"}",
	                     "{\"a\":\"\xff\"}",
	                     "null"};
	size_t i;

	(void)state;
	for (i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		const char *why = NULL;
		json_t *o = parse(bad[i], &why);
		assert_null(o);
		assert_non_null(why);
	}
}

static void test_depth_limit(void **state)
{
	char buf[256];
	const char *why = NULL;
	json_t *o;
	int i, n = 0;

	(void)state;
	/* JSON_MAX_DEPTH levels are fine ... */
	buf[n++] = '{';
	buf[n++] = '"';
	buf[n++] = 'a';
	buf[n++] = '"';
	buf[n++] = ':';
	for (i = 1; i < JSON_MAX_DEPTH; i++)
		buf[n++] = '[';
	for (i = 1; i < JSON_MAX_DEPTH; i++)
		buf[n++] = ']';
	buf[n++] = '}';
	o = json_parse_object(buf, (size_t)n, &why);
	assert_non_null(o);
	json_decref(o);
	/* ... deeper is refused, even unbalanced, before jansson sees it. */
	o = parse("{\"a\":[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[", &why);
	assert_null(o);
	assert_string_equal(why, "JSON nested too deeply");
	/* brackets inside strings do not count */
	o = parse("{\"a\":\"[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[\"}", &why);
	assert_non_null(o);
	json_decref(o);
}

static void test_fields_and_verr(void **state)
{
	const char *why = NULL;
	json_t *o = parse("{\"email\":5,\"ok\":true,\"name\":\"x\"}", &why);
	struct verr v = {0};
	struct resp rs = {0};
	bool b = false;
	json_t *body, *first;

	(void)state;
	assert_null(json_field_str(o, "email", true, &v));
	assert_null(json_field_str(o, "password", true, &v));
	assert_string_equal(json_field_str(o, "name", true, &v), "x");
	assert_null(json_field_str(o, "absent", false, &v));
	assert_int_equal(json_field_bool(o, "ok", &b, &v), 1);
	assert_true(b);
	assert_int_equal(json_field_bool(o, "name", &b, &v), -1);
	assert_true(verr_any(&v));
	verr_respond(&v, &rs);
	assert_int_equal(rs.status, 422);
	body = json_loads(rs.body, 0, NULL);
	assert_non_null(body);
	assert_int_equal(json_array_size(json_object_get(body, "detail")), 3);
	first = json_array_get(json_object_get(body, "detail"), 0);
	assert_string_equal(json_string_value(json_array_get(json_object_get(first, "loc"), 0)),
	                    "body");
	assert_string_equal(json_string_value(json_array_get(json_object_get(first, "loc"), 1)),
	                    "email");
	assert_string_equal(json_string_value(json_object_get(first, "type")), "string_type");
	json_decref(body);
	json_decref(o);
	resp_reset(&rs);
}

static void test_req_json_content_type(void **state)
{
	struct http_kv h[1] = {{"content-type", "text/plain"}};
	struct req r = {0};
	struct resp rs = {0};

	(void)state;
	r.headers = h;
	r.n_headers = 1;
	r.body = "{}";
	r.body_len = 2;
	assert_null(req_json(&r, &rs));
	assert_int_equal(rs.status, 415);
	resp_reset(&rs);

	h[0].value = "application/json; charset=utf-8";
	json_t *o = req_json(&r, &rs);
	assert_non_null(o);
	json_decref(o);

	h[0].value = "application/jsonx";
	assert_null(req_json(&r, &rs));
	assert_int_equal(rs.status, 415);
	resp_reset(&rs);

	h[0].value = "application/json";
	r.body = "{bad";
	r.body_len = 4;
	assert_null(req_json(&r, &rs));
	assert_int_equal(rs.status, 422);
	assert_non_null(strstr(rs.body, "json_invalid"));
	resp_reset(&rs);
}

static void test_detail(void **state)
{
	struct resp rs = {0};

	(void)state;
	resp_detail(&rs, 409, "Email already registered");
	assert_int_equal(rs.status, 409);
	assert_string_equal(rs.body, "{\"detail\":\"Email already registered\"}");
	assert_string_equal(rs.content_type, "application/json");
	resp_header(&rs, "Retry-After", "1");
	assert_int_equal(rs.n_headers, 1);
	resp_reset(&rs);
	assert_null(rs.body);
	assert_int_equal(rs.n_headers, 0);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
	        cmocka_unit_test(test_parse_ok),
	        cmocka_unit_test(test_parse_rejects),
	        cmocka_unit_test(test_depth_limit),
	        cmocka_unit_test(test_fields_and_verr),
	        cmocka_unit_test(test_req_json_content_type),
	        cmocka_unit_test(test_detail),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
