# Shell helpers shared by the test, demo and bench scripts (sourced).

# A free TCP port on 127.0.0.1 (nothing answers on it right now).
free_port() {
	local port
	for _ in $(seq 200); do
		port=$((20000 + RANDOM % 30000))
		if ! (exec 3<>"/dev/tcp/127.0.0.1/$port") 2>/dev/null; then
			echo "$port"
			return 0
		fi
	done
	return 1
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
