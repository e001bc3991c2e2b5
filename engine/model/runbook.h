/*
 * runbook: the runbook model and its loader. runbook_load() reads a YAML
 * file (yaml_tree), validates every key against SPEC section 2 and reports
 * every problem it finds as file:line:col, including Lua syntax errors at
 * the YAML line where they are. A loaded runbook keeps its tree, so later
 * errors can still point at a position.
 */
#ifndef RUNBOOK_RUNBOOK_H
#define RUNBOOK_RUNBOOK_H

#include <jansson.h>
#include <stdint.h>

#include "diag.h"
#include "yaml_tree.h"

struct action;

#define STEP_DEFAULT_TIMEOUT_MS 30000

struct rb_param {
	char *name;
	char *type;          /* string, int, float, bool */
	json_t *def;         /* default, or NULL */
	char *description;
	char *from;          /* e.g. alert.labels.instance */
	int required;
};

struct rb_target {
	char *name;
	char *type;          /* postgres, ssh */
	json_t *config;      /* the whole mapping, as JSON */
	int line, col;
};

struct rb_step {
	char *id;
	char *title;
	char *on;            /* target name after defaulting; NULL when none */
	char *when;
	int when_line;
	int64_t timeout_ms;
	int retries;
	int64_t retry_delay_ms;
	int stop_on_failure;
	int mutates;
	const struct action *action;
	json_t *spec;        /* the action's value as JSON */
	int spec_line;       /* YAML line of the action's first text line */
	json_t *args;        /* sql bind values (templates), or NULL */
	int line, col;
};

struct rb_test {
	char *name;
	json_t *params;      /* object or NULL */
	json_t *alert;       /* object or NULL */
	json_t *fixtures;    /* object: step id -> result */
	json_t *expect;      /* object or NULL */
	json_t *expect_lines; /* "status", "steps.ID", "findings.N" -> YAML line */
	int line;
};

struct runbook {
	char *file;
	char *id, *title, *description, *owner, *component, *severity;
	json_t *escalation, *tags, *symptoms;
	json_t *dedupe_by;   /* label names that make one incident, or NULL (the fingerprint) */
	int sequential;      /* steps never overlap */
	struct rb_param *params;
	size_t nparams;
	struct rb_target *targets;
	size_t ntargets;
	struct rb_step *steps;
	size_t nsteps;
	struct rb_test *tests;
	size_t ntests;
	json_t *env_names;   /* every env.NAME the targets and steps mention */
	struct ynode *tree;
};

/*
 * Loads and validates the runbook at path. Returns a new runbook (free with
 * runbook_free), or NULL when it has errors; every error goes to diags.
 */
struct runbook *runbook_load(const char *path, struct diag_list *diags);
/* The same, from a buffer, naming it `file` in messages. */
struct runbook *runbook_parse(const char *file, const char *buf, size_t len, struct diag_list *diags);
void runbook_free(struct runbook *rb);

const struct rb_step *runbook_step(const struct runbook *rb, const char *id);
const struct rb_target *runbook_target(const struct runbook *rb, const char *name);
const struct rb_param *runbook_param(const struct runbook *rb, const char *name);

/* True when id is a valid runbook id ([a-z0-9][a-z0-9._-]*). */
int runbook_id_valid(const char *id);

/*
 * Converts a -p value to the parameter's type. Returns a new reference, or
 * NULL with *err.
 */
json_t *runbook_param_value(const struct rb_param *p, const char *text, char **err);

#endif
