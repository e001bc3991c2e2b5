/* cmd_store: `runbook store sync` - fallback incidents into the configured store. */
#define _POSIX_C_SOURCE 200809L
#include "cli.h"
#include "redact.h"
#include "store.h"
#include "store_sync.h"
#include "util.h"

#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

int cmd_store(int argc, char **argv, struct globals *g)
{
	int first = command_options(argc, argv, g, "store", NULL);
	if (first < 0)
		return EXIT_USAGE;
	if (argc - first != 1 || strcmp(argv[first], "sync"))
		return command_usage_error("store", "the subcommand is sync");
	char *url = store_default_url(g->store);
	char *fb = store_fallback_url();
	int rc = EXIT_OK;
	char *err = NULL;
	struct stat sb;
	struct store *to = NULL, *from = NULL;
	if (!strcmp(url, fb)) {
		fprintf(stderr, "runbook store sync: the configured store is the fallback store itself (%s)\n", fb + 7);
		rc = EXIT_USAGE;
	} else if (stat(fb + 7, &sb)) {
		printf("nothing to sync: no fallback store at %s\n", fb + 7);
	} else if (!(to = store_open(url, &err))) {
		char *safe = redact_dsn(err);
		fprintf(stderr, "runbook store sync: the configured store cannot be reached yet: %s\n", safe);
		free(safe);
		rc = EXIT_FAIL;
	} else if (!(from = store_open(fb, &err))) {
		fprintf(stderr, "runbook store sync: %s\n", err);
		rc = EXIT_FAIL;
	} else if (store_sync(to, url, from, fb + 7, stdout, &err)) {
		fprintf(stderr, "runbook store sync: %s\n", err);
		rc = EXIT_FAIL;
	}
	free(err);
	store_close(from);
	store_close(to);
	free(fb);
	free(url);
	return rc;
}
