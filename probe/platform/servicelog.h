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
 * it without following one, and takes cli_log's lines (cli.h's
 * cli_set_log_writer). Past its cap the log is moved to agent.log.1 (the one
 * before is dropped) and a new one begun: at start, and while the service
 * runs, right after the line that passed it. The move and the reopening of
 * descriptors 2 and 1 happen under the lock each line is written under, so
 * that no line is split between the two files or lost; writers that go to
 * the descriptors themselves (none in the agent: GLib's messages come through
 * cli_log, service_windows.c) are kept whole by the C library's own lock of
 * each descriptor. */
#pragma once

#include <glib.h>

/* A log past this is moved to agent.log.1. The service's; a test gives its own
 * to servicelog_open(). */
#define SERVICELOG_CAP_BYTES (8 * 1024 * 1024)

/* dir made if missing and made safe (above); each thing the log should tell
 * (the owner taken, a DACL that could not be set) is added to notes. FALSE,
 * with error, when the service must not use it. */
gboolean servicelog_prepare_dir(const char *dir, GPtrArray *notes, GError **error);

typedef struct ServiceLog ServiceLog;

/* DIR\agent.log opened for the process's descriptors 2 and 1 and cli_log,
 * moved to agent.log.1 first when past cap_bytes, and again each time it
 * passes it. One at a time. */
ServiceLog *servicelog_open(const char *dir, gsize cap_bytes, GError **error);
const char *servicelog_path(const ServiceLog *log);
/* cli_log writes to descriptor 2 again (which stays the log's file); freed. */
void servicelog_close(ServiceLog *log);
G_DEFINE_AUTOPTR_CLEANUP_FUNC(ServiceLog, servicelog_close)
