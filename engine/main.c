/*
 * main: global options, the subcommand table and dispatch.
 */
#define _POSIX_C_SOURCE 200809L
#include "alert.h"
#include "cli.h"
#include "config.h"
#include "path.h"
#include "util.h"

#include <errno.h>
#include <getopt.h>
#include <stdarg.h>
#include <stdlib.h>
#include <pthread.h>
#include <signal.h>
#include <string.h>

const struct command commands[] = {
	{"list", cmd_list, "[--output text|json]", "list the runbooks on the runbook path",
	 "  --output text|json   json: an array of {id, title, severity, file}\n"},
	{"show", cmd_show, "NAME [--output text|json]", "show a runbook as the engine understood it",
	 "  --output text|json   json: params, targets and steps as loaded\n"},
	{"check", cmd_check, "[FILE|DIR]...", "validate runbooks: schema, Lua syntax, targets, references, templates",
	 "  With no argument, checks every runbook on the runbook path.\n"
	 "  Prints every error as file:line:col: message; exits 2 when there is one.\n"},
	{"exec", cmd_exec,
	 "NAME [-p KEY=VALUE]... [--alert FILE|-] [--incident ID | --no-incident] [--dry-run] [--fixtures FILE]\n"
	 "             [--record FILE] [--apply] [--output text|json] [--target NAME=DSN]",
	 "run a runbook's diagnosis (read-only unless --apply)",
	 "  -p, --param KEY=VALUE  set a parameter (typed as the runbook declares it)\n"
	 "  --alert FILE|-         the alert that triggered the run (JSON); fills `from:` params\n"
	 "  --incident ID          the incident this run belongs to\n"
	 "  --no-incident          run for real and record nothing (trying a runbook on staging);\n"
	 "                         refused with --apply: mutations are always recorded\n"
	 "  --dry-run              open no connection, run no command: render every action;\n"
	 "                         Lua steps and `when` conditions still run\n"
	 "  --fixtures FILE        results for steps (as --record writes them); implies --dry-run\n"
	 "  --record FILE          save every action result as a fixtures file\n"
	 "  --apply                run mutating steps too (otherwise they are shown as would-run,\n"
	 "                         or asked for at a prompt on a terminal)\n"
	 "  --output text|json     json: one document with every step and finding on stdout\n"
	 "  --target NAME=DSN      override a postgres target's connection string\n"
	 "  --store URL            the incident store (see `runbook incident --help`)\n"
	 "  Exit status: 0 all steps ok, 1 a step failed or timed out, 2 bad input, 130 Ctrl-C, 143 SIGTERM.\n"},
	{"test", cmd_test, "[FILE|DIR]... [--name TEXT] [-v] [--output text|json]", "run every runbook's tests: hermetically, dry-run with fixtures",
	 "  With no argument, tests every runbook on the runbook path.\n"
	 "  Prints one line per test and 'N passed, N failed'; exits 1 when a test fails.\n"
	 "  --name TEXT            only the tests whose name contains TEXT (or matches it, with\n"
	 "                         * ? [)\n"
	 "  -v, --verbose          also each step's status and error, and the findings, per test\n"
	 "  --output text|json     json: per runbook and test, passed and the failures\n"},
	{"match", cmd_match, "[--alert FILE|-] [--explain] [--output text|json]",
	 "rank the runbooks for each alert of a payload, and say why",
	 "  --alert FILE|-         the payload: Alertmanager, Grafana, PagerDuty v3 or generic JSON\n"
	 "                         (default: standard input)\n"
	 "  --explain              every runbook, each matcher and condition: held or failed, and\n"
	 "                         the value seen\n"
	 "  --output text|json     json: {\"alerts\": [{\"alert\", \"matches\": [...]}]}\n"
	 "  Exit status: 0 some runbook matches, 1 none does, 2 a bad payload.\n"},
	{"triage", cmd_triage, "[--alert FILE|-] [--output text|json]",
	 "for each alert: dedupe into an incident, diagnose (never mutating), page the escalation target",
	 "  --alert FILE|-         the payload (default: standard input)\n"
	 "  --output text|json     text: one line per alert, `INC-n opened|updated|resolved|ignored\n"
	 "                         RUNBOOK STATUS`; json: {\"alerts\": [{\"fingerprint\", \"incident\",\n"
	 "                         \"action\", \"runbook\", \"severity\", \"status\"}]}\n"
	 "  --config FILE          notifiers, routes, severity_map, components (see `man runbook`)\n"
	 "  --store URL            the incident store (see `runbook incident --help`)\n"
	 "  Exit status: 0 every alert recorded, 1 a diagnosis failed, 2 a bad payload;\n"
	 "  Ctrl-C cancels the diagnoses running (STATUS aborted, nobody paged): 130.\n"},
	{"incident", cmd_incident,
	 "open --title TEXT [--severity SEVn] [--runbook ID] [--component NAME] [--started-at TIME]\n"
	 "       | list [--output json] | show ID [--output json] | ack ID\n"
	 "       | resolve ID [--resolution TEXT | --false-positive]\n"
	 "       | note ID TEXT [--tag TAG] | note ID --action \"TEXT @owner due:YYYY-MM-DD\"\n"
	 "       | severity ID SEVn",
	 "the incident lifecycle by hand: triggered -> acknowledged -> resolved",
	 "  list flags acknowledgements past the severity's target\n"
	 "  (SEV1 15 min, SEV2 30 min, SEV3 2 h, SEV4 24 h).\n"
	 "  --started-at TIME      when the impact began (RFC 3339, e.g. 2026-11-24T07:00:00Z);\n"
	 "                         default: now\n"
	 "  --tag TAG              root-cause, fix, impact, went-well or improve: where the note\n"
	 "                         goes in the post-mortem\n"
	 "  --action TEXT          an action item of the post-mortem\n"
	 "  --at TIME              when it happened, for what is entered after the fact: open\n"
	 "                         (detected), ack, resolve, note (default: now)\n"
	 "  --store URL            sqlite:PATH (default $XDG_STATE_HOME/runbook/runbook.db) or a\n"
	 "                         PostgreSQL URI/conninfo; else RUNBOOK_STORE\n"},
	{"timeline", cmd_timeline, "ID [--output text|json|markdown] [--verify] [--utc]",
	 "an incident's events, in order",
	 "  --output text|json|markdown\n"
	 "  --verify               check the hash chain; names the first bad event (exit 1)\n"
	 "  --utc                  times in UTC (default: local time)\n"
	 "  --store URL            the store (see `runbook incident --help`)\n"},
	{"postmortem", cmd_postmortem, "ID [-o FILE]", "the incident's post-mortem in Markdown, prefilled from its timeline",
	 "  -o, --output-file FILE write it to FILE instead of standard output\n"
	 "  --store URL            the incident store (see `runbook incident --help`)\n"
	 "  Sections: Summary, Impact, Timeline (UTC), Root Cause, What Went Well, What Could Be\n"
	 "  Improved, Action Items, Lessons Learned. Feed it with `runbook incident note ID TEXT\n"
	 "  --tag root-cause|fix|impact|went-well|improve` and `--action \"TEXT @owner due:DATE\"`.\n"},
	{"metrics", cmd_metrics, "[--since 30d|TIME] [--until TIME] [--output text|json]",
	 "MTTD, MTTA, MTTR, MTBF, acknowledgement in target, repeat and false-positive rates",
	 "  --since 30d|TIME       incidents detected since then; a span counts back from --until\n"
	 "                         (default: 30d, the 30 days up to --until)\n"
	 "  --until TIME           ... and until then, that second included (default: now)\n"
	 "  --output text|json     json: {since, until, incidents, mttd_s, mtta_s, mttr_s, mtbf_s,\n"
	 "                         ack_within_target, repeat_rate, false_positive_rate, by_severity}\n"
	 "  A mean without a sample is null (\"-\" in text), never 0.\n"
	 "  --store URL            the incident store (see `runbook incident --help`)\n"},
	{"status-page", cmd_status_page, "[--output markdown|html] [-o FILE]",
	 "the status page: each component's status from open incidents, past incidents of 90 days",
	 "  --output markdown|html html: one self-contained page (inline CSS, no script)\n"
	 "  -o, --output-file FILE write it to FILE instead of standard output\n"
	 "  --store URL            the incident store (see `runbook incident --help`)\n"
	 "  Components come from the config's `components`, else from the runbooks. An open SEV1\n"
	 "  is a Major Outage, SEV2 a Partial Outage, SEV3/SEV4 Degraded Performance.\n"},
	{"store", cmd_store, "sync [--store URL]", "copy incidents from the local fallback store into the configured one",
	 "  sync                   every incident recorded in the fallback store (when the configured\n"
	 "                         store could not be reached) is copied, events in order, chains\n"
	 "                         verified, then marked; running it again copies nothing twice\n"
	 "  --store URL            the configured store (else RUNBOOK_STORE, else the default)\n"},
	{"serve", cmd_serve, "[--listen ADDR:PORT] [--work] [--threads N]",
	 "the HTTP API: alert webhooks in, incidents out, /metrics, /status",
	 "  --listen ADDR:PORT     where to listen (default: the config's serve.listen, else\n"
	 "                         127.0.0.1:9464; [::1]:PORT for IPv6; port 0 picks a free one)\n"
	 "  --work                 with a PostgreSQL store, triage here too (else `runbook worker`s\n"
	 "                         do; with SQLite serve always triages itself)\n"
	 "  --threads N            triage threads (default: serve.triage_threads, else 4)\n"
	 "  --reescalate-every S   look for unacknowledged incidents every S seconds (default 30)\n"
	 "  --lease S              how long a claimed alert is held without a heartbeat (default 60)\n"
	 "  --store URL            the incident store (see `runbook incident --help`)\n"
	 "  Routes: POST /v1/alerts, GET /v1/incidents[?status=open], GET /v1/incidents/ID[/timeline],\n"
	 "  POST /v1/incidents/ID/ack|resolve, GET /healthz, /metrics, /status, /status.json.\n"
	 "  serve.bearer_token guards /v1/; serve.max_body caps a request (413 beyond).\n"
	 "  SIGTERM or SIGINT: stop accepting, finish what is in flight (10 s at most; a second\n"
	 "  signal: at once, the diagnoses left are cancelled and stay queued), exit 0.\n"
	 "  See docs/serve.md.\n"},
	{"worker", cmd_worker, "[--concurrency N]",
	 "triage queued alerts from a PostgreSQL store, beside any number of other workers",
	 "  --concurrency N        alerts triaged at once (default 4)\n"
	 "  --reescalate-every S   look for unacknowledged incidents every S seconds (default 30)\n"
	 "  --lease S              a claim's lease (default 60): a worker that hangs loses its alerts\n"
	 "                         after S seconds; one that dies loses them at once\n"
	 "  --store URL            the PostgreSQL store `runbook serve` queues into\n"
	 "  SIGTERM or SIGINT: finish the alerts in hand (10 s at most; a second signal: at once,\n"
	 "  the diagnoses left are cancelled and stay queued), exit 0.\n"},
	{NULL, NULL, NULL, NULL, NULL},
};

const struct command *command_find(const char *name)
{
	for (const struct command *c = commands; c->name; c++)
		if (!strcmp(c->name, name))
			return c;
	return NULL;
}

void command_help(const struct command *c, FILE *out)
{
	fprintf(out, "usage: runbook %s %s\n\n%s.\n\n%s", c->name, c->usage, c->summary, c->help);
	fprintf(out, "  --runbooks DIR[:DIR]   where to find runbooks (else RUNBOOK_PATH, ./runbooks, ...)\n"
		     "  -h, --help             this help\n");
}

int command_count(const char *s, int min, int max)
{
	char *end;
	long v = strtol(s, &end, 10);
	return *s && !*end && v >= min && v <= max ? (int)v : -1;
}

int command_usage_error(const char *name, const char *fmt, ...)
{
	va_list ap;
	va_start(ap, fmt);
	fprintf(stderr, "runbook %s: ", name);
	vfprintf(stderr, fmt, ap);
	va_end(ap);
	const struct command *c = command_find(name);
	if (c)
		fprintf(stderr, "\nusage: runbook %s %s\n", c->name, c->usage);
	else
		fputc('\n', stderr);
	return EXIT_USAGE;
}

int command_alerts_and_catalog(const char *name, const char *path, struct globals *g, json_t **alerts,
			       struct runbook ***rbs, size_t *n)
{
	struct diag_list d;
	diag_init(&d);
	*alerts = alert_load_all(path, &d);
	if (!*alerts) {
		diag_print(&d, stderr);
		diag_release(&d);
		return EXIT_USAGE;
	}
	diag_release(&d);
	command_catalog(name, g, rbs, n);
	return 0;
}

void command_catalog(const char *name, struct globals *g, struct runbook ***rbs, size_t *n)
{
	struct diag_list d;
	diag_init(&d);
	runbook_catalog(g->runbooks, rbs, n, &d);
	for (size_t i = 0; i < d.n; i++) {
		char *m = diag_format(&d.items[i]);
		fprintf(stderr, "runbook %s: warning: %s\n", name, m);
		free(m);
	}
	diag_release(&d);
}

void command_block_signals(void)
{
	sigset_t set;
	sigemptyset(&set);
	sigaddset(&set, SIGINT);
	sigaddset(&set, SIGTERM);
	pthread_sigmask(SIG_BLOCK, &set, NULL);
}

int command_wait_for_signal(void)
{
	sigset_t set;
	sigemptyset(&set);
	sigaddset(&set, SIGINT);
	sigaddset(&set, SIGTERM);
	int sig = 0;
	while (sigwait(&set, &sig))
		;
	return sig;
}

int command_wait_for_signal_until(int64_t until_ms)
{
	sigset_t set;
	sigemptyset(&set);
	sigaddset(&set, SIGINT);
	sigaddset(&set, SIGTERM);
	for (int64_t left; (left = until_ms - now_ms()) > 0;) {
		struct timespec ts = {left / 1000, (left % 1000) * 1000000L};
		int sig = sigtimedwait(&set, NULL, &ts);
		if (sig > 0)
			return sig;
	}
	return 0;
}

int command_write(const char *name, const char *file, const char *buf, size_t len)
{
	FILE *out = file ? fopen(file, "w") : stdout;
	int bad = !out || fwrite(buf, 1, len, out) != len;
	if (out && file)
		bad |= fclose(out) != 0;
	if (bad) {
		fprintf(stderr, "runbook %s: %s: %s\n", name, file ? file : "stdout", strerror(errno));
		return EXIT_FAIL;
	}
	return EXIT_OK;
}

int command_options(int argc, char **argv, struct globals *g, const char *name, int *json)
{
	static const struct option with_output[] = {{"output", required_argument, 0, 'o'},
		{"runbooks", required_argument, 0, 'R'}, {"store", required_argument, 0, 'S'}, {0, 0, 0, 0}};
	const struct option *opts = json ? with_output : with_output + 1;
	int c;
	optind = 1;
	while ((c = getopt_long(argc, argv, json ? "o:" : "", opts, NULL)) != -1) {
		if (c == 'o' && (!strcmp(optarg, "json") || !strcmp(optarg, "text"))) {
			*json = !strcmp(optarg, "json");
		} else if (c == 'R') {
			g->runbooks = optarg;
		} else if (c == 'S') {
			g->store = optarg;
		} else {
			command_usage_error(name, c == 'o' ? "--output is text or json, not '%s'" : "bad option%s",
					    c == 'o' ? optarg : "");
			return -1;
		}
	}
	return optind;
}

static void usage(FILE *out)
{
	fprintf(out, "usage: runbook [--runbooks DIR[:DIR]] COMMAND [ARGS]\n\n"
		     "Executable runbooks for incident response.\n\nCommands:\n");
	for (const struct command *c = commands; c->name; c++)
		fprintf(out, "  %-8s %s\n", c->name, c->summary);
	fprintf(out, "\nGlobal options:\n"
		     "  --runbooks DIR[:DIR]   where to find runbooks (else RUNBOOK_PATH, ./runbooks,\n"
		     "                         $XDG_CONFIG_HOME/runbook/runbooks, the installed library)\n"
		     "  --config FILE          the configuration (else RUNBOOK_CONFIG, else\n"
		     "                         $XDG_CONFIG_HOME/runbook/config.yaml if it exists)\n"
		     "  --store URL            the incident store: sqlite:PATH (default\n"
		     "                         $XDG_STATE_HOME/runbook/runbook.db) or a PostgreSQL\n"
		     "                         URI/conninfo; else RUNBOOK_STORE\n"
		     "  --version              print the version\n"
		     "  -h, --help             this help\n\n"
		     "`runbook COMMAND --help` describes a command; `man runbook` has the details.\n");
}

int64_t main_started_ms;

int main(int argc, char **argv)
{
	main_started_ms = now_ms();
	struct globals g = {0};
	int i = 1;
	for (; i < argc && argv[i][0] == '-'; i++) {
		if (!strcmp(argv[i], "--version")) {
			printf("runbook %s\n", RUNBOOK_VERSION);
			return EXIT_OK;
		} else if (!strcmp(argv[i], "-h") || !strcmp(argv[i], "--help")) {
			usage(stdout);
			return EXIT_OK;
		} else if (!strcmp(argv[i], "--runbooks") && i + 1 < argc) {
			g.runbooks = argv[++i];
		} else if (!strncmp(argv[i], "--runbooks=", 11)) {
			g.runbooks = argv[i] + 11;
		} else if (!strcmp(argv[i], "--config") && i + 1 < argc) {
			g.config_path = argv[++i];
		} else if (!strncmp(argv[i], "--config=", 9)) {
			g.config_path = argv[i] + 9;
		} else if (!strcmp(argv[i], "--store") && i + 1 < argc) {
			g.store = argv[++i];
		} else if (!strncmp(argv[i], "--store=", 8)) {
			g.store = argv[i] + 8;
		} else {
			fprintf(stderr, "runbook: unknown option '%s'\n", argv[i]);
			usage(stderr);
			return EXIT_USAGE;
		}
	}
	if (i >= argc) {
		usage(stderr);
		return EXIT_USAGE;
	}
	const struct command *c = command_find(argv[i]);
	if (!c) {
		const char *names[16];
		size_t n = 0;
		for (const struct command *k = commands; k->name && n < 15; k++)
			names[n++] = k->name;
		names[n] = NULL;
		const char *dym = did_you_mean(argv[i], names);
		fprintf(stderr, "runbook: unknown command '%s'%s%s%s\n", argv[i], dym ? " (did you mean '" : "",
			dym ? dym : "", dym ? "'?)" : "");
		fprintf(stderr, "`runbook --help` lists the commands.\n");
		return EXIT_USAGE;
	}
	for (int k = i + 1; k < argc; k++) {
		if (!strcmp(argv[k], "--"))
			break;
		if (!strcmp(argv[k], "-h") || !strcmp(argv[k], "--help")) {
			command_help(c, stdout);
			return EXIT_OK;
		}
	}
	/* the config file: its errors stop every command, like a broken runbook */
	struct config cfg;
	struct diag_list d;
	diag_init(&d);
	if (config_load(g.config_path, &cfg, &d)) {
		diag_print(&d, stderr);
		diag_release(&d);
		config_release(&cfg);
		return EXIT_USAGE;
	}
	diag_release(&d);
	g.cfg = &cfg;
	/* the command line, then the environment, then the config */
	if (!g.store && !(getenv("RUNBOOK_STORE") && *getenv("RUNBOOK_STORE")))
		g.store = cfg.store;
	if (!g.runbooks && !(getenv("RUNBOOK_PATH") && *getenv("RUNBOOK_PATH")))
		g.runbooks = cfg.runbooks;
	install_interrupt_handler();
	int rc = c->fn(argc - i, argv + i, &g);
	config_release(&cfg);
	return rc;
}
