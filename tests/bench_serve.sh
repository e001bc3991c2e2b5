#!/usr/bin/env bash
# `make bench` (serve and workers): side by side in one run, ratios.
#   Intake: N POSTs from 64 connections at once (curl --parallel) to
#     (n) a do-nothing HTTP server built like serve (libmicrohttpd, epoll,
#         four threads: reads the body, answers 202; with two it is as fast),
#     (p) runbook serve on a durable PostgreSQL store (queue only: the 202
#         waits for the commit), and
#     (s) runbook serve on SQLite (synchronous=FULL), triaging as it goes
#         (each round waits for its queue to drain, so that its triage
#         does not run into the next round's (n) and (p)); also timed from
#         its first POST to its last alert triaged (a storm of one fingerprint).
#     Goal: p/n and s/n <= 1.0 (as fast as doing nothing). Beside each time:
#     the CPU a POST cost the client, the server and PostgreSQL, which
#     shows where the time goes (they share the machine's CPUs).
#   Workers: alerts triaged per second by 1, 2 and 4 `runbook worker`s
#     (--concurrency 1 each) draining one PostgreSQL queue; in the 4-worker
#     run one is killed with -9 mid-run and restarted. Goal: 4 >= 1.5 x 1.
#     Beside each rate: the machine's CPU use and the commits per second
#     and per alert, which show where the scaling stops.
# BENCH_JSON=FILE writes the figures there.
set -u
ROOT=$(cd "$(dirname "$0")/.." && pwd)
BIN=${RUNBOOK_BIN:-$ROOT/runbook}
N=${N:-4000}
ALERTS=${ALERTS:-600}
ROUNDS=${ROUNDS:-5}
TMP=$(mktemp -d /tmp/runbook-bench-serve-XXXXXX)
chmod 755 "$TMP"
export XDG_STATE_HOME="$TMP/state" RUNBOOK_STORE= RUNBOOK_CONFIG= XDG_CONFIG_HOME="$TMP/xdg" HOME="$TMP/home"
mkdir -p "$HOME" "$TMP/lib"
pids=()
cleanup() {
	for p in "${pids[@]}"; do kill -9 "$p" 2> /dev/null; done
	wait 2> /dev/null
	"$ROOT/tests/pg.sh" stop "$TMP/pg"
	rm -rf "$TMP"
}
trap cleanup EXIT
. "$ROOT/tests/lib.sh"
PG_DURABLE=1 "$ROOT/tests/pg.sh" start "$TMP/pg" > /dev/null || exit 1 # durable: commits cost what they cost
. "$TMP/pg/env"
PSQL=("$PGBIN/psql" -qtAX -h "$PGSOCKDIR" -p "$PGTESTPORT" -U postgres)
cat > "$TMP/lib/bench.yaml" <<'YAML'
runbook: bench-alert
title: a benchmark alert
severity: SEV3
symptoms:
  - alertname: [BenchAlert]
steps:
  - {id: look, lua: "return {checked = alert.labels.instance}"}
YAML
export RUNBOOK_PATH="$TMP/lib"

# ---- intake ----
printf '{"alertname":"BenchAlert","fingerprint":"fp-1","labels":{"instance":"h1","severity":"warning"},"summary":"bench"}' > "$TMP/a.json"
urls() { for _ in $(seq "$N"); do printf 'url = "%s"\noutput = "/dev/null"\n' "$1"; done; }
nport=$(free_port)
"$ROOT/tests/bench_null_http" "$nport" > "$TMP/null.out" &
NPID=$!
pids+=($NPID)
start() { # LOG ARGS...: a serve on a free port; sets URL and SPID
	local log=$1
	shift
	"$BIN" serve --listen 127.0.0.1:0 --reescalate-every 0 "$@" > /dev/null 2> "$log" &
	SPID=$!
	pids+=($SPID)
	URL=
	for _ in $(seq 100); do
		URL=$(grep -o 'http://127.0.0.1:[0-9]*' "$log") && return 0
		sleep 0.1
	done
	cat "$log" >&2
	return 1
}
start "$TMP/p.log" --store "$RUNBOOK_TEST_DSN" || exit 1
purl=$URL ppid=$SPID
start "$TMP/s.log" --store "sqlite:$TMP/serve.db" || exit 1
surl=$URL spid=$SPID
for _ in $(seq 50); do grep -q listening "$TMP/null.out" && break; sleep 0.1; done
urls "http://127.0.0.1:$nport/v1/alerts" > "$TMP/n.urls"
urls "$purl/v1/alerts" > "$TMP/p.urls"
urls "$surl/v1/alerts" > "$TMP/s.urls"
proc_ticks() { # PID...: the CPU ticks (user + system) these processes have used so far
	local t=0 p f
	for p in "$@"; do
		read -r -a f <<< "$(sed 's/^.*) //' "/proc/$p/stat" 2> /dev/null)"
		t=$((t + ${f[11]:-0} + ${f[12]:-0}))
	done
	echo "$t"
}
pg_pids() { local pm; pm=$(head -1 "$TMP/pg/data/postmaster.pid"); echo "$pm $(pgrep -P "$pm" | tr '\n' ' ')"; }
post() { # URLS-FILE SERVER-PID: N POSTs, 64 at a time; prints the microseconds they took and the CPU
	# ticks of the client (curl), the server and PostgreSQL meanwhile; fails unless every answer is 202
	local t0 codes s0 g0 c
	s0=$(proc_ticks "$2")
	g0=$(proc_ticks $(pg_pids))
	t0=$(date +%s%N)
	codes=$( { TIMEFORMAT='%U %S'; time curl --no-progress-meter -Z --parallel-max 64 -H 'Content-Type: application/json' \
		-d @"$TMP/a.json" -K "$1" -w '%{http_code}\n'; } 2> "$TMP/curl.time" | sort | uniq -c | tr -s ' ')
	c=$(awk '{ printf "%d", ($1 + $2) * 100 + 0.5 }' "$TMP/curl.time")
	echo "$(( ($(date +%s%N) - t0) / 1000 )) $c $(( $(proc_ticks "$2") - s0 )) $(( $(proc_ticks $(pg_pids)) - g0 ))"
	[ "$codes" = " $N 202" ] || echo "bench: not every POST was accepted: $codes" >&2
}
drained() { # the SQLite serve has triaged all it accepted, so its triage does not run into the next round
	local i
	for i in $(seq 2400); do
		[ "$(sqlite3 "$TMP/serve.db" "SELECT count(*) FROM alert_queue WHERE done_at IS NULL" 2> /dev/null)" = 0 ] && return
		sleep 0.05
	done
	echo "bench: the SQLite serve did not drain its queue in 120 s" >&2
}
for _ in $(seq "$ROUNDS"); do # interleaved: the machine's noise hits all three alike
	post "$TMP/n.urls" "$NPID" >> "$TMP/n.t"
	post "$TMP/p.urls" "$ppid" >> "$TMP/p.t"
	t0=$(date +%s%N)
	post "$TMP/s.urls" "$spid" >> "$TMP/s.t"
	drained
	echo "$(( ($(date +%s%N) - t0) / 1000 ))" >> "$TMP/d.t" # from the first POST to the last alert triaged
done
median() { # FILE [COLUMN]: the median of a column (the first by default)
	awk -v c="${2:-1}" '{ print $c }' "$1" | sort -n | awk '{ v[NR] = $1 } END { print v[int((NR + 1) / 2)] }'
}
n=$(median "$TMP/n.t") p=$(median "$TMP/p.t") s=$(median "$TMP/s.t") d=$(median "$TMP/d.t")
cpu_of() { echo "$(median "$1" 2) $(median "$1" 3) $(median "$1" 4)"; } # client server PostgreSQL (ticks)
us_per_post() { # TICKS...: microseconds a POST, as a JSON list
	local t out=
	for t in "$@"; do out="$out${out:+, }$(( t * 1000000 / $(getconf CLK_TCK) / N ))"; done
	echo "[$out]"
}
queued=$("${PSQL[@]}" -d runbook_test -c "SELECT count(*) FROM runbook_alert_queue")
echo "Intake: $N POSTs, 64 connections at once (median of $ROUNDS rounds; CPU: microseconds a POST,"
echo "of the client (curl), the server and PostgreSQL, on $(nproc) CPUs shared by all three):"
awk -v n="$n" -v p="$p" -v s="$s" -v d="$d" -v N="$N" -v hz="$(getconf CLK_TCK)" -v nc="$(cpu_of "$TMP/n.t")" \
	-v pc="$(cpu_of "$TMP/p.t")" -v sc="$(cpu_of "$TMP/s.t")" 'function cpu(t,  f) {
		split(t, f, " ")
		return sprintf("CPU client %3.0f  server %3.0f  PostgreSQL %3.0f", f[1] * 1e6 / hz / N, f[2] * 1e6 / hz / N, f[3] * 1e6 / hz / N)
	} BEGIN {
	printf "  (n) do-nothing HTTP server (libmicrohttpd)   %7.0f ms  %6.0f req/s  %s\n", n / 1000, N / (n / 1e6), cpu(nc)
	printf "  (p) serve, PostgreSQL queue (durable)        %7.0f ms  %6.0f req/s  %s\n", p / 1000, N / (p / 1e6), cpu(pc)
	printf "  (s) serve, SQLite (durable), triaging too    %7.0f ms  %6.0f req/s  %s\n", s / 1000, N / (s / 1e6), cpu(sc)
	printf "  p/n = %.2f   s/n = %.2f   (goal: <= 1.0)\n", p / n, s / n
	printf "  (s) took its %d alerts of one fingerprint (a storm) and triaged them all in %.0f ms: %.0f alerts/s\n",
		N, d / 1000, N / (d / 1e6)
}'
echo "  ($queued alerts in the PostgreSQL queue: every 202 was a committed row)"

# ---- workers ----
# a fresh database per run; ALERTS alerts of ALERTS fingerprints (each opens
# an incident and runs a diagnosis), queued by serve before the workers start
cpu_ticks() { # busy and idle ticks of the whole machine so far
	local _c u n sy i w irq sirq st
	read -r _c u n sy i w irq sirq st _ < /proc/stat
	echo "$((u + n + sy + irq + sirq + st)) $((i + w))"
}
wait_until() { # DB CONDITION: one session that looks every 10 ms (a psql every 50 ms cost the
	# saturated machine a backend start each time)
	"${PSQL[@]}" -d "$1" -c "DO \$\$ BEGIN WHILE NOT ($2) LOOP PERFORM pg_sleep(0.01); END LOOP; END \$\$"
}
commits() { "${PSQL[@]}" -d postgres -c "SELECT xact_commit FROM pg_stat_database WHERE datname = '$1'"; }
wal_syncs() { # the WAL's fsyncs so far, once the server's processes have reported them
	sleep 0.5
	"${PSQL[@]}" -d postgres -c "SELECT wal_sync FROM pg_stat_wal"
}
run_workers() { # K KILL: sets US, the microseconds K workers take to drain the queue,
	# BUSY, the machine's CPU use meanwhile (%), COMMITS, the transactions they committed
	# (read-only ones too), and SYNCS, the WAL fsyncs meanwhile
	local k=$1 kill=$2 db="bench_w$1_$RANDOM"
	"${PSQL[@]}" -d postgres -c "CREATE DATABASE $db OWNER runbook" > /dev/null
	local dsn="${RUNBOOK_TEST_DSN%/*}/$db"
	start "$TMP/wq.log" --store "$dsn" || return 1
	python3 "$ROOT/tests/post_many.py" "$URL/v1/alerts" "$ALERTS" "$ALERTS" 16 "" BenchAlert > /dev/null
	kill -TERM "$SPID"
	wait "$SPID"
	local wp=() t0 i c0 b0 i0 b1 i1 s0
	c0=$(commits "$db") # serve has exited: its counts are in
	s0=$(wal_syncs)
	read -r b0 i0 <<< "$(cpu_ticks)"
	t0=$(date +%s%N)
	for i in $(seq "$k"); do
		"$BIN" worker --store "$dsn" --concurrency 1 --reescalate-every 0 2> "$TMP/w$i.log" &
		wp+=($!)
		pids+=($!)
	done
	if [ "$kill" = 1 ]; then
		wait_until "$db" "(SELECT count(*) FROM runbook_alert_queue WHERE done_at IS NOT NULL) >= $((ALERTS / 3))"
		kill -9 "${wp[0]}"
		wait "${wp[0]}" 2> /dev/null
		"$BIN" worker --store "$dsn" --concurrency 1 --reescalate-every 0 2> "$TMP/w0.log" &
		wp[0]=$!
		pids+=($!)
	fi
	wait_until "$db" "NOT EXISTS (SELECT 1 FROM runbook_alert_queue WHERE done_at IS NULL)"
	US=$(( ($(date +%s%N) - t0) / 1000 ))
	read -r b1 i1 <<< "$(cpu_ticks)"
	BUSY=$(( 100 * (b1 - b0) / (b1 - b0 + i1 - i0 + 1) ))
	for i in "${wp[@]}"; do kill -TERM "$i"; done
	wait "${wp[@]}" 2> /dev/null
	COMMITS=$(( $(commits "$db") - c0 )) # a backend reports its counts when it exits
	SYNCS=$(( $(wal_syncs) - s0 ))
	local got
	got=$("${PSQL[@]}" -d "$db" -c "SELECT count(*) FROM runbook_incidents")
	[ "$got" = "$ALERTS" ] || echo "bench: $k workers opened $got incidents for $ALERTS fingerprints" >&2
}
run_workers 1 0; w1=$US b1=$BUSY c1=$COMMITS f1=$SYNCS
run_workers 2 0; w2=$US b2=$BUSY c2=$COMMITS f2=$SYNCS
run_workers 4 0; w4=$US b4=$BUSY c4=$COMMITS f4=$SYNCS
run_workers 4 1; w4k=$US b4k=$BUSY c4k=$COMMITS f4k=$SYNCS
cpus=$(nproc)
echo
echo "Workers: $ALERTS alerts (each a new incident and a diagnosis) drained from one PostgreSQL queue ($cpus CPUs):"
awk -v a="$ALERTS" -v w1="$w1" -v w2="$w2" -v w4="$w4" -v w4k="$w4k" -v b1="$b1" -v b2="$b2" -v b4="$b4" -v b4k="$b4k" \
	-v c1="$c1" -v c2="$c2" -v c4="$c4" -v c4k="$c4k" -v f1="$f1" -v f2="$f2" -v f4="$f4" -v f4k="$f4k" \
	-v cpus="$cpus" 'BEGIN {
	f = "  %-38s %6.0f ms  %5.0f alerts/s  %-8s  CPU %3d%%  an alert: %4.1f transactions, %3.1f WAL fsyncs\n"
	printf f, "1 worker", w1 / 1000, a / (w1 / 1e6), "", b1, c1 / a, f1 / a
	printf f, "2 workers", w2 / 1000, a / (w2 / 1e6), sprintf("(x%.2f)", w1 / w2), b2, c2 / a, f2 / a
	printf f, "4 workers", w4 / 1000, a / (w4 / 1e6), sprintf("(x%.2f)", w1 / w4), b4, c4 / a, f4 / a
	printf f, "4 workers, one killed -9 and restarted", w4k / 1000, a / (w4k / 1e6), sprintf("(x%.2f)", w1 / w4k), b4k,
		c4k / a, f4k / a
	printf "  goal: 4 workers (one killed) >= x1.5 of one. Where it stops: the CPU column is the whole\n"
	printf "  machine (%d CPUs: workers, PostgreSQL and its fsyncs); near 100%% more workers cannot help.\n", cpus
	printf "  Transactions count the read-only ones too; concurrent commits share WAL fsyncs.\n"
}'
if [ -n "${BENCH_JSON:-}" ]; then
	printf '{"intake_null_us": %s, "intake_pg_us": %s, "intake_sqlite_us": %s, "storm_sqlite_triaged_us": %s, "posts": %s, "intake_cpu_us_per_post": {"null": %s, "pg": %s, "sqlite": %s}, "workers_1_us": %s, "workers_2_us": %s, "workers_4_us": %s, "workers_4_killed_us": %s, "alerts": %s, "workers_cpu_busy_pct": [%s, %s, %s, %s], "workers_commits": [%s, %s, %s, %s], "workers_wal_syncs": [%s, %s, %s, %s]}\n' \
		"$n" "$p" "$s" "$d" "$N" "$(us_per_post $(cpu_of "$TMP/n.t"))" "$(us_per_post $(cpu_of "$TMP/p.t"))" \
		"$(us_per_post $(cpu_of "$TMP/s.t"))" "$w1" "$w2" "$w4" "$w4k" "$ALERTS" "$b1" "$b2" "$b4" "$b4k" "$c1" "$c2" "$c4" "$c4k" "$f1" "$f2" "$f4" "$f4k" > "$BENCH_JSON"
fi
