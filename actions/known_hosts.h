/*
 * known_hosts: which host key types known_hosts has for a host, so the SSH
 * handshake asks for one of those (as OpenSSH does). Without it, libssh2
 * picks the server's first type it supports - often ECDSA - and a host
 * whose known_hosts entry is ED25519 would be refused as "unknown".
 * And whether the key a host presented is the one on record.
 */
#ifndef RUNBOOK_KNOWN_HOSTS_H
#define RUNBOOK_KNOWN_HOSTS_H

#include <stddef.h>

/* A comma-separated host key algorithm list for host:port from the file,
 * best first, or NULL when it has none (caller frees). Plain and hashed
 * (|1|salt|hash) entries, "host" and "[host]:port" forms. */
char *known_hosts_algorithms(const char *path, const char *host, int port);

/* What known_hosts says of the key host:port presented (its raw SSH blob),
 * as OpenSSH reads it: plain and hashed entries, `[host]:port`, patterns
 * with `*`, `?` and `!` (a matching negation vetoes the line). A key on an
 * `@revoked` line is refused even if also listed plainly; a key of the
 * same type on record but different is CHANGED; a host vouched for only
 * by `@cert-authority` is CA_ONLY (host certificates are not accepted). */
enum kh_verdict { KH_MATCH, KH_CHANGED, KH_REVOKED, KH_CA_ONLY, KH_UNKNOWN };
enum kh_verdict known_hosts_check(const char *path, const char *host, int port, const unsigned char *key,
				  size_t len);

/* The public key blob of key file KEY, from KEY.pub ("type base64
 * comment"), or NULL when there is none (caller frees). */
unsigned char *public_key_blob(const char *key, size_t *len);

#endif
