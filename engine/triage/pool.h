/*
 * pool: triage threads that drain the alert queue (SPEC section 7) - the
 * triage of `serve` and of `worker`. Each thread has its own store
 * connection: it claims the oldest alert it may (store_claim: leased, one
 * key at a time), triages it (triage_queued) and marks it done. One
 * housekeeping thread keeps this process's leases alive, wakes idle
 * threads when alerts arrive (PostgreSQL's NOTIFY, tpool_kick, else a
 * poll every second) and re-escalates unacknowledged incidents.
 */
#ifndef RUNBOOK_POOL_H
#define RUNBOOK_POOL_H

#include "triage.h"

struct tpool;

#define TPOOL_YIELD_MS 50    /* the longest a claim waits for a busy intake */
#define TPOOL_DRAIN_MS 10000 /* SIGTERM: how long the alerts in hand may take to finish */

struct tpool_opts {
	int threads;         /* triage threads (>= 1) */
	int lease_s;         /* a claim's lease, renewed every third of it */
	int reescalate_s;    /* how often to look for unacknowledged incidents (0: never) */
	/* Intake first (serve on SQLite): while this says requests wait for
	 * their commit, a thread waits up to TPOOL_YIELD_MS before it claims
	 * its next alert (NULL: never waits). tpool_kick makes it look again. */
	int (*intake_busy)(void *arg);
	void *intake_arg;
};

/* Starts the pool on the store t names (t and its catalog must outlive
 * it). NULL with *err when the store cannot be opened. */
struct tpool *tpool_start(const struct triage *t, const struct tpool_opts *o, char **err);
/* Alerts were queued: wake an idle thread now. */
void tpool_kick(struct tpool *p);
/* Alerts this pool triaged so far. */
long long tpool_done(struct tpool *p);
/* Stops claiming and lets the alerts in hand finish, until until_ms (a
 * now_ms() value) at the latest, or until hurry (may be NULL), which is
 * called to wait at most until the time it is given, returns non-zero: a
 * second signal, say. */
void tpool_drain(struct tpool *p, int64_t until_ms, int (*hurry)(int64_t until_ms));
/* Stops claiming, cancels the diagnoses still running (each records its
 * abort; its alert stays queued, and the next claim - another worker's,
 * or the next serve's on SQLite - diagnoses it again), joins, frees. */
void tpool_stop(struct tpool *p);

#endif
