#!/usr/bin/env bash
# SSH integration tests: `runbook exec` against a real OpenSSH server this
# script starts (and always stops), with its own HOME (~/.ssh/config,
# known_hosts) so nothing of the machine's is used. Prints "N passed, N failed".
set -u
BIN=${RUNBOOK_BIN:-$(pwd)/runbook}
ROOT=$(cd "$(dirname "$0")/.." && pwd)
. "$ROOT/tests/lib.sh"
TMP=$(mktemp -d /tmp/runbook-ssh-XXXXXX)
export XDG_STATE_HOME="$TMP/state" RUNBOOK_STORE= # incidents go to a store of our own
agent_pid= sh_user=
cleanup() {
	[ -n "$agent_pid" ] && kill "$agent_pid" 2>/dev/null
	[ -n "$sh_user" ] && { pkill -KILL -u "$sh_user" 2>/dev/null; userdel "$sh_user" 2>/dev/null; }
	[ -s "$TMP/rsa_sshd.pid" ] && kill "$(cat "$TMP/rsa_sshd.pid")" 2>/dev/null
	for j in jump closed alive stock; do [ -s "$TMP/${j}_sshd.pid" ] && kill "$(cat "$TMP/${j}_sshd.pid")" 2>/dev/null; done
	[ -n "${frozen:-}" ] && kill -CONT $frozen 2>/dev/null && kill -9 $frozen 2>/dev/null
	[ -n "${relay_pid:-}" ] && kill $relay_pid 2>/dev/null
	[ -s "$TMP/fg.pid" ] && kill "$(cat "$TMP/fg.pid")" "$(cat "$TMP/bg.pid")" 2>/dev/null
	"$ROOT/tests/sshd.sh" stop "$TMP/sshd"
	rm -rf "$TMP"
}
trap cleanup EXIT
[ -n "${KEEP:-}" ] && trap - EXIT # KEEP=1: leave the files and the sshd for a look (stop with tests/sshd.sh stop DIR)
"$ROOT/tests/sshd.sh" start "$TMP/sshd" || { echo "0 passed, 1 failed"; exit 1; }
. "$TMP/sshd/env"
export HOME="$TMP/home"
unset SSH_AUTH_SOCK
ssh_home app $(seq -f 'h%02g' 1 20)
dead_port=$(free_port)
printf 'Host hdead\n  HostName 127.0.0.1\n  Port %s\n' "$dead_port" >> "$HOME/.ssh/config"


cat > "$TMP/basic.yaml" <<'YAML'
runbook: basic
title: commands, exit codes, signals, big outputs, quoting
params:
  hostile: {default: "a'; touch /tmp/runbook-ssh-pwned; echo '"}
targets:
  app: {type: ssh, host: app}
steps:
  - id: out
    ssh: "echo hello; echo oops >&2; exit 3"
  - id: sig
    ssh: "kill -TERM $$"
  - id: big
    ssh: "head -c 3000000 /dev/zero | tr '\\0' x; head -c 2000000 /dev/zero | tr '\\0' y >&2"
  - id: quoted
    ssh: "printf '%s' ${params.hostile}"
  - id: p1
    ssh: "echo $PPID"
  - id: p2
    ssh: "echo $PPID"
  - id: lua
    lua: |
      local r = ssh("app", "echo from-lua")
      return {out = r.stdout, same_session = steps.p1.stdout == steps.p2.stdout}
YAML
rm -f /tmp/runbook-ssh-pwned
"$BIN" exec "$TMP/basic.yaml" --output json > "$TMP/basic.json" 2> "$TMP/basic.err"
check "stdout, stderr and exit code" '[ "$(field "$TMP/basic.json" out stdout)" = "\"hello\\n\"" ] && [ "$(field "$TMP/basic.json" out stderr)" = "\"oops\\n\"" ] && [ "$(field "$TMP/basic.json" out exit_code)" = 3 ] && [ "$(field "$TMP/basic.json" out status)" = "\"failed\"" ]' "$(head -c 3000 "$TMP/basic.json") $(cat "$TMP/basic.err")"
check "exit signal recorded, no fake exit code" '[ "$(field "$TMP/basic.json" sig signal)" = "\"SIGTERM\"" ] && [ "$(field "$TMP/basic.json" sig exit_code)" = null ]'
check "big outputs on both streams, capped, caps reported" '[ "$(field "$TMP/basic.json" big stdout_truncated)" = 3000000 ] && [ "$(field "$TMP/basic.json" big stderr_truncated)" = 2000000 ] && [ "$(field "$TMP/basic.json" big status)" = "\"ok\"" ]'
check "interpolated values are shell-quoted" '[ "$(field "$TMP/basic.json" quoted stdout)" = "\"a'\''; touch /tmp/runbook-ssh-pwned; echo '\''\"" ] && [ ! -e /tmp/runbook-ssh-pwned ]' "$(field "$TMP/basic.json" quoted stdout)"
check "one session per host, reused" 'grep -q "\"same_session\": true" "$TMP/basic.json"'
check "ssh() from Lua" 'grep -q "\"out\": \"from-lua\\\\n\"" "$TMP/basic.json"'

# Big outputs on both streams never stall: 20 runs of 300 MB of stdout
# with 100 MB of stderr interleaved, each well inside its deadline (a stall
# waits for the deadline and reports a timeout).
cat > "$TMP/bulk.yaml" <<'YAML'
runbook: bulk
title: 300 MB of output
targets:
  app: {type: ssh, host: app}
steps:
  - id: bulk
    timeout: 60s
    ssh: "(head -c 100000000 /dev/zero >&2 &); head -c 300000000 /dev/zero"
YAML
bulk_bad=
for i in $(seq 20); do
	"$BIN" exec "$TMP/bulk.yaml" --output json > "$TMP/bulk.json" 2>&1
	[ "$(field "$TMP/bulk.json" bulk status)" = '"ok"' ] && [ "$(field "$TMP/bulk.json" bulk stdout_truncated)" = 300000000 ] ||
		bulk_bad="$bulk_bad run $i: $(field "$TMP/bulk.json" bulk status) $(field "$TMP/bulk.json" bulk duration_ms) ms $(field "$TMP/bulk.json" bulk error)"
done
check "20 runs of 300 MB (+100 MB stderr): none stalled, every byte counted" '[ -z "$bulk_bad" ]' "$bulk_bad"

# Remote kill on timeout: nothing is left on the host.
cat > "$TMP/slow.yaml" <<YAML
runbook: slow
title: a command past its deadline
targets:
  app: {type: ssh, host: app}
steps:
  - id: slow
    timeout: 1s
    ssh: "echo \$\$ > $TMP/fg.pid; sleep 611 & echo \$! > $TMP/bg.pid; exec sleep 611"
  - id: after
    ssh: "echo still-works"
YAML
"$BIN" exec "$TMP/slow.yaml" --output json > "$TMP/slow.json" 2>&1
check "timeout status" '[ "$(field "$TMP/slow.json" slow status)" = "\"timeout\"" ]' "$(cat "$TMP/slow.json")"
alive() { [ -d "/proc/$1" ] && ! grep -qE '^[^)]*\) [ZX]' "/proc/$1/stat" 2>/dev/null; }
fg=$(cat "$TMP/fg.pid" 2>/dev/null || echo 0) bg=$(cat "$TMP/bg.pid" 2>/dev/null || echo 0)
for _ in $(seq 40); do alive "$fg" || alive "$bg" || break; sleep 0.1; done
check "the remote process group was killed (both sleeps gone)" '[ "$fg" != 0 ] && [ "$bg" != 0 ] && ! alive "$fg" && ! alive "$bg"' "fg=$fg bg=$bg"
check "the next step still runs" '[ "$(field "$TMP/slow.json" after stdout)" = "\"still-works\\n\"" ]'
check "the report says the kill was verified" 'field "$TMP/slow.json" slow error | grep -qF "killed (verified gone)"' "$(field "$TMP/slow.json" slow error)"

# Ctrl-C: the remote command is killed too, and verified gone - the kill is
# not cut short by the cancellation that asked for it.
rm -f "$TMP/fg.pid" "$TMP/bg.pid"
sed 's/timeout: 1s/timeout: 60s/' "$TMP/slow.yaml" > "$TMP/slowint.yaml"
"$BIN" exec "$TMP/slowint.yaml" --output json > "$TMP/slowint.json" 2>&1 &
interrupt_once "$TMP/bg.pid" $!
rc=$RC
fg=$(cat "$TMP/fg.pid" 2>/dev/null || echo 0) bg=$(cat "$TMP/bg.pid" 2>/dev/null || echo 0)
check "Ctrl-C during a remote command: exit 130, the group killed and verified gone" '[ $rc = 130 ] && [ "$fg" != 0 ] && ! alive "$fg" && ! alive "$bg" &&
	field "$TMP/slowint.json" slow error | grep -qF "interrupted; the remote command'"'"'s process group was killed (verified gone)"' "rc=$rc fg=$fg bg=$bg $(field "$TMP/slowint.json" slow error)"

# The same for a user whose login shell is /bin/sh (dash here, whose kill
# builtin refuses "--"): the command is killed and verified gone. Needs a
# user of its own, so root (as make check runs on CI); not skipped otherwise.
if [ "$(id -u)" = 0 ] && command -v useradd > /dev/null; then
	sh_user=runbook-sh-$$
	mkdir -p "$TMP/shwork" && chmod 777 "$TMP/shwork" && chmod 755 "$TMP"
	chmod 644 "$SSHD_DIR/authorized_keys" # sshd reads it as the user
	useradd -M -p "*" -d "$TMP/shwork" -s /bin/sh "$sh_user" # "*": no password, not locked (sshd refuses "!")
	cat > "$TMP/shslow.yaml" <<YAML
runbook: shslow
title: a /bin/sh user's command past its deadline
targets:
  app: {type: ssh, host: 127.0.0.1, port: $SSHD_PORT, user: $sh_user, identity: $SSHD_DIR/client_key, known_hosts: $SSHD_DIR/known_hosts}
steps:
  - id: shell
    ssh: "readlink -f /proc/\$\$/exe"
  - id: slow
    timeout: 1s
    ssh: "echo \$\$ > $TMP/shwork/fg.pid; sleep 612 & echo \$! > $TMP/shwork/bg.pid; exec sleep 612"
YAML
	"$BIN" exec "$TMP/shslow.yaml" --output json > "$TMP/shslow.json" 2>&1
	sfg=$(cat "$TMP/shwork/fg.pid" 2>/dev/null || echo 0) sbg=$(cat "$TMP/shwork/bg.pid" 2>/dev/null || echo 0)
	check "a /bin/sh login shell: the command ran under dash or sh" 'field "$TMP/shslow.json" shell stdout | grep -qE "/(dash|sh)\\\\n"' "$(field "$TMP/shslow.json" shell stdout) $(field "$TMP/shslow.json" shell error)"
	check "a /bin/sh login shell: timed out, killed, verified gone" '[ "$(field "$TMP/shslow.json" slow status)" = "\"timeout\"" ] && [ "$sfg" != 0 ] && [ "$sbg" != 0 ] && ! alive "$sfg" && ! alive "$sbg" && field "$TMP/shslow.json" slow error | grep -qF "(verified gone)"' "fg=$sfg bg=$sbg $(field "$TMP/shslow.json" slow error)"
else
	ko "a /bin/sh login shell's command is killed" "needs root to create a user whose login shell is /bin/sh"
fi

# Host keys: unknown and changed keys are refused with the SHA256 fingerprint.
fp=$(ssh-keygen -lf "$SSHD_DIR/host_key.pub" | awk '{print $2}')
fp_ecdsa=$(ssh-keygen -lf "$SSHD_DIR/host_key_ecdsa.pub" | awk '{print $2}') # what an empty known_hosts negotiates
: > "$TMP/empty_known_hosts"
ssh-keygen -q -t ed25519 -N '' -f "$TMP/other_key"
echo "[127.0.0.1]:$SSHD_PORT $(cut -d' ' -f1,2 "$TMP/other_key.pub")" > "$TMP/changed_known_hosts"
cp "$SSHD_DIR/known_hosts" "$TMP/hashed_known_hosts"
ssh-keygen -q -H -f "$TMP/hashed_known_hosts" > /dev/null 2>&1
cat > "$TMP/keys.yaml" <<YAML
runbook: keys
title: host key checks
targets:
  unknown: {type: ssh, host: app, known_hosts: $TMP/empty_known_hosts}
  changed: {type: ssh, host: app, known_hosts: $TMP/changed_known_hosts}
  hashed: {type: ssh, host: app, known_hosts: $TMP/hashed_known_hosts}
steps:
  - {id: unknown, ssh: "true", on: unknown}
  - {id: changed, ssh: "true", on: changed}
  - {id: hashed, ssh: "true", on: hashed}
YAML
"$BIN" exec "$TMP/keys.yaml" --output json > "$TMP/keys.json" 2>&1
check "unknown host key refused, with the fingerprint" '[ "$(field "$TMP/keys.json" unknown status)" = "\"failed\"" ] && { grep -qF "is not known ($fp)" "$TMP/keys.json" || grep -qF "is not known ($fp_ecdsa)" "$TMP/keys.json"; }' "fp=$fp $(grep error "$TMP/keys.json")"
check "changed host key refused, with the fingerprint" '[ "$(field "$TMP/keys.json" changed status)" = "\"failed\"" ] && grep -qF "has CHANGED (now $fp)" "$TMP/keys.json"'
check "hashed known_hosts entries work" '[ "$(field "$TMP/keys.json" hashed status)" = "\"ok\"" ]' "$(grep -A3 '"id": "hashed"' "$TMP/keys.json") $(grep error "$TMP/keys.json")"

# known_hosts as OpenSSH reads it: @revoked refuses a key even when it is
# also listed plainly; a host vouched for only by @cert-authority is refused
# with a message that says so; patterns with *, ? and ! select the lines.
hk=$(cut -d' ' -f1,2 "$SSHD_DIR/host_key.pub")
{ echo "@revoked * $hk"; cat "$SSHD_DIR/known_hosts"; } > "$TMP/revoked_known_hosts"
echo "@cert-authority * $(cut -d' ' -f1,2 "$TMP/other_key.pub")" > "$TMP/ca_known_hosts"
echo "[127.0.0.?]:$SSHD_PORT,[10.*]:$SSHD_PORT $hk" > "$TMP/glob_known_hosts"
echo "[127.*]:$SSHD_PORT,![127.0.0.1]:$SSHD_PORT $hk" > "$TMP/negated_known_hosts"
echo "[127.0.0.2]:$SSHD_PORT $hk" > "$TMP/elsewhere_known_hosts"
cat > "$TMP/khpat.yaml" <<YAML
runbook: khpat
title: known_hosts markers and patterns
targets:
  revoked: {type: ssh, host: app, known_hosts: $TMP/revoked_known_hosts}
  ca: {type: ssh, host: app, known_hosts: $TMP/ca_known_hosts}
  glob: {type: ssh, host: app, known_hosts: $TMP/glob_known_hosts}
  negated: {type: ssh, host: app, known_hosts: $TMP/negated_known_hosts}
  elsewhere: {type: ssh, host: app, known_hosts: $TMP/elsewhere_known_hosts}
steps:
  - {id: revoked, ssh: "true", on: revoked}
  - {id: ca, ssh: "true", on: ca}
  - {id: glob, ssh: "echo glob", on: glob}
  - {id: negated, ssh: "true", on: negated}
  - {id: elsewhere, ssh: "true", on: elsewhere}
YAML
"$BIN" exec "$TMP/khpat.yaml" --output json > "$TMP/khpat.json" 2>&1
check "a @revoked key is refused, even when also listed plainly" '[ "$(field "$TMP/khpat.json" revoked status)" = "\"failed\"" ] && field "$TMP/khpat.json" revoked error | grep -qF "($fp) is REVOKED in"' "$(grep error "$TMP/khpat.json")"
check "@cert-authority alone: refused, saying host certificates are not supported" '[ "$(field "$TMP/khpat.json" ca status)" = "\"failed\"" ] && field "$TMP/khpat.json" ca error | grep -qF "only by a @cert-authority line"' "$(grep error "$TMP/khpat.json")"
check "host patterns with ? and * select the line" '[ "$(field "$TMP/khpat.json" glob stdout)" = "\"glob\\n\"" ]' "$(grep error "$TMP/khpat.json")"
check "a matching !pattern vetoes the line" '[ "$(field "$TMP/khpat.json" negated status)" = "\"failed\"" ] && field "$TMP/khpat.json" negated error | grep -qF "is not known"'
check "a line for another host is not this host's" '[ "$(field "$TMP/khpat.json" elsewhere status)" = "\"failed\"" ] && field "$TMP/khpat.json" elsewhere error | grep -qF "is not known"'

# ~/.ssh/config as OpenSSH reads it: Include (relative to ~/.ssh, globs),
# Match, UserKnownHostsFile with tokens; what would change where to connect
# and is not supported (CertificateFile here) is an error naming the line.
mkdir -p "$HOME/.ssh/conf.d"
cp "$SSHD_DIR/known_hosts" "$HOME/.ssh/known_hosts_inc"
: > "$HOME/.ssh/known_hosts_empty"
cat > "$HOME/.ssh/conf.d/10-inc.conf" <<CONF
Host inc-*
  HostName 127.0.0.1
  IdentityFile $SSHD_DIR/client_key
Match originalhost inc-app
  UserKnownHostsFile ~/.ssh/known_hosts_%h_inc
Host inc-nokey
  UserKnownHostsFile %d/.ssh/known_hosts_empty
Host inc-bastioned
  CertificateFile ~/.ssh/id_ed25519-cert.pub
CONF
printf 'Host inc-*
  Port %s
' "$SSHD_PORT" > "$HOME/.ssh/conf.d/20-port.conf"
mv "$HOME/.ssh/known_hosts_inc" "$HOME/.ssh/known_hosts_127.0.0.1_inc"
{ echo "Include conf.d/*.conf"; cat "$HOME/.ssh/config"; } > "$HOME/.ssh/config.new" && mv "$HOME/.ssh/config.new" "$HOME/.ssh/config"
cat > "$TMP/inc.yaml" <<YAML
runbook: inc
title: ssh_config Include, Match, UserKnownHostsFile, refused keywords
targets:
  app: {type: ssh, host: inc-app}
  nokey: {type: ssh, host: inc-nokey}
  bastioned: {type: ssh, host: inc-bastioned}
steps:
  - {id: app, ssh: "echo included", on: app}
  - {id: nokey, ssh: "true", on: nokey}
  - {id: bastioned, ssh: "true", on: bastioned}
YAML
"$BIN" exec "$TMP/inc.yaml" --output json > "$TMP/inc.json" 2>&1
check "Include with a glob, Match originalhost, UserKnownHostsFile with %h" '[ "$(field "$TMP/inc.json" app stdout)" = "\"included\\n\"" ]' "$(field "$TMP/inc.json" app error)"
check "UserKnownHostsFile (%d) is the file checked" 'field "$TMP/inc.json" nokey error | grep -qF "is not known" && field "$TMP/inc.json" nokey error | grep -qF "$HOME/.ssh/known_hosts_empty"' "$(field "$TMP/inc.json" nokey error)"
check "CertificateFile: refused with the file and line, never a misleading connect error" 'field "$TMP/inc.json" bastioned error | grep -qF "conf.d/10-inc.conf:9: CertificateFile is not supported"' "$(field "$TMP/inc.json" bastioned error)"

# An RSA-only server (OpenSSH 8.8+ offers RSA with SHA-2 only, which
# libssh2 1.10 cannot verify): the error says exactly that, not "-5".
rsa_port=$(free_port)
ssh-keygen -q -t rsa -b 2048 -N '' -f "$TMP/rsa_host_key"
sed -e "s/^Port .*/Port $rsa_port/" -e '/^HostKey/d' -e "s|^PidFile .*|PidFile $TMP/rsa_sshd.pid|" \
	"$SSHD_DIR/sshd_config" > "$TMP/rsa_sshd_config"
echo "HostKey $TMP/rsa_host_key" >> "$TMP/rsa_sshd_config"
/usr/sbin/sshd -f "$TMP/rsa_sshd_config" -E "$TMP/rsa_sshd.log"
wait_port "$rsa_port"
echo "[127.0.0.1]:$rsa_port $(cut -d' ' -f1,2 "$TMP/rsa_host_key.pub")" > "$TMP/rsa_known_hosts"
cat > "$TMP/rsa.yaml" <<YAML
runbook: rsa
title: an RSA-only host
targets:
  rsa: {type: ssh, host: 127.0.0.1, port: $rsa_port, identity: $SSHD_DIR/client_key, known_hosts: $TMP/rsa_known_hosts}
steps:
  - {id: rsa, ssh: "echo rsa", on: rsa}
YAML
"$BIN" exec "$TMP/rsa.yaml" --output json > "$TMP/rsa.json" 2>&1
if [ "$(field "$TMP/rsa.json" rsa status)" = '"ok"' ]; then
	check "an RSA-only host: this libssh2 speaks RSA with SHA-2, and connected" '[ "$(field "$TMP/rsa.json" rsa stdout)" = "\"rsa\\n\"" ]'
else
	check "an RSA-only host: the error says RSA with SHA-2 only, and what to ask for" 'field "$TMP/rsa.json" rsa error | grep -qF "offers only RSA host keys with SHA-2 (rsa-sha2-512,rsa-sha2-256)" && field "$TMP/rsa.json" rsa error | grep -qF "ask for an ed25519 or ECDSA host key"' "$(field "$TMP/rsa.json" rsa error)"
fi

# ProxyJump: two sshds of our own stand as bastions, one that forwards
# (LogLevel DEBUG1: its log shows each direct-tcpip request) and one with
# AllowTcpForwarding no. Hosts behind the first are reached through it,
# a chain of two hops too; the second refuses, and the error says so.
jump_port=$(free_port) closed_port=$(free_port) count_port=$(free_port)
for j in jump closed; do
	p=$jump_port
	[ $j = closed ] && p=$closed_port
	sed -e "s/^Port .*/Port $p/" -e "s|^PidFile .*|PidFile $TMP/${j}_sshd.pid|" -e "s/^LogLevel .*/LogLevel DEBUG1/" \
		"$SSHD_DIR/sshd_config" > "$TMP/${j}_sshd_config"
	[ $j = closed ] && echo "AllowTcpForwarding no" >> "$TMP/${j}_sshd_config"
	/usr/sbin/sshd -f "$TMP/${j}_sshd_config" -E "$TMP/${j}_sshd.log"
	wait_port "$p"
	echo "[127.0.0.1]:$p $(cut -d' ' -f1,2 "$SSHD_DIR/host_key.pub")"
done > "$HOME/.ssh/jump_known_hosts"
# the bastion is reached through a TCP relay that counts our connections to
# it (sshd's own log drops and doubles lines across its forks: no counter)
echo "[127.0.0.1]:$count_port $(cut -d' ' -f1,2 "$SSHD_DIR/host_key.pub")" >> "$HOME/.ssh/jump_known_hosts"
echo 0 > "$TMP/relay.count"
python3 - "$count_port" "$jump_port" "$TMP/relay.count" > /dev/null 2>&1 <<'PY' &
import socket, sys, threading
lport, dport, out = int(sys.argv[1]), int(sys.argv[2]), sys.argv[3]
s = socket.socket()
s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
s.bind(("127.0.0.1", lport))
s.listen(16)
def pipe(a, b):
    try:
        while True:
            d = a.recv(65536)
            if not d:
                break
            b.sendall(d)
    except OSError:
        pass
    try:
        b.shutdown(socket.SHUT_WR)
    except OSError:
        pass
while True:
    c, _ = s.accept()
    with open(out) as f: # counted from the file: the script resets it after its probe
        n = int(f.read() or 0) + 1
    with open(out, "w") as f:
        f.write(str(n))
    u = socket.create_connection(("127.0.0.1", dport))
    threading.Thread(target=pipe, args=(c, u), daemon=True).start()
    threading.Thread(target=pipe, args=(u, c), daemon=True).start()
PY
relay_pid=$!
wait_port "$count_port"
# the relay counts the probe when it gets to accept it: wait for that, then start from 0
for _ in $(seq 100); do [ "$(cat "$TMP/relay.count")" != 0 ] && break; sleep 0.05; done
echo 0 > "$TMP/relay.count"
cat >> "$HOME/.ssh/config" <<CONF
Host bastion-closed
  Port $closed_port
Host bastion bastion-closed
  HostName 127.0.0.1
  Port $count_port
  IdentityFile $SSHD_DIR/client_key
  UserKnownHostsFile ~/.ssh/jump_known_hosts
Host behind-*
  HostName 127.0.0.1
  Port $SSHD_PORT
  IdentityFile $SSHD_DIR/client_key
  UserKnownHostsFile $SSHD_DIR/known_hosts
Host behind-chain
  ProxyJump bastion,$(id -un)@bastion:$jump_port
Host behind-closed
  ProxyJump bastion-closed
Host behind-*
  ProxyJump bastion
CONF
cat > "$TMP/jump.yaml" <<YAML
runbook: jump
title: ProxyJump
targets:
  fleet: {type: ssh, hosts: [behind-1, behind-2]}
  chain: {type: ssh, host: behind-chain}
  closed: {type: ssh, host: behind-closed}
  one: {type: ssh, host: behind-1}
steps:
  - {id: fleet, ssh: "echo through-the-bastion", on: fleet}
  - {id: big, ssh: "head -c 40000000 /dev/zero; echo done >&2", on: one, timeout: 60s}
  - {id: again, ssh: "echo again", on: fleet}
  - {id: chain, ssh: "echo two-hops", on: chain}
  - {id: closed, ssh: "true", on: closed}
YAML
"$BIN" exec "$TMP/jump.yaml" --output json > "$TMP/jump.json" 2>&1
check "ProxyJump: two hosts behind a bastion run their commands through it" '[ "$(grep -c "through-the-bastion" "$TMP/jump.json")" -ge 2 ] && [ "$(field "$TMP/jump.json" fleet status)" = "\"ok\"" ] && [ "$(field "$TMP/jump.json" again status)" = "\"ok\"" ]' "$(grep -E '"(status|error|stdout)"' "$TMP/jump.json" | head -20)"
# unshared, the two hosts (run at once) and the chain's first hop would be
# three connections to the bastion at least
check "... the hosts behind the bastion and the chain's first hop share its session (exactly 1 connection)" '[ "$(cat "$TMP/relay.count")" = 1 ]' "$(cat "$TMP/relay.count") connections"
for _ in $(seq 50); do grep -q "direct.tcpip.*127.0.0.1 port $SSHD_PORT" "$TMP/jump_sshd.log" && break; sleep 0.1; done
check "... the bastion's sshd saw the direct-tcpip requests to the host behind it" 'grep -q "direct.tcpip.*127.0.0.1 port $SSHD_PORT" "$TMP/jump_sshd.log"' "$(grep -i tcpip "$TMP/jump_sshd.log" | head -5)"
check "ProxyJump with a chain of two hops (user@host:port form)" '[ "$(field "$TMP/jump.json" chain stdout)" = "\"two-hops\n\"" ]' "$(field "$TMP/jump.json" chain error) $(grep -i tcpip "$TMP/jump_sshd.log" | tail -3)"
check "40 MB through the bastion: read to the end, counted, no stall" '[ "$(field "$TMP/jump.json" big status)" = "\"ok\"" ] && [ "$(field "$TMP/jump.json" big stdout_truncated)" = 40000000 ] && [ "$(field "$TMP/jump.json" big stderr)" = "\"done\n\"" ]' "$(field "$TMP/jump.json" big status) $(field "$TMP/jump.json" big stdout_truncated) $(field "$TMP/jump.json" big error)"
check "a bastion that refuses forwarding: the error names it and why" 'field "$TMP/jump.json" closed error | grep -qF "ProxyJump 127.0.0.1 refused a channel to 127.0.0.1:$SSHD_PORT"' "$(field "$TMP/jump.json" closed error)"

# HostKeyAlias, several IdentityFile lines, ConnectTimeout.
echo "db-legacy $(cut -d' ' -f1,2 "$SSHD_DIR/host_key.pub")" > "$HOME/.ssh/alias_known_hosts"
silent_port=$(free_port)
python3 -c "
import socket, time
s = socket.socket(); s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
s.bind(('127.0.0.1', $silent_port)); s.listen(8)
conns = []
while True:
    c, _ = s.accept(); conns.append(c)  # accepts, never says a word
" > /dev/null 2>&1 &
silent_pid=$!
wait_port "$silent_port" 50
cat >> "$HOME/.ssh/config" <<CONF
Host alias-app alias-unknown multi-id multi-bad
  HostName 127.0.0.1
  Port $SSHD_PORT
  UserKnownHostsFile ~/.ssh/alias_known_hosts
Host alias-app multi-id multi-bad
  HostKeyAlias db-legacy
Host alias-unknown
  HostKeyAlias db-%h
Host alias-*
  IdentityFile $SSHD_DIR/client_key
Host multi-*
  IdentitiesOnly yes
  IdentityFile ~/.ssh/no_such_key
  IdentityFile $TMP/other_key
Host multi-id
  IdentityFile $SSHD_DIR/client_key
Host silent
  HostName 127.0.0.1
  Port $silent_port
  ConnectTimeout 2
CONF
cat > "$TMP/more.yaml" <<YAML
runbook: more
title: HostKeyAlias, IdentityFile lines, ConnectTimeout
targets:
  alias: {type: ssh, host: alias-app}
  unknown: {type: ssh, host: alias-unknown}
  multi: {type: ssh, host: multi-id}
  multibad: {type: ssh, host: multi-bad}
  silent: {type: ssh, host: silent}
steps:
  - {id: alias, ssh: "echo by-alias", on: alias}
  - {id: unknown, ssh: "true", on: unknown}
  - {id: multi, ssh: "echo third-key", on: multi}
  - {id: multibad, ssh: "true", on: multibad}
  - {id: silent, ssh: "true", on: silent, timeout: 30s}
YAML
t0=$(date +%s%N)
"$BIN" exec "$TMP/more.yaml" --output json > "$TMP/more.json" 2>&1
kill $silent_pid 2> /dev/null
check "HostKeyAlias: known_hosts is read under the alias (no port)" '[ "$(field "$TMP/more.json" alias stdout)" = "\"by-alias\n\"" ]' "$(field "$TMP/more.json" alias error)"
check "... a host whose alias (db-%h: %h is the HostName) is not on record is refused, naming the alias" 'field "$TMP/more.json" unknown error | grep -qF "host key for db-127.0.0.1 is not known" && field "$TMP/more.json" unknown error | grep -qF "ssh-keyscan -p $SSHD_PORT 127.0.0.1, recorded under the name db-127.0.0.1"' "$(field "$TMP/more.json" unknown error)"
check "several IdentityFile lines are offered in order (missing, refused, accepted)" '[ "$(field "$TMP/more.json" multi stdout)" = "\"third-key\n\"" ]' "$(field "$TMP/more.json" multi error)"
check "... and when none is accepted the error lists each one" 'field "$TMP/more.json" multibad error | grep -qF "no_such_key missing" && field "$TMP/more.json" multibad error | grep -qF "other_key refused"' "$(field "$TMP/more.json" multibad error)"
check "ConnectTimeout 2: a host that never speaks fails after 2 s, not the step's 30 s" '[ "$(field "$TMP/more.json" silent status)" = "\"failed\"" ] && field "$TMP/more.json" silent error | grep -qF "no answer within ConnectTimeout 2s" && [ "$(field "$TMP/more.json" silent duration_ms)" -lt 6000 ]' "$(field "$TMP/more.json" silent status) $(field "$TMP/more.json" silent error) $(field "$TMP/more.json" silent duration_ms)"

# ServerAliveInterval: a host that stops answering mid-command (its sshd
# processes stopped with SIGSTOP: the kernel still acknowledges, nothing
# replies) is noticed after the keepalives go unanswered, not at the deadline.
alive_port=$(free_port)
sed -e "s/^Port .*/Port $alive_port/" -e "s|^PidFile .*|PidFile $TMP/alive_sshd.pid|" \
	"$SSHD_DIR/sshd_config" > "$TMP/alive_sshd_config"
/usr/sbin/sshd -f "$TMP/alive_sshd_config" -E "$TMP/alive_sshd.log"
wait_port "$alive_port"
echo "[127.0.0.1]:$alive_port $(cut -d' ' -f1,2 "$SSHD_DIR/host_key.pub")" >> "$HOME/.ssh/jump_known_hosts"
cat >> "$HOME/.ssh/config" <<CONF
Host alive-app
  HostName 127.0.0.1
  Port $alive_port
  IdentityFile $SSHD_DIR/client_key
  UserKnownHostsFile ~/.ssh/jump_known_hosts
  ServerAliveInterval 1
  ServerAliveCountMax 2
CONF
cat > "$TMP/alive.yaml" <<YAML
runbook: alive
title: a host that stops answering
targets:
  app: {type: ssh, host: alive-app}
steps:
  - {id: hang, ssh: "echo started; sleep 25", on: app, timeout: 30s}
YAML
"$BIN" exec "$TMP/alive.yaml" --output json > "$TMP/alive.json" 2>&1 &
ap=$!
master=$(cat "$TMP/alive_sshd.pid")
for _ in $(seq 100); do [ -n "$(pgrep -P "$master")" ] && break; sleep 0.05; done
sleep 1
frozen=$(pgrep -P "$master"; for c in $(pgrep -P "$master"); do pgrep -P "$c"; done)
kill -STOP $frozen
t0=$SECONDS
wait $ap
took=$((SECONDS - t0))
kill -CONT $frozen 2>/dev/null
check "ServerAliveInterval 1, CountMax 2: a frozen host is given up after ${took}s, not the 30 s deadline" '[ "$(field "$TMP/alive.json" hang status)" = "\"failed\"" ] && field "$TMP/alive.json" hang error | grep -qF "the host stopped answering: 2 keepalives unanswered" && [ $took -lt 10 ]' "took=$took $(field "$TMP/alive.json" hang status) $(field "$TMP/alive.json" hang error) frozen=$frozen"

# ProxyCommand: the host's direct route does not exist (its name does not
# resolve); the command (OpenSSH's own client, -W through the test sshd)
# carries the session, and ends with it.
echo "[app.internal.invalid]:$SSHD_PORT $(cut -d' ' -f1,2 "$SSHD_DIR/host_key.pub")" > "$HOME/.ssh/pc_known_hosts"
cat >> "$HOME/.ssh/config" <<CONF
Host pc-app pc-direct
  HostName app.internal.invalid
  Port $SSHD_PORT
  IdentityFile $SSHD_DIR/client_key
  UserKnownHostsFile ~/.ssh/pc_known_hosts
Host pc-app
  ProxyCommand echo \$\$ > $TMP/pc.pid; exec ssh -q -F none -i $SSHD_DIR/client_key -o UserKnownHostsFile=$SSHD_DIR/known_hosts -o StrictHostKeyChecking=yes -o BatchMode=yes -p $SSHD_PORT -W 127.0.0.1:%p 127.0.0.1
CONF
cat > "$TMP/pc.yaml" <<YAML
runbook: pc
title: ProxyCommand
targets:
  app: {type: ssh, host: pc-app}
  direct: {type: ssh, host: pc-direct}
steps:
  - {id: via, ssh: "echo via-proxy", on: app}
  - {id: again, ssh: "echo same-session", on: app}
  - {id: direct, ssh: "true", on: direct}
YAML
"$BIN" exec "$TMP/pc.yaml" --output json > "$TMP/pc.json" 2>&1
pc_pid=$(cat "$TMP/pc.pid" 2>/dev/null || echo 0)
check "ProxyCommand carries the session where the direct route cannot" '[ "$(field "$TMP/pc.json" via stdout)" = "\"via-proxy\\n\"" ] && [ "$(field "$TMP/pc.json" again stdout)" = "\"same-session\\n\"" ] && field "$TMP/pc.json" direct error | grep -qF "cannot resolve app.internal.invalid"' "$(grep -E '"(error|stdout)"' "$TMP/pc.json")"
check "the ProxyCommand process ended with the run" '[ "$pc_pid" != 0 ] && ! alive "$pc_pid"' "pid=$pc_pid"
cat > "$TMP/pcbad.yaml" <<'YAML'
runbook: pcbad
title: a host name that would smuggle shell syntax into a ProxyCommand
targets:
  bad: {type: ssh, host: "pc-app", user: "x;touch /tmp/runbook-pc-pwned"}
steps:
  - {id: bad, ssh: "true", on: bad}
YAML
"$BIN" exec "$TMP/pcbad.yaml" --output json > "$TMP/pcbad.json" 2>&1
check "ProxyCommand: a user with shell syntax is refused, nothing run" 'field "$TMP/pcbad.json" bad error | grep -qF "unsafe in a shell command" && [ ! -e /tmp/runbook-pc-pwned ]' "$(field "$TMP/pcbad.json" bad error)"

# known_hosts lists only the ED25519 key while the server offers ECDSA first:
# the handshake must ask for ED25519 (as OpenSSH does), not refuse the host.
check "the host key type on record is the one negotiated" '[ "$(field "$TMP/keys.json" hashed status)" = "\"ok\"" ] && grep -q "^HostKey.*host_key_ecdsa" "$SSHD_DIR/sshd_config"'

# Authentication: the target's key file, ssh-agent, and nothing else.
cat > "$TMP/auth.yaml" <<YAML
runbook: auth
title: authentication
targets:
  keyfile: {type: ssh, host: 127.0.0.1, port: $SSHD_PORT, identity: $SSHD_DIR/client_key}
  agent: {type: ssh, host: 127.0.0.1, port: $SSHD_PORT}
steps:
  - {id: keyfile, ssh: "echo key", on: keyfile}
YAML
# a run of its own: within one run the session to a host is shared
sed -e '/id: keyfile/d' -e 's/^steps:/steps:\n  - {id: agent, ssh: "echo agent", on: agent}/' "$TMP/auth.yaml" > "$TMP/agent.yaml"
"$BIN" exec "$TMP/auth.yaml" --output json > "$TMP/keyfile.json" 2>&1
check "key file from the target" '[ "$(field "$TMP/keyfile.json" keyfile status)" = "\"ok\"" ]' "$(grep error "$TMP/keyfile.json")"
"$BIN" exec "$TMP/agent.yaml" --output json > "$TMP/noagent.json" 2>&1
check "no agent, no key: refused, no password tried" '[ "$(field "$TMP/noagent.json" agent status)" = "\"failed\"" ] && grep -q "passwords are never used" "$TMP/noagent.json"'
check "... and the error says what was tried" 'field "$TMP/noagent.json" agent error | grep -qF "no ssh-agent (SSH_AUTH_SOCK unset)"' "$(field "$TMP/noagent.json" agent error)"
eval "$(ssh-agent -s -a "$TMP/agent.sock")" > /dev/null
agent_pid=$SSH_AGENT_PID
ssh-add -q "$SSHD_DIR/client_key" 2> /dev/null
"$BIN" exec "$TMP/agent.yaml" --output json > "$TMP/agent.json" 2>&1
check "ssh-agent authentication" '[ "$(field "$TMP/agent.json" agent status)" = "\"ok\"" ]' "$(grep error "$TMP/agent.json")"
# A crowded agent: eight keys the server does not know would exhaust its
# MaxAuthTries (6) before the key file; IdentitiesOnly offers the
# configured identity only, and the errors say what was tried.
ssh-add -q -D 2> /dev/null
for i in 1 2 3 4 5 6 7 8; do
	ssh-keygen -q -t ed25519 -N '' -f "$TMP/crowd_$i" && ssh-add -q "$TMP/crowd_$i" 2> /dev/null
done
ssh-keygen -q -t ed25519 -N 'secret-pass' -f "$TMP/locked_key"
cat >> "$HOME/.ssh/config" <<CONF
Host crowd-only
  HostName 127.0.0.1
  Port $SSHD_PORT
  IdentityFile $SSHD_DIR/client_key
  IdentitiesOnly yes
Host crowd-all
  HostName 127.0.0.1
  Port $SSHD_PORT
Host crowd-locked
  HostName 127.0.0.1
  Port $SSHD_PORT
  IdentityFile $TMP/locked_key
  IdentitiesOnly yes
Host crowd-missing
  HostName 127.0.0.1
  Port $SSHD_PORT
  IdentityFile $TMP/no_such_key
  IdentitiesOnly yes
CONF
cat > "$TMP/crowd.yaml" <<YAML
runbook: crowd
title: authentication with a crowded agent
targets:
  only: {type: ssh, host: crowd-only}
  all: {type: ssh, host: crowd-all}
  locked: {type: ssh, host: crowd-locked}
  missing: {type: ssh, host: crowd-missing}
steps:
  - {id: only, ssh: "echo only", on: only}
  - {id: all, ssh: "true", on: all}
  - {id: locked, ssh: "true", on: locked}
  - {id: missing, ssh: "true", on: missing}
YAML
"$BIN" exec "$TMP/crowd.yaml" --output json > "$TMP/crowd.json" 2>&1
check "crowded agent + IdentitiesOnly: the configured key is offered and accepted" '[ "$(field "$TMP/crowd.json" only stdout)" = "\"only\\n\"" ]' "$(field "$TMP/crowd.json" only error)"
check "crowded agent, no identity: refused, saying the agent's keys were refused" '[ "$(field "$TMP/crowd.json" all status)" = "\"failed\"" ] && field "$TMP/crowd.json" all error | grep -qE "ssh-agent: [0-9]+ key\(s\) refused"' "$(field "$TMP/crowd.json" all error)"
check "a passphrase-protected key file: the error says so" 'field "$TMP/crowd.json" locked error | grep -qF "passphrase-protected" && field "$TMP/crowd.json" locked error | grep -qF "IdentitiesOnly"' "$(field "$TMP/crowd.json" locked error)"
check "a missing key file: the error says so" 'field "$TMP/crowd.json" missing error | grep -qF "no_such_key missing"' "$(field "$TMP/crowd.json" missing error)"
kill "$agent_pid"; agent_pid=; unset SSH_AUTH_SOCK SSH_AGENT_PID

# Fan-out: 20 aliases and one dead address; the dead one fails fast.
hosts=$(for i in $(seq -w 1 20); do printf 'h%s, ' "$i"; done)
cat > "$TMP/fan.yaml" <<YAML
runbook: fan
title: fan-out
targets:
  web: {type: ssh, hosts: [${hosts}hdead], concurrency: 10}
steps:
  - id: up
    timeout: 10s
    ssh: "echo up"
  - id: again
    timeout: 10s
    ssh: "echo again"
YAML
start=$(date +%s%N)
"$BIN" exec "$TMP/fan.yaml" --output json > "$TMP/fan.json" 2>&1
took=$(( ($(date +%s%N) - start) / 1000000 ))
check "fan-out: 20 hosts ok" '[ "$(grep -c "\"stdout\": \"up\\\\n\"" "$TMP/fan.json")" = 20 ] && [ "$(grep -c "\"stdout\": \"again\\\\n\"" "$TMP/fan.json")" = 20 ]' "$(head -c 2000 "$TMP/fan.json")"
check "fan-out: the dead host is tried once (in the background), not again by each step" '[ "$(grep -c "Connection refused.*not tried again" "$TMP/fan.json")" = 2 ]' "$(grep -n "refused" "$TMP/fan.json")"
check "fan-out: the dead host failed with a clear error" 'grep -q "Connection refused" "$TMP/fan.json" && grep -q "1 of 21 hosts failed or timed out" "$TMP/fan.json"'
check "fan-out: step status is the worst" 'grep -q "^      \"status\": \"failed\"" "$TMP/fan.json"'
check "fan-out: the dead host did not hold the others ($took ms, deadline 10000)" '[ $took -lt 8000 ]'

# Connections overlap the work: the SSH session is being opened while an
# earlier step runs. The first step waits until a connection to the sshd is
# established (it would wait in vain if connecting started only at step 2).
port_hex=$(printf '%04X' "$SSHD_PORT")
cat > "$TMP/overlap.yaml" <<YAML
runbook: overlap
title: connections start at the beginning of the run
targets:
  app: {type: ssh, host: app}
steps:
  - id: wait_for_connection
    timeout: 10s
    shell: "for i in \$(seq 100); do grep -q ':$port_hex 01 ' /proc/net/tcp && exit 0; sleep 0.05; done; exit 1"
  - id: remote
    ssh: "echo hi"
YAML
"$BIN" exec "$TMP/overlap.yaml" --output json > "$TMP/overlap.json" 2>&1
check "the SSH connection opens while earlier steps run" '[ "$(field "$TMP/overlap.json" wait_for_connection status)" = "\"ok\"" ] && [ "$(field "$TMP/overlap.json" remote status)" = "\"ok\"" ]' "$(cat "$TMP/overlap.json")"

# The library's disk-full runbook against a real host, recorded; the
# recording is test data that replays as a test.
"$BIN" exec "$ROOT/runbooks/disk-full.yaml" -p host=h01 -p mountpoint=/ -p warn_pct=1 --record "$TMP/disk.json" --output json > "$TMP/disk.out" 2>&1; rc=$?
check "disk-full on a real host: df, inodes and du ran, the use was judged" '[ "$(field "$TMP/disk.out" space status)" = "\"ok\"" ] && [ "$(field "$TMP/disk.out" inodes status)" = "\"ok\"" ] && grep -q "space of / on h01 at [0-9]*%" "$TMP/disk.out"' "rc=$rc $(grep -n 'status\|message\|error' "$TMP/disk.out" | head -20)"
mkdir -p "$TMP/lib/recordings"
cp "$TMP/disk.json" "$TMP/lib/recordings/disk-h01.json"
sed '/^tests:/,$d' "$ROOT/runbooks/disk-full.yaml" > "$TMP/lib/disk-full.yaml"
cat >> "$TMP/lib/disk-full.yaml" <<'YAML'
tests:
  - name: the recording from a real host replays
    fixtures: recordings/disk-h01.json
    expect:
      findings: [{level: warning, match: "space of / on h01"}]
      steps: {space: ok, inodes: ok}
YAML
"$BIN" test "$TMP/lib/disk-full.yaml" > "$TMP/disk-test.out" 2>&1; rc=$?
check "... and its recording replays as a test (params from the recording)" '[ $rc = 0 ] && grep -q "1 passed, 0 failed" "$TMP/disk-test.out"' "$(cat "$TMP/disk-test.out")"

# Overlapping SSH steps on different targets run at once (SPEC section 4):
# three 1 s commands on three hosts take about 1 s; with sequential: true
# they take 3 s.
cat > "$TMP/par.yaml" <<'YAML'
runbook: par
title: three hosts at once
targets:
  one: {type: ssh, host: h01}
  two: {type: ssh, host: h02}
  three: {type: ssh, host: h03}
steps:
  - {id: a, on: one, ssh: "sleep 1; echo a"}
  - {id: b, on: two, ssh: "sleep 1; echo b"}
  - {id: c, on: three, ssh: "sleep 1; echo c"}
YAML
t_par=$(exec_ms "$TMP/par.yaml" "$TMP/par.json")
order=$(grep -o '"id": "[abc]"' "$TMP/par.json" | tr -d '\n')
check "three 1 s commands on three hosts overlap: $t_par ms, reported in the runbook's order" \
	'[ "$t_par" -lt 2500 ] && [ "$(field "$TMP/par.json" c stdout)" = "\"c\n\"" ] && [ "$order" = "\"id\": \"a\"\"id\": \"b\"\"id\": \"c\"" ]' \
	"$order $(grep -E '"(status|error)"' "$TMP/par.json" | head -8)"
sed 's/^title: three hosts at once/title: one after another\nsequential: true/' "$TMP/par.yaml" > "$TMP/seqssh.yaml"
t_seq=$(exec_ms "$TMP/seqssh.yaml" "$TMP/seqssh.json")
check "... and with sequential: true they do not ($t_seq ms)" '[ "$t_seq" -ge 3000 ]' "$(grep -E '"(status|error)"' "$TMP/seqssh.json" | head -8)"

# Steps on one host run at once as channels of its one session (SPEC
# section 4): three 1 s commands on one target take about 1 s, and their
# shells share one parent, the session's sshd process.
cat > "$TMP/chan.yaml" <<'YAML'
runbook: chan
title: one host, three steps at once
targets:
  app: {type: ssh, host: h04}
steps:
  - {id: a, ssh: "sleep 1; echo $PPID"}
  - {id: b, ssh: "sleep 1; echo $PPID"}
  - {id: c, ssh: "sleep 1; echo $PPID"}
YAML
t_chan=$(exec_ms "$TMP/chan.yaml" "$TMP/chan.json")
chan_ppids=$(grep -o '"stdout": "[0-9][0-9]*' "$TMP/chan.json" | sort -u | wc -l)
order=$(grep -o '"id": "[abc]"' "$TMP/chan.json" | tr -d '\n')
check "three 1 s commands on one host run as channels of one session: $t_chan ms, one sshd parent, in order" \
	'[ "$t_chan" -lt 2500 ] && [ "$chan_ppids" = 1 ] && [ "$(grep -c "\"status\": \"ok\"" "$TMP/chan.json")" -ge 3 ] && [ "$order" = "\"id\": \"a\"\"id\": \"b\"\"id\": \"c\"" ]' \
	"$chan_ppids parents; $(grep -E '"(status|error|stdout)"' "$TMP/chan.json" | head -12)"

# A stock sshd (MaxSessions 10, OpenSSH's default): twelve steps on one
# host at once still share its one session, at most 8 channels at a time
# (sequential they take 11 s). A step that times out among them is killed
# on its own; the others are unharmed.
stock_port=$(free_port)
grep -v '^MaxSessions' "$SSHD_DIR/sshd_config" | sed -e "s/^Port .*/Port $stock_port/" -e "s|^PidFile .*|PidFile $TMP/stock_sshd.pid|" \
	> "$TMP/stock_sshd_config"
/usr/sbin/sshd -f "$TMP/stock_sshd_config" -E "$TMP/stock_sshd.log"
wait_port "$stock_port"
echo "[127.0.0.1]:$stock_port $(cut -d' ' -f1,2 "$SSHD_DIR/host_key.pub")" >> "$HOME/.ssh/known_hosts"
printf 'Host stock\n  HostName 127.0.0.1\n  Port %s\n  IdentityFile %s\n' "$stock_port" "$SSHD_DIR/client_key" >> "$HOME/.ssh/config"
{
	printf 'runbook: many\ntitle: twelve steps on one host\ntargets:\n  app: {type: ssh, host: stock}\nsteps:\n'
	for i in $(seq -w 1 12); do printf '  - {id: s%s, ssh: "sleep 0.5; echo $PPID"}\n' "$i"; done
	printf '  - {id: late, timeout: 3s, ssh: "sleep 30"}\n'
	printf '  - {id: slow, ssh: "sleep 2; echo $PPID"}\n'
} > "$TMP/many.yaml"
t_many=$(exec_ms "$TMP/many.yaml" "$TMP/many.json")
many_ok=$(grep -c '^      "status": "ok"' "$TMP/many.json")
many_ppids=$(grep -o '"stdout": "[0-9][0-9]*' "$TMP/many.json" | sort -u | wc -l)
check "twelve steps on a host with MaxSessions 10: all ok ($many_ok), one session ($many_ppids parent), $t_many ms" \
	'[ "$many_ok" = 13 ] && [ "$many_ppids" = 1 ] && [ "$t_many" -lt 7000 ]' \
	"$(grep -E '"(status|error)"' "$TMP/many.json" | sort | uniq -c | head -12)"
check "... the one that timed out among them was killed alone (verified gone)" \
	'[ "$(field "$TMP/many.json" late status)" = "\"timeout\"" ] && field "$TMP/many.json" late error | grep -qF "(verified gone)" && [ "$(field "$TMP/many.json" slow status)" = "\"ok\"" ]' \
	"$(field "$TMP/many.json" late error) / $(field "$TMP/many.json" slow status) $(field "$TMP/many.json" slow error)"

# Big outputs on several channels of one session at once: each read to
# its end and counted, nothing stalls or crosses into another step.
cat > "$TMP/pbulk.yaml" <<'YAML'
runbook: pbulk
title: bulk output on parallel channels
targets:
  app: {type: ssh, host: h05}
steps:
  - {id: a, timeout: 60s, ssh: "head -c 50000000 /dev/zero; head -c 2000000 /dev/zero >&2"}
  - {id: b, timeout: 60s, ssh: "head -c 40000000 /dev/zero | tr '\\0' x"}
  - {id: c, ssh: "echo small"}
  - {id: d, timeout: 60s, ssh: "(head -c 20000000 /dev/zero >&2 &); head -c 30000000 /dev/zero"}
YAML
"$BIN" exec "$TMP/pbulk.yaml" --output json > "$TMP/pbulk.json" 2>&1
check "big outputs on four channels of one session at once: each complete and its own" \
	'[ "$(grep -c "^      \"status\": \"ok\"" "$TMP/pbulk.json")" = 4 ] && [ "$(field "$TMP/pbulk.json" a stdout_truncated)" = 50000000 ] && [ "$(field "$TMP/pbulk.json" a stderr_truncated)" = 2000000 ] && [ "$(field "$TMP/pbulk.json" b stdout_truncated)" = 40000000 ] && [ "$(field "$TMP/pbulk.json" c stdout)" = "\"small\n\"" ] && [ "$(field "$TMP/pbulk.json" d stdout_truncated)" = 30000000 ] && [ "$(field "$TMP/pbulk.json" d stderr_truncated)" = 20000000 ]' \
	"$(grep -E '"(status|error|stdout_truncated|stderr_truncated)"' "$TMP/pbulk.json" | head -20)"

echo "$pass passed, $fail failed"
[ "$fail" = 0 ]
