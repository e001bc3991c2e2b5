/*
 * match: which runbooks an alert is about (SPEC sections 2 and 7), and why.
 *
 * A runbook's `symptoms` are matchers (any may hold: OR) of conditions (all
 * must hold: AND): `alertname` (a list of exact names), `labels` and
 * `annotations` (exact, or "~regex" anchored like Alertmanager's),
 * `matchers` (Alertmanager syntax: name="v", name!="v", name=~"re",
 * name!~"re") and `text` (a case-insensitive, unanchored regex over the
 * summary and description). Regexes are POSIX extended, compiled once per
 * runbook. An alert may also name its runbook: a `runbook` label or
 * annotation equal to the id, or a `runbook_url` annotation whose last path
 * segment (without .md/.html, any case) is the id.
 *
 * Ranking: named by the alert, then a matcher that names the alertname,
 * then the conditions held in the best matcher, then the runbook id.
 */
#ifndef RUNBOOK_MATCH_H
#define RUNBOOK_MATCH_H

#include <jansson.h>
#include <stddef.h>

#include "runbook.h"

struct matchset;

/* Compiles the symptoms of n runbooks (borrowed: they must outlive the
 * set). Returns a new set, or NULL with *err. */
struct matchset *matchset_new(struct runbook *const *rbs, size_t n, char **err);
void matchset_free(struct matchset *ms);

/*
 * Matches one normalised alert. Returns a new array of {runbook, matched,
 * score, named, matchers: [{held, conditions: [{condition, expected,
 * actual, held}]}]}: the matched runbooks in rank order, then (explain)
 * every other runbook by id.
 */
json_t *matchset_match(const struct matchset *ms, json_t *alert, int explain);
/* The best-ranked matched runbook for the alert, or NULL. */
struct runbook *matchset_best(const struct matchset *ms, json_t *alert);

/* Parses one Alertmanager matcher (`name="v"`, `name!~"re"`, `name=v`).
 * Returns 0 with *name, *op ("=", "!=", "=~", "!~") and *value (new
 * strings), or -1 with *err. */
int match_parse_matcher(const char *s, char **name, const char **op, char **value, char **err);

#endif
