/*
 * exposition: `GET /metrics` in Prometheus text format (SPEC section 7):
 * this process's counters and triage histogram (stats), and from the
 * store the open incidents by severity, the queue depth and the learning
 * figures of the last 30 days (MTTD, MTTA, MTTR, MTBF, rates; SPEC
 * section 6) as gauges. A mean without samples has no sample line.
 */
#ifndef RUNBOOK_EXPOSITION_H
#define RUNBOOK_EXPOSITION_H

#include "util.h"

struct store;

/* Appends the exposition to out. st may be NULL (store_err says why): the
 * store's gauges are then left out and runbook_store_up is 0. Returns
 * nonzero when the store failed. */
int exposition_render(struct sbuf *out, struct store *st, const char *store_err);

#endif
