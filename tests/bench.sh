#!/usr/bin/env bash
# `make bench`: runbook against shell baselines on the same throwaway
# PostgreSQL and OpenSSH servers, side by side in one run, interleaved
# round by round. Prints medians and ratios.
#   SQL only: (a) runbook exec of the diagnosis's four SQL steps, (b) a bash
#     script with one psql per query, (c) one psql session.
#     Targets: a/b <= 0.4, a/c <= 1.1. The store's cost: (a) on SQLite and
#     (r) on a PostgreSQL store against (n), the same run with --no-incident.
#     Target: <= 10% of the run.
#   Whole diagnosis (SQL + SSH): (g) runbook exec db-connections, (h) bash
#     with one psql per query and one ssh per command, (i) tuned bash: one
#     psql session and an OpenSSH ControlMaster connection.
#     Targets: g/h <= 0.4, g/i <= 0.6.
#   Across a network (a relay adding 20 ms a round trip): (o) runbook exec
#     of four queries on each of two targets, overlapping, (q) the same with
#     sequential: true, (p) two psql sessions one after the other.
#   Fan-out of uptime to 20 host aliases: (d) runbook, (e) a sequential ssh
#     loop, (f) ssh ... & + wait. Target: d/f <= 0.9.
# Honest baselines: the real psql binary of the server's own installation
# (Debian's /usr/bin/psql is a Perl wrapper worth ~34 ms a call), and a
# bench sshd with `SetEnv SHLVL=1`, so bash skips ~/.bashrc for remote
# commands on both sides (this image's costs 0.4 s a command).
# BENCH_JSON=FILE also writes every figure there.
set -u
ROOT=$(cd "$(dirname "$0")/.." && pwd)
BIN=${RUNBOOK_BIN:-$ROOT/runbook}
ROUNDS=${ROUNDS:-25}
TMP=$(mktemp -d /tmp/runbook-bench-XXXXXX)
export XDG_STATE_HOME="$TMP/state" RUNBOOK_STORE= # incidents go to a store of our own
chmod 755 "$TMP"
delay_pid=
cleanup() {
	[ -n "$delay_pid" ] && kill "$delay_pid" 2>/dev/null
	"$ROOT/tests/sshd.sh" stop "$TMP/sshd"
	"$ROOT/tests/pg.sh" stop "$TMP/pg"
	rm -rf "$TMP"
}
trap cleanup EXIT
PG_DURABLE=1 "$ROOT/tests/pg.sh" start "$TMP/pg" || exit 1 # durable: the store numbers must be honest
. "$TMP/pg/env"
DSN=$RUNBOOK_TEST_DSN
SSHD_BENCH=1 "$ROOT/tests/sshd.sh" start "$TMP/sshd" || exit 1
PSQL="$PGBIN/psql" # the real binary, not Debian's wrapper
[ -x "$PSQL" ] || { echo "bench: no psql binary in $PGBIN"; exit 1; }
. "$TMP/sshd/env"
export HOME="$TMP/home"
unset SSH_AUTH_SOCK
. "$ROOT/tests/lib.sh"
ssh_home app-1.internal $(seq -f 'h%02g' 1 20)

# The four diagnosis queries, taken from the shipped runbook so the bench
# measures exactly what it runs.
"$BIN" show "$ROOT/runbooks/db-connections.yaml" --output json > "$TMP/show.json"
step_sql() { # step id -> its SQL text (from the JSON of `runbook show`)
	awk -v id="\"id\": \"$1\"" '
		index($0, id) { on = 1; next }
		on && /"sql": / { sub(/^[^:]*: "/, ""); sub(/",?$/, ""); gsub(/\\n/, "\n"); gsub(/\\"/, "\""); print; exit }' "$TMP/show.json"
}
steps="slots connections by_client long_running"
{
	echo "runbook: bench-sql"
	echo "title: The four SQL steps of db-connections"
	echo "targets:"
	echo "  db: {type: postgres, dsn: \"\${env.RUNBOOK_TEST_DSN}\"}"
	echo "steps:"
	for s in $steps; do
		echo "  - id: $s"
		echo "    sql: |"
		step_sql "$s" | sed 's/^/      /'
		[ "$s" = long_running ] && echo "    args: [10]"
	done
} > "$TMP/bench.yaml"
: > "$TMP/all.sql"
for s in $steps; do
	step_sql "$s" | sed 's/\$1/10/' > "$TMP/$s.sql"
	{ cat "$TMP/$s.sql"; echo ";"; } >> "$TMP/all.sql"
done
"$BIN" check "$TMP/bench.yaml" > /dev/null || { echo "bench runbook invalid"; exit 1; }
"$BIN" exec "$TMP/bench.yaml" > "$TMP/check.out" 2>&1 || { cat "$TMP/check.out"; exit 1; }

na=0 # each run's report is kept: its "timings" show where the time went
run_a() { na=$((na + 1)); "$BIN" exec "$TMP/bench.yaml" --output json > "$TMP/a-$na.json"; }
run_b() { for s in $steps; do "$PSQL" -XAtq "$DSN" -f "$TMP/$s.sql" > /dev/null; done; }
run_c() { "$PSQL" -XAtq "$DSN" -f "$TMP/all.sql" > /dev/null; }
# the store's own cost: (a) with a PostgreSQL store, and without any store
run_r() { "$BIN" --store "$DSN" exec "$TMP/bench.yaml" --output json > /dev/null; }
run_n() { "$BIN" exec "$TMP/bench.yaml" --no-incident --output json > /dev/null; }
# the same PostgreSQL store over its Unix socket, where this server trusts
# local users: no second SCRAM login (its PBKDF2 is CPU on both sides)
SOCK_STORE="host=$PGSOCKDIR port=$PGTESTPORT dbname=runbook_test user=runbook"
run_u() { "$BIN" --store "$SOCK_STORE" exec "$TMP/bench.yaml" --output json > /dev/null; }
ms() { echo $(( ($(date +%s%N) - $1) / 1000 )); } # microseconds since $1

: > "$TMP/a"; : > "$TMP/b"; : > "$TMP/c"; : > "$TMP/r"; : > "$TMP/n"; : > "$TMP/u"
run_a; run_b; run_c; run_r; run_n; run_u # warm up
for _ in $(seq "$ROUNDS"); do
	for x in a b c r n u; do
		t=$(date +%s%N); "run_$x"; ms "$t" >> "$TMP/$x"
	done
done
median() { sort -n "$1" | awk '{ v[NR] = $1 } END { print (NR % 2) ? v[(NR + 1) / 2] : (v[NR / 2] + v[NR / 2 + 1]) / 2 }'; }
a=$(median "$TMP/a"); b=$(median "$TMP/b"); c=$(median "$TMP/c"); r=$(median "$TMP/r"); nost=$(median "$TMP/n"); u=$(median "$TMP/u")

# Overlap across a network: the PostgreSQL server behind a relay that adds
# 10 ms each way (20 ms a round trip). Four queries on each of two targets:
# (o) runbook exec, the targets' steps overlapping; (q) the same runbook
# with sequential: true; (p) one psql session per target, one after the
# other (what a script does).
dport=$(free_port)
delay_relay "$dport" "$PGTESTPORT" 10
DDSN=$(printf '%s' "$DSN" | sed "s/:$PGTESTPORT\//:$dport\//")
{ printf 'runbook: far\ntitle: two databases across a network\ntargets:\n'
  printf '  db1: {type: postgres, dsn: "%s"}\n  db2: {type: postgres, dsn: "%s"}\nsteps:\n' "$DDSN" "$DDSN"
  for t in db1 db2; do for s in $steps; do printf '  - id: %s_%s\n    on: %s\n    sql: |\n' "$t" "$s" "$t"; sed 's/^/      /' "$TMP/$s.sql"; done; done; } > "$TMP/far.yaml"
sed 's/^title: two databases across a network/title: one step after another\nsequential: true/' "$TMP/far.yaml" > "$TMP/far-seq.yaml"
run_o() { "$BIN" exec "$TMP/far.yaml" --output json > /dev/null; }
run_q() { "$BIN" exec "$TMP/far-seq.yaml" --output json > /dev/null; }
run_p() { "$PSQL" -XAtq "$DDSN" -f "$TMP/all.sql" > /dev/null; "$PSQL" -XAtq "$DDSN" -f "$TMP/all.sql" > /dev/null; }
run_o && run_q && run_p || { echo "the delayed runs failed"; exit 1; }
for x in o p q; do : > "$TMP/$x"; done
for _ in $(seq 7); do
	for x in o q p; do
		t=$(date +%s%N); "run_$x"; ms "$t" >> "$TMP/$x"
	done
done
kill "$delay_pid" 2>/dev/null
o=$(median "$TMP/o"); p=$(median "$TMP/p"); q=$(median "$TMP/q")

# the whole diagnosis
run_g() { "$BIN" --runbooks "$ROOT/runbooks" exec db-connections --target primary="$DSN" --output json > /dev/null; }
# OpenSSH reads the passwd entry's home, not $HOME: name the config
SSH="ssh -F $HOME/.ssh/config"
run_h() { run_b; $SSH app-1.internal uptime > /dev/null 2>&1; }
# tuned: the first ssh of the run becomes the master, later ones reuse it
run_i() {
	run_c
	$SSH -o ControlMaster=auto -o ControlPath="$TMP/cm" -o ControlPersist=10 app-1.internal uptime > /dev/null 2>&1
	$SSH -o ControlPath="$TMP/cm" -O exit app-1.internal 2> /dev/null
}
# fan-out
hosts=$(seq -f 'h%02g' 1 20 | paste -sd, -)
printf 'runbook: fan\ntitle: uptime everywhere\ntargets:\n  web: {type: ssh, hosts: [%s], concurrency: 20}\nsteps:\n  - {id: up, ssh: uptime}\n' \
	"$hosts" > "$TMP/fan.yaml"
run_d() { "$BIN" exec "$TMP/fan.yaml" --output json > /dev/null; }
run_e() { for h in $(seq -f 'h%02g' 1 20); do $SSH "$h" uptime > /dev/null 2>&1; done; }
run_f() { for h in $(seq -f 'h%02g' 1 20); do $SSH "$h" uptime > /dev/null 2>&1 & done; wait; }
run_g || { echo "the whole diagnosis failed"; exit 1; }
run_h && run_f || { echo "the ssh baselines failed"; exit 1; }
SSH_ROUNDS=${SSH_ROUNDS:-7}
for x in d e f g h i; do : > "$TMP/$x"; done
for _ in $(seq "$SSH_ROUNDS"); do
	for x in g h i d e f; do
		t=$(date +%s%N); "run_$x"; ms "$t" >> "$TMP/$x"
	done
done
for x in d e f g h i; do eval "$x=\$(median \"\$TMP/\$x\")"; done

# startup: the cost of a process that does nothing, side by side
: > "$TMP/v"; : > "$TMP/pv"
for _ in $(seq 50); do
	t=$(date +%s%N); "$BIN" --version > /dev/null; ms "$t" >> "$TMP/v"
	t=$(date +%s%N); "$PSQL" --version > /dev/null; ms "$t" >> "$TMP/pv"
done
v=$(median "$TMP/v"); pv=$(median "$TMP/pv")
if [ -n "${BENCH_JSON:-}" ]; then
	cat > "$BENCH_JSON" <<JSON
{"sql": {"runbook_us": $a, "psql_per_query_us": $b, "psql_session_us": $c, "runbook_pg_store_us": $r, "runbook_pg_socket_store_us": $u, "runbook_no_store_us": $nost, "rounds": $ROUNDS},
 "diagnosis": {"runbook_us": $g, "bash_us": $h, "tuned_bash_us": $i, "rounds": $SSH_ROUNDS},
 "fanout": {"runbook_us": $d, "sequential_us": $e, "parallel_us": $f},
 "delayed": {"overlapping_us": $o, "sequential_us": $q, "psql_sessions_us": $p, "rtt_ms": 20},
 "startup": {"runbook_version_us": $v, "psql_version_us": $pv}}
JSON
fi
# (a) again with the PostgreSQL store: the share of the run spent waiting for the store
for n in $(seq "$ROUNDS"); do "$BIN" --store "$DSN" exec "$TMP/bench.yaml" --output json > "$TMP/pa-$n.json"; done
# the parts of (a), medians over its rounds, from its own "timings"
part() { for f in "$TMP"/${2:-a}-*.json; do python3 -c 'import json,sys
t = json.load(open(sys.argv[1]))["timings"]
for k in sys.argv[2].split("."): t = t.get(k, 0) if isinstance(t, dict) else 0
print(int(t) * 1000)' "$f" "$1"; done > "$TMP/part"; median "$TMP/part"; }
p_start=$(part startup_ms); p_store=$(part store_ms); p_steps=$(part steps_ms); p_commit=$(part journal.commit_ms)
p_exit=$(part journal.exit_barrier_ms); p_total=$(part total_ms); p_commits=$(part journal.commits)
pg_store=$(part store_ms pa); pg_barrier=$(part journal.barrier_ms pa); pg_total=$(part total_ms pa)
awk -v v="$v" -v pv="$pv" 'BEGIN {
	printf "Startup (median of 50): runbook --version %.2f ms, psql --version %.2f ms: ratio %.2f\n\n", v / 1000, pv / 1000, v / pv
}'
awk -v o="$o" -v p="$p" -v q="$q" -v gs="$pg_store" -v gb="$pg_barrier" -v gt="$pg_total" -v ps="$p_start" -v pst="$p_store" -v psp="$p_steps" -v pc="$p_commit" -v pe="$p_exit" -v pt="$p_total" -v pcs="$p_commits" -v a="$a" -v b="$b" -v c="$c" -v r="$r" -v ns="$nost" -v u="$u" -v n="$ROUNDS" -v g="$g" -v h="$h" -v i="$i" -v d="$d" -v e="$e" -v f="$f" \
	-v m="$SSH_ROUNDS" 'BEGIN {
	printf "PostgreSQL diagnosis, 4 queries, %d rounds (median wall time):\n", n
	printf "  (a) runbook exec                          %8.2f ms\n", a / 1000
	printf "  (b) bash, one psql per query              %8.2f ms\n", b / 1000
	printf "  (c) one psql session                      %8.2f ms\n", c / 1000
	printf "  a/b = %.2f (%.2f / %.2f ms, target <= 0.40)   a/c = %.2f (%.2f / %.2f ms, target <= 1.10)\n", a / b, a / 1000, b / 1000, a / c, a / 1000, c / 1000
	printf "  where (a) goes, medians of its own timings: main() to the run %.0f ms, store and incident %.0f ms\n", ps / 1000, pst / 1000
	printf "  (while the connection starts), steps %.0f ms, journal %.0f commits in the background (%.0f ms),\n", psp / 1000, pcs / 1000, pc / 1000
	printf "  the exit barrier %.0f ms; %.0f ms from main() to the report, the rest is loading the process\n", pe / 1000, pt / 1000
	printf "  with a PostgreSQL store: store and incident %.0f ms (while it connects), barriers %.0f ms, of %.0f ms\n", gs / 1000, gb / 1000, gt / 1000
	printf "  what the store costs a run, against the same run with --no-incident (%.2f ms), side by side:\n", ns / 1000
	printf "  (a) SQLite store %.2f ms: %.0f%%   (r) PostgreSQL store %.2f ms: %.0f%%   (target <= 10%%)\n", a / 1000, 100 * (a - ns) / a, r / 1000, 100 * (r - ns) / r
	printf "  (u) the PostgreSQL store over its socket, no password login %.2f ms: %.0f%% (the rest of (r) is its SCRAM login)\n\n", u / 1000, 100 * (u - ns) / u
	printf "Two databases 20 ms away (a delaying relay), 4 queries each, 7 rounds:\n"
	printf "  (o) runbook exec, steps overlapping        %8.2f ms\n", o / 1000
	printf "  (q) the same runbook, sequential: true     %8.2f ms\n", q / 1000
	printf "  (p) two psql sessions, one after the other %8.2f ms\n", p / 1000
	printf "  o/q = %.2f (%.2f / %.2f ms)   o/p = %.2f (%.2f / %.2f ms)\n\n", o / q, o / 1000, q / 1000, o / p, o / 1000, p / 1000
	printf "Whole db-connections diagnosis (SQL + SSH), %d rounds:\n", m
	printf "  (g) runbook exec db-connections           %8.2f ms\n", g / 1000
	printf "  (h) bash: psql per query, ssh per command %8.2f ms\n", h / 1000
	printf "  (i) tuned bash: one psql, ControlMaster   %8.2f ms\n", i / 1000
	printf "  g/h = %.2f (%.2f / %.2f ms, target <= 0.40)   g/i = %.2f (%.2f / %.2f ms, target <= 0.60)\n\n", g / h, g / 1000, h / 1000, g / i, g / 1000, i / 1000
	printf "Fan-out: uptime on 20 host aliases, %d rounds:\n", m
	printf "  (d) runbook exec                          %8.2f ms\n", d / 1000
	printf "  (e) sequential ssh loop                   %8.2f ms\n", e / 1000
	printf "  (f) ssh & + wait                          %8.2f ms\n", f / 1000
	printf "  d/f = %.2f (%.2f / %.2f ms, target <= 0.90)   d/e = %.2f (%.2f / %.2f ms)\n", d / f, d / 1000, f / 1000, d / e, d / 1000, e / 1000
}'

# The timeline store: durable appends per second to one incident.
echo
echo "Timeline store, durable appends to one incident (fsync on):"
for w in 1 8; do
	printf '  SQLite      '; "$ROOT/tests/bench_store" "sqlite:$TMP/bench-$w.db" "$w" $((400 / w))
	printf '  PostgreSQL  '; "$ROOT/tests/bench_store" "$DSN" "$w" $((400 / w))
done
run_g
inc=$("$BIN" incident list --output json | grep -o '"id": "INC-[0-9]*"' | head -1 | grep -o 'INC-[0-9]*')
events=$("$BIN" timeline "$inc" --output json | grep -c '"kind": ')
awk -v n="$events" -v st="$p_store" -v pe="$p_exit" -v a="$a" 'BEGIN {
	printf "  a run of db-connections records %d events; they are group-committed in the background,\n", n
	printf "  so a run waits for the store only to open the incident (%.0f ms, while it connects) and at\n", st / 1000
	printf "  its exit barrier (%.0f ms): %.0f%% of run (a) on SQLite, measured from its own timings\n\n", pe / 1000, 100 * (pe) / a
}'
# Matching: one alert against a thousand runbooks (the budget: well under 1 ms).
echo
echo "Matching one alert (SPEC: 1,000 runbooks well under a millisecond):"
"$ROOT/tests/bench_match" 1000 2000

# Metrics over 100,000 incidents, computed in the database (SQLite here).
echo
echo "Metrics over 100,000 incidents (SQLite store, computed in the database):"
big="$TMP/metrics-state"
XDG_STATE_HOME="$big" "$BIN" incident list > /dev/null
sqlite3 "$big/runbook/runbook.db" "WITH RECURSIVE n(i) AS (SELECT 1 UNION ALL SELECT i + 1 FROM n WHERE i < 100000)
	INSERT INTO incidents (n, id, title, severity, status, started_at, detected_at, acknowledged_at, resolved_at, component, resolution)
	SELECT i, 'INC-' || i, 'incident ' || i, 'SEV' || (1 + i % 4), 'resolved',
	       strftime('%Y-%m-%dT%H:%M:%S.000000Z', 1763000000 + i * 20, 'unixepoch'),
	       strftime('%Y-%m-%dT%H:%M:%S.000000Z', 1763000000 + i * 20 + 60, 'unixepoch'),
	       strftime('%Y-%m-%dT%H:%M:%S.000000Z', 1763000000 + i * 20 + 200, 'unixepoch'),
	       strftime('%Y-%m-%dT%H:%M:%S.000000Z', 1763000000 + i * 20 + 900, 'unixepoch'),
	       'C' || (i % 7), CASE WHEN i % 10 = 0 THEN 'false-positive' ELSE 'fixed' END FROM n"
: > "$TMP/mt"
for _ in 1 2 3; do
	t=$(date +%s%N); XDG_STATE_HOME="$big" "$BIN" metrics --since 2025-01-01T00:00:00Z --output json > /dev/null; ms "$t" >> "$TMP/mt"
done
awk -v t="$(median "$TMP/mt")" 'BEGIN { printf "  runbook metrics: %.0f ms (median of 3; the budget: well under 1000 ms)\n", t / 1000 }'
