/*
 * diag: a list of user-facing errors, each at file:line:col. The loader and
 * `check` collect every problem they find into one list, so a malformed
 * runbook gets all its errors at once, sorted by position.
 */
#ifndef RUNBOOK_DIAG_H
#define RUNBOOK_DIAG_H

#include <stddef.h>
#include <stdio.h>

struct diag {
	char *file;
	int line, col;
	char *msg;
};

struct diag_list {
	struct diag *items;
	size_t n, cap;
};

void diag_init(struct diag_list *d);
void diag_release(struct diag_list *d);
/* Adds "file:line:col: message"; line/col 0 means "the file as a whole". */
void diag_add(struct diag_list *d, const char *file, int line, int col, const char *fmt, ...)
	__attribute__((format(printf, 5, 6)));
/* Sorts by file, line, column and prints one error per line. */
void diag_print(struct diag_list *d, FILE *out);
/* Returns the i-th diagnostic formatted; caller frees. */
char *diag_format(const struct diag *d);

#endif
