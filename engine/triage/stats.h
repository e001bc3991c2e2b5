/*
 * stats: what this process has seen, for `serve`'s /metrics (SPEC section
 * 7): alerts received by source and refused by reason, notifications by
 * notifier and result, and how long triage took (a histogram). Counters
 * only grow; every function is safe from any thread.
 */
#ifndef RUNBOOK_STATS_H
#define RUNBOOK_STATS_H

#include "util.h"

void stats_alerts_received(const char *source, long n);
void stats_alert_rejected(const char *reason);
void stats_notification(const char *notifier, int delivered);
void stats_triage_seconds(double s);

/* The counters and the histogram in Prometheus text exposition, each
 * family with HELP and TYPE lines. */
void stats_render(struct sbuf *out);

#endif
