/*
 * fuzz_common.c — helpers for the fuzz targets (see fuzz_common.h).
 * Must never: touch the file system beyond memfds.
 */
#include "fuzz_common.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <unistd.h>

char *
fuzz_cstr(const uint8_t *data, size_t size)
{
    char *s = malloc(size + 1);

    if (s == NULL)
        abort();
    if (size > 0)
        memcpy(s, data, size);
    s[size] = '\0';
    return s;
}

size_t
fuzz_split(char *s, size_t len, char sep, char **fields, size_t *lens, size_t max)
{
    size_t n = 0, start = 0;

    for (size_t i = 0; i < len && n + 1 < max; i++) {
        if (s[i] != sep)
            continue;
        s[i] = '\0';
        fields[n] = s + start;
        lens[n++] = i - start;
        start = i + 1;
    }
    fields[n] = s + start;
    lens[n++] = len - start;
    for (size_t i = n; i < max; i++) {
        fields[i] = s + len; /* the NUL after the input */
        lens[i] = 0;
    }
    return n;
}

const char *
fuzz_memfile(unsigned slot, const void *data, size_t size)
{
    static int fds[4] = {-1, -1, -1, -1};
    static char paths[4][64];

    if (slot >= 4)
        abort();
    if (fds[slot] < 0) {
        if ((fds[slot] = memfd_create("postern-fuzz", MFD_CLOEXEC)) < 0) {
            perror("memfd_create");
            abort();
        }
        snprintf(paths[slot], sizeof(paths[slot]), "/proc/self/fd/%d", fds[slot]);
    }
    if (ftruncate(fds[slot], 0) < 0 ||
        (size > 0 && pwrite(fds[slot], data, size, 0) != (ssize_t)size)) {
        perror("memfd write");
        abort();
    }
    return paths[slot];
}

void
fuzz_fail(const char *file, int line, const char *what)
{
    fprintf(stderr, "%s:%d: property failed: %s\n", file, line, what);
    abort();
}
