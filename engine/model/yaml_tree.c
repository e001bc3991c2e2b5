/*
 * yaml_tree: libyaml events -> positioned tree. See yaml_tree.h.
 */
#include "yaml_tree.h"
#include "util.h"

#include <errno.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>
#include <yaml.h>

struct builder {
	const char *file;
	struct diag_list *diags;
	struct ynode *stack[YAML_MAX_DEPTH + 2];
	int depth;
	struct ynode *root;
	size_t nodes;
	int docs;
	int failed;
};

void ynode_free(struct ynode *n)
{
	if (!n)
		return;
	for (size_t i = 0; i < n->n; i++)
		ynode_free(n->kids[i]);
	free(n->kids);
	free(n->str);
	free(n);
}

static void add_kid(struct ynode *parent, struct ynode *kid)
{
	if ((parent->n & (parent->n - 1)) == 0) /* grow at powers of two */
		parent->kids = xrealloc(parent->kids, (parent->n ? parent->n * 2 : 1) * sizeof *parent->kids);
	parent->kids[parent->n++] = kid;
}

static void fail_at(struct builder *b, const yaml_mark_t *m, const char *msg)
{
	diag_add(b->diags, b->file, (int)m->line + 1, (int)m->column + 1, "%s", msg);
	b->failed = 1;
}

/* Attaches a finished node to its parent (or makes it the root). */
static int attach(struct builder *b, struct ynode *n, const yaml_mark_t *m)
{
	if (++b->nodes > YAML_MAX_NODES) {
		fail_at(b, m, "document has too many nodes");
		ynode_free(n);
		return -1;
	}
	if (b->depth == 0) {
		if (b->root) {
			ynode_free(n);
			return 0;
		}
		b->root = n;
		return 0;
	}
	add_kid(b->stack[b->depth - 1], n);
	return 0;
}

static int check_dup_keys(struct builder *b, struct ynode *map)
{
	size_t pairs = map->n / 2;
	for (size_t i = 0; i < pairs; i++) {
		struct ynode *k = YMAP_KEY(map, i);
		if (k->type != YN_SCALAR) {
			diag_add(b->diags, b->file, k->line, k->col, "mapping keys must be plain strings");
			b->failed = 1;
			continue;
		}
		for (size_t j = 0; j < i; j++) {
			struct ynode *p = YMAP_KEY(map, j);
			if (p->type == YN_SCALAR && p->len == k->len && !memcmp(p->str, k->str, k->len)) {
				diag_add(b->diags, b->file, k->line, k->col,
					 "duplicate key '%s' (first defined at line %d)", k->str, p->line);
				b->failed = 1;
				break;
			}
		}
	}
	return 0;
}

static struct ynode *new_node(enum ynode_type t, const yaml_mark_t *m)
{
	struct ynode *n = xcalloc(1, sizeof *n);
	n->type = t;
	n->line = (int)m->line + 1;
	n->col = (int)m->column + 1;
	return n;
}

static int handle(struct builder *b, yaml_event_t *ev)
{
	const yaml_mark_t *m = &ev->start_mark;
	switch (ev->type) {
	case YAML_DOCUMENT_START_EVENT:
		if (++b->docs > 1) {
			fail_at(b, m, "only one YAML document per runbook file (found a second '---')");
			return -1;
		}
		if (ev->data.document_start.tag_directives.start != ev->data.document_start.tag_directives.end) {
			fail_at(b, m, "%TAG directives are not allowed");
			return -1;
		}
		return 0;
	case YAML_ALIAS_EVENT:
		fail_at(b, m, "aliases (*name) are not allowed in runbooks");
		return -1;
	case YAML_SCALAR_EVENT: {
		if (ev->data.scalar.anchor) {
			fail_at(b, m, "anchors (&name) are not allowed in runbooks");
			return -1;
		}
		if (ev->data.scalar.tag) {
			fail_at(b, m, "tags (!tag) are not allowed in runbooks");
			return -1;
		}
		if (ev->data.scalar.length > YAML_MAX_SCALAR) {
			fail_at(b, m, "scalar too large (limit 256 KiB)");
			return -1;
		}
		struct ynode *n = new_node(YN_SCALAR, m);
		n->str = xstrndup((const char *)ev->data.scalar.value, ev->data.scalar.length);
		n->len = ev->data.scalar.length;
		switch (ev->data.scalar.style) {
		case YAML_SINGLE_QUOTED_SCALAR_STYLE:
		case YAML_DOUBLE_QUOTED_SCALAR_STYLE:
			n->style = YS_QUOTED;
			break;
		case YAML_LITERAL_SCALAR_STYLE:
			n->style = YS_LITERAL;
			break;
		case YAML_FOLDED_SCALAR_STYLE:
			n->style = YS_FOLDED;
			break;
		default:
			n->style = YS_PLAIN;
		}
		if (memchr(n->str, '\0', n->len)) {
			fail_at(b, m, "NUL bytes are not allowed in scalars");
			ynode_free(n);
			return -1;
		}
		return attach(b, n, m);
	}
	case YAML_SEQUENCE_START_EVENT:
	case YAML_MAPPING_START_EVENT: {
		int seq = ev->type == YAML_SEQUENCE_START_EVENT;
		const yaml_char_t *anchor = seq ? ev->data.sequence_start.anchor : ev->data.mapping_start.anchor;
		const yaml_char_t *tag = seq ? ev->data.sequence_start.tag : ev->data.mapping_start.tag;
		if (anchor) {
			fail_at(b, m, "anchors (&name) are not allowed in runbooks");
			return -1;
		}
		if (tag) {
			fail_at(b, m, "tags (!tag) are not allowed in runbooks");
			return -1;
		}
		if (b->depth >= YAML_MAX_DEPTH) {
			fail_at(b, m, "nesting too deep (limit 32 levels)");
			return -1;
		}
		b->stack[b->depth++] = new_node(seq ? YN_SEQ : YN_MAP, m);
		return 0;
	}
	case YAML_SEQUENCE_END_EVENT:
	case YAML_MAPPING_END_EVENT: {
		struct ynode *n = b->stack[--b->depth];
		if (n->type == YN_MAP)
			check_dup_keys(b, n);
		return attach(b, n, m);
	}
	default:
		return 0;
	}
}

struct ynode *yaml_tree_parse(const char *file, const char *buf, size_t len, struct diag_list *diags)
{
	struct builder b;
	memset(&b, 0, sizeof b);
	b.file = file;
	b.diags = diags;
	if (len > YAML_MAX_FILE) {
		diag_add(diags, file, 0, 0, "file too large (%zu bytes; limit 1 MiB)", len);
		return NULL;
	}
	yaml_parser_t p;
	if (!yaml_parser_initialize(&p)) {
		diag_add(diags, file, 0, 0, "cannot initialise the YAML parser");
		return NULL;
	}
	yaml_parser_set_input_string(&p, (const unsigned char *)buf, len);
	int done = 0;
	while (!done) {
		yaml_event_t ev;
		if (!yaml_parser_parse(&p, &ev)) {
			const yaml_mark_t *m = &p.problem_mark;
			if (p.context)
				diag_add(diags, file, (int)m->line + 1, (int)m->column + 1, "%s %s",
					 p.problem ? p.problem : "syntax error", p.context);
			else
				diag_add(diags, file, (int)m->line + 1, (int)m->column + 1, "%s",
					 p.problem ? p.problem : "YAML syntax error");
			b.failed = 1;
			break;
		}
		done = ev.type == YAML_STREAM_END_EVENT;
		int rc = handle(&b, &ev);
		yaml_event_delete(&ev);
		if (rc)
			break;
	}
	yaml_parser_delete(&p);
	while (b.depth > 0)
		ynode_free(b.stack[--b.depth]);
	if (!b.failed && !b.root) {
		diag_add(diags, file, 1, 1, "empty document");
		b.failed = 1;
	}
	if (b.failed) {
		ynode_free(b.root);
		return NULL;
	}
	return b.root;
}

struct ynode *ynode_get(const struct ynode *map, const char *key)
{
	if (!map || map->type != YN_MAP)
		return NULL;
	for (size_t i = 0; i < map->n / 2; i++) {
		struct ynode *k = YMAP_KEY(map, i);
		if (k->type == YN_SCALAR && !strcmp(k->str, key))
			return YMAP_VAL(map, i);
	}
	return NULL;
}

size_t ynode_map_len(const struct ynode *map)
{
	return map && map->type == YN_MAP ? map->n / 2 : 0;
}

int ynode_is_null(const struct ynode *n)
{
	if (!n || n->type != YN_SCALAR || n->style != YS_PLAIN)
		return 0;
	return !strcmp(n->str, "") || !strcmp(n->str, "~") || !strcmp(n->str, "null") ||
	       !strcmp(n->str, "Null") || !strcmp(n->str, "NULL");
}

int ynode_is_bool(const struct ynode *n, int *val)
{
	if (!n || n->type != YN_SCALAR || n->style != YS_PLAIN)
		return 0;
	static const char *t[] = {"true", "True", "TRUE"}, *f[] = {"false", "False", "FALSE"};
	for (int i = 0; i < 3; i++) {
		if (!strcmp(n->str, t[i])) {
			if (val)
				*val = 1;
			return 1;
		}
		if (!strcmp(n->str, f[i])) {
			if (val)
				*val = 0;
			return 1;
		}
	}
	return 0;
}

int ynode_is_int(const struct ynode *n, long long *val)
{
	if (!n || n->type != YN_SCALAR || n->style != YS_PLAIN || !n->len)
		return 0;
	const char *s = n->str;
	char *end;
	int base = 10;
	if (!strncmp(s, "0x", 2)) {
		base = 16;
		s += 2;
	} else if (!strncmp(s, "0o", 2)) {
		base = 8;
		s += 2;
	}
	if (!*s || ((*s == '-' || *s == '+') && base != 10))
		return 0;
	errno = 0;
	long long v = strtoll(s, &end, base);
	if (*end || errno)
		return 0;
	if (val)
		*val = v;
	return 1;
}

int ynode_is_number(const struct ynode *n, double *val)
{
	long long i;
	if (ynode_is_int(n, &i)) {
		if (val)
			*val = (double)i;
		return 1;
	}
	if (!n || n->type != YN_SCALAR || n->style != YS_PLAIN || !n->len)
		return 0;
	const char *s = n->str;
	if (!strcmp(s, ".inf") || !strcmp(s, "+.inf") || !strcmp(s, "-.inf") || !strcmp(s, ".nan"))
		return 0; /* not useful in runbooks; JSON cannot hold them */
	/* core schema: [-+]?(\.[0-9]+|[0-9]+(\.[0-9]*)?)([eE][-+]?[0-9]+)? */
	const char *p = s;
	if (*p == '-' || *p == '+')
		p++;
	int digits = 0;
	while (*p >= '0' && *p <= '9')
		p++, digits++;
	if (*p == '.') {
		p++;
		while (*p >= '0' && *p <= '9')
			p++, digits++;
	}
	if (!digits)
		return 0;
	if (*p == 'e' || *p == 'E') {
		p++;
		if (*p == '-' || *p == '+')
			p++;
		if (!(*p >= '0' && *p <= '9'))
			return 0;
		while (*p >= '0' && *p <= '9')
			p++;
	}
	if (*p)
		return 0;
	double v = strtod(s, NULL);
	if (!isfinite(v))
		return 0;
	if (val)
		*val = v;
	return 1;
}

int ynode_is_string(const struct ynode *n)
{
	return n && n->type == YN_SCALAR && !ynode_is_null(n);
}

const char *ynode_type_name(const struct ynode *n)
{
	if (!n)
		return "nothing";
	if (n->type == YN_SEQ)
		return "a list";
	if (n->type == YN_MAP)
		return "a mapping";
	if (ynode_is_null(n))
		return "null";
	if (ynode_is_bool(n, NULL))
		return "a boolean";
	if (ynode_is_number(n, NULL))
		return "a number";
	return "a string";
}

json_t *ynode_to_json(const struct ynode *n)
{
	if (n->type == YN_SEQ) {
		json_t *a = json_array();
		for (size_t i = 0; i < n->n; i++)
			json_array_append_new(a, ynode_to_json(n->kids[i]));
		return a;
	}
	if (n->type == YN_MAP) {
		json_t *o = json_object();
		for (size_t i = 0; i < n->n / 2; i++)
			json_object_set_new(o, YMAP_KEY(n, i)->str, ynode_to_json(YMAP_VAL(n, i)));
		return o;
	}
	long long iv;
	double dv;
	int bv;
	if (ynode_is_null(n))
		return json_null();
	if (ynode_is_bool(n, &bv))
		return json_boolean(bv);
	if (ynode_is_int(n, &iv))
		return json_integer(iv);
	if (ynode_is_number(n, &dv))
		return json_real(dv);
	return json_stringn(n->str, n->len);
}
