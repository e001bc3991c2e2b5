/* incident: lifecycle rules. See incident.h. */
#define _GNU_SOURCE
#include "incident.h"
#include "store.h"
#include "util.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

int64_t incident_ack_target(const char *severity)
{
	static const struct {
		const char *sev;
		int64_t secs;
	} targets[] = {{"SEV1", 15 * 60}, {"SEV2", 30 * 60}, {"SEV3", 2 * 3600}, {"SEV4", 24 * 3600}};
	for (size_t i = 0; severity && i < sizeof targets / sizeof targets[0]; i++)
		if (!strcmp(targets[i].sev, severity))
			return targets[i].secs;
	return -1;
}

int incident_severity_valid(const char *s)
{
	return incident_ack_target(s) >= 0;
}

int64_t incident_parse_time(const char *ts)
{
	struct tm tm;
	memset(&tm, 0, sizeof tm);
	if (!ts || !strptime(ts, "%Y-%m-%dT%H:%M:%S", &tm))
		return -1;
	return (int64_t)timegm(&tm);
}

int incident_ack_overdue(json_t *inc, int64_t now_epoch)
{
	const char *status = json_string_value(json_object_get(inc, "status"));
	if (!status || strcmp(status, "triggered"))
		return 0;
	int64_t target = incident_ack_target(json_string_value(json_object_get(inc, "severity")));
	int64_t detected = incident_parse_time(json_string_value(json_object_get(inc, "detected_at")));
	return target >= 0 && detected >= 0 && now_epoch - detected > target;
}

json_t *incident_action(const char *text)
{
	struct sbuf clean;
	sbuf_init(&clean);
	sbuf_add(&clean, "", 0);
	char *owner = NULL, *due = NULL;
	for (const char *p = text; *p;) {
		while (*p == ' ')
			p++;
		const char *e = p;
		while (*e && *e != ' ')
			e++;
		size_t n = (size_t)(e - p);
		if (n > 1 && p[0] == '@' && !owner)
			owner = xstrndup(p, n);
		else if (n == 14 && !strncmp(p, "due:", 4) && !due)
			due = xstrndup(p + 4, 10);
		else if (n)
			sbuf_addf(&clean, "%s%.*s", clean.len ? " " : "", (int)n, p);
		p = e;
	}
	json_t *a = json_pack("{s:s, s:s?, s:s?}", "text", clean.buf, "owner", owner, "due", due);
	sbuf_release(&clean);
	free(owner);
	free(due);
	return a;
}

void incident_format_time(const char *ts, const char *fmt, char *buf, size_t n)
{
	int64_t t = incident_parse_time(ts);
	if (t < 0) {
		snprintf(buf, n, "unknown");
		return;
	}
	time_t tt = (time_t)t;
	struct tm tm;
	gmtime_r(&tt, &tm);
	strftime(buf, n, fmt, &tm);
}

int incident_transition(struct store *st, const char *id, const char *to, const char *resolution, const char *actor,
			const char *at, char **err)
{
	json_t *inc = NULL;
	int found = store_incident_find(st, id, &inc, err);
	if (found) {
		if (found == 1)
			*err = xasprintf("no incident %s in the store", id);
		return found;
	}
	const char *from = json_string_value(json_object_get(inc, "status"));
	int ok = (!strcmp(to, "acknowledged") && !strcmp(from, "triggered")) ||
		 (!strcmp(to, "resolved") && strcmp(from, "resolved"));
	if (!ok) {
		*err = xasprintf("%s is %s; it cannot become %s%s", id, from, to,
				 !strcmp(from, "resolved") ? " (it is closed)" : !strcmp(to, "acknowledged") ? " again" : "");
		json_decref(inc);
		return 2;
	}
	json_decref(inc);
	char now[40];
	utc_timestamp(now, sizeof now);
	if (at) /* recorded after the fact */
		snprintf(now, sizeof now, "%s", at);
	json_t *ch = json_pack("{s:s}", "status", to);
	json_object_set_new(ch, !strcmp(to, "acknowledged") ? "acknowledged_at" : "resolved_at", json_string(now));
	if (resolution)
		json_object_set_new(ch, "resolution", json_string(resolution));
	char *summary = xasprintf("%s %s by %s%s%s", id, to, actor, resolution ? ": " : "", resolution ? resolution : "");
	int rc = store_incident_update(st, id, ch, !strcmp(to, "acknowledged") ? "incident.acknowledged" : "incident.resolved",
				       actor, summary, ch, err);
	free(summary);
	json_decref(ch);
	return rc ? -1 : 0;
}
