/* cmd_status_page: `runbook status-page [--output markdown|html] [-o FILE]` (SPEC section 6). */
#define _POSIX_C_SOURCE 200809L
#include "cli.h"
#include "config.h"
#include "incident.h"
#include "path.h"
#include "statuspage.h"
#include "store.h"
#include "util.h"

#include <errno.h>
#include <getopt.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

int cmd_status_page(int argc, char **argv, struct globals *g)
{
	static const struct option opts[] = {{"output", required_argument, 0, 'f'}, {"output-file", required_argument, 0, 'o'},
		{"store", required_argument, 0, 'S'}, {"runbooks", required_argument, 0, 'R'}, {0, 0, 0, 0}};
	const char *file = NULL;
	int html = 0, c;
	optind = 1;
	while ((c = getopt_long(argc, argv, "o:", opts, NULL)) != -1) {
		if (c == 'f' && (!strcmp(optarg, "markdown") || !strcmp(optarg, "html")))
			html = !strcmp(optarg, "html");
		else if (c == 'o')
			file = optarg;
		else if (c == 'S')
			g->store = optarg;
		else if (c == 'R')
			g->runbooks = optarg;
		else
			return command_usage_error("status-page", "bad option (--output markdown|html, -o FILE)");
	}
	if (optind != argc)
		return command_usage_error("status-page", "unexpected argument '%s'", argv[optind]);
	char *err = NULL;
	struct store *st = store_open(g->store, &err);
	struct runbook **rbs = NULL;
	size_t n = 0;
	if (st && !json_object_size(g->cfg->components)) { /* else the components the runbooks name */
		struct diag_list d;
		diag_init(&d);
		runbook_catalog(g->runbooks, &rbs, &n, &d);
		diag_release(&d);
	}
	json_t *page = st ? statuspage_from_store(st, g->cfg, rbs, n, (int64_t)time(NULL), &err) : NULL;
	runbook_catalog_free(rbs, n);
	if (!page) {
		fprintf(stderr, "runbook status-page: %s\n", err);
		free(err);
		store_close(st);
		return EXIT_USAGE;
	}
	struct sbuf sb;
	sbuf_init(&sb);
	if (html)
		statuspage_html(&sb, page);
	else
		statuspage_markdown(&sb, page);
	int rc = command_write("status-page", file, sb.buf ? sb.buf : "", sb.len);
	sbuf_release(&sb);
	json_decref(page);
	store_close(st);
	return rc;
}
