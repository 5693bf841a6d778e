/*
 * testlib.c — see testlib.h.
 */
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <setjmp.h>
#include <cmocka.h>

#include "testlib.h"
#include "admin/cmdlet.h"
#include "admin/ps_run.h"
#include "config/config.h"
#include "lib/util.h"

#include <ftw.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <dirent.h>
#include <sys/stat.h>

#define CMDLET_WORDS_MAX 64

char *
testlib_mkdtemp(const char *what)
{
    char *tmpl = xasprintf("/tmp/postern-test-%s-XXXXXX", what);

    assert_non_null(mkdtemp(tmpl));
    return tmpl;
}

static int
remove_one(const char *path, const struct stat *st, int type, struct FTW *ftw)
{
    return remove(path);
}

void
testlib_rmtree(const char *dir)
{
    assert_int_equal(nftw(dir, remove_one, 16, FTW_DEPTH | FTW_PHYS), 0);
}

void
testlib_write_file(const char *path, const void *data, size_t len)
{
    FILE *f = fopen(path, "w");

    if (f == NULL)
        fail_msg("cannot create %s", path);
    assert_int_equal(fwrite(data, 1, len, f), len);
    assert_int_equal(fclose(f), 0);
}

void
testlib_write_text(const char *path, const char *text)
{
    testlib_write_file(path, text, strlen(text));
}

void
testlib_write_in(const char *dir, const char *name, const char *text)
{
    char *p = xasprintf("%s/%s", dir, name);

    testlib_write_text(p, text);
    free(p);
}

char *
testlib_read_file(const char *path, size_t *len)
{
    char *s = file_read(path, len);

    if (s == NULL)
        fail_msg("cannot read %s", path);
    return s;
}

bool
testlib_exists(const char *path)
{
    struct stat st;

    return lstat(path, &st) == 0;
}

int
testlib_count_entries(const char *dir)
{
    DIR *d = opendir(dir);
    struct dirent *de;
    int n = 0;

    assert_non_null(d);
    while ((de = readdir(d)) != NULL)
        if (strcmp(de->d_name, ".") != 0 && strcmp(de->d_name, "..") != 0)
            n++;
    closedir(d);
    return n;
}

struct config *
testlib_config(const char *text)
{
    char err[512];
    struct config *cfg = config_load_text(text, strlen(text), "postern.conf", err, sizeof(err));

    if (cfg == NULL)
        fail_msg("%s", err);
    return cfg;
}

char *
testlib_instance(const char *what, const char *fqdn)
{
    char *dir = testlib_mkdtemp(what), *path = xasprintf("%s/postern.conf", dir), err[512];
    struct config *cfg = config_default(fqdn, NULL, 0);

    assert_non_null(cfg);
    if (config_save(cfg, path, err, sizeof(err)) < 0)
        fail_msg("%s", err);
    config_unref(cfg);
    free(path);
    return dir;
}

struct testlib_run
testlib_cmdlet(const char *dir, const char *input, ...)
{
    struct testlib_run r = {0};
    char *argv[CMDLET_WORDS_MAX + 1];
    int argc = 0;
    size_t olen = 0, elen = 0;
    FILE *out = open_memstream(&r.out, &olen), *err = open_memstream(&r.err, &elen);
    FILE *in = fmemopen((void *)(input ? input : ""), input ? strlen(input) : 0, "r");
    va_list ap;

    assert_non_null(out);
    assert_non_null(err);
    assert_non_null(in);
    va_start(ap, input);
    while ((argv[argc] = va_arg(ap, char *)) != NULL) {
        argc++;
        assert_true(argc < CMDLET_WORDS_MAX);
    }
    va_end(ap);
    r.rc = ps_run_argv(dir, argc, argv, in, out, err);
    fclose(in);
    fclose(out);
    fclose(err);
    return r;
}

void
testlib_run_free(struct testlib_run *r)
{
    free(r->out);
    free(r->err);
    memset(r, 0, sizeof(*r));
}
