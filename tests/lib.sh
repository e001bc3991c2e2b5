# Shell helpers shared by the test, demo and bench scripts (sourced).

# A free TCP port on 127.0.0.1 (nothing answers on it right now), below the
# kernel's ephemeral range so no outgoing connection can be holding it.
free_port() {
	local port low=32768
	read -r low _ < /proc/sys/net/ipv4/ip_local_port_range 2>/dev/null || true
	[ "$low" -gt 12000 ] || low=32768
	for _ in $(seq 200); do
		port=$((10000 + RANDOM % (low - 11000)))
		if ! (exec 3<>"/dev/tcp/127.0.0.1/$port") 2>/dev/null; then
			echo "$port"
			return 0
		fi
	done
	return 1
}

# Waits until something listens on 127.0.0.1:PORT: up to TRIES (default
# 100) tries 0.05 s apart. 1 when nothing came.
wait_port() {
	for _ in $(seq "${2:-100}"); do
		(exec 3<>"/dev/tcp/127.0.0.1/$1") 2>/dev/null && return 0
		sleep 0.05
	done
	return 1
}

# Starts tests/delay_proxy.py on LISTEN_PORT in front of TARGET_PORT,
# adding MS each way; its pid in delay_pid. Returns once it listens.
delay_relay() {
	python3 "$ROOT/tests/delay_proxy.py" "$1" "$2" "$3" > /dev/null 2>&1 &
	delay_pid=$!
	wait_port "$1"
}

# `$BIN exec FILE --output json` into OUT; prints its wall time in ms.
exec_ms() {
	local t0
	t0=$(date +%s%N)
	"$BIN" exec "$1" --output json > "$2" 2>&1
	echo $(( ($(date +%s%N) - t0) / 1000000 ))
}

# Makes $HOME/.ssh (known_hosts and config) that send every alias given to
# the test sshd described by SSHD_DIR and SSHD_PORT (tests/sshd.sh).
ssh_home() {
	mkdir -p "$HOME/.ssh"
	cp "$SSHD_DIR/known_hosts" "$HOME/.ssh/known_hosts"
	local h
	for h in "$@"; do
		printf 'Host %s\n  HostName 127.0.0.1\n  Port %s\n  IdentityFile %s\n' "$h" "$SSHD_PORT" "$SSHD_DIR/client_key"
		# for OpenSSH, which reads the passwd entry's home, not $HOME
		printf '  UserKnownHostsFile %s\n  StrictHostKeyChecking yes\n  BatchMode yes\n' "$HOME/.ssh/known_hosts"
	done > "$HOME/.ssh/config"
}

# Test bookkeeping: check NAME CONDITION [DETAIL] evaluates CONDITION and
# prints "ok" or "FAIL" (with DETAIL); the script ends with
# echo "$pass passed, $fail failed".
pass=0 fail=0
ok() { pass=$((pass + 1)); echo "ok    $1"; }
ko() { fail=$((fail + 1)); echo "FAIL  $1"; [ -n "${2:-}" ] && echo "$2" | head -30 | sed 's/^/      /'; }
check() { if eval "$2"; then ok "$1"; else ko "$1" "${3:-}"; fi; }

# interrupt_once FILE PID: Ctrl-C for PID once FILE exists (its step is
# running; 5 s at most); sets RC to PID's exit status.
interrupt_once() {
	for _ in $(seq 100); do [ -s "$1" ] && break; sleep 0.05; done
	sleep 0.2
	kill -INT "$2"
	wait "$2"
	RC=$?
}

# field FILE STEP KEY: the value of "KEY" in step STEP of a report printed
# by `runbook exec --output json` (pretty-printed: one key per line).
field() {
	awk -v id="\"id\": \"$2\"" -v key="\"$3\": " '
		index($0, id) { on = 1; next }
		on && /^    }/ { on = 0 }
		on && index($0, key) { sub(/^[^:]*: /, ""); sub(/,$/, ""); print; exit }' "$1"
}
