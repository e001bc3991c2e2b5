/*
 * Timeline store tests: the lifecycle, the hash chain and its verification
 * against edits, deletions and reorderings made directly in the database,
 * and many processes appending to one incident at once. The same tests run
 * on SQLite (suite "store") and, when RUNBOOK_TEST_PG_DSN names a database
 * (tests/sql_test.sh sets it), on PostgreSQL (suite "store-pg").
 */
#define _POSIX_C_SOURCE 200809L
#include "tests.h"
#include "alert.h"
#include "config.h"
#include "pool.h"
#include "store.h"
#include "util.h"

#include <libpq-fe.h>
#include <sqlite3.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

static char dir[64], url[1024], path[128];
static int on_pg;

/* Runs SQL on the database behind the store's back. */
static void raw_sql(const char *sql)
{
	if (on_pg) {
		PGconn *c = PQconnectdb(url);
		ck_assert_int_eq(PQstatus(c), CONNECTION_OK);
		PGresult *r = PQexec(c, sql);
		int good = PQresultStatus(r) == PGRES_COMMAND_OK || PQresultStatus(r) == PGRES_TUPLES_OK;
		ck_assert_msg(good, "%s: %s", sql, PQerrorMessage(c));
		PQclear(r);
		PQfinish(c);
		return;
	}
	sqlite3 *db;
	ck_assert_int_eq(sqlite3_open(path, &db), SQLITE_OK);
	char *m = NULL;
	int rc = sqlite3_exec(db, sql, NULL, NULL, &m);
	ck_assert_msg(rc == SQLITE_OK, "%s: %s", sql, m ? m : "");
	sqlite3_close(db);
}

/* One number from the database, read behind the store's back (PostgreSQL). */
static long long pg_number(const char *sql)
{
	PGconn *c = PQconnectdb(url);
	ck_assert_int_eq(PQstatus(c), CONNECTION_OK);
	PGresult *r = PQexec(c, sql);
	ck_assert_msg(PQresultStatus(r) == PGRES_TUPLES_OK && PQntuples(r) == 1, "%s: %s", sql, PQerrorMessage(c));
	long long v = atoll(PQgetvalue(r, 0, 0));
	PQclear(r);
	PQfinish(c);
	return v;
}

/* pg_number(sql) once every other connection is gone and the number has
 * stayed the same for 200 ms: what closed connections read is reported. */
static long long settled(const char *sql)
{
	long long v = pg_number(sql), last = v - 1;
	for (int i = 0, same = 0; i < 100 && same < 2; i++) {
		nanosleep(&(struct timespec){0, 100000000}, NULL);
		last = v;
		v = pg_number(sql);
		int alone = pg_number("SELECT count(*) FROM pg_stat_activity WHERE datname = current_database()"
				      " AND backend_type = 'client backend' AND pid <> pg_backend_pid()") == 0;
		same = v == last && alone ? same + 1 : 0;
	}
	return v;
}

static void setup(void)
{
	strcpy(dir, "/tmp/runbook-store-XXXXXX");
	ck_assert_ptr_nonnull(mkdtemp(dir));
	snprintf(path, sizeof path, "%s/state/runbook.db", dir);
	snprintf(url, sizeof url, "sqlite:%s", path);
	on_pg = 0;
}

static void setup_pg(void)
{
	setup();
	snprintf(url, sizeof url, "%s", getenv("RUNBOOK_TEST_PG_DSN"));
	on_pg = 1;
	raw_sql("DROP TABLE IF EXISTS runbook_events, runbook_incidents, runbook_schema_version, runbook_alert_queue, "
		"runbook_claims CASCADE;"
		"DROP SEQUENCE IF EXISTS runbook_incident_n; DROP FUNCTION IF EXISTS runbook_events_append_only CASCADE");
}

static void teardown(void)
{
	char *cmd = xasprintf("rm -rf '%s'", dir);
	ck_assert_int_eq(system(cmd), 0);
	free(cmd);
}

static struct store *open_store(void)
{
	char *err = NULL;
	struct store *st = store_open(url, &err);
	ck_assert_msg(st != NULL, "store_open: %s", err);
	return st;
}

static char *new_incident(struct store *st, int events)
{
	json_t *f = json_pack("{s:s, s:s, s:s}", "title", "disk full", "severity", "SEV2", "runbook", "disk");
	char *id = NULL, *err = NULL;
	ck_assert_int_eq(store_incident_create(st, f, "tester@host", &id, &err), 0);
	json_decref(f);
	for (int i = 0; i < events; i++) {
		json_t *d = json_pack("{s:i}", "n", i);
		ck_assert_int_eq(store_append(st, id, "note", "tester@host", "a note", d, &err), 0);
		json_decref(d);
	}
	return id;
}

static char *verify_incident(struct store *st, const char *id)
{
	char *err = NULL;
	json_t *ev = store_events(st, id, &err);
	ck_assert_ptr_nonnull(ev);
	char *bad = store_verify(ev, NULL);
	json_decref(ev);
	return bad;
}

START_TEST(incidents_and_events)
{
	struct store *st = open_store();
	char *a = new_incident(st, 3), *b = new_incident(st, 0);
	ck_assert_str_eq(a, "INC-1");
	ck_assert_str_eq(b, "INC-2");
	char *err = NULL;
	json_t *inc = store_incident_get(st, "INC-1", &err);
	ck_assert_str_eq(json_string_value(json_object_get(inc, "status")), "triggered");
	ck_assert_str_eq(json_string_value(json_object_get(inc, "severity")), "SEV2");
	ck_assert_ptr_nonnull(json_string_value(json_object_get(inc, "detected_at")));
	json_decref(inc);
	json_t *ch = json_pack("{s:s, s:s}", "status", "acknowledged", "acknowledged_at", "2026-11-24T08:00:00.000000Z");
	ck_assert_int_eq(store_incident_update(st, "INC-1", ch, "incident.acknowledged", "t@h", "acked", ch, &err), 0);
	json_decref(ch);
	inc = store_incident_get(st, "INC-1", &err);
	ck_assert_str_eq(json_string_value(json_object_get(inc, "status")), "acknowledged");
	json_decref(inc);
	json_t *ev = store_events(st, "INC-1", &err);
	ck_assert_uint_eq(json_array_size(ev), 5); /* opened, 3 notes, acknowledged */
	ck_assert_str_eq(json_string_value(json_object_get(json_array_get(ev, 0), "kind")), "incident.opened");
	ck_assert_int_eq(json_integer_value(json_object_get(json_array_get(ev, 4), "seq")), 5);
	json_decref(ev);
	ck_assert_ptr_null(verify_incident(st, "INC-1"));
	ck_assert_ptr_null(store_incident_get(st, "INC-9", &err));
	ck_assert_ptr_nonnull(strstr(err, "no incident INC-9"));
	free(err);
	json_t *list = store_incident_list(st, &err);
	ck_assert_str_eq(json_string_value(json_object_get(json_array_get(list, 0), "id")), "INC-2"); /* newest first */
	json_decref(list);
	/* the database itself refuses changes to events */
	if (on_pg) {
		PGconn *c = PQconnectdb(url);
		PGresult *r = PQexec(c, "UPDATE runbook_events SET summary = 'x'");
		ck_assert_int_eq(PQresultStatus(r), PGRES_FATAL_ERROR);
		PQclear(r);
		r = PQexec(c, "DELETE FROM runbook_events");
		ck_assert_int_eq(PQresultStatus(r), PGRES_FATAL_ERROR);
		PQclear(r);
		PQfinish(c);
	} else {
		sqlite3 *db;
		ck_assert_int_eq(sqlite3_open(path, &db), SQLITE_OK);
		ck_assert_int_ne(sqlite3_exec(db, "UPDATE events SET summary = 'x'", NULL, NULL, NULL), SQLITE_OK);
		ck_assert_int_ne(sqlite3_exec(db, "DELETE FROM events", NULL, NULL, NULL), SQLITE_OK);
		sqlite3_close(db);
	}
	free(a);
	free(b);
	store_close(st);
}
END_TEST

/* A write the database refuses (here a CHECK, in a statement the
 * PostgreSQL store sends ahead without waiting) fails whole: an error,
 * nothing recorded, and the connection goes on working. A batch longer
 * than what is sent ahead at once is recorded whole and in order; one
 * refused at the moment that fills it leaves the connection working too. */
START_TEST(refused_writes_and_long_batches)
{
	struct store *st = open_store();
	char *id = new_incident(st, 1), *err = NULL;
	json_t *ch = json_pack("{s:s}", "severity", "SEV9");
	ck_assert_int_eq(store_incident_update(st, id, ch, "incident.severity", "t@h", "to SEV9", ch, &err), -1);
	ck_assert_ptr_nonnull(err);
	free(err);
	err = NULL;
	json_decref(ch);
	json_t *inc = store_incident_get(st, id, &err);
	ck_assert_str_eq(json_string_value(json_object_get(inc, "severity")), "SEV2");
	json_decref(inc);
	json_t *ev = store_events(st, id, &err);
	ck_assert_uint_eq(json_array_size(ev), 2); /* opened, one note: nothing of the refused change */
	json_decref(ev);
	json_t *many = json_array();
	for (int i = 0; i < 75; i++)
		json_array_append_new(many, json_pack("{s:s, s:s, s:{s:i}}", "kind", "step.finished", "summary", "s", "data", "n", i));
	ck_assert_msg(store_append_many(st, id, "t@h", many, &err) == 0, "%s", err);
	json_decref(many);
	ev = store_events(st, id, &err);
	ck_assert_uint_eq(json_array_size(ev), 77);
	for (int i = 0; i < 75; i++)
		ck_assert_int_eq(json_integer_value(json_object_get(json_object_get(json_array_get(ev, 2 + i), "data"), "n")), i);
	json_decref(ev);
	ck_assert_ptr_null(verify_incident(st, id));
	if (on_pg) {
		/* a batch refused by the server (no such incident) that fills what
		 * is sent ahead exactly: an error, and the connection goes on */
		many = json_array();
		for (int i = 0; i < 32; i++)
			json_array_append_new(many, json_pack("{s:s, s:s, s:n}", "kind", "note", "summary", "s", "data"));
		ck_assert_int_eq(store_append_many(st, "INC-999", "t@h", many, &err), -1);
		ck_assert_ptr_nonnull(err);
		free(err);
		err = NULL;
		json_decref(many);
		json_t *d = json_pack("{s:i}", "after", 1);
		ck_assert_msg(store_append(st, id, "note", "t@h", "after a refused batch", d, &err) == 0, "%s", err);
		json_decref(d);
		ev = store_events(st, id, &err);
		ck_assert_msg(ev != NULL, "%s", err);
		ck_assert_uint_eq(json_array_size(ev), 78);
		json_decref(ev);
	}
	free(id);
	store_close(st);
}
END_TEST

/* Two connections take turns appending to one incident: each one's next
 * append follows the other's (the PostgreSQL store remembers where its
 * connection's last append ended, and must notice that another appended
 * since), and the chain verifies. */
START_TEST(appenders_take_turns)
{
	struct store *a = open_store(), *b = open_store();
	char *id = new_incident(a, 1), *err = NULL;
	for (int i = 0; i < 6; i++) {
		json_t *d = json_pack("{s:i}", "turn", i);
		ck_assert_msg(store_append(i % 3 == 2 ? a : b, id, "note", "t@h", "a turn", d, &err) == 0, "%s", err);
		ck_assert_msg(store_append(a, id, "note", "t@h", "a turn", d, &err) == 0, "%s", err);
		json_decref(d);
	}
	json_t *ev = store_events(b, id, &err);
	ck_assert_uint_eq(json_array_size(ev), 14);
	for (size_t i = 0; i < 14; i++)
		ck_assert_int_eq(json_integer_value(json_object_get(json_array_get(ev, i), "seq")), (json_int_t)i + 1);
	json_decref(ev);
	ck_assert_ptr_null(verify_incident(b, id));
	free(id);
	store_close(a);
	store_close(b);
}
END_TEST

START_TEST(tampering_is_detected)
{
	struct store *st = open_store();
	free(new_incident(st, 5));
	store_close(st);
	const char *drop = on_pg ? "ALTER TABLE runbook_events DISABLE TRIGGER runbook_events_append_only;"
				 : "DROP TRIGGER events_append_only_update; DROP TRIGGER events_append_only_delete;";
	const char *t = on_pg ? "runbook_events" : "events";
	struct {
		const char *sql, *expect;
	} cases[] = {
		{"UPDATE %s SET summary = 'nothing happened' WHERE seq = 3", "event 3 (note"},
		{"UPDATE %s SET data = '{\"n\":99}' WHERE seq = 2", "event 2 (note"},
		{"DELETE FROM %s WHERE seq = 4", "event 4 is missing"},
		{"UPDATE %1$s SET seq = 100 WHERE seq = 2; UPDATE %1$s SET seq = 2 WHERE seq = 3;"
		 "UPDATE %1$s SET seq = 3 WHERE seq = 100;",
		 "event 2 (note) does not follow event 1"},
	};
	for (size_t i = 0; i < ARRAY_LEN(cases); i++) {
		teardown();
		if (on_pg)
			setup_pg();
		else
			setup();
		st = open_store();
		free(new_incident(st, 5));
		ck_assert_ptr_null(verify_incident(st, "INC-1"));
#pragma GCC diagnostic push
#pragma GCC diagnostic ignored "-Wformat-nonliteral"
		char *change = xasprintf(cases[i].sql, t);
#pragma GCC diagnostic pop
		char *sql = xasprintf("%s %s", drop, change);
		free(change);
		raw_sql(sql);
		free(sql);
		char *bad = verify_incident(st, "INC-1");
		ck_assert_msg(bad && strstr(bad, cases[i].expect), "case %zu: %s", i, bad ? bad : "not detected");
		free(bad);
		store_close(st);
	}
}
END_TEST

START_TEST(concurrent_appenders)
{
	struct store *st = open_store();
	char *id = new_incident(st, 0);
	store_close(st);
	enum { PROCS = 8, EACH = 200 };
	pid_t pids[PROCS];
	for (int p = 0; p < PROCS; p++) {
		pids[p] = fork();
		ck_assert_int_ge(pids[p], 0);
		if (pids[p] == 0) {
			char *err = NULL;
			struct store *s = store_open(url, &err);
			int bad = !s;
			for (int i = 0; s && i < EACH; i++) {
				json_t *d = json_pack("{s:i, s:i}", "proc", p, "i", i);
				bad |= store_append(s, id, "step", "writer", "concurrent", d, &err) != 0;
				json_decref(d);
			}
			store_close(s);
			_exit(bad);
		}
	}
	for (int p = 0; p < PROCS; p++) {
		int status;
		ck_assert_int_eq(waitpid(pids[p], &status, 0), pids[p]);
		ck_assert_msg(WIFEXITED(status) && WEXITSTATUS(status) == 0, "writer %d failed", p);
	}
	st = open_store();
	char *err = NULL;
	json_t *ev = store_events(st, id, &err);
	ck_assert_uint_eq(json_array_size(ev), 1 + PROCS * EACH);
	/* every (proc, i) exactly once */
	static char seen[PROCS][EACH];
	memset(seen, 0, sizeof seen);
	size_t k;
	json_t *e;
	json_array_foreach(ev, k, e) {
		json_t *d = json_object_get(e, "data");
		if (!json_object_get(d, "proc"))
			continue;
		int p = (int)json_integer_value(json_object_get(d, "proc")), i = (int)json_integer_value(json_object_get(d, "i"));
		ck_assert(!seen[p][i]);
		seen[p][i] = 1;
	}
	for (int p = 0; p < PROCS; p++)
		for (int i = 0; i < EACH; i++)
			ck_assert(seen[p][i]);
	char *bad = store_verify(ev, NULL);
	ck_assert_msg(bad == NULL, "%s", bad);
	json_decref(ev);
	free(id);
	store_close(st);
}
END_TEST

/* The alert queue: oldest first, one key at a time, leases, exactly-once
 * recording by queue id, one-time claims. */
START_TEST(alert_queue)
{
	struct store *st = open_store(), *other = open_store();
	char *err = NULL;
	struct queued q[] = {{"k1", "generic", "{\"name\":\"a\"}", 0},
			     {"k1", "generic", "{\"name\":\"b\"}", 0},
			     {"k2", "generic", "{\"name\":\"c\"}", 0}};
	ck_assert_msg(store_enqueue(st, q, 3, &err) == 0, "%s", err);
	long long id0 = q[0].id;
	ck_assert_int_gt(id0, 0);
	ck_assert_int_eq(q[1].id, id0 + 1);
	ck_assert_int_eq(q[2].id, id0 + 2);
	ck_assert_int_eq(store_queue_depth(st, &err), 3);
	/* the oldest of k1 first; while it is claimed, b (same key) waits and c is next */
	json_t *x = NULL, *y = NULL, *z = NULL;
	ck_assert_int_eq(store_claim(st, "w1", 60, &x, &err), 1);
	ck_assert_str_eq(json_string_value(json_object_get(json_object_get(x, "alert"), "name")), "a");
	ck_assert_int_eq(store_claim(other, "w2", 60, &y, &err), 1);
	ck_assert_str_eq(json_string_value(json_object_get(json_object_get(y, "alert"), "name")), "c");
	ck_assert_int_eq(store_claim(other, "w2", 60, &z, &err), 0); /* b waits for a */
	/* recording a's alert is exactly once, with its incident and diagnosis */
	json_t *f = json_pack("{s:s, s:s, s:s, s:I, s:s, s:{s:s}}", "title", "t", "severity", "SEV2", "fingerprint", "k1",
			      "queue_id", (json_int_t)id0, "diagnose", "SEV2", "alert", "name", "a");
	char *inc = NULL, *again = NULL;
	ck_assert_msg(store_incident_create(st, f, "t@h", &inc, &err) == 0, "%s", err);
	ck_assert_int_eq(store_incident_create(other, f, "t@h", &again, &err), 1);
	ck_assert_str_eq(again, inc);
	ck_assert_int_eq(store_append_alert(other, inc, json_object_get(f, "alert"), id0, NULL, NULL, "t@h", &err), 1);
	json_t *ev = store_events(st, inc, &err);
	ck_assert_uint_eq(json_array_size(ev), 2); /* alert, incident.opened: once */
	json_decref(ev);
	/* the claim of a dead claimer (released) is taken again, with what it recorded */
	ck_assert_int_eq(store_queue_reset(st, &err), 0);
	if (!on_pg) {
		json_t *x2 = NULL;
		ck_assert_int_eq(store_claim(other, "w3", 60, &x2, &err), 1);
		ck_assert_int_eq(json_integer_value(json_object_get(x2, "id")), id0);
		ck_assert_str_eq(json_string_value(json_object_get(x2, "incident")), inc);
		ck_assert_str_eq(json_string_value(json_object_get(x2, "diagnose")), "SEV2");
		ck_assert_int_eq(json_integer_value(json_object_get(x2, "attempts")), 2);
		json_decref(x2);
	}
	ck_assert_int_eq(store_queue_done(st, x, json_null(), &err), 0);
	ck_assert_int_eq(store_claim(other, "w2", 60, &z, &err), 1); /* now b */
	ck_assert_str_eq(json_string_value(json_object_get(json_object_get(z, "alert"), "name")), "b");
	/* b's event is all it does: recorded and done in one commit */
	ck_assert_int_eq(store_queue_depth(st, &err), 2);
	json_t *res = json_pack("{s:s}", "action", "updated");
	ck_assert_msg(store_append_alert(other, inc, json_object_get(z, "alert"), json_integer_value(json_object_get(z, "id")),
					 NULL, res, "t@h", &err) == 0,
		      "%s", err);
	json_decref(res);
	ck_assert_int_eq(store_queue_depth(st, &err), 1); /* c only */
	ck_assert_int_eq(store_queue_done(other, z, json_null(), &err), 0);
	ck_assert_int_eq(store_queue_done(other, y, json_null(), &err), 0);
	ck_assert_int_eq(store_queue_depth(st, &err), 0);
	ck_assert_int_eq(store_heartbeat(st, "w1", 60, &err), 0);
	/* a one-time claim is taken once */
	ck_assert_int_eq(store_claim_once(st, "reescalate:INC-1:1", &err), 1);
	ck_assert_int_eq(store_claim_once(other, "reescalate:INC-1:1", &err), 0);
	ck_assert_int_eq(store_claim_once(other, "reescalate:INC-1:2", &err), 1);
	json_t *by = store_incidents_by(st, "fingerprint", "k1", &err);
	ck_assert_uint_eq(json_array_size(by), 1);
	json_decref(by);
	ck_assert_ptr_null(store_incidents_by(st, "title; DROP TABLE x", "k1", &err));
	free(err);
	free(inc);
	free(again);
	json_decref(x);
	json_decref(y);
	json_decref(z);
	json_decref(f);
	store_close(other);
	store_close(st);
}
END_TEST

/* What the queue holds is what was queued, byte for byte: quotes,
 * backslashes, braces and commas (the PostgreSQL store sends a batch as
 * array literals), newlines, non-ASCII. */
START_TEST(queue_round_trip)
{
	struct store *st = open_store();
	char *err = NULL;
	const char *odd = "a \"quoted\" \\back\\slash {brace},comma NULL \n\t ünïcødé ☃";
	json_t *alert = json_pack("{s:s, s:[i, n, b]}", "name", odd, "list", 1, 1);
	char *text = json_dumps(alert, JSON_COMPACT);
	json_decref(alert);
	struct queued q[] = {{odd, "generic", text, 0}, {"plain", "alertmanager", "{\"name\": \"second\"}", 0}};
	ck_assert_msg(store_enqueue(st, q, 2, &err) == 0, "%s", err);
	free(text);
	ck_assert_int_eq(q[1].id, q[0].id + 1);
	json_t *x = NULL, *y = NULL;
	ck_assert_int_eq(store_claim(st, "w1", 60, &x, &err), 1);
	ck_assert_int_eq(store_claim(st, "w1", 60, &y, &err), 1);
	if (strcmp(json_string_value(json_object_get(x, "key")), odd)) { /* two keys: either order */
		json_t *t = x;
		x = y;
		y = t;
	}
	ck_assert_str_eq(json_string_value(json_object_get(x, "key")), odd);
	ck_assert_str_eq(json_string_value(json_object_get(json_object_get(x, "alert"), "name")), odd);
	json_t *list = json_pack("[i, n, b]", 1, 1);
	ck_assert(json_equal(json_object_get(json_object_get(x, "alert"), "list"), list));
	json_decref(list);
	ck_assert_str_eq(json_string_value(json_object_get(y, "key")), "plain");
	ck_assert_str_eq(json_string_value(json_object_get(json_object_get(y, "alert"), "name")), "second");
	json_decref(x);
	json_decref(y);
	free(err);
	store_close(st);
}
END_TEST

/* Done alerts are forgotten once old enough, a batch at a time; the
 * alerts still to do never are. */
START_TEST(done_alerts_are_forgotten)
{
	struct store *st = open_store();
	char *err = NULL;
	struct queued q[5];
	char keys[5][8];
	for (int i = 0; i < 5; i++) {
		snprintf(keys[i], sizeof keys[i], "k%d", i);
		q[i] = (struct queued){keys[i], "generic", "{\"name\": \"x\"}", 0};
	}
	ck_assert_msg(store_enqueue(st, q, 5, &err) == 0, "%s", err);
	for (int i = 0; i < 3; i++) {
		json_t *item = NULL;
		ck_assert_int_eq(store_claim(st, "w1", 60, &item, &err), 1);
		json_t *res = json_pack("{s:s}", "action", "opened");
		ck_assert_msg(store_queue_done(st, item, res, &err) == 0, "%s", err);
		json_decref(res);
		json_decref(item);
	}
	ck_assert_int_eq(store_queue_prune(st, 3600, 10, &err), 0); /* done a moment ago: kept */
	/* "done more than -5 s ago": every done one qualifies */
	ck_assert_int_eq(store_queue_prune(st, -5, 2, &err), 2);
	ck_assert_int_eq(store_queue_prune(st, -5, 2, &err), 1);
	ck_assert_int_eq(store_queue_prune(st, -5, 2, &err), 0);
	ck_assert_int_eq(store_queue_depth(st, &err), 2);
	json_t *item = NULL;
	ck_assert_int_eq(store_claim(st, "w1", 60, &item, &err), 1); /* what is left still goes */
	json_decref(item);
	free(err);
	store_close(st);
}
END_TEST

static long long claimed_n(json_t *item)
{
	return json_integer_value(json_object_get(json_object_get(item, "alert"), "n"));
}

/* A storm of one key's alerts does not hide another key's alert queued
 * after it (beyond the oldest 64 that a claim looks at first), and one
 * key's alerts still go one at a time, in order. */
START_TEST(storm_keeps_other_keys_moving)
{
	struct store *st = open_store();
	char *err = NULL;
	struct queued q[101];
	char text[101][16];
	for (int i = 0; i <= 100; i++) {
		snprintf(text[i], sizeof text[i], "{\"n\":%d}", i);
		q[i] = (struct queued){i < 100 ? "storm" : "other", "generic", text[i], 0};
	}
	ck_assert_msg(store_enqueue(st, q, 101, &err) == 0, "%s", err);
	json_t *a = NULL, *b = NULL, *c = NULL, *res = json_object();
	ck_assert_int_eq(store_claim(st, "w1", 60, &a, &err), 1);
	ck_assert_int_eq(claimed_n(a), 0);
	ck_assert_int_eq(store_claim(st, "w1", 60, &b, &err), 1);
	ck_assert_str_eq(json_string_value(json_object_get(b, "key")), "other");
	ck_assert_int_eq(store_claim(st, "w1", 60, &c, &err), 0); /* the storm's next waits for its head */
	ck_assert_msg(store_queue_done(st, a, res, &err) == 0, "%s", err);
	ck_assert_int_eq(store_claim(st, "w1", 60, &c, &err), 1);
	ck_assert_int_eq(claimed_n(c), 1);
	json_decref(a);
	json_decref(b);
	json_decref(c);
	json_decref(res);
	free(err);
	store_close(st);
}
END_TEST

/* An incident with this fingerprint; resolved at once when asked. */
static char *keyed_incident(struct store *st, const char *fingerprint, int resolved)
{
	json_t *f = json_pack("{s:s, s:s, s:s}", "title", "flapping", "severity", "SEV3", "fingerprint", fingerprint);
	char *id = NULL, *err = NULL;
	ck_assert_msg(store_incident_create(st, f, "t@h", &id, &err) == 0, "%s", err);
	json_decref(f);
	if (resolved) {
		json_t *ch = json_pack("{s:s, s:s}", "status", "resolved", "resolved_at", "2026-01-01T00:00:00Z");
		ck_assert_msg(store_incident_update(st, id, ch, "incident.resolved", "t@h", "resolved", NULL, &err) == 0, "%s",
			      err);
		json_decref(ch);
	}
	return id;
}

static void assert_latest(struct store *st, const char *fingerprint, const char *first, const char *second)
{
	char *err = NULL;
	json_t *a = store_incidents_latest(st, fingerprint, &err);
	ck_assert_msg(a != NULL, "%s", err);
	ck_assert_int_eq(json_array_size(a), (first != NULL) + (second != NULL));
	if (first)
		ck_assert_str_eq(json_string_value(json_object_get(json_array_get(a, 0), "id")), first);
	if (second)
		ck_assert_str_eq(json_string_value(json_object_get(json_array_get(a, 1), "id")), second);
	json_decref(a);
}

/* A flapping alert's key: triage reads its newest open incident and its
 * newest resolved one, not its history. */
START_TEST(latest_of_a_key)
{
	struct store *st = open_store();
	char *last = NULL;
	assert_latest(st, "flap", NULL, NULL);
	for (int i = 0; i < 40; i++) {
		free(last);
		last = keyed_incident(st, "flap", 1);
	}
	assert_latest(st, "flap", last, NULL); /* only the newest resolved */
	char *open = keyed_incident(st, "flap", 0), *other = keyed_incident(st, "other", 0);
	assert_latest(st, "flap", open, last);
	assert_latest(st, "other", other, NULL);
	char *ack = keyed_incident(st, "flap", 0); /* two open (by hand): the newest */
	json_t *ch = json_pack("{s:s}", "status", "acknowledged");
	char *err = NULL;
	ck_assert_msg(store_incident_update(st, ack, ch, "incident.acknowledged", "t@h", "acked", NULL, &err) == 0, "%s",
		      err);
	json_decref(ch);
	assert_latest(st, "flap", ack, last);
	free(last);
	free(open);
	free(other);
	free(ack);
	store_close(st);
}
END_TEST

/* A storm after a quiet spell: the queue's statistics (autovacuum off)
 * say nothing is to do while 100,000 alerts are. The plans they make read
 * every alert to do for each claim (21,604 pages, measured); the third
 * slow claim in a row analyzes the queue, and the claims after it read
 * about 150 pages each (counted in the table's pages read, not timed). */
START_TEST(stale_statistics_are_renewed)
{
	struct store *st = open_store();
	char *err = NULL;
	enum { QUIET = 1000, STORM = 100000, CLAIMS = 10 };
	struct queued *q = xcalloc(STORM, sizeof *q);
	char (*keys)[16] = xcalloc(STORM, sizeof *keys);
	for (int i = 0; i < STORM; i++) {
		snprintf(keys[i], sizeof keys[i], "k%d", i);
		q[i] = (struct queued){keys[i], "generic", "{}", 0};
	}
	ck_assert_msg(store_enqueue(st, q, QUIET, &err) == 0, "%s", err);
	raw_sql("ALTER TABLE runbook_alert_queue SET (autovacuum_enabled = false);"
		"UPDATE runbook_alert_queue SET done_at = now()::text; ANALYZE runbook_alert_queue");
	ck_assert_msg(store_enqueue(st, q, STORM, &err) == 0, "%s", err);
	store_close(st);
	const char *pages = "SELECT coalesce(heap_blks_read, 0) + coalesce(heap_blks_hit, 0) + coalesce(idx_blks_read, 0)"
			    " + coalesce(idx_blks_hit, 0) FROM pg_statio_user_tables WHERE relname = 'runbook_alert_queue'";
	const char *analyzed = "SELECT analyze_count FROM pg_stat_user_tables WHERE relname = 'runbook_alert_queue'";
	long long times = pg_number(analyzed);
	st = open_store();
	for (int i = 0; i < 3; i++) { /* the plans are made; the third slow claim in a row analyzes */
		json_t *item = NULL;
		ck_assert_int_eq(store_claim(st, "w1", 60, &item, &err), 1);
		json_decref(item);
	}
	ck_assert_int_eq(pg_number(analyzed), times + 1);
	store_close(st); /* its backend reports what it read as it exits */
	long long before = settled(pages);
	st = open_store();
	for (int i = 0; i < CLAIMS; i++) {
		json_t *item = NULL;
		ck_assert_int_eq(store_claim(st, "w1", 60, &item, &err), 1);
		json_decref(item);
	}
	store_close(st);
	long long after = settled(pages);
	ck_assert_msg(after > before, "the claims' reads were never reported");
	ck_assert_msg((after - before) / CLAIMS < 1000, "a claim read %lld pages of the queue", (after - before) / CLAIMS);
	free(keys);
	free(q);
	free(err);
}
END_TEST

static int always_busy(void *arg)
{
	__atomic_add_fetch((int *)arg, 1, __ATOMIC_SEQ_CST);
	return 1;
}

/* serve's triage lets its intake go first, but never stops: with requests
 * always waiting, each claim waits TPOOL_YIELD_MS, and every alert is
 * still triaged. */
START_TEST(pool_lets_intake_go_first)
{
	struct store *st = open_store();
	char *err = NULL;
	struct diag_list d = {0};
	const char *body = "[{\"alertname\": \"Odd\", \"fingerprint\": \"f1\"}, {\"alertname\": \"Odd\", \"fingerprint\": \"f2\"},"
			   " {\"alertname\": \"Odd\", \"fingerprint\": \"f3\"}]";
	json_t *alerts = alert_parse("alerts.json", body, strlen(body), &d);
	ck_assert_ptr_nonnull(alerts);
	struct queued q[3];
	for (size_t i = 0; i < 3; i++) {
		json_t *a = json_array_get(alerts, i);
		q[i] = (struct queued){json_string_value(json_object_get(a, "fingerprint")), "generic",
				       json_dumps(a, JSON_COMPACT), 0};
	}
	ck_assert_msg(store_enqueue(st, q, 3, &err) == 0, "%s", err);
	struct config cfg;
	config_defaults(&cfg);
	struct triage t = {&cfg, url, NULL, 0, 1};
	int asked = 0;
	struct tpool_opts po = {1, 60, 0, always_busy, &asked};
	int64_t t0 = now_ms();
	struct tpool *p = tpool_start(&t, &po, &err);
	ck_assert_msg(p != NULL, "%s", err);
	while (tpool_done(p) < 3 && now_ms() - t0 < 20000)
		nanosleep(&(struct timespec){0, 5000000}, NULL);
	int64_t took = now_ms() - t0;
	long long done = tpool_done(p);
	tpool_stop(p);
	ck_assert_int_eq(done, 3);
	ck_assert_int_gt(__atomic_load_n(&asked, __ATOMIC_SEQ_CST), 0);
	ck_assert_msg(took >= 3 * TPOOL_YIELD_MS, "3 claims with intake always busy took %lld ms", (long long)took);
	ck_assert_int_eq(store_queue_depth(st, &err), 0);
	for (size_t i = 0; i < 3; i++)
		free((char *)q[i].text);
	json_decref(alerts);
	config_release(&cfg);
	store_close(st);
}
END_TEST

START_TEST(unusable_locations)
{
	char *err = NULL;
	ck_assert_ptr_null(store_open("sqlite:/proc/1/nope/runbook.db", &err));
	ck_assert_ptr_nonnull(strstr(err, "cannot create /proc/1/nope"));
	free(err);
	err = NULL;
	ck_assert_ptr_null(store_open("postgres://nobody@127.0.0.1:1/x", &err));
	ck_assert_ptr_nonnull(strstr(err, "cannot connect to the PostgreSQL store"));
	free(err);
	err = NULL;
	ck_assert_ptr_null(store_open("mysql:whatever", &err));
	ck_assert_ptr_nonnull(strstr(err, "unknown store"));
	free(err);
	err = NULL;
	ck_assert_ptr_null(store_open("sqlite:", &err)); /* not a throwaway database */
	ck_assert_ptr_nonnull(strstr(err, "needs a file"));
	free(err);
}
END_TEST

static void add_tests(TCase *tc, int all)
{
	tcase_set_timeout(tc, 120);
	tcase_add_test(tc, incidents_and_events);
	tcase_add_test(tc, tampering_is_detected);
	tcase_add_test(tc, refused_writes_and_long_batches);
	tcase_add_test(tc, appenders_take_turns);
	tcase_add_test(tc, concurrent_appenders);
	tcase_add_test(tc, alert_queue);
	tcase_add_test(tc, queue_round_trip);
	tcase_add_test(tc, done_alerts_are_forgotten);
	tcase_add_test(tc, storm_keeps_other_keys_moving);
	tcase_add_test(tc, latest_of_a_key);
	if (all) {
		tcase_add_test(tc, unusable_locations);
		tcase_add_test(tc, pool_lets_intake_go_first);
	} else {
		tcase_add_test(tc, stale_statistics_are_renewed);
	}
}

Suite *suite_store(void)
{
	Suite *s = suite_create("store");
	TCase *tc = tcase_create("store");
	tcase_add_checked_fixture(tc, setup, teardown);
	add_tests(tc, 1);
	suite_add_tcase(s, tc);
	return s;
}

Suite *suite_store_pg(void)
{
	Suite *s = suite_create("store-pg");
	const char *dsn = getenv("RUNBOOK_TEST_PG_DSN");
	if (!dsn || !*dsn)
		return s; /* empty unless a test PostgreSQL was started for it */
	TCase *tc = tcase_create("store-pg");
	tcase_add_checked_fixture(tc, setup_pg, teardown);
	add_tests(tc, 0);
	suite_add_tcase(s, tc);
	return s;
}
