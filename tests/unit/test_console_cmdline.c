/*
 * test_console_cmdline.c — the console's requests as command lines
 * (src/console/console_cmdline.c): each value a literal the shell's own
 * parser reads back unchanged, whatever it holds; secrets only on standard
 * input; refusals for what is not a cmdlet, a parameter name or a value.
 */
#include "admin/ps_parse.h"
#include "console/console_int.h"
#include "lib/util.h"

#include <jansson.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

static int
build(const char *json, struct console_cmdline *cl, char *err, size_t errlen)
{
    json_error_t jerr;
    json_t *req = json_loads(json, 0, &jerr);
    int rc;

    assert_non_null(req);
    rc = console_cmdline_build(req, "/tmp/up/upload", cl, err, errlen);
    json_decref(req);
    return rc;
}

static void
test_lines(void **state)
{
    struct console_cmdline cl;
    char err[256];

    assert_int_equal(
        build("{\"cmdlet\": \"new-sendconnector\", \"params\": {\"Name\": \"it's\", "
              "\"Internet\": true, \"AddressSpaces\": [\"SMTP:*.a.test;1\", \"b.test\"], "
              "\"DNSRoutingEnabled\": false, \"MaxMessageSize\": 10, \"Comment\": null, "
              "\"SmartHosts\": [], \"AuthenticationCredential\": \"u:p w\"}}",
              &cl, err, sizeof(err)),
        0);
    assert_string_equal(cl.run,
                        "New-SendConnector -Name 'it''s' -Internet -AddressSpaces "
                        "'SMTP:*.a.test;1','b.test' -DNSRoutingEnabled $false -MaxMessageSize 10 "
                        "-Comment $null -SmartHosts $null -AuthenticationCredential -");
    assert_string_equal(cl.shown + strlen(cl.shown) - strlen("(Get-Credential)"),
                        "(Get-Credential)");
    assert_string_equal(cl.secret, "u:p w\n");
    assert_null(strstr(cl.shown, "p w"));
    assert_null(strstr(cl.run, "p w"));
    assert_false(cl.read_only);
    console_cmdline_free(&cl);

    assert_int_equal(build("{\"cmdlet\": \"Get-Queue\"}", &cl, err, sizeof(err)), 0);
    assert_string_equal(cl.run, "Get-Queue");
    assert_true(cl.read_only);
    console_cmdline_free(&cl);

    /* an upload: the path runs, the name shows */
    assert_int_equal(build("{\"cmdlet\": \"Import-Certificate\", \"params\": {\"FilePath\": "
                           "{\"upload\": \"aGVsbG8=\", \"name\": \"ca.cer\"}}}",
                           &cl, err, sizeof(err)),
                     0);
    assert_string_equal(cl.run, "Import-Certificate -FilePath '/tmp/up/upload'");
    assert_string_equal(cl.shown, "Import-Certificate -FilePath 'ca.cer'");
    assert_int_equal(cl.upload_len, 5);
    assert_memory_equal(cl.upload, "hello", 5);
    console_cmdline_free(&cl);

    /* names in full, as the binder reads them: a prefix of a secret's name
     * is still a secret, an alias is written as the parameter's name */
    assert_int_equal(build("{\"cmdlet\": \"Set-Mailbox\", \"params\": {\"Identity\": \"a\", "
                           "\"Passw\": \"hunter22\"}}",
                           &cl, err, sizeof(err)),
                     0);
    assert_string_equal(cl.run, "Set-Mailbox -Identity 'a' -Password -");
    assert_string_equal(cl.secret, "hunter22\n");
    console_cmdline_free(&cl);
    assert_int_equal(build("{\"cmdlet\": \"Set-ReceiveConnector\", \"params\": {\"Identity\": "
                           "\"a\", \"AuthenticationMechanism\": \"Tls\"}}",
                           &cl, err, sizeof(err)),
                     0);
    assert_string_equal(cl.run, "Set-ReceiveConnector -Identity 'a' -AuthMechanism 'Tls'");
    console_cmdline_free(&cl);
}

static void
test_refusals(void **state)
{
    static const char *const bad[] = {
        "{\"cmdlet\": \"Get-Queue | Remove-Message\"}",
        "{\"cmdlet\": \"Export-Csv\"}",
        "{}",
        "{\"cmdlet\": \"Get-Queue\", \"params\": [1]}",
        "{\"cmdlet\": \"Get-Queue\", \"params\": {\"Identity x\": \"a\"}}",
        "{\"cmdlet\": \"Get-Queue\", \"params\": {\"-Identity\": \"a\"}}",
        "{\"cmdlet\": \"Get-Queue\", \"params\": {\"Identity\": \"a\\nb\"}}",
        "{\"cmdlet\": \"Get-Queue\", \"params\": {\"Identity\": \"a\\u0000b\"}}",
        "{\"cmdlet\": \"Get-Queue\", \"params\": {\"Identity\": [\"a\", 1]}}",
        "{\"cmdlet\": \"Get-Queue\", \"params\": {\"Identity\": 1.5}}",
        "{\"cmdlet\": \"New-Mailbox\", \"params\": {\"Password\": \"a\\nb\"}}",
        ("{\"cmdlet\": \"New-Mailbox\", \"params\": {\"Password\": \"a\", \"Credential\": \"x\", "
         "\"AuthenticationCredential\": \"b\"}}"),
        "{\"cmdlet\": \"Import-Certificate\", \"params\": {\"FilePath\": {\"upload\": \"@@\"}}}",
        "{\"cmdlet\": \"Import-Certificate\", \"params\": {\"FilePath\": {\"upload\": \"\"}}}",
        /* a file on the server only as an upload, by any of its names */
        "{\"cmdlet\": \"Import-Certificate\", \"params\": {\"FilePath\": \"/etc/shadow\"}}",
        "{\"cmdlet\": \"Import-ExchangeCertificate\", \"params\": {\"FileN\": \"/etc/shadow\"}}",
        "{\"cmdlet\": \"Import-ExchangeCertificate\", \"params\": {\"Path\": \"/etc/shadow\"}}",
        "{\"cmdlet\": \"New-ExchangeCertificate\", \"params\": {\"RequestFile\": \"/tmp/x\"}}",
        "{\"cmdlet\": \"New-ExchangeCertificate\", \"params\": {\"RequestF\": \"/tmp/x\"}}",
        /* not a parameter of the cmdlet, or ambiguous */
        "{\"cmdlet\": \"Get-Queue\", \"params\": {\"Password\": \"x\"}}",
        "{\"cmdlet\": \"Get-Queue\", \"params\": {\"Nonsense\": \"x\"}}",
        "{\"cmdlet\": \"Set-ReceiveConnector\", \"params\": {\"Max\": \"x\"}}",
    };
    struct console_cmdline cl;
    char err[256];

    /* a secret over the limit: the cmdlet's standard input is a pipe */
    char *long_secret = xmalloc(2000 + 100);
    memset(long_secret, 'a', 2000);
    long_secret[2000] = '\0';
    json_t *big = json_pack("{s:s, s:{s:s, s:s}}", "cmdlet", "Set-Mailbox", "params", "Identity",
                            "a", "Password", long_secret);
    assert_int_equal(console_cmdline_build(big, "/x", &cl, err, sizeof(err)), -1);
    json_decref(big);
    free(long_secret);

    for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
        json_error_t jerr;
        json_t *req = json_loads(bad[i], JSON_ALLOW_NUL, &jerr);
        assert_non_null(req);
        if (console_cmdline_build(req, "/x", &cl, err, sizeof(err)) == 0)
            fail_msg("accepted: %s -> %s", bad[i], cl.run);
        assert_null(cl.run);
        json_decref(req);
    }
}

/* Whatever a value holds, the shell's parser reads one command, with that
 * value as one literal string after its parameter. */
static void
test_values_stay_values(void **state)
{
    static const char *const hostile[] = {
        "x'; Remove-AcceptedDomain contoso.test; '",
        "-Identity",
        "$(Get-Queue)",
        "a | Remove-SendConnector *",
        "\"double\" `backtick` $true $null",
        "@{Add='x'}",
        "{ script }",
        "'",
        "''",
        "# comment",
        "\xe2\x80\x99 curly \xe2\x80\x98",
    };
    char err[256];

    for (size_t i = 0; i < sizeof(hostile) / sizeof(hostile[0]); i++) {
        json_t *req =
            json_pack("{s:s, s:{s:s, s:[s, s]}}", "cmdlet", "Set-ReceiveConnector", "params",
                      "Identity", hostile[i], "RemoteIPRanges", hostile[i], "x");
        struct console_cmdline cl;
        struct ps_script script;
        assert_int_equal(console_cmdline_build(req, "/x", &cl, err, sizeof(err)), 0);
        if (ps_parse_text(cl.run, &script, NULL, err, sizeof(err)) < 0)
            fail_msg("%s: %s", cl.run, err);
        assert_int_equal(script.npipes, 1);
        assert_int_equal(script.pipes[0].ncmds, 1);
        const struct ps_command *cmd = &script.pipes[0].cmds[0];
        assert_string_equal(cmd->name, "Set-ReceiveConnector");
        assert_int_equal(cmd->nelems, 4);
        assert_string_equal(cmd->elems[0].name, "Identity");
        assert_null(cmd->elems[1].name);
        assert_int_equal(cmd->elems[1].value->kind, PSV_STRING);
        assert_string_equal(cmd->elems[1].value->text, hostile[i]);
        assert_string_equal(cmd->elems[2].name, "RemoteIPRanges");
        assert_int_equal(cmd->elems[3].value->kind, PSV_ARRAY);
        assert_int_equal(cmd->elems[3].value->nitems, 2);
        assert_string_equal(cmd->elems[3].value->items[0]->text, hostile[i]);
        ps_script_free(&script);
        console_cmdline_free(&cl);
        json_decref(req);
    }
}

int
main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_lines),
        cmocka_unit_test(test_refusals),
        cmocka_unit_test(test_values_stay_values),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
