/*
 * http: an HTTP check over libcurl - {method, url, headers, body,
 * expect_status}. TLS certificates are verified, only http and https are
 * spoken, redirects are not followed (the status says where it points),
 * the whole exchange is bounded by the step's deadline and Ctrl-C, and the
 * body is capped like every other output (the cap is reported). The result
 * is status_code, headers (names in lower case) and body.
 */
#define _POSIX_C_SOURCE 200809L
#include "action.h"
#include "util.h"

#include "curl_api.h"

#include <ctype.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

static char *http_render(const struct action_call *call)
{
	const char *m = json_string_value(json_object_get(call->spec, "method"));
	const char *u = json_string_value(json_object_get(call->spec, "url"));
	struct sbuf sb;
	sbuf_init(&sb);
	sbuf_addf(&sb, "%s %s", m ? m : "GET", u ? u : "?");
	const char *k;
	json_t *v;
	json_object_foreach(json_object_get(call->spec, "headers"), k, v) {
		char *t = json_dumps(v, JSON_ENCODE_ANY);
		sbuf_addf(&sb, "\n%s: %s", k, json_is_string(v) ? json_string_value(v) : t);
		free(t);
	}
	json_t *body = json_object_get(call->spec, "body");
	if (body) {
		char *t = json_is_string(body) ? xstrdup(json_string_value(body)) : json_dumps(body, JSON_COMPACT);
		sbuf_addf(&sb, "\n\n%s", t);
		free(t);
	}
	json_t *ex = json_object_get(call->spec, "expect_status");
	if (ex) {
		char *t = json_dumps(ex, JSON_ENCODE_ANY | JSON_COMPACT);
		sbuf_addf(&sb, "\n(expect status %s)", t);
		free(t);
	}
	return sbuf_detach(&sb);
}

struct capture {
	struct sbuf body;
	size_t total, cap;
	json_t *headers;
	int64_t deadline;
	const struct action_env *env;
};

static size_t on_body(char *p, size_t size, size_t n, void *ud)
{
	struct capture *c = ud;
	size_t len = size * n;
	c->total += len;
	if (c->body.len < c->cap)
		sbuf_add(&c->body, p, len < c->cap - c->body.len ? len : c->cap - c->body.len);
	return len;
}

static size_t on_header(char *p, size_t size, size_t n, void *ud)
{
	struct capture *c = ud;
	size_t len = size * n;
	char *line = xstrndup(p, len);
	if (!strncmp(line, "HTTP/", 5)) { /* a new response: forget the headers of the one before */
		json_object_clear(c->headers);
	} else {
		char *colon = strchr(line, ':');
		if (colon) {
			*colon = '\0';
			for (char *q = line; *q; q++)
				*q = (char)tolower((unsigned char)*q);
			char *v = colon + 1;
			while (*v == ' ' || *v == '\t')
				v++;
			size_t vl = strlen(v);
			while (vl && (v[vl - 1] == '\r' || v[vl - 1] == '\n' || v[vl - 1] == ' '))
				v[--vl] = '\0';
			json_object_set_new(c->headers, line, action_text(v, vl));
		}
	}
	free(line);
	return len;
}

static int on_progress(void *ud, curl_off_t a, curl_off_t b, curl_off_t c2, curl_off_t d)
{
	(void)a, (void)b, (void)c2, (void)d;
	struct capture *c = ud;
	return action_cancelled(c->env) || now_ms() >= c->deadline; /* non-zero aborts */
}

/* True when status is what the step expects: expect_status (a number or
 * a list), else anything below 400. */
static int expected(json_t *ex, long status)
{
	if (json_is_integer(ex))
		return json_integer_value(ex) == status;
	if (json_is_array(ex)) {
		size_t i;
		json_t *v;
		json_array_foreach(ex, i, v)
			if (json_is_integer(v) && json_integer_value(v) == status)
				return 1;
		return 0;
	}
	return status > 0 && status < 400;
}

static enum step_status http_run(struct action_call *call, json_t *result, char **err)
{
	const char *url = json_string_value(json_object_get(call->spec, "url"));
	const char *method = json_string_value(json_object_get(call->spec, "method"));
	json_t *body = json_object_get(call->spec, "body");
	if (!url || (strncmp(url, "http://", 7) && strncmp(url, "https://", 8))) {
		*err = xasprintf("http: the url must start with http:// or https://, not '%s'", url ? url : "");
		return ST_FAILED;
	}
	char *why = NULL;
	const struct curl_api *cu = curl_api(&why);
	CURL *c = cu ? cu->easy_init() : NULL;
	if (!c) {
		*err = xasprintf("http: cannot start an HTTP client%s%s", why ? ": " : "", why ? why : "");
		free(why);
		return ST_FAILED;
	}
	struct capture cap = {{0}, 0, call->env->output_cap ? call->env->output_cap : ACTION_OUTPUT_CAP, json_object(),
			      call->deadline_ms, call->env};
	sbuf_init(&cap.body);
	char errbuf[CURL_ERROR_SIZE] = "";
	struct curl_slist *hl = NULL;
	int has_ct = 0;
	const char *k;
	json_t *v;
	json_object_foreach(json_object_get(call->spec, "headers"), k, v) {
		char *t = json_is_string(v) ? xstrdup(json_string_value(v)) : json_dumps(v, JSON_ENCODE_ANY);
		char *line = xasprintf("%s: %s", k, t ? t : "");
		hl = cu->slist_append(hl, line);
		has_ct |= !strcasecmp(k, "content-type");
		free(line);
		free(t);
	}
	char *payload = NULL;
	if (body) {
		payload = json_is_string(body) ? xstrdup(json_string_value(body)) : json_dumps(body, JSON_COMPACT);
		if (!json_is_string(body) && !has_ct)
			hl = cu->slist_append(hl, "Content-Type: application/json");
		cu->easy_setopt(c, CURLOPT_POSTFIELDS, payload);
	}
	if (method)
		cu->easy_setopt(c, CURLOPT_CUSTOMREQUEST, method);
	if (method && !strcmp(method, "HEAD"))
		cu->easy_setopt(c, CURLOPT_NOBODY, 1L);
	int64_t left = call->deadline_ms - now_ms();
	cu->easy_setopt(c, CURLOPT_URL, url);
	cu->easy_setopt(c, CURLOPT_HTTPHEADER, hl);
	cu->easy_setopt(c, CURLOPT_TIMEOUT_MS, (long)(left > 1 ? left : 1));
	cu->easy_setopt(c, CURLOPT_NOSIGNAL, 1L);
	cu->easy_setopt(c, CURLOPT_PROTOCOLS_STR, "http,https");
	cu->easy_setopt(c, CURLOPT_FOLLOWLOCATION, 0L);
	cu->easy_setopt(c, CURLOPT_ERRORBUFFER, errbuf);
	cu->easy_setopt(c, CURLOPT_WRITEFUNCTION, on_body);
	cu->easy_setopt(c, CURLOPT_WRITEDATA, &cap);
	cu->easy_setopt(c, CURLOPT_HEADERFUNCTION, on_header);
	cu->easy_setopt(c, CURLOPT_HEADERDATA, &cap);
	cu->easy_setopt(c, CURLOPT_NOPROGRESS, 0L);
	cu->easy_setopt(c, CURLOPT_XFERINFOFUNCTION, on_progress);
	cu->easy_setopt(c, CURLOPT_XFERINFODATA, &cap);
	cu->easy_setopt(c, CURLOPT_USERAGENT, "runbook");
	CURLcode rc = cu->easy_perform(c);
	long status = 0;
	cu->easy_getinfo(c, CURLINFO_RESPONSE_CODE, &status);
	enum step_status st = ST_OK;
	json_object_set_new(result, "status_code", status ? json_integer(status) : json_null());
	json_object_set_new(result, "headers", cap.headers);
	json_object_set_new(result, "body", action_text(cap.body.buf, cap.body.len));
	if (cap.total > cap.cap)
		json_object_set_new(result, "body_truncated", json_integer((json_int_t)cap.total));
	if (rc == CURLE_OPERATION_TIMEDOUT || (rc == CURLE_ABORTED_BY_CALLBACK && !action_cancelled(call->env))) {
		*err = xasprintf("http: no complete answer within %lld ms", (long long)call->timeout_ms);
		st = ST_TIMEOUT;
	} else if (rc == CURLE_ABORTED_BY_CALLBACK) {
		*err = xstrdup("http: interrupted");
		st = ST_FAILED;
	} else if (rc != CURLE_OK) {
		*err = xasprintf("http: %s", errbuf[0] ? errbuf : cu->easy_strerror(rc));
		st = ST_FAILED;
	} else if (!expected(json_object_get(call->spec, "expect_status"), status)) {
		json_t *ex = json_object_get(call->spec, "expect_status");
		char *t = ex ? json_dumps(ex, JSON_ENCODE_ANY | JSON_COMPACT) : xstrdup("below 400");
		*err = xasprintf("http: status %ld, expected %s", status, t);
		free(t);
		st = ST_FAILED;
	}
	sbuf_release(&cap.body);
	cu->slist_free_all(hl);
	cu->easy_cleanup(c);
	free(payload);
	return st;
}

static void http_empty(json_t *res)
{
	json_object_set_new(res, "status_code", json_null());
	json_object_set_new(res, "headers", json_object());
	json_object_set_new(res, "body", json_string(""));
}

/* Judged as a real answer is: by expect_status (else any status below 400). */
static void http_fixture_judge(const json_t *spec, json_t *res)
{
	json_t *code = json_object_get(res, "status_code"), *ex = json_object_get(spec, "expect_status");
	json_int_t c = json_integer_value(code);
	int ok = json_is_integer(ex) ? c == json_integer_value(ex) : 0;
	size_t i;
	json_t *e;
	json_array_foreach(ex, i, e)
		ok |= json_is_integer(e) && json_integer_value(e) == c;
	if (!ex)
		ok = json_is_integer(code) && c > 0 && c < 400;
	json_object_set_new(res, "status", json_string(ok ? "ok" : "failed"));
	if (!ok)
		json_object_set_new(res, "error", json_sprintf("http: status %lld, not the expected one", (long long)c));
}

static const char *const http_keys[] = {"method", "url", "headers", "body", "expect_status", NULL};
static const char *const http_needs[] = {"url", NULL};

const struct action action_http = {
	.name = "http",
	.spec = SPEC_MAPPING,
	.slot = 3,
	.render = http_render,
	.run = http_run,
	.empty_result = http_empty,
	.spec_keys = http_keys,
	.spec_needs = http_needs,
	.spec_what = "an http action",
	.fixture_judge = http_fixture_judge,
};
