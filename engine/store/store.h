/*
 * store: where incidents and their timelines live (SPEC section 6).
 *
 * One interface, chosen by URL: `sqlite:PATH` (the default:
 * $XDG_STATE_HOME/runbook/runbook.db) or a PostgreSQL conninfo/URI (the
 * shared store for teams; not in this build yet). Events are append-only:
 * each is committed and synced before store_append returns, numbered per
 * incident, and chained: hash = SHA-256(prev_hash || canonical event).
 */
#ifndef RUNBOOK_STORE_H
#define RUNBOOK_STORE_H

#include <jansson.h>

struct store;

/* The store URL in force: url, else RUNBOOK_STORE, else the default
 * SQLite file. Returns a new string. */
char *store_default_url(const char *url);

/* Opens (creating and migrating as needed). NULL with *err. */
struct store *store_open(const char *url, char **err);
void store_close(struct store *st);

/*
 * Creates an incident from fields {title, severity, runbook, component,
 * fingerprint, started_at} and records its `incident.opened` event; with
 * an `alert` field (a normalised alert), the alert is its first event.
 * Returns 0 with *id ("INC-<n>", caller frees), or -1 with *err.
 */
int store_incident_create(struct store *st, json_t *fields, const char *actor, char **id, char **err);
/* The incident as JSON, or NULL with *err (unknown id: *err says so). */
json_t *store_incident_get(struct store *st, const char *id, char **err);
/* Every incident, newest first. */
json_t *store_incident_list(struct store *st, char **err);
/* Sets fields of an incident (status, severity, acknowledged_at, ...) and
 * appends the event that explains it, in one transaction. */
int store_incident_update(struct store *st, const char *id, json_t *changes, const char *kind, const char *actor,
			  const char *summary, json_t *data, char **err);

/* Appends an event; committed and synced when it returns 0. */
int store_append(struct store *st, const char *incident, const char *kind, const char *actor, const char *summary,
		 json_t *data, char **err);
/* The incident's events in order, each {seq, time, kind, actor, summary,
 * data, prev_hash, hash}. */
json_t *store_events(struct store *st, const char *incident, char **err);

/*
 * The sums of the metrics of the incidents detected in [since, until]
 * (UTC times as stored), computed in the database: {"by_severity": {SEVn:
 * {incidents, detect_sum, detect_n, ack_sum, ack_n, restore_sum,
 * restore_n, ack_hit, ack_of, repeats, resolved, false_positives}},
 * "mtbf": {sum, n}} (seconds; an incident still inside its acknowledgement
 * window at `now` is not in ack_of). NULL with *err.
 */
json_t *store_metrics_sums(struct store *st, const char *since, const char *until, const char *now, char **err);

/* The canonical text an event's hash covers. Returns a new string. */
char *store_canonical_event(json_t *event);
/* Hex SHA-256 of prev_hash || canonical. Writes 65 bytes into out. */
void store_event_hash(const char *prev_hash, const char *canonical, char out[65]);

/* Checks an incident's events (as store_events returns them): numbered
 * 1..n, each chained to the one before, each matching its hash. Returns
 * NULL when intact, else a new description of the first bad event. */
char *store_verify(json_t *events, long long *bad_seq);

/* The one-line summary of an `alert` event. Returns a new string. */
char *store_alert_summary(json_t *alert);

/* "user@host" of whoever runs this process. Returns a new string. */
char *store_actor(void);

#endif
