#include "loop.h"

static gboolean expire(gpointer data)
{
    *(gboolean *)data = TRUE;
    return G_SOURCE_REMOVE;
}

gboolean loop_run_until(GMainContext *ctx, LoopCond cond, gpointer data, guint timeout_ms)
{
    gboolean expired = FALSE;
    GSource *t = g_timeout_source_new(timeout_ms);
    g_source_set_callback(t, expire, &expired, NULL);
    g_source_attach(t, ctx);
    gboolean held;
    while (!(held = cond && cond(data)) && !expired)
        g_main_context_iteration(ctx, TRUE);
    g_source_destroy(t);
    g_source_unref(t);
    return held;
}
