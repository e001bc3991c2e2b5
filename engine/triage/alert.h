/*
 * alert: alert payloads, detected by shape and normalised (SPEC section
 * 7) to what runbooks see as `alert`: {name, status (firing|resolved),
 * severity, labels, annotations, summary, description, starts_at, ends_at,
 * fingerprint, source (alertmanager|pagerduty|generic), url}. Alertmanager
 * (any version) and Grafana group notifications give one alert per entry
 * of `alerts[]`; a PagerDuty v3 webhook gives its incident (with
 * `event_type`); the generic shape is an object or a list of them.
 */
#ifndef RUNBOOK_ALERT_H
#define RUNBOOK_ALERT_H

#include <jansson.h>

#include "diag.h"

/* Parses a payload into a list of normalised alerts (new ref), or NULL
 * with the reason in diags ("name: refused: alerts[2].labels.x: must be a
 * string"): a payload with one bad field is refused whole. */
json_t *alert_parse(const char *name, const char *buf, size_t len, struct diag_list *diags);
/* 1 when a is a normalised alert, every field of the shape alert_parse
 * gives (what triage takes from the queue, a table other programs could
 * write, is checked with this). */
int alert_is_normalised(json_t *a);
/* alert_parse of a file ("-" for stdin). */
json_t *alert_load_all(const char *path, struct diag_list *diags);
/* The first alert of a file (exec --alert; it says so when there are more). */
json_t *alert_load(const char *path, struct diag_list *diags);
/* Normalises a parsed payload (a test's `alert:`), as alert_parse does;
 * an unrecognised one is returned as it is. Returns a new reference. */
json_t *alert_normalise(json_t *payload);

/* True when header (X-PagerDuty-Signature: "v1=HEX[,v1=HEX...]") holds the
 * HMAC-SHA256 (hex) of the raw body under secret; compared in constant time. */
int alert_pagerduty_signed(const char *secret, const char *body, size_t len, const char *header);

/* Alertmanager's fingerprint of a label set: FNV-1a 64 over the labels
 * sorted by name, each name and value followed by 0xff, as 16 hex digits. */
void alert_fingerprint(json_t *labels, char out[17]);

/* An RFC 3339 time (any fraction, Z or an offset) as UTC
 * "2026-11-24T07:00:00.000000Z" into out. -1 when it is not one (or is
 * Alertmanager's zero time). */
int alert_time(const char *in, char *out, size_t n);

/* The alert's severity as SEV1..SEV4: labels.sev or labels.severity (or
 * the alert's severity) naming one, else through map (the config's
 * severity_map; NULL: critical SEV1, high/error SEV2, warning SEV3,
 * info/low SEV4); NULL when none applies. */
const char *alert_severity(json_t *alert, json_t *map);

#endif
