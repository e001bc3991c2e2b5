/*
 * config: the configuration file (SPEC section 8), read with the same
 * positioned-error machinery as runbooks: every unknown key, wrong type and
 * unset variable is reported at file:line:col. Strings may use
 * ${env.NAME} and nothing else; those values are secrets (redacted like a
 * runbook's env values). Found at --config FILE, else RUNBOOK_CONFIG, else
 * $XDG_CONFIG_HOME/runbook/config.yaml (optional).
 */
#ifndef RUNBOOK_CONFIG_H
#define RUNBOOK_CONFIG_H

#include <jansson.h>
#include <stddef.h>

#include "diag.h"
#include "sandbox.h"

struct config {
	char *file;           /* NULL: no config file */
	char *store;          /* store URL, or NULL */
	char *runbooks;       /* DIR:DIR..., or NULL */
	json_t *severity_map; /* name -> SEVn, or NULL (the default map) */
	json_t *notifiers;    /* name -> {type, url, format, routing_key} */
	json_t *routes;       /* escalation target -> [notifier names] (object, maybe empty) */
	json_t *components;   /* name -> {runbooks: [...], labels: {...}}, in file order */
	json_t *serve;        /* {listen, bearer_token, pagerduty_secret, max_body, triage_threads} */
	struct sandbox_limits limits;
	size_t output_cap, row_cap;
	json_t *secrets;      /* every value that came from ${env.NAME} */
};

/*
 * Loads the config at path (NULL: RUNBOOK_CONFIG, else the default file if
 * it exists). Returns 0 with *cfg filled (defaults where the file is
 * silent, or no file at all), or -1 with every problem in diags.
 */
int config_load(const char *path, struct config *cfg, struct diag_list *diags);
/* The config from a buffer named `file` (tests, fuzzing). */
int config_parse(const char *file, const char *buf, size_t len, struct config *cfg, struct diag_list *diags);
void config_release(struct config *cfg);
/* A config with every default and no file. */
void config_defaults(struct config *cfg);

/* The component an incident concerns: the runbook's own (`own`), else
 * the config's first component that names the runbook or whose labels the
 * alert (may be NULL) has; NULL when none does. */
const char *config_component(const struct config *cfg, const char *runbook, const char *own, json_t *alert);

/* Parses "1MiB", "512KiB", "64MB", "1048576". Returns 0, or -1. */
int config_parse_size(const char *s, size_t *out);

#endif
