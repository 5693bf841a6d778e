/*
 * testlib.h — the fixtures every unit test may use (linked into each of
 * them): scratch directories under /tmp, writing and reading whole files,
 * a configuration from text, an instance directory, and running a cmdlet
 * with its output captured. Failures are cmocka assertions, so a test
 * reads as what it checks. (The TLS tests' certificates and handshakes
 * stay in tls_testlib.c: only they need OpenSSL's test scaffolding.)
 * Must never: be linked into postern, or write outside the directories a
 * test made with it or names.
 */
#ifndef POSTERN_TESTLIB_H
#define POSTERN_TESTLIB_H

#include <stdbool.h>
#include <stddef.h>

struct config;

/* A new empty directory "/tmp/postern-test-<what>-XXXXXX", malloc'd. */
char *testlib_mkdtemp(const char *what);
/* Removes dir and everything below it, without following symbolic links. */
void testlib_rmtree(const char *dir);

/* Writes path (created or truncated) with len bytes of data, or text. */
void testlib_write_file(const char *path, const void *data, size_t len);
void testlib_write_text(const char *path, const char *text);
/* The same for dir/name. */
void testlib_write_in(const char *dir, const char *name, const char *text);
/* The whole file, NUL-terminated and malloc'd; *len (may be NULL) its
 * length. */
char *testlib_read_file(const char *path, size_t *len);
/* Is there anything at path (a symbolic link counts)? */
bool testlib_exists(const char *path);
/* Entries of dir besides "." and "..". */
int testlib_count_entries(const char *dir);

/* The configuration text describes, which must load (as postern.conf). */
struct config *testlib_config(const char *text);
/* A new instance directory ("/tmp/postern-test-<what>-XXXXXX") holding
 * postern.conf with config_default(fqdn); malloc'd. */
char *testlib_instance(const char *what, const char *fqdn);

/* A cmdlet's exit status and what it printed. */
struct testlib_run {
    int rc;
    char *out;
    char *err;
};

/* Runs the cmdlet whose words follow (ending with NULL) on the instance
 * dir, with input (NULL: nothing) as its standard input. */
struct testlib_run testlib_cmdlet(const char *dir, const char *input, ...);
void testlib_run_free(struct testlib_run *r);

#endif
