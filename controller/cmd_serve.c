/* iceprobe-controller serve --config FILE */
#include <glib-unix.h>
#include <stdio.h>
#include <sys/resource.h>

#include "api.h"
#include "commands.h"
#include "iceprobe/cli.h"
#include "privileges.h"
#include "workers.h"

static gboolean on_signal(gpointer loop)
{
    g_message("stopping");
    g_main_loop_quit(loop);
    return G_SOURCE_REMOVE;
}

/* One descriptor per agent held in a long-poll, and one more while it reconnects:
 * the soft limit (often 1024) goes up to the hard one. */
static void raise_file_limit(void)
{
    struct rlimit rl;
    if (getrlimit(RLIMIT_NOFILE, &rl) == 0 && rl.rlim_cur < rl.rlim_max) {
        rl.rlim_cur = rl.rlim_max;
        setrlimit(RLIMIT_NOFILE, &rl);
    }
    if (getrlimit(RLIMIT_NOFILE, &rl) == 0 && rl.rlim_cur < 4096)
        g_warning("only %lu file descriptors: at most about %lu agents can wait for orders at once",
                  (unsigned long)rl.rlim_cur, (unsigned long)rl.rlim_cur / 2);
}

int cmd_serve(int argc, char **argv)
{
    g_autofree char *config_path = NULL;
    const GOptionEntry entries[] = {
        {"config", 'c', 0, G_OPTION_ARG_FILENAME, &config_path, "the configuration file", "FILE"},
        G_OPTION_ENTRY_NULL,
    };
    if (!cli_parse_options("iceprobe-controller", "serve", "run the controller", entries, &argc,
                           &argv))
        return CLI_EXIT_ERROR;
    if (!config_path) {
        fprintf(stderr, "iceprobe-controller serve: --config FILE is required\n");
        return CLI_EXIT_ERROR;
    }
    g_autoptr(GError) error = NULL;
    g_autoptr(ControllerConfig) config = config_load(config_path, &error);
    if (!config) {
        fprintf(stderr, "iceprobe-controller serve: %s\n", error->message);
        return CLI_EXIT_ERROR;
    }
    raise_file_limit();
    /* For each listen address, a socket per server thread. */
    g_autoptr(GPtrArray) sockets = g_ptr_array_new_with_free_func(g_object_unref);
    for (char **l = config->listen; *l; l++) {
        if (!api_bind(*l, config->threads, sockets, &error)) {
            fprintf(stderr, "iceprobe-controller serve: %s\n", error->message);
            return CLI_EXIT_ERROR;
        }
    }
    g_autoptr(GTlsCertificate) cert = NULL;
    if (config_uses_tls(config) && !(cert = api_load_certificate(config, &error))) {
        fprintf(stderr, "iceprobe-controller serve: %s\n", error->message);
        return CLI_EXIT_ERROR;
    }
    if (!privileges_drop(config->user, &error)) {
        fprintf(stderr, "iceprobe-controller serve: %s\n", error->message);
        return CLI_EXIT_ERROR;
    }
    /* The MRAS files are read again at each order, as the user it now runs as. */
    if (config->mras_response_file || config->mras_username_file) {
        TurnCredentials tc = {0};
        gint64 expires = 0;
        gboolean ok = config_mras_read(config, &tc, &expires, &error);
        turncred_clear(&tc);
        if (!ok) {
            fprintf(stderr, "iceprobe-controller serve: %s (as the user it runs as%s%s)\n",
                    error->message, config->user ? ", " : "", config->user ? config->user : "");
            return CLI_EXIT_ERROR;
        }
    }
    Workers *workers = workers_start(config, cert, sockets, &error);
    if (!workers) {
        fprintf(stderr, "iceprobe-controller serve: %s\n", error->message);
        return CLI_EXIT_ERROR;
    }
    g_autoptr(GMainLoop) loop = g_main_loop_new(NULL, FALSE);
    g_unix_signal_add(SIGTERM, on_signal, loop);
    g_unix_signal_add(SIGINT, on_signal, loop);
    g_autofree char *where = g_strjoinv(", ", config->listen);
    g_message("serving %s on %s, store %s, %u thread(s), %u profile(s), %u schedule(s)",
              config_uses_tls(config) ? "HTTPS" : "plain HTTP", where, workers_store(workers),
              config->threads, g_hash_table_size(config->profiles), config->schedules->len);
    g_main_loop_run(loop);
    workers_stop(workers);
    return CLI_EXIT_PASS;
}
