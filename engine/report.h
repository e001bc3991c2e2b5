/*
 * report: how a run looks to a person. Live progress (one line per step
 * with status and duration; colour on a TTY unless NO_COLOR), then each
 * step's rendered action and output (SQL rows as an aligned table), then
 * the findings. JSON output is the report document itself.
 */
#ifndef RUNBOOK_REPORT_H
#define RUNBOOK_REPORT_H

#include <jansson.h>
#include <stdio.h>

#include "redact.h"
#include "runbook.h"

struct progress {
	FILE *out;
	int tty;     /* rewrite the "running" line in place */
	int color;
	struct redactor *red;
};

/* Sets up progress for out: TTY and colour detection (NO_COLOR). */
void progress_init(struct progress *p, FILE *out, struct redactor *red);
/* exec_opts.progress callback. */
void progress_step(void *ud, const struct rb_step *step, json_t *result, int starting);

/* Prints the header line of a run. */
void report_header(struct progress *p, const struct runbook *rb, int dry_run);
/* Prints step details and findings after the run. */
void report_text(FILE *out, int color, json_t *report);
/* Prints one JSON document (pretty, sorted as built) and a newline. */
void report_json(FILE *out, json_t *doc);

#endif
