/*
 * bench/bcrypt_rate.c - bcrypt hashes per second on one core (a reference
 * limit for the login scenario).  Not part of the service build: bench/run
 * compiles it with cc and runs it pinned to one core (taskset).
 *
 *   bcrypt_rate [COST [SECONDS]]      default cost 12, 5 seconds
 *
 * Hashes a fixed password with libxcrypt's crypt_r() at "$2b$COST$" (the
 * same call the service makes, src/auth/password.c) for at least SECONDS,
 * and prints one JSON line: {"cost":12,"hashes":N,"seconds":S,"rate":R}.
 */
#include <crypt.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

static double now(void)
{
	struct timespec t;

	clock_gettime(CLOCK_MONOTONIC, &t);
	return (double)t.tv_sec + (double)t.tv_nsec / 1e9;
}

int main(int argc, char **argv)
{
	int cost = argc > 1 ? atoi(argv[1]) : 12;
	double seconds = argc > 2 ? atof(argv[2]) : 5.0;
	char salt[CRYPT_GENSALT_OUTPUT_SIZE];
	struct crypt_data *cd = calloc(1, sizeof(*cd));
	double t0, t1;
	long n = 0;

	if (!cd || cost < 4 || cost > 31 || seconds <= 0) {
		fprintf(stderr, "usage: bcrypt_rate [COST 4..31 [SECONDS]]\n");
		return 2;
	}
	if (!crypt_gensalt_rn("$2b$", (unsigned long)cost, NULL, 0, salt, sizeof(salt))) {
		perror("crypt_gensalt_rn");
		return 1;
	}
	/* One untimed hash: page in the code and check the result is bcrypt. */
	const char *h = crypt_r("correct horse battery staple", salt, cd);
	if (!h || strncmp(h, "$2b$", 4) != 0) {
		fprintf(stderr, "crypt_r failed\n");
		return 1;
	}
	t0 = now();
	do {
		h = crypt_r("correct horse battery staple", salt, cd);
		if (!h || h[0] == '*')
			return 1;
		n++;
		t1 = now();
	} while (t1 - t0 < seconds);
	printf("{\"cost\": %d, \"hashes\": %ld, \"seconds\": %.3f, \"rate\": %.3f}\n", cost, n,
	       t1 - t0, (double)n / (t1 - t0));
	free(cd);
	return 0;
}
