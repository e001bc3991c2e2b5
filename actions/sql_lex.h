/*
 * sql_lex: a PostgreSQL lexer just deep enough to judge a statement
 * without running it: how many statements a text holds, and whether a
 * step that must not change anything calls something that would.
 *
 * It knows what can hide a word or fake one: `--` and nested block
 * comments, 'strings' (E'', U&'', B'', X'' and '' doubling), "quoted
 * identifiers" (exact case), $tag$ dollar quotes $tag$ and $n parameters.
 * Unquoted identifiers fold to lower case, as the server folds them.
 */
#ifndef RUNBOOK_SQL_LEX_H
#define RUNBOOK_SQL_LEX_H

#include <stddef.h>

enum sql_tok { SQL_END, SQL_IDENT, SQL_STRING, SQL_PARAM, SQL_SEMI, SQL_LPAREN, SQL_OTHER };

struct sql_token {
	enum sql_tok type;
	size_t off, len;   /* where it is in the text */
	char word[64];     /* SQL_IDENT: the name as the server sees it (truncated) */
};

/* The next token of text at *pos (advanced past it). */
void sql_lex(const char *text, size_t *pos, struct sql_token *t);

/* Statements in text (a trailing ';' or comment adds none). */
int sql_statement_count(const char *text);

/* The highest $n placeholder in text (0: none); *off gets where it is. */
int sql_max_param(const char *text, size_t *off);

/*
 * Judges a statement that runs read-only. Returns NULL when it calls
 * nothing with side effects, else a new message naming what it calls
 * (caller frees) with *off at that word.
 */
char *sql_side_effect(const char *text, size_t *off);

#endif
