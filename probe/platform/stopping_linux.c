/* Stopping, Linux side (stopping.h): GLib delivers SIGTERM and SIGINT
 * (g_unix_signal_source) on a thread of this module's own, whatever the rest
 * of the process is blocked in. */
#include "stopping.h"

#include <glib-unix.h>
#include <signal.h>

struct StopSignals {
    GCancellable *stop;
    GMainContext *ctx;
    GMainLoop *loop;
    GThread *thread;
};

static gboolean on_signal(gpointer data)
{
    g_cancellable_cancel(data);
    return G_SOURCE_CONTINUE; /* a second signal during the last flush stops that too */
}

static gboolean quit(gpointer data)
{
    g_main_loop_quit(data);
    return G_SOURCE_REMOVE;
}

static gpointer signal_thread(gpointer data)
{
    StopSignals *s = data;
    g_main_context_push_thread_default(s->ctx);
    g_main_loop_run(s->loop);
    g_main_context_pop_thread_default(s->ctx);
    return NULL;
}

StopSignals *stop_signals_new(GCancellable *stop)
{
    g_return_val_if_fail(G_IS_CANCELLABLE(stop), NULL);
    StopSignals *s = g_new0(StopSignals, 1);
    s->stop = g_object_ref(stop);
    s->ctx = g_main_context_new();
    s->loop = g_main_loop_new(s->ctx, FALSE);
    const int signals[] = {SIGTERM, SIGINT};
    for (gsize i = 0; i < G_N_ELEMENTS(signals); i++) {
        GSource *src = g_unix_signal_source_new(signals[i]);
        g_source_set_callback(src, on_signal, s->stop, NULL);
        g_source_attach(src, s->ctx);
        g_source_unref(src);
    }
    s->thread = g_thread_new("signals", signal_thread, s);
    return s;
}

void stop_signals_free(StopSignals *s)
{
    if (!s)
        return;
    GSource *src = g_idle_source_new();
    g_source_set_callback(src, quit, s->loop, NULL);
    g_source_attach(src, s->ctx);
    g_source_unref(src);
    g_thread_join(s->thread);
    g_main_loop_unref(s->loop);
    g_main_context_unref(s->ctx); /* the signal sources go with it */
    g_object_unref(s->stop);
    g_free(s);
}

const char *stop_signals_words(void)
{
    return "SIGTERM";
}
