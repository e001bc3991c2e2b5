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
#include <stdint.h>

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
 * Returns 0 with *id ("INC-<n>", caller frees), or -1 with *err. With
 * fields queue_id and diagnose, as store_append_alert: 1 (and the incident
 * recorded before in *id) when that queued alert was recorded already.
 */
int store_incident_create(struct store *st, json_t *fields, const char *actor, char **id, char **err);
/* The incident as JSON, or NULL with *err (unknown id: *err says so). */
json_t *store_incident_get(struct store *st, const char *id, char **err);
/* Every incident, newest first. */
json_t *store_incident_list(struct store *st, char **err);
/* The incidents whose fingerprint (the dedupe key) or status equals val,
 * newest first (indexed). */
json_t *store_incidents_by(struct store *st, const char *col, const char *val, char **err);
/* What triage needs of a dedupe key's history, whatever its length: the
 * newest unresolved incident with this fingerprint and the newest resolved
 * one (each if any), newest first (two index lookups). */
json_t *store_incidents_latest(struct store *st, const char *fingerprint, char **err);
/* 0 with *inc (new ref) when the incident exists, 1 when it does not, -1
 * with *err when the store failed. */
int store_incident_find(struct store *st, const char *id, json_t **inc, char **err);
/* Sets fields of an incident (status, severity, acknowledged_at, ...) and
 * appends the event that explains it, in one transaction. */
int store_incident_update(struct store *st, const char *id, json_t *changes, const char *kind, const char *actor,
			  const char *summary, json_t *data, char **err);

/* Appends an event; committed and synced when it returns 0. */
int store_append(struct store *st, const char *incident, const char *kind, const char *actor, const char *summary,
		 json_t *data, char **err);
/* With on, the commits that follow return before they are synced: each is
 * on disk with the next synced commit of this store (both stores write
 * their log in order), or lost with everything after it, never alone. A
 * journal's first commit makes an incident opened so durable. Off again:
 * every commit is synced before it returns. */
int store_lazy(struct store *st, int on, char **err);
/* Appends events, each {time, kind, summary, data} (time: when it happened,
 * as utc_timestamp writes it), in order and in one transaction: all
 * committed and synced when it returns 0, none when it fails. */
int store_append_many(struct store *st, const char *incident, const char *actor, json_t *events, char **err);
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

/*
 * The alert queue (SPEC section 7): serve's durable intake, and with a
 * PostgreSQL store the work of any number of `runbook worker`s.
 */
/* One alert to queue: its triage key, its source (alertmanager, pagerduty,
 * generic) and the normalised alert as compact JSON text. */
struct queued {
	const char *key, *source, *text;
	long long id;               /* its queue id, set by store_enqueue */
};
/* Enqueues n alerts in one transaction: durable when it returns 0, each
 * q[i].id set. */
int store_enqueue(struct store *st, struct queued *q, size_t n, char **err);
/* Claims the oldest queued alert that nobody works on and whose key has no
 * older alert still to do, leased to owner for lease_s seconds: 1 with
 * *item {id, key, alert, incident, diagnose, attempts} (incident set when
 * an earlier claim recorded it already), 0 when there is none, -1. */
int store_claim(struct store *st, const char *owner, int lease_s, json_t **item, char **err);
/* The claimed alert is done (result: its triage line); the claim ends. */
int store_queue_done(struct store *st, json_t *item, json_t *result, char **err);
/* Extends the lease of everything owner holds. */
int store_heartbeat(struct store *st, const char *owner, int lease_s, char **err);
/* SQLite (one serve owns the file): every claim left by an earlier run
 * ends. No-op on PostgreSQL, where a claim ends with its connection. */
int store_queue_reset(struct store *st, char **err);
/* Alerts queued and not done; -1 with *err. */
long long store_queue_depth(struct store *st, char **err);
/* Forgets up to `batch` queued alerts, oldest first, that were done more
 * than older_than_s seconds ago (what they recorded stays in the
 * timeline): how many it forgot, -1 with *err. */
long long store_queue_prune(struct store *st, int64_t older_than_s, int batch, char **err);
/* Takes the one-time claim `name`: 1 for the one caller that takes it, 0
 * for every later one, -1 with *err. */
int store_claim_once(struct store *st, const char *name, char **err);
/* Waits up to timeout_ms for news of queued alerts (PostgreSQL's NOTIFY):
 * 0; -1 at once when the store has no such news (poll instead). */
int store_queue_wait(struct store *st, int timeout_ms);
/* True for a store many processes share (PostgreSQL). */
int store_shared(const struct store *st);
/* The same for the store a URL names, before opening it: 1, 0, or -1
 * when no kind of store accepts the URL. */
int store_url_shared(const char *url);
/* The alert's `alert` event: with queue_id > 0, exactly once for that
 * queued alert, recorded together with the incident and the diagnosis to
 * run (diagnose: a severity, or NULL). With done (the alert's result, when
 * the event is all it does), the queued alert is done in the same commit;
 * store_queue_done then changes nothing. 0, 1 when already recorded, -1. */
int store_append_alert(struct store *st, const char *incident, json_t *alert, long long queue_id, const char *diagnose,
		       json_t *done, const char *actor, char **err);

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
