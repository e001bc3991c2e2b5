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

/* The components to show: the config's, else those the runbooks name. */
static json_t *components(struct globals *g)
{
	json_t *out = json_array();
	const char *k;
	json_t *v;
	json_object_foreach(g->cfg->components, k, v)
		json_array_append_new(out, json_string(k));
	if (json_array_size(out))
		return out;
	struct runbook **rbs;
	size_t n;
	struct diag_list d;
	diag_init(&d);
	runbook_catalog(g->runbooks, &rbs, &n, &d);
	diag_release(&d);
	for (size_t i = 0; i < n; i++) {
		if (!rbs[i]->component)
			continue;
		int dup = 0;
		size_t j;
		json_t *c;
		json_array_foreach(out, j, c)
			dup |= !strcmp(json_string_value(c), rbs[i]->component);
		if (!dup)
			json_array_append_new(out, json_string(rbs[i]->component));
	}
	runbook_catalog_free(rbs, n);
	return out;
}

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
	json_t *all = st ? store_incident_list(st, &err) : NULL;
	if (!all) {
		fprintf(stderr, "runbook status-page: %s\n", err);
		free(err);
		store_close(st);
		return EXIT_USAGE;
	}
	/* the timelines of resolved incidents: their impact and root cause */
	json_t *notes = json_object();
	size_t i;
	json_t *inc;
	json_array_foreach(all, i, inc) {
		if (strcmp(json_string_value(json_object_get(inc, "status")), "resolved"))
			continue;
		json_t *ev = store_events(st, json_string_value(json_object_get(inc, "id")), &err);
		free(err);
		err = NULL;
		if (ev)
			json_object_set_new(notes, json_string_value(json_object_get(inc, "id")), ev);
	}
	json_t *comps = components(g);
	json_t *page = statuspage_build(comps, all, notes, (int64_t)time(NULL));
	struct sbuf sb;
	sbuf_init(&sb);
	if (html)
		statuspage_html(&sb, page);
	else
		statuspage_markdown(&sb, page);
	int rc = command_write("status-page", file, sb.buf ? sb.buf : "", sb.len);
	sbuf_release(&sb);
	json_decref(page);
	json_decref(comps);
	json_decref(notes);
	json_decref(all);
	store_close(st);
	return rc;
}
