/* sql_lex: statement counting and side-effect judgement. See sql_lex.h. */
#define _POSIX_C_SOURCE 200809L
#include "sql_lex.h"
#include "util.h"

#include <ctype.h>
#include <stdlib.h>
#include <string.h>

static int ident_start(unsigned char c)
{
	return isalpha(c) || c == '_' || c >= 0x80;
}

static int ident_char(unsigned char c)
{
	return isalnum(c) || c == '_' || c == '$' || c >= 0x80;
}

/* Skips a quoted run opened at text[p] (quote q); backslash escapes when
 * `escapes`. Returns the position after the closing quote (or the end). */
static size_t skip_quoted(const char *text, size_t p, char q, int escapes)
{
	for (p++; text[p]; p++) {
		if (escapes && text[p] == '\\' && text[p + 1]) {
			p++;
		} else if (text[p] == q) {
			if (text[p + 1] != q)
				return p + 1;
			p++; /* doubled quote */
		}
	}
	return p;
}

static void set_word(struct sql_token *t, const char *s, size_t n, int fold)
{
	if (n >= sizeof t->word)
		n = sizeof t->word - 1;
	for (size_t i = 0; i < n; i++)
		t->word[i] = fold ? (char)tolower((unsigned char)s[i]) : s[i];
	t->word[n] = '\0';
}

void sql_lex(const char *text, size_t *pos, struct sql_token *t)
{
	size_t p = *pos;
	for (;;) {
		while (isspace((unsigned char)text[p]))
			p++;
		if (text[p] == '-' && text[p + 1] == '-') {
			while (text[p] && text[p] != '\n')
				p++;
		} else if (text[p] == '/' && text[p + 1] == '*') {
			int depth = 1;
			for (p += 2; text[p] && depth; p++) {
				if (text[p] == '/' && text[p + 1] == '*')
					depth++, p++;
				else if (text[p] == '*' && text[p + 1] == '/')
					depth--, p++;
			}
		} else {
			break;
		}
	}
	t->off = p;
	t->word[0] = '\0';
	unsigned char c = (unsigned char)text[p];
	if (!c) {
		t->type = SQL_END;
	} else if (c == '\'') {
		t->type = SQL_STRING;
		p = skip_quoted(text, p, '\'', 0);
	} else if (c == '"') {
		t->type = SQL_IDENT;
		size_t e = skip_quoted(text, p, '"', 0);
		set_word(t, text + p + 1, e > p + 1 ? e - p - 2 : 0, 0);
		p = e;
	} else if (c == '$' && isdigit((unsigned char)text[p + 1])) {
		t->type = SQL_PARAM;
		for (p++; isdigit((unsigned char)text[p]); p++)
			;
	} else if (c == '$' && (text[p + 1] == '$' || ident_start((unsigned char)text[p + 1]))) {
		size_t e = p + 1;
		while (text[e] && text[e] != '$' && (isalnum((unsigned char)text[e]) || text[e] == '_' ||
						     (unsigned char)text[e] >= 0x80))
			e++;
		if (text[e] != '$') {
			t->type = SQL_OTHER;
			p++;
		} else { /* a dollar quote: $tag$ ... $tag$ */
			size_t tl = e - p + 1;
			const char *close = strchr(text + e + 1, '$');
			while (close && strncmp(close, text + p, tl))
				close = strchr(close + 1, '$');
			t->type = SQL_STRING;
			p = close ? (size_t)(close - text) + tl : strlen(text);
		}
	} else if (ident_start(c)) {
		size_t s = p;
		while (ident_char((unsigned char)text[p]))
			p++;
		size_t n = p - s;
		char q = text[p];
		int pre = n == 1 && strchr("eEbBxXnN", text[s]);
		if (pre && q == '\'') { /* E'...', B'...', X'...', N'...' */
			t->type = SQL_STRING;
			p = skip_quoted(text, p, '\'', text[s] == 'e' || text[s] == 'E');
		} else if (n == 1 && (text[s] == 'u' || text[s] == 'U') && q == '&' &&
			   (text[p + 1] == '\'' || text[p + 1] == '"')) { /* U&'...' and U&"..." */
			char qq = text[p + 1];
			size_t e = skip_quoted(text, p + 1, qq, 0);
			t->type = qq == '"' ? SQL_IDENT : SQL_STRING;
			if (qq == '"')
				set_word(t, text + p + 2, e > p + 2 ? e - p - 3 : 0, 0);
			p = e;
		} else {
			t->type = SQL_IDENT;
			set_word(t, text + s, n, 1);
		}
	} else if (isdigit(c)) {
		t->type = SQL_OTHER;
		while (isalnum((unsigned char)text[p]) || text[p] == '.' || text[p] == '_')
			p++;
	} else {
		t->type = c == ';' ? SQL_SEMI : c == '(' ? SQL_LPAREN : SQL_OTHER;
		p++;
	}
	t->len = p - t->off;
	*pos = p;
}

int sql_statement_count(const char *text)
{
	int count = 0, content = 0;
	size_t pos = 0;
	struct sql_token t;
	for (sql_lex(text, &pos, &t); t.type != SQL_END; sql_lex(text, &pos, &t)) {
		if (t.type == SQL_SEMI) {
			count += content;
			content = 0;
		} else {
			content = 1;
		}
	}
	return count + content;
}

int sql_max_param(const char *text, size_t *off)
{
	int most = 0;
	size_t pos = 0;
	struct sql_token t;
	for (sql_lex(text, &pos, &t); t.type != SQL_END; sql_lex(text, &pos, &t)) {
		if (t.type != SQL_PARAM)
			continue;
		int n = atoi(text + t.off + 1);
		if (n > most) {
			most = n;
			*off = t.off;
		}
	}
	return most;
}

/* Statements that change the database or the server even inside a READ
 * ONLY transaction (the server refuses the writes among them too, but
 * later and with a less helpful message). */
static const char *const statements[] = {
	"analyze", "call", "checkpoint", "cluster", "copy", "deallocate", "discard", "do", "execute", "listen",
	"load", "lock", "notify", "prepare", "refresh", "reindex", "reset", "set", "unlisten", "vacuum",
	"alter", "comment", "create", "delete", "drop", "grant", "import", "insert", "merge", "reassign",
	"revoke", "security", "truncate", "update", NULL};

/* Server functions with side effects that a READ ONLY transaction lets
 * through, exactly or by prefix. */
static const char *const functions[] = {
	"pg_terminate_backend", "pg_cancel_backend", "pg_reload_conf", "pg_rotate_logfile", "pg_switch_wal",
	"pg_switch_xlog", "pg_promote", "pg_create_restore_point", "pg_wal_replay_pause", "pg_wal_replay_resume",
	"pg_xlog_replay_pause", "pg_xlog_replay_resume", "pg_backup_start", "pg_backup_stop", "pg_start_backup",
	"pg_stop_backup", "pg_log_backend_memory_contexts", "pg_notify", "set_config", "setval", "nextval",
	"pg_file_write", "pg_file_rename", "pg_file_unlink", "pg_file_sync", "pg_logical_emit_message",
	"pg_replication_slot_advance", "pg_copy_physical_replication_slot", "pg_copy_logical_replication_slot",
	"pg_logical_slot_get_changes", "pg_logical_slot_get_binary_changes", "pg_import_system_collations",
	"pg_stat_statements_reset", "lowrite", "loread", "txid_current", "pg_current_xact_id", NULL};
static const char *const prefixes[] = {"pg_advisory_", "pg_try_advisory_", "dblink", "lo_", "pg_stat_reset",
	"pg_replication_origin_", "pg_create_", "pg_drop_", NULL};

static int listed(const char *w, const char *const *list, int prefix)
{
	for (; *list; list++)
		if (prefix ? !strncmp(w, *list, strlen(*list)) : !strcmp(w, *list))
			return 1;
	return 0;
}

char *sql_side_effect(const char *text, size_t *off)
{
	size_t pos = 0;
	struct sql_token t, next;
	int at_start = 1;
	sql_lex(text, &pos, &t);
	while (t.type != SQL_END) {
		size_t after = pos;
		sql_lex(text, &after, &next);
		if (t.type == SQL_IDENT && at_start) {
			at_start = 0;
			if (text[t.off] != '"' && listed(t.word, statements, 0)) {
				*off = t.off;
				char up[64];
				size_t i;
				for (i = 0; t.word[i]; i++)
					up[i] = (char)toupper((unsigned char)t.word[i]);
				up[i] = '\0';
				return xasprintf("%s changes the database or the server even in a read-only transaction: "
						 "mark the step mutates: true", up);
			}
		}
		if (t.type == SQL_IDENT && next.type == SQL_LPAREN &&
		    (listed(t.word, functions, 0) || listed(t.word, prefixes, 1))) {
			*off = t.off;
			return xasprintf("%s() has side effects even in a read-only transaction: mark the step mutates: true",
					 t.word);
		}
		if (t.type == SQL_SEMI)
			at_start = 1;
		else if (t.type != SQL_LPAREN)
			at_start = 0; /* a statement's first word may follow only '(' */
		t = next;
		pos = after;
	}
	return NULL;
}
