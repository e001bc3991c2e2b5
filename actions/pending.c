/*
 * pending: the ssh, http and notify actions before their own issues
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

/* The host list of an ssh target: `hosts`, or `host` as a string or list. */
static json_t *ssh_hosts(json_t *target)
{
	json_t *h = json_object_get(target, "hosts");
	if (!h)
		h = json_object_get(target, "host");
	if (json_is_string(h)) {
		json_t *a = json_array();
		json_array_append(a, h);
		return a;
	}
	return json_incref(h ? h : json_array());
}

static char *ssh_render(const struct action_call *call)
{
	struct sbuf sb;
	sbuf_init(&sb);
	json_t *hosts = ssh_hosts(call->target);
	const char *user = json_string_value(json_object_get(call->target, "user"));
	size_t i;
	json_t *h;
	json_array_foreach(hosts, i, h) {
		if (i)
			sbuf_addc(&sb, '\n');
		sbuf_addf(&sb, "ssh %s%s%s: %s", user ? user : "", user ? "@" : "", json_string_value(h), call->text);
	}
	json_decref(hosts);
	return sbuf_detach(&sb);
}

static enum step_status ssh_run(struct action_call *call, json_t *result, char **err)
{
	return not_yet(call, result, "ssh", err);
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

const struct action action_ssh = {
	.name = "ssh",
	.target_type = "ssh",
	.spec = SPEC_TEXT,
	.quote_shell = 1,
	.slot = 1,
	.render = ssh_render,
	.run = ssh_run,
};

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
