/*
 * postmortem: the Markdown post-mortem of an incident (SPEC section 6),
 * prefilled from the incident and its timeline alone: summary, impact,
 * timeline (UTC), root cause, what went well and what could be improved
 * (detection and acknowledgement against their targets, tagged notes),
 * action items as checkboxes, lessons learned. It renders into a buffer, so
 * the CLI and `serve` share it.
 */
#ifndef RUNBOOK_POSTMORTEM_H
#define RUNBOOK_POSTMORTEM_H

#include <jansson.h>
#include <stdint.h>

#include "util.h"

/* Appends the post-mortem of incident `inc` with `events` to out. */
void postmortem_render(struct sbuf *out, json_t *inc, json_t *events);

/* A duration as people write it: "45s", "3m 20s", "2h 15m", "3d 4h". */
void postmortem_duration(int64_t seconds, char *buf, size_t n);

/* Detection target (MTTD), in seconds: 5 minutes. */
#define DETECT_TARGET_S 300

#endif
