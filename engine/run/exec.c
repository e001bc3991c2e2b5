/*
 * exec: run a runbook's steps in order. See exec.h.
 *
 * The executor knows actions only through struct action: it renders a
 * step's templates into an action_call, then either shows it (dry-run,
 * would-run), fills it from a fixture, or asks the action to run it before
 * the step's deadline, with retries. Results go into the report and into
 * the sandbox's `steps` table, so later steps and templates can use them.
 */
#define _POSIX_C_SOURCE 200809L
#include "exec.h"
#include "fixture.h"
#include "lanes.h"
#include "notifier.h"
#include "path.h"
#include "template.h"
#include "text.h"
#include "util.h"
#include "action.h"

#include <ctype.h>
#include <stdarg.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

struct run {
	const struct runbook *rb;
	const struct exec_opts *o;
	struct sandbox *sb;
	struct action_env env;
	struct redactor *red;
	json_t *findings;
	const struct rb_step *cur;
	json_t *cur_result;
	int64_t cur_deadline;
	int writable;         /* the current step is a mutating step that runs */
	char *record_error;   /* the timeline store failed: the run stops */
	const char *incident; /* the incident recorded into, or NULL */
	json_t *steps;        /* the report's steps, in the runbook's order */
	int failed, stop;     /* a step failed; one with on_failure: stop did */
	const char *stopped_by;
	char run_id[20];      /* tells concurrent runs in one incident apart */
};

/* Records an event in the timeline, if there is one. */
static void record(struct run *r, const char *kind, json_t *data, const char *fmt, ...)
	__attribute__((format(printf, 4, 5)));
static void record(struct run *r, const char *kind, json_t *data, const char *fmt, ...)
{
	if (!r->o->record || r->record_error)
		return;
	va_list ap;
	va_start(ap, fmt);
	char *summary = xvasprintf(fmt, ap);
	va_end(ap);
	char *safe = redact_str(r->red, summary);
	char *err = NULL;
	json_t *d = json_is_object(data) ? json_copy(data) : json_object();
	json_object_set_new(d, "run", json_string(r->run_id));
	int bad = r->o->record(r->o->record_ud, kind, safe, d, &err);
	json_decref(d);
	if (bad)
		r->record_error = err ? err : xstrdup("the timeline store failed");
	free(safe);
	free(summary);
}

/* A durability barrier: 0 when every event so far is on disk; else the run
 * stops as when a record fails. */
static int settle(struct run *r)
{
	if (r->record_error)
		return -1;
	char *err = NULL;
	if (r->o->barrier && r->o->barrier(r->o->record_ud, &err)) {
		r->record_error = err ? err : xstrdup("the timeline store failed");
		return -1;
	}
	return 0;
}

/* ---- parameters ---- */

/* Follows a dotted path such as "alert.labels.instance" inside root. */
static json_t *json_path(json_t *root, const char *path)
{
	const char *p = path;
	if (!strncmp(p, "alert.", 6))
		p += 6;
	json_t *cur = root;
	char *copy = xstrdup(p), *save = NULL;
	for (char *tok = strtok_r(copy, ".", &save); tok && cur; tok = strtok_r(NULL, ".", &save))
		cur = json_object_get(cur, tok);
	free(copy);
	return cur;
}

int exec_bind_params(const struct runbook *rb, json_t *given, json_t *alert, json_t **out, char **err)
{
	json_t *params = json_object();
	const char *k;
	json_t *v;
	json_object_foreach(given, k, v) {
		const struct rb_param *p = runbook_param(rb, k);
		if (!p) {
			const char *cands[65];
			size_t n = 0;
			for (size_t i = 0; i < rb->nparams && n < 64; i++)
				cands[n++] = rb->params[i].name;
			cands[n] = NULL;
			const char *dym = did_you_mean(k, cands);
			*err = dym ? xasprintf("unknown parameter '%s' for runbook %s (did you mean '%s'?)", k, rb->id, dym)
				   : xasprintf("unknown parameter '%s' for runbook %s", k, rb->id);
			json_decref(params);
			return -1;
		}
		json_t *tv = json_is_string(v) ? runbook_param_value(p, json_string_value(v), err) : json_incref(v);
		if (!tv) {
			json_decref(params);
			return -1;
		}
		json_object_set_new(params, k, tv);
	}
	for (size_t i = 0; i < rb->nparams; i++) {
		const struct rb_param *p = &rb->params[i];
		if (json_object_get(params, p->name))
			continue;
		json_t *fv = p->from && alert ? json_path(alert, p->from) : NULL;
		if (fv && json_is_string(fv)) {
			json_t *tv = runbook_param_value(p, json_string_value(fv), err);
			if (!tv) {
				json_decref(params);
				return -1;
			}
			json_object_set_new(params, p->name, tv);
		} else if (fv && !json_is_null(fv)) {
			json_object_set(params, p->name, fv);
		} else if (p->def) {
			json_object_set(params, p->name, p->def);
		} else if (p->required) {
			*err = xasprintf("runbook %s needs parameter '%s' (-p %s=VALUE)", rb->id, p->name, p->name);
			json_decref(params);
			return -1;
		}
	}
	*out = params;
	return 0;
}

/* ---- sandbox host callbacks ---- */

static void on_finding(void *ud, const char *level, const char *msg)
{
	struct run *r = ud;
	json_t *f = json_pack("{s:s, s:s, s:s?}", "level", level, "message", msg, "step", r->cur ? r->cur->id : NULL);
	if (!f) /* the message was not UTF-8 */
		f = json_pack("{s:s, s:s, s:s?}", "level", level, "message", "(finding message is not valid UTF-8)",
			      "step", r->cur ? r->cur->id : NULL);
	if (r->red)
		redact_json(r->red, f);
	json_array_append_new(r->findings, f);
	record(r, "finding", f, "%s: %s", level, json_string_value(json_object_get(f, "message")));
}

static void on_log(void *ud, const char *msg)
{
	struct run *r = ud;
	if (!r->cur_result)
		return;
	json_t *logs = json_object_get(r->cur_result, "log");
	if (!logs) {
		logs = json_array();
		json_object_set_new(r->cur_result, "log", logs);
	}
	json_t *s = json_string(msg);
	json_array_append_new(logs, s ? s : json_string("(log message is not UTF-8)"));
}

static void on_secret(void *ud, const char *value)
{
	struct run *r = ud;
	if (r->red)
		redact_add(r->red, value);
}

/* A `notify` step: through the routed notifiers, every attempt recorded. */
static int on_notify(void *ud, const char *to, const char *message, json_t *result, char **err)
{
	struct run *r = ud;
	const struct config *cfg = r->o->cfg;
	json_t *names = cfg ? notifier_route(cfg, to) : NULL;
	if (!json_array_size(names)) {
		*err = xasprintf("notify: no notifier is routed for '%s' (the config's notifiers and routes)", to);
		json_decref(names);
		return -1;
	}
	json_decref(names);
	if (settle(r)) { /* the record of the run so far comes before the message */
		*err = xasprintf("notify: not sent: the timeline store failed: %s", r->record_error);
		return -1;
	}
	json_t *findings = json_deep_copy(r->findings);
	json_t *info = json_pack("{s:s?, s:s, s:s?, s:s, s:s, s:s, s:o, s:n}", "incident", r->incident, "title",
				 message, "severity", r->rb->severity, "status", "triggered", "runbook", r->rb->id,
				 "summary", message, "findings", findings, "url");
	json_t *attempts = notifier_send(cfg, to, info, "trigger", r->red);
	json_decref(info);
	int delivered = 0;
	size_t i;
	json_t *a;
	json_array_foreach(attempts, i, a) {
		int ok = json_is_true(json_object_get(a, "delivered"));
		delivered |= ok;
		record(r, "notify", a, "step %s: %s %s via %s", r->cur ? r->cur->id : "?", ok ? "notified" : "could not notify",
		       to, json_string_value(json_object_get(a, "notifier")));
	}
	json_object_set_new(result, "delivered", json_boolean(delivered));
	json_object_set_new(result, "notifications", attempts);
	if (!delivered)
		*err = xasprintf("notify: no notifier delivered the message to '%s'", to);
	return delivered ? 0 : -1;
}

/* The empty result fields of a would-run action. */
static void empty_fields(const struct action *a, json_t *res)
{
	if (a->empty_result)
		a->empty_result(res);
	else
		json_object_set_new(res, "value", json_null());
}

/* The target's configuration, rendered, with any --target override. */
static json_t *target_config(struct run *r, const char *name, char **err)
{
	const struct rb_target *t = runbook_target(r->rb, name);
	if (!t) {
		*err = xasprintf("unknown target '%s'", name);
		return NULL;
	}
	/* the override replaces the DSN before rendering: what it replaces is
	 * never evaluated (it may name an unset variable) */
	json_t *raw = json_deep_copy(t->config);
	json_t *dsn = r->o->target_dsn ? json_object_get(r->o->target_dsn, name) : NULL;
	if (dsn) {
		json_object_del(raw, "dsn");
		json_object_del(raw, "service");
	}
	json_t *cfg = template_render_json(r->sb, raw, 0, r->rb->file, t->line, r->cur_deadline, err);
	json_decref(raw);
	if (cfg && dsn) /* a DSN from the command line is not a template */
		json_object_set(cfg, "dsn", dsn);
	if (cfg && r->red) /* its password is a secret before anything can print it */
		redact_add_dsn(r->red, json_string_value(json_object_get(cfg, "dsn")));
	return cfg;
}

static int on_action(void *ud, const char *name, const char *target, const char *text, json_t *args,
		     json_t **result, char **err)
{
	struct run *r = ud;
	const struct action *a = action_find(name);
	json_t *cfg = target_config(r, target, err);
	if (!cfg)
		return -1;
	const struct rb_target *t = runbook_target(r->rb, target);
	if (strcmp(t->type, a->target_type)) {
		*err = xasprintf("target '%s' is %s, not %s", target, t->type, a->target_type);
		json_decref(cfg);
		return -1;
	}
	struct action_call call = {
		.step_id = r->cur ? r->cur->id : "?", .file = r->rb->file, .line = r->cur ? r->cur->line : 0,
		.text = text, .args = args, .target_name = target, .target = cfg,
		.deadline_ms = r->cur_deadline, .timeout_ms = r->cur ? r->cur->timeout_ms : 0,
		.mutates = r->writable, .env = &r->env,
	};
	json_t *res = json_object();
	int rc = 0;
	if (r->o->dry_run) {
		char *rendered = a->render(&call);
		on_log(r, rendered);
		free(rendered);
		json_object_set_new(res, "status", json_string("would-run"));
		empty_fields(a, res);
	} else {
		enum step_status st = a->run(&call, res, err);
		json_object_set_new(res, "status", json_string(step_status_name(st)));
		if (st != ST_OK)
			rc = -1;
	}
	json_decref(cfg);
	*result = res;
	return rc;
}

/* ---- one step ---- */

/* Asks on the terminal whether a mutating step may run, showing what it
 * would run and the findings so far (both redacted). */
static int ask(struct run *r, const struct rb_step *s, const char *rendered)
{
	FILE *tty = fopen("/dev/tty", "r+");
	if (!tty)
		return 0;
	char *safe = redact_str(r->red, rendered);
	char *shown = text_escape(safe, strlen(safe), 1);
	fprintf(tty, "\nStep '%s' changes the system:\n%s\n", s->id, shown);
	size_t i;
	json_t *f;
	json_array_foreach(r->findings, i, f) {
		if (!i)
			fputs("Findings so far:\n", tty);
		char *m = text_escape_json(json_object_get(f, "message"));
		fprintf(tty, "  %-8s %s\n", json_string_value(json_object_get(f, "level")), m);
		free(m);
	}
	fputs("Run it? [y/N] ", tty);
	fflush(tty);
	free(shown);
	free(safe);
	char line[16] = "";
	int yes = fgets(line, sizeof line, tty) && (line[0] == 'y' || line[0] == 'Y');
	fclose(tty);
	return yes;
}

/* Records who allowed (or refused) a mutating step, and how. */
static void record_approval(struct run *r, const struct rb_step *s, int yes, const char *how)
{
	char at[40];
	utc_timestamp(at, sizeof at);
	const char *user = getenv("USER") ? getenv("USER") : getenv("LOGNAME");
	json_t *d = json_pack("{s:s, s:s, s:s, s:s, s:s}", "step", s->id, "user", user ? user : "unknown", "answer",
			      yes ? "yes" : "no", "via", how, "time", at);
	record(r, "approval", d, "step %s: %s %s (%s)", s->id, user ? user : "unknown", yes ? "approved" : "declined",
	       how);
	json_decref(d);
}

/* Renders the step's action into call. Returns 0, or -1 with *err. */
static int render_call(struct run *r, const struct rb_step *s, struct action_call *call, char **err)
{
	const struct action *a = s->action;
	call->step_id = s->id;
	call->file = r->rb->file;
	call->line = s->spec_line;
	call->timeout_ms = s->timeout_ms;
	call->mutates = s->mutates;
	call->deadline_ms = r->cur_deadline;
	call->env = &r->env;
	call->target_name = s->on;
	if (s->on && !(call->target = target_config(r, s->on, err))) {
		if (!r->o->dry_run)
			return -1;
		/* a dry run connects to nothing: the target as written will do */
		free(*err);
		*err = NULL;
		call->target = json_deep_copy(runbook_target(r->rb, s->on)->config);
	}
	if (!s->on && a->target_type && !(call->target = json_object()))
		return -1;
	if (a->spec == SPEC_MAPPING) {
		call->spec = template_render_json(r->sb, s->spec, 0, r->rb->file, s->spec_line, r->cur_deadline, err);
		return call->spec ? 0 : -1;
	}
	if (json_is_array(s->spec)) {
		call->argv = template_render_json(r->sb, s->spec, 0, r->rb->file, s->spec_line, r->cur_deadline, err);
		return call->argv ? 0 : -1;
	}
	char *text = NULL;
	if (a->flags & ACTION_VERBATIM)
		text = xstrdup(json_string_value(s->spec)); /* code and SQL are never templated */
	else if (template_render(r->sb, json_string_value(s->spec), a->quote_shell, r->rb->file, s->spec_line,
				 r->cur_deadline, &text, err))
		return -1;
	call->text = text;
	if (s->args) {
		json_t *rendered = template_render_json(r->sb, s->args, 0, r->rb->file, s->line, r->cur_deadline, err);
		if (!rendered)
			return -1;
		call->args = json_array();
		size_t i;
		json_t *v;
		json_array_foreach(rendered, i, v) {
			if (json_is_null(v)) {
				json_array_append_new(call->args, json_null());
			} else {
				char *t = template_value_text(v);
				json_array_append_new(call->args, json_string(t));
				free(t);
			}
		}
		json_decref(rendered);
	} else if (a->flags & ACTION_BINDS) {
		call->args = json_array();
	}
	return 0;
}

static void release_call(struct action_call *call)
{
	free((char *)call->text);
	json_decref(call->argv);
	json_decref(call->args);
	json_decref(call->spec);
	json_decref(call->target);
}

static enum step_status set_error(json_t *res, enum step_status st, char *err)
{
	json_object_set_new(res, "status", json_string(step_status_name(st)));
	if (err) {
		json_t *e = json_string(err);
		json_object_set_new(res, "error", e ? e : json_string("error (not UTF-8)"));
		free(err);
	}
	return st;
}

/* Runs a rendered action with the step's retries. r is NULL on a lane of
 * overlapping steps (no Lua runs there); else the run's deadline follows
 * each attempt, for Lua sql() inside a `lua` step. */
static enum step_status perform(struct run *r, const struct rb_step *s, struct action_call *call, json_t *res)
{
	const struct action *a = s->action;
	char *err = NULL;
	enum step_status st;
	int attempt = 0;
	for (;;) {
		json_t *fields = json_object();
		free(err);
		err = NULL;
		st = a->run(call, fields, &err);
		json_object_update(res, fields);
		json_decref(fields);
		attempt++;
		if (st == ST_OK || attempt > s->retries || action_cancelled(call->env))
			break;
		if (sleep_cancellable(s->retry_delay_ms, call->env->cancel))
			break;
		call->deadline_ms = now_ms() + s->timeout_ms;
		if (r)
			r->cur_deadline = call->deadline_ms;
	}
	if (attempt > 1)
		json_object_set_new(res, "attempts", json_integer(attempt));
	return set_error(res, st, err);
}

/* Everything before a step's action runs: mutations held back, `when`,
 * rendering, the prompt, dry-run and fixtures. Returns 1 when *call is
 * ready to perform, 0 when the step is settled (*st); *call is released by
 * the caller either way. */
static int step_ready(struct run *r, const struct rb_step *s, json_t *res, struct action_call *call,
		      enum step_status *st)
{
	const struct action *a = s->action;
	char *err = NULL;
	r->cur_deadline = now_ms() + s->timeout_ms;
	memset(call, 0, sizeof *call);
	if (s->mutates && r->o->no_mutate) {
		json_object_set_new(res, "status", json_string("skipped"));
		json_object_set_new(res, "reason", json_string(r->o->no_mutate));
		*st = ST_SKIPPED;
		return 0;
	}
	if (s->when) {
		json_t *v = NULL;
		enum sandbox_limit sl = sandbox_run(r->sb, s->when, 1, r->rb->file, s->when_line, r->cur_deadline, &v, &err);
		if (sl != SB_OK) {
			char *m = xasprintf("when: %s", err);
			free(err);
			*st = set_error(res, sl == SB_LIMIT_TIMEOUT ? ST_TIMEOUT : ST_FAILED, m);
			return 0;
		}
		int truthy = !(json_is_null(v) || json_is_false(v));
		json_decref(v);
		if (!truthy) {
			json_object_set_new(res, "status", json_string("skipped"));
			json_object_set_new(res, "reason", json_string("when condition is false"));
			*st = ST_SKIPPED;
			return 0;
		}
	}
	if (render_call(r, s, call, &err)) {
		if (r->o->dry_run || (s->mutates && !r->o->apply && !r->o->confirm)) {
			/* shown, not run: say why it could not be rendered */
			char *m = xasprintf("not rendered: %s", err);
			free(err);
			json_object_set_new(res, "rendered", json_string(json_is_string(s->spec) ? json_string_value(s->spec) : ""));
			empty_fields(a, res);
			*st = set_error(res, ST_WOULD_RUN, m);
			return 0;
		}
		*st = set_error(res, ST_FAILED, err);
		return 0;
	}
	char *rendered = a->render(call);
	if (!(a->flags & ACTION_CODE)) {
		json_t *rj = json_string(rendered);
		json_object_set_new(res, "rendered", rj ? rj : json_string(""));
	}
	int allowed = !s->mutates || r->o->apply, ready = 0;
	if (s->mutates && !r->o->apply && r->o->confirm && !r->o->dry_run) {
		if (r->o->progress)
			r->o->progress(r->o->progress_ud, s, res, PROGRESS_PAUSE);
		allowed = ask(r, s, rendered);
		record_approval(r, s, allowed, "prompt");
		/* the deadline is the step's own: it starts after the answer */
		r->cur_deadline = now_ms() + s->timeout_ms;
		call->deadline_ms = r->cur_deadline;
	} else if (s->mutates && r->o->apply && !r->o->dry_run) {
		record_approval(r, s, 1, "--apply");
	}
	free(rendered);
	json_t *fx = r->o->fixtures ? json_object_get(r->o->fixtures, s->id) : NULL;
	if (!allowed) {
		empty_fields(a, res);
		json_object_set_new(res, "status", json_string("would-run"));
		*st = ST_WOULD_RUN;
	} else if (r->o->dry_run && !(a->flags & ACTION_CODE)) {
		if (fx) {
			fixture_apply(s, res, fx);
			*st = step_status_parse(json_string_value(json_object_get(res, "status")));
			if ((int)*st < 0)
				*st = ST_OK;
		} else {
			empty_fields(a, res);
			json_object_set_new(res, "status", json_string("would-run"));
			*st = ST_WOULD_RUN;
		}
	} else if (s->mutates && settle(r)) {
		/* a change is never made that the timeline could lose */
		empty_fields(a, res);
		*st = set_error(res, ST_FAILED, xasprintf("not run: the timeline store failed: %s", r->record_error));
	} else {
		ready = 1;
	}
	return ready;
}

static enum step_status run_step(struct run *r, const struct rb_step *s, json_t *res)
{
	struct action_call call;
	enum step_status st;
	if (step_ready(r, s, res, &call, &st)) {
		r->writable = s->mutates; /* Lua sql() writes only inside its own running mutating step */
		st = perform(r, s, &call, res);
		r->writable = 0;
	}
	release_call(&call);
	return st;
}

static int refers_incident(json_t *config)
{
	char *t = json_dumps(config, JSON_ENCODE_ANY);
	int rc = !t || strstr(t, "incident");
	free(t);
	return rc;
}

/*
 * Connections overlap the work: every target that a step without `when`
 * will use (mutating steps only with --apply) starts connecting now, in the
 * background, while the steps run in order. A run then costs about its
 * slowest connection, not their sum.
 */
static void warm_targets(struct run *r)
{
	struct strlist seen = {0};
	for (size_t i = 0; i < r->rb->nsteps; i++) {
		const struct rb_step *s = &r->rb->steps[i];
		if (s->when || !s->on || !s->action->warm || (s->mutates && !r->o->apply))
			continue;
		if (r->o->begin && refers_incident(runbook_target(r->rb, s->on)->config))
			continue; /* it renders with the incident, not known yet */
		int dup = 0;
		for (size_t k = 0; k < seen.n; k++)
			dup |= !strcmp(seen.v[k], s->on);
		if (dup)
			continue;
		strlist_push(&seen, s->on);
		char *err = NULL;
		r->cur_deadline = now_ms() + s->timeout_ms;
		json_t *cfg = target_config(r, s->on, &err);
		if (cfg)
			s->action->warm(&r->env, s->on, cfg, r->cur_deadline);
		free(err); /* the step renders it again and reports the error */
		json_decref(cfg);
	}
	strlist_free(&seen);
}

/* What a dry run would connect to: each target a step uses, rendered when
 * it renders (else as written), its password shown as ***. */
static json_t *dry_run_targets(struct run *r)
{
	json_t *out = json_object();
	for (size_t i = 0; i < r->rb->nsteps; i++) {
		const struct rb_step *s = &r->rb->steps[i];
		if (!s->on || json_object_get(out, s->on))
			continue;
		char *err = NULL;
		r->cur_deadline = now_ms() + s->timeout_ms;
		json_t *cfg = target_config(r, s->on, &err);
		if (!cfg) {
			cfg = json_deep_copy(runbook_target(r->rb, s->on)->config);
			json_object_set_new(cfg, "not_rendered", json_string(err ? err : "?"));
		}
		free(err);
		const char *dsn = json_string_value(json_object_get(cfg, "dsn"));
		if (dsn) {
			char *m = redact_dsn(dsn);
			json_object_set_new(cfg, "dsn", json_string(m));
			free(m);
		}
		json_object_set_new(out, s->on, cfg);
	}
	return out;
}

/* ---- one step after another, or several at once ---- */

/* A step's result as it starts: id, action, target, title, started_at. */
static json_t *new_result(const struct rb_step *s)
{
	json_t *res = json_object();
	json_object_set_new(res, "id", json_string(s->id));
	json_object_set_new(res, "action", json_string(s->action->name));
	if (s->on)
		json_object_set_new(res, "target", json_string(s->on));
	if (s->title)
		json_object_set_new(res, "title", json_string(s->title));
	char ts[40];
	utc_timestamp(ts, sizeof ts);
	json_object_set_new(res, "started_at", json_string(ts));
	return res;
}

/* A step is done: into the report, the sandbox's `steps`, the timeline and
 * the progress display, in the runbook's order. Takes res. */
static void step_done(struct run *r, const struct rb_step *s, json_t *res, enum step_status st, int64_t st0)
{
	if (!json_object_get(res, "duration_ms")) /* a fixture keeps the time it recorded */
		json_object_set_new(res, "duration_ms", json_integer(now_ms() - st0));
	if (r->red)
		redact_json(r->red, res);
	sandbox_set_step(r->sb, s->id, res);
	json_array_append(r->steps, res);
	if (st != ST_SKIPPED || !r->record_error)
		record(r, "step", res, "step %s: %s (%lld ms)", s->id, step_status_name(st),
		       (long long)json_integer_value(json_object_get(res, "duration_ms")));
	if (r->o->progress)
		r->o->progress(r->o->progress_ud, s, res, PROGRESS_DONE);
	json_decref(res);
	if (st == ST_FAILED || st == ST_TIMEOUT) {
		r->failed = 1;
		if (s->stop_on_failure && !r->stop) {
			r->stop = 1;
			r->stopped_by = s->id;
		}
	}
}

static void step_alone(struct run *r, const struct rb_step *s)
{
	json_t *res = new_result(s);
	int64_t st0 = now_ms();
	enum step_status st;
	if (r->record_error) {
		st = set_error(res, ST_SKIPPED, xasprintf("not run: the timeline store failed: %s", r->record_error));
	} else if (action_cancelled(&r->env)) {
		st = set_error(res, ST_SKIPPED, xstrdup("not run: the run was interrupted"));
	} else if (r->stop) {
		st = set_error(res, ST_SKIPPED, xasprintf("not run: step '%s' failed and stops the run", r->stopped_by));
	} else {
		if (r->o->progress)
			r->o->progress(r->o->progress_ud, s, res, PROGRESS_START);
		r->cur = s;
		r->cur_result = res;
		sandbox_set_current_step(r->sb, s->id);
		st = run_step(r, s, res);
		r->cur = NULL;
		r->cur_result = NULL;
	}
	step_done(r, s, res, st, st0);
}

/*
 * Overlapping steps (SPEC section 4). A read-only `sql` or `ssh` step may
 * start before the steps above it finish, unless it refers to one of them
 * or one of them is a barrier: any other kind of step, a mutating step, or
 * one with on_failure: stop. Such a batch is decided in order on this
 * thread (`when`, templates: the sandbox is single-threaded), then
 * performed on lanes: one per target for a connection's steps, which run
 * one after another (SQL), one per step where they are channels of the
 * hosts' sessions (SSH); different targets at once. Results come back in
 * the runbook's order. `sequential: true` and dry runs never overlap.
 */

/* Whether text refers to one of the steps [from, to): `steps.ID` or
 * `steps["ID"]`; `steps` in any other form (a variable, a loop) counts as
 * referring to them all. */
static int refers(const char *text, const struct runbook *rb, size_t from, size_t to)
{
	for (const char *p = text; p && (p = strstr(p, "steps")); p += 5) {
		if (p > text && (isalnum((unsigned char)p[-1]) || p[-1] == '_'))
			continue; /* part of another name */
		const char *q = p + 5;
		char id[256];
		size_t n = 0;
		if (*q == '.') {
			for (q++; (isalnum((unsigned char)*q) || *q == '_') && n < sizeof id - 1; q++)
				id[n++] = *q;
		} else if (*q == '[') {
			for (q++; *q == ' '; q++)
				;
			char quote = *q;
			if (quote != '"' && quote != '\'')
				return 1;
			for (q++; *q && *q != quote && n < sizeof id - 1; q++)
				id[n++] = *q;
		} else if (isalnum((unsigned char)*q) || *q == '_') {
			continue; /* a longer name */
		} else {
			return 1;
		}
		id[n] = '\0';
		for (size_t k = from; k < to; k++)
			if (!strcmp(rb->steps[k].id, id))
				return 1;
		if (!n)
			return 1;
	}
	return 0;
}

static int refers_json(json_t *v, const struct runbook *rb, size_t from, size_t to)
{
	if (!v)
		return 0;
	char *t = json_dumps(v, JSON_ENCODE_ANY);
	int rc = !t || refers(t, rb, from, to);
	free(t);
	return rc;
}

static int overlappable(const struct run *r, const struct rb_step *s)
{
	return !r->rb->sequential && !r->o->dry_run && !s->mutates && s->on && (s->action->flags & ACTION_OVERLAPS);
}

/* The end of the batch that starts at step i (i + 1: i runs alone). */
static size_t batch_end(const struct run *r, size_t i)
{
	const struct runbook *rb = r->rb;
	if (!overlappable(r, &rb->steps[i]))
		return i + 1;
	size_t j = i + 1;
	for (; j < rb->nsteps; j++) {
		const struct rb_step *s = &rb->steps[j];
		if (!overlappable(r, s) || rb->steps[j - 1].stop_on_failure)
			break;
		const struct rb_target *t = runbook_target(rb, s->on);
		if ((s->when && refers(s->when, rb, i, j)) || refers_json(s->args, rb, i, j) ||
		    /* verbatim text that is not code (SQL) names no step */
		    ((s->action->flags & (ACTION_VERBATIM | ACTION_CODE)) != ACTION_VERBATIM &&
		     refers_json(s->spec, rb, i, j)) ||
		    (t && refers_json(t->config, rb, i, j)))
			break;
	}
	return j;
}

struct batch {
	const struct rb_step *const *s;
	json_t **res;
	struct action_call *call;
	enum step_status *st;
	const char *const *lane; /* NULL: settled before the batch ran */
	size_t n;
};

/* On a lane, at its first step: the lane's steps go out ahead in one
 * round trip where their action can (SQL pipelining). */
static void send_ahead(struct batch *b, size_t k)
{
	const struct action *a = b->s[k]->action;
	if (!a->send_ahead)
		return;
	for (size_t i = 0; i < k; i++)
		if (b->lane[i] && !strcmp(b->lane[i], b->lane[k]))
			return; /* not the lane's first */
	struct action_call **calls = xcalloc(b->n, sizeof *calls);
	size_t m = 0;
	for (size_t i = k; i < b->n; i++)
		if (b->lane[i] && !strcmp(b->lane[i], b->lane[k])) {
			b->call[i].deadline_ms = now_ms() + b->s[i]->timeout_ms;
			calls[m++] = &b->call[i];
			if (b->s[i]->retries)
				break; /* its retry goes out on its own: nothing may be queued behind it */
		}
	a->send_ahead(calls, m);
	free(calls);
}

/* On a lane: performs one decided step. */
static void batch_work(void *ud, size_t k)
{
	struct batch *b = ud;
	const struct rb_step *s = b->s[k];
	char ts[40];
	utc_timestamp(ts, sizeof ts);
	json_object_set_new(b->res[k], "started_at", json_string(ts));
	if (!action_cancelled(b->call[k].env))
		send_ahead(b, k);
	int64_t t0 = now_ms();
	b->call[k].deadline_ms = t0 + s->timeout_ms; /* its deadline starts when it does */
	if (action_cancelled(b->call[k].env))
		b->st[k] = set_error(b->res[k], ST_SKIPPED, xstrdup("not run: the run was interrupted"));
	else
		b->st[k] = perform(NULL, s, &b->call[k], b->res[k]);
	json_object_set_new(b->res[k], "duration_ms", json_integer(now_ms() - t0));
}

static void run_batch(struct run *r, size_t i, size_t j)
{
	size_t n = j - i;
	const struct rb_step **s = xcalloc(n, sizeof *s);
	json_t **res = xcalloc(n, sizeof *res);
	struct action_call *call = xcalloc(n, sizeof *call);
	enum step_status *st = xcalloc(n, sizeof *st);
	int64_t *t0 = xcalloc(n, sizeof *t0);
	const char **lane = xcalloc(n, sizeof *lane);
	char **own = xcalloc(n, sizeof *own); /* lanes of their own */
	for (size_t k = 0; k < n; k++) {
		s[k] = &r->rb->steps[i + k];
		res[k] = new_result(s[k]);
		t0[k] = now_ms();
		r->cur = s[k];
		r->cur_result = res[k];
		sandbox_set_current_step(r->sb, s[k]->id);
		if (step_ready(r, s[k], res[k], &call[k], &st[k]))
			lane[k] = s[k]->action->flags & ACTION_CHANNELS ? (own[k] = xasprintf("%s/%s", s[k]->on, s[k]->id))
									 : s[k]->on;
		else /* settled here: its time is its own, not the wait for the batch */
			json_object_set_new(res[k], "duration_ms", json_integer(now_ms() - t0[k]));
	}
	r->cur = NULL;
	r->cur_result = NULL;
	struct batch b = {s, res, call, st, lane, n};
	struct lanes *l = lanes_start(n, lane, batch_work, &b);
	for (size_t k = 0; k < n; k++) {
		if (r->o->progress && lane[k])
			r->o->progress(r->o->progress_ud, s[k], res[k], PROGRESS_START);
		lanes_wait(l, k);
		step_done(r, s[k], res[k], st[k], t0[k]);
	}
	lanes_finish(l);
	for (size_t k = 0; k < n; k++) {
		release_call(&call[k]);
		free(own[k]);
	}
	free(own);
	free(lane);
	free(t0);
	free(st);
	free(call);
	free(res);
	free(s);
}

/* The run's state before anything runs: its action environment (caps,
 * hooks, the cancel flag) and its id. */
static void run_init(struct run *r, const struct runbook *rb, const struct exec_opts *o, struct redactor *red)
{
	memset(r, 0, sizeof *r);
	r->rb = rb;
	r->o = o;
	r->incident = o->incident;
	r->red = red;
	r->findings = json_array();
	r->steps = json_array();
	r->env.output_cap = o->output_cap ? o->output_cap : ACTION_OUTPUT_CAP;
	r->env.row_cap = o->row_cap ? o->row_cap : ACTION_ROW_CAP;
	r->env.secret = on_secret;
	r->env.secret_ud = r;
	r->env.notify = on_notify;
	r->env.notify_ud = r;
	r->env.cancel = o->cancel ? o->cancel : &interrupted;
	struct timespec now;
	clock_gettime(CLOCK_REALTIME, &now);
	snprintf(r->run_id, sizeof r->run_id, "run-%08lx",
		 (unsigned long)((now.tv_nsec ^ (now.tv_sec << 20) ^ ((long)getpid() << 8)) & 0xffffffff));
}

/* What Lua sees before the first step: the environment (every env.NAME
 * the runbook mentions is a secret from now on), the step order, params
 * (also the report's), the alert and the targets. */
static void sandbox_prepare(struct run *r, json_t *report)
{
	const struct runbook *rb = r->rb;
	sandbox_expose_env(r->sb);
	const char **ids = xcalloc(rb->nsteps ? rb->nsteps : 1, sizeof *ids);
	for (size_t i = 0; i < rb->nsteps; i++)
		ids[i] = rb->steps[i].id;
	sandbox_set_step_order(r->sb, ids, rb->nsteps);
	free(ids);
	size_t ei;
	json_t *en;
	json_array_foreach(rb->env_names, ei, en) {
		const char *val = getenv(json_string_value(en));
		if (val && r->red)
			redact_add(r->red, val);
	}
	json_t *params = r->o->params ? json_incref(r->o->params) : json_object();
	sandbox_set_global(r->sb, "params", params);
	json_object_set_new(report, "params", params);
	sandbox_set_global(r->sb, "alert", r->o->alert ? r->o->alert : json_null());
	json_t *targets = json_object();
	for (size_t i = 0; i < rb->ntargets; i++)
		json_object_set(targets, rb->targets[i].name, rb->targets[i].config);
	sandbox_set_global(r->sb, "targets", targets);
	json_decref(targets);
}

/* The targets start connecting (a dry run only says where it would go)
 * while the timeline opens (o->begin): 0, or -1 when there is nowhere to
 * record. Then Lua sees the incident. */
static int open_run(struct run *r, json_t *report, json_t *timings)
{
	int64_t tw = now_ms();
	if (!r->o->dry_run)
		warm_targets(r);
	else
		json_object_set_new(report, "targets", dry_run_targets(r));
	json_object_set_new(timings, "connect_start_ms", json_integer(now_ms() - tw));
	if (r->o->begin) {
		int64_t tb = now_ms();
		if (!(r->incident = r->o->begin(r->o->record_ud)))
			return -1;
		json_object_set_new(report, "incident", json_string(r->incident));
		json_object_set_new(timings, "store_ms", json_integer(now_ms() - tb));
	}
	json_t *inc = r->incident ? json_pack("{s:s}", "id", r->incident) : json_null();
	sandbox_set_global(r->sb, "incident", inc);
	json_decref(inc);
	return 0;
}

/* The steps in order: alone, or in batches of overlapping ones. */
static void run_steps(struct run *r)
{
	const struct runbook *rb = r->rb;
	for (size_t i = 0; i < rb->nsteps;) {
		size_t j = r->record_error || action_cancelled(&r->env) || r->stop ? i + 1 : batch_end(r, i);
		if (j == i + 1)
			step_alone(r, &rb->steps[i]);
		else
			run_batch(r, i, j);
		i = j;
	}
}

json_t *exec_run(const struct runbook *rb, const struct exec_opts *o, struct redactor *red)
{
	struct run r;
	run_init(&r, rb, o, red);
	char started[40];
	utc_timestamp(started, sizeof started);
	int64_t t0 = now_ms();
	json_t *report = json_pack("{s:s, s:s?, s:s, s:b, s:s}", "runbook", rb->id, "incident", o->incident,
				   "status", "ok", "dry_run", o->dry_run, "started_at", started);
	if (!o->incident)
		json_object_set_new(report, "incident", json_null());

	struct sandbox_host host = {&r, on_finding, on_log, on_action, on_secret, r.env.cancel};
	char *err = NULL;
	r.sb = sandbox_new(o->limits, &host, &err);
	if (!r.sb) {
		json_object_set_new(report, "status", json_string("failed"));
		json_object_set_new(report, "error", json_string(err));
		free(err);
		json_object_set_new(report, "steps", r.steps);
		json_object_set_new(report, "findings", r.findings);
		return report;
	}
	r.env.sandbox = r.sb;
	sandbox_prepare(&r, report);
	json_t *timings = json_object();
	if (open_run(&r, report, timings)) {
		action_env_release(&r.env);
		sandbox_free(r.sb);
		json_decref(r.steps);
		json_decref(r.findings);
		json_decref(timings);
		json_decref(report);
		return NULL;
	}
	char where[256] = "localhost";
	gethostname(where, sizeof where - 1);
	json_t *started_data = json_pack("{s:s, s:O, s:s, s:b}", "runbook", rb->id, "params",
					 json_object_get(report, "params"), "host", where, "dry_run", o->dry_run);
	if (red)
		redact_json(red, started_data);
	record(&r, "runbook.started", started_data, "runbook %s started", rb->id);
	json_decref(started_data);
	int64_t ts = now_ms();
	run_steps(&r);
	json_object_set_new(timings, "steps_ms", json_integer(now_ms() - ts));
	json_object_set_new(report, "timings", timings);
	action_env_release(&r.env);
	sandbox_free(r.sb);
	const char *status = action_cancelled(&r.env) ? "aborted" : r.failed || r.record_error ? "failed" : "ok";
	json_object_set_new(report, "status", json_string(status));
	json_object_set_new(report, "duration_ms", json_integer(now_ms() - t0));
	json_t *fin = json_pack("{s:s, s:s, s:I, s:I}", "runbook", rb->id, "status", status, "duration_ms",
				(json_int_t)(now_ms() - t0), "findings", (json_int_t)json_array_size(r.findings));
	record(&r, "runbook.finished", fin, "runbook %s finished: %s", rb->id, status);
	json_decref(fin);
	if (r.record_error) {
		json_object_set_new(report, "error", json_sprintf("the timeline store failed: %s", r.record_error));
		free(r.record_error);
	}
	json_object_set_new(report, "steps", r.steps);
	json_object_set_new(report, "findings", r.findings);
	if (red)
		redact_json(red, report);
	return report;
}

int exec_exit_code(json_t *report)
{
	const char *st = json_string_value(json_object_get(report, "status"));
	if (st && !strcmp(st, "aborted"))
		return interrupted_exit_code();
	return st && !strcmp(st, "ok") ? 0 : 1;
}
