/*
 * libFuzzer harness for alert payloads: arbitrary bytes as the JSON that
 * `--alert` reads, parsed and normalised. Build and run:
 *   make fuzz && ./tests/fuzz_alert -max_total_time=60 CORPUS_DIR
 * Any crash, leak or sanitizer report is a bug.
 */
#include <stddef.h>
#include <stdint.h>

#include "alert.h"
#include "diag.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct diag_list d;
	diag_init(&d);
	json_t *a = alert_parse("fuzz.json", (const char *)data, size, &d);
	json_decref(a);
	diag_release(&d);
	return 0;
}
