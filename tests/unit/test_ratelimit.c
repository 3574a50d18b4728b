/*
 * Unit tests for the token-bucket budgets of src/http/ratelimit.c, with the
 * clock given by the test: refill over time, the burst cap, retry_after,
 * least-recently-used eviction, the unlimited budget, a clock that goes
 * back, refunds, and many threads taking from one bucket.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include <pthread.h>
#include <stdio.h>
#include <string.h>

#include "http/http.h"

/* One take and what it should give: ok, and when refused, retry_after. */
struct step {
	const char *key;
	double now;
	int ok, retry;
};

static void run(struct bl_ratelimit *rl, const struct step *s, size_t n, const char *what)
{
	for (size_t i = 0; i < n; i++) {
		int retry = -7;
		int ok = bl_ratelimit_take(rl, s[i].key, s[i].now, &retry);
		if (ok != s[i].ok || (!ok && retry != s[i].retry) || (ok && retry != -7))
			fail_msg(
			    "%s, step %zu (%s at %.1f): got ok=%d retry=%d, want ok=%d retry=%d",
			    what, i, s[i].key, s[i].now, ok, retry, s[i].ok,
			    s[i].ok ? -7 : s[i].retry);
	}
}

static void test_refill_and_burst(void **state)
{
	(void)state;
	/* 3600 an hour is one a second; a bucket holds 3. */
	struct bl_ratelimit *rl = bl_ratelimit_create(3600, 3, 100);
	static const struct step s[] = {
	    {"a", 0, 1, 0},   {"a", 0, 1, 0},     {"a", 0, 1, 0},     {"a", 0, 0, 1},
	    {"a", 0.5, 0, 1}, {"a", 1.0, 1, 0},   {"a", 1.0, 0, 1},   {"a", 1.2, 0, 1},
	    {"b", 1.2, 1, 0}, /* another key has its own bucket */
	    {"a", 100, 1, 0}, {"a", 100, 1, 0},   {"a", 100, 1, 0}, /* full again, not 99 */
	    {"a", 100, 0, 1}, {"a", 101.5, 1, 0}, {"a", 101.5, 0, 1},
	};
	run(rl, s, sizeof(s) / sizeof(s[0]), "1/s burst 3");
	bl_ratelimit_destroy(rl);

	/* 10 an hour: one every 360 s; retry_after counts up to the next token. */
	rl = bl_ratelimit_create(10, 2, 100);
	static const struct step t[] = {
	    {"ip", 1000, 1, 0},   {"ip", 1000, 1, 0},   {"ip", 1000, 0, 360},
	    {"ip", 1001, 0, 359}, {"ip", 1359.5, 0, 1}, {"ip", 1360, 1, 0},
	    {"ip", 1360, 0, 360}, {"ip", 1540, 0, 180}, {"ip", 2080, 1, 0}, /* 720 s: 2 back */
	    {"ip", 2080, 1, 0},   {"ip", 2080, 0, 360},
	};
	run(rl, t, sizeof(t) / sizeof(t[0]), "10/h burst 2");
	bl_ratelimit_destroy(rl);

	/* A clock going back neither refills nor breaks anything. */
	rl = bl_ratelimit_create(3600, 1, 10);
	static const struct step u[] = {
	    {"a", 100, 1, 0},
	    {"a", 50, 0, 1},
	    {"a", 100.5, 0, 1},
	    {"a", 101, 1, 0},
	};
	run(rl, u, sizeof(u) / sizeof(u[0]), "clock going back");
	bl_ratelimit_destroy(rl);

	/* A burst under one token is one token. */
	rl = bl_ratelimit_create(3600, 0, 10);
	static const struct step v[] = {{"a", 0, 1, 0}, {"a", 0, 0, 1}};
	run(rl, v, 2, "burst 0");
	bl_ratelimit_destroy(rl);
}

static void test_unlimited(void **state)
{
	(void)state;
	struct bl_ratelimit *rl = bl_ratelimit_create(0, 1, 1);
	for (int i = 0; i < 1000; i++) {
		int retry = -7;
		assert_int_equal(bl_ratelimit_take(rl, "a", 0, &retry), 1);
		assert_int_equal(retry, -7);
	}
	bl_ratelimit_destroy(rl);
	bl_ratelimit_destroy(NULL);
}

static void test_lru_eviction(void **state)
{
	(void)state;
	/* Three keys tracked, no refill to speak of (1 an hour). */
	struct bl_ratelimit *rl = bl_ratelimit_create(1, 1, 3);
	static const struct step s[] = {
	    {"a", 0, 1, 0},    {"b", 0, 1, 0}, {"c", 0, 1, 0}, /* all three empty now */
	    {"a", 1, 0, 3599},                                 /* a used: b is the oldest */
	    {"d", 2, 1, 0},                                    /* b forgotten */
	    {"b", 3, 1, 0},                                    /* b starts full; c forgotten */
	    {"a", 4, 0, 3596},                                 /* a was kept */
	    {"d", 5, 0, 3597},                                 /* d was kept */
	    {"c", 6, 1, 0},                                    /* c starts full; b forgotten */
	    {"b", 7, 1, 0},                                    /* and so on */
	};
	run(rl, s, sizeof(s) / sizeof(s[0]), "LRU of 3");
	bl_ratelimit_destroy(rl);

	/* Many keys through a small table: the first ones are forgotten, the last kept. */
	rl = bl_ratelimit_create(1, 1, 100);
	char key[32];
	for (int i = 0; i < 10000; i++) {
		snprintf(key, sizeof(key), "10.0.%d.%d", i / 256, i % 256);
		assert_int_equal(bl_ratelimit_take(rl, key, 0, NULL), 1);
	}
	for (int i = 9900; i < 10000; i++) {
		snprintf(key, sizeof(key), "10.0.%d.%d", i / 256, i % 256);
		if (bl_ratelimit_take(rl, key, 0, NULL) != 0)
			fail_msg("key %s of the last 100 was forgotten", key);
	}
	snprintf(key, sizeof(key), "10.0.0.0");
	assert_int_equal(bl_ratelimit_take(rl, key, 0, NULL), 1);
	bl_ratelimit_destroy(rl);
}

/* A take (refund 0) or a refund (1), and for a take what it should give. */
struct op {
	int refund;
	const char *key;
	double now;
	int ok, retry;
};

/*
 * Refunds: a take that is given back does not count (the login budget
 * charges only wrong passwords); the bucket never goes over its burst; a
 * key never taken, or forgotten, is not created by a refund.
 */
static void test_refund(void **state)
{
	(void)state;
	/* 10 an hour (one every 360 s), a bucket of 3, two keys tracked */
	struct bl_ratelimit *rl = bl_ratelimit_create(10, 3, 2);
	static const struct op s[] = {
	    /* five right passwords in a row: each take refunded, none counts */
	    {0, "ann", 0, 1, 0},
	    {1, "ann", 0, 0, 0},
	    {0, "ann", 1, 1, 0},
	    {1, "ann", 1, 0, 0},
	    {0, "ann", 2, 1, 0},
	    {1, "ann", 2, 0, 0},
	    {0, "ann", 3, 1, 0},
	    {1, "ann", 3, 0, 0},
	    {0, "ann", 4, 1, 0},
	    {1, "ann", 4, 0, 0},
	    /* three wrong ones spend it */
	    {0, "ann", 5, 1, 0},
	    {0, "ann", 5, 1, 0},
	    {0, "ann", 5, 1, 0},
	    {0, "ann", 5, 0, 360},
	    /* refunds on a full bucket are capped at the burst: still 3 takes, not 5 */
	    {1, "bob", 6, 0, 0}, /* not tracked: nothing happens */
	    {0, "bob", 6, 1, 0},
	    {1, "bob", 6, 0, 0},
	    {1, "bob", 6, 0, 0},
	    {1, "bob", 6, 0, 0},
	    {0, "bob", 7, 1, 0},
	    {0, "bob", 7, 1, 0},
	    {0, "bob", 7, 1, 0},
	    {0, "bob", 7, 0, 360},
	    /* a refund gives back exactly one token, with the refill up to now */
	    {1, "bob", 187, 0, 0},   /* 0.5 refilled + 1 */
	    {0, "bob", 187, 1, 0},   /* 0.5 left */
	    {0, "bob", 187, 0, 180}, /* half a token short: 180 s */
	    {0, "cat", 188, 1, 0},   /* ann is forgotten (two keys tracked) */
	    {1, "ann", 188, 0, 0},   /* not tracked: not created by the refund */
	    {0, "ann", 189, 1, 0},
	    {0, "ann", 189, 1, 0},
	    {0, "ann", 189, 1, 0},
	    {0, "ann", 189, 0, 360}, /* a fresh bucket of 3, not 4 */
	};
	for (size_t i = 0; i < sizeof(s) / sizeof(s[0]); i++) {
		if (s[i].refund) {
			bl_ratelimit_refund(rl, s[i].key, s[i].now);
			continue;
		}
		int retry = -7;
		int ok = bl_ratelimit_take(rl, s[i].key, s[i].now, &retry);
		if (ok != s[i].ok || (!ok && retry != s[i].retry))
			fail_msg("step %zu (take %s at %.0f): got ok=%d retry=%d, want ok=%d "
			         "retry=%d",
			         i, s[i].key, s[i].now, ok, retry, s[i].ok, s[i].retry);
	}
	bl_ratelimit_destroy(rl);

	/* unlimited: a refund is a no-op and does not crash */
	rl = bl_ratelimit_create(0, 1, 1);
	bl_ratelimit_refund(rl, "a", 0);
	assert_int_equal(bl_ratelimit_take(rl, "a", 0, NULL), 1);
	bl_ratelimit_destroy(rl);
}

struct taker {
	struct bl_ratelimit *rl;
	int taken;
};

static void *take_many(void *p)
{
	struct taker *t = p;
	char key[8];
	for (int i = 0; i < 20000; i++) {
		snprintf(key, sizeof(key), "k%d", i % 5);
		t->taken += bl_ratelimit_take(t->rl, key, 0, NULL);
	}
	return NULL;
}

/* Four threads on five keys of 1000 tokens, the clock stopped: exactly 5000 taken. */
static void test_threads(void **state)
{
	(void)state;
	struct bl_ratelimit *rl = bl_ratelimit_create(1, 1000, 10);
	pthread_t th[4];
	struct taker t[4];
	for (int i = 0; i < 4; i++) {
		t[i].rl = rl;
		t[i].taken = 0;
		assert_int_equal(pthread_create(&th[i], NULL, take_many, &t[i]), 0);
	}
	int total = 0;
	for (int i = 0; i < 4; i++) {
		pthread_join(th[i], NULL);
		total += t[i].taken;
	}
	if (total != 5000)
		fail_msg("taken by 4 threads: got %d, want 5000", total);
	bl_ratelimit_destroy(rl);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test(test_refill_and_burst), cmocka_unit_test(test_unlimited),
	    cmocka_unit_test(test_lru_eviction),     cmocka_unit_test(test_refund),
	    cmocka_unit_test(test_threads),
	};
	return cmocka_run_group_tests_name("unit/ratelimit", tests, NULL, NULL);
}
