/*
 * test_outbox.c - the outbox sender's pure parts: the retry schedule
 * (exponential backoff, cap, maximum age), the SMTP URL and the email
 * variables of the configuration (SMTP_SECURITY derived from the port,
 * OUTBOX_* bounds, the production refusal of plain-text SMTP).
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "config.h"
#include "mail/outbox.h"
#include "mail/smtp.h"

#define T0   ((int64_t)1700000000)
#define HOUR 3600

static void test_backoff_doubles_from_base(void **state)
{
	bool give_up = true;

	(void)state;
	assert_int_equal(outbox_next_attempt(T0, T0, 0, 30, OUTBOX_MAX_AGE_SECONDS, &give_up),
	                 T0 + 30);
	assert_false(give_up);
	assert_int_equal(outbox_next_attempt(T0, T0, 1, 30, OUTBOX_MAX_AGE_SECONDS, &give_up),
	                 T0 + 60);
	assert_int_equal(outbox_next_attempt(T0, T0, 4, 30, OUTBOX_MAX_AGE_SECONDS, &give_up),
	                 T0 + 480);
	assert_int_equal(outbox_next_attempt(T0, T0, 3, 1, OUTBOX_MAX_AGE_SECONDS, &give_up),
	                 T0 + 8);
}

static void test_backoff_capped_at_an_hour(void **state)
{
	bool give_up = true;

	(void)state;
	assert_int_equal(outbox_next_attempt(T0, T0, 7, 30, OUTBOX_MAX_AGE_SECONDS, &give_up),
	                 T0 + HOUR); /* 30 * 128 = 3840 > 3600 */
	assert_int_equal(outbox_next_attempt(T0, T0, 1000, 30, OUTBOX_MAX_AGE_SECONDS, &give_up),
	                 T0 + HOUR); /* no overflow however many attempts */
	assert_int_equal(outbox_next_attempt(T0, T0, 0, 3600, OUTBOX_MAX_AGE_SECONDS, &give_up),
	                 T0 + HOUR);
	assert_false(give_up);
}

static void test_backoff_gives_up_at_max_age(void **state)
{
	int64_t created = T0 - OUTBOX_MAX_AGE_SECONDS + 100;
	bool give_up = true;

	(void)state;
	/* The last retry is at the age limit itself, not after it. */
	assert_int_equal(outbox_next_attempt(T0, created, 10, 30, OUTBOX_MAX_AGE_SECONDS, &give_up),
	                 created + OUTBOX_MAX_AGE_SECONDS);
	assert_false(give_up);
	/* At (or past) the limit: give up. */
	assert_int_equal(outbox_next_attempt(created + OUTBOX_MAX_AGE_SECONDS, created, 11, 30,
	                                     OUTBOX_MAX_AGE_SECONDS, &give_up),
	                 created + OUTBOX_MAX_AGE_SECONDS);
	assert_true(give_up);
	outbox_next_attempt(T0 + 5 * HOUR, T0, 0, 30, 2 * HOUR, &give_up);
	assert_true(give_up);
}

/* ---- configuration ---- */

struct env {
	const char *const *pairs;
};

static const char *lookup(const char *name, void *ctx)
{
	const struct env *e = ctx;
	size_t n = strlen(name);

	for (const char *const *p = e->pairs; *p; p++)
		if (strncmp(*p, name, n) == 0 && (*p)[n] == '=')
			return *p + n + 1;
	return NULL;
}

#define ENV(...) ((const char *const[]){__VA_ARGS__, NULL})

static int load(struct config *cfg, struct config_errors *errs, const char *const *pairs)
{
	struct env e = {pairs};

	return config_load_with(cfg, lookup, &e, errs);
}

static enum smtp_security security_of(const char *const *pairs)
{
	struct config cfg;
	struct config_errors errs;
	enum smtp_security s;

	assert_int_equal(load(&cfg, &errs, pairs), 0);
	s = cfg.smtp_security;
	config_free(&cfg);
	config_errors_free(&errs);
	return s;
}

static void test_security_derived_from_port(void **state)
{
	(void)state;
	assert_int_equal(security_of(ENV("SMTP_HOST=smtp.example.com")), SMTP_SECURITY_STARTTLS);
	assert_int_equal(security_of(ENV("SMTP_PORT=587")), SMTP_SECURITY_STARTTLS);
	assert_int_equal(security_of(ENV("SMTP_PORT=465")), SMTP_SECURITY_TLS);
	assert_int_equal(security_of(ENV("SMTP_PORT=25")), SMTP_SECURITY_NONE);
	assert_int_equal(security_of(ENV("SMTP_PORT=2525")), SMTP_SECURITY_NONE);
	/* An explicit SMTP_SECURITY wins over the port (any case). */
	assert_int_equal(security_of(ENV("SMTP_PORT=2525", "SMTP_SECURITY=STARTTLS")),
	                 SMTP_SECURITY_STARTTLS);
	assert_int_equal(security_of(ENV("SMTP_PORT=2465", "SMTP_SECURITY=tls")),
	                 SMTP_SECURITY_TLS);
	assert_int_equal(security_of(ENV("SMTP_PORT=587", "SMTP_SECURITY=none")),
	                 SMTP_SECURITY_NONE);
	assert_string_equal(config_smtp_security_name(SMTP_SECURITY_STARTTLS), "starttls");
	assert_string_equal(config_smtp_security_name(SMTP_SECURITY_NONE), "none");
}

static void test_email_variables_validated(void **state)
{
	struct config cfg;
	struct config_errors errs;

	(void)state;
	assert_int_equal(load(&cfg, &errs, ENV("SMTP_SECURITY=ssl")), -1);
	assert_int_equal(errs.n, 1);
	assert_non_null(strstr(errs.lines[0], "SMTP_SECURITY: \"ssl\" is not one of starttls, tls, "
	                                      "none"));
	config_free(&cfg);
	config_errors_free(&errs);

	assert_int_equal(load(&cfg, &errs, ENV("OUTBOX_RETRY_BASE_SECONDS=0")), -1);
	assert_non_null(strstr(errs.lines[0], "OUTBOX_RETRY_BASE_SECONDS"));
	config_free(&cfg);
	config_errors_free(&errs);
	assert_int_equal(load(&cfg, &errs, ENV("OUTBOX_POLL_SECONDS=soon")), -1);
	assert_non_null(strstr(errs.lines[0], "OUTBOX_POLL_SECONDS"));
	config_free(&cfg);
	config_errors_free(&errs);

	assert_int_equal(
	        load(&cfg, &errs, ENV("OUTBOX_RETRY_BASE_SECONDS=2", "OUTBOX_POLL_SECONDS=1")), 0);
	assert_int_equal(cfg.outbox_retry_base_seconds, 2);
	assert_int_equal(cfg.outbox_poll_seconds, 1);
	config_free(&cfg);
	config_errors_free(&errs);
	assert_int_equal(load(&cfg, &errs, ENV("APP_NAME=x")), 0);
	assert_int_equal(cfg.outbox_retry_base_seconds, 30);
	assert_int_equal(cfg.outbox_poll_seconds, 5);
	config_free(&cfg);
	config_errors_free(&errs);
}

#define SECRET32 "0123456789abcdef0123456789abcdef"
#define PROD                                                                                       \
	"ENVIRONMENT=production", "SECRET_KEY=" SECRET32,                                          \
	        "RSA_PRIVATE_KEY_CONTENT=LS0tLS1CRUdJTiBQUklWQVRFIEtFWS0tLS0tCg==",                \
	        "CORS_ORIGINS=https://app.example.com", "SMTP_HOST=smtp.example.com"

static void test_production_refuses_plain_smtp(void **state)
{
	struct config cfg;
	struct config_errors errs;

	(void)state;
	assert_int_equal(load(&cfg, &errs, ENV(PROD, "SMTP_PORT=587")), 0);
	config_free(&cfg);
	config_errors_free(&errs);
	/* TLS on a non-standard port is TLS. */
	assert_int_equal(load(&cfg, &errs, ENV(PROD, "SMTP_PORT=2525", "SMTP_SECURITY=starttls")),
	                 0);
	config_free(&cfg);
	config_errors_free(&errs);
	/* Plain text is refused, naming the variable that made it so. */
	assert_int_equal(load(&cfg, &errs, ENV(PROD, "SMTP_PORT=587", "SMTP_SECURITY=none")), -1);
	assert_int_equal(errs.n, 1);
	assert_non_null(strstr(errs.lines[0], "SMTP_SECURITY: none sends mail without TLS"));
	config_free(&cfg);
	config_errors_free(&errs);
	assert_int_equal(load(&cfg, &errs, ENV(PROD, "SMTP_PORT=25")), -1);
	assert_non_null(strstr(errs.lines[0], "SMTP_PORT: 25 sends mail without TLS"));
	config_free(&cfg);
	config_errors_free(&errs);
}

static void test_smtp_url(void **state)
{
	struct config cfg = {0};
	char url[200];

	(void)state;
	cfg.smtp_host = "smtp.example.com";
	cfg.smtp_port = 587;
	cfg.smtp_security = SMTP_SECURITY_STARTTLS;
	assert_int_equal(smtp_url(&cfg, NULL, url, sizeof(url)), 0);
	assert_string_equal(url, "smtp://smtp.example.com:587");
	cfg.smtp_port = 465;
	cfg.smtp_security = SMTP_SECURITY_TLS;
	assert_int_equal(smtp_url(&cfg, "example.com", url, sizeof(url)), 0);
	assert_string_equal(url, "smtps://smtp.example.com:465/example.com");
	cfg.smtp_host = "::1";
	cfg.smtp_port = 2525;
	cfg.smtp_security = SMTP_SECURITY_NONE;
	assert_int_equal(smtp_url(&cfg, NULL, url, sizeof(url)), 0);
	assert_string_equal(url, "smtp://[::1]:2525");
	assert_int_equal(smtp_url(&cfg, NULL, url, 10), -1);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
	        cmocka_unit_test(test_backoff_doubles_from_base),
	        cmocka_unit_test(test_backoff_capped_at_an_hour),
	        cmocka_unit_test(test_backoff_gives_up_at_max_age),
	        cmocka_unit_test(test_security_derived_from_port),
	        cmocka_unit_test(test_email_variables_validated),
	        cmocka_unit_test(test_production_refuses_plain_smtp),
	        cmocka_unit_test(test_smtp_url),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
