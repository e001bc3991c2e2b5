/* curl_api: libcurl, loaded on first use. See curl_api.h. */
#define _POSIX_C_SOURCE 200809L
#include "curl_api.h"
#include "util.h"

#include <dlfcn.h>
#include <pthread.h>
#include <string.h>

#define LIBCURL "libcurl.so.4"

static pthread_once_t once = PTHREAD_ONCE_INIT;
static struct curl_api api;
static int loaded;
static char why[256];

static void load(void)
{
	void *h = dlopen(LIBCURL, RTLD_NOW | RTLD_LOCAL);
	if (!h) {
		snprintf(why, sizeof why, "cannot load %s (the libcurl4 package): %s", LIBCURL, dlerror());
		return;
	}
	CURLcode (*global_init)(long) = NULL;
	/* POSIX: a function pointer goes through dlsym's void * */
	struct {
		const char *name;
		void *to;
	} sym[] = {
		{"curl_global_init", &global_init},
		{"curl_easy_init", &api.easy_init},
		{"curl_easy_setopt", &api.easy_setopt},
		{"curl_easy_perform", &api.easy_perform},
		{"curl_easy_getinfo", &api.easy_getinfo},
		{"curl_easy_cleanup", &api.easy_cleanup},
		{"curl_easy_strerror", &api.easy_strerror},
		{"curl_slist_append", &api.slist_append},
		{"curl_slist_free_all", &api.slist_free_all},
	};
	for (size_t i = 0; i < sizeof sym / sizeof sym[0]; i++) {
		void *f = dlsym(h, sym[i].name);
		if (!f) {
			snprintf(why, sizeof why, "%s has no %s", LIBCURL, sym[i].name);
			return;
		}
		memcpy(sym[i].to, &f, sizeof f);
	}
	if (global_init(CURL_GLOBAL_DEFAULT) != CURLE_OK) {
		snprintf(why, sizeof why, "libcurl could not be initialised");
		return;
	}
	loaded = 1; /* never unloaded: it lives as long as the process */
}

const struct curl_api *curl_api(char **err)
{
	pthread_once(&once, load);
	if (!loaded && err)
		*err = xstrdup(why);
	return loaded ? &api : NULL;
}
