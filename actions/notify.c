/*
 * notify: {to, message} - pages an escalation target from a runbook,
 * through the notifiers the configuration routes `to` to. The sending (and
 * the record of every attempt) is the engine's; this action only asks for
 * it through the run's environment, so actions stay free of the config.
 */
#include "action.h"
#include "util.h"

static char *notify_render(const struct action_call *call)
{
	const char *to = json_string_value(json_object_get(call->spec, "to"));
	const char *msg = json_string_value(json_object_get(call->spec, "message"));
	return xasprintf("notify %s: %s", to ? to : "?", msg ? msg : "");
}

static enum step_status notify_run(struct action_call *call, json_t *result, char **err)
{
	const char *to = json_string_value(json_object_get(call->spec, "to"));
	const char *msg = json_string_value(json_object_get(call->spec, "message"));
	json_object_set_new(result, "delivered", json_false());
	if (!to || !msg) {
		*err = xstrdup("notify: 'to' and 'message' must be strings");
		return ST_FAILED;
	}
	if (!call->env->notify) {
		*err = xstrdup("notify: no notifier is available in this run");
		return ST_FAILED;
	}
	return call->env->notify(call->env->notify_ud, to, msg, result, err) ? ST_FAILED : ST_OK;
}

static void notify_empty(json_t *res)
{
	json_object_set_new(res, "delivered", json_false());
}

static const char *const notify_keys[] = {"to", "message", NULL};

const struct action action_notify = {
	.name = "notify",
	.spec = SPEC_MAPPING,
	.slot = 5,
	.render = notify_render,
	.run = notify_run,
	.empty_result = notify_empty,
	.spec_keys = notify_keys,
	.spec_needs = notify_keys,
	.spec_what = "a notify action",
};
