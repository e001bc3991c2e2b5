/* Shared declarations of the Check suites and their small helpers. */
#ifndef RUNBOOK_TESTS_H
#define RUNBOOK_TESTS_H

#include <check.h>
#include <jansson.h>

#include "diag.h"
#include "runbook.h"

Suite *suite_loader(void);
Suite *suite_sandbox(void);
Suite *suite_template(void);
Suite *suite_executor(void);
Suite *suite_cli(void);
Suite *suite_actions(void);
Suite *suite_store(void);
Suite *suite_store_pg(void);
Suite *suite_text(void);
Suite *suite_match(void);

/* Parses YAML text as a runbook named "t.yaml"; diags collects errors. */
struct runbook *parse_rb(const char *yaml, struct diag_list *d);
/* True when some diagnostic is at line:col (col 0: any) and contains text. */
int has_diag(const struct diag_list *d, int line, int col, const char *text);

#endif
