/* Stopping, as the agent and `iceprobe run --peer` are told to: SIGTERM or
 * SIGINT cancel one GCancellable, which every part that waits looks at or is
 * woken by (an HTTP transfer, the mailbox's threads, a paired run's contexts,
 * a wait before a retry), so a stop is seen at once, not at the next poll of a
 * flag. GLib delivers the signals (g_unix_signal_source) on a thread of this
 * module's own, whatever the rest of the process is blocked in. */
#pragma once

#include <gio/gio.h>

typedef struct StopSignals StopSignals;

/* From now on SIGTERM and SIGINT cancel stop (which the watch holds a
 * reference to) instead of killing the process. */
StopSignals *stop_signals_new(GCancellable *stop);
void stop_signals_free(StopSignals *s);
G_DEFINE_AUTOPTR_CLEANUP_FUNC(StopSignals, stop_signals_free)

/* Waits ms, or less when stop is cancelled (stop may be NULL: the whole
 * time); TRUE when the whole time passed. */
gboolean stop_wait_ms(GCancellable *stop, guint ms);
/* stop is cancelled (NULL never is). */
gboolean stop_requested(GCancellable *stop);
