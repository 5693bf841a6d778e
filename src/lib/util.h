/*
 * util.h — small helpers that know nothing of mail: allocation that never
 * returns NULL, bounded string copies, case-insensitive comparison, trimming.
 * Must never: depend on any other postern module.
 */
#ifndef POSTERN_UTIL_H
#define POSTERN_UTIL_H

#include <stdbool.h>
#include <stddef.h>

/* Allocation either succeeds or the process exits: an MTA out of memory
 * cannot make progress safely, and a supervisor restarts it. */
void *xmalloc(size_t n);
void *xcalloc(size_t n, size_t size);
void *xrealloc(void *p, size_t n);
char *xstrdup(const char *s);
char *xstrndup(const char *s, size_t n);
char *xasprintf(const char *fmt, ...) __attribute__((format(printf, 1, 2)));

/* Copies at most size-1 bytes and NUL-terminates; returns strlen(src) so a
 * result >= size means truncation. */
size_t strlcpy_p(char *dst, const char *src, size_t size);

/* Writes a one-line reason into a caller's buffer (nothing when err is
 * NULL or errlen 0); cut rather than overflow. */
void errorf(char *err, size_t errlen, const char *fmt, ...) __attribute__((format(printf, 3, 4)));

bool str_ieq(const char *a, const char *b);
bool str_iprefix(const char *s, const char *prefix);
/* Does s hold a control character (below 0x20, or DEL)? */
bool str_has_control(const char *s);
/* Appends to the NUL-terminated text in buf (len bytes), cut to fit. */
void str_appendf(char *buf, size_t len, const char *fmt, ...) __attribute__((format(printf, 3, 4)));
/* Trims ASCII blanks in place; returns s advanced past leading blanks. */
char *str_trim(char *s);
void str_lower(char *s);

/* Wipes the string s (may be NULL) before freeing it: a password or
 * credential must not stay behind in freed memory. */
void str_free_wiped(char *s);
/* The same for n bytes at p (may be NULL). */
void mem_free_wiped(void *p, size_t n);

/* Reads a whole file into a NUL-terminated malloc'd buffer; NULL on error
 * (errno set). *len (if not NULL) receives its length. */
char *file_read(const char *path, size_t *len);
/* The same for the whole of an open file, from its start (pread: the
 * descriptor's offset is left alone). */
char *fd_read_all(int fd, size_t *len);

#endif
