/*
 * util: the small helpers every module uses. Allocation that aborts cleanly
 * on exhaustion (xmalloc family), a growable string buffer (struct sbuf),
 * durations, monotonic time and string helpers.
 *
 * Error convention for the whole program: functions return 0 on success and
 * -1 on failure, filling `char **err` with a new string the caller frees.
 */
#ifndef RUNBOOK_UTIL_H
#define RUNBOOK_UTIL_H

#include <pthread.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

#define ARRAY_LEN(a) (sizeof(a) / sizeof((a)[0]))

void *xmalloc(size_t n);
void *xcalloc(size_t n, size_t size);
void *xrealloc(void *p, size_t n);
/* Returns a new copy of s (NULL stays NULL); caller frees. */
char *xstrdup(const char *s);
char *xstrndup(const char *s, size_t n);
/* Returns a new formatted string; caller frees. */
char *xasprintf(const char *fmt, ...) __attribute__((format(printf, 1, 2)));
char *xvasprintf(const char *fmt, va_list ap);

/* Growable NUL-terminated byte buffer. */
struct sbuf {
	char *buf;
	size_t len, cap;
};
void sbuf_init(struct sbuf *sb);
void sbuf_release(struct sbuf *sb);
void sbuf_add(struct sbuf *sb, const void *data, size_t n);
void sbuf_adds(struct sbuf *sb, const char *s);
void sbuf_addc(struct sbuf *sb, char c);
void sbuf_addf(struct sbuf *sb, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
/* Adds s as a JSON string: quoted, escaped as jansson escapes it (the
 * bytes json_dumps would write; text.c's encoder writes its own form). */
void sbuf_add_json_string(struct sbuf *sb, const char *s);
/* Returns the buffer as a string the caller frees; sb is left empty. */
char *sbuf_detach(struct sbuf *sb);

/* Monotonic milliseconds (microseconds), for deadlines. */
int64_t now_ms(void);
int64_t now_us(void);
/* A condition variable whose timed waits run on the monotonic clock, so a
 * wall clock set back cannot stretch them. */
void cond_init_monotonic(pthread_cond_t *cv);
/* Waits on cv (made by cond_init_monotonic; mu held) until it is
 * signalled or ms pass. */
void cond_wait_ms(pthread_cond_t *cv, pthread_mutex_t *mu, int64_t ms);
void cond_wait_us(pthread_cond_t *cv, pthread_mutex_t *mu, int64_t us);
/* Wall-clock seconds since the epoch, with the fraction. */
double epoch_now(void);
/* Wall-clock time as "2026-11-24T07:00:00.000000Z" into buf (>= 32 bytes). */
void utc_timestamp(char *buf, size_t n);
/* Parses "500ms", "5s", "2m", "1h" or a bare number of seconds. */
int parse_duration_ms(const char *s, int64_t *out);
/* Sleeps up to ms, returning early (with -1) when the process is
 * interrupted (sleep_interruptible) or *cancel turns non-zero (a run's
 * cancellation; NULL: never). */
int sleep_interruptible(int64_t ms);
int sleep_cancellable(int64_t ms, const volatile int *cancel);

/* Levenshtein distance, capped (for "did you mean"). */
int edit_distance(const char *a, const char *b);
/* Closest candidate to word within a small distance, else NULL. */
const char *did_you_mean(const char *word, const char *const *cands);

int str_endswith(const char *s, const char *suffix);
/* Reads a whole file up to max bytes. Returns a new buffer; caller frees. */
int read_file(const char *path, size_t max, char **out, size_t *len, char **err);

/* The signal that interrupted the run (SIGINT, SIGTERM), else 0; set by
 * the handler, every long wait polls it. */
extern volatile int interrupted;
/* 130 after Ctrl-C, 143 after SIGTERM (128 + the signal). */
int interrupted_exit_code(void);
void install_interrupt_handler(void);

#endif
