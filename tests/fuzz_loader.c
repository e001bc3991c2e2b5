/*
 * libFuzzer harness for the runbook loader: YAML tree, validation, template
 * splitting and Lua syntax checks on arbitrary bytes. Build and run:
 *   make fuzz && ./tests/fuzz_loader -max_total_time=60 CORPUS_DIR runbooks tests/fixtures
 * Any crash, leak or sanitizer report is a bug.
 */
#include <stddef.h>
#include <stdint.h>

#include "diag.h"
#include "runbook.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct diag_list d;
	diag_init(&d);
	struct runbook *rb = runbook_parse("fuzz.yaml", (const char *)data, size, &d);
	runbook_free(rb);
	diag_release(&d);
	return 0;
}
