/*
 * shell: a local command, as an argv list (no shell) or a string run by
 * `sh -c` (interpolated values already shell-quoted by the templates).
 *
 * The command runs in its own process group with stdin from /dev/null;
 * stdout and stderr are read together with poll() so neither can fill and
 * block the other; each is capped (the cap is reported). Past the deadline,
 * or on Ctrl-C, the whole process group gets SIGTERM, then SIGKILL.
 */
#define _GNU_SOURCE
#include "action.h"
#include "util.h"

#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <signal.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>

#define KILL_GRACE_MS 500

static char *shell_render(const struct action_call *call)
{
	if (!call->argv)
		return xstrdup(call->text);
	struct sbuf sb;
	sbuf_init(&sb);
	size_t i;
	json_t *v;
	json_array_foreach(call->argv, i, v) {
		const char *s = json_string_value(v);
		if (i)
			sbuf_addc(&sb, ' ');
		if (s[strspn(s, "abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789-_./=:,+@%")] || !*s) {
			char *q = shell_quote(s);
			sbuf_adds(&sb, q);
			free(q);
		} else {
			sbuf_adds(&sb, s);
		}
	}
	return sbuf_detach(&sb);
}

struct stream {
	int fd;
	struct sbuf buf;
	size_t total;
};

static void drain(struct stream *s, size_t cap)
{
	char chunk[16384];
	for (;;) {
		ssize_t n = read(s->fd, chunk, sizeof chunk);
		if (n > 0) {
			s->total += (size_t)n;
			if (s->buf.len < cap)
				sbuf_add(&s->buf, chunk, (size_t)n < cap - s->buf.len ? (size_t)n : cap - s->buf.len);
			continue;
		}
		if (n < 0 && (errno == EINTR))
			continue;
		if (n < 0 && (errno == EAGAIN || errno == EWOULDBLOCK))
			return;
		close(s->fd); /* EOF or error */
		s->fd = -1;
		return;
	}
}

static void child(const struct action_call *call, int out, int errfd)
{
	setpgid(0, 0);
	sigset_t none; /* a serve or worker thread blocks these; the command must not */
	sigemptyset(&none);
	sigprocmask(SIG_SETMASK, &none, NULL);
	signal(SIGINT, SIG_DFL);
	signal(SIGTERM, SIG_DFL);
	signal(SIGPIPE, SIG_DFL);
	int devnull = open("/dev/null", O_RDONLY);
	if (devnull >= 0)
		dup2(devnull, 0);
	dup2(out, 1);
	dup2(errfd, 2);
	if (call->argv) {
		size_t n = json_array_size(call->argv);
		char **argv = xcalloc(n + 1, sizeof *argv);
		for (size_t i = 0; i < n; i++)
			argv[i] = (char *)json_string_value(json_array_get(call->argv, i));
		execvp(argv[0], argv);
		dprintf(2, "runbook: cannot run '%s': %s\n", argv[0], strerror(errno));
	} else {
		execl("/bin/sh", "sh", "-c", call->text, (char *)NULL);
		dprintf(2, "runbook: cannot run /bin/sh: %s\n", strerror(errno));
	}
	_exit(127);
}

static void set_stream(json_t *result, const char *name, struct stream *s, size_t cap)
{
	json_object_set_new(result, name, action_text(s->buf.buf, s->buf.len));
	if (s->total > cap) {
		char key[32];
		snprintf(key, sizeof key, "%s_truncated", name);
		json_object_set_new(result, key, json_integer((json_int_t)s->total));
	}
	sbuf_release(&s->buf);
}

static int wait_exit(pid_t pid, int *status, int64_t until, const struct action_env *env)
{
	for (;;) {
		pid_t r = waitpid(pid, status, WNOHANG);
		if (r == pid)
			return 0;
		if (r < 0 && errno != EINTR)
			return -1;
		if (now_ms() >= until || action_cancelled(env))
			return 1;
		usleep(5000);
	}
}

static enum step_status shell_run(struct action_call *call, json_t *result, char **err)
{
	int po[2], pe[2];
	if (pipe2(po, O_CLOEXEC) || pipe2(pe, O_CLOEXEC)) {
		*err = xasprintf("cannot create pipes: %s", strerror(errno));
		return ST_FAILED;
	}
	pid_t pid = fork();
	if (pid < 0) {
		*err = xasprintf("cannot fork: %s", strerror(errno));
		close(po[0]), close(po[1]), close(pe[0]), close(pe[1]);
		return ST_FAILED;
	}
	if (pid == 0)
		child(call, po[1], pe[1]);
	setpgid(pid, pid); /* both sides, so no race with the kill below */
	close(po[1]);
	close(pe[1]);
	struct stream s[2] = {{po[0], {0}, 0}, {pe[0], {0}, 0}};
	for (int i = 0; i < 2; i++)
		fcntl(s[i].fd, F_SETFL, O_NONBLOCK);
	size_t cap = call->env->output_cap ? call->env->output_cap : ACTION_OUTPUT_CAP;
	int status = 0, exited = 0, timed_out = 0, stopped = 0;
	int64_t exit_seen = 0;
	while (s[0].fd >= 0 || s[1].fd >= 0) {
		int64_t now = now_ms();
		if (now >= call->deadline_ms) {
			timed_out = 1;
			break;
		}
		if (action_cancelled(call->env)) {
			stopped = 1;
			break;
		}
		if (!exited && waitpid(pid, &status, WNOHANG) == pid) {
			exited = 1;
			exit_seen = now;
		}
		/* the command exited but something it started holds the pipes */
		if (exited && now - exit_seen > 200)
			break;
		struct pollfd pfd[2];
		int n = 0;
		for (int i = 0; i < 2; i++)
			if (s[i].fd >= 0)
				pfd[n++] = (struct pollfd){s[i].fd, POLLIN, 0};
		int64_t wait = call->deadline_ms - now;
		if (wait > 50)
			wait = 50;
		poll(pfd, (nfds_t)n, (int)wait);
		for (int i = 0; i < 2; i++)
			if (s[i].fd >= 0)
				drain(&s[i], cap);
	}
	/* both streams closed: the command has until its deadline to exit */
	if (!exited && !timed_out && !stopped) {
		int r = wait_exit(pid, &status, call->deadline_ms, call->env);
		exited = r == 0;
		stopped = r == 1 && action_cancelled(call->env);
		timed_out = r == 1 && !stopped;
	}
	/* nothing outlives the step: the whole group goes */
	kill(-pid, SIGTERM);
	if (!exited && wait_exit(pid, &status, now_ms() + KILL_GRACE_MS, call->env) == 1) {
		kill(-pid, SIGKILL);
		wait_exit(pid, &status, now_ms() + 5000, call->env);
	}
	kill(-pid, SIGKILL);
	for (int i = 0; i < 2; i++) {
		if (s[i].fd >= 0) {
			drain(&s[i], cap);
			if (s[i].fd >= 0)
				close(s[i].fd);
		}
	}
	set_stream(result, "stdout", &s[0], cap);
	set_stream(result, "stderr", &s[1], cap);
	if (timed_out || stopped) {
		json_object_set_new(result, "exit_code", json_null());
		json_object_set_new(result, "signal", json_null());
		if (timed_out) {
			*err = xasprintf("timed out after %lld ms; the command's process group was killed",
					 (long long)call->timeout_ms);
			return ST_TIMEOUT;
		}
		*err = xstrdup("interrupted; the command's process group was killed");
		return ST_FAILED;
	}
	if (WIFSIGNALED(status)) {
		const char *abbr = sigabbrev_np(WTERMSIG(status));
		json_object_set_new(result, "exit_code", json_null());
		json_object_set_new(result, "signal", abbr ? json_sprintf("SIG%s", abbr) : json_integer(WTERMSIG(status)));
		*err = xasprintf("killed by signal %s%s", abbr ? "SIG" : "", abbr ? abbr : "?");
		return ST_FAILED;
	}
	int code = WEXITSTATUS(status);
	json_object_set_new(result, "exit_code", json_integer(code));
	json_object_set_new(result, "signal", json_null());
	if (code) {
		*err = xasprintf("exit code %d", code);
		return ST_FAILED;
	}
	return ST_OK;
}

const struct action action_shell = {
	.name = "shell",
	.spec = SPEC_TEXT_OR_ARGV,
	.quote_shell = 1,
	.slot = 2,
	.render = shell_render,
	.run = shell_run,
	.empty_result = action_empty_command_result,
};
