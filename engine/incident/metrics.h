/*
 * metrics: how incident response is going (SPEC section 6), computed from
 * incidents alone: MTTD (detected - started), MTTA (acknowledged -
 * detected), MTTR (resolved - detected), MTBF (the mean gap between the
 * starts of consecutive incidents of one component, all components
 * pooled), the share acknowledged within the severity's target, the
 * repeat rate and the false-positive rate; overall and per severity. A
 * mean without samples is null, never 0.
 */
#ifndef RUNBOOK_METRICS_H
#define RUNBOOK_METRICS_H

#include <jansson.h>
#include <stdint.h>

/* The seed's targets, in seconds (SEV1). */
#define TARGET_MTTD_S 300
#define TARGET_MTTA_S 300
#define TARGET_MTTR_S 1800

/* The metrics from the sums the store computed (store_metrics_sums), for
 * the window [since, until] (as shown). Returns a new object shaped as SPEC
 * section 6: {since, until, incidents, mttd_s, mtta_s, mttr_s, mtbf_s,
 * ack_within_target, repeat_rate, false_positive_rate, by_severity}. */
json_t *metrics_from_sums(json_t *sums, const char *since, const char *until);

struct store;
/* The metrics of the incidents the store has detected in [since, until]
 * (epoch seconds; now: for acknowledgements still inside their target),
 * computed in the database. NULL with *err. */
json_t *metrics_window(struct store *st, int64_t since, int64_t until, int64_t now, char **err);

/* Parses "30d", "12h", "90m", "45s" (a span) into seconds. -1 if not one. */
int64_t metrics_span(const char *s);

#endif
