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

#endif
