/*
 * store: the timeline store interface. store_open() picks the backend by
 * URL (sqlite:PATH, or a PostgreSQL URI/conninfo); everything a backend
 * must agree on - how events are sealed into the hash chain and how the
 * chain is verified - lives here, once.
 */
#define _POSIX_C_SOURCE 200809L
#include "store.h"
#include "store_backend.h"
#include "util.h"

#include <openssl/evp.h>
#include <pwd.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

struct store {
	const struct store_backend *be;
	void *db;
};

const char *const store_incident_cols[] = {"id", "title", "severity", "status", "started_at", "detected_at",
	"acknowledged_at", "resolved_at", "fingerprint", "runbook", "component", "commander", "resolution", "repeat_of"};
const size_t store_nincident_cols = ARRAY_LEN(store_incident_cols);

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

/* The kinds of store; the first that accepts a URL opens it. */
static const struct store_backend *const store_backends[] = {&store_sqlite, &store_pg};

static const struct store_backend *backend_for(const char *url)
{
	for (size_t i = 0; i < ARRAY_LEN(store_backends); i++)
		if (store_backends[i]->accepts(url))
			return store_backends[i];
	return NULL;
}

int store_url_shared(const char *url)
{
	const struct store_backend *be = backend_for(url);
	return be ? be->shared : -1;
}

struct store *store_open(const char *url, char **err)
{
	char *u = store_default_url(url);
	const struct store_backend *be = backend_for(u);
	if (!be) {
		*err = xasprintf("unknown store '%s': use sqlite:PATH or a PostgreSQL URI or conninfo", u);
		free(u);
		return NULL;
	}
	void *db = be->open(u, err);
	free(u);
	if (!db)
		return NULL;
	struct store *st = xcalloc(1, sizeof *st);
	st->be = be;
	st->db = db;
	return st;
}

void store_close(struct store *st)
{
	if (!st)
		return;
	st->be->close(st->db);
	free(st);
}

int store_incident_create(struct store *st, json_t *fields, const char *actor, char **id, char **err)
{
	return st->be->incident_create(st->db, fields, actor, id, err);
}

json_t *store_incident_get(struct store *st, const char *id, char **err)
{
	json_t *inc = NULL;
	if (store_incident_find(st, id, &inc, err) == 1)
		*err = xasprintf("no incident %s in the store", id);
	return inc;
}

int store_incident_find(struct store *st, const char *id, json_t **inc, char **err)
{
	json_t *a = st->be->incidents(st->db, "id", id, err);
	if (!a)
		return -1;
	*inc = json_incref(json_array_get(a, 0));
	json_decref(a);
	return *inc ? 0 : 1;
}

json_t *store_incident_list(struct store *st, char **err)
{
	return st->be->incidents(st->db, NULL, NULL, err);
}

json_t *store_incidents_by(struct store *st, const char *col, const char *val, char **err)
{
	if (strcmp(col, "fingerprint") && strcmp(col, "status")) {
		*err = xasprintf("incidents cannot be looked up by '%s'", col);
		return NULL;
	}
	return st->be->incidents(st->db, col, val, err);
}

json_t *store_incidents_latest(struct store *st, const char *fingerprint, char **err)
{
	return st->be->latest(st->db, fingerprint, err);
}

int store_incident_update(struct store *st, const char *id, json_t *changes, const char *kind, const char *actor,
			  const char *summary, json_t *data, char **err)
{
	const char *k;
	json_t *v;
	json_object_foreach(changes, k, v) {
		int known = 0;
		for (size_t i = 1; i < store_nincident_cols; i++)
			known |= !strcmp(k, store_incident_cols[i]);
		if (!known || !(json_is_string(v) || json_is_null(v))) {
			*err = xasprintf("cannot set '%s' of an incident", k);
			return -1;
		}
	}
	return st->be->incident_update(st->db, id, changes, kind, actor, summary, data, err);
}

int store_append(struct store *st, const char *incident, const char *kind, const char *actor, const char *summary,
		 json_t *data, char **err)
{
	return st->be->append(st->db, incident, kind, actor, summary, data, 0, NULL, NULL, err);
}

int store_lazy(struct store *st, int on, char **err)
{
	return st->be->lazy(st->db, on, err);
}

int store_append_many(struct store *st, const char *incident, const char *actor, json_t *events, char **err)
{
	return json_array_size(events) ? st->be->append_many(st->db, incident, actor, events, err) : 0;
}

int store_append_alert(struct store *st, const char *incident, json_t *alert, long long queue_id, const char *diagnose,
		       json_t *done, const char *actor, char **err)
{
	char *s = store_alert_summary(alert);
	int rc = st->be->append(st->db, incident, "alert", actor, s, alert, queue_id, diagnose, done, err);
	free(s);
	return rc;
}

json_t *store_opened_data(json_t *fields)
{
	json_t *o = json_copy(fields);
	json_object_del(o, "alert");
	json_object_del(o, "queue_id");
	json_object_del(o, "diagnose");
	return o;
}

int store_enqueue(struct store *st, struct queued *q, size_t n, char **err)
{
	return st->be->enqueue(st->db, q, n, err);
}

int store_claim(struct store *st, const char *owner, int lease_s, json_t **item, char **err)
{
	return st->be->claim(st->db, owner, lease_s, item, err);
}

int store_queue_done(struct store *st, json_t *item, json_t *result, char **err)
{
	return st->be->queue_done(st->db, item, result, err);
}

int store_heartbeat(struct store *st, const char *owner, int lease_s, char **err)
{
	return st->be->heartbeat(st->db, owner, lease_s, err);
}

long long store_queue_prune(struct store *st, int64_t older_than_s, int batch, char **err)
{
	time_t cut = time(NULL) - (time_t)older_than_s;
	struct tm tm;
	char before[40];
	gmtime_r(&cut, &tm);
	strftime(before, sizeof before, "%Y-%m-%dT%H:%M:%S.000000Z", &tm); /* as done_at is written */
	return st->be->queue_prune(st->db, before, batch, err);
}

int store_queue_reset(struct store *st, char **err)
{
	return st->be->queue_reset ? st->be->queue_reset(st->db, err) : 0;
}

long long store_queue_depth(struct store *st, char **err)
{
	return st->be->queue_depth(st->db, err);
}

int store_claim_once(struct store *st, const char *name, char **err)
{
	return st->be->claim_once(st->db, name, err);
}

int store_queue_wait(struct store *st, int timeout_ms)
{
	return st->be->queue_wait ? st->be->queue_wait(st->db, timeout_ms) : -1;
}

int store_shared(const struct store *st)
{
	return st->be->shared;
}

json_t *store_events(struct store *st, const char *incident, char **err)
{
	return st->be->events(st->db, incident, err);
}

json_t *store_metrics_sums(struct store *st, const char *since, const char *until, const char *now, char **err)
{
	return st->be->metrics(st->db, since, until, now, err);
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

int store_seal_event(const char *incident, long long seq, const char *kind, const char *actor, const char *summary,
		     json_t *data, const char *at, const char *prev_hash, char *time, char *hash, char **data_text)
{
	if (at)
		snprintf(time, 40, "%s", at);
	else
		utc_timestamp(time, 40);
	json_t *ev = json_pack("{s:s, s:I, s:s, s:s, s:s, s:s, s:O}", "incident", incident, "seq", (json_int_t)seq, "time",
			       time, "kind", kind, "actor", actor, "summary", summary, "data", data ? data : json_null());
	if (!ev)
		return -1;
	char *canon = store_canonical_event(ev);
	store_event_hash(prev_hash, canon, hash);
	free(canon);
	*data_text = json_dumps(json_object_get(ev, "data"), JSON_COMPACT | JSON_SORT_KEYS | JSON_ENCODE_ANY);
	json_decref(ev);
	return 0;
}

char *store_alert_summary(json_t *alert)
{
	const char *name = json_string_value(json_object_get(alert, "name"));
	const char *status = json_string_value(json_object_get(alert, "status"));
	const char *source = json_string_value(json_object_get(alert, "source"));
	const char *summary = json_string_value(json_object_get(alert, "summary"));
	return xasprintf("alert %s %s (%s)%s%s", name ? name : "(unnamed)", status ? status : "firing",
			 source ? source : "generic", summary ? ": " : "", summary ? summary : "");
}

char *store_verify(json_t *events, long long *bad_seq)
{
	long long dummy;
	if (!bad_seq)
		bad_seq = &dummy;
	*bad_seq = 0;
	const char *prev = ZERO_HASH;
	size_t i;
	json_t *e;
	json_array_foreach(events, i, e) {
		json_int_t seq = json_integer_value(json_object_get(e, "seq"));
		const char *kind = json_string_value(json_object_get(e, "kind"));
		*bad_seq = (long long)i + 1;
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
	*bad_seq = 0;
	return NULL;
}
