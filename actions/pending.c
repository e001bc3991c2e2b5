/*
 * pending: the http and notify actions before their own issues
 * land. They render exactly what would run (so --dry-run and `runbook test`
 * work today) and, when asked to run, say plainly that they are not
 * available yet instead of pretending.
 */
#include "action.h"
#include "../engine/util.h"

#include <string.h>

static enum step_status not_yet(struct action_call *call, json_t *result, const char *what, char **err)
{
	(void)call;
	(void)result;
	*err = xasprintf("the %s action is not available yet in this build; use --dry-run (with --fixtures) "
			 "to render it", what);
	return ST_FAILED;
}

static char *http_render(const struct action_call *call)
{
	const char *m = json_string_value(json_object_get(call->spec, "method"));
	const char *u = json_string_value(json_object_get(call->spec, "url"));
	struct sbuf sb;
	sbuf_init(&sb);
	sbuf_addf(&sb, "%s %s", m ? m : "GET", u ? u : "?");
	json_t *hd = json_object_get(call->spec, "headers");
	const char *k;
	json_t *v;
	json_object_foreach(hd, k, v) {
		char *t = json_dumps(v, JSON_ENCODE_ANY);
		sbuf_addf(&sb, "\n%s: %s", k, json_is_string(v) ? json_string_value(v) : t);
		free(t);
	}
	json_t *body = json_object_get(call->spec, "body");
	if (body) {
		char *t = json_is_string(body) ? xstrdup(json_string_value(body)) : json_dumps(body, JSON_COMPACT);
		sbuf_addf(&sb, "\n\n%s", t);
		free(t);
	}
	return sbuf_detach(&sb);
}

static enum step_status http_run(struct action_call *call, json_t *result, char **err)
{
	return not_yet(call, result, "http", err);
}

static char *notify_render(const struct action_call *call)
{
	const char *to = json_string_value(json_object_get(call->spec, "to"));
	const char *msg = json_string_value(json_object_get(call->spec, "message"));
	return xasprintf("notify %s: %s", to ? to : "?", msg ? msg : "");
}

static enum step_status notify_run(struct action_call *call, json_t *result, char **err)
{
	return not_yet(call, result, "notify", err);
}

const struct action action_http = {
	.name = "http",
	.spec = SPEC_MAPPING,
	.slot = 3,
	.render = http_render,
	.run = http_run,
};

const struct action action_notify = {
	.name = "notify",
	.spec = SPEC_MAPPING,
	.slot = 5,
	.render = notify_render,
	.run = notify_run,
};
