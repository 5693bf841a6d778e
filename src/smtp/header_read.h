/*
 * header_read.h — the one reader of a stored message's header section
 * (RFC 5322 2.2): where it ends, the section of a spool file, and the
 * unfolded value of a field. Delivery status notifications, Get-Message
 * and the message-tracking log read Subject and Message-ID through it, so
 * that all of them see the same fields.
 * Must never: read a message's body (only the header section, and at most
 * what the caller allows), or split a field differently from the DATA pass
 * (smtp/data_stream.c names fields, whitespace before the colon included).
 */
#ifndef POSTERN_HEADER_READ_H
#define POSTERN_HEADER_READ_H

#include <stddef.h>

/* What readers take of a header section at most (Get-Message, the
 * tracking log): a header longer than this is cut at a line. */
#define HEADER_SECTION_MAX (64 * 1024)
/* What header_section_read(fd, HEADER_SECTION_MAX, ...) reads at most:
 * this much of a message's start holds its header section. */
#define HEADER_SECTION_READ (HEADER_SECTION_MAX + 3)

/* Octets of the header section at the start of s[0..n): up to and
 * including the line break before the first empty line (CRLF or LF), all
 * of n when there is none, 0 when s starts with the empty line. */
size_t header_section_len(const char *s, size_t n);

/* How much of s[0..n), the start of a message, header_section_read keeps:
 * the header section (header_section_len), cut at the last line boundary
 * within max octets when it is longer. */
size_t header_section_cut(const char *s, size_t n, size_t max);

/* The header section of the open message fd (read from its start, the
 * descriptor's offset left alone), without the empty line that ends it,
 * cut at a line boundary before it exceeds max octets; NUL-terminated and
 * malloc'd, *len (may be NULL) its length. NULL with errno set when it
 * cannot be read. */
char *header_section_read(int fd, size_t max, size_t *len);

/* The value of the first field called name (case-insensitive) in the
 * header section h[0..n), unfolded (RFC 5322 2.2.3: the line breaks before
 * continuation lines removed) and without the blanks around it; malloc'd,
 * or NULL when no field has that name. */
char *header_field_get(const char *h, size_t n, const char *name);

#endif
