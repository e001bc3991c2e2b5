/*
 * alert: alert payloads, detected by shape and normalised (SPEC section
 * 7). An Alertmanager (or Grafana) group notification gives one alert per
 * entry of `alerts[]`; a PagerDuty v3 webhook gives the incident it is
 * about; the generic shape is one object or an array of them. Every field
 * is type-checked: a payload with one wrong field is refused whole, with
 * the path of that field, so nothing half-read reaches a timeline.
 */
#define _XOPEN_SOURCE 700
#define _DEFAULT_SOURCE
#include "alert.h"
#include "util.h"

#include <ctype.h>
#include <openssl/crypto.h>
#include <openssl/evp.h>
#include <openssl/hmac.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <time.h>

/* ---- Alertmanager's fingerprint: FNV-1a 64 over the sorted labels ---- */

static uint64_t fnv_add(uint64_t h, const char *s, size_t n)
{
	for (size_t i = 0; i < n; i++) {
		h ^= (unsigned char)s[i];
		h *= 1099511628211ULL;
	}
	return h;
}

static int cmp_str(const void *a, const void *b)
{
	return strcmp(*(const char *const *)a, *(const char *const *)b);
}

void alert_fingerprint(json_t *labels, char out[17])
{
	uint64_t h = 14695981039346656037ULL;
	size_t n = json_object_size(labels), i = 0;
	const char **names = xcalloc(n + 1, sizeof *names);
	const char *k;
	json_t *v;
	json_object_foreach(labels, k, v)
		names[i++] = k;
	qsort(names, n, sizeof *names, cmp_str);
	static const char sep = (char)0xff;
	for (i = 0; i < n; i++) {
		json_t *val = json_object_get(labels, names[i]);
		h = fnv_add(h, names[i], strlen(names[i]));
		h = fnv_add(h, &sep, 1);
		h = fnv_add(h, json_string_value(val), json_string_length(val));
		h = fnv_add(h, &sep, 1);
	}
	free(names);
	snprintf(out, 17, "%016llx", (unsigned long long)h);
}

/* ---- type checks: each failure names the field's path ---- */

struct rd {
	char *err; /* the first problem, with its path */
};

static void bad(struct rd *r, const char *path, const char *what)
{
	if (!r->err)
		r->err = xasprintf("%s: %s", path, what);
}

/* A string field (NULL when absent or null; wrong type is an error). */
static const char *opt_str(struct rd *r, json_t *obj, const char *key, const char *path)
{
	json_t *v = json_object_get(obj, key);
	if (!v || json_is_null(v))
		return NULL;
	if (!json_is_string(v)) {
		char *p = xasprintf("%s.%s", path, key);
		bad(r, p, "must be a string");
		free(p);
		return NULL;
	}
	return json_string_value(v);
}

/* A map of string values (labels, annotations): a new object. */
static json_t *str_map(struct rd *r, json_t *obj, const char *key, const char *path)
{
	json_t *v = json_object_get(obj, key);
	json_t *out = json_object();
	if (!v || json_is_null(v))
		return out;
	char *p = xasprintf("%s.%s", path, key);
	if (!json_is_object(v)) {
		bad(r, p, "must be a mapping of name: string");
	} else {
		const char *k;
		json_t *x;
		json_object_foreach(v, k, x) {
			if (!json_is_string(x)) {
				char *q = xasprintf("%s.%s", p, k);
				bad(r, q, "must be a string");
				free(q);
				continue;
			}
			json_object_set(out, k, x);
		}
	}
	free(p);
	return out;
}

/* The normalised alert: every field present (null when unknown). */
static json_t *normalised(const char *name, const char *status, const char *severity, json_t *labels,
			  json_t *annotations, const char *summary, const char *description, const char *starts,
			  const char *ends, const char *fingerprint, const char *source, const char *url)
{
	json_t *a = json_object();
	json_object_set_new(a, "name", name ? json_string(name) : json_null());
	json_object_set_new(a, "status", json_string(status));
	json_object_set_new(a, "severity", severity ? json_string(severity) : json_null());
	json_object_set_new(a, "labels", labels);
	json_object_set_new(a, "annotations", annotations);
	json_object_set_new(a, "summary", summary ? json_string(summary) : json_null());
	json_object_set_new(a, "description", description ? json_string(description) : json_null());
	char t[40];
	json_object_set_new(a, "starts_at", starts && !alert_time(starts, t, sizeof t) ? json_string(t) : json_null());
	json_object_set_new(a, "ends_at", ends && !alert_time(ends, t, sizeof t) ? json_string(t) : json_null());
	char fp[17];
	if (!fingerprint) {
		alert_fingerprint(labels, fp);
		fingerprint = fp;
	}
	json_object_set_new(a, "fingerprint", json_string(fingerprint));
	json_object_set_new(a, "source", json_string(source));
	json_object_set_new(a, "url", url ? json_string(url) : json_null());
	return a;
}

static const char *status_of(struct rd *r, const char *s, const char *path)
{
	if (!s)
		return "firing";
	if (!strcasecmp(s, "firing") || !strcasecmp(s, "alerting") || !strcasecmp(s, "triggered"))
		return "firing";
	if (!strcasecmp(s, "resolved") || !strcasecmp(s, "ok"))
		return "resolved";
	char *p = xasprintf("%s.status", path);
	char *m = xasprintf("must be firing or resolved, not '%s'", s);
	bad(r, p, m);
	free(m);
	free(p);
	return "firing";
}

/* One Alertmanager/Grafana alert, or a generic one (generic = 1). */
static json_t *one_alert(struct rd *r, json_t *a, const char *path, int generic)
{
	if (!json_is_object(a)) {
		bad(r, path, "must be an object");
		return NULL;
	}
	json_t *labels = str_map(r, a, "labels", path);
	json_t *ann = str_map(r, a, "annotations", path);
	const char *name = json_string_value(json_object_get(labels, "alertname"));
	const char *gname = opt_str(r, a, "alertname", path);
	if (generic) {
		if (!gname && !name)
			bad(r, path, "a generic alert needs 'alertname'");
		if (gname && !name) /* the fingerprint covers the alertname, as Alertmanager's does */
			json_object_set_new(labels, "alertname", json_string(gname));
		name = json_string_value(json_object_get(labels, "alertname"));
	} else if (!name) {
		name = gname;
	}
	const char *status = status_of(r, opt_str(r, a, "status", path), path);
	const char *sev = json_string_value(json_object_get(labels, "severity"));
	const char *tsev = opt_str(r, a, "severity", path);
	const char *summary = json_string_value(json_object_get(ann, "summary"));
	const char *desc = json_string_value(json_object_get(ann, "description"));
	const char *gsum = opt_str(r, a, "summary", path), *gdesc = opt_str(r, a, "description", path);
	const char *starts = opt_str(r, a, "startsAt", path), *ends = opt_str(r, a, "endsAt", path);
	const char *fp = opt_str(r, a, "fingerprint", path);
	const char *url = opt_str(r, a, "generatorURL", path);
	if (r->err) {
		json_decref(labels);
		json_decref(ann);
		return NULL;
	}
	return normalised(name, status, sev ? sev : tsev, labels, ann, summary ? summary : gsum, desc ? desc : gdesc,
			  starts, ends, fp && *fp ? fp : NULL, generic ? "generic" : "alertmanager", url);
}

static json_t *pagerduty(struct rd *r, json_t *event)
{
	const char *type = opt_str(r, event, "event_type", "event");
	json_t *data = json_object_get(event, "data");
	if (!json_is_object(data)) {
		bad(r, "event.data", "must be an object (the incident)");
		return NULL;
	}
	const char *id = opt_str(r, data, "id", "event.data");
	const char *title = opt_str(r, data, "title", "event.data");
	const char *urgency = opt_str(r, data, "urgency", "event.data");
	const char *created = opt_str(r, data, "created_at", "event.data");
	const char *occurred = opt_str(r, event, "occurred_at", "event");
	const char *url = opt_str(r, data, "html_url", "event.data");
	const char *desc = opt_str(r, data, "description", "event.data");
	json_t *service = json_object_get(data, "service"), *prio = json_object_get(data, "priority");
	if (service && !json_is_object(service) && !json_is_null(service))
		bad(r, "event.data.service", "must be an object");
	if (prio && !json_is_object(prio) && !json_is_null(prio))
		bad(r, "event.data.priority", "must be an object");
	const char *svc = opt_str(r, service, "summary", "event.data.service");
	const char *pr = opt_str(r, prio, "summary", "event.data.priority");
	if (!id)
		bad(r, "event.data.id", "the incident needs an id");
	if (r->err)
		return NULL;
	json_t *labels = json_object();
	json_object_set_new(labels, "alertname", json_string(title ? title : id));
	if (svc)
		json_object_set_new(labels, "service", json_string(svc));
	if (pr)
		json_object_set_new(labels, "priority", json_string(pr));
	if (urgency)
		json_object_set_new(labels, "urgency", json_string(urgency));
	int resolved = type && !strcmp(type, "incident.resolved");
	json_t *a = normalised(title ? title : id, resolved ? "resolved" : "firing", urgency, labels, json_object(),
			       title, desc, created ? created : occurred, NULL, id, "pagerduty", url);
	json_object_set_new(a, "event_type", json_string(type ? type : ""));
	return a;
}

/* Every alert of a list, each named by its path (`alerts[2]`). */
static void each_alert(struct rd *r, json_t *list, const char *path, int generic, json_t *out)
{
	size_t i;
	json_t *a;
	json_array_foreach(list, i, a) {
		char *p = xasprintf("%s[%zu]", path, i);
		json_t *n = one_alert(r, a, p, generic);
		free(p);
		if (n)
			json_array_append_new(out, n);
	}
}

json_t *alert_parse(const char *name, const char *buf, size_t len, struct diag_list *diags)
{
	json_error_t je;
	json_t *j = json_loadb(buf, len, 0, &je);
	if (!j) {
		diag_add(diags, name, je.line, je.column, "invalid alert JSON: %s", je.text);
		return NULL;
	}
	struct rd r = {NULL};
	json_t *out = json_array();
	json_t *alerts = json_object_get(j, "alerts"), *event = json_object_get(j, "event");
	if (json_is_object(j) && alerts) {
		if (!json_is_array(alerts))
			bad(&r, "alerts", "must be a list");
		each_alert(&r, alerts, "alerts", 0, out);
		if (!r.err && !json_array_size(out))
			bad(&r, "alerts", "the payload has no alerts");
	} else if (json_is_object(j) && json_is_object(event) && json_object_get(event, "event_type")) {
		json_t *n = pagerduty(&r, event);
		if (n)
			json_array_append_new(out, n);
	} else if (json_is_object(j) && json_object_get(j, "alertname")) {
		json_t *n = one_alert(&r, j, "alert", 1);
		if (n)
			json_array_append_new(out, n);
	} else if (json_is_array(j) && json_array_size(j)) {
		each_alert(&r, j, "", 1, out);
	} else {
		bad(&r, "payload", "not an Alertmanager, Grafana, PagerDuty v3 or generic alert (an object with "
				   "'alerts', 'event' or 'alertname', or a list of alerts)");
	}
	json_decref(j);
	if (r.err) {
		diag_add(diags, name, 0, 0, "refused: %s", r.err);
		free(r.err);
		json_decref(out);
		return NULL;
	}
	return out;
}

static int string_map(json_t *m)
{
	const char *k;
	json_t *v;
	if (!json_is_object(m))
		return 0;
	json_object_foreach(m, k, v)
		if (!json_is_string(v))
			return 0;
	return 1;
}

int alert_is_normalised(json_t *a)
{
	static const char *const maybe[] = {"name", "severity", "summary", "description", "starts_at", "ends_at", "url"};
	if (!json_is_object(a) || !string_map(json_object_get(a, "labels")) ||
	    !string_map(json_object_get(a, "annotations")) || !json_is_string(json_object_get(a, "fingerprint")) ||
	    !json_is_string(json_object_get(a, "source")))
		return 0;
	const char *status = json_string_value(json_object_get(a, "status"));
	if (!status || (strcmp(status, "firing") && strcmp(status, "resolved")))
		return 0;
	for (size_t i = 0; i < sizeof maybe / sizeof *maybe; i++) {
		json_t *v = json_object_get(a, maybe[i]);
		if (!json_is_string(v) && !json_is_null(v))
			return 0;
	}
	json_t *ev = json_object_get(a, "event_type");
	return !ev || json_is_string(ev);
}

json_t *alert_load_all(const char *path, struct diag_list *diags)
{
	char *buf, *e;
	size_t len;
	if (read_file(path, 4 * 1024 * 1024, &buf, &len, &e)) {
		diag_add(diags, path, 0, 0, "%s", e);
		free(e);
		return NULL;
	}
	json_t *n = alert_parse(!strcmp(path, "-") ? "<stdin>" : path, buf, len, diags);
	free(buf);
	return n;
}

json_t *alert_load(const char *path, struct diag_list *diags)
{
	json_t *all = alert_load_all(path, diags);
	if (!all)
		return NULL;
	if (json_array_size(all) > 1)
		fprintf(stderr, "runbook: %s holds %zu alerts; this run takes the first (`runbook triage` takes each)\n",
			path, json_array_size(all));
	json_t *first = json_incref(json_array_get(all, 0));
	json_decref(all);
	return first;
}

json_t *alert_normalise(json_t *payload)
{
	char *text = json_dumps(payload, JSON_COMPACT);
	struct diag_list d;
	diag_init(&d);
	json_t *all = text ? alert_parse("alert", text, strlen(text), &d) : NULL;
	free(text);
	diag_release(&d);
	json_t *first = all ? json_incref(json_array_get(all, 0)) : json_incref(payload);
	json_decref(all);
	return first;
}

int alert_time(const char *in, char *out, size_t n)
{
	struct tm tm;
	memset(&tm, 0, sizeof tm);
	const char *p = in ? strptime(in, "%Y-%m-%dT%H:%M:%S", &tm) : NULL;
	if (!p)
		return -1;
	long usec = 0;
	if (*p == '.') { /* any number of digits: microseconds kept */
		int digits = 0;
		for (p++; isdigit((unsigned char)*p); p++, digits++)
			if (digits < 6)
				usec = usec * 10 + (*p - '0');
		for (; digits < 6; digits++)
			usec *= 10;
	}
	long offset = 0;
	if (*p == '+' || *p == '-') {
		int hh, mm;
		if (sscanf(p + 1, "%2d:%2d", &hh, &mm) != 2)
			return -1;
		offset = (hh * 3600L + mm * 60L) * (*p == '-' ? -1 : 1);
		p += 6;
	} else if (*p == 'Z' || *p == 'z') {
		p++;
	} else {
		return -1;
	}
	if (*p)
		return -1;
	time_t t = timegm(&tm) - offset;
	if (t <= 0) /* Alertmanager's zero time "0001-01-01T00:00:00Z": none */
		return -1;
	struct tm utc;
	gmtime_r(&t, &utc);
	char base[32];
	strftime(base, sizeof base, "%Y-%m-%dT%H:%M:%S", &utc);
	snprintf(out, n, "%s.%06ldZ", base, usec);
	return 0;
}

const char *alert_severity(json_t *alert, json_t *map)
{
	static const char *const sevs[] = {"SEV1", "SEV2", "SEV3", "SEV4"};
	static const struct {
		const char *name, *sev;
	} defaults[] = {{"critical", "SEV1"}, {"high", "SEV2"}, {"error", "SEV2"}, {"warning", "SEV3"},
			{"info", "SEV4"}, {"low", "SEV4"}};
	json_t *labels = json_object_get(alert, "labels");
	const char *cands[] = {json_string_value(json_object_get(labels, "sev")),
			       json_string_value(json_object_get(labels, "severity")),
			       json_string_value(json_object_get(alert, "severity"))};
	for (size_t i = 0; i < ARRAY_LEN(cands); i++)
		for (size_t k = 0; cands[i] && k < ARRAY_LEN(sevs); k++)
			if (!strcasecmp(cands[i], sevs[k]))
				return sevs[k];
	for (size_t i = 0; i < ARRAY_LEN(cands); i++) {
		if (!cands[i])
			continue;
		const char *k;
		json_t *v;
		json_object_foreach(map, k, v)
			if (!strcasecmp(cands[i], k))
				return json_string_value(v);
		if (!map)
			for (size_t d = 0; d < ARRAY_LEN(defaults); d++)
				if (!strcasecmp(cands[i], defaults[d].name))
					return defaults[d].sev;
	}
	return NULL;
}

int alert_pagerduty_signed(const char *secret, const char *body, size_t len, const char *header)
{
	if (!secret || !header)
		return 0;
	unsigned char mac[EVP_MAX_MD_SIZE];
	unsigned int ml = 0;
	if (!HMAC(EVP_sha256(), secret, (int)strlen(secret), (const unsigned char *)body, len, mac, &ml))
		return 0;
	char hex[2 * EVP_MAX_MD_SIZE + 1];
	for (unsigned int i = 0; i < ml; i++)
		snprintf(hex + 2 * i, 3, "%02x", mac[i]);
	size_t hl = 2 * (size_t)ml;
	int ok = 0;
	/* several signatures may be listed (a secret being rotated): any one will do */
	for (const char *p = header; *p;) {
		while (*p == ' ' || *p == ',')
			p++;
		const char *e = p;
		while (*e && *e != ',')
			e++;
		const char *end = e;
		while (end > p && end[-1] == ' ')
			end--;
		if (end - p == (long)(3 + hl) && !strncmp(p, "v1=", 3))
			ok |= CRYPTO_memcmp(p + 3, hex, hl) == 0; /* constant time */
		p = e;
	}
	return ok;
}
