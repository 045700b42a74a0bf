/* Stopping, Linux side (stopping.h): GLib delivers SIGTERM and SIGINT
 * (g_unix_signal_source) on a thread of this module's own, whatever the rest
 * of the process is blocked in; each goes to the watch through
 * stopping_watch_deliver(), as a test's stop_signals_deliver() does. */
#include "stopping.h"

#include <glib-unix.h>
#include <signal.h>

struct StopSignals {
    GCancellable *stop;
    GMainContext *ctx;
    GMainLoop *loop;
    GThread *thread;
};

static gboolean on_sigterm(gpointer data)
{
    stopping_watch_deliver(STOP_EVENT_TERMINATE);
    return G_SOURCE_CONTINUE; /* a second signal during the last flush stops that too */
}

static gboolean on_sigint(gpointer data)
{
    stopping_watch_deliver(STOP_EVENT_INTERRUPT);
    return G_SOURCE_CONTINUE;
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

void stop_signals_prepare(void)
{
}

StopSignals *stop_signals_new(GCancellable *stop)
{
    g_return_val_if_fail(G_IS_CANCELLABLE(stop), NULL);
    StopSignals *s = g_new0(StopSignals, 1);
    s->stop = g_object_ref(stop);
    s->ctx = g_main_context_new();
    s->loop = g_main_loop_new(s->ctx, FALSE);
    const struct {
        int signum;
        GSourceFunc fn;
    } signals[] = {{SIGTERM, on_sigterm}, {SIGINT, on_sigint}};
    for (gsize i = 0; i < G_N_ELEMENTS(signals); i++) {
        GSource *src = g_unix_signal_source_new(signals[i].signum);
        g_source_set_callback(src, signals[i].fn, NULL, NULL);
        g_source_attach(src, s->ctx);
        g_source_unref(src);
    }
    stopping_watch_begin(stop);
    s->thread = g_thread_new("signals", signal_thread, s);
    return s;
}

void stop_signals_free(StopSignals *s)
{
    if (!s)
        return;
    stopping_watch_end(s->stop);
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
    int ev = stopping_last_event();
    return ev < 0 ? "SIGTERM" : stopping_event_name((StopEvent)ev);
}
