/*
 * fuzz_config.c — libFuzzer target for the configuration file reader
 * (config/config_file.c, with every value parser of config_param.c,
 * config_list.c and config_value*.c, and config_validate.c behind it): the
 * input is a postern.conf as an administrator might hand-edit it.
 *
 * Besides memory errors and leaks it checks what config_file.c promises: a
 * refused file names its reason; a loaded one is valid, and the text the
 * writer makes of it loads again and is written back identically (also
 * from a clone).
 * Must never: touch the file system (the file is a memfd).
 */
#include "config/config.h"
#include "config/config_param.h"
#include "fuzz_common.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static void
lookups(const struct config *cfg)
{
    for (size_t i = 0; i < cfg->naccepted_domains; i++) {
        const char *d = cfg->accepted_domains[i].domain_name;
        /* every accepted domain is found by its name ("*.x": by x) */
        FUZZ_CHECK(d != NULL && d[0] != '\0');
        if (d[0] == '*' && strlen(d) > 2)
            d += 2;
        FUZZ_CHECK(config_match_accepted_domain(cfg, d) != NULL);
    }
    for (size_t i = 0; i < cfg->nmailboxes; i++)
        FUZZ_CHECK(config_find_mailbox(cfg, cfg->mailboxes[i].name) != NULL);
    for (size_t i = 0; i < cfg->nreceive_connectors; i++)
        (void)receive_connector_fqdn(cfg, &cfg->receive_connectors[i]);
    for (size_t i = 0; i < cfg->nsend_connectors; i++)
        (void)send_connector_fqdn(cfg, &cfg->send_connectors[i]);
    (void)config_default_domain(cfg);
    (void)config_receive_domain_secure(cfg, "example.test");
    (void)config_send_domain_secure(cfg, "example.test");
}

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    char err[1024] = "", err2[1024] = "";
    struct config *cfg, *again, *clone;
    char *text, *text2, *text3;

    cfg = config_load(fuzz_memfile(0, data, size), err, sizeof(err));
    if (cfg == NULL) {
        FUZZ_CHECK(err[0] != '\0');
        return 0;
    }
    FUZZ_CHECK(config_validate(cfg, err, sizeof(err)) == 0);
    lookups(cfg);

    text = config_format_text(cfg);
    again = config_load(fuzz_memfile(1, text, strlen(text)), err2, sizeof(err2));
    if (again == NULL) {
        fprintf(stderr, "written text does not load: %s\n%s", err2, text);
        FUZZ_CHECK(again != NULL);
    }
    text2 = config_format_text(again);
    FUZZ_CHECK(strcmp(text, text2) == 0);
    clone = config_clone(cfg);
    text3 = config_format_text(clone);
    FUZZ_CHECK(strcmp(text, text3) == 0);

    free(text);
    free(text2);
    free(text3);
    config_unref(clone);
    config_unref(again);
    config_unref(cfg);
    return 0;
}
