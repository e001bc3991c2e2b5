/*
 * Incident lifecycle rules (engine/incident/incident.c): acknowledgement
 * targets and when an incident is overdue, stored times, action items
 * read from a note, and the transitions triggered -> acknowledged ->
 * resolved on a real (SQLite) store.
 */
#define _POSIX_C_SOURCE 200809L
#include "tests.h"
#include "incident.h"
#include "store.h"
#include "util.h"

#include <stdlib.h>
#include <string.h>
#include <unistd.h>

START_TEST(ack_targets_and_overdue)
{
	ck_assert_int_eq(incident_ack_target("SEV1"), 15 * 60);
	ck_assert_int_eq(incident_ack_target("SEV2"), 30 * 60);
	ck_assert_int_eq(incident_ack_target("SEV3"), 2 * 3600);
	ck_assert_int_eq(incident_ack_target("SEV4"), 24 * 3600);
	ck_assert_int_eq(incident_ack_target("SEV5"), -1);
	ck_assert_int_eq(incident_ack_target("sev1"), -1);
	ck_assert_int_eq(incident_ack_target(NULL), -1);
	ck_assert(incident_severity_valid("SEV3") && !incident_severity_valid("") && !incident_severity_valid(NULL));

	int64_t detected = incident_parse_time("2026-11-24T07:00:00.000000Z");
	json_t *inc = json_pack("{s:s, s:s, s:s}", "status", "triggered", "severity", "SEV1", "detected_at",
				"2026-11-24T07:00:00.000000Z");
	ck_assert(!incident_ack_overdue(inc, detected + 15 * 60)); /* at the target: not yet */
	ck_assert(incident_ack_overdue(inc, detected + 15 * 60 + 1));
	json_object_set_new(inc, "status", json_string("acknowledged"));
	ck_assert(!incident_ack_overdue(inc, detected + 86400));
	json_object_set_new(inc, "status", json_string("triggered"));
	json_object_set_new(inc, "detected_at", json_string("yesterday"));
	ck_assert(!incident_ack_overdue(inc, detected + 86400)); /* no time: never overdue */
	json_object_set_new(inc, "detected_at", json_string("2026-11-24T07:00:00.000000Z"));
	json_object_set_new(inc, "severity", json_string("SEV9"));
	ck_assert(!incident_ack_overdue(inc, detected + 86400)); /* no target */
	json_decref(inc);
}
END_TEST

START_TEST(stored_times)
{
	ck_assert_int_eq(incident_parse_time("2026-11-24T07:00:00.000000Z"), 1795503600);
	ck_assert_int_eq(incident_parse_time("2026-11-24T07:00:00Z"), 1795503600);
	ck_assert_int_eq(incident_parse_time("24/11/2026"), -1);
	ck_assert_int_eq(incident_parse_time(NULL), -1);
	char buf[64];
	incident_format_time("2026-11-24T07:05:09.123456Z", "%Y-%m-%d %H:%M:%S", buf, sizeof buf);
	ck_assert_str_eq(buf, "2026-11-24 07:05:09");
	incident_format_time("soon", "%H:%M", buf, sizeof buf);
	ck_assert_str_eq(buf, "unknown");
}
END_TEST

static void assert_action(const char *text, const char *want_text, const char *owner, const char *due)
{
	json_t *a = incident_action(text);
	ck_assert_str_eq(json_string_value(json_object_get(a, "text")), want_text);
	if (owner)
		ck_assert_str_eq(json_string_value(json_object_get(a, "owner")), owner);
	else
		ck_assert(json_is_null(json_object_get(a, "owner")));
	if (due)
		ck_assert_str_eq(json_string_value(json_object_get(a, "due")), due);
	else
		ck_assert(json_is_null(json_object_get(a, "due")));
	json_decref(a);
}

START_TEST(action_items)
{
	assert_action("raise the pool size @alice due:2026-12-01", "raise the pool size", "@alice", "2026-12-01");
	assert_action("due:2026-12-01   add an alert   @bob", "add an alert", "@bob", "2026-12-01");
	assert_action("no owner, no date", "no owner, no date", NULL, NULL);
	/* only the first owner and date are read; the rest stays text */
	assert_action("@a @b due:2026-01-01 due:2026-02-02", "@b due:2026-02-02", "@a", "2026-01-01");
	/* a lone @ and a date of the wrong length are text */
	assert_action("mail @ ops due:2026-1-1", "mail @ ops due:2026-1-1", NULL, NULL);
	assert_action("", "", NULL, NULL);
}
END_TEST

START_TEST(transitions)
{
	char dir[] = "/tmp/runbook-incident-XXXXXX";
	ck_assert_ptr_nonnull(mkdtemp(dir));
	char *url = xasprintf("sqlite:%s/runbook.db", dir), *err = NULL, *id = NULL;
	struct store *st = store_open(url, &err);
	ck_assert_msg(st != NULL, "%s", err);
	json_t *f = json_pack("{s:s, s:s}", "title", "db down", "severity", "SEV2");
	ck_assert_int_eq(store_incident_create(st, f, "t@h", &id, &err), 0);
	json_decref(f);

	ck_assert_int_eq(incident_transition(st, "INC-999", "acknowledged", NULL, "t@h", NULL, &err), 1);
	ck_assert_ptr_nonnull(strstr(err, "no incident INC-999"));
	free(err);
	err = NULL;
	ck_assert_int_eq(incident_transition(st, id, "acknowledged", NULL, "alice@h", "2026-11-24T07:10:00.000000Z", &err),
			 0);
	ck_assert_int_eq(incident_transition(st, id, "acknowledged", NULL, "bob@h", NULL, &err), 2);
	ck_assert_ptr_nonnull(strstr(err, "cannot become acknowledged again"));
	free(err);
	err = NULL;
	ck_assert_int_eq(incident_transition(st, id, "resolved", "restarted the pool", "alice@h", NULL, &err), 0);
	ck_assert_int_eq(incident_transition(st, id, "resolved", NULL, "bob@h", NULL, &err), 2);
	ck_assert_ptr_nonnull(strstr(err, "(it is closed)"));
	free(err);
	err = NULL;

	json_t *inc = store_incident_get(st, id, &err);
	ck_assert_ptr_nonnull(inc);
	ck_assert_str_eq(json_string_value(json_object_get(inc, "status")), "resolved");
	ck_assert_str_eq(json_string_value(json_object_get(inc, "acknowledged_at")), "2026-11-24T07:10:00.000000Z");
	ck_assert_str_eq(json_string_value(json_object_get(inc, "resolution")), "restarted the pool");
	json_decref(inc);
	/* each transition is an event that says who and why; refusals record nothing */
	json_t *ev = store_events(st, id, &err);
	ck_assert_ptr_nonnull(ev);
	int acks = 0, resolves = 0;
	size_t i;
	json_t *e;
	json_array_foreach(ev, i, e) {
		const char *kind = json_string_value(json_object_get(e, "kind"));
		const char *summary = json_string_value(json_object_get(e, "summary"));
		if (!strcmp(kind, "incident.acknowledged")) {
			acks++;
			ck_assert_ptr_nonnull(strstr(summary, "alice@h"));
		} else if (!strcmp(kind, "incident.resolved")) {
			resolves++;
			ck_assert_ptr_nonnull(strstr(summary, "restarted the pool"));
		}
	}
	ck_assert_int_eq(acks, 1);
	ck_assert_int_eq(resolves, 1);
	json_decref(ev);
	store_close(st);
	free(id);
	free(url);
	char *rm = xasprintf("rm -rf '%s'", dir);
	ck_assert_int_eq(system(rm), 0);
	free(rm);
}
END_TEST

Suite *suite_incident(void)
{
	Suite *s = suite_create("incident");
	TCase *tc = tcase_create("incident");
	tcase_add_test(tc, ack_targets_and_overdue);
	tcase_add_test(tc, stored_times);
	tcase_add_test(tc, action_items);
	tcase_add_test(tc, transitions);
	suite_add_tcase(s, tc);
	return s;
}
