/* The Windows service's log and its directory (service_windows.c's; Windows
 * only, no Linux side: systemd keeps the agent's log there).
 *
 * The directory, %ProgramData%\iceprobe, holds the token, the spool and the
 * log. ProgramData lets every user create a subdirectory and read what is in
 * it, so before the service writes there servicelog_prepare_dir() refuses a
 * directory that is a reparse point (a junction or symbolic link would lead
 * the service's writes, and its DACL, elsewhere), makes BUILTIN\Administrators
 * its owner unless SYSTEM or they are (an owner may rewrite the DACL), and
 * gives it a protected DACL: SYSTEM and Administrators alone.
 *
 * servicelog_open() sends descriptors 2 and 1 (and the process's standard
 * handles) to DIR\agent.log, refusing one that is a reparse point and opening
 * it without following one, and GLib's messages through a writer of its own
 * (the C library's stderr stream of a process without a console stays
 * closed). */
#pragma once

#include <glib.h>

/* A log past this is moved to agent.log.1 at start. */
#define SERVICELOG_CAP_BYTES (8 * 1024 * 1024)

/* dir made if missing and made safe (above); each thing the log should tell
 * (the owner taken, a DACL that could not be set) is added to notes. FALSE,
 * with error, when the service must not use it. */
gboolean servicelog_prepare_dir(const char *dir, GPtrArray *notes, GError **error);

/* DIR\agent.log opened for the process's descriptors 2 and 1, moved to
 * agent.log.1 first when past cap_bytes. *path_out: the log's path. */
gboolean servicelog_open(const char *dir, gsize cap_bytes, char **path_out, GError **error);
