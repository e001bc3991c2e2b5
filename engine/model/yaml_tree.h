/*
 * yaml_tree: a YAML document read with libyaml's event API into a small tree
 * where every node keeps its line and column. It refuses what a runbook
 * never needs and an attacker loves: anchors, aliases, tags, several
 * documents, deep nesting, oversized input and scalars, duplicate keys.
 * Values stay as text; ynode_to_json() types plain scalars (null, bools,
 * numbers) the YAML 1.2 core-schema way.
 */
#ifndef RUNBOOK_YAML_TREE_H
#define RUNBOOK_YAML_TREE_H

#include <jansson.h>
#include <stddef.h>

#include "diag.h"

#define YAML_MAX_FILE (1024 * 1024)
#define YAML_MAX_SCALAR (256 * 1024)
#define YAML_MAX_DEPTH 32
#define YAML_MAX_NODES 200000

enum ynode_type { YN_SCALAR, YN_SEQ, YN_MAP };
enum ynode_style { YS_PLAIN, YS_QUOTED, YS_LITERAL, YS_FOLDED };

struct ynode {
	enum ynode_type type;
	enum ynode_style style;
	int line, col;          /* 1-based position of the node */
	char *str;              /* scalar text */
	size_t len;
	struct ynode **kids;    /* seq: items; map: key, value, key, value ... */
	size_t n;
};

/*
 * Parses buf (len bytes) as one YAML document named `file` in messages.
 * Returns the root, or NULL with at least one error added to diags.
 * Caller frees the tree with ynode_free().
 */
struct ynode *yaml_tree_parse(const char *file, const char *buf, size_t len, struct diag_list *diags);
void ynode_free(struct ynode *n);

/* Map lookup by key; NULL when absent or n is not a map. */
struct ynode *ynode_get(const struct ynode *map, const char *key);
size_t ynode_map_len(const struct ynode *map);
#define YMAP_KEY(m, i) ((m)->kids[2 * (i)])
#define YMAP_VAL(m, i) ((m)->kids[2 * (i) + 1])

/* Plain scalars that YAML reads as null / bool / number. */
int ynode_is_null(const struct ynode *n);
int ynode_is_bool(const struct ynode *n, int *val);
int ynode_is_int(const struct ynode *n, long long *val);
int ynode_is_number(const struct ynode *n, double *val);
int ynode_is_string(const struct ynode *n); /* any non-null scalar */
const char *ynode_type_name(const struct ynode *n);

/* Converts a tree to JSON, typing plain scalars. Returns a new reference. */
json_t *ynode_to_json(const struct ynode *n);

#endif
