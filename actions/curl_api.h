/*
 * curl_api: libcurl, loaded the first time something speaks HTTP (the
 * http action, the notifiers). Most commands never do, and libcurl with
 * the libraries it pulls in (HTTP/2, brotli, zstd, PSL, RTMP, ...) cost
 * every process about a millisecond to load and link; git keeps libcurl
 * out of its main binary for the same reason. The functions are libcurl's
 * own, reached through this table.
 */
#ifndef RUNBOOK_CURL_API_H
#define RUNBOOK_CURL_API_H

#include <curl/curl.h>

struct curl_api {
	CURL *(*easy_init)(void);
	CURLcode (*easy_setopt)(CURL *c, CURLoption opt, ...);
	CURLcode (*easy_perform)(CURL *c);
	CURLcode (*easy_getinfo)(CURL *c, CURLINFO info, ...);
	void (*easy_cleanup)(CURL *c);
	const char *(*easy_strerror)(CURLcode rc);
	struct curl_slist *(*slist_append)(struct curl_slist *l, const char *s);
	void (*slist_free_all)(struct curl_slist *l);
};

/* libcurl, loaded and initialised once (thread-safe). Returns NULL when
 * it cannot be loaded, with *err (caller frees) saying why. */
const struct curl_api *curl_api(char **err);

#endif
