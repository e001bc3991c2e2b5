/* metrics: MTTD, MTTA, MTTR, MTBF and rates from incidents. See metrics.h. */
#define _POSIX_C_SOURCE 200809L
#include "metrics.h"
#include "incident.h"
#include "util.h"

#include <stdlib.h>
#include <string.h>
#include <time.h>

int64_t metrics_span(const char *s)
{
	char *end;
	double v = strtod(s, &end);
	if (end == s || v < 0)
		return -1;
	double mult = !strcmp(end, "d") ? 86400 : !strcmp(end, "h") ? 3600 : !strcmp(end, "m") ? 60
		    : !strcmp(end, "s") || !*end ? 1 : -1;
	if (mult < 0 || v * mult > 3650.0 * 86400)
		return -1;
	return (int64_t)(v * mult);
}

struct mean {
	double sum;
	long n;
};

static void add(struct mean *m, int64_t v)
{
	m->sum += (double)v;
	m->n++;
}

static json_t *value(const struct mean *m)
{
	return m->n ? json_real(m->sum / m->n) : json_null(); /* no sample: null, never 0 */
}

static json_t *share(long hit, long of)
{
	return of ? json_real((double)hit / (double)of) : json_null();
}

static void iso(int64_t t, char *buf, size_t n)
{
	time_t tt = (time_t)t;
	struct tm tm;
	gmtime_r(&tt, &tm);
	strftime(buf, n, "%Y-%m-%dT%H:%M:%SZ", &tm);
}

struct start {
	const char *component;
	int64_t t;
};

static int by_component_time(const void *a, const void *b)
{
	const struct start *x = a, *y = b;
	int c = strcmp(x->component, y->component);
	return c ? c : (x->t > y->t) - (x->t < y->t);
}

json_t *metrics_compute(json_t *incidents, int64_t since, int64_t until, int64_t now)
{
	static const char *const sevs[] = {"SEV1", "SEV2", "SEV3", "SEV4"};
	struct mean mttd = {0}, mtta = {0}, mttr = {0}, s_mttd[4] = {{0}}, s_mtta[4] = {{0}}, s_mttr[4] = {{0}};
	long total = 0, s_total[4] = {0}, ack_hit = 0, ack_of = 0, s_ack_hit[4] = {0}, s_ack_of[4] = {0};
	long repeats = 0, resolved = 0, false_pos = 0;
	size_t n = json_array_size(incidents), ns = 0;
	struct start *starts = xcalloc(n ? n : 1, sizeof *starts);
	size_t i;
	json_t *inc;
	json_array_foreach(incidents, i, inc) {
		int64_t det = incident_parse_time(json_string_value(json_object_get(inc, "detected_at")));
		if (det < 0 || det < since || det > until)
			continue;
		int64_t st = incident_parse_time(json_string_value(json_object_get(inc, "started_at")));
		int64_t ack = incident_parse_time(json_string_value(json_object_get(inc, "acknowledged_at")));
		int64_t res = incident_parse_time(json_string_value(json_object_get(inc, "resolved_at")));
		const char *sev = json_string_value(json_object_get(inc, "severity"));
		int k = 3;
		for (int j = 0; j < 4; j++)
			if (sev && !strcmp(sev, sevs[j]))
				k = j;
		total++;
		s_total[k]++;
		if (st >= 0) {
			add(&mttd, det - st);
			add(&s_mttd[k], det - st);
			const char *comp = json_string_value(json_object_get(inc, "component"));
			starts[ns++] = (struct start){comp ? comp : "", st};
		}
		if (ack >= 0) {
			add(&mtta, ack - det);
			add(&s_mtta[k], ack - det);
		}
		if (res >= 0) {
			add(&mttr, res - det);
			add(&s_mttr[k], res - det);
			resolved++;
			const char *resn = json_string_value(json_object_get(inc, "resolution"));
			false_pos += resn && !strcmp(resn, "false-positive");
		}
		/* within target: acknowledged in time; an incident still inside its
		 * target window is not counted either way yet */
		int64_t target = incident_ack_target(sev);
		if (target >= 0 && (ack >= 0 || now - det > target)) {
			int hit = ack >= 0 && ack - det <= target;
			ack_of++;
			ack_hit += hit;
			s_ack_of[k]++;
			s_ack_hit[k] += hit;
		}
		repeats += json_is_string(json_object_get(inc, "repeat_of"));
	}
	/* MTBF: the gaps between consecutive starts of each component, pooled */
	qsort(starts, ns, sizeof *starts, by_component_time);
	struct mean mtbf = {0};
	for (size_t j = 1; j < ns; j++)
		if (!strcmp(starts[j].component, starts[j - 1].component))
			add(&mtbf, starts[j].t - starts[j - 1].t);
	free(starts);
	char a[32], b[32];
	iso(since, a, sizeof a);
	iso(until, b, sizeof b);
	json_t *by = json_object();
	for (int k = 0; k < 4; k++)
		json_object_set_new(by, sevs[k], json_pack("{s:i, s:o, s:o, s:o, s:o}", "incidents", (int)s_total[k], "mttd_s",
							   value(&s_mttd[k]), "mtta_s", value(&s_mtta[k]), "mttr_s",
							   value(&s_mttr[k]), "ack_within_target",
							   share(s_ack_hit[k], s_ack_of[k])));
	return json_pack("{s:s, s:s, s:i, s:o, s:o, s:o, s:o, s:o, s:o, s:o, s:o}", "since", a, "until", b, "incidents",
			 (int)total, "mttd_s", value(&mttd), "mtta_s", value(&mtta), "mttr_s", value(&mttr), "mtbf_s",
			 value(&mtbf), "ack_within_target", share(ack_hit, ack_of), "repeat_rate", share(repeats, total),
			 "false_positive_rate", share(false_pos, resolved), "by_severity", by);
}
