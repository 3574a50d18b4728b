/*
 * The group-commit writer: see batch.h. A mutex-protected FIFO of jobs on
 * the callers' stacks; the writer takes everything queued (up to max_batch),
 * runs it inside begin/commit, then marks the jobs done and wakes their
 * callers. Invariant: a job is touched by the writer only between being
 * taken and being marked done; its caller waits for done before returning.
 */
#include "http/batch.h"

#include "util/log.h"
#include "util/xalloc.h"

#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

struct job {
	bl_batch_fn fn;
	void *arg;
	int rc, done;
	char err[BL_DIAG_MAX];
	struct job *next;
};

struct bl_batcher {
	struct bl_store *store;
	size_t max_batch;
	pthread_t thread;
	pthread_mutex_t lock;
	pthread_cond_t work, done;
	struct job *head, *tail;
	int stopping;
};

static void run_batch(struct bl_batcher *b, struct job *first)
{
	struct bl_store *s = b->store;
	int rc = s->ops->begin(s);
	if (rc) {
		for (struct job *j = first; j; j = j->next) {
			j->rc = rc;
			snprintf(j->err, sizeof(j->err), "%s", bl_store_error(s));
		}
		return;
	}
	size_t ok = 0;
	for (struct job *j = first; j; j = j->next) {
		j->rc = j->fn(s, j->arg);
		if (j->rc)
			snprintf(j->err, sizeof(j->err), "%s", bl_store_error(s));
		else
			ok++;
	}
	rc = ok ? s->ops->commit(s) : s->ops->rollback(s);
	if (rc) {
		bl_error("committing %zu signups: %s", ok, bl_store_error(s));
		s->ops->rollback(s);
		for (struct job *j = first; j; j = j->next)
			if (j->rc == 0) {
				j->rc = rc;
				snprintf(j->err, sizeof(j->err), "%s", bl_store_error(s));
			}
	}
}

static void *writer(void *arg)
{
	struct bl_batcher *b = arg;
	pthread_mutex_lock(&b->lock);
	for (;;) {
		while (!b->head && !b->stopping)
			pthread_cond_wait(&b->work, &b->lock);
		if (!b->head && b->stopping)
			break;
		/* Take up to max_batch jobs off the queue. */
		struct job *first = b->head, *last = first;
		size_t n = 1;
		while (last->next && n < b->max_batch) {
			last = last->next;
			n++;
		}
		b->head = last->next;
		if (!b->head)
			b->tail = NULL;
		last->next = NULL;
		pthread_mutex_unlock(&b->lock);

		run_batch(b, first);

		pthread_mutex_lock(&b->lock);
		for (struct job *j = first, *next; j; j = next) {
			next = j->next;
			j->done = 1;
		}
		pthread_cond_broadcast(&b->done);
	}
	pthread_mutex_unlock(&b->lock);
	return NULL;
}

int bl_batcher_create(const char *db_uri, const struct bl_store_opts *opts, size_t max_batch,
                      struct bl_batcher **out, struct bl_diag *d)
{
	struct bl_batcher *b = bl_xcalloc(1, sizeof(*b));
	int rc = bl_store_open(db_uri, opts, &b->store, d);
	if (rc) {
		free(b);
		return rc;
	}
	b->max_batch = max_batch ? max_batch : 256;
	pthread_mutex_init(&b->lock, NULL);
	pthread_cond_init(&b->work, NULL);
	pthread_cond_init(&b->done, NULL);
	if (pthread_create(&b->thread, NULL, writer, b) != 0)
		bl_panic("cannot start the signup writer thread");
	*out = b;
	return 0;
}

void bl_batcher_destroy(struct bl_batcher *b)
{
	if (!b)
		return;
	pthread_mutex_lock(&b->lock);
	b->stopping = 1;
	pthread_cond_signal(&b->work);
	pthread_mutex_unlock(&b->lock);
	pthread_join(b->thread, NULL);
	pthread_cond_destroy(&b->work);
	pthread_cond_destroy(&b->done);
	pthread_mutex_destroy(&b->lock);
	bl_store_close(b->store);
	free(b);
}

int bl_batcher_run(struct bl_batcher *b, bl_batch_fn fn, void *arg, char *err)
{
	struct job j = {.fn = fn, .arg = arg};
	pthread_mutex_lock(&b->lock);
	if (b->tail)
		b->tail->next = &j;
	else
		b->head = &j;
	b->tail = &j;
	pthread_cond_signal(&b->work);
	while (!j.done)
		pthread_cond_wait(&b->done, &b->lock);
	pthread_mutex_unlock(&b->lock);
	if (j.rc && err)
		snprintf(err, BL_DIAG_MAX, "%s", j.err);
	return j.rc;
}
