/* Worker pool with progress reported from the calling thread. */
#include "pool.h"

#include <stdio.h>
#include <string.h>
#include <time.h>

void stkdr__pool_init(stkdr__pool *p)
{
	memset(p, 0, sizeof *p);
	pthread_mutex_init(&p->lock, NULL);
	pthread_cond_init(&p->cond, NULL);
}

void stkdr__pool_destroy(stkdr__pool *p)
{
	pthread_mutex_destroy(&p->lock);
	pthread_cond_destroy(&p->cond);
}

static void fail_locked(stkdr__pool *p, int rc)
{
	if (!p->failed) {
		const stkdr_error *e = stkdr__err_get();
		p->failed = rc;
		p->err_klass = e->klass;
		snprintf(p->err_code, sizeof p->err_code, "%s", e->backend_code);
		snprintf(p->err_msg, sizeof p->err_msg, "%s", e->message[0] ? e->message : stkdr_strerror(rc));
	}
	pthread_cond_broadcast(&p->cond);
}

void stkdr__pool_fail(stkdr__pool *p, int rc)
{
	pthread_mutex_lock(&p->lock);
	fail_locked(p, rc);
	pthread_mutex_unlock(&p->lock);
}

void stkdr__pool_progress(stkdr__pool *p, int64_t n)
{
	pthread_mutex_lock(&p->lock);
	p->done += n;
	pthread_mutex_unlock(&p->lock);
}

typedef struct tramp {
	stkdr__pool *pool;
	void *(*fn)(void *);
	void *arg;
	pthread_t tid;
} tramp;

static void *trampoline(void *a)
{
	tramp *t = a;
	t->fn(t->arg);
	pthread_mutex_lock(&t->pool->lock);
	t->pool->running--;
	pthread_cond_broadcast(&t->pool->cond);
	pthread_mutex_unlock(&t->pool->lock);
	return NULL;
}

int stkdr__pool_run(stkdr__pool *p, stkdr_ctx *ctx, int n, void *(*fn)(void *), void *args, size_t stride,
	const char *event, const char *subject, int64_t total)
{
	tramp *ts = stkdr__calloc((size_t)(n > 0 ? n : 1), sizeof *ts);
	if (!ts)
		return stkdr__seterr(STKDR_ENOMEM, STKDR_ERRCLASS_OS, "ENOMEM", "out of memory starting worker threads");
	int started = 0, rc = 0;
	pthread_mutex_lock(&p->lock);
	for (int i = 0; i < n; i++) {
		ts[i].pool = p;
		ts[i].fn = fn;
		ts[i].arg = (char *)args + (size_t)i * stride;
		p->running++;
		if (pthread_create(&ts[i].tid, NULL, trampoline, &ts[i]) != 0) {
			p->running--;
			rc = stkdr__seterr(STKDR_ERROR, STKDR_ERRCLASS_OS, NULL, "cannot start worker thread %d of %d", i + 1, n);
			fail_locked(p, rc);
			break;
		}
		started++;
	}
	while (p->running > 0) {
		struct timespec ts_wait;
		clock_gettime(CLOCK_REALTIME, &ts_wait);
		ts_wait.tv_nsec += 250 * 1000000L;
		if (ts_wait.tv_nsec >= 1000000000L) {
			ts_wait.tv_sec++;
			ts_wait.tv_nsec -= 1000000000L;
		}
		pthread_cond_timedwait(&p->cond, &p->lock, &ts_wait);
		if (p->failed)
			continue;
		int64_t done = p->done;
		pthread_mutex_unlock(&p->lock);
		int cr = stkdr__emit(ctx, STKDR_EVENT_PROGRESS, event, subject, done, total, 0, NULL);
		pthread_mutex_lock(&p->lock);
		if (cr)
			fail_locked(p, cr);
	}
	pthread_mutex_unlock(&p->lock);
	for (int i = 0; i < started; i++)
		pthread_join(ts[i].tid, NULL);
	stkdr__free(ts);
	if (p->failed) {
		stkdr_error_set_str(p->failed, p->err_klass, p->err_code, p->err_msg);
		return p->failed;
	}
	return rc;
}
