/* cmd_exec: `runbook exec NAME ...` - SPEC section 4. */
#define _POSIX_C_SOURCE 200809L
#include "alert.h"
#include "cli.h"
#include "config.h"
#include "exec.h"
#include "fixture.h"
#include "path.h"
#include "report.h"
#include "redact.h"
#include "session.h"
#include "util.h"

#include <errno.h>
#include <getopt.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

/* Fixtures as --record writes them: the action's result fields only. */
static json_t *fixtures_of(json_t *report)
{
	static const char *const drop[] = {"id", "action", "target", "title", "started_at", "duration_ms",
		"rendered", "log", "attempts", NULL};
	json_t *fx = json_object();
	size_t i;
	json_t *s;
	json_array_foreach(json_object_get(report, "steps"), i, s) {
		const char *st = json_string_value(json_object_get(s, "status"));
		const char *action = json_string_value(json_object_get(s, "action"));
		if (!strcmp(st, "skipped") || !strcmp(st, "would-run") || !strcmp(action, "lua"))
			continue; /* Lua runs again in every replay */
		json_t *r = json_deep_copy(s);
		for (const char *const *k = drop; *k; k++)
			json_object_del(r, *k);
		json_object_set_new(fx, json_string_value(json_object_get(s, "id")), r);
	}
	return fx;
}

static int write_json_file(const char *path, json_t *doc, char **err)
{
	char *tmp = xasprintf("%s.tmp.%ld", path, (long)getpid());
	FILE *f = fopen(tmp, "w");
	if (!f) {
		*err = xasprintf("%s: %s", path, strerror(errno));
		free(tmp);
		return -1;
	}
	int bad = json_dumpf(doc, f, JSON_INDENT(2)) || fputc('\n', f) == EOF;
	bad |= fflush(f) != 0 || fsync(fileno(f)) != 0;
	bad |= fclose(f) != 0;
	if (bad || rename(tmp, path)) {
		*err = xasprintf("%s: %s", path, strerror(errno));
		unlink(tmp);
		free(tmp);
		return -1;
	}
	free(tmp);
	return 0;
}

/* The incident a run with an alert opens is the alert's: its severity,
 * fingerprint and start, and the alert itself (SPEC section 6). Returns
 * the fields of a new incident (new ref). */
static json_t *incident_fields(const struct config *cfg, const struct runbook *rb, json_t *alert)
{
	json_t *f = json_pack("{s:s, s:s, s:s, s:s?}", "title", rb->title, "severity", rb->severity, "runbook", rb->id,
			      "component", config_component(cfg, rb->id, rb->component, alert));
	if (alert) {
		const char *sev = alert_severity(alert, NULL);
		char started[40];
		if (sev)
			json_object_set_new(f, "severity", json_string(sev));
		json_t *fp = json_object_get(alert, "fingerprint");
		if (json_is_string(fp))
			json_object_set(f, "fingerprint", fp);
		if (!alert_time(json_string_value(json_object_get(alert, "starts_at")), started, sizeof started))
			json_object_set_new(f, "started_at", json_string(started));
		json_object_set(f, "alert", alert);
	}
	return f;
}

static int split_kv(const char *s, char **k, char **v)
{
	const char *eq = strchr(s, '=');
	if (!eq || eq == s)
		return -1;
	*k = xstrndup(s, (size_t)(eq - s));
	*v = xstrdup(eq + 1);
	return 0;
}

/* What `exec` was asked for. */
struct request {
	struct exec_opts o;
	json_t *given, *dsns; /* -p and --target KEY=VALUE */
	const char *name, *alert_path, *fixtures_path, *record_path;
	int json, no_incident;
};

/* Parses exec's options into q: 0, or EXIT_USAGE (said on stderr). */
static int parse_request(int argc, char **argv, struct globals *g, struct request *q)
{
	static const struct option opts[] = {
		{"param", required_argument, 0, 'p'}, {"alert", required_argument, 0, 'a'},
		{"incident", required_argument, 0, 'i'}, {"dry-run", no_argument, 0, 'n'},
		{"fixtures", required_argument, 0, 'f'}, {"record", required_argument, 0, 'r'},
		{"apply", no_argument, 0, 'A'}, {"output", required_argument, 0, 'o'},
		{"target", required_argument, 0, 't'}, {"runbooks", required_argument, 0, 'R'},
		{"store", required_argument, 0, 'S'}, {"no-incident", no_argument, 0, 'N'}, {0, 0, 0, 0}};
	int c;
	char *k, *v;
	optind = 1;
	while ((c = getopt_long(argc, argv, "p:o:", opts, NULL)) != -1) {
		switch (c) {
		case 'p':
		case 't':
			if (split_kv(optarg, &k, &v))
				return command_usage_error("exec", "%s needs KEY=VALUE, not '%s'", c == 'p' ? "-p" : "--target",
							   optarg);
			json_t *js = json_string(v);
			if (!js) {
				command_usage_error("exec", "%s: the value is not valid UTF-8", k);
				free(k);
				free(v);
				return EXIT_USAGE;
			}
			json_object_set_new(c == 'p' ? q->given : q->dsns, k, js);
			free(k);
			free(v);
			break;
		case 'a': q->alert_path = optarg; break;
		case 'i': q->o.incident = optarg; break;
		case 'n': q->o.dry_run = 1; break;
		case 'f': q->fixtures_path = optarg; q->o.dry_run = 1; break;
		case 'r': q->record_path = optarg; break;
		case 'A': q->o.apply = 1; break;
		case 'N': q->no_incident = 1; break;
		case 'R': g->runbooks = optarg; break;
		case 'S': g->store = optarg; break;
		case 'o':
			if (strcmp(optarg, "json") && strcmp(optarg, "text"))
				return command_usage_error("exec", "--output is text or json, not '%s'", optarg);
			q->json = !strcmp(optarg, "json");
			break;
		default:
			return command_usage_error("exec", "bad option");
		}
	}
	if (optind != argc - 1)
		return command_usage_error("exec", optind >= argc ? "give the runbook NAME" : "give one runbook NAME");
	q->name = argv[optind];
	/* mutations are always recorded */
	if (q->no_incident && (q->o.apply || q->o.incident))
		return command_usage_error("exec", "--no-incident records nothing, so it cannot go with %s",
					   q->o.apply ? "--apply (mutations are always recorded)" : "--incident");
	return 0;
}

/* The run's inputs: its --target overrides checked, the fixtures, the
 * alert and the parameters (a recording replays as it ran: with its params
 * and alert, unless given again). 0, or -1 (said on stderr or in d). */
static int load_inputs(struct request *q, const struct runbook *rb, struct diag_list *d, json_t **alert,
		       json_t **params)
{
	const char *tk;
	json_t *tv;
	json_object_foreach(q->dsns, tk, tv) {
		const struct rb_target *t = runbook_target(rb, tk);
		if (!t || strcmp(t->type, "postgres")) {
			fprintf(stderr, "runbook exec: --target %s: runbook %s has no postgres target '%s'\n", tk, rb->id, tk);
			return -1;
		}
	}
	json_t *rec_params = NULL, *rec_alert = NULL;
	if (q->fixtures_path && !(q->o.fixtures = fixture_load(rb, q->fixtures_path, d, &rec_params, &rec_alert)))
		return -1;
	if (q->alert_path && !(*alert = alert_load(q->alert_path, d))) {
		json_decref(rec_params);
		json_decref(rec_alert);
		return -1;
	}
	if (!*alert && rec_alert)
		*alert = json_incref(rec_alert);
	const char *rk;
	json_t *rv;
	json_object_foreach(rec_params, rk, rv) {
		if (json_object_get(q->given, rk) || !runbook_param(rb, rk))
			continue;
		json_object_set(q->given, rk, rv);
	}
	json_decref(rec_params);
	json_decref(rec_alert);
	char *err = NULL;
	if (exec_bind_params(rb, q->given, *alert, params, &err)) {
		fprintf(stderr, "runbook exec: %s\n", err);
		free(err);
		return -1;
	}
	return 0;
}

/* Saves the run's results as a fixtures file: 0, or -1 (said). */
static int save_record(const char *path, json_t *report, json_t *alert)
{
	char *err = NULL;
	json_t *fx = json_pack("{s:O, s:O?, s:o}", "params", json_object_get(report, "params"), "alert", alert, "steps",
			       fixtures_of(report));
	int bad = write_json_file(path, fx, &err);
	if (bad)
		fprintf(stderr, "runbook exec: cannot record fixtures: %s\n", err);
	free(err);
	json_decref(fx);
	return bad ? -1 : 0;
}

int cmd_exec(int argc, char **argv, struct globals *g)
{
	struct request q;
	memset(&q, 0, sizeof q);
	q.given = json_object();
	q.dsns = json_object();
	struct exec_opts *o = &q.o;
	struct diag_list d;
	diag_init(&d);
	struct session ss = {.name = "exec"};
	struct runbook *rb = NULL;
	json_t *alert = NULL, *params = NULL;
	char *err = NULL;
	int rc = parse_request(argc, argv, g, &q);
	if (rc)
		goto done;
	rc = EXIT_USAGE;
	if (!(rb = runbook_find(q.name, g->runbooks, &d, &err))) {
		if (err)
			fprintf(stderr, "runbook exec: %s\n", err);
		diag_print(&d, stderr);
		goto done;
	}
	if (load_inputs(&q, rb, &d, &alert, &params)) {
		diag_print(&d, stderr);
		goto done;
	}
	o->params = params;
	o->alert = alert;
	/* a real run records to an incident (opened once the targets are
	 * connecting); a dry run does not */
	int recorded = !o->dry_run && !q.no_incident;
	if (recorded) {
		ss.store_url = g->store;
		ss.incident = o->incident;
		ss.open_as = incident_fields(g->cfg, rb, alert);
	}
	o->target_dsn = q.dsns;
	/* without a record, a mutating step stays would-run: no prompt */
	o->confirm = !o->apply && !q.no_incident && !q.json && isatty(0) && isatty(2);
	o->limits = &g->cfg->limits;
	o->cfg = g->cfg;
	o->output_cap = g->cfg->output_cap;
	o->row_cap = g->cfg->row_cap;
	struct redactor red;
	redact_init(&red);
	redact_add_all(&red, g->cfg->secrets); /* the config's ${env.NAME} values */
	struct progress prog;
	progress_init(&prog, q.json ? stderr : stdout, &red);
	if (!q.json || prog.tty) {
		o->progress = progress_step;
		o->progress_ud = &prog;
		report_header(&prog, rb, o->dry_run);
	}
	int64_t t_run = now_ms();
	json_t *report = recorded ? session_run(&ss, rb, o, &red) : exec_run(rb, o, &red);
	if (report) { /* else nowhere to record: nothing ran (said on stderr) */
		json_t *timings = json_object_get(report, "timings");
		if (timings) {
			json_object_set_new(timings, "startup_ms", json_integer(t_run - main_started_ms));
			json_object_set_new(timings, "total_ms", json_integer(now_ms() - main_started_ms));
		}
		if (q.no_incident && !o->dry_run)
			json_object_set_new(report, "no_incident", json_true());
		if (q.json)
			report_json(stdout, report);
		else
			report_text(stdout, prog.color, report);
		rc = exec_exit_code(report);
		if (q.record_path && save_record(q.record_path, report, alert) && !rc)
			rc = EXIT_FAIL;
		json_decref(report);
	}
	redact_release(&red);
done:
	session_release(&ss);
	json_decref(ss.open_as);
	free(err);
	diag_release(&d);
	json_decref(params);
	json_decref(alert);
	json_decref(o->fixtures);
	runbook_free(rb);
	json_decref(q.given);
	json_decref(q.dsns);
	return rc;
}
