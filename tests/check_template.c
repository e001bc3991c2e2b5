/* Template tests: splitting, escapes, rendering, shell quoting. */
#include "tests.h"
#include "action.h"
#include "template.h"
#include "util.h"
#include "sandbox.h"

#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>

START_TEST(split_pieces)
{
	struct tpl_piece *pc;
	size_t n, off;
	char *err;
	ck_assert_int_eq(template_split("a ${x.y} b ${f('}')} $${lit}", &pc, &n, &err, &off), 0);
	ck_assert_uint_eq(n, 6);
	ck_assert(!pc[0].is_expr && pc[0].len == 2);
	ck_assert(pc[1].is_expr && !strncmp(pc[1].s, "x.y", pc[1].len));
	ck_assert(pc[3].is_expr && !strncmp(pc[3].s, "f('}')", pc[3].len));
	ck_assert_uint_eq(pc[1].offset, 2);
	free(pc);
	ck_assert_int_eq(template_split("x ${a", &pc, &n, &err, &off), -1);
	ck_assert_uint_eq(off, 2);
	ck_assert_ptr_nonnull(strstr(err, "unterminated"));
	free(err);
	ck_assert_int_eq(template_split("${ }", &pc, &n, &err, &off), -1);
	free(err);
	ck_assert(template_has_expr("a ${b}"));
	ck_assert(!template_has_expr("a $${b} $5"));
}
END_TEST

START_TEST(shell_quoting)
{
	char *q = shell_quote("it's $(rm -rf /); `x` \"y\"");
	ck_assert_str_eq(q, "'it'\\''s $(rm -rf /); `x` \"y\"'");
	/* the shell must read it back as exactly one word, unchanged */
	char *cmd = xasprintf("test \"$(printf '%%s' %s)\" = \"it's \\$(rm -rf /); \\`x\\` \\\"y\\\"\"", q);
	int st = system(cmd);
	ck_assert(WIFEXITED(st) && WEXITSTATUS(st) == 0);
	free(cmd);
	free(q);
	q = shell_quote("");
	ck_assert_str_eq(q, "''");
	free(q);
}
END_TEST

START_TEST(render_with_sandbox)
{
	char *err = NULL, *out = NULL;
	struct sandbox *sb = sandbox_new(NULL, NULL, &err);
	json_t *params = json_pack("{s:s, s:i, s:f}", "host", "db; rm -rf /", "top", 10, "ratio", 0.25);
	sandbox_set_global(sb, "params", params);
	json_decref(params);
	ck_assert_int_eq(template_render(sb, "LIMIT ${params.top} of ${params.ratio}", 0, "t", 1, 0, &out, &err), 0);
	ck_assert_str_eq(out, "LIMIT 10 of 0.25");
	free(out);
	ck_assert_int_eq(template_render(sb, "ping -c1 ${params.host}", 1, "t", 1, 0, &out, &err), 0);
	ck_assert_str_eq(out, "ping -c1 'db; rm -rf /'");
	free(out);
	ck_assert_int_eq(template_render(sb, "cost $${literal}", 0, "t", 1, 0, &out, &err), 0);
	ck_assert_str_eq(out, "cost ${literal}");
	free(out);
	ck_assert_int_eq(template_render(sb, "x ${params.missing}", 0, "t.yaml", 7, 0, &out, &err), -1);
	ck_assert_ptr_nonnull(strstr(err, "t.yaml:7: ${params.missing} is nil"));
	free(err);
	ck_assert_int_eq(template_render(sb, "x ${params.host.x.y}", 0, "t.yaml", 7, 0, &out, &err), -1);
	ck_assert_ptr_nonnull(strstr(err, "attempt to index"));
	free(err);
	ck_assert_int_eq(template_render(sb, "${(function() while true do end end)()}", 0, "t", 1, 0, &out, &err), -1);
	ck_assert_ptr_nonnull(strstr(err, "instruction limit"));
	free(err);
	sandbox_free(sb);
}
END_TEST

START_TEST(value_text)
{
	json_t *v = json_pack("{s:i}", "a", 1);
	char *s = template_value_text(v);
	ck_assert_str_eq(s, "{\"a\":1}");
	free(s);
	json_decref(v);
	v = json_real(1.5);
	s = template_value_text(v);
	ck_assert_str_eq(s, "1.5");
	free(s);
	json_decref(v);
}
END_TEST

Suite *suite_template(void)
{
	Suite *s = suite_create("template");
	TCase *tc = tcase_create("template");
	tcase_set_timeout(tc, 30);
	tcase_add_test(tc, split_pieces);
	tcase_add_test(tc, shell_quoting);
	tcase_add_test(tc, render_with_sandbox);
	tcase_add_test(tc, value_text);
	suite_add_tcase(s, tc);
	return s;
}
