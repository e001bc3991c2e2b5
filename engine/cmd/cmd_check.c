/* cmd_check: `runbook check [FILE|DIR]...` - every error, file:line:col. */
#define _POSIX_C_SOURCE 200809L
#include "cli.h"
#include "path.h"
#include "util.h"

#include <stdlib.h>
#include <string.h>

int cmd_check(int argc, char **argv, struct globals *g)
{
	int first = command_options(argc, argv, g, "check", NULL);
	if (first < 0)
		return EXIT_USAGE;
	struct strlist files = {0};
	char *err = NULL;
	if (runbook_collect(argc - first, argv + first, g->runbooks, &files, &err)) {
		fprintf(stderr, "runbook check: %s\n", err);
		free(err);
		strlist_free(&files);
		return EXIT_USAGE;
	}
	if (!files.n) {
		fprintf(stderr, "runbook check: no runbook files found\n");
		strlist_free(&files);
		return EXIT_USAGE;
	}
	struct diag_list d;
	diag_init(&d);
	struct strlist ids = {0}, idfiles = {0};
	size_t bad = 0;
	for (size_t i = 0; i < files.n; i++) {
		size_t before = d.n;
		struct runbook *rb = runbook_load(files.v[i], &d);
		if (rb) {
			for (size_t k = 0; k < ids.n; k++)
				if (!strcmp(ids.v[k], rb->id))
					diag_add(&d, rb->file, 1, 1, "runbook id '%s' is also defined in %s (the first file wins)",
						 rb->id, idfiles.v[k]);
			strlist_push(&ids, rb->id);
			strlist_push(&idfiles, rb->file);
		}
		if (d.n > before)
			bad++;
		runbook_free(rb);
	}
	diag_print(&d, stderr);
	if (d.n)
		fprintf(stderr, "%zu error%s in %zu of %zu runbook%s\n", d.n, d.n == 1 ? "" : "s", bad, files.n,
			files.n == 1 ? "" : "s");
	else
		printf("%zu runbook%s ok\n", files.n, files.n == 1 ? "" : "s");
	int rc = d.n ? EXIT_USAGE : EXIT_OK;
	diag_release(&d);
	strlist_free(&ids);
	strlist_free(&idfiles);
	strlist_free(&files);
	return rc;
}
