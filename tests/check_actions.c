/* Action tests that need no server: the sql statement check, the ssh
 * config lookup, shell quoting of argv rendering. The servers' side is in
 * tests/sql_test.sh and tests/ssh_test.sh. */
#define _POSIX_C_SOURCE 200809L
#include "tests.h"
#include "../actions/action.h"
#include "../actions/ssh_config.h"
#include "../engine/util.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

START_TEST(sql_one_statement)
{
	const char *one[] = {"SELECT 1", "SELECT 1;", "SELECT ';' AS a", "SELECT $$;$$", "SELECT $tag$ ; $tag$",
		"SELECT 1 -- ; comment", "SELECT /* ; */ 1", "SELECT \"a;b\" FROM t", "SELECT $1::int",
		"SELECT 'it''s; fine'"};
	for (size_t i = 0; i < ARRAY_LEN(one); i++) {
		char *err = NULL;
		ck_assert_msg(action_sql.check(one[i], &err) == 0, "refused: %s (%s)", one[i], err ? err : "");
	}
	const char *bad[] = {"SELECT 1; SELECT 2", "SELECT 1; DELETE FROM t;", "", "  ;  ", "SELECT 'x'; DROP TABLE t"};
	for (size_t i = 0; i < ARRAY_LEN(bad); i++) {
		char *err = NULL;
		ck_assert_msg(action_sql.check(bad[i], &err) == -1, "accepted: %s", bad[i]);
		free(err);
	}
}
END_TEST

START_TEST(ssh_config_lookup_rules)
{
	char path[] = "/tmp/runbook-sshcfg-XXXXXX";
	int fd = mkstemp(path);
	ck_assert_int_ge(fd, 0);
	FILE *f = fdopen(fd, "w");
	fputs("# comment\n"
	      "Host web-* !web-9\n"
	      "  HostName %h.internal\n"
	      "  User deploy\n"
	      "Host web-1\n"
	      "  User other\n"  /* later: the first value obtained wins */
	      "  Port 2222\n"
	      "Host *\n"
	      "  IdentityFile ~/.ssh/oncall\n"
	      "  Port = 22\n",
	      f);
	fclose(f);
	setenv("HOME", "/home/tester", 1);
	struct ssh_host_config c = {0};
	ssh_config_lookup(path, "web-1", &c);
	ck_assert_str_eq(c.hostname, "web-1.internal");
	ck_assert_str_eq(c.user, "deploy");
	ck_assert_int_eq(c.port, 2222);
	ck_assert_str_eq(c.identity, "/home/tester/.ssh/oncall");
	ssh_host_config_release(&c);
	memset(&c, 0, sizeof c);
	ssh_config_lookup(path, "web-9", &c); /* negated: only Host * applies */
	ck_assert_str_eq(c.hostname, "web-9");
	ck_assert_int_eq(c.port, 22);
	ssh_host_config_release(&c);
	memset(&c, 0, sizeof c);
	c.user = xstrdup("explicit"); /* the target's own value wins */
	c.port = 2200;
	ssh_config_lookup(path, "web-2", &c);
	ck_assert_str_eq(c.user, "explicit");
	ck_assert_int_eq(c.port, 2200);
	ssh_host_config_release(&c);
	memset(&c, 0, sizeof c);
	ssh_config_lookup("/nonexistent/config", "db-1", &c);
	ck_assert_str_eq(c.hostname, "db-1");
	ck_assert_int_eq(c.port, 22);
	ssh_host_config_release(&c);
	unlink(path);
}
END_TEST

START_TEST(shell_argv_rendering)
{
	struct action_call call = {0};
	call.argv = json_pack("[s, s, s]", "grep", "-c", "it's here");
	char *r = action_shell.render(&call);
	ck_assert_str_eq(r, "grep -c 'it'\\''s here'");
	free(r);
	json_decref(call.argv);
}
END_TEST

START_TEST(action_text_keeps_bytes_readable)
{
	char buf[] = "ok \xff\xfe end";
	json_t *j = action_text(buf, strlen(buf));
	ck_assert_str_eq(json_string_value(j), "ok ?? end");
	json_decref(j);
}
END_TEST

Suite *suite_actions(void)
{
	Suite *s = suite_create("actions");
	TCase *tc = tcase_create("actions");
	tcase_add_test(tc, sql_one_statement);
	tcase_add_test(tc, ssh_config_lookup_rules);
	tcase_add_test(tc, shell_argv_rendering);
	tcase_add_test(tc, action_text_keeps_bytes_readable);
	suite_add_tcase(s, tc);
	return s;
}
