/*
 * store_sync: the local fallback store, and copying what it holds into
 * the configured store (`runbook store sync`). See store_sync.c.
 */
#ifndef RUNBOOK_STORE_SYNC_H
#define RUNBOOK_STORE_SYNC_H

#include <jansson.h>
#include <stdio.h>

#include "store.h"

/* "sqlite:$XDG_STATE_HOME/runbook/fallback.db". Returns a new string. */
char *store_fallback_url(void);

/*
 * Opens the store at url; when it cannot be reached, the local fallback
 * store instead, with *fallback = {"fallback": true, "reason", "path"}
 * (new ref; NULL when the configured store opened). NULL with *err when
 * neither can be used.
 */
struct store *store_open_or_fallback(const char *url, json_t **fallback, char **err);

/*
 * Copies every fallback incident not yet synced into `to` (printing one
 * line each to out): chains verified on both sides, idempotent. Returns 0,
 * or -1 with *err when an incident could not be synced.
 */
int store_sync(struct store *to, const char *to_url, struct store *from, const char *from_path, FILE *out,
	       char **err);

#endif
