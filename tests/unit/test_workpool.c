/* test_workpool.c - bounded queue refusal, every job runs, drain on destroy. */
#include <pthread.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stdatomic.h>
#include <stddef.h>
#include <stdint.h>

#include <cmocka.h>

#include "workpool.h"

static atomic_int ran;

static void count_job(void *arg)
{
	(void)arg;
	atomic_fetch_add(&ran, 1);
}

struct gate {
	pthread_mutex_t m;
	pthread_cond_t c;
	int open;
	int entered;
};

static void gated_job(void *arg)
{
	struct gate *g = arg;

	pthread_mutex_lock(&g->m);
	g->entered++;
	pthread_cond_broadcast(&g->c);
	while (!g->open)
		pthread_cond_wait(&g->c, &g->m);
	pthread_mutex_unlock(&g->m);
	atomic_fetch_add(&ran, 1);
}

static void test_all_jobs_run(void **state)
{
	struct workpool *wp = workpool_create("t", 4, 1000, 0);
	int i, accepted = 0;

	(void)state;
	atomic_store(&ran, 0);
	assert_non_null(wp);
	for (i = 0; i < 500; i++)
		accepted += workpool_submit(wp, count_job, NULL) == 0;
	workpool_destroy(wp); /* drains */
	assert_int_equal(atomic_load(&ran), accepted);
	assert_true(accepted > 0);
}

static void test_full_queue_refuses(void **state)
{
	struct gate g = {PTHREAD_MUTEX_INITIALIZER, PTHREAD_COND_INITIALIZER, 0, 0};
	struct workpool *wp = workpool_create("t", 1, 2, 5);
	struct workpool_stats st;

	(void)state;
	atomic_store(&ran, 0);
	assert_int_equal(workpool_submit(wp, gated_job, &g), 0);
	/* wait until the single thread holds the first job */
	pthread_mutex_lock(&g.m);
	while (g.entered == 0)
		pthread_cond_wait(&g.c, &g.m);
	pthread_mutex_unlock(&g.m);
	assert_int_equal(workpool_submit(wp, gated_job, &g), 0);
	assert_int_equal(workpool_submit(wp, gated_job, &g), 0);
	assert_int_equal(workpool_submit(wp, gated_job, &g), -1); /* queue of 2 is full */
	workpool_stats(wp, &st);
	assert_int_equal(st.busy, 1);
	assert_int_equal(st.queued, 2);
	assert_int_equal(st.rejected, 1);
	pthread_mutex_lock(&g.m);
	g.open = 1;
	pthread_cond_broadcast(&g.c);
	pthread_mutex_unlock(&g.m);
	workpool_destroy(wp);
	assert_int_equal(atomic_load(&ran), 3);
}

static void test_bad_args(void **state)
{
	(void)state;
	assert_null(workpool_create("t", 0, 1, 0));
	assert_null(workpool_create("t", 1, 0, 0));
}

int main(void)
{
	const struct CMUnitTest tests[] = {
	        cmocka_unit_test(test_all_jobs_run),
	        cmocka_unit_test(test_full_queue_refuses),
	        cmocka_unit_test(test_bad_args),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
