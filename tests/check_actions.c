/* Action tests that need no server: the sql statement check, the ssh
 * config lookup, known_hosts rules, shell quoting of argv rendering. The servers' side is in
 * tests/sql_test.sh and tests/ssh_test.sh. */
#define _POSIX_C_SOURCE 200809L
#include "tests.h"
#include "action.h"
#include "known_hosts.h"
#include "ssh_config.h"
#include "util.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

START_TEST(sql_one_statement)
{
	const char *one[] = {"SELECT 1", "SELECT 1;", "SELECT ';' AS a", "SELECT $$;$$", "SELECT $tag$ ; $tag$",
		"SELECT 1 -- ; comment", "SELECT /* ; */ 1", "SELECT \"a;b\" FROM t", "SELECT $1::int",
		"SELECT 'it''s; fine'"};
	size_t off;
	for (size_t i = 0; i < ARRAY_LEN(one); i++) {
		char *err = NULL;
		ck_assert_msg(action_sql.check(one[i], 0, &err, &off) == 0, "refused: %s (%s)", one[i], err ? err : "");
	}
	const char *bad[] = {"SELECT 1; SELECT 2", "SELECT 1; DELETE FROM t;", "", "  ;  ", "SELECT 'x'; DROP TABLE t"};
	for (size_t i = 0; i < ARRAY_LEN(bad); i++) {
		char *err = NULL;
		ck_assert_msg(action_sql.check(bad[i], 1, &err, &off) == -1, "accepted: %s", bad[i]);
		free(err);
	}
}
END_TEST

/* Read-only steps may not call what a READ ONLY transaction lets through;
 * comments, strings and quoting fool it neither way. */
START_TEST(sql_side_effects)
{
	static const struct {
		const char *sql;
		const char *word; /* refused at this word, or NULL: accepted */
	} cases[] = {
		{"SELECT pg_terminate_backend(pid) FROM pg_stat_activity", "pg_terminate_backend"},
		{"SELECT PG_Cancel_Backend (42)", "PG_Cancel_Backend"},
		{"SELECT pg_catalog.pg_reload_conf()", "pg_reload_conf"},
		{"SELECT \"pg_terminate_backend\"(1)", "\"pg_terminate_backend\""},
		{"SELECT pg_terminate_backend /* look away */ (1)", "pg_terminate_backend"},
		{"SELECT pg_terminate_backend\n-- nothing\n(1)", "pg_terminate_backend"},
		{"SELECT set_config('work_mem', '1GB', false)", "set_config"},
		{"SELECT pg_advisory_lock(1)", "pg_advisory_lock"},
		{"SELECT pg_try_advisory_xact_lock(1)", "pg_try_advisory_xact_lock"},
		{"SELECT dblink_exec('x', 'DROP TABLE t')", "dblink_exec"},
		{"SELECT lo_export(1, '/tmp/x')", "lo_export"},
		{"SELECT pg_switch_wal()", "pg_switch_wal"},
		{"SELECT pg_promote()", "pg_promote"},
		{"SELECT pg_notify('c', 'x')", "pg_notify"},
		{"LOCK TABLE accounts", "LOCK"},
		{"  (SELECT 1)", NULL},
		{"checkpoint", "checkpoint"},
		{"COPY (SELECT 1) TO PROGRAM 'rm -rf /'", "COPY"},
		{"DO $$ BEGIN PERFORM pg_terminate_backend(1); END $$", "DO"},
		{"SET ROLE postgres", "SET"},
		{"DELETE FROM t", "DELETE"},
		{"SELECT 'pg_terminate_backend(1)' AS s", NULL},
		{"SELECT 1 -- pg_terminate_backend(1)", NULL},
		{"SELECT /* pg_cancel_backend(1) */ 1", NULL},
		{"SELECT $x$ set_config('a','b',false) $x$ AS q", NULL},
		{"SELECT E'\\' pg_notify(' AS q", NULL},
		{"SELECT 1 AS \"set\", pg_terminate_backend AS col FROM t", NULL},
		{"SELECT \"PG_TERMINATE_BACKEND\"(1)", NULL}, /* quoted: exact case, not the function */
		{"SELECT count(*) FROM pg_stat_activity WHERE query LIKE '%pg_cancel_backend(%'", NULL},
		{"EXPLAIN SELECT * FROM t", NULL},
	};
	for (size_t i = 0; i < ARRAY_LEN(cases); i++) {
		char *err = NULL;
		size_t off = 0;
		int rc = action_sql.check(cases[i].sql, 0, &err, &off);
		if (!cases[i].word) {
			ck_assert_msg(rc == 0, "refused: %s (%s)", cases[i].sql, err ? err : "");
			continue;
		}
		ck_assert_msg(rc == -1, "accepted: %s", cases[i].sql);
		ck_assert_msg(!strncmp(cases[i].sql + off, cases[i].word, strlen(cases[i].word)),
			      "%s: refused at offset %zu, not at %s", cases[i].sql, off, cases[i].word);
		ck_assert_msg(strstr(err, "mutates: true"), "%s: %s", cases[i].sql, err);
		free(err);
		/* a mutating step may */
		ck_assert_int_eq(action_sql.check(cases[i].sql, 1, &err, &off), 0);
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
	/* only the invalid bytes are replaced; the rest of the text stays */
	char buf[] = "caf\xc3\xa9 \xff\xfe \xe2\x82\xac end";
	json_t *j = action_text(buf, strlen(buf));
	ck_assert_str_eq(json_string_value(j), "caf\xc3\xa9 \xef\xbf\xbd\xef\xbf\xbd \xe2\x82\xac end");
	json_decref(j);
	/* a cap that cuts a character cuts before it */
	char cut[] = "ab\xe2\x82\xac";
	j = action_text(cut, 4);
	ck_assert_str_eq(json_string_value(j), "ab");
	json_decref(j);
}
END_TEST

/* Include (relative to ~/.ssh, globs, nested), Match, tokens, and the
 * keywords refused rather than ignored. */
START_TEST(ssh_config_include_match)
{
	char home[] = "/tmp/runbook-sshhome-XXXXXX";
	ck_assert_ptr_nonnull(mkdtemp(home));
	char *dir = xasprintf("%s/.ssh", home), *confd = xasprintf("%s/.ssh/conf.d", home);
	ck_assert_int_eq(mkdir(dir, 0700), 0);
	ck_assert_int_eq(mkdir(confd, 0700), 0);
	char *main_cfg = xasprintf("%s/config", dir), *a = xasprintf("%s/a.conf", confd),
	     *b = xasprintf("%s/b.conf", confd), *nested = xasprintf("%s/nested", dir);
	FILE *f = fopen(main_cfg, "w");
	fputs("Include conf.d/*.conf\n"
	      "Match originalhost db-* user !root,ops\n"
	      "  Port 6543\n"
	      "Match host db-2.prod\n"
	      "  User dbadmin\n"
	      "Host bastioned\n"
	      "  ProxyJump ops@jump.example.com:2222,inner\n"
	      "  ProxyCommand nc %h %p\n" /* after ProxyJump: the first of the two wins */
	      "Host certified\n"
	      "  CertificateFile ~/.ssh/id-cert.pub\n"
	      "Host direct\n"
	      "  ProxyJump none\n"
	      "  HostKeyAlias legacy-%h\n"
	      "  IdentityFile ~/.ssh/first\n"
	      "  ConnectTimeout 7\n"
	      "  ServerAliveInterval 5\n"
	      "Match originalhost execd exec \"true\"\n"
	      "  Port 1\n"
	      "Host *\n"
	      "  ControlMaster auto\n" /* multiplexing: ignored, never an error */
	      "  ControlPath ~/.ssh/cm-%r@%h:%p\n"
	      "  IdentityFile ~/.ssh/id_%r@%h\n"
	      "  UserKnownHostsFile %d/.ssh/known_%h_%p other_file\n",
	      f);
	fclose(f);
	f = fopen(a, "w");
	fputs("Host db-*\n  HostName %h.prod\n  User ops\n  Include nested\n", f);
	fclose(f);
	f = fopen(b, "w");
	fputs("Host db-2\n  User never\n", f); /* a.conf's User came first */
	fclose(f);
	f = fopen(nested, "w");
	fputs("Port 2022\n", f); /* included from inside Host db-*: applies to db-* only */
	fclose(f);
	setenv("HOME", home, 1);
	struct ssh_host_config c = {0};
	ssh_config_lookup(main_cfg, "db-2", &c);
	ck_assert_ptr_null(c.error);
	ck_assert_str_eq(c.hostname, "db-2.prod");
	ck_assert_str_eq(c.user, "ops");
	ck_assert_int_eq(c.port, 2022);
	char *want = xasprintf("%s/.ssh/id_ops@db-2.prod", home);
	ck_assert_str_eq(c.identity, want);
	free(want);
	want = xasprintf("%s/.ssh/known_db-2.prod_2022", home);
	ck_assert_str_eq(c.known_hosts, want);
	free(want);
	ssh_host_config_release(&c);
	memset(&c, 0, sizeof c);
	c.port = 0;
	ssh_config_lookup(main_cfg, "web-1", &c); /* no Host db-*, no Match */
	ck_assert_int_eq(c.port, 22);
	ck_assert_ptr_null(c.error);
	ssh_host_config_release(&c);
	memset(&c, 0, sizeof c);
	ssh_config_lookup(main_cfg, "bastioned", &c);
	ck_assert_ptr_null(c.error);
	ck_assert_str_eq(c.proxy_jump, "ops@jump.example.com:2222,inner");
	ck_assert_ptr_null(c.proxy_command);
	ssh_host_config_release(&c);
	memset(&c, 0, sizeof c);
	ssh_config_lookup(main_cfg, "certified", &c);
	ck_assert_ptr_nonnull(c.error);
	ck_assert_msg(strstr(c.error, "config:10: CertificateFile is not supported"), "%s", c.error);
	ssh_host_config_release(&c);
	memset(&c, 0, sizeof c);
	ssh_config_lookup(main_cfg, "direct", &c); /* ProxyJump none: nothing to refuse, no jump */
	ck_assert_ptr_null(c.error);
	ck_assert_ptr_null(c.proxy_jump);
	ck_assert_str_eq(c.host_key_alias, "legacy-direct");
	want = xasprintf("%s/.ssh/first", home);
	ck_assert_str_eq(c.identity, want);
	free(want);
	ck_assert_int_eq(c.n_more_identities, 1); /* Host *'s IdentityFile comes after: both count */
	ck_assert_int_eq(c.connect_timeout, 7);
	ck_assert_int_eq(c.alive_interval, 5);
	ck_assert_int_eq(c.alive_count_max, 3);
	ssh_host_config_release(&c);
	memset(&c, 0, sizeof c);
	ssh_config_lookup(main_cfg, "execd", &c);
	ck_assert_ptr_nonnull(c.error);
	ck_assert_msg(strstr(c.error, "Match exec is not supported"), "%s", c.error);
	ssh_host_config_release(&c);
	unlink(a);
	unlink(b);
	unlink(nested);
	unlink(main_cfg);
	rmdir(confd);
	rmdir(dir);
	rmdir(home);
	free(main_cfg);
	free(a);
	free(b);
	free(nested);
	free(confd);
	free(dir);
}
END_TEST

/* known_hosts as OpenSSH reads it: patterns, negation, markers, types. */
START_TEST(known_hosts_rules)
{
	/* two made-up key blobs of type ssh-ed25519 ("AAAAC3NzaC1lZDI1NTE5" is
	 * its length-prefixed name), the second differing in its last byte */
	static const unsigned char k1[] = {0, 0, 0, 11, 's', 's', 'h', '-', 'e', 'd', '2', '5', '5', '1', '9', 1, 2, 3};
	static const unsigned char k2[] = {0, 0, 0, 11, 's', 's', 'h', '-', 'e', 'd', '2', '5', '5', '1', '9', 1, 2, 4};
	const char *b1 = "AAAAC3NzaC1lZDI1NTE5AQID", *b2 = "AAAAC3NzaC1lZDI1NTE5AQIE";
	char path[] = "/tmp/check_known_hosts.XXXXXX";
	int fd = mkstemp(path);
	ck_assert_int_ge(fd, 0);
	FILE *f = fdopen(fd, "w");
	fprintf(f, "# comment\n\n");
	fprintf(f, "DB-?.Example.COM,!db-9.example.com ssh-ed25519 %s\n", b1);
	fprintf(f, "[10.0.*]:2222 ssh-ed25519 %s\n", b1);
	fprintf(f, "@revoked old-*.example.com ssh-ed25519 %s\n", b1);
	fprintf(f, "old-1.example.com ssh-ed25519 %s\n", b1);
	fprintf(f, "changed.example.com ssh-ed25519 %s\n", b2);
	fprintf(f, "@cert-authority *.corp ssh-ed25519 %s\n", b2);
	fclose(f);
	ck_assert_int_eq(known_hosts_check(path, "db-1.example.com", 22, k1, sizeof k1), KH_MATCH);
	ck_assert_int_eq(known_hosts_check(path, "db-9.example.com", 22, k1, sizeof k1), KH_UNKNOWN);
	ck_assert_int_eq(known_hosts_check(path, "db-10.example.com", 22, k1, sizeof k1), KH_UNKNOWN);
	ck_assert_int_eq(known_hosts_check(path, "db-1.example.com", 2222, k1, sizeof k1), KH_UNKNOWN);
	ck_assert_int_eq(known_hosts_check(path, "10.0.3.4", 2222, k1, sizeof k1), KH_MATCH);
	ck_assert_int_eq(known_hosts_check(path, "10.0.3.4", 22, k1, sizeof k1), KH_UNKNOWN);
	ck_assert_int_eq(known_hosts_check(path, "db-1.example.com", 22, k2, sizeof k2), KH_CHANGED);
	ck_assert_int_eq(known_hosts_check(path, "old-1.example.com", 22, k1, sizeof k1), KH_REVOKED);
	ck_assert_int_eq(known_hosts_check(path, "changed.example.com", 22, k1, sizeof k1), KH_CHANGED);
	ck_assert_int_eq(known_hosts_check(path, "app.corp", 22, k1, sizeof k1), KH_CA_ONLY);
	char *algs = known_hosts_algorithms(path, "db-2.example.com", 22);
	ck_assert_ptr_nonnull(algs);
	ck_assert_str_eq(algs, "ssh-ed25519");
	free(algs);
	ck_assert_ptr_null(known_hosts_algorithms(path, "app.corp", 22)); /* a CA line is no host key */
	ck_assert_int_eq(known_hosts_check("/nonexistent/known_hosts", "db-1.example.com", 22, k1, sizeof k1),
			 KH_UNKNOWN);
	unlink(path);
}
END_TEST

Suite *suite_actions(void)
{
	Suite *s = suite_create("actions");
	TCase *tc = tcase_create("actions");
	tcase_add_test(tc, sql_one_statement);
	tcase_add_test(tc, sql_side_effects);
	tcase_add_test(tc, ssh_config_lookup_rules);
	tcase_add_test(tc, known_hosts_rules);
	tcase_add_test(tc, ssh_config_include_match);
	tcase_add_test(tc, shell_argv_rendering);
	tcase_add_test(tc, action_text_keeps_bytes_readable);
	suite_add_tcase(s, tc);
	return s;
}
