#!/usr/bin/env bash
# Integration tests: the real binary as a user runs it - signals, terminals,
# the installed layout, interactive confirmation. Prints "N passed, N failed".
set -u
BIN=${RUNBOOK_BIN:-$(pwd)/runbook}
ROOT=$(cd "$(dirname "$0")/.." && pwd)
TMP=$(mktemp -d /tmp/runbook-it-XXXXXX)
trap 'rm -rf "$TMP"' EXIT
pass=0 fail=0

ok() { pass=$((pass + 1)); echo "ok    $1"; }
ko() { fail=$((fail + 1)); echo "FAIL  $1"; [ -n "${2:-}" ] && echo "$2" | sed 's/^/      /'; }
check() { # name, condition (evaluated), detail
	if eval "$2"; then ok "$1"; else ko "$1" "${3:-}"; fi
}

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

echo "$pass passed, $fail failed"
[ "$fail" = 0 ]
