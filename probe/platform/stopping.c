/* Stopping's decisions, the same on both platforms (stopping.h): which event
 * stops the process in which mode, and which service state may be reported
 * after which. Pure tables; the platforms' sides act on them. */
#include "stopping.h"

static const char *const event_names[STOP_EVENT_COUNT] = {
    [STOP_EVENT_INTERRUPT] = "SIGINT (Ctrl+C)",
    [STOP_EVENT_BREAK] = "CTRL_BREAK_EVENT",
    [STOP_EVENT_TERMINATE] = "SIGTERM",
    [STOP_EVENT_CONSOLE_CLOSE] = "CTRL_CLOSE_EVENT",
    [STOP_EVENT_LOGOFF] = "CTRL_LOGOFF_EVENT",
    [STOP_EVENT_SYSTEM_SHUTDOWN] = "CTRL_SHUTDOWN_EVENT",
    [STOP_EVENT_SERVICE_STOP] = "SERVICE_CONTROL_STOP",
    [STOP_EVENT_SERVICE_SHUTDOWN] = "SERVICE_CONTROL_SHUTDOWN",
    [STOP_EVENT_SERVICE_PRESHUTDOWN] = "SERVICE_CONTROL_PRESHUTDOWN",
};

/* By mode, then event. A console program stops on everything; the close,
 * log-off and shutdown events are held until it has finished, since Windows
 * ends the process when their handler returns. A service stops only when the
 * Service Control Manager says so: the console's events are the interactive
 * session's (a user logging off is not the machine stopping), and its own
 * shutdown comes as SERVICE_CONTROL_PRESHUTDOWN (the system waits for the
 * service to stop, so that the spool's last write is finished) and then, if
 * it still runs, SERVICE_CONTROL_SHUTDOWN (a few seconds at most). */
static const StopAction table[2][STOP_EVENT_COUNT] = {
    [STOP_MODE_CONSOLE] =
        {
            [STOP_EVENT_INTERRUPT] = STOP_NOW,
            [STOP_EVENT_BREAK] = STOP_NOW,
            [STOP_EVENT_TERMINATE] = STOP_NOW,
            [STOP_EVENT_CONSOLE_CLOSE] = STOP_AND_HOLD,
            [STOP_EVENT_LOGOFF] = STOP_AND_HOLD,
            [STOP_EVENT_SYSTEM_SHUTDOWN] = STOP_AND_HOLD,
            [STOP_EVENT_SERVICE_STOP] = STOP_NOW,
            [STOP_EVENT_SERVICE_SHUTDOWN] = STOP_NOW,
            [STOP_EVENT_SERVICE_PRESHUTDOWN] = STOP_NOW,
        },
    [STOP_MODE_SERVICE] =
        {
            [STOP_EVENT_INTERRUPT] = STOP_IGNORE,
            [STOP_EVENT_BREAK] = STOP_IGNORE,
            [STOP_EVENT_TERMINATE] =
                STOP_NOW, /* Linux has no service mode; a signal is the system's */
            [STOP_EVENT_CONSOLE_CLOSE] = STOP_IGNORE,
            [STOP_EVENT_LOGOFF] = STOP_IGNORE,
            [STOP_EVENT_SYSTEM_SHUTDOWN] = STOP_IGNORE,
            [STOP_EVENT_SERVICE_STOP] = STOP_NOW,
            [STOP_EVENT_SERVICE_SHUTDOWN] = STOP_NOW,
            [STOP_EVENT_SERVICE_PRESHUTDOWN] = STOP_NOW,
        },
};

StopAction stopping_decide(StopMode mode, StopEvent event)
{
    g_return_val_if_fail(mode == STOP_MODE_CONSOLE || mode == STOP_MODE_SERVICE, STOP_NOW);
    g_return_val_if_fail(event >= 0 && event < STOP_EVENT_COUNT, STOP_NOW);
    return table[mode][event];
}

const char *stopping_event_name(StopEvent event)
{
    g_return_val_if_fail(event >= 0 && event < STOP_EVENT_COUNT, "?");
    return event_names[event];
}

static gint mode_now = STOP_MODE_CONSOLE;

void stopping_set_mode(StopMode mode)
{
    g_return_if_fail(mode == STOP_MODE_CONSOLE || mode == STOP_MODE_SERVICE);
    g_atomic_int_set(&mode_now, (gint)mode);
}

StopMode stopping_mode(void)
{
    return (StopMode)g_atomic_int_get(&mode_now);
}

/* The one watch's cancellable, a stop delivered before it came, the last
 * event: under lock. */
static GMutex watch_lock;
static GCancellable *watch;
static gboolean stop_pending;
static gint last_event = -1;

void stopping_watch_begin(GCancellable *stop)
{
    g_return_if_fail(G_IS_CANCELLABLE(stop));
    g_mutex_lock(&watch_lock);
    g_warn_if_fail(watch == NULL);
    g_set_object(&watch, stop);
    if (stop_pending) /* once: the stop was for this watch */
        g_cancellable_cancel(stop);
    stop_pending = FALSE;
    g_mutex_unlock(&watch_lock);
}

void stopping_watch_end(GCancellable *stop)
{
    g_mutex_lock(&watch_lock);
    if (watch == stop)
        g_clear_object(&watch);
    g_mutex_unlock(&watch_lock);
}

gboolean stopping_watch_active(void)
{
    g_mutex_lock(&watch_lock);
    gboolean active = watch != NULL;
    g_mutex_unlock(&watch_lock);
    return active;
}

StopAction stopping_watch_deliver(StopEvent event)
{
    StopAction a = stopping_decide(stopping_mode(), event);
    if (a == STOP_IGNORE)
        return a;
    g_mutex_lock(&watch_lock);
    g_atomic_int_set(&last_event, (gint)event);
    if (watch)
        g_cancellable_cancel(watch);
    else
        stop_pending = TRUE;
    g_mutex_unlock(&watch_lock);
    return a;
}

gboolean stop_signals_deliver(StopEvent event)
{
    g_return_val_if_fail(event >= 0 && event < STOP_EVENT_COUNT, FALSE);
    return stopping_watch_deliver(event) != STOP_IGNORE;
}

int stopping_last_event(void)
{
    return g_atomic_int_get(&last_event);
}

gboolean service_state_may_follow(ServiceState last, ServiceState next)
{
    switch (last) {
    case SERVICE_STATE_NONE:
        return next == SERVICE_STATE_START_PENDING || next == SERVICE_STATE_RUNNING ||
               next == SERVICE_STATE_STOPPED;
    case SERVICE_STATE_START_PENDING:
        return next != SERVICE_STATE_NONE; /* its checkpoints, then any */
    case SERVICE_STATE_RUNNING:
        return next == SERVICE_STATE_STOP_PENDING || next == SERVICE_STATE_STOPPED;
    case SERVICE_STATE_STOP_PENDING:
        return next == SERVICE_STATE_STOP_PENDING || next == SERVICE_STATE_STOPPED;
    case SERVICE_STATE_STOPPED:
        return FALSE; /* the last word: the SCM may have let the process go */
    }
    return FALSE;
}

const char *service_state_name(ServiceState s)
{
    static const char *const names[] = {"none", "START_PENDING", "RUNNING", "STOP_PENDING",
                                        "STOPPED"};
    return (guint)s < G_N_ELEMENTS(names) ? names[s] : "?";
}

void service_reporter_init(ServiceReporter *r, ServiceStatusSink sink, gpointer data)
{
    g_return_if_fail(r && sink);
    g_mutex_init(&r->lock);
    r->last = SERVICE_STATE_NONE;
    r->checkpoint = 0;
    r->sink = sink;
    r->data = data;
}

void service_reporter_clear(ServiceReporter *r)
{
    g_mutex_clear(&r->lock);
}

gboolean service_reporter_report(ServiceReporter *r, ServiceState st)
{
    g_return_val_if_fail(r && r->sink, FALSE);
    g_mutex_lock(&r->lock);
    gboolean took = FALSE;
    if (service_state_may_follow(r->last, st)) {
        gboolean pending = st == SERVICE_STATE_START_PENDING || st == SERVICE_STATE_STOP_PENDING;
        took = r->sink(st, pending ? r->checkpoint + 1 : 0, r->data);
        if (took) {
            r->last = st;
            r->checkpoint = pending ? r->checkpoint + 1 : 0;
        }
    }
    g_mutex_unlock(&r->lock);
    return took;
}
