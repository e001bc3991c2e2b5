/* session: one recorded run of a runbook. See session.h. */
#define _POSIX_C_SOURCE 200809L
#include "session.h"
#include "journal.h"
#include "redact.h"
#include "store_sync.h"
#include "util.h"

#include <stdio.h>
#include <stdlib.h>

static int record_event(void *ud, const char *kind, const char *summary, json_t *data, char **err)
{
	struct session *s = ud;
	return journal_append(s->journal, kind, summary, data, err);
}

static int record_barrier(void *ud, char **err)
{
	struct session *s = ud;
	return journal_barrier(s->journal, err);
}

/* The incident opened (or, in the fallback store, the stand-in for the
 * one joined) in the session's own store; -1 with *err. */
static int open_incident(struct session *s, const char *actor, char **err)
{
	char *e = NULL;
	if (s->incident && s->fallback) { /* the incident lives in the store we cannot reach */
		json_t *f = json_pack("{s:O?, s:O?, s:O?, s:O?, s:s}", "title", json_object_get(s->open_as, "title"),
				      "severity", json_object_get(s->open_as, "severity"), "runbook",
				      json_object_get(s->open_as, "runbook"), "component",
				      json_object_get(s->open_as, "component"), "joins", s->incident);
		int bad = store_incident_create(s->own, f, actor, &s->id, &e);
		json_decref(f);
		if (bad)
			*err = xasprintf("cannot record in the fallback store: %s", e);
		free(e);
		return bad ? -1 : 0;
	}
	if (s->incident) {
		json_t *inc = store_incident_get(s->own, s->incident, err);
		if (!inc)
			return -1;
		json_decref(inc);
		s->id = xstrdup(s->incident);
		return 0;
	}
	if (store_incident_create(s->own, s->open_as, actor, &s->id, &e)) {
		*err = xasprintf("cannot open an incident: %s", e);
		free(e);
		return -1;
	}
	return 0;
}

/* exec_run's begin hook: the store opened and the incident opened or
 * joined while the targets are already connecting. The incident's id, or
 * NULL when there is nowhere to record (said on stderr). */
static const char *open_timeline(void *ud)
{
	struct session *s = ud;
	const char *actor = s->actor ? s->actor : (s->own_actor = store_actor());
	if (s->st) { /* the caller's store, and its incident */
		s->journal = journal_open(s->st, s->incident, actor);
		return s->incident;
	}
	char *err = NULL;
	/* the store is the record, not a dependency: unreachable, the run
	 * records locally and `runbook store sync` copies it later */
	if (!(s->own = store_open_or_fallback(s->store_url, &s->fallback, &err))) {
		char *safe = redact_dsn(err);
		fprintf(stderr, "runbook %s: the timeline store is unavailable, so nothing runs: %s\n", s->name, safe);
		free(safe);
		free(err);
		return NULL;
	}
	if (s->fallback) {
		char *safe = redact_dsn(json_string_value(json_object_get(s->fallback, "reason")));
		json_object_set_new(s->fallback, "reason", json_string(safe));
		fprintf(stderr, "runbook %s: the configured store cannot be reached (%s);\n"
				"  recording into the local fallback store %s instead; `runbook store sync` copies it "
				"there later\n", s->name, safe, json_string_value(json_object_get(s->fallback, "path")));
		free(safe);
	}
	/* the incident is synced with the run's first events, not alone: one
	 * sync less before the first step (a kill -9 loses neither; a power cut
	 * before that first commit loses both, never one without the other) */
	if (store_lazy(s->own, 1, &err) || open_incident(s, actor, &err) || store_lazy(s->own, 0, &err)) {
		fprintf(stderr, "runbook %s: %s\n", s->name, err ? err : "the store failed");
		free(err);
		return NULL;
	}
	s->journal = journal_open(s->own, s->id, actor);
	return s->id;
}

json_t *session_run(struct session *s, const struct runbook *rb, struct exec_opts *o, struct redactor *red)
{
	o->begin = open_timeline;
	o->record = record_event;
	o->barrier = record_barrier;
	o->record_ud = s;
	json_t *report = exec_run(rb, o, red);
	if (!report)
		return NULL;
	if (s->journal) { /* the last barrier: the whole run is on disk before anyone hears how it went */
		char *err = NULL;
		int64_t tc = now_ms();
		int bad = journal_barrier(s->journal, &err);
		int64_t exit_barrier = now_ms() - tc;
		struct journal_stats js;
		journal_stats(s->journal, &js);
		journal_close(s->journal, NULL);
		s->journal = NULL;
		json_t *timings = json_object_get(report, "timings");
		if (timings)
			json_object_set_new(timings, "journal",
					    json_pack("{s:I, s:I, s:I, s:I, s:I}", "commits", (json_int_t)js.commits, "events",
						      (json_int_t)js.events, "commit_ms", (json_int_t)js.commit_ms, "barrier_ms",
						      (json_int_t)js.barrier_ms, "exit_barrier_ms", (json_int_t)exit_barrier));
		if (bad && !json_object_get(report, "error")) {
			char *safe = redact_str(red, err);
			json_object_set_new(report, "status", json_string("failed"));
			json_object_set_new(report, "error", json_sprintf("the timeline store failed: %s", safe));
			free(safe);
		}
		free(err);
	}
	if (s->fallback)
		json_object_set(report, "store", s->fallback);
	return report;
}

void session_release(struct session *s)
{
	if (s->journal)
		journal_close(s->journal, NULL);
	s->journal = NULL;
	store_close(s->own);
	s->own = NULL;
	json_decref(s->fallback);
	s->fallback = NULL;
	free(s->id);
	free(s->own_actor);
	s->id = s->own_actor = NULL;
}
