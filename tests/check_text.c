/* text and redact: what leaves the process as text. */
#define _POSIX_C_SOURCE 200809L
#include "tests.h"
#include "redact.h"
#include "text.h"
#include "util.h"

#include <stdlib.h>
#include <string.h>

START_TEST(escape_controls)
{
	const char in[] = "a\x1b[2J\rb\x07\tc\n\xc2\x9b d \x7f \xc3\xa9";
	char *e = text_escape(in, sizeof in - 1, 0);
	ck_assert_str_eq(e, "a\\x1b[2J\\x0db\\x07\\x09c\n\\u009b d \\x7f \xc3\xa9");
	free(e);
	e = text_escape("x\ty", 3, 1);
	ck_assert_str_eq(e, "x\ty");
	free(e);
	/* a NUL is shown, and what follows it too */
	e = text_escape("a\0b", 3, 0);
	ck_assert_str_eq(e, "a\\x00b");
	free(e);
}
END_TEST

/* serve writes its 202 with this: the same bytes as jansson's encoding */
START_TEST(json_strings_as_jansson)
{
	static const char *const cases[] = {"", "plain", "q\"uote", "back\\slash", "tab\tnl\ncr\rbs\bff\f",
					    "\x01\x1f\x7f", "\xc3\xa9 \xe2\x98\x83 /slash"};
	for (size_t i = 0; i < sizeof cases / sizeof *cases; i++) {
		struct sbuf sb;
		sbuf_init(&sb);
		sbuf_add_json_string(&sb, cases[i]);
		json_t *v = json_string(cases[i]);
		char *want = json_dumps(v, JSON_ENCODE_ANY);
		ck_assert_str_eq(sb.buf, want);
		free(want);
		json_decref(v);
		sbuf_release(&sb);
	}
	for (int c = 1; c < 0x20; c++) { /* every control character */
		char in[2] = {(char)c, 0};
		struct sbuf sb;
		sbuf_init(&sb);
		sbuf_add_json_string(&sb, in);
		json_t *v = json_string(in);
		char *want = json_dumps(v, JSON_ENCODE_ANY);
		ck_assert_str_eq(sb.buf, want);
		free(want);
		json_decref(v);
		sbuf_release(&sb);
	}
}
END_TEST

START_TEST(shortest_doubles)
{
	char b[40];
	static const struct {
		double d;
		const char *s;
	} cases[] = {{0.3, "0.3"}, {0.1 + 0.2, "0.30000000000000004"}, {2.5, "2.5"}, {1.0, "1.0"},
		     {1e300, "1e+300"}, {-0.25, "-0.25"}, {123456789.125, "123456789.125"},
		     {180.0, "180.0"}, {4320.0, "4320.0"}, {-3.0, "-3.0"}, {1e20, "1e+20"}};
	for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
		text_double(cases[i].d, b, sizeof b);
		ck_assert_str_eq(b, cases[i].s);
		ck_assert(strtod(b, NULL) == cases[i].d);
	}
	json_t *j = json_pack("{s:f, s:s#}", "f", 0.3, "s", "a\0\x1b", (size_t)3);
	char *s = text_json_dump(j, 0);
	ck_assert_str_eq(s, "{\"f\":0.3,\"s\":\"a\\u0000\\u001b\"}");
	free(s);
	json_decref(j);
}
END_TEST

START_TEST(redact_past_nul)
{
	struct redactor r;
	redact_init(&r);
	redact_add(&r, "s3cret-value");
	json_t *j = json_stringn("x\0s3cret-value\0y s3cret-value", 29);
	redact_json(&r, j);
	ck_assert_uint_eq(json_string_length(j), 11);
	ck_assert_mem_eq(json_string_value(j), "x\0***\0y ***", 11);
	json_decref(j);
	redact_release(&r);
}
END_TEST

START_TEST(dsn_passwords)
{
	static const struct {
		const char *dsn, *masked, *secret;
	} cases[] = {
		{"postgres://ops:pa%zz-Secret@db:5432/app", "postgres://ops:***@db:5432/app", "pa%zz-Secret"},
		{"postgresql://ops:p@ss@word@db/app", "postgresql://ops:***@db/app", "p@ss@word"},
		{"postgres://db/app?user=ops&password=qs-Secret&sslmode=require",
		 "postgres://db/app?user=ops&password=***&sslmode=require", "qs-Secret"},
		{"host=db password='it\\'s Secret' user=ops", "host=db password='***' user=ops", "it\\'s Secret"},
		{"host=db password = plainSecret", "host=db password = ***", "plainSecret"},
		{"host=db user=ops", "host=db user=ops", NULL},
	};
	for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
		char *m = redact_dsn(cases[i].dsn);
		ck_assert_str_eq(m, cases[i].masked);
		free(m);
		struct redactor r;
		redact_init(&r);
		redact_add_dsn(&r, cases[i].dsn);
		if (cases[i].secret) {
			char *t = xasprintf("error: \"%s\"", cases[i].secret);
			char *x = redact_str(&r, t);
			ck_assert_str_eq(x, "error: \"***\"");
			free(x);
			free(t);
		} else {
			ck_assert_uint_eq(r.n, 0);
		}
		redact_release(&r);
	}
	/* the decoded form is a secret too: the server's messages carry it */
	struct redactor r;
	redact_init(&r);
	redact_add_dsn(&r, "postgres://ops:pa%40ss-word@db/app");
	char *x = redact_str(&r, "for pa@ss-word");
	ck_assert_str_eq(x, "for ***");
	free(x);
	redact_release(&r);
}
END_TEST

Suite *suite_text(void)
{
	Suite *s = suite_create("text");
	TCase *tc = tcase_create("text");
	tcase_add_test(tc, escape_controls);
	tcase_add_test(tc, shortest_doubles);
	tcase_add_test(tc, json_strings_as_jansson);
	tcase_add_test(tc, redact_past_nul);
	tcase_add_test(tc, dsn_passwords);
	suite_add_tcase(s, tc);
	return s;
}
