#!/usr/bin/env bash
# `make demo`: a throwaway PostgreSQL with a real connection problem, and
# `runbook exec db-connections` diagnosing it. Everything is cleaned up.
set -u
ROOT=$(cd "$(dirname "$0")/.." && pwd)
BIN=${RUNBOOK_BIN:-$ROOT/runbook}
TMP=$(mktemp -d /tmp/runbook-demo-XXXXXX)
export XDG_STATE_HOME="$TMP/state" RUNBOOK_STORE= # incidents go to a store of our own
chmod 755 "$TMP"
group=
cleanup() {
	[ -n "$group" ] && kill -TERM -- "-$group" 2>/dev/null
	"$ROOT/tests/sshd.sh" stop "$TMP/sshd"
	"$ROOT/tests/pg.sh" stop "$TMP/pg"
	rm -rf "$TMP"
}
trap cleanup EXIT
trap 'exit 130' INT TERM

echo "== starting a throwaway PostgreSQL (max_connections = 50)"
"$ROOT/tests/pg.sh" start "$TMP/pg" 50 || exit 1
. "$TMP/pg/env"
DSN=$RUNBOOK_TEST_DSN

echo "== starting a throwaway OpenSSH server as the app host (app-1.internal in a demo ~/.ssh/config)"
"$ROOT/tests/sshd.sh" start "$TMP/sshd" || exit 1
. "$TMP/sshd/env"
export HOME="$TMP/home"
unset SSH_AUTH_SOCK
. "$ROOT/tests/lib.sh"
ssh_home app-1.internal

echo "== saturating it: 40 idle sessions, 2 idle in transaction, 3 long-running queries"
# the clients share one process group, so cleanup ends all of them
setsid bash -c '
	for _ in $(seq 40); do sleep 600 | psql -qX "$1" > /dev/null 2>&1 & done
	for _ in 1 2; do { echo "BEGIN; SELECT 1;"; sleep 600; } | psql -qX "$1" > /dev/null 2>&1 & done
	for s in 600 500 400; do psql -qX "$1" -c "SELECT pg_sleep($s) /* report query */" > /dev/null 2>&1 & done
	wait' _ "$DSN" &
group=$!
for _ in $(seq 200); do
	n=$(psql -qAtX "$DSN" -c "SELECT count(*) FROM pg_stat_activity WHERE backend_type = 'client backend'" 2>/dev/null)
	[ "${n:-0}" -ge 45 ] && break
	sleep 0.1
done
sleep 3 # let the long-running queries age a little

echo "== runbook exec db-connections --target primary=<the demo server> -p long_after=2"
echo
"$BIN" --runbooks "$ROOT/runbooks" exec db-connections --target primary="$DSN" -p long_after=2
rc=$?
echo
echo "== the incident it opened, as the timeline shows it: runbook timeline INC-1"
echo
"$BIN" timeline INC-1
"$BIN" timeline INC-1 --verify
echo
echo "== an alert arrives: runbook triage of an Alertmanager notification about this database"
echo "   (the config routes @oncall-platform to a local receiver standing in for the pager)"
rport=$(free_port)
python3 "$ROOT/tests/receiver.py" "$rport" "$TMP/paged.jsonl" &
receiver=$!
wait_port "$rport"
cat > "$TMP/config.yaml" <<YAML
notifiers:
  pager: {type: webhook, url: "http://127.0.0.1:$rport/page"}
routes:
  "@oncall-platform": [pager]
  "@platform-team": [pager]
YAML
sed "s/db-1:9187/127.0.0.1:$PGTESTPORT/" "$ROOT/tests/fixtures/alerts/alertmanager-firing.json" |
	python3 -c 'import json,sys; d=json.load(sys.stdin); d["alerts"]=d["alerts"][:1]; print(json.dumps(d))' > "$TMP/alert.json"
echo
DATABASE_URL="$DSN" "$BIN" --config "$TMP/config.yaml" --runbooks "$ROOT/runbooks" triage --alert "$TMP/alert.json"
inc=$("$BIN" incident list --output json | grep -o '"id": "INC-[0-9]*"' | head -1 | grep -o 'INC-[0-9]*')
sleep 0.3
echo
echo "== the pager received:"
python3 -c 'import json,sys
for l in open(sys.argv[1]):
    b = json.loads(json.loads(l)["body"])
    print("  %s %s %s -> %s, %d findings" % (b["incident"], b["severity"], b["title"], b["target"], len(b["findings"])))' "$TMP/paged.jsonl"
echo
echo "== runbook timeline $inc"
echo
"$BIN" timeline "$inc"
kill "$receiver" 2>/dev/null
echo
echo "== exit status $rc; cleaning up"
[ "$rc" = 2 ] && exit 2 # the runbook or the command line is wrong: that is a failure
exit 0
