#!/usr/bin/env bash
# `make bench`: runbook exec against the same throwaway PostgreSQL as the
# shell baselines, side by side in one run, interleaved round by round.
#   (a) runbook exec of the db-connections diagnosis's four SQL steps
#   (b) the same four queries as a bash script, one psql per query
#   (c) the same four queries in one psql session
# Prints medians and the ratios a/b and a/c (targets: <= 0.4 and <= 1.1).
set -u
ROOT=$(cd "$(dirname "$0")/.." && pwd)
BIN=${RUNBOOK_BIN:-$ROOT/runbook}
ROUNDS=${ROUNDS:-25}
TMP=$(mktemp -d /tmp/runbook-bench-XXXXXX)
chmod 755 "$TMP"
trap '"$ROOT/tests/pg.sh" stop "$TMP/pg"; rm -rf "$TMP"' EXIT
"$ROOT/tests/pg.sh" start "$TMP/pg" || exit 1
. "$TMP/pg/env"
DSN=$RUNBOOK_TEST_DSN

# The four diagnosis queries, taken from the shipped runbook so the bench
# measures exactly what it runs.
"$BIN" show "$ROOT/runbooks/db-connections.yaml" --output json > "$TMP/show.json"
step_sql() { # step id -> its SQL text (from the JSON of `runbook show`)
	awk -v id="\"id\": \"$1\"" '
		index($0, id) { on = 1; next }
		on && /"sql": / { sub(/^[^:]*: "/, ""); sub(/",?$/, ""); gsub(/\\n/, "\n"); gsub(/\\"/, "\""); print; exit }' "$TMP/show.json"
}
steps="connections max_connections by_client long_running"
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

run_a() { "$BIN" exec "$TMP/bench.yaml" --output json > /dev/null; }
run_b() { for s in $steps; do psql -XAtq "$DSN" -f "$TMP/$s.sql" > /dev/null; done; }
run_c() { psql -XAtq "$DSN" -f "$TMP/all.sql" > /dev/null; }
ms() { echo $(( ($(date +%s%N) - $1) / 1000 )); } # microseconds since $1

: > "$TMP/a"; : > "$TMP/b"; : > "$TMP/c"
run_a; run_b; run_c # warm up
for _ in $(seq "$ROUNDS"); do
	for x in a b c; do
		t=$(date +%s%N); "run_$x"; ms "$t" >> "$TMP/$x"
	done
done
median() { sort -n "$1" | awk '{ v[NR] = $1 } END { print (NR % 2) ? v[(NR + 1) / 2] : (v[NR / 2] + v[NR / 2 + 1]) / 2 }'; }
a=$(median "$TMP/a"); b=$(median "$TMP/b"); c=$(median "$TMP/c")
awk -v a="$a" -v b="$b" -v c="$c" -v n="$ROUNDS" 'BEGIN {
	printf "PostgreSQL diagnosis, 4 queries, %d rounds (median wall time):\n", n
	printf "  (a) runbook exec                 %8.2f ms\n", a / 1000
	printf "  (b) bash, one psql per query     %8.2f ms\n", b / 1000
	printf "  (c) one psql session             %8.2f ms\n", c / 1000
	printf "  a/b = %.2f (target <= 0.40)   a/c = %.2f (target <= 1.10)\n", a / b, a / c
}'
