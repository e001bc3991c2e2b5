/* cmd_timeline: `runbook timeline ID` - an incident's events, and --verify. */
#define _DEFAULT_SOURCE
#include "cli.h"
#include "incident.h"
#include "report.h"
#include "store.h"
#include "text.h"
#include "util.h"

#include <getopt.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

static void when(const char *ts, int utc, char *out, size_t n)
{
	int64_t t = incident_parse_time(ts);
	if (utc || t < 0) {
		snprintf(out, n, "%.19s%s", ts ? ts : "?", utc ? "Z" : "");
		if (out[10] == 'T')
			out[10] = ' ';
		return;
	}
	time_t tt = (time_t)t;
	struct tm tm;
	localtime_r(&tt, &tm);
	strftime(out, n, "%Y-%m-%d %H:%M:%S", &tm);
}

/* An event field as terminal-safe text; caller frees. */
static char *safe(json_t *e, const char *key)
{
	return text_escape_json(json_object_get(e, key));
}

static void step_details(FILE *out, json_t *data, const char *indent)
{
	json_t *rows = json_object_get(data, "rows");
	const char *status = json_string_value(json_object_get(data, "status"));
	if (json_is_array(rows) && status && !strcmp(status, "ok"))
		fprintf(out, "%s%lld row%s\n", indent, (long long)json_integer_value(json_object_get(data, "row_count")),
			json_integer_value(json_object_get(data, "row_count")) == 1 ? "" : "s");
	char *so = safe(data, "stdout");
	int lines = 0;
	for (const char *p = so; *p && lines < 5; lines++) {
		const char *nl = strchr(p, '\n');
		size_t len = nl ? (size_t)(nl - p) : strlen(p);
		fprintf(out, "%s%.*s\n", indent, (int)len, p);
		p += len + (nl ? 1 : 0);
	}
	free(so);
	if (json_is_string(json_object_get(data, "error"))) {
		char *err = safe(data, "error");
		fprintf(out, "%serror: %s\n", indent, err);
		free(err);
	}
}

/* Markdown table cell text: no '|' and no line breaks. */
static void md_cell(const char *s)
{
	for (; *s; s++) {
		if (*s == '|')
			fputs("\\|", stdout);
		else if (*s == '\n')
			fputc(' ', stdout);
		else
			fputc(*s, stdout);
	}
}

int cmd_timeline(int argc, char **argv, struct globals *g)
{
	static const struct option opts[] = {{"output", required_argument, 0, 'o'}, {"verify", no_argument, 0, 'v'},
		{"utc", no_argument, 0, 'u'}, {"store", required_argument, 0, 'S'}, {"runbooks", required_argument, 0, 'R'},
		{0, 0, 0, 0}};
	const char *fmt = "text";
	int check = 0, utc = 0, c;
	optind = 1;
	while ((c = getopt_long(argc, argv, "o:", opts, NULL)) != -1) {
		if (c == 'o' && (!strcmp(optarg, "text") || !strcmp(optarg, "json") || !strcmp(optarg, "markdown")))
			fmt = optarg;
		else if (c == 'v')
			check = 1;
		else if (c == 'u')
			utc = 1;
		else if (c == 'S')
			g->store = optarg;
		else if (c == 'R')
			g->runbooks = optarg;
		else
			return command_usage_error("timeline", "bad option (--output text|json|markdown, --verify, --utc)");
	}
	if (optind != argc - 1)
		return command_usage_error("timeline", "give one incident ID");
	const char *id = argv[optind];
	char *err = NULL;
	struct store *st = store_open(g->store, &err);
	json_t *inc = st ? store_incident_get(st, id, &err) : NULL;
	json_t *events = inc ? store_events(st, id, &err) : NULL;
	if (!events) {
		fprintf(stderr, "runbook timeline: %s\n", err);
		free(err);
		json_decref(inc);
		store_close(st);
		return EXIT_USAGE;
	}
	int rc = EXIT_OK;
	long long bad_seq = 0;
	char *bad = store_verify(events, &bad_seq);
	if (check && bad)
		rc = EXIT_FAIL;
	if (!strcmp(fmt, "json")) {
		json_t *doc = json_pack("{s:O, s:O, s:b}", "incident", inc, "events", events, "verified", !bad);
		if (check)
			json_object_set_new(doc, "first_bad_seq", bad ? json_integer(bad_seq) : json_null());
		report_json(stdout, doc);
		json_decref(doc);
		if (check && bad)
			fprintf(stderr, "%s: timeline verification FAILED: %s\n", id, bad);
	} else if (!strcmp(fmt, "markdown")) {
		char *title = safe(inc, "title");
		printf("# %s: %s\n\n", id, title);
		free(title);
		printf("%s, %s. Times in UTC.\n\n| time | kind | actor | summary |\n|---|---|---|---|\n",
		       json_string_value(json_object_get(inc, "severity")), json_string_value(json_object_get(inc, "status")));
		size_t i;
		json_t *e;
		json_array_foreach(events, i, e) {
			char t[40];
			when(json_string_value(json_object_get(e, "time")), 1, t, sizeof t);
			char *sum = safe(e, "summary"), *actor = safe(e, "actor");
			printf("| %s | %s | ", t, json_string_value(json_object_get(e, "kind")));
			md_cell(actor);
			fputs(" | ", stdout);
			md_cell(sum);
			fputs(" |\n", stdout);
			free(sum);
			free(actor);
		}
		if (check)
			printf("\n%s\n", bad ? "**Verification FAILED**" : "Hash chain verified: every event is intact.");
		if (check && bad) {
			printf("\n");
			md_cell(bad);
			printf("\n");
		}
	} else if (check) { /* text --verify: the verdict alone */
		if (bad)
			fprintf(stderr, "%s: timeline verification FAILED at event %lld: %s\n", id, bad_seq, bad);
		else
			printf("%s: %zu events, hash chain intact\n", id, json_array_size(events));
	} else {
		int color = isatty(1) && !(getenv("NO_COLOR") && *getenv("NO_COLOR"));
		char *title = safe(inc, "title");
		printf("%s%s%s: %s (%s, %s)%s\n", color ? "\033[1m" : "", id, "", title,
		       json_string_value(json_object_get(inc, "severity")), json_string_value(json_object_get(inc, "status")),
		       color ? "\033[0m" : "");
		free(title);
		size_t i;
		json_t *e;
		json_array_foreach(events, i, e) {
			char t[40];
			when(json_string_value(json_object_get(e, "time")), utc, t, sizeof t);
			const char *kind = json_string_value(json_object_get(e, "kind"));
			int finding = !strcmp(kind, "finding");
			char *sum = safe(e, "summary");
			printf("%s  %-18s %s%s%s\n", t, kind, finding && color ? "\033[33m" : "", sum,
			       finding && color ? "\033[0m" : "");
			free(sum);
			if (!strcmp(kind, "step"))
				step_details(stdout, json_object_get(e, "data"), "                       | ");
		}
		if (bad)
			printf("\nWARNING: %s (runbook timeline %s --verify)\n", bad, id);
	}
	free(bad);
	json_decref(events);
	json_decref(inc);
	store_close(st);
	return rc;
}
