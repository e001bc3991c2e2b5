/* Loader tests: the YAML tree, validation, every error at file:line:col. */
#include "tests.h"
#include "util.h"
#include "yaml_tree.h"

#include <stdlib.h>
#include <string.h>

struct runbook *parse_rb(const char *yaml, struct diag_list *d)
{
	return runbook_parse("t.yaml", yaml, strlen(yaml), d);
}

int has_diag(const struct diag_list *d, int line, int col, const char *text)
{
	for (size_t i = 0; i < d->n; i++)
		if (d->items[i].line == line && (!col || d->items[i].col == col) && strstr(d->items[i].msg, text))
			return 1;
	return 0;
}

static void dump(const struct diag_list *d)
{
	for (size_t i = 0; i < d->n; i++) {
		char *s = diag_format(&d->items[i]);
		fprintf(stderr, "  %s\n", s);
		free(s);
	}
}

#define EXPECT_DIAG(d, line, col, text)                                                     \
	do {                                                                                \
		if (!has_diag(d, line, col, text))                                          \
			dump(d);                                                            \
		ck_assert_msg(has_diag(d, line, col, text), "no error %d:%d %s", line, col, text); \
	} while (0)

START_TEST(loads_library_runbook)
{
	struct diag_list d;
	diag_init(&d);
	struct runbook *rb = runbook_load("../runbooks/db-connections.yaml", &d);
	dump(&d);
	ck_assert_ptr_nonnull(rb);
	ck_assert_str_eq(rb->id, "db-connections");
	ck_assert_str_eq(rb->severity, "SEV2");
	ck_assert_uint_eq(rb->nsteps, 9);
	const struct rb_step *t = runbook_step(rb, "terminate");
	ck_assert_ptr_nonnull(t);
	ck_assert_int_eq(t->mutates, 1);
	ck_assert_str_eq(t->on, "primary");
	ck_assert_int_eq(runbook_step(rb, "load")->timeout_ms, 5000);
	ck_assert_uint_eq(rb->ntests, 6);
	ck_assert_str_eq(json_string_value(json_object_get(rb->escalation, "SEV1")), "@oncall-platform");
	runbook_free(rb);
	diag_release(&d);
}
END_TEST

START_TEST(reports_every_error_with_position)
{
	const char *y = "runbook: Bad_Id\n"                 /* 1 */
			"titel: x\n"                        /* 2 */
			"targets:\n"                        /* 3 */
			"  db: {type: postgress, dsn: x}\n" /* 4 */
			"steps:\n"                          /* 5 */
			"  - id: one\n"                     /* 6 */
			"    sql: SELECT ${params.x}\n"     /* 7 */
			"    ssh: uptime\n"                 /* 8 */
			"  - id: one\n"                     /* 9 */
			"    lua: |\n"                      /* 10 */
			"      local x = 1\n"               /* 11 */
			"      return x +\n"                /* 12 */
			"  - id: three\n"                   /* 13 */
			"    timeout: 5 parsecs\n"          /* 14 */
			"    retries: -1\n"                 /* 15 */
			"  - id: four\n"                    /* 16 */
			"    shell: echo ${steps.ghost.x}\n"/* 17 */
			"    on_failure: explode\n";        /* 18 */
	struct diag_list d;
	diag_init(&d);
	ck_assert_ptr_null(parse_rb(y, &d));
	EXPECT_DIAG(&d, 1, 10, "invalid runbook id");
	EXPECT_DIAG(&d, 2, 1, "did you mean 'title'");
	EXPECT_DIAG(&d, 4, 14, "did you mean 'postgres'");
	EXPECT_DIAG(&d, 7, 17, "not allowed in sql text");
	EXPECT_DIAG(&d, 8, 5, "two actions");
	EXPECT_DIAG(&d, 9, 9, "duplicate step id 'one' (first defined at line 6)");
	EXPECT_DIAG(&d, 13, 0, "step 'three' has no action");
	EXPECT_DIAG(&d, 12, 0, "Lua syntax error");
	EXPECT_DIAG(&d, 14, 14, "duration");
	EXPECT_DIAG(&d, 15, 14, "retries");
	EXPECT_DIAG(&d, 17, 0, "unknown step 'ghost'");
	EXPECT_DIAG(&d, 18, 17, "on_failure");
	ck_assert_uint_ge(d.n, 12);
	diag_release(&d);
}
END_TEST

START_TEST(refuses_hostile_yaml)
{
	struct {
		const char *yaml, *msg;
	} cases[] = {
		{"a: &x 1\nb: *x\n", "anchors"},
		{"a: [1]\nb: *x\n", "alias"},
		{"a: !!str 1\n", "tags"},
		{"a: !custom {x: 1}\n", "tags"},
		{"a: 1\n---\nb: 2\n", "only one YAML document"},
		{"%TAG !e! tag:example.com:\n---\na: 1\n", "TAG"},
		{"a: [1, 2\n", "flow sequence"},
		{"a: 1\na: 2\n", "duplicate key 'a'"},
		{"? [1, 2]\n: 3\n", "keys must be plain strings"},
		{"", "empty document"},
	};
	for (size_t i = 0; i < ARRAY_LEN(cases); i++) {
		struct diag_list d;
		diag_init(&d);
		struct ynode *n = yaml_tree_parse("t.yaml", cases[i].yaml, strlen(cases[i].yaml), &d);
		ck_assert_msg(n == NULL, "case %zu accepted", i);
		ck_assert_msg(d.n >= 1 && strstr(d.items[0].msg, cases[i].msg), "case %zu: %s", i,
			      d.n ? d.items[0].msg : "(no error)");
		diag_release(&d);
	}
}
END_TEST

START_TEST(refuses_deep_and_large)
{
	struct sbuf sb;
	sbuf_init(&sb);
	sbuf_adds(&sb, "a: ");
	for (int i = 0; i < 40; i++)
		sbuf_addc(&sb, '[');
	for (int i = 0; i < 40; i++)
		sbuf_addc(&sb, ']');
	struct diag_list d;
	diag_init(&d);
	ck_assert_ptr_null(yaml_tree_parse("t.yaml", sb.buf, sb.len, &d));
	ck_assert_ptr_nonnull(strstr(d.items[0].msg, "nesting too deep"));
	diag_release(&d);
	sbuf_release(&sb);

	size_t big = YAML_MAX_FILE + 1;
	char *buf = xmalloc(big);
	memset(buf, '#', big);
	diag_init(&d);
	ck_assert_ptr_null(yaml_tree_parse("t.yaml", buf, big, &d));
	ck_assert_ptr_nonnull(strstr(d.items[0].msg, "file too large"));
	diag_release(&d);

	sbuf_init(&sb);
	sbuf_adds(&sb, "a: \"");
	for (size_t i = 0; i < YAML_MAX_SCALAR + 10; i++)
		sbuf_addc(&sb, 'x');
	sbuf_adds(&sb, "\"\n");
	diag_init(&d);
	ck_assert_ptr_null(yaml_tree_parse("t.yaml", sb.buf, sb.len, &d));
	ck_assert_ptr_nonnull(strstr(d.items[0].msg, "scalar too large"));
	diag_release(&d);
	sbuf_release(&sb);
	free(buf);
}
END_TEST

START_TEST(scalar_typing)
{
	struct diag_list d;
	diag_init(&d);
	const char *y = "i: 42\nh: 0x1f\nf: 2.5\nb: true\nn: ~\ns: '42'\nw: yes\n";
	struct ynode *n = yaml_tree_parse("t.yaml", y, strlen(y), &d);
	ck_assert_ptr_nonnull(n);
	json_t *j = ynode_to_json(n);
	ck_assert_int_eq(json_integer_value(json_object_get(j, "i")), 42);
	ck_assert_int_eq(json_integer_value(json_object_get(j, "h")), 31);
	ck_assert(json_real_value(json_object_get(j, "f")) == 2.5);
	ck_assert(json_is_true(json_object_get(j, "b")));
	ck_assert(json_is_null(json_object_get(j, "n")));
	ck_assert_str_eq(json_string_value(json_object_get(j, "s")), "42");
	ck_assert_str_eq(json_string_value(json_object_get(j, "w")), "yes"); /* YAML 1.2: not a bool */
	json_decref(j);
	ynode_free(n);
	diag_release(&d);
}
END_TEST

START_TEST(targets_resolve)
{
	const char *y = "runbook: t\ntitle: T\n"
			"targets:\n  db: {type: postgres, dsn: x}\n  a: {type: ssh, host: h1}\n  b: {type: ssh, hosts: [h2, h3]}\n"
			"steps:\n"
			"  - id: q\n    sql: SELECT 1\n"        /* no on: the only postgres target */
			"  - id: s\n    ssh: uptime\n"          /* line 10: two ssh targets: must say */
			"  - id: t\n    ssh: uptime\n    on: db\n" /* line 14 */
			"  - id: u\n    sql: SELECT 1\n    on: dbb\n"; /* line 17 */
	struct diag_list d;
	diag_init(&d);
	ck_assert_ptr_null(parse_rb(y, &d));
	EXPECT_DIAG(&d, 10, 5, "must say 'on:'");
	EXPECT_DIAG(&d, 14, 9, "needs a ssh target, but 'db' is postgres");
	EXPECT_DIAG(&d, 17, 9, "did you mean 'db'");
	ck_assert(!has_diag(&d, 8, 0, "on"));
	diag_release(&d);
}
END_TEST

START_TEST(lua_error_at_yaml_line)
{
	const char *y = "runbook: t\ntitle: T\nsteps:\n"
			"  - id: a\n"
			"    lua: |\n"
			"      local a = 1\n"
			"      local b = 2\n"
			"      if a then b = = 3 end\n" /* line 8 */
			"  - id: w\n"
			"    when: \"steps.a.value ==\"\n" /* line 10 */
			"    shell: [echo, hi]\n";
	struct diag_list d;
	diag_init(&d);
	ck_assert_ptr_null(parse_rb(y, &d));
	EXPECT_DIAG(&d, 8, 7, "unexpected symbol near '='");
	EXPECT_DIAG(&d, 10, 0, "Lua syntax error");
	diag_release(&d);
}
END_TEST

START_TEST(params_and_tests_validated)
{
	const char *y = "runbook: t\ntitle: T\n"
			"params:\n  top: {type: int, default: many}\n  x: {type: decimal}\n" /* 4, 5 */
			"steps:\n  - id: a\n    lua: return 1\n"
			"tests:\n  - name: one\n    fixtures: {nope: {rows: []}}\n" /* 11 */
			"    expect: {steps: {a: exploded}}\n";                      /* 12 */
	struct diag_list d;
	diag_init(&d);
	ck_assert_ptr_null(parse_rb(y, &d));
	EXPECT_DIAG(&d, 4, 29, "must be of type int");
	EXPECT_DIAG(&d, 5, 13, "unknown parameter type");
	EXPECT_DIAG(&d, 11, 16, "fixture for unknown step 'nope'");
	EXPECT_DIAG(&d, 12, 25, "expected status");
	diag_release(&d);
}
END_TEST

START_TEST(param_values_typed)
{
	struct rb_param p = {.name = "n", .type = "int"};
	char *err = NULL;
	json_t *v = runbook_param_value(&p, "12", &err);
	ck_assert_int_eq(json_integer_value(v), 12);
	json_decref(v);
	ck_assert_ptr_null(runbook_param_value(&p, "12x", &err));
	ck_assert_ptr_nonnull(strstr(err, "must be an integer"));
	free(err);
	p.type = "bool";
	v = runbook_param_value(&p, "yes", &err);
	ck_assert(json_is_true(v));
	json_decref(v);
}
END_TEST

Suite *suite_loader(void)
{
	Suite *s = suite_create("loader");
	TCase *tc = tcase_create("loader");
	tcase_add_test(tc, loads_library_runbook);
	tcase_add_test(tc, reports_every_error_with_position);
	tcase_add_test(tc, refuses_hostile_yaml);
	tcase_add_test(tc, refuses_deep_and_large);
	tcase_add_test(tc, scalar_typing);
	tcase_add_test(tc, targets_resolve);
	tcase_add_test(tc, lua_error_at_yaml_line);
	tcase_add_test(tc, params_and_tests_validated);
	tcase_add_test(tc, param_values_typed);
	suite_add_tcase(s, tc);
	return s;
}
