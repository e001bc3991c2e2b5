/*
 * Benchmark: matching one alert against many runbooks (SPEC section 7: a
 * thousand runbooks well under a millisecond). The runbooks are generated
 * with every kind of condition (alertname lists, exact and regex labels,
 * Alertmanager matchers, text regexes); one of them is the alert's.
 * Usage: bench_match [RUNBOOKS] [ROUNDS]. Prints the median time per alert.
 */
#define _POSIX_C_SOURCE 200809L
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "diag.h"
#include "match.h"
#include "runbook.h"
#include "util.h"

static double clock_us(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	return ts.tv_sec * 1e6 + ts.tv_nsec / 1e3;
}

static int cmp(const void *a, const void *b)
{
	double x = *(const double *)a, y = *(const double *)b;
	return (x > y) - (x < y);
}

int main(int argc, char **argv)
{
	int n = argc > 1 ? atoi(argv[1]) : 1000, rounds = argc > 2 ? atoi(argv[2]) : 2000;
	struct runbook **rbs = calloc((size_t)n, sizeof *rbs);
	for (int i = 0; i < n; i++) {
		char *y = xasprintf("runbook: rb-%04d\ntitle: generated %d\n"
				    "symptoms:\n"
				    "  - alertname: [Alert%04dA, Alert%04dB]\n"
				    "  - labels: {service: svc-%d, env: \"~prod|staging\"}\n"
				    "    text: \"disk %d (is )?full|no space\"\n"
				    "  - matchers: ['team=\"t-%d\"', 'severity=~\"critical|warning\"', 'region!=\"test\"']\n"
				    "steps:\n  - {id: a, lua: return 1}\n",
				    i, i, i, i, i, i, i);
		struct diag_list d;
		diag_init(&d);
		rbs[i] = runbook_parse("bench.yaml", y, strlen(y), &d);
		if (!rbs[i]) {
			diag_print(&d, stderr);
			return 2;
		}
		diag_release(&d);
		free(y);
	}
	char *err = NULL;
	double t0 = clock_us();
	struct matchset *ms = matchset_new(rbs, (size_t)n, &err);
	double compile = clock_us() - t0;
	if (!ms) {
		fprintf(stderr, "%s\n", err);
		return 2;
	}
	json_t *alert = json_pack("{s:s, s:s, s:s, s:{s:s, s:s, s:s, s:s}, s:{}, s:s, s:n}", "name", "Alert0777B", "status",
				  "firing", "severity", "critical", "labels", "service", "svc-777", "env", "prod", "team",
				  "t-777", "severity", "critical", "annotations", "summary", "disk 777 is full on web-1",
				  "description");
	double *t = calloc((size_t)rounds, sizeof *t);
	struct runbook *best = NULL;
	for (int r = 0; r < rounds; r++) {
		double s = clock_us();
		best = matchset_best(ms, alert);
		t[r] = clock_us() - s;
	}
	qsort(t, (size_t)rounds, sizeof *t, cmp);
	double s = clock_us();
	json_t *all = matchset_match(ms, alert, 1);
	double explain = clock_us() - s;
	printf("  %d runbooks: compile %.1f ms once; match one alert: median %.1f us, p99 %.1f us "
	       "(%.3f of the 1 ms budget); --explain of all: %.2f ms; best: %s\n",
	       n, compile / 1000, t[rounds / 2], t[rounds * 99 / 100], t[rounds / 2] / 1000, explain / 1000,
	       best ? best->id : "none");
	/* the indexed path and the full evaluation agree */
	const char *first = json_string_value(json_object_get(json_array_get(all, 0), "runbook"));
	int agree = best && first && !strcmp(first, best->id) && json_is_true(json_object_get(json_array_get(all, 0), "matched"));
	int right = best && !strcmp(best->id, "rb-0777");
	json_decref(all);
	json_decref(alert);
	matchset_free(ms);
	for (int i = 0; i < n; i++)
		runbook_free(rbs[i]);
	free(rbs);
	free(t);
	if (!agree)
		fprintf(stderr, "bench_match: the indexed match and the full evaluation disagree\n");
	return agree && right ? 0 : 1;
}
