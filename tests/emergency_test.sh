#!/usr/bin/env bash
# The real emergency: a PostgreSQL (max_connections = 20, 3 reserved for
# superusers) whose every ordinary slot is taken - long queries, idle
# transactions, idle sessions, and a superuser's "backup" - diagnosed by the
# shipped db-connections runbook. Prints "N passed, N failed".
set -u
BIN=${RUNBOOK_BIN:-$(pwd)/runbook}
ROOT=$(cd "$(dirname "$0")/.." && pwd)
. "$ROOT/tests/lib.sh"
TMP=$(mktemp -d /tmp/runbook-emergency-XXXXXX)
export XDG_STATE_HOME="$TMP/state" RUNBOOK_STORE= RUNBOOK_PATH="$ROOT/runbooks"
chmod 755 "$TMP"
group=
extra=()
cleanup() {
	[ -n "$group" ] && kill -TERM -- "-$group" 2>/dev/null
	for g in "${extra[@]}"; do kill -TERM -- "-$g" 2>/dev/null; done
	"$ROOT/tests/pg.sh" stop "$TMP/pg"
	rm -rf "$TMP"
}
trap cleanup EXIT
"$ROOT/tests/pg.sh" start "$TMP/pg" 20 || { echo "0 passed, 1 failed"; exit 1; }
. "$TMP/pg/env"
HOSTPORT="127.0.0.1:$PGTESTPORT"
ADMIN="postgres://postgres:pg-admin-pw@$HOSTPORT/runbook_test"
admin() { psql -qAtX "$ADMIN" "$@"; }
admin <<'SQL'
CREATE ROLE monitor LOGIN PASSWORD 'monitor-pw' IN ROLE pg_monitor;
CREATE ROLE app LOGIN PASSWORD 'app-pw';
GRANT CONNECT ON DATABASE runbook_test TO app, monitor;
SQL
APP="postgres://app:app-pw@$HOSTPORT/runbook_test"
MONITOR="postgres://monitor:monitor-pw@$HOSTPORT/runbook_test"

# the app host: nothing listens there, so the SSH step fails fast
export HOME="$TMP/home"
mkdir -p "$HOME/.ssh"
printf 'Host app-1.internal\n  HostName 127.0.0.1\n  Port 1\n' > "$HOME/.ssh/config"

# Fill every ordinary slot (20 - 3 = 17): a superuser's backup, 4 long app
# queries, 2 app sessions idle in transaction, 10 idle app sessions. The
# clients share one process group, so cleanup ends them all.
setsid bash -c '
	psql -qX "$1" -c "SELECT pg_sleep(600) /* nightly backup */" > /dev/null 2>&1 &
	sleep 0.3
	for s in 601 602 603 604; do psql -qX "$2" -c "SELECT pg_sleep($s) /* report */" > /dev/null 2>&1 & sleep 0.1; done
	for _ in 1 2; do { echo "BEGIN; SELECT 1;"; sleep 600; } | psql -qX "$2" > /dev/null 2>&1 & done
	for _ in $(seq 10); do sleep 600 | psql -qX "$2" > /dev/null 2>&1 & done
	wait' _ "$ADMIN" "$APP" &
group=$!
clients() { admin -c "SELECT count(*) FROM pg_stat_activity WHERE backend_type = 'client backend' AND pid <> pg_backend_pid()"; }
# Counting takes a slot too (a superuser uses an ordinary one while there
# is one), so a client that lost that race is replaced by another idle one.
extra=()
sleep 2
for i in $(seq 60); do
	n=$(clients 2>/dev/null)
	[ "$n" = 17 ] && break
	if [ $((i % 8)) = 0 ] && [ "${n:-17}" -lt 17 ]; then
		for _ in $(seq $((17 - n))); do setsid bash -c 'sleep 600 | psql -qX "$1" > /dev/null 2>&1' _ "$APP" & extra+=($!); done
	fi
	sleep 0.25
done
check "every ordinary slot is taken (17 of 17)" '[ "$(clients)" = 17 ]' "clients: $(clients)"
backup=$(admin -c "SELECT pid FROM pg_stat_activity WHERE query LIKE '%nightly backup%' AND pid <> pg_backend_pid()")
psql -qAtX "$APP" -c "SELECT 1" > "$TMP/refused.out" 2>&1
check "an ordinary client is refused" 'grep -q "remaining connection slots are reserved" "$TMP/refused.out"' "$(cat "$TMP/refused.out")"
sleep 2 # the long queries age past long_after=1

# As a pg_monitor role the diagnosis is locked out too: that is the finding.
start=$(date +%s%N)
"$BIN" exec db-connections --target primary="$MONITOR" --output json > "$TMP/locked.json" 2> "$TMP/locked.err"; rc=$?
took=$(( ($(date +%s%N) - start) / 1000000 ))
check "locked out: CRITICAL, saturation confirmed" '[ $rc = 1 ] && grep -q "\"level\": \"critical\"" "$TMP/locked.json" && grep -q "the database is refusing connections (too many clients): saturation confirmed" "$TMP/locked.json"' "rc=$rc $(cat "$TMP/locked.err") $(grep -n 'message\|error' "$TMP/locked.json")"
check "locked out: SQLSTATE 53300 on the failed steps" '[ "$(field "$TMP/locked.json" slots sqlstate)" = "\"53300\"" ] && [ "$(field "$TMP/locked.json" candidates sqlstate)" = "\"53300\"" ]'
check "locked out: said fast ($took ms), one connection attempt for the target" '[ $took -lt 4000 ] && [ "$(grep -c "not tried again" "$TMP/locked.json")" -ge 4 ]' "$(grep error "$TMP/locked.json")"
check "locked out: no password in the report" '! grep -q monitor-pw "$TMP/locked.json" "$TMP/locked.err"'

# As a superuser (a reserved slot) with --apply: counted against usable
# slots, one slot freed from the oldest non-superuser session, never the
# backup, never itself.
oldest=$(admin -c "SELECT a.pid FROM pg_stat_activity a JOIN pg_roles r ON r.oid = a.usesysid WHERE NOT r.rolsuper AND a.backend_type = 'client backend' AND (a.state = 'active' OR a.state LIKE 'idle in transaction%') ORDER BY coalesce(a.xact_start, a.query_start) LIMIT 1")
"$BIN" exec db-connections --target primary="$ADMIN" -p long_after=1 --apply --output json > "$TMP/apply.json" 2> "$TMP/apply.err"; rc=$?
check "superuser: saturated against usable slots, both figures" 'grep -q "saturated, no slot left for ordinary clients (17 of 17 usable slots; max_connections 20, 3 reserved for superusers)" "$TMP/apply.json"' "$(grep -n message "$TMP/apply.json") $(cat "$TMP/apply.err")"
check "superuser: the candidate was listed before the remediation" 'grep -q "the remediation would terminate pid $oldest " "$TMP/apply.json"' "oldest=$oldest $(grep -n message "$TMP/apply.json")"
check "superuser: terminate ran and freed exactly one slot" '[ "$(field "$TMP/apply.json" terminate status)" = "\"ok\"" ] && [ "$(field "$TMP/apply.json" terminate row_count)" = 1 ]' "$(grep -A30 '"id": "terminate"' "$TMP/apply.json" | head -40)"
for _ in $(seq 30); do [ "$(clients)" = 16 ] && break; sleep 0.1; done
check "the oldest non-superuser session is gone, the backup is not" '[ "$(admin -c "SELECT count(*) FROM pg_stat_activity WHERE pid = $oldest")" = 0 ] && [ "$(admin -c "SELECT count(*) FROM pg_stat_activity WHERE pid = $backup")" = 1 ] && [ "$(clients)" = 16 ]' "oldest=$oldest backup=$backup clients=$(clients)"
check "an ordinary client gets in again" 'psql -qAtX "$APP" -c "SELECT 1" > /dev/null 2>&1'

# Without pg_monitor, other roles' sessions are hidden: said, not silently under-counted.
"$BIN" exec db-connections --target primary="$APP" --output json > "$TMP/app.json" 2>&1
check "without pg_monitor: visibility limited is a warning (the backup is hidden)" 'grep -q "visibility limited: 1 sessions of other roles are hidden from role app" "$TMP/app.json"' "$(grep -n message "$TMP/app.json")"
check "without pg_monitor the app role cannot run the remediation either (it is not asked to)" '[ "$(field "$TMP/app.json" terminate status)" != "\"ok\"" ]'

# The remediation re-checks at terminate time: a pid whose session changed
# since the diagnosis saw it is not terminated.
victim=$(admin -c "SELECT pid FROM pg_stat_activity WHERE query LIKE '%pg_sleep(60%' AND usename = 'app' AND pid <> pg_backend_pid() ORDER BY query_start LIMIT 1")
cat > "$TMP/recheck.json" <<JSON
[{"pid": $victim, "backend_start": "1", "query_start": "2"}]
JSON
cat > "$TMP/recheck.yaml" <<'YAML'
runbook: recheck
title: the terminate statement of db-connections, against a stale view
targets:
  primary: {type: postgres, dsn: "${env.ADMIN_DSN}"}
steps:
  - id: terminate
    mutates: true
    sql: |
      SELECT a.pid, a.usename AS "user", pg_terminate_backend(a.pid) AS terminated
        FROM jsonb_to_recordset($1::jsonb) AS c(pid int, backend_start text, query_start text)
        JOIN pg_stat_activity a ON a.pid = c.pid
        JOIN pg_roles r ON r.oid = a.usesysid
       WHERE a.pid <> pg_backend_pid() AND a.backend_type = 'client backend' AND NOT r.rolsuper
         AND extract(epoch FROM a.backend_start)::text = c.backend_start
         AND coalesce(extract(epoch FROM a.query_start)::text, '') = c.query_start
    args: ["${params.view}"]
params:
  view: {required: true}
YAML
grep -q "$(sed -n '/^  - id: terminate/,/^    args/p' "$ROOT/runbooks/db-connections.yaml" | sed -n '/SELECT a.pid/p' | sed 's/^ *//')" "$TMP/recheck.yaml"; same=$?
ADMIN_DSN="$ADMIN" "$BIN" exec "$TMP/recheck.yaml" --apply -p view="$(cat "$TMP/recheck.json")" --output json > "$TMP/recheck.out" 2>&1
check "a stale view terminates nothing (the pid is still there)" '[ $same = 0 ] && [ "$(field "$TMP/recheck.out" terminate row_count)" = 0 ] && [ "$(admin -c "SELECT count(*) FROM pg_stat_activity WHERE pid = $victim")" = 1 ]' "$(cat "$TMP/recheck.out")"

echo "$pass passed, $fail failed"
[ "$fail" = 0 ]
