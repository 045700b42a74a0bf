#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <cmocka.h>

#include <gio/gio.h>
#include <glib/gstdio.h>

#include "iceprobe/keyfile.h"

typedef struct {
    char *dir;
} Fixture;

static int setup(void **state)
{
    Fixture *f = g_new0(Fixture, 1);
    f->dir = g_dir_make_tmp("test_keyfile-XXXXXX", NULL);
    assert_non_null(f->dir);
    *state = f;
    return 0;
}

static int teardown(void **state)
{
    Fixture *f = *state;
    g_autoptr(GDir) d = g_dir_open(f->dir, 0, NULL);
    for (const char *n = d ? g_dir_read_name(d) : NULL; n; n = g_dir_read_name(d)) {
        g_autofree char *p = g_build_filename(f->dir, n, NULL);
        g_unlink(p);
    }
    g_rmdir(f->dir);
    g_free(f->dir);
    g_free(f);
    return 0;
}

/* Writes len bytes of text into the fixture's NAME; returns its path. */
static char *write_file(Fixture *f, const char *name, const char *text, gssize len)
{
    char *path = g_build_filename(f->dir, name, NULL);
    assert_true(g_file_set_contents(path, text, len, NULL));
    return path;
}

/* The secret in text, or NULL with the error's code and a part of its message. */
static void assert_refused(Fixture *f, const char *text, gssize len, gsize min, gsize max, int code,
                           const char *part)
{
    g_autofree char *path = write_file(f, "refused", text, len);
    g_autoptr(GError) e = NULL;
    char *s = keyfile_read_secret(path, min, max, &e);
    assert_null(s);
    assert_true(g_error_matches(e, G_IO_ERROR, code));
    assert_non_null(strstr(e->message, path));
    if (!strstr(e->message, part))
        fail_msg("'%s' does not say '%s'", e->message, part);
    assert_false(keyfile_error_is_unreadable(e));
}

static void test_a_secret_is_its_line_without_the_white_space_around_it(void **state)
{
    g_autofree char *path = write_file(*state, "token", "  0123456789abcdef pass\r\n", -1);
    g_autoptr(GError) e = NULL;
    char *s = keyfile_read_secret(path, 16, 256, &e);
    assert_non_null(s);
    assert_string_equal(s, "0123456789abcdef pass");
    keyfile_secret_free(s);
}

static void test_a_short_empty_or_long_secret_is_refused_saying_which(void **state)
{
    assert_refused(*state, "abc\n", -1, 16, 256, G_IO_ERROR_INVALID_DATA,
                   "holds fewer than 16 characters: too short to be a secret");
    assert_refused(*state, " \n\n", -1, 1, 256, G_IO_ERROR_INVALID_DATA, "' is empty");
    g_autofree char *long_value = g_strnfill(257, 'a');
    assert_refused(*state, long_value, -1, 16, 256, G_IO_ERROR_MESSAGE_TOO_LARGE,
                   "holds more than 256 bytes: too long to be a secret");
    /* A file far over the cap is refused before it is read, with the same words. */
    g_autofree char *huge = g_strnfill(256 + KEYFILE_SECRET_SPACE + 1, ' ');
    assert_refused(*state, huge, -1, 16, 256, G_IO_ERROR_MESSAGE_TOO_LARGE,
                   "holds more than 256 bytes: too long to be a secret");
}

static void test_a_control_character_or_a_second_line_is_not_a_secret(void **state)
{
    assert_refused(*state, "0123456789abcdef\0tail", 21, 1, 256, G_IO_ERROR_INVALID_DATA,
                   "holds a control character: not a secret");
    assert_refused(*state, "0123456789abcdef\nsecond line\n", -1, 1, 256,
                   G_IO_ERROR_INVALID_DATA, "control character");
    assert_refused(*state, "0123456789\tabcdef", -1, 1, 256, G_IO_ERROR_INVALID_DATA,
                   "control character");
}

static void test_a_missing_file_is_unreadable_and_named(void **state)
{
    Fixture *f = *state;
    g_autofree char *path = g_build_filename(f->dir, "none", NULL);
    g_autoptr(GError) e = NULL;
    assert_null(keyfile_read_secret(path, 1, 64, &e));
    assert_true(keyfile_error_is_unreadable(e));
    g_autofree char *want = g_strdup_printf("cannot read '%s'", path);
    assert_non_null(strstr(e->message, want));
}

static void test_a_wipe_zeroes_every_byte(void **state)
{
    (void)state;
    char buf[] = "s3cret";
    keyfile_wipe(buf, sizeof(buf));
    for (gsize i = 0; i < sizeof(buf); i++)
        assert_int_equal(buf[i], 0);
    keyfile_wipe(NULL, 8);
}

static void test_a_trailing_comment_needs_white_space_before_it(void **state)
{
    (void)state;
    g_autofree char *a = keyfile_strip_comment("  value ; a comment");
    assert_string_equal(a, "value");
    g_autofree char *b = keyfile_strip_comment("a;b#c");
    assert_string_equal(b, "a;b#c");
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_setup_teardown(
            test_a_secret_is_its_line_without_the_white_space_around_it, setup, teardown),
        cmocka_unit_test_setup_teardown(test_a_short_empty_or_long_secret_is_refused_saying_which,
                                        setup, teardown),
        cmocka_unit_test_setup_teardown(
            test_a_control_character_or_a_second_line_is_not_a_secret, setup, teardown),
        cmocka_unit_test_setup_teardown(test_a_missing_file_is_unreadable_and_named, setup,
                                        teardown),
        cmocka_unit_test(test_a_wipe_zeroes_every_byte),
        cmocka_unit_test(test_a_trailing_comment_needs_white_space_before_it),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
