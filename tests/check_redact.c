/*
 * redact: secrets are replaced by value wherever they appear (SPEC section
 * 4): several secrets, one inside another, bytes after a NUL, the
 * passwords of DSNs in both forms (raw and decoded), JSON values and keys.
 */
#include "tests.h"
#include "redact.h"

#include <stdlib.h>
#include <string.h>

START_TEST(by_value_longest_first)
{
	struct redactor r;
	redact_init(&r);
	redact_add(&r, "hunter2");
	redact_add(&r, "hunter2-and-more");
	redact_add(&r, "on"); /* too short to be a secret: never redacted */
	redact_add(&r, "hunter2"); /* once is enough */
	ck_assert_uint_eq(r.n, 2);
	char *s = redact_str(&r, "on: hunter2-and-more, then hunter2 and hunter2hunter2");
	ck_assert_str_eq(s, "on: ***, then *** and ******");
	free(s);
	redact_release(&r);
}
END_TEST

START_TEST(bytes_after_a_nul)
{
	struct redactor r;
	redact_init(&r);
	redact_add(&r, "s3cr3t!");
	const char in[] = "head\0s3cr3t!\0tail";
	size_t n = 0;
	char *out = redact_mem(&r, in, sizeof in - 1, &n);
	const char want[] = "head\0***\0tail";
	ck_assert_uint_eq(n, sizeof want - 1);
	ck_assert(memcmp(out, want, n) == 0);
	free(out);
	redact_release(&r);
}
END_TEST

START_TEST(dsn_passwords)
{
	struct redactor r;
	redact_init(&r);
	/* conninfo: quoted, with an escaped quote; the decoded value is what
	 * libpq and the server print */
	const char *ci = "host=db-1 password='pa ss\\'word' user=ops";
	redact_add_dsn(&r, ci);
	char *shown = redact_dsn(ci);
	ck_assert_str_eq(shown, "host=db-1 password='***' user=ops");
	free(shown);
	char *s = redact_str(&r, "FATAL: password authentication failed (tried pa ss'word)");
	ck_assert_ptr_null(strstr(s, "pa ss'word"));
	free(s);
	/* URI: userinfo percent-encoded, and a password parameter as well */
	const char *uri = "postgres://ops:p%40ssw0rd@db-2:5432/app?sslmode=disable&password=second-pass";
	redact_add_dsn(&r, uri);
	shown = redact_dsn(uri);
	ck_assert_str_eq(shown, "postgres://ops:***@db-2:5432/app?sslmode=disable&password=***");
	free(shown);
	s = redact_str(&r, "p%40ssw0rd p@ssw0rd second-pass");
	ck_assert_str_eq(s, "*** *** ***");
	free(s);
	/* a DSN without a password is left alone */
	shown = redact_dsn("host=db-3 user=ops");
	ck_assert_str_eq(shown, "host=db-3 user=ops");
	free(shown);
	redact_release(&r);
}
END_TEST

START_TEST(json_values_and_keys)
{
	struct redactor r;
	redact_init(&r);
	redact_add(&r, "tok-12345");
	json_t *v = json_pack("{s:s, s:[s, i, {s:s}], s:s}", "auth", "Bearer tok-12345", "list", "x tok-12345 y", 7, "k",
			      "tok-12345", "tok-12345", "used as a key");
	redact_json(&r, v);
	char *t = json_dumps(v, JSON_SORT_KEYS | JSON_COMPACT);
	ck_assert_ptr_null(strstr(t, "tok-12345"));
	ck_assert_str_eq(t, "{\"***\":\"used as a key\",\"auth\":\"Bearer ***\",\"list\":[\"x *** y\",7,{\"k\":\"***\"}]}");
	free(t);
	json_decref(v);
	redact_release(&r);
}
END_TEST

Suite *suite_redact(void)
{
	Suite *s = suite_create("redact");
	TCase *tc = tcase_create("redact");
	tcase_add_test(tc, by_value_longest_first);
	tcase_add_test(tc, bytes_after_a_nul);
	tcase_add_test(tc, dsn_passwords);
	tcase_add_test(tc, json_values_and_keys);
	suite_add_tcase(s, tc);
	return s;
}
