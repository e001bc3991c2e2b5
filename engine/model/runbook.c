/*
 * runbook: load and validate runbook YAML into struct runbook.
 * Every check adds to the diag list and goes on, so one pass reports all.
 */
#include "runbook.h"
#include "fixture.h"
#include "match.h"
#include "sql_lex.h"
#include "template.h"
#include "util.h"
#include "action.h"
#include "sandbox.h"

#include <ctype.h>
#include <errno.h>
#include <limits.h>
#include <math.h>
#include <regex.h>
#include <stdlib.h>
#include <string.h>

struct ld {
	const char *file;
	const char *buf;
	size_t len;
	struct diag_list *d;
	struct runbook *rb;
	int errors;
	long cur_step;   /* index of the step being loaded; -1 outside steps */
};

static void err(struct ld *l, const struct ynode *n, const char *fmt, ...) __attribute__((format(printf, 3, 4)));
static void err(struct ld *l, const struct ynode *n, const char *fmt, ...)
{
	va_list ap;
	va_start(ap, fmt);
	char *m = xvasprintf(fmt, ap);
	va_end(ap);
	diag_add(l->d, l->file, n ? n->line : 0, n ? n->col : 0, "%s", m);
	free(m);
	l->errors++;
}

static void check_keys(struct ld *l, const struct ynode *map, const char *const *allowed, const char *what)
{
	for (size_t i = 0; i < ynode_map_len(map); i++) {
		const struct ynode *k = YMAP_KEY(map, i);
		if (k->type != YN_SCALAR)
			continue;
		int ok = 0;
		for (const char *const *a = allowed; *a; a++)
			if (!strcmp(*a, k->str))
				ok = 1;
		if (ok)
			continue;
		const char *dym = did_you_mean(k->str, allowed);
		if (dym)
			err(l, k, "unknown key '%s' in %s (did you mean '%s'?)", k->str, what, dym);
		else
			err(l, k, "unknown key '%s' in %s", k->str, what);
	}
}

static const struct ynode *key_node(const struct ynode *map, const char *key)
{
	for (size_t i = 0; i < ynode_map_len(map); i++)
		if (!strcmp(YMAP_KEY(map, i)->str, key))
			return YMAP_KEY(map, i);
	return map;
}

/* A string field; NULL when absent (error when required) or mistyped. */
static char *get_str(struct ld *l, const struct ynode *map, const char *key, int required, const char *what)
{
	const struct ynode *v = ynode_get(map, key);
	if (!v || ynode_is_null(v)) {
		if (required)
			err(l, map, "%s: missing required key '%s'", what, key);
		return NULL;
	}
	if (v->type != YN_SCALAR) {
		err(l, v, "'%s' must be a string, not %s", key, ynode_type_name(v));
		return NULL;
	}
	return xstrdup(v->str);
}

static int get_bool(struct ld *l, const struct ynode *map, const char *key, int def)
{
	const struct ynode *v = ynode_get(map, key);
	int b;
	if (!v)
		return def;
	if (!ynode_is_bool(v, &b)) {
		err(l, v, "'%s' must be true or false, not %s", key, ynode_type_name(v));
		return def;
	}
	return b;
}

static int64_t get_duration(struct ld *l, const struct ynode *map, const char *key, int64_t def)
{
	const struct ynode *v = ynode_get(map, key);
	int64_t ms;
	if (!v)
		return def;
	if (v->type != YN_SCALAR || parse_duration_ms(v->str, &ms)) {
		err(l, v, "'%s' must be a duration like 500ms, 5s or 2m", key);
		return def;
	}
	return ms;
}

int runbook_id_valid(const char *id)
{
	if (!id || !*id || !(islower((unsigned char)*id) || isdigit((unsigned char)*id)))
		return 0;
	for (const char *p = id; *p; p++)
		if (!(islower((unsigned char)*p) || isdigit((unsigned char)*p) || *p == '.' || *p == '_' || *p == '-'))
			return 0;
	return strlen(id) <= 128;
}

static int step_id_valid(const char *id)
{
	if (!id || !(islower((unsigned char)*id) || *id == '_'))
		return 0;
	for (const char *p = id; *p; p++)
		if (!(islower((unsigned char)*p) || isdigit((unsigned char)*p) || *p == '_'))
			return 0;
	return strlen(id) <= 64;
}

/* Position of byte `off` of scalar n's text in the file. */
static void scalar_pos(struct ld *l, const struct ynode *n, size_t off, int *line, int *col)
{
	int lines = 0;
	size_t ls = 0;
	for (size_t i = 0; i < off && i < n->len; i++)
		if (n->str[i] == '\n') {
			lines++;
			ls = i + 1;
		}
	if (n->style == YS_LITERAL || n->style == YS_FOLDED) {
		*line = n->line + 1 + lines;
		/* the block's indentation, read off the source line */
		const char *p = l->buf;
		for (int k = 1; k < *line && p && p < l->buf + l->len; k++) {
			p = memchr(p, '\n', (size_t)(l->buf + l->len - p));
			if (p)
				p++;
		}
		int indent = 0;
		while (p && p + indent < l->buf + l->len && p[indent] == ' ')
			indent++;
		*col = indent + (int)(off - ls) + 1;
	} else {
		*line = n->line + lines;
		*col = lines ? (int)(off - ls) + 1 : n->col + (int)off + (n->style == YS_QUOTED);
	}
}

/* YAML line of the first line of a scalar's text (block scalars start on
 * the line after their indicator). */
static int text_line(const struct ynode *n)
{
	return n->style == YS_LITERAL || n->style == YS_FOLDED ? n->line + 1 : n->line;
}

/* Reports what code refers to that cannot be there when it runs: a
 * steps.NAME that does not exist, is the step itself or runs after it, a
 * params.NAME that is not declared. `base` is code's offset in n. */
static void check_step_refs(struct ld *l, const struct ynode *n, const char *code, size_t base,
			    const struct ynode *steps)
{
	static const char *const kinds[] = {"steps.", "params."};
	for (int kind = 0; kind < 2; kind++) {
		size_t kl = strlen(kinds[kind]);
		for (const char *p = code; (p = strstr(p, kinds[kind])); p++) {
			if (p > code && (isalnum((unsigned char)p[-1]) || p[-1] == '_' || p[-1] == '.'))
				continue;
			const char *s = p + kl, *e = s;
			while (isalnum((unsigned char)*e) || *e == '_')
				e++;
			if (e == s)
				continue;
			char *id = xstrndup(s, (size_t)(e - s));
			const char *cands[129];
			size_t nc = 0;
			long found = -1;
			if (kind == 0) {
				for (size_t i = 0; steps && i < steps->n && nc < 128; i++) {
					const struct ynode *sid = ynode_get(steps->kids[i], "id");
					if (!sid || sid->type != YN_SCALAR)
						continue;
					cands[nc++] = sid->str;
					if (!strcmp(sid->str, id))
						found = (long)i;
				}
			} else {
				for (size_t i = 0; i < l->rb->nparams && nc < 128; i++) {
					cands[nc++] = l->rb->params[i].name;
					if (!strcmp(l->rb->params[i].name, id))
						found = (long)i;
				}
			}
			cands[nc] = NULL;
			int line, col;
			scalar_pos(l, n, base + (size_t)(s - code), &line, &col);
			char *msg = NULL;
			if (found < 0) {
				const char *dym = did_you_mean(id, cands);
				msg = xasprintf("reference to unknown %s '%s'%s%s%s", kind ? "parameter" : "step", id,
						dym ? " (did you mean '" : "", dym ? dym : "", dym ? "'?)" : "");
			} else if (kind == 0 && l->cur_step >= 0 && found == l->cur_step) {
				msg = xasprintf("step '%s' refers to itself: its own result does not exist while it runs", id);
			} else if (kind == 0 && l->cur_step >= 0 && found > l->cur_step) {
				const struct ynode *me = ynode_get(steps->kids[l->cur_step], "id");
				msg = xasprintf("reference to step '%s', which runs after this step%s%s%s: it has no result yet",
						id, me && me->type == YN_SCALAR ? " ('" : "",
						me && me->type == YN_SCALAR ? me->str : "", me && me->type == YN_SCALAR ? "')" : "");
			}
			if (msg) {
				diag_add(l->d, l->file, line, col, "%s", msg);
				l->errors++;
				free(msg);
			}
			free(id);
		}
	}
}

/* Checks the templates in scalar n: syntax, Lua syntax of each expression,
 * step references; `sql` text may not contain any. */
static void check_templates(struct ld *l, const struct ynode *n, int allowed, const struct ynode *steps)
{
	if (!n || n->type != YN_SCALAR)
		return;
	struct tpl_piece *pc;
	size_t np, erroff;
	char *e;
	int line, col;
	if (template_split(n->str, &pc, &np, &e, &erroff)) {
		scalar_pos(l, n, erroff, &line, &col);
		diag_add(l->d, l->file, line, col, "%s", e);
		l->errors++;
		free(e);
		return;
	}
	for (size_t i = 0; i < np; i++) {
		if (!pc[i].is_expr)
			continue;
		scalar_pos(l, n, pc[i].offset, &line, &col);
		if (!allowed) {
			diag_add(l->d, l->file, line, col,
				 "${...} is not allowed in sql text: pass values in 'args' as $1..$n bind parameters");
			l->errors++;
			continue;
		}
		char *expr = xstrndup(pc[i].s, pc[i].len);
		int eline;
		if (sandbox_compile(expr, 1, l->file, line, &e, &eline)) {
			diag_add(l->d, l->file, eline, col, "in ${...}: %s", e);
			l->errors++;
			free(e);
		} else {
			check_step_refs(l, n, expr, pc[i].offset + 2, steps);
		}
		free(expr);
	}
	free(pc);
}

/* Checks templates in every string under n. */
static void check_templates_deep(struct ld *l, const struct ynode *n, const struct ynode *steps)
{
	if (!n)
		return;
	if (n->type == YN_SCALAR) {
		check_templates(l, n, 1, steps);
		return;
	}
	for (size_t i = 0; i < n->n; i++)
		if (n->type == YN_SEQ || i % 2 == 1)
			check_templates_deep(l, n->kids[i], steps);
}

static void check_lua(struct ld *l, const struct ynode *n, int is_expr, const struct ynode *steps)
{
	char *e;
	int eline;
	int line = text_line(n);
	if (sandbox_compile(n->str, is_expr, l->file, line, &e, &eline)) {
		int sl, col;
		/* column: the start of the offending line's text */
		size_t off = 0;
		for (int k = line; k < eline && off < n->len; off++)
			if (n->str[off] == '\n')
				k++;
		scalar_pos(l, n, off, &sl, &col);
		diag_add(l->d, l->file, eline, col, "Lua syntax error: %s", e);
		l->errors++;
		free(e);
		return;
	}
	check_step_refs(l, n, n->str, 0, steps);
}

static const char *const top_keys[] = {"runbook", "title", "description", "owner", "component", "severity",
	"escalation", "tags", "sequential", "symptoms", "dedupe_by", "params", "targets", "steps", "tests", NULL};
static const char *const severities[] = {"SEV1", "SEV2", "SEV3", "SEV4", NULL};

static int is_severity(const char *s)
{
	for (const char *const *p = severities; *p; p++)
		if (!strcmp(*p, s))
			return 1;
	return 0;
}

static void load_symptoms(struct ld *l, const struct ynode *n)
{
	static const char *const keys[] = {"alertname", "labels", "annotations", "matchers", "text", "severity", NULL};
	if (!n)
		return;
	if (n->type != YN_SEQ) {
		err(l, n, "'symptoms' must be a list of matchers, not %s", ynode_type_name(n));
		return;
	}
	for (size_t i = 0; i < n->n; i++) {
		const struct ynode *m = n->kids[i];
		if (m->type != YN_MAP) {
			err(l, m, "a symptom matcher must be a mapping, not %s", ynode_type_name(m));
			continue;
		}
		if (!ynode_map_len(m))
			err(l, m, "empty symptom matcher (it would match every alert)");
		check_keys(l, m, keys, "a symptom matcher");
		const struct ynode *an = ynode_get(m, "alertname");
		if (an && an->type == YN_SEQ) {
			for (size_t j = 0; j < an->n; j++)
				if (an->kids[j]->type != YN_SCALAR)
					err(l, an->kids[j], "alertname entries must be strings");
		} else if (an && an->type != YN_SCALAR) {
			err(l, an, "'alertname' must be a string or a list of strings");
		}
		const char *maps[] = {"labels", "annotations"};
		for (int k = 0; k < 2; k++) {
			const struct ynode *lm = ynode_get(m, maps[k]);
			if (!lm)
				continue;
			if (lm->type != YN_MAP) {
				err(l, lm, "'%s' must be a mapping of name: value", maps[k]);
				continue;
			}
			for (size_t j = 0; j < ynode_map_len(lm); j++) {
				const struct ynode *v = YMAP_VAL(lm, j);
				if (v->type != YN_SCALAR) {
					err(l, v, "%s values must be strings (or \"~regex\")", maps[k]);
					continue;
				}
				if (v->str[0] == '~') {
					regex_t re;
					if (regcomp(&re, v->str + 1, REG_EXTENDED | REG_NOSUB))
						err(l, v, "invalid regular expression '%s'", v->str + 1);
					else
						regfree(&re);
				}
			}
		}
		const struct ynode *ms = ynode_get(m, "matchers");
		if (ms && ms->type != YN_SEQ)
			err(l, ms, "'matchers' must be a list like ['service=\"postgres\"', 'env!=\"staging\"']");
		for (size_t j = 0; ms && ms->type == YN_SEQ && j < ms->n; j++) {
			const struct ynode *x = ms->kids[j];
			char *name, *value, *why;
			const char *op;
			if (x->type != YN_SCALAR) {
				err(l, x, "a matcher is a string like 'service=\"postgres\"'");
				continue;
			}
			if (match_parse_matcher(x->str, &name, &op, &value, &why)) {
				err(l, x, "%s", why);
				free(why);
				continue;
			}
			regex_t re;
			char *anchored = xasprintf("^(%s)$", value);
			if (op[1] == '~' && regcomp(&re, anchored, REG_EXTENDED | REG_NOSUB))
				err(l, x, "invalid regular expression '%s' in matcher", value);
			else if (op[1] == '~')
				regfree(&re);
			free(anchored);
			free(name);
			free(value);
		}
		const struct ynode *t = ynode_get(m, "text");
		if (t) {
			regex_t re;
			if (t->type != YN_SCALAR)
				err(l, t, "'text' must be a regular expression string");
			else if (regcomp(&re, t->str, REG_EXTENDED | REG_ICASE | REG_NOSUB))
				err(l, t, "invalid regular expression '%s'", t->str);
			else
				regfree(&re);
		}
	}
}

static const char *const param_types[] = {"string", "int", "float", "bool", NULL};

json_t *runbook_param_value(const struct rb_param *p, const char *text, char **err)
{
	const char *t = p->type ? p->type : "string";
	char *end;
	if (!strcmp(t, "int")) {
		errno = 0;
		long long v = strtoll(text, &end, 10);
		if (!*text || *end) {
			*err = xasprintf("parameter '%s' must be an integer, not '%s'", p->name, text);
			return NULL;
		}
		if (errno == ERANGE) {
			*err = xasprintf("parameter '%s': %s is out of range (%lld to %lld)", p->name, text, LLONG_MIN,
					 LLONG_MAX);
			return NULL;
		}
		return json_integer(v);
	}
	if (!strcmp(t, "float")) {
		errno = 0;
		double v = strtod(text, &end);
		if (!*text || *end) {
			*err = xasprintf("parameter '%s' must be a number, not '%s'", p->name, text);
			return NULL;
		}
		if (!isfinite(v) || (errno == ERANGE && fabs(v) > 1)) {
			*err = xasprintf("parameter '%s' must be a finite number, not '%s'", p->name, text);
			return NULL;
		}
		return json_real(v);
	}
	if (!strcmp(t, "bool")) {
		if (!strcmp(text, "true") || !strcmp(text, "yes") || !strcmp(text, "1"))
			return json_true();
		if (!strcmp(text, "false") || !strcmp(text, "no") || !strcmp(text, "0"))
			return json_false();
		*err = xasprintf("parameter '%s' must be true or false, not '%s'", p->name, text);
		return NULL;
	}
	json_t *j = json_string(text);
	if (!j)
		*err = xasprintf("parameter '%s' is not valid UTF-8", p->name);
	return j;
}

static void load_params(struct ld *l, const struct ynode *n)
{
	static const char *const keys[] = {"type", "default", "description", "from", "required", NULL};
	if (!n)
		return;
	if (n->type != YN_MAP) {
		err(l, n, "'params' must be a mapping of name: {type, default, description}");
		return;
	}
	struct runbook *rb = l->rb;
	rb->params = xcalloc(ynode_map_len(n), sizeof *rb->params);
	for (size_t i = 0; i < ynode_map_len(n); i++) {
		const struct ynode *k = YMAP_KEY(n, i), *v = YMAP_VAL(n, i);
		if (!step_id_valid(k->str))
			err(l, k, "invalid parameter name '%s' (use [a-z_][a-z0-9_]*)", k->str);
		if (v->type != YN_MAP) {
			err(l, v, "parameter '%s' must be a mapping like {type: int, default: 10}", k->str);
			continue;
		}
		check_keys(l, v, keys, "a parameter");
		struct rb_param *p = &rb->params[rb->nparams++];
		p->name = xstrdup(k->str);
		p->type = get_str(l, v, "type", 0, "parameter");
		p->description = get_str(l, v, "description", 0, "parameter");
		p->from = get_str(l, v, "from", 0, "parameter");
		p->required = get_bool(l, v, "required", 0);
		if (p->type) {
			int ok = 0;
			for (const char *const *t = param_types; *t; t++)
				ok |= !strcmp(*t, p->type);
			if (!ok)
				err(l, ynode_get(v, "type"), "unknown parameter type '%s' (string, int, float or bool)",
				    p->type);
		}
		const struct ynode *d = ynode_get(v, "default");
		if (d && !ynode_is_null(d)) {
			if (d->type != YN_SCALAR) {
				err(l, d, "a parameter default must be a scalar");
				continue;
			}
			const char *t = p->type ? p->type : "string";
			int b;
			if ((!strcmp(t, "int") && !ynode_is_int(d, NULL)) ||
			    (!strcmp(t, "float") && !ynode_is_number(d, NULL)) ||
			    (!strcmp(t, "bool") && !ynode_is_bool(d, &b))) {
				err(l, d, "default of parameter '%s' must be of type %s, not %s", p->name, t,
				    ynode_type_name(d));
				continue;
			}
			p->def = !strcmp(t, "string") ? json_string(d->str) : ynode_to_json(d);
			if (!strcmp(t, "float") && json_is_integer(p->def)) {
				json_t *r = json_real((double)json_integer_value(p->def));
				json_decref(p->def);
				p->def = r;
			}
		}
	}
}

static void load_targets(struct ld *l, const struct ynode *n, const struct ynode *steps)
{
	static const char *const pg_keys[] = {"type", "dsn", "service", "description", NULL};
	static const char *const ssh_keys[] = {"type", "host", "hosts", "user", "port", "identity", "known_hosts",
		"concurrency", "description", NULL};
	if (!n)
		return;
	if (n->type != YN_MAP) {
		err(l, n, "'targets' must be a mapping of name: {type, ...}");
		return;
	}
	struct runbook *rb = l->rb;
	rb->targets = xcalloc(ynode_map_len(n), sizeof *rb->targets);
	for (size_t i = 0; i < ynode_map_len(n); i++) {
		const struct ynode *k = YMAP_KEY(n, i), *v = YMAP_VAL(n, i);
		if (!step_id_valid(k->str))
			err(l, k, "invalid target name '%s' (use [a-z_][a-z0-9_]*)", k->str);
		if (v->type != YN_MAP) {
			err(l, v, "target '%s' must be a mapping like {type: postgres, dsn: ...}", k->str);
			continue;
		}
		char *type = get_str(l, v, "type", 0, "target");
		if (!type && !ynode_get(v, "type")) {
			/* a misspelt `type` (the key check names it) still gives the
			 * target its type: no cascade of "unknown target" errors */
			for (size_t j = 0; j < ynode_map_len(v) && !type; j++) {
				const struct ynode *gk = YMAP_KEY(v, j), *gv = YMAP_VAL(v, j);
				if (edit_distance(gk->str, "type") <= 2 && gv->type == YN_SCALAR)
					type = xstrdup(gv->str);
			}
			if (!type)
				err(l, v, "target '%s': missing required key 'type' (postgres or ssh)", k->str);
		}
		if (!type)
			continue;
		if (!strcmp(type, "postgres")) {
			check_keys(l, v, pg_keys, "a postgres target");
			if (ynode_get(v, "dsn") && ynode_get(v, "service"))
				err(l, v, "target '%s': give 'dsn' or 'service', not both", k->str);
		} else if (!strcmp(type, "ssh")) {
			check_keys(l, v, ssh_keys, "an ssh target");
			const struct ynode *h = ynode_get(v, "host"), *hs = ynode_get(v, "hosts");
			if (!h && !hs)
				err(l, v, "ssh target '%s' needs 'host' or 'hosts'", k->str);
			if (h && hs)
				err(l, v, "ssh target '%s': give 'host' or 'hosts', not both", k->str);
			const struct ynode *list = hs ? hs : h;
			if (list && list->type == YN_SEQ) {
				if (!list->n)
					err(l, list, "ssh target '%s' has an empty host list", k->str);
				for (size_t j = 0; j < list->n; j++)
					if (list->kids[j]->type != YN_SCALAR)
						err(l, list->kids[j], "host names must be strings");
			} else if (list && list->type != YN_SCALAR) {
				err(l, list, "'%s' must be a host name or a list of them", hs ? "hosts" : "host");
			}
			const struct ynode *c = ynode_get(v, "concurrency");
			long long cv;
			if (c && (!ynode_is_int(c, &cv) || cv < 1 || cv > 1000))
				err(l, c, "'concurrency' must be an integer from 1 to 1000");
			const struct ynode *port = ynode_get(v, "port");
			if (port && (!ynode_is_int(port, &cv) || cv < 1 || cv > 65535))
				err(l, port, "'port' must be an integer from 1 to 65535");
		} else {
			static const char *const types[] = {"postgres", "ssh", NULL};
			const char *dym = did_you_mean(type, types);
			err(l, ynode_get(v, "type"), "unknown target type '%s'%s%s%s", type,
			    dym ? " (did you mean '" : " (postgres or ssh)", dym ? dym : "", dym ? "'?)" : "");
			free(type);
			continue;
		}
		check_templates_deep(l, v, steps);
		struct rb_target *t = &rb->targets[rb->ntargets++];
		t->name = xstrdup(k->str);
		t->type = type;
		t->config = ynode_to_json(v);
		t->line = k->line;
		t->col = k->col;
	}
}

static const char *const step_keys[] = {"id", "title", "on", "when", "timeout", "retries", "retry_delay",
	"on_failure", "mutates", "args", "sql", "ssh", "shell", "http", "lua", "notify", NULL};

static void check_action_spec(struct ld *l, struct rb_step *s, const struct ynode *v, const struct ynode *steps)
{
	const struct action *a = s->action;
	if (a->spec == SPEC_TEXT || (a->spec == SPEC_TEXT_OR_ARGV && v->type == YN_SCALAR)) {
		if (v->type != YN_SCALAR || ynode_is_null(v)) {
			err(l, v, "'%s' must be %s, not %s", a->name,
			    a->spec == SPEC_TEXT ? "a string" : "a string or a list of strings", ynode_type_name(v));
			return;
		}
		if (a->flags & ACTION_CODE)
			check_lua(l, v, 0, steps); /* code: never templated */
		else
			check_templates(l, v, !(a->flags & ACTION_VERBATIM), steps);
		char *e = NULL;
		size_t off = 0;
		if (a->check && a->check(v->str, s->mutates, &e, &off)) {
			int line, col;
			scalar_pos(l, v, off, &line, &col);
			diag_add(l->d, l->file, line, col, "%s", e);
			l->errors++;
			free(e);
		}
		if (!*v->str)
			err(l, v, "'%s' is empty", a->name);
		return;
	}
	if (a->spec == SPEC_TEXT_OR_ARGV) {
		if (v->type != YN_SEQ || !v->n) {
			err(l, v, "'%s' must be a string or a non-empty list of strings", a->name);
			return;
		}
		for (size_t i = 0; i < v->n; i++) {
			if (v->kids[i]->type != YN_SCALAR)
				err(l, v->kids[i], "argv entries must be strings");
			else
				check_templates(l, v->kids[i], 1, steps);
		}
		return;
	}
	if (v->type != YN_MAP) {
		err(l, v, "'%s' must be a mapping, not %s", a->name, ynode_type_name(v));
		return;
	}
	check_keys(l, v, a->spec_keys, a->spec_what);
	int missing = 0;
	struct sbuf needs;
	sbuf_init(&needs);
	for (size_t i = 0; a->spec_needs && a->spec_needs[i]; i++) {
		missing |= !ynode_get(v, a->spec_needs[i]);
		sbuf_addf(&needs, "%s'%s'", i ? " and " : "", a->spec_needs[i]);
	}
	if (missing)
		err(l, v, "%s action needs %s", a->name, needs.buf);
	sbuf_release(&needs);
	check_templates_deep(l, v, steps);
}

static void load_step(struct ld *l, const struct ynode *n, const struct ynode *steps, size_t index)
{
	struct runbook *rb = l->rb;
	if (n->type != YN_MAP) {
		err(l, n, "a step must be a mapping, not %s", ynode_type_name(n));
		return;
	}
	check_keys(l, n, step_keys, "a step");
	l->cur_step = (long)index;
	struct rb_step *s = &rb->steps[rb->nsteps++];
	s->line = n->line;
	s->col = n->col;
	s->timeout_ms = STEP_DEFAULT_TIMEOUT_MS;
	s->id = get_str(l, n, "id", 1, "step");
	if (s->id && !step_id_valid(s->id))
		err(l, ynode_get(n, "id"), "invalid step id '%s' (use [a-z_][a-z0-9_]*)", s->id);
	if (s->id) {
		for (size_t i = 0; i < index; i++) {
			const struct ynode *o = ynode_get(steps->kids[i], "id");
			if (o && o->type == YN_SCALAR && !strcmp(o->str, s->id)) {
				err(l, ynode_get(n, "id"), "duplicate step id '%s' (first defined at line %d)", s->id,
				    o->line);
				break;
			}
		}
	}
	s->title = get_str(l, n, "title", 0, "step");
	s->on = get_str(l, n, "on", 0, "step");
	s->when = get_str(l, n, "when", 0, "step");
	if (s->when) {
		const struct ynode *w = ynode_get(n, "when");
		s->when_line = text_line(w);
		check_lua(l, w, 1, steps);
	}
	s->timeout_ms = get_duration(l, n, "timeout", STEP_DEFAULT_TIMEOUT_MS);
	if (s->timeout_ms <= 0) {
		err(l, ynode_get(n, "timeout"), "'timeout' must be more than 0");
		s->timeout_ms = STEP_DEFAULT_TIMEOUT_MS;
	}
	s->retry_delay_ms = get_duration(l, n, "retry_delay", 1000);
	const struct ynode *r = ynode_get(n, "retries");
	long long rv;
	if (r && (!ynode_is_int(r, &rv) || rv < 0 || rv > 100))
		err(l, r, "'retries' must be an integer from 0 to 100");
	else if (r)
		s->retries = (int)rv;
	char *of = get_str(l, n, "on_failure", 0, "step");
	if (of && strcmp(of, "continue") && strcmp(of, "stop"))
		err(l, ynode_get(n, "on_failure"), "'on_failure' must be 'continue' or 'stop', not '%s'", of);
	s->stop_on_failure = of && !strcmp(of, "stop");
	free(of);
	s->mutates = get_bool(l, n, "mutates", 0);

	/* exactly one action key */
	const struct ynode *spec = NULL, *first_key = NULL;
	for (size_t i = 0; i < ynode_map_len(n); i++) {
		const struct ynode *k = YMAP_KEY(n, i);
		const struct action *a = action_find(k->str);
		if (!a)
			continue;
		if (s->action) {
			err(l, k, "step '%s' has two actions ('%s' at line %d and '%s'); a step runs exactly one",
			    s->id ? s->id : "?", s->action->name, first_key->line, a->name);
			continue;
		}
		s->action = a;
		spec = YMAP_VAL(n, i);
		first_key = k;
	}
	if (!s->action) {
		err(l, n, "step '%s' has no action: give one of sql, ssh, shell, http, lua, notify",
		    s->id ? s->id : "?");
		return;
	}
	s->spec = ynode_to_json(spec);
	s->spec_line = text_line(spec);
	check_action_spec(l, s, spec, steps);

	const struct ynode *args = ynode_get(n, "args");
	if ((s->action->flags & ACTION_BINDS) && spec->type == YN_SCALAR) {
		/* every $n placeholder has a bind value, every bind value a $n */
		size_t off = 0;
		int most = sql_max_param(spec->str, &off);
		int given = args && args->type == YN_SEQ ? (int)args->n : 0;
		if (most > given) {
			int line, col;
			scalar_pos(l, spec, off, &line, &col);
			diag_add(l->d, l->file, line, col, "the statement uses $%d but 'args' gives %d value%s", most, given,
				 given == 1 ? "" : "s");
			l->errors++;
		} else if (given > most && args) {
			err(l, args, "'args' gives %d value%s but the statement uses %s", given, given == 1 ? "" : "s",
			    most ? "fewer placeholders" : "no $n placeholder");
		}
	}
	if (args) {
		if (!(s->action->flags & ACTION_BINDS))
			err(l, key_node(n, "args"), "'args' only applies to sql steps");
		else if (args->type != YN_SEQ)
			err(l, args, "'args' must be a list of values");
		else {
			for (size_t i = 0; i < args->n; i++) {
				if (args->kids[i]->type != YN_SCALAR)
					err(l, args->kids[i], "args entries must be scalars");
				else
					check_templates(l, args->kids[i], 1, steps);
			}
			s->args = ynode_to_json(args);
		}
	}
}

/* Resolves each step's target: named, or the only one of the right type. */
static void resolve_targets(struct ld *l, const struct ynode *steps)
{
	struct runbook *rb = l->rb;
	for (size_t i = 0; i < rb->nsteps; i++) {
		struct rb_step *s = &rb->steps[i];
		const struct ynode *sn = NULL;
		for (size_t j = 0; j < steps->n; j++)
			if (steps->kids[j]->line == s->line && steps->kids[j]->col == s->col)
				sn = steps->kids[j];
		if (!s->action)
			continue;
		const char *want = s->action->target_type;
		if (!want) {
			if (s->on)
				err(l, ynode_get(sn, "on"), "'%s' steps take no target ('on: %s')", s->action->name, s->on);
			continue;
		}
		if (s->on) {
			const struct rb_target *t = runbook_target(rb, s->on);
			if (!t) {
				const char *cands[64];
				size_t nc = 0;
				for (size_t k = 0; k < rb->ntargets && nc < 63; k++)
					cands[nc++] = rb->targets[k].name;
				cands[nc] = NULL;
				const char *dym = did_you_mean(s->on, cands);
				if (dym)
					err(l, ynode_get(sn, "on"), "unknown target '%s' (did you mean '%s'?)", s->on, dym);
				else
					err(l, ynode_get(sn, "on"), "unknown target '%s'", s->on);
			} else if (strcmp(t->type, want)) {
				err(l, ynode_get(sn, "on"), "'%s' step needs a %s target, but '%s' is %s",
				    s->action->name, want, s->on, t->type);
			}
			continue;
		}
		const struct rb_target *only = NULL;
		int count = 0;
		for (size_t k = 0; k < rb->ntargets; k++)
			if (!strcmp(rb->targets[k].type, want)) {
				only = &rb->targets[k];
				count++;
			}
		if (count == 1)
			s->on = xstrdup(only->name);
		else if (count == 0 && !strcmp(want, "postgres"))
			; /* the standard PG* environment */
		else if (count == 0)
			err(l, sn, "'%s' step needs a target of type %s, and the runbook defines none", s->action->name, want);
		else
			err(l, sn, "step '%s' must say 'on:' which %s target to use (%d are defined)",
			    s->id ? s->id : "?", want, count);
	}
}

/* "WHAT 'id'" at key k, with the closest step id. */
static void unknown_step(struct ld *l, const struct ynode *k, const char *what)
{
	const char *cands[65];
	size_t n = 0;
	for (size_t i = 0; i < l->rb->nsteps && n < 64; i++)
		if (l->rb->steps[i].id)
			cands[n++] = l->rb->steps[i].id;
	cands[n] = NULL;
	const char *dym = did_you_mean(k->str, cands);
	if (dym)
		err(l, k, "%s '%s' (did you mean '%s'?)", what, k->str, dym);
	else
		err(l, k, "%s '%s'", what, k->str);
}

static void load_tests(struct ld *l, const struct ynode *n)
{
	static const char *const keys[] = {"name", "params", "alert", "fixtures", "expect", NULL};
	static const char *const expect_keys[] = {"findings", "steps", "status", NULL};
	if (!n)
		return;
	if (n->type != YN_SEQ) {
		err(l, n, "'tests' must be a list");
		return;
	}
	struct runbook *rb = l->rb;
	rb->tests = xcalloc(n->n, sizeof *rb->tests);
	for (size_t i = 0; i < n->n; i++) {
		const struct ynode *t = n->kids[i];
		if (t->type != YN_MAP) {
			err(l, t, "a test must be a mapping with name, fixtures and expect");
			continue;
		}
		check_keys(l, t, keys, "a test");
		struct rb_test *x = &rb->tests[rb->ntests++];
		x->line = t->line;
		x->name = get_str(l, t, "name", 1, "test");
		const struct ynode *p = ynode_get(t, "params"), *a = ynode_get(t, "alert");
		const struct ynode *f = ynode_get(t, "fixtures"), *e = ynode_get(t, "expect");
		if (p && p->type != YN_MAP)
			err(l, p, "test 'params' must be a mapping");
		else if (p)
			x->params = ynode_to_json(p);
		if (a && a->type != YN_MAP)
			err(l, a, "test 'alert' must be a mapping");
		else if (a)
			x->alert = ynode_to_json(a);
		if (f && f->type == YN_SCALAR && !ynode_is_null(f)) {
			/* a recording, relative to the runbook file: its params and alert
			 * apply unless the test gives its own */
			const char *slash = strrchr(l->file, '/');
			char *path = f->str[0] == '/' || !slash ? xstrdup(f->str)
								 : xasprintf("%.*s/%s", (int)(slash - l->file), l->file, f->str);
			struct diag_list fd;
			diag_init(&fd);
			json_t *rp = NULL, *ra = NULL;
			x->fixtures = fixture_load(rb, path, &fd, &rp, &ra);
			for (size_t k = 0; k < fd.n; k++)
				err(l, f, "fixtures %s: %s", f->str,
				    fd.items[k].msg);
			diag_release(&fd);
			if (!x->params && rp)
				x->params = json_incref(rp);
			else if (x->params && rp) { /* the test's own win */
				const char *pk;
				json_t *pv;
				json_object_foreach(rp, pk, pv)
					if (!json_object_get(x->params, pk))
						json_object_set(x->params, pk, pv);
			}
			if (!x->alert && ra)
				x->alert = json_incref(ra);
			json_decref(rp);
			json_decref(ra);
			free(path);
		} else if (f && f->type != YN_MAP) {
			err(l, f, "'fixtures' must be a mapping of step id: result, or the path of a recording");
		} else if (f) {
			x->fixtures = ynode_to_json(f);
			for (size_t j = 0; j < ynode_map_len(f); j++) {
				const struct ynode *fk = YMAP_KEY(f, j), *fv = YMAP_VAL(f, j);
				const struct rb_step *s = runbook_step(rb, fk->str);
				if (!s) {
					unknown_step(l, fk, "fixture for unknown step");
					continue;
				}
				char *why;
				const char *field;
				if (s->action && fixture_check(s, json_object_get(x->fixtures, fk->str), &why, &field)) {
					const struct ynode *at = field && fv->type == YN_MAP ? key_node(fv, field) : fv;
					err(l, at, "fixture for step '%s': %s", fk->str, why);
					free(why);
				}
			}
		}
		if (e && e->type != YN_MAP) {
			err(l, e, "'expect' must be a mapping");
			continue;
		}
		if (!e)
			continue;
		check_keys(l, e, expect_keys, "expect");
		x->expect_lines = json_object();
		const struct ynode *es = ynode_get(e, "steps");
		if (es && es->type != YN_MAP)
			err(l, es, "expect 'steps' must be a mapping of step id: status");
		for (size_t j = 0; es && j < ynode_map_len(es); j++) {
			if (!runbook_step(rb, YMAP_KEY(es, j)->str))
				unknown_step(l, YMAP_KEY(es, j), "expectation for unknown step");
			const struct ynode *sv = YMAP_VAL(es, j);
			if (sv->type != YN_SCALAR || step_status_parse(sv->str) < 0)
				err(l, sv, "expected status must be ok, failed, timeout, skipped or would-run");
			char *key = xasprintf("steps.%s", YMAP_KEY(es, j)->str);
			json_object_set_new(x->expect_lines, key, json_integer(YMAP_KEY(es, j)->line));
			free(key);
		}
		const struct ynode *ef = ynode_get(e, "findings");
		if (ef && ef->type != YN_SEQ)
			err(l, ef, "expect 'findings' must be a list of {level, match}");
		for (size_t j = 0; ef && ef->type == YN_SEQ && j < ef->n; j++) {
			static const char *const fkeys[] = {"level", "match", "step", NULL};
			const struct ynode *fm = ef->kids[j];
			if (fm->type != YN_MAP) {
				err(l, fm, "an expected finding must be a mapping like {level: critical, match: \"95%%\"}");
				continue;
			}
			check_keys(l, fm, fkeys, "an expected finding");
			const struct ynode *lv = ynode_get(fm, "level");
			static const char *const levels[] = {"info", "warning", "critical", NULL};
			if (lv && (lv->type != YN_SCALAR || (strcmp(lv->str, "info") && strcmp(lv->str, "warning") &&
							     strcmp(lv->str, "critical")))) {
				const char *dym = lv->type == YN_SCALAR ? did_you_mean(lv->str, levels) : NULL;
				err(l, lv, "a finding level is info, warning or critical%s%s%s", dym ? " (did you mean '" : "",
				    dym ? dym : "", dym ? "'?)" : "");
			}
			char *key = xasprintf("findings.%zu", j);
			json_object_set_new(x->expect_lines, key, json_integer(fm->line));
			free(key);
		}
		const struct ynode *st = ynode_get(e, "status");
		if (st && (st->type != YN_SCALAR || (strcmp(st->str, "ok") && strcmp(st->str, "failed"))))
			err(l, st, "expect 'status' must be ok or failed");
		if (st)
			json_object_set_new(x->expect_lines, "status", json_integer(st->line));
		x->expect = ynode_to_json(e);
	}
}

/* Adds to names every NAME of env.NAME, env["NAME"] or env['NAME'] in s. */
static void scan_env(json_t *names, const char *s)
{
	for (const char *p = s; (p = strstr(p, "env")); p += 3) {
		if (p > s && (isalnum((unsigned char)p[-1]) || p[-1] == '_' || p[-1] == '.'))
			continue;
		const char *n = p + 3, *e;
		char close = 0;
		if (*n == '.') {
			n++;
		} else if (*n == '[' && (n[1] == '"' || n[1] == '\'')) {
			close = n[1];
			n += 2;
		} else {
			continue;
		}
		for (e = n; isalnum((unsigned char)*e) || *e == '_'; e++)
			;
		if (e == n || (close && *e != close))
			continue;
		char *name = xstrndup(n, (size_t)(e - n));
		int dup = 0;
		size_t i;
		json_t *v;
		json_array_foreach(names, i, v)
			dup |= !strcmp(json_string_value(v), name);
		if (!dup)
			json_array_append_new(names, json_string(name));
		free(name);
	}
}

static void scan_env_json(json_t *names, json_t *v)
{
	size_t i;
	const char *k;
	json_t *x;
	if (json_is_string(v))
		scan_env(names, json_string_value(v));
	else if (json_is_array(v))
		json_array_foreach(v, i, x)
			scan_env_json(names, x);
	else if (json_is_object(v))
		json_object_foreach(v, k, x)
			scan_env_json(names, x);
}

static void collect_env_names(struct runbook *rb)
{
	rb->env_names = json_array();
	for (size_t i = 0; i < rb->ntargets; i++)
		scan_env_json(rb->env_names, rb->targets[i].config);
	for (size_t i = 0; i < rb->nsteps; i++) {
		scan_env_json(rb->env_names, rb->steps[i].spec);
		scan_env_json(rb->env_names, rb->steps[i].args);
		if (rb->steps[i].when)
			scan_env(rb->env_names, rb->steps[i].when);
	}
}

struct runbook *runbook_parse(const char *file, const char *buf, size_t len, struct diag_list *diags)
{
	struct ld l = {file, buf, len, diags, NULL, 0, -1};
	struct ynode *root = yaml_tree_parse(file, buf, len, diags);
	if (!root)
		return NULL;
	struct runbook *rb = xcalloc(1, sizeof *rb);
	l.rb = rb;
	rb->file = xstrdup(file);
	rb->tree = root;
	if (root->type != YN_MAP) {
		err(&l, root, "a runbook must be a mapping with 'runbook', 'title' and 'steps', not %s",
		    ynode_type_name(root));
		runbook_free(rb);
		return NULL;
	}
	check_keys(&l, root, top_keys, "a runbook");
	rb->id = get_str(&l, root, "runbook", 1, "runbook");
	if (rb->id && !runbook_id_valid(rb->id))
		err(&l, ynode_get(root, "runbook"), "invalid runbook id '%s' (use [a-z0-9][a-z0-9._-]*)", rb->id);
	rb->title = get_str(&l, root, "title", 1, "runbook");
	rb->description = get_str(&l, root, "description", 0, "runbook");
	rb->owner = get_str(&l, root, "owner", 0, "runbook");
	rb->component = get_str(&l, root, "component", 0, "runbook");
	rb->severity = get_str(&l, root, "severity", 0, "runbook");
	if (rb->severity && !is_severity(rb->severity))
		err(&l, ynode_get(root, "severity"), "severity must be SEV1, SEV2, SEV3 or SEV4, not '%s'", rb->severity);
	if (!rb->severity)
		rb->severity = xstrdup("SEV3");
	const struct ynode *esc = ynode_get(root, "escalation");
	if (esc && esc->type != YN_MAP)
		err(&l, esc, "'escalation' must be a mapping like {SEV1: \"@oncall\"}");
	else if (esc) {
		for (size_t i = 0; i < ynode_map_len(esc); i++) {
			if (!is_severity(YMAP_KEY(esc, i)->str))
				err(&l, YMAP_KEY(esc, i), "escalation keys must be SEV1..SEV4, not '%s'",
				    YMAP_KEY(esc, i)->str);
			if (YMAP_VAL(esc, i)->type != YN_SCALAR)
				err(&l, YMAP_VAL(esc, i), "escalation targets must be strings");
		}
		rb->escalation = ynode_to_json(esc);
	}
	const struct ynode *tags = ynode_get(root, "tags");
	if (tags && tags->type != YN_SEQ)
		err(&l, tags, "'tags' must be a list of strings");
	else if (tags)
		rb->tags = ynode_to_json(tags);
	rb->sequential = get_bool(&l, root, "sequential", 0);
	const struct ynode *dd = ynode_get(root, "dedupe_by");
	if (dd && dd->type != YN_SEQ) {
		err(&l, dd, "'dedupe_by' must be a list of label names, like [alertname, instance]");
	} else if (dd) {
		for (size_t i = 0; i < dd->n; i++)
			if (dd->kids[i]->type != YN_SCALAR || !*dd->kids[i]->str)
				err(&l, dd->kids[i], "dedupe_by entries are label names");
		rb->dedupe_by = ynode_to_json(dd);
	}
	const struct ynode *steps = ynode_get(root, "steps");
	load_symptoms(&l, ynode_get(root, "symptoms"));
	const struct ynode *sym = ynode_get(root, "symptoms");
	if (sym && sym->type == YN_SEQ)
		rb->symptoms = ynode_to_json(sym);
	load_params(&l, ynode_get(root, "params"));
	load_targets(&l, ynode_get(root, "targets"), steps && steps->type == YN_SEQ ? steps : NULL);
	if (!steps) {
		err(&l, root, "runbook: missing required key 'steps'");
	} else if (steps->type != YN_SEQ || !steps->n) {
		err(&l, steps, "'steps' must be a non-empty list of steps");
	} else {
		rb->steps = xcalloc(steps->n, sizeof *rb->steps);
		for (size_t i = 0; i < steps->n; i++)
			load_step(&l, steps->kids[i], steps, i);
		l.cur_step = -1;
		resolve_targets(&l, steps);
	}
	load_tests(&l, ynode_get(root, "tests"));
	collect_env_names(rb);
	if (l.errors) {
		runbook_free(rb);
		return NULL;
	}
	return rb;
}

struct runbook *runbook_load(const char *path, struct diag_list *diags)
{
	char *buf, *e;
	size_t len;
	if (read_file(path, YAML_MAX_FILE, &buf, &len, &e)) {
		diag_add(diags, path, 0, 0, "%s", strncmp(e, path, strlen(path)) ? e : e + strlen(path) + 2);
		free(e);
		return NULL;
	}
	struct runbook *rb = runbook_parse(path, buf, len, diags);
	free(buf);
	return rb;
}

void runbook_free(struct runbook *rb)
{
	if (!rb)
		return;
	for (size_t i = 0; i < rb->nparams; i++) {
		struct rb_param *p = &rb->params[i];
		free(p->name);
		free(p->type);
		free(p->description);
		free(p->from);
		json_decref(p->def);
	}
	for (size_t i = 0; i < rb->ntargets; i++) {
		free(rb->targets[i].name);
		free(rb->targets[i].type);
		json_decref(rb->targets[i].config);
	}
	for (size_t i = 0; i < rb->nsteps; i++) {
		struct rb_step *s = &rb->steps[i];
		free(s->id);
		free(s->title);
		free(s->on);
		free(s->when);
		json_decref(s->spec);
		json_decref(s->args);
	}
	for (size_t i = 0; i < rb->ntests; i++) {
		struct rb_test *t = &rb->tests[i];
		free(t->name);
		json_decref(t->params);
		json_decref(t->alert);
		json_decref(t->fixtures);
		json_decref(t->expect);
		json_decref(t->expect_lines);
	}
	free(rb->params);
	free(rb->targets);
	free(rb->steps);
	free(rb->tests);
	free(rb->file);
	free(rb->id);
	free(rb->title);
	free(rb->description);
	free(rb->owner);
	free(rb->component);
	free(rb->severity);
	json_decref(rb->escalation);
	json_decref(rb->tags);
	json_decref(rb->symptoms);
	json_decref(rb->env_names);
	json_decref(rb->dedupe_by);
	ynode_free(rb->tree);
	free(rb);
}

const struct rb_step *runbook_step(const struct runbook *rb, const char *id)
{
	for (size_t i = 0; i < rb->nsteps; i++)
		if (rb->steps[i].id && !strcmp(rb->steps[i].id, id))
			return &rb->steps[i];
	return NULL;
}

const struct rb_target *runbook_target(const struct runbook *rb, const char *name)
{
	for (size_t i = 0; i < rb->ntargets; i++)
		if (!strcmp(rb->targets[i].name, name))
			return &rb->targets[i];
	return NULL;
}

const struct rb_param *runbook_param(const struct runbook *rb, const char *name)
{
	for (size_t i = 0; i < rb->nparams; i++)
		if (!strcmp(rb->params[i].name, name))
			return &rb->params[i];
	return NULL;
}
