/* metrics: MTTD, MTTA, MTTR, MTBF and rates from incidents. See metrics.h. */
#define _POSIX_C_SOURCE 200809L
#include "metrics.h"
#include "incident.h"
#include "store.h"
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

static json_t *mean(json_t *row, const char *sum, const char *n)
{
	double c = json_real_value(json_object_get(row, n));
	return c > 0 ? json_real(json_real_value(json_object_get(row, sum)) / c) : json_null(); /* no sample: null */
}

static json_t *share(double hit, double of)
{
	return of > 0 ? json_real(hit / of) : json_null();
}

json_t *metrics_from_sums(json_t *sums, const char *since, const char *until)
{
	static const char *const sevs[] = {"SEV1", "SEV2", "SEV3", "SEV4"};
	static const char *const cols[] = {"incidents", "detect_sum", "detect_n", "ack_sum", "ack_n", "restore_sum",
					   "restore_n", "ack_hit", "ack_of", "repeats", "resolved", "false_positives"};
	json_t *total = json_object(), *by = json_object();
	for (size_t c = 0; c < ARRAY_LEN(cols); c++)
		json_object_set_new(total, cols[c], json_real(0));
	for (int k = 0; k < 4; k++) {
		json_t *row = json_object_get(json_object_get(sums, "by_severity"), sevs[k]);
		for (size_t c = 0; c < ARRAY_LEN(cols); c++) {
			json_t *t = json_object_get(total, cols[c]);
			json_real_set(t, json_real_value(t) + json_real_value(json_object_get(row, cols[c])));
		}
		json_object_set_new(by, sevs[k], json_pack("{s:I, s:o, s:o, s:o, s:o}", "incidents",
							   (json_int_t)json_real_value(json_object_get(row, "incidents")),
							   "mttd_s", mean(row, "detect_sum", "detect_n"), "mtta_s",
							   mean(row, "ack_sum", "ack_n"), "mttr_s", mean(row, "restore_sum", "restore_n"),
							   "ack_within_target",
							   share(json_real_value(json_object_get(row, "ack_hit")),
								 json_real_value(json_object_get(row, "ack_of")))));
	}
	json_t *mtbf = json_object_get(sums, "mtbf");
	json_t *out = json_pack("{s:s, s:s, s:I, s:o, s:o, s:o, s:o, s:o, s:o, s:o, s:o}", "since", since, "until", until,
				"incidents", (json_int_t)json_real_value(json_object_get(total, "incidents")), "mttd_s",
				mean(total, "detect_sum", "detect_n"), "mtta_s", mean(total, "ack_sum", "ack_n"), "mttr_s",
				mean(total, "restore_sum", "restore_n"), "mtbf_s", mean(mtbf, "sum", "n"), "ack_within_target",
				share(json_real_value(json_object_get(total, "ack_hit")),
				      json_real_value(json_object_get(total, "ack_of"))),
				"repeat_rate",
				share(json_real_value(json_object_get(total, "repeats")),
				      json_real_value(json_object_get(total, "incidents"))),
				"false_positive_rate",
				share(json_real_value(json_object_get(total, "false_positives")),
				      json_real_value(json_object_get(total, "resolved"))),
				"by_severity", by);
	json_decref(total);
	return out;
}

/* A time as the store compares it, and as it is shown. */
/* The second t as the store compares times (its start, or with `last` its
 * last microsecond: a bound of whole seconds takes in all of its second)
 * and as shown. */
static void stamp(int64_t t, int last, char *db, size_t dn, char *shown, size_t sn)
{
	time_t tt = (time_t)t;
	struct tm tm;
	gmtime_r(&tt, &tm);
	strftime(db, dn, last ? "%Y-%m-%dT%H:%M:%S.999999Z" : "%Y-%m-%dT%H:%M:%S.000000Z", &tm);
	if (shown)
		strftime(shown, sn, "%Y-%m-%dT%H:%M:%SZ", &tm);
}

json_t *metrics_window(struct store *st, int64_t since, int64_t until, int64_t now, char **err)
{
	char s_db[40], u_db[40], n_db[40], s_shown[32], u_shown[32];
	stamp(since, 0, s_db, sizeof s_db, s_shown, sizeof s_shown);
	stamp(until, 1, u_db, sizeof u_db, u_shown, sizeof u_shown);
	stamp(now, 1, n_db, sizeof n_db, NULL, 0);
	json_t *sums = store_metrics_sums(st, s_db, u_db, n_db, err);
	if (!sums)
		return NULL;
	json_t *m = metrics_from_sums(sums, s_shown, u_shown);
	json_decref(sums);
	return m;
}
