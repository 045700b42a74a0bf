/* The agent's spool: a report is on disk before any upload, deleted only once
 * acknowledged, retried with backoff, given up with its reason when refused for
 * good, taken up again by the next agent. */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <cmocka.h>

#include <glib/gstdio.h>
#include <string.h>

#include "spool.h"

typedef struct {
    SpoolOutcome answer;
    guint calls;
    char *last_doc;
} Fake;

static SpoolOutcome fake_send(const char *run_id, const char *doc, char **why, gpointer data)
{
    Fake *f = data;
    f->calls++;
    g_free(f->last_doc);
    f->last_doc = g_strdup(doc);
    if (f->answer != SPOOL_SENT)
        *why = g_strdup_printf("HTTP %d for %s", f->answer == SPOOL_RETRY ? 503 : 409, run_id);
    return f->answer;
}

static char *report_file(const char *dir, const char *sub, const char *name)
{
    return sub ? g_build_filename(dir, sub, name, NULL) : g_build_filename(dir, name, NULL);
}

/* Removes dir and what is in it (the spool's files and its rejected/). */
static void rm_tree(const char *dir)
{
    g_autoptr(GDir) d = g_dir_open(dir, 0, NULL);
    const char *name;
    while (d && (name = g_dir_read_name(d)) != NULL) {
        g_autofree char *path = g_build_filename(dir, name, NULL);
        if (g_file_test(path, G_FILE_TEST_IS_DIR))
            rm_tree(path);
        else
            g_assert(g_unlink(path) == 0);
    }
    g_assert(g_rmdir(dir) == 0);
}

static void test_a_report_is_on_disk_until_acknowledged(void **state)
{
    g_autofree char *dir = g_dir_make_tmp("spool-XXXXXX", NULL);
    g_autoptr(Spool) s = spool_open(dir, 3600, NULL);
    assert_non_null(s);
    assert_true(spool_put(s, "run-1", "{\"doc\": 1}", NULL));
    g_autofree char *path = report_file(dir, NULL, "run-1.json");
    assert_true(g_file_test(path, G_FILE_TEST_EXISTS));
    assert_true(spool_has(s, "run-1"));
    assert_true(spool_put(s, "run-1", "{\"doc\": 2}", NULL)); /* not twice */
    assert_int_equal(spool_pending(s), 1);

    Fake f = {SPOOL_RETRY, 0, NULL};
    assert_int_equal(spool_flush(s, fake_send, &f), 1);
    assert_int_equal(f.calls, 1);
    assert_string_equal(f.last_doc, "{\"doc\": 1}");
    assert_true(g_file_test(path, G_FILE_TEST_EXISTS)); /* a failure keeps it */
    assert_true(spool_next_due_s(s) >= 1);              /* and backs off */
    assert_int_equal(spool_flush(s, fake_send, &f), 1);
    assert_int_equal(f.calls, 1); /* not due yet */
    assert_string_equal(spool_last_error(s), "HTTP 503 for run-1");

    /* The next agent (a restart) takes it up, and an acknowledgement deletes it. */
    g_autoptr(Spool) again = spool_open(dir, 3600, NULL);
    assert_int_equal(spool_pending(again), 1);
    f.answer = SPOOL_SENT;
    assert_int_equal(spool_flush(again, fake_send, &f), 0);
    assert_false(g_file_test(path, G_FILE_TEST_EXISTS));
    g_autofree char *text = spool_status_text(dir, NULL);
    assert_non_null(strstr(text, "0 report(s) waiting"));
    g_free(f.last_doc);
    rm_tree(dir);
}

static void test_a_report_refused_for_good_is_kept_with_its_reason(void **state)
{
    g_autofree char *dir = g_dir_make_tmp("spool-XXXXXX", NULL);
    g_autoptr(Spool) s = spool_open(dir, 3600, NULL);
    assert_true(spool_put(s, "run-2", "{}", NULL));
    Fake f = {SPOOL_REJECTED, 0, NULL};
    assert_int_equal(spool_flush(s, fake_send, &f), 0);
    g_autofree char *kept = report_file(dir, "rejected", "run-2.json");
    g_autofree char *why = report_file(dir, "rejected", "run-2.why");
    assert_true(g_file_test(kept, G_FILE_TEST_EXISTS));
    g_autofree char *reason = NULL;
    assert_true(g_file_get_contents(why, &reason, NULL, NULL));
    assert_non_null(strstr(reason, "HTTP 409 for run-2 after 1 attempt"));
    g_autofree char *text = spool_status_text(dir, NULL);
    assert_non_null(strstr(text, "given up"));
    assert_non_null(strstr(text, "run-2"));
    g_free(f.last_doc);
    rm_tree(dir);
}

static void test_an_interrupted_write_is_not_taken_for_a_report(void **state)
{
    g_autofree char *dir = g_dir_make_tmp("spool-XXXXXX", NULL);
    g_autofree char *tmp = report_file(dir, NULL, "run-3.json.tmp");
    g_autofree char *bad = report_file(dir, NULL, "not a run id!.json");
    assert_true(g_file_set_contents(tmp, "{\"half", -1, NULL));
    assert_true(g_file_set_contents(bad, "{}", -1, NULL));
    g_autoptr(Spool) s = spool_open(dir, 3600, NULL);
    assert_int_equal(spool_pending(s), 0);
    assert_false(g_file_test(tmp, G_FILE_TEST_EXISTS));
    rm_tree(dir);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_a_report_is_on_disk_until_acknowledged),
        cmocka_unit_test(test_a_report_refused_for_good_is_kept_with_its_reason),
        cmocka_unit_test(test_an_interrupted_write_is_not_taken_for_a_report),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
