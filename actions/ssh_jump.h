/*
 * ssh_jump: ProxyJump's plumbing. A jump is one SSH session to a jump
 * host, shared by every host reached through it in a run (a fan-out of
 * twenty hosts behind a bastion is one session to the bastion), and one
 * thread that owns it: each host gets a `direct-tcpip` channel through
 * the jump session and speaks SSH over our end of a socketpair, which the
 * thread pumps to and from its channel. Jumps are kept by name while
 * someone uses them, and closed with the last user.
 */
#ifndef RUNBOOK_SSH_JUMP_H
#define RUNBOOK_SSH_JUMP_H

#include <libssh2.h>
#include <stdint.h>

struct ssh_jump;
struct ssh_tunnel;

/* Connects to the jump host (authenticated, its host key checked): its
 * session, socket and an owner handed back to free_fn at the end. */
typedef int (*ssh_jump_connect_fn)(void *ud, LIBSSH2_SESSION **s, int *sock, void **owner, char **err);
typedef void (*ssh_jump_free_fn)(void *owner);

/* The jump named key (what makes two sessions the same), connecting it
 * with fn when there is none yet. NULL with *err. */
struct ssh_jump *ssh_jump_acquire(const char *key, ssh_jump_connect_fn fn, ssh_jump_free_fn free_fn, void *ud,
				  char **err);
/* Opens a channel through j to host:port and returns our end of its
 * socketpair (non-blocking), with *t to close it; -1 with *err (`where`
 * names the jump host in it). It stops waiting at deadline or once
 * *cancel (the caller's run's; may be NULL) is non-zero. */
int ssh_jump_tunnel(struct ssh_jump *j, const char *where, const char *host, int port, int64_t deadline,
		    const volatile int *cancel, struct ssh_tunnel **t, char **err);
/* The session over the tunnel is done (its socket closed by the caller). */
void ssh_tunnel_close(struct ssh_jump *j, struct ssh_tunnel *t);
/* One user less; the last one closes the jump session. */
void ssh_jump_release(struct ssh_jump *j);

#endif
