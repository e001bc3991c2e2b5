/* ssh_config: ~/.ssh/config as OpenSSH reads it. See ssh_config.h. */
#define _GNU_SOURCE
#include "ssh_config.h"
#include "util.h"

#include <ctype.h>
#include <glob.h>
#include <pwd.h>
#include <unistd.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

char *ssh_expand_home(const char *path)
{
	const char *home = getenv("HOME");
	if (path[0] == '~' && path[1] == '/' && home)
		return xasprintf("%s/%s", home, path + 2);
	return xstrdup(path);
}

/* Does s match the glob pattern p (`*`, `?`), case-insensitively, as
 * OpenSSH's match_pattern? Backtracks to the last `*` only, so a pattern
 * of many stars stays linear in practice. */
static int glob_match(const char *s, const char *p)
{
	const char *star = NULL, *resume = NULL;
	while (*s) {
		if (*p == '*') {
			star = ++p;
			resume = s;
		} else if (*p && (*p == '?' || tolower((unsigned char)*p) == tolower((unsigned char)*s))) {
			p++;
			s++;
		} else if (star) {
			p = star;
			s = ++resume;
		} else {
			return 0;
		}
	}
	while (*p == '*')
		p++;
	return !*p;
}

int ssh_pattern_list_match(const char *patterns, const char *sep, const char *s)
{
	char *copy = xstrdup(patterns), *save = NULL;
	int matched = 0;
	for (char *p = strtok_r(copy, sep, &save); p; p = strtok_r(NULL, sep, &save)) {
		int neg = p[0] == '!';
		if (glob_match(s, neg ? p + 1 : p)) {
			if (neg) {
				matched = 0;
				break;
			}
			matched = 1;
		}
	}
	free(copy);
	return matched;
}

static char *local_user(void)
{
	struct passwd *pw = getpwuid(getuid());
	return xstrdup(pw ? pw->pw_name : "root");
}

/* Keywords that change where or how to connect which the ssh action does
 * not do: refused for the hosts they apply to ("none" turns most off). */
static const char *const refused[] = {
	"CertificateFile", "PKCS11Provider", "SecurityKeyProvider",
	"LocalCommand", "CanonicalizeHostname",
};

struct lookup {
	const char *alias;
	struct ssh_host_config *cfg;
	int depth;
	int identities_only_set; /* first value wins, "no" included */
	int proxy_set;           /* the same for ProxyCommand and ProxyJump: whichever comes first wins */
	int connect_timeout_set, alive_interval_set;
};

static void set_error(struct lookup *l, const char *path, int lineno, char *msg)
{
	if (!l->cfg->error)
		l->cfg->error = xasprintf("%s:%d: %s", path, lineno, msg);
	free(msg);
}

/* Does a Match line's criteria hold? 1 yes, 0 no, -1 when the supported
 * criteria hold and an unsupported one (exec, canonical, ...) decides:
 * then *why says which, and the block's settings are an error. */
static int match_holds(struct lookup *l, char *val, char **why)
{
	char *save = NULL;
	int holds = 1;
	*why = NULL;
	for (char *c = strtok_r(val, " \t", &save); c; c = strtok_r(NULL, " \t", &save)) {
		int neg = c[0] == '!';
		const char *crit = neg ? c + 1 : c;
		if (!strcasecmp(crit, "all")) {
			holds &= !neg;
			continue;
		}
		char *arg = strtok_r(NULL, " \t", &save);
		int ok;
		if (!strcasecmp(crit, "host") && arg)
			ok = ssh_pattern_list_match(arg, ",", l->cfg->hostname ? l->cfg->hostname : l->alias);
		else if (!strcasecmp(crit, "originalhost") && arg)
			ok = ssh_pattern_list_match(arg, ",", l->alias);
		else if ((!strcasecmp(crit, "user") || !strcasecmp(crit, "localuser")) && arg) {
			char *me = local_user();
			ok = ssh_pattern_list_match(arg, ",", !strcasecmp(crit, "user") && l->cfg->user ? l->cfg->user : me);
			free(me);
		} else {
			if (!*why)
				*why = xasprintf("Match %s is not supported by runbook's SSH", crit);
			continue;
		}
		holds &= neg ? !ok : ok;
	}
	if (!holds || !*why) {
		free(*why);
		*why = NULL;
		return holds;
	}
	return -1;
}

static void read_config(struct lookup *l, const char *path);

/* Include: each argument a glob, relative to ~/.ssh unless absolute. */
static void include(struct lookup *l, char *val)
{
	char *save = NULL;
	for (char *a = strtok_r(val, " \t", &save); a; a = strtok_r(NULL, " \t", &save)) {
		char *pat = a[0] == '~' ? ssh_expand_home(a) : a[0] == '/' ? xstrdup(a) : NULL;
		if (!pat) {
			char *dir = ssh_expand_home("~/.ssh");
			pat = xasprintf("%s/%s", dir, a);
			free(dir);
		}
		glob_t g;
		if (glob(pat, 0, NULL, &g) == 0) {
			for (size_t i = 0; i < g.gl_pathc; i++)
				read_config(l, g.gl_pathv[i]);
			globfree(&g);
		}
		free(pat);
	}
}

static void read_config(struct lookup *l, const char *path)
{
	FILE *f = path ? fopen(path, "r") : NULL;
	if (!f)
		return;
	if (++l->depth > 16) { /* as OpenSSH: includes do not loop */
		set_error(l, path, 0, xstrdup("Include nested too deeply"));
		fclose(f);
		l->depth--;
		return;
	}
	char line[4096], *undecided = NULL; /* why a Match block may or may not apply */
	int active = 1, lineno = 0, match_line = 0; /* lines before any Host apply to every host */
	struct ssh_host_config *cfg = l->cfg;
	while (fgets(line, sizeof line, f)) {
		lineno++;
		char *p = line;
		while (isspace((unsigned char)*p))
			p++;
		if (!*p || *p == '#')
			continue;
		char *key = p;
		while (*p && !isspace((unsigned char)*p) && *p != '=')
			p++;
		if (*p)
			*p++ = '\0';
		while (isspace((unsigned char)*p) || *p == '=')
			p++;
		char *val = p;
		size_t n = strlen(val);
		while (n && isspace((unsigned char)val[n - 1]))
			val[--n] = '\0';
		if (n >= 2 && val[0] == '"' && val[n - 1] == '"') {
			val[n - 1] = '\0';
			val++;
		}
		if (!strcasecmp(key, "Host") || !strcasecmp(key, "Match")) {
			free(undecided);
			undecided = NULL;
			match_line = lineno;
			active = !strcasecmp(key, "Host") ? ssh_pattern_list_match(val, " \t", l->alias) : match_holds(l, val, &undecided);
			continue;
		}
		if (!active)
			continue;
		if (active < 0) { /* a setting in a block we cannot decide on */
			set_error(l, path, match_line, undecided);
			undecided = NULL;
			active = 0;
			continue;
		}
		if (!strcasecmp(key, "Include")) {
			include(l, val);
			continue;
		}
		if (!strcasecmp(key, "HostName") && !cfg->hostname)
			cfg->hostname = xstrdup(val);
		else if (!strcasecmp(key, "User") && !cfg->user)
			cfg->user = xstrdup(val);
		else if (!strcasecmp(key, "Port") && !cfg->port)
			cfg->port = atoi(val);
		else if (!strcasecmp(key, "IdentityFile") && !cfg->identity)
			cfg->identity = xstrdup(val);
		else if (!strcasecmp(key, "IdentityFile") && cfg->n_more_identities < SSH_MAX_IDENTITIES)
			cfg->more_identities[cfg->n_more_identities++] = xstrdup(val); /* every line counts, in order */
		else if (!strcasecmp(key, "HostKeyAlias") && !cfg->host_key_alias)
			cfg->host_key_alias = xstrdup(val);
		else if (!strcasecmp(key, "ConnectTimeout") && !l->connect_timeout_set) {
			l->connect_timeout_set = 1;
			cfg->connect_timeout = atoi(val) > 0 ? atoi(val) : 0;
		} else if (!strcasecmp(key, "ServerAliveInterval") && !l->alive_interval_set) {
			l->alive_interval_set = 1;
			cfg->alive_interval = atoi(val) > 0 ? atoi(val) : 0;
		} else if (!strcasecmp(key, "ServerAliveCountMax") && !cfg->alive_count_max && atoi(val) > 0)
			cfg->alive_count_max = atoi(val);
		else if (!strcasecmp(key, "IdentitiesOnly") && !l->identities_only_set) {
			l->identities_only_set = 1;
			cfg->identities_only = !strcasecmp(val, "yes") || !strcasecmp(val, "true");
		} else if (!strcasecmp(key, "ProxyCommand") && !l->proxy_set) {
			l->proxy_set = 1;
			if (strcasecmp(val, "none"))
				cfg->proxy_command = xstrdup(val);
		} else if (!strcasecmp(key, "ProxyJump") && !l->proxy_set) {
			l->proxy_set = 1;
			if (strcasecmp(val, "none"))
				cfg->proxy_jump = xstrndup(val, strcspn(val, " \t"));
		} else if (!strcasecmp(key, "UserKnownHostsFile") && !cfg->known_hosts)
			cfg->known_hosts = xstrndup(val, strcspn(val, " \t")); /* the first file of the list */
		for (size_t i = 0; i < sizeof refused / sizeof refused[0]; i++)
			if (!strcasecmp(key, refused[i]) && strcasecmp(val, "none") && strcasecmp(val, "no"))
				set_error(l, path, lineno,
					  xasprintf("%s is not supported by runbook's SSH (it would change where or how to "
						    "connect to %s); reach the host directly, or leave it out for this host",
						    refused[i], l->alias));
	}
	free(undecided);
	fclose(f);
	l->depth--;
}

/* Expands ssh_config tokens in s: %h (hostname, or the alias for
 * HostName itself), %p, %r, %u, %d and %%. */
static char *tokens(const char *s, const char *h, const struct ssh_host_config *cfg)
{
	struct sbuf sb;
	sbuf_init(&sb);
	for (const char *q = s; *q; q++) {
		if (q[0] != '%' || !q[1]) {
			sbuf_addc(&sb, *q);
			continue;
		}
		char *me;
		switch (*++q) {
		case 'h': sbuf_adds(&sb, h); break;
		case 'p': sbuf_addf(&sb, "%d", cfg->port); break;
		case 'r': sbuf_adds(&sb, cfg->user ? cfg->user : ""); break;
		case 'u': me = local_user(); sbuf_adds(&sb, me); free(me); break;
		case 'd': sbuf_adds(&sb, getenv("HOME") ? getenv("HOME") : ""); break;
		case '%': sbuf_addc(&sb, '%'); break;
		default: sbuf_addc(&sb, '%'); sbuf_addc(&sb, *q);
		}
	}
	return sbuf_detach(&sb);
}

static void expand_path(char **field, const struct ssh_host_config *cfg)
{
	if (!*field)
		return;
	char *t = tokens(*field, cfg->hostname, cfg), *e = ssh_expand_home(t);
	free(t);
	free(*field);
	*field = e;
}

void ssh_config_lookup(const char *path, const char *alias, struct ssh_host_config *cfg)
{
	struct lookup l = {alias, cfg, 0, 0, 0};
	read_config(&l, path);
	if (cfg->hostname) { /* HostName %h.example.com */
		char *h = tokens(cfg->hostname, alias, cfg);
		free(cfg->hostname);
		cfg->hostname = h;
	} else {
		cfg->hostname = xstrdup(alias);
	}
	if (!cfg->port)
		cfg->port = 22;
	if (!cfg->alive_count_max)
		cfg->alive_count_max = 3;
	if (!cfg->user)
		cfg->user = local_user();
	expand_path(&cfg->identity, cfg);
	for (int i = 0; i < cfg->n_more_identities; i++)
		expand_path(&cfg->more_identities[i], cfg);
	expand_path(&cfg->known_hosts, cfg);
	if (cfg->host_key_alias) { /* HostKeyAlias %h.old */
		char *a = tokens(cfg->host_key_alias, cfg->hostname, cfg);
		free(cfg->host_key_alias);
		cfg->host_key_alias = a;
	}
	if (cfg->proxy_command) {
		/* %h and %r reach a shell: a name from a runbook must not smuggle
		 * shell syntax into it (as OpenSSH 9.6 refuses them too) */
		const char *safe = "abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789.-_:[]";
		if (cfg->hostname[strspn(cfg->hostname, safe)] || cfg->user[strspn(cfg->user, safe)] ||
		    cfg->hostname[0] == '-' || cfg->user[0] == '-') {
			if (!cfg->error)
				cfg->error = xasprintf("ProxyCommand for %s: the host name or user has characters unsafe "
						       "in a shell command; refusing to run it",
						       alias);
			free(cfg->proxy_command);
			cfg->proxy_command = NULL;
		} else {
			char *c = tokens(cfg->proxy_command, cfg->hostname, cfg);
			free(cfg->proxy_command);
			cfg->proxy_command = c;
		}
	}
}

void ssh_host_config_release(struct ssh_host_config *cfg)
{
	free(cfg->hostname);
	free(cfg->user);
	free(cfg->identity);
	free(cfg->known_hosts);
	free(cfg->error);
	free(cfg->proxy_command);
	free(cfg->proxy_jump);
	free(cfg->host_key_alias);
	for (int i = 0; i < cfg->n_more_identities; i++)
		free(cfg->more_identities[i]);
	cfg->n_more_identities = 0;
	cfg->hostname = cfg->user = cfg->identity = cfg->known_hosts = cfg->error = cfg->proxy_command = NULL;
	cfg->proxy_jump = cfg->host_key_alias = NULL;
}
