/* serve: the HTTP API. See serve.h. */
#define _POSIX_C_SOURCE 200809L
#include "serve.h"
#include "alert.h"
#include "exposition.h"
#include "incident.h"
#include "match.h"
#include "pool.h"
#include "redact.h"
#include "stats.h"
#include "statuspage.h"
#include "store.h"
#include "triage.h"
#include "util.h"

#include <arpa/inet.h>
#include <microhttpd.h>
#include <netdb.h>
#include <openssl/crypto.h>
#include <openssl/evp.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#define IDLE_TIMEOUT_S 10       /* a connection quiet this long is closed */
#define HTTP_THREADS 4          /* epoll threads: one parses while another waits in the kernel */
#define MAX_CONNECTIONS 1000
#define STORE_POOL 8            /* connections kept for reads */
#define GATHER_US 300           /* under load, a commit waits this long for more alerts... */
#define GATHER_MAX 64           /* ...unless it has this many */
#define INTAKE_QUIET_US 5000    /* intake under load is busy this long after a commit (the next requests' arrival) */

/* One POST /v1/alerts waiting for its commit. */
struct job {
	json_t *alerts;             /* the normalised alerts... */
	struct queued *q;           /* ...to queue: q[i].id once committed */
	size_t n;
	char *err;
	int done;
	struct MHD_Connection *conn;
	struct job *next;
};

struct req {
	struct sbuf body;
	int too_big, answered;
	struct job *job;
};

struct server {
	struct serve_opts o;
	struct triage t;
	struct matchset *ms;        /* for the key of an alert at intake */
	struct MHD_Daemon *d;
	char addr[128];
	const char *token, *pd_secret;
	size_t max_body;
	struct tpool *pool;         /* NULL: workers triage (PostgreSQL without --work) */
	char *actor;
	/* group commit */
	pthread_t committer;
	int committer_started;
	pthread_mutex_t mu;
	pthread_cond_t cv;
	struct job *pending, **pending_tail;
	size_t npending;            /* alerts in pending */
	enum { IDLE, GATHERING, COMMITTING } phase;
	int64_t committed_us;       /* when the last commit ended... */
	size_t committed_n;         /* ...and the alerts it had (more than one: under load) */
	int stop;
	struct store *intake;       /* the committer's connection */
	/* connections for reads */
	struct store *spare[STORE_POOL];
	int nspare;
};

/* ---- store connections ---- */

static struct store *store_get(struct server *s, char **err)
{
	pthread_mutex_lock(&s->mu);
	struct store *st = s->nspare ? s->spare[--s->nspare] : NULL;
	pthread_mutex_unlock(&s->mu);
	return st ? st : store_open(s->o.store_url, err);
}

/* Gives a connection back; one that failed is dropped. */
static void store_put(struct server *s, struct store *st, int failed)
{
	if (!st)
		return;
	pthread_mutex_lock(&s->mu);
	if (!failed && s->nspare < STORE_POOL) {
		s->spare[s->nspare++] = st;
		st = NULL;
	}
	pthread_mutex_unlock(&s->mu);
	store_close(st);
}

/* ---- responses ---- */

/* Queues a response; with `mode` MHD_RESPMEM_MUST_FREE, body becomes the
 * response's (freed with it). */
static enum MHD_Result respond_as(struct MHD_Connection *c, unsigned code, const char *type, const char *body,
				  size_t len, int close_after, enum MHD_ResponseMemoryMode mode)
{
	struct MHD_Response *r = MHD_create_response_from_buffer(len, (void *)body, mode);
	if (!r) {
		if (mode == MHD_RESPMEM_MUST_FREE)
			free((void *)body);
		return MHD_NO;
	}
	MHD_add_response_header(r, "Content-Type", type);
	MHD_add_response_header(r, "Cache-Control", "no-store");
	if (close_after)
		MHD_add_response_header(r, "Connection", "close");
	enum MHD_Result rc = MHD_queue_response(c, code, r);
	MHD_destroy_response(r);
	return rc;
}

static enum MHD_Result respond(struct MHD_Connection *c, unsigned code, const char *type, const char *body, size_t len,
			       int close_after)
{
	return respond_as(c, code, type, body, len, close_after, MHD_RESPMEM_MUST_COPY);
}

static enum MHD_Result respond_json_close(struct MHD_Connection *c, unsigned code, json_t *doc, int close_after)
{
	char *s = json_dumps(doc, JSON_COMPACT | JSON_ENCODE_ANY);
	json_decref(doc);
	if (!s)
		s = xstrdup("{\"error\":\"cannot encode the response\"}");
	size_t len = strlen(s);
	s = xrealloc(s, len + 2);
	s[len++] = '\n';
	s[len] = '\0';
	return respond_as(c, code, "application/json", s, len, close_after, MHD_RESPMEM_MUST_FREE);
}

static enum MHD_Result respond_json(struct MHD_Connection *c, unsigned code, json_t *doc)
{
	return respond_json_close(c, code, doc, 0);
}

static enum MHD_Result error(struct MHD_Connection *c, unsigned code, const char *msg)
{
	return respond_json(c, code, json_pack("{s:s}", "error", msg));
}

/* ---- authentication ---- */

/* Compares SHA-256 digests in constant time: neither the token's length
 * nor where a guess first differs shows in the time taken. */
static int same_secret(const char *given, const char *want)
{
	unsigned char a[EVP_MAX_MD_SIZE], b[EVP_MAX_MD_SIZE];
	unsigned int na = 0, nb = 0;
	EVP_Digest(given, strlen(given), a, &na, EVP_sha256(), NULL);
	EVP_Digest(want, strlen(want), b, &nb, EVP_sha256(), NULL);
	return na == nb && CRYPTO_memcmp(a, b, na) == 0;
}

static int authorized(struct server *s, struct MHD_Connection *c)
{
	if (!s->token || !*s->token)
		return 1;
	const char *h = MHD_lookup_connection_value(c, MHD_HEADER_KIND, MHD_HTTP_HEADER_AUTHORIZATION);
	if (!h || strncasecmp(h, "Bearer ", 7))
		return 0;
	h += 7;
	while (*h == ' ')
		h++;
	return same_secret(h, s->token);
}

/* ---- POST /v1/alerts ---- */

static enum MHD_Result post_alerts(struct server *s, struct MHD_Connection *c, struct req *rq)
{
	const char *body = rq->body.buf ? rq->body.buf : "";
	struct diag_list d;
	diag_init(&d);
	json_t *alerts = alert_parse("request", body, rq->body.len, &d);
	if (!alerts) {
		char *why = d.n ? diag_format(&d.items[0]) : xstrdup("not an alert payload");
		diag_release(&d);
		stats_alert_rejected("bad_payload");
		enum MHD_Result r = error(c, MHD_HTTP_BAD_REQUEST, why);
		free(why);
		return r;
	}
	diag_release(&d);
	size_t i;
	json_t *a;
	int pagerduty = 0;
	json_array_foreach(alerts, i, a)
		pagerduty |= !strcmp(json_string_value(json_object_get(a, "source")), "pagerduty");
	if (pagerduty && s->pd_secret && *s->pd_secret &&
	    !alert_pagerduty_signed(s->pd_secret, body, rq->body.len,
				    MHD_lookup_connection_value(c, MHD_HEADER_KIND, "X-PagerDuty-Signature"))) {
		json_decref(alerts);
		stats_alert_rejected("bad_signature");
		return error(c, MHD_HTTP_UNAUTHORIZED, "X-PagerDuty-Signature does not sign this body");
	}
	struct redactor red; /* the config's secrets never reach the queue */
	redact_init(&red);
	redact_add_all(&red, s->o.cfg->secrets);
	struct job *job = xcalloc(1, sizeof *job);
	job->alerts = alerts;
	job->n = json_array_size(alerts);
	job->q = xcalloc(job->n, sizeof *job->q);
	job->conn = c;
	json_array_foreach(alerts, i, a) {
		redact_json(&red, a);
		job->q[i].key = triage_key(matchset_best(s->ms, a), a);
		job->q[i].source = json_string_value(json_object_get(a, "source"));
		/* serialized here, on the HTTP threads, not on the one committer */
		job->q[i].text = json_dumps(a, JSON_COMPACT);
		if (!job->q[i].text)
			job->q[i].text = xstrdup("null");
	}
	redact_release(&red);
	rq->job = job;
	/* the request waits for the commit suspended, its thread free */
	MHD_suspend_connection(c);
	pthread_mutex_lock(&s->mu);
	*s->pending_tail = job;
	s->pending_tail = &job->next;
	s->npending += job->n;
	if (s->phase == IDLE || (s->phase == GATHERING && s->npending >= GATHER_MAX))
		pthread_cond_signal(&s->cv); /* the committer is woken only when it has something to do */
	pthread_mutex_unlock(&s->mu);
	return MHD_YES;
}

/* 202 {"accepted": N, "alerts": [{"fingerprint", "queue_id"}]}, written
 * out directly: every alert of a storm comes this way. */
static enum MHD_Result alerts_accepted(struct MHD_Connection *c, struct job *job)
{
	if (job->err)
		return error(c, MHD_HTTP_SERVICE_UNAVAILABLE, job->err);
	struct sbuf sb;
	sbuf_init(&sb);
	char num[48];
	snprintf(num, sizeof num, "%zu", job->n);
	sbuf_adds(&sb, "{\"accepted\":");
	sbuf_adds(&sb, num);
	sbuf_adds(&sb, ",\"alerts\":[");
	for (size_t i = 0, from = 0; i < job->n; i++) {
		json_t *alert = json_array_get(job->alerts, i);
		sbuf_adds(&sb, i ? ",{\"fingerprint\":" : "{\"fingerprint\":");
		sbuf_add_json_string(&sb, json_string_value(json_object_get(alert, "fingerprint")));
		snprintf(num, sizeof num, ",\"queue_id\":%lld}", job->q[i].id);
		sbuf_adds(&sb, num);
		if (i + 1 == job->n || strcmp(job->q[i].source, job->q[i + 1].source)) { /* counted by source */
			stats_alerts_received(job->q[i].source, (long)(i + 1 - from));
			from = i + 1;
		}
	}
	sbuf_adds(&sb, "]}\n");
	size_t len = sb.len;
	return respond_as(c, MHD_HTTP_ACCEPTED, "application/json", sbuf_detach(&sb), len, 0, MHD_RESPMEM_MUST_FREE);
}

/* The group commit: every request that arrived while the last commit ran
 * goes into the next one. Under load (more than one request waiting), the
 * committer also waits up to GATHER_US for more: fewer, larger commits
 * leave the CPU to the requests (on 2 cores, 4000 POSTs from 64 clients:
 * about 17 alerts a commit instead of 7, PostgreSQL's CPU down by a third,
 * p/n 1.48 -> 1.41 and 1.47 -> 1.34 side by side). A lone alert is
 * committed at once. */
static void *commit_thread(void *arg)
{
	struct server *s = arg;
	pthread_mutex_lock(&s->mu);
	for (;;) {
		s->phase = IDLE;
		while (!s->pending && !s->stop)
			pthread_cond_wait(&s->cv, &s->mu);
		if (!s->pending && s->stop)
			break;
		if (s->pending->next && s->npending < GATHER_MAX && !s->stop) {
			s->phase = GATHERING;
			int64_t until = now_us() + GATHER_US;
			for (int64_t left = GATHER_US; left > 0 && s->npending < GATHER_MAX && !s->stop;
			     left = until - now_us())
				cond_wait_us(&s->cv, &s->mu, left);
		}
		s->phase = COMMITTING;
		struct job *batch = s->pending;
		s->pending = NULL;
		s->pending_tail = &s->pending;
		s->npending = 0;
		pthread_mutex_unlock(&s->mu);
		size_t n = 0;
		for (struct job *j = batch; j; j = j->next)
			n += j->n;
		struct queued *all = xcalloc(n, sizeof *all);
		n = 0;
		for (struct job *j = batch; j; j = j->next)
			for (size_t k = 0; k < j->n; k++)
				all[n++] = j->q[k];
		char *err = NULL;
		if (!s->intake)
			s->intake = store_open(s->o.store_url, &err);
		int rc = s->intake ? store_enqueue(s->intake, all, n, &err) : -1;
		if (rc && s->intake) { /* a broken connection is not kept */
			store_close(s->intake);
			s->intake = NULL;
		}
		n = 0;
		for (struct job *j = batch, *next; j; j = next) {
			next = j->next;
			for (size_t k = 0; k < j->n; k++)
				j->q[k].id = all[n++].id;
			if (rc)
				j->err = xasprintf("the alerts could not be queued: %s", err ? err : "the store failed");
			pthread_mutex_lock(&s->mu);
			j->done = 1;
			pthread_mutex_unlock(&s->mu);
			MHD_resume_connection(j->conn);
		}
		free(err);
		free(all);
		pthread_mutex_lock(&s->mu);
		s->committed_us = now_us();
		s->committed_n = n;
		if (s->pool && !rc)
			tpool_kick(s->pool);
	}
	pthread_mutex_unlock(&s->mu);
	return NULL;
}

/* Requests are waiting for a commit, or more are about to (the last
 * commit, a moment ago, had several): the pool's triage lets them go first
 * (SQLite has one writer, and the machine's CPU is the requests' too). A
 * trickle of single alerts holds triage up at most for a commit. On 2
 * CPUs, 4000 POSTs of one fingerprint from 64 connections, side by side:
 * s/n 1.77 -> 1.35, 1.33 with no triage at all; the storm was triaged to
 * its end as fast. */
static int intake_busy(void *arg)
{
	struct server *s = arg;
	pthread_mutex_lock(&s->mu);
	int busy = s->pending || s->phase != IDLE || (s->committed_n > 1 && now_us() - s->committed_us < INTAKE_QUIET_US);
	pthread_mutex_unlock(&s->mu);
	return busy;
}

/* ---- the incident routes ---- */

static enum MHD_Result get_incidents(struct server *s, struct MHD_Connection *c)
{
	const char *want = MHD_lookup_connection_value(c, MHD_GET_ARGUMENT_KIND, "status");
	if (want && strcmp(want, "open") && strcmp(want, "triggered") && strcmp(want, "acknowledged") &&
	    strcmp(want, "resolved"))
		return error(c, MHD_HTTP_BAD_REQUEST, "status is open, triggered, acknowledged or resolved");
	char *err = NULL;
	struct store *st = store_get(s, &err);
	json_t *all = st ? store_incident_list(st, &err) : NULL;
	store_put(s, st, !all);
	if (!all) {
		enum MHD_Result r = error(c, MHD_HTTP_SERVICE_UNAVAILABLE, err);
		free(err);
		return r;
	}
	json_t *out = json_array();
	int64_t now = (int64_t)time(NULL);
	size_t i;
	json_t *inc;
	json_array_foreach(all, i, inc) {
		const char *status = json_string_value(json_object_get(inc, "status"));
		if (want && (!strcmp(want, "open") ? !strcmp(status, "resolved") : strcmp(want, status) != 0))
			continue;
		json_object_set_new(inc, "ack_overdue", json_boolean(incident_ack_overdue(inc, now)));
		json_array_append(out, inc);
	}
	json_decref(all);
	return respond_json(c, MHD_HTTP_OK, out);
}

/* The incident (and its events when asked), or an error response. */
static enum MHD_Result get_incident(struct server *s, struct MHD_Connection *c, const char *id, int timeline)
{
	char *err = NULL;
	struct store *st = store_get(s, &err);
	if (!st) {
		enum MHD_Result r = error(c, MHD_HTTP_SERVICE_UNAVAILABLE, err);
		free(err);
		return r;
	}
	json_t *inc = NULL;
	int found = store_incident_find(st, id, &inc, &err); /* tells "unknown" from "store down" */
	json_t *events = inc && timeline ? store_events(st, id, &err) : NULL;
	int down = found < 0 || (timeline && inc && !events);
	store_put(s, st, down);
	if (down) {
		json_decref(inc);
		enum MHD_Result r = error(c, MHD_HTTP_SERVICE_UNAVAILABLE, err);
		free(err);
		return r;
	}
	if (!inc) {
		char *m = xasprintf("no incident %s", id);
		enum MHD_Result r = error(c, MHD_HTTP_NOT_FOUND, m);
		free(m);
		return r;
	}
	json_object_set_new(inc, "ack_overdue", json_boolean(incident_ack_overdue(inc, (int64_t)time(NULL))));
	if (!timeline)
		return respond_json(c, MHD_HTTP_OK, inc);
	long long bad_seq = 0;
	char *bad = store_verify(events, &bad_seq);
	json_t *doc = json_pack("{s:o, s:o, s:b, s:o}", "incident", inc, "events", events, "verified", !bad,
				"first_bad_seq", bad ? json_integer(bad_seq) : json_null());
	free(bad);
	return respond_json(c, MHD_HTTP_OK, doc);
}

static enum MHD_Result post_transition(struct server *s, struct MHD_Connection *c, struct req *rq, const char *id,
				       const char *to)
{
	json_t *in = NULL;
	if (rq->body.len) {
		json_error_t je;
		in = json_loadb(rq->body.buf, rq->body.len, 0, &je);
		if (!json_is_object(in)) {
			json_decref(in);
			char *m = xasprintf("the body is a JSON object like {\"resolution\": \"...\"}: %s", je.text);
			enum MHD_Result r = error(c, MHD_HTTP_BAD_REQUEST, m);
			free(m);
			return r;
		}
	}
	json_t *res = json_object_get(in, "resolution"), *fp = json_object_get(in, "false_positive"),
	       *by = json_object_get(in, "by");
	if ((res && !json_is_string(res)) || (fp && !json_is_boolean(fp)) || (by && !json_is_string(by))) {
		json_decref(in);
		return error(c, MHD_HTTP_BAD_REQUEST, "resolution and by are strings, false_positive true or false");
	}
	const char *resolution = json_is_true(fp) ? "false-positive" : json_string_value(res);
	char *actor = by ? xasprintf("%s (api)", json_string_value(by)) : xstrdup("api");
	char *err = NULL;
	struct store *st = store_get(s, &err);
	int rc = st ? incident_transition(st, id, to, !strcmp(to, "resolved") ? resolution : NULL, actor, NULL, &err) : -1;
	store_put(s, st, rc < 0);
	free(actor);
	json_decref(in);
	if (rc) {
		unsigned code = rc < 0 ? MHD_HTTP_SERVICE_UNAVAILABLE : rc == 1 ? MHD_HTTP_NOT_FOUND : MHD_HTTP_CONFLICT;
		enum MHD_Result r = error(c, code, err ? err : "the store failed");
		free(err);
		return r;
	}
	return get_incident(s, c, id, 0);
}

/* ---- the unauthenticated routes ---- */

static enum MHD_Result healthz(struct server *s, struct MHD_Connection *c)
{
	char *err = NULL;
	struct store *st = store_get(s, &err);
	long long depth = st ? store_queue_depth(st, &err) : -1;
	store_put(s, st, depth < 0);
	if (depth < 0) {
		char *m = xasprintf("the store does not answer: %s\n", err ? err : "unknown error");
		free(err);
		enum MHD_Result r = respond(c, MHD_HTTP_SERVICE_UNAVAILABLE, "text/plain; charset=utf-8", m, strlen(m), 0);
		free(m);
		return r;
	}
	return respond(c, MHD_HTTP_OK, "text/plain; charset=utf-8", "ok\n", 3, 0);
}

static enum MHD_Result metrics(struct server *s, struct MHD_Connection *c)
{
	struct sbuf out;
	sbuf_init(&out);
	char *err = NULL;
	struct store *st = store_get(s, &err);
	int bad = exposition_render(&out, st, err);
	store_put(s, st, bad);
	free(err);
	enum MHD_Result r = respond(c, MHD_HTTP_OK, "text/plain; version=0.0.4; charset=utf-8", out.buf ? out.buf : "",
				    out.len, 0);
	sbuf_release(&out);
	return r;
}

static enum MHD_Result status_page(struct server *s, struct MHD_Connection *c, int json)
{
	char *err = NULL;
	struct store *st = store_get(s, &err);
	json_t *page = st ? statuspage_from_store(st, s->o.cfg, s->o.rbs, s->o.nrb, (int64_t)time(NULL), &err) : NULL;
	store_put(s, st, !page);
	if (!page) {
		enum MHD_Result r = error(c, MHD_HTTP_SERVICE_UNAVAILABLE, err);
		free(err);
		return r;
	}
	if (json)
		return respond_json(c, MHD_HTTP_OK, page);
	struct sbuf out;
	sbuf_init(&out);
	statuspage_html(&out, page);
	json_decref(page);
	enum MHD_Result r = respond(c, MHD_HTTP_OK, "text/html; charset=utf-8", out.buf, out.len, 0);
	sbuf_release(&out);
	return r;
}

/* ---- routing ---- */

enum route { R_NONE, R_ALERTS, R_INCIDENTS, R_INCIDENT, R_TIMELINE, R_ACK, R_RESOLVE, R_HEALTHZ, R_METRICS, R_STATUS,
	     R_STATUS_JSON };

/* The route of a path, its method, and the incident id in it. */
static enum route route_of(const char *url, const char **method, char *id, size_t idn)
{
	static const struct {
		const char *path, *method;
		enum route r;
	} fixed[] = {{"/v1/alerts", "POST", R_ALERTS}, {"/v1/incidents", "GET", R_INCIDENTS}, {"/healthz", "GET", R_HEALTHZ},
		     {"/metrics", "GET", R_METRICS}, {"/status", "GET", R_STATUS}, {"/status.json", "GET", R_STATUS_JSON}};
	for (size_t i = 0; i < sizeof fixed / sizeof fixed[0]; i++)
		if (!strcmp(url, fixed[i].path)) {
			*method = fixed[i].method;
			return fixed[i].r;
		}
	if (strncmp(url, "/v1/incidents/", 14))
		return R_NONE;
	const char *p = url + 14, *slash = strchr(p, '/');
	size_t n = slash ? (size_t)(slash - p) : strlen(p);
	if (!n || n >= idn)
		return R_NONE;
	memcpy(id, p, n);
	id[n] = '\0';
	if (!slash) {
		*method = "GET";
		return R_INCIDENT;
	}
	*method = !strcmp(slash, "/timeline") ? "GET" : "POST";
	return !strcmp(slash, "/timeline") ? R_TIMELINE : !strcmp(slash, "/ack") ? R_ACK
						       : !strcmp(slash, "/resolve") ? R_RESOLVE : R_NONE;
}

static enum MHD_Result handler(void *cls, struct MHD_Connection *c, const char *url, const char *method,
			       const char *version, const char *upload, size_t *upload_size, void **con_cls)
{
	(void)version;
	struct server *s = cls;
	struct req *rq = *con_cls;
	const char *want = NULL;
	char id[64];
	enum route r = route_of(url, &want, id, sizeof id);
	if (!rq) { /* the headers are in: refuse what can be refused before any body is read */
		rq = xcalloc(1, sizeof *rq);
		sbuf_init(&rq->body);
		*con_cls = rq;
		const char *cl = MHD_lookup_connection_value(c, MHD_HEADER_KIND, MHD_HTTP_HEADER_CONTENT_LENGTH);
		if (r == R_NONE) {
			rq->answered = 1;
			return error(c, MHD_HTTP_NOT_FOUND, "no such route: see `man runbook` (serve)");
		}
		if (strcmp(method, want) && !(r == R_INCIDENTS && !strcmp(method, "HEAD"))) {
			rq->answered = 1;
			char *m = xasprintf("%s takes %s, not %s", url, want, method);
			enum MHD_Result res = error(c, MHD_HTTP_METHOD_NOT_ALLOWED, m);
			free(m);
			return res;
		}
		if (!strncmp(url, "/v1/", 4) && !authorized(s, c)) {
			rq->answered = 1;
			stats_alert_rejected("unauthorized");
			return error(c, MHD_HTTP_UNAUTHORIZED, "a valid 'Authorization: Bearer TOKEN' is required");
		}
		if (cl && strtoull(cl, NULL, 10) > s->max_body) {
			rq->answered = 1;
			stats_alert_rejected("too_large");
			char *m = xasprintf("the body is larger than serve.max_body (%zu bytes)", s->max_body);
			enum MHD_Result res = respond_json_close(c, MHD_HTTP_CONTENT_TOO_LARGE, json_pack("{s:s}", "error", m), 1);
			free(m);
			return res;
		}
		return MHD_YES;
	}
	if (rq->answered) { /* the rest of a refused body is not read */
		*upload_size = 0;
		return MHD_YES;
	}
	if (*upload_size) {
		if (rq->body.len + *upload_size > s->max_body)
			rq->too_big = 1;
		else
			sbuf_add(&rq->body, upload, *upload_size);
		*upload_size = 0;
		return MHD_YES;
	}
	if (rq->job) { /* resumed: the alerts are committed (or not) */
		rq->answered = 1;
		return alerts_accepted(c, rq->job);
	}
	rq->answered = r != R_ALERTS;
	if (rq->too_big) {
		rq->answered = 1;
		stats_alert_rejected("too_large");
		return respond_json_close(c, MHD_HTTP_CONTENT_TOO_LARGE,
					  json_pack("{s:s}", "error", "the body is larger than serve.max_body"), 1);
	}
	switch (r) {
	case R_ALERTS: return post_alerts(s, c, rq);
	case R_INCIDENTS: return get_incidents(s, c);
	case R_INCIDENT: return get_incident(s, c, id, 0);
	case R_TIMELINE: return get_incident(s, c, id, 1);
	case R_ACK: return post_transition(s, c, rq, id, "acknowledged");
	case R_RESOLVE: return post_transition(s, c, rq, id, "resolved");
	case R_HEALTHZ: return healthz(s, c);
	case R_METRICS: return metrics(s, c);
	case R_STATUS: return status_page(s, c, 0);
	case R_STATUS_JSON: return status_page(s, c, 1);
	case R_NONE: break;
	}
	return error(c, MHD_HTTP_NOT_FOUND, "no such route");
}

static void completed(void *cls, struct MHD_Connection *c, void **con_cls, enum MHD_RequestTerminationCode why)
{
	(void)cls;
	(void)c;
	(void)why;
	struct req *rq = *con_cls;
	if (!rq)
		return;
	if (rq->job) {
		for (size_t i = 0; i < rq->job->n; i++) {
			free((char *)rq->job->q[i].key);
			free((char *)rq->job->q[i].text);
		}
		free(rq->job->q);
		json_decref(rq->job->alerts);
		free(rq->job->err);
		free(rq->job);
	}
	sbuf_release(&rq->body);
	free(rq);
	*con_cls = NULL;
}

/* ---- lifecycle ---- */

static int resolve_listen(const char *listen, struct sockaddr_storage *ss, socklen_t *len, char **err)
{
	char *host = xstrdup(listen), *port = strrchr(host, ':');
	if (!port || port == host) {
		*err = xasprintf("--listen '%s' is not ADDR:PORT (like 127.0.0.1:9464)", listen);
		free(host);
		return -1;
	}
	*port++ = '\0';
	char *h = host;
	if (*h == '[' && h[strlen(h) - 1] == ']') {
		h++;
		h[strlen(h) - 1] = '\0';
	}
	struct addrinfo hints = {0}, *ai = NULL;
	hints.ai_family = AF_UNSPEC;
	hints.ai_socktype = SOCK_STREAM;
	hints.ai_flags = AI_PASSIVE | AI_NUMERICSERV;
	int rc = getaddrinfo(*h ? h : NULL, port, &hints, &ai);
	if (rc || !ai) {
		*err = xasprintf("--listen '%s': %s", listen, gai_strerror(rc));
		free(host);
		return -1;
	}
	memcpy(ss, ai->ai_addr, ai->ai_addrlen);
	*len = ai->ai_addrlen;
	freeaddrinfo(ai);
	free(host);
	return 0;
}

struct server *serve_start(const struct serve_opts *o, char **err)
{
	struct sockaddr_storage ss;
	socklen_t sslen;
	if (resolve_listen(o->listen, &ss, &sslen, err))
		return NULL;
	struct server *s = xcalloc(1, sizeof *s);
	s->o = *o;
	s->t = (struct triage){o->cfg, o->store_url, o->rbs, o->nrb, o->threads};
	s->token = json_string_value(json_object_get(o->cfg->serve, "bearer_token"));
	s->pd_secret = json_string_value(json_object_get(o->cfg->serve, "pagerduty_secret"));
	json_int_t mb = json_integer_value(json_object_get(o->cfg->serve, "max_body"));
	s->max_body = mb > 0 ? (size_t)mb : (size_t)1 << 20;
	s->actor = store_actor();
	pthread_mutex_init(&s->mu, NULL);
	cond_init_monotonic(&s->cv);
	s->pending_tail = &s->pending;
	if (!(s->ms = matchset_new(o->rbs, o->nrb, err)) || !(s->intake = store_open(o->store_url, err))) {
		serve_stop(s, NULL);
		return NULL;
	}
	if (o->work || !store_shared(s->intake)) { /* SQLite: nobody else can triage its queue */
		struct tpool_opts po = {o->threads > 0 ? o->threads : 4, o->lease_s > 0 ? o->lease_s : 60, o->reescalate_s,
					intake_busy, s};
		if (!(s->pool = tpool_start(&s->t, &po, err))) {
			serve_stop(s, NULL);
			return NULL;
		}
	}
	if ((s->committer_started = pthread_create(&s->committer, NULL, commit_thread, s) == 0) == 0) {
		*err = xstrdup("cannot start the intake thread");
		tpool_stop(s->pool);
		s->pool = NULL;
		serve_stop(s, NULL);
		return NULL;
	}
	s->d = MHD_start_daemon(MHD_USE_INTERNAL_POLLING_THREAD | MHD_USE_EPOLL | MHD_ALLOW_SUSPEND_RESUME | MHD_USE_ITC,
				0, NULL, NULL, handler, s, MHD_OPTION_SOCK_ADDR, (struct sockaddr *)&ss,
				MHD_OPTION_THREAD_POOL_SIZE, (unsigned int)HTTP_THREADS, MHD_OPTION_CONNECTION_TIMEOUT,
				(unsigned int)IDLE_TIMEOUT_S, MHD_OPTION_CONNECTION_LIMIT, (unsigned int)MAX_CONNECTIONS,
				MHD_OPTION_NOTIFY_COMPLETED, completed, s, MHD_OPTION_LISTENING_ADDRESS_REUSE, (unsigned int)1,
				MHD_OPTION_END);
	if (!s->d) {
		*err = xasprintf("cannot listen on %s (in use, or not an address of this machine)", o->listen);
		serve_stop(s, NULL);
		return NULL;
	}
	const union MHD_DaemonInfo *info = MHD_get_daemon_info(s->d, MHD_DAEMON_INFO_BIND_PORT);
	char host[INET6_ADDRSTRLEN] = "?";
	if (ss.ss_family == AF_INET6)
		inet_ntop(AF_INET6, &((struct sockaddr_in6 *)&ss)->sin6_addr, host, sizeof host);
	else
		inet_ntop(AF_INET, &((struct sockaddr_in *)&ss)->sin_addr, host, sizeof host);
	snprintf(s->addr, sizeof s->addr, ss.ss_family == AF_INET6 ? "[%s]:%u" : "%s:%u", host,
		 info ? (unsigned)info->port : 0);
	return s;
}

const char *serve_address(const struct server *s)
{
	return s->addr;
}

void serve_stop(struct server *s, int (*hurry)(int64_t until_ms))
{
	if (!s)
		return;
	int64_t until = now_ms() + SERVE_DRAIN_MS;
	int hurried = 0;
	if (s->d) {
		/* stop accepting; let what is in flight (a commit, a query) finish */
		MHD_socket fd = MHD_quiesce_daemon(s->d);
		while (now_ms() < until) {
			const union MHD_DaemonInfo *i = MHD_get_daemon_info(s->d, MHD_DAEMON_INFO_CURRENT_CONNECTIONS);
			if (!i || !i->num_connections)
				break;
			struct timespec ts = {0, 20 * 1000000L};
			if (!hurry)
				nanosleep(&ts, NULL);
			else if ((hurried = hurry(now_ms() + 20)))
				break;
		}
		MHD_stop_daemon(s->d);
		if (fd != MHD_INVALID_SOCKET)
			close(fd);
	}
	if (s->committer_started) { /* it commits what is pending first */
		pthread_mutex_lock(&s->mu);
		s->stop = 1;
		pthread_cond_broadcast(&s->cv);
		pthread_mutex_unlock(&s->mu);
		pthread_join(s->committer, NULL);
	}
	if (!hurried)
		tpool_drain(s->pool, until, hurry);
	tpool_stop(s->pool);
	store_close(s->intake);
	for (int i = 0; i < s->nspare; i++)
		store_close(s->spare[i]);
	matchset_free(s->ms);
	free(s->actor);
	pthread_mutex_destroy(&s->mu);
	pthread_cond_destroy(&s->cv);
	free(s);
}
