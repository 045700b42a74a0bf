/* Stopping, Windows side (stopping.h): a console control handler, and the
 * Service Control Manager's stop through stop_signals_deliver() (service.h).
 * Windows calls the handler on a thread of its own; what an event does is
 * stopping_decide()'s. Stopping cancels the GCancellable and says the event
 * was handled. For the console being closed, log-off and shutdown, Windows
 * ends the process once the handler returns (or after 5 s, its
 * documentation), so the handler waits there for the agent to finish
 * (stop_signals_free, up to 4.5 s). An ignored event (a service's console
 * events) is handled too: Windows' default handler would end the process.
 *
 * The handler is installed for the life of the process once a watch or the
 * service mode asks for it: a service must ignore a user's log-off from its
 * first moment, before the agent has made its watch. */
#include "stopping.h"

#include <windows.h>

struct StopSignals {
    GCancellable *stop;
    HANDLE done; /* set by stop_signals_free: the process may end */
};

/* The watch whose end a close, log-off or shutdown waits for: under lock
 * (the watch itself is stopping.c's). */
static GMutex lock;
static StopSignals *current;

static gboolean event_of(DWORD type, StopEvent *ev)
{
    switch (type) {
    case CTRL_C_EVENT:
        *ev = STOP_EVENT_INTERRUPT;
        return TRUE;
    case CTRL_BREAK_EVENT:
        *ev = STOP_EVENT_BREAK;
        return TRUE;
    case CTRL_CLOSE_EVENT:
        *ev = STOP_EVENT_CONSOLE_CLOSE;
        return TRUE;
    case CTRL_LOGOFF_EVENT:
        *ev = STOP_EVENT_LOGOFF;
        return TRUE;
    case CTRL_SHUTDOWN_EVENT:
        *ev = STOP_EVENT_SYSTEM_SHUTDOWN;
        return TRUE;
    }
    return FALSE;
}

/* A duplicate of the watch's done event, or NULL without a watch. */
static HANDLE current_done(void)
{
    HANDLE done = NULL;
    g_mutex_lock(&lock);
    if (current)
        DuplicateHandle(GetCurrentProcess(), current->done, GetCurrentProcess(), &done, 0, FALSE,
                        DUPLICATE_SAME_ACCESS);
    g_mutex_unlock(&lock);
    return done;
}

static BOOL WINAPI on_control(DWORD type)
{
    StopEvent ev;
    if (!event_of(type, &ev))
        return FALSE;
    if (stopping_decide(stopping_mode(), ev) == STOP_IGNORE)
        return TRUE;
    if (!stopping_watch_active() && stopping_mode() == STOP_MODE_CONSOLE)
        return FALSE; /* no watch: Windows' default, the end of the process */
    HANDLE done = stopping_watch_deliver(ev) == STOP_AND_HOLD ? current_done() : NULL;
    if (done) {
        WaitForSingleObject(done, 4500);
        CloseHandle(done);
    }
    return TRUE;
}

static void install_handler(void)
{
    static gsize once = 0;
    if (g_once_init_enter(&once)) {
        SetConsoleCtrlHandler(on_control, TRUE);
        g_once_init_leave(&once, 1);
    }
}

void stop_signals_prepare(void)
{
    install_handler();
}

StopSignals *stop_signals_new(GCancellable *stop)
{
    g_return_val_if_fail(G_IS_CANCELLABLE(stop), NULL);
    StopSignals *s = g_new0(StopSignals, 1);
    s->stop = g_object_ref(stop);
    s->done = CreateEventW(NULL, TRUE, FALSE, NULL);
    g_mutex_lock(&lock);
    current = s;
    g_mutex_unlock(&lock);
    stopping_watch_begin(stop);
    install_handler();
    return s;
}

void stop_signals_free(StopSignals *s)
{
    if (!s)
        return;
    stopping_watch_end(s->stop);
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
    int ev = stopping_last_event();
    if (ev == STOP_EVENT_SERVICE_STOP)
        return "the service's stop (SERVICE_CONTROL_STOP)";
    if (ev == STOP_EVENT_SERVICE_SHUTDOWN)
        return "the system's shutdown (SERVICE_CONTROL_SHUTDOWN)";
    if (ev == STOP_EVENT_SERVICE_PRESHUTDOWN)
        return "the system's shutdown (SERVICE_CONTROL_PRESHUTDOWN)";
    return ev < 0 ? "a console control event" : stopping_event_name((StopEvent)ev);
}
