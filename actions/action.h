/*
 * action: the one interface between the executor and what a step does.
 *
 * Each action kind (sql, ssh, shell, http, lua, notify) is one file in
 * actions/ exporting one `struct action`. The executor renders the step's
 * templates into a `struct action_call`, then asks the action to render it
 * (what --dry-run and the report show) or to run it before its deadline.
 * Actions never include engine internals; per-run state such as an open
 * connection lives in the run's `struct action_env` slot for that action,
 * released once at the end of the run.
 */
#ifndef RUNBOOK_ACTION_H
#define RUNBOOK_ACTION_H

#include <jansson.h>
#include <stdint.h>

struct sandbox;

enum step_status { ST_OK, ST_FAILED, ST_TIMEOUT, ST_SKIPPED, ST_WOULD_RUN };
const char *step_status_name(enum step_status st);
/* Parses a status name; -1 when unknown. */
int step_status_parse(const char *s);

enum spec_kind {
	SPEC_TEXT,         /* a string: SQL, a command, a Lua chunk */
	SPEC_TEXT_OR_ARGV, /* a string (run by sh -c) or a list of strings (argv) */
	SPEC_MAPPING,      /* a mapping of fields (http, notify) */
};

#define ACTION_SLOTS 8
#define ACTION_OUTPUT_CAP (1024 * 1024)
#define ACTION_ROW_CAP 10000

/* Run-wide context shared by all calls of one run. */
struct action_env {
	struct sandbox *sandbox;
	void *slot[ACTION_SLOTS]; /* per-action state, e.g. open connections */
	size_t output_cap;        /* bytes of text per stream */
	size_t row_cap;
	/* Registers a secret value (a DSN password) for redaction by value. */
	void (*secret)(void *ud, const char *value);
	void *secret_ud;
	/* Sends a notification to escalation target `to`, recording every
	 * attempt; sets result.delivered. Returns 0 when delivered, else -1
	 * with *err. NULL: no notifiers in this run. */
	int (*notify)(void *ud, const char *to, const char *message, json_t *result, char **err);
	void *notify_ud;
	/* The run is cancelled once *cancel is non-zero: every wait of every
	 * call ends early, a query is cancelled on its server, a command
	 * killed. The CLI points it at the signal flag; serve and worker at
	 * their own, so that one run can be stopped alone. NULL: never. */
	const volatile int *cancel;
};

/* Whether the run of env was cancelled. */
static inline int action_cancelled(const struct action_env *env)
{
	return env && env->cancel && *env->cancel;
}

struct action_call {
	const char *step_id;
	const char *file;       /* runbook file and line of the action text */
	int line;
	const char *text;       /* rendered text (SPEC_TEXT, or a string command) */
	json_t *argv;           /* SPEC_TEXT_OR_ARGV given as a list; else NULL */
	json_t *args;           /* sql bind values: array of strings/null; may be NULL */
	json_t *spec;           /* SPEC_MAPPING rendered; else NULL */
	const char *target_name;
	json_t *target;         /* the target's configuration; NULL when none */
	int64_t deadline_ms;    /* now_ms() value */
	int64_t timeout_ms;
	int mutates;            /* the step may change things */
	/* send_ahead: the call's request went out already (1; 2: after
	 * something that ends the call before it), and calls sent after it
	 * follow (more) */
	int sent, more;
	const void *sent_on;    /* the connection it was sent on */
	struct action_env *env;
};

/* What the executor may do with an action's steps (struct action.flags). */
enum {
	/* A read-only step may start before the steps above it finish (SPEC
	 * section 4); the others are barriers. */
	ACTION_OVERLAPS = 1 << 0,
	/* Overlapping steps on one target run at once (channels of its
	 * sessions); else one after another on its connection. */
	ACTION_CHANNELS = 1 << 1,
	/* Its text runs as written, never templated (values reach it some
	 * other way: bind values, the sandbox's tables). */
	ACTION_VERBATIM = 1 << 2,
	/* Its text is Lua: compiled at load time, run in dry runs too, and
	 * not shown rendered. */
	ACTION_CODE = 1 << 3,
	/* Takes `args`, bind values for the $n placeholders of its text. */
	ACTION_BINDS = 1 << 4,
};

struct action {
	const char *name;
	const char *target_type; /* "postgres", "ssh", or NULL: no target */
	enum spec_kind spec;
	unsigned flags;          /* ACTION_* */
	int quote_shell;         /* interpolated values are shell-quoted */
	int slot;                /* index into action_env.slot */
	/* Human-readable form of what would run. Returns a new string. */
	char *(*render)(const struct action_call *call);
	/* Runs the call before call->deadline_ms, adding result fields
	 * (SPEC section 2) to `result`. Returns the status; on failure or
	 * timeout *err says why (caller frees). */
	enum step_status (*run)(struct action_call *call, json_t *result, char **err);
	/* Starts connecting to a target in the background, so the connection
	 * is ready (or failed) when a step needs it. May be NULL. */
	void (*warm)(struct action_env *env, const char *target_name, json_t *target, int64_t deadline_ms);
	/* Overlapping steps of one target, in order, about to run one after
	 * another: sends their requests ahead in one go where the protocol
	 * allows (marking each call's `sent`); each run then reads its own.
	 * May be NULL. */
	void (*send_ahead)(struct action_call **calls, size_t n);
	/* Checks the action's text at load time (`runbook check`) and before it
	 * runs; `mutates` is the step's. Returns 0, or -1 with *err and *erroff
	 * (the byte of text at fault). May be NULL. */
	int (*check)(const char *text, int mutates, char **err, size_t *erroff);
	/* Releases this action's per-run state. May be NULL. */
	void (*release)(struct action_env *env);
	/* The result fields of a step that did not run (would-run), empty.
	 * NULL: {"value": null}. */
	void (*empty_result)(json_t *result);
	/* A mapping spec (SPEC_MAPPING): its keys (NULL-terminated), those
	 * it needs, and what the loader calls it ("an http action"). */
	const char *const *spec_keys, *const *spec_needs;
	const char *spec_what;
	/* A recorded or fixture result: fills the fields it implies (e.g.
	 * columns from rows). May be NULL. */
	void (*fixture_fill)(json_t *result);
	/* A recorded or fixture result without a status: judges it as a
	 * real answer would be, setting status (and error). NULL: by its
	 * exit code, a fan-out by its worst host. */
	void (*fixture_judge)(const json_t *spec, json_t *result);
};

extern const struct action action_sql, action_ssh, action_shell, action_http, action_lua, action_notify;

/* The empty result of a command (ssh, shell): no output, no exit. */
void action_empty_command_result(json_t *result);

/* The table of action kinds, NULL-terminated. */
extern const struct action *const action_table[];
const struct action *action_find(const char *name);
/* Releases every action's per-run state. */
void action_env_release(struct action_env *env);

/* Waits until fd is ready for `events` (poll flags). Returns 0 ready,
 * 1 the deadline (a now_ms() value) passed, 2 *cancel turned non-zero
 * (the run was cancelled; cancel may be NULL), -1 error. */
int action_wait_fd(int fd, short events, int64_t deadline_ms, const volatile int *cancel);
/* Captured output as a JSON string: invalid UTF-8 sequences become U+FFFD,
 * a character cut by a cap is dropped. Returns a new reference. */
json_t *action_text(char *buf, size_t len);

/* Returns a new shell-quoted copy of s ('...' with ' escaped). */
char *shell_quote(const char *s);

#endif
