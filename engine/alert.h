/*
 * alert: reads an alert payload (JSON) and normalises it to the fields
 * runbooks see as `alert` (SPEC section 7): name, status, severity, labels,
 * annotations, summary, description, starts_at, fingerprint, source.
 * Alertmanager v4 (the first of `alerts[]`), PagerDuty v3 and the generic
 * shape are recognised.
 */
#ifndef RUNBOOK_ALERT_H
#define RUNBOOK_ALERT_H

#include <jansson.h>

#include "diag.h"

/* Loads path ("-" for stdin). Returns the normalised alert (new ref), or
 * NULL with an error at file:line:col in diags. */
json_t *alert_load(const char *path, struct diag_list *diags);
/* The same from a buffer, naming it `name` in messages. */
json_t *alert_parse(const char *name, const char *buf, size_t len, struct diag_list *diags);
/* Normalises a parsed payload. Returns a new reference. */
json_t *alert_normalise(json_t *payload);

/* An RFC 3339 time (any fraction, Z or an offset) as UTC
 * "2026-11-24T07:00:00.000000Z" into out. -1 when it is not one (or is
 * Alertmanager's zero time). */
int alert_time(const char *in, char *out, size_t n);

/* The alert's severity as SEV1..SEV4: labels.sev or labels.severity (or
 * the payload's severity) naming one, else the default map (critical
 * SEV1, high/error SEV2, warning SEV3, info/low SEV4); NULL when none. */
const char *alert_severity(json_t *alert);

#endif
