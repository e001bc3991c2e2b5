/* cmd_match: `runbook match` - which runbooks an alert is about, and why (SPEC section 7). */
#define _POSIX_C_SOURCE 200809L
#include "alert.h"
#include "cli.h"
#include "match.h"
#include "path.h"
#include "report.h"
#include "text.h"
#include "util.h"

#include <getopt.h>
#include <stdlib.h>
#include <string.h>

static void print_text(json_t *doc, int explain)
{
	size_t i, j, k, c;
	json_t *a, *m, *mm, *cond;
	json_array_foreach(json_object_get(doc, "alerts"), i, a) {
		json_t *al = json_object_get(a, "alert");
		char *name = text_escape_json(json_object_get(al, "name"));
		printf("%salert %s (%s, %s, fingerprint %s)\n", i ? "\n" : "", name,
		       json_string_value(json_object_get(al, "status")), json_string_value(json_object_get(al, "source")),
		       json_string_value(json_object_get(al, "fingerprint")));
		free(name);
		json_t *matches = json_object_get(a, "matches");
		int any = 0;
		json_array_foreach(matches, j, m)
			any |= json_is_true(json_object_get(m, "matched"));
		if (!any)
			printf("  no runbook matches%s\n", explain ? "" : " (--explain shows why)");
		json_array_foreach(matches, j, m) {
			int matched = json_is_true(json_object_get(m, "matched"));
			printf("  %-28s %-11s score %lld%s\n", json_string_value(json_object_get(m, "runbook")),
			       matched ? "matched" : "not matched", (long long)json_integer_value(json_object_get(m, "score")),
			       json_is_true(json_object_get(m, "named")) ? "  (the alert names it)" : "");
			if (!explain)
				continue;
			json_t *ms = json_object_get(m, "matchers");
			if (!json_array_size(ms))
				printf("      no symptoms: it runs only by name\n");
			json_array_foreach(ms, k, mm) {
				printf("      matcher %zu: %s\n", k + 1, json_is_true(json_object_get(mm, "held")) ? "held" : "failed");
				json_array_foreach(json_object_get(mm, "conditions"), c, cond) {
					char *act = text_json_dump(json_object_get(cond, "actual"), 0);
					char *safe = text_escape(act, strlen(act), 0);
					printf("        %-6s %s  (actual %s)\n",
					       json_is_true(json_object_get(cond, "held")) ? "held" : "FAILED",
					       json_string_value(json_object_get(cond, "condition")), safe);
					free(safe);
					free(act);
				}
			}
		}
	}
}

int cmd_match(int argc, char **argv, struct globals *g)
{
	static const struct option opts[] = {{"alert", required_argument, 0, 'a'}, {"explain", no_argument, 0, 'e'},
		{"output", required_argument, 0, 'o'}, {"runbooks", required_argument, 0, 'R'},
		{"store", required_argument, 0, 'S'}, {0, 0, 0, 0}};
	const char *alert_path = "-";
	int explain = 0, json = 0, c;
	optind = 1;
	while ((c = getopt_long(argc, argv, "o:", opts, NULL)) != -1) {
		switch (c) {
		case 'a': alert_path = optarg; break;
		case 'e': explain = 1; break;
		case 'R': g->runbooks = optarg; break;
		case 'S': g->store = optarg; break;
		case 'o':
			if (strcmp(optarg, "json") && strcmp(optarg, "text"))
				return command_usage_error("match", "--output is text or json, not '%s'", optarg);
			json = !strcmp(optarg, "json");
			break;
		default:
			return command_usage_error("match", "bad option");
		}
	}
	if (optind != argc)
		return command_usage_error("match", "unexpected argument '%s'", argv[optind]);
	json_t *alerts;
	struct runbook **rbs;
	size_t n;
	if (command_alerts_and_catalog("match", alert_path, g, &alerts, &rbs, &n))
		return EXIT_USAGE;
	char *err = NULL;
	struct matchset *ms = matchset_new(rbs, n, &err);
	if (!ms) {
		fprintf(stderr, "runbook match: %s\n", err);
		free(err);
		runbook_catalog_free(rbs, n);
		json_decref(alerts);
		return EXIT_USAGE;
	}
	json_t *out = json_array();
	int any = 0;
	size_t i;
	json_t *a;
	json_array_foreach(alerts, i, a) {
		json_t *matches = matchset_match(ms, a, explain);
		size_t k;
		json_t *m;
		json_array_foreach(matches, k, m)
			any |= json_is_true(json_object_get(m, "matched"));
		json_array_append_new(out, json_pack("{s:O, s:o}", "alert", a, "matches", matches));
	}
	json_t *doc = json_pack("{s:o}", "alerts", out);
	if (json)
		report_json(stdout, doc);
	else
		print_text(doc, explain);
	json_decref(doc);
	matchset_free(ms);
	runbook_catalog_free(rbs, n);
	json_decref(alerts);
	return any ? EXIT_OK : EXIT_FAIL;
}
