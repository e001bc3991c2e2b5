/*
 * store_backend: what a timeline store backend provides (engine/store.c
 * dispatches to one: store_sqlite.c or store_pg.c) and the pieces both
 * share: how an event is hashed and which incident columns exist.
 */
#ifndef RUNBOOK_STORE_BACKEND_H
#define RUNBOOK_STORE_BACKEND_H

#include <jansson.h>

#define ZERO_HASH "0000000000000000000000000000000000000000000000000000000000000000"
/* A queue prune looks at this many times its batch of the oldest rows */
#define STORE_PRUNE_SCAN 10

struct store_backend {
	const char *name;
	int shared; /* many processes on many machines share it */
	/* 1 when url names a store of this kind. */
	int (*accepts)(const char *url);
	/* Opens the store at url (creating and migrating); NULL with *err. */
	void *(*open)(const char *url, char **err);
	void (*close)(void *db);
	/* on: later commits need not be synced before they return; they are
	 * on disk with the next synced commit. off: every commit is synced. */
	int (*lazy)(void *db, int on, char **err);
	int (*incident_create)(void *db, json_t *fields, const char *actor, char **id, char **err);
	/* The incidents whose column col (id, fingerprint or status; NULL:
	 * all) equals val, newest first, as an array. */
	json_t *(*incidents)(void *db, const char *col, const char *val, char **err);
	/* The newest unresolved and the newest resolved incident with this
	 * fingerprint, newest first (store_incidents_latest). */
	json_t *(*latest)(void *db, const char *fingerprint, char **err);
	int (*incident_update)(void *db, const char *id, json_t *changes, const char *kind, const char *actor,
			       const char *summary, json_t *data, char **err);
	/* With queue_id > 0: the `alert` event of that queued alert, recorded
	 * with it (incident, diagnose) in one transaction - 1 when it was
	 * already; with done (its result), the alert is done in the same
	 * transaction. incident_create does the same for fields queue_id and
	 * diagnose (and gives the incident recorded before in *id). */
	int (*append)(void *db, const char *incident, const char *kind, const char *actor, const char *summary,
		      json_t *data, long long queue_id, const char *diagnose, json_t *done, char **err);
	/* Appends events [{time, kind, summary, data}] of one incident in one
	 * transaction, in order. */
	int (*append_many)(void *db, const char *incident, const char *actor, json_t *events, char **err);
	json_t *(*events)(void *db, const char *incident, char **err);
	/* The sums the metrics are made of, computed in the database over the
	 * incidents detected in [since, until] (see store_metrics_sums). */
	json_t *(*metrics)(void *db, const char *since, const char *until, const char *now, char **err);
	/* the alert queue: see store.h */
	int (*enqueue)(void *db, struct queued *q, size_t n, char **err);
	int (*claim)(void *db, const char *owner, int lease_s, json_t **item, char **err);
	int (*queue_done)(void *db, json_t *item, json_t *result, char **err);
	int (*heartbeat)(void *db, const char *owner, int lease_s, char **err);
	int (*queue_reset)(void *db, char **err); /* NULL: claims outlive their owner only by the lease */
	long long (*queue_depth)(void *db, char **err);
	/* up to batch done before `before` (a stored timestamp), among the
	 * batch * STORE_PRUNE_SCAN oldest rows: the work is bounded however
	 * long the queue, and what is old is at its head */
	long long (*queue_prune)(void *db, const char *before, int batch, char **err);
	int (*claim_once)(void *db, const char *name, char **err);
	int (*queue_wait)(void *db, int timeout_ms); /* NULL: no news, the caller polls */
};

/* The columns of one per-severity row of the metrics query, in order. */
#define STORE_METRICS_COLS {"severity", "incidents", "detect_sum", "detect_n", "ack_sum", "ack_n", "restore_sum", \
	"restore_n", "ack_hit", "ack_of", "repeats", "resolved", "false_positives"}

/* The acknowledgement target of a severity, as SQL over a column. */
#define STORE_ACK_TARGET_SQL "CASE severity WHEN 'SEV1' THEN 900 WHEN 'SEV2' THEN 1800 WHEN 'SEV3' THEN 7200 ELSE 86400 END"

extern const struct store_backend store_sqlite, store_pg;

/* store_incidents_latest's condition, on a table with columns n,
 * fingerprint and status; key is the fingerprint's SQL (a parameter). */
#define STORE_LATEST_WHERE(table, key) \
	" WHERE n IN ((SELECT max(n) FROM " table " WHERE fingerprint = " key \
	" AND status IN ('triggered', 'acknowledged')), (SELECT max(n) FROM " table " WHERE fingerprint = " key \
	" AND status = 'resolved'))"

/* The incident columns, in order; the first is the id. */
extern const char *const store_incident_cols[];
extern const size_t store_nincident_cols;

/* The data of an `incident.opened` event: the fields without the alert
 * and the queue's bookkeeping. Returns a new object. */
json_t *store_opened_data(json_t *fields);

/* A new event after prev_hash: fills time (40 bytes: `at`, or now when
 * NULL), hash (65 bytes) and *data_text (compact JSON, caller frees).
 * Returns -1 if not UTF-8. */
int store_seal_event(const char *incident, long long seq, const char *kind, const char *actor, const char *summary,
		     json_t *data, const char *at, const char *prev_hash, char *time, char *hash, char **data_text);

#endif
