/* ssh_kexinit: the server's offered host key algorithms. See ssh_kexinit.h. */
#define _POSIX_C_SOURCE 200809L
#include "ssh_kexinit.h"
#include "action.h"
#include "util.h"

#include <errno.h>
#include <poll.h>
#include <string.h>
#include <unistd.h>

/* Reads exactly n bytes (0), or fails (-1). */
static int read_n(int fd, unsigned char *buf, size_t n, int64_t deadline, const volatile int *cancel)
{
	size_t got = 0;
	while (got < n) {
		ssize_t r = read(fd, buf + got, n - got);
		if (r > 0) {
			got += (size_t)r;
			continue;
		}
		if (r == 0 || (errno != EAGAIN && errno != EINTR) || action_wait_fd(fd, POLLIN, deadline, cancel))
			return -1;
	}
	return 0;
}

static uint32_t be32(const unsigned char *p)
{
	return (uint32_t)p[0] << 24 | (uint32_t)p[1] << 16 | (uint32_t)p[2] << 8 | p[3];
}

char *ssh_server_hostkey_algs(int fd, int64_t deadline, const volatile int *cancel)
{
	static const char hello[] = "SSH-2.0-runbook_probe\r\n";
	if (write(fd, hello, sizeof hello - 1) != (ssize_t)(sizeof hello - 1))
		return NULL;
	/* the server's identification line (lines before it are allowed) */
	char line[256];
	for (int lines = 0; lines < 32; lines++) {
		size_t n = 0;
		unsigned char c = 0;
		while (n < sizeof line - 1 && read_n(fd, &c, 1, deadline, cancel) == 0 && c != '\n')
			line[n++] = (char)c;
		if (c != '\n')
			return NULL;
		line[n] = '\0';
		if (!strncmp(line, "SSH-", 4))
			break;
		if (lines == 31)
			return NULL;
	}
	/* one binary packet: length, padding length, payload (KEXINIT = 20,
	 * a 16-byte cookie, then name-lists: kex, server host key, ...) */
	unsigned char hdr[5];
	if (read_n(fd, hdr, sizeof hdr, deadline, cancel))
		return NULL;
	uint32_t len = be32(hdr);
	if (len < 1 + 1 + 16 + 8 || len > 35000)
		return NULL;
	unsigned char *pkt = xmalloc(len - 1);
	char *out = NULL;
	if (read_n(fd, pkt, len - 1, deadline, cancel) == 0 && pkt[0] == 20 && hdr[4] <= len - 1 - 17) {
		size_t off = 1 + 16, end = len - 1 - hdr[4];
		for (int list = 0; list < 2 && off + 4 <= end; list++) {
			uint32_t n = be32(pkt + off);
			off += 4;
			if (n > end - off)
				break;
			if (list == 1)
				out = xstrndup((const char *)pkt + off, n);
			off += n;
		}
	}
	free(pkt);
	return out;
}
