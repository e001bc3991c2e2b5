/*
 * statuspage: what users are told (SPEC section 6). Each component is
 * Operational, Degraded Performance (an open SEV3/SEV4), Partial Outage
 * (an open SEV2) or Major Outage (an open SEV1) - the worst open incident
 * wins; the headline is "All Systems Operational" when nothing is open;
 * past incidents of the last 90 days follow (false positives left out).
 * Markdown, or one self-contained HTML page (inline CSS, no script, colour
 * and text, every string escaped). Renders into a buffer for the CLI and
 * `serve` alike.
 */
#ifndef RUNBOOK_STATUSPAGE_H
#define RUNBOOK_STATUSPAGE_H

#include <jansson.h>
#include <stddef.h>
#include <stdint.h>

#include "util.h"

/*
 * The page's data: {headline, components: [{name, status}], open:
 * [{id, title, severity, component, started_at}], past: [{id, date, title,
 * status, duration_s, impact, root_cause, resolution}]}. `components` are
 * the names to show (in order); `incidents` as the store lists them;
 * `notes` maps an incident id to its events (for impact and root cause).
 * Returns a new object.
 */
json_t *statuspage_build(json_t *components, json_t *incidents, json_t *notes, int64_t now);

struct store;
struct config;
struct runbook;
/* The page's data from the store's incidents, for the config's components
 * (none: those the n runbooks name). NULL with *err. */
json_t *statuspage_from_store(struct store *st, const struct config *cfg, struct runbook *const *rbs, size_t n,
			      int64_t now, char **err);
void statuspage_markdown(struct sbuf *out, json_t *page);
void statuspage_html(struct sbuf *out, json_t *page);

#endif
