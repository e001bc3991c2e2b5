/*
 * path: where runbooks are found (SPEC section 2): --runbooks DIR[:DIR...],
 * else RUNBOOK_PATH, else ./runbooks, $XDG_CONFIG_HOME/runbook/runbooks and
 * the installed library. The first file that defines an id wins.
 */
#ifndef RUNBOOK_PATH_H
#define RUNBOOK_PATH_H

#include <stddef.h>

#include "diag.h"
#include "runbook.h"

struct strlist {
	char **v;
	size_t n, cap;
};
void strlist_push(struct strlist *l, const char *s);
void strlist_free(struct strlist *l);

/* The runbook path directories in search order. */
void runbook_path(const char *opt, struct strlist *dirs);
/* Adds the *.yaml / *.yml files of a directory (sorted), or the file itself. */
int runbook_files(const char *path, struct strlist *files, char **err);

/*
 * Finds and loads runbook `name` (an id on the path, or a file path).
 * Returns the runbook, or NULL with errors in diags (invalid file) or *err
 * (not found).
 */
struct runbook *runbook_find(const char *name, const char *opt, struct diag_list *diags, char **err);

/* Every runbook on the path that loads, the first of each id (new list in
 * *out; free with runbook_catalog_free). Files that do not load are
 * reported in broken (their first error each). */
int runbook_catalog(const char *opt, struct runbook ***out, size_t *n, struct diag_list *broken);
void runbook_catalog_free(struct runbook **rbs, size_t n);

/* Every runbook file on the path, or under the given FILE|DIR arguments
 * when there are any. A missing argument is an error (*err). */
int runbook_collect(int argc, char **argv, const char *opt, struct strlist *files, char **err);
#endif
