/*
 * fixture: recorded action results as test data (SPEC section 4).
 *
 * A fixture is one step's result as `--record` writes it: the action's
 * result fields (sql: columns, rows, row_count, command; ssh/shell:
 * stdout, stderr, exit_code, signal, fan-out hosts; http: status_code,
 * headers, body; lua: value; notify: delivered) plus status and error.
 * Fixtures are data from outside: every field is checked for its type and
 * its name before a run uses it, so a wrong one is refused with a message
 * that names the step and the field, never a crash.
 */
#ifndef RUNBOOK_FIXTURE_H
#define RUNBOOK_FIXTURE_H

#include <jansson.h>

#include "diag.h"
#include "runbook.h"

/*
 * Checks one step's fixture against its action's result shape. Returns 0,
 * or -1 with *err (caller frees) and *field (the top-level field at fault,
 * or NULL when the fixture as a whole is; points into fx).
 */
int fixture_check(const struct rb_step *s, json_t *fx, char **err, const char **field);

/*
 * Loads a fixtures file, checked against rb: a recording as --record
 * writes it, {params, alert, steps: {step id: result}}, or a bare map of
 * step id: result. Returns the steps (new object; *params and *alert, when
 * asked for, get the recording's, or NULL), or NULL with diags ("file: step
 * 'x': ...").
 */
json_t *fixture_load(const struct runbook *rb, const char *path, struct diag_list *diags, json_t **params,
		     json_t **alert);

/* The same from a buffer, naming it `name` in messages. */
json_t *fixture_parse(const struct runbook *rb, const char *name, const char *buf, size_t len,
		      struct diag_list *diags, json_t **params, json_t **alert);

/* Fills a step result from its fixture: fields copied, missing sql fields
 * derived, status derived (exit code, fan-out: the worst host) when absent. */
void fixture_apply(const struct rb_step *s, json_t *res, json_t *fx);

#endif
