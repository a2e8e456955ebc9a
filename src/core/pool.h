/*
 * A small worker pool for the features that move data in parallel (snapshot, restore). The workers
 * take jobs from the caller's queue under `lock`; the calling thread waits and reports progress,
 * because callbacks may only run on the thread that made the library call (STYLE.md rule 18). The
 * first failure of any worker (its thread-local error) is captured and re-raised on the calling
 * thread. Internal.
 */
#ifndef STKDR_CORE_POOL_H
#define STKDR_CORE_POOL_H

#include "internal.h"

#include <pthread.h>

typedef struct stkdr__pool {
	pthread_mutex_t lock; /* guards the fields below and the caller's job queue */
	pthread_cond_t cond;
	int running;
	int failed;           /* first error code, 0 while none */
	int err_klass;
	char err_code[64];
	char err_msg[1024];
	int64_t done;         /* progress units (bytes) */
} stkdr__pool;

void stkdr__pool_init(stkdr__pool *p);
void stkdr__pool_destroy(stkdr__pool *p);
/* From a worker: records `rc` and the thread's error detail as the pool's failure (the first wins). */
void stkdr__pool_fail(stkdr__pool *p, int rc);
/* From a worker: adds progress units (no wake-up: progress is reported every 250 ms). */
void stkdr__pool_progress(stkdr__pool *p, int64_t n);
/* With `lock` held: whether workers should stop taking jobs. */
static inline int stkdr__pool_stopping_locked(const stkdr__pool *p) { return p->failed != 0; }
/*
 * Runs fn(args + i * stride) on n threads and waits for them, emitting ::STKDR_EVENT_PROGRESS events
 * `event` (subject, done, total) from this thread; a callback's negative return stops the workers and
 * is returned. Returns 0, or the first failure with its detail set on this thread.
 */
int stkdr__pool_run(stkdr__pool *p, stkdr_ctx *ctx, int n, void *(*fn)(void *), void *args, size_t stride,
	const char *event, const char *subject, int64_t total);

#endif
