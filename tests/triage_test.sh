#!/usr/bin/env bash
# From alert to diagnosis: real payloads (Alertmanager, Grafana, PagerDuty
# v3, generic) through `runbook match` and `runbook triage`, with real HTTP
# receivers standing where Slack and PagerDuty would, and a notifier on a
# closed port. Prints "N passed, N failed".
set -u
BIN=${RUNBOOK_BIN:-$(pwd)/runbook}
ROOT=$(cd "$(dirname "$0")/.." && pwd)
. "$ROOT/tests/lib.sh"
TMP=$(mktemp -d /tmp/runbook-triage-XXXXXX)
A="$ROOT/tests/fixtures/alerts"
export XDG_STATE_HOME="$TMP/state" RUNBOOK_STORE= RUNBOOK_PATH="$ROOT/runbooks" XDG_CONFIG_HOME="$TMP/xdg"
export HOME="$TMP/home" DATABASE_URL="postgres://nobody@127.0.0.1:1/none"
mkdir -p "$HOME/.ssh"
printf 'Host app-1.internal\n  HostName 127.0.0.1\n  Port 1\n' > "$HOME/.ssh/config"
rpid=
cleanup() { [ -n "$rpid" ] && kill "$rpid" 2>/dev/null; rm -rf "$TMP"; }
trap cleanup EXIT

# ---- match ----
"$BIN" match --alert "$A/alertmanager-firing.json" --output json > "$TMP/m1.json" 2> "$TMP/m1.err"; rc=$?
check "match: both alerts of a group match db-connections (exit 0)" '[ $rc = 0 ] && python3 - "$TMP/m1.json" <<PY
import json, sys
d = json.load(open(sys.argv[1]))
assert len(d["alerts"]) == 2
for a in d["alerts"]:
    m = a["matches"][0]
    assert m["runbook"] == "db-connections" and m["matched"] is True, m
    assert a["alert"]["source"] == "alertmanager"
    conds = [c for mm in m["matchers"] for c in mm["conditions"]]
    assert all(set(c) == {"condition", "expected", "actual", "held"} for c in conds), conds
assert d["alerts"][0]["alert"]["fingerprint"] == "6f1a4c2e9b3d7a10"
assert d["alerts"][0]["alert"]["starts_at"] == "2026-11-24T06:58:00.123456Z"
PY' "rc=$rc $(cat "$TMP/m1.err") $(head -c 1500 "$TMP/m1.json")"
"$BIN" match --alert "$A/upstream-fingerprint.json" --output json > "$TMP/fp.json" 2>&1
check "match: a payload without fingerprints gets Alertmanager's own (fbab788ec4c1018b)" 'grep -q "\"fingerprint\": \"fbab788ec4c1018b\"" "$TMP/fp.json"' "$(grep fingerprint "$TMP/fp.json")"
"$BIN" match --alert "$A/grafana.json" --output json > "$TMP/gr.json" 2>&1; rc=$?
check "match: Grafana's webhook, named by its runbook_url annotation" '[ $rc = 0 ] && grep -q "\"named\": true" "$TMP/gr.json" && grep -q "\"runbook\": \"db-connections\"" "$TMP/gr.json"' "$(head -c 1500 "$TMP/gr.json")"
"$BIN" match --alert "$A/generic.json" > "$TMP/gen.out" 2>&1; rc=$?
check "match: no runbook for a generic certificate alert: exit 1" '[ $rc = 1 ] && grep -q "no runbook matches" "$TMP/gen.out"' "rc=$rc $(cat "$TMP/gen.out")"
mkdir -p "$TMP/lib"
cp "$ROOT/runbooks/db-connections.yaml" "$TMP/lib/"
cat > "$TMP/lib/pg-generic.yaml" <<'YAML'
runbook: pg-generic
title: anything about postgres
symptoms:
  - matchers: ['service="postgres"', 'severity=~"critical|warning"', 'env!="staging"']
  - labels: {service: "~post.*"}
steps:
  - {id: a, lua: return 1}
YAML
"$BIN" --runbooks "$TMP/lib" match --alert "$A/alertmanager-firing.json" --explain > "$TMP/ex.out" 2>&1
check "match --explain: every runbook, each condition with the value seen" 'grep -q "pg-generic  *matched" "$TMP/ex.out" && grep -q "held   service=\"postgres\"  (actual \"postgres\")" "$TMP/ex.out" && grep -q "held   env!=\"staging\"  (actual \"\")" "$TMP/ex.out" && grep -q "FAILED labels.service = \"postgres\"\|held   labels.service" "$TMP/ex.out"' "$(cat "$TMP/ex.out")"
check "match: ranking: a matcher naming the alertname wins" '[ "$(grep -m1 -E "^  [a-z]" "$TMP/ex.out" | awk "{print \$1}")" = db-connections ]' "$(cat "$TMP/ex.out")"
"$BIN" --runbooks "$TMP/lib" match --alert "$A/generic.json" --explain > "$TMP/ex2.out" 2>&1; rc=$?
check "match --explain lists runbooks that do not match" '[ $rc = 1 ] && grep -q "pg-generic  *not matched" "$TMP/ex2.out" && grep -q "FAILED service=\"postgres\"  (actual \"\")" "$TMP/ex2.out"' "$(cat "$TMP/ex2.out")"

# bad payloads are refused whole, with the reason
t=0
while IFS='|' read -r body want; do
	t=$((t + 1))
	printf '%s' "$body" > "$TMP/bad$t.json"
	"$BIN" match --alert "$TMP/bad$t.json" > "$TMP/bad$t.out" 2>&1; rc=$?
	check "bad payload $t refused (exit 2): $want" '[ $rc = 2 ] && grep -qF "$want" "$TMP/bad$t.out"' "rc=$rc $(cat "$TMP/bad$t.out")"
done <<'CASES'
not json at all|invalid alert JSON
{"hello": "world"}|not an Alertmanager, Grafana, PagerDuty v3 or generic alert
{"alerts": [{"status": "firing", "labels": {"alertname": "X", "replicas": 3}}]}|alerts[0].labels.replicas: must be a string
{"alerts": [{"status": "exploded", "labels": {"alertname": "X"}}]}|alerts[0].status: must be firing or resolved
{"alerts": "many"}|alerts: must be a list
{"event": {"event_type": "incident.triggered", "data": {"title": "no id"}}}|event.data.id: the incident needs an id
[{"labels": {"a": "b"}}]|[0]: a generic alert needs 'alertname'
CASES
printf '{"alertname": "X", "summary": "\xff\xfe"}' > "$TMP/utf.json"
"$BIN" match --alert "$TMP/utf.json" > "$TMP/utf.out" 2>&1; rc=$?
check "bad payload: invalid UTF-8 refused (exit 2)" '[ $rc = 2 ] && grep -q "invalid alert JSON" "$TMP/utf.out"' "rc=$rc $(cat "$TMP/utf.out")"
python3 -c 'print("[" * 5000 + "]" * 5000)' > "$TMP/deep.json"
"$BIN" match --alert "$TMP/deep.json" > "$TMP/deep.out" 2>&1; rc=$?
check "bad payload: absurd nesting refused (exit 2)" '[ $rc = 2 ]' "rc=$rc $(head -c 300 "$TMP/deep.out")"

# ---- triage, with receivers ----
port=$(free_port)
RECEIVER_EVENTS_DB="$XDG_STATE_HOME/runbook/runbook.db" python3 "$ROOT/tests/receiver.py" "$port" "$TMP/received.jsonl" &
rpid=$!
wait_port "$port"
dead=$(free_port)
mkdir -p "$XDG_CONFIG_HOME/runbook"
cat > "$XDG_CONFIG_HOME/runbook/config.yaml" <<YAML
notifiers:
  platform-slack: {type: webhook, url: "http://127.0.0.1:$port/slack", format: slack}
  ops-hook: {type: webhook, url: "http://127.0.0.1:$port/hook"}
  oncall-pd: {type: pagerduty, routing_key: "\${env.PD_KEY}", url: "http://127.0.0.1:$port/pd"}
  dead-hook: {type: webhook, url: "http://127.0.0.1:$dead/never"}
routes:
  "@oncall-platform": [oncall-pd, platform-slack, dead-hook]
  "@platform-team": [platform-slack]
  default: [ops-hook]
YAML
export PD_KEY="pd-routing-Secret-key"
start=$(date +%s%N)
"$BIN" triage --alert "$A/alertmanager-firing.json" > "$TMP/t1.out" 2> "$TMP/t1.err"; rc=$?
took=$(( ($(date +%s%N) - start) / 1000000 ))
check "triage: one incident per alert, diagnosed (the database is down here: exit 1)" '[ $rc = 1 ] && [ "$(cat "$TMP/t1.out")" = "$(printf "INC-1 opened db-connections failed\nINC-2 opened db-connections failed")" ]' "rc=$rc $(cat "$TMP/t1.out" "$TMP/t1.err")"
check "triage: severity from the labels (critical SEV1, warning SEV3)" '"$BIN" incident show INC-1 | grep -q "severity *SEV1" && "$BIN" incident show INC-2 | grep -q "severity *SEV3"'
check "triage: the incident keeps the alert's fingerprint and start" '"$BIN" incident show INC-1 | grep -q "fingerprint *6f1a4c2e9b3d7a10" && "$BIN" incident show INC-1 | grep -q "started_at *2026-11-24T06:58:00.123456Z"'
"$BIN" timeline INC-1 --output json > "$TMP/tl1.json"
check "triage: the alert is the incident's first event, mutating steps skipped" '[ "$(grep -m1 -o "\"kind\": \"[a-z.]*\"" "$TMP/tl1.json")" = "\"kind\": \"alert\"" ] && grep -q "triage never mutates" "$TMP/tl1.json"' "$(head -c 2000 "$TMP/tl1.json")"
sleep 0.3
check "the pager got INC-1: Events API v2, dedup_key, critical, the routing key" 'python3 - "$TMP/received.jsonl" <<PY
import json, sys
got = [json.loads(l) for l in open(sys.argv[1])]
pd = [json.loads(g["body"]) for g in got if g["path"] == "/pd"]
assert len(pd) == 1, pd
b = pd[0]
assert b["dedup_key"] == "INC-1" and b["event_action"] == "trigger" and b["routing_key"] == "pd-routing-Secret-key", b
assert b["payload"]["severity"] == "critical" and b["payload"]["custom_details"]["target"] == "@oncall-platform", b
PY' "$(cat "$TMP/received.jsonl")"
check "Slack got both incidents, each for its escalation target" 'python3 - "$TMP/received.jsonl" <<PY
import json, sys
got = [json.loads(l) for l in open(sys.argv[1])]
texts = [json.loads(g["body"])["text"] for g in got if g["path"] == "/slack"]
assert any("INC-1" in t and "SEV1" in t and "@oncall-platform" in t for t in texts), texts
assert any("INC-2" in t and "SEV3" in t and "@platform-team" in t for t in texts), texts
PY' "$(cat "$TMP/received.jsonl")"
n_dead=$(grep -c '"notifier": "dead-hook"' "$TMP/tl1.json")
check "a dead notifier is tried 3 times, recorded, and bounded ($took ms)" '[ "$n_dead" = 3 ] && grep -q "\"delivered\": false" "$TMP/tl1.json" && [ "$(grep -c "\"notifier\": \"oncall-pd\"" "$TMP/tl1.json")" = 1 ] && [ $took -lt 20000 ]' "dead attempts: $n_dead"

"$BIN" triage --alert "$A/alertmanager-firing.json" --output json > "$TMP/t2.json" 2>&1
check "triage again: the open incidents absorb the alerts (updated, no new incident)" 'python3 - "$TMP/t2.json" <<PY
import json, sys
d = json.load(open(sys.argv[1]))
acts = [(a["incident"], a["action"], a["runbook"], a["severity"]) for a in d["alerts"]]
assert acts == [("INC-1", "updated", "db-connections", "SEV1"), ("INC-2", "updated", "db-connections", "SEV3")], acts
assert set(d["alerts"][0]) == {"fingerprint", "incident", "action", "runbook", "severity", "status"}
PY' "$(cat "$TMP/t2.json")"
check "every alert received is one alert event (2 on INC-1)" '[ "$("$BIN" timeline INC-1 --output json | grep -c "\"kind\": \"alert\"")" = 2 ] && [ -z "$("$BIN" incident list --output json | grep "INC-3")" ]'
"$BIN" triage --alert "$A/alertmanager-resolved.json" > "$TMP/t3.out" 2>&1; rc=$?
check "resolved alerts resolve their incidents (auto-resolved)" '[ $rc = 0 ] && grep -q "INC-1 resolved db-connections" "$TMP/t3.out" && "$BIN" incident show INC-1 | grep -q "resolution *auto-resolved" && "$BIN" incident show INC-2 | grep -q "status *resolved"' "rc=$rc $(cat "$TMP/t3.out")"
sleep 0.3
check "the pager got the resolve for INC-1" 'grep "\"/pd\"" "$TMP/received.jsonl" | grep -q "resolve"'
"$BIN" triage --alert "$A/alertmanager-firing.json" > /dev/null 2>&1
check "firing again after the resolve: a new incident, a repeat of the last" '"$BIN" timeline INC-3 --output json | grep -q "\"repeat_of\": \"INC-1\""' "$("$BIN" timeline INC-3 2>&1 | head -5)"

"$BIN" triage --alert "$A/pagerduty-triggered.json" --output json > "$TMP/pd1.json" 2>&1
pdinc=$(grep -o '"incident": "INC-[0-9]*"' "$TMP/pd1.json" | grep -o 'INC-[0-9]*')
check "PagerDuty v3: triggered opens (urgency high: SEV2), the id is the fingerprint" '[ -n "$pdinc" ] && grep -q "\"action\": \"opened\"" "$TMP/pd1.json" && grep -q "\"severity\": \"SEV2\"" "$TMP/pd1.json" && grep -q "\"fingerprint\": \"PGR0VU2\"" "$TMP/pd1.json"' "$(cat "$TMP/pd1.json")"
"$BIN" triage --alert "$A/pagerduty-acknowledged.json" > "$TMP/pd2.out" 2>&1
check "PagerDuty v3: acknowledged acknowledges" '"$BIN" incident show "$pdinc" | grep -q "status *acknowledged"' "$(cat "$TMP/pd2.out")"
"$BIN" triage --alert "$A/pagerduty-resolved.json" > "$TMP/pd3.out" 2>&1
check "PagerDuty v3: resolved resolves" 'grep -q "$pdinc resolved" "$TMP/pd3.out" && "$BIN" incident show "$pdinc" | grep -q "status *resolved"' "$(cat "$TMP/pd3.out")"
"$BIN" triage --alert "$A/generic.json" > "$TMP/g.out" 2>&1; rc=$?
check "generic alerts: no runbook still opens an incident that says so; a resolve with nothing open is ignored" '[ $rc = 0 ] && grep -q "^INC-[0-9]* opened - -$" "$TMP/g.out" && grep -q "^- ignored - -$" "$TMP/g.out"' "rc=$rc $(cat "$TMP/g.out")"
ginc=$(grep -o "^INC-[0-9]*" "$TMP/g.out")
sleep 0.3
check "the default route took the alert without a runbook" 'grep "\"/hook\"" "$TMP/received.jsonl" | grep -q "$ginc"' "$(grep hook "$TMP/received.jsonl")"
check "the routing key is not in any timeline" '! "$BIN" timeline INC-1 --output json | grep -q "pd-routing-Secret-key"'
before=$("$BIN" incident list --output json | grep -c '"id": "INC-')
events_before=$("$BIN" timeline INC-3 --output json | grep -c '"seq"')
"$BIN" triage --alert "$TMP/bad3.json" > "$TMP/tb.out" 2>&1; rc=$?
after=$("$BIN" incident list --output json | grep -c '"id": "INC-')
events_after=$("$BIN" timeline INC-3 --output json | grep -c '"seq"')
check "triage: a bad payload exits 2 and records nothing" '[ $rc = 2 ] && [ "$before" = "$after" ] && [ "$events_before" = "$events_after" ] && [ "$before" -ge 5 ]' "rc=$rc before=$before after=$after"

# ---- the http and notify actions ----
cat > "$TMP/web.yaml" <<YAML
runbook: web
title: http checks and a page
steps:
  - id: health
    http: {url: "http://127.0.0.1:$port/status/200"}
  - id: down
    http: {url: "http://127.0.0.1:$port/status/503"}
  - id: expected
    http: {url: "http://127.0.0.1:$port/status/503", expect_status: [503]}
  - id: slow
    timeout: 1s
    http: {url: "http://127.0.0.1:$port/slow/5"}
  - id: big
    http: {url: "http://127.0.0.1:$port/big/1500000"}
  - id: post
    http: {method: POST, url: "http://127.0.0.1:$port/posted", body: {check: "\${params.x}"}, headers: {X-Runbook: yes}}
  - id: page
    notify: {to: "@platform-team", message: "web checks: \${steps.down.status_code}"}
params:
  x: {default: hello}
YAML
start=$(date +%s%N)
"$BIN" exec "$TMP/web.yaml" --output json > "$TMP/web.json" 2>&1; rc=$?
took=$(( ($(date +%s%N) - start) / 1000000 ))
check "http: 200 ok, headers in lower case, body" '[ "$(field "$TMP/web.json" health status)" = "\"ok\"" ] && [ "$(field "$TMP/web.json" health status_code)" = 200 ] && grep -q "\"x-test\": \"runbook\"" "$TMP/web.json"' "$(head -c 1500 "$TMP/web.json")"
check "http: 503 fails unless expect_status says so" '[ "$(field "$TMP/web.json" down status)" = "\"failed\"" ] && grep -q "status 503, expected below 400" "$TMP/web.json" && [ "$(field "$TMP/web.json" expected status)" = "\"ok\"" ]'
check "http: the step deadline bounds a slow server ($took ms)" '[ "$(field "$TMP/web.json" slow status)" = "\"timeout\"" ] && [ $took -lt 4500 ]'
check "http: the body is capped, the cap reported" '[ "$(field "$TMP/web.json" big body_truncated)" = 1500000 ]'
sleep 0.3
check "http: POST sends the rendered JSON body and headers" 'python3 - "$TMP/received.jsonl" <<PY
import json, sys
got = [json.loads(l) for l in open(sys.argv[1]) if json.loads(l)["path"] == "/posted"]
assert len(got) == 1 and json.loads(got[0]["body"]) == {"check": "hello"}, got
assert got[0]["headers"]["X-Runbook"] == "yes" and got[0]["headers"]["Content-Type"] == "application/json", got
PY' "$(grep posted "$TMP/received.jsonl")"
check "notify: delivered through the route, recorded" '[ "$(field "$TMP/web.json" page delivered)" = true ] && grep "\"/slack\"" "$TMP/received.jsonl" | grep -q "web checks: 503"' "$(grep -A8 '"id": "page"' "$TMP/web.json")"
winc=$(grep -o '"incident": "INC-[0-9]*"' "$TMP/web.json" | head -1 | grep -o 'INC-[0-9]*')
check "notify: the attempt is a notify event of the run" '"$BIN" timeline "$winc" --output json | grep -q "\"kind\": \"notify\""'

# A notification is sent only after every event before it is on disk (a
# durability barrier): the receiver counts the incident's step events
# committed when the message arrives.
{ printf 'runbook: tell\ntitle: many quick steps, then a page\nsteps:\n'
  for i in $(seq 30); do printf '  - {id: s%d, lua: "return %d"}\n' "$i" "$i"; done
  printf '  - id: page\n    notify: {to: "@platform-team", message: "barrier-check"}\n'; } > "$TMP/tell.yaml"
"$BIN" exec "$TMP/tell.yaml" --output json > "$TMP/tell.json" 2>&1
sleep 0.3
seen=$(grep barrier-check "$TMP/received.jsonl" | python3 -c 'import json,sys; print([json.loads(l).get("step_events") for l in sys.stdin])')
check "notify: the 30 steps before it were committed when the message arrived" '[ "$seen" = "[30]" ]' "seen $seen; $(grep -c '"status": "ok"' "$TMP/tell.json") ok"

# Ctrl-C during a diagnosis: it stops at once and is recorded aborted; no
# page goes out for it; exit 130.
mkdir -p "$TMP/slowlib"
cat > "$TMP/slowlib/slow.yaml" <<YAML
runbook: slow-look
title: a slow look
escalation: {SEV3: "@platform-team"}
symptoms:
  - alertname: [SlowLook]
steps:
  - {id: look, timeout: 60s, shell: "echo looking > $TMP/looking; sleep 613"}
YAML
rm -f "$TMP/looking"
printf '{"alertname": "SlowLook", "fingerprint": "slow-1", "summary": "slow triage"}' > "$TMP/slow-alert.json"
"$BIN" --runbooks "$TMP/slowlib" triage --alert "$TMP/slow-alert.json" > "$TMP/slow.out" 2> "$TMP/slow.err" &
interrupt_once "$TMP/looking" $!
rc=$RC
sinc=$(grep -o '^INC-[0-9]*' "$TMP/slow.out")
sleep 0.3
check "triage: Ctrl-C during a diagnosis: exit 130, the line says aborted, the abort recorded, nobody paged, the command killed" '[ $rc = 130 ] &&
	grep -q "^INC-[0-9]* opened slow-look aborted$" "$TMP/slow.out" &&
	"$BIN" timeline "$sinc" --output json | grep -q "runbook slow-look finished: aborted" &&
	! grep -q "slow triage" "$TMP/received.jsonl" && ! pgrep -f "sleep 613" > /dev/null' "rc=$rc $(cat "$TMP/slow.out" "$TMP/slow.err")"

echo "$pass passed, $fail failed"
[ "$fail" = 0 ]
