/*
 * notifier: paging people (SPEC sections 7 and 8). An escalation target
 * ("@oncall-platform") goes to the notifiers the config routes it to: a
 * `webhook` (a JSON body, or Slack's {"text"}) or `pagerduty` (Events API
 * v2, dedup_key = the incident id). Every notifier is tried on its own
 * thread, up to 3 times with backoff within a bounded time, so a dead one
 * never blocks the others; every attempt is reported, delivered or not.
 */
#ifndef RUNBOOK_NOTIFIER_H
#define RUNBOOK_NOTIFIER_H

#include <jansson.h>

#include "config.h"
#include "redact.h"

#define NOTIFY_TRIES 3

/* The notifier names target goes to: routes[target], else routes.default,
 * else (no routes at all) every notifier. Returns a new array. */
json_t *notifier_route(const struct config *cfg, const char *target);

/*
 * Sends one notification about an incident to every notifier routed for
 * target, concurrently. `info` is {incident, title, severity, status,
 * runbook, summary, findings, url}; it is redacted with red (may be NULL)
 * before any body is built. `action` is trigger, acknowledge or resolve
 * (PagerDuty's event_action). Returns a new array of attempts, in notifier
 * order: {notifier, target, attempt, delivered, http_status?, error?}.
 */
json_t *notifier_send(const struct config *cfg, const char *target, json_t *info, const char *action,
		      const struct redactor *red);

/* The body a notifier of this type and format would get (tests, docs).
 * Returns a new reference. */
json_t *notifier_body(json_t *notifier, const char *target, json_t *info, const char *action);

#endif
