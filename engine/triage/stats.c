/* stats: this process's counters for /metrics. See stats.h. */
#define _POSIX_C_SOURCE 200809L
#include "stats.h"

#include <jansson.h>
#include <pthread.h>
#include <stdlib.h>
#include <string.h>

static pthread_mutex_t mu = PTHREAD_MUTEX_INITIALIZER;
static json_t *received, *rejected, *notified; /* label text -> count */

/* the buckets of the triage histogram, in seconds */
static const double buckets[] = {0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60};
#define NBUCKETS (sizeof buckets / sizeof buckets[0])
static long long bucket_n[NBUCKETS + 1], triage_n;
static double triage_sum;

static void bump(json_t **map, const char *label, long n)
{
	pthread_mutex_lock(&mu);
	if (!*map)
		*map = json_object();
	json_t *v = json_object_get(*map, label);
	json_object_set_new(*map, label, json_integer(json_integer_value(v) + n));
	pthread_mutex_unlock(&mu);
}

/* A Prometheus label value, escaped (backslash, quote, newline). */
static void stats_label(struct sbuf *out, const char *v)
{
	for (const char *p = v ? v : ""; *p; p++) {
		if (*p == '\\' || *p == '"')
			sbuf_addc(out, '\\');
		if (*p == '\n')
			sbuf_adds(out, "\\n");
		else
			sbuf_addc(out, *p);
	}
}

static char *labels1(const char *name, const char *v)
{
	struct sbuf sb;
	sbuf_init(&sb);
	sbuf_addf(&sb, "%s=\"", name);
	stats_label(&sb, v);
	sbuf_addc(&sb, '"');
	return sbuf_detach(&sb);
}

void stats_alerts_received(const char *source, long n)
{
	char *l = labels1("source", source);
	bump(&received, l, n);
	free(l);
}

void stats_alert_rejected(const char *reason)
{
	char *l = labels1("reason", reason);
	bump(&rejected, l, 1);
	free(l);
}

void stats_notification(const char *notifier, int delivered)
{
	char *n = labels1("notifier", notifier);
	char *l = xasprintf("%s,result=\"%s\"", n, delivered ? "delivered" : "failed");
	bump(&notified, l, 1);
	free(l);
	free(n);
}

void stats_triage_seconds(double s)
{
	pthread_mutex_lock(&mu);
	size_t i = 0;
	while (i < NBUCKETS && s > buckets[i])
		i++;
	bucket_n[i]++;
	triage_n++;
	triage_sum += s;
	pthread_mutex_unlock(&mu);
}

static void family(struct sbuf *out, const char *name, const char *help, json_t *map)
{
	sbuf_addf(out, "# HELP %s %s\n# TYPE %s counter\n", name, help, name);
	const char *k;
	json_t *v;
	json_object_foreach(map, k, v)
		sbuf_addf(out, "%s{%s} %lld\n", name, k, (long long)json_integer_value(v));
}

void stats_render(struct sbuf *out)
{
	pthread_mutex_lock(&mu);
	family(out, "runbook_alerts_received_total", "Alerts accepted into the queue, by payload source.", received);
	family(out, "runbook_alerts_rejected_total", "Alert payloads refused, by reason.", rejected);
	family(out, "runbook_notifications_total", "Notification attempts, by notifier and result.", notified);
	sbuf_adds(out, "# HELP runbook_triage_duration_seconds Time to triage one alert: record, diagnose, escalate.\n"
		       "# TYPE runbook_triage_duration_seconds histogram\n");
	long long cum = 0;
	for (size_t i = 0; i < NBUCKETS; i++) {
		cum += bucket_n[i];
		sbuf_addf(out, "runbook_triage_duration_seconds_bucket{le=\"%g\"} %lld\n", buckets[i], cum);
	}
	sbuf_addf(out, "runbook_triage_duration_seconds_bucket{le=\"+Inf\"} %lld\n", triage_n);
	sbuf_addf(out, "runbook_triage_duration_seconds_sum %.6f\n", triage_sum);
	sbuf_addf(out, "runbook_triage_duration_seconds_count %lld\n", triage_n);
	pthread_mutex_unlock(&mu);
}
