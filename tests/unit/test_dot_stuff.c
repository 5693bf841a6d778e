/*
 * test_dot_stuff.c — unit tests for the sending side of dot-stuffing
 * (smtp/dot_stuff.c): every line that starts with a dot gets a second one,
 * nothing else changes, and how the content is cut into pieces does not
 * matter (a dot at the very start of a piece, an LF at the very end of one).
 * Must never: depend on any other postern module, the network or the clock.
 */
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <setjmp.h>
#include <cmocka.h>

#include <event2/buffer.h>
#include <stdbool.h>
#include <stdlib.h>
#include <string.h>

#include "smtp/dot_stuff.h"

/* The rule, one octet at a time. */
static size_t
reference(const char *in, size_t n, char *out)
{
    bool at_line_start = true;
    size_t m = 0;

    for (size_t i = 0; i < n; i++) {
        if (at_line_start && in[i] == '.')
            out[m++] = '.';
        out[m++] = in[i];
        at_line_start = in[i] == '\n';
    }
    return m;
}

/* dot_stuff_add over in, cut at the given offsets (ascending, < n). */
static struct evbuffer *
stuffed(const char *in, size_t n, const size_t *cuts, size_t ncuts)
{
    struct evbuffer *out = evbuffer_new();
    bool at_line_start = true;
    size_t from = 0;

    for (size_t i = 0; i <= ncuts; i++) {
        size_t to = i < ncuts ? cuts[i] : n;
        dot_stuff_add(out, in + from, to - from, &at_line_start);
        from = to;
    }
    return out;
}

static void
assert_stuffed(const char *in, size_t n, const size_t *cuts, size_t ncuts, const char *want,
               size_t want_len)
{
    struct evbuffer *out = stuffed(in, n, cuts, ncuts);

    assert_int_equal(evbuffer_get_length(out), want_len);
    assert_memory_equal(evbuffer_pullup(out, -1), want, want_len);
    evbuffer_free(out);
}

static void
test_examples(void **state)
{
    static const char in[] = ".a\r\nb.\r\n..c\r\n.\r\nd";
    static const char want[] = "..a\r\nb.\r\n...c\r\n..\r\nd";
    size_t at_dot[] = {4, 8}; /* pieces that start with "b" and with ".." */
    size_t after_lf[] = {3, 4, 13, 14};
    size_t whole[] = {0}; /* (with ncuts 0: no cut) */

    (void)state;
    assert_stuffed(in, sizeof(in) - 1, whole, 0, want, sizeof(want) - 1);
    assert_stuffed(in, sizeof(in) - 1, at_dot, 2, want, sizeof(want) - 1);
    assert_stuffed(in, sizeof(in) - 1, after_lf, 4, want, sizeof(want) - 1);
    /* no dot at a line's start: unchanged; empty pieces change nothing */
    assert_stuffed("a.b\r\nc\r\n", 8, (size_t[]){0, 0, 8}, 3, "a.b\r\nc\r\n", 8);
    /* a dot after a bare CR is not at a line's start */
    assert_stuffed("a\r.b\n", 5, whole, 0, "a\r.b\n", 5);
}

/* Random content heavy in dots and line ends, cut at random places, against
 * the octet-by-octet rule. */
static void
test_random_pieces(void **state)
{
    static const char alphabet[] = "..\n\n\rab";
    char in[4096], want[8192];
    size_t cuts[64];

    (void)state;
    srand(20261206);
    for (int round = 0; round < 2000; round++) {
        size_t n = (size_t)(rand() % (int)sizeof(in)), ncuts = (size_t)(rand() % 64), w;
        for (size_t i = 0; i < n; i++)
            in[i] = alphabet[rand() % (int)(sizeof(alphabet) - 1)];
        for (size_t i = 0; i < ncuts; i++)
            cuts[i] = n ? (size_t)rand() % n : 0;
        for (size_t i = 1; i < ncuts; i++) /* ascending: insertion sort */
            for (size_t j = i; j > 0 && cuts[j - 1] > cuts[j]; j--) {
                size_t t = cuts[j];
                cuts[j] = cuts[j - 1];
                cuts[j - 1] = t;
            }
        w = reference(in, n, want);
        assert_stuffed(in, n, cuts, ncuts, want, w);
    }
}

int
main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_examples),
        cmocka_unit_test(test_random_pieces),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
