/* lanes: jobs on threads, a thread per lane. See lanes.h. */
#define _POSIX_C_SOURCE 200809L
#include "lanes.h"
#include "util.h"

#include <pthread.h>
#include <stdlib.h>
#include <string.h>

struct lane {
	struct lanes *l;
	const char *name;
	size_t *jobs, n;
	pthread_t thread;
	int started;
};

struct lanes {
	pthread_mutex_t mu;
	pthread_cond_t cv;
	char *done;
	struct lane *lane;
	size_t nlanes;
	void (*work)(void *ud, size_t i);
	void *ud;
};

static void run_lane(struct lane *ln)
{
	struct lanes *l = ln->l;
	for (size_t k = 0; k < ln->n; k++) {
		l->work(l->ud, ln->jobs[k]);
		pthread_mutex_lock(&l->mu);
		l->done[ln->jobs[k]] = 1;
		pthread_cond_broadcast(&l->cv);
		pthread_mutex_unlock(&l->mu);
	}
}

static void *lane_main(void *arg)
{
	run_lane(arg);
	return NULL;
}

struct lanes *lanes_start(size_t n, const char *const *lane, void (*work)(void *ud, size_t i), void *ud)
{
	struct lanes *l = xcalloc(1, sizeof *l);
	pthread_mutex_init(&l->mu, NULL);
	pthread_cond_init(&l->cv, NULL);
	l->done = xcalloc(n ? n : 1, 1);
	l->lane = xcalloc(n ? n : 1, sizeof *l->lane);
	l->work = work;
	l->ud = ud;
	for (size_t i = 0; i < n; i++) {
		if (!lane[i]) {
			l->done[i] = 1;
			continue;
		}
		size_t k = 0;
		while (k < l->nlanes && strcmp(l->lane[k].name, lane[i]))
			k++;
		if (k == l->nlanes) {
			l->lane[k].l = l;
			l->lane[k].name = lane[i];
			l->lane[k].jobs = xcalloc(n, sizeof *l->lane[k].jobs);
			l->nlanes++;
		}
		l->lane[k].jobs[l->lane[k].n++] = i;
	}
	for (size_t k = 0; k < l->nlanes; k++) {
		l->lane[k].started = pthread_create(&l->lane[k].thread, NULL, lane_main, &l->lane[k]) == 0;
		if (!l->lane[k].started) /* no thread: its jobs run here and now, the rest still overlap */
			run_lane(&l->lane[k]);
	}
	return l;
}

void lanes_wait(struct lanes *l, size_t i)
{
	pthread_mutex_lock(&l->mu);
	while (!l->done[i])
		pthread_cond_wait(&l->cv, &l->mu);
	pthread_mutex_unlock(&l->mu);
}

void lanes_finish(struct lanes *l)
{
	for (size_t k = 0; k < l->nlanes; k++) {
		if (l->lane[k].started)
			pthread_join(l->lane[k].thread, NULL);
		free(l->lane[k].jobs);
	}
	free(l->lane);
	free(l->done);
	pthread_cond_destroy(&l->cv);
	pthread_mutex_destroy(&l->mu);
	free(l);
}
