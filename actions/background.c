/* background: connections opened in the background. See background.h. */
#define _POSIX_C_SOURCE 200809L
#include "background.h"
#include "util.h"

#include <stdlib.h>
#include <string.h>

void background_init(struct background *b)
{
	memset(b, 0, sizeof *b);
	pthread_mutex_init(&b->mu, NULL);
	cond_init_monotonic(&b->cv);
}

int background_pending(struct background *b, const char *key)
{
	for (size_t i = 0; i < b->npending; i++)
		if (!strcmp(b->pending[i], key))
			return 1;
	return 0;
}

int background_start(struct background *b, const char *key, void *(*fn)(void *), void *arg)
{
	pthread_t t;
	if (background_pending(b, key) || pthread_create(&t, NULL, fn, arg))
		return -1;
	background_claim(b, key);
	b->threads = xrealloc(b->threads, (b->nthreads + 1) * sizeof *b->threads);
	b->threads[b->nthreads++] = t;
	return 0;
}

int background_claim(struct background *b, const char *key)
{
	if (background_pending(b, key))
		return -1;
	b->pending = xrealloc(b->pending, (b->npending + 1) * sizeof *b->pending);
	b->pending[b->npending++] = xstrdup(key);
	return 0;
}

void background_done(struct background *b, const char *key)
{
	for (size_t i = 0; i < b->npending; i++)
		if (!strcmp(b->pending[i], key)) {
			free(b->pending[i]);
			b->pending[i] = b->pending[--b->npending];
			break;
		}
	pthread_cond_broadcast(&b->cv);
}

void background_wait(struct background *b)
{
	cond_wait_ms(&b->cv, &b->mu, 50); /* short: the caller checks Ctrl-C and its deadline */
}

void background_release(struct background *b)
{
	for (size_t i = 0; i < b->nthreads; i++)
		pthread_join(b->threads[i], NULL);
	free(b->threads);
	for (size_t i = 0; i < b->npending; i++)
		free(b->pending[i]);
	free(b->pending);
	pthread_cond_destroy(&b->cv);
	pthread_mutex_destroy(&b->mu);
	memset(b, 0, sizeof *b);
}
