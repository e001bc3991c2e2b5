/*
 * libFuzzer harness for the SSH key-exchange probe: arbitrary bytes as
 * what a server sends (identification lines, then a binary packet),
 * through a socketpair. Build and run:
 *   make fuzz && ./tests/fuzz_kexinit -max_total_time=60 CORPUS_DIR
 * Any crash, leak, hang or sanitizer report is a bug.
 */
#define _POSIX_C_SOURCE 200809L
#include <fcntl.h>
#include <stdint.h>
#include <stdlib.h>
#include <sys/socket.h>
#include <unistd.h>

#include "ssh_kexinit.h"
#include "util.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	int sv[2];
	if (size > 65536 || socketpair(AF_UNIX, SOCK_STREAM, 0, sv))
		return 0;
	if (write(sv[1], data, size) != (ssize_t)size) {
		close(sv[0]);
		close(sv[1]);
		return 0;
	}
	shutdown(sv[1], SHUT_WR); /* the "server" says no more */
	fcntl(sv[0], F_SETFL, O_NONBLOCK);
	free(ssh_server_hostkey_algs(sv[0], now_ms() + 1000, NULL));
	close(sv[0]);
	close(sv[1]);
	return 0;
}
