#!/usr/bin/env bash
# PostgreSQL integration tests: `runbook exec` against a real, throwaway
# PostgreSQL server this script starts (and always stops).
# Prints "N passed, N failed".
set -u
BIN=${RUNBOOK_BIN:-$(pwd)/runbook}
ROOT=$(cd "$(dirname "$0")/.." && pwd)
. "$ROOT/tests/lib.sh"
TMP=$(mktemp -d /tmp/runbook-sql-XXXXXX)
export XDG_STATE_HOME="$TMP/state" RUNBOOK_STORE= # incidents go to a store of our own
chmod 755 "$TMP" # the server user must reach its directory
PGDIR="$TMP/pg"
cleanup() { [ -n "${delay_pid:-}" ] && kill "$delay_pid" 2>/dev/null; "$ROOT/tests/pg.sh" stop "$PGDIR"; rm -rf "$TMP"; }
trap cleanup EXIT
"$ROOT/tests/pg.sh" start "$PGDIR" || { echo "0 passed, 1 failed"; exit 1; }
. "$PGDIR/env"
DSN=$RUNBOOK_TEST_DSN
psql_admin() { psql -qAtX "$DSN" "$@"; }
# The value of "key": in step ID of a pretty-printed report (one key per line).

psql_admin <<'SQL'
CREATE TABLE t (id int PRIMARY KEY, name text);
INSERT INTO t VALUES (1, 'one'), (2, 'two');
CREATE FUNCTION hello() RETURNS int LANGUAGE plpgsql AS $$ BEGIN RAISE NOTICE 'hello %', 42; RETURN 1; END $$;
SQL
# Connections the server saw from an application name (log_connections is on).
connections_from() { grep -c "application_name=$1" "$PGDIR/server.log"; }

cat > "$TMP/types.yaml" <<'YAML'
runbook: types
title: typed values, bind parameters, read-only
targets:
  db: {type: postgres, dsn: "${env.RUNBOOK_TEST_DSN}"}
steps:
  - id: typed
    sql: |
      SELECT 42 AS i, 2.5::float8 AS f, 1.25::numeric AS n, 10::numeric AS ni, true AS b,
             NULL::text AS z, 'text' AS s, 9000000000::int8 AS big
  - id: hostile
    sql: SELECT $1::text AS echoed, (SELECT count(*) FROM t)::int AS rows_in_t
    args: ["'; DROP TABLE t; --"]
  - id: delete
    sql: WITH d AS (DELETE FROM t WHERE id = $1 RETURNING id) SELECT count(*) AS n FROM d
    args: [1]
  - id: pid1
    sql: SELECT pg_backend_pid() AS pid
  - id: pid2
    sql: SELECT pg_backend_pid() AS pid
  - id: lua
    lua: |
      local r = sql("db", "SELECT $1::int + 1 AS n, current_setting('transaction_read_only') AS ro", 41)
      if r.rows[1].n ~= 42 then fail("sql() from Lua returned " .. tostring(r.rows[1].n)) end
      return {n = r.rows[1].n, ro = r.rows[1].ro, z = steps.typed.rows[1].z == nil,
              f = steps.typed.rows[1].f, pid_same = steps.pid1.rows[1].pid == steps.pid2.rows[1].pid}
  - id: notices
    sql: SELECT hello()
  - id: many
    sql: SELECT g AS n FROM generate_series(1, 25000) g
YAML
"$BIN" exec "$TMP/types.yaml" --output json > "$TMP/types.json" 2> "$TMP/types.err"
rc=$?
check "a failing step makes exit 1" '[ $rc = 1 ]' "rc=$rc $(cat "$TMP/types.err")"
check "typed step ok" '[ "$(field "$TMP/types.json" typed status)" = "\"ok\"" ]' "$(head -c 2000 "$TMP/types.json")"
check "integers arrive as numbers" 'grep -q "\"i\": 42," "$TMP/types.json" && grep -q "\"big\": 9000000000" "$TMP/types.json"'
check "floats and numerics arrive as numbers" 'grep -q "\"f\": 2.5," "$TMP/types.json" && grep -q "\"n\": 1.25," "$TMP/types.json" && grep -q "\"ni\": 10," "$TMP/types.json"'
check "booleans and NULL arrive typed" 'grep -q "\"b\": true," "$TMP/types.json" && grep -q "\"z\": null," "$TMP/types.json"'
check "columns in order" 'tr -d " \n" < "$TMP/types.json" | grep -q "\"columns\":\[\"i\",\"f\",\"n\",\"ni\",\"b\",\"z\",\"s\",\"big\"\]"'
check "command and row_count" '[ "$(field "$TMP/types.json" typed command)" = "\"SELECT\"" ] && [ "$(field "$TMP/types.json" typed row_count)" = 1 ]'
check "hostile bind value arrives verbatim" "grep -qF '\"echoed\": \"'\\''; DROP TABLE t; --\"' \"\$TMP/types.json\""
check "hostile bind value did not run" '[ "$(psql_admin -c "SELECT count(*) FROM t")" = 2 ]'
check "a DELETE our check cannot see is refused by the server (read-only)" '[ "$(field "$TMP/types.json" delete status)" = "\"failed\"" ] && [ "$(field "$TMP/types.json" delete sqlstate)" = "\"25006\"" ] && grep -q "in a read-only transaction" "$TMP/types.json"'
check "the row is still there" '[ "$(psql_admin -c "SELECT count(*) FROM t WHERE id = 1")" = 1 ]'
check "one connection reused by every step" 'grep -q "\"pid_same\": true" "$TMP/types.json"'
check "sql() from Lua, read-only too" 'grep -q "\"n\": 42" "$TMP/types.json" && grep -q "\"ro\": \"on\"" "$TMP/types.json"'
check "NOTICEs captured" 'grep -q "NOTICE: hello 42" "$TMP/types.json"'
check "rows capped at 10000, cap reported, count exact" '[ "$(field "$TMP/types.json" many rows_truncated)" = 25000 ] && [ "$(field "$TMP/types.json" many row_count)" = 25000 ] && [ "$(grep -c "\"n\": " "$TMP/types.json")" -ge 10000 ]'
check "password never printed" '! grep -q "$RUNBOOK_TEST_PASSWORD" "$TMP/types.json" "$TMP/types.err"'

# A mutating step writes only with --apply.
cat > "$TMP/fix.yaml" <<'YAML'
runbook: fix
title: remediation
targets:
  db: {type: postgres, dsn: "${env.RUNBOOK_TEST_DSN}"}
steps:
  - id: rename
    mutates: true
    sql: UPDATE t SET name = $1 WHERE id = 2
    args: [deux]
YAML
"$BIN" exec "$TMP/fix.yaml" --output json > "$TMP/fix1.json" 2>&1
check "mutating step is would-run without --apply" '[ "$(field "$TMP/fix1.json" rename status)" = "\"would-run\"" ] && [ "$(psql_admin -c "SELECT name FROM t WHERE id = 2")" = two ]'
"$BIN" exec "$TMP/fix.yaml" --apply --output json > "$TMP/fix2.json" 2>&1
"$BIN" exec "$TMP/fix.yaml" --apply > "$TMP/fix2.txt" 2>&1
check "the text report shows a DML's row count" 'grep -q "UPDATE 1 (rows affected)" "$TMP/fix2.txt"' "$(cat "$TMP/fix2.txt")"
check "--apply runs it" '[ "$(field "$TMP/fix2.json" rename status)" = "\"ok\"" ] && [ "$(psql_admin -c "SELECT name FROM t WHERE id = 2")" = deux ] && [ "$(field "$TMP/fix2.json" rename row_count)" = 1 ] && [ "$(field "$TMP/fix2.json" rename command)" = "\"UPDATE\"" ]' "$(cat "$TMP/fix2.json")"

# Two statements are refused before anything runs.
cat > "$TMP/two.yaml" <<'YAML'
runbook: two
title: two statements
targets:
  db: {type: postgres, dsn: x}
steps:
  - id: two
    sql: "SELECT 1; DELETE FROM t"
  - id: fine
    sql: "SELECT ';' AS semi, $$;$$ AS dollar -- ; comment"
YAML
"$BIN" check "$TMP/two.yaml" > "$TMP/two.out" 2>&1; rc=$?
check "two statements refused by check" '[ $rc = 2 ] && grep -q "two.yaml:7:11: sql must be exactly one statement, found 2" "$TMP/two.out" && ! grep -q ":9:" "$TMP/two.out"' "$(cat "$TMP/two.out")"

# Deadline: the query is cancelled on the server and nothing keeps running there.
cat > "$TMP/slow.yaml" <<'YAML'
runbook: slow
title: a slow query
targets:
  db: {type: postgres, dsn: "${env.RUNBOOK_TEST_DSN}"}
steps:
  - id: sleep
    timeout: 1s
    sql: SELECT pg_sleep(600)
  - id: after
    sql: SELECT 1 AS still_works
YAML
start=$(date +%s%N)
"$BIN" exec "$TMP/slow.yaml" --output json > "$TMP/slow.json" 2>&1
took=$(( ($(date +%s%N) - start) / 1000000 ))
check "timed-out query has status timeout" '[ "$(field "$TMP/slow.json" sleep status)" = "\"timeout\"" ]' "$(cat "$TMP/slow.json")"
check "timed-out query ended within its deadline plus grace ($took ms)" '[ $took -lt 5000 ]'
check "no pg_sleep left on the server" '[ "$(psql_admin -c "SELECT count(*) FROM pg_stat_activity WHERE query LIKE '\''SELECT pg_sleep(600)%'\'' AND state = '\''active'\''")" = 0 ]'
check "the connection works after a cancel" '[ "$(field "$TMP/slow.json" after status)" = "\"ok\"" ]'

# Ctrl-C cancels the running query on the server and exits 130.
sed -i 's/timeout: 1s/timeout: 60s/' "$TMP/slow.yaml"
"$BIN" exec "$TMP/slow.yaml" > "$TMP/int.out" 2>&1 &
pid=$!
for _ in $(seq 100); do
	[ "$(psql_admin -c "SELECT count(*) FROM pg_stat_activity WHERE query = 'SELECT pg_sleep(600)' AND state = 'active'")" = 1 ] && break
	sleep 0.05
done
kill -INT $pid; wait $pid; rc=$?
check "Ctrl-C during a query exits 130" '[ $rc = 130 ]' "rc=$rc $(cat "$TMP/int.out")"
sleep 0.2
check "Ctrl-C cancelled the query on the server" '[ "$(psql_admin -c "SELECT count(*) FROM pg_stat_activity WHERE query = '\''SELECT pg_sleep(600)'\'' AND state = '\''active'\''")" = 0 ]'

# Unreachable server and wrong password: clear errors, within the deadline, redacted.
cat > "$TMP/conn.yaml" <<'YAML'
runbook: conn
title: connection errors
params:
  dsn: {required: true}
targets:
  db: {type: postgres, dsn: "${params.dsn}"}
steps:
  - id: q
    timeout: 3s
    sql: SELECT 1
YAML
"$BIN" exec "$TMP/conn.yaml" -p dsn="postgres://runbook@127.0.0.1:1/x" --output json > "$TMP/unreach.json" 2>&1; rc=$?
check "unreachable server: failed with a clear error" '[ $rc = 1 ] && grep -q "cannot connect to target '\''db'\''" "$TMP/unreach.json" && grep -q "Connection refused" "$TMP/unreach.json"' "$(cat "$TMP/unreach.json")"
bad="postgres://runbook:wrong-Passw0rd-xyz@127.0.0.1:$PGTESTPORT/runbook_test"
"$BIN" exec "$TMP/conn.yaml" -p dsn="$bad" --output json > "$TMP/badpw.json" 2>&1
check "wrong password: authentication error" 'grep -q "password authentication failed" "$TMP/badpw.json"' "$(cat "$TMP/badpw.json")"
check "wrong password: the password is redacted everywhere" '! grep -q "wrong-Passw0rd-xyz" "$TMP/badpw.json"' "$(grep -n Passw0rd "$TMP/badpw.json")"
"$BIN" exec "$TMP/conn.yaml" -p dsn=x --target db="$DSN" --output json > "$TMP/override.json" 2>&1
check "--target overrides the DSN" '[ "$(field "$TMP/override.json" q status)" = "\"ok\"" ]' "$(cat "$TMP/override.json")"

# No connection is opened when no step needs it: counted on the server.
cat > "$TMP/lazy.yaml" <<'YAML'
runbook: lazy
title: nothing to do
targets:
  db: {type: postgres, dsn: "${env.LAZY_DSN}"}
steps:
  - id: q
    when: "false"
    sql: SELECT 1
  - id: l
    lua: return 1
YAML
LAZY_DSN="$DSN?application_name=lazy-probe" "$BIN" exec "$TMP/lazy.yaml" > "$TMP/lazy.out" 2>&1; rc=$?
sed -i 's/when: "false"/when: "true"/' "$TMP/lazy.yaml"
LAZY_DSN="$DSN?application_name=lazy-control" "$BIN" exec "$TMP/lazy.yaml" > /dev/null 2>&1
check "no connection when no step needs it (the server saw none; the control run one)" '[ $rc = 0 ] && [ "$(connections_from lazy-probe)" = 0 ] && [ "$(connections_from lazy-control)" = 1 ]' "rc=$rc $(cat "$TMP/lazy.out")"

# --record then --dry-run --fixtures gives the same results, and connects to nothing.
"$BIN" exec "$TMP/types.yaml" --record "$TMP/rec.json" > /dev/null 2>&1
RUNBOOK_TEST_DSN="$DSN?application_name=replay-probe" "$BIN" exec "$TMP/types.yaml" --dry-run --fixtures "$TMP/rec.json" --output json > "$TMP/replay.json" 2>&1
check "record/replay: rows come back" 'grep -q "\"i\": 42," "$TMP/replay.json" && [ "$(field "$TMP/replay.json" delete sqlstate)" = "\"25006\"" ] && [ "$(field "$TMP/replay.json" typed status)" = "\"ok\"" ]' "$(head -c 1500 "$TMP/replay.json")"
check "record/replay: the replay opened no connection (counted on the server)" '[ "$(connections_from replay-probe)" = 0 ]'

# The shipped runbook against a real server.
RUNBOOK_PATH="$ROOT/runbooks" "$BIN" exec db-connections --target primary="$DSN" --output json > "$TMP/dbc.json" 2> "$TMP/dbc.err"
check "db-connections: SQL steps ok on a real server" '[ "$(field "$TMP/dbc.json" connections status)" = "\"ok\"" ] && [ "$(field "$TMP/dbc.json" long_running status)" = "\"ok\"" ] && [ "$(field "$TMP/dbc.json" assess status)" = "\"ok\"" ]' "$(head -c 3000 "$TMP/dbc.json") $(cat "$TMP/dbc.err")"
check "db-connections: assessment produced a finding" 'grep -q "usable slots; max_connections 100, 3 reserved for superusers" "$TMP/dbc.json"' "$(grep -n message "$TMP/dbc.json")"

# The specification's example runbook, verbatim, against the real server.
"$BIN" exec "$ROOT/tests/fixtures/spec-example.yaml" --target primary="$DSN" --output json > "$TMP/spec.json" 2>&1
check "spec example: its SQL steps and the assessment run" '[ "$(field "$TMP/spec.json" connections status)" = "\"ok\"" ] && [ "$(field "$TMP/spec.json" max_connections status)" = "\"ok\"" ] && [ "$(field "$TMP/spec.json" long_running status)" = "\"ok\"" ] && [ "$(field "$TMP/spec.json" assess status)" = "\"ok\"" ] && grep -q "\"ratio\": " "$TMP/spec.json"' "$(head -c 3000 "$TMP/spec.json")"

# Nothing writes unless its step runs: a would-run step's `when` and
# `args`, and Lua sql() outside a running mutating step, are read-only.
cat > "$TMP/sneaky.yaml" <<'YAML'
runbook: sneaky
title: would-run steps evaluate read-only
targets:
  db: {type: postgres, dsn: "${env.RUNBOOK_TEST_DSN}"}
steps:
  - id: by_when
    mutates: true
    when: "sql('db', 'WITH d AS (DELETE FROM t WHERE id = 1 RETURNING id) SELECT count(*) AS n FROM d').rows[1].n >= 0"
    sql: SELECT 1
  - id: by_args
    mutates: true
    sql: SELECT $1::text
    args:
      - ${sql("db", "WITH d AS (UPDATE t SET name = 'pwned' WHERE id = 1 RETURNING id) SELECT count(*) AS n FROM d").rows[1].n}
  - id: by_lua
    lua: |
      local ok, err = pcall(sql, "db", "SELECT /* hidden */ pg_catalog.pg_cancel_backend (pg_backend_pid())")
      return {ok = ok, err = tostring(err)}
YAML
for mode in "" --apply; do
	"$BIN" exec "$TMP/sneaky.yaml" $mode --output json > "$TMP/sneaky.json" 2>&1
	check "would-run ${mode:-(no --apply)}: when and args ran read-only, row 1 untouched" '[ "$(psql_admin -c "SELECT name FROM t WHERE id = 1")" = one ] && grep -q "read-only transaction" "$TMP/sneaky.json"' "$(cat "$TMP/sneaky.json")"
done
check "Lua sql() of a side-effect function is refused at run time" 'grep -q "\"ok\": false" "$TMP/sneaky.json" && grep -q "pg_cancel_backend() has side effects even in a read-only transaction: mark the step mutates: true" "$TMP/sneaky.json"' "$(cat "$TMP/sneaky.json")"
cat > "$TMP/writer.yaml" <<'YAML'
runbook: writer
title: a mutating Lua step writes when it runs
targets:
  db: {type: postgres, dsn: "${env.RUNBOOK_TEST_DSN}"}
steps:
  - id: writer
    mutates: true
    lua: return sql("db", "UPDATE t SET name = 'written' WHERE id = 2").row_count
YAML
"$BIN" exec "$TMP/writer.yaml" > /dev/null 2>&1
w1=$(psql_admin -c "SELECT name FROM t WHERE id = 2")
"$BIN" exec "$TMP/writer.yaml" --apply > /dev/null 2>&1
w2=$(psql_admin -c "SELECT name FROM t WHERE id = 2")
check "a mutating Lua step's sql() writes only when the step runs (--apply)" '[ "$w1" != written ] && [ "$w2" = written ]' "before: $w1, after --apply: $w2"

# The prompt does not eat the deadline, and the answer is on the record.
cat > "$TMP/prompt.yaml" <<'YAML'
runbook: prompt
title: a slow answer at the prompt
targets:
  db: {type: postgres, dsn: "${env.RUNBOOK_TEST_DSN}"}
steps:
  - id: rename
    mutates: true
    timeout: 1s
    sql: UPDATE t SET name = $1 WHERE id = 2
    args: ["late-${env.RUNBOOK_TEST_PASSWORD}"]
YAML
(sleep 2; printf 'y\n') | NO_COLOR=1 XDG_STATE_HOME="$TMP/prompt-state" script -qec "$BIN exec $TMP/prompt.yaml" /dev/null > "$TMP/prompt.out" 2>&1
check "a yes typed after the step's timeout runs it, within its own deadline" 'grep -q "ok  *rename" "$TMP/prompt.out" && psql_admin -c "SELECT name FROM t WHERE id = 2" | grep -q "^late-"' "$(cat "$TMP/prompt.out")"
check "the prompt shows the statement with the secret redacted" 'grep -q "late-\*\*\*" "$TMP/prompt.out" && ! grep -q "$RUNBOOK_TEST_PASSWORD" "$TMP/prompt.out"' "$(cat "$TMP/prompt.out")"
XDG_STATE_HOME="$TMP/prompt-state" "$BIN" timeline INC-1 --output json > "$TMP/prompt-tl.json"
check "the answer is an approval event (user, answer, time), before the step" 'grep -q "\"kind\": \"approval\"" "$TMP/prompt-tl.json" && grep -q "\"answer\": \"yes\"" "$TMP/prompt-tl.json" && grep -q "\"via\": \"prompt\"" "$TMP/prompt-tl.json" && [ "$(grep -n "\"kind\": \"approval\"" "$TMP/prompt-tl.json" | cut -d: -f1)" -lt "$(grep -n "\"kind\": \"step\"" "$TMP/prompt-tl.json" | cut -d: -f1)" ]' "$(head -c 3000 "$TMP/prompt-tl.json")"

# Server text cannot drive the terminal.
cat > "$TMP/evil.yaml" <<'YAML'
runbook: evil
title: control characters from the server
targets:
  db: {type: postgres, dsn: "${env.RUNBOOK_TEST_DSN}"}
steps:
  - id: evil
    sql: SELECT E'\x1b]0;pwned\x07\x1b[2J\rafter' AS evil, 0.1 + 0.2 AS f, 0.3::float8 AS g
YAML
XDG_STATE_HOME="$TMP/evil-state" "$BIN" exec "$TMP/evil.yaml" > "$TMP/evil.out" 2>&1
XDG_STATE_HOME="$TMP/evil-state" "$BIN" exec "$TMP/evil.yaml" --output json > "$TMP/evil.json" 2>&1
XDG_STATE_HOME="$TMP/evil-state" "$BIN" timeline INC-1 > "$TMP/evil-tl.out" 2>&1
check "text output shows control characters escaped, none raw" 'grep -qF "\\x1b]0;pwned\\x07\\x1b[2J\\x0dafter" "$TMP/evil.out" && ! grep -q "$(printf "\033")" "$TMP/evil.out" "$TMP/evil-tl.out" && ! grep -q "$(printf "\r")" "$TMP/evil.out"' "$(cat -v "$TMP/evil.out")"
check "JSON output stays exact" 'grep -qF "\\u001b]0;pwned\\u0007\\u001b[2J\\rafter" "$TMP/evil.json"' "$(cat "$TMP/evil.json")"
check "floats print in their shortest form" 'grep -q "\"g\": 0.3,\?$" "$TMP/evil.json" && grep -q "0.3 " "$TMP/evil.out"' "$(grep -n '"[fg]"' "$TMP/evil.json")"

# Text from a LATIN1 database arrives as UTF-8; numerics past a double's
# precision arrive exact, as text.
as_admin() { psql -qAtX "postgres://postgres:pg-admin-pw@127.0.0.1:$PGTESTPORT/postgres" "$@"; }
as_admin -c "CREATE DATABASE latin ENCODING 'LATIN1' LC_COLLATE 'C' LC_CTYPE 'C' TEMPLATE template0 OWNER runbook" > /dev/null
cat > "$TMP/enc.yaml" <<'YAML'
runbook: enc
title: encodings and precision
targets:
  db: {type: postgres, dsn: "${env.ENC_DSN}"}
steps:
  - id: q
    sql: SELECT 'café ' || chr(233) AS s, 12345678901234567890.123456789::numeric AS big, 2.5::numeric AS small
YAML
ENC_DSN="postgres://runbook:$RUNBOOK_TEST_PASSWORD@127.0.0.1:$PGTESTPORT/latin" "$BIN" exec "$TMP/enc.yaml" --output json > "$TMP/enc.json" 2>&1
check "a LATIN1 database's text arrives readable (client_encoding UTF8)" 'grep -q "\"s\": \"café é\"" "$TMP/enc.json"' "$(grep -n '"s"\|error' "$TMP/enc.json")"
check "numeric beyond double precision arrives exact, as a string; small ones as numbers" 'grep -q "\"big\": \"12345678901234567890.123456789\"" "$TMP/enc.json" && grep -q "\"small\": 2.5" "$TMP/enc.json"' "$(grep -n '"big"\|"small"' "$TMP/enc.json")"

# The library's other PostgreSQL runbooks run on a real server.
lockers=()
{ echo "BEGIN; UPDATE t SET name = 'held' WHERE id = 2;"; sleep 30; } | psql -qX "$DSN" > /dev/null 2>&1 &
lockers+=($!)
sleep 0.5
holder=$(psql_admin -c "SELECT pid FROM pg_stat_activity WHERE state = 'idle in transaction' AND query LIKE 'UPDATE t SET name = ''held''%'")
for w in 1 2; do psql -qX "$DSN" -c "UPDATE t SET name = 'waiter $w' WHERE id = 2" > /dev/null 2>&1 & lockers+=($!); done
for _ in $(seq 50); do [ "$(psql_admin -c "SELECT count(*) FROM pg_stat_activity WHERE cardinality(pg_blocking_pids(pid)) > 0")" = 2 ] && break; sleep 0.1; done
RUNBOOK_PATH="$ROOT/runbooks" "$BIN" exec lock-contention --target primary="$DSN" -p min_blocked=2 -p long_after=0 --output json > "$TMP/locks.json" 2>&1
check "lock-contention on a real server: the two waiters and their root" '[ "$(field "$TMP/locks.json" blocked row_count)" = 2 ] && grep -q "pid $holder (runbook, idle in transaction" "$TMP/locks.json" && grep -q "blocks 2 sessions" "$TMP/locks.json" && [ "$(field "$TMP/locks.json" terminate_root status)" = "\"would-run\"" ]' "holder=$holder $(grep -n 'message\|error' "$TMP/locks.json")"
RUNBOOK_PATH="$ROOT/runbooks" "$BIN" exec lock-contention --target primary="$DSN" -p min_blocked=2 -p long_after=0 --apply --output json > "$TMP/locks2.json" 2>&1
for _ in $(seq 50); do [ "$(psql_admin -c "SELECT count(*) FROM pg_stat_activity WHERE cardinality(pg_blocking_pids(pid)) > 0")" = 0 ] && break; sleep 0.1; done
check "lock-contention --apply: the root is terminated, the waiters go on" '[ "$(field "$TMP/locks2.json" terminate_root row_count)" = 1 ] && [ "$(psql_admin -c "SELECT count(*) FROM pg_stat_activity WHERE pid = $holder")" = 0 ] && [ "$(psql_admin -c "SELECT count(*) FROM pg_stat_activity WHERE cardinality(pg_blocking_pids(pid)) > 0")" = 0 ]' "$(grep -A12 '"id": "terminate_root"' "$TMP/locks2.json")"
kill "${lockers[@]}" 2>/dev/null
RUNBOOK_PATH="$ROOT/runbooks" "$BIN" exec replication-lag --target primary="$DSN" --output json > "$TMP/repl.json" 2>&1
check "replication-lag on a real primary without standbys: its queries run, and it says so" '[ "$(field "$TMP/repl.json" standbys status)" = "\"ok\"" ] && [ "$(field "$TMP/repl.json" slots status)" = "\"ok\"" ] && grep -q "0 of 1 expected standbys are connected" "$TMP/repl.json"' "$(grep -n 'status\|message\|error' "$TMP/repl.json")"
RUNBOOK_PATH="$ROOT/runbooks" "$BIN" exec api-latency --target db="$DSN" -p base_url=http://127.0.0.1:1 --output json > "$TMP/api.json" 2>&1
check "api-latency on a real server: the API down is critical, a missing pg_stat_statements is said" 'grep -q "does not answer well" "$TMP/api.json" && grep -q "pg_stat_statements is not installed" "$TMP/api.json" && [ "$(field "$TMP/api.json" waits status)" = "\"ok\"" ]' "$(grep -n 'status\|message\|error' "$TMP/api.json")"

# The timeline on the PostgreSQL store: the same commands as on SQLite.
export RUNBOOK_STORE="$DSN"
"$BIN" exec "$TMP/types.yaml" > /dev/null 2>&1
check "pg store: exec opened INC-1 and recorded its steps" '"$BIN" timeline INC-1 | grep -q "step typed: ok" && "$BIN" timeline INC-1 --verify > /dev/null' "$("$BIN" timeline INC-1 2>&1 | head -5)"
check "pg store: the password is not in the timeline" '! "$BIN" timeline INC-1 --output json | grep -q "$RUNBOOK_TEST_PASSWORD"'
id=$("$BIN" incident open --title "pg store lifecycle" --severity SEV1)
"$BIN" incident ack "$id" > /dev/null; a1=$?
"$BIN" incident ack "$id" > /dev/null 2>&1; a2=$?
"$BIN" incident resolve "$id" --resolution fixed > /dev/null; r1=$?
check "pg store: lifecycle and refused transitions" '[ "$id" = INC-2 ] && [ $a1 = 0 ] && [ $a2 = 2 ] && [ $r1 = 0 ] && "$BIN" incident show "$id" | grep -q "status *resolved"'
# many writers at once: 8 processes x 25 notes on one incident
for w in $(seq 8); do
	( for i in $(seq 25); do "$BIN" incident note "$id" "writer $w note $i" > /dev/null || echo fail >> "$TMP/writers"; done ) &
done
wait
n=$("$BIN" timeline "$id" --output json | grep -c '"kind": "note"')
check "pg store: 8 concurrent writers lose and duplicate nothing ($n of 200 notes)" '[ "$n" = 200 ] && [ ! -e "$TMP/writers" ] && "$BIN" timeline "$id" --verify > /dev/null'
psql_admin -c "ALTER TABLE runbook_events DISABLE TRIGGER runbook_events_append_only" \
	-c "UPDATE runbook_events SET summary = 'nothing to see' WHERE incident = 'INC-1' AND seq = 3" > /dev/null
"$BIN" timeline INC-1 --verify > "$TMP/verify.out" 2>&1; rc=$?
check "pg store: an edited event is detected and named" '[ $rc = 1 ] && grep -q "event 3 (step" "$TMP/verify.out"' "$(cat "$TMP/verify.out")"
unset RUNBOOK_STORE

# The store is the record, not a dependency: with the PostgreSQL store
# down, exec still diagnoses into the local fallback store; sync moves it.
as_pg() { if [ "$(id -u)" = 0 ]; then runuser -u postgres -- "$@"; else "$@"; fi; }
cat > "$TMP/down.yaml" <<'YAML'
runbook: down
title: diagnosis while the store is down
steps:
  - {id: look, shell: "echo still diagnosing"}
YAML
before=$(RUNBOOK_STORE="$DSN" "$BIN" incident list --output json | grep -c '"id": "INC-')
as_pg "$PGBIN/pg_ctl" -D "$PGDIR/data" -m fast -w stop > /dev/null
RUNBOOK_STORE="$DSN" "$BIN" exec "$TMP/down.yaml" --output json > "$TMP/down.json" 2> "$TMP/down.err"; rc=$?
check "store down: exec still runs and says it fell back" '[ $rc = 0 ] && grep -q "still diagnosing" "$TMP/down.json" && grep -q "\"fallback\": true" "$TMP/down.json" && grep -q "recording into the local fallback store" "$TMP/down.err"' "rc=$rc $(cat "$TMP/down.err") $(head -c 600 "$TMP/down.json")"
check "store down: the password of the store is not in the messages" '! grep -q "$RUNBOOK_TEST_PASSWORD" "$TMP/down.json" "$TMP/down.err"'
RUNBOOK_STORE="$DSN" "$BIN" store sync > "$TMP/sync0.out" 2>&1; rc=$?
check "store sync while the store is still down: exit 1, nothing lost" '[ $rc = 1 ] && grep -q "cannot be reached yet" "$TMP/sync0.out"' "rc=$rc $(cat "$TMP/sync0.out")"
as_pg "$PGBIN/pg_ctl" -D "$PGDIR/data" -l "$PGDIR/server.log" -w start > /dev/null
RUNBOOK_STORE="$DSN" "$BIN" store sync > "$TMP/sync1.out" 2>&1; rc1=$?
new=$(grep -o -- "-> INC-[0-9]*" "$TMP/sync1.out" | cut -c4-)
RUNBOOK_STORE="$DSN" "$BIN" store sync > "$TMP/sync2.out" 2>&1; rc2=$?
after=$(RUNBOOK_STORE="$DSN" "$BIN" incident list --output json | grep -c '"id": "INC-')
check "store sync copies the fallback incident, its chain verified" '[ $rc1 = 0 ] && [ -n "$new" ] && RUNBOOK_STORE="$DSN" "$BIN" timeline "$new" | grep -q "step look: ok" && RUNBOOK_STORE="$DSN" "$BIN" timeline "$new" --verify > /dev/null' "rc=$rc1 $(cat "$TMP/sync1.out")"
check "store sync again copies nothing twice" '[ $rc2 = 0 ] && grep -q "nothing to sync" "$TMP/sync2.out" && [ "$after" = $((before + 1)) ]' "before=$before after=$after $(cat "$TMP/sync2.out")"
# a crash between the copy and its mark: the copy is found by its origin
sqlite3 "$XDG_STATE_HOME/runbook/fallback.db" "DROP TRIGGER events_append_only_delete; DELETE FROM events WHERE kind = 'store.synced'"
RUNBOOK_STORE="$DSN" "$BIN" store sync > "$TMP/sync3.out" 2>&1; rc3=$?
after3=$(RUNBOOK_STORE="$DSN" "$BIN" incident list --output json | grep -c '"id": "INC-')
check "a copy whose mark was lost is not copied again" '[ $rc3 = 0 ] && [ "$after3" = "$after" ] && grep -q -- "-> $new" "$TMP/sync3.out"' "after=$after after3=$after3 $(cat "$TMP/sync3.out")"

# The store's Check suite, the one SQLite passes, on this PostgreSQL.
(cd "$ROOT/tests" && RUNBOOK_TEST_PG_DSN="$DSN" CK_RUN_SUITE=store-pg ./check_runbook) > "$TMP/store-pg.out" 2>&1
check "pg store: the store suite passes on PostgreSQL" 'grep -Eq "100%: Checks: ([5-9]|[1-9][0-9]), Failures: 0, Errors: 0" "$TMP/store-pg.out"' "$(cat "$TMP/store-pg.out")"

# Steps overlap where that cannot change a result (SPEC section 4): two
# read-only steps on two targets run at once; a step that refers to one
# above it, a barrier step between, or `sequential: true` waits.
cat > "$TMP/overlap.yaml" <<'YAML'
runbook: overlap
title: two targets at once
targets:
  a: {type: postgres, dsn: "${env.RUNBOOK_TEST_DSN}?application_name=ov_a"}
  b: {type: postgres, dsn: "${env.RUNBOOK_TEST_DSN}?application_name=ov_b"}
steps:
  - {id: slow_a, on: a, sql: "SELECT pg_sleep(1) IS NOT NULL AS slept, clock_timestamp() AS done_at"}
  - {id: slow_b, on: b, sql: "SELECT pg_sleep(1) IS NOT NULL AS slept, clock_timestamp() AS done_at"}
  - {id: quick_a, on: a, sql: "SELECT clock_timestamp() AS done_at"}
YAML
t_ov=$(exec_ms "$TMP/overlap.yaml" "$TMP/ov.json")
order=$(grep -o '"id": "[a-z_]*"' "$TMP/ov.json" | tr -d '\n')
check "two 1 s queries on two targets overlap: $t_ov ms for 2 s of queries, report in runbook order" \
	'[ "$t_ov" -lt 1800 ] && [ "$(grep -c "\"status\": \"ok\"" "$TMP/ov.json")" -ge 3 ] && [ "$order" = "\"id\": \"slow_a\"\"id\": \"slow_b\"\"id\": \"quick_a\"" ]' \
	"$order $(head -c 1500 "$TMP/ov.json")"
qa=$(grep -A30 '"id": "quick_a"' "$TMP/ov.json" | grep -m1 -o '"done_at": "[^"]*"')
sa=$(grep -A30 '"id": "slow_a"' "$TMP/ov.json" | grep -m1 -o '"done_at": "[^"]*"')
check "steps on one target keep their order on its one connection" '[ -n "$qa" ] && [[ "$sa" < "$qa" ]]' "slow_a $sa quick_a $qa"
"$BIN" timeline "$(grep -m1 -o '"incident": "INC-[0-9]*"' "$TMP/ov.json" | grep -o 'INC-[0-9]*')" --output json > "$TMP/ov-tl.json" 2>&1
tlorder=$(grep -o '"summary": "step [a-z_]*' "$TMP/ov-tl.json" | sed 's/.*step //' | tr '\n' ' ')
check "the timeline keeps the runbook's order" '[ "$tlorder" = "slow_a slow_b quick_a " ]' "$tlorder"
sed 's/^title: two targets at once/title: never overlapping\nsequential: true/' "$TMP/overlap.yaml" > "$TMP/seq.yaml"
t_seq=$(exec_ms "$TMP/seq.yaml" "$TMP/seq.json")
check "sequential: true does not overlap ($t_seq ms)" '[ "$t_seq" -ge 2000 ]' "$(head -c 600 "$TMP/seq.json")"
sed 's/  - {id: slow_b, on: b, sql: "SELECT pg_sleep(1)/  - {id: slow_b, on: b, args: ["${steps.slow_a.row_count}"], sql: "SELECT $1::int AS n, pg_sleep(1)/' "$TMP/overlap.yaml" > "$TMP/refers.yaml"
t_ref=$(exec_ms "$TMP/refers.yaml" "$TMP/refers.json")
check "a step that refers to one above it waits for it ($t_ref ms)" '[ "$t_ref" -ge 2000 ] && grep -q "\"n\": 1" "$TMP/refers.json"' "$(head -c 900 "$TMP/refers.json")"
awk '{print} /id: slow_a/ {print "  - {id: between, lua: \"return 1\"}"}' "$TMP/overlap.yaml" > "$TMP/barrier.yaml"
t_bar=$(exec_ms "$TMP/barrier.yaml" "$TMP/barrier.json")
check "a lua step between is a barrier ($t_bar ms)" '[ "$t_bar" -ge 2000 ]' "$(head -c 600 "$TMP/barrier.json")"

# Read-only SQL steps on one connection are pipelined: one round trip for
# all of them, and still one transaction each - a failure or a timeout in
# one leaves the others' results alone, and notices stay with their step.
cat > "$TMP/pipe.yaml" <<'YAML'
runbook: pipe
title: pipelined steps
targets:
  db: {type: postgres, dsn: "${env.RUNBOOK_TEST_DSN}"}
steps:
  - {id: p1, sql: "SELECT 1 AS one"}
  - {id: p2, sql: "SELECT 1/0 AS boom"}
  - {id: p3, sql: "SELECT hello() AS h, current_setting('transaction_read_only') AS ro"}
  - {id: p4, sql: "SELECT pg_sleep(3)", timeout: 1s}
  - {id: p5, sql: "SELECT 5 AS five, current_setting('transaction_read_only') AS ro"}
  - {id: p6, sql: "SELECT 1/0 AS again", retries: 1, retry_delay: 0s}
  - {id: p7, sql: "SELECT 7 AS seven"}
YAML
"$BIN" exec "$TMP/pipe.yaml" --output json > "$TMP/pipe.json" 2>&1
check "pipelined: a failed step fails alone, the next runs in its own read-only transaction" \
	'[ "$(field "$TMP/pipe.json" p2 status)" = "\"failed\"" ] && [ "$(field "$TMP/pipe.json" p2 sqlstate)" = "\"22012\"" ] && [ "$(field "$TMP/pipe.json" p3 status)" = "\"ok\"" ] && grep -q "\"ro\": \"on\"" "$TMP/pipe.json"' \
	"$(grep -E '"(id|status|error|sqlstate)"' "$TMP/pipe.json" | head -20)"
check "pipelined: a timed-out step is cancelled alone, the one after it runs" \
	'[ "$(field "$TMP/pipe.json" p4 status)" = "\"timeout\"" ] && [ "$(field "$TMP/pipe.json" p5 status)" = "\"ok\"" ] && grep -q "\"five\": 5" "$TMP/pipe.json"' \
	"$(grep -E '"(id|status|error)"' "$TMP/pipe.json" | head -20)"
check "pipelined: a step with retries retries on its own, the step after it keeps its own result" \
	'[ "$(field "$TMP/pipe.json" p6 status)" = "\"failed\"" ] && [ "$(field "$TMP/pipe.json" p6 attempts)" = 2 ] && [ "$(field "$TMP/pipe.json" p6 sqlstate)" = "\"22012\"" ] && grep -q "\"seven\": 7" "$TMP/pipe.json" && [ "$(field "$TMP/pipe.json" p7 status)" = "\"ok\"" ]' \
	"$(grep -E '"(id|status|error|attempts|seven)"' "$TMP/pipe.json" | tail -12)"
check "pipelined: the notice is its own step's, and our ROLLBACKs between steps say nothing" \
	'[ "$(grep -c "hello 42" "$TMP/pipe.json")" = 1 ] && grep -A40 "\"id\": \"p3\"" "$TMP/pipe.json" | grep -q "hello 42" && ! grep -q "no transaction in progress" "$TMP/pipe.json"' \
	"$(grep -n -E '"(id|notices)"|hello|transaction' "$TMP/pipe.json" | head -20)"
# one round trip: behind a relay that adds 100 ms a round trip, six steps on
# one connection cost about one round trip pipelined, six with sequential: true
dport=$(free_port)
delay_relay "$dport" "$PGTESTPORT" 50
{ printf 'runbook: far\ntitle: six steps across a slow network\ntargets:\n  db: {type: postgres, dsn: "%s"}\nsteps:\n' "$(printf '%s' "$DSN" | sed "s/:$PGTESTPORT\//:$dport\//")"
  for i in 1 2 3 4 5 6; do printf '  - {id: q%d, sql: "SELECT %d AS n"}\n' "$i" "$i"; done; } > "$TMP/far.yaml"
sed 's/^title: six steps across a slow network/title: one after another\nsequential: true/' "$TMP/far.yaml" > "$TMP/far-seq.yaml"
t_far=$(exec_ms "$TMP/far.yaml" "$TMP/far.json")
t_farseq=$(exec_ms "$TMP/far-seq.yaml" "$TMP/far-seq.json")
kill "$delay_pid" 2>/dev/null
check "pipelined across a 100 ms round trip: six steps $t_far ms, one after another $t_farseq ms" \
	'[ $((t_farseq - t_far)) -ge 350 ] && [ "$(grep -c "\"status\": \"ok\"" "$TMP/far.json")" -ge 6 ]' \
	"$(grep -E '"(status|error)"' "$TMP/far.json" | head -8)"

echo "$pass passed, $fail failed"
[ "$fail" = 0 ]
