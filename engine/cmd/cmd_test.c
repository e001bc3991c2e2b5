/*
 * cmd_test: `runbook test` - each runbook's `tests:` run hermetically:
 * dry-run with the test's fixtures (or a recording), then every
 * expectation is checked and every failure listed, each at the line of its
 * expectation. A step that fails without a fixture saying so (a Lua error,
 * a `when` that does not evaluate) fails the test unless the test expects
 * that status: a test cannot pass while its runbook is broken.
 */
#define _POSIX_C_SOURCE 200809L
#include "alert.h"
#include "cli.h"
#include "exec.h"
#include "path.h"
#include "report.h"
#include "text.h"
#include "util.h"

#include <fnmatch.h>
#include <getopt.h>
#include <stdlib.h>
#include <string.h>

struct failures {
	json_t *list; /* [{line, message}] */
};

static void fail_at(struct failures *f, int line, const char *fmt, ...) __attribute__((format(printf, 3, 4)));
static void fail_at(struct failures *f, int line, const char *fmt, ...)
{
	va_list ap;
	va_start(ap, fmt);
	char *m = xvasprintf(fmt, ap);
	va_end(ap);
	json_array_append_new(f->list, json_pack("{s:i, s:s}", "line", line, "message", m));
	free(m);
}

static int line_of(const struct rb_test *tc, const char *key)
{
	json_t *l = json_object_get(tc->expect_lines, key);
	return l ? (int)json_integer_value(l) : tc->line;
}

static json_t *step_of(json_t *report, const char *id)
{
	size_t i;
	json_t *s;
	json_array_foreach(json_object_get(report, "steps"), i, s)
		if (!strcmp(json_string_value(json_object_get(s, "id")), id))
			return s;
	return NULL;
}

static const char *article(const char *word)
{
	return word && strchr("aeiou", word[0]) ? "an" : "a";
}

/* Every expectation of the test against the report, and every step that
 * failed on its own. */
static void check_expect(const struct rb_test *tc, json_t *report, struct failures *f)
{
	json_t *expect = tc->expect;
	json_t *findings = json_object_get(report, "findings");
	size_t i, j;
	json_t *ef, *fd;
	json_array_foreach(json_object_get(expect, "findings"), i, ef) {
		const char *lv = json_string_value(json_object_get(ef, "level"));
		const char *m = json_string_value(json_object_get(ef, "match"));
		const char *st = json_string_value(json_object_get(ef, "step"));
		int found = 0;
		json_array_foreach(findings, j, fd) {
			if (lv && strcmp(lv, json_string_value(json_object_get(fd, "level"))))
				continue;
			if (m && !strstr(json_string_value(json_object_get(fd, "message")), m))
				continue;
			if (st && strcmp(st, json_string_value(json_object_get(fd, "step"))))
				continue;
			found = 1;
		}
		if (found)
			continue;
		struct sbuf sb;
		sbuf_init(&sb);
		sbuf_addf(&sb, "expected %s %s finding matching \"%s\"%s%s; got ", lv ? article(lv) : "a", lv ? lv : "any",
			  m ? m : "", st ? " from step " : "", st ? st : "");
		if (!json_array_size(findings))
			sbuf_adds(&sb, "no findings");
		json_array_foreach(findings, j, fd)
			sbuf_addf(&sb, "%s%s \"%s\"", j ? ", " : "", json_string_value(json_object_get(fd, "level")),
				  json_string_value(json_object_get(fd, "message")));
		char *key = xasprintf("findings.%zu", i);
		fail_at(f, line_of(tc, key), "%s", sb.buf);
		free(key);
		sbuf_release(&sb);
	}
	const char *id;
	json_t *want;
	json_t *expected_steps = json_object_get(expect, "steps");
	json_object_foreach(expected_steps, id, want) {
		json_t *s = step_of(report, id);
		const char *got = s ? json_string_value(json_object_get(s, "status")) : "missing";
		if (!strcmp(got, json_string_value(want)))
			continue;
		const char *err = s ? json_string_value(json_object_get(s, "error")) : NULL;
		char *key = xasprintf("steps.%s", id);
		fail_at(f, line_of(tc, key), "step %s: expected %s, got %s%s%s", id, json_string_value(want), got,
			err ? ": " : "", err ? err : "");
		free(key);
	}
	/* a step that failed on its own, not because its fixture says so */
	json_t *s;
	json_array_foreach(json_object_get(report, "steps"), i, s) {
		const char *sid = json_string_value(json_object_get(s, "id"));
		const char *st = json_string_value(json_object_get(s, "status"));
		if ((strcmp(st, "failed") && strcmp(st, "timeout")) || json_object_get(expected_steps, sid) ||
		    json_object_get(tc->fixtures, sid))
			continue;
		const char *err = json_string_value(json_object_get(s, "error"));
		fail_at(f, tc->line, "step %s %s unexpectedly%s%s (expect: steps: {%s: %s} if it should)", sid,
			!strcmp(st, "failed") ? "failed" : "timed out", err ? ": " : "", err ? err : "", sid, st);
	}
	json_t *st = json_object_get(expect, "status");
	if (st && strcmp(json_string_value(st), json_string_value(json_object_get(report, "status"))))
		fail_at(f, line_of(tc, "status"), "expected run status %s, got %s", json_string_value(st),
			json_string_value(json_object_get(report, "status")));
}

/* -v: each step's status and error, then the findings. */
static void print_verbose(json_t *report)
{
	size_t i;
	json_t *s;
	json_array_foreach(json_object_get(report, "steps"), i, s) {
		char *err = text_escape_json(json_object_get(s, "error"));
		printf("        %-10s %-24s %s\n", json_string_value(json_object_get(s, "status")),
		       json_string_value(json_object_get(s, "id")), err);
		free(err);
	}
	json_array_foreach(json_object_get(report, "findings"), i, s) {
		char *m = text_escape_json(json_object_get(s, "message"));
		printf("        finding %-8s %s (%s)\n", json_string_value(json_object_get(s, "level")), m,
		       json_string_value(json_object_get(s, "step")));
		free(m);
	}
}

static int selected(const char *pattern, const char *name)
{
	if (!pattern)
		return 1;
	if (strpbrk(pattern, "*?["))
		return fnmatch(pattern, name, 0) == 0;
	return strstr(name, pattern) != NULL;
}

int cmd_test(int argc, char **argv, struct globals *g)
{
	static const struct option opts[] = {{"verbose", no_argument, 0, 'v'}, {"name", required_argument, 0, 'n'},
		{"output", required_argument, 0, 'o'}, {"runbooks", required_argument, 0, 'R'},
		{"store", required_argument, 0, 'S'}, {0, 0, 0, 0}};
	int verbose = 0, json = 0, c;
	const char *pattern = NULL;
	optind = 1;
	while ((c = getopt_long(argc, argv, "vo:", opts, NULL)) != -1) {
		switch (c) {
		case 'v': verbose = 1; break;
		case 'n': pattern = optarg; break;
		case 'R': g->runbooks = optarg; break;
		case 'S': g->store = optarg; break;
		case 'o':
			if (strcmp(optarg, "json") && strcmp(optarg, "text"))
				return command_usage_error("test", "--output is text or json, not '%s'", optarg);
			json = !strcmp(optarg, "json");
			break;
		default:
			return command_usage_error("test", "bad option");
		}
	}
	struct strlist files = {0};
	char *err = NULL;
	if (runbook_collect(argc - optind, argv + optind, g->runbooks, &files, &err)) {
		fprintf(stderr, "runbook test: %s\n", err);
		free(err);
		strlist_free(&files);
		return EXIT_USAGE;
	}
	if (!files.n) {
		fprintf(stderr, "runbook test: no runbooks found (give files or directories, or set --runbooks)\n");
		strlist_free(&files);
		return EXIT_USAGE;
	}
	int passed = 0, failed = 0, invalid = 0;
	json_t *results = json_array();
	for (size_t i = 0; i < files.n && !interrupted; i++) {
		struct diag_list d;
		diag_init(&d);
		struct runbook *rb = runbook_load(files.v[i], &d);
		if (!rb) {
			diag_print(&d, stderr);
			if (!json)
				printf("FAIL  %s: the runbook is invalid\n", files.v[i]);
			json_array_append_new(results, json_pack("{s:s, s:s, s:b, s:[{s:i, s:s}]}", "file", files.v[i],
								 "name", "(the runbook loads)", "passed", 0, "failures",
								 "line", 0, "message", "the runbook is invalid"));
			failed++;
			invalid = 1;
			diag_release(&d);
			continue;
		}
		for (size_t t = 0; t < rb->ntests; t++) {
			const struct rb_test *tc = &rb->tests[t];
			if (!selected(pattern, tc->name ? tc->name : ""))
				continue;
			struct exec_opts o;
			memset(&o, 0, sizeof o);
			o.dry_run = 1;
			o.fixtures = tc->fixtures;
			o.limits = &g->cfg->limits;
			/* the test's alert is normalised exactly as exec --alert does */
			json_t *alert = tc->alert ? alert_normalise(tc->alert) : NULL;
			o.alert = alert;
			json_t *given = json_object();
			const char *k;
			json_t *v;
			json_object_foreach(tc->params, k, v) {
				if (json_is_string(v) || json_is_null(v))
					json_object_set(given, k, v);
				else {
					char *sv = json_dumps(v, JSON_ENCODE_ANY);
					json_object_set_new(given, k, json_string(sv));
					free(sv);
				}
			}
			struct failures f = {json_array()};
			json_t *params = NULL, *report = NULL;
			if (exec_bind_params(rb, given, alert, &params, &err)) {
				fail_at(&f, tc->line, "%s", err);
				free(err);
				err = NULL;
			} else {
				o.params = params;
				report = exec_run(rb, &o, NULL);
				check_expect(tc, report, &f);
			}
			int ok = !json_array_size(f.list);
			if (!json) {
				printf("%s  %s: %s\n", ok ? "ok  " : "FAIL", rb->id, tc->name);
				size_t fi;
				json_t *fe;
				json_array_foreach(f.list, fi, fe)
					printf("      %s:%lld: %s\n", rb->file, (long long)json_integer_value(json_object_get(fe, "line")),
					       json_string_value(json_object_get(fe, "message")));
				if (verbose && report)
					print_verbose(report);
			}
			json_array_append_new(results, json_pack("{s:s, s:s, s:s, s:b, s:o}", "runbook", rb->id, "file",
								 rb->file, "name", tc->name ? tc->name : "", "passed", ok,
								 "failures", f.list));
			if (ok)
				passed++;
			else
				failed++;
			json_decref(report);
			json_decref(alert);
			json_decref(params);
			json_decref(given);
		}
		runbook_free(rb);
		diag_release(&d);
	}
	if (json) {
		json_t *doc = json_pack("{s:o, s:i, s:i}", "tests", results, "passed", passed, "failed", failed);
		report_json(stdout, doc);
		json_decref(doc);
	} else {
		json_decref(results);
		printf("%d passed, %d failed\n", passed, failed);
	}
	strlist_free(&files);
	if (interrupted)
		return interrupted_exit_code();
	return invalid ? EXIT_USAGE : failed ? EXIT_FAIL : EXIT_OK;
}
