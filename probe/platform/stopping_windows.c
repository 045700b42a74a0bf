/* Stopping, Windows side (stopping.h): a console control handler. Windows
 * calls it on a thread of its own; it cancels the GCancellable and says the
 * event was handled. For the console being closed, log-off and shutdown,
 * Windows ends the process once the handler returns (or after 5 s, its
 * documentation), so the handler waits there for the agent to finish
 * (stop_signals_free, up to 4.5 s). */
#include "stopping.h"

#include <windows.h>

struct StopSignals {
    GCancellable *stop;
    HANDLE done; /* set by stop_signals_free: the process may end */
};

static StopSignals *current; /* the one watch; under lock */
static GMutex lock;

static BOOL WINAPI on_control(DWORD type)
{
    g_mutex_lock(&lock);
    StopSignals *s = current;
    HANDLE done = NULL;
    if (s) {
        g_cancellable_cancel(s->stop);
        DuplicateHandle(GetCurrentProcess(), s->done, GetCurrentProcess(), &done, 0, FALSE,
                        DUPLICATE_SAME_ACCESS);
    }
    g_mutex_unlock(&lock);
    if (!s)
        return FALSE; /* no watch: Windows' default, the end of the process */
    if (type == CTRL_CLOSE_EVENT || type == CTRL_LOGOFF_EVENT || type == CTRL_SHUTDOWN_EVENT)
        WaitForSingleObject(done, 4500);
    CloseHandle(done);
    return TRUE;
}

StopSignals *stop_signals_new(GCancellable *stop)
{
    g_return_val_if_fail(G_IS_CANCELLABLE(stop), NULL);
    StopSignals *s = g_new0(StopSignals, 1);
    s->stop = g_object_ref(stop);
    s->done = CreateEventW(NULL, TRUE, FALSE, NULL);
    g_mutex_lock(&lock);
    g_warn_if_fail(current == NULL);
    current = s;
    g_mutex_unlock(&lock);
    SetConsoleCtrlHandler(on_control, TRUE);
    return s;
}

void stop_signals_free(StopSignals *s)
{
    if (!s)
        return;
    SetConsoleCtrlHandler(on_control, FALSE);
    g_mutex_lock(&lock);
    if (current == s)
        current = NULL;
    g_mutex_unlock(&lock);
    SetEvent(s->done);
    CloseHandle(s->done);
    g_object_unref(s->stop);
    g_free(s);
}

const char *stop_signals_words(void)
{
    return "a console control event";
}
