/* lua: a Lua chunk run in the run's sandbox; its return value is `value`. */
#include "action.h"
#include "util.h"
#include "sandbox.h"

#include <string.h>

static char *lua_render(const struct action_call *call)
{
	return xstrdup(call->text);
}

static enum step_status lua_run(struct action_call *call, json_t *result, char **err)
{
	json_t *v = NULL;
	enum sandbox_limit st = sandbox_run(call->env->sandbox, call->text, 0, call->file, call->line,
					    call->deadline_ms, &v, err);
	if (st == SB_OK) {
		json_object_set_new(result, "value", v);
		return ST_OK;
	}
	json_object_set_new(result, "value", json_null());
	return st == SB_LIMIT_TIMEOUT ? ST_TIMEOUT : ST_FAILED;
}

const struct action action_lua = {
	.name = "lua",
	.spec = SPEC_TEXT,
	.flags = ACTION_VERBATIM | ACTION_CODE,
	.slot = 4,
	.render = lua_render,
	.run = lua_run,
};
