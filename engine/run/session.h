/*
 * session: one recorded run of a runbook - the job `exec` and each triage
 * diagnosis are (SPEC sections 4 and 6). The run's incident is opened or
 * joined while its targets connect (exec_opts.begin); when the store
 * cannot be reached the run records into the local fallback store and the
 * report says so; every event goes through a journal (group commit,
 * durability barriers); and the whole run is durable before the report
 * comes back. The caller parses its options and binds the parameters
 * (exec_bind_params); the session does the rest in one call.
 */
#ifndef RUNBOOK_SESSION_H
#define RUNBOOK_SESSION_H

#include <jansson.h>

#include "exec.h"
#include "store.h"

struct journal;

struct session {
	const char *name;      /* the command, in what it says on stderr ("exec") */
	/* Where the run is recorded: an open store (the caller's, e.g. a
	 * worker's connection), else the store at store_url (NULL: the
	 * default), opened here, or the local fallback store. */
	struct store *st;
	const char *store_url;
	const char *actor;     /* who records (NULL: this user at this host) */
	/* The incident: join this one, else open one with these fields
	 * (title, severity, runbook, component, and an alert's fingerprint,
	 * started_at and alert). */
	const char *incident;
	json_t *open_as;
	/* Set by the run: the report's "store" when the fallback store
	 * recorded (owned by the session). */
	json_t *fallback;
	/* private */
	struct store *own;
	char *id, *own_actor;
	struct journal *journal;
};

/*
 * Runs rb with o (its record hooks are the session's) and records it in
 * the session's incident. Returns the report - with timings.journal, and
 * "store" when the fallback store recorded - once every event is durable;
 * a store that failed makes it "failed" with the error. NULL when there is
 * nowhere to record: nothing ran, and stderr says why.
 */
json_t *session_run(struct session *s, const struct runbook *rb, struct exec_opts *o, struct redactor *red);

/* Closes what the session opened. */
void session_release(struct session *s);

#endif
