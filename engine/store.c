/*
 * store: incidents and events in SQLite. See store.h.
 *
 * Durability: WAL with synchronous=FULL, so a COMMIT is on disk when it
 * returns. Appends run in BEGIN IMMEDIATE transactions, which serialise
 * writers across processes: the next seq and prev_hash are read and the
 * new event written under one write lock, so concurrent appenders never
 * duplicate a seq or fork the chain. Triggers refuse UPDATE and DELETE on
 * events; the hash chain shows any change made around them.
 */
#define _POSIX_C_SOURCE 200809L
#include "store.h"
#include "util.h"

#include <errno.h>
#include <openssl/evp.h>
#include <pwd.h>
#include <sqlite3.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#define ZERO_HASH "0000000000000000000000000000000000000000000000000000000000000000"

struct store {
	sqlite3 *db;
	char *path;
};

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
};

char *store_default_url(const char *url)
{
	if (url && *url)
		return xstrdup(url);
	const char *env = getenv("RUNBOOK_STORE");
	if (env && *env)
		return xstrdup(env);
	const char *state = getenv("XDG_STATE_HOME"), *home = getenv("HOME");
	if (state && *state)
		return xasprintf("sqlite:%s/runbook/runbook.db", state);
	return xasprintf("sqlite:%s/.local/state/runbook/runbook.db", home && *home ? home : ".");
}

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

static int exec_sql(struct store *st, const char *sql, char **err)
{
	char *m = NULL;
	if (sqlite3_exec(st->db, sql, NULL, NULL, &m) != SQLITE_OK) {
		*err = xasprintf("%s: %s", st->path, m ? m : sqlite3_errmsg(st->db));
		sqlite3_free(m);
		return -1;
	}
	return 0;
}

static int migrate(struct store *st, char **err)
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

struct store *store_open(const char *url, char **err)
{
	char *u = store_default_url(url);
	if (strncmp(u, "sqlite:", 7)) {
		*err = xasprintf("store '%s': only sqlite:PATH stores are available in this build", u);
		free(u);
		return NULL;
	}
	struct store *st = xcalloc(1, sizeof *st);
	st->path = xstrdup(u + 7);
	free(u);
	char *dir = xstrdup(st->path), *slash = strrchr(dir, '/');
	if (slash && slash != dir) {
		*slash = '\0';
		if (mkdirs(dir)) {
			*err = xasprintf("cannot create %s: %s", dir, strerror(errno));
			free(dir);
			store_close(st);
			return NULL;
		}
	}
	free(dir);
	if (sqlite3_open_v2(st->path, &st->db, SQLITE_OPEN_READWRITE | SQLITE_OPEN_CREATE | SQLITE_OPEN_FULLMUTEX,
			    NULL) != SQLITE_OK) {
		*err = xasprintf("cannot open the store %s: %s", st->path, st->db ? sqlite3_errmsg(st->db) : "out of memory");
		store_close(st);
		return NULL;
	}
	sqlite3_busy_timeout(st->db, 30000);
	if (exec_sql(st, "PRAGMA journal_mode=WAL", err) || exec_sql(st, "PRAGMA synchronous=FULL", err) ||
	    exec_sql(st, "PRAGMA foreign_keys=ON", err) || migrate(st, err)) {
		store_close(st);
		return NULL;
	}
	return st;
}

void store_close(struct store *st)
{
	if (!st)
		return;
	if (st->db)
		sqlite3_close(st->db);
	free(st->path);
	free(st);
}

char *store_actor(void)
{
	struct passwd *pw = getpwuid(getuid());
	char host[256] = "localhost";
	gethostname(host, sizeof host - 1);
	return xasprintf("%s@%s", pw ? pw->pw_name : "unknown", host);
}

char *store_canonical_event(json_t *ev)
{
	json_t *c = json_pack("{s:O, s:O, s:O, s:O, s:O, s:O, s:O}", "incident", json_object_get(ev, "incident"), "seq",
			      json_object_get(ev, "seq"), "time", json_object_get(ev, "time"), "kind",
			      json_object_get(ev, "kind"), "actor", json_object_get(ev, "actor"), "summary",
			      json_object_get(ev, "summary"), "data", json_object_get(ev, "data"));
	char *s = c ? json_dumps(c, JSON_COMPACT | JSON_SORT_KEYS | JSON_ENCODE_ANY) : NULL;
	json_decref(c);
	return s ? s : xstrdup("");
}

void store_event_hash(const char *prev_hash, const char *canonical, char out[65])
{
	unsigned char md[EVP_MAX_MD_SIZE];
	unsigned int n = 0;
	EVP_MD_CTX *ctx = EVP_MD_CTX_new();
	EVP_DigestInit_ex(ctx, EVP_sha256(), NULL);
	EVP_DigestUpdate(ctx, prev_hash, strlen(prev_hash));
	EVP_DigestUpdate(ctx, canonical, strlen(canonical));
	EVP_DigestFinal_ex(ctx, md, &n);
	EVP_MD_CTX_free(ctx);
	for (unsigned i = 0; i < 32; i++)
		snprintf(out + 2 * i, 3, "%02x", md[i]);
}

static const char *text_or_null(sqlite3_stmt *q, int col)
{
	return sqlite3_column_type(q, col) == SQLITE_NULL ? NULL : (const char *)sqlite3_column_text(q, col);
}

/* Appends inside an open write transaction. */
static int append_locked(struct store *st, const char *incident, const char *kind, const char *actor,
			 const char *summary, json_t *data, char **err)
{
	sqlite3_stmt *q;
	long long seq = 1;
	char prev[65] = ZERO_HASH;
	if (sqlite3_prepare_v2(st->db, "SELECT seq, hash FROM events WHERE incident = ? ORDER BY seq DESC LIMIT 1", -1,
			       &q, NULL) != SQLITE_OK)
		goto dberr;
	sqlite3_bind_text(q, 1, incident, -1, SQLITE_STATIC);
	if (sqlite3_step(q) == SQLITE_ROW) {
		seq = sqlite3_column_int64(q, 0) + 1;
		snprintf(prev, sizeof prev, "%s", (const char *)sqlite3_column_text(q, 1));
	}
	sqlite3_finalize(q);
	char time[40];
	utc_timestamp(time, sizeof time);
	json_t *ev = json_pack("{s:s, s:I, s:s, s:s, s:s, s:s, s:O}", "incident", incident, "seq", (json_int_t)seq, "time",
			       time, "kind", kind, "actor", actor, "summary", summary, "data", data ? data : json_null());
	if (!ev) {
		*err = xstrdup("the event is not valid UTF-8");
		return -1;
	}
	char *canon = store_canonical_event(ev);
	char *datas = json_dumps(json_object_get(ev, "data"), JSON_COMPACT | JSON_SORT_KEYS | JSON_ENCODE_ANY);
	char hash[65];
	store_event_hash(prev, canon, hash);
	free(canon);
	json_decref(ev);
	int rc = sqlite3_prepare_v2(st->db, "INSERT INTO events VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?)", -1, &q, NULL);
	if (rc == SQLITE_OK) {
		sqlite3_bind_text(q, 1, incident, -1, SQLITE_STATIC);
		sqlite3_bind_int64(q, 2, seq);
		sqlite3_bind_text(q, 3, time, -1, SQLITE_STATIC);
		sqlite3_bind_text(q, 4, kind, -1, SQLITE_STATIC);
		sqlite3_bind_text(q, 5, actor, -1, SQLITE_STATIC);
		sqlite3_bind_text(q, 6, summary, -1, SQLITE_STATIC);
		sqlite3_bind_text(q, 7, datas, -1, SQLITE_STATIC);
		sqlite3_bind_text(q, 8, prev, -1, SQLITE_STATIC);
		sqlite3_bind_text(q, 9, hash, -1, SQLITE_STATIC);
		rc = sqlite3_step(q) == SQLITE_DONE ? SQLITE_OK : SQLITE_ERROR;
		sqlite3_finalize(q);
	}
	free(datas);
	if (rc == SQLITE_OK)
		return 0;
dberr:
	*err = xasprintf("%s: %s", st->path, sqlite3_errmsg(st->db));
	return -1;
}

static int commit_or_rollback(struct store *st, int ok, char **err)
{
	if (ok && exec_sql(st, "COMMIT", err) == 0)
		return 0;
	sqlite3_exec(st->db, "ROLLBACK", NULL, NULL, NULL);
	return -1;
}

int store_append(struct store *st, const char *incident, const char *kind, const char *actor, const char *summary,
		 json_t *data, char **err)
{
	if (exec_sql(st, "BEGIN IMMEDIATE", err))
		return -1;
	return commit_or_rollback(st, append_locked(st, incident, kind, actor, summary, data, err) == 0, err);
}

int store_incident_create(struct store *st, json_t *f, const char *actor, char **id, char **err)
{
	if (exec_sql(st, "BEGIN IMMEDIATE", err))
		return -1;
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
	int ok = sqlite3_prepare_v2(st->db,
				    "INSERT INTO incidents (n, id, title, severity, status, started_at, detected_at, "
				    "fingerprint, runbook, component) VALUES (?, ?, ?, ?, 'triggered', ?, ?, ?, ?, ?)",
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
		ok = sqlite3_step(q) == SQLITE_DONE;
		sqlite3_finalize(q);
	}
	if (!ok)
		*err = xasprintf("%s: %s", st->path, sqlite3_errmsg(st->db));
	if (ok) {
		char *summary = xasprintf("%s opened: %s", *id, json_string_value(json_object_get(f, "title")));
		ok = append_locked(st, *id, "incident.opened", actor, summary, f, err) == 0;
		free(summary);
	}
	if (commit_or_rollback(st, ok, err)) {
		free(*id);
		*id = NULL;
		return -1;
	}
	return 0;
}

static const char *const incident_cols[] = {"id", "title", "severity", "status", "started_at", "detected_at",
	"acknowledged_at", "resolved_at", "fingerprint", "runbook", "component", "commander", "resolution"};

static json_t *row_incident(sqlite3_stmt *q)
{
	json_t *o = json_object();
	for (int i = 0; i < (int)ARRAY_LEN(incident_cols); i++) {
		const char *v = text_or_null(q, i);
		json_object_set_new(o, incident_cols[i], v ? json_string(v) : json_null());
	}
	return o;
}

static json_t *query_incidents(struct store *st, const char *id, char **err)
{
	struct sbuf sql;
	sbuf_init(&sql);
	sbuf_adds(&sql, "SELECT ");
	for (size_t i = 0; i < ARRAY_LEN(incident_cols); i++)
		sbuf_addf(&sql, "%s%s", i ? ", " : "", incident_cols[i]);
	sbuf_adds(&sql, id ? " FROM incidents WHERE id = ?" : " FROM incidents ORDER BY n DESC");
	sqlite3_stmt *q;
	if (sqlite3_prepare_v2(st->db, sql.buf, -1, &q, NULL) != SQLITE_OK) {
		*err = xasprintf("%s: %s", st->path, sqlite3_errmsg(st->db));
		sbuf_release(&sql);
		return NULL;
	}
	sbuf_release(&sql);
	if (id)
		sqlite3_bind_text(q, 1, id, -1, SQLITE_STATIC);
	json_t *a = json_array();
	while (sqlite3_step(q) == SQLITE_ROW)
		json_array_append_new(a, row_incident(q));
	sqlite3_finalize(q);
	return a;
}

json_t *store_incident_get(struct store *st, const char *id, char **err)
{
	json_t *a = query_incidents(st, id, err);
	if (!a)
		return NULL;
	json_t *o = json_incref(json_array_get(a, 0));
	json_decref(a);
	if (!o)
		*err = xasprintf("no incident %s in %s", id, st->path);
	return o;
}

json_t *store_incident_list(struct store *st, char **err)
{
	return query_incidents(st, NULL, err);
}

int store_incident_update(struct store *st, const char *id, json_t *changes, const char *kind, const char *actor,
			  const char *summary, json_t *data, char **err)
{
	if (exec_sql(st, "BEGIN IMMEDIATE", err))
		return -1;
	int ok = 1;
	const char *k;
	json_t *v;
	json_object_foreach(changes, k, v) {
		int known = 0;
		for (size_t i = 1; i < ARRAY_LEN(incident_cols); i++)
			known |= !strcmp(k, incident_cols[i]);
		if (!known) {
			*err = xasprintf("cannot change '%s' of an incident", k);
			ok = 0;
			break;
		}
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
		ok = append_locked(st, id, kind, actor, summary, data, err) == 0;
	return commit_or_rollback(st, ok, err);
}

json_t *store_events(struct store *st, const char *incident, char **err)
{
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
		json_t *data = json_loads(text_or_null(q, 5) ? text_or_null(q, 5) : "null", JSON_DECODE_ANY, NULL);
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

char *store_verify(json_t *events)
{
	const char *prev = ZERO_HASH;
	size_t i;
	json_t *e;
	json_array_foreach(events, i, e) {
		json_int_t seq = json_integer_value(json_object_get(e, "seq"));
		const char *kind = json_string_value(json_object_get(e, "kind"));
		if (seq != (json_int_t)i + 1)
			return xasprintf("event %lld is missing or out of place (found event %lld, %s, at position %zu)",
					 (long long)i + 1, (long long)seq, kind ? kind : "?", i + 1);
		const char *ph = json_string_value(json_object_get(e, "prev_hash"));
		if (!ph || strcmp(ph, prev))
			return xasprintf("event %lld (%s) does not follow event %lld: the chain is broken", (long long)seq,
					 kind ? kind : "?", (long long)seq - 1);
		char *canon = store_canonical_event(e);
		char h[65];
		store_event_hash(prev, canon, h);
		free(canon);
		const char *stored = json_string_value(json_object_get(e, "hash"));
		if (!stored || strcmp(stored, h))
			return xasprintf("event %lld (%s, %s) was changed: its content does not match its hash", (long long)seq,
					 kind ? kind : "?", json_string_value(json_object_get(e, "time")));
		prev = stored;
	}
	return NULL;
}
