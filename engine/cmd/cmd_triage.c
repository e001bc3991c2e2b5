/* cmd_triage: `runbook triage` - alerts into diagnosed, escalated incidents (SPEC section 7). */
#define _POSIX_C_SOURCE 200809L
#include "alert.h"
#include "cli.h"
#include "config.h"
#include "path.h"
#include "report.h"
#include "triage.h"
#include "util.h"

#include <getopt.h>
#include <stdlib.h>
#include <string.h>

int cmd_triage(int argc, char **argv, struct globals *g)
{
	static const struct option opts[] = {{"alert", required_argument, 0, 'a'}, {"output", required_argument, 0, 'o'},
		{"runbooks", required_argument, 0, 'R'}, {"store", required_argument, 0, 'S'}, {0, 0, 0, 0}};
	const char *alert_path = "-";
	int json = 0, c;
	optind = 1;
	while ((c = getopt_long(argc, argv, "o:", opts, NULL)) != -1) {
		switch (c) {
		case 'a': alert_path = optarg; break;
		case 'R': g->runbooks = optarg; break;
		case 'S': g->store = optarg; break;
		case 'o':
			if (strcmp(optarg, "json") && strcmp(optarg, "text"))
				return command_usage_error("triage", "--output is text or json, not '%s'", optarg);
			json = !strcmp(optarg, "json");
			break;
		default:
			return command_usage_error("triage", "bad option");
		}
	}
	if (optind != argc)
		return command_usage_error("triage", "unexpected argument '%s'", argv[optind]);
	json_t *alerts;
	struct runbook **rbs;
	size_t n;
	if (command_alerts_and_catalog("triage", alert_path, g, &alerts, &rbs, &n))
		return EXIT_USAGE;
	struct triage t = {g->cfg, g->store, rbs, n,
			   (int)json_integer_value(json_object_get(g->cfg->serve, "triage_threads"))};
	int failed = 0;
	char *err = NULL;
	json_t *out = triage_run(&t, alerts, &failed, &err);
	int rc = EXIT_OK;
	if (!out) {
		fprintf(stderr, "runbook triage: %s\n", err);
		free(err);
		rc = EXIT_USAGE;
	} else {
		if (json) {
			json_t *doc = json_pack("{s:O}", "alerts", out);
			report_json(stdout, doc);
			json_decref(doc);
		} else {
			size_t i;
			json_t *r;
			json_array_foreach(out, i, r) {
				const char *inc = json_string_value(json_object_get(r, "incident"));
				const char *rb = json_string_value(json_object_get(r, "runbook"));
				const char *st = json_string_value(json_object_get(r, "status"));
				printf("%s %s %s %s\n", inc ? inc : "-", json_string_value(json_object_get(r, "action")),
				       rb ? rb : "-", st ? st : "-");
			}
		}
		rc = interrupted ? interrupted_exit_code() : failed ? EXIT_FAIL : EXIT_OK;
	}
	json_decref(out);
	runbook_catalog_free(rbs, n);
	json_decref(alerts);
	return rc;
}
