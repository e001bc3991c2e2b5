/*
 * CLI tests: the real binary ($RUNBOOK_BIN), its exit codes, help, JSON
 * output and the --record / --fixtures round trip.
 */
#define _POSIX_C_SOURCE 200809L
#include "tests.h"
#include "util.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>

/* Runs the binary with args (a shell fragment); returns its exit code and
 * its stdout and stderr (caller frees). */
static int rb(const char *args, char **out, char **err)
{
	const char *bin = getenv("RUNBOOK_BIN");
	ck_assert_msg(bin != NULL, "RUNBOOK_BIN is not set");
	char errpath[] = "/tmp/runbook-cli-XXXXXX";
	int fd = mkstemp(errpath);
	ck_assert_int_ge(fd, 0);
	char *cmd = xasprintf("%s %s 2>%s </dev/null", bin, args, errpath);
	FILE *p = popen(cmd, "r");
	struct sbuf sb;
	sbuf_init(&sb);
	char buf[4096];
	size_t n;
	while ((n = fread(buf, 1, sizeof buf, p)) > 0)
		sbuf_add(&sb, buf, n);
	int st = pclose(p);
	char *e = NULL, *ebuf;
	size_t elen;
	if (read_file(errpath, 1 << 20, &ebuf, &elen, &e) == 0) {
		if (err)
			*err = ebuf;
		else
			free(ebuf);
	}
	free(e);
	unlink(errpath);
	close(fd);
	free(cmd);
	*out = sbuf_detach(&sb);
	return WIFEXITED(st) ? WEXITSTATUS(st) : 128 + WTERMSIG(st);
}

START_TEST(version_and_help)
{
	char *out, *err;
	ck_assert_int_eq(rb("--version", &out, &err), 0);
	ck_assert_ptr_nonnull(strstr(out, "runbook 0."));
	free(out), free(err);
	ck_assert_int_eq(rb("--help", &out, &err), 0);
	const char *cmds[] = {"list", "show", "check", "exec", "test"};
	for (size_t i = 0; i < ARRAY_LEN(cmds); i++)
		ck_assert_ptr_nonnull(strstr(out, cmds[i]));
	free(out), free(err);
	ck_assert_int_eq(rb("exec --help", &out, &err), 0);
	ck_assert_ptr_nonnull(strstr(out, "--dry-run"));
	ck_assert_ptr_nonnull(strstr(out, "--fixtures"));
	free(out), free(err);
	ck_assert_int_eq(rb("exce", &out, &err), 2);
	ck_assert_ptr_nonnull(strstr(err, "did you mean 'exec'"));
	free(out), free(err);
	ck_assert_int_eq(rb("exec", &out, &err), 2);
	ck_assert_ptr_nonnull(strstr(err, "usage: runbook exec"));
	free(out), free(err);
}
END_TEST

START_TEST(check_reports_file_line_col)
{
	char *out, *err;
	ck_assert_int_eq(rb("check fixtures/broken.yaml", &out, &err), 2);
	ck_assert_ptr_nonnull(strstr(err, "fixtures/broken.yaml:3:1: unknown key 'stpes' in a runbook (did you mean 'steps'?)"));
	ck_assert_ptr_nonnull(strstr(err, "fixtures/broken.yaml:8:37: ${...} is not allowed in sql text"));
	ck_assert_ptr_nonnull(strstr(err, "fixtures/broken.yaml:10:9: duplicate step id 'q'"));
	ck_assert_ptr_nonnull(strstr(err, "fixtures/broken.yaml:13:7: Lua syntax error"));
	free(out), free(err);
	ck_assert_int_eq(rb("check ../runbooks", &out, &err), 0);
	ck_assert_ptr_nonnull(strstr(out, "ok"));
	free(out), free(err);
	ck_assert_int_eq(rb("check no/such/dir", &out, &err), 2);
	free(out), free(err);
}
END_TEST

START_TEST(list_show_test)
{
	char *out, *err;
	ck_assert_int_eq(rb("--runbooks ../runbooks list --output json", &out, &err), 0);
	json_error_t je;
	json_t *j = json_loads(out, 0, &je);
	ck_assert_ptr_nonnull(j);
	/* the library, by id */
	static const char *const ids[] = {"api-latency", "db-connections", "disk-full", "lock-contention", "replication-lag"};
	ck_assert_uint_eq(json_array_size(j), 5);
	for (size_t i = 0; i < 5; i++)
		ck_assert_str_eq(json_string_value(json_object_get(json_array_get(j, i), "id")), ids[i]);
	json_decref(j);
	free(out), free(err);
	ck_assert_int_eq(rb("--runbooks ../runbooks show db-connections", &out, &err), 0);
	ck_assert_ptr_nonnull(strstr(out, "terminate (sql on primary) MUTATES"));
	free(out), free(err);
	ck_assert_int_eq(rb("--runbooks ../runbooks show nope", &out, &err), 2);
	ck_assert_ptr_nonnull(strstr(err, "no runbook named 'nope'"));
	free(out), free(err);
	ck_assert_int_eq(rb("test ../runbooks", &out, &err), 0);
	ck_assert_ptr_nonnull(strstr(out, "15 passed, 0 failed"));
	free(out), free(err);
	/* the specification's example, verbatim, with DATABASE_URL unset */
	ck_assert_int_eq(rb("check fixtures/spec-example.yaml", &out, &err), 0);
	free(out), free(err);
	ck_assert_int_eq(rb("test fixtures/spec-example.yaml", &out, &err), 0);
	ck_assert_ptr_nonnull(strstr(out, "1 passed, 0 failed"));
	free(out), free(err);
}
END_TEST

START_TEST(exec_json_and_round_trip)
{
	char *out, *err;
	ck_assert_int_eq(rb("--runbooks ../runbooks exec db-connections --fixtures fixtures/db-connections-saturated.json "
			    "--output json -p top=5",
			    &out, &err),
			 0);
	json_error_t je;
	json_t *j = json_loads(out, 0, &je);
	ck_assert_msg(j != NULL, "stdout is not one JSON document: %s", je.text);
	ck_assert_str_eq(json_string_value(json_object_get(j, "runbook")), "db-connections");
	ck_assert(json_is_true(json_object_get(j, "dry_run")));
	ck_assert_int_eq(json_integer_value(json_object_get(json_object_get(j, "params"), "top")), 5);
	json_t *steps = json_object_get(j, "steps");
	ck_assert_uint_eq(json_array_size(steps), 9);
	ck_assert_str_eq(json_string_value(json_object_get(json_array_get(steps, 8), "status")), "would-run");
	ck_assert_ptr_nonnull(strstr(json_string_value(json_object_get(json_array_get(steps, 3), "rendered")), "$1 = '5'"));
	json_t *f = json_array_get(json_object_get(j, "findings"), 0);
	ck_assert_str_eq(json_string_value(json_object_get(f, "level")), "critical");
	ck_assert_ptr_nonnull(strstr(json_string_value(json_object_get(f, "message")), "saturated"));
	json_decref(j);
	free(out), free(err);

	/* --record writes what --fixtures reads back: the same findings */
	ck_assert_int_eq(rb("--runbooks ../runbooks exec db-connections --fixtures fixtures/db-connections-saturated.json "
			    "--record /tmp/runbook-cli-rec.json",
			    &out, &err),
			 0);
	free(out), free(err);
	ck_assert_int_eq(rb("--runbooks ../runbooks exec db-connections --fixtures /tmp/runbook-cli-rec.json --output json",
			    &out, &err),
			 0);
	j = json_loads(out, 0, &je);
	ck_assert_ptr_nonnull(j);
	ck_assert_uint_eq(json_array_size(json_object_get(j, "findings")), 6);
	json_decref(j);
	unlink("/tmp/runbook-cli-rec.json");
	free(out), free(err);
}
END_TEST

START_TEST(exec_bad_input_exits_2)
{
	char *out, *err;
	ck_assert_int_eq(rb("--runbooks ../runbooks exec db-connections --dry-run -p top=many", &out, &err), 2);
	ck_assert_ptr_nonnull(strstr(err, "must be an integer"));
	free(out), free(err);
	ck_assert_int_eq(rb("--runbooks ../runbooks exec db-connections --dry-run -p nope=1", &out, &err), 2);
	free(out), free(err);
	ck_assert_int_eq(rb("--runbooks ../runbooks exec db-connections --fixtures fixtures/broken.yaml", &out, &err), 2);
	ck_assert_ptr_nonnull(strstr(err, "fixtures/broken.yaml:1:7: not a fixtures file (JSON as --record writes it)"));
	free(out), free(err);
	ck_assert_int_eq(rb("exec fixtures/broken.yaml --dry-run", &out, &err), 2);
	ck_assert_ptr_nonnull(strstr(err, "broken.yaml:3:1"));
	free(out), free(err);
	ck_assert_int_eq(rb("--runbooks ../runbooks exec db-connections --dry-run --alert fixtures/broken.yaml", &out, &err), 2);
	ck_assert_ptr_nonnull(strstr(err, "fixtures/broken.yaml:1:7: invalid alert JSON"));
	free(out), free(err);
	ck_assert_int_eq(rb("--runbooks ../runbooks exec db-connections --dry-run --output yaml", &out, &err), 2);
	free(out), free(err);
}
END_TEST

Suite *suite_cli(void)
{
	Suite *s = suite_create("cli");
	TCase *tc = tcase_create("cli");
	tcase_set_timeout(tc, 60);
	tcase_add_test(tc, version_and_help);
	tcase_add_test(tc, check_reports_file_line_col);
	tcase_add_test(tc, list_show_test);
	tcase_add_test(tc, exec_json_and_round_trip);
	tcase_add_test(tc, exec_bad_input_exits_2);
	suite_add_tcase(s, tc);
	return s;
}
