/*
 * incident: the rules of the incident lifecycle (SPEC section 6):
 * severities SEV1..SEV4 and their acknowledgement targets, and the
 * transitions triggered -> acknowledged -> resolved.
 */
#ifndef RUNBOOK_INCIDENT_H
#define RUNBOOK_INCIDENT_H

#include <jansson.h>
#include <stddef.h>
#include <stdint.h>

/* Seconds to acknowledge an incident of this severity; -1 if unknown. */
int64_t incident_ack_target(const char *severity);
/* True when the incident waits for acknowledgement past its target. */
int incident_ack_overdue(json_t *incident, int64_t now_epoch);
/* Parses "2026-11-24T07:00:00.000000Z" into seconds since the epoch. */
int64_t incident_parse_time(const char *ts);
int incident_severity_valid(const char *s);
/* A stored time ("2026-11-24T07:00:00.000000Z") in strftime format fmt,
 * in UTC, into buf; "unknown" when it is not a time. */
void incident_format_time(const char *ts, const char *fmt, char *buf, size_t n);

/* An action item from its text: {text, owner ("@x" or null), due
 * ("YYYY-MM-DD" or null)}, the owner and due date read from "@owner" and
 * "due:DATE" in the text. Returns a new reference. */
json_t *incident_action(const char *text);

struct store;
/* Moves incident id to `to` (acknowledged or resolved, with an optional
 * resolution; at: a stored time, or NULL for now) and records why. 0; 1
 * when there is no such incident, 2 when it may not from its status (*err
 * says so); -1 when the store failed. */
int incident_transition(struct store *st, const char *id, const char *to, const char *resolution, const char *actor,
			const char *at, char **err);

#endif
