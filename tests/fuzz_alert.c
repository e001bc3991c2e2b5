/*
 * libFuzzer harness for alert payloads: arbitrary bytes as the JSON that
 * `--alert` reads, parsed and normalised. Build and run:
 *   make fuzz && ./tests/fuzz_alert -max_total_time=60 CORPUS_DIR
 * Any crash, leak or sanitizer report is a bug, and so is a parsed alert
 * that alert_is_normalised refuses (triage relies on that shape).
 */
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>

#include "alert.h"
#include "diag.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct diag_list d;
	diag_init(&d);
	json_t *a = alert_parse("fuzz.json", (const char *)data, size, &d);
	size_t i;
	json_t *one;
	json_array_foreach(a, i, one)
		if (!alert_is_normalised(one))
			abort();
	json_decref(a);
	diag_release(&d);
	return 0;
}
