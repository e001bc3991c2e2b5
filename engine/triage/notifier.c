/* notifier: webhook and PagerDuty notifications over libcurl. See notifier.h. */
#define _POSIX_C_SOURCE 200809L
#include "notifier.h"
#include "util.h"

#include "curl_api.h"

#include <pthread.h>
#include <stdlib.h>
#include <string.h>

#define ATTEMPT_TIMEOUT_MS 5000L
#define CONNECT_TIMEOUT_MS 3000L

json_t *notifier_route(const struct config *cfg, const char *target)
{
	json_t *routes = cfg->routes;
	if (!json_object_size(routes)) { /* no routes at all: every notifier */
		json_t *all = json_array();
		const char *k;
		json_t *v;
		json_object_foreach(cfg->notifiers, k, v)
			json_array_append_new(all, json_string(k));
		return all;
	}
	json_t *r = target ? json_object_get(routes, target) : NULL;
	if (!r)
		r = json_object_get(routes, "default");
	return r ? json_copy(r) : json_array();
}

static const char *pd_severity(const char *sev)
{
	if (!sev)
		return "warning";
	return !strcmp(sev, "SEV1") ? "critical" : !strcmp(sev, "SEV2") ? "error" : !strcmp(sev, "SEV3") ? "warning" : "info";
}

json_t *notifier_body(json_t *notifier, const char *target, json_t *info, const char *action)
{
	const char *type = json_string_value(json_object_get(notifier, "type"));
	const char *inc = json_string_value(json_object_get(info, "incident"));
	const char *title = json_string_value(json_object_get(info, "title"));
	const char *sev = json_string_value(json_object_get(info, "severity"));
	const char *status = json_string_value(json_object_get(info, "status"));
	const char *runbook = json_string_value(json_object_get(info, "runbook"));
	const char *summary = json_string_value(json_object_get(info, "summary"));
	json_t *findings = json_object_get(info, "findings");
	if (type && !strcmp(type, "pagerduty")) {
		json_t *b = json_pack("{s:O?, s:s, s:s?}", "routing_key", json_object_get(notifier, "routing_key"),
				      "event_action", action, "dedup_key", inc);
		if (strcmp(action, "resolve"))
			json_object_set_new(b, "payload",
					    json_pack("{s:s, s:s, s:s, s:{s:s?, s:s?, s:s?, s:O?}}", "summary",
						      title ? title : (inc ? inc : "incident"), "source", "runbook",
						      "severity", pd_severity(sev), "custom_details", "incident", inc,
						      "runbook", runbook, "target", target, "findings", findings));
		return b;
	}
	const char *format = json_string_value(json_object_get(notifier, "format"));
	if (format && !strcmp(format, "slack")) {
		struct sbuf sb;
		sbuf_init(&sb);
		sbuf_addf(&sb, "[%s] %s %s: %s", sev ? sev : "SEV?", inc ? inc : "?", status ? status : "triggered",
			  title ? title : "");
		if (runbook)
			sbuf_addf(&sb, " (runbook %s)", runbook);
		if (target)
			sbuf_addf(&sb, " for %s", target);
		if (summary)
			sbuf_addf(&sb, "\n%s", summary);
		size_t i;
		json_t *f;
		json_array_foreach(findings, i, f)
			sbuf_addf(&sb, "\n- %s: %s", json_string_value(json_object_get(f, "level")),
				  json_string_value(json_object_get(f, "message")));
		json_t *b = json_pack("{s:s}", "text", sb.buf ? sb.buf : "");
		sbuf_release(&sb);
		return b;
	}
	return json_pack("{s:s?, s:s?, s:s?, s:s?, s:s?, s:s?, s:s?, s:O, s:O}", "incident", inc, "title", title,
			 "severity", sev, "status", status, "target", target, "runbook", runbook, "summary", summary,
			 "findings", findings ? findings : json_array(), "url",
			 json_object_get(info, "url") ? json_object_get(info, "url") : json_null());
}

static size_t discard(char *p, size_t size, size_t n, void *ud)
{
	(void)p;
	(void)ud;
	return size * n;
}

/* One POST; returns 1 delivered (2xx), else 0 with *status / *err. */
static int post(json_t *notifier, const char *body, long *status, char **err)
{
	char *why = NULL;
	const struct curl_api *cu = curl_api(&why);
	CURL *c = cu ? cu->easy_init() : NULL;
	if (!c) {
		*err = xasprintf("cannot start an HTTP client%s%s", why ? ": " : "", why ? why : "");
		free(why);
		return 0;
	}
	char errbuf[CURL_ERROR_SIZE] = "";
	struct curl_slist *h = cu->slist_append(NULL, "Content-Type: application/json");
	h = cu->slist_append(h, "User-Agent: runbook/" "0.1");
	const char *k;
	json_t *v;
	json_object_foreach(json_object_get(notifier, "headers"), k, v) {
		char *line = xasprintf("%s: %s", k, json_string_value(v));
		h = cu->slist_append(h, line);
		free(line);
	}
	cu->easy_setopt(c, CURLOPT_URL, json_string_value(json_object_get(notifier, "url")));
	cu->easy_setopt(c, CURLOPT_POSTFIELDS, body);
	cu->easy_setopt(c, CURLOPT_HTTPHEADER, h);
	cu->easy_setopt(c, CURLOPT_TIMEOUT_MS, ATTEMPT_TIMEOUT_MS);
	cu->easy_setopt(c, CURLOPT_CONNECTTIMEOUT_MS, CONNECT_TIMEOUT_MS);
	cu->easy_setopt(c, CURLOPT_NOSIGNAL, 1L);
	cu->easy_setopt(c, CURLOPT_ERRORBUFFER, errbuf);
	cu->easy_setopt(c, CURLOPT_WRITEFUNCTION, discard);
	cu->easy_setopt(c, CURLOPT_PROTOCOLS_STR, "http,https");
	CURLcode rc = cu->easy_perform(c);
	*status = 0;
	int ok = 0;
	if (rc == CURLE_OK) {
		cu->easy_getinfo(c, CURLINFO_RESPONSE_CODE, status);
		ok = *status >= 200 && *status < 300;
		if (!ok)
			*err = xasprintf("HTTP %ld", *status);
	} else {
		*err = xstrdup(errbuf[0] ? errbuf : cu->easy_strerror(rc));
	}
	cu->slist_free_all(h);
	cu->easy_cleanup(c);
	return ok;
}

struct job {
	json_t *notifier; /* its own copy: jansson counts references unlocked */
	char *name, *target, *body;
	json_t *attempts;
	pthread_t th;
	int started;
};

static void *deliver(void *arg)
{
	struct job *j = arg;
	static const long backoff_ms[NOTIFY_TRIES] = {0, 500, 1500};
	for (int a = 0; a < NOTIFY_TRIES; a++) {
		if (backoff_ms[a] && sleep_interruptible(backoff_ms[a]))
			break;
		long status = 0;
		char *err = NULL;
		int ok = post(j->notifier, j->body, &status, &err);
		json_t *rec = json_pack("{s:s, s:s?, s:i, s:b}", "notifier", j->name, "target", j->target, "attempt", a + 1,
					"delivered", ok);
		if (status)
			json_object_set_new(rec, "http_status", json_integer(status));
		if (err)
			json_object_set_new(rec, "error", json_string(err));
		json_array_append_new(j->attempts, rec);
		free(err);
		if (ok || (status >= 400 && status < 500 && status != 429))
			break; /* delivered, or refused for good: trying again would not help */
	}
	return NULL;
}

json_t *notifier_send(const struct config *cfg, const char *target, json_t *info, const char *action,
		      const struct redactor *red)
{
	curl_api(NULL); /* loaded once, before the deliveries' threads */
	json_t *names = notifier_route(cfg, target);
	json_t *safe = json_deep_copy(info);
	redact_json(red, safe);
	size_t n = json_array_size(names);
	struct job *jobs = xcalloc(n ? n : 1, sizeof *jobs);
	for (size_t i = 0; i < n; i++) {
		struct job *j = &jobs[i];
		const char *name = json_string_value(json_array_get(names, i));
		j->name = xstrdup(name);
		j->target = target ? xstrdup(target) : NULL;
		j->notifier = json_deep_copy(json_object_get(cfg->notifiers, name));
		json_t *body = notifier_body(j->notifier, target, safe, action);
		j->body = json_dumps(body, JSON_COMPACT);
		json_decref(body);
		j->attempts = json_array();
		j->started = pthread_create(&j->th, NULL, deliver, j) == 0;
		if (!j->started)
			deliver(j);
	}
	json_t *out = json_array();
	for (size_t i = 0; i < n; i++) {
		struct job *j = &jobs[i];
		if (j->started)
			pthread_join(j->th, NULL);
		json_array_extend(out, j->attempts);
		json_decref(j->attempts);
		json_decref(j->notifier);
		free(j->body);
		free(j->name);
		free(j->target);
	}
	free(jobs);
	json_decref(safe);
	json_decref(names);
	return out;
}
