#!/usr/bin/env bash
# Integration tests: the real binary as a user runs it - signals, terminals,
# the installed layout, interactive confirmation. Prints "N passed, N failed".
set -u
BIN=${RUNBOOK_BIN:-$(pwd)/runbook}
ROOT=$(cd "$(dirname "$0")/.." && pwd)
. "$ROOT/tests/lib.sh"
TMP=$(mktemp -d /tmp/runbook-it-XXXXXX)
export XDG_STATE_HOME="$TMP/state" RUNBOOK_STORE= # incidents go to a store of our own
trap 'rm -rf "$TMP"' EXIT


cat > "$TMP/slow.yaml" <<YAML
runbook: slow
title: A slow local check
steps:
  - id: first
    shell: "echo started"
  - id: wait
    timeout: 60s
    shell: "sleep 40 & echo \$! > $TMP/bg.pid; sleep 50"
  - id: after
    shell: "echo never"
YAML

# Ctrl-C: the running command is cancelled (its whole group), the rest is
# recorded as not run, and the exit status is 130.
"$BIN" exec "$TMP/slow.yaml" --output json > "$TMP/int.json" 2> "$TMP/int.err" &
pid=$!
for _ in $(seq 100); do [ -s "$TMP/bg.pid" ] && break; sleep 0.05; done
sleep 0.2
kill -INT "$pid"
wait "$pid"; rc=$?
check "Ctrl-C exits 130" '[ "$rc" = 130 ]' "rc=$rc $(cat "$TMP/int.err")"
check "Ctrl-C report says aborted" 'grep -q "\"status\": \"aborted\"" "$TMP/int.json"' "$(head -c 600 "$TMP/int.json")"
check "Ctrl-C skips the steps after" 'grep -q "not run: the run was interrupted" "$TMP/int.json"'
bg=$(cat "$TMP/bg.pid" 2>/dev/null || echo 0)
alive() { [ -d "/proc/$1" ] && ! grep -qE '^[^)]*\) [ZX]' "/proc/$1/stat" 2>/dev/null; }
for _ in $(seq 50); do alive "$bg" || break; sleep 0.05; done
check "Ctrl-C kills the background child of the step" '! alive "$bg"' "pid $bg still alive"

# A terminal gets live progress and colour; NO_COLOR turns colour off.
script -qec "$BIN --runbooks $ROOT/runbooks exec db-connections --fixtures $ROOT/tests/fixtures/db-connections-saturated.json" /dev/null > "$TMP/tty.out" 2>&1
check "TTY output is coloured" 'grep -q $'"'"'\033\[31m'"'"' "$TMP/tty.out"'
check "TTY output shows findings" 'grep -q "CRITICAL" "$TMP/tty.out"'
NO_COLOR=1 script -qec "$BIN --runbooks $ROOT/runbooks exec db-connections --fixtures $ROOT/tests/fixtures/db-connections-saturated.json" /dev/null > "$TMP/nocolor.out" 2>&1
check "NO_COLOR is respected" '! grep -q $'"'"'\033\[3[0-9]m'"'"' "$TMP/nocolor.out"'
"$BIN" --runbooks "$ROOT/runbooks" exec db-connections --fixtures "$ROOT/tests/fixtures/db-connections-saturated.json" > "$TMP/plain.out" 2>&1
check "a pipe gets a clean report (no escapes)" '! grep -q $'"'"'\033'"'"' "$TMP/plain.out" && grep -q "would-run  terminate" "$TMP/plain.out"' "$(cat "$TMP/plain.out")"

# A mutating step asks on a terminal; "y" runs it, anything else does not.
cat > "$TMP/fix.yaml" <<YAML
runbook: fix
title: A remediation
steps:
  - id: fix
    mutates: true
    shell: "touch $TMP/fixed"
YAML
printf 'n\n' | script -qec "$BIN exec $TMP/fix.yaml" /dev/null > "$TMP/ask-no.out" 2>&1
check "answering no leaves it would-run" '[ ! -e "$TMP/fixed" ] && grep -q "Run it?" "$TMP/ask-no.out"' "$(cat "$TMP/ask-no.out")"
printf 'y\n' | script -qec "$BIN exec $TMP/fix.yaml" /dev/null > "$TMP/ask-yes.out" 2>&1
check "answering yes runs it" '[ -e "$TMP/fixed" ]' "$(cat "$TMP/ask-yes.out")"
rm -f "$TMP/fixed"
"$BIN" exec "$TMP/fix.yaml" > /dev/null 2>&1 < /dev/null
check "without a terminal it is never run" '[ ! -e "$TMP/fixed" ]'
"$BIN" exec "$TMP/fix.yaml" --apply > /dev/null 2>&1
check "--apply runs it" '[ -e "$TMP/fixed" ]'

# make install puts the binary, the runbook library and the man page in place,
# and the installed binary finds the library runbooks.
make -s -C "$ROOT" install PREFIX="$TMP/prefix" > "$TMP/install.out" 2>&1
check "make install" '[ -x "$TMP/prefix/bin/runbook" ] && [ -f "$TMP/prefix/share/man/man1/runbook.1" ]' "$(cat "$TMP/install.out")"
(cd "$TMP" && HOME="$TMP" XDG_CONFIG_HOME="$TMP/cfg" RUNBOOK_PATH= "$TMP/prefix/bin/runbook" list > "$TMP/list.out" 2>&1)
check "installed binary finds the installed library" 'grep -q "db-connections" "$TMP/list.out"' "$(cat "$TMP/list.out")"
check "man page renders" 'man -l "$TMP/prefix/share/man/man1/runbook.1" 2>/dev/null | grep -q "exec"'

# The shipped runbooks validate and their tests pass.
"$BIN" check "$ROOT/runbooks" > "$TMP/check.out" 2>&1
check "runbook check runbooks/ is clean" '[ $? = 0 ]' "$(cat "$TMP/check.out")"
"$BIN" test "$ROOT/runbooks" > "$TMP/test.out" 2>&1; rc=$?
check "runbook test runbooks/ passes" '[ $rc = 0 ] && grep -q " 0 failed" "$TMP/test.out"' "$(cat "$TMP/test.out")"

# The timeline: a real run opens an incident and records every step.
st="$XDG_STATE_HOME/runbook/runbook.db"
check "Ctrl-C run opened an incident" '[ -f "$st" ] && "$BIN" incident show INC-1 > /dev/null'
"$BIN" timeline INC-1 --output json > "$TMP/tl1.json"
check "Ctrl-C: the abort is recorded" 'grep -q "runbook slow finished: aborted" "$TMP/tl1.json"' "$(head -c 1500 "$TMP/tl1.json")"
check "Ctrl-C: the timeline verifies" '"$BIN" timeline INC-1 --verify > /dev/null'

# kill -9 in the middle of a run: what was recorded before stays intact.
cat > "$TMP/kill.yaml" <<YAML
runbook: killme
title: killed mid-run
steps:
  - {id: one, shell: "echo one"}
  - {id: two, shell: "echo two"}
  - {id: wait, timeout: 60s, shell: "echo \$\$ > $TMP/wait.pid; touch $TMP/waiting; exec sleep 30"}
  - {id: never, shell: "echo never"}
YAML
"$BIN" exec "$TMP/kill.yaml" > /dev/null 2>&1 &
pid=$!
for _ in $(seq 100); do [ -e "$TMP/waiting" ] && break; sleep 0.05; done
kill -9 "$pid"; wait "$pid" 2>/dev/null
inc=$("$BIN" incident list --output json | grep -o '"id": "INC-[0-9]*"' | head -1 | grep -o 'INC-[0-9]*')
"$BIN" timeline "$inc" > "$TMP/kill.tl"
check "kill -9: the steps before it are recorded" 'grep -q "step one: ok" "$TMP/kill.tl" && grep -q "step two: ok" "$TMP/kill.tl" && ! grep -q "never" "$TMP/kill.tl"' "$(cat "$TMP/kill.tl")"
check "kill -9: the timeline verifies" '"$BIN" timeline "$inc" --verify > /dev/null'
kill "$(cat "$TMP/wait.pid")" 2>/dev/null # the orphaned step's own process

# The lifecycle by hand, with invalid transitions refused.
id=$("$BIN" incident open --title "checkout errors" --severity SEV1 --component Checkout)
"$BIN" incident ack "$id" > /dev/null; a1=$?
"$BIN" incident ack "$id" > /dev/null 2>&1; a2=$?
"$BIN" incident note "$id" "rolled back the deploy" > /dev/null
"$BIN" incident severity "$id" SEV2 > /dev/null
"$BIN" incident resolve "$id" --resolution false-positive > /dev/null; r1=$?
"$BIN" incident resolve "$id" > /dev/null 2>&1; r2=$?
check "lifecycle: ack, note, severity, resolve" '[ $a1 = 0 ] && [ $r1 = 0 ] && "$BIN" incident show "$id" | grep -q "resolution *false-positive" && "$BIN" incident show "$id" | grep -q "severity *SEV2"'
check "lifecycle: invalid transitions exit 2" '[ $a2 = 2 ] && [ $r2 = 2 ]'
"$BIN" timeline "$id" --output markdown > "$TMP/tl.md"
check "timeline as markdown" 'grep -q "^# $id: checkout errors" "$TMP/tl.md" && grep -q "| note |" "$TMP/tl.md"' "$(cat "$TMP/tl.md")"
"$BIN" incident severity "$id" SEV9 > /dev/null 2>&1; rc=$?
check "bad severity exits 2" '[ $rc = 2 ]'

# An unusable store: said at the start, nothing runs.
rm -f "$TMP/ran"
printf 'runbook: touch\ntitle: t\nsteps:\n  - {id: t, shell: "touch %s/ran"}\n' "$TMP" > "$TMP/touch.yaml"
"$BIN" exec "$TMP/touch.yaml" --store "sqlite:/proc/1/nope/runbook.db" > "$TMP/nostore.out" 2>&1; rc=$?
check "unusable store: exit 2, clear error, nothing ran" '[ $rc = 2 ] && grep -q "timeline store is unavailable" "$TMP/nostore.out" && [ ! -e "$TMP/ran" ]' "$(cat "$TMP/nostore.out")"
"$BIN" exec "$TMP/touch.yaml" --dry-run --store "sqlite:/proc/1/nope/runbook.db" > /dev/null 2>&1; rc=$?
check "a dry run needs no store and records nothing" '[ $rc = 0 ]'

echo "$pass passed, $fail failed"
[ "$fail" = 0 ]
