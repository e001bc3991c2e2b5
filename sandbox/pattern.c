/*
 * pattern: a worst-case bound on the work of Lua's pattern matcher.
 *
 * The instruction hook cannot see inside string.find/match/gmatch/gsub: a
 * pattern such as "a-a-a-b" over a long run of "a" backtracks for hours in
 * one C call. Before each call the sandbox asks for a bound on the matcher's
 * steps and refuses the call when it exceeds the configured work limit.
 *
 * The bound: a quantified item (x*, x+, x-) can take at most maxrun(x) + 1
 * lengths from any position, where maxrun(x) is the longest run of subject
 * bytes its class matches; so one start explores at most the product of
 * those over the items that have more pattern after them, each leaf costing
 * about the pattern length plus the last item's run. Unanchored calls try
 * every start. Realistic patterns over log lines ("(%d+)%s+(%w+)") stay far
 * below the limit because digit and space runs are short; nested wildcards
 * over long runs do not.
 */
#include "sandbox.h"

#include <ctype.h>
#include <string.h>

static int class_match(int c, int cl)
{
	int res;
	switch (tolower(cl)) {
	case 'a': res = isalpha(c); break;
	case 'c': res = iscntrl(c); break;
	case 'd': res = isdigit(c); break;
	case 'g': res = isgraph(c); break;
	case 'l': res = islower(c); break;
	case 'p': res = ispunct(c); break;
	case 's': res = isspace(c); break;
	case 'u': res = isupper(c); break;
	case 'w': res = isalnum(c); break;
	case 'x': res = isxdigit(c); break;
	default: return cl == c;
	}
	if (isupper(cl))
		res = !res;
	return res != 0;
}

/* p points at '[', end just past the matching ']'. */
static int set_match(int c, const char *p, const char *end)
{
	int neg = 0;
	p++;
	if (*p == '^') {
		neg = 1;
		p++;
	}
	end--; /* the closing ']' */
	while (p < end) {
		if (*p == '%' && p + 1 < end) {
			p++;
			if (class_match(c, (unsigned char)*p))
				return !neg;
			p++;
		} else if (p + 2 < end && p[1] == '-') {
			if ((unsigned char)p[0] <= c && c <= (unsigned char)p[2])
				return !neg;
			p += 3;
		} else {
			if ((unsigned char)*p == c)
				return !neg;
			p++;
		}
	}
	return neg;
}

/* End of the single-char class starting at p, or NULL if malformed. */
static const char *class_end(const char *p, const char *pe)
{
	if (p >= pe)
		return NULL;
	if (*p == '%')
		return p + 1 < pe ? p + 2 : NULL;
	if (*p == '[') {
		const char *q = p + 1;
		if (q < pe && *q == '^')
			q++;
		do { /* the first ']' after '[' or '[^' is literal */
			if (q >= pe)
				return NULL;
			if (*q == '%')
				q++;
			q++;
		} while (q < pe && *q != ']');
		return q < pe ? q + 1 : NULL;
	}
	return p + 1;
}

static int single_match(int c, const char *p, const char *ep)
{
	if (*p == '.')
		return 1;
	if (*p == '%')
		return class_match(c, (unsigned char)p[1]);
	if (*p == '[')
		return set_match(c, p, ep);
	return (unsigned char)*p == c;
}

static double max_run(const unsigned char *s, size_t ls, const char *p, const char *ep)
{
	size_t best = 0, cur = 0;
	for (size_t i = 0; i < ls; i++) {
		if (single_match(s[i], p, ep)) {
			if (++cur > best)
				best = cur;
		} else {
			cur = 0;
		}
	}
	return (double)best;
}

/* True when nothing but ')' and a final '$' follow q. */
static int only_tail(const char *q, const char *pe)
{
	while (q < pe && *q == ')')
		q++;
	if (q < pe && *q == '$' && q + 1 == pe)
		q++;
	return q == pe;
}

double pattern_worst_case(const char *s, size_t ls, const char *p, size_t lp, int all_starts)
{
	const char *pe = p + lp;
	const unsigned char *us = (const unsigned char *)s;
	double product = 1, last_run = 0, scans = 0;
	int anchored = 0;
	if (p < pe && *p == '^') {
		anchored = 1;
		p++;
	}
	while (p < pe) {
		if (*p == '(' || *p == ')') {
			p++;
			continue;
		}
		if (*p == '$' && p + 1 == pe)
			break;
		if (*p == '%' && p + 1 < pe && (p[1] == 'b' || p[1] == 'f')) {
			if (p[1] == 'b') {
				scans += (double)ls; /* a balance scan per attempt */
				p += 4;
			} else {
				const char *e = class_end(p + 2, pe);
				if (!e)
					break;
				p = e;
			}
			continue;
		}
		if (*p == '%' && p + 1 < pe && p[1] >= '0' && p[1] <= '9') {
			scans += (double)ls; /* a back-reference compares a capture */
			p += 2;
			continue;
		}
		const char *ep = class_end(p, pe);
		if (!ep)
			break; /* malformed: Lua itself reports it */
		if (ep < pe && (*ep == '*' || *ep == '+' || *ep == '-')) {
			double run = max_run(us, ls, p, ep);
			if (only_tail(ep + 1, pe))
				last_run = run;
			else
				product *= run + 1;
			p = ep + 1;
		} else if (ep < pe && *ep == '?') {
			product *= 2;
			p = ep + 1;
		} else {
			p = ep;
		}
		if (product > 1e30)
			product = 1e30;
	}
	double starts = anchored || !all_starts ? 1 : (double)ls + 1;
	return starts * product * ((double)lp + 1 + last_run + scans);
}
