/* The media pacer's clock and how finely its thread wakes: Linux's
 * CLOCK_MONOTONIC in ns and a timer slack of 1 ns (the default 50 µs slack
 * is lateness); Windows' GLib monotonic clock (QueryPerformanceCounter, in µs)
 * and a 1 ms system timer (timeBeginPeriod(1); the default is 15.6 ms), since
 * GLib's waits there are in milliseconds. Each packet's lateness is measured
 * either way: what real Windows gives is to be seen there (Wine cannot say). */
#pragma once

#include <glib.h>

/* The clock g_cond_wait_until() waits by, in nanoseconds. */
gint64 timer_now_ns(void);
/* Once, on the pacer's thread: wake-ups as precise as the system gives. */
void timer_precise_thread(void);
