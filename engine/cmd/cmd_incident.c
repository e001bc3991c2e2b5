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

/* checked like printf: every format gets its arguments */
#define usage_error(...) command_usage_error("incident", __VA_ARGS__)

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

/* What the options say, for every subcommand. */
struct incident_args {
	const char *title, *sev, *runbook, *component, *resolution, *action, *tag;
	char started[40], at[40];
	int json;
	char **rest; /* the subcommand's arguments */
	char *actor;
};

/* Prints why the store failed; `code` is the exit status to give. */
static int failed(const char *err, const char *fallback, int code)
{
	fprintf(stderr, "runbook incident: %s\n", err ? err : fallback);
	return code;
}

static int sub_open(struct store *st, struct incident_args *a)
{
	char *err = NULL, *id = NULL;
	json_t *f = json_pack("{s:s, s:s, s:s?, s:s?}", "title", a->title, "severity", a->sev, "runbook", a->runbook,
			      "component", a->component);
	if (f && a->started[0])
		json_object_set_new(f, "started_at", json_string(a->started));
	if (f && a->at[0])
		json_object_set_new(f, "detected_at", json_string(a->at));
	int rc = EXIT_OK;
	if (!f || store_incident_create(st, f, a->actor, &id, &err))
		rc = failed(err, "the title is not valid UTF-8", f ? EXIT_FAIL : EXIT_USAGE);
	else
		printf("%s\n", id);
	free(id);
	free(err);
	json_decref(f);
	return rc;
}

static int sub_list(struct store *st, struct incident_args *a)
{
	char *err = NULL;
	json_t *all = store_incident_list(st, &err);
	if (!all) {
		int rc = failed(err, NULL, EXIT_FAIL);
		free(err);
		return rc;
	}
	size_t i;
	json_t *inc;
	int64_t now = (int64_t)time(NULL);
	json_array_foreach(all, i, inc)
		json_object_set_new(inc, "ack_overdue", json_boolean(incident_ack_overdue(inc, now)));
	if (a->json) {
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
	return EXIT_OK;
}

/* The incident, or NULL having said why (exit 2). */
static json_t *existing(struct store *st, const char *id)
{
	char *err = NULL;
	json_t *inc = store_incident_get(st, id, &err);
	if (!inc)
		failed(err, NULL, EXIT_USAGE);
	free(err);
	return inc;
}

static int sub_show(struct store *st, struct incident_args *a)
{
	json_t *inc = existing(st, a->rest[0]);
	if (!inc)
		return EXIT_USAGE;
	print_incident(inc, a->json);
	json_decref(inc);
	return EXIT_OK;
}

static int sub_ack(struct store *st, struct incident_args *a)
{
	return transition(st, a->rest[0], "acknowledged", NULL, a->actor, a->at[0] ? a->at : NULL);
}

static int sub_resolve(struct store *st, struct incident_args *a)
{
	return transition(st, a->rest[0], "resolved", a->resolution, a->actor, a->at[0] ? a->at : NULL);
}

/* A note or a new severity: an event on the incident (and the change). */
static int record(struct store *st, struct incident_args *a, const char *kind, json_t *changes, json_t *data,
		  const char *summary)
{
	char *err = NULL;
	int rc = EXIT_OK;
	if (!data || store_incident_update(st, a->rest[0], changes, kind, a->actor, summary, data, &err))
		rc = failed(err, "the text is not valid UTF-8", data ? EXIT_FAIL : EXIT_USAGE);
	else
		printf("%s: %s\n", a->rest[0], summary);
	free(err);
	json_decref(changes);
	json_decref(data);
	return rc;
}

static int sub_note(struct store *st, struct incident_args *a)
{
	json_t *inc = existing(st, a->rest[0]);
	if (!inc)
		return EXIT_USAGE;
	json_decref(inc);
	const char *text = a->action ? a->action : a->rest[1];
	json_t *data = json_pack("{s:s}", "text", text);
	if (data && a->tag)
		json_object_set_new(data, "tag", json_string(a->tag));
	if (data && a->at[0])
		json_object_set_new(data, "at", json_string(a->at));
	if (data && a->action)
		json_object_set_new(data, "action", incident_action(a->action));
	char *summary = xasprintf("%s by %s: %s", a->action ? "action item" : a->tag ? a->tag : "note", a->actor, text);
	int rc = record(st, a, "note", json_object(), data, summary);
	free(summary);
	return rc;
}

static int sub_severity(struct store *st, struct incident_args *a)
{
	json_t *inc = existing(st, a->rest[0]);
	if (!inc)
		return EXIT_USAGE;
	char *summary = xasprintf("severity %s -> %s by %s", json_string_value(json_object_get(inc, "severity")),
				  a->rest[1], a->actor);
	json_decref(inc);
	int rc = record(st, a, "incident.severity", json_pack("{s:s}", "severity", a->rest[1]),
			json_pack("{s:s}", "severity", a->rest[1]), summary);
	free(summary);
	return rc;
}

/* The subcommands, with the arguments each takes (-1: note's, 1 with
 * --action, else 2). */
static const struct {
	const char *name;
	int args;
	int (*run)(struct store *st, struct incident_args *a);
} subcommands[] = {
	{"open", 0, sub_open}, {"list", 0, sub_list}, {"show", 1, sub_show}, {"ack", 1, sub_ack},
	{"resolve", 1, sub_resolve}, {"note", -1, sub_note}, {"severity", 2, sub_severity},
};

int cmd_incident(int argc, char **argv, struct globals *g)
{
	static const struct option opts[] = {{"title", required_argument, 0, 't'}, {"severity", required_argument, 0, 's'},
		{"runbook", required_argument, 0, 'r'}, {"component", required_argument, 0, 'c'},
		{"resolution", required_argument, 0, 'x'}, {"output", required_argument, 0, 'o'},
		{"store", required_argument, 0, 'S'}, {"runbooks", required_argument, 0, 'R'},
		{"started-at", required_argument, 0, 'b'}, {"at", required_argument, 0, 'T'},
		{"false-positive", no_argument, 0, 'F'}, {"action", required_argument, 0, 'X'},
		{"tag", required_argument, 0, 'g'}, {0, 0, 0, 0}};
	struct incident_args a = {.sev = "SEV3"};
	int c;
	optind = 1;
	while ((c = getopt_long(argc, argv, "o:", opts, NULL)) != -1) {
		switch (c) {
		case 't': a.title = optarg; break;
		case 's': a.sev = optarg; break;
		case 'r': a.runbook = optarg; break;
		case 'c': a.component = optarg; break;
		case 'x': a.resolution = optarg; break;
		case 'F': a.resolution = "false-positive"; break;
		case 'X': a.action = optarg; break;
		case 'g': a.tag = optarg; break;
		case 'b':
		case 'T':
			if (alert_time(optarg, c == 'b' ? a.started : a.at, sizeof a.started))
				return usage_error("times are RFC 3339 with a zone, like 2026-11-24T07:00:00Z, not '%s'", optarg);
			break;
		case 'S': g->store = optarg; break;
		case 'R': g->runbooks = optarg; break;
		case 'o':
			if (strcmp(optarg, "json") && strcmp(optarg, "text"))
				return usage_error("--output is text or json, not '%s'", optarg);
			a.json = !strcmp(optarg, "json");
			break;
		default:
			return usage_error("bad option");
		}
	}
	if (optind >= argc)
		return usage_error("give a subcommand: open, list, show, ack, resolve, note or severity");
	const char *sub = argv[optind];
	a.rest = argv + optind + 1;
	int nrest = argc - optind - 1;
	size_t k = 0;
	while (k < ARRAY_LEN(subcommands) && strcmp(subcommands[k].name, sub))
		k++;
	if (k == ARRAY_LEN(subcommands)) {
		const char *names[ARRAY_LEN(subcommands) + 1];
		for (size_t i = 0; i < ARRAY_LEN(subcommands); i++)
			names[i] = subcommands[i].name;
		names[ARRAY_LEN(subcommands)] = NULL;
		const char *dym = did_you_mean(sub, names);
		fprintf(stderr, "runbook incident: unknown subcommand '%s'%s%s%s\n", sub, dym ? " (did you mean '" : "",
			dym ? dym : "", dym ? "'?)" : "");
		return EXIT_USAGE;
	}
	int want = subcommands[k].args >= 0 ? subcommands[k].args : a.action ? 1 : 2;
	if (nrest != want)
		return usage_error(!want ? "'%s' takes no arguments"
				   : want == 1 ? "'%s' takes an incident ID"
				   : !strcmp(sub, "note") ? "'%s' takes an incident ID and the text (or --action TEXT)"
							  : "'%s' takes an incident ID and a severity",
				   sub);
	if (!strcmp(sub, "open") && !a.title)
		return usage_error("open needs --title TEXT");
	if (!strcmp(sub, "open") && !incident_severity_valid(a.sev))
		return usage_error("--severity is SEV1, SEV2, SEV3 or SEV4, not '%s'", a.sev);
	if (!strcmp(sub, "severity") && !incident_severity_valid(a.rest[1]))
		return usage_error("severity is SEV1, SEV2, SEV3 or SEV4, not '%s'", a.rest[1]);
	if (a.resolution && strcmp(sub, "resolve"))
		return usage_error("--resolution and --false-positive go with resolve");
	if ((a.action || a.tag) && strcmp(sub, "note"))
		return usage_error("--action and --tag go with note");
	if (a.started[0] && strcmp(sub, "open"))
		return usage_error("--started-at goes with open");
	static const char *const tags[] = {"root-cause", "fix", "impact", "went-well", "improve", NULL};
	if (a.tag) {
		int tag_known = 0;
		for (const char *const *t = tags; *t; t++)
			tag_known |= !strcmp(*t, a.tag);
		if (!tag_known) {
			const char *dym = did_you_mean(a.tag, tags);
			fprintf(stderr, "runbook incident: --tag is root-cause, fix, impact, went-well or improve, not '%s'%s%s%s\n",
				a.tag, dym ? " (did you mean '" : "", dym ? dym : "", dym ? "'?)" : "");
			return EXIT_USAGE;
		}
	}

	char *err = NULL;
	struct store *st = store_open(g->store, &err);
	if (!st) {
		int rc = failed(err, NULL, EXIT_USAGE);
		free(err);
		return rc;
	}
	a.actor = store_actor();
	int rc = subcommands[k].run(st, &a);
	free(a.actor);
	store_close(st);
	return rc;
}
