/* test_connlimit.c - open connections per bucket: the cap, removal at zero, threads
 * (http/connlimit.c). */
#include <pthread.h>
#include <sched.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stdatomic.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>

#include <cmocka.h>

#include "http/connlimit.h"

static void test_cap_per_bucket(void **state)
{
	struct connlimit *cl = connlimit_create(3);
	int i;

	(void)state;
	for (i = 0; i < 3; i++)
		assert_true(connlimit_acquire(cl, "192.0.2.1"));
	assert_false(connlimit_acquire(cl, "192.0.2.1"));
	assert_false(connlimit_acquire(cl, "192.0.2.1"));
	assert_int_equal(connlimit_count(cl, "192.0.2.1"), 3); /* refusals count nothing */
	/* other buckets have their own cap */
	assert_true(connlimit_acquire(cl, "192.0.2.2"));
	assert_true(connlimit_acquire(cl, "2001:db8:1:2::/64"));
	assert_int_equal(connlimit_count(cl, "192.0.2.2"), 1);
	assert_int_equal(connlimit_entries(cl), 3);
	/* a slot freed is a slot reusable, once */
	connlimit_release(cl, "192.0.2.1");
	assert_true(connlimit_acquire(cl, "192.0.2.1"));
	assert_false(connlimit_acquire(cl, "192.0.2.1"));
	connlimit_free(cl);
}

static void test_zero_removes_the_entry(void **state)
{
	struct connlimit *cl = connlimit_create(2);

	(void)state;
	assert_int_equal(connlimit_entries(cl), 0);
	assert_true(connlimit_acquire(cl, "198.51.100.7"));
	assert_true(connlimit_acquire(cl, "198.51.100.7"));
	assert_int_equal(connlimit_entries(cl), 1);
	connlimit_release(cl, "198.51.100.7");
	assert_int_equal(connlimit_entries(cl), 1);
	assert_int_equal(connlimit_count(cl, "198.51.100.7"), 1);
	connlimit_release(cl, "198.51.100.7");
	assert_int_equal(connlimit_entries(cl), 0);
	assert_int_equal(connlimit_count(cl, "198.51.100.7"), 0);
	/* a release without a count changes nothing (and never goes below zero) */
	connlimit_release(cl, "198.51.100.7");
	connlimit_release(cl, "203.0.113.1");
	assert_int_equal(connlimit_entries(cl), 0);
	assert_true(connlimit_acquire(cl, "198.51.100.7"));
	assert_true(connlimit_acquire(cl, "198.51.100.7"));
	assert_false(connlimit_acquire(cl, "198.51.100.7"));
	connlimit_free(cl);
}

static void test_cap_zero_admits_nothing(void **state)
{
	struct connlimit *cl = connlimit_create(0);

	(void)state;
	assert_false(connlimit_acquire(cl, "192.0.2.1"));
	assert_int_equal(connlimit_entries(cl), 0);
	connlimit_free(cl);
	connlimit_free(NULL);
}

/* Many buckets: the table grows, every count is kept apart, all leave at zero. */
static void test_many_buckets(void **state)
{
	struct connlimit *cl = connlimit_create(1);
	char key[32];
	int i;

	(void)state;
	for (i = 0; i < 20000; i++) {
		snprintf(key, sizeof(key), "10.%d.%d.%d", i >> 16, (i >> 8) & 255, i & 255);
		assert_true(connlimit_acquire(cl, key));
	}
	assert_int_equal(connlimit_entries(cl), 20000);
	for (i = 0; i < 20000; i++) {
		snprintf(key, sizeof(key), "10.%d.%d.%d", i >> 16, (i >> 8) & 255, i & 255);
		assert_false(connlimit_acquire(cl, key));
		assert_int_equal(connlimit_count(cl, key), 1);
	}
	for (i = 0; i < 20000; i++) {
		snprintf(key, sizeof(key), "10.%d.%d.%d", i >> 16, (i >> 8) & 255, i & 255);
		connlimit_release(cl, key);
	}
	assert_int_equal(connlimit_entries(cl), 0);
	connlimit_free(cl);
}

/* ---- threads ---- */

#define THREADS    16
#define ROUNDS     20000
#define CAP        3
#define N_BUCKETS  4
#define RACE_TRIES 50

static const char *const buckets[N_BUCKETS] = {"192.0.2.1", "192.0.2.2", "2001:db8::/64",
                                               "unknown"};

struct churn {
	struct connlimit *cl;
	atomic_int held[N_BUCKETS]; /* admitted and not yet released, per bucket */
	atomic_int over;            /* times more than CAP were held at once */
	atomic_long admitted, refused;
	pthread_barrier_t start;
};

static void *churn_main(void *arg)
{
	struct churn *c = arg;
	unsigned seed = (unsigned)(uintptr_t)&seed;
	int i;

	pthread_barrier_wait(&c->start);
	for (i = 0; i < ROUNDS; i++) {
		int b = (int)(rand_r(&seed) % N_BUCKETS);
		if (!connlimit_acquire(c->cl, buckets[b])) {
			atomic_fetch_add(&c->refused, 1);
			continue;
		}
		atomic_fetch_add(&c->admitted, 1);
		if (atomic_fetch_add(&c->held[b], 1) + 1 > CAP)
			atomic_fetch_add(&c->over, 1);
		sched_yield(); /* hold it a moment: let the others meet the cap */
		atomic_fetch_sub(&c->held[b], 1);
		connlimit_release(c->cl, buckets[b]);
	}
	return NULL;
}

/*
 * Many threads acquiring and releasing a few shared buckets: never more
 * than CAP held at once per bucket, and every entry gone at the end.
 */
static void test_threads_acquire_and_release(void **state)
{
	static struct churn c;
	pthread_t t[THREADS];
	int i;

	(void)state;
	c.cl = connlimit_create(CAP);
	pthread_barrier_init(&c.start, NULL, THREADS);
	for (i = 0; i < THREADS; i++)
		assert_int_equal(pthread_create(&t[i], NULL, churn_main, &c), 0);
	for (i = 0; i < THREADS; i++)
		pthread_join(t[i], NULL);
	pthread_barrier_destroy(&c.start);
	assert_int_equal(atomic_load(&c.over), 0);
	assert_int_equal(atomic_load(&c.admitted) + atomic_load(&c.refused),
	                 (long)THREADS * ROUNDS);
	assert_true(atomic_load(&c.admitted) > 0);
	print_message("admitted %ld, refused %ld\n", atomic_load(&c.admitted),
	              atomic_load(&c.refused));
	assert_int_equal(connlimit_entries(c.cl), 0);
	for (i = 0; i < N_BUCKETS; i++)
		assert_int_equal(connlimit_count(c.cl, buckets[i]), 0);
	connlimit_free(c.cl);
}

struct race {
	struct connlimit *cl;
	atomic_int admitted;
	pthread_barrier_t start;
};

static void *race_main(void *arg)
{
	struct race *r = arg;

	pthread_barrier_wait(&r->start);
	if (connlimit_acquire(r->cl, "203.0.113.9"))
		atomic_fetch_add(&r->admitted, 1);
	return NULL;
}

/* THREADS at once on one bucket, holding: exactly CAP get in, every time. */
static void test_threads_race_for_one_bucket(void **state)
{
	static struct race r;
	pthread_t t[THREADS];
	int i, n;

	(void)state;
	for (n = 0; n < RACE_TRIES; n++) {
		r.cl = connlimit_create(CAP);
		atomic_store(&r.admitted, 0);
		pthread_barrier_init(&r.start, NULL, THREADS);
		for (i = 0; i < THREADS; i++)
			assert_int_equal(pthread_create(&t[i], NULL, race_main, &r), 0);
		for (i = 0; i < THREADS; i++)
			pthread_join(t[i], NULL);
		pthread_barrier_destroy(&r.start);
		assert_int_equal(atomic_load(&r.admitted), CAP);
		assert_int_equal(connlimit_count(r.cl, "203.0.113.9"), CAP);
		for (i = 0; i < CAP; i++)
			connlimit_release(r.cl, "203.0.113.9");
		assert_int_equal(connlimit_entries(r.cl), 0);
		connlimit_free(r.cl);
	}
}

int main(void)
{
	const struct CMUnitTest tests[] = {
	        cmocka_unit_test(test_cap_per_bucket),
	        cmocka_unit_test(test_zero_removes_the_entry),
	        cmocka_unit_test(test_cap_zero_admits_nothing),
	        cmocka_unit_test(test_many_buckets),
	        cmocka_unit_test(test_threads_acquire_and_release),
	        cmocka_unit_test(test_threads_race_for_one_bucket),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
