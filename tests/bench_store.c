/*
 * bench_store: durable appends per second to one incident, with W writer
 * processes each appending N events through the store API.
 *   bench_store URL WRITERS EVENTS
 * Prints "WRITERS writers: TOTAL events in MS ms = RATE events/s".
 */
#define _POSIX_C_SOURCE 200809L
#include <jansson.h>
#include <stdio.h>
#include <stdlib.h>
#include <sys/wait.h>
#include <unistd.h>

#include "store.h"
#include "util.h"

int main(int argc, char **argv)
{
	if (argc != 4) {
		fprintf(stderr, "usage: bench_store URL WRITERS EVENTS\n");
		return 2;
	}
	const char *url = argv[1];
	int writers = atoi(argv[2]), events = atoi(argv[3]);
	char *err = NULL, *id = NULL;
	struct store *st = store_open(url, &err);
	json_t *f = json_pack("{s:s, s:s}", "title", "bench", "severity", "SEV4");
	if (!st || store_incident_create(st, f, "bench", &id, &err)) {
		fprintf(stderr, "bench_store: %s\n", err);
		return 1;
	}
	json_decref(f);
	store_close(st);
	int64_t t0 = now_ms();
	for (int w = 0; w < writers; w++) {
		if (fork() == 0) {
			struct store *s = store_open(url, &err);
			for (int i = 0; s && i < events; i++) {
				json_t *d = json_pack("{s:i, s:i, s:s}", "writer", w, "i", i, "stdout", "load average: 0.42");
				if (store_append(s, id, "step", "bench", "step bench: ok (1 ms)", d, &err))
					_exit(1);
				json_decref(d);
			}
			store_close(s);
			_exit(s ? 0 : 1);
		}
	}
	int bad = 0, status;
	while (wait(&status) > 0)
		bad |= !WIFEXITED(status) || WEXITSTATUS(status);
	int64_t ms = now_ms() - t0;
	int total = writers * events;
	printf("%d writer%s: %d events in %lld ms = %.0f events/s\n", writers, writers == 1 ? "" : "s", total,
	       (long long)ms, ms ? total * 1000.0 / (double)ms : 0.0);
	free(id);
	return bad;
}
