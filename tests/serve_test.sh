#!/usr/bin/env bash
# `runbook serve` and `runbook worker` driven with real HTTP: a real serve
# on a loopback port (SQLite store), then on a real PostgreSQL with real
# workers, one killed with -9 mid-run. Prints "N passed, N failed".
set -u
BIN=${RUNBOOK_BIN:-$(pwd)/runbook}
ROOT=$(cd "$(dirname "$0")/.." && pwd)
. "$ROOT/tests/lib.sh"
TMP=$(mktemp -d /tmp/runbook-serve-XXXXXX)
chmod 755 "$TMP"
export XDG_STATE_HOME="$TMP/state" RUNBOOK_STORE= XDG_CONFIG_HOME="$TMP/xdg" HOME="$TMP/home"
export RUNBOOK_PATH="$TMP/lib" RUNBOOK_TOKEN="tok-$RANDOM-$RANDOM" PD_WEBHOOK_SECRET="pd-$RANDOM-secret"
mkdir -p "$HOME" "$TMP/lib"
pids=() pgdir=
cleanup() {
	for p in "${pids[@]}"; do kill -9 "$p" 2> /dev/null; done
	wait 2> /dev/null
	[ -n "$pgdir" ] && bash "$ROOT/tests/pg.sh" stop "$pgdir"
	rm -rf "$TMP"
}
trap cleanup EXIT

cat > "$TMP/lib/service-down.yaml" <<'YAML'
runbook: service-down
title: A service is down
severity: SEV3
component: API Service
symptoms:
  - alertname: [ServiceDown]
escalation: {SEV1: "@oncall", SEV3: "@team"}
steps:
  - {id: look, shell: "sleep 0$SLOW; echo looked"}
  - {id: fix, mutates: true, shell: "touch fixed"}
YAML
rport=$(free_port)
python3 "$ROOT/tests/receiver.py" "$rport" "$TMP/hooks.jsonl" > /dev/null 2>&1 &
pids+=($!)
cat > "$TMP/config.yaml" <<YAML
notifiers:
  team: {type: webhook, url: "http://127.0.0.1:$rport/team"}
  pager: {type: webhook, url: "http://127.0.0.1:$rport/repeat"}
routes:
  "@team": [team]
  default: [team]
  repeat: [pager]
components:
  API Service: {runbooks: [service-down]}
serve: {bearer_token: "\${env.RUNBOOK_TOKEN}", pagerduty_secret: "\${env.PD_WEBHOOK_SECRET}", max_body: 64KiB}
YAML
export RUNBOOK_CONFIG="$TMP/config.yaml"

# start_serve LOG ARGS...: starts serve on a free port; sets SPID and URL
start_serve() {
	local log=$1
	shift
	"$BIN" serve --listen 127.0.0.1:0 "$@" 2> "$log" &
	SPID=$!
	pids+=($SPID)
	URL=
	for _ in $(seq 100); do
		URL=$(grep -o 'http://127.0.0.1:[0-9]*' "$log" | head -1)
		[ -n "$URL" ] && return 0
		sleep 0.1
	done
	return 1
}
# wait_until SECONDS CONDITION
wait_until() {
	local end=$((SECONDS + $1))
	while [ $SECONDS -lt $end ]; do eval "$2" && return 0; sleep 0.2; done
	eval "$2"
}
code() { curl -s -o "$TMP/body" -w '%{http_code}' "$@"; }
stop_twice() { # PID: SIGTERM, and again half a second later; sets RC (its exit status) and MS (how long it took)
	local t0
	t0=$(date +%s%N)
	kill -TERM "$1"
	sleep 0.5
	kill -TERM "$1"
	wait "$1"
	RC=$?
	MS=$((($(date +%s%N) - t0) / 1000000))
}
paged() { # TITLE: the notifications received for the incident titled so
	python3 -c 'import json, sys
print(sum(json.loads(json.loads(l)["body"]).get("title") == sys.argv[2] for l in open(sys.argv[1])))' "$TMP/hooks.jsonl" "$1"
}
AUTH=(-H "Authorization: Bearer $RUNBOOK_TOKEN")
STORE="sqlite:$TMP/serve.db"

start_serve "$TMP/serve.log" --store "$STORE" --reescalate-every 1
check "serve: listens on a free port and says where" '[ -n "$URL" ]' "$(cat "$TMP/serve.log")"

# ---- routes without a token ----
c=$(code "$URL/healthz")
check "GET /healthz: 200 ok while the store answers" '[ "$c" = 200 ] && [ "$(cat "$TMP/body")" = ok ]' "$c $(cat "$TMP/body")"
c=$(code "$URL/metrics")
check "GET /metrics: no token needed; every SPEC family with HELP and TYPE; a histogram" '[ "$c" = 200 ] &&
	for f in runbook_alerts_received_total runbook_alerts_rejected_total runbook_incidents_open runbook_queue_depth \
		runbook_triage_duration_seconds runbook_notifications_total runbook_mttd_seconds; do
		grep -q "^# HELP $f " "$TMP/body" && grep -q "^# TYPE $f " "$TMP/body" || exit 1; done &&
	grep -q "^# TYPE runbook_triage_duration_seconds histogram" "$TMP/body" &&
	grep -q "^runbook_triage_duration_seconds_bucket{le=\"+Inf\"} 0" "$TMP/body"' "$c $(head -40 "$TMP/body")"

# ---- the token ----
c=$(code "$URL/v1/incidents")
check "GET /v1/incidents without the token: 401 with a JSON reason" '[ "$c" = 401 ] && grep -q "\"error\"" "$TMP/body"' "$c $(cat "$TMP/body")"
c=$(code -H "Authorization: Bearer ${RUNBOOK_TOKEN}x" "$URL/v1/incidents")
c2=$(code -H "Authorization: Bearer ${RUNBOOK_TOKEN:0:5}" "$URL/v1/incidents")
check "a wrong token (longer, or a prefix of the right one) is 401" '[ "$c" = 401 ] && [ "$c2" = 401 ]' "$c $c2"
c=$(code -X POST -H 'Content-Type: application/json' --data '{"alertname":"ServiceDown"}' "$URL/v1/alerts")
check "POST /v1/alerts without the token: 401, nothing queued" '[ "$c" = 401 ] && [ "$(sqlite3 "$TMP/serve.db" "SELECT count(*) FROM alert_queue")" = 0 ]' "$c"
c=$(code "${AUTH[@]}" "$URL/v1/incidents")
check "GET /v1/incidents with the token: 200 []" '[ "$c" = 200 ] && [ "$(cat "$TMP/body")" = "[]" ]' "$c $(cat "$TMP/body")"

# ---- bad input: 4xx with the reason, and the server keeps serving ----
bad() { # NAME EXPECTED-CODE CURL-ARGS...
	local name=$1 want=$2
	shift 2
	local c
	c=$(code "${AUTH[@]}" "$@")
	check "$name: $want with a JSON reason" '[ "$c" = "$want" ] && python3 -c "import json,sys; assert json.load(open(sys.argv[1]))[\"error\"]" "$TMP/body"' "got $c $(head -c 300 "$TMP/body")"
}
bad "not JSON" 400 -X POST --data 'hello' "$URL/v1/alerts"
printf '{"alertname": "ServiceDown\xff\xfe"}' > "$TMP/utf8.json"
bad "invalid UTF-8" 400 -X POST --data-binary @"$TMP/utf8.json" "$URL/v1/alerts"
python3 -c "print('{\"a\":' * 100000 + '1' + '}' * 100000)" > "$TMP/deep.json"
head -c 60000 "$TMP/deep.json" > "$TMP/deep60k.json"
bad "nested 100000 deep (cut to fit the limit)" 400 -X POST --data-binary @"$TMP/deep60k.json" "$URL/v1/alerts"
python3 -c "print('[' * 20000 + ']' * 20000)" > "$TMP/deep2.json"
bad "arrays nested 20000 deep" 400 -X POST --data-binary @"$TMP/deep2.json" "$URL/v1/alerts"
bad "wrong types (alertname a number)" 400 -X POST --data '{"alertname": 5}' "$URL/v1/alerts"
bad "an Alertmanager payload with a bad entry is refused whole" 400 -X POST --data '{"version":"4","status":"firing","alerts":[{"status":"firing","labels":{"alertname":"ServiceDown"}},{"status":"firing","labels":{"alertname":7}}]}' "$URL/v1/alerts"
head -c 200000 /dev/zero | tr '\0' ' ' > "$TMP/big.json"
bad "a body over serve.max_body (64 KiB)" 413 -X POST --data-binary @"$TMP/big.json" "$URL/v1/alerts"
bad "... also when it comes chunked, without a length" 413 -X POST -H 'Transfer-Encoding: chunked' --data-binary @"$TMP/big.json" "$URL/v1/alerts"
bad "an unknown route" 404 "$URL/v1/nothing"
bad "a wrong method" 405 -X DELETE "$URL/v1/alerts"
bad "an unknown incident" 404 "$URL/v1/incidents/INC-999"
bad "?status=bogus" 400 "$URL/v1/incidents?status=bogus"
idle=$(python3 - "${URL##*:}" "$RUNBOOK_TOKEN" <<'PY'
import socket, sys, time
s = socket.create_connection(("127.0.0.1", int(sys.argv[1])))
s.sendall(b'POST /v1/alerts HTTP/1.1\r\nHost: x\r\nAuthorization: Bearer ' + sys.argv[2].encode() +
          b'\r\nContent-Length: 100\r\n\r\n{"alert')
t = time.time()
s.settimeout(60)
while s.recv(1000):
    pass
print(int((time.time() - t) * 1000))
PY
)
check "a client that stops sending is cut off (idle timeout, ${idle} ms)" '[ $idle -ge 5000 ] && [ $idle -lt 25000 ]'
c=$(code "$URL/healthz")
check "after all that, serve still answers (and never answered 5xx)" '[ "$c" = 200 ] && kill -0 $SPID' "$c"
curl -s "$URL/metrics" > "$TMP/m"
check "GET /metrics counts the rejections by reason" 'grep -q "runbook_alerts_rejected_total{reason=\"bad_payload\"} 6" "$TMP/m" &&
	grep -q "runbook_alerts_rejected_total{reason=\"too_large\"} 2" "$TMP/m" &&
	grep -q "runbook_alerts_rejected_total{reason=\"unauthorized\"} 4" "$TMP/m"' "$(grep rejected "$TMP/m")"

# ---- 200 concurrent POSTs of 50 fingerprints ----
python3 "$ROOT/tests/post_many.py" "$URL/v1/alerts" 200 50 40 "$RUNBOOK_TOKEN" > "$TMP/many.json"
check "200 concurrent POSTs: every one 202, each with its queue id" 'python3 - "$TMP/many.json" <<PY
import json, sys
d = json.load(open(sys.argv[1]))
assert d["codes"] == {"202": 200}, d["codes"]
assert len(set(d["queue_ids"])) == 200
PY' "$(head -c 500 "$TMP/many.json")"
wait_until 60 '[ "$(sqlite3 "$TMP/serve.db" "SELECT count(*) FROM alert_queue WHERE done_at IS NULL")" = 0 ]'
curl -s "${AUTH[@]}" "$URL/v1/incidents" > "$TMP/incs.json"
check "... exactly 50 incidents, one per fingerprint" 'python3 - "$TMP/incs.json" <<PY
import json, sys
incs = json.load(open(sys.argv[1]))
fps = sorted(i["fingerprint"] for i in incs)
assert fps == sorted(set(fps)) and len(fps) == 50, (len(fps), fps[:5])
assert all(i["runbook"] == "service-down" and i["component"] == "API Service" for i in incs)
PY' "$(head -c 800 "$TMP/incs.json")"
check "... every alert recorded once: 200 alert events, 200 distinct alerts" '[ "$(sqlite3 "$TMP/serve.db" "SELECT count(*), count(DISTINCT json_extract(data, \"$.labels.n\")) FROM events WHERE kind = \"alert\"")" = "200|200" ]' "$(sqlite3 "$TMP/serve.db" "SELECT count(*), count(DISTINCT json_extract(data, '$.labels.n')) FROM events WHERE kind = 'alert'")"
check "... one diagnosis per incident, its mutating step skipped" '[ "$(sqlite3 "$TMP/serve.db" "SELECT count(*) FROM events WHERE kind = \"runbook.started\"")" = 50 ] && [ ! -e fixed ]'
c=$(code "${AUTH[@]}" "$URL/v1/incidents/INC-7/timeline")
check "GET /v1/incidents/ID/timeline: the events, the chain verified" '[ "$c" = 200 ] && python3 - "$TMP/body" <<PY
import json, sys
d = json.load(open(sys.argv[1]))
assert d["verified"] is True and d["first_bad_seq"] is None
kinds = [e["kind"] for e in d["events"]]
assert kinds[:2] == ["alert", "incident.opened"] and "runbook.finished" in kinds, kinds
assert d["incident"]["id"] == "INC-7"
PY' "$c $(head -c 600 "$TMP/body")"
check "the escalation target was paged for every incident (50 webhook calls to @team)" 'wait_until 10 "[ \$(grep -c /team \"$TMP/hooks.jsonl\") -ge 50 ]"' "$(wc -l < "$TMP/hooks.jsonl")"
curl -s "$URL/metrics" > "$TMP/m"
check "GET /metrics: 200 received (generic), 50 open SEV3, queue empty, triage timed 200 times" 'grep -q "^runbook_alerts_received_total{source=\"generic\"} 200" "$TMP/m" &&
	grep -q "^runbook_incidents_open{severity=\"SEV3\"} 50" "$TMP/m" && grep -q "^runbook_queue_depth 0" "$TMP/m" &&
	grep -q "^runbook_triage_duration_seconds_count 200" "$TMP/m" &&
	grep -q "^runbook_notifications_total{notifier=\"team\",result=\"delivered\"} 50" "$TMP/m"' "$(grep -v '^#' "$TMP/m" | head -30)"

# ---- the lifecycle over HTTP ----
c=$(code "${AUTH[@]}" -X POST "$URL/v1/incidents/INC-3/ack")
check "POST /v1/incidents/ID/ack: 200, acknowledged" '[ "$c" = 200 ] && grep -q "\"status\":\"acknowledged\"" "$TMP/body"' "$c $(cat "$TMP/body")"
c=$(code "${AUTH[@]}" -X POST "$URL/v1/incidents/INC-3/ack")
check "... again: 409 with the reason" '[ "$c" = 409 ] && grep -q "cannot become acknowledged again" "$TMP/body"' "$c $(cat "$TMP/body")"
c=$(code "${AUTH[@]}" -X POST --data '{"resolution": "restarted the pod", "by": "alice"}' "$URL/v1/incidents/INC-3/resolve")
check "POST /v1/incidents/ID/resolve with a resolution: 200, resolved" '[ "$c" = 200 ] && grep -q "\"resolution\":\"restarted the pod\"" "$TMP/body"' "$c $(cat "$TMP/body")"
c=$(code "${AUTH[@]}" -X POST --data '{"false_positive": true}' "$URL/v1/incidents/INC-4/resolve")
check "... as a false positive" '[ "$c" = 200 ] && grep -q "\"resolution\":\"false-positive\"" "$TMP/body"' "$c $(cat "$TMP/body")"
c=$(code "${AUTH[@]}" -X POST --data '{"resolution": 5}' "$URL/v1/incidents/INC-5/resolve")
check "... a bad body is 400" '[ "$c" = 400 ]' "$c"
c=$(code "${AUTH[@]}" "$URL/v1/incidents?status=open")
check "GET /v1/incidents?status=open: the 48 still open" '[ "$c" = 200 ] && [ "$(python3 -c "import json,sys; print(len(json.load(open(sys.argv[1]))))" "$TMP/body")" = 48 ]' "$c"
"$BIN" timeline INC-3 --store "$STORE" --output json > "$TMP/t3.json"
check "the CLI sees what the API did (incident.acknowledged, incident.resolved by alice (api))" 'grep -q "resolved by alice (api)" "$TMP/t3.json"'
c=$(code "$URL/status")
check "GET /status: the HTML status page (API Service: Degraded Performance)" '[ "$c" = 200 ] && grep -q "Degraded Performance" "$TMP/body" && ! grep -qi "<script" "$TMP/body"' "$c"
c=$(code "$URL/status.json")
check "GET /status.json: the same as JSON" '[ "$c" = 200 ] && python3 -c "
import json,sys; d=json.load(open(sys.argv[1])); assert d[\"components\"]==[{\"name\":\"API Service\",\"status\":\"Degraded Performance\"}], d" "$TMP/body"' "$c $(head -c 300 "$TMP/body")"

# ---- PagerDuty's signature ----
pd='{"event":{"id":"e1","event_type":"incident.triggered","data":{"id":"PD123","type":"incident","title":"api down","status":"triggered","urgency":"high","service":{"summary":"api"},"html_url":"https://pd/PD123"}}}'
sig=$(printf '%s' "$pd" | openssl dgst -sha256 -hmac "$PD_WEBHOOK_SECRET" | sed 's/^.* //')
c=$(code "${AUTH[@]}" -X POST --data "$pd" "$URL/v1/alerts")
c2=$(code "${AUTH[@]}" -X POST -H "X-PagerDuty-Signature: v1=$(printf '%064d' 0)" --data "$pd" "$URL/v1/alerts")
c3=$(code "${AUTH[@]}" -X POST -H "X-PagerDuty-Signature: v1=abc, v1=$sig" --data "$pd" "$URL/v1/alerts")
check "PagerDuty: unsigned 401, badly signed 401, signed (one of several) 202" '[ "$c $c2 $c3" = "401 401 202" ]' "$c $c2 $c3"

# ---- the 202 names each alert: its fingerprint (any characters) and its queue id ----
cat > "$TMP/odd.json" <<'JSON'
{"version":"4","status":"firing","alerts":[
 {"status":"firing","labels":{"alertname":"OddPrint"},"fingerprint":"q\"uote\\back\nnl\ttab\u0001ctl\u007fdel é ☃"},
 {"status":"firing","labels":{"alertname":"OddPrint","n":"2"},"fingerprint":"plain-2"}]}
JSON
c=$(code "${AUTH[@]}" -X POST -H 'Content-Type: application/json' --data-binary @"$TMP/odd.json" "$URL/v1/alerts")
check "an Alertmanager group of two: 202 with each one's fingerprint (escaped) and queue id, in order" '[ "$c" = 202 ] && python3 - "$TMP/body" "$TMP/odd.json" "$TMP/serve.db" <<PY
import json, sqlite3, sys
body = open(sys.argv[1], "rb").read()
assert body.endswith(b"\n"), body
d = json.loads(body)
sent = [a["fingerprint"] for a in json.load(open(sys.argv[2]))["alerts"]]
assert d["accepted"] == 2 and [a["fingerprint"] for a in d["alerts"]] == sent, d
db = sqlite3.connect(sys.argv[3])
for a in d["alerts"]:
    row = db.execute("SELECT json_extract(alert, \"$.fingerprint\") FROM alert_queue WHERE id = ?", (a["queue_id"],)).fetchone()
    assert row and row[0] == a["fingerprint"], (a, row)
PY' "$c $(head -c 400 "$TMP/body")"

# ---- re-escalation: once per period, through the repeat route ----
"$BIN" incident open --store "$STORE" --title "nobody looked" --severity SEV1 --at "$(date -u -d '-20 min' +%Y-%m-%dT%H:%M:%SZ)" > "$TMP/open.out"
rid=$(grep -o 'INC-[0-9]*' "$TMP/open.out" | head -1)
wait_until 10 '[ "$(sqlite3 "$TMP/serve.db" "SELECT count(*) FROM events WHERE incident = \"$rid\" AND kind = \"escalation\"")" -ge 1 ]'
sleep 3
check "an unacknowledged SEV1 20 min old: one escalation event (period 1), through the repeat route" '[ "$(sqlite3 "$TMP/serve.db" "SELECT count(*) FROM events WHERE incident = \"$rid\" AND kind = \"escalation\"")" = 1 ] &&
	[ "$(grep -c "/repeat" "$TMP/hooks.jsonl")" = 1 ] && grep "/repeat" "$TMP/hooks.jsonl" | grep -q "$rid"' "$(sqlite3 "$TMP/serve.db" "SELECT summary FROM events WHERE kind = 'escalation'") $(grep -c /repeat "$TMP/hooks.jsonl")"

# ---- durable intake: kill -9 right after the 202s; a new serve triages them ----
python3 "$ROOT/tests/post_many.py" "$URL/v1/alerts" 30 30 10 "$RUNBOOK_TOKEN" DiskGone > "$TMP/d.json"
kill -9 $SPID
wait $SPID 2> /dev/null
queued=$(sqlite3 "$TMP/serve.db" "SELECT count(*) FROM alert_queue WHERE json_extract(alert, '$.name') = 'DiskGone'")
check "every alert answered 202 was in the queue when serve died (30)" '[ "$queued" = 30 ] && grep -q "\"202\": 30" "$TMP/d.json"' "$queued $(head -c 200 "$TMP/d.json")"
# the alerts done before are a week and more old now: the next serve forgets them
old=$(sqlite3 "$TMP/serve.db" "UPDATE alert_queue SET done_at = '2020-01-01T00:00:00.000000Z' WHERE done_at IS NOT NULL; SELECT changes()")
todo=$(sqlite3 "$TMP/serve.db" "SELECT count(*) FROM alert_queue WHERE done_at IS NULL")
start_serve "$TMP/serve2.log" --store "$STORE" --reescalate-every 0
wait_until 30 '[ "$(sqlite3 "$TMP/serve.db" "SELECT count(*) FROM alert_queue WHERE done_at IS NULL")" = 0 ]'
got=$(sqlite3 "$TMP/serve.db" "SELECT count(*) FILTER (WHERE done_at < '2021'), count(*) FROM alert_queue")
check "serve forgets the alerts it did over a week ago (the queue; $old of them), keeps the $todo it had to do" '[ "$old" -ge 200 ] && [ "$got" = "0|$todo" ]' "old=$old todo=$todo got=$got"
check "... the next serve triaged all of them, each recorded once" '[ "$(sqlite3 "$TMP/serve.db" "SELECT count(*) FROM events WHERE kind = \"alert\" AND json_extract(data, \"$.name\") = \"DiskGone\"")" = 30 ]' "$(sqlite3 "$TMP/serve.db" "SELECT count(*) FROM events WHERE kind = 'alert' AND json_extract(data, '$.name') = 'DiskGone'")"

# ---- SIGTERM: in-flight requests finish, exit 0 ----
python3 "$ROOT/tests/post_many.py" "$URL/v1/alerts" 100 10 20 "$RUNBOOK_TOKEN" LateAlert > "$TMP/late.json" &
lp=$!
sleep 0.3
kill -TERM $SPID
wait $SPID
rc=$?
wait $lp
acked=$(python3 -c "import json,sys; print(json.load(open(sys.argv[1]))['codes'].get('202', 0))" "$TMP/late.json")
queued=$(sqlite3 "$TMP/serve.db" "SELECT count(*) FROM alert_queue WHERE json_extract(alert, '$.name') = 'LateAlert'")
check "SIGTERM: exit 0; every 202 it sent is in the queue ($acked of 100 accepted)" '[ $rc = 0 ] && [ "$acked" = "$queued" ] && grep -q "stopped" "$TMP/serve2.log"' "rc=$rc acked=$acked queued=$queued $(tail -3 "$TMP/serve2.log")"
# ---- serve (SQLite) told to stop twice while it diagnoses: the diagnosis is
# cancelled, and the next serve runs it again ----
sq_finished() { # TITLE: the statuses of its incident's diagnoses, in order
	sqlite3 "$TMP/serve.db" "SELECT group_concat(json_extract(e.data, '$.status'), ',') FROM (SELECT e.data FROM events e
		JOIN incidents i ON i.id = e.incident WHERE i.title = '$1' AND e.kind = 'runbook.finished' ORDER BY e.seq) e"
}
export SLOW=32
start_serve "$TMP/serve3.log" --store "$STORE" --reescalate-every 0
export SLOW=0
curl -s "${AUTH[@]}" -X POST --data '{"alertname":"ServiceDown","fingerprint":"drain-3","summary":"drain three"}' "$URL/v1/alerts" > /dev/null
wait_until 20 'pgrep -f "sleep 032" > /dev/null'
stop_twice $SPID
got="$(sq_finished "drain three") $(sqlite3 "$TMP/serve.db" "SELECT done_at IS NULL FROM alert_queue WHERE json_extract(alert, '$.fingerprint') = 'drain-3'") $(paged "drain three")"
check "serve: SIGTERM twice during a 32 s diagnosis: cancelled at once (${MS} ms), recorded aborted, not paged, the alert still queued, exit 0" '[ $RC = 0 ] && [ $MS -lt 5000 ] && [ "$got" = "aborted 1 0" ] && ! pgrep -f "sleep 032" > /dev/null && grep -q "again stops it now" "$TMP/serve3.log"' "rc=$RC got=$got $(cat "$TMP/serve3.log")"
start_serve "$TMP/serve4.log" --store "$STORE" --reescalate-every 0
wait_until 20 '[ "$(sqlite3 "$TMP/serve.db" "SELECT count(*) FROM alert_queue WHERE done_at IS NULL")" = 0 ]'
inc=$(sqlite3 "$TMP/serve.db" "SELECT id FROM incidents WHERE title = 'drain three'")
"$BIN" timeline "$inc" --store "$STORE" --verify > /dev/null 2>&1
vrc=$?
got="$(sq_finished "drain three") $(sqlite3 "$TMP/serve.db" "SELECT count(*) FROM events WHERE incident = '$inc' AND kind = 'alert'")"
check "... the next serve diagnoses it again (ok); the alert recorded once, paged once, the chain verified" '[ "$got" = "aborted,ok 1" ] && [ $vrc = 0 ] && wait_until 10 "[ \"\$(paged \"drain three\")\" = 1 ]"' "got=$got vrc=$vrc paged=$(paged "drain three")"
kill -TERM $SPID
wait $SPID
timeout 10 "$BIN" serve --listen "127.0.0.1:$rport" --store "$STORE" > "$TMP/port1.out" 2>&1
rc=$?
timeout 10 "$BIN" serve --listen nowhere --store "$STORE" > "$TMP/noport.out" 2>&1
rc2=$?
check "serve on a port it cannot have, or a bad --listen: exit 2 with the reason" '[ $rc = 2 ] && grep -q "cannot listen on 127.0.0.1:$rport" "$TMP/port1.out" && [ $rc2 = 2 ] && grep -q "ADDR:PORT" "$TMP/noport.out"' "$rc $(cat "$TMP/port1.out") $rc2 $(cat "$TMP/noport.out")"
"$BIN" worker --store "$STORE" > "$TMP/wsq.out" 2>&1
rc=$?
check "worker on an SQLite store: exit 2, serve triages its own queue" '[ $rc = 2 ] && grep -q "PostgreSQL" "$TMP/wsq.out"' "$rc $(cat "$TMP/wsq.out")"

# ---- PostgreSQL: serve only queues, four workers triage, one killed -9 ----
pgdir="$TMP/pg"
if bash "$ROOT/tests/pg.sh" start "$pgdir" > "$TMP/pg.log" 2>&1; then
	. "$pgdir/env"
	PSQL=("$PGBIN/psql" -qtAX "$RUNBOOK_TEST_DSN")
	start_serve "$TMP/pgserve.log" --store "$RUNBOOK_TEST_DSN" --reescalate-every 0
	check "serve on PostgreSQL says it only queues" 'grep -q "queueing for" "$TMP/pgserve.log"' "$(cat "$TMP/pgserve.log")"
	python3 "$ROOT/tests/post_many.py" "$URL/v1/alerts" 200 50 40 "$RUNBOOK_TOKEN" > "$TMP/pgmany.json"
	check "200 POSTs into PostgreSQL's queue: all 202; nothing triaged without workers" 'grep -q "\"202\": 200" "$TMP/pgmany.json" && sleep 1 &&
		[ "$("${PSQL[@]}" -c "SELECT count(*) FROM runbook_alert_queue WHERE done_at IS NULL")" = 200 ]' "$(head -c 300 "$TMP/pgmany.json")"
	wpids=()
	for i in 1 2 3 4; do
		SLOW=0.3 "$BIN" worker --store "$RUNBOOK_TEST_DSN" --concurrency 2 --reescalate-every 0 2> "$TMP/w$i.log" &
		wpids+=($!)
		pids+=($!)
	done
	victim=${wpids[0]}
	# kill it while it is in the middle of a diagnosis (an alert claimed, not done)
	mine="SELECT count(*) FROM runbook_alert_queue WHERE done_at IS NULL AND claimed_by LIKE '%:$victim:%'"
	held=
	for _ in $(seq 50); do # freeze it while it holds something, then kill it
		wait_until 30 '[ "$("${PSQL[@]}" -c "SELECT count(*) FROM runbook_alert_queue WHERE done_at IS NOT NULL")" -ge 10 ] && [ "$("${PSQL[@]}" -c "$mine")" -ge 1 ]'
		kill -STOP "$victim"
		held=$("${PSQL[@]}" -c "SELECT string_agg(id::text, ',') FROM runbook_alert_queue WHERE done_at IS NULL AND claimed_by LIKE '%:$victim:%'")
		[ -n "$held" ] && break
		kill -CONT "$victim"
	done
	kill -9 "$victim"
	wait "$victim" 2> /dev/null
	SLOW=0.3 "$BIN" worker --store "$RUNBOOK_TEST_DSN" --concurrency 2 --reescalate-every 0 2> "$TMP/w5.log" &
	wpids[0]=$!
	pids+=($!)
	t0=$SECONDS
	wait_until 60 '[ "$("${PSQL[@]}" -c "SELECT count(*) FROM runbook_alert_queue WHERE done_at IS NULL")" = 0 ]'
	took=$((SECONDS - t0))
	again=$("${PSQL[@]}" -c "SELECT count(*) FROM runbook_alert_queue WHERE id IN (${held:-0}) AND attempts = 2 AND done_at IS NOT NULL")
	check "4 workers, one killed -9 holding alerts $held: they are claimed again at once (not after the 60 s lease); the queue drains in ${took}s" '[ -n "$held" ] && [ "$again" = "$(echo "$held" | tr , "\n" | wc -l)" ] && [ $took -lt 30 ]' "held=$held again=$again took=$took"
	check "... one incident per fingerprint (50)" '[ "$("${PSQL[@]}" -c "SELECT count(*), count(DISTINCT fingerprint) FROM runbook_incidents")" = "50|50" ]' "$("${PSQL[@]}" -c "SELECT count(*), count(DISTINCT fingerprint) FROM runbook_incidents")"
	got=$("${PSQL[@]}" -c "SELECT count(*), count(DISTINCT data::json->'labels'->>'n') FROM runbook_events WHERE kind = 'alert'")
	check "... every alert recorded exactly once (200 alert events, 200 distinct)" '[ "$got" = "200|200" ]' "$got"
	bad=0
	for id in $("${PSQL[@]}" -c "SELECT id FROM runbook_incidents"); do
		"$BIN" timeline "$id" --store "$RUNBOOK_TEST_DSN" --verify > /dev/null 2>&1 || bad=$((bad + 1))
	done
	check "... timeline --verify passes for every incident" '[ $bad = 0 ]' "$bad broken"
	check "... the work was shared: every worker triaged some" 'for i in 2 3 4; do ! grep -q "stopped after 0 " "$TMP/w$i.log" || exit 1; done' ""
	for p in "${wpids[@]}"; do kill -TERM "$p"; done
	rcs=
	for p in "${wpids[@]}"; do wait "$p"; rcs="$rcs$?"; done
	check "workers stop on SIGTERM with exit 0, saying how much they did" '[ "$rcs" = 0000 ] && grep -q "stopped after [1-9]" "$TMP/w2.log"' "$rcs $(cat "$TMP/w2.log")"
	# a worker that hangs while connected loses its alert when the lease ends
	curl -s "${AUTH[@]}" -X POST --data '{"alertname":"ServiceDown","fingerprint":"hang-1"}' "$URL/v1/alerts" > /dev/null
	SLOW=30 "$BIN" worker --store "$RUNBOOK_TEST_DSN" --concurrency 1 --lease 3 --reescalate-every 0 2> "$TMP/wh.log" &
	hp=$!
	pids+=($hp)
	wait_until 10 '[ "$("${PSQL[@]}" -c "SELECT count(*) FROM runbook_alert_queue WHERE claimed_by IS NOT NULL AND done_at IS NULL")" = 1 ]'
	kill -STOP $hp
	SLOW=0 "$BIN" worker --store "$RUNBOOK_TEST_DSN" --concurrency 1 --lease 3 --reescalate-every 0 2> "$TMP/wt.log" &
	tp=$!
	pids+=($tp)
	wait_until 20 '[ "$("${PSQL[@]}" -c "SELECT count(*) FROM runbook_alert_queue WHERE done_at IS NULL")" = 0 ]'
	got=$("${PSQL[@]}" -c "SELECT attempts, done_at IS NOT NULL FROM runbook_alert_queue WHERE alert::json->>'fingerprint' = 'hang-1'")
	check "a worker stopped (SIGSTOP) while connected: another takes its alert after the 3 s lease" '[ "$got" = "2|t" ]' "$got $(cat "$TMP/wt.log")"
	# a queue row that serve did not write (not a normalised alert) is set aside, and work goes on
	"${PSQL[@]}" -c "INSERT INTO runbook_alert_queue (received_at, source, key, alert) VALUES ('2026-12-04T00:00:00Z', 'generic', 'junk', '{\"n\": 1}')" > /dev/null
	curl -s "${AUTH[@]}" -X POST --data '{"alertname":"ServiceDown","fingerprint":"after-junk"}' "$URL/v1/alerts" > /dev/null
	wait_until 20 '[ "$("${PSQL[@]}" -c "SELECT count(*) FROM runbook_alert_queue WHERE done_at IS NULL")" = 0 ]'
	got=$("${PSQL[@]}" -c "SELECT result::json->>'action' FROM runbook_alert_queue WHERE key = 'junk'")
	check "a queued row that is not a normalised alert: ignored (said on stderr), the worker goes on" '[ "$got" = ignored ] && kill -0 $tp && grep -q "not a normalised alert" "$TMP/wt.log" &&
		[ "$("${PSQL[@]}" -c "SELECT count(*) FROM runbook_incidents WHERE fingerprint = '\''after-junk'\''")" = 1 ]' "$got $(cat "$TMP/wt.log")"
	kill -9 $hp $tp 2> /dev/null
	wait $hp $tp 2> /dev/null
	# SIGTERM while a diagnosis runs: it may finish (10 s at most); a second
	# signal cancels it, and its alert goes back to the queue
	finished() { # FINGERPRINT: the statuses of its incident's diagnoses, in order
		"${PSQL[@]}" -c "SELECT string_agg(e.data::json->>'status', ',' ORDER BY e.seq) FROM runbook_events e
			JOIN runbook_incidents i ON i.id = e.incident WHERE i.fingerprint = '$1' AND e.kind = 'runbook.finished'"
	}
	started() { # FINGERPRINT: 1 once its diagnosis has started
		"${PSQL[@]}" -c "SELECT count(*) FROM runbook_events e JOIN runbook_incidents i ON i.id = e.incident
			WHERE i.fingerprint = '$1' AND e.kind = 'runbook.started'"
	}
	curl -s "${AUTH[@]}" -X POST --data '{"alertname":"ServiceDown","fingerprint":"drain-1"}' "$URL/v1/alerts" > /dev/null
	SLOW=2 "$BIN" worker --store "$RUNBOOK_TEST_DSN" --concurrency 1 --reescalate-every 0 2> "$TMP/wd1.log" &
	dp=$!
	pids+=($dp)
	wait_until 20 '[ "$(started drain-1)" = 1 ]'
	kill -TERM $dp
	wait $dp
	rc=$?
	got="$(finished drain-1) $("${PSQL[@]}" -c "SELECT done_at IS NOT NULL FROM runbook_alert_queue WHERE alert::json->>'fingerprint' = 'drain-1'")"
	check "worker: SIGTERM during a 2 s diagnosis: it finishes (ok), its alert is done, exit 0" '[ $rc = 0 ] && [ "$got" = "ok t" ] &&
		grep -q "finishing the alerts in hand" "$TMP/wd1.log"' "rc=$rc got=$got $(cat "$TMP/wd1.log")"
	curl -s "${AUTH[@]}" -X POST --data '{"alertname":"ServiceDown","fingerprint":"drain-2","summary":"drain two"}' "$URL/v1/alerts" > /dev/null
	SLOW=31 "$BIN" worker --store "$RUNBOOK_TEST_DSN" --concurrency 1 --reescalate-every 0 2> "$TMP/wd2.log" &
	dp=$!
	pids+=($dp)
	wait_until 20 '[ "$(started drain-2)" = 1 ] && pgrep -f "sleep 031" > /dev/null'
	stop_twice $dp
	got="$(finished drain-2) $("${PSQL[@]}" -c "SELECT done_at IS NULL FROM runbook_alert_queue WHERE alert::json->>'fingerprint' = 'drain-2'")"
	check "... SIGTERM twice during a 31 s one: cancelled at once (${MS} ms), recorded aborted, the command killed, the alert still queued, exit 0" '[ $RC = 0 ] && [ $MS -lt 5000 ] && [ "$got" = "aborted t" ] && ! pgrep -f "sleep 031" > /dev/null' "rc=$RC got=$got $(cat "$TMP/wd2.log")"
	notified=$(paged "drain two")
	SLOW=0 "$BIN" worker --store "$RUNBOOK_TEST_DSN" --concurrency 1 --reescalate-every 0 2> "$TMP/wd3.log" &
	dp=$!
	pids+=($dp)
	wait_until 20 '[ "$("${PSQL[@]}" -c "SELECT count(*) FROM runbook_alert_queue WHERE done_at IS NULL")" = 0 ]'
	inc=$("${PSQL[@]}" -c "SELECT id FROM runbook_incidents WHERE fingerprint = 'drain-2'")
	got="$(finished drain-2) $("${PSQL[@]}" -c "SELECT count(*) FROM runbook_events WHERE incident = '$inc' AND kind = 'alert'")"
	"$BIN" timeline "$inc" --store "$RUNBOOK_TEST_DSN" --verify > /dev/null 2>&1
	vrc=$?
	check "... the next worker diagnoses it again (ok); the alert recorded once, paged once (not for the aborted run), the chain verified" '[ "$got" = "aborted,ok 1" ] && [ $vrc = 0 ] && [ "$notified" = 0 ] &&
		wait_until 10 "[ \"\$(paged \"drain two\")\" = 1 ]"' "got=$got vrc=$vrc paged before=$notified after=$(paged "drain two")"
	kill -TERM $dp
	wait $dp
	kill -TERM $SPID
	wait $SPID
	check "serve on PostgreSQL stops on SIGTERM with exit 0" '[ $? = 0 ]'
else
	ko "PostgreSQL for the worker tests" "$(cat "$TMP/pg.log")"
fi

echo "$pass passed, $fail failed"
[ "$fail" = 0 ]
