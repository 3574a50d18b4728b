/*
 * Group commit for the web's hot write path: jobs handed in by many HTTP
 * worker threads run one after another on one writer thread's store handle,
 * inside one transaction per batch, and each caller waits until its batch
 * is committed (so a 2xx still follows the commit). One durable commit
 * (fsync) then covers a whole batch, and the writers never contend for the
 * database lock among themselves (SQLite's busy handler would sleep). Each
 * job is a store operation that is atomic on its own (it nests as a
 * savepoint), so a job that fails leaves the others of its batch intact.
 * Used by the signup handler (src/http/public.c).
 */
#ifndef BL_HTTP_BATCH_H
#define BL_HTTP_BATCH_H

#include <stddef.h>

#include "store/store.h"
#include "util/err.h"

struct bl_batcher;

/* A job: one atomic store operation on @s (the writer's handle); returns 0 or -BL_E*. */
typedef int (*bl_batch_fn)(struct bl_store *s, void *arg);

/*
 * bl_batcher_create - open a store handle on @db_uri with @opts and start the
 * writer thread; at most @max_batch jobs per transaction (0: 256). Returns 0
 * with *@out set; -BL_ESTORE when the store cannot be opened (@d says why).
 */
int bl_batcher_create(const char *db_uri, const struct bl_store_opts *opts, size_t max_batch,
                      struct bl_batcher **out, struct bl_diag *d);

/* bl_batcher_destroy - run the jobs still queued, stop the thread, close the store;
 * NULL-safe. No bl_batcher_run may be in progress or start afterwards. */
void bl_batcher_destroy(struct bl_batcher *b);

/*
 * bl_batcher_run - run @fn(@arg) on the writer thread and wait until the
 * transaction holding it is committed. Returns @fn's result when it failed
 * (its work undone, the batch unaffected); else 0 once committed, or the
 * commit's error (the whole batch undone). @err (BL_DIAG_MAX bytes, may be
 * NULL) gets the store's message on error. Thread-safe.
 */
int bl_batcher_run(struct bl_batcher *b, bl_batch_fn fn, void *arg, char *err);

#endif
