/* template: ${EXPR} splitting and rendering. See template.h. */
#include "template.h"
#include "util.h"
#include "action.h"
#include "sandbox.h"

#include <stdlib.h>
#include <string.h>

/* End of the expression starting at p (just after "${"): the matching '}',
 * skipping Lua strings and nested braces. NULL when unterminated. */
static const char *expr_end(const char *p)
{
	int depth = 0;
	for (; *p; p++) {
		if (*p == '"' || *p == '\'') {
			char q = *p++;
			while (*p && *p != q) {
				if (*p == '\\' && p[1])
					p++;
				p++;
			}
			if (!*p)
				return NULL;
		} else if (*p == '{') {
			depth++;
		} else if (*p == '}') {
			if (depth == 0)
				return p;
			depth--;
		}
	}
	return NULL;
}

int template_split(const char *s, struct tpl_piece **pieces, size_t *n, char **err, size_t *erroff)
{
	size_t cap = 4, cnt = 0;
	struct tpl_piece *pc = xmalloc(cap * sizeof *pc);
	const char *lit = s;
	const char *p = s;
#define PUSH(e, str, l, off)                                                   \
	do {                                                                   \
		if (cnt == cap)                                                \
			pc = xrealloc(pc, (cap *= 2) * sizeof *pc);            \
		pc[cnt++] = (struct tpl_piece){(e), (str), (l), (off)};        \
	} while (0)
	while (*p) {
		if (p[0] == '$' && p[1] == '$' && p[2] == '{') {
			PUSH(0, lit, (size_t)(p - lit) + 1, (size_t)(lit - s)); /* keep one '$' */
			p += 2;
			lit = p;
			p++; /* the '{' stays literal */
			continue;
		}
		if (p[0] == '$' && p[1] == '{') {
			const char *e = expr_end(p + 2);
			if (!e) {
				*err = xstrdup("unterminated ${ in template");
				*erroff = (size_t)(p - s);
				free(pc);
				return -1;
			}
			const char *x = p + 2;
			while (x < e && (*x == ' ' || *x == '\t'))
				x++;
			if (x == e) {
				*err = xstrdup("empty ${} in template");
				*erroff = (size_t)(p - s);
				free(pc);
				return -1;
			}
			if (p > lit)
				PUSH(0, lit, (size_t)(p - lit), (size_t)(lit - s));
			PUSH(1, p + 2, (size_t)(e - p - 2), (size_t)(p - s));
			p = lit = e + 1;
			continue;
		}
		p++;
	}
	if (p > lit)
		PUSH(0, lit, (size_t)(p - lit), (size_t)(lit - s));
#undef PUSH
	*pieces = pc;
	*n = cnt;
	return 0;
}

int template_has_expr(const char *s)
{
	for (const char *p = s; (p = strchr(p, '$')); p++) {
		if (p[1] == '$' && p[2] == '{') {
			p += 2;
			continue;
		}
		if (p[1] == '{')
			return 1;
	}
	return 0;
}

char *template_value_text(json_t *v)
{
	switch (json_typeof(v)) {
	case JSON_STRING:
		return xstrndup(json_string_value(v), json_string_length(v));
	case JSON_INTEGER:
		return xasprintf("%lld", (long long)json_integer_value(v));
	case JSON_REAL:
		return xasprintf("%.14g", json_real_value(v));
	case JSON_TRUE:
		return xstrdup("true");
	case JSON_FALSE:
		return xstrdup("false");
	case JSON_NULL:
		return xstrdup("");
	default: {
		char *s = json_dumps(v, JSON_COMPACT | JSON_SORT_KEYS);
		return s ? s : xstrdup("");
	}
	}
}

int template_render(struct sandbox *sb, const char *s, int quote_shell, const char *file, int line,
		    int64_t deadline_ms, char **out, char **err)
{
	struct tpl_piece *pc;
	size_t n, erroff;
	if (template_split(s, &pc, &n, err, &erroff))
		return -1;
	struct sbuf b;
	sbuf_init(&b);
	for (size_t i = 0; i < n; i++) {
		if (!pc[i].is_expr) {
			sbuf_add(&b, pc[i].s, pc[i].len);
			continue;
		}
		char *expr = xstrndup(pc[i].s, pc[i].len);
		json_t *v = NULL;
		char *e = NULL;
		enum sandbox_limit st = sandbox_run(sb, expr, 1, file, line, deadline_ms, &v, &e);
		if (st != SB_OK) {
			*err = xasprintf("${%s}: %s", expr, e);
			free(e);
			free(expr);
			free(pc);
			sbuf_release(&b);
			return -1;
		}
		if (json_is_null(v)) {
			*err = xasprintf("%s:%d: ${%s} is nil", file, line, expr);
			json_decref(v);
			free(expr);
			free(pc);
			sbuf_release(&b);
			return -1;
		}
		char *text = template_value_text(v);
		json_decref(v);
		free(expr);
		if (quote_shell) {
			char *q = shell_quote(text);
			sbuf_adds(&b, q);
			free(q);
		} else {
			sbuf_adds(&b, text);
		}
		free(text);
	}
	free(pc);
	*out = sbuf_detach(&b);
	return 0;
}

json_t *template_render_json(struct sandbox *sb, json_t *v, int quote_shell, const char *file, int line,
			     int64_t deadline_ms, char **err)
{
	if (json_is_string(v)) {
		char *out;
		if (template_render(sb, json_string_value(v), quote_shell, file, line, deadline_ms, &out, err))
			return NULL;
		json_t *r = json_string(out);
		free(out);
		return r ? r : json_string("");
	}
	if (json_is_array(v)) {
		json_t *a = json_array();
		size_t i;
		json_t *x;
		json_array_foreach(v, i, x) {
			json_t *r = template_render_json(sb, x, quote_shell, file, line, deadline_ms, err);
			if (!r) {
				json_decref(a);
				return NULL;
			}
			json_array_append_new(a, r);
		}
		return a;
	}
	if (json_is_object(v)) {
		json_t *o = json_object();
		const char *k;
		json_t *x;
		json_object_foreach(v, k, x) {
			json_t *r = template_render_json(sb, x, quote_shell, file, line, deadline_ms, err);
			if (!r) {
				json_decref(o);
				return NULL;
			}
			json_object_set_new(o, k, r);
		}
		return o;
	}
	return json_incref(v);
}
