/* report: text and JSON rendering of a run. See report.h. */
#define _POSIX_C_SOURCE 200809L
#include "exec.h"
#include "report.h"
#include "text.h"
#include "util.h"
#include "action.h"

#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#define C_RESET "\033[0m"
#define C_BOLD "\033[1m"
#define C_DIM "\033[2m"
#define C_RED "\033[31m"
#define C_GREEN "\033[32m"
#define C_YELLOW "\033[33m"
#define C_CYAN "\033[36m"

void progress_init(struct progress *p, FILE *out, struct redactor *red)
{
	memset(p, 0, sizeof *p);
	p->out = out;
	const char *term = getenv("TERM");
	int dumb = term && !strcmp(term, "dumb");
	p->tty = isatty(fileno(out)) && !dumb; /* a dumb terminal gets no cursor movement */
	const char *nc = getenv("NO_COLOR");
	p->color = p->tty && !(nc && *nc);
	p->red = red;
	pthread_mutex_init(&p->mu, NULL);
	cond_init_monotonic(&p->cv);
}

/* Rewrites the running step's line with its elapsed time, every second. */
static void *tick(void *arg)
{
	struct progress *p = arg;
	pthread_mutex_lock(&p->mu);
	while (p->ticking) {
		cond_wait_ms(&p->cv, &p->mu, 1000);
		if (!p->ticking)
			break;
		int64_t s = (now_ms() - p->started_ms) / 1000;
		fprintf(p->out, "\r\033[K%s %3lld s", p->line, (long long)s);
		fflush(p->out);
	}
	pthread_mutex_unlock(&p->mu);
	return NULL;
}

static void stop_ticker(struct progress *p)
{
	pthread_mutex_lock(&p->mu);
	int was = p->ticking;
	p->ticking = 0;
	pthread_cond_signal(&p->cv);
	pthread_mutex_unlock(&p->mu);
	if (was)
		pthread_join(p->ticker, NULL);
}

static const char *status_color(const char *st)
{
	if (!strcmp(st, "ok"))
		return C_GREEN;
	if (!strcmp(st, "failed") || !strcmp(st, "timeout"))
		return C_RED;
	if (!strcmp(st, "would-run"))
		return C_YELLOW;
	return C_DIM;
}

void report_header(struct progress *p, const struct runbook *rb, int dry_run)
{
	fprintf(p->out, "%s%s%s: %s%s\n", p->color ? C_BOLD : "", rb->id, p->color ? C_RESET : "",
		rb->title ? rb->title : "", dry_run ? " (dry run: nothing is executed)" : "");
	fflush(p->out);
}

void progress_step(void *ud, const struct rb_step *step, json_t *res, int state)
{
	struct progress *p = ud;
	const char *target = step->on ? step->on : "";
	if (state == PROGRESS_START) {
		if (p->tty) {
			snprintf(p->line, sizeof p->line, "  %-9s  %-24s %-6s %-12s", "running", step->id, step->action->name,
				 target);
			fputs(p->line, p->out);
			fflush(p->out);
			p->started_ms = now_ms();
			p->ticking = 1;
			if (pthread_create(&p->ticker, NULL, tick, p))
				p->ticking = 0;
		}
		return;
	}
	stop_ticker(p); /* before a prompt, and when the step is done */
	if (state == PROGRESS_PAUSE) {
		if (p->tty)
			fputc('\n', p->out);
		return;
	}
	const char *st = json_string_value(json_object_get(res, "status"));
	long long ms = (long long)json_integer_value(json_object_get(res, "duration_ms"));
	if (p->tty)
		fputs("\r\033[K", p->out);
	fprintf(p->out, "  %s%-9s%s  %-24s %-6s %-12s %6lld ms", p->color ? status_color(st) : "", st,
		p->color ? C_RESET : "", step->id, step->action->name, target, ms);
	const char *err = json_string_value(json_object_get(res, "error"));
	if (err) {
		char *r = redact_str(p->red, err);
		char *nl = strchr(r, '\n');
		if (nl)
			*nl = '\0';
		char *e = text_escape(r, strlen(r), 0);
		fprintf(p->out, "  %s", e);
		free(e);
		free(r);
	}
	fputc('\n', p->out);
	fflush(p->out);
}

/* Text from a server or host, line by line behind prefix, with control
 * characters escaped. */
static void indent_text(FILE *out, json_t *v, const char *prefix)
{
	char *text = text_escape_json(v);
	const char *p = text;
	while (*p) {
		const char *nl = strchr(p, '\n');
		size_t n = nl ? (size_t)(nl - p) : strlen(p);
		fprintf(out, "%s%.*s\n", prefix, (int)n, p);
		p += n + (nl ? 1 : 0);
	}
	free(text);
}

/* A table cell: escaped, on one line. */
static char *cell(json_t *v)
{
	if (!v || json_is_null(v))
		return xstrdup("NULL");
	if (!json_is_string(v))
		return text_json_dump(v, 0);
	char *s = text_escape_json(v);
	for (char *q = s; *q; q++)
		if (*q == '\n')
			*q = ' ';
	return s;
}

/* SQL rows as an aligned table (at most 50 rows shown; the JSON has all). */
static void print_rows(FILE *out, json_t *res)
{
	json_t *cols = json_object_get(res, "columns"), *rows = json_object_get(res, "rows");
	size_t nc = json_array_size(cols), nr = json_array_size(rows);
	if (!nc)
		return;
	size_t shown = nr > 50 ? 50 : nr;
	size_t *w = xcalloc(nc, sizeof *w);
	for (size_t c = 0; c < nc; c++) {
		w[c] = strlen(json_string_value(json_array_get(cols, c)));
		for (size_t r = 0; r < shown; r++) {
			char *s = cell(json_object_get(json_array_get(rows, r), json_string_value(json_array_get(cols, c))));
			size_t l = strlen(s);
			if (l > 60)
				l = 60;
			if (l > w[c])
				w[c] = l;
			free(s);
		}
	}
	fputs("      ", out);
	for (size_t c = 0; c < nc; c++)
		fprintf(out, "%s%-*s", c ? " | " : "", (int)w[c], json_string_value(json_array_get(cols, c)));
	fputs("\n      ", out);
	for (size_t c = 0; c < nc; c++) {
		fputs(c ? "-+-" : "", out);
		for (size_t i = 0; i < w[c]; i++)
			fputc('-', out);
	}
	fputc('\n', out);
	for (size_t r = 0; r < shown; r++) {
		fputs("      ", out);
		for (size_t c = 0; c < nc; c++) {
			char *s = cell(json_object_get(json_array_get(rows, r), json_string_value(json_array_get(cols, c))));
			fprintf(out, "%s%-*.*s", c ? " | " : "", (int)w[c], 60, s);
			free(s);
		}
		fputc('\n', out);
	}
	json_t *total = json_object_get(res, "rows_truncated");
	if (json_is_integer(total))
		fprintf(out, "      (%zu of %lld rows kept: output is capped per step%s)\n", nr,
			(long long)json_integer_value(total), nr > shown ? "; first 50 shown" : "");
	else
		fprintf(out, "      (%zu row%s%s)\n", nr, nr == 1 ? "" : "s", nr > shown ? ", first 50 shown" : "");
	free(w);
}

/* stdout, stderr and a non-zero exit code of a command's result. */
static void print_streams(FILE *out, json_t *r, const char *indent)
{
	char *err_prefix = xasprintf("%sstderr: ", indent);
	json_t *jo = json_object_get(r, "stdout"), *je = json_object_get(r, "stderr");
	if (json_string_length(jo))
		indent_text(out, jo, indent);
	if (json_string_length(je))
		indent_text(out, je, err_prefix);
	static const char *const streams[] = {"stdout", "stderr"};
	for (int i = 0; i < 2; i++) {
		char key[32];
		snprintf(key, sizeof key, "%s_truncated", streams[i]);
		json_t *t = json_object_get(r, key);
		json_t *kept = json_object_get(r, streams[i]);
		if (json_is_integer(t))
			fprintf(out, "%s(%s truncated: %zu of %lld bytes kept, the output cap)\n", indent, streams[i],
				json_string_length(kept), (long long)json_integer_value(t));
	}
	json_t *ec = json_object_get(r, "exit_code");
	if (json_is_integer(ec) && json_integer_value(ec))
		fprintf(out, "%sexit code %lld\n", indent, (long long)json_integer_value(ec));
	free(err_prefix);
}

void report_text(FILE *out, int color, json_t *report)
{
	json_t *steps = json_object_get(report, "steps");
	size_t i;
	json_t *s;
	int any = 0;
	json_array_foreach(steps, i, s) {
		const char *st = json_string_value(json_object_get(s, "status"));
		const char *action = json_string_value(json_object_get(s, "action"));
		json_t *rendered = json_object_get(s, "rendered");
		int has_out = json_object_get(s, "rows") || json_object_get(s, "stdout") || json_object_get(s, "log") ||
			      json_object_get(s, "hosts") ||
			      (json_object_get(s, "value") && !json_is_null(json_object_get(s, "value")));
		if (!strcmp(st, "skipped") && !json_object_get(s, "error"))
			continue;
		if (!rendered && !has_out)
			continue;
		if (!any++)
			fprintf(out, "\n%sSteps%s\n", color ? C_BOLD : "", color ? C_RESET : "");
		const char *target = json_string_value(json_object_get(s, "target"));
		fprintf(out, "\n  %s%s%s (%s%s%s) %s%s%s\n", color ? C_CYAN : "",
			json_string_value(json_object_get(s, "id")), color ? C_RESET : "", action, target ? " on " : "",
			target ? target : "", color ? status_color(st) : "", st, color ? C_RESET : "");
		if (json_is_string(rendered) && strcmp(st, "ok"))
			indent_text(out, rendered, "    > ");
		else if (json_is_string(rendered))
			indent_text(out, rendered, color ? C_DIM "    > " C_RESET : "    > ");
		if (!strcmp(st, "would-run") && !json_object_get(s, "error"))
			continue;
		print_rows(out, s);
		const char *cmd = json_string_value(json_object_get(s, "command"));
		if (cmd && !json_array_size(json_object_get(s, "columns"))) /* DML: "UPDATE 0" is not "ok" at a glance */
			fprintf(out, "      %s %lld (rows affected)\n", cmd,
				(long long)json_integer_value(json_object_get(s, "row_count")));
		print_streams(out, s, "      ");
		const char *host;
		json_t *hr;
		json_object_foreach(json_object_get(s, "hosts"), host, hr) {
			const char *hs = json_string_value(json_object_get(hr, "status"));
			fprintf(out, "      %s%s%s %s%s%s\n", color ? C_CYAN : "", host, color ? C_RESET : "",
				color ? status_color(hs) : "", hs, color ? C_RESET : "");
			print_streams(out, hr, "        ");
			json_t *he = json_object_get(hr, "error");
			if (json_is_string(he))
				indent_text(out, he, "        error: ");
		}
		size_t li;
		json_t *lv;
		json_array_foreach(json_object_get(s, "log"), li, lv)
			indent_text(out, lv, "      log: ");
		json_t *val = json_object_get(s, "value");
		if (val && !json_is_null(val)) {
			char *t = text_json_dump(val, 0);
			fprintf(out, "      value: %s\n", t);
			free(t);
		}
		json_t *err = json_object_get(s, "error");
		if (json_is_string(err))
			indent_text(out, err, color ? C_RED "      error: " C_RESET : "      error: ");
	}
	json_t *findings = json_object_get(report, "findings");
	if (json_array_size(findings)) {
		fprintf(out, "\n%sFindings%s\n", color ? C_BOLD : "", color ? C_RESET : "");
		json_t *f;
		json_array_foreach(findings, i, f) {
			const char *lv = json_string_value(json_object_get(f, "level"));
			const char *c = !strcmp(lv, "critical") ? C_RED : !strcmp(lv, "warning") ? C_YELLOW : C_CYAN;
			char up[16];
			size_t k;
			for (k = 0; lv[k] && k < sizeof up - 1; k++)
				up[k] = (char)(lv[k] >= 'a' && lv[k] <= 'z' ? lv[k] - 32 : lv[k]);
			up[k] = '\0';
			char *m = text_escape_json(json_object_get(f, "message"));
			fprintf(out, "  %s%-8s%s  %s  %s(%s)%s\n", color ? c : "", up, color ? C_RESET : "", m,
				color ? C_DIM : "", json_string_value(json_object_get(f, "step")), color ? C_RESET : "");
			free(m);
		}
	}
	int counts[5] = {0};
	json_array_foreach(steps, i, s) {
		const char *st = json_string_value(json_object_get(s, "status"));
		static const char *names[] = {"ok", "failed", "timeout", "skipped", "would-run"};
		for (int k = 0; k < 5; k++)
			if (!strcmp(st, names[k]))
				counts[k]++;
	}
	const char *tname;
	json_t *tcfg;
	int shown = 0;
	json_object_foreach(json_object_get(report, "targets"), tname, tcfg) {
		if (!shown++)
			fprintf(out, "\n%sTargets%s (a dry run connects to none of them)\n", color ? C_BOLD : "",
				color ? C_RESET : "");
		json_t *t = json_deep_copy(tcfg);
		json_t *why = json_object_get(t, "not_rendered");
		char *whys = why ? text_escape_json(why) : NULL;
		json_object_del(t, "not_rendered");
		json_object_del(t, "description");
		char *c = text_json_dump(t, 0);
		char *e = text_escape(c, strlen(c), 0);
		fprintf(out, "  %-16s %s%s%s\n", tname, e, whys ? "  (not rendered: " : "", whys ? whys : "");
		if (whys)
			fputs(")\n", out);
		free(e);
		free(c);
		free(whys);
		json_decref(t);
	}
	const char *inc = json_string_value(json_object_get(report, "incident"));
	fprintf(out, "\n%s: %zu step%s (%d ok, %d failed, %d timeout, %d skipped, %d would-run), %zu finding%s, %lld ms\n",
		json_string_value(json_object_get(report, "status")), json_array_size(steps),
		json_array_size(steps) == 1 ? "" : "s", counts[0], counts[1],
		counts[2], counts[3], counts[4], json_array_size(findings), json_array_size(findings) == 1 ? "" : "s",
		(long long)json_integer_value(json_object_get(report, "duration_ms")));
	json_t *store = json_object_get(report, "store");
	if (json_is_true(json_object_get(store, "fallback")))
		fprintf(out, "%sstore: recorded in the local fallback store %s (the configured store: %s); "
			"`runbook store sync` copies it there%s\n", color ? C_YELLOW : "",
			json_string_value(json_object_get(store, "path")), json_string_value(json_object_get(store, "reason")),
			color ? C_RESET : "");
	if (inc)
		fprintf(out, "incident %s (runbook timeline %s; runbook exec ... --incident %s joins it)\n", inc, inc, inc);
	else if (json_is_true(json_object_get(report, "no_incident")))
		fprintf(out, "no incident: --no-incident ran this for real and recorded nothing\n");
}

void report_json(FILE *out, json_t *doc)
{
	text_json_print(out, doc);
}
