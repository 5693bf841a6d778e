/*
 * test_fsutil.c — unit tests for lib/fsutil's durable writes: the atomic
 * write (content, exact mode, no temporary left, never a replaced file
 * unless asked, the failing step named), the no-replace rename and the
 * directory fsyncs.
 * Must never: write outside its own temporary directory.
 */
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <setjmp.h>
#include <cmocka.h>

#include "lib/fsutil.h"
#include "lib/util.h"
#include "testlib.h"

#include <errno.h>
#include <fcntl.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

static mode_t
mode_of(const char *path)
{
    struct stat st;

    assert_int_equal(stat(path, &st), 0);
    return st.st_mode & 07777;
}

static void
test_write_atomic_creates_and_replaces(void **state)
{
    char *dir = testlib_mkdtemp("fsutil"), *path = xasprintf("%s/file", dir), *text;
    struct fs_atomic w = {.mode = 0640, .replace = true, .sync_dir = true};
    mode_t old = umask(077);

    assert_int_equal(fs_write_atomic(path, "first\n", 6, &w), 0);
    umask(old);
    text = testlib_read_file(path, NULL);
    assert_string_equal(text, "first\n");
    free(text);
    assert_int_equal(mode_of(path), 0640); /* whatever the umask */
    assert_int_equal(testlib_count_entries(dir), 1);

    w.mode = 0600;
    assert_int_equal(fs_write_atomic(path, "second\n", 7, &w), 0);
    text = testlib_read_file(path, NULL);
    assert_string_equal(text, "second\n");
    free(text);
    assert_int_equal(mode_of(path), 0600);
    assert_int_equal(testlib_count_entries(dir), 1); /* no temporary left behind */

    free(path);
    testlib_rmtree(dir);
    free(dir);
}

static void
test_write_atomic_never_replaces_unless_asked(void **state)
{
    char *dir = testlib_mkdtemp("fsutil"), *path = xasprintf("%s/key", dir), *text;
    struct fs_atomic w = {.mode = 0600};

    testlib_write_text(path, "precious\n");
    assert_int_equal(fs_write_atomic(path, "other\n", 6, &w), -1);
    assert_int_equal(errno, EEXIST);
    assert_string_equal(w.step, "rename");
    assert_non_null(strstr(w.tmp, "/.key."));
    assert_false(testlib_exists(w.tmp)); /* removed again */
    text = testlib_read_file(path, NULL);
    assert_string_equal(text, "precious\n");
    free(text);
    assert_int_equal(testlib_count_entries(dir), 1);

    free(path);
    testlib_rmtree(dir);
    free(dir);
}

static void
test_write_atomic_names_the_failed_step(void **state)
{
    char *dir = testlib_mkdtemp("fsutil"), *path = xasprintf("%s/missing/file", dir);
    struct fs_atomic w = {.mode = 0600, .replace = true};

    assert_int_equal(fs_write_atomic(path, "x", 1, &w), -1);
    assert_int_equal(errno, ENOENT);
    assert_string_equal(w.step, "create");
    assert_int_equal(testlib_count_entries(dir), 0);

    /* a name in the current directory: the temporary is beside it */
    free(path);
    path = xasprintf("%s/here", dir);
    {
        char cwd[4096];
        struct fs_atomic w2 = {.mode = 0644, .replace = true, .sync_dir = true};

        assert_non_null(getcwd(cwd, sizeof(cwd)));
        assert_int_equal(chdir(dir), 0);
        assert_int_equal(fs_write_atomic("here", "y", 1, &w2), 0);
        assert_int_equal(chdir(cwd), 0);
    }
    assert_true(testlib_exists(path));
    assert_int_equal(testlib_count_entries(dir), 1);

    free(path);
    testlib_rmtree(dir);
    free(dir);
}

static void
test_rename_noreplace(void **state)
{
    char *dir = testlib_mkdtemp("fsutil");
    int dfd = open(dir, O_RDONLY | O_DIRECTORY);

    assert_true(dfd >= 0);
    testlib_write_in(dir, "a", "a");
    testlib_write_in(dir, "b", "b");
    assert_int_equal(fs_rename_noreplace(dfd, "a", dfd, "b"), -1);
    assert_int_equal(errno, EEXIST);
    assert_int_equal(fs_rename_noreplace(dfd, "a", dfd, "c"), 0);
    assert_int_equal(testlib_count_entries(dir), 2);
    assert_int_equal(fs_fsync_dirfd(dfd), 0);
    close(dfd);

    testlib_rmtree(dir);
    free(dir);
}

static void
test_fsync_dir_and_parent(void **state)
{
    char *dir = testlib_mkdtemp("fsutil"), *file = xasprintf("%s/f", dir);
    char *missing = xasprintf("%s/nothing/f", dir);

    testlib_write_text(file, "x");
    assert_int_equal(fs_fsync_dir(dir), 0);
    assert_int_equal(fs_fsync_parent(file), 0);
    assert_int_equal(fs_fsync_parent("relative-name"), 0); /* the current directory */
    assert_int_equal(fs_fsync_parent(missing), -1);
    assert_int_equal(errno, ENOENT);
    assert_int_equal(fs_fsync_dir(file), -1);
    assert_int_equal(errno, ENOTDIR);

    free(file);
    free(missing);
    testlib_rmtree(dir);
    free(dir);
}

int
main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_write_atomic_creates_and_replaces),
        cmocka_unit_test(test_write_atomic_never_replaces_unless_asked),
        cmocka_unit_test(test_write_atomic_names_the_failed_step),
        cmocka_unit_test(test_rename_noreplace),
        cmocka_unit_test(test_fsync_dir_and_parent),
    };

    return cmocka_run_group_tests(tests, NULL, NULL);
}
