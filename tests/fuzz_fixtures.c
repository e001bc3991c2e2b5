/*
 * libFuzzer harness for fixtures files: arbitrary bytes as the JSON that
 * `--fixtures` reads, checked against a runbook with every action kind;
 * what passes the check is replayed (a dry run) and printed as the text
 * report. Build and run:
 *   make fuzz && ./tests/fuzz_fixtures -max_total_time=60 CORPUS_DIR
 * Any crash, leak or sanitizer report is a bug.
 */
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>

#include "diag.h"
#include "exec.h"
#include "fixture.h"
#include "report.h"
#include "runbook.h"

static const char runbook_yaml[] =
	"runbook: fz\n"
	"title: every action\n"
	"targets:\n"
	"  db: {type: postgres, dsn: \"postgres://u:pw-secret@127.0.0.1:1/x\"}\n"
	"  web: {type: ssh, hosts: [a, b]}\n"
	"steps:\n"
	"  - {id: q, sql: SELECT 1 AS n}\n"
	"  - {id: s, ssh: uptime}\n"
	"  - {id: sh, shell: \"true\"}\n"
	"  - {id: h, http: {url: \"http://127.0.0.1:1/\"}}\n"
	"  - {id: n, notify: {to: \"@x\", message: m}}\n"
	"  - id: l\n"
	"    lua: |\n"
	"      local r = steps.q.rows and steps.q.rows[1]\n"
	"      if r then finding('info', tostring(r.n)) end\n"
	"      return {h = steps.s.hosts ~= nil}\n";

static struct runbook *rb;

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct diag_list d;
	diag_init(&d);
	if (!rb)
		rb = runbook_parse("fz.yaml", runbook_yaml, sizeof runbook_yaml - 1, &d);
	json_t *fx = rb ? fixture_parse(rb, "fuzz.json", (const char *)data, size, &d, NULL, NULL) : NULL;
	if (fx) {
		struct exec_opts o;
		memset(&o, 0, sizeof o);
		o.dry_run = 1;
		o.fixtures = fx;
		json_t *report = exec_run(rb, &o, NULL);
		FILE *null = fopen("/dev/null", "w");
		if (null) {
			report_text(null, 0, report);
			report_json(null, report);
			fclose(null);
		}
		json_decref(report);
		json_decref(fx);
	}
	diag_release(&d);
	return 0;
}
