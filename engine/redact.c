/* redact: replace secret values by "***". See redact.h. */
#include "redact.h"
#include "util.h"

#include <stdlib.h>
#include <string.h>

void redact_init(struct redactor *r)
{
	memset(r, 0, sizeof *r);
}

void redact_release(struct redactor *r)
{
	for (size_t i = 0; i < r->n; i++)
		free(r->secrets[i]);
	free(r->secrets);
	redact_init(r);
}

void redact_add(struct redactor *r, const char *value)
{
	if (!value || strlen(value) < 4)
		return;
	for (size_t i = 0; i < r->n; i++)
		if (!strcmp(r->secrets[i], value))
			return;
	if (r->n == r->cap) {
		r->cap = r->cap ? r->cap * 2 : 8;
		r->secrets = xrealloc(r->secrets, r->cap * sizeof *r->secrets);
	}
	r->secrets[r->n++] = xstrdup(value);
	/* longest first, so a secret containing another is replaced whole */
	for (size_t i = r->n - 1; i > 0 && strlen(r->secrets[i]) > strlen(r->secrets[i - 1]); i--) {
		char *t = r->secrets[i];
		r->secrets[i] = r->secrets[i - 1];
		r->secrets[i - 1] = t;
	}
}

char *redact_str(const struct redactor *r, const char *s)
{
	char *cur = xstrdup(s);
	for (size_t i = 0; r && i < r->n; i++) {
		const char *sec = r->secrets[i];
		size_t ls = strlen(sec);
		if (!strstr(cur, sec))
			continue;
		struct sbuf sb;
		sbuf_init(&sb);
		const char *p = cur, *q;
		while ((q = strstr(p, sec))) {
			sbuf_add(&sb, p, (size_t)(q - p));
			sbuf_adds(&sb, REDACTED);
			p = q + ls;
		}
		sbuf_adds(&sb, p);
		free(cur);
		cur = sbuf_detach(&sb);
	}
	return cur;
}

void redact_json(const struct redactor *r, json_t *v)
{
	if (!r || !r->n || !v)
		return;
	if (json_is_string(v)) {
		char *s = redact_str(r, json_string_value(v));
		if (strcmp(s, json_string_value(v)))
			json_string_set(v, s);
		free(s);
	} else if (json_is_array(v)) {
		size_t i;
		json_t *x;
		json_array_foreach(v, i, x)
			redact_json(r, x);
	} else if (json_is_object(v)) {
		const char *k;
		json_t *x;
		void *tmp;
		json_object_foreach_safe(v, tmp, k, x) {
			redact_json(r, x);
			char *rk = redact_str(r, k);
			if (strcmp(rk, k)) {
				json_object_set(v, rk, x);
				json_object_del(v, k);
			}
			free(rk);
		}
	}
}
