/* path: the runbook search path. See path.h. */
#define _POSIX_C_SOURCE 200809L
#include "path.h"
#include "util.h"

#include <dirent.h>
#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#ifndef RUNBOOK_DATADIR
#define RUNBOOK_DATADIR "/usr/local/share/runbook"
#endif

void strlist_push(struct strlist *l, const char *s)
{
	if (l->n == l->cap) {
		l->cap = l->cap ? l->cap * 2 : 8;
		l->v = xrealloc(l->v, l->cap * sizeof *l->v);
	}
	l->v[l->n++] = xstrdup(s);
}

void strlist_free(struct strlist *l)
{
	for (size_t i = 0; i < l->n; i++)
		free(l->v[i]);
	free(l->v);
	memset(l, 0, sizeof *l);
}

static void split_into(const char *s, struct strlist *dirs)
{
	char *copy = xstrdup(s), *save = NULL;
	for (char *t = strtok_r(copy, ":", &save); t; t = strtok_r(NULL, ":", &save))
		strlist_push(dirs, t);
	free(copy);
}

void runbook_path(const char *opt, struct strlist *dirs)
{
	const char *env = getenv("RUNBOOK_PATH");
	if (opt && *opt) {
		split_into(opt, dirs);
		return;
	}
	if (env && *env) {
		split_into(env, dirs);
		return;
	}
	strlist_push(dirs, "./runbooks");
	const char *xdg = getenv("XDG_CONFIG_HOME"), *home = getenv("HOME");
	char *p = NULL;
	if (xdg && *xdg)
		p = xasprintf("%s/runbook/runbooks", xdg);
	else if (home && *home)
		p = xasprintf("%s/.config/runbook/runbooks", home);
	if (p) {
		strlist_push(dirs, p);
		free(p);
	}
	/* the library installed beside this binary (PREFIX/bin/runbook ->
	 * PREFIX/share/runbook/runbooks), then the configured one */
	char exe[4096];
	ssize_t n = readlink("/proc/self/exe", exe, sizeof exe - 1);
	if (n > 0) {
		exe[n] = '\0';
		char *slash = strrchr(exe, '/');
		if (slash) {
			*slash = '\0';
			char *lib = xasprintf("%s/../share/runbook/runbooks", exe);
			if (strcmp(lib, RUNBOOK_DATADIR "/runbooks"))
				strlist_push(dirs, lib);
			free(lib);
		}
	}
	strlist_push(dirs, RUNBOOK_DATADIR "/runbooks");
}

static int cmpstr(const void *a, const void *b)
{
	return strcmp(*(char *const *)a, *(char *const *)b);
}

int runbook_files(const char *path, struct strlist *files, char **err)
{
	struct stat st;
	if (stat(path, &st)) {
		*err = xasprintf("%s: %s", path, strerror(errno));
		return -1;
	}
	if (!S_ISDIR(st.st_mode)) {
		strlist_push(files, path);
		return 0;
	}
	DIR *d = opendir(path);
	if (!d) {
		*err = xasprintf("%s: %s", path, strerror(errno));
		return -1;
	}
	struct strlist found = {0};
	struct dirent *e;
	while ((e = readdir(d))) {
		if (e->d_name[0] == '.' || !(str_endswith(e->d_name, ".yaml") || str_endswith(e->d_name, ".yml")))
			continue;
		char *full = xasprintf("%s%s%s", path, str_endswith(path, "/") ? "" : "/", e->d_name);
		strlist_push(&found, full);
		free(full);
	}
	closedir(d);
	if (found.n)
		qsort(found.v, found.n, sizeof *found.v, cmpstr);
	for (size_t i = 0; i < found.n; i++)
		strlist_push(files, found.v[i]);
	strlist_free(&found);
	return 0;
}

/* True when the text of a file declares `runbook: NAME` at its top level,
 * even if the rest of it does not load. */
static int declares(const char *path, const char *name)
{
	char *buf, *e;
	size_t len;
	if (read_file(path, YAML_MAX_FILE, &buf, &len, &e)) {
		free(e);
		return 0;
	}
	int yes = 0;
	size_t ln = strlen(name);
	for (char *line = buf; line && !yes; line = strchr(line, '\n') ? strchr(line, '\n') + 1 : NULL) {
		if (strncmp(line, "runbook:", 8))
			continue;
		char *v = line + 8;
		while (*v == ' ' || *v == '\t')
			v++;
		char q = *v == '"' || *v == '\'' ? *v++ : 0;
		if (strncmp(v, name, ln))
			continue;
		v += ln;
		if (q && *v == q)
			v++;
		while (*v == ' ' || *v == '\t' || *v == '\r')
			v++;
		yes = *v == '\n' || *v == '\0' || *v == '#';
	}
	free(buf);
	return yes;
}

struct runbook *runbook_find(const char *name, const char *opt, struct diag_list *diags, char **err)
{
	if (strchr(name, '/') || str_endswith(name, ".yaml") || str_endswith(name, ".yml"))
		return runbook_load(name, diags);
	struct strlist dirs = {0};
	runbook_path(opt, &dirs);
	struct runbook *found = NULL;
	struct strlist ids = {0}; /* for "did you mean" */
	struct sbuf broken; /* first errors of files that do not load */
	sbuf_init(&broken);
	size_t nbroken = 0;
	for (size_t i = 0; i < dirs.n && !found; i++) {
		struct strlist files = {0};
		char *e = NULL;
		if (runbook_files(dirs.v[i], &files, &e)) {
			free(e); /* a missing directory on the path is normal */
			continue;
		}
		/* the file named after the id first: the usual layout, and cheap */
		for (int pass = 0; pass < 2 && !found; pass++) {
			for (size_t j = 0; j < files.n && !found; j++) {
				const char *base = strrchr(files.v[j], '/');
				base = base ? base + 1 : files.v[j];
				size_t ln = strlen(name);
				int named = !strncmp(base, name, ln) && (!strcmp(base + ln, ".yaml") || !strcmp(base + ln, ".yml"));
				if (named != (pass == 0))
					continue;
				struct diag_list local;
				diag_init(&local);
				struct runbook *rb = runbook_load(files.v[j], &local);
				if (rb && !strcmp(rb->id, name)) {
					found = rb;
				} else if (!rb && (named || declares(files.v[j], name))) {
					/* the file that defines it is broken: say so */
					for (size_t k = 0; k < local.n; k++)
						diag_add(diags, local.items[k].file, local.items[k].line, local.items[k].col, "%s",
							 local.items[k].msg);
					*err = xasprintf("runbook '%s' is defined in %s, which does not load (%zu error%s above)",
							 name, files.v[j], local.n, local.n == 1 ? "" : "s");
					diag_release(&local);
					strlist_free(&files);
					strlist_free(&dirs);
					strlist_free(&ids);
					sbuf_release(&broken);
					return NULL;
				} else if (!rb) {
					if (pass == 1 && local.n) {
						char *first = diag_format(&local.items[0]);
						sbuf_addf(&broken, "\n  %s", first);
						free(first);
						nbroken++;
					}
				} else {
					if (pass == 1)
						strlist_push(&ids, rb->id);
					runbook_free(rb);
				}
				diag_release(&local);
			}
		}
		strlist_free(&files);
	}
	if (!found) {
		struct sbuf sb;
		sbuf_init(&sb);
		for (size_t i = 0; i < dirs.n; i++)
			sbuf_addf(&sb, "%s%s", i ? ":" : "", dirs.v[i]);
		char *cands = NULL;
		strlist_push(&ids, NULL);
		const char *dym = did_you_mean(name, (const char *const *)ids.v);
		char *hint = dym ? xasprintf(" (did you mean '%s'?)", dym) : xstrdup("");
		*err = xasprintf("no runbook named '%s'%s on the runbook path (%s); `runbook list` shows them%s%s%s", name,
				 hint, sb.buf ? sb.buf : "", nbroken ? "\n" : "",
				 nbroken ? (cands = xasprintf("%zu file%s on the path do%s not load, and may define it:", nbroken,
							      nbroken == 1 ? "" : "s", nbroken == 1 ? "es" : "")) : "",
				 nbroken ? broken.buf : "");
		free(cands);
		free(hint);
		sbuf_release(&sb);
	}
	strlist_free(&ids);
	sbuf_release(&broken);
	strlist_free(&dirs);
	return found;
}

int runbook_collect(int argc, char **argv, const char *opt, struct strlist *files, char **err)
{
	if (argc > 0) {
		for (int i = 0; i < argc; i++)
			if (runbook_files(argv[i], files, err))
				return -1;
		return 0;
	}
	struct strlist dirs = {0};
	runbook_path(opt, &dirs);
	for (size_t i = 0; i < dirs.n; i++) {
		char *e = NULL;
		if (runbook_files(dirs.v[i], files, &e))
			free(e);
	}
	strlist_free(&dirs);
	return 0;
}

int runbook_catalog(const char *opt, struct runbook ***out, size_t *n, struct diag_list *broken)
{
	struct strlist files = {0};
	char *err = NULL;
	*out = NULL;
	*n = 0;
	if (runbook_collect(0, NULL, opt, &files, &err)) {
		diag_add(broken, "runbook path", 0, 0, "%s", err);
		free(err);
		return -1;
	}
	struct runbook **rbs = xcalloc(files.n ? files.n : 1, sizeof *rbs);
	size_t count = 0;
	for (size_t i = 0; i < files.n; i++) {
		struct diag_list d;
		diag_init(&d);
		struct runbook *rb = runbook_load(files.v[i], &d);
		if (!rb) {
			if (d.n)
				diag_add(broken, d.items[0].file, d.items[0].line, d.items[0].col, "%s (the runbook does not load)",
					 d.items[0].msg);
			diag_release(&d);
			continue;
		}
		diag_release(&d);
		int dup = 0;
		for (size_t k = 0; k < count && !dup; k++)
			dup = !strcmp(rbs[k]->id, rb->id);
		if (dup) /* the first file that defines an id wins */
			runbook_free(rb);
		else
			rbs[count++] = rb;
	}
	strlist_free(&files);
	*out = rbs;
	*n = count;
	return 0;
}

void runbook_catalog_free(struct runbook **rbs, size_t n)
{
	for (size_t i = 0; i < n; i++)
		runbook_free(rbs[i]);
	free(rbs);
}
