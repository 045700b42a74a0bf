/* The one way the probe runs a GLib main context: until a condition holds or a
 * deadline passes, blocking in poll() in between (never a busy or sleeping
 * loop). The condition is checked before the first iteration and after each. */
#pragma once

#include <glib.h>

typedef gboolean (*LoopCond)(gpointer data);

/* Runs ctx until cond(data) is TRUE (returns TRUE) or timeout_ms pass (returns
 * whether cond holds then). cond NULL: runs for the whole time. */
gboolean loop_run_until(GMainContext *ctx, LoopCond cond, gpointer data, guint timeout_ms);
