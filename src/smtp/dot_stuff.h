/*
 * dot_stuff.h — the sending side of RFC 5321 4.5.2: a line of content that
 * starts with "." goes out with a second one, so that the receiver can tell
 * it from the end of data. (The receiving side is data_stream.h.)
 * Must never: change anything else in the content, or depend on how the
 * content is cut into pieces.
 */
#ifndef POSTERN_DOT_STUFF_H
#define POSTERN_DOT_STUFF_H

#include <stdbool.h>
#include <stddef.h>

struct evbuffer;

/* Appends p[0..n) to out, dot-stuffed. *at_line_start carries across the
 * pieces of one message: true before its first. */
void dot_stuff_add(struct evbuffer *out, const char *p, size_t n, bool *at_line_start);

#endif
