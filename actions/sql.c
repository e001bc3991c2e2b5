/*
 * sql: one statement on a PostgreSQL target, over libpq's asynchronous API.
 *
 * - One connection per target per run, opened on first use (a non-blocking
 *   connect bounded by the step's deadline) and reused by later steps.
 * - Each step is one pipelined round trip: BEGIN [READ ONLY], the step's
 *   statement_timeout and lock_timeout (set_config(..., true): local to
 *   the transaction), the statement with its bind values ($1..$n, never
 *   SQL text; the extended protocol also refuses a second statement), and
 *   COMMIT. A step that does not mutate cannot write: the server refuses.
 * - Rows are streamed in single-row mode and capped (rows and bytes); the
 *   cap is reported. NOTICEs are captured, capped.
 * - Past the deadline, or when the run is cancelled (Ctrl-C), the query
 *   is cancelled on the server and its cancellation awaited, so nothing
 *   keeps running there.
 */
#define _POSIX_C_SOURCE 200809L
#include "action.h"
#include "background.h"
#include "sql_lex.h"
#include "util.h"

#include <ctype.h>
#include <errno.h>
#include <libpq-fe.h>
#include <math.h>
#include <poll.h>
#include <stdlib.h>
#include <string.h>

#define CANCEL_GRACE_MS 3000
#define NOTICE_CAP 100

/* PostgreSQL type OIDs (pg_type.h) that arrive typed. */
enum { BOOLOID = 16, INT8OID = 20, INT2OID = 21, INT4OID = 23, OIDOID = 26, FLOAT4OID = 700,
       FLOAT8OID = 701, NUMERICOID = 1700 };

struct pgconn {
	char *target;
	PGconn *conn;
	json_t *notices; /* of the step running now */
};

/* A target whose connection failed: later steps fail at once with this. */
struct pgfail {
	char *target, *err, *sqlstate, *step;
	enum step_status st;
};

struct pgpool {
	struct background bg;  /* its mutex guards the pool too */
	struct pgconn **c;      /* each allocated alone: libpq keeps a pointer for NOTICEs */
	size_t n;
	struct pgfail *fail;
	size_t nfail;
	const volatile int *cancel; /* the run's (action_env.cancel) */
};

/* The SQLSTATE a connection failure's message stands for (libpq does not
 * hand the server's fields out for connections), or NULL. */
static const char *connect_sqlstate(const char *msg)
{
	static const struct {
		const char *text, *state;
	} known[] = {
		{"too many clients already", "53300"},
		{"remaining connection slots are reserved", "53300"},
		{"too many connections for", "53300"},
		{"password authentication failed", "28P01"},
		{"no pg_hba.conf entry", "28000"},
		{"the database system is starting up", "57P03"},
		{"the database system is shutting down", "57P03"},
		{"the database system is in recovery mode", "57P03"},
	};
	for (size_t i = 0; msg && i < ARRAY_LEN(known); i++)
		if (strstr(msg, known[i].text))
			return known[i].state;
	if (msg && strstr(msg, "database \"") && strstr(msg, "does not exist"))
		return "3D000";
	if (msg && strstr(msg, "role \"") && strstr(msg, "does not exist"))
		return "28000";
	return NULL;
}

/* ---- load-time check: exactly one statement, nothing with side effects
 * unless the step mutates ---- */

static int sql_check(const char *text, int mutates, char **err, size_t *erroff)
{
	int n = sql_statement_count(text);
	*erroff = 0;
	if (n != 1) {
		*err = n ? xasprintf("sql must be exactly one statement, found %d; split them into steps", n)
			 : xstrdup("sql has no statement");
		return -1;
	}
	if (!mutates && (*err = sql_side_effect(text, erroff)))
		return -1;
	return 0;
}

/* ---- rendering ---- */

static char *sql_render(const struct action_call *call)
{
	struct sbuf sb;
	sbuf_init(&sb);
	size_t len = strlen(call->text);
	while (len && isspace((unsigned char)call->text[len - 1]))
		len--; /* the bind values follow the statement directly */
	sbuf_add(&sb, call->text, len);
	size_t i;
	json_t *v;
	json_array_foreach(call->args, i, v) {
		if (json_is_null(v))
			sbuf_addf(&sb, "\n  -- $%zu = NULL", i + 1);
		else
			sbuf_addf(&sb, "\n  -- $%zu = '%s'", i + 1, json_string_value(v));
	}
	return sbuf_detach(&sb);
}

/* ---- connections ---- */

static void on_notice(void *arg, const PGresult *res)
{
	struct pgconn *pc = arg;
	if (!pc->notices || json_array_size(pc->notices) >= NOTICE_CAP)
		return;
	const char *state = PQresultErrorField(res, PG_DIAG_SQLSTATE);
	if (state && !strcmp(state, "25P01"))
		return; /* our own ROLLBACK between pipelined steps: "no transaction in progress" */
	const char *sev = PQresultErrorField(res, PG_DIAG_SEVERITY);
	const char *msg = PQresultErrorField(res, PG_DIAG_MESSAGE_PRIMARY);
	char *line = xasprintf("%s: %.2000s", sev ? sev : "NOTICE", msg ? msg : "");
	json_t *j = json_string(line);
	if (j)
		json_array_append_new(pc->notices, j);
	free(line);
}

/* Waits until the connection's socket is ready for `events`. */
static int wait_socket(PGconn *c, short events, int64_t deadline, const volatile int *cancel)
{
	return action_wait_fd(PQsocket(c), events, deadline, cancel);
}

static char *trimmed(const char *s)
{
	char *t = xstrdup(s ? s : "");
	size_t n = strlen(t);
	while (n && isspace((unsigned char)t[n - 1]))
		t[--n] = '\0';
	/* libpq's multi-line messages read better on one line */
	for (char *p = t; *p; p++)
		if (*p == '\n')
			*p = ' ';
	return t;
}

/* Opens a connection to a target within the deadline, in pipeline mode.
 * Touches nothing shared: background connections use it too. */
static PGconn *connect_pg(const char *name, json_t *target, int64_t deadline, int64_t timeout_ms,
			  const volatile int *cancel, char **err, enum step_status *st)
{
	const char *dsn = json_string_value(json_object_get(target, "dsn"));
	const char *service = json_string_value(json_object_get(target, "service"));
	int64_t left = deadline - now_ms();
	char timeout[32];
	snprintf(timeout, sizeof timeout, "%lld", (long long)(left > 2000 ? (left + 999) / 1000 : 2));
	const char *keys[8], *vals[8];
	int k = 0;
	if (service) {
		keys[k] = "service";
		vals[k++] = service;
	} else {
		keys[k] = "dbname";
		vals[k++] = dsn ? dsn : "";
	}
	keys[k] = "connect_timeout", vals[k++] = timeout;
	keys[k] = "fallback_application_name", vals[k++] = "runbook";
	keys[k] = "client_encoding", vals[k++] = "UTF8"; /* a LATIN1 database's text arrives readable */
	keys[k] = NULL, vals[k] = NULL;
	PGconn *c = PQconnectStartParams(keys, vals, 1);
	if (!c) {
		*err = xstrdup("out of memory connecting to PostgreSQL");
		*st = ST_FAILED;
		return NULL;
	}
	PostgresPollingStatusType ps = PGRES_POLLING_WRITING;
	while (PQstatus(c) != CONNECTION_BAD && ps != PGRES_POLLING_OK && ps != PGRES_POLLING_FAILED) {
		int w = wait_socket(c, ps == PGRES_POLLING_READING ? POLLIN : POLLOUT, deadline, cancel);
		if (w) {
			*err = w == 2 ? xasprintf("interrupted while connecting to target '%s'", name)
				      : xasprintf("cannot connect to target '%s' within %lld ms", name, (long long)timeout_ms);
			*st = w == 1 ? ST_TIMEOUT : ST_FAILED;
			PQfinish(c);
			return NULL;
		}
		ps = PQconnectPoll(c);
	}
	if (PQstatus(c) != CONNECTION_OK) {
		char *m = trimmed(PQerrorMessage(c));
		*err = xasprintf("cannot connect to target '%s': %s", name, m);
		free(m);
		*st = ST_FAILED;
		PQfinish(c);
		return NULL;
	}
	if (!PQenterPipelineMode(c)) {
		*err = xasprintf("cannot use pipeline mode on target '%s'", name);
		*st = ST_FAILED;
		PQfinish(c);
		return NULL;
	}
	return c;
}

static struct pgpool *get_pool(struct action_env *env)
{
	struct pgpool *pool = env->slot[action_sql.slot];
	if (!pool) {
		pool = xcalloc(1, sizeof *pool);
		background_init(&pool->bg);
		pool->cancel = env->cancel;
		env->slot[action_sql.slot] = pool;
	}
	return pool;
}

/* Called with the pool locked. */
static struct pgconn *add_locked(struct pgpool *pool, const char *name, PGconn *c)
{
	struct pgconn *pc = xcalloc(1, sizeof *pc);
	pc->target = xstrdup(name);
	pc->conn = c;
	PQsetNoticeReceiver(c, on_notice, pc);
	pool->c = xrealloc(pool->c, (pool->n + 1) * sizeof *pool->c);
	pool->c[pool->n++] = pc;
	return pc;
}

/* Called with the pool locked: remembers that target's connection failed. */
static void remember_failure(struct pgpool *pool, const char *name, const char *step, const char *err,
			     enum step_status st)
{
	for (size_t i = 0; i < pool->nfail; i++)
		if (!strcmp(pool->fail[i].target, name))
			return;
	pool->fail = xrealloc(pool->fail, (pool->nfail + 1) * sizeof *pool->fail);
	struct pgfail *f = &pool->fail[pool->nfail++];
	f->target = xstrdup(name);
	f->err = xstrdup(err ? err : "cannot connect");
	const char *state = connect_sqlstate(err);
	f->sqlstate = state ? xstrdup(state) : NULL;
	f->step = step ? xstrdup(step) : NULL;
	f->st = st;
}

/* The target's open connection, one being opened in the background
 * (waited for), or a new one. Once a target's connection failed, later
 * steps fail at once with that error (a step's own retries try again). */
/* Called with the pool locked: the target's open connection, waited for
 * while it is being opened in the background (up to deadline), or NULL. */
static struct pgconn *ready_locked(struct pgpool *pool, const char *name, int64_t deadline)
{
	for (;;) {
		for (size_t i = 0; i < pool->n; i++)
			if (!strcmp(pool->c[i]->target, name) && pool->c[i]->conn && PQstatus(pool->c[i]->conn) == CONNECTION_OK)
				return pool->c[i];
		if (!background_pending(&pool->bg, name) || (pool->cancel && *pool->cancel) || now_ms() >= deadline)
			return NULL;
		background_wait(&pool->bg);
	}
}

static struct pgconn *get_conn(struct action_call *call, json_t *result, char **err, enum step_status *st)
{
	struct pgpool *pool = get_pool(call->env);
	const char *name = call->target_name ? call->target_name : "";
	pthread_mutex_lock(&pool->bg.mu);
	struct pgconn *ready = ready_locked(pool, name, call->deadline_ms);
	if (ready) {
		pthread_mutex_unlock(&pool->bg.mu);
		return ready;
	}
	for (size_t i = 0; i < pool->nfail; i++) {
		struct pgfail *f = &pool->fail[i];
		if (strcmp(f->target, name) || (f->step && !strcmp(f->step, call->step_id)))
			continue;
		*err = xasprintf("%s (the connection failed earlier in this run: not tried again)", f->err);
		*st = f->st;
		if (f->sqlstate)
			json_object_set_new(result, "sqlstate", json_string(f->sqlstate));
		pthread_mutex_unlock(&pool->bg.mu);
		return NULL;
	}
	pthread_mutex_unlock(&pool->bg.mu);
	PGconn *c = connect_pg(name, call->target, call->deadline_ms, call->timeout_ms, pool->cancel, err, st);
	pthread_mutex_lock(&pool->bg.mu);
	struct pgconn *pc = NULL;
	if (c) {
		pc = add_locked(pool, name, c);
	} else {
		if (!action_cancelled(call->env))
			remember_failure(pool, name, call->step_id, *err, *st);
		const char *state = connect_sqlstate(*err);
		if (state)
			json_object_set_new(result, "sqlstate", json_string(state));
	}
	pthread_mutex_unlock(&pool->bg.mu);
	return pc;
}

struct warm {
	struct pgpool *pool;
	char *name;
	json_t *target;
	int64_t deadline, timeout_ms;
};

static void *warm_main(void *arg)
{
	struct warm *w = arg;
	char *err = NULL;
	enum step_status st;
	PGconn *c = connect_pg(w->name, w->target, w->deadline, w->timeout_ms, w->pool->cancel, &err, &st);
	pthread_mutex_lock(&w->pool->bg.mu); /* connected (or failed) and no longer pending, at once */
	if (c)
		add_locked(w->pool, w->name, c);
	else if (!(w->pool->cancel && *w->pool->cancel)) /* every step on it fails with this, none waits again */
		remember_failure(w->pool, w->name, NULL, err, st);
	free(err);
	background_done(&w->pool->bg, w->name);
	pthread_mutex_unlock(&w->pool->bg.mu);
	free(w->name);
	json_decref(w->target);
	free(w);
	return NULL;
}

/* Connects to the target in the background. */
static void sql_warm(struct action_env *env, const char *target_name, json_t *target, int64_t deadline_ms)
{
	struct pgpool *pool = get_pool(env);
	struct warm *w = xcalloc(1, sizeof *w);
	w->pool = pool;
	w->name = xstrdup(target_name);
	w->target = json_deep_copy(target); /* its own: jansson counts references unlocked */
	w->deadline = deadline_ms;
	w->timeout_ms = deadline_ms - now_ms();
	pthread_mutex_lock(&pool->bg.mu);
	int busy = 0;
	for (size_t i = 0; !busy && i < pool->n; i++)
		busy = !strcmp(pool->c[i]->target, target_name) && pool->c[i]->conn;
	if (!busy && background_start(&pool->bg, target_name, warm_main, w) == 0)
		w = NULL;
	pthread_mutex_unlock(&pool->bg.mu);
	if (w) {
		free(w->name);
		json_decref(w->target);
		free(w);
	}
}

static void drop_conn(struct pgconn *pc)
{
	if (pc->conn)
		PQfinish(pc->conn);
	pc->conn = NULL;
}

static void sql_release(struct action_env *env)
{
	struct pgpool *pool = env->slot[action_sql.slot];
	if (!pool)
		return;
	background_release(&pool->bg);
	for (size_t i = 0; i < pool->n; i++) {
		drop_conn(pool->c[i]);
		free(pool->c[i]->target);
		json_decref(pool->c[i]->notices);
		free(pool->c[i]);
	}
	free(pool->c);
	for (size_t i = 0; i < pool->nfail; i++) {
		free(pool->fail[i].target);
		free(pool->fail[i].err);
		free(pool->fail[i].sqlstate);
		free(pool->fail[i].step);
	}
	free(pool->fail);
	free(pool);
	env->slot[action_sql.slot] = NULL;
}

/* ---- results ---- */

/* Significant decimal digits of a numeric's text (leading zeros skipped). */
static int significant_digits(const char *v)
{
	int n = 0, started = 0;
	for (const char *p = v; *p && *p != 'e' && *p != 'E'; p++) {
		if (!isdigit((unsigned char)*p))
			continue;
		started |= *p != '0';
		n += started;
	}
	/* trailing zeros after the point carry no precision either */
	const char *dot = strchr(v, '.');
	if (dot)
		for (const char *p = v + strlen(v) - 1; p > dot && *p == '0'; p--)
			n -= n > 0;
	return n;
}

static json_t *typed_value(const PGresult *r, int row, int col)
{
	if (PQgetisnull(r, row, col))
		return json_null();
	const char *v = PQgetvalue(r, row, col);
	char *end;
	switch (PQftype(r, col)) {
	case BOOLOID:
		return json_boolean(v[0] == 't');
	case INT2OID:
	case INT4OID:
	case INT8OID:
	case OIDOID: {
		errno = 0;
		long long x = strtoll(v, &end, 10);
		if (!errno && !*end)
			return json_integer(x);
		break;
	}
	case NUMERICOID:
		if (!strchr(v, '.') && !strchr(v, 'e') && !strchr(v, 'E')) {
			errno = 0;
			long long x = strtoll(v, &end, 10);
			if (!errno && !*end)
				return json_integer(x);
		}
		if (significant_digits(v) > 15)
			return json_string(v); /* beyond a double's precision: exact, as text */
		/* fall through */
	case FLOAT4OID:
	case FLOAT8OID: {
		double d = strtod(v, &end);
		if (!*end && isfinite(d))
			return json_real(d);
		break; /* NaN, Infinity: kept as text */
	}
	}
	json_t *s = json_string(v);
	return s ? s : json_string("(not UTF-8)");
}

struct collect {
	json_t *columns, *rows;
	long long total;
	size_t bytes;
	int capped;
};

static void collect_rows(struct collect *c, const PGresult *r, size_t row_cap, size_t byte_cap)
{
	int nf = PQnfields(r);
	if (!c->columns) {
		c->columns = json_array();
		for (int i = 0; i < nf; i++)
			json_array_append_new(c->columns, json_string(PQfname(r, i)));
	}
	for (int row = 0; row < PQntuples(r); row++) {
		c->total++;
		if (c->capped)
			continue;
		size_t size = 0;
		for (int i = 0; i < nf; i++)
			size += (size_t)PQgetlength(r, row, i);
		if (json_array_size(c->rows) >= row_cap || c->bytes + size > byte_cap) {
			c->capped = 1;
			continue;
		}
		c->bytes += size;
		json_t *o = json_object();
		for (int i = 0; i < nf; i++)
			json_object_set_new(o, PQfname(r, i), typed_value(r, row, i));
		json_array_append_new(c->rows, o);
	}
}

static void set_pg_error(json_t *result, const PGresult *r, char **err)
{
	const char *state = PQresultErrorField(r, PG_DIAG_SQLSTATE);
	const char *msg = PQresultErrorField(r, PG_DIAG_MESSAGE_PRIMARY);
	const char *detail = PQresultErrorField(r, PG_DIAG_MESSAGE_DETAIL);
	const char *hint = PQresultErrorField(r, PG_DIAG_MESSAGE_HINT);
	if (state)
		json_object_set_new(result, "sqlstate", json_string(state));
	if (detail)
		json_object_set_new(result, "detail", json_string(detail));
	if (hint)
		json_object_set_new(result, "hint", json_string(hint));
	if (!*err) {
		char *m = trimmed(msg ? msg : PQresultErrorMessage(r));
		*err = xasprintf("%s%s%s%s", m, state ? " (SQLSTATE " : "", state ? state : "", state ? ")" : "");
		free(m);
	}
}

/* The next result, waiting for the socket until the deadline. *w is set
 * to 1 (deadline) or 2 (the run was cancelled) when it stopped waiting. */
static PGresult *next_result(PGconn *c, int64_t deadline, const volatile int *cancel, int *w)
{
	*w = 0;
	while (PQisBusy(c)) {
		int r = wait_socket(c, POLLIN, deadline, cancel);
		if (r) {
			*w = r < 0 ? 3 : r;
			return NULL;
		}
		if (!PQconsumeInput(c)) {
			*w = 3;
			return NULL;
		}
	}
	return PQgetResult(c);
}

/* Cancels the running query on the server. */
static void cancel(PGconn *c)
{
	char buf[256];
	PGcancel *cn = PQgetCancel(c);
	if (cn) {
		PQcancel(cn, buf, sizeof buf);
		PQfreeCancel(cn);
	}
}

/* Queues a step's queries and a sync (not flushed): BEGIN [READ ONLY], its
 * timeouts, the statement, COMMIT - after a ROLLBACK when `rollback_first`.
 * 0 when libpq refused. */
static int send_step(PGconn *c, struct action_call *call, int rollback_first)
{
	size_t nargs = json_array_size(call->args);
	const char **vals = xcalloc(nargs + 1, sizeof *vals);
	for (size_t i = 0; i < nargs; i++)
		vals[i] = json_string_value(json_array_get(call->args, i)); /* NULL for null */
	char tmo[32];
	snprintf(tmo, sizeof tmo, "%lldms", (long long)(call->timeout_ms > 0 ? call->timeout_ms : 1));
	const char *tv[1] = {tmo};
	int ok = (!rollback_first || PQsendQueryParams(c, "ROLLBACK", 0, NULL, NULL, NULL, NULL, 0)) &&
		 PQsendQueryParams(c, call->mutates ? "BEGIN" : "BEGIN READ ONLY", 0, NULL, NULL, NULL, NULL, 0) &&
		 PQsendQueryParams(c, "SELECT set_config('statement_timeout', $1, true), "
				   "set_config('lock_timeout', $1, true)", 1, NULL, tv, NULL, NULL, 0) &&
		 PQsendQueryParams(c, call->text, (int)nargs, NULL, vals, NULL, NULL, 0) &&
		 PQsendQueryParams(c, "COMMIT", 0, NULL, NULL, NULL, NULL, 0) && PQpipelineSync(c);
	free(vals);
	return ok;
}

/* Read-only steps on one target, in order: all their queries go out in one
 * round trip (the server still runs them one after another); each step's
 * run then reads its own results. Steps that cannot be sent ahead (a
 * connection not there yet, text `check` refuses) are sent by their run. */
static void sql_send_ahead(struct action_call **calls, size_t n)
{
	if (n < 2)
		return;
	struct pgpool *pool = get_pool(calls[0]->env);
	const char *name = calls[0]->target_name ? calls[0]->target_name : "";
	pthread_mutex_lock(&pool->bg.mu);
	struct pgconn *pc = ready_locked(pool, name, calls[0]->deadline_ms);
	pthread_mutex_unlock(&pool->bg.mu);
	if (!pc)
		return; /* each step connects (or fails) in its own run */
	PGconn *c = pc->conn;
	size_t k = 0;
	for (; k < n; k++) {
		char *err = NULL;
		size_t off;
		int bad = calls[k]->mutates || sql_check(calls[k]->text, 0, &err, &off);
		free(err);
		if (bad || !send_step(c, calls[k], k > 0))
			break;
		calls[k]->sent = k > 0 ? 2 : 1;
		calls[k]->sent_on = c;
	}
	for (size_t i = 0; i < k; i++)
		calls[i]->more = i + 1 < k;
	if (k)
		PQflush(c); /* what does not fit now goes out as results are read */
}

/* What a step's results said. */
struct outcome {
	struct collect col;
	char cmd[64];        /* the statement's command tag */
	long long affected;  /* rows a command changed, or -1 */
	int stopped;         /* 1 past the deadline, 2 cancelled: the query was cancelled on the server */
	int lost;            /* the connection is unusable */
};

/* Reads a sent step's results up to its sync: rows (capped), the command
 * tag, an error into result and *err. Past the deadline, or once the run
 * is cancelled, it cancels the query on the server and waits
 * CANCEL_GRACE_MS for the answer. */
static void read_results(struct action_call *call, PGconn *c, int ahead, json_t *result, char **err, struct outcome *out)
{
	int single = 0;
	int64_t deadline = call->deadline_ms;
	/* queries: 0 BEGIN, 1 set_config, 2 the statement, 3 COMMIT, then the
	 * sync; a step sent in a pipeline after another has a ROLLBACK first
	 * (-1), which ends the transaction of the step before if it failed */
	for (int q = ahead == 2 ? -1 : 0; q <= 4 && !out->lost;) {
		if (q == 2 && !single) /* pipeline mode: set it before each query's results */
			single = PQsetSingleRowMode(c) || 1;
		int w;
		PGresult *r = next_result(c, deadline, call->env->cancel, &w);
		if (w) {
			if (w == 3 || out->stopped) { /* the socket failed, or the server did not answer the cancel */
				out->lost = 1;
				break;
			}
			out->stopped = w; /* deadline or cancelled: cancel on the server, await it */
			cancel(c);
			deadline = now_ms() + CANCEL_GRACE_MS;
			continue;
		}
		if (!r) { /* end of this query's results */
			q++;
			continue;
		}
		switch (PQresultStatus(r)) {
		case PGRES_SINGLE_TUPLE:
		case PGRES_TUPLES_OK:
			if (q == 2) {
				collect_rows(&out->col, r, call->env->row_cap ? call->env->row_cap : ACTION_ROW_CAP,
					     call->env->output_cap ? call->env->output_cap : ACTION_OUTPUT_CAP);
				if (PQresultStatus(r) == PGRES_TUPLES_OK)
					snprintf(out->cmd, sizeof out->cmd, "%s", PQcmdStatus(r));
			}
			break;
		case PGRES_COMMAND_OK:
			if (q == 2) {
				snprintf(out->cmd, sizeof out->cmd, "%s", PQcmdStatus(r));
				out->affected = atoll(PQcmdTuples(r));
			}
			break;
		case PGRES_PIPELINE_SYNC:
			q = 5;
			break;
		case PGRES_PIPELINE_ABORTED:
			break;
		default:
			set_pg_error(result, r, err);
			break;
		}
		PQclear(r);
	}
}

/* Ends a transaction an error left open. 0, or -1 when the server did not
 * answer in time (the connection is unusable). */
static int roll_back(PGconn *c, const volatile int *cancel)
{
	PQsendQueryParams(c, "ROLLBACK", 0, NULL, NULL, NULL, NULL, 0);
	PQpipelineSync(c);
	PQflush(c);
	int64_t until = now_ms() + CANCEL_GRACE_MS;
	for (int done = 0; !done;) {
		int w;
		PGresult *r = next_result(c, until, cancel, &w);
		if (w)
			return -1;
		if (r && PQresultStatus(r) == PGRES_PIPELINE_SYNC)
			done = 1;
		PQclear(r);
	}
	return 0;
}

/* The result's fields from the outcome, and the step's status. */
static enum step_status verdict(struct action_call *call, struct pgconn *pc, struct outcome *out, json_t *result,
				char **err)
{
	char *sp = strchr(out->cmd, ' ');
	if (sp)
		*sp = '\0';
	struct collect *col = &out->col;
	json_object_set_new(result, "columns", col->columns ? col->columns : json_array());
	json_object_set_new(result, "rows", col->rows);
	json_object_set_new(result, "row_count",
			    json_integer(out->affected >= 0 && !col->total ? out->affected : (long long)col->total));
	json_object_set_new(result, "command", out->cmd[0] ? json_string(out->cmd) : json_null());
	if (col->capped)
		json_object_set_new(result, "rows_truncated", json_integer(col->total));
	if (json_array_size(pc->notices))
		json_object_set(result, "notices", pc->notices);

	if (out->stopped == 1) {
		free(*err);
		*err = xasprintf("timed out after %lld ms; the query was cancelled on the server%s",
				 (long long)call->timeout_ms, out->lost ? " (no confirmation; the connection was closed)" : "");
		return ST_TIMEOUT;
	}
	if (out->stopped == 2) {
		free(*err);
		*err = xstrdup("interrupted; the query was cancelled on the server");
		return ST_FAILED;
	}
	const char *state = json_string_value(json_object_get(result, "sqlstate"));
	if (state && !strcmp(state, "57014")) /* the server's statement_timeout fired first */
		return ST_TIMEOUT;
	if (*err)
		return ST_FAILED;
	if (out->lost) {
		*err = xstrdup("the connection to the server was lost");
		return ST_FAILED;
	}
	return ST_OK;
}

static enum step_status sql_run(struct action_call *call, json_t *result, char **err)
{
	enum step_status st = ST_FAILED;
	size_t off;
	/* a runbook's own steps were judged by `check`; Lua sql() text is judged here */
	if (sql_check(call->text, call->mutates, err, &off))
		return ST_FAILED;
	struct pgconn *pc = get_conn(call, result, err, &st);
	if (!pc)
		return st;
	PGconn *c = pc->conn;
	json_decref(pc->notices);
	pc->notices = json_array();

	/* sent in a pipeline with the steps around it, on this connection */
	int ahead = call->sent_on == (const void *)c ? call->sent : 0;
	call->sent = 0; /* a retry sends its own */
	call->sent_on = NULL;
	int sent = ahead || (send_step(c, call, 0) && PQflush(c) == 0);
	if (!sent) {
		char *m = trimmed(PQerrorMessage(c));
		*err = xasprintf("cannot send the query: %s", m);
		free(m);
		drop_conn(pc);
		return ST_FAILED;
	}
	struct outcome out = {{NULL, json_array(), 0, 0, 0}, "", -1, 0, 0};
	read_results(call, c, ahead, result, err, &out);
	/* an error left the transaction open: roll it back (unless the steps
	 * sent after this one do, each with its leading ROLLBACK) */
	if (!out.lost && !call->more && PQtransactionStatus(c) != PQTRANS_IDLE && roll_back(c, call->env->cancel))
		out.lost = 1;
	if (out.lost)
		drop_conn(pc); /* unusable: the next step reconnects */
	return verdict(call, pc, &out, result, err);
}

static void sql_empty(json_t *res)
{
	json_object_set_new(res, "columns", json_array());
	json_object_set_new(res, "rows", json_array());
	json_object_set_new(res, "row_count", json_integer(0));
}

static void sql_fixture_fill(json_t *res)
{
	json_t *rows = json_object_get(res, "rows");
	if (!rows) {
		rows = json_array();
		json_object_set_new(res, "rows", rows);
	}
	if (!json_object_get(res, "columns")) {
		json_t *cols = json_array();
		const char *ck;
		json_t *cv;
		json_object_foreach(json_array_get(rows, 0), ck, cv)
			json_array_append_new(cols, json_string(ck));
		json_object_set_new(res, "columns", cols);
	}
	if (!json_object_get(res, "row_count"))
		json_object_set_new(res, "row_count", json_integer((json_int_t)json_array_size(rows)));
}

const struct action action_sql = {
	.name = "sql",
	.target_type = "postgres",
	.spec = SPEC_TEXT,
	.flags = ACTION_OVERLAPS | ACTION_VERBATIM | ACTION_BINDS,
	.slot = 0,
	.render = sql_render,
	.run = sql_run,
	.check = sql_check,
	.warm = sql_warm,
	.send_ahead = sql_send_ahead,
	.release = sql_release,
	.empty_result = sql_empty,
	.fixture_fill = sql_fixture_fill,
};
