/*
 * redact: secrets are redacted by value everywhere they could appear.
 * Every value a runbook reads from `env`, every password in a DSN, is
 * registered here; every text that leaves the process (terminal, JSON,
 * errors, recorded fixtures) passes through redact_*() first.
 */
#ifndef RUNBOOK_REDACT_H
#define RUNBOOK_REDACT_H

#include <jansson.h>
#include <stddef.h>

#define REDACTED "***"

struct redactor {
	char **secrets;
	size_t n, cap;
};

void redact_init(struct redactor *r);
void redact_release(struct redactor *r);
/* Registers a secret value (values shorter than 4 bytes are ignored:
 * redacting "1" or "on" everywhere would destroy the output). */
void redact_add(struct redactor *r, const char *value);
/* redact_add of every string of a JSON array (the config's secrets). */
void redact_add_all(struct redactor *r, json_t *values);
/* Returns a new string with every secret replaced; caller frees. */
char *redact_str(const struct redactor *r, const char *s);
/* The same for n bytes that may hold NULs; *outn (may be NULL) gets the
 * result's length. */
char *redact_mem(const struct redactor *r, const char *s, size_t n, size_t *outn);
/* Registers the password of a PostgreSQL DSN (conninfo or URI), also when
 * libpq cannot parse it (its error would quote it). */
void redact_add_dsn(struct redactor *r, const char *dsn);
/* Returns a new copy of dsn with its password shown as ***; caller frees. */
char *redact_dsn(const char *dsn);
/* Redacts every string (and object key) inside v, in place. */
void redact_json(const struct redactor *r, json_t *v);

#endif
