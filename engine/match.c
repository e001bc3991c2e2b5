/* match: runbooks for an alert, and why. See match.h. */
#define _POSIX_C_SOURCE 200809L
#include "match.h"
#include "util.h"

#include <ctype.h>
#include <regex.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

enum ckind { C_ALERTNAME, C_LABEL, C_ANNOTATION, C_TEXT, C_SEVERITY };
enum cop { OP_EQ, OP_NE, OP_RE, OP_NRE };

struct cond {
	enum ckind kind;
	enum cop op;
	char *name;       /* label or annotation name */
	char *value;      /* the expected value or regex, as written */
	json_t *names;    /* C_ALERTNAME: the list */
	regex_t re;
	int has_re;
	char *text;       /* the condition as shown: labels.service = "postgres" */
};

struct matcher {
	struct cond *c;
	size_t n;
};

struct entry {
	struct runbook *rb;
	struct matcher *m;
	size_t n;
};

struct matchset {
	struct entry *e;
	size_t n;
};

int match_parse_matcher(const char *s, char **name, const char **op, char **value, char **err)
{
	const char *p = s;
	while (isspace((unsigned char)*p))
		p++;
	const char *ns = p;
	while (isalnum((unsigned char)*p) || *p == '_')
		p++;
	if (p == ns || isdigit((unsigned char)*ns)) {
		*err = xasprintf("matcher '%s': a label name comes first, like service=\"postgres\"", s);
		return -1;
	}
	const char *ne = p;
	while (isspace((unsigned char)*p))
		p++;
	if (!strncmp(p, "=~", 2))
		*op = "=~";
	else if (!strncmp(p, "!~", 2))
		*op = "!~";
	else if (!strncmp(p, "!=", 2))
		*op = "!=";
	else if (*p == '=')
		*op = "=";
	else {
		*err = xasprintf("matcher '%s': the operator is =, !=, =~ or !~", s);
		return -1;
	}
	p += strlen(*op);
	while (isspace((unsigned char)*p))
		p++;
	struct sbuf v;
	sbuf_init(&v);
	sbuf_add(&v, "", 0);
	if (*p == '"') {
		for (p++; *p && *p != '"'; p++) {
			if (*p == '\\' && p[1]) {
				p++;
				sbuf_addc(&v, *p == 'n' ? '\n' : *p);
			} else {
				sbuf_addc(&v, *p);
			}
		}
		if (*p != '"') {
			*err = xasprintf("matcher '%s': the quoted value is not closed", s);
			sbuf_release(&v);
			return -1;
		}
		p++;
		while (isspace((unsigned char)*p))
			p++;
		if (*p) {
			*err = xasprintf("matcher '%s': unexpected text after the value", s);
			sbuf_release(&v);
			return -1;
		}
	} else {
		sbuf_adds(&v, p);
		while (v.len && isspace((unsigned char)v.buf[v.len - 1]))
			v.buf[--v.len] = '\0';
	}
	*name = xstrndup(ns, (size_t)(ne - ns));
	*value = sbuf_detach(&v);
	return 0;
}

static int compile(struct cond *c, const char *re, int anchored, int icase, char **err)
{
	char *pat = anchored ? xasprintf("^(%s)$", re) : xstrdup(re);
	int rc = regcomp(&c->re, pat, REG_EXTENDED | REG_NOSUB | (icase ? REG_ICASE : 0));
	free(pat);
	if (rc) {
		*err = xasprintf("invalid regular expression '%s'", re);
		return -1;
	}
	c->has_re = 1;
	return 0;
}

/* A labels/annotations condition: "value" or "~regex". */
static int map_cond(struct cond *c, enum ckind kind, const char *name, const char *v, char **err)
{
	c->kind = kind;
	c->name = xstrdup(name);
	const char *what = kind == C_LABEL ? "labels" : "annotations";
	if (v[0] == '~') {
		c->op = OP_RE;
		c->value = xstrdup(v + 1);
		c->text = xasprintf("%s.%s =~ \"%s\"", what, name, v + 1);
		return compile(c, v + 1, 1, 0, err);
	}
	c->op = OP_EQ;
	c->value = xstrdup(v);
	c->text = xasprintf("%s.%s = \"%s\"", what, name, v);
	return 0;
}

static int compile_matcher(struct matcher *m, json_t *sym, char **err)
{
	size_t cap = 8;
	m->c = xcalloc(cap, sizeof *m->c);
	m->n = 0;
#define NEXT() (m->n == cap ? (m->c = xrealloc(m->c, (cap *= 2) * sizeof *m->c), \
				memset(m->c + m->n, 0, (cap - m->n) * sizeof *m->c), &m->c[m->n++]) : &m->c[m->n++])
	json_t *an = json_object_get(sym, "alertname");
	if (an) {
		struct cond *c = NEXT();
		c->kind = C_ALERTNAME;
		c->names = json_is_array(an) ? json_incref(an) : json_pack("[O]", an);
		char *list = json_dumps(c->names, JSON_COMPACT);
		c->text = xasprintf("alertname in %s", list ? list : "[]");
		free(list);
	}
	static const char *const maps[] = {"labels", "annotations"};
	for (int k = 0; k < 2; k++) {
		const char *name;
		json_t *v;
		json_object_foreach(json_object_get(sym, maps[k]), name, v) {
			struct cond *c = NEXT();
			if (map_cond(c, k ? C_ANNOTATION : C_LABEL, name, json_string_value(v) ? json_string_value(v) : "",
				     err))
				return -1;
		}
	}
	size_t i;
	json_t *mv;
	json_array_foreach(json_object_get(sym, "matchers"), i, mv) {
		struct cond *c = NEXT();
		const char *op;
		if (match_parse_matcher(json_string_value(mv) ? json_string_value(mv) : "", &c->name, &op, &c->value, err))
			return -1;
		c->kind = C_LABEL;
		c->op = !strcmp(op, "=") ? OP_EQ : !strcmp(op, "!=") ? OP_NE : !strcmp(op, "=~") ? OP_RE : OP_NRE;
		c->text = xasprintf("%s%s\"%s\"", c->name, op, c->value);
		if ((c->op == OP_RE || c->op == OP_NRE) && compile(c, c->value, 1, 0, err))
			return -1;
	}
	json_t *text = json_object_get(sym, "text");
	if (json_is_string(text)) {
		struct cond *c = NEXT();
		c->kind = C_TEXT;
		c->op = OP_RE;
		c->value = xstrdup(json_string_value(text));
		c->text = xasprintf("text =~ /%s/i", c->value);
		if (compile(c, c->value, 0, 1, err))
			return -1;
	}
	json_t *sev = json_object_get(sym, "severity");
	if (json_is_string(sev)) {
		struct cond *c = NEXT();
		c->kind = C_SEVERITY;
		c->op = OP_EQ;
		c->value = xstrdup(json_string_value(sev));
		c->text = xasprintf("severity = \"%s\"", c->value);
	}
#undef NEXT
	return 0;
}

static void free_matcher(struct matcher *m)
{
	for (size_t i = 0; i < m->n; i++) {
		struct cond *c = &m->c[i];
		free(c->name);
		free(c->value);
		free(c->text);
		json_decref(c->names);
		if (c->has_re)
			regfree(&c->re);
	}
	free(m->c);
}

void matchset_free(struct matchset *ms)
{
	if (!ms)
		return;
	for (size_t i = 0; i < ms->n; i++) {
		for (size_t k = 0; k < ms->e[i].n; k++)
			free_matcher(&ms->e[i].m[k]);
		free(ms->e[i].m);
	}
	free(ms->e);
	free(ms);
}

struct matchset *matchset_new(struct runbook *const *rbs, size_t n, char **err)
{
	struct matchset *ms = xcalloc(1, sizeof *ms);
	ms->e = xcalloc(n ? n : 1, sizeof *ms->e);
	for (size_t i = 0; i < n; i++) {
		struct entry *e = &ms->e[ms->n++];
		e->rb = rbs[i];
		size_t ns = json_array_size(rbs[i]->symptoms);
		e->m = xcalloc(ns ? ns : 1, sizeof *e->m);
		for (size_t k = 0; k < ns; k++) {
			e->n++;
			char *why = NULL;
			if (compile_matcher(&e->m[k], json_array_get(rbs[i]->symptoms, k), &why)) {
				*err = xasprintf("%s: symptoms: %s", rbs[i]->file, why);
				free(why);
				matchset_free(ms);
				return NULL;
			}
		}
	}
	return ms;
}

/* ---- evaluation ---- */

static const char *label(json_t *alert, const char *map, const char *name)
{
	const char *v = json_string_value(json_object_get(json_object_get(alert, map), name));
	return v ? v : ""; /* a missing label is the empty string */
}

/* Evaluates c; *actual gets the value seen (a new reference). */
static int eval(const struct cond *c, json_t *alert, json_t **actual)
{
	const char *v = "";
	int held = 0;
	switch (c->kind) {
	case C_ALERTNAME: {
		v = json_string_value(json_object_get(alert, "name"));
		*actual = v ? json_string(v) : json_null();
		size_t i;
		json_t *n;
		json_array_foreach(c->names, i, n)
			held |= v && json_is_string(n) && !strcmp(json_string_value(n), v);
		return held;
	}
	case C_LABEL:
	case C_ANNOTATION:
		v = label(alert, c->kind == C_LABEL ? "labels" : "annotations", c->name);
		*actual = json_string(v);
		break;
	case C_SEVERITY:
		v = json_string_value(json_object_get(alert, "severity"));
		*actual = v ? json_string(v) : json_null();
		return v && !strcasecmp(v, c->value);
	case C_TEXT: {
		const char *s = json_string_value(json_object_get(alert, "summary"));
		const char *d = json_string_value(json_object_get(alert, "description"));
		char *both = xasprintf("%s%s%s", s ? s : "", s && d ? "\n" : "", d ? d : "");
		*actual = json_string(both);
		if (!*actual)
			*actual = json_null();
		held = regexec(&c->re, both, 0, NULL, 0) == 0;
		free(both);
		return held;
	}
	}
	if (!*actual)
		*actual = json_null();
	switch (c->op) {
	case OP_EQ: return !strcmp(v, c->value);
	case OP_NE: return strcmp(v, c->value) != 0;
	case OP_RE: return regexec(&c->re, v, 0, NULL, 0) == 0;
	case OP_NRE: return regexec(&c->re, v, 0, NULL, 0) != 0;
	}
	return 0;
}

/* True when the alert names runbook id: label/annotation `runbook`, or the
 * last path segment of annotations.runbook_url. */
static int named_by(json_t *alert, const char *id)
{
	if (!strcmp(label(alert, "labels", "runbook"), id) || !strcmp(label(alert, "annotations", "runbook"), id))
		return 1;
	const char *url = label(alert, "annotations", "runbook_url");
	if (!*url)
		return 0;
	size_t end = strcspn(url, "?#");
	while (end && url[end - 1] == '/')
		end--;
	size_t start = end;
	while (start && url[start - 1] != '/')
		start--;
	size_t len = end - start;
	static const char *const exts[] = {".md", ".html", ".htm"};
	for (size_t i = 0; i < ARRAY_LEN(exts); i++) {
		size_t el = strlen(exts[i]);
		if (len > el && !strncasecmp(url + end - el, exts[i], el)) {
			len -= el;
			break;
		}
	}
	return len == strlen(id) && !strncasecmp(url + start, id, len);
}

struct ranked {
	struct runbook *rb;
	int matched, named, by_name, held;
	json_t *detail;
};

static int rank_cmp(const void *a, const void *b)
{
	const struct ranked *x = a, *y = b;
	if (x->matched != y->matched)
		return y->matched - x->matched;
	if (x->matched) {
		if (x->named != y->named)
			return y->named - x->named;
		if (x->by_name != y->by_name)
			return y->by_name - x->by_name;
		if (x->held != y->held)
			return y->held - x->held;
	}
	return strcmp(x->rb->id, y->rb->id);
}

static void evaluate(const struct entry *e, json_t *alert, int detail, struct ranked *r)
{
	memset(r, 0, sizeof *r);
	r->rb = e->rb;
	r->named = named_by(alert, e->rb->id);
	json_t *ms = detail ? json_array() : NULL;
	int best_all = 0, best_by = 0, best_held = 0, most_held = 0;
	for (size_t k = 0; k < e->n; k++) {
		const struct matcher *m = &e->m[k];
		int all = m->n > 0, held = 0, by_name = 0;
		json_t *conds = detail ? json_array() : NULL;
		for (size_t i = 0; i < m->n; i++) {
			json_t *actual = NULL;
			int h = eval(&m->c[i], alert, &actual);
			held += h;
			all &= h;
			by_name |= h && m->c[i].kind == C_ALERTNAME;
			if (detail) {
				json_t *expected = m->c[i].names ? json_incref(m->c[i].names) : json_string(m->c[i].value);
				json_array_append_new(conds, json_pack("{s:s, s:o, s:o, s:b}", "condition", m->c[i].text,
								       "expected", expected, "actual", actual, "held", h));
			} else {
				json_decref(actual);
			}
		}
		/* the best matcher that holds: one naming the alertname, then the most conditions */
		if (all && (!best_all || by_name > best_by || (by_name == best_by && held > best_held))) {
			best_all = 1;
			best_by = by_name;
			best_held = held;
		}
		if (held > most_held)
			most_held = held;
		if (detail)
			json_array_append_new(ms, json_pack("{s:b, s:o}", "held", all, "conditions", conds));
	}
	r->matched = best_all || r->named;
	r->by_name = best_by;
	r->held = best_all ? best_held : most_held;
	r->detail = ms;
}

static int score(const struct ranked *r)
{
	return r->matched ? r->named * 1000000 + r->by_name * 1000 + r->held : 0;
}

json_t *matchset_match(const struct matchset *ms, json_t *alert, int explain)
{
	struct ranked *r = xcalloc(ms->n ? ms->n : 1, sizeof *r);
	for (size_t i = 0; i < ms->n; i++)
		evaluate(&ms->e[i], alert, 1, &r[i]);
	qsort(r, ms->n, sizeof *r, rank_cmp);
	json_t *out = json_array();
	for (size_t i = 0; i < ms->n; i++) {
		if (r[i].matched || explain)
			json_array_append_new(out, json_pack("{s:s, s:b, s:i, s:b, s:O}", "runbook", r[i].rb->id, "matched",
							     r[i].matched, "score", score(&r[i]), "named", r[i].named,
							     "matchers", r[i].detail));
		json_decref(r[i].detail);
	}
	free(r);
	return out;
}

struct runbook *matchset_best(const struct matchset *ms, json_t *alert)
{
	struct ranked best, cur;
	memset(&best, 0, sizeof best);
	for (size_t i = 0; i < ms->n; i++) {
		evaluate(&ms->e[i], alert, 0, &cur);
		if (cur.matched && (!best.rb || rank_cmp(&cur, &best) < 0))
			best = cur;
	}
	return best.matched ? best.rb : NULL;
}
