/*
 * store_sqlite: the timeline store in an SQLite file (the default).
 *
 * Durability: WAL with synchronous=FULL, so a COMMIT is on disk when it
 * returns. Appends run in BEGIN IMMEDIATE transactions, which serialise
 * writers across processes: the next seq and prev_hash are read and the
 * new event written under one write lock, so concurrent appenders never
 * duplicate a seq or fork the chain. Triggers refuse UPDATE and DELETE on
 * events; the hash chain shows any change made around them.
 */
#define _XOPEN_SOURCE 700 /* realpath */
#include "store.h"
#include "store_backend.h"
#include "util.h"

#include <errno.h>
#include <fcntl.h>
#include <sys/file.h>
#include <unistd.h>
#include <pthread.h>
#include <sqlite3.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

/* One write lock per file per process: threads with their own connections
 * (serve's intake and triage threads) queue on it in arrival order (a
 * ticket lock) instead of meeting SQLite's busy handler, which sleeps in
 * steps of up to 100 ms. Intake goes to the front of the queue: a request
 * waits for its alerts to be queued, a triage thread only for the next
 * alert to work on, and intake takes the lock once per group commit, so
 * it never holds triage back for long. Other processes still meet the
 * busy handler. The locks live as long as the process. */
struct wlock {
	char *path;
	pthread_mutex_t mu;
	pthread_cond_t cv;
	unsigned long next, serving;
	int held, urgent;
	struct wlock *link;
};

static struct wlock *write_lock_for(const char *path)
{
	static pthread_mutex_t reg_mu = PTHREAD_MUTEX_INITIALIZER;
	static struct wlock *reg;
	char *real = realpath(path, NULL);
	const char *key = real ? real : path;
	pthread_mutex_lock(&reg_mu);
	struct wlock *w = reg;
	while (w && strcmp(w->path, key))
		w = w->link;
	if (!w) {
		w = xcalloc(1, sizeof *w);
		w->path = xstrdup(key);
		pthread_mutex_init(&w->mu, NULL);
		pthread_cond_init(&w->cv, NULL);
		w->link = reg;
		reg = w;
	}
	pthread_mutex_unlock(&reg_mu);
	free(real);
	return w;
}

/* Takes the lock: in ticket order, or (urgent) before every waiting
 * ticket. */
static void wlock_take_as(struct wlock *w, int urgent)
{
	pthread_mutex_lock(&w->mu);
	if (urgent) {
		w->urgent++;
		while (w->held)
			pthread_cond_wait(&w->cv, &w->mu);
		w->urgent--;
	} else {
		unsigned long mine = w->next++;
		while (w->held || w->urgent || mine != w->serving)
			pthread_cond_wait(&w->cv, &w->mu);
		w->serving++;
	}
	w->held = 1;
	pthread_mutex_unlock(&w->mu);
}

static void wlock_take(struct wlock *w)
{
	wlock_take_as(w, 0);
}

static void wlock_give(struct wlock *w)
{
	pthread_mutex_lock(&w->mu);
	w->held = 0;
	pthread_cond_broadcast(&w->cv);
	pthread_mutex_unlock(&w->mu);
}

#define STMT_CACHE 32

struct sq {
	sqlite3 *db;
	char *path;
	struct wlock *wlock; /* this process's writers of the file, one at a time */
	int lazy;            /* synchronous=NORMAL (store_lazy) */
	struct {             /* the statements of the hot paths, prepared once */
		char *sql;
		sqlite3_stmt *q;
	} stmts[STMT_CACHE];
	int nstmts;
};

/* Each stored time as seconds (julianday is exact to ~30 us here). */
#define SECONDS_SET "started_s = julianday(started_at) * 86400, detected_s = julianday(detected_at) * 86400," \
	" acknowledged_s = julianday(acknowledged_at) * 86400, resolved_s = julianday(resolved_at) * 86400"

static const char *const migrations[] = {
	/* 1: incidents and their append-only events */
	"CREATE TABLE incidents ("
	"  n INTEGER PRIMARY KEY,"
	"  id TEXT NOT NULL UNIQUE,"
	"  title TEXT NOT NULL,"
	"  severity TEXT NOT NULL CHECK (severity IN ('SEV1','SEV2','SEV3','SEV4')),"
	"  status TEXT NOT NULL CHECK (status IN ('triggered','acknowledged','resolved')),"
	"  started_at TEXT, detected_at TEXT NOT NULL, acknowledged_at TEXT, resolved_at TEXT,"
	"  fingerprint TEXT, runbook TEXT, component TEXT, commander TEXT, resolution TEXT);"
	"CREATE TABLE events ("
	"  incident TEXT NOT NULL REFERENCES incidents(id),"
	"  seq INTEGER NOT NULL, time TEXT NOT NULL, kind TEXT NOT NULL, actor TEXT NOT NULL,"
	"  summary TEXT NOT NULL, data TEXT NOT NULL, prev_hash TEXT NOT NULL, hash TEXT NOT NULL,"
	"  PRIMARY KEY (incident, seq));"
	"CREATE TRIGGER events_append_only_update BEFORE UPDATE ON events"
	"  BEGIN SELECT RAISE(ABORT, 'events are append-only'); END;"
	"CREATE TRIGGER events_append_only_delete BEFORE DELETE ON events"
	"  BEGIN SELECT RAISE(ABORT, 'events are append-only'); END;",
	/* 2: the incident an incident repeats (same key, resolved < 30 days before) */
	"ALTER TABLE incidents ADD COLUMN repeat_of TEXT;",
	/* 3: the alert queue of serve (durable intake); incident and diagnose
	 * are set with the alert's event, in its transaction (exactly once);
	 * claims are one-time names (re-escalations) */
	"CREATE TABLE alert_queue ("
	"  id INTEGER PRIMARY KEY AUTOINCREMENT, received_at TEXT NOT NULL, source TEXT NOT NULL,"
	"  key TEXT NOT NULL, alert TEXT NOT NULL, claimed_by TEXT, claimed_until REAL,"
	"  attempts INTEGER NOT NULL DEFAULT 0, incident TEXT, diagnose TEXT, done_at TEXT, result TEXT);"
	"CREATE INDEX alert_queue_pending ON alert_queue(key, id) WHERE done_at IS NULL;"
	"CREATE TABLE claims (name TEXT PRIMARY KEY, at TEXT NOT NULL);"
	"CREATE INDEX incidents_fingerprint ON incidents(fingerprint);"
	"CREATE INDEX incidents_status ON incidents(status);",
	/* 4: the times as seconds too, kept by triggers, so the metrics do
	 * arithmetic instead of parsing 400,000 timestamps */
	"ALTER TABLE incidents ADD COLUMN started_s REAL;"
	"ALTER TABLE incidents ADD COLUMN detected_s REAL;"
	"ALTER TABLE incidents ADD COLUMN acknowledged_s REAL;"
	"ALTER TABLE incidents ADD COLUMN resolved_s REAL;"
	"UPDATE incidents SET " SECONDS_SET ";"
	"CREATE TRIGGER incidents_seconds_insert AFTER INSERT ON incidents"
	"  BEGIN UPDATE incidents SET " SECONDS_SET " WHERE n = NEW.n; END;"
	"CREATE TRIGGER incidents_seconds_update AFTER UPDATE OF started_at, detected_at, acknowledged_at, resolved_at"
	"  ON incidents BEGIN UPDATE incidents SET " SECONDS_SET " WHERE n = NEW.n; END;",
	/* 5: the alerts still to do in arrival order, without the done ones
	 * (a claim looks at the oldest first) */
	"CREATE INDEX alert_queue_todo ON alert_queue(id) WHERE done_at IS NULL;",
	/* 6: a key's newest open and newest resolved incident without reading
	 * its whole history (a flapping alert opens thousands); n comes with
	 * every index */
	"CREATE INDEX incidents_key ON incidents(fingerprint, status);",
};


static int mkdirs(const char *dir)
{
	char *p = xstrdup(dir);
	for (char *s = p + 1; *s; s++) {
		if (*s != '/')
			continue;
		*s = '\0';
		if (mkdir(p, 0700) && errno != EEXIST) {
			free(p);
			return -1;
		}
		*s = '/';
	}
	int rc = mkdir(p, 0700) && errno != EEXIST ? -1 : 0;
	free(p);
	return rc;
}

static int exec_sql(struct sq *st, const char *sql, char **err)
{
	char *m = NULL;
	if (sqlite3_exec(st->db, sql, NULL, NULL, &m) != SQLITE_OK) {
		*err = xasprintf("%s: %s", st->path, m ? m : sqlite3_errmsg(st->db));
		sqlite3_free(m);
		return -1;
	}
	return 0;
}

/* BEGIN IMMEDIATE under this process's write lock (urgent: before the
 * other waiting writers); -1 (unlocked) on failure. */
static int begin_write_as(struct sq *st, int urgent, char **err)
{
	wlock_take_as(st->wlock, urgent);
	if (exec_sql(st, "BEGIN IMMEDIATE", err) == 0)
		return 0;
	wlock_give(st->wlock);
	return -1;
}

static int begin_write(struct sq *st, char **err)
{
	return begin_write_as(st, 0, err);
}

static void rollback_write(struct sq *st)
{
	sqlite3_exec(st->db, "ROLLBACK", NULL, NULL, NULL);
	wlock_give(st->wlock);
}

static int migrate(struct sq *st, char **err)
{
	if (exec_sql(st, "BEGIN IMMEDIATE", err))
		return -1;
	if (exec_sql(st, "CREATE TABLE IF NOT EXISTS schema_version (version INTEGER NOT NULL)", err))
		goto fail;
	sqlite3_stmt *q;
	int version = 0;
	if (sqlite3_prepare_v2(st->db, "SELECT max(version) FROM schema_version", -1, &q, NULL) == SQLITE_OK) {
		if (sqlite3_step(q) == SQLITE_ROW)
			version = sqlite3_column_int(q, 0);
		sqlite3_finalize(q);
	}
	int n = (int)ARRAY_LEN(migrations);
	if (version > n) {
		*err = xasprintf("%s: the store's schema (version %d) is newer than this runbook (%d)", st->path, version, n);
		goto fail;
	}
	for (int v = version; v < n; v++) {
		char *ins = xasprintf("INSERT INTO schema_version VALUES (%d)", v + 1);
		int rc = exec_sql(st, migrations[v], err) || exec_sql(st, ins, err);
		free(ins);
		if (rc)
			goto fail;
	}
	return exec_sql(st, "COMMIT", err);
fail:
	sqlite3_exec(st->db, "ROLLBACK", NULL, NULL, NULL);
	return -1;
}

static void sq_close(void *db);

static int sq_accepts(const char *url)
{
	return !strncmp(url, "sqlite:", 7);
}

static void *sq_open(const char *url, char **err)
{
	if (!url[7]) { /* SQLite would open a private database, gone when it closes */
		*err = xstrdup("the SQLite store needs a file: sqlite:PATH");
		return NULL;
	}
	struct sq *st = xcalloc(1, sizeof *st);
	st->path = xstrdup(url + 7); /* after "sqlite:" */
	char *dir = xstrdup(st->path), *slash = strrchr(dir, '/');
	if (slash && slash != dir) {
		*slash = '\0';
		if (mkdirs(dir)) {
			*err = xasprintf("cannot create %s: %s", dir, strerror(errno));
			free(dir);
			sq_close(st);
			return NULL;
		}
	}
	free(dir);
	if (sqlite3_open_v2(st->path, &st->db, SQLITE_OPEN_READWRITE | SQLITE_OPEN_CREATE | SQLITE_OPEN_FULLMUTEX,
			    NULL) != SQLITE_OK) {
		*err = xasprintf("cannot open the store %s: %s", st->path, st->db ? sqlite3_errmsg(st->db) : "out of memory");
		sq_close(st);
		return NULL;
	}
	sqlite3_busy_timeout(st->db, 30000);
	st->wlock = write_lock_for(st->path);
	/* Two processes (or threads) creating the same new file at once must
	 * not both set it up: switching a new database to WAL while another
	 * connection already writes to it loses that connection's work. */
	char *lockpath = xasprintf("%s.lock", st->path);
	int lock = open(lockpath, O_RDWR | O_CREAT | O_CLOEXEC, 0600);
	free(lockpath);
	if (lock >= 0)
		flock(lock, LOCK_EX);
	int bad = exec_sql(st, "PRAGMA journal_mode=WAL", err) || exec_sql(st, "PRAGMA synchronous=FULL", err) ||
		  exec_sql(st, "PRAGMA foreign_keys=ON", err) || migrate(st, err);
	if (lock >= 0)
		close(lock); /* and with it the lock */
	if (bad) {
		sq_close(st);
		return NULL;
	}
	return st;
}

/* The statement of sql, prepared once per connection (kept by its
 * text); NULL with the error in sqlite3_errmsg. Give it back with
 * stmt_done, on every path. */
static sqlite3_stmt *stmt(struct sq *st, const char *sql)
{
	for (int i = 0; i < st->nstmts; i++)
		if (!strcmp(st->stmts[i].sql, sql))
			return st->stmts[i].q;
	sqlite3_stmt *q;
	if (sqlite3_prepare_v3(st->db, sql, -1, SQLITE_PREPARE_PERSISTENT, &q, NULL) != SQLITE_OK)
		return NULL;
	if (st->nstmts < STMT_CACHE) {
		st->stmts[st->nstmts].sql = xstrdup(sql);
		st->stmts[st->nstmts++].q = q;
	}
	return q;
}

/* Resets a statement from stmt (it holds no snapshot after this) or
 * finalizes one the cache had no room for. */
static void stmt_done(struct sq *st, sqlite3_stmt *q)
{
	for (int i = 0; i < st->nstmts; i++)
		if (st->stmts[i].q == q) {
			sqlite3_reset(q);
			sqlite3_clear_bindings(q);
			return;
		}
	sqlite3_finalize(q);
}

static void sq_close(void *db)
{
	struct sq *st = db;
	if (!st)
		return;
	for (int i = 0; i < st->nstmts; i++) {
		sqlite3_finalize(st->stmts[i].q);
		free(st->stmts[i].sql);
	}
	if (st->db)
		sqlite3_close(st->db);
	free(st->path);
	free(st);
}




static const char *text_or_null(sqlite3_stmt *q, int col)
{
	return sqlite3_column_type(q, col) == SQLITE_NULL ? NULL : (const char *)sqlite3_column_text(q, col);
}

/* Inside a write transaction: the seq and hash of the incident's last
 * event (0 and the zero hash before its first). */
static int chain_end(struct sq *st, const char *incident, long long *seq, char prev[65], char **err)
{
	sqlite3_stmt *q;
	*seq = 0;
	snprintf(prev, 65, "%s", ZERO_HASH);
	if (!(q = stmt(st, "SELECT seq, hash FROM events WHERE incident = ? ORDER BY seq DESC LIMIT 1"))) {
		*err = xasprintf("%s: %s", st->path, sqlite3_errmsg(st->db));
		return -1;
	}
	sqlite3_bind_text(q, 1, incident, -1, SQLITE_STATIC);
	if (sqlite3_step(q) == SQLITE_ROW) {
		*seq = sqlite3_column_int64(q, 0);
		snprintf(prev, 65, "%s", (const char *)sqlite3_column_text(q, 1));
	}
	stmt_done(st, q);
	return 0;
}

/* Inserts event seq + 1 after prev (both advance). */
static int insert_event(struct sq *st, const char *incident, long long *seq, char prev[65], const char *kind,
			const char *actor, const char *summary, json_t *data, const char *at, char **err)
{
	sqlite3_stmt *q;
	char time[40], hash[65], *datas = NULL;
	if (store_seal_event(incident, *seq + 1, kind, actor, summary, data, at, prev, time, hash, &datas)) {
		*err = xstrdup("the event is not valid UTF-8");
		return -1;
	}
	int rc = (q = stmt(st, "INSERT INTO events VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?)")) ? SQLITE_OK : SQLITE_ERROR;
	if (rc == SQLITE_OK) {
		sqlite3_bind_text(q, 1, incident, -1, SQLITE_STATIC);
		sqlite3_bind_int64(q, 2, *seq + 1);
		sqlite3_bind_text(q, 3, time, -1, SQLITE_STATIC);
		sqlite3_bind_text(q, 4, kind, -1, SQLITE_STATIC);
		sqlite3_bind_text(q, 5, actor, -1, SQLITE_STATIC);
		sqlite3_bind_text(q, 6, summary, -1, SQLITE_STATIC);
		sqlite3_bind_text(q, 7, datas, -1, SQLITE_STATIC);
		sqlite3_bind_text(q, 8, prev, -1, SQLITE_STATIC);
		sqlite3_bind_text(q, 9, hash, -1, SQLITE_STATIC);
		rc = sqlite3_step(q) == SQLITE_DONE ? SQLITE_OK : SQLITE_ERROR;
		stmt_done(st, q);
	}
	free(datas);
	if (rc != SQLITE_OK) {
		*err = xasprintf("%s: %s", st->path, sqlite3_errmsg(st->db));
		return -1;
	}
	++*seq;
	snprintf(prev, 65, "%s", hash);
	return 0;
}

/* Appends inside an open write transaction. */
static int append_locked(struct sq *st, const char *incident, const char *kind, const char *actor,
			 const char *summary, json_t *data, const char *at, char **err)
{
	long long seq;
	char prev[65];
	if (chain_end(st, incident, &seq, prev, err))
		return -1;
	return insert_event(st, incident, &seq, prev, kind, actor, summary, data, at, err);
}

static int commit_or_rollback(struct sq *st, int ok, char **err)
{
	if (ok && exec_sql(st, "COMMIT", err) == 0) {
		wlock_give(st->wlock);
		return 0;
	}
	rollback_write(st);
	return -1;
}

/* Inside a write transaction: whether the queued alert qid was recorded
 * already (1, its incident in *incident when asked), 0 not, -1 error. */
static int queued_recorded(struct sq *st, long long qid, char **incident, char **err)
{
	sqlite3_stmt *q;
	if (!(q = stmt(st, "SELECT incident FROM alert_queue WHERE id = ?"))) {
		*err = xasprintf("%s: %s", st->path, sqlite3_errmsg(st->db));
		return -1;
	}
	sqlite3_bind_int64(q, 1, qid);
	int rc = 0;
	if (sqlite3_step(q) == SQLITE_ROW && sqlite3_column_type(q, 0) != SQLITE_NULL) {
		rc = 1;
		if (incident)
			*incident = xstrdup((const char *)sqlite3_column_text(q, 0));
	}
	stmt_done(st, q);
	return rc;
}

/* Inside the write transaction that records the alert: marks it so. */
static int queued_mark(struct sq *st, long long qid, const char *incident, const char *diagnose, json_t *done,
		       char **err)
{
	sqlite3_stmt *q;
	char now[40], *res = done ? json_dumps(done, JSON_COMPACT | JSON_SORT_KEYS | JSON_ENCODE_ANY) : NULL;
	utc_timestamp(now, sizeof now);
	/* a row done already (by a claimer whose lease ran out) stays as it was done */
	int ok = (q = stmt(st, "UPDATE alert_queue SET incident = ?1, diagnose = ?2,"
			   " result = CASE WHEN done_at IS NULL THEN ?4 ELSE result END, done_at = coalesce(done_at, ?3),"
			   " claimed_until = CASE WHEN ?3 IS NULL THEN claimed_until END WHERE id = ?5")) != NULL;
	if (ok) {
		sqlite3_bind_text(q, 1, incident, -1, SQLITE_STATIC);
		sqlite3_bind_text(q, 2, diagnose, -1, SQLITE_STATIC);
		if (done)
			sqlite3_bind_text(q, 3, now, -1, SQLITE_STATIC);
		sqlite3_bind_text(q, 4, res, -1, SQLITE_STATIC);
		sqlite3_bind_int64(q, 5, qid);
		ok = sqlite3_step(q) == SQLITE_DONE;
		stmt_done(st, q);
	}
	free(res);
	if (!ok)
		*err = xasprintf("%s: %s", st->path, sqlite3_errmsg(st->db));
	return ok ? 0 : -1;
}

static int sq_append(void *db, const char *incident, const char *kind, const char *actor, const char *summary,
		     json_t *data, long long queue_id, const char *diagnose, json_t *done, char **err)
{
	struct sq *st = db;
	if (begin_write(st, err))
		return -1;
	if (queue_id > 0) {
		int before = queued_recorded(st, queue_id, NULL, err);
		if (before) {
			rollback_write(st);
			return before;
		}
	}
	int ok = append_locked(st, incident, kind, actor, summary, data, NULL, err) == 0 &&
		 (queue_id <= 0 || queued_mark(st, queue_id, incident, diagnose, done, err) == 0);
	return commit_or_rollback(st, ok, err);
}

/* Several events of one incident in one transaction: one sync for all. */
static int sq_append_many(void *db, const char *incident, const char *actor, json_t *events, char **err)
{
	struct sq *st = db;
	long long seq;
	char prev[65];
	if (begin_write(st, err))
		return -1;
	int ok = chain_end(st, incident, &seq, prev, err) == 0; /* read once: the batch extends it */
	size_t i;
	json_t *e;
	json_array_foreach(events, i, e) {
		if (!ok)
			break;
		ok = insert_event(st, incident, &seq, prev, json_string_value(json_object_get(e, "kind")), actor,
				  json_string_value(json_object_get(e, "summary")), json_object_get(e, "data"),
				  json_string_value(json_object_get(e, "time")), err) == 0;
	}
	return commit_or_rollback(st, ok, err);
}

/* WAL: a commit without its own sync is on disk with the next synced
 * commit of this file (the log is written in order). */
static int sq_lazy(void *db, int on, char **err)
{
	struct sq *st = db;
	if (exec_sql(st, on ? "PRAGMA synchronous=NORMAL" : "PRAGMA synchronous=FULL", err))
		return -1;
	st->lazy = on;
	return 0;
}

static int sq_incident_create(void *db, json_t *f, const char *actor, char **id, char **err)
{
	struct sq *st = db;
	if (begin_write(st, err))
		return -1;
	long long qid = json_integer_value(json_object_get(f, "queue_id"));
	if (qid > 0) {
		int done = queued_recorded(st, qid, id, err);
		if (done) {
			rollback_write(st);
			return done;
		}
	}
	sqlite3_stmt *q;
	long long n = 1;
	if (sqlite3_prepare_v2(st->db, "SELECT coalesce(max(n), 0) + 1 FROM incidents", -1, &q, NULL) == SQLITE_OK) {
		if (sqlite3_step(q) == SQLITE_ROW)
			n = sqlite3_column_int64(q, 0);
		sqlite3_finalize(q);
	}
	*id = xasprintf("INC-%lld", n);
	char now[40];
	utc_timestamp(now, sizeof now);
	const char *started = json_string_value(json_object_get(f, "started_at"));
	const char *detected = json_string_value(json_object_get(f, "detected_at"));
	if (detected) /* recorded after the fact */
		snprintf(now, sizeof now, "%s", detected);
	int ok = sqlite3_prepare_v2(st->db,
				    "INSERT INTO incidents (n, id, title, severity, status, started_at, detected_at, "
				    "fingerprint, runbook, component, repeat_of) VALUES (?, ?, ?, ?, 'triggered', ?, ?, ?, ?, ?, ?)",
				    -1, &q, NULL) == SQLITE_OK;
	if (ok) {
		sqlite3_bind_int64(q, 1, n);
		sqlite3_bind_text(q, 2, *id, -1, SQLITE_STATIC);
		sqlite3_bind_text(q, 3, json_string_value(json_object_get(f, "title")), -1, SQLITE_STATIC);
		sqlite3_bind_text(q, 4, json_string_value(json_object_get(f, "severity")), -1, SQLITE_STATIC);
		sqlite3_bind_text(q, 5, started ? started : now, -1, SQLITE_STATIC);
		sqlite3_bind_text(q, 6, now, -1, SQLITE_STATIC);
		sqlite3_bind_text(q, 7, json_string_value(json_object_get(f, "fingerprint")), -1, SQLITE_STATIC);
		sqlite3_bind_text(q, 8, json_string_value(json_object_get(f, "runbook")), -1, SQLITE_STATIC);
		sqlite3_bind_text(q, 9, json_string_value(json_object_get(f, "component")), -1, SQLITE_STATIC);
		sqlite3_bind_text(q, 10, json_string_value(json_object_get(f, "repeat_of")), -1, SQLITE_STATIC);
		ok = sqlite3_step(q) == SQLITE_DONE;
		sqlite3_finalize(q);
	}
	if (!ok)
		*err = xasprintf("%s: %s", st->path, sqlite3_errmsg(st->db));
	if (ok) {
		/* an incident opened for an alert begins with that alert */
		json_t *alert = json_object_get(f, "alert"), *opened = store_opened_data(f);
		if (alert) {
			char *as = store_alert_summary(alert);
			ok = append_locked(st, *id, "alert", actor, as, alert, NULL, err) == 0;
			free(as);
		}
		char *summary = xasprintf("%s opened: %s", *id, json_string_value(json_object_get(f, "title")));
		ok = ok && append_locked(st, *id, "incident.opened", actor, summary, opened, NULL, err) == 0;
		free(summary);
		json_decref(opened);
		if (ok && qid > 0)
			ok = queued_mark(st, qid, *id, json_string_value(json_object_get(f, "diagnose")), NULL, err) == 0;
	}
	if (commit_or_rollback(st, ok, err)) {
		free(*id);
		*id = NULL;
		return -1;
	}
	return 0;
}

static json_t *row_incident(sqlite3_stmt *q)
{
	json_t *o = json_object();
	for (int i = 0; i < (int)store_nincident_cols; i++) {
		const char *v = text_or_null(q, i);
		json_object_set_new(o, store_incident_cols[i], v ? json_string(v) : json_null());
	}
	return o;
}

/* The incidents that `where` (with one parameter, val) selects, in its order. */
static json_t *select_incidents(struct sq *st, const char *where, const char *val, char **err)
{
	struct sbuf sql;
	sbuf_init(&sql);
	sbuf_adds(&sql, "SELECT ");
	for (size_t i = 0; i < store_nincident_cols; i++)
		sbuf_addf(&sql, "%s%s", i ? ", " : "", store_incident_cols[i]);
	sbuf_adds(&sql, " FROM incidents");
	sbuf_adds(&sql, where);
	sqlite3_stmt *q = stmt(st, sql.buf); /* one of a few texts: triage asks for every alert */
	sbuf_release(&sql);
	if (!q) {
		*err = xasprintf("%s: %s", st->path, sqlite3_errmsg(st->db));
		return NULL;
	}
	if (val)
		sqlite3_bind_text(q, 1, val, -1, SQLITE_STATIC);
	json_t *a = json_array();
	while (sqlite3_step(q) == SQLITE_ROW)
		json_array_append_new(a, row_incident(q));
	stmt_done(st, q);
	return a;
}

static json_t *sq_incidents(void *db, const char *col, const char *val, char **err)
{
	char where[64] = " ORDER BY n DESC";
	if (col) /* one of a fixed few, checked by store.c */
		snprintf(where, sizeof where, " WHERE %s = ? ORDER BY n DESC", col);
	return select_incidents(db, where, col ? val : NULL, err);
}

static json_t *sq_latest(void *db, const char *fingerprint, char **err)
{
	return select_incidents(db, STORE_LATEST_WHERE("incidents", "?1") " ORDER BY n DESC", fingerprint, err);
}

static int sq_incident_update(void *db, const char *id, json_t *changes, const char *kind, const char *actor,
			      const char *summary, json_t *data, char **err)
{
	struct sq *st = db;
	if (begin_write(st, err))
		return -1;
	int ok = 1;
	const char *k;
	json_t *v;
	json_object_foreach(changes, k, v) {
		char *sql = xasprintf("UPDATE incidents SET %s = ? WHERE id = ?", k); /* k is one of incident_cols */
		sqlite3_stmt *q;
		ok = sqlite3_prepare_v2(st->db, sql, -1, &q, NULL) == SQLITE_OK;
		free(sql);
		if (!ok)
			break;
		if (json_is_null(v))
			sqlite3_bind_null(q, 1);
		else
			sqlite3_bind_text(q, 1, json_string_value(v), -1, SQLITE_STATIC);
		sqlite3_bind_text(q, 2, id, -1, SQLITE_STATIC);
		ok = sqlite3_step(q) == SQLITE_DONE;
		sqlite3_finalize(q);
		if (!ok)
			break;
	}
	if (!ok && !*err)
		*err = xasprintf("%s: %s", st->path, sqlite3_errmsg(st->db));
	if (ok)
		ok = append_locked(st, id, kind, actor, summary, data, NULL, err) == 0;
	return commit_or_rollback(st, ok, err);
}

/* Seconds to the millisecond: julianday() is exact to ~30 us here, and
 * SQLite's round() is slow (it prints) - a cast is not. */
#define MS(x) "(CAST((" x ") * 1000 + 0.5 AS INTEGER) / 1000.0)"

static json_t *sq_metrics(void *db, const char *since, const char *until, const char *now, char **err)
{
	struct sq *st = db;
	double now_s = 0; /* now, in the same seconds as the rows */
	sqlite3_stmt *nq;
	if (sqlite3_prepare_v2(st->db, "SELECT julianday(?) * 86400", -1, &nq, NULL) == SQLITE_OK) {
		sqlite3_bind_text(nq, 1, now, -1, SQLITE_STATIC);
		if (sqlite3_step(nq) == SQLITE_ROW)
			now_s = sqlite3_column_double(nq, 0);
		sqlite3_finalize(nq);
	}
	/* each time parsed once per row (as seconds), then plain arithmetic */
	static const char *const sums_sql =
		"SELECT severity, count(*),"
		" total(" MS("d - s") "), count(s), total(" MS("a - d") "), count(a), total(" MS("r - d") "), count(r),"
		" total(a IS NOT NULL AND " MS("a - d") " <= t), total(a IS NOT NULL OR ?3 - d > t),"
		" count(repeat_of), count(r), total(resolution = 'false-positive')"
		" FROM (SELECT severity, repeat_of, resolution, " STORE_ACK_TARGET_SQL " AS t,"
		"   detected_s AS d, started_s AS s, acknowledged_s AS a, resolved_s AS r"
		"   FROM incidents WHERE detected_at >= ?1 AND detected_at <= ?2)"
		" GROUP BY severity";
	/* the gaps between consecutive starts of one component add up to its
	 * last start minus its first: no window, no sort */
	static const char *const mtbf_sql =
		"SELECT total(" MS("mx - mn") "), total(k - 1) FROM (SELECT max(s) AS mx, min(s) AS mn, count(s) AS k"
		" FROM (SELECT coalesce(component, '') AS c, started_s AS s FROM incidents"
		"   WHERE detected_at >= ?1 AND detected_at <= ?2 AND started_at IS NOT NULL) GROUP BY c)";
	static const char *const cols[] = STORE_METRICS_COLS;
	json_t *by = json_object(), *mtbf = NULL;
	sqlite3_stmt *q;
	int ok = sqlite3_prepare_v2(st->db, sums_sql, -1, &q, NULL) == SQLITE_OK;
	if (ok) {
		sqlite3_bind_text(q, 1, since, -1, SQLITE_STATIC);
		sqlite3_bind_text(q, 2, until, -1, SQLITE_STATIC);
		sqlite3_bind_double(q, 3, now_s);
		int rc;
		while ((rc = sqlite3_step(q)) == SQLITE_ROW) {
			json_t *row = json_object();
			for (int c = 1; c < (int)ARRAY_LEN(cols); c++)
				json_object_set_new(row, cols[c], json_real(sqlite3_column_double(q, c)));
			json_object_set_new(by, (const char *)sqlite3_column_text(q, 0), row);
		}
		ok = rc == SQLITE_DONE;
		sqlite3_finalize(q);
	}
	if (ok && (ok = sqlite3_prepare_v2(st->db, mtbf_sql, -1, &q, NULL) == SQLITE_OK)) {
		sqlite3_bind_text(q, 1, since, -1, SQLITE_STATIC);
		sqlite3_bind_text(q, 2, until, -1, SQLITE_STATIC);
		if ((ok = sqlite3_step(q) == SQLITE_ROW))
			mtbf = json_pack("{s:f, s:f}", "sum", sqlite3_column_double(q, 0), "n", sqlite3_column_double(q, 1));
		sqlite3_finalize(q);
	}
	if (!ok) {
		*err = xasprintf("%s: %s", st->path, sqlite3_errmsg(st->db));
		json_decref(by);
		json_decref(mtbf);
		return NULL;
	}
	return json_pack("{s:o, s:o}", "by_severity", by, "mtbf", mtbf);
}

static json_t *sq_events(void *db, const char *incident, char **err)
{
	struct sq *st = db;
	sqlite3_stmt *q;
	if (sqlite3_prepare_v2(st->db,
			       "SELECT seq, time, kind, actor, summary, data, prev_hash, hash FROM events "
			       "WHERE incident = ? ORDER BY seq",
			       -1, &q, NULL) != SQLITE_OK) {
		*err = xasprintf("%s: %s", st->path, sqlite3_errmsg(st->db));
		return NULL;
	}
	sqlite3_bind_text(q, 1, incident, -1, SQLITE_STATIC);
	json_t *a = json_array();
	while (sqlite3_step(q) == SQLITE_ROW) {
		json_t *data = json_loads(text_or_null(q, 5) ? text_or_null(q, 5) : "null", JSON_DECODE_ANY | JSON_ALLOW_NUL, NULL);
		json_t *e = json_pack("{s:s, s:I, s:s?, s:s?, s:s?, s:s?, s:o, s:s?, s:s?}", "incident", incident, "seq",
				      (json_int_t)sqlite3_column_int64(q, 0), "time", text_or_null(q, 1), "kind",
				      text_or_null(q, 2), "actor", text_or_null(q, 3), "summary", text_or_null(q, 4), "data",
				      data ? data : json_string("(unreadable data)"), "prev_hash", text_or_null(q, 6), "hash",
				      text_or_null(q, 7));
		if (e)
			json_array_append_new(a, e);
	}
	sqlite3_finalize(q);
	return a;
}

/* ---- the alert queue (serve's durable intake) ----
 * One serve process owns the file's queue; its triage threads claim from
 * it under BEGIN IMMEDIATE (one writer at a time), oldest first, never an
 * alert whose key has an older one still to do - so one key's alerts go
 * one at a time, in order. */

static int sq_enqueue(void *db, struct queued *q, size_t n, char **err)
{
	struct sq *st = db;
	if (begin_write_as(st, 1, err)) /* a request waits for this */
		return -1;
	char now[40];
	utc_timestamp(now, sizeof now);
	sqlite3_stmt *ins;
	int ok = (ins = stmt(st, "INSERT INTO alert_queue (received_at, source, key, alert) VALUES (?, ?, ?, ?)")) != NULL;
	for (size_t i = 0; ok && i < n; i++) {
		sqlite3_bind_text(ins, 1, now, -1, SQLITE_STATIC);
		sqlite3_bind_text(ins, 2, q[i].source, -1, SQLITE_STATIC);
		sqlite3_bind_text(ins, 3, q[i].key, -1, SQLITE_STATIC);
		sqlite3_bind_text(ins, 4, q[i].text, -1, SQLITE_STATIC);
		ok = sqlite3_step(ins) == SQLITE_DONE;
		sqlite3_reset(ins);
		q[i].id = sqlite3_last_insert_rowid(st->db);
	}
	stmt_done(st, ins);
	if (!ok && !*err)
		*err = xasprintf("%s: %s", st->path, sqlite3_errmsg(st->db));
	return commit_or_rollback(st, ok, err);
}

/* The heads are each key's oldest alert still to do; a claim takes the
 * oldest head nobody holds. Found in two steps, so that a storm of one
 * key's alerts does not make every claim read all of them:
 *  - among the 64 oldest alerts still to do, in order (most claims stop
 *    at the first);
 *  - else key by key (a skip scan of the index on (key, id): as many
 *    lookups as keys still to do, not as alerts). */
static const char *const free_head_sql[] = {
	"SELECT q.id FROM alert_queue q WHERE q.done_at IS NULL"
	" AND q.id <= coalesce((SELECT id FROM alert_queue WHERE done_at IS NULL ORDER BY id LIMIT 1 OFFSET 63),"
	"   9223372036854775807)"
	" AND (q.claimed_until IS NULL OR q.claimed_until < ?1)"
	" AND NOT EXISTS (SELECT 1 FROM alert_queue o WHERE o.done_at IS NULL AND o.key = q.key AND o.id < q.id)"
	" ORDER BY q.id LIMIT 1",
	"WITH RECURSIVE k(key) AS (SELECT min(key) FROM alert_queue WHERE done_at IS NULL"
	"  UNION ALL SELECT (SELECT min(key) FROM alert_queue WHERE done_at IS NULL AND key > k.key) FROM k"
	"  WHERE k.key IS NOT NULL)"
	" SELECT h.id FROM k JOIN alert_queue h ON h.id = (SELECT min(id) FROM alert_queue WHERE done_at IS NULL"
	"   AND key = k.key)"
	" WHERE h.claimed_until IS NULL OR h.claimed_until < ?1 ORDER BY h.id LIMIT 1",
};

/* The oldest head nobody holds (0: none); -1 on a database error. */
static long long free_head(struct sq *st, double now)
{
	for (size_t i = 0; i < ARRAY_LEN(free_head_sql); i++) {
		sqlite3_stmt *q = stmt(st, free_head_sql[i]);
		if (!q)
			return -1;
		sqlite3_bind_double(q, 1, now);
		int rc = sqlite3_step(q);
		long long id = rc == SQLITE_ROW ? sqlite3_column_int64(q, 0) : 0;
		stmt_done(st, q);
		if (rc != SQLITE_ROW && rc != SQLITE_DONE)
			return -1;
		if (id)
			return id;
	}
	return 0;
}

static int sq_claim(void *db, const char *owner, int lease_s, json_t **item, char **err)
{
	struct sq *st = db;
	*item = NULL;
	/* the oldest free head is found by reading, without the write lock,
	 * then taken with one conditional UPDATE (a compare and set: a head
	 * stays the head until it is done) */
	for (int tries = 0; tries < 16; tries++) {
		double now = epoch_now();
		long long id = free_head(st, now);
		if (id < 0)
			goto dberr;
		if (!id)
			return 0;
		sqlite3_stmt *q;
		int rc;
		if (!(q = stmt(st, "UPDATE alert_queue SET claimed_by = ?1, claimed_until = ?2, attempts = attempts + 1"
				   " WHERE id = ?3 AND done_at IS NULL AND (claimed_until IS NULL OR claimed_until < ?4)")))
			goto dberr;
		sqlite3_bind_text(q, 1, owner, -1, SQLITE_STATIC);
		sqlite3_bind_double(q, 2, now + lease_s);
		sqlite3_bind_int64(q, 3, id);
		sqlite3_bind_double(q, 4, now);
		/* a claim is committed without waiting for the disk: only this
		 * process claims from the file, and a serve that starts forgets
		 * the claims of the one before (sq_queue_reset); what the alert
		 * records is durable as always. One fsync an alert less. */
		wlock_take(st->wlock);
		if (!st->lazy)
			sqlite3_exec(st->db, "PRAGMA synchronous=NORMAL", NULL, NULL, NULL);
		rc = sqlite3_step(q);
		int taken = rc == SQLITE_DONE && sqlite3_changes(st->db) == 1;
		stmt_done(st, q);
		int synced = st->lazy || sqlite3_exec(st->db, "PRAGMA synchronous=FULL", NULL, NULL, NULL) == SQLITE_OK;
		wlock_give(st->wlock);
		if (rc != SQLITE_DONE || !synced) /* the caller drops a connection that could not sync again */
			goto dberr;
		if (!taken)
			continue; /* another thread took it first */
		if (!(q = stmt(st, "SELECT key, alert, incident, diagnose, attempts FROM alert_queue WHERE id = ?")))
			goto dberr;
		sqlite3_bind_int64(q, 1, id);
		if (sqlite3_step(q) == SQLITE_ROW) {
			json_t *alert = json_loads(text_or_null(q, 1), 0, NULL);
			*item = json_pack("{s:I, s:s, s:o, s:s?, s:s?, s:I}", "id", (json_int_t)id, "key", text_or_null(q, 0),
					  "alert", alert ? alert : json_object(), "incident", text_or_null(q, 2), "diagnose",
					  text_or_null(q, 3), "attempts", (json_int_t)sqlite3_column_int64(q, 4));
		}
		stmt_done(st, q);
		if (!*item)
			goto dberr;
		return 1;
	}
	return 0;
dberr:
	*err = xasprintf("%s: %s", st->path, sqlite3_errmsg(st->db));
	return -1;
}

static int sq_queue_done(void *db, json_t *item, json_t *result, char **err)
{
	struct sq *st = db;
	char now[40];
	utc_timestamp(now, sizeof now);
	char *r = json_dumps(result, JSON_COMPACT | JSON_SORT_KEYS | JSON_ENCODE_ANY);
	sqlite3_stmt *q;
	int ok = (q = stmt(st, "UPDATE alert_queue SET done_at = ?, result = ?, claimed_until = NULL"
			   " WHERE id = ? AND done_at IS NULL")) != NULL;
	if (ok) {
		sqlite3_bind_text(q, 1, now, -1, SQLITE_STATIC);
		sqlite3_bind_text(q, 2, r, -1, SQLITE_STATIC);
		sqlite3_bind_int64(q, 3, json_integer_value(json_object_get(item, "id")));
		wlock_take(st->wlock);
		ok = sqlite3_step(q) == SQLITE_DONE;
		wlock_give(st->wlock);
		stmt_done(st, q);
	}
	free(r);
	if (!ok)
		*err = xasprintf("%s: %s", st->path, sqlite3_errmsg(st->db));
	return ok ? 0 : -1;
}

/* One statement with an optional text and real parameter; -1 with *err. */
static int sq_run(struct sq *st, const char *sql, const char *text, double real, char **err)
{
	sqlite3_stmt *q;
	int ok = sqlite3_prepare_v2(st->db, sql, -1, &q, NULL) == SQLITE_OK;
	if (ok) {
		if (sqlite3_bind_parameter_count(q) >= 1)
			sqlite3_bind_text(q, 1, text, -1, SQLITE_STATIC);
		if (sqlite3_bind_parameter_count(q) >= 2)
			sqlite3_bind_double(q, 2, real);
		wlock_take(st->wlock);
		int rc = sqlite3_step(q);
		wlock_give(st->wlock);
		ok = rc == SQLITE_DONE || rc == SQLITE_ROW;
		sqlite3_finalize(q);
	}
	if (!ok)
		*err = xasprintf("%s: %s", st->path, sqlite3_errmsg(st->db));
	return ok ? 0 : -1;
}

static int sq_heartbeat(void *db, const char *owner, int lease_s, char **err)
{
	return sq_run(db, "UPDATE alert_queue SET claimed_until = ?2 WHERE claimed_by = ?1 AND done_at IS NULL",
		      owner, epoch_now() + lease_s, err);
}

/* serve starting on this file: whoever claimed before is gone. */
static int sq_queue_reset(void *db, char **err)
{
	return sq_run(db, "UPDATE alert_queue SET claimed_until = NULL WHERE done_at IS NULL", NULL, 0, err);
}

static long long sq_queue_prune(void *db, const char *before, int batch, char **err)
{
	struct sq *st = db;
	sqlite3_stmt *q;
	long long n = -1;
	if (sqlite3_prepare_v2(st->db, "DELETE FROM alert_queue WHERE id IN (SELECT id FROM"
				       " (SELECT id, done_at FROM alert_queue ORDER BY id LIMIT ?3)"
				       " WHERE done_at IS NOT NULL AND done_at < ?1 LIMIT ?2)", -1, &q, NULL) == SQLITE_OK) {
		sqlite3_bind_text(q, 1, before, -1, SQLITE_STATIC);
		sqlite3_bind_int(q, 2, batch);
		sqlite3_bind_int(q, 3, batch * STORE_PRUNE_SCAN);
		wlock_take(st->wlock);
		if (sqlite3_step(q) == SQLITE_DONE)
			n = sqlite3_changes(st->db);
		wlock_give(st->wlock);
		sqlite3_finalize(q);
	}
	if (n < 0)
		*err = xasprintf("%s: %s", st->path, sqlite3_errmsg(st->db));
	return n;
}

static long long sq_queue_depth(void *db, char **err)
{
	struct sq *st = db;
	sqlite3_stmt *q;
	long long n = -1;
	if (sqlite3_prepare_v2(st->db, "SELECT count(*) FROM alert_queue WHERE done_at IS NULL", -1, &q, NULL) == SQLITE_OK) {
		if (sqlite3_step(q) == SQLITE_ROW)
			n = sqlite3_column_int64(q, 0);
		sqlite3_finalize(q);
	}
	if (n < 0)
		*err = xasprintf("%s: %s", st->path, sqlite3_errmsg(st->db));
	return n;
}

static int sq_claim_once(void *db, const char *name, char **err)
{
	struct sq *st = db;
	char now[40];
	utc_timestamp(now, sizeof now);
	sqlite3_stmt *q;
	int rc = -1;
	if (sqlite3_prepare_v2(st->db, "INSERT OR IGNORE INTO claims VALUES (?, ?)", -1, &q, NULL) == SQLITE_OK) {
		sqlite3_bind_text(q, 1, name, -1, SQLITE_STATIC);
		sqlite3_bind_text(q, 2, now, -1, SQLITE_STATIC);
		wlock_take(st->wlock);
		if (sqlite3_step(q) == SQLITE_DONE)
			rc = sqlite3_changes(st->db) == 1;
		wlock_give(st->wlock);
		sqlite3_finalize(q);
	}
	if (rc < 0)
		*err = xasprintf("%s: %s", st->path, sqlite3_errmsg(st->db));
	return rc;
}

const struct store_backend store_sqlite = {
	.name = "sqlite",
	.accepts = sq_accepts,
	.open = sq_open,
	.close = sq_close,
	.lazy = sq_lazy,
	.incident_create = sq_incident_create,
	.incidents = sq_incidents,
	.latest = sq_latest,
	.incident_update = sq_incident_update,
	.append = sq_append,
	.append_many = sq_append_many,
	.events = sq_events,
	.metrics = sq_metrics,
	.enqueue = sq_enqueue,
	.claim = sq_claim,
	.queue_done = sq_queue_done,
	.heartbeat = sq_heartbeat,
	.queue_reset = sq_queue_reset,
	.queue_prune = sq_queue_prune,
	.queue_depth = sq_queue_depth,
	.claim_once = sq_claim_once,
};
