/* postmortem: the Markdown post-mortem of an incident. See postmortem.h. */
#define _POSIX_C_SOURCE 200809L
#include "postmortem.h"
#include "incident.h"

#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <time.h>

void postmortem_duration(int64_t s, char *buf, size_t n)
{
	if (s < 0)
		s = 0;
	int64_t d = s / 86400, h = s % 86400 / 3600, m = s % 3600 / 60, sec = s % 60;
	if (d)
		snprintf(buf, n, h ? "%lldd %lldh" : "%lldd", (long long)d, (long long)h);
	else if (h)
		snprintf(buf, n, m ? "%lldh %lldm" : "%lldh", (long long)h, (long long)m);
	else if (m)
		snprintf(buf, n, sec ? "%lldm %llds" : "%lldm", (long long)m, (long long)sec);
	else
		snprintf(buf, n, "%llds", (long long)sec);
}

/* Markdown text on one line: no table breaks, no raw HTML, no controls. */
static void md(struct sbuf *out, const char *s)
{
	for (; s && *s; s++) {
		unsigned char c = (unsigned char)*s;
		if (c == '|' || c == '<' || c == '>' || c == '*' || c == '_' || c == '`' || c == '[' || c == ']' || c == '\\')
			sbuf_addc(out, '\\');
		if (c == '\n' || c == '\r' || c == '\t')
			c = ' ';
		if (c < 0x20 || c == 0x7f)
			continue;
		sbuf_addc(out, (char)c);
	}
}

/* "2026-11-24 07:00:00 UTC" of a stored time. */
static void utc(const char *ts, char *buf, size_t n)
{
	incident_format_time(ts, "%Y-%m-%d %H:%M:%S UTC", buf, n);
}

static const char *field(json_t *o, const char *k)
{
	return json_string_value(json_object_get(o, k));
}

struct row {
	char *time;
	char *text;
};

static int by_time(const void *a, const void *b)
{
	return strcmp(((const struct row *)a)->time, ((const struct row *)b)->time);
}

/* An action item from a note: --action, or text beginning Action:/TODO:. */
static json_t *action_of(json_t *data)
{
	json_t *a = json_object_get(data, "action");
	if (json_is_object(a))
		return json_incref(a);
	const char *text = field(data, "text");
	if (!text)
		return NULL;
	if (!strncasecmp(text, "action:", 7))
		return incident_action(text + 7);
	if (!strncasecmp(text, "todo:", 5))
		return incident_action(text + 5);
	return NULL;
}

/* The incident a post-mortem is of: its fields and times. */
struct pm {
	json_t *inc, *events;
	const char *id, *title, *sev, *status, *resolution;
	const char *started, *detected, *acked, *resolved;
	int64_t t_start, t_det, t_ack, t_res; /* -1: not set */
};

static void summary(struct sbuf *out, const struct pm *p)
{
	sbuf_adds(out, "# Post-Mortem: ");
	md(out, p->title);
	sbuf_adds(out, "\n\n## Summary\n\n");
	sbuf_addf(out, "- **Incident:** %s\n- **Title:** ", p->id);
	md(out, p->title);
	sbuf_adds(out, "\n- **Runbook:** ");
	md(out, field(p->inc, "runbook") ? field(p->inc, "runbook") : "none");
	sbuf_addf(out, "\n- **Severity:** %s\n- **Status:** %s", p->sev, p->status);
	if (p->resolution) {
		sbuf_adds(out, " (");
		md(out, p->resolution);
		sbuf_adds(out, ")");
	}
	if (field(p->inc, "repeat_of"))
		sbuf_addf(out, "\n- **Repeat of:** %s", field(p->inc, "repeat_of"));
	sbuf_adds(out, "\n");
	size_t i;
	json_t *e;
	int crit = 0;
	json_array_foreach(p->events, i, e) {
		json_t *data = json_object_get(e, "data");
		if (strcmp(field(e, "kind"), "finding") || strcmp(field(data, "level") ? field(data, "level") : "", "critical"))
			continue;
		sbuf_adds(out, crit++ ? "  - " : "- **Critical findings:**\n  - ");
		md(out, field(data, "message"));
		sbuf_adds(out, "\n");
	}
	if (!crit)
		sbuf_adds(out, "- **Critical findings:** none recorded\n");
}

static void impact(struct sbuf *out, const struct pm *p)
{
	char a[48], b[48], d[32];
	sbuf_adds(out, "\n## Impact\n\n- **Users affected:** ");
	size_t i;
	json_t *e;
	int n = 0;
	json_array_foreach(p->events, i, e) {
		json_t *data = json_object_get(e, "data");
		if (strcmp(field(e, "kind"), "note") || !field(data, "tag") || strcmp(field(data, "tag"), "impact"))
			continue;
		if (n++)
			sbuf_adds(out, "; ");
		md(out, field(data, "text"));
	}
	if (!n)
		sbuf_adds(out, "unknown");
	utc(p->started, a, sizeof a);
	if (p->t_res >= 0) {
		utc(p->resolved, b, sizeof b);
		postmortem_duration(p->t_res - (p->t_start >= 0 ? p->t_start : p->t_det), d, sizeof d);
		sbuf_addf(out, "\n- **Duration:** %s - %s (%s)\n", a, b, d);
	} else {
		sbuf_addf(out, "\n- **Duration:** %s - (not resolved)\n", a);
	}
	sbuf_addf(out, "- **Severity:** %s\n", p->sev);
}

/* Impact, detection, acknowledgement, the first critical finding (the
 * root cause identified), notes (fixes deployed, action items) and the
 * resolution, in time order. */
static void timeline(struct sbuf *out, const struct pm *p)
{
	size_t cap = json_array_size(p->events) + 8, nrow = 0;
	struct row *rows = xcalloc(cap, sizeof *rows);
#define ROW(ts, ...) (rows[nrow].time = xstrdup(ts), rows[nrow++].text = xasprintf(__VA_ARGS__))
	if (p->t_start >= 0 && (!p->detected || strcmp(p->started, p->detected)))
		ROW(p->started, "Impact started");
	if (p->detected)
		ROW(p->detected, "Alert triggered (incident detected)");
	if (p->acked)
		ROW(p->acked, "Acknowledged");
	int first_crit = 1;
	size_t i;
	json_t *e;
	json_array_foreach(p->events, i, e) {
		json_t *data = json_object_get(e, "data");
		const char *kind = field(e, "kind");
		const char *when = field(data, "at") ? field(data, "at") : field(e, "time");
		if (!strcmp(kind, "finding") && field(data, "level") && !strcmp(field(data, "level"), "critical") && first_crit) {
			first_crit = 0;
			ROW(when, "Root cause identified: %s", field(data, "message"));
		} else if (!strcmp(kind, "note")) {
			const char *tag = field(data, "tag");
			ROW(when, "%s%s", tag && !strcmp(tag, "fix") ? "Fix deployed: "
					  : json_object_get(data, "action") ? "Action item: " : "Note: ", field(data, "text"));
		}
	}
	if (p->resolved)
		ROW(p->resolved, "Resolved%s%s", p->resolution ? ": " : "", p->resolution ? p->resolution : "");
#undef ROW
	qsort(rows, nrow, sizeof *rows, by_time);
	sbuf_adds(out, "\n## Timeline (UTC)\n\n| Time (UTC) | Event |\n|---|---|\n");
	char a[48];
	for (size_t k = 0; k < nrow; k++) {
		utc(rows[k].time, a, sizeof a);
		sbuf_addf(out, "| %s | ", a);
		md(out, rows[k].text);
		sbuf_adds(out, " |\n");
		free(rows[k].time);
		free(rows[k].text);
	}
	free(rows);
}

/* root-cause notes, else the critical and warning findings */
static void root_cause(struct sbuf *out, const struct pm *p)
{
	sbuf_adds(out, "\n## Root Cause\n\n");
	int n = 0;
	size_t i;
	json_t *e;
	json_array_foreach(p->events, i, e) {
		json_t *data = json_object_get(e, "data");
		if (!strcmp(field(e, "kind"), "note") && field(data, "tag") && !strcmp(field(data, "tag"), "root-cause")) {
			sbuf_adds(out, "- ");
			md(out, field(data, "text"));
			sbuf_adds(out, "\n");
			n++;
		}
	}
	if (!n) { /* the diagnosis's own words, until someone writes the cause */
		json_array_foreach(p->events, i, e) {
			json_t *data = json_object_get(e, "data");
			const char *lv = field(data, "level");
			if (strcmp(field(e, "kind"), "finding") || !lv || (strcmp(lv, "critical") && strcmp(lv, "warning")))
				continue;
			sbuf_addf(out, "- %s (finding of step %s): ", lv, field(data, "step") ? field(data, "step") : "?");
			md(out, field(data, "message"));
			sbuf_adds(out, "\n");
			n++;
		}
	}
	if (!n)
		sbuf_adds(out, "Not yet known: add it with `runbook incident note ID TEXT --tag root-cause`.\n");
}

/* detection and acknowledgement against their targets, then the notes
 * tagged went-well and improve */
static void well_and_better(struct sbuf *out, const struct pm *p)
{
	char a[48], d[32];
	struct sbuf well, better;
	sbuf_init(&well);
	sbuf_init(&better);
	sbuf_add(&well, "", 0);
	sbuf_add(&better, "", 0);
	if (p->t_start >= 0 && p->t_det >= 0) {
		postmortem_duration(p->t_det - p->t_start, d, sizeof d);
		postmortem_duration(DETECT_TARGET_S, a, sizeof a);
		sbuf_addf(p->t_det - p->t_start <= DETECT_TARGET_S ? &well : &better, "- Detection took %s (target %s).\n", d,
			  a);
	}
	int64_t target = incident_ack_target(p->sev);
	if (p->t_ack >= 0 && p->t_det >= 0 && target >= 0) {
		postmortem_duration(p->t_ack - p->t_det, d, sizeof d);
		postmortem_duration(target, a, sizeof a);
		sbuf_addf(p->t_ack - p->t_det <= target ? &well : &better, "- Acknowledged after %s (the %s target is %s).\n",
			  d, p->sev, a);
	} else if (p->t_ack < 0 && target >= 0) {
		sbuf_addf(&better, "- The incident was never acknowledged.\n");
	}
	size_t i;
	json_t *e;
	json_array_foreach(p->events, i, e) {
		json_t *data = json_object_get(e, "data");
		const char *tag = field(data, "tag");
		if (strcmp(field(e, "kind"), "note") || !tag)
			continue;
		struct sbuf *to = !strcmp(tag, "went-well") ? &well : !strcmp(tag, "improve") ? &better : NULL;
		if (!to)
			continue;
		sbuf_adds(to, "- ");
		md(to, field(data, "text"));
		sbuf_adds(to, "\n");
	}
	sbuf_addf(out, "\n## What Went Well\n\n%s", well.len ? well.buf : "- Nothing recorded yet.\n");
	sbuf_addf(out, "\n## What Could Be Improved\n\n%s", better.len ? better.buf : "- Nothing recorded yet.\n");
	sbuf_release(&well);
	sbuf_release(&better);
}

static void action_items(struct sbuf *out, const struct pm *p)
{
	sbuf_adds(out, "\n## Action Items\n\n");
	int items = 0;
	size_t i;
	json_t *e;
	json_array_foreach(p->events, i, e) {
		if (strcmp(field(e, "kind"), "note"))
			continue;
		json_t *ai = action_of(json_object_get(e, "data"));
		if (!ai)
			continue;
		sbuf_adds(out, "- [ ] ");
		md(out, field(ai, "text"));
		sbuf_addf(out, " - %s - due: %s\n", field(ai, "owner") ? field(ai, "owner") : "unassigned",
			  field(ai, "due") ? field(ai, "due") : "not set");
		json_decref(ai);
		items++;
	}
	if (!items)
		sbuf_adds(out, "- None yet: `runbook incident note ID --action \"TEXT @owner due:YYYY-MM-DD\"`.\n");
}

void postmortem_render(struct sbuf *out, json_t *inc, json_t *events)
{
	struct pm p = {inc, events, field(inc, "id"), field(inc, "title"), field(inc, "severity"), field(inc, "status"),
		       field(inc, "resolution"), field(inc, "started_at"), field(inc, "detected_at"),
		       field(inc, "acknowledged_at"), field(inc, "resolved_at"), 0, 0, 0, 0};
	p.t_start = incident_parse_time(p.started);
	p.t_det = incident_parse_time(p.detected);
	p.t_ack = incident_parse_time(p.acked);
	p.t_res = incident_parse_time(p.resolved);
	summary(out, &p);
	impact(out, &p);
	timeline(out, &p);
	root_cause(out, &p);
	well_and_better(out, &p);
	action_items(out, &p);
	sbuf_adds(out, "\n## Lessons Learned\n\n- To be written at the review.\n");
}
