/*
 * test_param_help.c — unit tests for admin/param_help: every parameter of
 * every kind's table has a help text (plain ASCII, one or two sentences,
 * not overlong), there is no text for a parameter no table has, lookups
 * ignore case, and unknown kinds or parameters give NULL; and every cmdlet
 * of the table (admin/cmdlet.c) is declared for Get-Help
 * (admin/cmdlet_help.c), and nothing else is.
 * Must never: depend on the wording of a text (only on its presence and
 * shape), or touch the file system.
 */
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <setjmp.h>
#include <cmocka.h>

#include "admin/cmdlet.h"
#include "admin/cmdlet_help.h"
#include "admin/param_help.h"
#include "config/config_param.h"

#include <ctype.h>
#include <stdio.h>
#include <string.h>

/* "about 220 characters": a little slack, but not a paragraph. */
#define HELP_MAX 240

static void
check_text(const char *kind, const char *param, const char *text)
{
    size_t len;

    if (text == NULL)
        fail_msg("%s %s: no help text", kind, param);
    len = strlen(text);
    if (len == 0 || len > HELP_MAX)
        fail_msg("%s %s: help text of %zu characters", kind, param, len);
    for (size_t i = 0; i < len; i++)
        if (!isprint((unsigned char)text[i]))
            fail_msg("%s %s: character %zu is not printable ASCII", kind, param, i);
    if (text[len - 1] != '.')
        fail_msg("%s %s: the text does not end a sentence", kind, param);
}

static void
test_every_parameter_has_help(void **state)
{
    size_t total = 0;

    for (int k = 0; k < CONFIG_NKINDS; k++) {
        const struct config_kind_info *ki = config_kind(k);
        assert_non_null(ki);
        assert_true(ki->nparams > 0);
        for (size_t i = 0; i < ki->nparams; i++) {
            const struct config_param *p = &ki->params[i];
            check_text(ki->name, p->name, param_help(ki->name, p->name));
            total++;
        }
    }
    /* Every text belongs to a row: as many texts as rows, each found. */
    assert_int_equal(param_help_count(), total);
}

static void
test_lookup_ignores_case(void **state)
{
    const char *text = param_help("ReceiveConnector", "MaxMessageSize");

    assert_non_null(text);
    assert_ptr_equal(param_help("receiveconnector", "maxmessagesize"), text);
    assert_ptr_equal(param_help("RECEIVECONNECTOR", "MAXMESSAGESIZE"), text);
    /* the same name in another kind is another text */
    assert_non_null(param_help("SendConnector", "MaxMessageSize"));
    assert_ptr_not_equal(param_help("SendConnector", "MaxMessageSize"), text);
}

static void
test_unknown_gives_null(void **state)
{
    assert_null(param_help("ReceiveConnector", "NoSuchParameter"));
    assert_null(param_help("ReceiveConnector", ""));
    assert_null(param_help("NoSuchKind", "Name"));
    assert_null(param_help("", "Name"));
    assert_null(param_help(NULL, "Name"));
    assert_null(param_help("Mailbox", NULL));
    /* a parameter of another kind is unknown here */
    assert_null(param_help("Mailbox", "Bindings"));
    /* an alias is not the parameter's name */
    assert_null(param_help("ReceiveConnector", "AuthenticationMechanism"));
    /* a prefix is not a name */
    assert_null(param_help("ReceiveConnector", "MaxMessage"));
}

static void
test_every_cmdlet_is_declared(void **state)
{
    size_t nc, nh;
    const struct cmdlet *c = cmdlet_table(&nc);
    const struct cmdlet_help *h = cmdlet_help_all(&nh);

    (void)state;
    for (size_t i = 0; i < nc; i++)
        if (cmdlet_help_find(c[i].name) == NULL)
            fail_msg("%s: not declared in cmdlet_help.c", c[i].name);
    for (size_t i = 0; i < nh; i++)
        if (cmdlet_find(h[i].name) == NULL)
            fail_msg("%s: declared, but no such cmdlet", h[i].name);
    assert_int_equal(nc, nh);
}

int
main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_every_parameter_has_help),
        cmocka_unit_test(test_lookup_ignores_case),
        cmocka_unit_test(test_unknown_gives_null),
        cmocka_unit_test(test_every_cmdlet_is_declared),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
