/*
 * report: how a run looks to a person. Live progress (one line per step
 * with status and duration; colour on a TTY unless NO_COLOR), then each
 * step's rendered action and output (SQL rows as an aligned table), then
 * the findings. JSON output is the report document itself.
 */
#ifndef RUNBOOK_REPORT_H
#define RUNBOOK_REPORT_H

#include <jansson.h>
#include <pthread.h>
#include <stdint.h>
#include <stdio.h>

#include "redact.h"
#include "runbook.h"

struct progress {
	FILE *out;
	int tty;     /* rewrite the "running" line in place (a terminal, TERM not dumb) */
	int color;
	struct redactor *red;
	/* the ticker: while a step runs on a terminal, its line shows the time */
	pthread_t ticker;
	pthread_mutex_t mu;
	pthread_cond_t cv;
	int ticking;
	char line[160];
	int64_t started_ms;
};

/* Sets up progress for out: TTY and colour detection (NO_COLOR, TERM=dumb). */
void progress_init(struct progress *p, FILE *out, struct redactor *red);
/* exec_opts.progress callback: PROGRESS_START, PROGRESS_PAUSE (a prompt
 * takes the terminal) or PROGRESS_DONE. */
void progress_step(void *ud, const struct rb_step *step, json_t *result, int state);

/* Prints the header line of a run. */
void report_header(struct progress *p, const struct runbook *rb, int dry_run);
/* Prints step details and findings after the run. */
void report_text(FILE *out, int color, json_t *report);
/* Prints one JSON document (pretty, sorted as built) and a newline. */
void report_json(FILE *out, json_t *doc);

#endif
