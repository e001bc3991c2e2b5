/* config: the configuration file. See config.h. */
#define _POSIX_C_SOURCE 200809L
#include "config.h"
#include "util.h"
#include "yaml_tree.h"
#include "action.h"

#include <ctype.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

struct cl {
	const char *file;
	struct diag_list *d;
	struct config *cfg;
	int errors;
};

static void cerr(struct cl *c, const struct ynode *n, const char *fmt, ...) __attribute__((format(printf, 3, 4)));
static void cerr(struct cl *c, const struct ynode *n, const char *fmt, ...)
{
	va_list ap;
	va_start(ap, fmt);
	char *m = xvasprintf(fmt, ap);
	va_end(ap);
	diag_add(c->d, c->file, n ? n->line : 0, n ? n->col : 0, "%s", m);
	free(m);
	c->errors++;
}

static void keys(struct cl *c, const struct ynode *map, const char *const *allowed, const char *what)
{
	for (size_t i = 0; i < ynode_map_len(map); i++) {
		const struct ynode *k = YMAP_KEY(map, i);
		int ok = 0;
		for (const char *const *a = allowed; *a; a++)
			ok |= !strcmp(*a, k->str);
		if (ok)
			continue;
		const char *dym = did_you_mean(k->str, allowed);
		cerr(c, k, "unknown key '%s' in %s%s%s%s", k->str, what, dym ? " (did you mean '" : "", dym ? dym : "",
		     dym ? "'?)" : "");
	}
}

/* A string with ${env.NAME} expanded (the only template a config has).
 * Returns a new string, or NULL after an error. */
static char *expand(struct cl *c, const struct ynode *n)
{
	if (!n || n->type != YN_SCALAR || ynode_is_null(n)) {
		cerr(c, n, "must be a string, not %s", n ? ynode_type_name(n) : "nothing");
		return NULL;
	}
	struct sbuf sb;
	sbuf_init(&sb);
	sbuf_add(&sb, "", 0);
	for (const char *p = n->str; *p;) {
		const char *o = strstr(p, "${");
		if (!o) {
			sbuf_adds(&sb, p);
			break;
		}
		sbuf_add(&sb, p, (size_t)(o - p));
		const char *e = strchr(o, '}');
		const char *name = o + 2;
		while (*name == ' ')
			name++;
		if (!e || strncmp(name, "env.", 4)) {
			cerr(c, n, "only ${env.NAME} may be used in a config string");
			sbuf_release(&sb);
			return NULL;
		}
		name += 4;
		const char *ne = name;
		while (isalnum((unsigned char)*ne) || *ne == '_')
			ne++;
		const char *rest = ne;
		while (*rest == ' ')
			rest++;
		if (ne == name || rest != e) {
			cerr(c, n, "only ${env.NAME} may be used in a config string");
			sbuf_release(&sb);
			return NULL;
		}
		char *var = xstrndup(name, (size_t)(ne - name));
		const char *val = getenv(var);
		if (!val) {
			cerr(c, n, "environment variable %s is not set", var);
			free(var);
			sbuf_release(&sb);
			return NULL;
		}
		json_array_append_new(c->cfg->secrets, json_string(val));
		sbuf_adds(&sb, val);
		free(var);
		p = e + 1;
	}
	return sbuf_detach(&sb);
}

static json_t *expand_json(struct cl *c, const struct ynode *n)
{
	char *s = expand(c, n);
	json_t *j = s ? json_string(s) : NULL;
	free(s);
	return j;
}

int config_parse_size(const char *s, size_t *out)
{
	char *end;
	double v = strtod(s, &end);
	if (end == s || v < 0)
		return -1;
	while (*end == ' ')
		end++;
	static const struct {
		const char *unit;
		double mult;
	} units[] = {{"", 1}, {"B", 1}, {"KiB", 1024.0}, {"MiB", 1048576.0}, {"GiB", 1073741824.0}, {"KB", 1e3},
		     {"kB", 1e3}, {"MB", 1e6}, {"GB", 1e9}};
	for (size_t i = 0; i < ARRAY_LEN(units); i++)
		if (!strcmp(end, units[i].unit)) {
			double b = v * units[i].mult;
			if (b > 1e15)
				return -1;
			*out = (size_t)b;
			return 0;
		}
	return -1;
}

static void load_limits(struct cl *c, const struct ynode *n)
{
	static const char *const k[] = {"memory", "instructions", "output", "rows", NULL};
	if (n->type != YN_MAP) {
		cerr(c, n, "'limits' must be a mapping like {memory: 64MiB, instructions: 50000000}");
		return;
	}
	keys(c, n, k, "limits");
	struct config *cfg = c->cfg;
	const struct ynode *v;
	size_t sz;
	long long iv;
	if ((v = ynode_get(n, "memory"))) {
		if (v->type != YN_SCALAR || config_parse_size(v->str, &sz) || sz < (1u << 20))
			cerr(c, v, "'memory' must be a size of at least 1MiB, like 64MiB");
		else
			cfg->limits.memory = sz;
	}
	if ((v = ynode_get(n, "instructions"))) {
		if (!ynode_is_int(v, &iv) || iv < 1000)
			cerr(c, v, "'instructions' must be a whole number of at least 1000");
		else
			cfg->limits.instructions = iv;
	}
	if ((v = ynode_get(n, "output"))) {
		if (v->type != YN_SCALAR || config_parse_size(v->str, &sz) || sz < 1024)
			cerr(c, v, "'output' must be a size of at least 1KiB, like 1MiB");
		else
			cfg->output_cap = cfg->limits.output = sz;
	}
	if ((v = ynode_get(n, "rows"))) {
		if (!ynode_is_int(v, &iv) || iv < 1)
			cerr(c, v, "'rows' must be a whole number of at least 1");
		else
			cfg->row_cap = (size_t)iv;
	}
}

static void load_notifiers(struct cl *c, const struct ynode *n)
{
	static const char *const webhook_k[] = {"type", "url", "format", "headers", NULL};
	static const char *const pd_k[] = {"type", "routing_key", "url", NULL};
	if (n->type != YN_MAP) {
		cerr(c, n, "'notifiers' must be a mapping of name: {type, ...}");
		return;
	}
	for (size_t i = 0; i < ynode_map_len(n); i++) {
		const struct ynode *k = YMAP_KEY(n, i), *v = YMAP_VAL(n, i);
		if (v->type != YN_MAP) {
			cerr(c, v, "notifier '%s' must be a mapping like {type: webhook, url: ...}", k->str);
			continue;
		}
		const struct ynode *t = ynode_get(v, "type");
		const char *type = t && t->type == YN_SCALAR ? t->str : NULL;
		json_t *o = json_object();
		if (type && !strcmp(type, "webhook")) {
			keys(c, v, webhook_k, "a webhook notifier");
			const struct ynode *f = ynode_get(v, "format");
			if (f && (f->type != YN_SCALAR || (strcmp(f->str, "json") && strcmp(f->str, "slack"))))
				cerr(c, f, "'format' is json or slack");
			json_object_set_new(o, "format", json_string(f && f->type == YN_SCALAR ? f->str : "json"));
			const struct ynode *u = ynode_get(v, "url");
			json_t *url = u ? expand_json(c, u) : NULL;
			if (!u)
				cerr(c, v, "webhook notifier '%s' needs 'url'", k->str);
			if (url)
				json_object_set_new(o, "url", url);
			const struct ynode *h = ynode_get(v, "headers");
			if (h && h->type != YN_MAP)
				cerr(c, h, "'headers' must be a mapping of name: value");
			json_t *hs = json_object();
			for (size_t j = 0; h && h->type == YN_MAP && j < ynode_map_len(h); j++) {
				json_t *hv = expand_json(c, YMAP_VAL(h, j));
				if (hv)
					json_object_set_new(hs, YMAP_KEY(h, j)->str, hv);
			}
			json_object_set_new(o, "headers", hs);
		} else if (type && !strcmp(type, "pagerduty")) {
			keys(c, v, pd_k, "a pagerduty notifier");
			const struct ynode *rk = ynode_get(v, "routing_key"), *u = ynode_get(v, "url");
			json_t *key = rk ? expand_json(c, rk) : NULL;
			if (!rk)
				cerr(c, v, "pagerduty notifier '%s' needs 'routing_key'", k->str);
			if (key)
				json_object_set_new(o, "routing_key", key);
			json_t *url = u ? expand_json(c, u) : json_string("https://events.pagerduty.com/v2/enqueue");
			if (url)
				json_object_set_new(o, "url", url);
		} else {
			static const char *const types[] = {"webhook", "pagerduty", NULL};
			const char *dym = type ? did_you_mean(type, types) : NULL;
			cerr(c, t ? t : v, "notifier '%s': type must be webhook or pagerduty%s%s%s", k->str,
			     dym ? " (did you mean '" : "", dym ? dym : "", dym ? "'?)" : "");
		}
		json_object_set_new(o, "type", json_string(type ? type : "?"));
		json_object_set_new(c->cfg->notifiers, k->str, o);
	}
}

static void load_routes(struct cl *c, const struct ynode *n)
{
	if (n->type != YN_MAP) {
		cerr(c, n, "'routes' must be a mapping of escalation target: [notifier, ...]");
		return;
	}
	for (size_t i = 0; i < ynode_map_len(n); i++) {
		const struct ynode *k = YMAP_KEY(n, i), *v = YMAP_VAL(n, i);
		json_t *list = json_array();
		if (v->type != YN_SEQ) {
			cerr(c, v, "route '%s' must be a list of notifier names", k->str);
		} else {
			for (size_t j = 0; j < v->n; j++) {
				const struct ynode *x = v->kids[j];
				if (x->type != YN_SCALAR) {
					cerr(c, x, "notifier names are strings");
					continue;
				}
				if (!json_object_get(c->cfg->notifiers, x->str)) {
					const char *cands[65];
					size_t nc = 0;
					const char *nk;
					json_t *nv;
					json_object_foreach(c->cfg->notifiers, nk, nv)
						if (nc < 64)
							cands[nc++] = nk;
					cands[nc] = NULL;
					const char *dym = did_you_mean(x->str, cands);
					cerr(c, x, "route '%s' names unknown notifier '%s'%s%s%s", k->str, x->str,
					     dym ? " (did you mean '" : "", dym ? dym : "", dym ? "'?)" : "");
					continue;
				}
				json_array_append_new(list, json_string(x->str));
			}
		}
		json_object_set_new(c->cfg->routes, k->str, list);
	}
}

static void load_components(struct cl *c, const struct ynode *n)
{
	static const char *const k[] = {"runbooks", "labels", "description", NULL};
	if (n->type != YN_MAP) {
		cerr(c, n, "'components' must be a mapping of name: {runbooks, labels}");
		return;
	}
	for (size_t i = 0; i < ynode_map_len(n); i++) {
		const struct ynode *name = YMAP_KEY(n, i), *v = YMAP_VAL(n, i);
		if (v->type != YN_MAP) {
			cerr(c, v, "component '%s' must be a mapping like {runbooks: [...], labels: {...}}", name->str);
			continue;
		}
		keys(c, v, k, "a component");
		const struct ynode *rb = ynode_get(v, "runbooks"), *lb = ynode_get(v, "labels");
		if (rb && rb->type != YN_SEQ)
			cerr(c, rb, "'runbooks' must be a list of runbook ids");
		if (lb && lb->type != YN_MAP)
			cerr(c, lb, "'labels' must be a mapping of name: value");
		json_t *o = json_object();
		json_object_set_new(o, "runbooks", rb && rb->type == YN_SEQ ? ynode_to_json(rb) : json_array());
		json_object_set_new(o, "labels", lb && lb->type == YN_MAP ? ynode_to_json(lb) : json_object());
		json_object_set_new(c->cfg->components, name->str, o);
	}
}

static void load_serve(struct cl *c, const struct ynode *n)
{
	static const char *const k[] = {"listen", "bearer_token", "pagerduty_secret", "max_body", "triage_threads", NULL};
	if (n->type != YN_MAP) {
		cerr(c, n, "'serve' must be a mapping like {listen: \"127.0.0.1:9464\"}");
		return;
	}
	keys(c, n, k, "serve");
	json_t *s = c->cfg->serve;
	static const char *const strs[] = {"listen", "bearer_token", "pagerduty_secret", NULL};
	for (const char *const *p = strs; *p; p++) {
		const struct ynode *v = ynode_get(n, *p);
		json_t *x = v ? expand_json(c, v) : NULL;
		if (x)
			json_object_set_new(s, *p, x);
	}
	const struct ynode *mb = ynode_get(n, "max_body"), *tt = ynode_get(n, "triage_threads");
	size_t sz;
	long long iv;
	if (mb && (mb->type != YN_SCALAR || config_parse_size(mb->str, &sz) || sz < 1024))
		cerr(c, mb, "'max_body' must be a size of at least 1KiB, like 1MiB");
	else if (mb)
		json_object_set_new(s, "max_body", json_integer((json_int_t)sz));
	if (tt && (!ynode_is_int(tt, &iv) || iv < 1 || iv > 256))
		cerr(c, tt, "'triage_threads' must be a whole number from 1 to 256");
	else if (tt)
		json_object_set_new(s, "triage_threads", json_integer(iv));
}

void config_defaults(struct config *cfg)
{
	memset(cfg, 0, sizeof *cfg);
	sandbox_default_limits(&cfg->limits);
	cfg->output_cap = ACTION_OUTPUT_CAP;
	cfg->row_cap = ACTION_ROW_CAP;
	cfg->notifiers = json_object();
	cfg->routes = json_object();
	cfg->components = json_object();
	cfg->serve = json_pack("{s:s, s:I, s:i}", "listen", "127.0.0.1:9464", "max_body", (json_int_t)(1 << 20),
			       "triage_threads", 4);
	cfg->secrets = json_array();
}

int config_parse(const char *file, const char *buf, size_t len, struct config *cfg, struct diag_list *diags)
{
	static const char *const top[] = {"store", "runbooks", "severity_map", "notifiers", "routes", "components",
		"serve", "limits", NULL};
	config_defaults(cfg);
	cfg->file = xstrdup(file);
	struct cl c = {file, diags, cfg, 0};
	struct ynode *root = yaml_tree_parse(file, buf, len, diags);
	if (!root)
		return -1;
	if (ynode_is_null(root)) { /* an empty file: every default */
		ynode_free(root);
		return 0;
	}
	if (root->type != YN_MAP) {
		cerr(&c, root, "a config must be a mapping of store, runbooks, notifiers, routes, ...");
		ynode_free(root);
		return -1;
	}
	keys(&c, root, top, "the config");
	const struct ynode *v;
	if ((v = ynode_get(root, "store")))
		cfg->store = expand(&c, v);
	if ((v = ynode_get(root, "runbooks"))) {
		if (v->type != YN_SEQ) {
			cerr(&c, v, "'runbooks' must be a list of directories");
		} else {
			struct sbuf sb;
			sbuf_init(&sb);
			for (size_t i = 0; i < v->n; i++) {
				char *d = expand(&c, v->kids[i]);
				if (d)
					sbuf_addf(&sb, "%s%s", sb.len ? ":" : "", d);
				free(d);
			}
			cfg->runbooks = sb.len ? sbuf_detach(&sb) : NULL;
			sbuf_release(&sb);
		}
	}
	if ((v = ynode_get(root, "severity_map"))) {
		if (v->type != YN_MAP) {
			cerr(&c, v, "'severity_map' must be a mapping like {critical: SEV1, warning: SEV3}");
		} else {
			cfg->severity_map = json_object();
			for (size_t i = 0; i < ynode_map_len(v); i++) {
				const struct ynode *sv = YMAP_VAL(v, i);
				if (sv->type != YN_SCALAR || strlen(sv->str) != 4 || strncmp(sv->str, "SEV", 3) ||
				    sv->str[3] < '1' || sv->str[3] > '4')
					cerr(&c, sv, "severity_map values are SEV1, SEV2, SEV3 or SEV4");
				else
					json_object_set_new(cfg->severity_map, YMAP_KEY(v, i)->str, json_string(sv->str));
			}
		}
	}
	if ((v = ynode_get(root, "notifiers")))
		load_notifiers(&c, v);
	if ((v = ynode_get(root, "routes")))
		load_routes(&c, v);
	if ((v = ynode_get(root, "components")))
		load_components(&c, v);
	if ((v = ynode_get(root, "serve")))
		load_serve(&c, v);
	if ((v = ynode_get(root, "limits")))
		load_limits(&c, v);
	ynode_free(root);
	return c.errors ? -1 : 0;
}

int config_load(const char *path, struct config *cfg, struct diag_list *diags)
{
	char *def = NULL;
	if (!path || !*path)
		path = getenv("RUNBOOK_CONFIG");
	if (!path || !*path) {
		const char *xdg = getenv("XDG_CONFIG_HOME"), *home = getenv("HOME");
		def = xdg && *xdg ? xasprintf("%s/runbook/config.yaml", xdg)
				  : xasprintf("%s/.config/runbook/config.yaml", home && *home ? home : ".");
		struct stat st;
		if (stat(def, &st)) { /* the default file is optional */
			free(def);
			config_defaults(cfg);
			return 0;
		}
		path = def;
	}
	char *buf, *e;
	size_t len;
	if (read_file(path, YAML_MAX_FILE, &buf, &len, &e)) {
		diag_add(diags, path, 0, 0, "cannot read the config: %s", e);
		free(e);
		free(def);
		config_defaults(cfg);
		return -1;
	}
	int rc = config_parse(path, buf, len, cfg, diags);
	free(buf);
	free(def);
	return rc;
}

void config_release(struct config *cfg)
{
	free(cfg->file);
	free(cfg->store);
	free(cfg->runbooks);
	json_decref(cfg->severity_map);
	json_decref(cfg->notifiers);
	json_decref(cfg->routes);
	json_decref(cfg->components);
	json_decref(cfg->serve);
	json_decref(cfg->secrets);
	memset(cfg, 0, sizeof *cfg);
}

const char *config_component(const struct config *cfg, const char *runbook, const char *own, json_t *alert)
{
	if (own)
		return own;
	const char *name;
	json_t *c;
	json_object_foreach(cfg->components, name, c) {
		size_t i;
		json_t *r;
		json_array_foreach(json_object_get(c, "runbooks"), i, r)
			if (runbook && json_is_string(r) && !strcmp(json_string_value(r), runbook))
				return name;
		json_t *labels = json_object_get(c, "labels");
		if (!json_object_size(labels) || !alert)
			continue;
		int all = 1;
		const char *k;
		json_t *v;
		json_object_foreach(labels, k, v) {
			const char *have = json_string_value(json_object_get(json_object_get(alert, "labels"), k));
			all &= have && json_is_string(v) && !strcmp(have, json_string_value(v));
		}
		if (all)
			return name;
	}
	return NULL;
}
