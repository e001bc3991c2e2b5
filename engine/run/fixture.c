/* fixture: checking, loading and applying recorded results. See fixture.h. */
#define _POSIX_C_SOURCE 200809L
#include "fixture.h"
#include "util.h"
#include "action.h"

#include <stdlib.h>
#include <string.h>

/* What a field may hold. */
enum ftype { F_STRING, F_INT, F_INT_OR_NULL, F_STRING_OR_NULL, F_SIGNAL, F_BOOL, F_OBJECT, F_ANY,
	     F_STRINGS, F_ROWS, F_HOSTS, F_STATUS };

struct field {
	const char *action; /* NULL: every action */
	const char *name;
	enum ftype type;
};

static const struct field fields[] = {
	{NULL, "status", F_STATUS}, {NULL, "error", F_STRING}, {NULL, "reason", F_STRING},
	{NULL, "started_at", F_STRING}, {NULL, "duration_ms", F_INT}, {NULL, "attempts", F_INT},
	{NULL, "log", F_STRINGS},
	{"sql", "columns", F_STRINGS}, {"sql", "rows", F_ROWS}, {"sql", "row_count", F_INT},
	{"sql", "command", F_STRING_OR_NULL}, {"sql", "rows_truncated", F_INT}, {"sql", "notices", F_STRINGS},
	{"sql", "sqlstate", F_STRING}, {"sql", "detail", F_STRING}, {"sql", "hint", F_STRING},
	{"ssh", "stdout", F_STRING}, {"ssh", "stderr", F_STRING}, {"ssh", "exit_code", F_INT_OR_NULL},
	{"ssh", "signal", F_SIGNAL}, {"ssh", "stdout_truncated", F_INT}, {"ssh", "stderr_truncated", F_INT},
	{"ssh", "hosts", F_HOSTS},
	{"shell", "stdout", F_STRING}, {"shell", "stderr", F_STRING}, {"shell", "exit_code", F_INT_OR_NULL},
	{"shell", "signal", F_SIGNAL}, {"shell", "stdout_truncated", F_INT}, {"shell", "stderr_truncated", F_INT},
	{"http", "status_code", F_INT_OR_NULL}, {"http", "headers", F_OBJECT}, {"http", "body", F_STRING},
	{"http", "body_truncated", F_INT},
	{"notify", "delivered", F_BOOL}, {"notify", "notifications", F_ANY},
};

static const char *type_name(json_t *v)
{
	switch (json_typeof(v)) {
	case JSON_OBJECT: return "a mapping";
	case JSON_ARRAY: return "a list";
	case JSON_STRING: return "a string";
	case JSON_INTEGER: return "an integer";
	case JSON_REAL: return "a number";
	case JSON_TRUE:
	case JSON_FALSE: return "a boolean";
	default: return "null";
	}
}

static char *check_value(const char *action, enum ftype t, json_t *v, const char *name);

/* A fan-out host's result: the ssh fields, its own status and error. */
static char *check_host(const char *host, json_t *h)
{
	if (!json_is_object(h))
		return xasprintf("host '%s' must be a mapping of result fields, not %s", host, type_name(h));
	const char *k;
	json_t *v;
	json_object_foreach(h, k, v) {
		const struct field *f = NULL;
		for (size_t i = 0; i < ARRAY_LEN(fields); i++)
			if ((!fields[i].action || !strcmp(fields[i].action, "ssh")) && !strcmp(fields[i].name, k) &&
			    fields[i].type != F_HOSTS)
				f = &fields[i];
		if (!f)
			return xasprintf("host '%s': unknown field '%s'", host, k);
		char *e = check_value("ssh", f->type, v, k);
		if (e) {
			char *m = xasprintf("host '%s': %s", host, e);
			free(e);
			return m;
		}
	}
	return NULL;
}

static char *check_value(const char *action, enum ftype t, json_t *v, const char *name)
{
	(void)action;
	size_t i;
	json_t *x;
	switch (t) {
	case F_STRING:
		return json_is_string(v) ? NULL : xasprintf("'%s' must be a string, not %s", name, type_name(v));
	case F_STRING_OR_NULL:
		return json_is_string(v) || json_is_null(v) ? NULL
			: xasprintf("'%s' must be a string or null, not %s", name, type_name(v));
	case F_INT:
		return json_is_integer(v) && json_integer_value(v) >= 0 ? NULL
			: xasprintf("'%s' must be a whole number >= 0, not %s", name, type_name(v));
	case F_INT_OR_NULL:
		return json_is_integer(v) || json_is_null(v) ? NULL
			: xasprintf("'%s' must be an integer or null, not %s", name, type_name(v));
	case F_SIGNAL:
		return json_is_string(v) || json_is_integer(v) || json_is_null(v) ? NULL
			: xasprintf("'%s' must be a signal name (\"SIGKILL\") or null, not %s", name, type_name(v));
	case F_BOOL:
		return json_is_boolean(v) ? NULL : xasprintf("'%s' must be true or false, not %s", name, type_name(v));
	case F_OBJECT:
		return json_is_object(v) ? NULL : xasprintf("'%s' must be a mapping, not %s", name, type_name(v));
	case F_ANY:
		return NULL;
	case F_STATUS:
		if (!json_is_string(v))
			return xasprintf("'status' must be one of ok, failed, timeout, skipped, would-run, not %s",
					 type_name(v));
		if (step_status_parse(json_string_value(v)) < 0)
			return xasprintf("unknown status '%s' (ok, failed, timeout, skipped or would-run)",
					 json_string_value(v));
		return NULL;
	case F_STRINGS:
		if (!json_is_array(v))
			return xasprintf("'%s' must be a list of strings, not %s", name, type_name(v));
		json_array_foreach(v, i, x)
			if (!json_is_string(x))
				return xasprintf("'%s' entry %zu must be a string, not %s", name, i + 1, type_name(x));
		return NULL;
	case F_ROWS:
		if (!json_is_array(v))
			return xasprintf("'rows' must be a list of mappings (column: value), not %s", type_name(v));
		json_array_foreach(v, i, x)
			if (!json_is_object(x))
				return xasprintf("row %zu must be a mapping of column: value, not %s", i + 1, type_name(x));
		return NULL;
	case F_HOSTS: {
		if (!json_is_object(v))
			return xasprintf("'hosts' must be a mapping of host: result, not %s", type_name(v));
		const char *k;
		json_object_foreach(v, k, x) {
			char *e = check_host(k, x);
			if (e)
				return e;
		}
		return NULL;
	}
	}
	return NULL;
}

/* Rows against columns: each row has exactly the listed columns. */
static char *check_rows(json_t *cols, json_t *rows)
{
	size_t i, c;
	json_t *row, *col;
	json_array_foreach(rows, i, row) {
		json_array_foreach(cols, c, col)
			if (!json_object_get(row, json_string_value(col)))
				return xasprintf("row %zu has no value for column '%s' (use null for NULL)", i + 1,
						 json_string_value(col));
		const char *k;
		json_t *v;
		json_object_foreach(row, k, v) {
			int listed = 0;
			json_array_foreach(cols, c, col)
				listed |= !strcmp(json_string_value(col), k);
			if (!listed)
				return xasprintf("row %zu has column '%s', which 'columns' does not list", i + 1, k);
		}
	}
	return NULL;
}

int fixture_check(const struct rb_step *s, json_t *fx, char **err, const char **field)
{
	*field = NULL;
	if (!json_is_object(fx)) {
		*err = xasprintf("a fixture must be a mapping of result fields, not %s", type_name(fx));
		return -1;
	}
	const char *action = s->action->name;
	if (s->action->flags & ACTION_CODE) { /* honoured or refused, never ignored */
		*err = xstrdup("a lua step runs in every test and replay; it takes no fixture");
		return -1;
	}
	const char *k;
	json_t *v;
	json_object_foreach(fx, k, v) {
		const struct field *f = NULL;
		const char *cands[ARRAY_LEN(fields) + 1];
		size_t nc = 0;
		for (size_t i = 0; i < ARRAY_LEN(fields); i++) {
			if (fields[i].action && strcmp(fields[i].action, action))
				continue;
			cands[nc++] = fields[i].name;
			if (!strcmp(fields[i].name, k))
				f = &fields[i];
		}
		cands[nc] = NULL;
		*field = k;
		if (!f) {
			const char *dym = did_you_mean(k, cands);
			const char *an = !strcmp(action, "sql") || !strcmp(action, "ssh") || !strcmp(action, "http") ? "an" : "a";
			*err = dym ? xasprintf("unknown field '%s' for %s %s result (did you mean '%s'?)", k, an, action, dym)
				   : xasprintf("unknown field '%s' for %s %s result", k, an, action);
			return -1;
		}
		if ((*err = check_value(action, f->type, v, k)))
			return -1;
	}
	json_t *cols = json_object_get(fx, "columns"), *rows = json_object_get(fx, "rows");
	if (cols && rows && (*err = check_rows(cols, rows))) {
		*field = "rows";
		return -1;
	}
	*field = NULL;
	return 0;
}

/* A recording ({params, alert, steps}) rather than a bare map of steps? */
static int is_recording(json_t *j)
{
	if (!json_is_object(json_object_get(j, "steps")))
		return 0;
	const char *k;
	json_t *v;
	json_object_foreach(j, k, v)
		if (strcmp(k, "steps") && strcmp(k, "params") && strcmp(k, "alert"))
			return 0;
	return 1;
}

json_t *fixture_parse(const struct runbook *rb, const char *name, const char *buf, size_t len,
		      struct diag_list *diags, json_t **params, json_t **alert)
{
	json_error_t je;
	if (params)
		*params = NULL;
	if (alert)
		*alert = NULL;
	json_t *doc = json_loadb(buf, len, JSON_REJECT_DUPLICATES | JSON_ALLOW_NUL, &je);
	if (!doc) {
		diag_add(diags, name, je.line, je.column, "not a fixtures file (JSON as --record writes it): %s", je.text);
		return NULL;
	}
	if (!json_is_object(doc)) {
		diag_add(diags, name, 0, 0, "fixtures must be a mapping of step id: result, not %s", type_name(doc));
		json_decref(doc);
		return NULL;
	}
	json_t *j = doc;
	if (is_recording(doc)) { /* {params, alert, steps}: what --record writes */
		json_t *p = json_object_get(doc, "params"), *a = json_object_get(doc, "alert");
		if (p && !json_is_object(p) && !json_is_null(p)) {
			diag_add(diags, name, 0, 0, "'params' of a recording must be a mapping, not %s", type_name(p));
			json_decref(doc);
			return NULL;
		}
		if (a && !json_is_object(a) && !json_is_null(a)) {
			diag_add(diags, name, 0, 0, "'alert' of a recording must be a mapping, not %s", type_name(a));
			json_decref(doc);
			return NULL;
		}
		if (params && json_is_object(p))
			*params = json_incref(p);
		if (alert && json_is_object(a))
			*alert = json_incref(a);
		j = json_incref(json_object_get(doc, "steps"));
		json_decref(doc);
	}
	int bad = 0;
	const char *id;
	json_t *fx;
	json_object_foreach(j, id, fx) {
		const struct rb_step *s = runbook_step(rb, id);
		if (!s) {
			const char *cands[65];
			size_t n = 0;
			for (size_t i = 0; i < rb->nsteps && n < 64; i++)
				cands[n++] = rb->steps[i].id;
			cands[n] = NULL;
			const char *dym = did_you_mean(id, cands);
			diag_add(diags, name, 0, 0, "fixture for unknown step '%s' (runbook %s)%s%s%s", id, rb->id,
				 dym ? " (did you mean '" : "", dym ? dym : "", dym ? "'?)" : "");
			bad = 1;
			continue;
		}
		char *err;
		const char *field;
		if (fixture_check(s, fx, &err, &field)) {
			diag_add(diags, name, 0, 0, "step '%s': %s", id, err);
			free(err);
			bad = 1;
		}
	}
	if (bad) {
		json_decref(j);
		if (params && *params)
			json_decref(*params), *params = NULL;
		if (alert && *alert)
			json_decref(*alert), *alert = NULL;
		return NULL;
	}
	return j;
}

json_t *fixture_load(const struct runbook *rb, const char *path, struct diag_list *diags, json_t **params,
		     json_t **alert)
{
	char *buf, *e;
	size_t len;
	/* as large as a recording can be: every step at its output caps */
	if (read_file(path, (size_t)1 << 30, &buf, &len, &e)) {
		diag_add(diags, path, 0, 0, "cannot read fixtures: %s", e);
		free(e);
		return NULL;
	}
	json_t *j = fixture_parse(rb, path, buf, len, diags, params, alert);
	free(buf);
	return j;
}

void fixture_apply(const struct rb_step *s, json_t *res, json_t *fx)
{
	const char *k;
	json_t *v;
	json_object_foreach(fx, k, v)
		json_object_set(res, k, v);
	if (s->action->fixture_fill)
		s->action->fixture_fill(res);
	if (json_object_get(fx, "status"))
		return;
	if (s->action->fixture_judge) {
		s->action->fixture_judge(s->spec, res);
		return;
	}
	/* as a real run would: a non-zero exit fails; a fan-out is its worst host */
	json_t *ec = json_object_get(res, "exit_code");
	enum step_status st = json_is_integer(ec) && json_integer_value(ec) ? ST_FAILED : ST_OK;
	json_t *hosts = json_object_get(res, "hosts");
	json_object_foreach(hosts, k, v) {
		const char *hs = json_string_value(json_object_get(v, "status"));
		json_t *hec = json_object_get(v, "exit_code");
		int hst = hs ? step_status_parse(hs) : json_is_integer(hec) && json_integer_value(hec) ? ST_FAILED : ST_OK;
		if (hst == ST_TIMEOUT || (hst == ST_FAILED && st == ST_OK))
			st = (enum step_status)hst;
	}
	json_object_set_new(res, "status", json_string(step_status_name(st)));
}
