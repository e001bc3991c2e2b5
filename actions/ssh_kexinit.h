/*
 * ssh_kexinit: which host key algorithms an SSH server offers, read from
 * its first key-exchange message (RFC 4253 §7.1), so a handshake that
 * libssh2 gives up on ("KEX failure") can be explained: typically a
 * server that offers only RSA with SHA-2 to a libssh2 that verifies RSA
 * host keys with SHA-1 alone.
 */
#ifndef RUNBOOK_SSH_KEXINIT_H
#define RUNBOOK_SSH_KEXINIT_H

#include <stdint.h>

/* Connects nothing: speaks the version exchange on fd (a fresh, connected,
 * non-blocking socket) and returns the server's server_host_key_algorithms
 * name-list (caller frees), or NULL on any error, past deadline_ms, or once
 * *cancel is non-zero (may be NULL). */
char *ssh_server_hostkey_algs(int fd, int64_t deadline_ms, const volatile int *cancel);

#endif
