/*
 * libFuzzer harness for known_hosts files: arbitrary bytes as the file,
 * checked for a host (plain and [host]:port names) and a key, as the SSH
 * action reads it before it trusts a server. Build and run:
 *   make fuzz && ./tests/fuzz_known_hosts -max_total_time=60 CORPUS_DIR
 * Any crash, leak or sanitizer report is a bug.
 */
#define _POSIX_C_SOURCE 200809L
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <unistd.h>

#include "known_hosts.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	char path[] = "/tmp/fuzz_known_hosts.XXXXXX";
	int fd = mkstemp(path);
	if (fd < 0)
		return 0;
	if (write(fd, data, size) != (ssize_t)size) {
		close(fd);
		unlink(path);
		return 0;
	}
	close(fd);
	/* the key: the input's own first bytes, so a file can hold "it" */
	size_t klen = size < 64 ? size : 64;
	known_hosts_check(path, "db-1.example.com", 22, data, klen);
	known_hosts_check(path, "127.0.0.1", 2222, data, klen);
	free(known_hosts_algorithms(path, "db-1.example.com", 22));
	free(known_hosts_algorithms(path, "127.0.0.1", 2222));
	unlink(path);
	return 0;
}
