/* incident: lifecycle rules. See incident.h. */
#define _GNU_SOURCE
#include "incident.h"

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
