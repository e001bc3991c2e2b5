/*
 * journal: a run's timeline, written like a database log (SPEC section 6).
 *
 * Appending queues the event, stamped with the time it happened, and
 * returns at once; one writer thread commits whatever is queued in one
 * transaction (group commit), so a run pays a few syncs, not one per
 * event. A durability barrier waits until every event appended so far is
 * committed and synced: the executor calls it before a mutating step runs
 * and before a notification is sent, and closing the journal (at exit,
 * also after Ctrl-C or SIGTERM) is one too. A kill -9 can lose only the
 * events queued since the last commit, never break the chain: each batch
 * is sealed onto the chain inside its own transaction.
 *
 * While the journal is open its writer thread is the only user of the
 * store it was given.
 */
#ifndef RUNBOOK_JOURNAL_H
#define RUNBOOK_JOURNAL_H

#include <jansson.h>
#include <stdint.h>

#include "store.h"

struct journal;

/* Starts the writer for incident's events, recorded as actor. */
struct journal *journal_open(struct store *st, const char *incident, const char *actor);
/* Queues an event. -1 with *err when an earlier commit failed (the error
 * stays: nothing more is written). */
int journal_append(struct journal *j, const char *kind, const char *summary, json_t *data, char **err);
/* Waits until every event appended so far is committed: 0, or -1 with
 * *err when a commit failed. */
int journal_barrier(struct journal *j, char **err);
/* A final barrier, then stops the writer and frees j. */
int journal_close(struct journal *j, char **err);

/* What the journal cost: commits made, events written, time inside
 * commits and time callers waited in barriers (ms). */
struct journal_stats {
	long long commits, events;
	int64_t commit_ms, barrier_ms;
};
void journal_stats(struct journal *j, struct journal_stats *out);

#endif
