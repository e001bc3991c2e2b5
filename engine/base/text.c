/* text: UTF-8 repair, terminal escaping, JSON output. See text.h. */
#define _POSIX_C_SOURCE 200809L
#include "text.h"
#include "util.h"

#include <math.h>
#include <stdlib.h>
#include <string.h>

/* Length of the valid UTF-8 sequence at s (of at most n bytes), or 0. */
static size_t utf8_seq(const unsigned char *s, size_t n)
{
	unsigned char c = s[0];
	size_t len;
	unsigned min;
	unsigned cp;
	if (c < 0x80)
		return 1;
	if ((c & 0xE0) == 0xC0)
		len = 2, min = 0x80, cp = c & 0x1F;
	else if ((c & 0xF0) == 0xE0)
		len = 3, min = 0x800, cp = c & 0x0F;
	else if ((c & 0xF8) == 0xF0)
		len = 4, min = 0x10000, cp = c & 0x07;
	else
		return 0;
	if (len > n)
		return 0;
	for (size_t i = 1; i < len; i++) {
		if ((s[i] & 0xC0) != 0x80)
			return 0;
		cp = (cp << 6) | (s[i] & 0x3F);
	}
	if (cp < min || cp > 0x10FFFF || (cp >= 0xD800 && cp <= 0xDFFF))
		return 0;
	return len;
}

size_t text_utf8_cut(const char *s, size_t n)
{
	/* step back over at most 3 continuation bytes to a lead byte */
	size_t i = n;
	for (int k = 0; k < 4 && i > 0; k++) {
		unsigned char c = (unsigned char)s[i - 1];
		if (c < 0x80)
			return n;
		if ((c & 0xC0) == 0xC0) { /* a lead byte at i-1: complete? */
			size_t need = (c & 0xE0) == 0xC0 ? 2 : (c & 0xF0) == 0xE0 ? 3 : (c & 0xF8) == 0xF0 ? 4 : 1;
			return n - (i - 1) >= need ? n : i - 1;
		}
		i--;
	}
	return n;
}

json_t *text_json(const char *s, size_t n)
{
	if (!s)
		return json_string("");
	n = text_utf8_cut(s, n);
	json_t *j = json_stringn(s, n);
	if (j)
		return j;
	struct sbuf sb;
	sbuf_init(&sb);
	for (size_t i = 0; i < n;) {
		size_t len = utf8_seq((const unsigned char *)s + i, n - i);
		if (len) {
			sbuf_add(&sb, s + i, len);
			i += len;
		} else {
			sbuf_adds(&sb, "\xEF\xBF\xBD");
			i++;
		}
	}
	j = json_stringn(sb.buf ? sb.buf : "", sb.len);
	sbuf_release(&sb);
	return j ? j : json_string("");
}

char *text_escape(const char *s, size_t n, int keep_tab)
{
	struct sbuf sb;
	sbuf_init(&sb);
	sbuf_add(&sb, "", 0);
	for (size_t i = 0; s && i < n; i++) {
		unsigned char c = (unsigned char)s[i];
		if (c == '\n' || (c == '\t' && keep_tab)) {
			sbuf_addc(&sb, (char)c);
		} else if (c < 0x20 || c == 0x7f) {
			sbuf_addf(&sb, "\\x%02x", c);
		} else if (c == 0xC2 && i + 1 < n && (unsigned char)s[i + 1] >= 0x80 && (unsigned char)s[i + 1] <= 0x9F) {
			/* a C1 control (U+0080..U+009F): CSI is one of them */
			sbuf_addf(&sb, "\\u%04x", (unsigned char)s[i + 1]);
			i++;
		} else {
			sbuf_addc(&sb, (char)c);
		}
	}
	return sbuf_detach(&sb);
}

char *text_escape_json(json_t *v)
{
	if (!json_is_string(v))
		return xstrdup("");
	return text_escape(json_string_value(v), json_string_length(v), 0);
}

void text_double(double d, char *buf, size_t n)
{
	if (!isfinite(d)) {
		snprintf(buf, n, "null");
		return;
	}
	if (d == (double)(long long)d && d < 1e15 && d > -1e15) {
		snprintf(buf, n, "%.0f.0", d); /* 180.0, not 1.8e+02 */
		return;
	}
	for (int prec = 1; prec <= 17; prec++) {
		snprintf(buf, n, "%.*g", prec, d);
		if (strtod(buf, NULL) == d)
			break;
	}
	/* a real stays a real when read back: 1 -> 1.0 */
	if (!strpbrk(buf, ".eEn") && strlen(buf) + 3 < n)
		strcat(buf, ".0");
}

static void dump_string(struct sbuf *sb, const char *s, size_t n)
{
	sbuf_addc(sb, '"');
	for (size_t i = 0; i < n; i++) {
		unsigned char c = (unsigned char)s[i];
		switch (c) {
		case '"': sbuf_adds(sb, "\\\""); break;
		case '\\': sbuf_adds(sb, "\\\\"); break;
		case '\n': sbuf_adds(sb, "\\n"); break;
		case '\r': sbuf_adds(sb, "\\r"); break;
		case '\t': sbuf_adds(sb, "\\t"); break;
		case '\b': sbuf_adds(sb, "\\b"); break;
		case '\f': sbuf_adds(sb, "\\f"); break;
		default:
			if (c < 0x20 || c == 0x7f)
				sbuf_addf(sb, "\\u%04x", c);
			else
				sbuf_addc(sb, (char)c);
		}
	}
	sbuf_addc(sb, '"');
}

static void newline(struct sbuf *sb, int indent, int depth)
{
	if (indent <= 0)
		return;
	sbuf_addc(sb, '\n');
	for (int i = 0; i < indent * depth; i++)
		sbuf_addc(sb, ' ');
}

static void dump(struct sbuf *sb, json_t *v, int indent, int depth)
{
	char num[40];
	switch (json_typeof(v)) {
	case JSON_OBJECT: {
		if (!json_object_size(v)) {
			sbuf_adds(sb, "{}");
			break;
		}
		sbuf_addc(sb, '{');
		const char *k;
		json_t *x;
		int first = 1;
		json_object_foreach(v, k, x) {
			if (!first)
				sbuf_addc(sb, ',');
			first = 0;
			newline(sb, indent, depth + 1);
			dump_string(sb, k, strlen(k));
			sbuf_adds(sb, indent > 0 ? ": " : ":");
			dump(sb, x, indent, depth + 1);
		}
		newline(sb, indent, depth);
		sbuf_addc(sb, '}');
		break;
	}
	case JSON_ARRAY: {
		if (!json_array_size(v)) {
			sbuf_adds(sb, "[]");
			break;
		}
		sbuf_addc(sb, '[');
		size_t i;
		json_t *x;
		json_array_foreach(v, i, x) {
			if (i)
				sbuf_addc(sb, ',');
			newline(sb, indent, depth + 1);
			dump(sb, x, indent, depth + 1);
		}
		newline(sb, indent, depth);
		sbuf_addc(sb, ']');
		break;
	}
	case JSON_STRING:
		dump_string(sb, json_string_value(v), json_string_length(v));
		break;
	case JSON_INTEGER:
		sbuf_addf(sb, "%" JSON_INTEGER_FORMAT, json_integer_value(v));
		break;
	case JSON_REAL:
		text_double(json_real_value(v), num, sizeof num);
		sbuf_adds(sb, num);
		break;
	case JSON_TRUE:
		sbuf_adds(sb, "true");
		break;
	case JSON_FALSE:
		sbuf_adds(sb, "false");
		break;
	default:
		sbuf_adds(sb, "null");
	}
}

char *text_json_dump(json_t *v, int indent)
{
	struct sbuf sb;
	sbuf_init(&sb);
	sbuf_add(&sb, "", 0);
	if (v)
		dump(&sb, v, indent, 0);
	else
		sbuf_adds(&sb, "null");
	return sbuf_detach(&sb);
}

void text_json_print(FILE *out, json_t *v)
{
	char *s = text_json_dump(v, 2);
	fputs(s, out);
	fputc('\n', out);
	fflush(out);
	free(s);
}
