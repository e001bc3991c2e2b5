/* ssh_config: the basic ~/.ssh/config keys. See ssh_config.h. */
#define _GNU_SOURCE
#include "ssh_config.h"
#include "util.h"

#include <ctype.h>
#include <fnmatch.h>
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

/* True when alias matches the pattern list of a Host line. */
static int host_matches(char *patterns, const char *alias)
{
	int matched = 0;
	char *save = NULL;
	for (char *p = strtok_r(patterns, " \t", &save); p; p = strtok_r(NULL, " \t", &save)) {
		int neg = p[0] == '!';
		if (fnmatch(neg ? p + 1 : p, alias, FNM_CASEFOLD) == 0) {
			if (neg)
				return 0;
			matched = 1;
		}
	}
	return matched;
}

void ssh_config_lookup(const char *path, const char *alias, struct ssh_host_config *cfg)
{
	FILE *f = path ? fopen(path, "r") : NULL;
	char line[1024];
	int active = 1; /* lines before any Host apply to every host */
	while (f && fgets(line, sizeof line, f)) {
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
		if (!strcasecmp(key, "Host")) {
			active = host_matches(val, alias);
			continue;
		}
		if (!strcasecmp(key, "Match")) {
			active = 0; /* not supported: its lines are ignored */
			continue;
		}
		if (!active)
			continue;
		if (!strcasecmp(key, "HostName") && !cfg->hostname)
			cfg->hostname = xstrdup(val);
		else if (!strcasecmp(key, "User") && !cfg->user)
			cfg->user = xstrdup(val);
		else if (!strcasecmp(key, "Port") && !cfg->port)
			cfg->port = atoi(val);
		else if (!strcasecmp(key, "IdentityFile") && !cfg->identity)
			cfg->identity = ssh_expand_home(val);
	}
	if (f)
		fclose(f);
	if (cfg->hostname && strstr(cfg->hostname, "%h")) { /* HostName %h.example.com */
		struct sbuf sb;
		sbuf_init(&sb);
		for (const char *q = cfg->hostname; *q; q++) {
			if (q[0] == '%' && q[1] == 'h') {
				sbuf_adds(&sb, alias);
				q++;
			} else {
				sbuf_addc(&sb, *q);
			}
		}
		free(cfg->hostname);
		cfg->hostname = sbuf_detach(&sb);
	}
	if (!cfg->hostname)
		cfg->hostname = xstrdup(alias);
	if (!cfg->port)
		cfg->port = 22;
	if (!cfg->user) {
		struct passwd *pw = getpwuid(getuid());
		cfg->user = xstrdup(pw ? pw->pw_name : "root");
	}
}

void ssh_host_config_release(struct ssh_host_config *cfg)
{
	free(cfg->hostname);
	free(cfg->user);
	free(cfg->identity);
	cfg->hostname = cfg->user = cfg->identity = NULL;
}
