# runbook: plain Makefile, pkg-config for every library.
#   make               build ./runbook
#   make check         unit suites (Check) + integration tests against the real binary
#   make SANITIZE=1 check   the same under ASan/UBSan
#   make install PREFIX=/usr/local
#   make deps          install the Debian packages the build and tests need (root)

PREFIX ?= /usr/local
BINDIR = $(PREFIX)/bin
DATADIR = $(PREFIX)/share/runbook
MANDIR = $(PREFIX)/share/man/man1

CC ?= cc
PKGS = lua5.4 yaml-0.1 jansson libpq libssh2 sqlite3 libcrypto libcurl libmicrohttpd
CFLAGS ?= -O2 -g
# every room of the source is on the include path: headers are named bare
ROOMS = engine engine/base engine/model engine/run engine/store engine/incident engine/triage engine/serve engine/cmd \
	actions sandbox
INCLUDES = $(addprefix -I,$(ROOMS))
CFLAGS += -std=c11 -Wall -Wextra -Wshadow -Wno-missing-field-initializers $(INCLUDES) \
	  $(shell pkg-config --cflags $(PKGS)) -DRUNBOOK_DATADIR='"$(DATADIR)"' -MMD -MP
# libcurl is loaded when first used (actions/curl_api.c): not linked
LDLIBS += $(shell pkg-config --libs $(filter-out libcurl,$(PKGS))) -lm -lpthread -ldl

ifeq ($(SANITIZE),1)
CFLAGS += -fsanitize=address,undefined -fno-omit-frame-pointer -fno-sanitize-recover=undefined
LDFLAGS += -fsanitize=address,undefined
endif

# the engine's rooms name the pipeline: base -> model -> run, base -> store
# -> incident -> triage; cmd/ holds one thin file per subcommand
BASE = engine/base/util.o engine/base/text.o engine/base/diag.o
MODEL = engine/model/yaml_tree.o engine/model/runbook.o engine/model/template.o engine/model/path.o \
	engine/model/config.o
RUN = engine/run/redact.o engine/run/fixture.o engine/run/exec.o engine/run/lanes.o engine/run/report.o \
	engine/run/session.o
STORE = engine/store/store.o engine/store/store_sqlite.o engine/store/store_pg.o engine/store/store_sync.o \
	engine/store/journal.o
INCIDENT = engine/incident/incident.o engine/incident/postmortem.o engine/incident/metrics.o \
	engine/incident/statuspage.o
TRIAGE = engine/triage/alert.o engine/triage/match.o engine/triage/notifier.o engine/triage/triage.o \
	engine/triage/stats.o engine/triage/pool.o
SERVE = engine/serve/serve.o engine/serve/exposition.o
ENGINE = $(BASE) $(MODEL) $(RUN) $(STORE) $(INCIDENT) $(TRIAGE) $(SERVE)
COMMANDS = $(patsubst %.c,%.o,$(sort $(wildcard engine/cmd/cmd_*.c)))
ACTIONS = actions/action.o actions/background.o actions/lua.o actions/shell.o actions/sql.o actions/sql_lex.o actions/ssh.o actions/ssh_config.o actions/ssh_jump.o actions/known_hosts.o actions/ssh_kexinit.o actions/http.o actions/curl_api.o actions/notify.o
SANDBOX = sandbox/sandbox.o sandbox/pattern.o
LIBOBJS = $(ENGINE) $(ACTIONS) $(SANDBOX) $(COMMANDS)

TESTS = tests/check_runbook.o tests/check_loader.o tests/check_sandbox.o tests/check_template.o \
	tests/check_executor.o tests/check_actions.o tests/check_store.o tests/check_cli.o tests/check_text.o tests/check_match.o tests/check_redact.o tests/check_incident.o
CHECK_CFLAGS = $(shell pkg-config --cflags check)
CHECK_LIBS = $(shell pkg-config --libs check)

.PHONY: fuzz-compiles bench-serve all check unit integration hostile author docs triage learn emergency serve pg-integration ssh-integration bench install uninstall clean deps demo fuzz

all: runbook

librunbook.a: $(LIBOBJS)
	rm -f $@
	$(AR) rcs $@ $^

runbook: engine/main.o librunbook.a
	$(CC) $(LDFLAGS) -o $@ $^ $(LDLIBS)

tests/%.o: tests/%.c
	$(CC) $(CFLAGS) $(CHECK_CFLAGS) -c -o $@ $<

tests/check_runbook: $(TESTS) librunbook.a
	$(CC) $(LDFLAGS) -o $@ $^ $(LDLIBS) $(CHECK_LIBS)

check: unit integration hostile author docs triage learn pg-integration emergency serve ssh-integration

unit: tests/check_runbook runbook fuzz-compiles
	cd tests && RUNBOOK_BIN=$(CURDIR)/runbook ./check_runbook

# the fuzz harnesses still compile against the engine's interfaces (the
# fuzzers themselves need clang: make fuzz)
fuzz-compiles:
	$(CC) $(filter-out -MMD -MP,$(CFLAGS)) -Werror -fsyntax-only $(FUZZERS:=.c)

integration: runbook
	RUNBOOK_BIN=$(CURDIR)/runbook bash tests/integration.sh

# hostile input that needs no server: secrets, the terminal, fixtures, params
hostile: runbook
	RUNBOOK_BIN=$(CURDIR)/runbook bash tests/hostile_test.sh

# against a real PostgreSQL the script starts and stops itself
pg-integration: runbook tests/check_runbook
	RUNBOOK_BIN=$(CURDIR)/runbook bash tests/sql_test.sh

# the author's loop: tests that cannot lie, errors at the cause, recordings
author: runbook
	RUNBOOK_BIN=$(CURDIR)/runbook bash tests/author_test.sh

# every runbook example in the README and docs/ is checked, tested, dry-run
docs: runbook
	RUNBOOK_BIN=$(CURDIR)/runbook bash tests/docs_test.sh

# after the incident: post-mortem and metrics on both stores
learn: runbook
	RUNBOOK_BIN=$(CURDIR)/runbook bash tests/learn_test.sh

# alert payloads through match and triage, real HTTP receivers for the notifiers
triage: runbook
	RUNBOOK_BIN=$(CURDIR)/runbook bash tests/triage_test.sh

# db-connections against a PostgreSQL whose every ordinary slot is taken
emergency: runbook
	RUNBOOK_BIN=$(CURDIR)/runbook bash tests/emergency_test.sh

# a real `runbook serve` on a loopback port, real HTTP; real workers on a real PostgreSQL
serve: runbook
	RUNBOOK_BIN=$(CURDIR)/runbook bash tests/serve_test.sh

# against a real OpenSSH server the script starts and stops itself
ssh-integration: runbook
	RUNBOOK_BIN=$(CURDIR)/runbook bash tests/ssh_test.sh

# The fuzzers (loader, fixtures, alerts, config, known_hosts, SSH kexinit): each its own clang build of the
# engine with libFuzzer + ASan/UBSan.
FUZZERS = tests/fuzz_loader tests/fuzz_fixtures tests/fuzz_alert tests/fuzz_config tests/fuzz_known_hosts tests/fuzz_kexinit
FUZZ_SRCS = $(ENGINE:.o=.c) $(ACTIONS:.o=.c) $(SANDBOX:.o=.c)
fuzz: $(FUZZERS)
tests/fuzz_%: tests/fuzz_%.c $(FUZZ_SRCS)
	clang -g -O1 -fsanitize=fuzzer,address,undefined -Wno-unused-command-line-argument \
		$(INCLUDES) $(shell pkg-config --cflags $(PKGS)) -o $@ $< $(FUZZ_SRCS) $(shell pkg-config --libs $(PKGS)) -lm -lpthread

install: runbook
	install -d $(DESTDIR)$(BINDIR) $(DESTDIR)$(DATADIR)/runbooks $(DESTDIR)$(MANDIR)
	install -m 755 runbook $(DESTDIR)$(BINDIR)/runbook
	install -m 644 runbooks/*.yaml $(DESTDIR)$(DATADIR)/runbooks/
	install -m 644 docs/runbook.1 $(DESTDIR)$(MANDIR)/runbook.1

uninstall:
	rm -f $(DESTDIR)$(BINDIR)/runbook $(DESTDIR)$(MANDIR)/runbook.1
	rm -rf $(DESTDIR)$(DATADIR)

DEB_PACKAGES = build-essential pkg-config liblua5.4-dev libyaml-dev libjansson-dev check \
	libpq-dev libssh2-1-dev libsqlite3-dev libcurl4-openssl-dev libmicrohttpd-dev libssl-dev \
	postgresql openssh-server openssh-client procps man-db valgrind python3 sqlite3 chromium fonts-dejavu-core

deps:
	apt-get update
	DEBIAN_FRONTEND=noninteractive apt-get install -y --no-install-recommends $(DEB_PACKAGES)

tests/bench_store: tests/bench_store.o librunbook.a
	$(CC) $(LDFLAGS) -o $@ $^ $(LDLIBS)

tests/bench_match: tests/bench_match.o librunbook.a
	$(CC) $(LDFLAGS) -o $@ $^ $(LDLIBS)

tests/bench_null_http: tests/bench_null_http.c
	$(CC) $(CFLAGS) $(LDFLAGS) -o $@ $< $(LDLIBS)

bench: runbook tests/bench_store tests/bench_match tests/bench_null_http
	RUNBOOK_BIN=$(CURDIR)/runbook bash tests/bench.sh
	RUNBOOK_BIN=$(CURDIR)/runbook bash tests/bench_serve.sh

# serve's intake and the workers' scaling alone
bench-serve: runbook tests/bench_null_http
	RUNBOOK_BIN=$(CURDIR)/runbook bash tests/bench_serve.sh

demo:
	$(MAKE) deps
	$(MAKE) runbook
	bash tests/demo.sh

clean:
	rm -f runbook librunbook.a tests/check_runbook $(FUZZERS) tests/bench_store tests/bench_match tests/bench_null_http */*.o */*.d \
		*/*/*.o */*/*.d

-include $(wildcard */*.d */*/*.d)
