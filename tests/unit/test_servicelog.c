/* The Windows service's log (probe/platform/servicelog.h), under Wine: moved
 * to agent.log.1 past its cap at start and while threads write to it, no line
 * lost or split. The cap is the test's own (servicelog_open's argument; the
 * service's is SERVICELOG_CAP_BYTES). Windows only: suite windows. The
 * process's descriptors 1 and 2 go to the log while a case runs, so its
 * checks come after they are given back. */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <cmocka.h>

#include <io.h>
#include <stdio.h>
#include <string.h>
#include <windows.h>
#include <glib/gstdio.h>

#include "servicelog.h"
#include "iceprobe/cli.h"

#define CAP     (64 * 1024)
#define THREADS 4
#define LINES   250 /* each: 1000 lines of 111 bytes, past the cap once, not twice */

typedef struct {
    char *dir, *log, *old;
    int out, err; /* descriptors 1 and 2 as they were */
} Fixture;

static int setup(void **state)
{
    Fixture *f = g_new0(Fixture, 1);
    f->dir = g_dir_make_tmp("servicelog-XXXXXX", NULL);
    assert_non_null(f->dir);
    f->log = g_build_filename(f->dir, "agent.log", NULL);
    f->old = g_strconcat(f->log, ".1", NULL);
    *state = f;
    return 0;
}

static int teardown(void **state)
{
    Fixture *f = *state;
    g_unlink(f->log);
    g_unlink(f->old);
    g_rmdir(f->dir);
    g_free(f->dir);
    g_free(f->log);
    g_free(f->old);
    g_free(f);
    return 0;
}

static ServiceLog *open_log(Fixture *f, GError **error)
{
    fflush(stdout);
    f->out = _dup(1);
    f->err = _dup(2);
    return servicelog_open(f->dir, CAP, error);
}

/* Descriptors 1 and 2 given back to the test. */
static void close_log(Fixture *f, ServiceLog *log)
{
    servicelog_close(log);
    _dup2(f->out, 1);
    _dup2(f->err, 2);
    _close(f->out);
    _close(f->err);
    SetStdHandle(STD_OUTPUT_HANDLE, (HANDLE)_get_osfhandle(1));
    SetStdHandle(STD_ERROR_HANDLE, (HANDLE)_get_osfhandle(2));
}

static gsize file_size(const char *path)
{
    GStatBuf st;
    return g_stat(path, &st) == 0 ? (gsize)st.st_size : 0;
}

static gpointer writer(gpointer data)
{
    int t = GPOINTER_TO_INT(data);
    for (int i = 0; i < LINES; i++)
        cli_log("test", "thread %d line %04d %s", t, i,
                "................................................................");
    return NULL;
}

/* Each thread's lines, counted across both files; any other line but the
 * log's own note is a line split or merged. */
static void count_lines(const char *path, int seen[THREADS][LINES], int *notes)
{
    g_autofree char *text = NULL;
    assert_true(g_file_get_contents(path, &text, NULL, NULL));
    g_auto(GStrv) lines = g_strsplit(text, "\n", -1);
    for (char **l = lines; *l; l++) {
        int t, i;
        char tail[80];
        if (!**l)
            continue;
        if (strstr(*l, "iceprobe agent: the log continues from agent.log.1 (moved at ")) {
            (*notes)++;
            continue;
        }
        const char *m = strstr(*l, " test: thread ");
        assert_non_null(m);
        assert_int_equal(sscanf(m, " test: thread %d line %d %79s", &t, &i, tail), 3);
        assert_true(t >= 0 && t < THREADS && i >= 0 && i < LINES);
        assert_int_equal(strlen(tail), 64);
        seen[t][i]++;
    }
}

static void test_the_log_moves_to_agent_log_1_past_its_cap_while_threads_write(void **state)
{
    Fixture *f = *state;
    g_autoptr(GError) e = NULL;
    ServiceLog *log = open_log(f, &e);
    if (log) {
        GThread *th[THREADS];
        for (int t = 0; t < THREADS; t++)
            th[t] = g_thread_new("writer", writer, GINT_TO_POINTER(t));
        for (int t = 0; t < THREADS; t++)
            g_thread_join(th[t]);
    }
    close_log(f, log);
    assert_null(e);
    gsize old = file_size(f->old), now = file_size(f->log);
    assert_true(old > CAP && old < CAP + 200); /* moved right after the line that passed it */
    assert_true(now > 0 && now < CAP);
    static int seen[THREADS][LINES];
    int notes = 0;
    count_lines(f->old, seen, &notes);
    count_lines(f->log, seen, &notes);
    assert_int_equal(notes, 1);
    for (int t = 0; t < THREADS; t++)
        for (int i = 0; i < LINES; i++)
            assert_int_equal(seen[t][i], 1);
    /* The new log begins with where the rest went. */
    g_autofree char *text = NULL;
    assert_true(g_file_get_contents(f->log, &text, NULL, NULL));
    assert_non_null(strstr(text, "the log continues from agent.log.1"));
    assert_true(strstr(text, "the log continues") < strchr(text, '\n'));
}

static void test_a_log_past_its_cap_is_moved_at_start(void **state)
{
    Fixture *f = *state;
    g_autofree char *big = g_strnfill(CAP + 1, 'x');
    assert_true(g_file_set_contents(f->log, big, -1, NULL));
    g_autoptr(GError) e = NULL;
    ServiceLog *log = open_log(f, &e);
    if (log)
        cli_log("test", "first line");
    close_log(f, log);
    assert_null(e);
    assert_int_equal(file_size(f->old), CAP + 1);
    g_autofree char *text = NULL;
    assert_true(g_file_get_contents(f->log, &text, NULL, NULL));
    assert_non_null(strstr(text, " test: first line\n"));
    assert_true(strlen(text) < 100);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_setup_teardown(
            test_the_log_moves_to_agent_log_1_past_its_cap_while_threads_write, setup, teardown),
        cmocka_unit_test_setup_teardown(test_a_log_past_its_cap_is_moved_at_start, setup, teardown),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
