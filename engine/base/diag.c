/* diag: collect and print file:line:col errors. */
#include "diag.h"
#include "util.h"

#include <stdarg.h>
#include <stdlib.h>
#include <string.h>

void diag_init(struct diag_list *d)
{
	memset(d, 0, sizeof *d);
}

void diag_release(struct diag_list *d)
{
	for (size_t i = 0; i < d->n; i++) {
		free(d->items[i].file);
		free(d->items[i].msg);
	}
	free(d->items);
	diag_init(d);
}

void diag_add(struct diag_list *d, const char *file, int line, int col, const char *fmt, ...)
{
	if (d->n == d->cap) {
		d->cap = d->cap ? d->cap * 2 : 8;
		d->items = xrealloc(d->items, d->cap * sizeof *d->items);
	}
	va_list ap;
	va_start(ap, fmt);
	d->items[d->n].msg = xvasprintf(fmt, ap);
	va_end(ap);
	d->items[d->n].file = xstrdup(file ? file : "<input>");
	d->items[d->n].line = line;
	d->items[d->n].col = col;
	d->n++;
}

static int cmp(const void *a, const void *b)
{
	const struct diag *x = a, *y = b;
	int c = strcmp(x->file, y->file);
	if (c)
		return c;
	if (x->line != y->line)
		return x->line < y->line ? -1 : 1;
	if (x->col != y->col)
		return x->col < y->col ? -1 : 1;
	return 0;
}

char *diag_format(const struct diag *d)
{
	if (d->line <= 0)
		return xasprintf("%s: %s", d->file, d->msg);
	return xasprintf("%s:%d:%d: %s", d->file, d->line, d->col > 0 ? d->col : 1, d->msg);
}

void diag_print(struct diag_list *d, FILE *out)
{
	/* stable enough: messages at one position keep insertion order rarely matters */
	if (d->n > 1)
		qsort(d->items, d->n, sizeof *d->items, cmp);
	for (size_t i = 0; i < d->n; i++) {
		char *s = diag_format(&d->items[i]);
		fprintf(out, "%s\n", s);
		free(s);
	}
}
