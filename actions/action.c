/* action: the table of action kinds and helpers they share. */
#define _POSIX_C_SOURCE 200809L
#include "action.h"
#include "text.h"
#include "util.h"

#include <errno.h>
#include <poll.h>
#include <string.h>

const struct action *const action_table[] = {
	&action_sql, &action_ssh, &action_shell, &action_http, &action_lua, &action_notify, NULL,
};

static const char *const status_names[] = {"ok", "failed", "timeout", "skipped", "would-run"};

const char *step_status_name(enum step_status st)
{
	return status_names[st];
}

int step_status_parse(const char *s)
{
	for (size_t i = 0; i < ARRAY_LEN(status_names); i++)
		if (!strcmp(s, status_names[i]))
			return (int)i;
	return -1;
}

void action_empty_command_result(json_t *res)
{
	json_object_set_new(res, "stdout", json_string(""));
	json_object_set_new(res, "stderr", json_string(""));
	json_object_set_new(res, "exit_code", json_null());
	json_object_set_new(res, "signal", json_null());
}

const struct action *action_find(const char *name)
{
	for (const struct action *const *a = action_table; *a; a++)
		if (!strcmp((*a)->name, name))
			return *a;
	return NULL;
}

void action_env_release(struct action_env *env)
{
	for (const struct action *const *a = action_table; *a; a++)
		if ((*a)->release)
			(*a)->release(env);
}

char *shell_quote(const char *s)
{
	struct sbuf sb;
	sbuf_init(&sb);
	sbuf_addc(&sb, '\'');
	for (; *s; s++) {
		if (*s == '\'')
			sbuf_adds(&sb, "'\\''");
		else
			sbuf_addc(&sb, *s);
	}
	sbuf_addc(&sb, '\'');
	return sbuf_detach(&sb);
}

int action_wait_fd(int fd, short events, int64_t deadline_ms, const volatile int *cancel)
{
	for (;;) {
		if (cancel && *cancel)
			return 2;
		int64_t left = deadline_ms - now_ms();
		if (left <= 0)
			return 1;
		struct pollfd p = {fd, events, 0};
		int r = poll(&p, 1, (int)(left > 100 ? 100 : left)); /* wake up for a cancellation */
		if (r > 0)
			return 0;
		if (r < 0 && errno != EINTR)
			return -1;
	}
}

json_t *action_text(char *buf, size_t len)
{
	return text_json(buf, len);
}
