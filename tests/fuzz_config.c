/*
 * libFuzzer harness for the configuration file: arbitrary bytes through
 * the YAML tree and every config check. Build and run:
 *   make fuzz && ./tests/fuzz_config -max_total_time=60 CORPUS_DIR
 * Any crash, leak or sanitizer report is a bug.
 */
#include <stddef.h>
#include <stdint.h>

#include "config.h"
#include "diag.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct diag_list d;
	diag_init(&d);
	struct config cfg;
	config_parse("fuzz.yaml", (const char *)data, size, &cfg, &d);
	config_release(&cfg);
	diag_release(&d);
	return 0;
}
