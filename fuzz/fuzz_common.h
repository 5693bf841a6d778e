/*
 * fuzz_common.h — what the libFuzzer targets share: a NUL-terminated copy
 * of an input, splitting it into fields, a memory-backed file for the
 * entry points that only take a path, and a check that aborts (so
 * libFuzzer records the input) when a property of the code under test
 * fails.
 * Must never: touch the file system (files are memfds) or keep anything
 * from one input to the next except those reusable memfds.
 */
#ifndef POSTERN_FUZZ_COMMON_H
#define POSTERN_FUZZ_COMMON_H

#include <stddef.h>
#include <stdint.h>

/* The libFuzzer entry point every target defines. */
int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

/* A malloc'd copy of data with a NUL after it (embedded NULs stay). */
char *fuzz_cstr(const uint8_t *data, size_t size);

/* Splits s (of length len, modified in place) at each sep into at most
 * max fields; the last field takes the rest, seps included. Missing
 * fields point at "". Returns the number of fields found. */
size_t fuzz_split(char *s, size_t len, char sep, char **fields, size_t *lens, size_t max);

/* A path ("/proc/self/fd/N") that reads as data: memfd number slot (0-3),
 * created once and rewritten for each input. */
const char *fuzz_memfile(unsigned slot, const void *data, size_t size);

/* A broken property: prints what and where, then aborts. */
#define FUZZ_CHECK(cond)                                                                           \
    do {                                                                                           \
        if (!(cond))                                                                               \
            fuzz_fail(__FILE__, __LINE__, #cond);                                                  \
    } while (0)
void fuzz_fail(const char *file, int line, const char *what) __attribute__((noreturn));

#endif
