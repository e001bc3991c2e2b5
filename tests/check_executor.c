/*
 * Executor tests: real runs of lua and shell steps (local processes), the
 * step options, mutating steps, dry-run with fixtures, secrets redaction.
 */
#define _POSIX_C_SOURCE 200809L
#include "tests.h"
#include "exec.h"
#include "util.h"

#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

static char dir[64];

static void setup(void)
{
	strcpy(dir, "/tmp/runbook-exec-XXXXXX");
	ck_assert_ptr_nonnull(mkdtemp(dir));
}

static void teardown(void)
{
	char *cmd = xasprintf("rm -rf '%s'", dir);
	ck_assert_int_eq(system(cmd), 0);
	free(cmd);
}

/* Parses yaml (with every "DIR" replaced by the temp dir) and runs it. */
static json_t *run_yaml(const char *yaml, struct exec_opts *o, struct redactor *red)
{
	struct sbuf sb;
	sbuf_init(&sb);
	for (const char *p = yaml; *p;) {
		if (!strncmp(p, "DIR", 3)) {
			sbuf_adds(&sb, dir);
			p += 3;
		} else {
			sbuf_addc(&sb, *p++);
		}
	}
	struct diag_list d;
	diag_init(&d);
	struct runbook *rb = parse_rb(sb.buf, &d);
	if (!rb)
		diag_print(&d, stderr);
	ck_assert_ptr_nonnull(rb);
	struct exec_opts def;
	memset(&def, 0, sizeof def);
	json_t *params = NULL;
	char *err = NULL;
	json_t *given = json_object();
	ck_assert_int_eq(exec_bind_params(rb, given, NULL, &params, &err), 0);
	json_decref(given);
	if (!o)
		o = &def;
	if (!o->params)
		o->params = params;
	json_t *report = exec_run(rb, o, red);
	if (o->params == params)
		o->params = NULL;
	json_decref(params);
	runbook_free(rb);
	diag_release(&d);
	sbuf_release(&sb);
	return report;
}

/* A killed orphan may wait as a zombie for a reaper that never comes. */
static int is_zombie(pid_t pid)
{
	char path[64], *buf = NULL, *err = NULL;
	size_t len;
	snprintf(path, sizeof path, "/proc/%d/stat", (int)pid);
	if (read_file(path, 4096, &buf, &len, &err)) {
		free(err);
		return 1;
	}
	const char *rp = strrchr(buf, ')');
	int z = rp && rp[1] == ' ' && (rp[2] == 'Z' || rp[2] == 'X');
	free(buf);
	return z;
}

static json_t *step(json_t *report, const char *id)
{
	size_t i;
	json_t *s;
	json_array_foreach(json_object_get(report, "steps"), i, s)
		if (!strcmp(json_string_value(json_object_get(s, "id")), id))
			return s;
	ck_abort_msg("no step %s", id);
	return NULL;
}

static const char *status(json_t *report, const char *id)
{
	return json_string_value(json_object_get(step(report, id), "status"));
}

START_TEST(shell_and_lua_results)
{
	json_t *r = run_yaml("runbook: t\ntitle: T\nsteps:\n"
			     "  - id: echo\n    shell: [printf, 'a b\\n']\n"
			     "  - id: both\n    shell: \"echo out; echo err >&2; exit 3\"\n"
			     "  - id: sig\n    shell: \"kill -TERM $$\"\n"
			     "  - id: use\n    lua: |\n"
			     "      finding('warning', 'saw ' .. steps.echo.stdout:gsub('\\n', ''))\n"
			     "      return {code = steps.both.exit_code, status = steps.both.status}\n",
			     NULL, NULL);
	ck_assert_str_eq(status(r, "echo"), "ok");
	ck_assert_str_eq(json_string_value(json_object_get(step(r, "echo"), "stdout")), "a b\n");
	ck_assert_str_eq(status(r, "both"), "failed");
	ck_assert_int_eq(json_integer_value(json_object_get(step(r, "both"), "exit_code")), 3);
	ck_assert_str_eq(json_string_value(json_object_get(step(r, "both"), "stderr")), "err\n");
	ck_assert_str_eq(json_string_value(json_object_get(step(r, "both"), "error")), "exit code 3");
	ck_assert_str_eq(json_string_value(json_object_get(step(r, "sig"), "signal")), "SIGTERM");
	ck_assert(json_is_null(json_object_get(step(r, "sig"), "exit_code")));
	json_t *v = json_object_get(step(r, "use"), "value");
	ck_assert_int_eq(json_integer_value(json_object_get(v, "code")), 3);
	ck_assert_str_eq(json_string_value(json_object_get(v, "status")), "failed");
	json_t *f = json_array_get(json_object_get(r, "findings"), 0);
	ck_assert_str_eq(json_string_value(json_object_get(f, "message")), "saw a b");
	ck_assert_str_eq(json_string_value(json_object_get(f, "step")), "use");
	ck_assert_str_eq(json_string_value(json_object_get(r, "status")), "failed");
	ck_assert_int_eq(exec_exit_code(r), 1);
	json_decref(r);
}
END_TEST

START_TEST(timeout_kills_the_process_group)
{
	json_t *r = run_yaml("runbook: t\ntitle: T\nsteps:\n"
			     "  - id: slow\n    timeout: 300ms\n"
			     "    shell: \"sleep 30 & echo $! > DIR/child; sleep 30\"\n",
			     NULL, NULL);
	ck_assert_str_eq(status(r, "slow"), "timeout");
	ck_assert_ptr_nonnull(strstr(json_string_value(json_object_get(step(r, "slow"), "error")), "timed out"));
	json_decref(r);
	char *path = xasprintf("%s/child", dir), *buf, *err;
	size_t len;
	ck_assert_int_eq(read_file(path, 100, &buf, &len, &err), 0);
	pid_t child = (pid_t)atoi(buf);
	ck_assert_int_gt(child, 0);
	/* the background child went with its group */
	int gone = 0;
	for (int i = 0; i < 100 && !gone; i++) {
		gone = kill(child, 0) != 0 || is_zombie(child);
		struct timespec ts = {0, 10000000};
		nanosleep(&ts, NULL);
	}
	ck_assert_msg(gone, "child %d of a timed-out step is still alive", (int)child);
	free(buf);
	free(path);
}
END_TEST

START_TEST(big_output_is_capped_and_reported)
{
	json_t *r = run_yaml("runbook: t\ntitle: T\nsteps:\n"
			     "  - id: big\n    shell: \"head -c 3000000 /dev/zero | tr '\\\\0' x; head -c 2000000 /dev/zero | tr '\\\\0' y >&2\"\n",
			     NULL, NULL);
	json_t *s = step(r, "big");
	ck_assert_str_eq(status(r, "big"), "ok");
	ck_assert_uint_eq(json_string_length(json_object_get(s, "stdout")), 1024 * 1024);
	ck_assert_int_eq(json_integer_value(json_object_get(s, "stdout_truncated")), 3000000);
	ck_assert_int_eq(json_integer_value(json_object_get(s, "stderr_truncated")), 2000000);
	json_decref(r);
}
END_TEST

START_TEST(when_retries_and_stop)
{
	json_t *r = run_yaml("runbook: t\ntitle: T\nsteps:\n"
			     "  - id: flaky\n    retries: 2\n    retry_delay: 10ms\n"
			     "    shell: \"echo x >> DIR/tries; test $(wc -l < DIR/tries) -ge 3\"\n"
			     "  - id: never\n    when: \"steps.flaky.attempts ~= 3\"\n    shell: [\"true\"]\n"
			     "  - id: boom\n    on_failure: stop\n    shell: [\"false\"]\n"
			     "  - id: after\n    shell: [\"true\"]\n",
			     NULL, NULL);
	ck_assert_str_eq(status(r, "flaky"), "ok");
	ck_assert_int_eq(json_integer_value(json_object_get(step(r, "flaky"), "attempts")), 3);
	ck_assert_str_eq(status(r, "never"), "skipped");
	ck_assert_str_eq(status(r, "boom"), "failed");
	ck_assert_str_eq(status(r, "after"), "skipped");
	ck_assert_ptr_nonnull(strstr(json_string_value(json_object_get(step(r, "after"), "error")), "'boom'"));
	json_decref(r);
}
END_TEST

START_TEST(mutating_steps_need_apply)
{
	const char *y = "runbook: t\ntitle: T\nsteps:\n"
			"  - id: fix\n    mutates: true\n    shell: \"touch DIR/fixed\"\n";
	json_t *r = run_yaml(y, NULL, NULL);
	ck_assert_str_eq(status(r, "fix"), "would-run");
	char *path = xasprintf("%s/fixed", dir);
	char *want = xasprintf("touch %s", path);
	ck_assert_str_eq(json_string_value(json_object_get(step(r, "fix"), "rendered")), want);
	free(want);
	ck_assert_int_ne(access(path, F_OK), 0);
	ck_assert_int_eq(exec_exit_code(r), 0);
	json_decref(r);
	struct exec_opts o;
	memset(&o, 0, sizeof o);
	o.apply = 1;
	r = run_yaml(y, &o, NULL);
	ck_assert_str_eq(status(r, "fix"), "ok");
	ck_assert_int_eq(access(path, F_OK), 0);
	json_decref(r);
	free(path);
}
END_TEST

START_TEST(dry_run_uses_fixtures)
{
	struct exec_opts o;
	memset(&o, 0, sizeof o);
	o.dry_run = 1;
	o.fixtures = json_pack("{s:{s:[{s:i}]}}", "q", "rows", "n", 95);
	json_t *r = run_yaml("runbook: t\ntitle: T\ntargets:\n  db: {type: postgres, dsn: x}\nsteps:\n"
			     "  - id: q\n    sql: SELECT $1::int AS n\n    args: [\"${1 + 1}\"]\n"
			     "  - id: s\n    shell: \"touch DIR/ran\"\n"
			     "  - id: l\n    lua: return steps.q.rows[1].n + 1\n",
			     &o, NULL);
	ck_assert_str_eq(status(r, "q"), "ok");
	ck_assert_int_eq(json_integer_value(json_object_get(step(r, "q"), "row_count")), 1);
	ck_assert_str_eq(json_string_value(json_array_get(json_object_get(step(r, "q"), "columns"), 0)), "n");
	ck_assert_ptr_nonnull(strstr(json_string_value(json_object_get(step(r, "q"), "rendered")), "$1 = '2'"));
	ck_assert_str_eq(status(r, "s"), "would-run");
	ck_assert_int_eq(json_integer_value(json_object_get(step(r, "l"), "value")), 96);
	ck_assert(json_is_true(json_object_get(r, "dry_run")));
	char *path = xasprintf("%s/ran", dir);
	ck_assert_int_ne(access(path, F_OK), 0);
	free(path);
	json_decref(o.fixtures);
	json_decref(r);
}
END_TEST

START_TEST(secrets_are_redacted)
{
	setenv("RUNBOOK_TEST_SECRET", "hunter2-very-secret", 1);
	struct redactor red;
	redact_init(&red);
	json_t *r = run_yaml("runbook: t\ntitle: T\nsteps:\n"
			     "  - id: leak\n    shell: \"echo token=${env.RUNBOOK_TEST_SECRET}; exit 1\"\n"
			     "  - id: lua\n    lua: |\n      finding('info', 'secret is ' .. env.RUNBOOK_TEST_SECRET)\n"
			     "      error('failed with ' .. env.RUNBOOK_TEST_SECRET)\n",
			     NULL, &red);
	char *all = json_dumps(r, 0);
	ck_assert_ptr_null(strstr(all, "hunter2"));
	ck_assert_ptr_nonnull(strstr(all, "token=***"));
	ck_assert_ptr_nonnull(strstr(all, "secret is ***"));
	ck_assert_ptr_nonnull(strstr(all, "failed with ***"));
	free(all);
	json_decref(r);
	redact_release(&red);
	unsetenv("RUNBOOK_TEST_SECRET");
}
END_TEST

START_TEST(params_bind_typed)
{
	struct diag_list d;
	diag_init(&d);
	struct runbook *rb = parse_rb("runbook: t\ntitle: T\nparams:\n  top: {type: int, default: 10}\n"
				      "  host: {from: alert.labels.instance}\n  must: {required: true}\n"
				      "steps:\n  - id: a\n    lua: return params.top\n",
				      &d);
	ck_assert_ptr_nonnull(rb);
	json_t *given = json_pack("{s:s, s:s}", "top", "25", "must", "yes"), *out = NULL;
	json_t *alert = json_pack("{s:{s:s}}", "labels", "instance", "db-1:5432");
	char *err = NULL;
	ck_assert_int_eq(exec_bind_params(rb, given, alert, &out, &err), 0);
	ck_assert_int_eq(json_integer_value(json_object_get(out, "top")), 25);
	ck_assert_str_eq(json_string_value(json_object_get(out, "host")), "db-1:5432");
	json_decref(out);
	json_object_set_new(given, "top", json_string("lots"));
	ck_assert_int_eq(exec_bind_params(rb, given, alert, &out, &err), -1);
	ck_assert_ptr_nonnull(strstr(err, "must be an integer"));
	free(err);
	json_object_del(given, "top");
	json_object_set_new(given, "tpo", json_string("1"));
	ck_assert_int_eq(exec_bind_params(rb, given, alert, &out, &err), -1);
	ck_assert_ptr_nonnull(strstr(err, "did you mean 'top'"));
	free(err);
	json_object_clear(given);
	ck_assert_int_eq(exec_bind_params(rb, given, NULL, &out, &err), -1);
	ck_assert_ptr_nonnull(strstr(err, "needs parameter 'must'"));
	free(err);
	json_decref(given);
	json_decref(alert);
	runbook_free(rb);
	diag_release(&d);
}
END_TEST

Suite *suite_executor(void)
{
	Suite *s = suite_create("executor");
	TCase *tc = tcase_create("executor");
	tcase_add_checked_fixture(tc, setup, teardown);
	tcase_set_timeout(tc, 60);
	tcase_add_test(tc, shell_and_lua_results);
	tcase_add_test(tc, timeout_kills_the_process_group);
	tcase_add_test(tc, big_output_is_capped_and_reported);
	tcase_add_test(tc, when_retries_and_stop);
	tcase_add_test(tc, mutating_steps_need_apply);
	tcase_add_test(tc, dry_run_uses_fixtures);
	tcase_add_test(tc, secrets_are_redacted);
	tcase_add_test(tc, params_bind_typed);
	suite_add_tcase(s, tc);
	return s;
}
