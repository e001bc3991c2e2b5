/* cmd_show: `runbook show NAME` - the runbook as the engine understood it. */
#define _POSIX_C_SOURCE 200809L
#include "cli.h"
#include "path.h"
#include "redact.h"
#include "report.h"
#include "util.h"
#include "action.h"

#include <stdlib.h>
#include <string.h>

/* A target's configuration with any password in its DSN shown as ***.
 * Returns a new reference. */
static json_t *safe_config(const struct rb_target *t)
{
	json_t *c = json_deep_copy(t->config);
	const char *dsn = json_string_value(json_object_get(c, "dsn"));
	if (dsn) {
		char *m = redact_dsn(dsn);
		json_object_set_new(c, "dsn", json_string(m));
		free(m);
	}
	return c;
}

static json_t *as_json(const struct runbook *rb)
{
	json_t *params = json_object(), *targets = json_object(), *steps = json_array();
	for (size_t i = 0; i < rb->nparams; i++) {
		const struct rb_param *p = &rb->params[i];
		json_object_set_new(params, p->name,
				    json_pack("{s:s, s:O?, s:s?, s:s?, s:b}", "type", p->type ? p->type : "string", "default",
					      p->def, "description", p->description, "from", p->from, "required", p->required));
	}
	for (size_t i = 0; i < rb->ntargets; i++)
		json_object_set_new(targets, rb->targets[i].name, safe_config(&rb->targets[i]));
	for (size_t i = 0; i < rb->nsteps; i++) {
		const struct rb_step *s = &rb->steps[i];
		json_t *j = json_pack("{s:s, s:s, s:O, s:I, s:i, s:I, s:s, s:b}", "id", s->id, "action", s->action->name,
				      s->action->name, s->spec, "timeout_ms", (json_int_t)s->timeout_ms, "retries", s->retries,
				      "retry_delay_ms", (json_int_t)s->retry_delay_ms, "on_failure",
				      s->stop_on_failure ? "stop" : "continue", "mutates", s->mutates);
		if (s->title)
			json_object_set_new(j, "title", json_string(s->title));
		if (s->on)
			json_object_set_new(j, "on", json_string(s->on));
		if (s->when)
			json_object_set_new(j, "when", json_string(s->when));
		if (s->args)
			json_object_set(j, "args", s->args);
		json_array_append_new(steps, j);
	}
	json_t *doc = json_pack("{s:s, s:s, s:s?, s:s?, s:s?, s:s, s:O?, s:O?, s:O?, s:o, s:o, s:o, s:i, s:s}", "runbook",
				rb->id, "title", rb->title, "description", rb->description, "owner", rb->owner, "component",
				rb->component, "severity", rb->severity, "escalation", rb->escalation, "tags", rb->tags,
				"symptoms", rb->symptoms, "params", params, "targets", targets, "steps", steps, "tests",
				(int)rb->ntests, "file", rb->file);
	json_t *names = json_array();
	for (size_t i = 0; i < rb->ntests; i++)
		json_array_append_new(names, json_string(rb->tests[i].name ? rb->tests[i].name : ""));
	json_object_set_new(doc, "test_names", names);
	if (rb->dedupe_by)
		json_object_set(doc, "dedupe_by", rb->dedupe_by);
	return doc;
}

static void print_text(const struct runbook *rb)
{
	printf("%s: %s\n", rb->id, rb->title);
	if (rb->description)
		printf("  %s\n", rb->description);
	printf("\n  file:       %s\n  severity:   %s\n", rb->file, rb->severity);
	if (rb->owner)
		printf("  owner:      %s\n", rb->owner);
	if (rb->component)
		printf("  component:  %s\n", rb->component);
	if (rb->escalation) {
		const char *k;
		json_t *v;
		printf("  escalation:");
		json_object_foreach(rb->escalation, k, v)
			printf(" %s %s;", k, json_string_value(v));
		printf("\n");
	}
	if (json_array_size(rb->tags)) {
		char *t = json_dumps(rb->tags, JSON_COMPACT);
		printf("  tags:       %s\n", t);
		free(t);
	}
	if (json_array_size(rb->dedupe_by)) {
		char *t = json_dumps(rb->dedupe_by, JSON_COMPACT);
		printf("  dedupe by:  %s\n", t);
		free(t);
	}
	if (json_array_size(rb->symptoms)) {
		printf("\nSymptoms (any of these matchers; every condition inside one)\n");
		size_t i;
		json_t *m;
		json_array_foreach(rb->symptoms, i, m) {
			char *t = json_dumps(m, JSON_COMPACT);
			printf("  %zu. %s\n", i + 1, t);
			free(t);
		}
	} else {
		printf("\nSymptoms: none (it never matches an alert; it runs by name)\n");
	}
	if (rb->nparams) {
		printf("\nParameters\n");
		for (size_t i = 0; i < rb->nparams; i++) {
			const struct rb_param *p = &rb->params[i];
			char *def = p->def ? json_dumps(p->def, JSON_ENCODE_ANY) : NULL;
			printf("  %-16s %-7s%s%s%s%s%s%s\n", p->name, p->type ? p->type : "string", def ? " default " : "",
			       def ? def : "", p->from ? " from " : "", p->from ? p->from : "", p->description ? "  " : "",
			       p->description ? p->description : "");
			free(def);
		}
	}
	if (rb->ntargets) {
		printf("\nTargets\n");
		for (size_t i = 0; i < rb->ntargets; i++) {
			json_t *safe = safe_config(&rb->targets[i]);
			char *cfg = json_dumps(safe, JSON_COMPACT);
			json_decref(safe);
			printf("  %-16s %-9s %s\n", rb->targets[i].name, rb->targets[i].type, cfg);
			free(cfg);
		}
	}
	printf("\nSteps\n");
	for (size_t i = 0; i < rb->nsteps; i++) {
		const struct rb_step *s = &rb->steps[i];
		printf("  %zu. %s (%s%s%s)%s%s\n", i + 1, s->id, s->action->name, s->on ? " on " : "", s->on ? s->on : "",
		       s->mutates ? " MUTATES" : "", s->title ? "" : "");
		if (s->title)
			printf("     %s\n", s->title);
		if (s->when)
			printf("     when: %s\n", s->when);
		printf("     timeout %lld ms, retries %d, on failure %s\n", (long long)s->timeout_ms, s->retries,
		       s->stop_on_failure ? "stop" : "continue");
		char *text = json_is_string(s->spec) ? xstrdup(json_string_value(s->spec)) : json_dumps(s->spec, JSON_COMPACT);
		for (char *line = text, *nl; line && *line; line = nl ? nl + 1 : NULL) {
			nl = strchr(line, '\n');
			printf("     | %.*s\n", nl ? (int)(nl - line) : (int)strlen(line), line);
			if (!nl)
				break;
		}
		free(text);
		if (s->args) {
			char *a = json_dumps(s->args, JSON_COMPACT);
			printf("     args: %s\n", a);
			free(a);
		}
	}
	printf("\n%zu test%s%s\n", rb->ntests, rb->ntests == 1 ? "" : "s", rb->ntests ? ":" : "");
	for (size_t i = 0; i < rb->ntests; i++)
		printf("  - %s\n", rb->tests[i].name ? rb->tests[i].name : "(unnamed)");
}

int cmd_show(int argc, char **argv, struct globals *g)
{
	int json = 0;
	int first = command_options(argc, argv, g, "show", &json);
	if (first < 0)
		return EXIT_USAGE;
	if (first != argc - 1)
		return command_usage_error("show", "give one runbook NAME");
	struct diag_list d;
	diag_init(&d);
	char *err = NULL;
	struct runbook *rb = runbook_find(argv[first], g->runbooks, &d, &err);
	if (!rb) {
		if (err)
			fprintf(stderr, "runbook show: %s\n", err);
		diag_print(&d, stderr);
		free(err);
		diag_release(&d);
		return EXIT_USAGE;
	}
	if (json) {
		json_t *doc = as_json(rb);
		report_json(stdout, doc);
		json_decref(doc);
	} else {
		print_text(rb);
	}
	runbook_free(rb);
	diag_release(&d);
	return EXIT_OK;
}
