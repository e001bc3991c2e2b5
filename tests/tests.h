/* Shared declarations of the Check suites and their small helpers. */
#ifndef RUNBOOK_TESTS_H
#define RUNBOOK_TESTS_H

#include <check.h>
#include <jansson.h>

#include "diag.h"
#include "runbook.h"

/* Every suite, once: the runner adds them in this order. X(name) is one
 * Suite *suite_<name>(void) in tests/check_<module>.c. */
#define RUNBOOK_SUITES(X) \
	X(loader)         \
	X(sandbox)        \
	X(template)       \
	X(executor)       \
	X(actions)        \
	X(text)           \
	X(match)          \
	X(redact)         \
	X(store)          \
	X(incident)       \
	X(cli)

#define RUNBOOK_SUITE_DECL(name) Suite *suite_##name(void);
RUNBOOK_SUITES(RUNBOOK_SUITE_DECL)
/* The PostgreSQL store suite: empty unless a test server was started for
 * it (tests/sql_test.sh), so the runner adds it only then. */
Suite *suite_store_pg(void);

/* Parses YAML text as a runbook named "t.yaml"; diags collects errors. */
struct runbook *parse_rb(const char *yaml, struct diag_list *d);
/* True when some diagnostic is at line:col (col 0: any) and contains text. */
int has_diag(const struct diag_list *d, int line, int col, const char *text);

#endif
