/* pool: triage threads draining the alert queue. See pool.h. */
#define _POSIX_C_SOURCE 200809L
#include "pool.h"
#include "match.h"
#include "store.h"
#include "util.h"

#include <errno.h>
#include <signal.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#define MAX_THREADS 64

struct tpool {
	const struct triage *t;
	struct tpool_opts o;
	struct matchset *ms;
	char *owner, *actor;
	pthread_t th[MAX_THREADS], keeper;
	int nth, keeper_started;
	pthread_mutex_t mu;
	pthread_cond_t cv;
	unsigned long gen;   /* bumped by every kick: no wakeup is lost */
	int stop;
	int busy;            /* threads claiming or triaging an alert */
	long long done;
	struct triage tc;    /* the caller's, with cancel pointing at ours */
	volatile int cancel; /* tpool_stop: the diagnoses still running stop */
};

static void wait_for_news(struct tpool *p, unsigned long *seen, int ms)
{
	pthread_mutex_lock(&p->mu);
	if (*seen == p->gen && !p->stop)
		cond_wait_ms(&p->cv, &p->mu, ms);
	*seen = p->gen;
	pthread_mutex_unlock(&p->mu);
}

static int stopping(struct tpool *p)
{
	pthread_mutex_lock(&p->mu);
	int s = p->stop;
	pthread_mutex_unlock(&p->mu);
	return s;
}

void tpool_kick(struct tpool *p)
{
	pthread_mutex_lock(&p->mu);
	p->gen++;
	pthread_cond_broadcast(&p->cv);
	pthread_mutex_unlock(&p->mu);
}

/* A thread is about to claim: 0 when the pool stops instead. */
static int enter(struct tpool *p)
{
	pthread_mutex_lock(&p->mu);
	int go = !p->stop;
	p->busy += go;
	pthread_mutex_unlock(&p->mu);
	return go;
}

/* The claim found nothing, or its alert is done (done: 1). Only a drain
 * waits for that: waking the idle threads after every alert made each of
 * them claim again, and slowed a storm's triage down by half. */
static void leave(struct tpool *p, int done)
{
	pthread_mutex_lock(&p->mu);
	p->busy--;
	p->done += done;
	if (p->stop)
		pthread_cond_broadcast(&p->cv);
	pthread_mutex_unlock(&p->mu);
}

long long tpool_done(struct tpool *p)
{
	pthread_mutex_lock(&p->mu);
	long long n = p->done;
	pthread_mutex_unlock(&p->mu);
	return n;
}

/* Opens this thread's connection, saying why not at most once a minute. */
static struct store *connect_store(struct tpool *p, int64_t *last_complaint)
{
	char *err = NULL;
	struct store *st = store_open(p->t->store_url, &err);
	if (!st && now_ms() - *last_complaint > 60000) {
		fprintf(stderr, "runbook: triage: %s (trying again)\n", err);
		*last_complaint = now_ms();
	}
	free(err);
	return st;
}

/* An alert storm is accepted first and triaged after. The threads leave
 * the CPU and SQLite's one writer to the requests while any are waiting
 * for their commit; a thread waits at most TPOOL_YIELD_MS, so triage
 * never stops while alerts keep coming. */
static void yield_to_intake(struct tpool *p, unsigned long *seen)
{
	if (!p->o.intake_busy)
		return;
	int64_t until = now_ms() + TPOOL_YIELD_MS;
	for (int64_t left = TPOOL_YIELD_MS; left > 0 && p->o.intake_busy(p->o.intake_arg) && !stopping(p);
	     left = until - now_ms())
		wait_for_news(p, seen, (int)left);
}

static void *triage_thread(void *arg)
{
	struct tpool *p = arg;
	struct store *st = NULL;
	unsigned long seen = 0;
	int64_t complained = -60000;
	while (!stopping(p)) {
		if (!st && !(st = connect_store(p, &complained))) {
			wait_for_news(p, &seen, 1000);
			continue;
		}
		yield_to_intake(p, &seen);
		if (!enter(p))
			break;
		json_t *item = NULL;
		char *err = NULL;
		int rc = store_claim(st, p->owner, p->o.lease_s, &item, &err), aborted = 0;
		if (rc == 1) {
			int failed = 0;
			json_t *res = triage_queued(p->t, st, p->ms, item, p->actor, &failed);
			aborted = triage_aborted(res);
			/* an aborted diagnosis leaves its alert to the next claim: the
			 * claim ends with this connection (PostgreSQL) or when the next
			 * serve starts (SQLite), and the alert's diagnosis runs again */
			if (!aborted && store_queue_done(st, item, res, &err))
				fprintf(stderr, "runbook: triage: alert %lld: %s\n",
					(long long)json_integer_value(json_object_get(item, "id")), err);
			json_decref(res);
			json_decref(item);
		}
		leave(p, rc == 1 && !aborted);
		if (rc < 0) {
			if (now_ms() - complained > 60000) {
				fprintf(stderr, "runbook: triage: %s (reconnecting)\n", err);
				complained = now_ms();
			}
			store_close(st); /* a dropped connection ends its claims; start afresh */
			st = NULL;
			wait_for_news(p, &seen, 1000);
		} else if (rc == 0) {
			wait_for_news(p, &seen, 1000);
		}
		free(err);
		if (aborted)
			break; /* only tpool_stop cancels */
	}
	store_close(st);
	return NULL;
}

/* The queue keeps what it did for QUEUE_KEEP_S, then forgets it (the
 * timeline is the record): every keeper looks once an hour, a batch at a
 * time, so that SQLite's one writer is never held long. */
#define QUEUE_KEEP_S (7 * 24 * 3600)
#define PRUNE_EVERY_MS (3600 * 1000)
#define PRUNE_BATCH 1000
static int prune_queue(struct tpool *p, struct store *st)
{
	char *err = NULL;
	long long n;
	while ((n = store_queue_prune(st, QUEUE_KEEP_S, PRUNE_BATCH, &err)) == PRUNE_BATCH && !stopping(p))
		;
	if (n < 0)
		fprintf(stderr, "runbook: triage: forgetting done alerts: %s\n", err);
	free(err);
	return n < 0 ? -1 : 0;
}

/* Leases, news of new alerts, re-escalation, the queue's old rows. */
static void *keeper_thread(void *arg)
{
	struct tpool *p = arg;
	struct store *st = NULL;
	int64_t complained = -60000, beat = 0, reesc = 0, pruned = -PRUNE_EVERY_MS;
	unsigned long seen = 0;
	while (!stopping(p)) {
		if (!st && !(st = connect_store(p, &complained))) {
			wait_for_news(p, &seen, 1000);
			continue;
		}
		char *err = NULL;
		int64_t now = now_ms();
		if (now - beat >= p->o.lease_s * 1000 / 3) {
			if (store_heartbeat(st, p->owner, p->o.lease_s, &err)) {
				fprintf(stderr, "runbook: triage: lease: %s\n", err);
				store_close(st);
				st = NULL;
			}
			beat = now;
		}
		if (st && p->o.reescalate_s > 0 && now - reesc >= p->o.reescalate_s * 1000) {
			if (triage_reescalate(p->t, st, p->actor, (int64_t)time(NULL)) < 0) {
				store_close(st);
				st = NULL;
			}
			reesc = now;
		}
		if (st && now - pruned >= PRUNE_EVERY_MS) {
			if (prune_queue(p, st)) {
				store_close(st);
				st = NULL;
			}
			pruned = now;
		}
		free(err);
		if (st && store_queue_wait(st, 500) == 0)
			tpool_kick(p); /* news, or half a second passed: idle threads look again */
		else
			wait_for_news(p, &seen, 500);
	}
	store_close(st);
	return NULL;
}

struct tpool *tpool_start(const struct triage *t, const struct tpool_opts *o, char **err)
{
	struct store *st = store_open(t->store_url, err);
	if (!st)
		return NULL;
	if (store_queue_reset(st, err)) { /* SQLite: claims of an earlier run end */
		store_close(st);
		return NULL;
	}
	store_close(st);
	struct tpool *p = xcalloc(1, sizeof *p);
	p->tc = *t;
	p->tc.cancel = &p->cancel;
	p->t = &p->tc;
	p->o = *o;
	if (p->o.threads < 1)
		p->o.threads = 1;
	if (p->o.threads > MAX_THREADS)
		p->o.threads = MAX_THREADS;
	if (p->o.lease_s < 3)
		p->o.lease_s = 3;
	if (!(p->ms = matchset_new(t->rbs, t->nrb, err))) {
		free(p);
		return NULL;
	}
	char host[256] = "localhost";
	gethostname(host, sizeof host - 1);
	p->owner = xasprintf("%s:%ld:%lx", host, (long)getpid(), (unsigned long)(uintptr_t)p);
	p->actor = store_actor();
	pthread_mutex_init(&p->mu, NULL);
	cond_init_monotonic(&p->cv);
	for (int i = 0; i < p->o.threads; i++)
		if (pthread_create(&p->th[p->nth], NULL, triage_thread, p) == 0)
			p->nth++;
	p->keeper_started = pthread_create(&p->keeper, NULL, keeper_thread, p) == 0;
	if (!p->nth) {
		*err = xasprintf("cannot start triage threads: %s", strerror(errno));
		tpool_stop(p);
		return NULL;
	}
	return p;
}

void tpool_drain(struct tpool *p, int64_t until_ms, int (*hurry)(int64_t until_ms))
{
	if (!p)
		return;
	pthread_mutex_lock(&p->mu);
	p->stop = 1;
	pthread_cond_broadcast(&p->cv);
	for (int64_t now; p->busy && (now = now_ms()) < until_ms;) {
		int64_t slice = now + 100 < until_ms ? now + 100 : until_ms; /* a look at the threads every 100 ms */
		if (!hurry) {
			cond_wait_ms(&p->cv, &p->mu, (int)(slice - now));
			continue;
		}
		pthread_mutex_unlock(&p->mu);
		int hurried = hurry(slice);
		pthread_mutex_lock(&p->mu);
		if (hurried)
			break;
	}
	pthread_mutex_unlock(&p->mu);
}

void tpool_stop(struct tpool *p)
{
	if (!p)
		return;
	pthread_mutex_lock(&p->mu);
	p->stop = 1;
	if (p->busy)
		p->cancel = SIGTERM; /* what is still running stops; its alerts stay queued */
	pthread_cond_broadcast(&p->cv);
	pthread_mutex_unlock(&p->mu);
	for (int i = 0; i < p->nth; i++)
		pthread_join(p->th[i], NULL);
	if (p->keeper_started)
		pthread_join(p->keeper, NULL);
	matchset_free(p->ms);
	pthread_mutex_destroy(&p->mu);
	pthread_cond_destroy(&p->cv);
	free(p->owner);
	free(p->actor);
	free(p);
}
