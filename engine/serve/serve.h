/*
 * serve: the HTTP API (SPEC section 7) on libmicrohttpd - epoll with a
 * small pool of threads, never a thread per connection.
 *
 *   POST /v1/alerts                      durable intake: 202 once the alerts are in the store's queue
 *   GET  /v1/incidents[?status=open]     the JSON of `incident list`
 *   GET  /v1/incidents/ID[/timeline]     the JSON of `incident show` and `timeline`
 *   POST /v1/incidents/ID/ack|resolve    the lifecycle (resolve takes {"resolution", "false_positive"})
 *   GET  /healthz, /metrics, /status, /status.json
 *
 * A bearer token (constant-time compare) guards /v1/ when configured; a
 * body over serve.max_body is refused with 413 before it is read; a bad
 * payload is a 400 with {"error"}. Alerts from concurrent requests share
 * one commit (group commit); a request waiting for its commit is
 * suspended, not a blocked thread.
 */
#ifndef RUNBOOK_SERVE_H
#define RUNBOOK_SERVE_H

#include <stddef.h>

#include "config.h"
#include "runbook.h"

struct server;

struct serve_opts {
	const char *listen;        /* "ADDR:PORT" ("[::1]:PORT" for IPv6) */
	const char *store_url;     /* NULL: the default store */
	const struct config *cfg;
	struct runbook **rbs;      /* the catalog (borrowed) */
	size_t nrb;
	int work;                  /* triage here too (always with SQLite) */
	int threads;               /* triage threads */
	int reescalate_s;          /* how often to re-escalate (0: never) */
	int lease_s;
};

/* Starts listening and triaging. NULL with *err (the address is taken,
 * the store cannot be opened, ...). */
struct server *serve_start(const struct serve_opts *o, char **err);
/* The address it listens on, "127.0.0.1:9464". */
const char *serve_address(const struct server *s);
#define SERVE_DRAIN_MS 10000 /* SIGTERM: requests and diagnoses in flight get this long */

/* Stops accepting, finishes the requests and the triage in flight, within
 * SERVE_DRAIN_MS or until hurry (may be NULL; see tpool_drain) returns
 * non-zero, then cancels the diagnoses still running (their alerts stay
 * queued for the next start) and frees. */
void serve_stop(struct server *s, int (*hurry)(int64_t until_ms));

#endif
