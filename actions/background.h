/*
 * background: connections opened in the background. The actions that keep
 * per-run connections (sql, ssh) start connecting when a run begins
 * (action.warm) and their steps wait here for a connection that is still
 * on its way instead of opening a second one. The mutex also guards the
 * owning action's pool of connections.
 */
#ifndef RUNBOOK_BACKGROUND_H
#define RUNBOOK_BACKGROUND_H

#include <pthread.h>
#include <stddef.h>

struct background {
	pthread_mutex_t mu;
	pthread_cond_t cv;     /* a background connection finished */
	char **pending;        /* keys being connected */
	size_t npending;
	pthread_t *threads;
	size_t nthreads;
};

void background_init(struct background *b);
/* The functions below except release are called with b->mu held. */
int background_pending(struct background *b, const char *key);
/* Runs fn(arg) in a new thread for key, unless key is pending. Returns 0
 * when started (fn then owns arg), -1 when not. */
int background_start(struct background *b, const char *key, void *(*fn)(void *), void *arg);
/* Marks key pending on behalf of the calling thread, which connects it
 * itself and then calls background_done. Returns 0, or -1 when it is
 * pending already. */
int background_claim(struct background *b, const char *key);
/* Marks key finished (connected or not) and wakes the waiters. */
void background_done(struct background *b, const char *key);
/* Waits a short while for some background connection to finish. */
void background_wait(struct background *b);
/* Joins every thread (each ends by its deadline, or on Ctrl-C) and frees. */
void background_release(struct background *b);

#endif
