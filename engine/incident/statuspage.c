/* statuspage: components, their status, past incidents. See statuspage.h. */
#define _POSIX_C_SOURCE 200809L
#include "statuspage.h"
#include "incident.h"
#include "postmortem.h"
#include "config.h"
#include "runbook.h"
#include "store.h"

#include <stdlib.h>
#include <string.h>
#include <time.h>

#define PAST_DAYS 90

static const char *const levels[] = {"Operational", "Degraded Performance", "Partial Outage", "Major Outage"};

static int level_of(const char *sev)
{
	if (!sev)
		return 1;
	return !strcmp(sev, "SEV1") ? 3 : !strcmp(sev, "SEV2") ? 2 : 1;
}

/* The text of the first note with this tag, or NULL. */
static const char *tagged(json_t *events, const char *tag)
{
	size_t i;
	json_t *e;
	json_array_foreach(events, i, e) {
		json_t *d = json_object_get(e, "data");
		const char *t = json_string_value(json_object_get(d, "tag"));
		if (!strcmp(json_string_value(json_object_get(e, "kind")), "note") && t && !strcmp(t, tag))
			return json_string_value(json_object_get(d, "text"));
	}
	return NULL;
}

/* A resolved incident the page lists under past incidents: resolved in
 * the last PAST_DAYS, and not a false positive (nothing happened to users). */
static int in_past(json_t *inc, int64_t now)
{
	const char *resolution = json_string_value(json_object_get(inc, "resolution"));
	int64_t res = incident_parse_time(json_string_value(json_object_get(inc, "resolved_at")));
	return !strcmp(json_string_value(json_object_get(inc, "status")), "resolved") &&
	       !(resolution && !strcmp(resolution, "false-positive")) && res >= 0 && now - res <= PAST_DAYS * 86400;
}

json_t *statuspage_build(json_t *components, json_t *incidents, json_t *notes, int64_t now)
{
	json_t *comps = json_array(), *open = json_array(), *past = json_array();
	int worst = 0;
	size_t i, j;
	json_t *c, *inc;
	json_array_foreach(components, i, c) {
		int lv = 0;
		json_array_foreach(incidents, j, inc) {
			const char *comp = json_string_value(json_object_get(inc, "component"));
			if (comp && !strcmp(comp, json_string_value(c)) &&
			    strcmp(json_string_value(json_object_get(inc, "status")), "resolved")) {
				int l = level_of(json_string_value(json_object_get(inc, "severity")));
				if (l > lv)
					lv = l;
			}
		}
		json_array_append_new(comps, json_pack("{s:O, s:s}", "name", c, "status", levels[lv]));
	}
	json_array_foreach(incidents, j, inc) {
		const char *status = json_string_value(json_object_get(inc, "status"));
		const char *sev = json_string_value(json_object_get(inc, "severity"));
		if (strcmp(status, "resolved")) {
			int l = level_of(sev);
			if (l > worst)
				worst = l;
			json_array_append_new(open, json_pack("{s:O, s:O, s:O, s:O, s:O}", "id", json_object_get(inc, "id"),
							      "title", json_object_get(inc, "title"), "severity",
							      json_object_get(inc, "severity"), "component",
							      json_object_get(inc, "component"), "started_at",
							      json_object_get(inc, "started_at")));
			continue;
		}
		if (!in_past(inc, now))
			continue;
		const char *resolution = json_string_value(json_object_get(inc, "resolution"));
		int64_t st = incident_parse_time(json_string_value(json_object_get(inc, "started_at")));
		int64_t res = incident_parse_time(json_string_value(json_object_get(inc, "resolved_at")));
		json_t *ev = json_object_get(notes, json_string_value(json_object_get(inc, "id")));
		char date[16];
		snprintf(date, sizeof date, "%.10s", json_string_value(json_object_get(inc, "started_at")));
		json_array_append_new(past, json_pack("{s:O, s:s, s:O, s:O, s:I, s:s?, s:s?, s:s?}", "id",
						      json_object_get(inc, "id"), "date", date, "title",
						      json_object_get(inc, "title"), "status", json_object_get(inc, "status"),
						      "duration_s", (json_int_t)(st >= 0 ? res - st : 0), "impact",
						      tagged(ev, "impact"), "root_cause", tagged(ev, "root-cause"),
						      "resolution", resolution));
	}
	const char *headline = !json_array_size(open) ? "All Systems Operational"
			       : worst == 3 ? "Major Outage" : worst == 2 ? "Partial Outage" : "Degraded Performance";
	return json_pack("{s:s, s:o, s:o, s:o}", "headline", headline, "components", comps, "open", open, "past", past);
}

/* Markdown text: no markup from incident titles or notes. */
static void md(struct sbuf *out, const char *s)
{
	for (; s && *s; s++) {
		unsigned char ch = (unsigned char)*s;
		if (strchr("|<>*_`[]\\#", ch))
			sbuf_addc(out, '\\');
		sbuf_addc(out, ch == '\n' || ch == '\r' || ch == '\t' ? ' ' : (char)ch);
	}
}

static const char *str(json_t *o, const char *k)
{
	return json_string_value(json_object_get(o, k));
}

/* "2026-11-24 07:00 UTC" of a stored time, for people. */
static void when(const char *ts, char *buf, size_t n)
{
	incident_format_time(ts, "%Y-%m-%d %H:%M UTC", buf, n);
}

void statuspage_markdown(struct sbuf *out, json_t *page)
{
	sbuf_addf(out, "# Status\n\n**%s**\n\n## Components\n\n| Component | Status |\n|---|---|\n", str(page, "headline"));
	size_t i;
	json_t *c;
	json_array_foreach(json_object_get(page, "components"), i, c) {
		sbuf_adds(out, "| ");
		md(out, str(c, "name"));
		sbuf_addf(out, " | %s |\n", str(c, "status"));
	}
	if (json_array_size(json_object_get(page, "open"))) {
		sbuf_adds(out, "\n## Ongoing\n\n");
		json_array_foreach(json_object_get(page, "open"), i, c) {
			sbuf_addf(out, "- **%s** ", str(c, "severity"));
			md(out, str(c, "title"));
			char since[40];
			when(str(c, "started_at"), since, sizeof since);
			sbuf_addf(out, " (%s, since %s)\n", str(c, "id"), since);
		}
	}
	sbuf_adds(out, "\n## Past incidents (90 days)\n\n");
	if (!json_array_size(json_object_get(page, "past")))
		sbuf_adds(out, "No incidents.\n");
	json_array_foreach(json_object_get(page, "past"), i, c) {
		char d[32];
		postmortem_duration(json_integer_value(json_object_get(c, "duration_s")), d, sizeof d);
		sbuf_addf(out, "### %s: ", str(c, "date"));
		md(out, str(c, "title"));
		sbuf_addf(out, "\n\n- Status: %s, lasted %s\n- Impact: ", str(c, "status"), d);
		md(out, str(c, "impact") ? str(c, "impact") : "not recorded");
		sbuf_adds(out, "\n- Root cause: ");
		md(out, str(c, "root_cause") ? str(c, "root_cause") : "not recorded");
		sbuf_adds(out, "\n- Resolution: ");
		md(out, str(c, "resolution") ? str(c, "resolution") : "not recorded");
		sbuf_adds(out, "\n\n");
	}
}

/* HTML text: every string escaped. */
static void h(struct sbuf *out, const char *s)
{
	for (; s && *s; s++) {
		switch (*s) {
		case '<': sbuf_adds(out, "&lt;"); break;
		case '>': sbuf_adds(out, "&gt;"); break;
		case '&': sbuf_adds(out, "&amp;"); break;
		case '"': sbuf_adds(out, "&quot;"); break;
		case '\'': sbuf_adds(out, "&#39;"); break;
		default: sbuf_addc(out, *s);
		}
	}
}

static const char *css_class(const char *status)
{
	return !strcmp(status, "Operational") ? "ok" : !strcmp(status, "Degraded Performance") ? "degraded"
	       : !strcmp(status, "Partial Outage") ? "partial" : "major";
}

void statuspage_html(struct sbuf *out, json_t *page)
{
	const char *headline = str(page, "headline");
	sbuf_adds(out,
		  "<!DOCTYPE html>\n<html lang=\"en\">\n<head>\n<meta charset=\"utf-8\">\n"
		  "<meta name=\"viewport\" content=\"width=device-width, initial-scale=1\">\n<title>Status: ");
	h(out, headline);
	sbuf_adds(out, "</title>\n<style>\n"
		       "body{font:16px/1.5 system-ui,-apple-system,\"Segoe UI\",Roboto,sans-serif;margin:0;color:#1b1f24;background:#f6f8fa}\n"
		       "main{max-width:46rem;margin:0 auto;padding:1rem}\n"
		       "h1{font-size:1.5rem;margin:.5rem 0}h2{font-size:1.15rem;margin:1.5rem 0 .5rem}h3{font-size:1rem;margin:1rem 0 .25rem}\n"
		       ".headline{padding:1rem;border-radius:.5rem;font-weight:600;color:#fff}\n"
		       ".ok{background:#1a7f37}.degraded{background:#9a6700}.partial{background:#bc4c00}.major{background:#cf222e}\n"
		       "ul.components{list-style:none;padding:0;margin:0;background:#fff;border:1px solid #d0d7de;border-radius:.5rem}\n"
		       "ul.components li{display:flex;justify-content:space-between;gap:1rem;flex-wrap:wrap;padding:.75rem 1rem;border-top:1px solid #d0d7de}\n"
		       "ul.components li:first-child{border-top:0}\n"
		       ".status{font-weight:600;padding:0 .5rem;border-radius:.25rem;color:#fff}\n"
		       "article{background:#fff;border:1px solid #d0d7de;border-radius:.5rem;padding:.25rem 1rem;margin:.5rem 0}\n"
		       "dl{display:grid;grid-template-columns:max-content 1fr;gap:.25rem 1rem;margin:.5rem 0}dt{color:#57606a}dd{margin:0}\n"
		       "</style>\n</head>\n<body>\n<main>\n<h1>Status</h1>\n");
	const char *cls = !strcmp(headline, "All Systems Operational") ? "ok"
			  : !strcmp(headline, "Major Outage") ? "major" : !strcmp(headline, "Partial Outage") ? "partial" : "degraded";
	sbuf_addf(out, "<p class=\"headline %s\" role=\"status\">", cls);
	h(out, headline);
	sbuf_adds(out, "</p>\n<h2>Components</h2>\n<ul class=\"components\">\n");
	size_t i;
	json_t *c;
	json_array_foreach(json_object_get(page, "components"), i, c) {
		sbuf_adds(out, "<li><span class=\"name\">");
		h(out, str(c, "name"));
		sbuf_addf(out, "</span> <span class=\"status %s\">", css_class(str(c, "status")));
		h(out, str(c, "status"));
		sbuf_adds(out, "</span></li>\n");
	}
	sbuf_adds(out, "</ul>\n");
	if (json_array_size(json_object_get(page, "open"))) {
		sbuf_adds(out, "<h2>Ongoing</h2>\n");
		json_array_foreach(json_object_get(page, "open"), i, c) {
			sbuf_adds(out, "<article><h3>");
			h(out, str(c, "title"));
			sbuf_adds(out, "</h3><dl><dt>Severity</dt><dd>");
			h(out, str(c, "severity"));
			sbuf_adds(out, "</dd><dt>Since</dt><dd>");
			char since[40];
			when(str(c, "started_at"), since, sizeof since);
			h(out, since);
			sbuf_adds(out, "</dd></dl></article>\n");
		}
	}
	sbuf_adds(out, "<h2>Past incidents (90 days)</h2>\n");
	if (!json_array_size(json_object_get(page, "past")))
		sbuf_adds(out, "<p>No incidents.</p>\n");
	json_array_foreach(json_object_get(page, "past"), i, c) {
		char d[32];
		postmortem_duration(json_integer_value(json_object_get(c, "duration_s")), d, sizeof d);
		sbuf_adds(out, "<article><h3><time>");
		h(out, str(c, "date"));
		sbuf_adds(out, "</time> ");
		h(out, str(c, "title"));
		sbuf_adds(out, "</h3><dl><dt>Status</dt><dd>");
		h(out, str(c, "status"));
		sbuf_addf(out, "</dd><dt>Duration</dt><dd>%s</dd><dt>Impact</dt><dd>", d);
		h(out, str(c, "impact") ? str(c, "impact") : "not recorded");
		sbuf_adds(out, "</dd><dt>Root cause</dt><dd>");
		h(out, str(c, "root_cause") ? str(c, "root_cause") : "not recorded");
		sbuf_adds(out, "</dd><dt>Resolution</dt><dd>");
		h(out, str(c, "resolution") ? str(c, "resolution") : "not recorded");
		sbuf_adds(out, "</dd></dl></article>\n");
	}
	sbuf_adds(out, "</main>\n</body>\n</html>\n");
}

/* Adds name to the list unless it is there. */
static void add_name(json_t *list, const char *name)
{
	size_t j;
	json_t *c;
	json_array_foreach(list, j, c)
		if (!strcmp(json_string_value(c), name))
			return;
	json_array_append_new(list, json_string(name));
}

/* The components to show: the config's, else those the runbooks name;
 * then any other component an open incident names, so that nothing that
 * is down is missing from the list. */
static json_t *components(const struct config *cfg, struct runbook *const *rbs, size_t n, json_t *incidents)
{
	json_t *out = json_array();
	const char *k;
	json_t *v;
	json_object_foreach(cfg->components, k, v)
		json_array_append_new(out, json_string(k));
	for (size_t i = 0; !json_object_size(cfg->components) && i < n; i++)
		if (rbs[i]->component)
			add_name(out, rbs[i]->component);
	size_t i;
	json_array_foreach(incidents, i, v) {
		const char *comp = json_string_value(json_object_get(v, "component"));
		if (comp && strcmp(json_string_value(json_object_get(v, "status")), "resolved"))
			add_name(out, comp);
	}
	return out;
}

json_t *statuspage_from_store(struct store *st, const struct config *cfg, struct runbook *const *rbs, size_t n,
			      int64_t now, char **err)
{
	json_t *all = store_incident_list(st, err);
	if (!all)
		return NULL;
	/* the timelines of the past incidents shown: their impact and root
	 * cause (not every resolved incident's: years of them, a query each) */
	json_t *notes = json_object();
	size_t i;
	json_t *inc;
	json_array_foreach(all, i, inc) {
		if (!in_past(inc, now))
			continue;
		char *e = NULL;
		json_t *ev = store_events(st, json_string_value(json_object_get(inc, "id")), &e);
		free(e);
		if (ev)
			json_object_set_new(notes, json_string_value(json_object_get(inc, "id")), ev);
	}
	json_t *comps = components(cfg, rbs, n, all);
	json_t *page = statuspage_build(comps, all, notes, now);
	json_decref(comps);
	json_decref(notes);
	json_decref(all);
	return page;
}
