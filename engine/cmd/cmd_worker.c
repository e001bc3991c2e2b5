/* cmd_worker: `runbook worker` - triage queued alerts from a PostgreSQL store (SPEC section 7). See pool.h. */
#define _POSIX_C_SOURCE 200809L
#include "cli.h"
#include "config.h"
#include "pool.h"
#include "path.h"
#include "runbook.h"
#include "store.h"
#include "util.h"

#include <getopt.h>
#include <signal.h>
#include <stdlib.h>
#include <string.h>

int cmd_worker(int argc, char **argv, struct globals *g)
{
	static const struct option opts[] = {{"concurrency", required_argument, 0, 'c'},
		{"reescalate-every", required_argument, 0, 'e'}, {"lease", required_argument, 0, 'L'},
		{"store", required_argument, 0, 'S'}, {"runbooks", required_argument, 0, 'R'}, {0, 0, 0, 0}};
	struct tpool_opts po = {4, 60, 30};
	int c;
	optind = 1;
	while ((c = getopt_long(argc, argv, "", opts, NULL)) != -1) {
		switch (c) {
		case 'S': g->store = optarg; break;
		case 'R': g->runbooks = optarg; break;
		case 'c':
			if ((po.threads = command_count(optarg, 1, 64)) < 0)
				return command_usage_error("worker", "--concurrency is 1 to 64, not '%s'", optarg);
			break;
		case 'e':
			if ((po.reescalate_s = command_count(optarg, 0, 100000)) < 0)
				return command_usage_error("worker", "--reescalate-every is seconds (0: never), not '%s'", optarg);
			break;
		case 'L':
			if ((po.lease_s = command_count(optarg, 3, 100000)) < 0)
				return command_usage_error("worker", "--lease is seconds (at least 3), not '%s'", optarg);
			break;
		default:
			return command_usage_error("worker", "bad option");
		}
	}
	if (optind != argc)
		return command_usage_error("worker", "unexpected argument '%s'", argv[optind]);
	char *url = store_default_url(g->store);
	if (store_url_shared(url) == 0) {
		fprintf(stderr, "runbook worker: workers share a PostgreSQL store (--store or RUNBOOK_STORE); with "
				"an SQLite store `runbook serve` triages its own queue\n");
		free(url);
		return EXIT_USAGE;
	}
	struct runbook **rbs;
	size_t n;
	command_catalog("worker", g, &rbs, &n);
	struct triage t = {g->cfg, url, rbs, n, po.threads};
	command_block_signals();
	char *err = NULL;
	struct tpool *p = tpool_start(&t, &po, &err);
	if (!p) {
		fprintf(stderr, "runbook worker: %s\n", err);
		free(err);
		runbook_catalog_free(rbs, n);
		free(url);
		return EXIT_USAGE;
	}
	fprintf(stderr, "runbook worker: claiming alerts (%d at once, %zu runbooks)\n", po.threads, n);
	int sig = command_wait_for_signal();
	fprintf(stderr, "runbook worker: %s: finishing the alerts in hand (up to %d s; %s again stops them now)\n",
		sig == SIGINT ? "SIGINT" : "SIGTERM", TPOOL_DRAIN_MS / 1000, sig == SIGINT ? "Ctrl-C" : "a signal");
	tpool_drain(p, now_ms() + TPOOL_DRAIN_MS, command_wait_for_signal_until);
	long long done = tpool_done(p);
	tpool_stop(p); /* a diagnosis still running is cancelled: its alert goes back to the queue */
	fprintf(stderr, "runbook worker: stopped after %lld alerts\n", done);
	runbook_catalog_free(rbs, n);
	free(url);
	return EXIT_OK;
}
