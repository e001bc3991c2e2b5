/* cmd_incident: `runbook incident open|list|show|ack|resolve|note|severity`. */
#define _POSIX_C_SOURCE 200809L
#include "cli.h"
#include "alert.h"
#include "incident.h"
#include "report.h"
#include "store.h"
#include "util.h"

#include <getopt.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

static int usage_error(const char *fmt, const char *arg)
{
	return command_usage_error("incident", fmt, arg ? arg : "");
}

static void print_incident(json_t *inc, int json)
{
	if (json) {
		report_json(stdout, inc);
		return;
	}
	static const char *const order[] = {"id", "title", "severity", "status", "runbook", "component", "started_at",
		"detected_at", "acknowledged_at", "resolved_at", "resolution", "commander", "fingerprint", NULL};
	for (const char *const *k = order; *k; k++) {
		const char *v = json_string_value(json_object_get(inc, *k));
		if (v)
			printf("%-16s %s\n", *k, v);
	}
	if (incident_ack_overdue(inc, (int64_t)time(NULL)))
		printf("%-16s %s\n", "overdue", "not acknowledged within the severity's target");
}

/* Applies a transition; refuses invalid ones (exit 2). */
static int transition(struct store *st, const char *id, const char *to, const char *resolution, const char *actor,
		      const char *at)
{
	char *err = NULL;
	int rc = incident_transition(st, id, to, resolution, actor, at, &err);
	if (rc) {
		fprintf(stderr, "runbook incident: %s\n", err);
		free(err);
		return rc > 0 ? EXIT_USAGE : EXIT_FAIL;
	}
	printf("%s %s\n", id, to);
	return EXIT_OK;
}

int cmd_incident(int argc, char **argv, struct globals *g)
{
	static const struct option opts[] = {{"title", required_argument, 0, 't'}, {"severity", required_argument, 0, 's'},
		{"runbook", required_argument, 0, 'r'}, {"component", required_argument, 0, 'c'},
		{"resolution", required_argument, 0, 'x'}, {"output", required_argument, 0, 'o'},
		{"store", required_argument, 0, 'S'}, {"runbooks", required_argument, 0, 'R'},
		{"started-at", required_argument, 0, 'b'}, {"at", required_argument, 0, 'T'},
		{"false-positive", no_argument, 0, 'F'}, {"action", required_argument, 0, 'X'},
		{"tag", required_argument, 0, 'g'}, {0, 0, 0, 0}};
	const char *title = NULL, *sev = "SEV3", *runbook = NULL, *component = NULL, *resolution = NULL;
	const char *action = NULL, *tag = NULL;
	char started[40] = "", at[40] = "";
	int json = 0, c;
	optind = 1;
	while ((c = getopt_long(argc, argv, "o:", opts, NULL)) != -1) {
		switch (c) {
		case 't': title = optarg; break;
		case 's': sev = optarg; break;
		case 'r': runbook = optarg; break;
		case 'c': component = optarg; break;
		case 'x': resolution = optarg; break;
		case 'F': resolution = "false-positive"; break;
		case 'X': action = optarg; break;
		case 'g': tag = optarg; break;
		case 'b':
		case 'T':
			if (alert_time(optarg, c == 'b' ? started : at, sizeof started))
				return usage_error("times are RFC 3339 with a zone, like 2026-11-24T07:00:00Z, not '%s'", optarg);
			break;
		case 'S': g->store = optarg; break;
		case 'R': g->runbooks = optarg; break;
		case 'o':
			if (strcmp(optarg, "json") && strcmp(optarg, "text"))
				return usage_error("--output is text or json, not '%s'", optarg);
			json = !strcmp(optarg, "json");
			break;
		default:
			return usage_error("bad option%s", NULL);
		}
	}
	if (optind >= argc)
		return usage_error("give a subcommand: open, list, show, ack, resolve, note or severity%s", NULL);
	const char *sub = argv[optind];
	char **rest = argv + optind + 1;
	int nrest = argc - optind - 1;
	static const char *const subs[] = {"open", "list", "show", "ack", "resolve", "note", "severity", NULL};
	int known = 0;
	for (const char *const *s = subs; *s; s++)
		known |= !strcmp(*s, sub);
	if (!known) {
		const char *dym = did_you_mean(sub, subs);
		fprintf(stderr, "runbook incident: unknown subcommand '%s'%s%s%s\n", sub, dym ? " (did you mean '" : "",
			dym ? dym : "", dym ? "'?)" : "");
		return EXIT_USAGE;
	}
	int want = !strcmp(sub, "open") || !strcmp(sub, "list") ? 0
		   : (!strcmp(sub, "note") && !action) || !strcmp(sub, "severity") ? 2 : 1;
	if (nrest != want)
		return usage_error(want ? "'%s' takes an incident ID%s" : "'%s' takes no arguments", sub);
	if (!strcmp(sub, "open") && !title)
		return usage_error("open needs --title TEXT%s", NULL);
	if (!strcmp(sub, "open") && !incident_severity_valid(sev))
		return usage_error("--severity is SEV1, SEV2, SEV3 or SEV4, not '%s'", sev);
	if (!strcmp(sub, "severity") && !incident_severity_valid(rest[1]))
		return usage_error("severity is SEV1, SEV2, SEV3 or SEV4, not '%s'", rest[1]);
	if (resolution && strcmp(sub, "resolve"))
		return usage_error("--resolution and --false-positive go with resolve%s", NULL);
	if ((action || tag) && strcmp(sub, "note"))
		return usage_error("--action and --tag go with note%s", NULL);
	if (started[0] && strcmp(sub, "open"))
		return usage_error("--started-at goes with open%s", NULL);
	static const char *const tags[] = {"root-cause", "fix", "impact", "went-well", "improve", NULL};
	if (tag) {
		int tag_known = 0;
		for (const char *const *t = tags; *t; t++)
			tag_known |= !strcmp(*t, tag);
		if (!tag_known) {
			const char *dym = did_you_mean(tag, tags);
			fprintf(stderr, "runbook incident: --tag is root-cause, fix, impact, went-well or improve, not '%s'%s%s%s\n",
				tag, dym ? " (did you mean '" : "", dym ? dym : "", dym ? "'?)" : "");
			return EXIT_USAGE;
		}
	}

	char *err = NULL;
	struct store *st = store_open(g->store, &err);
	if (!st) {
		fprintf(stderr, "runbook incident: %s\n", err);
		free(err);
		return EXIT_USAGE;
	}
	char *actor = store_actor();
	int rc = EXIT_OK;
	if (!strcmp(sub, "open")) {
		json_t *f = json_pack("{s:s, s:s, s:s?, s:s?}", "title", title, "severity", sev, "runbook", runbook,
				      "component", component);
		if (f && started[0])
			json_object_set_new(f, "started_at", json_string(started));
		if (f && at[0])
			json_object_set_new(f, "detected_at", json_string(at));
		char *id = NULL;
		if (!f || store_incident_create(st, f, actor, &id, &err)) {
			fprintf(stderr, "runbook incident: %s\n", err ? err : "the title is not valid UTF-8");
			rc = f ? EXIT_FAIL : EXIT_USAGE;
		} else {
			printf("%s\n", id);
		}
		free(id);
		json_decref(f);
	} else if (!strcmp(sub, "list")) {
		json_t *all = store_incident_list(st, &err);
		if (!all) {
			fprintf(stderr, "runbook incident: %s\n", err);
			rc = EXIT_FAIL;
		} else {
			size_t i;
			json_t *inc;
			int64_t now = (int64_t)time(NULL);
			json_array_foreach(all, i, inc)
				json_object_set_new(inc, "ack_overdue", json_boolean(incident_ack_overdue(inc, now)));
			if (json) {
				report_json(stdout, all);
			} else if (!json_array_size(all)) {
				printf("no incidents\n");
			} else {
				printf("%-8s %-5s %-13s %-28s %s\n", "ID", "SEV", "STATUS", "DETECTED (UTC)", "TITLE");
				json_array_foreach(all, i, inc)
					printf("%-8s %-5s %-13s %-28s %s%s\n", json_string_value(json_object_get(inc, "id")),
					       json_string_value(json_object_get(inc, "severity")),
					       json_string_value(json_object_get(inc, "status")),
					       json_string_value(json_object_get(inc, "detected_at")),
					       json_string_value(json_object_get(inc, "title")),
					       json_is_true(json_object_get(inc, "ack_overdue")) ? "  [ACK OVERDUE]" : "");
			}
			json_decref(all);
		}
	} else if (!strcmp(sub, "show")) {
		json_t *inc = store_incident_get(st, rest[0], &err);
		if (!inc) {
			fprintf(stderr, "runbook incident: %s\n", err);
			rc = EXIT_USAGE;
		} else {
			print_incident(inc, json);
			json_decref(inc);
		}
	} else if (!strcmp(sub, "ack")) {
		rc = transition(st, rest[0], "acknowledged", NULL, actor, at[0] ? at : NULL);
	} else if (!strcmp(sub, "resolve")) {
		rc = transition(st, rest[0], "resolved", resolution, actor, at[0] ? at : NULL);
	} else {
		json_t *inc = store_incident_get(st, rest[0], &err);
		if (!inc) {
			fprintf(stderr, "runbook incident: %s\n", err);
			rc = EXIT_USAGE;
		} else {
			int note = !strcmp(sub, "note");
			const char *text = note && action ? action : rest[1];
			json_t *ch = note ? json_object() : json_pack("{s:s}", "severity", rest[1]);
			json_t *data = json_pack("{s:s}", note ? "text" : "severity", text);
			if (data && note && tag)
				json_object_set_new(data, "tag", json_string(tag));
			if (data && note && at[0])
				json_object_set_new(data, "at", json_string(at));
			if (data && note && action)
				json_object_set_new(data, "action", incident_action(action));
			char *summary = note ? xasprintf("%s by %s: %s", action ? "action item" : tag ? tag : "note", actor, text)
					     : xasprintf("severity %s -> %s by %s", json_string_value(json_object_get(inc, "severity")),
							 rest[1], actor);
			if (!data || store_incident_update(st, rest[0], ch, note ? "note" : "incident.severity", actor, summary,
							   data, &err)) {
				fprintf(stderr, "runbook incident: %s\n", err ? err : "the text is not valid UTF-8");
				rc = data ? EXIT_FAIL : EXIT_USAGE;
			} else {
				printf("%s: %s\n", rest[0], summary);
			}
			free(summary);
			json_decref(ch);
			json_decref(data);
			json_decref(inc);
		}
	}
	free(err);
	free(actor);
	store_close(st);
	return rc;
}
