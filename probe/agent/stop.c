/* Stopping: waiting on the cancellable. What cancels it is the platform's
 * (stopping.h: stopping_linux.c, stopping_windows.c). */
#include "stop.h"

gboolean stop_requested(GCancellable *stop)
{
    return stop && g_cancellable_is_cancelled(stop);
}

gboolean stop_wait_ms(GCancellable *stop, guint ms)
{
    if (!stop) {
        g_usleep((gulong)ms * 1000);
        return TRUE;
    }
    GPollFD p;
    if (!g_cancellable_make_pollfd(stop, &p)) {
        g_usleep((gulong)ms * 1000);
        return !g_cancellable_is_cancelled(stop);
    }
    gint64 until = g_get_monotonic_time() + (gint64)ms * 1000;
    gint64 left;
    while (!g_cancellable_is_cancelled(stop) && (left = until - g_get_monotonic_time()) > 0)
        g_poll(&p, 1, (gint)MIN((left + 999) / 1000, G_MAXINT));
    g_cancellable_release_fd(stop);
    return !g_cancellable_is_cancelled(stop);
}
