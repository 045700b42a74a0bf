/* A controller configuration in a temporary directory: admin token, TURN secret,
 * one profile, and whatever else a test adds to controller.conf. Used by the
 * controller's unit tests; the directory goes with fixture_free. */
#pragma once

#include <glib/gstdio.h>
#include <string.h>

#include "config.h"

#define FIXTURE_ADMIN_TOKEN "admin-0123456789abcdef0123456789abcdef"
#define FIXTURE_TURN_SECRET "turn-secret-0123456789abcdef"

typedef struct {
    char *dir;
    char *config_path;
    ControllerConfig *config;
} Fixture;

static void fixture_write(const Fixture *f, const char *name, const char *text)
{
    g_autofree char *p = g_build_filename(f->dir, name, NULL);
    g_autofree char *d = g_path_get_dirname(p);
    g_mkdir_with_parents(d, 0700);
    g_assert_true(g_file_set_contents(p, text, -1, NULL));
}

/* extra is appended to a minimal loopback configuration. */
static Fixture *fixture_new(const char *extra)
{
    Fixture *f = g_new0(Fixture, 1);
    f->dir = g_dir_make_tmp("iceprobe-ctl-XXXXXX", NULL);
    g_assert_nonnull(f->dir);
    fixture_write(f, "admin.token", FIXTURE_ADMIN_TOKEN "\n");
    fixture_write(f, "turn.secret", FIXTURE_TURN_SECRET "\n");
    fixture_write(f, "profiles/corp.conf",
                  "[profile]\nname = corp-vpn\n[edge]\nhost = 203.0.113.10\n"
                  "[stream]\nduration_s = 2\n");
    /* One server thread unless the test asks for more ([server] threads again). */
    g_autofree char *conf = g_strdup_printf("[server]\nlisten = 127.0.0.1:0\nthreads = 1\n"
                                            "[store]\npath = "
                                            "controller.db\n[auth]\nadmin_token_file = "
                                            "admin.token\n[turn]\nsecret_file = turn.secret\n"
                                            "[profiles]\ndir = profiles\n%s",
                                            extra ? extra : "");
    fixture_write(f, "controller.conf", conf);
    f->config_path = g_build_filename(f->dir, "controller.conf", NULL);
    g_autoptr(GError) e = NULL;
    f->config = config_load(f->config_path, &e);
    if (!f->config)
        g_error("fixture configuration: %s", e->message);
    return f;
}

static void fixture_remove_tree(const char *path)
{
    if (g_file_test(path, G_FILE_TEST_IS_DIR) && !g_file_test(path, G_FILE_TEST_IS_SYMLINK)) {
        g_autoptr(GDir) d = g_dir_open(path, 0, NULL);
        for (const char *n; d && (n = g_dir_read_name(d));) {
            g_autofree char *p = g_build_filename(path, n, NULL);
            fixture_remove_tree(p);
        }
    }
    g_remove(path);
}

static void fixture_free(Fixture *f)
{
    if (!f)
        return;
    config_free(f->config);
    fixture_remove_tree(f->dir);
    g_free(f->dir);
    g_free(f->config_path);
    g_free(f);
}
G_DEFINE_AUTOPTR_CLEANUP_FUNC(Fixture, fixture_free)
