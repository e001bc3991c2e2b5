/*
 * text: how bytes from outside become text we show or store.
 *
 * - Bytes from servers and hosts become JSON strings with only their
 *   invalid UTF-8 sequences replaced (U+FFFD), and a cap that cuts a
 *   character cuts before it.
 * - Text shown on a terminal (exec, timeline, markdown) passes through
 *   text_escape(): control characters (C0, DEL, C1) are shown as `\x1b`,
 *   so a server cannot move the cursor, retitle the window or hide lines.
 * - JSON documents are written with floats in their shortest round-trip
 *   form (0.3, not 0.29999999999999999).
 */
#ifndef RUNBOOK_TEXT_H
#define RUNBOOK_TEXT_H

#include <jansson.h>
#include <stddef.h>
#include <stdio.h>

/* Bytes as a JSON string: invalid UTF-8 sequences become U+FFFD, a
 * truncated character at the end is dropped. Returns a new reference. */
json_t *text_json(const char *s, size_t n);
/* The length of the longest prefix of s[0..n) that does not end inside a
 * UTF-8 character (for caps). */
size_t text_utf8_cut(const char *s, size_t n);

/* Returns a new copy of s[0..n) with control characters other than '\n'
 * (and '\t' when keep_tab) shown as \xHH; caller frees. */
char *text_escape(const char *s, size_t n, int keep_tab);
/* The string value of a JSON string, escaped for a terminal; "" for
 * anything else. Caller frees. */
char *text_escape_json(json_t *v);

/* Shortest "%.Ng" form of d that reads back as d, into buf (>= 32). */
void text_double(double d, char *buf, size_t n);
/* Writes v as JSON (indent > 0: pretty with that many spaces, keys in
 * insertion order) with shortest floats. Returns a new string. */
char *text_json_dump(json_t *v, int indent);
/* text_json_dump to out, then a newline. */
void text_json_print(FILE *out, json_t *v);

#endif
