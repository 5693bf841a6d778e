/*
 * manpage.h — postern(8) (section 8) and postern.conf(5) (section 5) in
 * roff, from the tables Get-Help reads (see manpage.c).
 * Must never: need an instance: it runs at build time.
 */
#ifndef POSTERN_MANPAGE_H
#define POSTERN_MANPAGE_H

#include <stdio.h>

/* Writes the page of section 8 or 5 to out. 0, or -1 (unknown section or
 * a write error). */
int manpage_write(FILE *out, int section);

#endif
