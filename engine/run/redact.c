/* redact: replace secret values by "***". See redact.h. */
#define _GNU_SOURCE
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

void redact_add_all(struct redactor *r, json_t *values)
{
	size_t i;
	json_t *v;
	json_array_foreach(values, i, v)
		redact_add(r, json_string_value(v));
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

char *redact_mem(const struct redactor *r, const char *s, size_t n, size_t *outn)
{
	char *cur = xstrndup(s, n);
	size_t len = n;
	for (size_t i = 0; r && i < r->n; i++) {
		const char *sec = r->secrets[i];
		size_t ls = strlen(sec);
		if (!memmem(cur, len, sec, ls))
			continue;
		struct sbuf sb;
		sbuf_init(&sb);
		sbuf_add(&sb, "", 0);
		const char *p = cur, *end = cur + len, *q;
		while ((q = memmem(p, (size_t)(end - p), sec, ls))) {
			sbuf_add(&sb, p, (size_t)(q - p));
			sbuf_adds(&sb, REDACTED);
			p = q + ls;
		}
		sbuf_add(&sb, p, (size_t)(end - p));
		len = sb.len;
		free(cur);
		cur = sbuf_detach(&sb);
	}
	if (outn)
		*outn = len;
	return cur;
}

char *redact_str(const struct redactor *r, const char *s)
{
	return redact_mem(r, s, strlen(s), NULL);
}

void redact_json(const struct redactor *r, json_t *v)
{
	if (!r || !r->n || !v)
		return;
	if (json_is_string(v)) {
		size_t n;
		char *s = redact_mem(r, json_string_value(v), json_string_length(v), &n);
		if (n != json_string_length(v) || memcmp(s, json_string_value(v), n))
			json_string_setn(v, s, n);
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

/* ---- DSN passwords, found without libpq (which refuses what it cannot
 * parse, and then quotes it in its error) ---- */

struct span {
	size_t off, len;
};

/* Finds up to 4 password values in dsn. Returns how many. */
static size_t dsn_passwords(const char *dsn, struct span *out)
{
	size_t n = 0, len = strlen(dsn);
	int uri = !strncmp(dsn, "postgresql://", 13) || !strncmp(dsn, "postgres://", 11);
	if (uri) {
		const char *auth = strstr(dsn, "//") + 2;
		const char *q = strchr(auth, '?');
		const char *at = NULL;
		for (const char *p = auth; *p && (!q || p < q); p++)
			if (*p == '@')
				at = p; /* the last '@': a raw '@' in a password comes before it */
		if (at) {
			const char *colon = memchr(auth, ':', (size_t)(at - auth));
			if (colon && at > colon + 1)
				out[n++] = (struct span){(size_t)(colon + 1 - dsn), (size_t)(at - colon - 1)};
		}
		for (const char *p = q; p && *p && n < 4; p++) {
			if ((p[0] == '?' || p[0] == '&') && !strncmp(p + 1, "password=", 9)) {
				const char *v = p + 10, *e = v;
				while (*e && *e != '&')
					e++;
				if (e > v)
					out[n++] = (struct span){(size_t)(v - dsn), (size_t)(e - v)};
			}
		}
		return n;
	}
	for (size_t i = 0; i < len && n < 4;) {
		while (i < len && (dsn[i] == ' ' || dsn[i] == '\t' || dsn[i] == '\n'))
			i++;
		size_t ks = i;
		while (i < len && dsn[i] != '=' && dsn[i] != ' ' && dsn[i] != '\t')
			i++;
		size_t ke = i;
		while (i < len && (dsn[i] == ' ' || dsn[i] == '\t'))
			i++;
		if (i >= len || dsn[i] != '=') {
			i++;
			continue;
		}
		i++;
		while (i < len && (dsn[i] == ' ' || dsn[i] == '\t'))
			i++;
		size_t vs = i;
		if (i < len && dsn[i] == '\'') {
			vs = ++i;
			while (i < len && dsn[i] != '\'')
				i += dsn[i] == '\\' && i + 1 < len ? 2 : 1;
		} else {
			while (i < len && dsn[i] != ' ' && dsn[i] != '\t' && dsn[i] != '\n')
				i++;
		}
		if (ke - ks == 8 && !strncmp(dsn + ks, "password", 8) && i > vs)
			out[n++] = (struct span){vs, i - vs};
		if (i < len && dsn[i] == '\'')
			i++;
	}
	return n;
}

static int hexval(char c)
{
	return c >= '0' && c <= '9' ? c - '0' : c >= 'a' && c <= 'f' ? c - 'a' + 10 : c >= 'A' && c <= 'F' ? c - 'A' + 10 : -1;
}

void redact_add_dsn(struct redactor *r, const char *dsn)
{
	struct span sp[4];
	if (!dsn)
		return;
	size_t n = dsn_passwords(dsn, sp);
	for (size_t i = 0; i < n; i++) {
		char *raw = xstrndup(dsn + sp[i].off, sp[i].len);
		redact_add(r, raw);
		/* the decoded form is what the server and libpq's messages see */
		char *dec = xstrdup(raw), *o = dec;
		for (const char *p = raw; *p; p++) {
			if (*p == '%' && hexval(p[1]) >= 0 && hexval(p[2]) >= 0) {
				*o++ = (char)(hexval(p[1]) * 16 + hexval(p[2]));
				p += 2;
			} else if (*p == '\\' && p[1]) {
				*o++ = *++p;
			} else {
				*o++ = *p;
			}
		}
		*o = '\0';
		redact_add(r, dec);
		free(dec);
		free(raw);
	}
}

char *redact_dsn(const char *dsn)
{
	struct span sp[4];
	size_t n = dsn_passwords(dsn, sp);
	struct sbuf sb;
	sbuf_init(&sb);
	sbuf_add(&sb, "", 0);
	size_t at = 0;
	for (size_t i = 0; i < n; i++) {
		sbuf_add(&sb, dsn + at, sp[i].off - at);
		sbuf_adds(&sb, REDACTED);
		at = sp[i].off + sp[i].len;
	}
	sbuf_adds(&sb, dsn + at);
	return sbuf_detach(&sb);
}
