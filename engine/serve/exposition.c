/* exposition: /metrics in Prometheus text format. See exposition.h. */
#define _POSIX_C_SOURCE 200809L
#include "exposition.h"
#include "metrics.h"
#include "stats.h"
#include "store.h"

#include <jansson.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#define WINDOW_S (30 * 86400)

static const char *const sevs[] = {"SEV1", "SEV2", "SEV3", "SEV4"};

static void head(struct sbuf *out, const char *name, const char *type, const char *help)
{
	sbuf_addf(out, "# HELP %s %s\n# TYPE %s %s\n", name, help, name, type);
}

/* A gauge of the metrics (overall, and by severity when asked). */
static void learning(struct sbuf *out, json_t *m, const char *name, const char *field, const char *help, int by_sev)
{
	head(out, name, "gauge", help);
	json_t *v = json_object_get(m, field);
	if (json_is_number(v))
		sbuf_addf(out, "%s{severity=\"all\"} %.6g\n", name, json_number_value(v));
	for (int i = 0; by_sev && i < 4; i++) {
		json_t *sv = json_object_get(json_object_get(json_object_get(m, "by_severity"), sevs[i]), field);
		if (json_is_number(sv))
			sbuf_addf(out, "%s{severity=\"%s\"} %.6g\n", name, sevs[i], json_number_value(sv));
	}
}

int exposition_render(struct sbuf *out, struct store *st, const char *store_err)
{
	(void)store_err;
	stats_render(out);
	char *err = NULL;
	json_t *all = st ? store_incidents_by(st, "status", "triggered", &err) : NULL;
	json_t *acked = all ? store_incidents_by(st, "status", "acknowledged", &err) : NULL;
	if (!acked) {
		json_decref(all);
		all = NULL;
	}
	json_array_extend(all, acked);
	json_decref(acked);
	long long depth = all ? store_queue_depth(st, &err) : -1;
	int64_t now = (int64_t)time(NULL);
	json_t *m = depth >= 0 ? metrics_window(st, now - WINDOW_S, now, now, &err) : NULL;
	free(err);
	head(out, "runbook_store_up", "gauge", "1 when the store answered this scrape.");
	sbuf_addf(out, "runbook_store_up %d\n", m != NULL);
	if (!m) {
		json_decref(all);
		return 1;
	}
	long long open[4] = {0, 0, 0, 0};
	size_t i;
	json_t *inc;
	json_array_foreach(all, i, inc) {
		if (!strcmp(json_string_value(json_object_get(inc, "status")), "resolved"))
			continue;
		const char *sev = json_string_value(json_object_get(inc, "severity"));
		for (int k = 0; k < 4; k++)
			open[k] += !strcmp(sev, sevs[k]);
	}
	json_decref(all);
	head(out, "runbook_incidents_open", "gauge", "Incidents not resolved, by severity.");
	for (int k = 0; k < 4; k++)
		sbuf_addf(out, "runbook_incidents_open{severity=\"%s\"} %lld\n", sevs[k], open[k]);
	head(out, "runbook_queue_depth", "gauge", "Alerts received and not yet triaged.");
	sbuf_addf(out, "runbook_queue_depth %lld\n", depth);
	learning(out, m, "runbook_mttd_seconds", "mttd_s", "Mean time to detect (detected - started), last 30 days.", 1);
	learning(out, m, "runbook_mtta_seconds", "mtta_s", "Mean time to acknowledge (acknowledged - detected), last 30 days.", 1);
	learning(out, m, "runbook_mttr_seconds", "mttr_s", "Mean time to restore (resolved - detected), last 30 days.", 1);
	learning(out, m, "runbook_mtbf_seconds", "mtbf_s", "Mean time between the starts of one component's incidents, last 30 days.", 0);
	learning(out, m, "runbook_ack_within_target_ratio", "ack_within_target",
		 "Share of incidents acknowledged within their severity's target, last 30 days.", 1);
	learning(out, m, "runbook_repeat_incident_ratio", "repeat_rate",
		 "Share of incidents repeating one resolved less than 30 days before, last 30 days.", 0);
	learning(out, m, "runbook_false_positive_ratio", "false_positive_rate",
		 "Share of resolved incidents resolved as false positives, last 30 days.", 0);
	json_decref(m);
	return 0;
}
