/*
 * cmd_test: `runbook test` - each runbook's `tests:` run hermetically:
 * dry-run with the test's fixtures, then its expectations are checked.
 */
#define _POSIX_C_SOURCE 200809L
#include "alert.h"
#include "cli.h"
#include "exec.h"
#include "path.h"
#include "util.h"

#include <stdlib.h>
#include <string.h>

/* Checks report against expect; returns a new failure description or NULL. */
static char *check_expect(json_t *expect, json_t *report)
{
	json_t *findings = json_object_get(report, "findings");
	size_t i, j;
	json_t *ef, *f;
	json_array_foreach(json_object_get(expect, "findings"), i, ef) {
		const char *lv = json_string_value(json_object_get(ef, "level"));
		const char *m = json_string_value(json_object_get(ef, "match"));
		const char *st = json_string_value(json_object_get(ef, "step"));
		int found = 0;
		json_array_foreach(findings, j, f) {
			if (lv && strcmp(lv, json_string_value(json_object_get(f, "level"))))
				continue;
			if (m && !strstr(json_string_value(json_object_get(f, "message")), m))
				continue;
			if (st && strcmp(st, json_string_value(json_object_get(f, "step"))))
				continue;
			found = 1;
		}
		if (!found) {
			struct sbuf sb;
			sbuf_init(&sb);
			sbuf_addf(&sb, "expected a %s finding matching \"%s\"; got ", lv ? lv : "", m ? m : "");
			if (!json_array_size(findings))
				sbuf_adds(&sb, "no findings");
			json_array_foreach(findings, j, f)
				sbuf_addf(&sb, "%s%s \"%s\"", j ? ", " : "", json_string_value(json_object_get(f, "level")),
					  json_string_value(json_object_get(f, "message")));
			return sbuf_detach(&sb);
		}
	}
	const char *id;
	json_t *want;
	json_object_foreach(json_object_get(expect, "steps"), id, want) {
		json_t *s;
		const char *got = "missing";
		json_array_foreach(json_object_get(report, "steps"), i, s)
			if (!strcmp(json_string_value(json_object_get(s, "id")), id))
				got = json_string_value(json_object_get(s, "status"));
		if (strcmp(got, json_string_value(want))) {
			json_t *s2;
			const char *err = NULL;
			json_array_foreach(json_object_get(report, "steps"), i, s2)
				if (!strcmp(json_string_value(json_object_get(s2, "id")), id))
					err = json_string_value(json_object_get(s2, "error"));
			return xasprintf("step %s: expected %s, got %s%s%s", id, json_string_value(want), got,
					 err ? ": " : "", err ? err : "");
		}
	}
	json_t *st = json_object_get(expect, "status");
	if (st && strcmp(json_string_value(st), json_string_value(json_object_get(report, "status"))))
		return xasprintf("expected run status %s, got %s", json_string_value(st),
				 json_string_value(json_object_get(report, "status")));
	return NULL;
}

int cmd_test(int argc, char **argv, struct globals *g)
{
	int first = command_options(argc, argv, g, "test", NULL);
	if (first < 0)
		return EXIT_USAGE;
	struct strlist files = {0};
	char *err = NULL;
	if (runbook_collect(argc - first, argv + first, g->runbooks, &files, &err)) {
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
	for (size_t i = 0; i < files.n && !interrupted; i++) {
		struct diag_list d;
		diag_init(&d);
		struct runbook *rb = runbook_load(files.v[i], &d);
		if (!rb) {
			diag_print(&d, stderr);
			printf("FAIL  %s: the runbook is invalid\n", files.v[i]);
			failed++;
			invalid = 1;
			diag_release(&d);
			continue;
		}
		for (size_t t = 0; t < rb->ntests; t++) {
			const struct rb_test *tc = &rb->tests[t];
			struct exec_opts o;
			memset(&o, 0, sizeof o);
			o.dry_run = 1;
			o.fixtures = tc->fixtures;
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
					char *s = json_dumps(v, JSON_ENCODE_ANY);
					json_object_set_new(given, k, json_string(s));
					free(s);
				}
			}
			json_t *params = NULL;
			char *why = NULL;
			if (exec_bind_params(rb, given, alert, &params, &err)) {
				why = err;
				err = NULL;
			} else {
				o.params = params;
				json_t *report = exec_run(rb, &o, NULL);
				why = check_expect(tc->expect, report);
				json_decref(report);
			}
			if (why) {
				printf("FAIL  %s: %s\n      %s:%d: %s\n", rb->id, tc->name, rb->file, tc->line, why);
				failed++;
			} else {
				printf("ok    %s: %s\n", rb->id, tc->name);
				passed++;
			}
			free(why);
			json_decref(alert);
			json_decref(params);
			json_decref(given);
		}
		runbook_free(rb);
		diag_release(&d);
	}
	printf("%d passed, %d failed\n", passed, failed);
	strlist_free(&files);
	if (interrupted)
		return interrupted_exit_code();
	return invalid ? EXIT_USAGE : failed ? EXIT_FAIL : EXIT_OK;
}
