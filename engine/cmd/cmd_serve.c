/* cmd_serve: `runbook serve` - the HTTP API (SPEC section 7). See serve.h. */
#define _POSIX_C_SOURCE 200809L
#include "cli.h"
#include "config.h"
#include "pool.h"
#include "path.h"
#include "runbook.h"
#include "serve.h"
#include "store.h"
#include "util.h"

#include <getopt.h>
#include <signal.h>
#include <stdlib.h>
#include <string.h>

int cmd_serve(int argc, char **argv, struct globals *g)
{
	static const struct option opts[] = {{"listen", required_argument, 0, 'l'}, {"work", no_argument, 0, 'w'},
		{"threads", required_argument, 0, 't'}, {"reescalate-every", required_argument, 0, 'e'},
		{"lease", required_argument, 0, 'L'}, {"store", required_argument, 0, 'S'},
		{"runbooks", required_argument, 0, 'R'}, {0, 0, 0, 0}};
	struct serve_opts o = {0};
	o.listen = json_string_value(json_object_get(g->cfg->serve, "listen"));
	o.threads = (int)json_integer_value(json_object_get(g->cfg->serve, "triage_threads"));
	o.reescalate_s = 30;
	o.lease_s = 60;
	int c;
	optind = 1;
	while ((c = getopt_long(argc, argv, "", opts, NULL)) != -1) {
		switch (c) {
		case 'l': o.listen = optarg; break;
		case 'w': o.work = 1; break;
		case 'S': g->store = optarg; break;
		case 'R': g->runbooks = optarg; break;
		case 't':
			if ((o.threads = command_count(optarg, 1, 100000)) < 0)
				return command_usage_error("serve", "--threads is a number of at least 1, not '%s'", optarg);
			break;
		case 'e':
			if ((o.reescalate_s = command_count(optarg, 0, 100000)) < 0)
				return command_usage_error("serve", "--reescalate-every is seconds (0: never), not '%s'", optarg);
			break;
		case 'L':
			if ((o.lease_s = command_count(optarg, 3, 100000)) < 0)
				return command_usage_error("serve", "--lease is seconds (at least 3), not '%s'", optarg);
			break;
		default:
			return command_usage_error("serve", "bad option");
		}
	}
	if (optind != argc)
		return command_usage_error("serve", "unexpected argument '%s'", argv[optind]);
	if (!o.listen)
		o.listen = "127.0.0.1:9464";
	if (o.threads <= 0)
		o.threads = 4;
	char *url = store_default_url(g->store);
	o.store_url = url;
	o.cfg = g->cfg;
	command_catalog("serve", g, &o.rbs, &o.nrb);
	command_block_signals(); /* before any thread starts: only the main thread takes them */
	char *err = NULL;
	struct server *s = serve_start(&o, &err);
	if (!s) {
		fprintf(stderr, "runbook serve: %s\n", err);
		free(err);
		runbook_catalog_free(o.rbs, o.nrb);
		free(url);
		return EXIT_USAGE;
	}
	int shared = store_url_shared(url) == 1;
	fprintf(stderr, "runbook serve: listening on http://%s (%zu runbooks; %s)\n", serve_address(s), o.nrb,
		!shared || o.work ? "triaging here" : "queueing for `runbook worker`s");
	int sig = command_wait_for_signal();
	fprintf(stderr, "runbook serve: %s: stopping; finishing what is in flight (up to %d s; %s again stops it now)\n",
		sig == SIGINT ? "SIGINT" : "SIGTERM", SERVE_DRAIN_MS / 1000, sig == SIGINT ? "Ctrl-C" : "a signal");
	serve_stop(s, command_wait_for_signal_until);
	fprintf(stderr, "runbook serve: stopped\n");
	runbook_catalog_free(o.rbs, o.nrb);
	free(url);
	return EXIT_OK;
}
