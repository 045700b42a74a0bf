/* What asks the process to stop, turned into one GCancellable being cancelled
 * (agent/stop.h says what waits on it): Linux's SIGTERM and SIGINT; Windows'
 * console control events (Ctrl+C, Ctrl+Break, the console closed, log-off,
 * shutdown) and, for `iceprobe agent --service`, the Service Control
 * Manager's stop, preshutdown and shutdown (service.h), which go through the
 * same watch.
 *
 * Which event stops what is one table, stopping_decide() (stopping.c, the same
 * on both platforms): a service ignores the console's events (Windows sends a
 * service CTRL_LOGOFF_EVENT when any user logs off, and the default handler
 * would end the process), a console program stops on them. */
#pragma once

#include <gio/gio.h>

typedef enum {
    STOP_MODE_CONSOLE, /* a program in a terminal, or under systemd */
    STOP_MODE_SERVICE, /* a Windows service: only the Service Control Manager stops it */
} StopMode;

typedef enum {
    STOP_EVENT_INTERRUPT,           /* Ctrl+C (CTRL_C_EVENT), SIGINT */
    STOP_EVENT_BREAK,               /* Ctrl+Break (CTRL_BREAK_EVENT) */
    STOP_EVENT_TERMINATE,           /* SIGTERM */
    STOP_EVENT_CONSOLE_CLOSE,       /* CTRL_CLOSE_EVENT: the console window closed */
    STOP_EVENT_LOGOFF,              /* CTRL_LOGOFF_EVENT: a user logs off */
    STOP_EVENT_SYSTEM_SHUTDOWN,     /* CTRL_SHUTDOWN_EVENT */
    STOP_EVENT_SERVICE_STOP,        /* SERVICE_CONTROL_STOP */
    STOP_EVENT_SERVICE_SHUTDOWN,    /* SERVICE_CONTROL_SHUTDOWN */
    STOP_EVENT_SERVICE_PRESHUTDOWN, /* SERVICE_CONTROL_PRESHUTDOWN: the system's shutdown,
                                     * waiting (up to the service's preshutdown timeout) */
    STOP_EVENT_COUNT,
} StopEvent;

typedef enum {
    STOP_IGNORE,   /* handled: nothing happens (and Windows' default handler does not run) */
    STOP_NOW,      /* cancel the watch's GCancellable */
    STOP_AND_HOLD, /* the same, and hold the event until the agent has finished (Windows
                    * ends the process once a close, log-off or shutdown handler returns) */
} StopAction;

/* What an event does in a mode (pure; stopping.c). */
StopAction stopping_decide(StopMode mode, StopEvent event);
/* An event's name ("SIGTERM", "CTRL_LOGOFF_EVENT", "SERVICE_CONTROL_STOP"). */
const char *stopping_event_name(StopEvent event);

/* The process's mode, STOP_MODE_CONSOLE until set: service.h's service_run()
 * sets STOP_MODE_SERVICE before the agent starts. Process-wide because the
 * events are (one console handler, one service per process). */
void stopping_set_mode(StopMode mode);
StopMode stopping_mode(void);

typedef struct StopSignals StopSignals;

/* The platform's handlers installed now, before any watch: a service must
 * ignore a user's log-off from its first moment (Windows; nothing on Linux,
 * where a signal before the watch ends the process as it always did). */
void stop_signals_prepare(void);

/* From now on those requests cancel stop (which the watch holds a reference
 * to) instead of ending the process. One at a time. A stop delivered before
 * (stop_signals_deliver with no watch) cancels it at once. */
StopSignals *stop_signals_new(GCancellable *stop);
void stop_signals_free(StopSignals *s);
/* An event from the platform's service manager (or a test), decided as the
 * signals are: TRUE when it stops the watch (or will stop the next one). */
gboolean stop_signals_deliver(StopEvent event);

/* The one watch, kept alike for both sides (stopping.c): the sides register
 * their watch's cancellable, and every event goes through
 * stopping_watch_deliver(). */
void stopping_watch_begin(GCancellable *stop); /* a stop delivered before cancels it */
void stopping_watch_end(GCancellable *stop);
gboolean stopping_watch_active(void);
/* event decided in the process's mode; unless ignored, recorded and the
 * watch's cancellable cancelled (or kept for the next watch). */
StopAction stopping_watch_deliver(StopEvent event);
/* The last event delivered; -1 before any. */
int stopping_last_event(void);
/* What stopped it, in words for a run's error ("SIGTERM", "the service's stop
 * (SERVICE_CONTROL_STOP)"); the platform's usual words before any stop. */
const char *stop_signals_words(void);

/* What a Windows service tells the Service Control Manager of its state, in
 * SERVICE_STATUS's order of life. Reports come from two threads (the service's
 * main and the control handler), so they are serialized, and a report that may
 * not follow the last one made is dropped (service_state_may_follow): a
 * STOP_PENDING after STOPPED (the handle is gone then; the SCM would show a
 * stopped service as stopping), RUNNING after a stop began. */
typedef enum {
    SERVICE_STATE_NONE, /* nothing reported yet */
    SERVICE_STATE_START_PENDING,
    SERVICE_STATE_RUNNING,
    SERVICE_STATE_STOP_PENDING,
    SERVICE_STATE_STOPPED,
} ServiceState;

gboolean service_state_may_follow(ServiceState last, ServiceState next);
const char *service_state_name(ServiceState s);

/* Tells the service manager a state (SetServiceStatus); checkpoint counts the
 * pending states' reports (0 for the others). TRUE when it took it. */
typedef gboolean (*ServiceStatusSink)(ServiceState st, guint checkpoint, gpointer data);

/* The serialized reports of one service. */
typedef struct {
    GMutex lock;
    ServiceState last;
    guint checkpoint;
    ServiceStatusSink sink;
    gpointer data;
} ServiceReporter;

void service_reporter_init(ServiceReporter *r, ServiceStatusSink sink, gpointer data);
void service_reporter_clear(ServiceReporter *r);
/* st through the sink, under the reporter's lock, unless it may not follow
 * the last state the sink took; TRUE when the sink took it. */
gboolean service_reporter_report(ServiceReporter *r, ServiceState st);
