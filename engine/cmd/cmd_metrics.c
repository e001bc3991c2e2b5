/* cmd_metrics: `runbook metrics [--since 30d] [--until TIME]` - MTTD, MTTA, MTTR, MTBF and rates (SPEC section 6). */
#define _POSIX_C_SOURCE 200809L
#include "alert.h"
#include "cli.h"
#include "incident.h"
#include "metrics.h"
#include "postmortem.h"
#include "report.h"
#include "store.h"
#include "util.h"

#include <getopt.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

/* A time: RFC 3339, or a span back from `from` ("30d"). -1 if neither. */
static int64_t parse_when(const char *s, int64_t from)
{
	char t[40];
	if (!alert_time(s, t, sizeof t))
		return incident_parse_time(t);
	int64_t span = metrics_span(s);
	return span < 0 ? -1 : from - span;
}

/* A mean as a duration ("2h 15m"), "-" without a figure. */
static void cell(json_t *v, char *buf, size_t n)
{
	if (json_is_number(v))
		postmortem_duration((int64_t)(json_number_value(v) + 0.5), buf, n);
	else
		snprintf(buf, n, "-");
}

static void pct(json_t *v, char *buf, size_t n)
{
	if (json_is_number(v))
		snprintf(buf, n, "%.0f%%", json_number_value(v) * 100);
	else
		snprintf(buf, n, "-");
}

/* "met" / "MISSED" against a target, "-" without a figure. */
static const char *verdict(json_t *v, double target)
{
	return !json_is_number(v) ? "-" : json_number_value(v) <= target ? "met" : "MISSED";
}

static void print_text(json_t *m)
{
	char a[32], b[32], c[32], d[32];
	printf("Incidents detected %s - %s: %lld\n\n", json_string_value(json_object_get(m, "since")),
	       json_string_value(json_object_get(m, "until")), (long long)json_integer_value(json_object_get(m, "incidents")));
	json_t *s1 = json_object_get(json_object_get(m, "by_severity"), "SEV1");
	printf("%-28s %-10s %-10s %s\n", "", "all", "SEV1", "SEV1 target");
	static const struct {
		const char *label, *key;
		double target;
		const char *shown;
	} rows[] = {{"MTTD (detect)", "mttd_s", TARGET_MTTD_S, "< 5m"}, {"MTTA (acknowledge)", "mtta_s", TARGET_MTTA_S, "< 5m"},
		    {"MTTR (restore)", "mttr_s", TARGET_MTTR_S, "< 30m"}};
	for (size_t i = 0; i < sizeof rows / sizeof *rows; i++) {
		cell(json_object_get(m, rows[i].key), a, sizeof a);
		cell(json_object_get(s1, rows[i].key), b, sizeof b);
		printf("%-28s %-10s %-10s %s %s\n", rows[i].label, a, b, rows[i].shown,
		       verdict(json_object_get(s1, rows[i].key), rows[i].target));
	}
	cell(json_object_get(m, "mtbf_s"), a, sizeof a);
	printf("%-28s %-10s\n", "MTBF (between failures)", a);
	pct(json_object_get(m, "ack_within_target"), a, sizeof a);
	pct(json_object_get(s1, "ack_within_target"), b, sizeof b);
	printf("%-28s %-10s %-10s\n", "acknowledged within target", a, b);
	pct(json_object_get(m, "repeat_rate"), c, sizeof c);
	pct(json_object_get(m, "false_positive_rate"), d, sizeof d);
	printf("%-28s %-10s\n%-28s %-10s\n", "repeat incidents", c, "false positives", d);
	printf("\nBy severity\n%-6s %-9s %-10s %-10s %-10s %s\n", "", "incidents", "MTTD", "MTTA", "MTTR", "ack in target");
	static const char *const sevs[] = {"SEV1", "SEV2", "SEV3", "SEV4"};
	for (int k = 0; k < 4; k++) {
		json_t *s = json_object_get(json_object_get(m, "by_severity"), sevs[k]);
		cell(json_object_get(s, "mttd_s"), a, sizeof a);
		cell(json_object_get(s, "mtta_s"), b, sizeof b);
		cell(json_object_get(s, "mttr_s"), c, sizeof c);
		pct(json_object_get(s, "ack_within_target"), d, sizeof d);
		printf("%-6s %-9lld %-10s %-10s %-10s %s\n", sevs[k], (long long)json_integer_value(json_object_get(s, "incidents")),
		       a, b, c, d);
	}
}

int cmd_metrics(int argc, char **argv, struct globals *g)
{
	static const struct option opts[] = {{"since", required_argument, 0, 's'}, {"until", required_argument, 0, 'u'},
		{"output", required_argument, 0, 'o'}, {"store", required_argument, 0, 'S'},
		{"runbooks", required_argument, 0, 'R'}, {0, 0, 0, 0}};
	int64_t now = (int64_t)time(NULL), until = now, since = -1;
	const char *since_arg = "30d";
	int json = 0, c;
	optind = 1;
	while ((c = getopt_long(argc, argv, "o:", opts, NULL)) != -1) {
		switch (c) {
		case 's': since_arg = optarg; break;
		case 'u':
			if ((until = parse_when(optarg, now)) < 0)
				return command_usage_error("metrics", "--until is a time (2026-11-24T07:00:00Z) or a span back from now "
						      "(30d, 12h), not '%s'", optarg);
			break;
		case 'S': g->store = optarg; break;
		case 'R': g->runbooks = optarg; break;
		case 'o':
			if (strcmp(optarg, "json") && strcmp(optarg, "text"))
				return command_usage_error("metrics", "--output is text or json, not '%s'", optarg);
			json = !strcmp(optarg, "json");
			break;
		default:
			return command_usage_error("metrics", "bad option");
		}
	}
	if (optind != argc)
		return command_usage_error("metrics", "unexpected argument '%s'", argv[optind]);
	/* a span counts back from --until: 30d is the 30 days up to it */
	if ((since = parse_when(since_arg, until)) < 0)
		return command_usage_error("metrics", "--since is a time (2026-11-24T07:00:00Z) or a span back from --until "
				      "(30d, 12h), not '%s'", since_arg);
	char *err = NULL;
	struct store *st = store_open(g->store, &err);
	json_t *m = st ? metrics_window(st, since, until, now, &err) : NULL;
	if (!m) {
		fprintf(stderr, "runbook metrics: %s\n", err);
		free(err);
		store_close(st);
		return EXIT_USAGE;
	}
	if (json)
		report_json(stdout, m);
	else
		print_text(m);
	json_decref(m);
	store_close(st);
	return EXIT_OK;
}
