/*
 * ssh: a command on every host of an ssh target, over libssh2.
 *
 * - One SSH session per host per run (found in the run's pool, opened on
 *   first use), a channel per command. Steps on one host run at once as
 *   channels of its session (at most MAX_CHANNELS at a time, under sshd's
 *   MaxSessions): the threads that use a session take turns on its lock
 *   for every libssh2 call and wait together (session_wait).
 * - Fan-out: the hosts of a target run concurrently, at most `concurrency`
 *   at once (default 10), each within the step's deadline, so one slow or
 *   dead host never delays the others past it. The step's status is the
 *   worst of the hosts'.
 * - Every wait (TCP connect, handshake, authentication, the command) is a
 *   non-blocking loop bounded by the deadline.
 * - Host keys are verified against known_hosts (the target's file, else
 *   ~/.ssh/known_hosts; hashed entries too); an unknown or changed key is
 *   refused with its SHA256 fingerprint, like StrictHostKeyChecking=yes.
 * - Authentication: ssh-agent, then the target's identity, then the
 *   default key files. Never a password.
 * - The remote shell prints its PID first (to stderr, removed from the
 *   output). sshd makes each command a session leader, so past the deadline
 *   a second channel kills the command's whole process group remotely.
 */
#define _POSIX_C_SOURCE 200809L
#include "action.h"
#include "background.h"
#include "known_hosts.h"
#include "ssh_kexinit.h"
#include "ssh_config.h"
#include "ssh_jump.h"
#include "util.h"

#include <errno.h>
#include <fcntl.h>
#include <libssh2.h>
#include <netdb.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <poll.h>
#include <pthread.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <signal.h>
#include <time.h>
#include <unistd.h>

#define PID_MARK "runbook-remote-pid:"

struct sshhost {
	char *key;      /* user@hostname:port */
	int sock;
	LIBSSH2_SESSION *s;
	/* Sharing: mu is held around every libssh2 call on s. One thread at a
	 * time polls sock for all (polling); any bytes read, by whoever read
	 * them (rx, counted by the recv callback), may be for another's
	 * channel: they wake the waiters (gen, cv) and the poller (kick). */
	pthread_mutex_t mu;
	pthread_cond_t cv;
	int kick[2];
	int polling;
	unsigned long gen;
	unsigned long long rx, rx_seen;
	int users;      /* steps using it now (guarded by the pool's lock) */
	int dead;       /* no new users: freed when the last one leaves */
	int channels;   /* command channels open (guarded by mu) */
	int tcp;        /* sock is a TCP connection (not a ProxyCommand's or a jump's) */
	pid_t proxy;    /* the ProxyCommand's process, or 0 */
	const volatile int *cancel; /* its run's (action_env.cancel); NULL once shared */
	/* ProxyJump: the shared jump session and our channel through it
	 * (sock is our end of its socketpair) */
	struct ssh_jump *via;
	struct ssh_tunnel *tun;
};

#define MAX_JUMPS 8
/* Command channels at once on one session: sshd's MaxSessions is 10 by
 * default, and a timed-out command needs one more to be killed. */
#define MAX_CHANNELS 8

/* A host whose connection failed: later steps fail at once with this. */
struct sshfail {
	char *key, *err, *step;
	int timed_out;
};

struct sshpool {
	struct background bg;   /* its mutex guards the pool too */
	struct sshhost **h;     /* idle sessions (NULL: taken) */
	size_t n;
	struct sshfail *fail;
	size_t nfail;
	const volatile int *cancel; /* the run's (action_env.cancel) */
};

/* Called with the pool locked: remembers that a host's connection failed
 * (step NULL: in the background). */
static void remember_failure(struct sshpool *pool, const char *key, const char *step, const char *err, int timed_out)
{
	for (size_t i = 0; i < pool->nfail; i++)
		if (!strcmp(pool->fail[i].key, key))
			return;
	pool->fail = xrealloc(pool->fail, (pool->nfail + 1) * sizeof *pool->fail);
	struct sshfail *f = &pool->fail[pool->nfail++];
	f->key = xstrdup(key);
	f->err = xstrdup(err ? err : "cannot connect");
	f->step = step ? xstrdup(step) : NULL;
	f->timed_out = timed_out;
}

static pthread_once_t init_once = PTHREAD_ONCE_INIT;
static void ssh_lib_init(void)
{
	libssh2_init(0);
}

/* ---- rendering ---- */

/* The host list of an ssh target: `hosts`, or `host` as a string or list. */
static json_t *host_list(json_t *target)
{
	json_t *h = json_object_get(target, "hosts");
	if (!h)
		h = json_object_get(target, "host");
	if (json_is_string(h)) {
		json_t *a = json_array();
		json_array_append(a, h);
		return a;
	}
	return json_incref(json_is_array(h) ? h : json_array());
}

static char *ssh_render(const struct action_call *call)
{
	struct sbuf sb;
	sbuf_init(&sb);
	json_t *hosts = host_list(call->target);
	const char *user = json_string_value(json_object_get(call->target, "user"));
	size_t i;
	json_t *h;
	json_array_foreach(hosts, i, h) {
		if (i)
			sbuf_addc(&sb, '\n');
		sbuf_addf(&sb, "ssh %s%s%s: %s", user ? user : "", user ? "@" : "", json_string_value(h), call->text);
	}
	json_decref(hosts);
	return sbuf_detach(&sb);
}

/* ---- waiting: sessions shared by the threads of a run ---- */

/* libssh2 reads the socket through this: what it reads is counted, so
 * that the threads waiting on the session learn of it (an EOF too). */
static LIBSSH2_RECV_FUNC(counted_recv)
{
	struct sshhost *h = *abstract;
	ssize_t n = recv(socket, buffer, length, flags);
	if (n < 0)
		return errno == EWOULDBLOCK ? -EAGAIN : -errno;
	h->rx += n ? (unsigned long long)n : 1;
#ifdef TCP_QUICKACK
	/* acknowledge at once, not after the kernel's delayed-ACK timer: sshd
	 * leaves Nagle's algorithm on for sessions without a terminal, so its
	 * next small packet (a command's output, its exit status) waited up
	 * to 40 ms for our ACK. Linux turns quick ACKs off again by itself:
	 * set after every read. */
	if (h->tcp && n > 0)
		setsockopt(socket, IPPROTO_TCP, TCP_QUICKACK, &(int){1}, sizeof(int));
#endif
	return n;
}

static struct sshhost *host_new(const volatile int *cancel)
{
	struct sshhost *h = xcalloc(1, sizeof *h);
	h->sock = -1;
	h->cancel = cancel;
	cond_init_monotonic(&h->cv);
	pthread_mutex_init(&h->mu, NULL);
	if (pipe(h->kick) == 0) {
		for (int i = 0; i < 2; i++) {
			fcntl(h->kick[i], F_SETFL, O_NONBLOCK);
			fcntl(h->kick[i], F_SETFD, FD_CLOEXEC);
		}
	} else {
		h->kick[0] = h->kick[1] = -1;
	}
	return h;
}

/* Called with h->mu held after a libssh2 call: when it read bytes, they
 * may be queued for another thread's channel, so every waiter looks. */
static void share_news(struct sshhost *h)
{
	if (h->rx == h->rx_seen)
		return;
	h->rx_seen = h->rx;
	h->gen++;
	pthread_cond_broadcast(&h->cv);
	if (h->polling && h->kick[1] >= 0) {
		ssize_t ignored = write(h->kick[1], "x", 1);
		(void)ignored;
	}
}

static void host_unlock(struct sshhost *h)
{
	share_news(h);
	pthread_mutex_unlock(&h->mu);
}

/* Whether h's run was cancelled. */
static int cancelled(const struct sshhost *h)
{
	return h->cancel && *h->cancel;
}

/* Waits on h->cv (h->mu held) for a while, at most `slice` ms, for room on
 * the session (a channel closing). Returns 0, 1 the deadline passed, 2
 * the run was cancelled. */
static int wait_room(struct sshhost *h, int64_t deadline, int64_t slice)
{
	if (cancelled(h))
		return 2;
	int64_t left = deadline - now_ms();
	if (left <= 0)
		return 1;
	cond_wait_ms(&h->cv, &h->mu, left < slice ? left : slice);
	return 0;
}

/* Waits, with h->mu held (released meanwhile), after a libssh2 call would
 * block, until the session may have news: bytes arrived (whoever read
 * them), or its socket is ready the way libssh2 is blocked. One thread
 * polls the socket; the others wait for it. Returns 0 news, 1 `until` (a
 * now_ms() value) passed, 2 the run was cancelled, -1 socket error. */
static int session_wait(struct sshhost *h, int64_t until)
{
	share_news(h);
	for (;;) {
		if (cancelled(h))
			return 2;
		int64_t left = until - now_ms();
		if (left <= 0)
			return 1;
		if (left > 100)
			left = 100; /* wake up for a cancellation */
		if (h->polling) {
			unsigned long g = h->gen;
			cond_wait_ms(&h->cv, &h->mu, left);
			if (h->gen != g)
				return 0;
			continue;
		}
		int dir = libssh2_session_block_directions(h->s);
		struct pollfd p[2] = {{h->sock, POLLIN, 0}, {h->kick[0], POLLIN, 0}};
		if (dir & LIBSSH2_SESSION_BLOCK_OUTBOUND)
			p[0].events |= POLLOUT;
		h->polling = 1;
		pthread_mutex_unlock(&h->mu);
		int r = poll(p, h->kick[0] >= 0 ? 2 : 1, (int)left);
		int e = errno;
		pthread_mutex_lock(&h->mu);
		h->polling = 0;
		if (p[1].revents) {
			char buf[64];
			while (read(h->kick[0], buf, sizeof buf) > 0)
				;
		}
		if (r > 0 && p[0].revents)
			h->gen++;
		pthread_cond_broadcast(&h->cv); /* another may poll now */
		if (r < 0 && e != EINTR)
			return -1;
		if (r > 0)
			return 0;
	}
}

/* A call that would block: EAGAIN, or, on a shared session, another
 * thread's packet still half sent (libssh2 refuses to start another). */
static int would_block(const struct sshhost *h, int rc)
{
	return rc == LIBSSH2_ERROR_EAGAIN ||
	       (rc == LIBSSH2_ERROR_BAD_USE && __atomic_load_n(&h->users, __ATOMIC_RELAXED) > 1);
}

/* Repeats a libssh2 call while it would block, within the deadline
 * (h->mu held). */
#define NB(h, deadline, w, call)                                              \
	({                                                                    \
		int rc_;                                                      \
		w = 0;                                                        \
		while (would_block(h, rc_ = (call))) {                        \
			if ((w = session_wait(h, deadline)))                  \
				break;                                        \
		}                                                             \
		rc_;                                                          \
	})

/* Opens a session channel within the deadline (h->mu held); NULL with *w
 * set when it could not. A server at its MaxSessions refuses a channel
 * while others are open (or closing): wait for one to close, try again. */
static LIBSSH2_CHANNEL *open_channel(struct sshhost *h, int64_t deadline, int *w)
{
	LIBSSH2_CHANNEL *ch;
	*w = 0;
	for (;;) {
		while (!(ch = libssh2_channel_open_session(h->s)) && would_block(h, libssh2_session_last_errno(h->s)) &&
		       !(*w = session_wait(h, deadline)))
			;
		if (ch || *w || libssh2_session_last_errno(h->s) != LIBSSH2_ERROR_CHANNEL_FAILURE || !h->channels)
			return ch;
		if ((*w = wait_room(h, deadline, 50)))
			return NULL;
	}
}

static const char *why(int w)
{
	return w == 2 ? "interrupted" : w == 1 ? "deadline passed" : "socket error";
}

/* ---- connecting ---- */

/* Runs the config's ProxyCommand (tokens already expanded) with one end
 * of a socketpair as its stdin and stdout; SSH is spoken over the other.
 * Its stderr goes nowhere: it would reach the terminal raw. */
static int proxy_connect(const char *cmd, pid_t *pid, char **err)
{
	int sv[2];
	if (socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, sv)) {
		*err = xasprintf("ProxyCommand: socketpair: %s", strerror(errno));
		return -1;
	}
	int devnull = open("/dev/null", O_WRONLY | O_CLOEXEC);
	sigset_t none;
	sigemptyset(&none);
	*pid = fork();
	if (*pid == 0) { /* only async-signal-safe calls from here */
		sigprocmask(SIG_SETMASK, &none, NULL); /* this thread's blocked signals are not its */
		dup2(sv[1], 0);
		dup2(sv[1], 1);
		if (devnull >= 0)
			dup2(devnull, 2);
		setpgid(0, 0); /* its own group: killed whole with the session */
		execl("/bin/sh", "sh", "-c", cmd, (char *)NULL);
		_exit(127);
	}
	if (devnull >= 0)
		close(devnull);
	close(sv[1]);
	if (*pid < 0) {
		*err = xasprintf("ProxyCommand: fork: %s", strerror(errno));
		close(sv[0]);
		*pid = 0;
		return -1;
	}
	fcntl(sv[0], F_SETFL, O_NONBLOCK);
	return sv[0];
}

static int tcp_connect(const char *host, int port, int64_t deadline, const volatile int *cancel, char **err)
{
	char ports[16];
	snprintf(ports, sizeof ports, "%d", port);
	struct addrinfo hints = {0}, *res = NULL;
	hints.ai_socktype = SOCK_STREAM;
	int gai = getaddrinfo(host, ports, &hints, &res);
	if (gai) {
		*err = xasprintf("cannot resolve %s: %s", host, gai_strerror(gai));
		return -1;
	}
	int fd = -1;
	char *last = NULL;
	for (struct addrinfo *a = res; a && fd < 0; a = a->ai_next) {
		fd = socket(a->ai_family, a->ai_socktype | SOCK_CLOEXEC, a->ai_protocol);
		if (fd < 0)
			continue;
		fcntl(fd, F_SETFL, O_NONBLOCK);
		/* as OpenSSH does: SSH writes small packets back to back (KEXINIT
		 * then the key exchange, NEWKEYS then the service request); with
		 * Nagle's algorithm each second one waited for the server's
		 * delayed ACK, 40 ms, twice per connection */
		setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &(int){1}, sizeof(int));
		if (connect(fd, a->ai_addr, a->ai_addrlen) == 0)
			break;
		int w = errno == EINPROGRESS ? action_wait_fd(fd, POLLOUT, deadline, cancel) : -1;
		int soerr = 0;
		socklen_t sl = sizeof soerr;
		if (w == 0 && getsockopt(fd, SOL_SOCKET, SO_ERROR, &soerr, &sl) == 0 && soerr == 0)
			break;
		free(last);
		last = w > 0 ? xasprintf("connect to %s port %d: %s", host, port, w == 1 ? "timed out" : "interrupted")
			     : xasprintf("connect to %s port %d: %s", host, port, strerror(soerr ? soerr : errno));
		close(fd);
		fd = -1;
		if (w > 0)
			break;
	}
	freeaddrinfo(res);
	if (fd < 0)
		*err = last ? last : xasprintf("cannot connect to %s port %d", host, port);
	else
		free(last);
	return fd;
}

static char *b64(const unsigned char *in, size_t n)
{
	static const char tab[] = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
	struct sbuf sb;
	sbuf_init(&sb);
	for (size_t i = 0; i < n; i += 3) {
		unsigned v = (unsigned)in[i] << 16 | (i + 1 < n ? (unsigned)in[i + 1] << 8 : 0) | (i + 2 < n ? in[i + 2] : 0);
		sbuf_addc(&sb, tab[v >> 18 & 63]);
		sbuf_addc(&sb, tab[v >> 12 & 63]);
		if (i + 1 < n)
			sbuf_addc(&sb, tab[v >> 6 & 63]);
		if (i + 2 < n)
			sbuf_addc(&sb, tab[v & 63]);
	}
	return sbuf_detach(&sb); /* unpadded, as OpenSSH prints it */
}

/* host and port: the name known_hosts is read under (HostKeyAlias, or the
 * host); cfg: where the key can be fetched from. */
static int check_host_key(struct sshhost *h, const char *host, int port, const struct ssh_host_config *cfg,
			  const char *known, char **err)
{
	char *scan = cfg->host_key_alias ? xasprintf("ssh-keyscan -p %d %s, recorded under the name %s", cfg->port,
						     cfg->hostname, host)
					 : xasprintf("ssh-keyscan -p %d %s", port, host);
	size_t len;
	int type;
	const char *key = libssh2_session_hostkey(h->s, &len, &type);
	const char *hash = libssh2_hostkey_hash(h->s, LIBSSH2_HOSTKEY_HASH_SHA256);
	char *fp = hash ? b64((const unsigned char *)hash, 32) : xstrdup("?");
	(void)type;
	enum kh_verdict v = key ? known_hosts_check(known, host, port, (const unsigned char *)key, len) : KH_UNKNOWN;
	int ok = v == KH_MATCH;
	if (v == KH_REVOKED)
		*err = xasprintf("host key for %s (SHA256:%s) is REVOKED in %s; refusing to connect", host, fp, known);
	else if (v == KH_CHANGED)
		*err = xasprintf("host key for %s has CHANGED (now SHA256:%s); refusing to connect: check with the host's "
				 "owner, then fix %s",
				 host, fp, known);
	else if (v == KH_CA_ONLY)
		*err = xasprintf("host key for %s (SHA256:%s) is vouched for only by a @cert-authority line in %s, and "
				 "host certificates are not supported; refusing to connect: add the host's own key "
				 "(%s)",
				 host, fp, known, scan);
	else if (!ok)
		*err = xasprintf("host key for %s is not known (SHA256:%s); refusing to connect: verify it, then add it "
				 "to %s (%s)",
				 host, fp, known, scan);
	free(fp);
	free(scan);
	return ok ? 0 : -1;
}

/* Offers the agent's keys: only the one whose blob is `only` (when given),
 * or all but `skip`; what was tried is added to t ("; "-separated).
 * 1 authenticated, 0 not, -1 a hard error. */
static int try_agent(struct sshhost *h, const char *user, const unsigned char *only, size_t only_len,
		     const unsigned char *skip, size_t skip_len, int64_t deadline, struct sbuf *t, char **err)
{
	const char *sock = getenv("SSH_AUTH_SOCK");
	if (!sock || !*sock) {
		if (!only)
			sbuf_addf(t, "%sno ssh-agent (SSH_AUTH_SOCK unset)", t->len ? "; " : "");
		return 0;
	}
	LIBSSH2_AGENT *ag = libssh2_agent_init(h->s);
	if (!ag || libssh2_agent_connect(ag) || libssh2_agent_list_identities(ag)) {
		if (!only)
			sbuf_addf(t, "%sssh-agent at %s not reachable", t->len ? "; " : "", sock);
		if (ag)
			libssh2_agent_free(ag);
		return 0;
	}
	struct libssh2_agent_publickey *id = NULL, *prev = NULL;
	int offered = 0, result = 0, w;
	while (!result && libssh2_agent_get_identity(ag, &id, prev) == 0) {
		prev = id;
		if (only && (id->blob_len != only_len || memcmp(id->blob, only, only_len)))
			continue;
		if (skip && id->blob_len == skip_len && !memcmp(id->blob, skip, skip_len))
			continue;
		offered++;
		int rc = NB(h, deadline, w, libssh2_agent_userauth(ag, user, id));
		if (rc == 0)
			result = 1;
		else if (w) {
			*err = xasprintf("authentication as %s: %s", user, why(w));
			result = -1;
		}
	}
	libssh2_agent_disconnect(ag);
	libssh2_agent_free(ag);
	if (!result && !only) {
		sbuf_addf(t, "%sssh-agent: ", t->len ? "; " : "");
		if (offered)
			sbuf_addf(t, "%d key(s) refused", offered);
		else
			sbuf_adds(t, "no keys");
	}
	return result;
}

/* Offers one key file. 1 authenticated, 0 not, -1 a hard error. */
static int try_file(struct sshhost *h, const char *user, const char *key, int explicit, int64_t deadline,
		    struct sbuf *t, char **err)
{
	struct stat st;
	if (stat(key, &st) != 0) {
		if (explicit)
			sbuf_addf(t, "%skey file %s missing", t->len ? "; " : "", key);
		return 0;
	}
	int w;
	int rc = NB(h, deadline, w, libssh2_userauth_publickey_fromfile_ex(h->s, user, (unsigned)strlen(user), NULL, key, NULL));
	if (rc == 0)
		return 1;
	if (w) {
		*err = xasprintf("authentication as %s: %s", user, why(w));
		return -1;
	}
	sbuf_addf(t, "%skey file %s %s", t->len ? "; " : "", key,
		  rc == LIBSSH2_ERROR_FILE ? "unreadable or passphrase-protected (load it into ssh-agent)"
					   : "refused by the server");
	return 0;
}

/* As OpenSSH: each configured identity in order (the agent's copy, then
 * the file), then the agent's other keys and the default key files,
 * unless IdentitiesOnly says only what is configured. Passwords never. */
static int authenticate(struct sshhost *h, const struct ssh_host_config *cfg, int64_t deadline, char **err)
{
	const char *user = cfg->user;
	struct sbuf t;
	sbuf_init(&t);
	const char *ids[SSH_MAX_IDENTITIES + 1];
	int nids = 0;
	if (cfg->identity)
		ids[nids++] = cfg->identity;
	for (int i = 0; i < cfg->n_more_identities; i++)
		ids[nids++] = cfg->more_identities[i];
	size_t first_len = 0;
	unsigned char *first = NULL;
	int r = 0;
	for (int i = 0; !r && i < nids; i++) {
		size_t blen = 0;
		unsigned char *blob = public_key_blob(ids[i], &blen);
		if (blob)
			r = try_agent(h, user, blob, blen, NULL, 0, deadline, &t, err);
		if (!r)
			r = try_file(h, user, ids[i], 1, deadline, &t, err);
		if (i == 0) {
			first = blob, first_len = blen;
		} else {
			free(blob);
		}
	}
	if (!r && !cfg->identities_only)
		r = try_agent(h, user, NULL, 0, first, first_len, deadline, &t, err);
	const char *defaults[] = {"~/.ssh/id_ed25519", "~/.ssh/id_ecdsa", "~/.ssh/id_rsa"};
	for (size_t i = 0; !r && i < sizeof defaults / sizeof defaults[0] && (!nids || !cfg->identities_only); i++) {
		char *key = ssh_expand_home(defaults[i]);
		int configured = 0;
		for (int k = 0; k < nids; k++)
			configured |= !strcmp(ids[k], key);
		if (!configured)
			r = try_file(h, user, key, 0, deadline, &t, err);
		free(key);
	}
	free(first);
	if (!r)
		*err = xasprintf("authentication as %s failed (%s%s%s; passwords are never used)", user,
				 t.len ? t.buf : "nothing to offer",
				 cfg->identities_only ? "; IdentitiesOnly: only the configured identities were offered" : "",
				 !nids ? "; no identity configured, no default key file found or accepted" : "");
	sbuf_release(&t);
	return r == 1 ? 0 : -1;
}

static void host_free(struct sshhost *h)
{
	if (!h)
		return;
	if (h->s) {
		/* blocking, but bounded: libssh2_session_free may otherwise return
		 * EAGAIN without freeing anything */
		libssh2_session_set_timeout(h->s, 1000);
		libssh2_session_set_blocking(h->s, 1);
		libssh2_session_disconnect(h->s, "done");
		libssh2_session_free(h->s);
	}
	if (h->sock >= 0)
		close(h->sock);
	if (h->proxy > 0) { /* the ProxyCommand ends with the session */
		kill(-h->proxy, SIGTERM);
		int64_t until = now_ms() + 1000;
		while (waitpid(h->proxy, NULL, WNOHANG) == 0) {
			if (now_ms() > until) { /* deaf to TERM */
				kill(-h->proxy, SIGKILL);
				waitpid(h->proxy, NULL, 0);
				break;
			}
			struct timespec ts = {0, 10 * 1000 * 1000};
			nanosleep(&ts, NULL);
		}
	}
	if (h->tun) /* after our session said goodbye through it */
		ssh_tunnel_close(h->via, h->tun);
	if (h->via)
		ssh_jump_release(h->via);
	if (h->kick[0] >= 0) {
		close(h->kick[0]);
		close(h->kick[1]);
	}
	pthread_cond_destroy(&h->cv);
	pthread_mutex_destroy(&h->mu);
	free(h->key);
	free(h);
}

/* Why a handshake failed, in words: on a key-exchange failure, a second
 * connection reads what host key algorithms the server offers. */
static char *handshake_error(const struct ssh_host_config *cfg, int rc, int64_t deadline, const volatile int *cancel)
{
	char *offered = NULL, *ignored = NULL;
	if (rc == LIBSSH2_ERROR_KEX_FAILURE && !cfg->proxy_command && !cfg->proxy_jump) {
		int fd = tcp_connect(cfg->hostname, cfg->port, deadline, cancel, &ignored);
		free(ignored);
		if (fd >= 0) {
			offered = ssh_server_hostkey_algs(fd, deadline, cancel);
			close(fd);
		}
	}
	char *msg;
	if (offered && !strstr(offered, "ed25519") && !strstr(offered, "ecdsa") && strstr(offered, "rsa-sha2") &&
	    !strstr(offered, "ssh-rsa"))
		msg = xasprintf("SSH handshake with %s failed: the host offers only RSA host keys with SHA-2 (%s), which "
				"this build's libssh2 %s cannot verify (it knows RSA with SHA-1 only); ask for an ed25519 "
				"or ECDSA host key on it",
				cfg->hostname, offered, LIBSSH2_VERSION);
	else if (offered)
		msg = xasprintf("SSH handshake with %s failed: no host key algorithm in common (the host offers %s)",
				cfg->hostname, offered);
	else
		msg = xasprintf("SSH handshake with %s failed (libssh2 error %d)", cfg->hostname, rc);
	free(offered);
	return msg;
}

static int jump_connect(struct sshhost *h, const struct ssh_host_config *cfg, int64_t deadline, int depth, char **err);

static struct sshhost *open_host_at(const struct ssh_host_config *cfg, const char *known, int64_t deadline,
				    const volatile int *cancel, int depth, char **err)
{
	if (cfg->error) { /* the config asks for what we do not do: say so, connect nowhere */
		*err = xstrdup(cfg->error);
		return NULL;
	}
	struct sshhost *h = host_new(cancel);
	/* ConnectTimeout bounds the connection and the handshake, within the step's deadline */
	int64_t step_deadline = deadline;
	if (cfg->connect_timeout > 0 && now_ms() + cfg->connect_timeout * 1000LL < deadline)
		deadline = now_ms() + cfg->connect_timeout * 1000LL;
	h->sock = cfg->proxy_jump ? jump_connect(h, cfg, deadline, depth, err)
		  : cfg->proxy_command ? proxy_connect(cfg->proxy_command, &h->proxy, err)
				       : tcp_connect(cfg->hostname, cfg->port, deadline, cancel, err);
	h->tcp = !cfg->proxy_jump && !cfg->proxy_command;
	if (h->sock < 0) {
		h->sock = -1;
		host_free(h);
		return NULL;
	}
	/* HostKeyAlias: known_hosts is read under that name, without a port */
	const char *kh_name = cfg->host_key_alias ? cfg->host_key_alias : cfg->hostname;
	int kh_port = cfg->host_key_alias ? 22 : cfg->port;
	h->s = libssh2_session_init_ex(NULL, NULL, NULL, h);
	libssh2_session_set_blocking(h->s, 0);
	libssh2_session_callback_set(h->s, LIBSSH2_CALLBACK_RECV, (void *)counted_recv);
	pthread_mutex_lock(&h->mu); /* no one else has it yet: for session_wait's sake */
	/* ask for a host key type known_hosts has for this host */
	char *algs = known_hosts_algorithms(known, kh_name, kh_port);
	if (algs) {
		/* keep those this libssh2 supports, in order, asking one name at a
		 * time: libssh2 1.10 strips an unsupported name from a list with an
		 * overlapping memcpy (ASan: memcpy-param-overlap) */
		struct sbuf ok;
		sbuf_init(&ok);
		char *save = NULL;
		for (char *a = strtok_r(algs, ",", &save); a; a = strtok_r(NULL, ",", &save))
			if (libssh2_session_method_pref(h->s, LIBSSH2_METHOD_HOSTKEY, a) == 0)
				sbuf_addf(&ok, "%s%s", ok.len ? "," : "", a);
		if (ok.len)
			libssh2_session_method_pref(h->s, LIBSSH2_METHOD_HOSTKEY, ok.buf);
		sbuf_release(&ok);
	}
	free(algs);
	int w, rc = NB(h, deadline, w, libssh2_session_handshake(h->s, h->sock));
	if (rc) {
		*err = w == 1 && deadline < step_deadline
			       ? xasprintf("SSH handshake with %s: no answer within ConnectTimeout %ds", cfg->hostname,
					   cfg->connect_timeout)
		       : w ? xasprintf("SSH handshake with %s: %s", cfg->hostname, why(w))
			   : handshake_error(cfg, rc, deadline, cancel);
		pthread_mutex_unlock(&h->mu);
		host_free(h);
		return NULL;
	}
	deadline = step_deadline;
	if (check_host_key(h, kh_name, kh_port, cfg, known, err) || authenticate(h, cfg, deadline, err)) {
		pthread_mutex_unlock(&h->mu);
		host_free(h);
		return NULL;
	}
	libssh2_keepalive_config(h->s, 0, 15);
	host_unlock(h);
	return h;
}

static struct sshhost *open_host(const struct ssh_host_config *cfg, const char *known, int64_t deadline,
				 const volatile int *cancel, char **err)
{
	return open_host_at(cfg, known, deadline, cancel, 0, err);
}

/* ---- ProxyJump (the shared sessions: ssh_jump.c) ---- */

/* The rest of alias's settings from ~/.ssh/config (what cfg has wins). */
static void user_config_lookup(const char *alias, struct ssh_host_config *cfg)
{
	char *confpath = ssh_expand_home("~/.ssh/config");
	ssh_config_lookup(confpath, alias, cfg);
	free(confpath);
}

static char *known_hosts_path(json_t *target, const struct ssh_host_config *cfg);

/* A hop of a ProxyJump list, "[user@]host[:port]" (or ssh://...), as the
 * settings to reach it: its own block of ~/.ssh/config, the user and port
 * of the hop winning. */
static void hop_config(const char *hop, struct ssh_host_config *cfg)
{
	if (!strncmp(hop, "ssh://", 6))
		hop += 6;
	char *copy = xstrdup(hop), *host = copy, *at = strrchr(copy, '@'), *port = NULL;
	memset(cfg, 0, sizeof *cfg);
	if (at) {
		*at = '\0';
		cfg->user = xstrdup(copy);
		host = at + 1;
	}
	if (*host == '[' && strchr(host, ']')) { /* [::1]:22 */
		char *end = strchr(host, ']');
		*end = '\0';
		port = end[1] == ':' ? end + 2 : NULL;
		host++;
	} else if ((port = strrchr(host, ':'))) {
		*port++ = '\0';
	}
	cfg->port = port ? atoi(port) : 0;
	user_config_lookup(host, cfg);
	free(copy);
}

struct jump_ctx {
	struct ssh_host_config *cfg;
	const char *known;
	int64_t deadline;
	const volatile int *cancel;
	int depth;
};

static int jump_open(void *ud, LIBSSH2_SESSION **s, int *sock, void **owner, char **err)
{
	struct jump_ctx *c = ud;
	struct sshhost *jh = open_host_at(c->cfg, c->known, c->deadline, c->cancel, c->depth, err);
	if (!jh)
		return -1;
	jh->cancel = NULL; /* the jump session outlives the run that opened it */
	*s = jh->s;
	*sock = jh->sock;
	*owner = jh;
	return 0;
}

static void jump_free(void *owner)
{
	host_free(owner);
}

static char *host_key(const struct ssh_host_config *cfg, const char *known);

/* Reaches cfg's host through the last hop of its ProxyJump list (itself
 * reached through the hops before it, or its own ProxyJump/ProxyCommand
 * when it is the only one): a direct-tcpip channel through the jump
 * session every host behind that hop shares. Returns our socket. */
static int jump_connect(struct sshhost *h, const struct ssh_host_config *cfg, int64_t deadline, int depth, char **err)
{
	if (depth >= MAX_JUMPS) {
		*err = xasprintf("ProxyJump: more than %d jumps to reach %s (a loop in ~/.ssh/config?)", MAX_JUMPS,
				 cfg->hostname);
		return -1;
	}
	const char *list = cfg->proxy_jump, *last = strrchr(list, ',');
	struct ssh_host_config jc;
	hop_config(last ? last + 1 : list, &jc);
	if (last) { /* the hops before it lead to it */
		free(jc.proxy_command);
		free(jc.proxy_jump);
		jc.proxy_command = NULL;
		jc.proxy_jump = xstrndup(list, (size_t)(last - list));
	}
	char *known = known_hosts_path(NULL, &jc); /* a hop has no target: its config, else ~/.ssh/known_hosts */
	char *key = host_key(&jc, known), *jerr = NULL;
	struct jump_ctx ctx = {&jc, known, deadline, h->cancel, depth + 1};
	int fd = -1;
	if (!(h->via = ssh_jump_acquire(key, jump_open, jump_free, &ctx, &jerr))) {
		*err = xasprintf("ProxyJump %s: %s", jc.hostname, jerr);
		free(jerr);
	} else {
		fd = ssh_jump_tunnel(h->via, jc.hostname, cfg->hostname, cfg->port, deadline, h->cancel, &h->tun, err);
	}
	free(key);
	free(known);
	ssh_host_config_release(&jc);
	return fd;
}

/* ---- one command on one host ---- */

struct job {
	struct action_call *call;
	struct sshpool *pool;
	const char *alias;
	json_t *result;           /* this host's result fields */
	enum step_status status;
	char *err;
};

/* Reads what the channel has of one stream (h->mu held). Returns 1 when
 * the read failed (not for want of data), else 0. */
static int read_stream(struct sshhost *h, LIBSSH2_CHANNEL *ch, int stream, struct sbuf *sb, size_t *total, size_t cap,
		       int *again)
{
	char buf[16384];
	for (;;) {
		ssize_t n = libssh2_channel_read_ex(ch, stream, buf, sizeof buf);
		if (would_block(h, (int)n)) {
			(*again)++;
			return 0;
		}
		if (n <= 0)
			return n < 0;
		*total += (size_t)n;
		if (sb->len < cap)
			sbuf_add(sb, buf, (size_t)n < cap - sb->len ? (size_t)n : cap - sb->len);
	}
}

/* Kills the remote process group through a second channel, then looks:
 * 1 when the group is verified gone, 0 when it is still there, -1 when
 * the kill could not be run. `kill -SIG -PGID` without `--`: dash's
 * builtin refuses `--`, and the command runs under the user's login shell
 * (POSIX sh, dash, bash, zsh). TERM first, KILL after a second. */
static int remote_kill(struct sshhost *h, long pid)
{
	int64_t until = now_ms() + 5000;
	int w;
	/* a cancelled run's command is killed too: its waits here are not cut short */
	const volatile int *cancel = h->cancel;
	h->cancel = NULL;
	LIBSSH2_CHANNEL *k = open_channel(h, until, &w);
	if (!k) {
		h->cancel = cancel;
		return -1;
	}
	char *cmd = xasprintf("g=-%ld; kill -TERM $g 2>/dev/null; n=0; "
			      "while kill -0 $g 2>/dev/null && [ $n -lt 10 ]; do sleep 0.1 2>/dev/null || sleep 1; "
			      "n=$((n+1)); done; kill -0 $g 2>/dev/null && kill -KILL $g 2>/dev/null && sleep 1; "
			      "if kill -0 $g 2>/dev/null; then echo alive; else echo gone; fi",
			      pid);
	int rc = NB(h, until, w, libssh2_channel_exec(k, cmd));
	free(cmd);
	NB(h, until, w, libssh2_channel_send_eof(k));
	char buf[256];
	struct sbuf out;
	sbuf_init(&out);
	while (rc == 0 && !libssh2_channel_eof(k) && now_ms() < until) {
		ssize_t n = libssh2_channel_read(k, buf, sizeof buf);
		if (n > 0 && out.len < 64)
			sbuf_add(&out, buf, (size_t)n);
		if (would_block(h, (int)n) && session_wait(h, until))
			break;
		if (n < 0 && !would_block(h, (int)n))
			break;
	}
	NB(h, until, w, libssh2_channel_close(k));
	libssh2_channel_free(k);
	int verdict = rc ? -1 : out.len && strstr(out.buf, "gone") ? 1 : out.len && strstr(out.buf, "alive") ? 0 : -1;
	sbuf_release(&out);
	h->cancel = cancel;
	return verdict;
}

/* The connection settings of host `alias` of a target: the target's own
 * user, port and identity, then ~/.ssh/config. */
static void resolve_host(json_t *target, const char *alias, struct ssh_host_config *cfg)
{
	const char *tu = json_string_value(json_object_get(target, "user"));
	const char *ti = json_string_value(json_object_get(target, "identity"));
	json_t *tp = json_object_get(target, "port");
	memset(cfg, 0, sizeof *cfg);
	cfg->user = tu ? xstrdup(tu) : NULL;
	cfg->identity = ti ? ssh_expand_home(ti) : NULL;
	cfg->port = json_is_integer(tp) ? (int)json_integer_value(tp) : 0;
	user_config_lookup(alias, cfg);
}

/* What makes two sessions the same: the host, the user, and how the host
 * was verified and we authenticated (a host checked against one
 * known_hosts file is not checked against another). */
static char *host_key(const struct ssh_host_config *cfg, const char *known)
{
	return xasprintf("%s@%s:%d known_hosts=%s identity=%s+%d proxy=%s jump=%s alias=%s", cfg->user, cfg->hostname,
			 cfg->port, known, cfg->identity ? cfg->identity : "", cfg->n_more_identities,
			 cfg->proxy_command ? cfg->proxy_command : "", cfg->proxy_jump ? cfg->proxy_jump : "",
			 cfg->host_key_alias ? cfg->host_key_alias : "");
}

/* The target's known_hosts, else the config's UserKnownHostsFile, else
 * ~/.ssh/known_hosts. */
static char *known_hosts_path(json_t *target, const struct ssh_host_config *cfg)
{
	const char *kt = json_string_value(json_object_get(target, "known_hosts"));
	if (!kt && cfg->known_hosts)
		return xstrdup(cfg->known_hosts);
	return ssh_expand_home(kt ? kt : "~/.ssh/known_hosts");
}

/* A live session to the host, in use or not (the pool locked). */
static struct sshhost *find_live(struct sshpool *pool, const char *key)
{
	for (size_t i = 0; i < pool->n; i++)
		if (pool->h[i] && !pool->h[i]->dead && !strcmp(pool->h[i]->key, key))
			return pool->h[i];
	return NULL;
}

/* Called with the pool locked. */
static void put_locked(struct sshpool *pool, struct sshhost *h)
{
	for (size_t i = 0; i < pool->n; i++)
		if (!pool->h[i]) {
			pool->h[i] = h;
			return;
		}
	pool->h = xrealloc(pool->h, (pool->n + 1) * sizeof *pool->h);
	pool->h[pool->n++] = h;
}

/* The session to the host, shared with the other steps that use it now:
 * one open already, one being opened (in the background or by another
 * step: waited for), or a new one. */
static struct sshhost *pool_get(struct job *j, struct ssh_host_config *cfg, char **err, int *timed_out)
{
	struct action_call *call = j->call;
	struct sshpool *pool = j->pool;
	char *known = known_hosts_path(call->target, cfg);
	char *key = host_key(cfg, known);
	pthread_mutex_lock(&pool->bg.mu);
	struct sshhost *h;
	while (!(h = find_live(pool, key)) && background_pending(&pool->bg, key) && !action_cancelled(call->env) &&
	       now_ms() < call->deadline_ms)
		background_wait(&pool->bg);
	if (h)
		__atomic_add_fetch(&h->users, 1, __ATOMIC_RELAXED);
	/* once a host's connection failed, later steps fail at once (a step's
	 * own retries try again) */
	for (size_t i = 0; !h && i < pool->nfail; i++) {
		struct sshfail *f = &pool->fail[i];
		if (strcmp(f->key, key) || (f->step && !strcmp(f->step, call->step_id)))
			continue;
		*err = xasprintf("%s (the connection failed earlier in this run: not tried again)", f->err);
		*timed_out = f->timed_out;
		pthread_mutex_unlock(&pool->bg.mu);
		free(key);
		free(known);
		return NULL;
	}
	int mine = !h && background_claim(&pool->bg, key) == 0; /* the others wait for this one */
	pthread_mutex_unlock(&pool->bg.mu);
	if (h) {
		free(key);
		free(known);
		return h;
	}
	h = open_host(cfg, known, call->deadline_ms, pool->cancel, err);
	free(known);
	*timed_out = !h && now_ms() >= call->deadline_ms;
	pthread_mutex_lock(&pool->bg.mu);
	if (mine)
		background_done(&pool->bg, key);
	if (h) {
		h->key = key;
		h->users = 1;
		put_locked(pool, h);
	} else if (!action_cancelled(call->env)) {
		remember_failure(pool, key, call->step_id, *err, *timed_out);
	}
	pthread_mutex_unlock(&pool->bg.mu);
	if (!h)
		free(key);
	return h;
}

/* A step is done with the session; `dead`: it is in an unknown state
 * (timed out, interrupted, broken), so later steps get a new one. */
static void pool_put(struct sshpool *pool, struct sshhost *h, int dead)
{
	pthread_mutex_lock(&pool->bg.mu);
	h->dead |= dead;
	int gone = __atomic_sub_fetch(&h->users, 1, __ATOMIC_RELAXED) == 0 && h->dead;
	if (gone)
		for (size_t i = 0; i < pool->n; i++)
			if (pool->h[i] == h)
				pool->h[i] = NULL;
	pthread_mutex_unlock(&pool->bg.mu);
	if (gone)
		host_free(h);
}

/* A command channel, when the session has room for one more (h->mu held;
 * the others' channels close meanwhile); NULL with *w set when not. */
static LIBSSH2_CHANNEL *command_channel(struct sshhost *h, int64_t deadline, int *w)
{
	*w = 0;
	while (h->channels >= MAX_CHANNELS)
		if ((*w = wait_room(h, deadline, 100)))
			return NULL;
	LIBSSH2_CHANNEL *ch = open_channel(h, deadline, w);
	if (ch)
		h->channels++;
	return ch;
}

/* A command running on a channel, as it goes. */
struct running {
	struct sbuf out, err;
	size_t tout, terr;      /* bytes of each stream, counted past the cap */
	long pid;               /* the remote shell's, from our marker line */
	int timed_out, stopped; /* past the deadline; the run was cancelled */
	int broken;             /* the channel or the connection failed */
	int alive_s, alive_max; /* ServerAliveInterval, ServerAliveCountMax */
};

/* Reads the command's streams until EOF, the deadline, a cancellation or
 * a failure (h->mu held, released while waiting). */
static void pump(struct job *j, struct sshhost *h, LIBSSH2_CHANNEL *ch, struct running *r)
{
	int64_t deadline = j->call->deadline_ms;
	size_t cap = j->call->env->output_cap ? j->call->env->output_cap : ACTION_OUTPUT_CAP;
	int missed = 0;
	while (!r->broken) {
		int again = 0, failed = 0;
		failed |= read_stream(h, ch, 0, &r->out, &r->tout, cap, &again);
		failed |= read_stream(h, ch, SSH_EXTENDED_DATA_STDERR, &r->err, &r->terr, cap + 64, &again);
		if (!r->pid && r->err.len && memchr(r->err.buf, '\n', r->err.len) &&
		    !strncmp(r->err.buf, PID_MARK, strlen(PID_MARK)))
			r->pid = strtol(r->err.buf + strlen(PID_MARK), NULL, 10);
		if (libssh2_channel_eof(ch)) {
			/* the EOF may have arrived with data behind the stream read
			 * first: drain both once more */
			int drained = 0;
			read_stream(h, ch, 0, &r->out, &r->tout, cap, &drained);
			read_stream(h, ch, SSH_EXTENDED_DATA_STDERR, &r->err, &r->terr, cap + 64, &drained);
			return;
		}
		/* reading one stream can queue the other's packets inside libssh2:
		 * wait on the socket only when neither has any queued, or the
		 * server, its window used up, waits for us while we wait for it */
		if (again == 2 && (libssh2_poll_channel_read(ch, 0) || libssh2_poll_channel_read(ch, 1)))
			continue;
		if (again == 2) {
			libssh2_keepalive_send(h->s, &(int){0});
			/* ServerAliveInterval: a peer silent for that long is asked
			 * (a keepalive wanting a reply); after ServerAliveCountMax
			 * unanswered ones it is gone - not a wait to the deadline */
			int64_t until = r->alive_s && now_ms() + r->alive_s * 1000LL < deadline ? now_ms() + r->alive_s * 1000LL
											     : deadline;
			int w = session_wait(h, until);
			if (w == 1 && until < deadline) {
				if (++missed >= r->alive_max) {
					r->broken = 1;
					j->err = xasprintf("the host stopped answering: %d keepalives unanswered (ServerAliveInterval "
							   "%ds, ServerAliveCountMax %d)",
							   missed, r->alive_s, r->alive_max);
					return;
				}
				libssh2_keepalive_config(h->s, 1, (unsigned)r->alive_s);
				libssh2_keepalive_send(h->s, &(int){0});
				continue;
			}
			if (w) {
				r->timed_out = w == 1;
				r->stopped = w == 2;
				r->broken = w < 0;
				return;
			}
			missed = 0;
		} else if (failed) {
			r->broken = 1;
			j->err = xstrdup("the connection to the host was lost");
			return;
		}
	}
}

/* The output fields: the streams (capped, the caps reported), without
 * our PID line. Releases the buffers. */
static void set_output(struct job *j, struct running *r)
{
	size_t cap = j->call->env->output_cap ? j->call->env->output_cap : ACTION_OUTPUT_CAP;
	struct sbuf *e = &r->err;
	if (e->len && !strncmp(e->buf, PID_MARK, strlen(PID_MARK))) { /* the PID line is ours, not the command's */
		char *nl = memchr(e->buf, '\n', e->len);
		size_t skip = nl ? (size_t)(nl - e->buf) + 1 : e->len;
		memmove(e->buf, e->buf + skip, e->len - skip);
		e->len -= skip;
		r->terr -= skip;
		e->buf[e->len] = '\0';
	}
	if (e->len > cap)
		e->len = cap;
	json_object_set_new(j->result, "stdout", action_text(r->out.buf, r->out.len));
	json_object_set_new(j->result, "stderr", action_text(e->buf, e->len));
	if (r->tout > cap)
		json_object_set_new(j->result, "stdout_truncated", json_integer((json_int_t)r->tout));
	if (r->terr > cap)
		json_object_set_new(j->result, "stderr_truncated", json_integer((json_int_t)r->terr));
	sbuf_release(&r->out);
	sbuf_release(&r->err);
}

/* How the command ended: its exit code or signal, else why neither is
 * known (`killed` says what became of a command that was stopped); the
 * channel is closed (h->mu held). */
static void set_exit(struct job *j, struct sshhost *h, LIBSSH2_CHANNEL *ch, struct running *r, const char *killed)
{
	int closed = 0, w;
	if (ch && !r->broken && !r->timed_out && !r->stopped) {
		int64_t until = now_ms() + 2000;
		closed = NB(h, until, w, libssh2_channel_close(ch)) == 0 && NB(h, until, w, libssh2_channel_wait_closed(ch)) == 0;
	}
	char *sig = NULL;
	if (closed)
		libssh2_channel_get_exit_signal(ch, &sig, NULL, NULL, NULL, NULL, NULL);
	if (r->timed_out || r->stopped || r->broken || !closed) {
		json_object_set_new(j->result, "exit_code", json_null());
		json_object_set_new(j->result, "signal", json_null());
		if (r->timed_out) {
			free(j->err);
			j->err = xasprintf("timed out after %lld ms; %s", (long long)j->call->timeout_ms, killed);
			j->status = ST_TIMEOUT;
		} else if (r->stopped) {
			free(j->err);
			j->err = xasprintf("interrupted; %s", killed);
		} else if (!j->err) {
			j->err = xstrdup("the command's exit status did not arrive");
		}
	} else if (sig && *sig) {
		json_object_set_new(j->result, "exit_code", json_null());
		json_object_set_new(j->result, "signal", json_sprintf("SIG%s", sig));
		j->err = xasprintf("killed by signal SIG%s", sig);
	} else {
		int code = libssh2_channel_get_exit_status(ch);
		json_object_set_new(j->result, "exit_code", json_integer(code));
		json_object_set_new(j->result, "signal", json_null());
		if (code)
			j->err = xasprintf("exit code %d", code);
		else
			j->status = ST_OK;
	}
	if (sig)
		libssh2_free(h->s, sig);
}

static void run_job(struct job *j)
{
	struct action_call *call = j->call;
	struct ssh_host_config cfg;
	resolve_host(call->target, j->alias, &cfg);
	j->result = json_object();
	j->status = ST_FAILED;
	int timed_out = 0;
	struct sshhost *h = pool_get(j, &cfg, &j->err, &timed_out);
	struct running r = {.alive_s = cfg.alive_interval, .alive_max = cfg.alive_count_max};
	ssh_host_config_release(&cfg);
	if (!h) {
		if (!action_cancelled(call->env) && timed_out)
			j->status = ST_TIMEOUT;
		json_object_set_new(j->result, "exit_code", json_null());
		json_object_set_new(j->result, "signal", json_null());
		return;
	}
	int64_t deadline = call->deadline_ms;
	int w = 0;
	sbuf_init(&r.out);
	sbuf_init(&r.err);
	pthread_mutex_lock(&h->mu); /* released while waiting: the other steps on the host go on meanwhile */
	LIBSSH2_CHANNEL *ch = command_channel(h, deadline, &w);
	char *cmd = xasprintf("printf '%s%%s\\n' \"$$\" >&2; %s", PID_MARK, call->text);
	/* the session's state is unknown after a wait cut short on a channel
	 * (or a lost connection): later steps get a new session */
	int opened = ch != NULL, unsafe = !ch && w < 0;
	if (!ch || NB(h, deadline, w, libssh2_channel_exec(ch, cmd))) {
		j->err = xasprintf("cannot start the command: %s", w ? why(w) : "the host refused a channel");
		r.broken = 1;
		r.timed_out = w == 1;
		r.stopped = w == 2;
	}
	free(cmd);
	pump(j, h, ch, &r);
	int gone = -1; /* remote_kill's verdict */
	if ((r.timed_out || r.stopped) && r.pid > 0)
		gone = remote_kill(h, r.pid);
	const char *killed = !r.pid      ? "the command could not be killed (no PID)"
			     : gone == 1 ? "the remote command's process group was killed (verified gone)"
			     : gone == 0 ? "the remote command's process group is STILL RUNNING after TERM and KILL"
					 : "the remote command could not be verified killed (the kill did not run)";
	set_output(j, &r);
	set_exit(j, h, ch, &r, killed);
	if (ch) {
		libssh2_channel_free(ch);
		h->channels--;
		pthread_cond_broadcast(&h->cv); /* room for a waiting step's channel */
	}
	host_unlock(h);
	pool_put(j->pool, h, unsafe || (opened && (r.broken || r.timed_out || r.stopped)));
}

struct worker {
	struct job *jobs;
	size_t n, next;
	pthread_mutex_t mu;
};

static void *worker_main(void *arg)
{
	struct worker *w = arg;
	for (;;) {
		pthread_mutex_lock(&w->mu);
		size_t i = w->next++;
		pthread_mutex_unlock(&w->mu);
		if (i >= w->n)
			return NULL;
		run_job(&w->jobs[i]);
	}
}

static struct sshpool *get_pool(struct action_env *env)
{
	pthread_once(&init_once, ssh_lib_init);
	struct sshpool *pool = env->slot[action_ssh.slot];
	if (!pool) {
		pool = xcalloc(1, sizeof *pool);
		background_init(&pool->bg);
		pool->cancel = env->cancel;
		env->slot[action_ssh.slot] = pool;
	}
	return pool;
}

struct warm {
	struct sshpool *pool;
	struct ssh_host_config cfg;
	char *known, *key;
	int64_t deadline;
};

static void *warm_main(void *arg)
{
	struct warm *w = arg;
	char *err = NULL;
	struct sshhost *h = open_host(&w->cfg, w->known, w->deadline, w->pool->cancel, &err);
	/* no longer pending and idle in the pool (or remembered as failed), in
	 * one step: a waiting step sees one or the other, never neither */
	pthread_mutex_lock(&w->pool->bg.mu);
	background_done(&w->pool->bg, w->key);
	if (h) {
		h->key = w->key;
		w->key = NULL;
		put_locked(w->pool, h);
	} else if (!(w->pool->cancel && *w->pool->cancel)) {
		remember_failure(w->pool, w->key, NULL, err, now_ms() >= w->deadline);
	}
	pthread_mutex_unlock(&w->pool->bg.mu);
	free(err);
	ssh_host_config_release(&w->cfg);
	free(w->known);
	free(w->key);
	free(w);
	return NULL;
}

/* Connects to every host of the target in the background. */
static void ssh_warm(struct action_env *env, const char *target_name, json_t *target, int64_t deadline_ms)
{
	(void)target_name; /* sessions are per host, whatever the target */
	struct sshpool *pool = get_pool(env);
	json_t *hosts = host_list(target);
	size_t i;
	json_t *a;
	json_array_foreach(hosts, i, a) {
		struct warm *w = xcalloc(1, sizeof *w);
		w->pool = pool;
		resolve_host(target, json_string_value(a), &w->cfg);
		w->known = known_hosts_path(target, &w->cfg);
		w->key = host_key(&w->cfg, w->known);
		w->deadline = deadline_ms;
		pthread_mutex_lock(&pool->bg.mu);
		int busy = find_live(pool, w->key) != NULL;
		char *key = w->key; /* the thread may free w as soon as it starts */
		if (!busy && background_start(&pool->bg, key, warm_main, w) == 0)
			w = NULL;
		pthread_mutex_unlock(&pool->bg.mu);
		if (w) {
			ssh_host_config_release(&w->cfg);
			free(w->known);
			free(w->key);
			free(w);
		}
	}
	json_decref(hosts);
}

static int severity(enum step_status st)
{
	return st == ST_TIMEOUT ? 2 : st == ST_FAILED ? 3 : st == ST_OK ? 0 : 1;
}

static enum step_status ssh_run(struct action_call *call, json_t *result, char **err)
{
	struct sshpool *pool = get_pool(call->env);
	json_t *hosts = host_list(call->target);
	size_t n = json_array_size(hosts);
	if (!n) {
		json_decref(hosts);
		*err = xstrdup("the target has no hosts");
		return ST_FAILED;
	}
	struct worker w = {xcalloc(n, sizeof(struct job)), n, 0, PTHREAD_MUTEX_INITIALIZER};
	for (size_t i = 0; i < n; i++) {
		w.jobs[i].call = call;
		w.jobs[i].pool = pool;
		w.jobs[i].alias = json_string_value(json_array_get(hosts, i));
	}
	json_t *conc = json_object_get(call->target, "concurrency");
	size_t threads = json_is_integer(conc) && json_integer_value(conc) > 0 ? (size_t)json_integer_value(conc) : 10;
	if (threads > n)
		threads = n;
	if (threads <= 1) {
		worker_main(&w);
	} else {
		pthread_t *t = xcalloc(threads, sizeof *t);
		size_t started = 0;
		for (; started < threads; started++)
			if (pthread_create(&t[started], NULL, worker_main, &w))
				break;
		if (!started)
			worker_main(&w);
		for (size_t i = 0; i < started; i++)
			pthread_join(t[i], NULL);
		free(t);
	}
	enum step_status worst = ST_OK;
	int multi = json_is_array(json_object_get(call->target, "hosts")) ||
		    json_is_array(json_object_get(call->target, "host"));
	json_t *per = multi ? json_object() : NULL;
	size_t bad = 0;
	for (size_t i = 0; i < n; i++) {
		struct job *j = &w.jobs[i];
		if (severity(j->status) > severity(worst))
			worst = j->status;
		if (j->status != ST_OK)
			bad++;
		if (multi) {
			json_object_set_new(j->result, "status", json_string(step_status_name(j->status)));
			if (j->err)
				json_object_set_new(j->result, "error", json_string(j->err));
			json_object_set_new(per, j->alias, j->result);
		} else {
			json_object_update(result, j->result);
			json_decref(j->result);
			if (j->err)
				*err = xstrdup(j->err);
		}
		free(j->err);
	}
	if (multi) {
		json_object_set_new(result, "hosts", per);
		if (bad)
			*err = xasprintf("%zu of %zu hosts failed or timed out", bad, n);
	}
	free(w.jobs);
	json_decref(hosts);
	return worst;
}

static void ssh_release(struct action_env *env)
{
	struct sshpool *pool = env->slot[action_ssh.slot];
	if (!pool)
		return;
	background_release(&pool->bg);
	for (size_t i = 0; i < pool->n; i++)
		host_free(pool->h[i]);
	free(pool->h);
	for (size_t i = 0; i < pool->nfail; i++) {
		free(pool->fail[i].key);
		free(pool->fail[i].err);
		free(pool->fail[i].step);
	}
	free(pool->fail);
	free(pool);
	env->slot[action_ssh.slot] = NULL;
}

const struct action action_ssh = {
	.name = "ssh",
	.target_type = "ssh",
	.spec = SPEC_TEXT,
	.flags = ACTION_OVERLAPS | ACTION_CHANNELS,
	.quote_shell = 1,
	.slot = 1,
	.render = ssh_render,
	.run = ssh_run,
	.warm = ssh_warm,
	.release = ssh_release,
	.empty_result = action_empty_command_result,
};
