/*
 * test_ps_lang.c — unit tests for the shell's language (admin/ps_parse.c)
 * and its records (admin/ps_record.c): the bugs fuzz_ps_text found, each
 * stated as what input must give what.
 * Must never: run a command or touch an instance (parsing and records only).
 */
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <setjmp.h>
#include <cmocka.h>

#include <stdbool.h>
#include <stdio.h>
#include <string.h>

#include "admin/ps_parse.h"
#include "admin/ps_record.h"

/* A backtick at the end of a line continues the line even right after a
 * word: the word ends there (no line end inside it), and the line alone
 * asks for the next one, as "word `" does. */
static void
test_backtick_line_end_after_a_word_continues_the_line(void **state)
{
    const char *ends[] = {"\n", "\r\n", "\r"};
    struct ps_script s;
    char err[256];
    bool incomplete;

    (void)state;
    for (size_t i = 0; i < sizeof(ends) / sizeof(ends[0]); i++) {
        char text[128];

        snprintf(text, sizeof(text), "Set-ReceiveConnector Partners`%s", ends[i]);
        assert_int_equal(ps_parse_text(text, &s, &incomplete, err, sizeof(err)), -1);
        assert_true(incomplete);

        snprintf(text, sizeof(text), "Set-ReceiveConnector Partners`%s  -Comment x\n", ends[i]);
        assert_int_equal(ps_parse_text(text, &s, &incomplete, err, sizeof(err)), 0);
        assert_int_equal(s.npipes, 1);
        assert_int_equal(s.pipes[0].cmds[0].nelems, 3);
        assert_null(s.pipes[0].cmds[0].elems[0].name);
        assert_string_equal(s.pipes[0].cmds[0].elems[0].value->text, "Partners");
        assert_string_equal(s.pipes[0].cmds[0].elems[1].name, "Comment");
        assert_string_equal(s.pipes[0].cmds[0].elems[2].value->text, "x");
        ps_script_free(&s);
    }
    /* an empty line after the continuation ends the statement */
    assert_int_equal(ps_parse_text("Get-X `\n\n", &s, &incomplete, err, sizeof(err)), 0);
    assert_int_equal(s.npipes, 1);
    ps_script_free(&s);
}

/* Select-Object names a property that the records lack twice (in any
 * case): it is added once, empty. */
static void
test_select_adds_a_missing_property_once(void **state)
{
    struct ps_records r = {0};
    char *props[] = {"Name", "Nope", "nope", "NOPE"};

    (void)state;
    assert_int_equal(ps_records_parse("Name : a\nEnabled : True\n\nName : b\n", &r), 0);
    ps_records_select(&r, props, 4, 0, 0);
    assert_int_equal(r.n, 2);
    for (size_t i = 0; i < r.n; i++) {
        assert_int_equal(r.v[i].n, 2);
        assert_string_equal(r.v[i].names[1], "Nope");
        assert_string_equal(r.v[i].values[1], "");
    }
    ps_records_free(&r);
}

int
main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_backtick_line_end_after_a_word_continues_the_line),
        cmocka_unit_test(test_select_adds_a_missing_property_once),
    };

    return cmocka_run_group_tests(tests, NULL, NULL);
}
