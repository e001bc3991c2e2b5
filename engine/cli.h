/*
 * cli: the one table of subcommands. main() picks the command, each
 * cmd_NAME() in engine/cmd_NAME.c parses its own options; `--help` text
 * comes from the table.
 */
#ifndef RUNBOOK_CLI_H
#define RUNBOOK_CLI_H

#include <jansson.h>
#include <stdint.h>
#include <stddef.h>
#include <stdio.h>

#define RUNBOOK_VERSION "0.1.0"

/* Exit codes (SPEC section 4). */
#define EXIT_OK 0
#define EXIT_FAIL 1
#define EXIT_USAGE 2
#define EXIT_INTERRUPTED 130

struct config;

/* now_ms() when main() began: the base of `timings` */
extern int64_t main_started_ms;

struct globals {
	const char *runbooks; /* --runbooks DIR[:DIR...] */
	const char *store;    /* --store URL */
	const char *config_path; /* --config FILE */
	struct config *cfg;   /* the configuration (defaults when there is no file) */
};

struct command {
	const char *name;
	int (*fn)(int argc, char **argv, struct globals *g);
	const char *usage;   /* after "runbook NAME " */
	const char *summary; /* one line */
	const char *help;    /* options, one per line */
};

extern const struct command commands[];
const struct command *command_find(const char *name);
/* Prints a command's --help text. */
void command_help(const struct command *c, FILE *out);
/* Parses the options commands share: --runbooks, and --output text|json
 * when json is not NULL. Returns the index of the first operand, or -1
 * after printing a usage error. */
int command_options(int argc, char **argv, struct globals *g, const char *name, int *json);
struct runbook;
/* Loads the alerts of a payload (path, "-" for stdin) and the runbook
 * catalog, warning on stderr about runbook files that do not load.
 * Returns 0, or EXIT_USAGE after printing why the payload was refused. */
int command_alerts_and_catalog(const char *name, const char *path, struct globals *g, json_t **alerts,
			       struct runbook ***rbs, size_t *n);
/* Loads the runbook catalog, warning on stderr about files that do not load. */
void command_catalog(const char *name, struct globals *g, struct runbook ***rbs, size_t *n);
/* Blocks SIGINT and SIGTERM in this thread and every thread it starts
 * after; command_wait_for_signal() then waits for one and returns it, and
 * command_wait_for_signal_until() waits until until_ms (a now_ms() value)
 * at the latest: the signal, or 0. */
void command_block_signals(void);
int command_wait_for_signal(void);
int command_wait_for_signal_until(int64_t until_ms);
/* Writes a rendered document to file (NULL: stdout). Returns EXIT_OK, or
 * EXIT_FAIL after saying why. */
int command_write(const char *name, const char *file, const char *buf, size_t len);
/* A whole number in [min, max] from an option's value, else -1. */
int command_count(const char *s, int min, int max);
/* Prints "runbook NAME: message" and the usage line; returns EXIT_USAGE. */
int command_usage_error(const char *name, const char *fmt, ...) __attribute__((format(printf, 2, 3)));

int cmd_list(int argc, char **argv, struct globals *g);
int cmd_show(int argc, char **argv, struct globals *g);
int cmd_check(int argc, char **argv, struct globals *g);
int cmd_exec(int argc, char **argv, struct globals *g);
int cmd_test(int argc, char **argv, struct globals *g);
int cmd_incident(int argc, char **argv, struct globals *g);
int cmd_timeline(int argc, char **argv, struct globals *g);
int cmd_store(int argc, char **argv, struct globals *g);
int cmd_match(int argc, char **argv, struct globals *g);
int cmd_postmortem(int argc, char **argv, struct globals *g);
int cmd_metrics(int argc, char **argv, struct globals *g);
int cmd_status_page(int argc, char **argv, struct globals *g);
int cmd_triage(int argc, char **argv, struct globals *g);
int cmd_serve(int argc, char **argv, struct globals *g);
int cmd_worker(int argc, char **argv, struct globals *g);

#endif
