#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <cmocka.h>

#include "iceprobe/cli.h"

static int last_argc;
static const char *last_arg;

static int run_echo(int argc, char **argv)
{
    last_argc = argc;
    last_arg = argc > 1 ? argv[1] : NULL;
    return 7;
}

static const CliCommand table[] = {
    {"echo", "records its arguments", run_echo},
    {NULL, NULL, NULL},
};

static void test_dispatch_runs_named_command_with_its_arguments(void **state)
{
    char *argv[] = {"prog", "echo", "x", NULL};
    assert_int_equal(cli_dispatch("prog", "test", table, 3, argv), 7);
    assert_int_equal(last_argc, 2);
    assert_string_equal(last_arg, "x");
}

static void test_unknown_command_is_a_usage_error(void **state)
{
    char *argv[] = {"prog", "ehco", NULL};
    assert_int_equal(cli_dispatch("prog", "test", table, 2, argv), CLI_EXIT_ERROR);
}

static void test_no_command_is_a_usage_error(void **state)
{
    char *argv[] = {"prog", NULL};
    assert_int_equal(cli_dispatch("prog", "test", table, 1, argv), CLI_EXIT_ERROR);
}

static void test_help_and_version_exit_zero(void **state)
{
    char *help[] = {"prog", "--help", NULL};
    char *version[] = {"prog", "--version", NULL};
    assert_int_equal(cli_dispatch("prog", "test", table, 2, help), CLI_EXIT_PASS);
    assert_int_equal(cli_dispatch("prog", "test", table, 2, version), CLI_EXIT_PASS);
}

static void test_parse_options_rejects_stray_arguments(void **state)
{
    gboolean flag = FALSE;
    const GOptionEntry entries[] = {
        {"flag", 0, 0, G_OPTION_ARG_NONE, &flag, "a flag", NULL},
        G_OPTION_ENTRY_NULL,
    };
    char *a[] = {"cmd", "--flag", NULL};
    char **argv = a;
    int argc = 2;
    assert_true(cli_parse_options("prog", "cmd", "test", entries, &argc, &argv));
    assert_true(flag);

    char *b[] = {"cmd", "stray", NULL};
    argv = b;
    argc = 2;
    assert_false(cli_parse_options("prog", "cmd", "test", entries, &argc, &argv));

    char *c[] = {"cmd", "--nope", NULL};
    argv = c;
    argc = 2;
    assert_false(cli_parse_options("prog", "cmd", "test", entries, &argc, &argv));
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_dispatch_runs_named_command_with_its_arguments),
        cmocka_unit_test(test_unknown_command_is_a_usage_error),
        cmocka_unit_test(test_no_command_is_a_usage_error),
        cmocka_unit_test(test_help_and_version_exit_zero),
        cmocka_unit_test(test_parse_options_rejects_stray_arguments),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
