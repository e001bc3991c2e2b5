#!/usr/bin/env bash
# A throwaway PostgreSQL cluster for tests, the demo and benchmarks.
#   tests/pg.sh start DIR [MAX_CONNECTIONS]   initdb + start on a free loopback port;
#                                             writes DIR/env (PGPORT, RUNBOOK_TEST_DSN, ...)
#   tests/pg.sh stop DIR                      stops it and removes DIR
# As root the server runs as the 'postgres' user (initdb refuses root).
set -euo pipefail
cmd=${1:?usage: pg.sh start|stop DIR}
dir=${2:?usage: pg.sh start|stop DIR}

bindir=$(ls -d /usr/lib/postgresql/*/bin 2>/dev/null | sort -V | tail -n 1)
[ -x "$bindir/initdb" ] || { echo "pg.sh: no PostgreSQL server found (make deps installs it)" >&2; exit 1; }

as_pg() {
	if [ "$(id -u)" = 0 ]; then runuser -u postgres -- "$@"; else "$@"; fi
}

. "$(dirname "$0")/lib.sh"

case "$cmd" in
start)
	max=${3:-100}
	mkdir -p "$dir"
	if [ "$(id -u)" = 0 ]; then
		chown postgres: "$dir"
		runuser -u postgres -- test -w "$dir" ||
			{ echo "pg.sh: user postgres cannot reach $dir (make its parents world-searchable)" >&2; exit 1; }
	fi
	port=$(free_port)
	as_pg bash -c "echo pg-admin-pw > '$dir/pw'"
	as_pg "$bindir/initdb" -D "$dir/data" -U postgres --auth-local=trust --auth-host=scram-sha-256 \
		--pwfile="$dir/pw" -E UTF8 --locale=C.UTF-8 --no-sync > "$dir/initdb.log" 2>&1 ||
		{ cat "$dir/initdb.log" >&2; exit 1; }
	cat >> "$dir/data/postgresql.conf" <<CONF
listen_addresses = '127.0.0.1'
port = $port
unix_socket_directories = '$dir'
max_connections = $max
log_min_messages = warning
log_connections = on
CONF
	if [ -z "${PG_DURABLE:-}" ]; then # tests want speed; PG_DURABLE=1 keeps the server's durability
		printf 'fsync = off\nsynchronous_commit = off\nfull_page_writes = off\n' >> "$dir/data/postgresql.conf"
	fi
	as_pg "$bindir/pg_ctl" -D "$dir/data" -l "$dir/server.log" -w -t 60 start > /dev/null ||
		{ cat "$dir/server.log" >&2; exit 1; }
	as_pg "$bindir/psql" -qX -h "$dir" -p "$port" -U postgres -d postgres -v ON_ERROR_STOP=1 <<SQL > /dev/null
CREATE ROLE runbook LOGIN PASSWORD 'rb-test-Secr3t';
CREATE DATABASE runbook_test OWNER runbook;
SQL
	cat > "$dir/env" <<ENV
export PGBIN='$bindir'
export PGSOCKDIR='$dir'
export PGTESTPORT=$port
export RUNBOOK_TEST_DSN='postgres://runbook:rb-test-Secr3t@127.0.0.1:$port/runbook_test'
export RUNBOOK_TEST_PASSWORD='rb-test-Secr3t'
ENV
	chmod 644 "$dir/env"
	;;
stop)
	if [ -d "$dir/data" ]; then
		as_pg "$bindir/pg_ctl" -D "$dir/data" -m immediate -w stop > /dev/null 2>&1 || true
	fi
	rm -rf "$dir"
	;;
*)
	echo "usage: pg.sh start|stop DIR" >&2
	exit 2
	;;
esac
