/* alert and match: payload shapes, Alertmanager's fingerprint, time
 * parsing, the matching rules, and the indexed best match agreeing with
 * the full evaluation. */
#define _POSIX_C_SOURCE 200809L
#include "tests.h"
#include "alert.h"
#include "match.h"
#include "path.h"
#include "util.h"

#include <stdlib.h>
#include <string.h>

/* What alert_parse gives (all three payload kinds) is a normalised
 * alert; a queue row of another shape is not. */
START_TEST(normalised_shape)
{
	static const char *const payloads[] = {
		"{\"alerts\": [{\"status\": \"resolved\", \"labels\": {\"alertname\": \"A\"}, \"startsAt\": \"2026-12-04T00:00:00Z\"}]}",
		"{\"event\": {\"event_type\": \"incident.triggered\", \"data\": {\"id\": \"P1\", \"title\": \"t\"}}}",
		"[{\"alertname\": \"B\", \"summary\": \"s\"}]"};
	for (size_t i = 0; i < sizeof payloads / sizeof *payloads; i++) {
		struct diag_list d;
		diag_init(&d);
		json_t *a = alert_parse("t", payloads[i], strlen(payloads[i]), &d);
		ck_assert_msg(a != NULL, "%s", payloads[i]);
		ck_assert(alert_is_normalised(json_array_get(a, 0)));
		json_object_set_new(json_array_get(a, 0), "status", json_string("acked"));
		ck_assert(!alert_is_normalised(json_array_get(a, 0)));
		json_decref(a);
		diag_release(&d);
	}
	static const char *const others[] = {"{\"n\": 1}", "[]", "null",
		"{\"status\": \"firing\", \"labels\": {\"a\": 1}, \"annotations\": {}, \"fingerprint\": \"f\", \"source\": \"generic\"}"};
	for (size_t i = 0; i < sizeof others / sizeof *others; i++) {
		json_t *j = json_loads(others[i], JSON_DECODE_ANY, NULL);
		ck_assert_msg(!alert_is_normalised(j), "%s", others[i]);
		json_decref(j);
	}
}
END_TEST

START_TEST(fingerprint_is_alertmanagers)
{
	/* labels and fingerprint of a real Alertmanager webhook */
	json_t *l = json_pack("{s:s, s:s, s:s, s:s, s:s, s:s, s:s, s:s, s:s, s:s, s:s, s:s, s:s}", "alertname", "Deployment",
			      "app_kubernetes_io_instance", "eric-oss-common-base", "app_kubernetes_io_managed_by", "Helm",
			      "app_kubernetes_io_name", "eric-pm-kube-state-metrics", "app_kubernetes_io_version", "2.1.0_10",
			      "chart", "eric-pm-kube-state-metrics-2.1.0_10", "deployment", "eric-log-transformer",
			      "instance", "192.168.69.53:8080", "job", "eric-pm-kube-state-metrics", "kubernetes_name",
			      "eric-pm-kube-state-metrics", "kubernetes_namespace", "eric-eo-cm-ci406", "namespace",
			      "eric-eo-cm-ci406", "severity", "Warning");
	char fp[17];
	alert_fingerprint(l, fp);
	ck_assert_str_eq(fp, "fbab788ec4c1018b");
	json_decref(l);
	l = json_object();
	alert_fingerprint(l, fp);
	ck_assert_str_eq(fp, "cbf29ce484222325"); /* the empty set: FNV's offset basis */
	json_decref(l);
}
END_TEST

START_TEST(pagerduty_signatures)
{
	/* RFC 4231, test case 2: HMAC-SHA256("Jefe", "what do ya want for nothing?") */
	const char *body = "what do ya want for nothing?";
	const char *good = "5bdcc146bf60754e6a042426089575c75a003f089d2739839dec58b964ec3843";
	char *h = xasprintf("v1=%s", good);
	ck_assert_int_eq(alert_pagerduty_signed("Jefe", body, strlen(body), h), 1);
	free(h);
	/* a rotated secret: the second of two signatures */
	h = xasprintf("v1=0000000000000000000000000000000000000000000000000000000000000000, v1=%s", good);
	ck_assert_int_eq(alert_pagerduty_signed("Jefe", body, strlen(body), h), 1);
	free(h);
	h = xasprintf("v1=%s", good);
	ck_assert_int_eq(alert_pagerduty_signed("jefe", body, strlen(body), h), 0);        /* another secret */
	ck_assert_int_eq(alert_pagerduty_signed("Jefe", "what do ya want for nothing!", 28, h), 0); /* another body */
	free(h);
	ck_assert_int_eq(alert_pagerduty_signed("Jefe", body, strlen(body), "v1=5bdc"), 0);
	ck_assert_int_eq(alert_pagerduty_signed("Jefe", body, strlen(body), ""), 0);
	ck_assert_int_eq(alert_pagerduty_signed("Jefe", body, strlen(body), "v0=5bdcc146bf60754e6a042426089575c75a003f089d2739839dec58b964ec3843"), 0);
}
END_TEST

START_TEST(times_are_utc_microseconds)
{
	char t[40];
	ck_assert_int_eq(alert_time("2026-11-24T06:59:30.123456789+01:00", t, sizeof t), 0);
	ck_assert_str_eq(t, "2026-11-24T05:59:30.123456Z");
	ck_assert_int_eq(alert_time("2026-11-24T07:00:00Z", t, sizeof t), 0);
	ck_assert_str_eq(t, "2026-11-24T07:00:00.000000Z");
	ck_assert_int_eq(alert_time("2026-11-24T07:00:00.5-02:30", t, sizeof t), 0);
	ck_assert_str_eq(t, "2026-11-24T09:30:00.500000Z");
	ck_assert_int_eq(alert_time("0001-01-01T00:00:00Z", t, sizeof t), -1); /* Alertmanager's "none" */
	ck_assert_int_eq(alert_time("yesterday", t, sizeof t), -1);
	ck_assert_int_eq(alert_time("2026-11-24T07:00:00", t, sizeof t), -1); /* no zone */
}
END_TEST

START_TEST(severity_rules)
{
	json_t *a = json_pack("{s:{s:s}}", "labels", "severity", "critical");
	ck_assert_str_eq(alert_severity(a, NULL), "SEV1");
	json_t *map = json_pack("{s:s}", "critical", "SEV2");
	ck_assert_str_eq(alert_severity(a, map), "SEV2");
	json_decref(a);
	a = json_pack("{s:{s:s, s:s}}", "labels", "severity", "critical", "sev", "SEV3");
	ck_assert_str_eq(alert_severity(a, map), "SEV3"); /* a SEVn label wins */
	json_decref(a);
	a = json_pack("{s:{}, s:s}", "labels", "severity", "low"); /* PagerDuty's urgency */
	ck_assert_str_eq(alert_severity(a, NULL), "SEV4");
	json_decref(a);
	a = json_pack("{s:{s:s}}", "labels", "severity", "bogus");
	ck_assert_ptr_null(alert_severity(a, NULL));
	json_decref(a);
	json_decref(map);
}
END_TEST

START_TEST(matchers_parse)
{
	char *name, *value, *err;
	const char *op;
	ck_assert_int_eq(match_parse_matcher("severity=~\"critical|warning\"", &name, &op, &value, &err), 0);
	ck_assert_str_eq(name, "severity");
	ck_assert_str_eq(op, "=~");
	ck_assert_str_eq(value, "critical|warning");
	free(name), free(value);
	ck_assert_int_eq(match_parse_matcher(" env != \"a\\\"b\" ", &name, &op, &value, &err), 0);
	ck_assert_str_eq(op, "!=");
	ck_assert_str_eq(value, "a\"b");
	free(name), free(value);
	ck_assert_int_eq(match_parse_matcher("job=node", &name, &op, &value, &err), 0);
	ck_assert_str_eq(value, "node");
	free(name), free(value);
	static const char *const bad[] = {"=x", "job", "job=\"open", "job=\"x\" trailing", "9job=x"};
	for (size_t i = 0; i < sizeof bad / sizeof *bad; i++) {
		ck_assert_msg(match_parse_matcher(bad[i], &name, &op, &value, &err) == -1, "accepted %s", bad[i]);
		free(err);
	}
}
END_TEST

static const char *const library[] = {
	"runbook: by-name\ntitle: t\nsymptoms:\n  - alertname: [PostgresDown]\nsteps:\n  - {id: a, lua: return 1}\n",
	"runbook: by-labels\ntitle: t\nsymptoms:\n  - labels: {service: postgres, env: \"~prod|stag.*\"}\n"
	"steps:\n  - {id: a, lua: return 1}\n",
	"runbook: by-matchers\ntitle: t\nsymptoms:\n  - matchers: ['service=\"postgres\"', 'env!=\"test\"', 'team=~\"db|dba\"']\n"
	"steps:\n  - {id: a, lua: return 1}\n",
	"runbook: by-text\ntitle: t\nsymptoms:\n  - text: \"too many (connections|clients)\"\nsteps:\n  - {id: a, lua: return 1}\n",
	"runbook: negated\ntitle: t\nsymptoms:\n  - matchers: ['region!~\"eu-.*\"', 'service=\"cache\"']\nsteps:\n  - {id: a, lua: return 1}\n",
	"runbook: unmatched\ntitle: t\nsteps:\n  - {id: a, lua: return 1}\n",
};

static struct runbook *rbs[sizeof library / sizeof *library];

static struct matchset *make_set(void)
{
	for (size_t i = 0; i < sizeof library / sizeof *library; i++) {
		struct diag_list d;
		diag_init(&d);
		rbs[i] = parse_rb(library[i], &d);
		ck_assert_msg(rbs[i] != NULL, "runbook %zu does not load", i);
		diag_release(&d);
	}
	char *err = NULL;
	struct matchset *ms = matchset_new(rbs, sizeof library / sizeof *library, &err);
	ck_assert_ptr_nonnull(ms);
	return ms;
}

static void free_set(struct matchset *ms)
{
	matchset_free(ms);
	for (size_t i = 0; i < sizeof library / sizeof *library; i++)
		runbook_free(rbs[i]);
}

/* The best match, and the first of the full ranking: they must agree. */
static const char *best_of(struct matchset *ms, const char *alert_json)
{
	json_t *a = json_loads(alert_json, 0, NULL);
	ck_assert_ptr_nonnull(a);
	struct runbook *best = matchset_best(ms, a);
	json_t *all = matchset_match(ms, a, 0);
	json_t *first = json_array_get(all, 0);
	if (best)
		ck_assert_str_eq(json_string_value(json_object_get(first, "runbook")), best->id);
	else
		ck_assert_uint_eq(json_array_size(all), 0);
	json_decref(all);
	json_decref(a);
	return best ? best->id : "none";
}

START_TEST(matching_rules_and_ranking)
{
	struct matchset *ms = make_set();
	/* a matcher naming the alertname outranks more conditions elsewhere */
	ck_assert_str_eq(best_of(ms, "{\"name\": \"PostgresDown\", \"labels\": {\"service\": \"postgres\", \"env\": \"prod\", "
				     "\"team\": \"dba\"}}"), "by-name");
	/* three conditions beat two; the label regex is anchored (prod-eu is not prod|stag.*) */
	ck_assert_str_eq(best_of(ms, "{\"name\": \"X\", \"labels\": {\"service\": \"postgres\", \"env\": \"prod\", \"team\": \"db\"}}"),
			 "by-matchers");
	ck_assert_str_eq(best_of(ms, "{\"name\": \"X\", \"labels\": {\"service\": \"postgres\", \"env\": \"prod-eu\"}}"), "none");
	ck_assert_str_eq(best_of(ms, "{\"name\": \"X\", \"labels\": {\"service\": \"postgres\", \"env\": \"staging\"}}"),
			 "by-labels");
	/* text: case-insensitive, unanchored, over summary and description */
	ck_assert_str_eq(best_of(ms, "{\"name\": \"X\", \"labels\": {}, \"summary\": \"DB\", \"description\": \"FATAL: Too Many "
				     "Clients already\"}"), "by-text");
	/* a missing label is "": != and !~ hold */
	ck_assert_str_eq(best_of(ms, "{\"name\": \"X\", \"labels\": {\"service\": \"cache\"}}"), "negated");
	ck_assert_str_eq(best_of(ms, "{\"name\": \"X\", \"labels\": {\"service\": \"cache\", \"region\": \"eu-west\"}}"), "none");
	/* an alert that names its runbook: label, annotation, runbook_url */
	ck_assert_str_eq(best_of(ms, "{\"name\": \"PostgresDown\", \"labels\": {\"runbook\": \"unmatched\"}}"), "unmatched");
	ck_assert_str_eq(best_of(ms, "{\"name\": \"PostgresDown\", \"labels\": {}, \"annotations\": {\"runbook_url\": "
				     "\"https://wiki/runbooks/By-Text.md?x=1#top\"}}"), "by-text");
	free_set(ms);
}
END_TEST

START_TEST(explain_lists_everything)
{
	struct matchset *ms = make_set();
	json_t *a = json_pack("{s:s, s:{s:s}}", "name", "PostgresDown", "labels", "service", "postgres");
	json_t *all = matchset_match(ms, a, 1);
	ck_assert_uint_eq(json_array_size(all), sizeof library / sizeof *library);
	json_t *first = json_array_get(all, 0);
	ck_assert_str_eq(json_string_value(json_object_get(first, "runbook")), "by-name");
	json_t *cond = json_array_get(json_object_get(json_array_get(json_object_get(first, "matchers"), 0), "conditions"), 0);
	ck_assert(json_is_true(json_object_get(cond, "held")));
	ck_assert_str_eq(json_string_value(json_object_get(cond, "actual")), "PostgresDown");
	json_decref(all);
	json_decref(a);
	free_set(ms);
}
END_TEST

Suite *suite_match(void)
{
	Suite *s = suite_create("match");
	TCase *tc = tcase_create("match");
	tcase_add_test(tc, normalised_shape);
	tcase_add_test(tc, fingerprint_is_alertmanagers);
	tcase_add_test(tc, pagerduty_signatures);
	tcase_add_test(tc, times_are_utc_microseconds);
	tcase_add_test(tc, severity_rules);
	tcase_add_test(tc, matchers_parse);
	tcase_add_test(tc, matching_rules_and_ranking);
	tcase_add_test(tc, explain_lists_everything);
	suite_add_tcase(s, tc);
	return s;
}
