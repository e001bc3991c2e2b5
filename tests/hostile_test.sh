#!/usr/bin/env bash
# Hostile input, no servers needed: secrets that must not leak, text that
# must not drive the terminal, fixtures and parameters that must be refused
# with a clear message (exit 2), never a crash. Prints "N passed, N failed".
set -u
BIN=${RUNBOOK_BIN:-$(pwd)/runbook}
ROOT=$(cd "$(dirname "$0")/.." && pwd)
. "$ROOT/tests/lib.sh"
TMP=$(mktemp -d /tmp/runbook-hostile-XXXXXX)
export XDG_STATE_HOME="$TMP/state" RUNBOOK_STORE= RUNBOOK_PATH="$TMP/none"
trap 'rm -rf "$TMP"' EXIT
ESC=$(printf '\033')

# ---- secrets ----
export RB_SECRET="hunter2-correct-horse"
cat > "$TMP/leak.yaml" <<'YAML'
runbook: leak
title: a secret printed before Lua reads it
steps:
  - id: early
    shell: "printenv RB_SECRET; printf 'nul\\000%s\\n' \"$RB_SECRET\""
  - id: late
    lua: return string.len(env.RB_SECRET)
YAML
"$BIN" exec "$TMP/leak.yaml" --output json > "$TMP/leak.json" 2>&1
"$BIN" timeline INC-1 --output json > "$TMP/leak-tl.json" 2>&1
check "a secret printed before Lua reads it is redacted in the report" '! grep -q "$RB_SECRET" "$TMP/leak.json" && grep -q "\"stdout\": \"\*\*\*\\\\nnul\\\\u0000\*\*\*\\\\n\"" "$TMP/leak.json"' "$(grep -n stdout "$TMP/leak.json")"
check "... and in the timeline, bytes after a NUL too" '! grep -q "$RB_SECRET" "$TMP/leak-tl.json" && grep -q "nul\\\\u0000\*\*\*" "$TMP/leak-tl.json"' "$(grep -n stdout "$TMP/leak-tl.json")"

cat > "$TMP/pct.yaml" <<'YAML'
runbook: pct
title: a password libpq cannot parse
targets:
  db: {type: postgres, dsn: "postgres://ops:pa%zz-Secret@127.0.0.1:1/db"}
  kv: {type: postgres, dsn: "host=127.0.0.1 port=1 password='kv Secret\\'s' user=ops"}
steps:
  - id: q
    sql: SELECT 1
    on: db
YAML
"$BIN" exec "$TMP/pct.yaml" --output json > "$TMP/pct.json" 2>&1
check "a DSN password libpq cannot parse is still redacted (its error quotes it)" '! grep -q "pa%zz-Secret" "$TMP/pct.json" && grep -q "invalid percent-encoded token" "$TMP/pct.json"' "$(cat "$TMP/pct.json")"
"$BIN" show "$TMP/pct.yaml" > "$TMP/show.txt" 2>&1
"$BIN" show "$TMP/pct.yaml" --output json > "$TMP/show.json" 2>&1
check "show never prints a DSN password" '! grep -q "Secret" "$TMP/show.txt" "$TMP/show.json" && grep -q "ops:\*\*\*@" "$TMP/show.txt" && grep -q "password=.\*\*\*. user" "$TMP/show.txt"' "$(cat "$TMP/show.txt")"

# ---- the terminal ----
cat > "$TMP/esc.yaml" <<'YAML'
runbook: esc
title: a host that answers with escape sequences
steps:
  - id: evil
    shell: "printf 'before\\033]0;pwned\\007\\033[2J\\rafter \\302\\233 c1\\n'; printf 'err\\033[31m\\n' >&2; exit 3"
  - id: says
    lua: |
      finding("warning", "from the host: " .. steps.evil.stdout)
YAML
"$BIN" exec "$TMP/esc.yaml" > "$TMP/esc.out" 2>&1
"$BIN" exec "$TMP/esc.yaml" --output json > "$TMP/esc.json" 2>&1
"$BIN" timeline INC-3 > "$TMP/esc-tl.out" 2>&1
"$BIN" timeline INC-3 --output markdown > "$TMP/esc-tl.md" 2>&1
check "exec text output: no raw control characters, shown as \\x1b" '! grep -q "$ESC" "$TMP/esc.out" && ! grep -q "$(printf "\r")" "$TMP/esc.out" && grep -qF "before\\x1b]0;pwned\\x07\\x1b[2J\\x0dafter \\u009b c1" "$TMP/esc.out" && grep -qF "err\\x1b[31m" "$TMP/esc.out"' "$(cat -v "$TMP/esc.out")"
check "the finding that quotes it is escaped too" 'grep -qF "from the host: before\\x1b]0;pwned" "$TMP/esc.out"' "$(grep -n WARNING "$TMP/esc.out")"
check "timeline text and markdown: escaped" '! grep -q "$ESC" "$TMP/esc-tl.out" "$TMP/esc-tl.md" && grep -qF "\\x1b]0;pwned" "$TMP/esc-tl.out"' "$(cat -v "$TMP/esc-tl.out")"
check "JSON output stays exact" 'grep -qF "before\\u001b]0;pwned\\u0007\\u001b[2J\\rafter" "$TMP/esc.json"' "$(grep -n stdout "$TMP/esc.json")"

# ---- output caps are said, not hidden ----
cat > "$TMP/big.yaml" <<'YAML'
runbook: big
title: more output than the cap
steps:
  - id: flood
    shell: "head -c 1500000 /dev/zero | tr '\\0' x"
YAML
"$BIN" exec "$TMP/big.yaml" > "$TMP/big.out" 2>&1
check "text output says the output was truncated" 'grep -q "(stdout truncated: 1048576 of 1500000 bytes kept, the output cap)" "$TMP/big.out"' "$(grep -v xxxx "$TMP/big.out")"

# ---- non-ASCII survives one bad byte ----
cat > "$TMP/utf.yaml" <<'YAML'
runbook: utf
title: one bad byte among good ones
steps:
  - {id: u, shell: "printf 'caf\\303\\251 \\377 \\342\\202\\254'"}
YAML
"$BIN" exec "$TMP/utf.yaml" --output json > "$TMP/utf.json" 2>&1
check "one invalid byte is replaced, the rest of the text kept" 'grep -q "\"stdout\": \"café � €\"" "$TMP/utf.json"' "$(grep stdout "$TMP/utf.json")"

# ---- fixtures are data from outside ----
cat > "$TMP/fx.yaml" <<'YAML'
runbook: fx
title: fixture shapes
targets:
  db: {type: postgres, dsn: "x"}
steps:
  - id: a
    sql: SELECT 1 AS n
  - id: b
    shell: "true"
YAML
t=0
while IFS='|' read -r body want; do
	t=$((t + 1))
	printf '%s\n' "$body" > "$TMP/f$t.json"
	"$BIN" exec "$TMP/fx.yaml" --fixtures "$TMP/f$t.json" > "$TMP/f$t.out" 2>&1; rc=$?
	check "bad fixture $t refused (exit 2): $want" '[ $rc = 2 ] && grep -qF "$want" "$TMP/f$t.out"' "rc=$rc $(cat "$TMP/f$t.out")"
done <<'CASES'
{"a": {"status": 5}}|step 'a': 'status' must be one of ok, failed
{"a": {"status": "maybe"}}|step 'a': unknown status 'maybe'
{"a": {"columns": [1]}}|step 'a': 'columns' entry 1 must be a string
{"a": {"columns": ["n"], "rows": [{}]}}|step 'a': row 1 has no value for column 'n'
{"a": {"rows": {"n": 1}}}|step 'a': 'rows' must be a list of mappings
{"a": []}|step 'a': a fixture must be a mapping of result fields, not a list
{"b": {"exitcode": 0}}|step 'b': unknown field 'exitcode' for a shell result (did you mean 'exit_code'?)
{"b": {"hosts": {}}}|step 'b': unknown field 'hosts' for a shell result
{"nope": {}}|fixture for unknown step 'nope'
[1, 2]|fixtures must be a mapping of step id: result
not json|not a fixtures file
CASES
# what --record writes replays, NULs and all
"$BIN" exec "$TMP/leak.yaml" --record "$TMP/rec.json" > /dev/null 2>&1
"$BIN" exec "$TMP/leak.yaml" --fixtures "$TMP/rec.json" --output json > "$TMP/replay.json" 2>&1; rc=$?
check "a recording with NUL bytes replays" '[ $rc = 0 ] && grep -q "nul\\\\u0000" "$TMP/replay.json"' "rc=$rc $(head -c 800 "$TMP/replay.json")"

# ---- parameters ----
cat > "$TMP/p.yaml" <<'YAML'
runbook: p
title: typed parameters
params:
  f: {type: float, default: 1.5}
  n: {type: int, default: 1}
steps:
  - id: show
    lua: return params.f
YAML
for v in "f=1e999" "f=nan" "f=inf" "n=99999999999999999999"; do
	"$BIN" exec "$TMP/p.yaml" --dry-run -p "$v" > "$TMP/p.out" 2>&1; rc=$?
	check "-p $v refused with a real message" '[ $rc = 2 ] && ! grep -q "(null)" "$TMP/p.out" && grep -qE "finite number|out of range" "$TMP/p.out"' "rc=$rc $(cat "$TMP/p.out")"
done
"$BIN" exec "$TMP/p.yaml" --dry-run -p f=0.3 --output json > "$TMP/p.json" 2>&1
check "floats print in their shortest form" 'grep -q "\"f\": 0.3,$" "$TMP/p.json" && grep -q "\"value\": 0.3,$" "$TMP/p.json"' "$(cat "$TMP/p.json")"

# ---- check catches what authors get wrong ----
cat > "$TMP/refs.yaml" <<'YAML'
runbook: refs
title: references that cannot work
params:
  top: {type: int, default: 10}
targets:
  db: {type: postgres, dsn: "x"}
steps:
  - id: first
    sql: SELECT $1::int
    args: ["${params.tpo}"]
  - id: assess
    when: "steps.assess.value ~= nil"
    lua: |
      local x = steps.later.rows
      return steps.frist
  - id: later
    shell: "echo ${steps.first.rows[1].n} ${params.top}"
  - id: kill
    sql: SELECT pg_terminate_backend(pid) FROM pg_stat_activity
YAML
"$BIN" check "$TMP/refs.yaml" > "$TMP/refs.out" 2>&1; rc=$?
check "check: undeclared param, with did-you-mean" 'grep -q "refs.yaml:10:22: reference to unknown parameter .tpo. (did you mean .top.?)" "$TMP/refs.out"' "$(cat "$TMP/refs.out")"
check "check: a step that refers to itself" 'grep -q "refs.yaml:12:18: step .assess. refers to itself" "$TMP/refs.out"'
check "check: a step that refers to a later step" 'grep -q "refs.yaml:14:23: reference to step .later., which runs after this step" "$TMP/refs.out"'
check "check: an unknown step, with did-you-mean" 'grep -q "refs.yaml:15:20: reference to unknown step .frist. (did you mean .first.?)" "$TMP/refs.out"'
check "check: a side-effect function in a read-only step" '[ $rc = 2 ] && grep -q "refs.yaml:19:17: pg_terminate_backend() has side effects even in a read-only transaction: mark the step mutates: true" "$TMP/refs.out" && [ "$(grep -c "refs.yaml" "$TMP/refs.out")" = 5 ]' "$(cat "$TMP/refs.out")"

# ---- small things ----
mkdir -p "$TMP/empty"
"$BIN" test "$TMP/empty" > "$TMP/t.out" 2>&1; rc=$?
check "test with no runbooks exits 2, like check" '[ $rc = 2 ] && grep -q "no runbooks found" "$TMP/t.out"' "rc=$rc $(cat "$TMP/t.out")"
mkdir -p "$TMP/lib"
printf 'runbook: disk-full\ntitle: t\nsteps:\n  - id: a\n    shel: "df"\n' > "$TMP/lib/disk.yaml"
"$BIN" --runbooks "$TMP/lib" exec disk-full --dry-run > "$TMP/broken.out" 2>&1; rc=$?
check "a broken runbook file is named, with its first error" '[ $rc = 2 ] && grep -q "disk.yaml:5:5: unknown key .shel. in a step" "$TMP/broken.out" && grep -q "is defined in .*disk.yaml, which does not load" "$TMP/broken.out"' "$(cat "$TMP/broken.out")"
"$BIN" --runbooks "$ROOT/runbooks" exec db-conection --dry-run > "$TMP/dym.out" 2>&1; rc=$?
check "a misspelt runbook name gets a did-you-mean" '[ $rc = 2 ] && grep -q "did you mean .db-connections.?" "$TMP/dym.out"' "$(cat "$TMP/dym.out")"

"$BIN" timeline INC-1 --verify --output json > "$TMP/v.json" 2> "$TMP/v.err"; rc=$?
check "timeline --verify --output json is one JSON document" '[ $rc = 0 ] && python3 -c "import json,sys; d=json.load(open(sys.argv[1])); assert d[\"verified\"] is True and d[\"first_bad_seq\"] is None" "$TMP/v.json"' "$(head -c 400 "$TMP/v.json") $(cat "$TMP/v.err")"
"$BIN" timeline INC-1 --verify --output markdown > "$TMP/v.md" 2>&1; rc=$?
check "timeline --verify --output markdown keeps the markdown" '[ $rc = 0 ] && grep -q "^# INC-1: " "$TMP/v.md" && grep -q "^| .* | step | " "$TMP/v.md" && grep -q "Hash chain verified" "$TMP/v.md"' "$(cat "$TMP/v.md")"
sqlite3 "$XDG_STATE_HOME/runbook/runbook.db" "DROP TRIGGER events_append_only_update; UPDATE events SET summary = 'edited' WHERE incident = 'INC-1' AND seq = 2" 2> "$TMP/sq.err"
"$BIN" timeline INC-1 --verify --output json > "$TMP/v2.json" 2> "$TMP/v2.err"; rc=$?
check "a broken chain: verified false and the first bad seq, exit 1" '[ $rc = 1 ] && python3 -c "import json,sys; d=json.load(open(sys.argv[1])); assert d[\"verified\"] is False and d[\"first_bad_seq\"] == 2" "$TMP/v2.json"' "rc=$rc $(cat "$TMP/sq.err" "$TMP/v2.err") $(head -c 300 "$TMP/v2.json")"

echo "$pass passed, $fail failed"
[ "$fail" = 0 ]
