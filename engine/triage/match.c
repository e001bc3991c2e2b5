/* match: runbooks for an alert, and why. See match.h. */
#define _POSIX_C_SOURCE 200809L
#include "match.h"
#include "util.h"

#include <ctype.h>
#include <stdint.h>
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

/* An index from what a matcher requires exactly - an alertname, or its
 * first exact label - to the matchers that require it: matching an alert
 * looks only at the matchers it could satisfy, not at every runbook. */
struct ref {
	uint32_t e, m;
};

struct bucket {
	char *key;
	size_t klen;
	struct ref *refs;
	size_t n, cap;
};

struct matchset {
	struct entry *e;
	size_t n;
	struct bucket *idx;     /* open addressing; cap a power of two */
	size_t cap, used;
	struct ref *always;     /* matchers with nothing exact to index by */
	size_t nalways;
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

/* Cheap conditions first (exact names and values), regexes last: a
 * matcher that fails usually fails before any regex runs. */
static int cost(const struct cond *c)
{
	if (c->kind == C_ALERTNAME)
		return 0;
	if (c->kind == C_TEXT)
		return 3;
	return c->has_re ? 2 : 1;
}

static int by_cost(const void *a, const void *b)
{
	return cost(a) - cost(b); /* qsort is not stable, but order within a cost does not matter */
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
	qsort(m->c, m->n, sizeof *m->c, by_cost);
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
	for (size_t i = 0; i < ms->cap; i++) {
		free(ms->idx[i].key);
		free(ms->idx[i].refs);
	}
	free(ms->idx);
	free(ms->always);
	free(ms);
}

static uint64_t hash(const char *k, size_t n)
{
	uint64_t h = 14695981039346656037ULL;
	for (size_t i = 0; i < n; i++) {
		h ^= (unsigned char)k[i];
		h *= 1099511628211ULL;
	}
	return h;
}

static struct bucket *slot(const struct matchset *ms, const char *k, size_t n)
{
	if (!ms->cap)
		return NULL;
	for (size_t i = hash(k, n) & (ms->cap - 1);; i = (i + 1) & (ms->cap - 1)) {
		struct bucket *b = &ms->idx[i];
		if (!b->key || (b->klen == n && !memcmp(b->key, k, n)))
			return b;
	}
}

static void index_add(struct matchset *ms, const char *k, size_t n, struct ref r)
{
	struct bucket *b = slot(ms, k, n);
	if (!b->key) {
		b->key = xstrndup(k, n);
		b->klen = n;
		ms->used++;
	}
	if (b->n == b->cap) {
		b->cap = b->cap ? b->cap * 2 : 2;
		b->refs = xrealloc(b->refs, b->cap * sizeof *b->refs);
	}
	b->refs[b->n++] = r;
}

/* "A" name, or "L" label NUL value: the key of one exact requirement. */
static char *index_key(char kind, const char *a, const char *b, size_t *n)
{
	size_t la = strlen(a), lb = b ? strlen(b) : 0;
	char *k = xmalloc(la + lb + 3);
	k[0] = kind;
	memcpy(k + 1, a, la);
	k[la + 1] = '\0';
	if (b)
		memcpy(k + la + 2, b, lb);
	*n = 1 + la + (b ? 1 + lb : 0);
	return k;
}

static void build_index(struct matchset *ms)
{
	size_t want = 16;
	for (size_t i = 0; i < ms->n; i++)
		want += ms->e[i].n * 4;
	for (ms->cap = 16; ms->cap < want * 2; ms->cap *= 2)
		;
	ms->idx = xcalloc(ms->cap, sizeof *ms->idx);
	for (size_t i = 0; i < ms->n; i++) {
		for (size_t k = 0; k < ms->e[i].n; k++) {
			const struct matcher *m = &ms->e[i].m[k];
			struct ref r = {(uint32_t)i, (uint32_t)k};
			const struct cond *an = NULL, *exact = NULL;
			for (size_t c = 0; c < m->n; c++) {
				if (m->c[c].kind == C_ALERTNAME && !an)
					an = &m->c[c];
				if (m->c[c].kind == C_LABEL && m->c[c].op == OP_EQ && *m->c[c].value && !exact)
					exact = &m->c[c];
			}
			size_t kn;
			if (an) {
				size_t j;
				json_t *nm;
				json_array_foreach(an->names, j, nm) {
					if (!json_is_string(nm))
						continue;
					char *key = index_key('A', json_string_value(nm), NULL, &kn);
					index_add(ms, key, kn, r);
					free(key);
				}
			} else if (exact) {
				char *key = index_key('L', exact->name, exact->value, &kn);
				index_add(ms, key, kn, r);
				free(key);
			} else if (m->n) {
				ms->always = xrealloc(ms->always, (ms->nalways + 1) * sizeof *ms->always);
				ms->always[ms->nalways++] = r;
			}
		}
	}
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
	build_index(ms);
	return ms;
}

/* ---- evaluation ---- */

/* What every runbook looks at, taken from the alert once. */
struct view {
	json_t *alert, *labels, *annotations;
	const char *name, *severity;
	char *text;                       /* summary and description */
	const char *named[3];             /* runbook label, annotation, runbook_url's last segment */
	size_t url_len;
	char url_seg[256];
};

static void view_init(struct view *v, json_t *alert)
{
	memset(v, 0, sizeof *v);
	v->alert = alert;
	v->labels = json_object_get(alert, "labels");
	v->annotations = json_object_get(alert, "annotations");
	v->name = json_string_value(json_object_get(alert, "name"));
	v->severity = json_string_value(json_object_get(alert, "severity"));
	const char *s = json_string_value(json_object_get(alert, "summary"));
	const char *d = json_string_value(json_object_get(alert, "description"));
	v->text = xasprintf("%s%s%s", s ? s : "", s && d ? "\n" : "", d ? d : "");
	v->named[0] = json_string_value(json_object_get(v->labels, "runbook"));
	v->named[1] = json_string_value(json_object_get(v->annotations, "runbook"));
	const char *url = json_string_value(json_object_get(v->annotations, "runbook_url"));
	if (url && *url) { /* the last path segment, without .md/.html */
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
		if (len < sizeof v->url_seg) {
			memcpy(v->url_seg, url + start, len);
			v->url_seg[len] = '\0';
			v->named[2] = v->url_seg;
		}
	}
}

static void view_release(struct view *v)
{
	free(v->text);
}


/* Evaluates c; *actual (when actual is not NULL) gets the value seen (a
 * new reference). */
static int eval(const struct cond *c, const struct view *w, json_t **actual)
{
	const char *v = "";
	int held = 0;
	switch (c->kind) {
	case C_ALERTNAME: {
		v = w->name;
		if (actual)
			*actual = v ? json_string(v) : json_null();
		size_t i;
		json_t *n;
		json_array_foreach(c->names, i, n)
			held |= v && json_is_string(n) && !strcmp(json_string_value(n), v);
		return held;
	}
	case C_LABEL:
	case C_ANNOTATION:
		v = json_string_value(json_object_get(c->kind == C_LABEL ? w->labels : w->annotations, c->name));
		if (!v)
			v = ""; /* a missing label is the empty string */
		if (actual && !(*actual = json_string(v)))
			*actual = json_null();
		break;
	case C_SEVERITY:
		v = w->severity;
		if (actual)
			*actual = v ? json_string(v) : json_null();
		return v && !strcasecmp(v, c->value);
	case C_TEXT:
		if (actual && !(*actual = json_string(w->text)))
			*actual = json_null();
		return regexec(&c->re, w->text, 0, NULL, 0) == 0;
	}
	switch (c->op) {
	case OP_EQ: return !strcmp(v, c->value);
	case OP_NE: return strcmp(v, c->value) != 0;
	case OP_RE: return regexec(&c->re, v, 0, NULL, 0) == 0;
	case OP_NRE: return regexec(&c->re, v, 0, NULL, 0) != 0;
	}
	return 0;
}

/* True when the alert names runbook id: label/annotation `runbook`, or the
 * last path segment of annotations.runbook_url (any case). */
static int named_by(const struct view *w, const char *id)
{
	return (w->named[0] && !strcmp(w->named[0], id)) || (w->named[1] && !strcmp(w->named[1], id)) ||
	       (w->named[2] && !strcasecmp(w->named[2], id));
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

static void evaluate(const struct entry *e, const struct view *w, int detail, struct ranked *r)
{
	memset(r, 0, sizeof *r);
	r->rb = e->rb;
	r->named = named_by(w, e->rb->id);
	json_t *ms = detail ? json_array() : NULL;
	int best_all = 0, best_by = 0, best_held = 0, most_held = 0;
	for (size_t k = 0; k < e->n; k++) {
		const struct matcher *m = &e->m[k];
		int all = m->n > 0, held = 0, by_name = 0;
		json_t *conds = detail ? json_array() : NULL;
		for (size_t i = 0; i < m->n; i++) {
			json_t *actual = NULL;
			int h = eval(&m->c[i], w, detail ? &actual : NULL);
			held += h;
			all &= h;
			by_name |= h && m->c[i].kind == C_ALERTNAME;
			if (detail) {
				json_t *expected = m->c[i].names ? json_incref(m->c[i].names) : json_string(m->c[i].value);
				json_array_append_new(conds, json_pack("{s:s, s:o, s:o, s:b}", "condition", m->c[i].text,
								       "expected", expected, "actual", actual, "held", h));
			} else if (!h) {
				break; /* the cheap conditions come first: most matchers end here */
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
	struct view w;
	view_init(&w, alert);
	for (size_t i = 0; i < ms->n; i++)
		evaluate(&ms->e[i], &w, 1, &r[i]);
	view_release(&w);
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

/* One matcher, without detail: 1 when every condition holds. */
static int holds(const struct matcher *m, const struct view *w, int *held, int *by_name)
{
	*held = *by_name = 0;
	for (size_t i = 0; i < m->n; i++) {
		if (!eval(&m->c[i], w, NULL))
			return 0;
		(*held)++;
		*by_name |= m->c[i].kind == C_ALERTNAME;
	}
	return m->n > 0;
}

/* A candidate from one matcher that holds: better than *best? */
static void consider(const struct matchset *ms, struct ref r, const struct view *w, struct ranked *best)
{
	int held, by_name;
	const struct entry *e = &ms->e[r.e];
	if (!holds(&e->m[r.m], w, &held, &by_name))
		return;
	struct ranked cur = {e->rb, 1, named_by(w, e->rb->id), by_name, held, NULL};
	if (!best->rb || rank_cmp(&cur, best) < 0)
		*best = cur;
}

static void consider_list(const struct matchset *ms, const struct bucket *b, const struct view *w,
			  struct ranked *best)
{
	for (size_t i = 0; b && b->key && i < b->n; i++)
		consider(ms, b->refs[i], w, best);
}

struct runbook *matchset_best(const struct matchset *ms, json_t *alert)
{
	struct ranked best;
	memset(&best, 0, sizeof best);
	struct view w;
	view_init(&w, alert);
	/* only the matchers this alert could satisfy: by its name, by each of
	 * its labels, and those with nothing exact to index */
	size_t kn;
	char *key;
	if (w.name) {
		key = index_key('A', w.name, NULL, &kn);
		consider_list(ms, slot(ms, key, kn), &w, &best);
		free(key);
	}
	const char *lk;
	json_t *lv;
	json_object_foreach(w.labels, lk, lv) {
		if (!json_is_string(lv))
			continue;
		key = index_key('L', lk, json_string_value(lv), &kn);
		consider_list(ms, slot(ms, key, kn), &w, &best);
		free(key);
	}
	for (size_t i = 0; i < ms->nalways; i++)
		consider(ms, ms->always[i], &w, &best);
	/* a runbook the alert names ranks first, matched or not */
	for (int k = 0; k < 3; k++) {
		if (!w.named[k])
			continue;
		for (size_t i = 0; i < ms->n; i++) {
			struct ranked cur;
			if (strcasecmp(ms->e[i].rb->id, w.named[k]))
				continue;
			evaluate(&ms->e[i], &w, 0, &cur);
			if (cur.matched && (!best.rb || rank_cmp(&cur, &best) < 0))
				best = cur;
		}
	}
	view_release(&w);
	return best.matched ? best.rb : NULL;
}
