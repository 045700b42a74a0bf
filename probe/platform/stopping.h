/* What asks the process to stop, turned into one GCancellable being cancelled
 * (agent/stop.h says what waits on it): Linux's SIGTERM and SIGINT; Windows'
 * console control events (Ctrl+C, Ctrl+Break, the console closed, log-off,
 * shutdown). The Windows service's own stop (--service) is not there yet. */
#pragma once

#include <gio/gio.h>

typedef struct StopSignals StopSignals;

/* From now on those requests cancel stop (which the watch holds a reference
 * to) instead of ending the process. One at a time. */
StopSignals *stop_signals_new(GCancellable *stop);
void stop_signals_free(StopSignals *s);
/* What stopped it, in words for a run's error ("SIGTERM"). */
const char *stop_signals_words(void);
