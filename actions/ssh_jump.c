/* ssh_jump: shared jump sessions and their pump threads. See ssh_jump.h. */
#define _POSIX_C_SOURCE 200809L
#include "ssh_jump.h"
#include "action.h"
#include "util.h"

#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <pthread.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#define BUF 32768
#define MAX_POLL 256

struct ssh_tunnel {
	LIBSSH2_CHANNEL *ch;
	int fd;                      /* the pump's end of the socketpair */
	char up[BUF], down[BUF];     /* ours -> channel, channel -> ours */
	size_t up_len, up_off, down_len, down_off;
	int in_eof, ch_eof, shut, broken, dead;
	struct ssh_tunnel *next;
};

struct ssh_jump {
	char *key;
	LIBSSH2_SESSION *s;
	int sock;
	void *owner;
	ssh_jump_free_fn free_fn;
	pthread_mutex_t mu;          /* every libssh2 call on s, and the tunnel list */
	pthread_t pump;
	int wake[2];
	int stop, refs;
	int ready, failed;           /* connected; or the connection failed (fail_err) */
	char *fail_err;
	struct ssh_tunnel *tunnels;
	struct ssh_jump *next;
};

/* The jumps by key. A jump being connected is in it too (not ready): the
 * hosts that want it meanwhile wait for it instead of connecting again,
 * and the registry is not locked while a connection is made (a chain
 * acquires the jumps before it from inside the connection). */
static pthread_mutex_t reg_mu = PTHREAD_MUTEX_INITIALIZER;
static pthread_cond_t reg_cv = PTHREAD_COND_INITIALIZER;
static struct ssh_jump *reg;

static void unlink_locked(struct ssh_jump *j)
{
	for (struct ssh_jump **jp = &reg; *jp; jp = &(*jp)->next)
		if (*jp == j) {
			*jp = j->next;
			return;
		}
}

/* One user less of a jump that never connected (reg_mu held). */
static void drop_failed_locked(struct ssh_jump *j)
{
	if (--j->refs)
		return;
	free(j->fail_err);
	free(j->key);
	free(j);
}

static void wake(struct ssh_jump *j)
{
	ssize_t ignored = write(j->wake[1], "x", 1);
	(void)ignored;
}

/* Moves what can move between one tunnel's channel and socket (j->mu
 * held). Returns whether anything moved. */
static int step(struct ssh_tunnel *t)
{
	int moved = 0;
	if (t->broken)
		return 0;
	if (!t->up_len && !t->in_eof) {
		ssize_t n = read(t->fd, t->up, sizeof t->up);
		if (n > 0)
			t->up_len = (size_t)n, t->up_off = 0, moved = 1;
		else if (n == 0)
			t->in_eof = moved = 1;
		else if (errno != EAGAIN && errno != EINTR)
			t->broken = 1;
	}
	if (t->up_len) {
		ssize_t n = libssh2_channel_write(t->ch, t->up + t->up_off, t->up_len - t->up_off);
		if (n > 0) {
			t->up_off += (size_t)n, moved = 1;
			if (t->up_off == t->up_len)
				t->up_len = 0;
		} else if (n != LIBSSH2_ERROR_EAGAIN) {
			t->broken = 1;
		}
	}
	if (!t->down_len && !t->ch_eof) {
		ssize_t n = libssh2_channel_read(t->ch, t->down, sizeof t->down);
		if (n > 0)
			t->down_len = (size_t)n, t->down_off = 0, moved = 1;
		else if ((n == 0 || n == LIBSSH2_ERROR_EAGAIN) && libssh2_channel_eof(t->ch))
			t->ch_eof = moved = 1;
		else if (n < 0 && n != LIBSSH2_ERROR_EAGAIN)
			t->broken = 1;
	}
	if (t->down_len) {
		ssize_t n = send(t->fd, t->down + t->down_off, t->down_len - t->down_off, MSG_NOSIGNAL); /* no SIGPIPE when the session has gone */
		if (n > 0) {
			t->down_off += (size_t)n, moved = 1;
			if (t->down_off == t->down_len)
				t->down_len = 0;
		} else if (n < 0 && errno != EAGAIN && errno != EINTR) {
			t->broken = 1;
		}
	}
	if ((t->ch_eof && !t->down_len && !t->shut) || t->broken) {
		shutdown(t->fd, t->broken ? SHUT_RDWR : SHUT_WR); /* the session over it sees the end */
		t->shut = 1;
	}
	return moved;
}

/* Frees a tunnel whose user is done (j->mu held): 1 when gone, 0 when the
 * channel's close has to wait for the socket. */
static int reap(struct ssh_tunnel *t)
{
	if (t->ch) {
		if (libssh2_channel_free(t->ch) == LIBSSH2_ERROR_EAGAIN)
			return 0;
		t->ch = NULL;
	}
	close(t->fd);
	free(t);
	return 1;
}

static void *pump_main(void *arg)
{
	struct ssh_jump *j = arg;
	struct pollfd p[MAX_POLL];
	for (;;) {
		pthread_mutex_lock(&j->mu);
		if (j->stop)
			break;
		int moved = 0;
		for (struct ssh_tunnel **tp = &j->tunnels; *tp;) {
			struct ssh_tunnel *t = *tp, *next = t->next;
			if (t->dead && reap(t)) {
				*tp = next;
				continue;
			}
			if (!t->dead)
				moved |= step(t);
			tp = &t->next;
		}
		if (moved) {
			pthread_mutex_unlock(&j->mu);
			continue;
		}
		int dir = libssh2_session_block_directions(j->s), n = 0;
		p[n++] = (struct pollfd){j->sock, (short)(POLLIN | (dir & LIBSSH2_SESSION_BLOCK_OUTBOUND ? POLLOUT : 0)), 0};
		p[n++] = (struct pollfd){j->wake[0], POLLIN, 0};
		for (struct ssh_tunnel *t = j->tunnels; t && n < MAX_POLL; t = t->next)
			if (!t->dead && !t->broken)
				p[n++] = (struct pollfd){t->fd, (short)((!t->up_len && !t->in_eof ? POLLIN : 0) |
									 (t->down_len ? POLLOUT : 0)), 0};
		int next = 15;
		libssh2_keepalive_send(j->s, &next);
		pthread_mutex_unlock(&j->mu);
		if (poll(p, (nfds_t)n, 1000) > 0 && p[1].revents) {
			char buf[64];
			while (read(j->wake[0], buf, sizeof buf) > 0)
				;
		}
	}
	/* the end: every channel closed, within a second */
	libssh2_session_set_timeout(j->s, 1000);
	libssh2_session_set_blocking(j->s, 1);
	while (j->tunnels) {
		struct ssh_tunnel *t = j->tunnels;
		j->tunnels = t->next;
		reap(t);
	}
	libssh2_session_set_blocking(j->s, 0);
	pthread_mutex_unlock(&j->mu);
	return NULL;
}

struct ssh_jump *ssh_jump_acquire(const char *key, ssh_jump_connect_fn fn, ssh_jump_free_fn free_fn, void *ud,
				  char **err)
{
	pthread_mutex_lock(&reg_mu);
	struct ssh_jump *j = reg;
	while (j && strcmp(j->key, key))
		j = j->next;
	if (j) { /* two hosts behind one bastion share the session the first opens */
		j->refs++;
		while (!j->ready && !j->failed)
			pthread_cond_wait(&reg_cv, &reg_mu);
		if (j->failed) {
			*err = xstrdup(j->fail_err);
			drop_failed_locked(j);
			j = NULL;
		}
		pthread_mutex_unlock(&reg_mu);
		return j;
	}
	j = xcalloc(1, sizeof *j);
	j->key = xstrdup(key);
	j->free_fn = free_fn;
	j->refs = 1;
	j->next = reg;
	reg = j;
	pthread_mutex_unlock(&reg_mu);
	char *why = NULL;
	int rc = fn(ud, &j->s, &j->sock, &j->owner, &why);
	if (!rc) {
		pthread_mutex_init(&j->mu, NULL);
		if (pipe(j->wake) || pthread_create(&j->pump, NULL, pump_main, j)) {
			why = xasprintf("cannot start its thread: %s", strerror(errno));
			free_fn(j->owner);
			rc = -1;
		}
	}
	pthread_mutex_lock(&reg_mu);
	if (rc) {
		unlink_locked(j); /* the next host tries afresh */
		j->failed = 1;
		j->fail_err = why ? why : xstrdup("the connection failed");
		*err = xstrdup(j->fail_err);
		pthread_cond_broadcast(&reg_cv);
		drop_failed_locked(j);
		pthread_mutex_unlock(&reg_mu);
		return NULL;
	}
	for (int i = 0; i < 2; i++) {
		fcntl(j->wake[i], F_SETFD, FD_CLOEXEC);
		fcntl(j->wake[i], F_SETFL, O_NONBLOCK);
	}
	j->ready = 1;
	pthread_cond_broadcast(&reg_cv);
	pthread_mutex_unlock(&reg_mu);
	return j;
}

int ssh_jump_tunnel(struct ssh_jump *j, const char *where, const char *host, int port, int64_t deadline,
		    const volatile int *cancel, struct ssh_tunnel **out, char **err)
{
	*out = NULL;
	LIBSSH2_CHANNEL *ch;
	pthread_mutex_lock(&j->mu);
	while (!(ch = libssh2_channel_direct_tcpip_ex(j->s, host, port, "127.0.0.1", 22)) &&
	       libssh2_session_last_errno(j->s) == LIBSSH2_ERROR_EAGAIN) {
		int dir = libssh2_session_block_directions(j->s);
		pthread_mutex_unlock(&j->mu);
		/* briefly: the pump may read the answer off the socket first */
		int64_t until = now_ms() + 20 < deadline ? now_ms() + 20 : deadline;
		int w = action_wait_fd(j->sock, (short)(dir & LIBSSH2_SESSION_BLOCK_OUTBOUND ? POLLOUT : POLLIN), until, cancel);
		if (w == 2 || (w == 1 && until >= deadline) || w < 0) {
			*err = xasprintf("ProxyJump %s: opening a channel to %s:%d: %s", where, host, port,
					 w == 2 ? "interrupted" : w == 1 ? "deadline passed" : "socket error");
			return -1;
		}
		pthread_mutex_lock(&j->mu);
	}
	if (!ch) {
		char *m = NULL;
		libssh2_session_last_error(j->s, &m, NULL, 0);
		*err = xasprintf("ProxyJump %s refused a channel to %s:%d (%s): is TCP forwarding allowed there, and does it "
				 "reach that address?",
				 where, host, port, m ? m : "no reason given");
		pthread_mutex_unlock(&j->mu);
		return -1;
	}
	int sv[2];
	if (socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, sv)) {
		*err = xasprintf("ProxyJump: socketpair: %s", strerror(errno));
		libssh2_channel_free(ch);
		pthread_mutex_unlock(&j->mu);
		return -1;
	}
	fcntl(sv[0], F_SETFL, O_NONBLOCK);
	fcntl(sv[1], F_SETFL, O_NONBLOCK);
	struct ssh_tunnel *t = xcalloc(1, sizeof *t);
	t->ch = ch;
	t->fd = sv[1];
	t->next = j->tunnels;
	j->tunnels = t;
	pthread_mutex_unlock(&j->mu);
	wake(j);
	*out = t;
	return sv[0];
}

void ssh_tunnel_close(struct ssh_jump *j, struct ssh_tunnel *t)
{
	pthread_mutex_lock(&j->mu);
	t->dead = 1; /* the pump closes the channel and frees it */
	pthread_mutex_unlock(&j->mu);
	wake(j);
}

void ssh_jump_release(struct ssh_jump *j)
{
	pthread_mutex_lock(&reg_mu);
	int last = --j->refs == 0;
	if (last)
		unlink_locked(j);
	pthread_mutex_unlock(&reg_mu);
	if (!last)
		return;
	pthread_mutex_lock(&j->mu);
	j->stop = 1;
	pthread_mutex_unlock(&j->mu);
	wake(j);
	pthread_join(j->pump, NULL);
	j->free_fn(j->owner); /* the jump session itself, and whatever it went through */
	close(j->wake[0]);
	close(j->wake[1]);
	pthread_mutex_destroy(&j->mu);
	free(j->key);
	free(j);
}
