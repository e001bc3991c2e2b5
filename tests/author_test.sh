#!/usr/bin/env bash
# The runbook author's loop: tests that cannot lie, errors that point at the
# cause, recordings as test data. Prints "N passed, N failed".
set -u
BIN=${RUNBOOK_BIN:-$(pwd)/runbook}
ROOT=$(cd "$(dirname "$0")/.." && pwd)
. "$ROOT/tests/lib.sh"
TMP=$(mktemp -d /tmp/runbook-author-XXXXXX)
export XDG_STATE_HOME="$TMP/state" RUNBOOK_STORE= RUNBOOK_PATH="$TMP/none"
trap 'rm -rf "$TMP"' EXIT

# ---- a test fails when a step fails unexpectedly, and says every failure ----
cat > "$TMP/liar.yaml" <<'YAML'
runbook: liar
title: a runbook whose Lua is broken
steps:
  - id: probe
    shell: "echo 5"
  - id: assess
    lua: |
      local n = tonumber(steps.probe.stdout)
      return n.value   -- a number has no fields: an error
tests:
  - name: the old runner said this passed
    fixtures: {probe: {stdout: "5\n", exit_code: 0}}
    expect:
      steps: {probe: ok}
  - name: two expectations fail
    fixtures: {probe: {stdout: "5\n", exit_code: 0}}
    expect:
      findings: [{level: critical, match: "nope"}]
      steps: {probe: failed, assess: failed}
      status: ok
  - name: a failure the test expects
    fixtures: {probe: {stdout: "5\n", exit_code: 0}}
    expect:
      steps: {assess: failed}
      status: failed
YAML
"$BIN" test "$TMP/liar.yaml" > "$TMP/liar.out" 2>&1; rc=$?
check "a step that failed on its own fails the test, with its error" '[ $rc = 1 ] && grep -A1 "FAIL  liar: the old runner said this passed" "$TMP/liar.out" | grep -q "step assess failed unexpectedly: .*attempt to index a number value"' "$(cat "$TMP/liar.out")"
check "every failing expectation is listed, at its line" 'grep -q "liar.yaml:18: expected a critical finding matching \"nope\"" "$TMP/liar.out" && grep -q "liar.yaml:19: step probe: expected failed, got ok" "$TMP/liar.out" && grep -q "liar.yaml:20: expected run status ok, got failed" "$TMP/liar.out"' "$(cat "$TMP/liar.out")"
check "a failure the test expects passes" 'grep -q "^ok    liar: a failure the test expects" "$TMP/liar.out" && grep -q "1 passed, 2 failed" "$TMP/liar.out"'
"$BIN" test "$TMP/liar.yaml" -v --name "*expects" > "$TMP/v.out" 2>&1
check "test -v shows each step and --name picks one test" '[ "$(grep -c "^ok\|^FAIL" "$TMP/v.out")" = 1 ] && grep -q "ok  *probe" "$TMP/v.out" && grep -q "failed  *assess" "$TMP/v.out"' "$(cat "$TMP/v.out")"
"$BIN" test "$TMP/liar.yaml" --output json > "$TMP/t.json" 2>&1
check "test --output json: per test name, passed, failures" 'python3 - "$TMP/t.json" <<PY
import json, sys
d = json.load(open(sys.argv[1]))
assert d["passed"] == 1 and d["failed"] == 2, d
t = {x["name"]: x for x in d["tests"]}
assert t["a failure the test expects"]["passed"] is True
assert len(t["two expectations fail"]["failures"]) == 3, t["two expectations fail"]
assert all(set(f) == {"line", "message"} for f in t["two expectations fail"]["failures"])
PY' "$(cat "$TMP/t.json")"

# ---- fixtures are checked against the action's result shape ----
cat > "$TMP/shapes.yaml" <<'YAML'
runbook: shapes
title: fixture shapes
targets:
  web: {type: ssh, hosts: [web-1, web-2]}
steps:
  - id: up
    ssh: uptime
  - id: calc
    lua: return 1
  - id: api
    http: {url: "http://api/healthz", expect_status: [200]}
tests:
  - name: typos
    fixtures:
      up: {exitcode: 0}
      calc: {value: 2}
      aip: {status_code: 200}
YAML
"$BIN" check "$TMP/shapes.yaml" > "$TMP/shapes.out" 2>&1; rc=$?
check "check: an unknown fixture field, with did-you-mean" '[ $rc = 2 ] && grep -q "shapes.yaml:15:12: fixture for step .up.: unknown field .exitcode. for an ssh result (did you mean .exit_code.?)" "$TMP/shapes.out"' "$(cat "$TMP/shapes.out")"
check "check: a lua fixture is refused with the reason" 'grep -q "fixture for step .calc.: a lua step runs in every test and replay; it takes no fixture" "$TMP/shapes.out"'
check "check: a fixture for an unknown step, with did-you-mean" 'grep -q "shapes.yaml:17:7: fixture for unknown step .aip. (did you mean" "$TMP/shapes.out"'
cat > "$TMP/fan.yaml" <<'YAML'
runbook: fan
title: fan-out and http fixtures
targets:
  web: {type: ssh, hosts: [web-1, web-2]}
steps:
  - id: up
    ssh: uptime
  - id: api
    http: {url: "http://api/healthz", expect_status: [200]}
tests:
  - name: the worst host and the expected status decide
    fixtures:
      up: {hosts: {web-1: {stdout: "ok", exit_code: 0}, web-2: {stdout: "", exit_code: 3}}}
      api: {status_code: 503, headers: {}, body: ""}
    expect:
      steps: {up: failed, api: failed}
      status: failed
YAML
"$BIN" test "$TMP/fan.yaml" > "$TMP/fan.out" 2>&1; rc=$?
check "a fan-out fixture is its worst host; an http fixture is judged by expect_status" '[ $rc = 0 ]' "$(cat "$TMP/fan.out")"

# ---- recordings are test data ----
cat > "$TMP/rec.yaml" <<'YAML'
runbook: rec
title: recorded
params:
  limit: {type: int, default: 10}
  who: {from: alert.labels.instance}
steps:
  - id: probe
    shell: "echo 7"
  - id: assess
    lua: |
      local n = tonumber(steps.probe.stdout)
      if n and n < params.limit then finding("info", ("%d is under %d for %s"):format(n, params.limit, params.who or "?")) end
YAML
printf '{"alerts": [{"status": "firing", "labels": {"alertname": "X", "instance": "db-7"}}]}' > "$TMP/alert.json"
"$BIN" exec "$TMP/rec.yaml" -p limit=9 --alert "$TMP/alert.json" --record "$TMP/rec.json" > /dev/null 2>&1
check "--record writes {params, alert, steps}" 'python3 - "$TMP/rec.json" <<PY
import json, sys
d = json.load(open(sys.argv[1]))
assert set(d) == {"params", "alert", "steps"}, d.keys()
assert d["params"]["limit"] == 9 and d["alert"]["labels"]["instance"] == "db-7"
assert set(d["steps"]) == {"probe"}, d["steps"].keys()   # Lua runs again in every replay
PY' "$(cat "$TMP/rec.json")"
mkdir -p "$TMP/recordings"
cp "$TMP/rec.json" "$TMP/recordings/rec-db7.json"
cat >> "$TMP/rec.yaml" <<'YAML'
tests:
  - name: replays the recording with its params and alert
    fixtures: recordings/rec-db7.json
    expect:
      findings: [{level: info, match: "7 is under 9 for db-7"}]
  - name: a test's own params win
    fixtures: recordings/rec-db7.json
    params: {limit: 8}
    expect:
      findings: [{level: info, match: "7 is under 8 for db-7"}]
  - name: a missing recording is an error at its line
    fixtures: recordings/nope.json
YAML
"$BIN" test "$TMP/rec.yaml" > "$TMP/rec.out" 2>&1; rc=$?
check "a test names a recording (relative to the runbook) and inherits its params and alert" '[ $rc = 2 ] && grep -q "rec.yaml:[0-9]*:[0-9]*: fixtures recordings/nope.json: cannot read fixtures" "$TMP/rec.out"' "$(cat "$TMP/rec.out")"
sed -i '/a missing recording/,$d' "$TMP/rec.yaml"
"$BIN" test "$TMP/rec.yaml" > "$TMP/rec2.out" 2>&1; rc=$?
check "... and its tests pass" '[ $rc = 0 ] && grep -q "2 passed, 0 failed" "$TMP/rec2.out"' "$(cat "$TMP/rec2.out")"
"$BIN" exec "$TMP/rec.yaml" --fixtures "$TMP/rec.json" --output json > "$TMP/replay.json" 2>&1
check "exec --fixtures replays a recording with its params and alert" 'grep -q "7 is under 9 for db-7" "$TMP/replay.json"' "$(cat "$TMP/replay.json")"

# ---- say what is wrong where it is wrong ----
cat > "$TMP/later.yaml" <<'YAML'
runbook: later
title: reads a later step at run time
steps:
  - id: probe
    lua: |
      local name = "assess"
      return steps[name].value
  - id: assess
    lua: return 1
YAML
"$BIN" exec "$TMP/later.yaml" --dry-run > "$TMP/later.out" 2>&1
check "a step that reads a later step at run time is told so" 'grep -q "step .assess. has not run yet (it comes after .probe.)" "$TMP/later.out"' "$(cat "$TMP/later.out")"
cat > "$TMP/binds.yaml" <<'YAML'
runbook: binds
title: placeholders and args
targets:
  db: {tpye: postgres, dsn: x}
steps:
  - id: few
    sql: SELECT $1::int + $2::int AS n
    args: [1]
    on: db
  - id: many
    sql: SELECT 1 AS n
    args: [1, 2]
    on: db
tests:
  - name: bad level
    expect:
      findings: [{level: critcal, match: x}]
YAML
"$BIN" check "$TMP/binds.yaml" > "$TMP/binds.out" 2>&1
check "check: a \$2 without its bind value" 'grep -q "binds.yaml:7:27: the statement uses \$2 but .args. gives 1 value" "$TMP/binds.out"' "$(cat "$TMP/binds.out")"
check "check: bind values without placeholders" 'grep -q "binds.yaml:12:11: .args. gives 2 values but the statement uses no \$n placeholder" "$TMP/binds.out"'
check "check: tpye: gets a did-you-mean and no cascade of unknown targets" 'grep -q "unknown key .tpye. in a postgres target (did you mean .type.?)" "$TMP/binds.out" && ! grep -q "unknown target" "$TMP/binds.out" && ! grep -q "missing required key .type." "$TMP/binds.out"' "$(cat "$TMP/binds.out")"
check "check: finding levels in expectations are validated" 'grep -q "a finding level is info, warning or critical (did you mean .critical.?)" "$TMP/binds.out"'
mkdir -p "$TMP/lib"
printf 'runbook: twin\ntitle: one\nsteps:\n  - {id: a, lua: return 1}\n' > "$TMP/lib/a.yaml"
printf 'runbook: twin\ntitle: two\nsteps:\n  - {id: a, lua: return 1}\n' > "$TMP/lib/b.yaml"
"$BIN" --runbooks "$TMP/lib" list > "$TMP/list.out" 2> "$TMP/list.err"
check "list warns when two files define one id" 'grep -q "b.yaml also defines .twin. (the first, .*a.yaml, wins)" "$TMP/list.err" && [ "$(grep -c twin "$TMP/list.out")" = 1 ]' "$(cat "$TMP/list.err")"

# ---- authoring against real systems without a flood of incidents ----
printf 'runbook: quiet\ntitle: t\nsteps:\n  - {id: a, shell: "echo hi"}\n  - {id: fix, mutates: true, shell: "touch %s/mutated"}\n' "$TMP" > "$TMP/quiet.yaml"
before=$("$BIN" incident list --output json | grep -c '"id": "INC-')
"$BIN" exec "$TMP/quiet.yaml" --no-incident > "$TMP/quiet.out" 2>&1; rc=$?
after=$("$BIN" incident list --output json | grep -c '"id": "INC-')
check "exec --no-incident runs for real and records nothing" '[ $rc = 0 ] && grep -q "no incident: --no-incident ran this for real and recorded nothing" "$TMP/quiet.out" && [ "$before" = "$after" ] && [ ! -e "$TMP/mutated" ]' "before=$before after=$after $(cat "$TMP/quiet.out")"
"$BIN" exec "$TMP/quiet.yaml" --no-incident --apply > "$TMP/quiet2.out" 2>&1; rc=$?
check "exec --no-incident --apply is refused: mutations are always recorded" '[ $rc = 2 ] && [ ! -e "$TMP/mutated" ] && grep -q "mutations are always recorded" "$TMP/quiet2.out"' "$(cat "$TMP/quiet2.out")"
printf 'n\n' | script -qec "$BIN exec $TMP/quiet.yaml --no-incident" /dev/null > "$TMP/quiet3.out" 2>&1
check "exec --no-incident on a terminal does not even ask: the mutation stays would-run" '! grep -q "Run it?" "$TMP/quiet3.out" && grep -q "would-run" "$TMP/quiet3.out" && [ ! -e "$TMP/mutated" ]' "$(cat "$TMP/quiet3.out")"

# ---- the library's tests fail when a step is broken on purpose ----
for rbk in disk-full replication-lag api-latency lock-contention db-connections; do
	sed '/^  - id: assess$/,/^    lua: |$/{/^    lua: |$/a\      error("broken on purpose")
}' "$ROOT/runbooks/$rbk.yaml" > "$TMP/broken-$rbk.yaml"
	grep -q 'broken on purpose' "$TMP/broken-$rbk.yaml"; inserted=$?
	"$BIN" test "$ROOT/runbooks/$rbk.yaml" > /dev/null 2>&1; good=$?
	"$BIN" test "$TMP/broken-$rbk.yaml" > "$TMP/broken.out" 2>&1; rc=$?
	check "$rbk: its tests pass, and fail when its assessment is broken on purpose" '[ $inserted = 0 ] && [ $good = 0 ] && [ $rc = 1 ] && ! grep -q "^ok" "$TMP/broken.out"' "$(cat "$TMP/broken.out")"
done

# ---- small things ----
"$BIN" show "$ROOT/runbooks/db-connections.yaml" > "$TMP/show.out" 2>&1
check "show lists symptoms, tags and test names" 'grep -q "^Symptoms" "$TMP/show.out" && grep -q "tags: *\[\"postgres\",\"connections\"\]" "$TMP/show.out" && grep -q "  - locked out is a finding, not silence" "$TMP/show.out"' "$(cat "$TMP/show.out")"

echo "$pass passed, $fail failed"
[ "$fail" = 0 ]
