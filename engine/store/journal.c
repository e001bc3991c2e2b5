/* journal: group-committed timeline writes. See journal.h. */
#define _POSIX_C_SOURCE 200809L
#include "journal.h"
#include "util.h"

#include <pthread.h>
#include <stdlib.h>
#include <string.h>

struct journal {
	struct store *st;
	char *incident, *actor;
	pthread_t writer;
	pthread_mutex_t mu;
	pthread_cond_t queued;    /* an event was queued, or stop */
	pthread_cond_t committed; /* a batch was committed, or failed */
	json_t *queue;            /* events not yet handed to the store */
	long long nappended, ncommitted;
	char *error;              /* the first failure; sticky */
	int stop;
	struct journal_stats stats;
};

static void *writer_main(void *arg)
{
	struct journal *j = arg;
	pthread_mutex_lock(&j->mu);
	for (;;) {
		while (!json_array_size(j->queue) && !j->stop)
			pthread_cond_wait(&j->queued, &j->mu);
		if (!json_array_size(j->queue))
			break; /* stopping, and everything is written */
		json_t *batch = j->queue;
		j->queue = json_array();
		long long n = (long long)json_array_size(batch);
		int failed = j->error != NULL;
		pthread_mutex_unlock(&j->mu);
		char *err = NULL;
		int64_t t0 = now_ms();
		int bad = failed || store_append_many(j->st, j->incident, j->actor, batch, &err);
		int64_t spent = now_ms() - t0;
		json_decref(batch);
		pthread_mutex_lock(&j->mu);
		if (bad && !j->error)
			j->error = err ? err : xstrdup("the timeline store failed");
		else
			free(err);
		if (!failed) {
			j->stats.commits++;
			j->stats.commit_ms += spent;
		}
		if (!bad)
			j->stats.events += n;
		j->ncommitted += n;
		pthread_cond_broadcast(&j->committed);
	}
	pthread_mutex_unlock(&j->mu);
	return NULL;
}

struct journal *journal_open(struct store *st, const char *incident, const char *actor)
{
	struct journal *j = xcalloc(1, sizeof *j);
	j->st = st;
	j->incident = xstrdup(incident);
	j->actor = xstrdup(actor);
	j->queue = json_array();
	pthread_mutex_init(&j->mu, NULL);
	pthread_cond_init(&j->queued, NULL);
	pthread_cond_init(&j->committed, NULL);
	if (pthread_create(&j->writer, NULL, writer_main, j)) {
		/* no thread: say so at the first append, write nothing */
		j->error = xstrdup("cannot start the timeline writer");
		j->stop = -1;
	}
	return j;
}

int journal_append(struct journal *j, const char *kind, const char *summary, json_t *data, char **err)
{
	char at[40];
	utc_timestamp(at, sizeof at);
	json_t *e = json_pack("{s:s, s:s, s:s, s:O}", "time", at, "kind", kind, "summary", summary, "data",
			      data ? data : json_null());
	if (!e) {
		*err = xstrdup("the event is not valid UTF-8");
		return -1;
	}
	pthread_mutex_lock(&j->mu);
	int bad = j->error != NULL;
	if (bad) {
		*err = xstrdup(j->error);
		json_decref(e);
	} else {
		json_array_append_new(j->queue, e);
		j->nappended++;
		pthread_cond_signal(&j->queued);
	}
	pthread_mutex_unlock(&j->mu);
	return bad ? -1 : 0;
}

int journal_barrier(struct journal *j, char **err)
{
	int64_t t0 = now_ms();
	pthread_mutex_lock(&j->mu);
	long long target = j->nappended;
	while (j->ncommitted < target && !j->error)
		pthread_cond_wait(&j->committed, &j->mu);
	int bad = j->error != NULL;
	if (bad && err)
		*err = xstrdup(j->error);
	j->stats.barrier_ms += now_ms() - t0;
	pthread_mutex_unlock(&j->mu);
	return bad ? -1 : 0;
}

int journal_close(struct journal *j, char **err)
{
	if (!j)
		return 0;
	int rc = journal_barrier(j, err);
	pthread_mutex_lock(&j->mu);
	int started = j->stop == 0;
	j->stop = 1;
	pthread_cond_signal(&j->queued);
	pthread_mutex_unlock(&j->mu);
	if (started)
		pthread_join(j->writer, NULL);
	json_decref(j->queue);
	pthread_cond_destroy(&j->queued);
	pthread_cond_destroy(&j->committed);
	pthread_mutex_destroy(&j->mu);
	free(j->error);
	free(j->incident);
	free(j->actor);
	free(j);
	return rc;
}

void journal_stats(struct journal *j, struct journal_stats *out)
{
	pthread_mutex_lock(&j->mu);
	*out = j->stats;
	pthread_mutex_unlock(&j->mu);
}
