/*
 * known_hosts: which host key types known_hosts has for a host, so the SSH
 * handshake asks for one of those (as OpenSSH does). Without it, libssh2
 * picks the server's first type it supports - often ECDSA - and a host
 * whose known_hosts entry is ED25519 would be refused as "unknown".
 */
#ifndef RUNBOOK_KNOWN_HOSTS_H
#define RUNBOOK_KNOWN_HOSTS_H

/* A comma-separated host key algorithm list for host:port from the file,
 * best first, or NULL when it has none (caller frees). Plain and hashed
 * (|1|salt|hash) entries, "host" and "[host]:port" forms. */
char *known_hosts_algorithms(const char *path, const char *host, int port);

#endif
