/* alert: load and normalise alert payloads. See alert.h. */
#define _XOPEN_SOURCE 700
#define _DEFAULT_SOURCE
#include "alert.h"
#include "util.h"

#include <ctype.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <time.h>

static json_t *str_or_null(json_t *v)
{
	return json_is_string(v) ? json_incref(v) : json_null();
}

json_t *alert_normalise(json_t *payload)
{
	json_t *a = payload, *labels, *ann;
	const char *source = "generic";
	json_t *alerts = json_object_get(payload, "alerts");
	json_t *event = json_object_get(payload, "event");
	if (json_is_array(alerts) && json_array_size(alerts)) {
		a = json_array_get(alerts, 0);
		source = "alertmanager";
	} else if (json_is_object(event) && json_object_get(event, "event_type")) {
		json_t *data = json_object_get(event, "data");
		json_t *n = json_object();
		json_object_set_new(n, "name", str_or_null(json_object_get(data, "title")));
		json_t *st = json_object_get(data, "status");
		json_object_set_new(n, "status", json_is_string(st) ? json_incref(st) : json_string("triggered"));
		json_object_set_new(n, "severity", str_or_null(json_object_get(json_object_get(data, "priority"), "summary")));
		json_object_set_new(n, "labels", json_object());
		json_object_set_new(n, "annotations", json_object());
		json_object_set_new(n, "summary", str_or_null(json_object_get(data, "title")));
		json_object_set_new(n, "description", str_or_null(json_object_get(data, "description")));
		json_object_set_new(n, "starts_at", str_or_null(json_object_get(data, "created_at")));
		json_object_set_new(n, "fingerprint", str_or_null(json_object_get(data, "id")));
		json_object_set_new(n, "source", json_string("pagerduty"));
		return n;
	}
	labels = json_object_get(a, "labels");
	ann = json_object_get(a, "annotations");
	json_t *n = json_object();
	json_t *name = json_object_get(labels, "alertname");
	if (!name)
		name = json_object_get(a, "alertname");
	json_object_set_new(n, "name", str_or_null(name));
	json_object_set_new(n, "status", str_or_null(json_object_get(a, "status")));
	json_t *sev = json_object_get(labels, "severity");
	if (!sev)
		sev = json_object_get(a, "severity");
	json_object_set_new(n, "severity", str_or_null(sev));
	json_object_set_new(n, "labels", json_is_object(labels) ? json_incref(labels) : json_object());
	json_object_set_new(n, "annotations", json_is_object(ann) ? json_incref(ann) : json_object());
	json_object_set_new(n, "summary", str_or_null(json_object_get(ann, "summary")));
	json_object_set_new(n, "description", str_or_null(json_object_get(ann, "description")));
	json_object_set_new(n, "starts_at", str_or_null(json_object_get(a, "startsAt")));
	json_object_set_new(n, "fingerprint", str_or_null(json_object_get(a, "fingerprint")));
	json_object_set_new(n, "source", json_string(source));
	return n;
}

json_t *alert_parse(const char *name, const char *buf, size_t len, struct diag_list *diags)
{
	json_error_t je;
	json_t *j = json_loadb(buf, len, 0, &je);
	if (!j) {
		diag_add(diags, name, je.line, je.column, "invalid alert JSON: %s", je.text);
		return NULL;
	}
	if (!json_is_object(j)) {
		diag_add(diags, name, 1, 1, "an alert must be a JSON object");
		json_decref(j);
		return NULL;
	}
	json_t *n = alert_normalise(j);
	json_decref(j);
	return n;
}

json_t *alert_load(const char *path, struct diag_list *diags)
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
	if (t <= 0) /* Alertmanager's zero time "0001-01-01T00:00:00Z": no start */
		return -1;
	struct tm utc;
	gmtime_r(&t, &utc);
	char base[32];
	strftime(base, sizeof base, "%Y-%m-%dT%H:%M:%S", &utc);
	snprintf(out, n, "%s.%06ldZ", base, usec);
	return 0;
}

const char *alert_severity(json_t *alert)
{
	static const char *const sevs[] = {"SEV1", "SEV2", "SEV3", "SEV4"};
	static const struct {
		const char *name, *sev;
	} map[] = {{"critical", "SEV1"}, {"high", "SEV2"}, {"error", "SEV2"}, {"warning", "SEV3"},
		   {"info", "SEV4"}, {"low", "SEV4"}};
	json_t *labels = json_object_get(alert, "labels");
	const char *cands[] = {json_string_value(json_object_get(labels, "sev")),
			       json_string_value(json_object_get(labels, "severity")),
			       json_string_value(json_object_get(alert, "severity"))};
	for (size_t i = 0; i < ARRAY_LEN(cands); i++)
		for (size_t k = 0; cands[i] && k < ARRAY_LEN(sevs); k++)
			if (!strcasecmp(cands[i], sevs[k]))
				return sevs[k];
	for (size_t i = 0; i < ARRAY_LEN(cands); i++)
		for (size_t k = 0; cands[i] && k < ARRAY_LEN(map); k++)
			if (!strcasecmp(cands[i], map[k].name))
				return map[k].sev;
	return NULL;
}
