/*
 * Token-bucket budgets keyed by a string (http.h, bl_ratelimit_*): one mutex,
 * a chained hash table (power-of-two buckets, at least max_keys of them, a
 * seeded hash so that clients cannot choose keys that share a chain) and an
 * intrusive doubly linked list in least-recently-used order. A take is one
 * lookup, one move to the front and at most one eviction from the back: O(1).
 * A bucket is refilled lazily, on the take, from the time since the last one.
 * A refund gives back the token of a take that turned out not to count (a
 * login with the right password): a budget that charges only failures
 * takes first and refunds after, so parallel attempts cannot overdraw it.
 */
#include "http/http.h"

#include "util/xalloc.h"

#include <limits.h>
#include <math.h>
#include <pthread.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

struct entry {
	struct entry *chain;         /* next in the hash bucket */
	struct entry *newer, *older; /* the LRU list */
	uint64_t hash;
	double tokens; /* tokens in the bucket at time last */
	double last;   /* seconds, the caller's clock */
	size_t klen;
	char key[];
};

struct bl_ratelimit {
	pthread_mutex_t lock;
	double rate;  /* tokens a second; 0: unlimited */
	double burst; /* bucket size, tokens */
	size_t max_keys, n;
	size_t mask; /* buckets - 1 */
	struct entry **buckets;
	struct entry *newest, *oldest;
	uint64_t seed;
};

struct bl_ratelimit *bl_ratelimit_create(double per_hour, double burst, size_t max_keys)
{
	struct bl_ratelimit *rl = bl_xcalloc(1, sizeof(*rl));
	pthread_mutex_init(&rl->lock, NULL);
	rl->rate = per_hour > 0 ? per_hour / 3600.0 : 0;
	rl->burst = burst >= 1 ? burst : 1;
	rl->max_keys = max_keys ? max_keys : 1;
	size_t nb = 16;
	while (nb < rl->max_keys && nb < ((size_t)1 << 30))
		nb <<= 1;
	rl->mask = nb - 1;
	if (rl->rate > 0)
		rl->buckets = bl_xcalloc(nb, sizeof(*rl->buckets));
	struct timespec ts;
	clock_gettime(CLOCK_REALTIME, &ts);
	rl->seed =
	    ((uint64_t)ts.tv_sec * 1000000007u) ^ (uint64_t)ts.tv_nsec ^ (uint64_t)(uintptr_t)rl;
	return rl;
}

void bl_ratelimit_destroy(struct bl_ratelimit *rl)
{
	if (!rl)
		return;
	struct entry *e = rl->newest;
	while (e) {
		struct entry *next = e->older;
		free(e);
		e = next;
	}
	free(rl->buckets);
	pthread_mutex_destroy(&rl->lock);
	free(rl);
}

/* FNV-1a over the key, started from the seed, then a 64-bit finaliser (murmur3's fmix64). */
static uint64_t hash(uint64_t seed, const char *s, size_t n)
{
	uint64_t h = 0xcbf29ce484222325u ^ seed;
	for (size_t i = 0; i < n; i++) {
		h ^= (unsigned char)s[i];
		h *= 0x100000001b3u;
	}
	h ^= h >> 33;
	h *= 0xff51afd7ed558ccdu;
	h ^= h >> 33;
	h *= 0xc4ceb9fe1a85ec53u;
	h ^= h >> 33;
	return h;
}

static void lru_unlink(struct bl_ratelimit *rl, struct entry *e)
{
	if (e->newer)
		e->newer->older = e->older;
	else
		rl->newest = e->older;
	if (e->older)
		e->older->newer = e->newer;
	else
		rl->oldest = e->newer;
	e->newer = e->older = NULL;
}

static void lru_push(struct bl_ratelimit *rl, struct entry *e)
{
	e->newer = NULL;
	e->older = rl->newest;
	if (rl->newest)
		rl->newest->newer = e;
	rl->newest = e;
	if (!rl->oldest)
		rl->oldest = e;
}

static void evict_oldest(struct bl_ratelimit *rl)
{
	struct entry *e = rl->oldest;
	struct entry **pp = &rl->buckets[e->hash & rl->mask];
	while (*pp != e)
		pp = &(*pp)->chain;
	*pp = e->chain;
	lru_unlink(rl, e);
	rl->n--;
	free(e);
}

/* The entry of @key (@klen bytes, hash @h), or NULL; the caller holds the lock. */
static struct entry *find(struct bl_ratelimit *rl, const char *key, size_t klen, uint64_t h)
{
	struct entry *e = rl->buckets[h & rl->mask];
	while (e && !(e->hash == h && e->klen == klen && memcmp(e->key, key, klen) == 0))
		e = e->chain;
	return e;
}

/* Refill @e up to time @now and make it the most recently used; the caller holds the lock. */
static void touch(struct bl_ratelimit *rl, struct entry *e, double now)
{
	if (rl->newest != e) {
		lru_unlink(rl, e);
		lru_push(rl, e);
	}
	if (now > e->last) {
		e->tokens += (now - e->last) * rl->rate;
		if (e->tokens > rl->burst)
			e->tokens = rl->burst;
		e->last = now;
	}
}

int bl_ratelimit_take(struct bl_ratelimit *rl, const char *key, double now, int *retry_after)
{
	if (rl->rate <= 0)
		return 1;
	size_t klen = strlen(key);
	uint64_t h = hash(rl->seed, key, klen);
	pthread_mutex_lock(&rl->lock);
	struct entry *e = find(rl, key, klen, h);
	if (e) {
		touch(rl, e, now);
	} else {
		if (rl->n >= rl->max_keys)
			evict_oldest(rl);
		e = bl_xmalloc(sizeof(*e) + klen + 1);
		e->hash = h;
		e->klen = klen;
		memcpy(e->key, key, klen + 1);
		e->tokens = rl->burst;
		e->last = now;
		e->chain = rl->buckets[h & rl->mask];
		rl->buckets[h & rl->mask] = e;
		lru_push(rl, e);
		rl->n++;
	}
	/* A hair under one token counts: refills are floating-point sums. */
	int ok = e->tokens >= 1 - 1e-9;
	double wait = 0;
	if (ok)
		e->tokens -= 1;
	else
		wait = (1 - e->tokens) / rl->rate;
	pthread_mutex_unlock(&rl->lock);
	if (!ok && retry_after) {
		double w = ceil(wait - 1e-6); /* 359.99999999 and 360.0000001 are 360 */
		*retry_after = w < 1 ? 1 : w > INT_MAX ? INT_MAX : (int)w;
	}
	return ok;
}

void bl_ratelimit_refund(struct bl_ratelimit *rl, const char *key, double now)
{
	if (rl->rate <= 0)
		return;
	size_t klen = strlen(key);
	uint64_t h = hash(rl->seed, key, klen);
	pthread_mutex_lock(&rl->lock);
	struct entry *e = find(rl, key, klen, h);
	if (e) {
		touch(rl, e, now);
		e->tokens += 1;
		if (e->tokens > rl->burst)
			e->tokens = rl->burst;
	}
	pthread_mutex_unlock(&rl->lock);
}
