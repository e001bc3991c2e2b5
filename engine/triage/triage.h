/*
 * triage: from an alert to a diagnosed, escalated incident (SPEC section 7).
 * For each normalised alert: dedupe it into an open incident (by the
 * matched runbook's dedupe_by labels, else its fingerprint) or open one;
 * a resolved alert resolves its incident; severity from the alert, the
 * config's map, the runbook; the best-ranked runbook's diagnosis runs with
 * its mutating steps skipped; the escalation target's notifiers are paged.
 * Every alert received is one `alert` event. Diagnoses of different
 * incidents run concurrently (bounded), never two of one incident.
 */
#ifndef RUNBOOK_TRIAGE_H
#define RUNBOOK_TRIAGE_H

#include <jansson.h>
#include <stdint.h>

#include "config.h"
#include "runbook.h"

struct triage {
	const struct config *cfg;
	const char *store_url;     /* the store every worker opens (NULL: the default) */
	struct runbook **rbs;      /* the catalog (borrowed) */
	size_t nrb;
	int threads;               /* diagnoses at once */
	/* Diagnoses stop once *cancel is non-zero (exec_opts.cancel; NULL:
	 * the process's signal flag) */
	const volatile int *cancel;
};

/*
 * Triages a list of normalised alerts. Returns a new array with one entry
 * per alert, in order: {fingerprint, incident, action (opened, updated,
 * resolved, ignored), runbook, severity, status (the diagnosis's, or
 * null)}; *failed is set when a diagnosis failed. NULL with *err when the
 * store cannot be used at all.
 */
json_t *triage_run(const struct triage *t, json_t *alerts, int *failed, char **err);

struct store;
struct matchset;

/*
 * Triages one alert claimed from the queue (store_claim's item) on st, the
 * caller's connection: the queue id is the idempotency key of what it
 * records, so an alert claimed again after its worker died is recorded
 * once; an item whose alert was recorded already only runs the diagnosis
 * that was left. Returns its triage line (new ref); *failed when the
 * diagnosis failed. A diagnosis that t->cancel stopped records its abort
 * and nothing after it (no escalation): its line's status is "aborted"
 * (triage_aborted), and the caller leaves the alert queued, so that the
 * next claim diagnoses it again.
 */
json_t *triage_queued(const struct triage *t, struct store *st, const struct matchset *ms, json_t *item,
		      const char *actor, int *failed);
/* Whether a triage line is of a diagnosis that was cancelled. */
int triage_aborted(json_t *line);

/*
 * Re-escalation: every open incident not acknowledged within its
 * severity's target is notified again once per target period (through the
 * config's `repeat` route, else its escalation target) and gets
 * `escalation` events - exactly once across every process sharing the
 * store. Returns how many incidents were escalated, -1 on a store error.
 */
int triage_reescalate(const struct triage *t, struct store *st, const char *actor, int64_t now);

/* The incident key of an alert for runbook rb (may be NULL): the values of
 * rb's dedupe_by labels ("alertname=X,instance=Y"), else the fingerprint.
 * Returns a new string. */
char *triage_key(const struct runbook *rb, json_t *alert);

/* The escalation target of rb for severity: its own, else the next more
 * severe one's; NULL when it has none. */
const char *triage_escalation_target(const struct runbook *rb, const char *severity);

#endif
