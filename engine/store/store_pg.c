/*
 * store_pg: the timeline store in PostgreSQL - one shared database for a
 * team, any number of users and machines. Same schema ideas as SQLite,
 * under runbook_* names (the database may hold other things).
 *
 * Appends take a transaction-scoped advisory lock on the incident, read
 * the last seq and hash, and insert, so concurrent appenders from many
 * processes and machines serialise per incident and never fork the chain.
 * A COMMIT returns once the server has made it durable (with the server's
 * synchronous_commit, on by default).
 *
 * Inside a transaction, statements whose results nothing waits for (BEGIN,
 * the append lock, the event inserts, the queue's marks) are sent ahead in
 * libpq's pipeline mode and read with the next statement that is waited
 * for: a round trip costs both processes a wakeup, and a worker's triage
 * of an alert took some thirty of them.
 */
#define _POSIX_C_SOURCE 200809L
#include "store.h"
#include "store_backend.h"
#include "util.h"

#include <libpq-fe.h>
#include <poll.h>
#include <stdlib.h>
#include <string.h>

#define MIGRATION_LOCK "7531902468"
#define PREPARED_MAX 64
#define AHEAD_MAX 32 /* statements sent ahead before their results are read */

struct pg {
	PGconn *c;
	int listening; /* LISTEN runbook_queue sent on this connection */
	char *prepared[PREPARED_MAX]; /* the statements prepared on this connection, as rbN */
	int ready[PREPARED_MAX];      /* ...and known to the server (a prepare sent ahead may fail) */
	int nprepared;
	int ahead[AHEAD_MAX];         /* sent ahead, results unread: each one's new prepare (rbN), or -1 */
	int nahead;
	/* the end of the chain this connection last appended to (its last
	 * seq and hash, committed), and of the one the open transaction
	 * appends to; guessed: the open transaction took the end from here */
	struct tail {
		char *incident;
		long long seq;
		char hash[65];
	} tail, next;
	int guessed;
	int slow_reads;      /* claims in a row whose candidates came slowly */
	int64_t analyzed_ms; /* ...and when that last made it analyze the queue */
};

static const char *const migrations[] = {
	"CREATE SEQUENCE runbook_incident_n;"
	"CREATE TABLE runbook_incidents ("
	"  n bigint PRIMARY KEY, id text NOT NULL UNIQUE, title text NOT NULL,"
	"  severity text NOT NULL CHECK (severity IN ('SEV1','SEV2','SEV3','SEV4')),"
	"  status text NOT NULL CHECK (status IN ('triggered','acknowledged','resolved')),"
	"  started_at text, detected_at text NOT NULL, acknowledged_at text, resolved_at text,"
	"  fingerprint text, runbook text, component text, commander text, resolution text);"
	"CREATE TABLE runbook_events ("
	"  incident text NOT NULL REFERENCES runbook_incidents(id), seq bigint NOT NULL, time text NOT NULL,"
	"  kind text NOT NULL, actor text NOT NULL, summary text NOT NULL, data text NOT NULL,"
	"  prev_hash text NOT NULL, hash text NOT NULL, PRIMARY KEY (incident, seq));"
	"CREATE FUNCTION runbook_events_append_only() RETURNS trigger LANGUAGE plpgsql AS"
	"  $$ BEGIN RAISE EXCEPTION 'events are append-only'; END $$;"
	"CREATE TRIGGER runbook_events_append_only BEFORE UPDATE OR DELETE ON runbook_events"
	"  FOR EACH ROW EXECUTE FUNCTION runbook_events_append_only();",
	/* 2: the incident an incident repeats (same key, resolved < 30 days before) */
	"ALTER TABLE runbook_incidents ADD COLUMN repeat_of text;",
	/* 3: the alert queue that serve fills and workers drain; incident and
	 * diagnose are set with the alert's event, in its transaction (exactly
	 * once); claims are one-time names (re-escalations) */
	"CREATE TABLE runbook_alert_queue ("
	"  id bigserial PRIMARY KEY, received_at text NOT NULL, source text NOT NULL, key text NOT NULL,"
	"  alert text NOT NULL, claimed_by text, claimed_until timestamptz, attempts int NOT NULL DEFAULT 0,"
	"  incident text, diagnose text, done_at text, result text);"
	"CREATE INDEX runbook_alert_queue_pending ON runbook_alert_queue(key, id) WHERE done_at IS NULL;"
	"CREATE INDEX runbook_alert_queue_todo ON runbook_alert_queue(id) WHERE done_at IS NULL;"
	"CREATE TABLE runbook_claims (name text PRIMARY KEY, at text NOT NULL);"
	"CREATE INDEX runbook_incidents_fingerprint ON runbook_incidents(fingerprint);"
	"CREATE INDEX runbook_incidents_status ON runbook_incidents(status);",
	/* 4: a key's newest open and newest resolved incident without reading
	 * its whole history (a flapping alert opens thousands) */
	"CREATE INDEX runbook_incidents_key ON runbook_incidents(fingerprint, status, n);",
};

/* The advisory lock class of an alert key (two-int form: its own space,
 * apart from the one-bigint locks of appends). */
#define KEY_LOCK "1381322306"

static char *pg_error(PGconn *c, const PGresult *r)
{
	const char *m = r ? PQresultErrorField(r, PG_DIAG_MESSAGE_PRIMARY) : NULL;
	char *s = xstrdup(m ? m : PQerrorMessage(c));
	size_t n = strlen(s);
	while (n && (s[n - 1] == '\n' || s[n - 1] == ' '))
		s[--n] = '\0';
	return s;
}

/* r when it succeeded; else NULL, cleared, with *err (unless set). */
static PGresult *checked(struct pg *p, PGresult *r, char **err)
{
	ExecStatusType st = PQresultStatus(r);
	if (st == PGRES_COMMAND_OK || st == PGRES_TUPLES_OK)
		return r;
	if (err && !*err) {
		char *m = pg_error(p->c, r);
		*err = xasprintf("PostgreSQL store: %s", m);
		free(m);
	}
	PQclear(r);
	return NULL;
}

static void tail_set(struct tail *t, const char *incident, long long seq, const char *hash)
{
	if (!t->incident || strcmp(t->incident, incident)) {
		free(t->incident);
		t->incident = xstrdup(incident);
	}
	t->seq = seq;
	snprintf(t->hash, sizeof t->hash, "%s", hash);
}

static void tail_forget(struct tail *t)
{
	free(t->incident);
	t->incident = NULL;
}

/* The prepared statement for sql: its N (named rbN), or -1 when there are
 * more kinds of statements than expected (it runs unprepared). */
static int slot_of(struct pg *p, const char *sql)
{
	int k = 0;
	while (k < p->nprepared && strcmp(p->prepared[k], sql))
		k++;
	if (k == PREPARED_MAX)
		return -1;
	if (k == p->nprepared)
		p->prepared[p->nprepared++] = xstrdup(sql);
	return k;
}

/* Reads the results of what was sent ahead, in order, to the end of the
 * pipeline, and leaves pipeline mode; the first failure goes to *err.
 * keep: the index (in the pipeline) of the statement whose result is
 * returned (NULL on any failure), or -1. */
static PGresult *catch_up(struct pg *p, int keep, char **err)
{
	if (!p->nahead) /* nothing out (nor in pipeline mode): nothing to read */
		return NULL;
	PGresult *last = NULL;
	int good = PQpipelineSync(p->c) == 1, lost = !good;
	for (int i = 0; i < p->nahead && !lost; i++) {
		int k = p->ahead[i];
		for (int part = k >= 0 ? 0 : 1; part < 2 && !lost; part++) { /* its prepare, then itself */
			PGresult *r = PQgetResult(p->c);
			if (!r) { /* the connection is gone */
				lost = 1;
				break;
			}
			PQclear(PQgetResult(p->c)); /* each statement's results end with a NULL */
			if (part == 0 && k >= 0)
				p->ready[k] = PQresultStatus(r) == PGRES_COMMAND_OK;
			r = checked(p, r, err);
			good &= r != NULL;
			if (part == 1 && i == keep)
				last = r;
			else
				PQclear(r);
		}
	}
	if (!lost) {
		PGresult *r = PQgetResult(p->c); /* the end of the pipeline */
		lost = !r || PQresultStatus(r) != PGRES_PIPELINE_SYNC;
		PQclear(r);
	}
	p->nahead = 0;
	if (lost || !PQexitPipelineMode(p->c)) {
		good = 0;
		if (err && !*err)
			*err = xasprintf("PostgreSQL store: %s", PQerrorMessage(p->c));
		for (int k = 0; k < p->nprepared; k++) /* unknown now: prepared again at next use */
			p->ready[k] = 0;
	}
	if (!good) {
		PQclear(last);
		return NULL;
	}
	return last;
}

/* Reads everything sent ahead: -1 (with *err, unless set already) when
 * any of it failed. */
static int flush_ahead(struct pg *p, char **err)
{
	char *e = NULL;
	PQclear(catch_up(p, -1, &e));
	if (!e)
		return 0;
	if (err && !*err)
		*err = e;
	else
		free(e);
	return -1;
}

/* Sends a statement ahead (pipeline mode): its result is read, and its
 * failure reported, by the next statement that waits (run, ok). named: as
 * a prepared statement (parameterless utility statements go unnamed). A
 * failure goes to *err unless that is set already. */
static int send_ahead_as(struct pg *p, const char *sql, int n, const char *const *vals, int named, char **err)
{
	if (p->nahead == AHEAD_MAX && flush_ahead(p, err)) /* a long batch: read what is out first */
		return -1;
	int sent = p->nahead || PQenterPipelineMode(p->c);
	if (sent) {
		int k = named ? slot_of(p, sql) : -1, fresh = k >= 0 && !p->ready[k];
		char name[16];
		snprintf(name, sizeof name, "rb%d", k);
		sent = k < 0 ? PQsendQueryParams(p->c, sql, n, NULL, vals, NULL, NULL, 0)
			     : (!fresh || PQsendPrepare(p->c, name, sql, n, NULL)) &&
				       PQsendQueryPrepared(p->c, name, n, vals, NULL, NULL, 0);
		p->ahead[p->nahead++] = fresh ? k : -1;
		if (fresh)
			p->ready[k] = 1; /* until its result says otherwise */
	}
	if (!sent && err && !*err)
		*err = xasprintf("PostgreSQL store: %s", PQerrorMessage(p->c));
	return sent ? 0 : -1;
}

static int send_ahead(struct pg *p, const char *sql, int n, const char *const *vals, char **err)
{
	return send_ahead_as(p, sql, n, vals, 1, err);
}

/* Sends sql after what was sent ahead, and reads it all in that round
 * trip: the result of the statement `back` places before sql (0: sql's). */
static PGresult *wait_with(struct pg *p, const char *sql, int n, const char *const *vals, int named, int back,
			   char **err)
{
	if (send_ahead_as(p, sql, n, vals, named, err)) { /* the rest is read, its failures untold */
		PQclear(catch_up(p, -1, NULL));
		return NULL;
	}
	return catch_up(p, p->nahead - 1 - back, err);
}

/* Runs a statement with text parameters and waits for it (with whatever
 * was sent ahead, in the same round trip); NULL (with *err) on failure.
 * Each statement is prepared once per connection, so the server parses
 * and plans it once, not at every call (parsing and planning had been
 * most of the server's CPU). */
static PGresult *run(struct pg *p, const char *sql, int n, const char *const *vals, char **err)
{
	if (p->nahead)
		return wait_with(p, sql, n, vals, 1, 0, err);
	int k = slot_of(p, sql);
	if (k < 0)
		return checked(p, PQexecParams(p->c, sql, n, NULL, vals, NULL, NULL, 0), err);
	char name[16];
	snprintf(name, sizeof name, "rb%d", k);
	if (!p->ready[k]) {
		PGresult *r = checked(p, PQprepare(p->c, name, sql, n, NULL), err);
		if (!r)
			return NULL;
		PQclear(r);
		p->ready[k] = 1;
	}
	return checked(p, PQexecPrepared(p->c, name, n, vals, NULL, NULL, 0), err);
}

/* Runs SQL without parameters and waits for it: the simple protocol
 * (migrations hold several statements), or after what was sent ahead. */
static int ok(struct pg *p, const char *sql, char **err)
{
	PGresult *r = p->nahead ? wait_with(p, sql, 0, NULL, 0, 0, err) : checked(p, PQexec(p->c, sql), err);
	int good = r != NULL;
	PQclear(r);
	return good ? 0 : -1;
}

/* Runs sql and then `then` (a statement without parameters, such as
 * COMMIT) in one round trip, with whatever was sent ahead; sql's result,
 * or NULL (with *err) when anything failed. */
static PGresult *run_then(struct pg *p, const char *sql, int n, const char *const *vals, const char *then, char **err)
{
	/* room for both, so that sql's result is not read early */
	if ((p->nahead >= AHEAD_MAX - 1 && flush_ahead(p, err)) || send_ahead(p, sql, n, vals, err)) {
		PQclear(catch_up(p, -1, NULL));
		return NULL;
	}
	return wait_with(p, then, 0, NULL, 0, 1, err);
}

/* Ends the open transaction, whatever was sent ahead: a failure there
 * leaves the transaction aborted, and a ROLLBACK sent after it would be
 * skipped with the rest of the pipeline. */
static void rollback(struct pg *p)
{
	PQclear(catch_up(p, -1, NULL));
	ok(p, "ROLLBACK", NULL);
}

/* BEGIN, sent ahead: the transaction's first statement that waits takes it along. */
static int begin(struct pg *p, char **err)
{
	p->guessed = 0;
	tail_forget(&p->next);
	return send_ahead_as(p, "BEGIN", 0, NULL, 0, err);
}

static void pg_close(void *db)
{
	struct pg *p = db;
	if (!p)
		return;
	PQfinish(p->c);
	for (int i = 0; i < p->nprepared; i++)
		free(p->prepared[i]);
	tail_forget(&p->tail);
	tail_forget(&p->next);
	free(p);
}

static int migrate(struct pg *p, char **err)
{
	if (ok(p, "SELECT pg_advisory_lock(" MIGRATION_LOCK ")", err))
		return -1;
	int rc = ok(p, "CREATE TABLE IF NOT EXISTS runbook_schema_version (version int NOT NULL)", err);
	PGresult *r = rc ? NULL : run(p, "SELECT coalesce(max(version), 0) FROM runbook_schema_version", 0, NULL, err);
	int version = r ? atoi(PQgetvalue(r, 0, 0)) : 0;
	PQclear(r);
	if (!r)
		rc = -1;
	int n = (int)ARRAY_LEN(migrations);
	if (!rc && version > n) {
		*err = xasprintf("PostgreSQL store: its schema (version %d) is newer than this runbook (%d)", version, n);
		rc = -1;
	}
	for (int v = version; !rc && v < n; v++) {
		char *ins = xasprintf("INSERT INTO runbook_schema_version VALUES (%d)", v + 1);
		rc = ok(p, "BEGIN", err) || ok(p, migrations[v], err) || ok(p, ins, err) || ok(p, "COMMIT", err);
		free(ins);
		if (rc)
			rollback(p);
	}
	ok(p, "SELECT pg_advisory_unlock(" MIGRATION_LOCK ")", NULL);
	return rc;
}

/* A URI, or a conninfo (key=value ...). */
static int pg_accepts(const char *url)
{
	return !strncmp(url, "postgres://", 11) || !strncmp(url, "postgresql://", 13) || strchr(url, '=');
}

static void *pg_open(const char *url, char **err)
{
	const char *keys[] = {"dbname", "connect_timeout", "fallback_application_name", NULL};
	const char *vals[] = {url, "10", "runbook", NULL};
	struct pg *p = xcalloc(1, sizeof *p);
	p->c = PQconnectdbParams(keys, vals, 1);
	if (PQstatus(p->c) != CONNECTION_OK) {
		char *m = pg_error(p->c, NULL);
		*err = xasprintf("cannot connect to the PostgreSQL store: %s", m);
		free(m);
		pg_close(p);
		return NULL;
	}
	PQsetNoticeProcessor(p->c, NULL, NULL);
	if (ok(p, "SET client_min_messages = warning", err) || migrate(p, err)) {
		pg_close(p);
		return NULL;
	}
	return p;
}

/* Inside a transaction: the incident's append lock, to its end (sent ahead). */
static int lock_chain(struct pg *p, const char *incident, char **err)
{
	const char *v[] = {incident};
	return send_ahead(p, "SELECT pg_advisory_xact_lock(hashtext('runbook:' || $1))", 1, v, err);
}

/* Inside a transaction: takes the incident's append lock (to the end of
 * the transaction) and reads the seq and hash of its last event; from
 * this connection's last append when that was to the same incident (sent
 * ahead, no wait: if another process appended since, the first insert
 * takes a seq that is taken, the transaction fails, and the caller runs
 * it again reading the end). */
static int chain_end(struct pg *p, const char *incident, long long *seq, char prev[65], char **err)
{
	const char *v1[] = {incident};
	if (lock_chain(p, incident, err))
		return -1;
	if (p->tail.incident && !strcmp(p->tail.incident, incident)) {
		*seq = p->tail.seq;
		snprintf(prev, 65, "%s", p->tail.hash);
		p->guessed = 1;
		return 0;
	}
	PGresult *r = run(p, "SELECT seq, hash FROM runbook_events WHERE incident = $1 ORDER BY seq DESC LIMIT 1", 1, v1, err);
	if (!r)
		return -1;
	*seq = 0;
	snprintf(prev, 65, "%s", ZERO_HASH);
	if (PQntuples(r) == 1) {
		*seq = atoll(PQgetvalue(r, 0, 0));
		snprintf(prev, 65, "%s", PQgetvalue(r, 0, 1));
	}
	PQclear(r);
	return 0;
}

/* Inserts event seq after prev (both advance); sent ahead: a failure
 * shows at the transaction's next wait (its COMMIT at the latest). */
static int insert_event(struct pg *p, const char *incident, long long *seq, char prev[65], const char *kind,
			const char *actor, const char *summary, json_t *data, const char *at, char **err)
{
	char time[40], hash[65], *datas = NULL, seqs[24];
	if (store_seal_event(incident, *seq + 1, kind, actor, summary, data, at, prev, time, hash, &datas)) {
		*err = xstrdup("the event is not valid UTF-8");
		return -1;
	}
	snprintf(seqs, sizeof seqs, "%lld", *seq + 1);
	const char *v[] = {incident, seqs, time, kind, actor, summary, datas, prev, hash};
	int rc = send_ahead(p, "INSERT INTO runbook_events VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9)", 9, v, err);
	free(datas);
	if (rc)
		return -1;
	tail_set(&p->next, incident, *seq + 1, hash);
	++*seq;
	snprintf(prev, 65, "%s", hash);
	return 0;
}

/* Appends inside an open transaction. */
static int append_locked(struct pg *p, const char *incident, const char *kind, const char *actor,
			 const char *summary, json_t *data, const char *at, char **err)
{
	long long seq;
	char prev[65];
	if (chain_end(p, incident, &seq, prev, err))
		return -1;
	return insert_event(p, incident, &seq, prev, kind, actor, summary, data, at, err);
}

/* Commits (good) or rolls back the open transaction; the end of the
 * chain it appended to is remembered only once committed. */
static int finish(struct pg *p, int good, char **err)
{
	if (good && ok(p, "COMMIT", err) == 0) {
		if (p->next.incident)
			tail_set(&p->tail, p->next.incident, p->next.seq, p->next.hash);
		tail_forget(&p->next);
		return 0;
	}
	rollback(p);
	tail_forget(&p->next);
	tail_forget(&p->tail);
	return -1;
}

/* After a failure: when the transaction took its chain's end from memory,
 * another process may have appended since; 1 when it is worth running
 * again (reading the end this time). */
static int again(struct pg *p, int rc, char **err)
{
	if (rc >= 0 || !p->guessed)
		return 0;
	p->guessed = 0;
	if (err) {
		free(*err);
		*err = NULL;
	}
	return 1;
}

/* Inside a transaction: 1 when the queued alert qid was recorded already
 * (its incident in *incident when asked), 0 not, -1 error. The row stays
 * locked to the end of the transaction, so two claimers of one alert (a
 * hung worker woken after its lease) record it once. */
static int queued_recorded(struct pg *p, long long qid, char **incident, char **err)
{
	char q[24];
	snprintf(q, sizeof q, "%lld", qid);
	const char *v[] = {q};
	PGresult *r = run(p, "SELECT incident FROM runbook_alert_queue WHERE id = $1 FOR UPDATE", 1, v, err);
	if (!r)
		return -1;
	int rc = PQntuples(r) == 1 && !PQgetisnull(r, 0, 0);
	if (rc && incident)
		*incident = xstrdup(PQgetvalue(r, 0, 0));
	PQclear(r);
	return rc;
}

static int queued_mark(struct pg *p, long long qid, const char *incident, const char *diagnose, json_t *done,
		       char **err)
{
	char q[24], now[40];
	snprintf(q, sizeof q, "%lld", qid);
	utc_timestamp(now, sizeof now);
	char *res = done ? json_dumps(done, JSON_COMPACT | JSON_SORT_KEYS | JSON_ENCODE_ANY) : NULL;
	const char *v[] = {incident, diagnose, q, done ? now : NULL, res};
	int rc = send_ahead(p,
			    "UPDATE runbook_alert_queue SET incident = $1, diagnose = $2,"
			    " result = CASE WHEN done_at IS NULL THEN $5 ELSE result END, done_at = coalesce(done_at, $4),"
			    " claimed_until = CASE WHEN $4::text IS NULL THEN claimed_until END WHERE id = $3",
			    5, v, err);
	free(res);
	return rc;
}

static int append_once(struct pg *p, const char *incident, const char *kind, const char *actor, const char *summary,
		       json_t *data, long long queue_id, const char *diagnose, json_t *done, char **err)
{
	if (begin(p, err))
		return -1;
	if (queue_id > 0) {
		int before = queued_recorded(p, queue_id, NULL, err);
		if (before) {
			rollback(p);
			return before;
		}
	}
	int good = append_locked(p, incident, kind, actor, summary, data, NULL, err) == 0 &&
		   (queue_id <= 0 || queued_mark(p, queue_id, incident, diagnose, done, err) == 0);
	return finish(p, good, err);
}

static int pg_append(void *db, const char *incident, const char *kind, const char *actor, const char *summary,
		     json_t *data, long long queue_id, const char *diagnose, json_t *done, char **err)
{
	int rc;
	do
		rc = append_once(db, incident, kind, actor, summary, data, queue_id, diagnose, done, err);
	while (again(db, rc, err));
	return rc;
}

/* Several events of one incident in one transaction: one commit for all. */
static int append_many_once(struct pg *p, const char *incident, const char *actor, json_t *events, char **err)
{
	long long seq;
	char prev[65];
	if (begin(p, err))
		return -1;
	int good = chain_end(p, incident, &seq, prev, err) == 0;
	size_t i;
	json_t *e;
	json_array_foreach(events, i, e) {
		if (!good)
			break;
		good = insert_event(p, incident, &seq, prev, json_string_value(json_object_get(e, "kind")), actor,
				    json_string_value(json_object_get(e, "summary")), json_object_get(e, "data"),
				    json_string_value(json_object_get(e, "time")), err) == 0;
	}
	return finish(p, good, err);
}

static int pg_append_many(void *db, const char *incident, const char *actor, json_t *events, char **err)
{
	int rc;
	do
		rc = append_many_once(db, incident, actor, events, err);
	while (again(db, rc, err));
	return rc;
}

/* An asynchronous commit is flushed with the next synchronous one (the
 * server's WAL is written in order). */
static int pg_lazy(void *db, int on, char **err)
{
	return ok(db, on ? "SET synchronous_commit = off" : "RESET synchronous_commit", err);
}

static int pg_incident_create(void *db, json_t *f, const char *actor, char **id, char **err)
{
	struct pg *p = db;
	if (begin(p, err))
		return -1;
	long long qid = json_integer_value(json_object_get(f, "queue_id"));
	char q[24];
	snprintf(q, sizeof q, "%lld", qid);
	const char *qv[] = {q};
	/* the queue row stays locked to the end, so two claimers of one alert
	 * record it once; the insert below happens only if it was not yet */
	if (qid > 0 && send_ahead(p, "SELECT 1 FROM runbook_alert_queue WHERE id = $1 FOR UPDATE", 1, qv, err)) {
		rollback(p);
		return -1;
	}
	char now[40];
	utc_timestamp(now, sizeof now);
	const char *started = json_string_value(json_object_get(f, "started_at"));
	const char *detected = json_string_value(json_object_get(f, "detected_at")); /* recorded after the fact */
	const char *v[] = {json_string_value(json_object_get(f, "title")), json_string_value(json_object_get(f, "severity")),
		started ? started : detected ? detected : now, detected ? detected : now,
		json_string_value(json_object_get(f, "fingerprint")), json_string_value(json_object_get(f, "runbook")),
		json_string_value(json_object_get(f, "component")), json_string_value(json_object_get(f, "repeat_of")),
		qid > 0 ? q : NULL};
	PGresult *r = run(p,
			  "INSERT INTO runbook_incidents (n, id, title, severity, status, started_at, detected_at, fingerprint, "
			  "runbook, component, repeat_of) SELECT n, 'INC-' || n, $1, $2, 'triggered', $3, $4, $5, $6, $7, $8 "
			  "FROM (SELECT nextval('runbook_incident_n') AS n WHERE NOT EXISTS"
			  " (SELECT 1 FROM runbook_alert_queue WHERE id = $9 AND incident IS NOT NULL)) s RETURNING id",
			  9, v, err);
	if (r && PQntuples(r) == 0) { /* an earlier claim of the alert recorded it: its incident */
		PQclear(r);
		int done = queued_recorded(p, qid, id, err);
		rollback(p);
		if (!done && !*err)
			*err = xstrdup("PostgreSQL store: the incident was not opened");
		return done ? done : -1;
	}
	int good = r != NULL;
	*id = good ? xstrdup(PQgetvalue(r, 0, 0)) : NULL;
	PQclear(r);
	if (good) {
		/* an incident opened for an alert begins with that alert; its chain
		 * is empty (nobody else knows its id before this commits) */
		json_t *alert = json_object_get(f, "alert"), *opened = store_opened_data(f);
		long long seq = 0;
		char prev[65] = ZERO_HASH;
		good = lock_chain(p, *id, err) == 0;
		if (good && alert) {
			char *as = store_alert_summary(alert);
			good = insert_event(p, *id, &seq, prev, "alert", actor, as, alert, NULL, err) == 0;
			free(as);
		}
		char *summary = xasprintf("%s opened: %s", *id, v[0]);
		good = good && insert_event(p, *id, &seq, prev, "incident.opened", actor, summary, opened, NULL, err) == 0;
		free(summary);
		json_decref(opened);
		if (good && qid > 0)
			good = queued_mark(p, qid, *id, json_string_value(json_object_get(f, "diagnose")), NULL, err) == 0;
	}
	if (finish(p, good, err)) {
		free(*id);
		*id = NULL;
		return -1;
	}
	return 0;
}

/* The incidents that `where` (with one parameter, val) selects, in its order. */
static json_t *select_incidents(struct pg *p, const char *where, const char *val, char **err)
{
	struct sbuf sql;
	sbuf_init(&sql);
	sbuf_adds(&sql, "SELECT ");
	for (size_t i = 0; i < store_nincident_cols; i++)
		sbuf_addf(&sql, "%s%s", i ? ", " : "", store_incident_cols[i]);
	sbuf_adds(&sql, " FROM runbook_incidents");
	sbuf_adds(&sql, where);
	const char *v[] = {val};
	PGresult *r = run(p, sql.buf, val ? 1 : 0, v, err);
	sbuf_release(&sql);
	if (!r)
		return NULL;
	json_t *a = json_array();
	for (int row = 0; row < PQntuples(r); row++) {
		json_t *o = json_object();
		for (int i = 0; i < (int)store_nincident_cols; i++)
			json_object_set_new(o, store_incident_cols[i],
					    PQgetisnull(r, row, i) ? json_null() : json_string(PQgetvalue(r, row, i)));
		json_array_append_new(a, o);
	}
	PQclear(r);
	return a;
}

static json_t *pg_incidents(void *db, const char *col, const char *val, char **err)
{
	char where[64] = " ORDER BY n DESC";
	if (col) /* one of a fixed few, checked by store.c */
		snprintf(where, sizeof where, " WHERE %s = $1 ORDER BY n DESC", col);
	return select_incidents(db, where, col ? val : NULL, err);
}

static json_t *pg_latest(void *db, const char *fingerprint, char **err)
{
	return select_incidents(db, STORE_LATEST_WHERE("runbook_incidents", "$1") " ORDER BY n DESC", fingerprint, err);
}

static int incident_update_once(struct pg *p, const char *id, json_t *changes, const char *kind, const char *actor,
				const char *summary, json_t *data, char **err)
{
	if (begin(p, err))
		return -1;
	int good = 1;
	const char *k;
	json_t *v;
	json_object_foreach(changes, k, v) {
		/* k was checked against the column list by the caller */
		char *sql = xasprintf("UPDATE runbook_incidents SET %s = $1 WHERE id = $2", k);
		const char *vals[] = {json_string_value(v), id};
		good = send_ahead(p, sql, 2, vals, err) == 0;
		free(sql);
		if (!good)
			break;
	}
	if (good)
		good = append_locked(p, id, kind, actor, summary, data, NULL, err) == 0;
	return finish(p, good, err);
}

static int pg_incident_update(void *db, const char *id, json_t *changes, const char *kind, const char *actor,
			      const char *summary, json_t *data, char **err)
{
	int rc;
	do
		rc = incident_update_once(db, id, changes, kind, actor, summary, data, err);
	while (again(db, rc, err));
	return rc;
}

/* Seconds between two stored times (text columns). */
#define PG_SECONDS(a, b) "extract(epoch FROM (" a ")::timestamptz - (" b ")::timestamptz)"

static json_t *pg_metrics(void *db, const char *since, const char *until, const char *now, char **err)
{
	struct pg *p = db;
	static const char *const sums_sql =
		"SELECT severity, count(*),"
		" coalesce(sum(" PG_SECONDS("detected_at", "started_at") "), 0), count(started_at),"
		" coalesce(sum(" PG_SECONDS("acknowledged_at", "detected_at") "), 0), count(acknowledged_at),"
		" coalesce(sum(" PG_SECONDS("resolved_at", "detected_at") "), 0), count(resolved_at),"
		" count(*) FILTER (WHERE acknowledged_at IS NOT NULL AND " PG_SECONDS("acknowledged_at", "detected_at")
		" <= " STORE_ACK_TARGET_SQL "),"
		" count(*) FILTER (WHERE acknowledged_at IS NOT NULL OR " PG_SECONDS("$3", "detected_at") " > "
		STORE_ACK_TARGET_SQL "),"
		" count(repeat_of), count(resolved_at), count(*) FILTER (WHERE resolution = 'false-positive')"
		" FROM runbook_incidents WHERE detected_at >= $1 AND detected_at <= $2 GROUP BY severity";
	/* the gaps between consecutive starts of one component add up to its
	 * last start minus its first: no window, no sort */
	static const char *const mtbf_sql =
		"SELECT coalesce(sum(" PG_SECONDS("mx", "mn") "), 0), coalesce(sum(k - 1), 0) FROM (SELECT"
		" max(started_at::timestamptz) AS mx, min(started_at::timestamptz) AS mn, count(*) AS k"
		" FROM runbook_incidents WHERE detected_at >= $1 AND detected_at <= $2 AND started_at IS NOT NULL"
		" GROUP BY coalesce(component, '')) g";
	static const char *const cols[] = STORE_METRICS_COLS;
	const char *v[] = {since, until, now};
	PGresult *r = run(p, sums_sql, 3, v, err);
	if (!r)
		return NULL;
	json_t *by = json_object();
	for (int row = 0; row < PQntuples(r); row++) {
		json_t *o = json_object();
		for (int c = 1; c < (int)ARRAY_LEN(cols); c++)
			json_object_set_new(o, cols[c], json_real(strtod(PQgetvalue(r, row, c), NULL)));
		json_object_set_new(by, PQgetvalue(r, row, 0), o);
	}
	PQclear(r);
	r = run(p, mtbf_sql, 2, v, err);
	if (!r) {
		json_decref(by);
		return NULL;
	}
	json_t *mtbf = json_pack("{s:f, s:f}", "sum", strtod(PQgetvalue(r, 0, 0), NULL), "n", strtod(PQgetvalue(r, 0, 1), NULL));
	PQclear(r);
	return json_pack("{s:o, s:o}", "by_severity", by, "mtbf", mtbf);
}

static json_t *pg_events(void *db, const char *incident, char **err)
{
	struct pg *p = db;
	const char *v[] = {incident};
	PGresult *r = run(p,
			  "SELECT seq, time, kind, actor, summary, data, prev_hash, hash FROM runbook_events "
			  "WHERE incident = $1 ORDER BY seq",
			  1, v, err);
	if (!r)
		return NULL;
	json_t *a = json_array();
	for (int row = 0; row < PQntuples(r); row++) {
		json_t *data = json_loads(PQgetvalue(r, row, 5), JSON_DECODE_ANY | JSON_ALLOW_NUL, NULL);
		json_t *e = json_pack("{s:s, s:I, s:s, s:s, s:s, s:s, s:o, s:s, s:s}", "incident", incident, "seq",
				      (json_int_t)atoll(PQgetvalue(r, row, 0)), "time", PQgetvalue(r, row, 1), "kind",
				      PQgetvalue(r, row, 2), "actor", PQgetvalue(r, row, 3), "summary", PQgetvalue(r, row, 4),
				      "data", data ? data : json_string("(unreadable data)"), "prev_hash",
				      PQgetvalue(r, row, 6), "hash", PQgetvalue(r, row, 7));
		if (e)
			json_array_append_new(a, e);
	}
	PQclear(r);
	return a;
}

/* ---- the alert queue: any number of workers on any number of machines.
 * A claim is a row lease (claimed_until, kept alive by heartbeats) plus a
 * session advisory lock on the alert's key, held while the alert is
 * worked on: a worker that dies drops its connection and with it the
 * lock, and its alert is claimed again at once; one that hangs while
 * still connected loses it when the lease runs out. The lock also keeps
 * one key's alerts (one incident's) to one worker at a time. ---- */

/* Adds s to a PostgreSQL array literal, quoted. */
static void array_add(struct sbuf *sb, const char *s)
{
	sbuf_adds(sb, sb->len > 1 ? ",\"" : "\"");
	while (*s) {
		size_t n = strcspn(s, "\"\\");
		sbuf_add(sb, s, n);
		if (!s[n])
			break;
		char esc[2] = {'\\', s[n]};
		sbuf_add(sb, esc, 2);
		s += n + 1;
	}
	sbuf_addc(sb, '"');
}

static int pg_enqueue(void *db, struct queued *q, size_t n, char **err)
{
	struct pg *p = db;
	char now[40];
	utc_timestamp(now, sizeof now);
	struct sbuf lit[3]; /* source, key, alert: text array literals */
	for (int k = 0; k < 3; k++) {
		sbuf_init(&lit[k]);
		sbuf_addc(&lit[k], '{');
	}
	for (size_t i = 0; i < n; i++) {
		array_add(&lit[0], q[i].source);
		array_add(&lit[1], q[i].key);
		array_add(&lit[2], q[i].text);
	}
	for (int k = 0; k < 3; k++)
		sbuf_addc(&lit[k], '}');
	const char *v[] = {now, lit[0].buf, lit[1].buf, lit[2].buf};
	/* one (prepared) statement, one round trip, its own transaction: the
	 * rows and the NOTIFY that wakes idle workers commit together. The
	 * alerts arrive as text arrays, not one JSON document that the server
	 * would lex again for every field it takes out. */
	PGresult *r = run(p,
			  "WITH ins AS (INSERT INTO runbook_alert_queue (received_at, source, key, alert)"
			  " SELECT $1, s, k, a FROM unnest($2::text[], $3::text[], $4::text[])"
			  " WITH ORDINALITY AS u(s, k, a, i) ORDER BY i RETURNING id),"
			  " woken AS (SELECT pg_notify('runbook_queue', ''))"
			  " SELECT id FROM ins, woken ORDER BY id",
			  4, v, err);
	for (int k = 0; k < 3; k++)
		sbuf_release(&lit[k]);
	if (!r)
		return -1;
	if ((size_t)PQntuples(r) != n) { /* cannot happen: one row per alert */
		*err = xasprintf("the queue gave %d ids for %zu alerts", PQntuples(r), n);
		PQclear(r);
		return -1;
	}
	/* ids come in insertion order (one statement, one sequence) */
	for (size_t i = 0; i < n; i++)
		q[i].id = atoll(PQgetvalue(r, (int)i, 0));
	PQclear(r);
	return 0;
}

static void key_unlock(struct pg *p, const char *key)
{
	const char *v[] = {key};
	PQclear(run(p, "SELECT pg_advisory_unlock(" KEY_LOCK ", hashtext($1))", 1, v, NULL));
}

/* The candidates for a claim, in steps, so that a storm of one key's
 * alerts does not make every claim read all of them: the heads among the
 * 64 oldest alerts still to do (the first 8 of them, then all), else the
 * heads key by key (a skip scan of the index on (key, id): as many
 * lookups as keys still to do). Written so that every step is an index
 * lookup (= ANY (ARRAY(...)), and a subquery per row for its key's head):
 * as joins, the planner hashed the whole queue table. Heads whose key's
 * lock someone holds (pg_locks) are left out, unless their lease ran out:
 * each would cost a claim attempt, a round trip. Only heads claimed before
 * are looked up there: a key is held by whoever claimed its head, so
 * while every candidate is new, pg_locks (a copy of the server's whole
 * lock table) is not read at all. The candidates are not locked: a
 * claimer that locked its 64 held the others' done marks and claims
 * waiting, and pushed them into the costly last step. */
#define CLAIM_COLUMNS "SELECT id, key, attempts"
#define CLAIM_FREE(n) \
	" AND NOT (claimed_by IS NOT DISTINCT FROM $1 AND claimed_until > now())" \
	" AND (claimed_by IS NULL OR claimed_until < now() OR hashtext(q.key)::oid NOT IN (SELECT objid FROM held))" \
	" ORDER BY id LIMIT " #n
#define CLAIM_HELD \
	"held AS MATERIALIZED (SELECT objid FROM pg_locks WHERE locktype = 'advisory' AND classid = " KEY_LOCK \
	" AND objsubid = 2) "
#define CLAIM_OLDEST(n) \
	"WITH " CLAIM_HELD CLAIM_COLUMNS " FROM runbook_alert_queue q" \
	" WHERE id = ANY (ARRAY(SELECT id FROM runbook_alert_queue WHERE done_at IS NULL ORDER BY id LIMIT 64))" \
	" AND done_at IS NULL" \
	" AND id = (SELECT o.id FROM runbook_alert_queue o WHERE o.done_at IS NULL AND o.key = q.key ORDER BY o.key, o.id" \
	"   LIMIT 1)" \
	CLAIM_FREE(n)
/* Reading the candidates takes a few index entries, unless the queue's
 * statistics are stale: a storm into a queue that was analyzed while
 * nearly everything in it was done. The planner then believes the alerts
 * to do are a handful and reads them all (and a plan is kept for the
 * connection's life): with 20,000 queued, 10 ms a claim instead of 0.1.
 * Autovacuum would analyze the table within a minute or so; a claimer
 * whose candidates came slowly three times in a row does it at once (at
 * most once a minute), which replans every connection's claims. In a row:
 * four workers on two busy CPUs saw single reads that slow now and then,
 * and analyzed one to three times a run of 600 alerts. */
#define SLOW_CANDIDATES_US 5000
#define SLOW_READS 3
#define ANALYZE_EVERY_MS 60000
static const char *const claim_sql[] = {
	CLAIM_OLDEST(8),
	CLAIM_OLDEST(64),
	"WITH RECURSIVE k(key) AS ("
	"  (SELECT key FROM runbook_alert_queue WHERE done_at IS NULL ORDER BY key LIMIT 1)"
	"  UNION ALL SELECT (SELECT key FROM runbook_alert_queue WHERE done_at IS NULL AND key > k.key ORDER BY key LIMIT 1)"
	"  FROM k WHERE k.key IS NOT NULL), "
	CLAIM_HELD CLAIM_COLUMNS " FROM runbook_alert_queue q"
	" WHERE id = ANY (ARRAY(SELECT (SELECT id FROM runbook_alert_queue WHERE done_at IS NULL AND key = k.key"
	"   ORDER BY key, id LIMIT 1) FROM k WHERE k.key IS NOT NULL))"
	" AND done_at IS NULL"
	CLAIM_FREE(64),
};

/* Claims candidate id, in one round trip, if nobody has since it was read
 * (attempts counts the claims: it is the row's version), nobody is
 * recording it right now (its row lock), and its key's lock is free or
 * its lease ran out (its claimer hangs, holding the lock): 1 with *item,
 * 0, -1. The key's lock is taken in the same statement, after the row's:
 * neither waits, so no two claimers wait on each other. Committed without
 * waiting for the disk: a claim lost in a crash of the server goes with
 * the connection and its locks anyway, and the alert's next commit,
 * synced, writes it out too. */
static int claim_row(struct pg *p, const char *owner, int lease_s, const char *id, const char *attempts,
		     json_t **item, char **err)
{
	char lease[16];
	snprintf(lease, sizeof lease, "%d", lease_s);
	const char *v[] = {owner, lease, id, attempts};
	if (begin(p, err) || send_ahead_as(p, "SET LOCAL synchronous_commit = off", 0, NULL, 0, err)) {
		rollback(p);
		return -1;
	}
	PGresult *r = run_then(p,
			       "WITH c AS MATERIALIZED (SELECT id, key, claimed_until < now() AS expired FROM runbook_alert_queue"
			       "  WHERE id = $3 AND done_at IS NULL AND attempts = $4 FOR UPDATE SKIP LOCKED),"
			       " l AS MATERIALIZED (SELECT id, key, expired,"
			       "  pg_try_advisory_lock(" KEY_LOCK ", hashtext(key)) AS locked FROM c),"
			       " u AS (UPDATE runbook_alert_queue q SET claimed_by = $1,"
			       "  claimed_until = now() + make_interval(secs => $2), attempts = q.attempts + 1"
			       "  FROM l WHERE q.id = l.id AND (l.locked OR l.expired)"
			       "  RETURNING q.id, q.key, q.alert, q.incident, q.diagnose, q.attempts)"
			       " SELECT u.*, l.locked, l.key FROM l LEFT JOIN u ON true",
			       4, v, "COMMIT", err);
	if (!r) {
		rollback(p);
		return -1; /* the caller drops the connection, and any lock taken with it */
	}
	int locked = PQntuples(r) == 1 && !strcmp(PQgetvalue(r, 0, 6), "t");
	if (PQntuples(r) == 1 && !PQgetisnull(r, 0, 0)) {
		json_t *alert = json_loads(PQgetvalue(r, 0, 2), 0, NULL);
		*item = json_pack("{s:I, s:s, s:o, s:s?, s:s?, s:I, s:b}", "id", (json_int_t)atoll(PQgetvalue(r, 0, 0)),
				  "key", PQgetvalue(r, 0, 1), "alert", alert ? alert : json_object(), "incident",
				  PQgetisnull(r, 0, 3) ? NULL : PQgetvalue(r, 0, 3), "diagnose",
				  PQgetisnull(r, 0, 4) ? NULL : PQgetvalue(r, 0, 4), "attempts",
				  (json_int_t)atoll(PQgetvalue(r, 0, 5)), "locked", locked);
	} else if (locked) { /* cannot happen: with the lock, the update holds */
		key_unlock(p, PQgetvalue(r, 0, 7));
	}
	PQclear(r);
	return *item ? 1 : 0;
}

static int pg_claim(void *db, const char *owner, int lease_s, json_t **item, char **err)
{
	struct pg *p = db;
	*item = NULL;
	/* the heads - each key's oldest alert still to do - that nobody is
	 * claiming right now (nor this owner: an advisory lock is granted again
	 * to the session that holds it); see claim_sql */
	const char *ov[] = {owner};
	for (size_t step = 0; !*item && step < ARRAY_LEN(claim_sql); step++) {
		int64_t t0 = now_us();
		PGresult *r = run(p, claim_sql[step], 1, ov, err);
		if (!r)
			return -1;
		p->slow_reads = now_us() - t0 > SLOW_CANDIDATES_US ? p->slow_reads + 1 : 0;
		if (p->slow_reads >= SLOW_READS && now_ms() - p->analyzed_ms > ANALYZE_EVERY_MS) {
			p->analyzed_ms = now_ms();
			ok(p, "ANALYZE runbook_alert_queue", NULL);
		}
		if (step == 0 && PQntuples(r) < 8)
			step++; /* that was all of the oldest 64's heads */
		for (int i = 0; !*item && i < PQntuples(r); i++)
			if (claim_row(p, owner, lease_s, PQgetvalue(r, i, 0), PQgetvalue(r, i, 2), item, err) < 0) {
				PQclear(r);
				return -1;
			}
		PQclear(r);
	}
	return *item ? 1 : 0;
}

static int pg_queue_done(void *db, json_t *item, json_t *result, char **err)
{
	struct pg *p = db;
	char now[40], id[24];
	utc_timestamp(now, sizeof now);
	snprintf(id, sizeof id, "%lld", (long long)json_integer_value(json_object_get(item, "id")));
	char *res = json_dumps(result, JSON_COMPACT | JSON_SORT_KEYS | JSON_ENCODE_ANY);
	const char *v[] = {now, res, id}, *key = json_string_value(json_object_get(item, "key"));
	int locked = json_is_true(json_object_get(item, "locked"));
	/* done, committed, then the key's lock let go: one round trip */
	int rc = begin(p, err) ||
		 send_ahead(p, "UPDATE runbook_alert_queue SET done_at = $1, result = $2, claimed_until = NULL WHERE id = $3"
			       " AND done_at IS NULL", 3, v, err) ||
		 (locked ? send_ahead_as(p, "COMMIT", 0, NULL, 0, err) : ok(p, "COMMIT", err));
	free(res);
	if (!rc && locked) {
		const char *kv[] = {key};
		PGresult *r = run(p, "SELECT pg_advisory_unlock(" KEY_LOCK ", hashtext($1))", 1, kv, err);
		rc = r ? 0 : -1;
		PQclear(r);
	}
	if (rc) {
		if (PQtransactionStatus(p->c) != PQTRANS_IDLE || p->nahead)
			rollback(p);
		if (locked)
			key_unlock(p, key);
	}
	return rc ? -1 : 0;
}

static int pg_heartbeat(void *db, const char *owner, int lease_s, char **err)
{
	char lease[16];
	snprintf(lease, sizeof lease, "%d", lease_s);
	const char *v[] = {owner, lease};
	PGresult *r = run(db,
			  "UPDATE runbook_alert_queue SET claimed_until = now() + make_interval(secs => $2)"
			  " WHERE claimed_by = $1 AND done_at IS NULL",
			  2, v, err);
	PQclear(r);
	return r ? 0 : -1;
}

static long long pg_queue_depth(void *db, char **err)
{
	PGresult *r = run(db, "SELECT count(*) FROM runbook_alert_queue WHERE done_at IS NULL", 0, NULL, err);
	long long n = r ? atoll(PQgetvalue(r, 0, 0)) : -1;
	PQclear(r);
	return n;
}

static long long pg_queue_prune(void *db, const char *before, int batch, char **err)
{
	char n[16], scan[16];
	snprintf(n, sizeof n, "%d", batch);
	snprintf(scan, sizeof scan, "%d", batch * STORE_PRUNE_SCAN);
	const char *v[] = {before, n, scan};
	PGresult *r = run(db, "WITH d AS (DELETE FROM runbook_alert_queue WHERE id IN (SELECT id FROM"
			      " (SELECT id, done_at FROM runbook_alert_queue ORDER BY id LIMIT $3) oldest"
			      " WHERE done_at < $1 LIMIT $2) RETURNING 1)"
			      " SELECT count(*) FROM d", 3, v, err);
	long long got = r ? atoll(PQgetvalue(r, 0, 0)) : -1;
	PQclear(r);
	return got;
}

static int pg_claim_once(void *db, const char *name, char **err)
{
	char now[40];
	utc_timestamp(now, sizeof now);
	const char *v[] = {name, now};
	PGresult *r = run(db, "INSERT INTO runbook_claims VALUES ($1, $2) ON CONFLICT DO NOTHING", 2, v, err);
	int rc = r ? !strcmp(PQcmdTuples(r), "1") : -1;
	PQclear(r);
	return rc;
}

static int pg_queue_wait(void *db, int timeout_ms)
{
	struct pg *p = db;
	if (!p->listening) {
		if (ok(p, "LISTEN runbook_queue", NULL))
			return -1;
		p->listening = 1;
	}
	PGnotify *n;
	int news = 0;
	PQconsumeInput(p->c);
	while ((n = PQnotifies(p->c))) {
		news = 1;
		PQfreemem(n);
	}
	if (news)
		return 0;
	struct pollfd fd = {PQsocket(p->c), POLLIN, 0};
	if (poll(&fd, 1, timeout_ms) > 0) {
		PQconsumeInput(p->c);
		while ((n = PQnotifies(p->c)))
			PQfreemem(n);
	}
	return 0;
}

const struct store_backend store_pg = {
	.shared = 1,
	.name = "postgres",
	.accepts = pg_accepts,
	.open = pg_open,
	.close = pg_close,
	.lazy = pg_lazy,
	.incident_create = pg_incident_create,
	.incidents = pg_incidents,
	.latest = pg_latest,
	.incident_update = pg_incident_update,
	.append = pg_append,
	.append_many = pg_append_many,
	.events = pg_events,
	.metrics = pg_metrics,
	.enqueue = pg_enqueue,
	.claim = pg_claim,
	.queue_done = pg_queue_done,
	.heartbeat = pg_heartbeat,
	.queue_depth = pg_queue_depth,
	.queue_prune = pg_queue_prune,
	.claim_once = pg_claim_once,
	.queue_wait = pg_queue_wait,
};
