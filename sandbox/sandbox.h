/*
 * sandbox: the only place that creates and limits a lua_State.
 *
 * A sandbox is one fresh Lua state per run. Its globals are built from an
 * allowlist (SPEC section 2); only text chunks load; an instruction budget
 * per step, a memory cap through a counting allocator, the step's
 * wall-clock deadline and caps the instruction hook cannot see (string.rep
 * size, pattern-matching work, output bytes) all end the step with an error
 * naming the limit. Once a limit is hit, pcall/xpcall re-raise it, so Lua
 * code cannot swallow it.
 *
 * Values cross the boundary as JSON (jansson): params, step results, the
 * alert; results come back as JSON too.
 */
#ifndef RUNBOOK_SANDBOX_H
#define RUNBOOK_SANDBOX_H

#include <jansson.h>
#include <stddef.h>
#include <stdint.h>

struct sandbox_limits {
	size_t memory;            /* bytes for the whole run; default 64 MiB */
	int64_t instructions;     /* per step; default 50 M */
	size_t output;            /* log() and finding() bytes per step; default 1 MiB */
	size_t string;            /* largest string.rep result; default 16 MiB */
	size_t pattern_subject;   /* largest subject for find/match/gmatch/gsub; default 1 MiB */
	double pattern_work;      /* worst-case matcher steps per call; default 1e8 */
};

void sandbox_default_limits(struct sandbox_limits *lim);

enum sandbox_limit {
	SB_OK = 0,
	SB_LIMIT_INSTRUCTIONS,
	SB_LIMIT_MEMORY,
	SB_LIMIT_TIMEOUT,
	SB_LIMIT_OUTPUT,
	SB_LIMIT_SIZE,     /* string.rep or pattern-matching size caps */
	SB_INTERRUPTED,
	SB_FAILED, /* fail(msg) was called */
};

/* What the sandbox asks of its host (the executor). Any hook may be NULL. */
struct sandbox_host {
	void *ud;
	void (*finding)(void *ud, const char *level, const char *msg);
	void (*log)(void *ud, const char *msg);
	/* Runs action `action` ("sql" or "ssh") on target with text and args
	 * from Lua. Returns 0 with *result (new ref), or -1 with *err. */
	int (*action)(void *ud, const char *action, const char *target, const char *text,
		      json_t *args, json_t **result, char **err);
	/* Called with each environment value a runbook reads (a secret). */
	void (*secret)(void *ud, const char *value);
	/* The run is cancelled once *cancel is non-zero: Lua stops with
	 * SB_INTERRUPTED (NULL: never). */
	const volatile int *cancel;
};

struct sandbox;

/* Returns a new sandbox, or NULL with *err. Caller frees with sandbox_free. */
struct sandbox *sandbox_new(const struct sandbox_limits *lim, const struct sandbox_host *host, char **err);
void sandbox_free(struct sandbox *sb);

/* Sets global `name` to a read-only-by-convention copy of v. */
void sandbox_set_global(struct sandbox *sb, const char *name, json_t *v);
/* Sets steps[id] to v. */
void sandbox_set_step(struct sandbox *sb, const char *id, json_t *v);
/* The runbook's step ids in order, and the one running now: reading
 * steps.X of a step that has not run says "step 'X' has not run yet (it
 * comes after 'Y')" instead of handing out nil. */
void sandbox_set_step_order(struct sandbox *sb, const char *const *ids, size_t n);
void sandbox_set_current_step(struct sandbox *sb, const char *id);

/* Exposes the process environment as `env` (reads are reported as secrets). */
void sandbox_expose_env(struct sandbox *sb);

/*
 * Runs a Lua chunk (is_expr = 0) or evaluates an expression (is_expr = 1).
 * `file` and `line` name where the code sits in the YAML, so errors read
 * "file:line: message". deadline_ms is a now_ms() value (0 = none).
 * Returns SB_OK with *out (new ref; JSON null for nil), else the limit or
 * failure kind with *err (caller frees).
 */
enum sandbox_limit sandbox_run(struct sandbox *sb, const char *code, int is_expr, const char *file,
			       int line, int64_t deadline_ms, json_t **out, char **err);

/*
 * Checks syntax only, without running anything. Returns 0, or -1 with *err
 * ("message") and *errline (the YAML line).
 */
int sandbox_compile(const char *code, int is_expr, const char *file, int line, char **err, int *errline);

/* Bytes the Lua state currently holds. */
size_t sandbox_memory(const struct sandbox *sb);

/* Pattern-work guard (sandbox/pattern.c): estimated worst-case matcher
 * steps for pattern p over subject s; anchored patterns try one start. */
double pattern_worst_case(const char *s, size_t ls, const char *p, size_t lp, int all_starts);

#endif
