#!/usr/bin/env bash
# A throwaway OpenSSH server for tests, the demo and benchmarks.
#   tests/sshd.sh start DIR   host and client keys, authorized_keys, a known_hosts
#                             file and sshd on a free loopback port; writes DIR/env
#   tests/sshd.sh stop DIR    stops it and removes DIR
# The server accepts the current user with DIR/client_key (no passwords).
set -euo pipefail
cmd=${1:?usage: sshd.sh start|stop DIR}
dir=${2:?usage: sshd.sh start|stop DIR}
sshd=/usr/sbin/sshd
[ -x "$sshd" ] || { echo "sshd.sh: no OpenSSH server (make deps installs openssh-server)" >&2; exit 1; }

. "$(dirname "$0")/lib.sh"

case "$cmd" in
start)
	mkdir -p "$dir"
	mkdir -p /run/sshd 2>/dev/null || true # privilege separation directory
	port=$(free_port)
	ssh-keygen -q -t ed25519 -N '' -f "$dir/host_key" -C runbook-test-host
	# a second host key type the known_hosts file does not list, as on real
	# servers: clients must ask for the type they know
	ssh-keygen -q -t ecdsa -N '' -f "$dir/host_key_ecdsa" -C runbook-test-host
	ssh-keygen -q -t ed25519 -N '' -f "$dir/client_key" -C runbook-test-client
	cp "$dir/client_key.pub" "$dir/authorized_keys"
	chmod 600 "$dir/authorized_keys"
	echo "[127.0.0.1]:$port $(cut -d' ' -f1,2 "$dir/host_key.pub")" > "$dir/known_hosts"
	cat > "$dir/sshd_config" <<CONF
Port $port
ListenAddress 127.0.0.1
HostKey $dir/host_key_ecdsa
HostKey $dir/host_key
PidFile $dir/sshd.pid
AuthorizedKeysFile $dir/authorized_keys
PasswordAuthentication no
KbdInteractiveAuthentication no
PubkeyAuthentication yes
PermitRootLogin prohibit-password
StrictModes no
UsePAM no
MaxStartups 100:30:200
MaxSessions 50
LogLevel ERROR
UseDNS no
PermitUserRC no
PrintMotd no
PrintLastLog no
X11Forwarding no
PermitUserEnvironment no
CONF
	# the bench: bash skips ~/.bashrc for remote commands (SHLVL set), so the
	# numbers are ours and OpenSSH's, not this machine's shell start-up
	[ -n "${SSHD_BENCH:-}" ] && echo "SetEnv SHLVL=1" >> "$dir/sshd_config"
	"$sshd" -f "$dir/sshd_config" -E "$dir/sshd.log" || { cat "$dir/sshd.log" >&2; exit 1; }
	up=
	for _ in $(seq 200); do
		if (exec 3<>"/dev/tcp/127.0.0.1/$port") 2>/dev/null; then up=1; break; fi
		sleep 0.05
	done
	[ -n "$up" ] || { echo "sshd.sh: sshd did not start listening on port $port" >&2; cat "$dir/sshd.log" >&2; exit 1; }
	cat > "$dir/env" <<ENV
export SSHD_PORT=$port
export SSHD_DIR='$dir'
export SSHD_USER='$(id -un)'
ENV
	;;
stop)
	if [ -f "$dir/sshd.pid" ]; then
		kill "$(cat "$dir/sshd.pid")" 2>/dev/null || true
	fi
	rm -rf "$dir"
	;;
*)
	echo "usage: sshd.sh start|stop DIR" >&2
	exit 2
	;;
esac
