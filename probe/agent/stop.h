/* Stopping, as the agent and `iceprobe run --peer` are told to: SIGTERM or
 * SIGINT cancel one GCancellable, which every part that waits looks at or is
 * woken by (an HTTP transfer, the mailbox's threads, a paired run's contexts,
 * a wait before a retry), so a stop is seen at once, not at the next poll of a
 * flag. GLib delivers the signals (g_unix_signal_source) on a thread of this
 * module's own, whatever the rest of the process is blocked in. */
#pragma once

#include <gio/gio.h>

/* stop_signals_new, stop_signals_free: the platform's side (stopping.h). On
 * Windows the console's control events stand for the signals. */
#include "stopping.h"

G_DEFINE_AUTOPTR_CLEANUP_FUNC(StopSignals, stop_signals_free)

/* Waits ms, or less when stop is cancelled (stop may be NULL: the whole
 * time); TRUE when the whole time passed. */
gboolean stop_wait_ms(GCancellable *stop, guint ms);
/* stop is cancelled (NULL never is). */
gboolean stop_requested(GCancellable *stop);
