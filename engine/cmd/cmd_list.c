/* cmd_list: `runbook list` - the runbooks on the path. */
#define _POSIX_C_SOURCE 200809L
#include "cli.h"
#include "path.h"
#include "report.h"
#include "util.h"

#include <stdlib.h>
#include <string.h>

int cmd_list(int argc, char **argv, struct globals *g)
{
	int json = 0;
	int first = command_options(argc, argv, g, "list", &json);
	if (first < 0)
		return EXIT_USAGE;
	if (first < argc)
		return command_usage_error("list", "unexpected argument '%s'", argv[first]);
	struct strlist files = {0};
	char *err = NULL;
	runbook_collect(0, NULL, g->runbooks, &files, &err);
	json_t *out = json_array();
	struct strlist seen = {0};
	int broken = 0;
	for (size_t i = 0; i < files.n; i++) {
		struct diag_list d;
		diag_init(&d);
		struct runbook *rb = runbook_load(files.v[i], &d);
		if (!rb) {
			fprintf(stderr, "runbook list: skipping %s: %zu error%s (`runbook check %s` shows them)\n",
				files.v[i], d.n, d.n == 1 ? "" : "s", files.v[i]);
			broken++;
		} else {
			int dup = 0;
			size_t k;
			for (k = 0; k < seen.n && !dup; k++)
				dup = !strcmp(seen.v[k], rb->id);
			if (dup) {
				size_t at;
				json_t *r;
				json_array_foreach(out, at, r)
					if (!strcmp(json_string_value(json_object_get(r, "id")), rb->id))
						fprintf(stderr, "runbook list: warning: %s also defines '%s' (the first, %s, wins)\n",
							files.v[i], rb->id, json_string_value(json_object_get(r, "file")));
			} else {
				strlist_push(&seen, rb->id);
				json_array_append_new(out, json_pack("{s:s, s:s, s:s, s:s}", "id", rb->id, "title",
								     rb->title, "severity", rb->severity, "file", rb->file));
			}
		}
		runbook_free(rb);
		diag_release(&d);
	}
	if (json) {
		report_json(stdout, out);
	} else if (!json_array_size(out)) {
		printf("no runbooks on the runbook path (--runbooks DIR, RUNBOOK_PATH or ./runbooks)\n");
	} else {
		size_t i;
		json_t *r;
		printf("%-24s %-5s %-44s %s\n", "ID", "SEV", "TITLE", "FILE");
		json_array_foreach(out, i, r)
			printf("%-24s %-5s %-44s %s\n", json_string_value(json_object_get(r, "id")),
			       json_string_value(json_object_get(r, "severity")), json_string_value(json_object_get(r, "title")),
			       json_string_value(json_object_get(r, "file")));
	}
	json_decref(out);
	strlist_free(&seen);
	strlist_free(&files);
	return EXIT_OK;
}
