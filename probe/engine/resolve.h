/* Names to addresses with the system resolver (GResolver), with a time limit. */
#pragma once

#include <gio/gio.h>

/* Resolves name (or parses it, when it is an address) to a list of GInetAddress. */
GList *resolve_name(const char *name, guint timeout_ms, GError **error);
