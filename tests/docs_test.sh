#!/usr/bin/env bash
# The docs' examples are tested: every ```yaml block of README.md and
# docs/*.md that is a whole runbook must pass `check`, `test` (when it has
# tests) and `exec --dry-run`; the config example must load. Prints
# "N passed, N failed".
set -u
BIN=${RUNBOOK_BIN:-$(pwd)/runbook}
ROOT=$(cd "$(dirname "$0")/.." && pwd)
. "$ROOT/tests/lib.sh"
TMP=$(mktemp -d /tmp/runbook-docs-XXXXXX)
export XDG_STATE_HOME="$TMP/state" RUNBOOK_STORE= RUNBOOK_PATH="$TMP/none" XDG_CONFIG_HOME="$TMP/xdg"
trap 'rm -rf "$TMP"' EXIT

n=0
for doc in "$ROOT/README.md" "$ROOT"/docs/*.md; do
	awk -v out="$TMP/ex" -v doc="$(basename "$doc")" '
		/^```yaml/ { on = 1; k++; file = sprintf("%s-%s-%02d.yaml", out, doc, k); next }
		/^```/ { on = 0; next }
		on { print > file }' "$doc"
done
for f in "$TMP"/ex-*.yaml; do
	[ -e "$f" ] || continue
	name=$(basename "$f" .yaml | sed 's/^ex-//')
	case "$(head -n 1 "$f")" in
	runbook:*)
		n=$((n + 1))
		"$BIN" check "$f" > "$TMP/out" 2>&1; rc=$?
		check "$name: check" '[ $rc = 0 ]' "$(cat "$TMP/out")"
		if grep -q '^tests:' "$f"; then
			"$BIN" test "$f" > "$TMP/out" 2>&1; rc=$?
			check "$name: its tests pass" '[ $rc = 0 ] && grep -q " 0 failed" "$TMP/out"' "$(cat "$TMP/out")"
		fi
		"$BIN" exec "$f" --dry-run > "$TMP/out" 2>&1; rc=$?
		check "$name: exec --dry-run" '[ $rc = 0 ]' "$(cat "$TMP/out")"
		;;
	store:*)
		n=$((n + 1))
		SLACK_URL=http://127.0.0.1:1/s HOOK_TOKEN=t PD_KEY=k RUNBOOK_TOKEN=tok PD_WEBHOOK_SECRET=s "$BIN" --config "$f" list > "$TMP/out" 2>&1; rc=$?
		check "$name: the config example loads" '[ $rc = 0 ]' "$(cat "$TMP/out")"
		;;
	esac
done
check "the docs hold examples to test ($n)" '[ $n -ge 4 ]'

# every option a command takes is in its --help (the global --store and
# --runbooks are in `runbook --help`, and where the command uses them)
missing=
for f in "$ROOT"/engine/cmd/cmd_*.c; do
	c=$(basename "$f" .c | sed 's/^cmd_//; s/_/-/g')
	"$BIN" "$c" --help > "$TMP/help" 2>&1
	for o in $(grep -o '{"[a-z-]*", \(required\|no\|optional\)_argument' "$f" | grep -o '"[a-z-]*"' | tr -d '"' | sort -u); do
		case "$o" in store | runbooks) continue ;; esac
		grep -q -- "--$o" "$TMP/help" || missing="$missing $c --$o"
	done
done
check "every option of every command is in its --help" '[ -z "$missing" ]' "missing:$missing"

echo "$pass passed, $fail failed"
[ "$fail" = 0 ]
