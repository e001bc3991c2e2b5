/*
 * template: "${EXPR}" interpolation. EXPR is a Lua expression evaluated in
 * the run's sandbox (params, steps, alert, incident, targets, env). In ssh
 * and shell strings every interpolated value is shell-quoted, so a value
 * can never become shell syntax. "$${" writes a literal "${".
 */
#ifndef RUNBOOK_TEMPLATE_H
#define RUNBOOK_TEMPLATE_H

#include <jansson.h>
#include <stddef.h>
#include <stdint.h>

struct sandbox;

struct tpl_piece {
	int is_expr;
	const char *s;    /* points into the template */
	size_t len;
	size_t offset;    /* byte offset of the piece (of "${" for expressions) */
};

/*
 * Splits s into literal and expression pieces. Returns 0 with a new array
 * (caller frees), or -1 with *err and *erroff at the bad "${".
 */
int template_split(const char *s, struct tpl_piece **pieces, size_t *n, char **err, size_t *erroff);
/* True when s contains a "${" that is not escaped. */
int template_has_expr(const char *s);

/* The text of a JSON value as it is interpolated. Returns a new string. */
char *template_value_text(json_t *v);

/*
 * Renders s: each expression evaluated in sb, its text shell-quoted when
 * quote_shell. file/line locate s for error messages. Returns 0 with *out
 * (caller frees) or -1 with *err; *timed_out set when the deadline hit.
 */
int template_render(struct sandbox *sb, const char *s, int quote_shell, const char *file, int line,
		    int64_t deadline_ms, char **out, char **err);

/* Renders every string inside v (recursively). Returns a new reference or
 * NULL with *err. */
json_t *template_render_json(struct sandbox *sb, json_t *v, int quote_shell, const char *file, int line,
			     int64_t deadline_ms, char **err);

#endif
