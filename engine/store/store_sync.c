/*
 * store_sync: the local fallback store and `runbook store sync` (SPEC
 * section 4). When the configured store cannot be reached - often it lives
 * on the very database that is saturated - a run records into a local
 * SQLite file instead; sync later copies each fallback incident, its
 * events in order (original time, actor and sequence kept in the data) and
 * its final state into the configured store, after verifying the fallback
 * chain, then marks it synced. Sync is idempotent: a marked incident is
 * skipped, and one copied but not yet marked (a crash in between) is found
 * again by its origin instead of copied twice.
 */
#define _POSIX_C_SOURCE 200809L
#include "store_sync.h"
#include "redact.h"
#include "util.h"

#include <stdlib.h>
#include <string.h>
#include <unistd.h>

char *store_fallback_url(void)
{
	const char *state = getenv("XDG_STATE_HOME"), *home = getenv("HOME");
	if (state && *state)
		return xasprintf("sqlite:%s/runbook/fallback.db", state);
	return xasprintf("sqlite:%s/.local/state/runbook/fallback.db", home && *home ? home : ".");
}

struct store *store_open_or_fallback(const char *url, json_t **fallback, char **err)
{
	*fallback = NULL;
	struct store *st = store_open(url, err);
	if (st)
		return st;
	char *configured = store_default_url(url);
	char *fb = store_fallback_url();
	char *ferr = NULL;
	struct store *f = strcmp(configured, fb) ? store_open(fb, &ferr) : NULL;
	if (!f) {
		char *m = xasprintf("%s; the local fallback store %s cannot be used either%s%s", *err, fb + 7,
				    ferr ? ": " : "", ferr ? ferr : "");
		free(*err);
		*err = m;
	} else {
		for (char *c = *err; *c; c++) /* libpq's messages span lines */
			if (*c == '\n' || *c == '\t')
				*c = ' ';
		*fallback = json_pack("{s:b, s:s, s:s}", "fallback", 1, "reason", *err, "path", fb + 7);
		free(*err);
		*err = NULL;
	}
	free(ferr);
	free(fb);
	free(configured);
	return f;
}

/* The first event of kind in events, or NULL. */
static json_t *first_of(json_t *events, const char *kind)
{
	size_t i;
	json_t *e;
	json_array_foreach(events, i, e)
		if (!strcmp(json_string_value(json_object_get(e, "kind")), kind))
			return e;
	return NULL;
}

/* Where a fallback incident came from: unique to it, kept in its copy. */
static json_t *origin_of(const char *fallback_path, const char *id, json_t *events)
{
	char host[256] = "localhost";
	gethostname(host, sizeof host - 1);
	return json_pack("{s:s, s:s, s:s, s:s}", "host", host, "fallback", fallback_path, "incident", id, "first_hash",
			 json_string_value(json_object_get(json_array_get(events, 0), "hash")));
}

/* A copy already in the configured store (by its origin), or NULL. */
static char *find_copy(struct store *to, json_t *inc, json_t *origin)
{
	char *err = NULL;
	json_t *all = store_incident_list(to, &err);
	free(err);
	char *found = NULL;
	size_t i;
	json_t *c;
	json_array_foreach(all, i, c) {
		if (found)
			break;
		const char *sa = json_string_value(json_object_get(c, "started_at"));
		const char *sb = json_string_value(json_object_get(inc, "started_at"));
		if (!sa || !sb || strcmp(sa, sb))
			continue;
		const char *cid = json_string_value(json_object_get(c, "id"));
		json_t *ev = store_events(to, cid, &err);
		free(err);
		err = NULL;
		json_t *opened = first_of(ev, "incident.opened");
		if (opened && json_equal(json_object_get(json_object_get(opened, "data"), "origin"), origin))
			found = xstrdup(cid);
		json_decref(ev);
	}
	json_decref(all);
	return found;
}

/* Copies one fallback incident. Returns 0 (with *to_id) or -1 with *err. */
static int copy_incident(struct store *to, json_t *inc, json_t *events, json_t *origin,
			 const char *actor, char **to_id, char **err)
{
	const char *fid = json_string_value(json_object_get(inc, "id"));
	json_t *opened = first_of(events, "incident.opened");
	const char *joins = json_string_value(json_object_get(json_object_get(opened, "data"), "joins"));
	json_t *existing = joins ? store_incident_get(to, joins, err) : NULL;
	free(*err);
	*err = NULL;
	if (existing) { /* the run joined an incident the configured store has */
		*to_id = xstrdup(joins);
		json_decref(existing);
	} else {
		json_t *f = json_pack("{s:O, s:O, s:O?, s:O?, s:O?, s:O?, s:O}", "title", json_object_get(inc, "title"),
				      "severity", json_object_get(inc, "severity"), "runbook", json_object_get(inc, "runbook"),
				      "component", json_object_get(inc, "component"), "fingerprint",
				      json_object_get(inc, "fingerprint"), "started_at", json_object_get(inc, "started_at"),
				      "origin", origin);
		int rc = store_incident_create(to, f, actor, to_id, err);
		json_decref(f);
		if (rc)
			return -1;
	}
	size_t i, copied = 0;
	json_t *e;
	json_array_foreach(events, i, e) {
		const char *kind = json_string_value(json_object_get(e, "kind"));
		if (e == opened || !strcmp(kind, "store.synced"))
			continue;
		json_t *d = json_object();
		json_object_set(d, "data", json_object_get(e, "data"));
		json_object_set_new(d, "synced_from", json_pack("{s:s, s:O, s:O}", "incident", fid, "seq",
							       json_object_get(e, "seq"), "time", json_object_get(e, "time")));
		int rc = store_append(to, *to_id, kind, json_string_value(json_object_get(e, "actor")),
				      json_string_value(json_object_get(e, "summary")), d, err);
		json_decref(d);
		if (rc)
			return -1;
		copied++;
	}
	/* the final state the fallback incident reached */
	static const char *const state[] = {"status", "severity", "acknowledged_at", "resolved_at", "resolution", NULL};
	json_t *now = store_incident_get(to, *to_id, err);
	if (!now)
		return -1;
	json_t *changes = json_object();
	for (const char *const *k = state; *k; k++) {
		json_t *v = json_object_get(inc, *k);
		if (json_is_string(v) && !json_equal(v, json_object_get(now, *k)))
			json_object_set(changes, *k, v);
	}
	json_decref(now);
	json_t *data = json_pack("{s:O, s:I, s:O}", "origin", origin, "events", (json_int_t)copied, "changes", changes);
	char *summary = xasprintf("%s synced from the local fallback store (%s there, %zu events)", *to_id, fid, copied);
	int rc = store_incident_update(to, *to_id, changes, "incident.synced", actor, summary, data, err);
	free(summary);
	json_decref(data);
	json_decref(changes);
	return rc;
}

int store_sync(struct store *to, const char *to_url, struct store *from, const char *from_path, FILE *out,
	       char **err)
{
	json_t *list = store_incident_list(from, err);
	if (!list)
		return -1;
	char *actor = store_actor();
	char *safe_url = redact_dsn(to_url);
	int bad = 0, done = 0;
	/* oldest first: the configured store numbers them in the order they happened */
	for (size_t n = json_array_size(list); n-- > 0;) {
		json_t *inc = json_array_get(list, n);
		const char *fid = json_string_value(json_object_get(inc, "id"));
		char *e = NULL;
		json_t *events = store_events(from, fid, &e);
		long long bad_seq = 0;
		char *broken = events ? store_verify(events, &bad_seq) : NULL;
		if (!events || broken) {
			fprintf(out, "%s (fallback): not synced: %s\n", fid, events ? broken : e);
			free(broken);
			free(e);
			json_decref(events);
			bad = 1;
			continue;
		}
		size_t i;
		json_t *ev;
		const char *already = NULL;
		json_array_foreach(events, i, ev) {
			json_t *d = json_object_get(ev, "data");
			if (!strcmp(json_string_value(json_object_get(ev, "kind")), "store.synced") &&
			    json_is_string(json_object_get(d, "store")) &&
			    !strcmp(json_string_value(json_object_get(d, "store")), safe_url))
				already = json_string_value(json_object_get(d, "incident"));
		}
		if (already) {
			json_decref(events);
			continue;
		}
		json_t *origin = origin_of(from_path, fid, events);
		char *to_id = find_copy(to, inc, origin);
		int rc = 0;
		if (!to_id)
			rc = copy_incident(to, inc, events, origin, actor, &to_id, &e);
		if (!rc) { /* the copy's chain must hold too */
			json_t *copied = store_events(to, to_id, &e);
			char *cb = copied ? store_verify(copied, NULL) : xstrdup(e ? e : "no events");
			if (cb) {
				free(e);
				e = xasprintf("the copy %s does not verify: %s", to_id, cb);
				free(cb);
				rc = -1;
			}
			json_decref(copied);
		}
		if (!rc) {
			json_t *mark = json_pack("{s:s, s:s}", "store", safe_url, "incident", to_id);
			char *summary = xasprintf("%s synced to %s as %s", fid, safe_url, to_id);
			rc = store_append(from, fid, "store.synced", actor, summary, mark, &e);
			free(summary);
			json_decref(mark);
		}
		if (rc) {
			fprintf(out, "%s (fallback): not synced: %s\n", fid, e ? e : "?");
			bad = 1;
		} else {
			fprintf(out, "%s (fallback) -> %s: %zu events\n", fid, to_id, json_array_size(events));
			done++;
		}
		free(e);
		free(to_id);
		json_decref(origin);
		json_decref(events);
	}
	if (!done && !bad)
		fprintf(out, "nothing to sync: every fallback incident is in %s\n", safe_url);
	free(safe_url);
	free(actor);
	json_decref(list);
	if (bad)
		*err = xstrdup("some fallback incidents were not synced (see above)");
	return bad ? -1 : 0;
}
