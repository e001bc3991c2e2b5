/* triage: alerts into diagnosed, escalated incidents. See triage.h. */
#define _POSIX_C_SOURCE 200809L
#include "triage.h"
#include "alert.h"
#include "exec.h"
#include "incident.h"
#include "session.h"
#include "match.h"
#include "notifier.h"
#include "redact.h"
#include "store.h"
#include "stats.h"
#include "store_sync.h"
#include "util.h"

#include <pthread.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#define REPEAT_WINDOW_S (30 * 24 * 3600)

char *triage_key(const struct runbook *rb, json_t *alert)
{
	if (rb && json_array_size(rb->dedupe_by)) {
		struct sbuf sb;
		sbuf_init(&sb);
		size_t i;
		json_t *n;
		json_array_foreach(rb->dedupe_by, i, n) {
			const char *name = json_string_value(n);
			const char *v = json_string_value(json_object_get(json_object_get(alert, "labels"), name));
			sbuf_addf(&sb, "%s%s=%s", i ? "," : "", name, v ? v : "");
		}
		return sbuf_detach(&sb);
	}
	const char *fp = json_string_value(json_object_get(alert, "fingerprint"));
	return xstrdup(fp ? fp : "");
}

const char *triage_escalation_target(const struct runbook *rb, const char *severity)
{
	static const char *const order[] = {"SEV1", "SEV2", "SEV3", "SEV4"};
	int at = 3;
	for (int i = 0; i < 4; i++)
		if (severity && !strcmp(order[i], severity))
			at = i;
	for (int i = at; rb && i >= 0; i--) {
		const char *t = json_string_value(json_object_get(rb->escalation, order[i]));
		if (t)
			return t;
	}
	return NULL;
}

/* The incident with this key that is still open, else NULL (new ref);
 * *last_resolved gets the newest resolved one (new ref) when asked. */
static json_t *find_incident(struct store *st, const char *key, json_t **last_resolved)
{
	char *err = NULL;
	json_t *all = store_incidents_latest(st, key, &err);
	free(err);
	json_t *open = NULL;
	if (last_resolved)
		*last_resolved = NULL;
	size_t i;
	json_t *inc;
	json_array_foreach(all, i, inc) { /* newest first */
		const char *fp = json_string_value(json_object_get(inc, "fingerprint"));
		if (!fp || strcmp(fp, key))
			continue;
		const char *status = json_string_value(json_object_get(inc, "status"));
		if (strcmp(status, "resolved") && !open)
			open = json_incref(inc);
		else if (!strcmp(status, "resolved") && last_resolved && !*last_resolved)
			*last_resolved = json_incref(inc);
	}
	json_decref(all);
	return open;
}

/* What one alert's triage needs. */
struct item {
	size_t index;
	json_t *alert;          /* its own deep copy (threads share nothing) */
	struct runbook *rb;     /* best match, or NULL */
	char *key;
	json_t *result;         /* the output line */
	int failed;
	char *diag_id;          /* the incident whose diagnosis this alert runs, or NULL */
	char *diag_sev;
	long long queue_id;     /* from the alert queue (serve, worker): its idempotency key; 0 */
};

struct ctx {
	const struct triage *t;
	struct store *st;
	char *actor;
};

/* The alert's event; with a queue id, exactly once (with the diagnosis it
 * asks for): 1 when an earlier claim of the alert recorded it. With
 * it->result set already, the event is all the alert does: it is done in
 * the same commit. */
static int add_alert_event(struct ctx *c, struct item *it, const char *id, const char *diagnose)
{
	char *err = NULL;
	int rc = store_append_alert(c->st, id, it->alert, it->queue_id, diagnose, it->result, c->actor, &err);
	if (rc < 0)
		fprintf(stderr, "runbook triage: %s: cannot record the alert: %s\n", id, err);
	free(err);
	return rc;
}

/* Pages the escalation target and records every attempt. */
static void escalate(struct ctx *c, const char *id, const struct runbook *rb, const char *severity, json_t *alert,
		     json_t *findings, const char *status, const char *action, const struct redactor *red)
{
	if (!json_object_size(c->t->cfg->notifiers))
		return;
	const char *target = triage_escalation_target(rb, severity);
	json_t *title = json_object_get(alert, "summary");
	if (!json_is_string(title))
		title = json_object_get(alert, "name");
	json_t *info = json_pack("{s:s, s:O?, s:s, s:s, s:s?, s:O?, s:o, s:O?}", "incident", id, "title", title,
				 "severity", severity, "status", status, "runbook", rb ? rb->id : NULL, "summary",
				 json_object_get(alert, "description"), "findings",
				 findings ? json_incref(findings) : json_array(), "url", json_object_get(alert, "url"));
	if (!json_is_string(json_object_get(info, "title")))
		json_object_set_new(info, "title", json_string(id));
	json_t *attempts = notifier_send(c->t->cfg, target ? target : "default", info, action, red);
	size_t i;
	json_t *a;
	json_array_foreach(attempts, i, a) {
		char *err = NULL;
		const char *nname = json_string_value(json_object_get(a, "notifier"));
		stats_notification(nname, json_is_true(json_object_get(a, "delivered")));
		char *summary = json_is_true(json_object_get(a, "delivered"))
					? xasprintf("notified %s via %s (attempt %lld)", target ? target : "default", nname,
						    (long long)json_integer_value(json_object_get(a, "attempt")))
					: xasprintf("notifying %s via %s failed (attempt %lld): %s", target ? target : "default",
						    nname, (long long)json_integer_value(json_object_get(a, "attempt")),
						    json_string_value(json_object_get(a, "error")));
		if (store_append(c->st, id, "notify", c->actor, summary, a, &err))
			fprintf(stderr, "runbook triage: %s: cannot record a notification: %s\n", id, err);
		free(err);
		free(summary);
	}
	json_decref(attempts);
	json_decref(info);
}

/* Runs the diagnosis of rb for the incident, then escalates; returns its
 * status: "ok", "failed", or "aborted" (cancelled: nothing is escalated). */
static const char *diagnose(struct ctx *c, struct item *it, const char *id, const char *severity)
{
	const struct config *cfg = c->t->cfg;
	json_t *params = NULL, *given = json_object();
	char *err = NULL;
	struct redactor red;
	redact_init(&red);
	redact_add_all(&red, cfg->secrets);
	const char *status = "failed";
	json_t *findings = NULL;
	if (exec_bind_params(it->rb, given, it->alert, &params, &err)) {
		char *e2 = NULL;
		json_t *d = json_pack("{s:s, s:s}", "runbook", it->rb->id, "error", err);
		char *s = xasprintf("runbook %s cannot run: %s", it->rb->id, err);
		store_append(c->st, id, "runbook.failed", c->actor, s, d, &e2);
		free(s);
		free(e2);
		json_decref(d);
		free(err);
	} else {
		/* recorded like exec (SPEC section 6): on the claim's connection,
		 * whose only user the session's journal is meanwhile */
		struct session ss = {.name = "triage", .st = c->st, .actor = c->actor, .incident = id};
		struct exec_opts o;
		memset(&o, 0, sizeof o);
		o.params = params;
		o.alert = it->alert;
		o.incident = id;
		o.limits = &cfg->limits;
		o.cfg = cfg;
		o.output_cap = cfg->output_cap;
		o.row_cap = cfg->row_cap;
		o.no_mutate = "triage never mutates";
		o.cancel = c->t->cancel;
		json_t *report = session_run(&ss, it->rb, &o, &red); /* durable before the notification */
		session_release(&ss);
		const char *why = json_string_value(json_object_get(report, "error"));
		if (why)
			fprintf(stderr, "runbook triage: %s: %s\n", id, why);
		status = json_string_value(json_object_get(report, "status"));
		status = status && !strcmp(status, "ok") ? "ok" : status && !strcmp(status, "aborted") ? "aborted" : "failed";
		findings = json_incref(json_object_get(report, "findings"));
		json_decref(report);
	}
	if (strcmp(status, "ok"))
		it->failed = 1;
	if (strcmp(status, "aborted"))
		escalate(c, id, it->rb, severity, it->alert, findings, "triggered", "trigger", &red);
	json_decref(findings);
	json_decref(params);
	json_decref(given);
	redact_release(&red);
	return status;
}

static int more_severe(const char *a, const char *b)
{
	return a && b && strcmp(a, b) < 0; /* SEV1 < SEV2 < ... */
}

static void set_result(struct item *it, const char *id, const char *action, const char *severity, const char *status)
{
	it->result = json_pack("{s:O, s:s?, s:s, s:s?, s:s?, s:s?}", "fingerprint", json_object_get(it->alert, "fingerprint"),
			       "incident", id, "action", action, "runbook", it->rb ? it->rb->id : NULL, "severity",
			       severity, "status", status);
}

/* The diagnosis runs later, on a worker: different incidents at once. */
static void schedule(struct item *it, const char *id, const char *severity)
{
	it->diag_id = xstrdup(id);
	it->diag_sev = xstrdup(severity);
}

/* The incident an alert finds: its key's open one (and the newest
 * resolved one, for repeat_of). */
struct found {
	json_t *open, *last;
	const char *id, *severity; /* the open one's */
};

/* PagerDuty's incident.acknowledged acknowledges the open incident; its
 * other event types (pd_other) are recorded only. */
static void on_pagerduty(struct ctx *c, struct item *it, const struct found *f, int pd_other)
{
	char *err = NULL;
	if (f->id && add_alert_event(c, it, f->id, NULL) == 1) {
		set_result(it, f->id, "updated", f->severity, NULL); /* recorded before: a worker died after it */
	} else if (f->id && !pd_other && !strcmp(json_string_value(json_object_get(f->open, "status")), "triggered")) {
		char now[40];
		utc_timestamp(now, sizeof now);
		json_t *ch = json_pack("{s:s, s:s}", "status", "acknowledged", "acknowledged_at", now);
		char *s = xasprintf("%s acknowledged in PagerDuty", f->id);
		store_incident_update(c->st, f->id, ch, "incident.acknowledged", c->actor, s, ch, &err);
		free(s);
		json_decref(ch);
	}
	if (!it->result)
		set_result(it, f->id, pd_other || !f->id ? "ignored" : "updated", f->severity, NULL);
	free(err);
}

/* A resolved alert resolves its open incident (auto-resolved); with none
 * open it goes on the record of the key's last incident. */
static void on_resolved(struct ctx *c, struct item *it, const struct found *f)
{
	char *err = NULL;
	if (f->id && add_alert_event(c, it, f->id, NULL) == 1) {
		set_result(it, f->id, "resolved", f->severity, NULL);
	} else if (f->id) {
		char now[40];
		utc_timestamp(now, sizeof now);
		json_t *ch = json_pack("{s:s, s:s, s:s}", "status", "resolved", "resolved_at", now, "resolution",
				       "auto-resolved");
		char *s = xasprintf("%s resolved: the alert resolved (auto-resolved)", f->id);
		if (store_incident_update(c->st, f->id, ch, "incident.resolved", c->actor, s, ch, &err))
			fprintf(stderr, "runbook triage: %s: %s\n", f->id, err);
		free(s);
		json_decref(ch);
		escalate(c, f->id, it->rb, f->severity, it->alert, NULL, "resolved", "resolve", NULL);
		set_result(it, f->id, "resolved", f->severity, NULL);
	} else {
		const char *lid = f->last ? json_string_value(json_object_get(f->last, "id")) : NULL;
		if (lid)
			add_alert_event(c, it, lid, NULL);
		set_result(it, lid, "ignored", NULL, NULL);
	}
	free(err);
}

/* A new incident for a firing alert nothing open absorbed: repeat_of when
 * its key's last incident resolved less than 30 days ago; the diagnosis is
 * scheduled, or with no runbook the incident says so and is escalated. */
static void open_for(struct ctx *c, struct item *it, const struct found *f, const char *sev)
{
	const struct config *cfg = c->t->cfg;
	json_t *alert = it->alert;
	char *err = NULL;
	const char *title = json_string_value(json_object_get(alert, "summary"));
	if (!title)
		title = json_string_value(json_object_get(alert, "name"));
	if (!title)
		title = it->rb ? it->rb->title : "alert";
	json_t *fl = json_pack("{s:s, s:s, s:s?, s:s?, s:s, s:O, s:O}", "title", title, "severity", sev, "runbook",
			       it->rb ? it->rb->id : NULL, "component",
			       config_component(cfg, it->rb ? it->rb->id : NULL, it->rb ? it->rb->component : NULL, alert),
			       "fingerprint", it->key, "started_at", json_object_get(alert, "starts_at"), "alert", alert);
	if (json_is_null(json_object_get(fl, "started_at")))
		json_object_del(fl, "started_at");
	if (it->queue_id > 0) { /* recorded exactly once, with the diagnosis to run */
		json_object_set_new(fl, "queue_id", json_integer(it->queue_id));
		if (it->rb)
			json_object_set_new(fl, "diagnose", json_string(sev));
	}
	if (f->last) { /* a repeat: the same key resolved less than 30 days ago */
		int64_t resolved = incident_parse_time(json_string_value(json_object_get(f->last, "resolved_at")));
		if (resolved >= 0 && (int64_t)time(NULL) - resolved < REPEAT_WINDOW_S)
			json_object_set(fl, "repeat_of", json_object_get(f->last, "id"));
	}
	char *id = NULL;
	int rc = store_incident_create(c->st, fl, c->actor, &id, &err);
	if (rc == 1) {
		set_result(it, id, "opened", sev, NULL); /* by an earlier claim of this alert */
	} else if (rc) {
		fprintf(stderr, "runbook triage: cannot open an incident: %s\n", err);
		it->failed = 1;
		set_result(it, NULL, "ignored", sev, NULL);
	} else {
		if (it->rb) {
			schedule(it, id, sev);
		} else {
			char *e2 = NULL;
			json_t *d = json_pack("{s:s}", "reason", "no runbook matches this alert");
			store_append(c->st, id, "triage", c->actor, "no runbook matches this alert: nothing to diagnose", d,
				     &e2);
			free(e2);
			json_decref(d);
			escalate(c, id, NULL, sev, alert, NULL, "triggered", "trigger", NULL);
		}
		set_result(it, id, "opened", sev, NULL);
	}
	free(id);
	free(err);
	json_decref(fl);
}

/* A firing alert: its open incident absorbs it (diagnosed again only when
 * the severity rose), else a new incident opens. */
static void on_firing(struct ctx *c, struct item *it, const struct found *f)
{
	char *err = NULL;
	const char *sev = alert_severity(it->alert, c->t->cfg->severity_map);
	if (!sev)
		sev = it->rb && it->rb->severity ? it->rb->severity : "SEV3";
	int rose = more_severe(sev, f->severity); /* the severity rose: diagnose again */
	if (f->id && !rose) { /* a repeat: its event is all it does (one commit, done with it) */
		set_result(it, f->id, "updated", f->severity, NULL);
		add_alert_event(c, it, f->id, NULL);
	} else if (f->id && add_alert_event(c, it, f->id, it->rb ? sev : NULL) == 1) {
		set_result(it, f->id, "updated", f->severity, NULL); /* recorded before: a worker died after it */
	} else if (f->id) {
		json_t *ch = json_pack("{s:s}", "severity", sev);
		char *s = xasprintf("%s severity %s -> %s (a new alert)", f->id, f->severity, sev);
		store_incident_update(c->st, f->id, ch, "incident.severity", c->actor, s, ch, &err);
		free(s);
		json_decref(ch);
		if (it->rb)
			schedule(it, f->id, sev);
		set_result(it, f->id, "updated", sev, NULL);
	} else {
		open_for(c, it, f, sev);
	}
	free(err);
}

static void triage_one(struct ctx *c, struct item *it)
{
	const char *event = json_string_value(json_object_get(it->alert, "event_type"));
	const char *astatus = json_string_value(json_object_get(it->alert, "status"));
	struct found f = {NULL, NULL, NULL, NULL};
	f.open = find_incident(c->st, it->key, &f.last);
	f.id = f.open ? json_string_value(json_object_get(f.open, "id")) : NULL;
	f.severity = f.open ? json_string_value(json_object_get(f.open, "severity")) : NULL;
	int pd_other = event && *event && strcmp(event, "incident.triggered") && strcmp(event, "incident.resolved") &&
		       strcmp(event, "incident.acknowledged");
	if (pd_other || (event && !strcmp(event, "incident.acknowledged")))
		on_pagerduty(c, it, &f, pd_other);
	else if (!strcmp(astatus, "resolved"))
		on_resolved(c, it, &f);
	else
		on_firing(c, it, &f);
	json_decref(f.open);
	json_decref(f.last);
}

/* ---- the diagnoses: a pool of workers, one incident's diagnoses in order
 * on one worker, different incidents at once ---- */

struct pool {
	const struct triage *t;
	struct item *items;
	size_t *order;        /* the items with a diagnosis, sorted by incident */
	size_t n, next;
	pthread_mutex_t mu;
	int store_failed;
};

static void *worker(void *arg)
{
	struct pool *p = arg;
	struct ctx c = {p->t, NULL, store_actor()};
	json_t *fb = NULL;
	char *err = NULL;
	c.st = store_open_or_fallback(p->t->store_url, &fb, &err);
	json_decref(fb);
	free(err);
	for (;;) {
		pthread_mutex_lock(&p->mu);
		size_t from = p->next, to = from;
		while (to < p->n && !strcmp(p->items[p->order[to]].diag_id, p->items[p->order[from]].diag_id))
			to++;
		p->next = to;
		p->store_failed |= !c.st;
		pthread_mutex_unlock(&p->mu);
		if (from >= p->n)
			break;
		for (size_t k = from; k < to; k++) {
			struct item *it = &p->items[p->order[k]];
			const char *status = c.st ? diagnose(&c, it, it->diag_id, it->diag_sev) : "failed";
			it->failed |= !c.st;
			json_object_set_new(it->result, "status", json_string(status));
		}
	}
	store_close(c.st);
	free(c.actor);
	return NULL;
}

static const struct item *sort_items;
static int by_incident(const void *a, const void *b)
{
	const struct item *x = &sort_items[*(const size_t *)a], *y = &sort_items[*(const size_t *)b];
	int c = strcmp(x->diag_id, y->diag_id);
	return c ? c : (x->index > y->index) - (x->index < y->index); /* an incident's alerts in arrival order */
}

json_t *triage_run(const struct triage *t, json_t *alerts, int *failed, char **err)
{
	*failed = 0;
	struct matchset *ms = matchset_new(t->rbs, t->nrb, err);
	if (!ms)
		return NULL;
	/* decisions and records in arrival order: incidents are numbered as
	 * their alerts came */
	struct ctx c = {t, NULL, store_actor()};
	json_t *fb = NULL;
	if (!(c.st = store_open_or_fallback(t->store_url, &fb, err))) {
		free(c.actor);
		matchset_free(ms);
		return NULL;
	}
	if (fb)
		fprintf(stderr, "runbook triage: the configured store cannot be reached (%s); recording into the local "
				"fallback store %s; `runbook store sync` copies it there later\n",
			json_string_value(json_object_get(fb, "reason")), json_string_value(json_object_get(fb, "path")));
	size_t n = json_array_size(alerts);
	struct item *items = xcalloc(n ? n : 1, sizeof *items);
	size_t *order = xcalloc(n ? n : 1, sizeof *order), nd = 0;
	struct redactor red; /* the config's secrets never reach a timeline through an alert */
	redact_init(&red);
	redact_add_all(&red, t->cfg->secrets);
	for (size_t i = 0; i < n; i++) {
		struct item *it = &items[i];
		it->index = i;
		it->alert = json_deep_copy(json_array_get(alerts, i));
		redact_json(&red, it->alert);
		it->rb = matchset_best(ms, it->alert);
		it->key = triage_key(it->rb, it->alert);
		triage_one(&c, it);
		if (it->diag_id)
			order[nd++] = i;
	}
	matchset_free(ms);
	store_close(c.st);
	free(c.actor);
	redact_release(&red);
	/* the diagnoses (each pages its escalation target when it is done) */
	sort_items = items;
	qsort(order, nd, sizeof *order, by_incident);
	struct pool p = {t, items, order, nd, 0, PTHREAD_MUTEX_INITIALIZER, 0};
	int threads = t->threads > 0 ? t->threads : 4;
	pthread_t th[64];
	int started = 0;
	for (int i = 0; i < threads && i < 64 && (size_t)i < nd; i++)
		if (pthread_create(&th[started], NULL, worker, &p) == 0)
			started++;
	if (!started && nd)
		worker(&p);
	for (int i = 0; i < started; i++)
		pthread_join(th[i], NULL);
	json_t *out = json_array();
	for (size_t i = 0; i < n; i++) {
		json_array_append(out, items[i].result ? items[i].result : json_null());
		*failed |= items[i].failed;
		json_decref(items[i].alert);
		json_decref(items[i].result);
		free(items[i].key);
		free(items[i].diag_id);
		free(items[i].diag_sev);
	}
	json_decref(fb);
	free(items);
	free(order);
	return out;
}

/* ---- one queued alert at a time (serve, worker) ---- */

json_t *triage_queued(const struct triage *t, struct store *st, const struct matchset *ms, json_t *qitem,
		      const char *actor, int *failed)
{
	double t0 = epoch_now();
	struct ctx c = {t, st, (char *)actor};
	struct item it;
	memset(&it, 0, sizeof it);
	it.alert = json_deep_copy(json_object_get(qitem, "alert"));
	if (!alert_is_normalised(it.alert)) { /* not written by serve: left alone, said once */
		fprintf(stderr, "runbook triage: queued alert %lld is not a normalised alert: ignored\n",
			(long long)json_integer_value(json_object_get(qitem, "id")));
		json_t *fp = json_object_get(it.alert, "fingerprint");
		*failed = 1;
		json_t *res = json_pack("{s:O?, s:s, s:s}", "fingerprint", json_is_string(fp) ? fp : NULL, "action", "ignored",
					"status", "failed");
		json_decref(it.alert);
		return res;
	}
	struct redactor red;
	redact_init(&red);
	redact_add_all(&red, t->cfg->secrets);
	redact_json(&red, it.alert);
	redact_release(&red);
	it.rb = matchset_best(ms, it.alert);
	const char *key = json_string_value(json_object_get(qitem, "key"));
	it.key = key ? xstrdup(key) : triage_key(it.rb, it.alert);
	it.queue_id = json_integer_value(json_object_get(qitem, "id"));
	const char *inc = json_string_value(json_object_get(qitem, "incident"));
	if (inc) { /* an earlier claim recorded it and did not finish: its diagnosis is left */
		const char *sev = json_string_value(json_object_get(qitem, "diagnose"));
		if (sev && it.rb)
			schedule(&it, inc, sev);
		set_result(&it, inc, "updated", sev, NULL);
	} else {
		triage_one(&c, &it);
	}
	if (it.diag_id)
		json_object_set_new(it.result, "status", json_string(diagnose(&c, &it, it.diag_id, it.diag_sev)));
	*failed = it.failed;
	json_decref(it.alert);
	free(it.key);
	free(it.diag_id);
	free(it.diag_sev);
	stats_triage_seconds(epoch_now() - t0);
	return it.result ? it.result : json_null();
}

int triage_aborted(json_t *line)
{
	const char *st = json_string_value(json_object_get(line, "status"));
	return st && !strcmp(st, "aborted");
}

/* ---- re-escalation: SPEC section 7, step 7 ---- */

static const struct runbook *catalog_find(const struct triage *t, const char *id)
{
	for (size_t i = 0; id && i < t->nrb; i++)
		if (!strcmp(t->rbs[i]->id, id))
			return t->rbs[i];
	return NULL;
}

int triage_reescalate(const struct triage *t, struct store *st, const char *actor, int64_t now)
{
	char *err = NULL;
	json_t *all = store_incidents_by(st, "status", "triggered", &err);
	if (!all) {
		fprintf(stderr, "runbook: re-escalation: %s\n", err);
		free(err);
		return -1;
	}
	int sent = 0;
	size_t i;
	json_t *inc;
	json_array_foreach(all, i, inc) {
		const char *id = json_string_value(json_object_get(inc, "id"));
		const char *sev = json_string_value(json_object_get(inc, "severity"));
		if (strcmp(json_string_value(json_object_get(inc, "status")), "triggered"))
			continue;
		int64_t target = incident_ack_target(sev);
		int64_t detected = incident_parse_time(json_string_value(json_object_get(inc, "detected_at")));
		if (target <= 0 || detected < 0 || now - detected < target)
			continue;
		long long period = (long long)((now - detected) / target);
		char *name = xasprintf("reescalate:%s:%lld", id, period);
		int mine = store_claim_once(st, name, &err); /* exactly once across every serve and worker */
		free(name);
		if (mine != 1) {
			free(err);
			err = NULL;
			continue;
		}
		const struct runbook *rb = catalog_find(t, json_string_value(json_object_get(inc, "runbook")));
		const char *route = json_object_get(t->cfg->routes, "repeat") ? "repeat" : triage_escalation_target(rb, sev);
		if (!route)
			route = "default";
		char *why = xasprintf("%s not acknowledged within %lldm (%s target): escalation %lld", id,
				      (long long)target / 60, sev, period);
		json_t *info = json_pack("{s:s, s:O, s:s, s:s, s:O, s:s, s:[], s:n}", "incident", id, "title",
					 json_object_get(inc, "title"), "severity", sev, "status", "triggered", "runbook",
					 json_object_get(inc, "runbook"), "summary", why, "findings", "url");
		json_t *attempts = json_object_size(t->cfg->notifiers) ? NULL : json_array();
		if (!attempts) {
			struct redactor red;
			redact_init(&red);
			redact_add_all(&red, t->cfg->secrets);
			attempts = notifier_send(t->cfg, route, info, "trigger", &red);
			redact_release(&red);
		}
		size_t k;
		json_t *a;
		json_array_foreach(attempts, k, a) {
			const char *nname = json_string_value(json_object_get(a, "notifier"));
			int ok = json_is_true(json_object_get(a, "delivered"));
			stats_notification(nname, ok);
			json_object_set_new(a, "period", json_integer(period));
			char *s = xasprintf("%s; %s via %s%s%s", why, ok ? "notified" : "notifying failed", nname,
					    ok ? "" : ": ", ok ? "" : json_string_value(json_object_get(a, "error")));
			store_append(st, id, "escalation", actor, s, a, &err);
			free(s);
		}
		if (!json_array_size(attempts)) {
			json_t *d = json_pack("{s:s, s:I, s:[]}", "target", route, "period", (json_int_t)period, "notified");
			char *s = xasprintf("%s; no notifier is configured", why);
			store_append(st, id, "escalation", actor, s, d, &err);
			free(s);
			json_decref(d);
		}
		free(err);
		err = NULL;
		json_decref(attempts);
		json_decref(info);
		free(why);
		sent++;
	}
	json_decref(all);
	return sent;
}
