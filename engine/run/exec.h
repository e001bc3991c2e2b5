/*
 * exec: the executor (SPEC section 4). Runs a runbook's steps in order in
 * one sandbox: `when`, deadlines, retries, on_failure, mutating steps held
 * back as would-run unless allowed, dry-run rendering, fixtures, findings.
 * The result is one JSON document shaped as SPEC section 4 shows.
 */
#ifndef RUNBOOK_EXEC_H
#define RUNBOOK_EXEC_H

#include <jansson.h>
#include <stdio.h>

#include "config.h"
#include "redact.h"
#include "runbook.h"
#include "sandbox.h"

enum { PROGRESS_DONE = 0, PROGRESS_START = 1, PROGRESS_PAUSE = 2 };

struct exec_opts {
	int dry_run;
	int apply;            /* run mutating steps */
	int confirm;          /* ask at a prompt before each mutating step */
	const char *no_mutate; /* mutating steps are skipped with this reason (triage) */
	json_t *params;       /* typed parameter values (see exec_bind_params) */
	json_t *alert;        /* normalised alert or NULL */
	json_t *fixtures;     /* step id -> result, or NULL */
	json_t *target_dsn;   /* target name -> DSN override, or NULL */
	const char *incident; /* incident id, or NULL */
	/* The run is cancelled once *cancel is non-zero: what runs stops (a
	 * query is cancelled, a command killed), the steps left are skipped,
	 * the run ends "aborted". NULL: the process's signal flag
	 * (interrupted), as the CLI wants; serve and worker pass their own,
	 * so that one run stops alone. */
	const volatile int *cancel;
	/* called once the run's targets are connecting, before anything is
	 * recorded: opens the timeline and returns the incident's id, or NULL
	 * when nothing can run (exec_run then returns NULL). May be NULL. */
	const char *(*begin)(void *ud);
	const struct sandbox_limits *limits;
	const struct config *cfg; /* notifiers and routes for `notify` steps (may be NULL) */
	size_t output_cap, row_cap; /* per step; 0: the defaults */
	/* timeline: called for runbook.started, each step, each finding and
	 * runbook.finished, with redacted data; a non-zero return (the store
	 * failed) stops the run (may be NULL) */
	int (*record)(void *ud, const char *kind, const char *summary, json_t *data, char **err);
	/* durability barrier: every event recorded so far is on disk when it
	 * returns 0; called before a mutating step runs and before a
	 * notification is sent (may be NULL: record is synchronous) */
	int (*barrier)(void *ud, char **err);
	void *record_ud;
	/* progress: called when a step starts, before a prompt, and after it
	 * with its result (may be NULL) */
	void (*progress)(void *ud, const struct rb_step *step, json_t *result, int state);
	void *progress_ud;
};

/*
 * Builds the typed params object: values given as "key=value" strings in
 * `given` (object of strings), then `from:` paths in the alert, then
 * defaults. Returns 0 with *out (new ref) or -1 with *err (unknown or
 * mistyped parameter, a required one missing).
 */
int exec_bind_params(const struct runbook *rb, json_t *given, json_t *alert, json_t **out, char **err);

/*
 * Runs rb. Returns the report (new ref): {runbook, incident, status,
 * dry_run, started_at, duration_ms, params, steps, findings}, redacted.
 * The redactor (may be NULL) receives the run's secrets.
 */
json_t *exec_run(const struct runbook *rb, const struct exec_opts *o, struct redactor *red);

/* 0 when every step is ok/skipped/would-run, 128 + the signal when the
 * run was aborted (130 after Ctrl-C), else 1. */
int exec_exit_code(json_t *report);

#endif
