/* Files that survive a power cut (the agent's spool): written whole or not at
 * all, and on the disk before the call returns. Linux: GLib writes a temporary
 * file, syncs and renames it; the directory is then synced (GLib does not),
 * as a rename is on the disk only once its directory is. Windows: the
 * temporary file is flushed (FlushFileBuffers) and moved over the name with
 * MoveFileExW(MOVEFILE_REPLACE_EXISTING | MOVEFILE_WRITE_THROUGH), which
 * returns once the move is on the disk; a directory cannot be synced there,
 * and need not be. */
#pragma once

#include <glib.h>

/* Writes path (in dir) atomically and durably, readable by its owner only
 * (Linux: 0600; Windows: the directory's permissions). A temporary
 * "PATH.tmp" or GLib's "PATH.XXXXXX" may be left by a crash. */
gboolean durable_write(const char *dir, const char *path, const char *data, gsize len,
                       GError **error);
/* Moves from over to (same volume), durably; FALSE with errno set. */
gboolean durable_move(const char *from, const char *to);
/* A removal (or a move) in dir reaches the disk (Linux: fsync of the
 * directory; Windows: nothing to do). */
void durable_sync_dir(const char *dir);
