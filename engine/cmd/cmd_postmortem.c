/* cmd_postmortem: `runbook postmortem ID [-o FILE]` - the Markdown post-mortem (SPEC section 6). */
#define _POSIX_C_SOURCE 200809L
#include "cli.h"
#include "postmortem.h"
#include "store.h"
#include "util.h"

#include <errno.h>
#include <getopt.h>
#include <stdlib.h>
#include <string.h>

int cmd_postmortem(int argc, char **argv, struct globals *g)
{
	static const struct option opts[] = {{"output-file", required_argument, 0, 'o'}, {"store", required_argument, 0, 'S'},
		{"runbooks", required_argument, 0, 'R'}, {0, 0, 0, 0}};
	const char *file = NULL;
	int c;
	optind = 1;
	while ((c = getopt_long(argc, argv, "o:", opts, NULL)) != -1) {
		if (c == 'o')
			file = optarg;
		else if (c == 'S')
			g->store = optarg;
		else if (c == 'R')
			g->runbooks = optarg;
		else
			return command_usage_error("postmortem", "bad option");
	}
	if (optind != argc - 1)
		return command_usage_error("postmortem", "give one incident ID");
	char *err = NULL;
	struct store *st = store_open(g->store, &err);
	json_t *inc = st ? store_incident_get(st, argv[optind], &err) : NULL;
	json_t *events = inc ? store_events(st, argv[optind], &err) : NULL;
	if (!events) {
		fprintf(stderr, "runbook postmortem: %s\n", err);
		free(err);
		json_decref(inc);
		store_close(st);
		return EXIT_USAGE;
	}
	struct sbuf sb;
	sbuf_init(&sb);
	postmortem_render(&sb, inc, events);
	int rc = command_write("postmortem", file, sb.buf ? sb.buf : "", sb.len);
	if (!rc && file)
		fprintf(stderr, "runbook postmortem: wrote %s\n", file);
	sbuf_release(&sb);
	json_decref(events);
	json_decref(inc);
	store_close(st);
	return rc;
}
